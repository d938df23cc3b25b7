//! §5 identity and access: sessions, stacks, members, tokens, environments, locales.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{assert_error, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

#[tokio::test]
async fn login_logout_and_user() {
    let t = TestApp::spawn().await;
    let anon = t.anon();
    let bad = anon
        .call(
            Method::POST,
            "/v3/user-session",
            Some(json!({"user": {"email": ADMIN_EMAIL, "password": "wrong password"}})),
        )
        .await;
    assert_error(bad, 401, 104);
    let unknown = anon
        .call(
            Method::POST,
            "/v3/user-session",
            Some(json!({"user": {"email": "nobody@example.com", "password": "x"}})),
        )
        .await;
    assert_error(unknown, 401, 104);

    let s = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = s.authtoken.clone().unwrap();
    assert!(token.len() >= 32, "authtoken carries at least 128 bits");
    let (st, v) = s.get("/v3/user").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["user"]["email"], ADMIN_EMAIL);
    assert!(
        v["user"]["authtoken"].is_null(),
        "the token is only returned at login"
    );
    let (st, v) = s.get("/v3/organizations").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["organizations"].as_array().unwrap().len(), 1);

    let (st, _) = s.call(Method::DELETE, "/v3/user-session", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_error(s.get("/v3/user").await, 401, 105);
    assert_error(anon.get("/v3/user").await, 401, 105);
}

