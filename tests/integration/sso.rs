//! Single sign-on (§14) against a real OpenID provider: `oidc-provider` from npm
//! (tests/sso/provider.mjs), started by the test on 127.0.0.1. The test is the browser: it
//! follows the redirects between perma and the provider, keeping the provider's cookies.
//! Without Node and tests/sso/node_modules the test is skipped, except in CI (`CI=true`),
//! where it fails.
//!
//! perma's public URL is `http://perma.test` (as behind a front proxy): the provider sends
//! the browser there, and the test takes that address to perma's real one.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, TestApp};

const PUBLIC: &str = "http://perma.test";
const CLIENT_ID: &str = "perma";
const CLIENT_SECRET: &str = "a client secret of perma's";

struct Provider {
    child: std::process::Child,
    /// Kept open: the provider may still write to it.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    issuer: String,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    fn start() -> Option<Provider> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sso");
        let ready = dir.join("node_modules/oidc-provider").exists()
            && std::process::Command::new("node")
                .arg("--version")
                .output()
                .is_ok();
        if !ready {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "CI needs Node and tests/sso/node_modules (npm ci in tests/sso)"
            );
            eprintln!("skipped: no Node or no tests/sso/node_modules (npm ci in tests/sso)");
            return None;
        }
        let mut child = std::process::Command::new("node")
            .current_dir(&dir)
            .args(["provider.mjs", CLIENT_ID, CLIENT_SECRET])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting the OpenID provider");
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let issuer = serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|_| panic!("provider said {line:?}"))["issuer"]
            .as_str()
            .unwrap()
            .to_owned();
        Some(Provider {
            child,
            _stdout: stdout,
            issuer,
            http: reqwest::Client::new(),
        })
    }

    async fn control(&self, path: &str, body: Option<Value>) {
        let mut r = self
            .http
            .request(Method::POST, format!("{}/test/{path}", self.issuer));
        if let Some(b) = body {
            r = self
                .http
                .put(format!("{}/test/{path}", self.issuer))
                .body(b.to_string());
        }
        assert_eq!(r.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    }

    async fn account(&self, id: &str, claims: Value) {
        self.control(&format!("accounts/{id}"), Some(claims)).await;
    }
}

/// What perma answered at the end of a sign-in: the callback's status, `Location` and body.
struct Ended {
    status: StatusCode,
    location: String,
    body: Value,
}

