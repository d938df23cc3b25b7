//! Management API rules the official SDKs' own tests exercise (§5): token and locale
//! updates, Contentstack's notices, error bodies on every route, boolean parameters in any
//! case, members and settings.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, Session, TestApp};

async fn create_token(s: &Session, kind: &str, token: Value) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        &format!("/v3/stacks/{kind}"),
        Some(json!({ "token": token })),
    )
    .await
}

fn with_token(s: &Session, secret: &str) -> Session {
    Session {
        authtoken: None,
        mgmt_token: Some(secret.to_owned()),
        ..s.clone()
    }
}

#[tokio::test]
async fn management_tokens_are_renamed_and_rescoped_and_say_so_in_contentstack_words() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (st, v) = create_token(
        &s,
        "management_tokens",
        json!({"name": "ci", "description": "d", "scope": [{"module": "asset", "acl": {"read": true, "write": false}}]}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["notice"], json!("Management Token created successfully."));
    let uid = v["token"]["uid"].as_str().unwrap().to_owned();
    let secret = v["token"]["token"].as_str().unwrap().to_owned();
    let bot = with_token(&s, &secret);
    let form = reqwest::multipart::Form::new().part(
        "asset[upload]",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"),
    );
    let (st, _) = bot
        .send(bot.request(Method::POST, "/v3/assets").multipart(form))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "read-only at first");

    // Rename and grant write; the secret stays the same and keeps working.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/stacks/management_tokens/{uid}"),
            Some(json!({"token": {"name": "ci-writer", "scope": [{"module": "asset", "acl": {"read": true, "write": true}}]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["notice"], json!("Management Token updated successfully."));
    assert_eq!(v["token"]["name"], json!("ci-writer"));
    assert_eq!(v["token"]["description"], json!("d"), "unsent fields stay");
    assert!(
        v["token"].get("token").is_none(),
        "the secret is shown once"
    );
    let a = bot.upload("x.txt", b"x").await;
    assert!(a["uid"].as_str().is_some());

    // Bad updates change nothing.
    for (body, field) in [
        (json!({"token": {"name": ""}}), "name"),
        (
            json!({"token": {"scope": [{"module": "asset", "acl": {"read": false}}]}}),
            "scope",
        ),
        (
            json!({"token": {"expires_on": "2001-01-01T00:00:00.000Z"}}),
            "expires_on",
        ),
        (json!({"token": {"expires_on": "soon"}}), "expires_on"),
    ] {
        let (st, v) = s
            .call(
                Method::PUT,
                &format!("/v3/stacks/management_tokens/{uid}"),
                Some(body),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["errors"].get(field).is_some(), "{field}: {v}");
    }
    let (_, v) = s.get(&format!("/v3/stacks/management_tokens/{uid}")).await;
    assert_eq!(v["token"]["name"], json!("ci-writer"));
    assert_eq!(v["token"]["expires_on"], Value::Null);
    assert_error(
        s.call(
            Method::PUT,
            "/v3/stacks/management_tokens/blt0000000000000000",
            Some(json!({"token": {"name": "x"}})),
        )
        .await,
        404,
        141,
    );

    // A token that would be born expired is refused, and none is created.
    let (st, v) = create_token(
        &s,
        "management_tokens",
        json!({"name": "old", "scope": [{"module": "asset", "acl": {"read": true}}], "expires_on": "2020-01-01T00:00:00.000Z"}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["errors"].get("expires_on").is_some());
    let (_, list) = s.get("/v3/stacks/management_tokens").await;
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);

    let (st, v) = s
        .call(
            Method::DELETE,
            &format!("/v3/stacks/management_tokens/{uid}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["notice"], json!("Management Token deleted successfully."));
    assert_error(bot.get("/v3/assets").await, 401, 105);
}

#[tokio::test]
async fn delivery_tokens_are_rescoped_and_the_delivery_api_follows() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    for env in ["production", "staging"] {
        s.call(
            Method::POST,
            "/v3/environments",
            Some(json!({"environment": {"name": env}})),
        )
        .await;
    }
    let (st, v) = create_token(
        &s,
        "delivery_tokens",
        json!({"name": "site", "scope": [{"module": "environment", "environments": ["production"], "acl": {"read": true}}]}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(v["notice"], json!("Delivery Token created successfully."));
    let uid = v["token"]["uid"].as_str().unwrap().to_owned();
    let secret = v["token"]["token"].as_str().unwrap().to_owned();
    let read = |env: &'static str| {
        let r = t
            .http
            .get(format!("{}/v3/assets?environment={env}", t.base))
            .header("api_key", s.api_key())
            .header("access_token", &secret);
        async move { r.send().await.unwrap().status() }
    };
    assert_eq!(read("production").await, StatusCode::OK);
    assert_eq!(read("staging").await, StatusCode::FORBIDDEN);
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/stacks/delivery_tokens/{uid}"),
            Some(json!({"token": {"description": "both", "scope": [{"module": "environment", "environments": ["production", "staging"], "acl": {"read": true}}]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["notice"], json!("Delivery Token updated successfully."));
    assert_eq!(v["token"]["name"], json!("site"));
    assert_eq!(read("staging").await, StatusCode::OK);
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/stacks/delivery_tokens/{uid}"),
            Some(json!({"token": {"scope": [{"module": "environment", "environments": ["nowhere"]}]}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        read("staging").await,
        StatusCode::OK,
        "a refused update changed nothing"
    );
    let (_, v) = s
        .call(
            Method::DELETE,
            &format!("/v3/stacks/delivery_tokens/{uid}"),
            None,
        )
        .await;
    assert_eq!(v["notice"], json!("Delivery Token deleted successfully."));
    assert_eq!(read("production").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn locales_are_updated_and_fallbacks_must_exist() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/locales",
            Some(
                json!({"locale": {"code": "fr-fr", "name": "French", "fallback_locale": "xx-xx"}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["errors"].get("fallback_locale").is_some());
    assert_error(s.get("/v3/locales/fr-fr").await, 404, 141);
    for code in ["fr-fr", "de-de"] {
        let (st, v) = s
            .call(
                Method::POST,
                "/v3/locales",
                Some(json!({"locale": {"code": code}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let (st, v) = s
        .call(
            Method::PUT,
            "/v3/locales/de-de",
            Some(json!({"locale": {"name": "Deutsch", "fallback_locale": "fr-fr"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["locale"]["name"], json!("Deutsch"));
    assert_eq!(v["locale"]["fallback_locale"], json!("fr-fr"));
    for fallback in ["xx-xx", "de-de"] {
        let (st, v) = s
            .call(
                Method::PUT,
                "/v3/locales/de-de",
                Some(json!({"locale": {"name": "Other", "fallback_locale": fallback}})),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["errors"].get("fallback_locale").is_some());
    }
    let (_, v) = s.get("/v3/locales/de-de").await;
    assert_eq!(
        v["locale"]["name"],
        json!("Deutsch"),
        "refused updates changed nothing"
    );
    assert_eq!(v["locale"]["fallback_locale"], json!("fr-fr"));
    assert_error(
        s.call(
            Method::PUT,
            "/v3/locales/xx-xx",
            Some(json!({"locale": {"name": "X"}})),
        )
        .await,
        404,
        141,
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_with_the_cma_error_body() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    assert_error(s.get("/v3/no/such/route").await, 404, 141);
    let r = s.request(Method::PATCH, "/v3/assets").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_code"], json!(405));
    assert!(v["error_message"].as_str().unwrap().contains("PATCH"));
    assert_error(s.call(Method::DELETE, "/v3/user", None).await, 405, 405);
}

#[tokio::test]
async fn boolean_parameters_count_in_any_case() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets/folders",
            Some(json!({"asset": {"name": "sub"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    s.upload("a.txt", b"a").await;
    for flag in ["True", "TRUE", "true", "1", "Yes"] {
        let (_, v) = s
            .get(&format!(
                "/v3/assets?folder=cs_root&include_folders={flag}&include_count={flag}"
            ))
            .await;
        assert_eq!(v["count"], json!(2), "{flag}: {v}");
    }
    let (_, v) = s
        .get("/v3/assets?folder=cs_root&include_folders=False&include_count=false")
        .await;
    assert_eq!(v["assets"].as_array().unwrap().len(), 1);
    assert!(v.get("count").is_none());
}

#[tokio::test]
async fn members_and_settings_reset() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    t.new_user("second@example.com").await;
    s.call(
        Method::POST,
        "/v3/stacks/share",
        Some(json!({"emails": ["second@example.com"]})),
    )
    .await;
    let (st, v) = s.get("/v3/stacks/users").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let users = v["stack"]["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(
        users
            .iter()
            .filter(|u| u["is_owner"] == json!(true))
            .count(),
        1
    );
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"secure_asset_urls": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/stacks/settings/reset",
            Some(json!({"stack_settings": {}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["stack_settings"]["secure_asset_urls"], json!(false));
    let (_, v) = s.get("/v3/stacks/settings").await;
    assert_eq!(v["stack_settings"]["secure_asset_urls"], json!(false));

    // Tokens see neither members nor a reset.
    let (_, tok) = s
        .call(
            Method::POST,
            "/v3/stacks/management_tokens",
            Some(json!({"token": {"name": "rw", "scope": [{"module": "asset", "acl": {"read": true, "write": true}}]}})),
        )
        .await;
    let bot = with_token(&s, tok["token"]["token"].as_str().unwrap());
    assert_error(bot.get("/v3/stacks/users").await, 403, 161);
    assert_error(
        bot.call(Method::POST, "/v3/stacks/settings/reset", None)
            .await,
        403,
        161,
    );
}