#[tokio::test]
async fn stack_access_order_is_412_401_412_403() {
    let t = TestApp::spawn().await;
    let owner = t.admin().await;
    let key = owner.api_key().to_owned();
    let stranger = t.new_user("stranger@example.com").await;

    // Missing api_key → 412, even with valid credentials.
    assert_error(stranger.get("/v3/assets").await, 412, 109);
    // Bad credentials → 401, whether or not the stack exists (no existence leak).
    let mut forged = t.anon();
    forged.authtoken = Some("not-a-real-token".into());
    forged.api_key = Some(key.clone());
    assert_error(forged.get("/v3/assets").await, 401, 105);
    forged.api_key = Some("blt0000000000000000".into());
    assert_error(forged.get("/v3/assets").await, 401, 105);
    // No credentials at all → 401.
    let mut anon = t.anon();
    anon.api_key = Some(key.clone());
    assert_error(anon.get("/v3/assets").await, 401, 105);
    // Valid credentials, unknown stack → 412.
    let mut s2 = stranger.clone();
    s2.api_key = Some("blt0000000000000000".into());
    assert_error(s2.get("/v3/assets").await, 412, 109);
    // Valid credentials, not a member → 403.
    s2.api_key = Some(key.clone());
    assert_error(s2.get("/v3/assets").await, 403, 161);
    // The stranger's stack list does not show it.
    let (_, v) = stranger.get("/v3/stacks").await;
    assert_eq!(v["stacks"], json!([]));

    // Sharing makes them a member; unsharing takes it back.
    let (st, v) = owner
        .call(
            Method::POST,
            "/v3/stacks/share",
            Some(json!({"emails": ["stranger@example.com"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = s2.get("/v3/assets").await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = stranger.get("/v3/stacks").await;
    assert_eq!(v["stacks"][0]["api_key"], json!(key));
    let bad_share = owner
        .call(
            Method::POST,
            "/v3/stacks/share",
            Some(json!({"emails": ["not an e-mail"]})),
        )
        .await;
    assert_error(bad_share, 422, 422);
    let (st, _) = owner
        .call(
            Method::POST,
            "/v3/stacks/unshare",
            Some(json!({"email": "stranger@example.com"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_error(s2.get("/v3/assets").await, 403, 161);
    // The owner cannot be removed.
    assert_error(
        owner
            .call(
                Method::POST,
                "/v3/stacks/unshare",
                Some(json!({"email": ADMIN_EMAIL})),
            )
            .await,
        422,
        422,
    );
}

#[tokio::test]
async fn stacks_crud_and_validation() {
    let t = TestApp::spawn().await;
    let s = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_error(
        s.call(
            Method::POST,
            "/v3/stacks",
            Some(json!({"stack": {"name": ""}})),
        )
        .await,
        422,
        422,
    );
    assert_error(
        s.call(Method::POST, "/v3/stacks", Some(json!({"nope": 1})))
            .await,
        422,
        422,
    );
    let s = s.with_new_stack("Marketing").await;
    let (_, v) = s.get("/v3/stacks").await;
    assert_eq!(v["stack"]["name"], "Marketing");
    assert_eq!(v["stack"]["master_locale"], "en-us");
    let (st, v) = s
        .call(
            Method::PUT,
            "/v3/stacks",
            Some(json!({"stack": {"name": "Brand"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["stack"]["name"], "Brand");
    // organization_uid as query parameter, as the JS SDK sends it.
    let (_, orgs) = s.get("/v3/organizations").await;
    let org = orgs["organizations"][0]["uid"].as_str().unwrap();
    let mut no_key = s.clone();
    no_key.api_key = None;
    let (st, v) = no_key
        .call(
            Method::POST,
            &format!("/v3/stacks?organization_uid={org}"),
            Some(json!({"stack": {"name": "Second"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["stack"]["org_uid"], json!(org));
    let wrong_org = no_key
        .call(
            Method::POST,
            "/v3/stacks?organization_uid=blt0000000000000000",
            Some(json!({"stack": {"name": "X"}})),
        )
        .await;
    assert_error(wrong_org, 422, 422);
    let (_, v) = no_key.get("/v3/stacks").await;
    assert_eq!(v["stacks"].as_array().unwrap().len(), 2);
    let (st, _) = s.call(Method::DELETE, "/v3/stacks", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_error(s.get("/v3/assets").await, 412, 109);
}

#[tokio::test]
async fn management_tokens_scope_and_secrecy() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let asset = s.upload("a.txt", b"hello").await;
    let uid = asset["uid"].as_str().unwrap();

    let (st, v) = s
        .call(Method::POST, "/v3/stacks/management_tokens", Some(json!({"token": {"name": "ro", "scope": [{"module": "asset", "acl": {"read": true, "write": false}}]}})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let ro_secret = v["token"]["token"].as_str().unwrap().to_owned();
    assert!(ro_secret.len() >= 34);
    let ro_uid = v["token"]["uid"].as_str().unwrap().to_owned();
    let (_, list) = s.get("/v3/stacks/management_tokens").await;
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
    assert!(
        list["tokens"][0]["token"].is_null(),
        "the secret is shown once only: {list}"
    );

    let mut ro = t.anon();
    ro.api_key = s.api_key.clone();
    ro.mgmt_token = Some(ro_secret.clone());
    let (st, _) = ro.get(&format!("/v3/assets/{uid}")).await;
    assert_eq!(st, StatusCode::OK);
    let refused = ro
        .call(
            Method::PUT,
            &format!("/v3/assets/{uid}"),
            Some(json!({"asset": {"title": "changed"}})),
        )
        .await;
    assert_error(refused, 403, 161);
    let (st, _) = ro
        .upload_form(Method::POST, "/v3/assets", "b.txt", b"x".to_vec(), &[])
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (_, a) = s.get(&format!("/v3/assets/{uid}")).await;
    assert_eq!(a["asset"]["title"], "a.txt", "nothing changed");
    // Tokens cannot mint tokens.
    assert_error(ro.get("/v3/stacks/management_tokens").await, 403, 161);

    let (_, v) = s
        .call(Method::POST, "/v3/stacks/management_tokens", Some(json!({"token": {"name": "rw", "scope": [{"module": "asset", "acl": {"read": true, "write": true}}]}})))
        .await;
    let mut rw = t.anon();
    rw.api_key = s.api_key.clone();
    rw.mgmt_token = Some(v["token"]["token"].as_str().unwrap().to_owned());
    rw.upload("by-token.txt", b"token upload").await;
    // Bearer prefix is tolerated.
    let mut bearer = rw.clone();
    bearer.mgmt_token = Some(format!("Bearer {}", rw.mgmt_token.clone().unwrap()));
    assert_eq!(bearer.get("/v3/assets").await.0, StatusCode::OK);

    // A token of this stack used against another stack → 403.
    let other = t
        .login(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .with_new_stack("Other")
        .await;
    let mut cross = rw.clone();
    cross.api_key = other.api_key.clone();
    assert_error(cross.get("/v3/assets").await, 403, 161);

    // Scope must grant something.
    let empty = s
        .call(
            Method::POST,
            "/v3/stacks/management_tokens",
            Some(json!({"token": {"name": "none", "scope": []}})),
        )
        .await;
    assert_error(empty, 422, 422);

    // Deleted tokens stop working.
    let (st, _) = s
        .call(
            Method::DELETE,
            &format!("/v3/stacks/management_tokens/{ro_uid}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_error(ro.get("/v3/assets").await, 401, 105);
    // A token stops working when it expires (one cannot be created expired).
    let soon = perma::time::iso8601(perma::time::now_ms() + 1_000);
    let (_, v) = s
        .call(Method::POST, "/v3/stacks/management_tokens", Some(json!({"token": {"name": "old", "expires_on": soon, "scope": [{"module": "asset", "acl": {"read": true}}]}})))
        .await;
    let mut old = ro.clone();
    old.mgmt_token = Some(v["token"]["token"].as_str().unwrap().to_owned());
    let (st, _) = old.get("/v3/assets").await;
    assert_eq!(st, StatusCode::OK, "valid until it expires");
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    assert_error(old.get("/v3/assets").await, 401, 105);
}

#[tokio::test]
async fn environments_and_locales() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (st, v) = s
        .call(Method::POST, "/v3/environments", Some(json!({"environment": {"name": "production", "urls": [{"locale": "en-us", "url": "https://example.com"}]}})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_error(
        s.call(
            Method::POST,
            "/v3/environments",
            Some(json!({"environment": {"name": "production"}})),
        )
        .await,
        422,
        422,
    );
    assert_error(
        s.call(
            Method::POST,
            "/v3/environments",
            Some(json!({"environment": {"name": "bad name!"}})),
        )
        .await,
        422,
        422,
    );
    let (st, v) = s
        .call(
            Method::PUT,
            "/v3/environments/production",
            Some(json!({"environment": {"name": "prod"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(s.get("/v3/environments/prod").await.0, StatusCode::OK);
    assert_error(s.get("/v3/environments/production").await, 404, 141);
    let (_, v) = s.get("/v3/environments").await;
    assert_eq!(v["environments"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.call(Method::DELETE, "/v3/environments/prod", None)
            .await
            .0,
        StatusCode::OK
    );

    let (st, v) = s
        .call(
            Method::POST,
            "/v3/locales",
            Some(json!({"locale": {"code": "fr-fr", "name": "French"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_error(
        s.call(
            Method::POST,
            "/v3/locales",
            Some(json!({"locale": {"code": "fr-fr"}})),
        )
        .await,
        422,
        422,
    );
    let (_, v) = s.get("/v3/locales").await;
    let codes: Vec<&str> = v["locales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["en-us", "fr-fr"]);
    assert_error(
        s.call(Method::DELETE, "/v3/locales/en-us", None).await,
        422,
        422,
    );
    assert_eq!(
        s.call(Method::DELETE, "/v3/locales/fr-fr", None).await.0,
        StatusCode::OK
    );
    assert_error(s.get("/v3/locales/fr-fr").await, 404, 141);
}

/// Password guessing is slowed: past 5 failures for an e-mail from one address (then
/// with growing delays), or 30 from one client address, logins from there answer 429 with
/// `Retry-After`, even with the right password.
#[tokio::test]
async fn failed_logins_are_limited_per_email_and_per_address() {
    // Behind a proxy on this host, listed as trusted.
    let t = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let login = |email: &str, password: &str| {
        let http = t.http.clone();
        let url = format!("{}/v3/user-session", t.base);
        let body = json!({"user": {"email": email, "password": password}});
        async move { http.post(url).json(&body).send().await.unwrap() }
    };
    for _ in 0..5 {
        let r = login(ADMIN_EMAIL, "wrong password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(retry <= 32, "a growing delay, not a lock: {retry}");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error_code"], 429, "{v}");
    // Other accounts from this address still may, until the address has 30 failures.
    t.new_user("other@example.com").await;
    for i in 0..25 {
        let r = login(&format!("nobody{i}@example.com"), "x").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{i}");
    }
    let r = login("other@example.com", "password-123").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Behind the trusted proxy, the client is the address it forwards: another client
    // is not held back by this one's failures.
    let r = t
        .http
        .post(format!("{}/v3/user-session", t.base))
        .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
        .json(&json!({"user": {"email": "other@example.com", "password": "password-123"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A forwarded address that is not one counts as the proxy itself (here: held back).
    let r = t
        .http
        .post(format!("{}/v3/user-session", t.base))
        .header("x-forwarded-for", "not-an-address")
        .json(&json!({"user": {"email": "other@example.com", "password": "password-123"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}