/// One sign-in as a browser makes it: perma → provider (its sign-in page answers as
/// `account`) → perma's callback.
async fn sign_in(app: &TestApp, provider: &Provider, account: &str) -> Ended {
    provider.control(&format!("login/{account}"), None).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies: HashMap<String, String> = HashMap::new();
    let mut url = format!("{}/v3/sso/login?return_to=/stacks", app.base);
    for _ in 0..12 {
        let to_provider = url.starts_with(&provider.issuer);
        let mut req = http.get(&url);
        if to_provider && !cookies.is_empty() {
            let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", jar.join("; "));
        }
        let res = req.send().await.unwrap();
        if to_provider {
            for c in res.headers().get_all("set-cookie") {
                let pair = c.to_str().unwrap().split(';').next().unwrap();
                let (k, v) = pair.split_once('=').unwrap();
                cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let at_callback = url.contains("/v3/sso/callback");
        if at_callback || location.is_none() {
            let body = res.json().await.unwrap_or(Value::Null);
            return Ended {
                status,
                location: location.unwrap_or_default(),
                body,
            };
        }
        let next = location.unwrap();
        url = if let Some(rest) = next.strip_prefix(PUBLIC) {
            format!("{}{rest}", app.base)
        } else if next.starts_with('/') {
            let origin = if to_provider {
                &provider.issuer
            } else {
                &app.base
            };
            format!("{origin}{next}")
        } else {
            next
        };
    }
    panic!("too many redirects");
}

/// Trades the code of a finished sign-in for a session.
async fn session_from(app: &TestApp, ended: &Ended) -> (StatusCode, Value) {
    assert_eq!(ended.status, StatusCode::FOUND, "{}", ended.body);
    let (path, code) = ended.location.split_once("#sso_code=").unwrap();
    assert_eq!(path, "/stacks", "back where the sign-in started");
    app.anon()
        .call(
            Method::POST,
            "/v3/user-session",
            Some(json!({"user": {"sso_code": code}})),
        )
        .await
}

async fn start() -> Option<(Provider, TestApp)> {
    let provider = Provider::start()?;
    let issuer = provider.issuer.clone();
    let app = TestApp::spawn_with(|c| {
        c.public_url = Some(PUBLIC.into());
        c.oidc_issuer = Some(issuer);
        c.oidc_client_id = Some(CLIENT_ID.into());
        c.oidc_client_secret = Some(CLIENT_SECRET.into());
        c.oidc_scopes = "openid email perma".into();
    })
    .await;
    provider
        .control(
            "client",
            Some(json!({"redirect_uri": format!("{PUBLIC}/v3/sso/callback")})),
        )
        .await;
    Some((provider, app))
}

async fn roles_of(admin: &crate::support::Session, email: &str) -> Vec<String> {
    let (st, v) = admin.get("/v3/stacks/users/roles").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, users) = admin.get("/v3/stacks/users").await;
    let uid = users["stack"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .map(|u| u["uid"].as_str().unwrap().to_owned());
    let Some(uid) = uid else { return Vec::new() };
    let (_, roles) = admin.get("/v3/roles").await;
    let names: HashMap<String, String> = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["uid"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut out: Vec<String> = v["users"][&uid]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| names[r.as_str().unwrap()].clone())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn first_sign_in_makes_the_account_and_the_claim_gives_and_changes_roles() {
    let Some((provider, app)) = start().await else {
        return;
    };
    let admin = app.admin().await;
    let key = admin.api_key().to_owned();
    let (st, v) = app.anon().get("/v3/sso").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["sso"]["enabled"], true, "{v}");
    assert_eq!(v["sso"]["issuer"], provider.issuer.as_str());

    provider
        .account(
            "alice",
            json!({"email": "Alice@Example.com", "email_verified": true,
                   "perma_roles": [format!("{key}:Content Manager")]}),
        )
        .await;
    let ended = sign_in(&app, &provider, "alice").await;
    let (st, v) = session_from(&app, &ended).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["email"], "alice@example.com");
    let alice = crate::support::Session {
        authtoken: v["user"]["authtoken"].as_str().map(str::to_owned),
        api_key: Some(key.clone()),
        ..app.anon()
    };
    assert_eq!(
        roles_of(&admin, "alice@example.com").await,
        ["Content Manager"]
    );
    // A Content Manager reads the stack but not its settings.
    let (st, _) = alice.get("/v3/assets").await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = alice.get("/v3/stacks/users/roles").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = alice
        .call(
            Method::POST,
            "/v3/roles",
            Some(json!({"role": {"name": "x", "rules": []}})),
        )
        .await;
    assert_error((st, v), 403, 161);

    // The code is good once.
    let (st, v) = session_from(&app, &ended).await;
    assert_error((st, v), 401, 106);

    // A changed claim changes the role at the next sign-in, and the audit log says so.
    provider
        .account(
            "alice",
            json!({"email": "alice@example.com", "email_verified": true,
                   "perma_roles": {key.as_str(): ["Developer"]}}),
        )
        .await;
    let (st, v) = session_from(&app, &sign_in(&app, &provider, "alice").await).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(roles_of(&admin, "alice@example.com").await, ["Developer"]);
    let (_, log) = admin.get("/v3/audit-logs?module=member").await;
    let events: Vec<&str> = log["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"]["kind"] == "system" && e["metadata"]["title"] == "alice@example.com")
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert!(events.starts_with(&["update", "share"]), "{log}");

    // The same subject signs in to the same account (no second account).
    let (st, v) = session_from(&app, &sign_in(&app, &provider, "alice").await).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, users) = admin.get("/v3/stacks/users").await;
    let alices = users.to_string().matches("alice@example.com").count();
    assert_eq!(alices, 1, "{users}");

    // A claim without the stack ends the membership; the owner's stacks are never touched.
    provider
        .account(
            "alice",
            json!({"email": "alice@example.com", "email_verified": true, "perma_roles": []}),
        )
        .await;
    let (st, v) = session_from(&app, &sign_in(&app, &provider, "alice").await).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let alice = crate::support::Session {
        authtoken: v["user"]["authtoken"].as_str().map(str::to_owned),
        ..alice
    };
    let (st, v) = alice.get("/v3/assets").await;
    assert_error((st, v), 403, 161);

    // An SSO account has no password, and an invitation cannot give it one.
    let (st, v) = admin
        .call(
            Method::POST,
            "/v3/stacks/share",
            Some(json!({"emails": ["alice@example.com"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(
        v["invitations"].as_array().is_none_or(|i| i.is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn disabled_accounts_and_unverified_addresses_are_refused() {
    let Some((provider, app)) = start().await else {
        return;
    };
    let admin = app.admin().await;
    let key = admin.api_key().to_owned();
    provider
        .account(
            "bob",
            json!({"email": "bob@example.com", "email_verified": true,
                   "perma_roles": [format!("{key}:Developer")]}),
        )
        .await;
    let (st, v) = session_from(&app, &sign_in(&app, &provider, "bob").await).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let bob = crate::support::Session {
        authtoken: v["user"]["authtoken"].as_str().map(str::to_owned),
        api_key: Some(key.clone()),
        ..app.anon()
    };
    assert_eq!(bob.get("/v3/assets").await.0, StatusCode::OK);

    // Disabled with the CLI: the session ends at once, and sign-on is refused.
    let out = crate::support::perma_cmd(app.dir.path())
        .args(["user", "disable", "--email", "bob@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_error(bob.get("/v3/assets").await, 401, 105);
    let ended = sign_in(&app, &provider, "bob").await;
    assert_error((ended.status, ended.body), 403, 161);
    let (_, log) = admin.get("/v3/audit-logs?event_type=sign_in_failed").await;
    assert_eq!(log["logs"][0]["details"]["reason"], "disabled", "{log}");
    // Enabled again: welcome back.
    let out = crate::support::perma_cmd(app.dir.path())
        .args(["user", "enable", "--email", "bob@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (st, v) = session_from(&app, &sign_in(&app, &provider, "bob").await).await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // An address the provider does not vouch for cannot take over a password account.
    provider
        .account(
            "mallory",
            json!({"email": "admin@example.com", "email_verified": false}),
        )
        .await;
    let ended = sign_in(&app, &provider, "mallory").await;
    let v = assert_error((ended.status, ended.body), 401, 106);
    assert!(
        v["error_message"]
            .as_str()
            .unwrap()
            .contains("email_verified"),
        "{v}"
    );
    // And the admin's password still works, with no link made.
    app.login(crate::support::ADMIN_EMAIL, crate::support::ADMIN_PASSWORD)
        .await;
}

#[tokio::test]
async fn forged_expired_and_unsigned_id_tokens_are_refused_and_change_nothing() {
    let Some((provider, app)) = start().await else {
        return;
    };
    let admin = app.admin().await;
    let key = admin.api_key().to_owned();
    provider
        .account(
            "carol",
            json!({"email": "carol@example.com", "email_verified": true,
                   "perma_roles": [format!("{key}:Admin")]}),
        )
        .await;
    for (mode, why) in [
        ("forged", "signature"),
        ("expired", "expired"),
        ("none", "not signed"),
        ("wrong_audience", "another client"),
    ] {
        provider.control(&format!("tamper/{mode}"), None).await;
        let ended = sign_in(&app, &provider, "carol").await;
        let v = assert_error((ended.status, ended.body), 401, 106);
        assert!(
            v["error_message"].as_str().unwrap().contains(why),
            "{mode}: {v}"
        );
        // Nothing was made: no account, no membership.
        let (_, users) = admin.get("/v3/stacks/users").await;
        assert!(!users.to_string().contains("carol@"), "{mode}: {users}");
    }
    let (st, v) = app
        .anon()
        .call(
            Method::POST,
            "/v3/user-session",
            Some(json!({"user": {"sso_code": "sso0000"}})),
        )
        .await;
    assert_error((st, v), 401, 106);

    // A made-up or replayed callback is refused, and one without `state` or `code` too; a
    // browser is sent to the sign-in page.
    for query in [
        "code=x&state=never-issued",
        "code=x",
        "state=never-issued",
        "",
    ] {
        let (st, v) = app.anon().get(&format!("/v3/sso/callback?{query}")).await;
        assert!(st.is_client_error(), "{query}: {st} {v}");
        assert!(v["error_message"].is_string(), "{query}: {v}");
    }
    let (st, v) = app
        .anon()
        .get("/v3/sso/callback?code=x&state=never-issued")
        .await;
    assert_error((st, v), 401, 106);
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "{}/v3/sso/callback?code=x&state=never-issued",
            app.base
        ))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = res.headers()["location"].to_str().unwrap();
    assert!(
        to.starts_with("/#sso_error=Single%20sign-on")
            || to.starts_with("/#sso_error=Single+sign-on"),
        "{to}"
    );

    // The untampered token signs in, as the claim says.
    let (st, v) = session_from(&app, &sign_in(&app, &provider, "carol").await).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn without_configuration_sign_on_is_off() {
    let app = TestApp::spawn().await;
    let (st, v) = app.anon().get("/v3/sso").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["sso"]["enabled"], false);
    assert_error(app.anon().get("/v3/sso/login").await, 404, 141);
}

#[tokio::test]
async fn a_disabled_password_account_cannot_sign_in_and_its_sessions_end() {
    let app = TestApp::spawn().await;
    let dave = app.new_user("dave@example.com").await;
    assert_eq!(dave.get("/v3/user").await.0, StatusCode::OK);
    let run = |verb: &str| {
        let out = crate::support::perma_cmd(app.dir.path())
            .args(["user", verb, "--email", "dave@example.com"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    run("disable");
    assert_error(dave.get("/v3/user").await, 401, 105);
    let login = json!({"user": {"email": "dave@example.com", "password": "password-123"}});
    let (st, v) = app
        .anon()
        .call(Method::POST, "/v3/user-session", Some(login.clone()))
        .await;
    let v = assert_error((st, v), 403, 161);
    assert!(
        v["error_message"].as_str().unwrap().contains("disabled"),
        "{v}"
    );
    // A wrong password still gets the usual answer (being disabled is not revealed).
    let wrong = json!({"user": {"email": "dave@example.com", "password": "wrong-password"}});
    assert_error(
        app.anon()
            .call(Method::POST, "/v3/user-session", Some(wrong))
            .await,
        401,
        104,
    );
    run("enable");
    let (st, v) = app
        .anon()
        .call(Method::POST, "/v3/user-session", Some(login))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let out = crate::support::perma_cmd(app.dir.path())
        .args(["user", "disable", "--email", "nobody@example.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
