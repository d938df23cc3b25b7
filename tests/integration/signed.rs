//! §13 signed URLs: a valid one opens a secured stack's file; any changed byte is 403,
//! an expired one 410; key rotation keeps the previous key valid; signatures stay out of
//! the access log.

use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::delivery::asset_with_permanent;
use crate::support::{assert_error, Session, TestApp};

async fn secured_asset(s: &Session) -> String {
    let (st, _) = s
        .call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"secure_asset_urls": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let a = s.upload("secret.txt", b"for your eyes only").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let (st, _) = s.set_permanent(&uid, "secret").await;
    assert_eq!(st, StatusCode::OK);
    uid
}

async fn sign(s: &Session, uid: &str, body: Value) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        &format!("/v3/assets/{uid}/signed_url"),
        Some(body),
    )
    .await
}

async fn signed(s: &Session, uid: &str, body: Value) -> String {
    let (st, v) = sign(s, uid, body).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["signed_url"].as_str().unwrap().to_owned()
}

async fn status(url: &str) -> StatusCode {
    reqwest::get(url).await.unwrap().status()
}

#[tokio::test]
async fn a_signed_url_opens_a_secured_file_and_nothing_else_does() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let uid = secured_asset(&s).await;
    let (_, v) = s.get(&format!("/v3/assets/{uid}")).await;
    let perm = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
    assert_eq!(status(&perm).await, StatusCode::UNAUTHORIZED);

    let url = signed(
        &s,
        &uid,
        json!({"expires_in": 300, "url_kind": "permanent", "params": "dl=1"}),
    )
    .await;
    assert!(url.starts_with(&perm), "{url}");
    assert!(
        url.contains("dl=1&expires=") && url.contains("&signature="),
        "{url}"
    );
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("private"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(r.text().await.unwrap(), "for your eyes only");
    let head = reqwest::Client::new().head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let version = signed(&s, &uid, json!({"expires_in": 300, "url_kind": "version"})).await;
    assert_eq!(status(&version).await, StatusCode::OK);

    // Edits that keep the URL well-formed: each is refused.
    let (base, _) = url.split_once('?').unwrap();
    let sig = url.rsplit_once("signature=").unwrap().1.to_owned();
    for bad in [
        url.replace("dl=1", "dl=0"),
        url.replace("&expires=", "&expires=9"),
        url.replace(&sig, &sig.to_uppercase()),
        format!("{url}&width=10"),
        format!("{url}&signature={sig}"),
        url.replace(&format!("&signature={sig}"), ""),
        format!("{base}?signature={sig}"),
        url.replace("/secret?", "/Secret?"),
    ] {
        let st = status(&bad).await;
        assert!(
            st == StatusCode::FORBIDDEN
                || st == StatusCode::UNAUTHORIZED
                || st == StatusCode::NOT_FOUND,
            "{bad}: {st}"
        );
    }
    assert_eq!(
        status(&url.replace(&sig[..4], "0000")).await,
        StatusCode::FORBIDDEN
    );
    let (st, v) = {
        let r = reqwest::get(url.replace(&sig[..4], "ffff")).await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(v["error_code"], 161, "{v}");
}

#[tokio::test]
async fn ten_thousand_one_byte_mutations_are_all_refused() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let uid = secured_asset(&s).await;
    let url = signed(
        &s,
        &uid,
        json!({"expires_in": 600, "params": "width=10&format=png"}),
    )
    .await;
    let host_end = url.find("/v3/").unwrap();
    let (host, target) = url.split_at(host_end);
    let target = target.as_bytes().to_vec();
    let mut rng = rand::thread_rng();
    let mutants: Vec<String> = (0..10_000)
        .filter_map(|_| {
            let mut m = target.clone();
            let i = rng.gen_range(0..m.len());
            let b = loop {
                let b: u8 = rng.gen_range(0x21..0x7f);
                if b != m[i] {
                    break b;
                }
            };
            m[i] = b;
            String::from_utf8(m).ok().map(|t| format!("{host}{t}"))
        })
        // The client's URL parser normalises some bytes back (`\` is `/` in an http URL):
        // such a request is the original one, byte for byte, not a mutation.
        .filter(|u| reqwest::Url::parse(u).is_ok_and(|p| p.as_str() != url))
        .collect();
    let client = reqwest::Client::new();
    let accepted: Vec<(String, u16)> = futures_util::stream::iter(mutants)
        .map(|u| {
            let client = client.clone();
            async move {
                // Accepted = the file's bytes came back (a mutated path may name the UI's
                // pages, which are public and not the file).
                let r = client.get(&u).send().await.ok()?;
                let st = r.status().as_u16();
                let body = r.bytes().await.ok()?;
                (st < 400 && &body[..] == b"for your eyes only").then_some((u, st))
            }
        })
        .buffer_unordered(16)
        .filter_map(|r| async move { r })
        .collect()
        .await;
    assert!(
        accepted.is_empty(),
        "accepted: {:?}",
        &accepted[..accepted.len().min(5)]
    );
    // The original still works.
    assert_eq!(status(&url).await, StatusCode::OK);
}

#[tokio::test]
async fn expiry_is_410_and_rotation_keeps_the_previous_key() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let uid = secured_asset(&s).await;
    let first = signed(&s, &uid, json!({"expires_in": 600})).await;
    let (st, v) = s.call(Method::POST, "/v3/stacks/signing_keys", None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let second = signed(&s, &uid, json!({"expires_in": 600})).await;
    assert_ne!(first, second);
    assert_eq!(
        status(&first).await,
        StatusCode::OK,
        "the previous key stays valid"
    );
    assert_eq!(status(&second).await, StatusCode::OK);
    let (_, v) = s.get("/v3/stacks/signing_keys").await;
    assert_eq!(v["signing_keys"].as_array().unwrap().len(), 2);
    assert!(v["signing_keys"][0].get("secret").is_none());
    s.call(Method::POST, "/v3/stacks/signing_keys", None).await;
    assert_eq!(
        status(&first).await,
        StatusCode::FORBIDDEN,
        "two rotations retire a key"
    );
    assert_eq!(status(&second).await, StatusCode::OK);
    let short = signed(&s, &uid, json!({"expires_in": 1})).await;
    assert_eq!(status(&short).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = reqwest::get(&short).await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], 148);
}

/// Rotations faster than the clock (three keys stored in one millisecond, as two quick
/// `POST /signing_keys` calls can) still make the last key added the current one and
/// retire the first: order is by addition, not by whichever random kid sorts last.
#[tokio::test]
async fn rotations_within_one_millisecond_keep_their_order() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let uid = secured_asset(&s).await;
    let path = format!("/v3/assets/{}/{uid}/secret", s.api_key());
    // Kids that sort against the order of addition: a tie broken by kid picks the wrong one.
    let created_at = perma::time::now_ms();
    let mut stored = Vec::new();
    for kid in ["kid-z", "kid-y", "kid-x"] {
        let k = perma::db::events::SigningKey {
            kid: kid.into(),
            secret: format!("secret-{kid}"),
            created_at,
        };
        stored.push(
            t.app
                .db
                .add_signing_key(s.api_key(), &k, &[])
                .await
                .unwrap(),
        );
    }
    let (st, v) = s.get("/v3/stacks/signing_keys").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let kids: Vec<&str> = v["signing_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["kid-x", "kid-y"], "newest first, the first retired");
    // New URLs are signed with the last key added; URLs of the retired one are refused.
    let url = signed(&s, &uid, json!({"expires_in": 600})).await;
    let expires = perma::time::now_ms() / 1000 + 600;
    let by = |k: &perma::db::events::SigningKey| {
        format!(
            "{}{}",
            t.base,
            perma::signing::signed_path(k, &path, "", expires)
        )
    };
    assert_eq!(status(&by(&stored[2])).await, StatusCode::OK);
    assert_eq!(status(&by(&stored[1])).await, StatusCode::OK);
    assert_eq!(status(&by(&stored[0])).await, StatusCode::FORBIDDEN);
    let signature = url.rsplit("signature=").next().unwrap();
    let expires_in_url: i64 = url
        .split("expires=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .unwrap()
        .parse()
        .unwrap();
    let mine = perma::signing::signed_path(&stored[2], &path, "", expires_in_url);
    assert!(
        mine.ends_with(&format!("signature={signature}")),
        "{url} is not signed with the newest key"
    );
}

#[tokio::test]
async fn bad_signing_requests_are_refused() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let log_path = log.path().to_str().unwrap().to_owned();
    let t = TestApp::spawn_with(move |c| c.access_log = log_path).await;
    let s = t.admin().await;
    let uid = secured_asset(&s).await;
    for (body, status, field) in [
        (json!({"expires_in": 0}), 422, "expires_in"),
        (json!({"expires_in": 400_000_000}), 422, "expires_in"),
        (json!({"expires_in": "soon"}), 422, "expires_in"),
        (json!({"url_kind": "preview"}), 422, "url_kind"),
        (json!({"params": "a=1&signature=x"}), 422, "params"),
        (json!({"params": 5}), 422, "params"),
        (json!({"params": "width=abc"}), 400, ""),
    ] {
        let (st, v) = sign(&s, &uid, body.clone()).await;
        assert_eq!(st.as_u16(), status, "{body}: {v}");
        if !field.is_empty() {
            assert!(v["errors"].get(field).is_some(), "{body}: {v}");
        }
    }
    let (st, _) = sign(&s, "blt0000000000000000", json!({})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let a = s.upload("no-slug.txt", b"x").await;
    let (st, v) = sign(
        &s,
        a["uid"].as_str().unwrap(),
        json!({"url_kind": "permanent"}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // The signature never reaches the access log.
    let url = signed(&s, &uid, json!({})).await;
    assert_eq!(status(&url).await, StatusCode::OK);
    let sig = url.rsplit_once("signature=").unwrap().1.to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(log.path()).unwrap();
        if text.contains("signature=REDACTED") {
            assert!(!text.contains(&sig));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no log line: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn secured_stacks_need_credentials_or_delivery_token() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    s.environment("staging").await;
    let (id, vurl, perm) = asset_with_permanent(&s, "secret.txt", b"published", "secret").await;
    s.publish(&id, "production", &[]).await;
    let draft = s.replace(&id, "secret.txt", b"draft").await;
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"secure_asset_urls": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let dt = s.delivery_token(&["production"]).await;
    let bad_scope = s
        .call(Method::POST, "/v3/stacks/delivery_tokens", Some(json!({"token": {"name": "x", "scope": [{"module": "environment", "environments": ["mars"]}]}})))
        .await;
    assert_error(bad_scope, 422, 422);

    let get = |u: String| t.http.get(u).send();
    assert_eq!(
        get(perm.clone()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(vurl.clone()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(format!("{perm}?access_token=wrong&environment=production"))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(format!("{perm}?access_token={dt}&environment=staging"))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(format!("{perm}?access_token={dt}"))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = get(format!("{perm}?access_token={dt}&environment=production"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("private"));
    assert_eq!(r.text().await.unwrap(), "published");
    // Only published versions: the draft's version URL is refused even with the token.
    let r = get(format!(
        "{}?access_token={dt}&environment=production",
        draft["url"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get(format!("{vurl}?access_token={dt}&environment=production"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Management credentials see the latest.
    let r = s.request(Method::GET, &perm).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "draft");
    // A stranger's credentials: 403.
    let stranger = t.new_user("x@example.com").await;
    let r = stranger.request(Method::GET, &perm).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
