//! What the official SDKs' own suites ask of the CMA beyond assets: every Contentstack
//! webhook channel (stored, returned, only asset ones fire), webhook export and import,
//! execution logs, bulk delete, and locale codes from Contentstack's list.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::events::{create_webhook, settle, spawn, Receiver};
use crate::support::{assert_error, Session, TestApp};

async fn hook(s: &Session, body: Value) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/v3/webhooks",
        Some(json!({ "webhook": body })),
    )
    .await
}

#[tokio::test]
async fn every_contentstack_channel_is_kept_and_only_asset_events_fire() {
    let t = spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    // The SDK suite's first webhook: entry channels only, with Contentstack's other fields.
    let entries = [
        "content_types.entries.create",
        "content_types.entries.update",
    ];
    let (st, v) = hook(
        &s,
        json!({
            "name": "entries only", "destinations": [{"target_url": receiver.url()}],
            "channels": entries, "branches": ["main", "development"], "concise_payload": true,
            "applikation_id": null, "notifiers": "dave.joe@example.com",
        }),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["webhook"]["channels"], json!(entries));
    assert_eq!(v["webhook"]["branches"], json!(["main", "development"]));
    assert_eq!(v["webhook"]["notifiers"], "dave.joe@example.com");
    let entries_uid = v["webhook"]["uid"].as_str().unwrap().to_owned();
    // Asset channels by Contentstack's names, one asset's, and a wildcard.
    let a = s.upload("one.txt", b"one").await;
    let b = s.upload("two.txt", b"two").await;
    let (a_uid, b_uid) = (a["uid"].as_str().unwrap(), b["uid"].as_str().unwrap());
    let by_name = create_webhook(
        &s,
        &receiver.url(),
        &["assets.publish", &format!("assets.{a_uid}.delete")],
        "automatic",
    )
    .await;
    let every = create_webhook(&s, &receiver.url(), &["assets.*"], "automatic").await;
    let fetched = s
        .get(&format!(
            "/v3/webhooks/{}",
            by_name["uid"].as_str().unwrap()
        ))
        .await
        .1;
    assert_eq!(
        fetched["webhook"]["channels"],
        json!(["assets.publish", format!("assets.{a_uid}.delete")]),
        "stored and returned unchanged"
    );
    s.publish(a_uid, "production", &["en-us"]).await;
    for uid in [a_uid, b_uid] {
        let (st, _) = s
            .call(Method::DELETE, &format!("/v3/assets/{uid}"), None)
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    // by_name: the publish and a's delete (not b's); every: publish and both deletes, each
    // also perma's `assets.trashed` (§15).
    let named = settle(&s, by_name["uid"].as_str().unwrap(), 2, "success").await;
    let mut got: Vec<&str> = named
        .iter()
        .map(|e| e["channel"][0].as_str().unwrap())
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "assets.delete",
            "assets.environments.production.publish.success"
        ]
    );
    let all = settle(&s, every["uid"].as_str().unwrap(), 5, "success").await;
    // The uploads' `assets.create` may reach `every` too: the outbox is read after the
    // webhook exists when the dispatcher is slower than the test (PostgreSQL).
    let fired: Vec<&str> = all
        .iter()
        .map(|e| e["channel"][0].as_str().unwrap())
        .filter(|c| *c != "assets.create")
        .collect();
    assert_eq!(fired.len(), 5, "{all:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let arrived = named.len() + all.len();
    assert_eq!(
        receiver.wait_for(arrived).await.len(),
        arrived,
        "nothing more arrived: the entry webhook never fires"
    );
    let (_, ex) = s
        .get(&format!("/v3/webhooks/{entries_uid}/executions"))
        .await;
    assert_eq!(ex["webhooks"], json!([]));

    // Names outside the grammar are refused with the rule; nothing is stored.
    for bad in [
        "entries.create",
        "assets.created",
        "content_types.entries",
        "assets.environments.{env}.publish.success",
        "releases.deploy.now",
    ] {
        let (st, v) = hook(
            &s,
            json!({"name": "x", "destinations": [{"target_url": receiver.url()}], "channels": [bad]}),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        let why = v["errors"]["channels"][0].as_str().unwrap();
        assert!(why.contains(bad) && why.contains("grammar"), "{why}");
    }
    let bad_branches = json!({"name": "x", "destinations": [{"target_url": receiver.url()}],
        "channels": ["assets.create"], "branches": "main"});
    let (st, v) = hook(&s, bad_branches).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["errors"].get("branches").is_some(), "{v}");
    let (_, list) = s.get("/v3/webhooks").await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn updates_keep_what_they_leave_out_and_secrets_never_change_origin() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (st, v) = hook(
        &s,
        json!({
            "name": "advanced",
            "destinations": [{"target_url": "https://webhook.example.com/advanced",
                "http_basic_auth": "user", "http_basic_password": "password",
                "custom_header": [{"header_name": "X-API-Key", "value": "api-key-123"}]}],
            "channels": ["content_types.entries.create", "assets.create"],
            "retry_policy": "automatic",
        }),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let uid = v["webhook"]["uid"].as_str().unwrap().to_owned();
    let path = format!("/v3/webhooks/{uid}");
    // A partial update (the SDK mock's `webhookUpdate`) changes only what it names.
    let (st, v) = s
        .call(
            Method::PUT,
            &path,
            Some(json!({"webhook": {"name": "Updated Webhook", "disabled": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["webhook"]["name"], "Updated Webhook");
    assert_eq!(v["webhook"]["disabled"], true);
    assert_eq!(
        v["webhook"]["channels"],
        json!(["content_types.entries.create", "assets.create"])
    );
    // Read, change the path on the same host, write back: the secrets stay.
    let mut w = s.get(&path).await.1["webhook"].clone();
    assert_eq!(
        w["destinations"][0]["custom_header"][0]["value"],
        "********"
    );
    w["destinations"][0]["target_url"] = json!("https://webhook.example.com/v2");
    let (st, v) = s
        .call(Method::PUT, &path, Some(json!({ "webhook": w })))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(
        !v["notice"].as_str().unwrap().contains("Not carried"),
        "{v}"
    );
    let exported = s.get(&format!("{path}/export")).await.1;
    assert_eq!(
        exported["destinations"][0]["custom_header"][0]["header_name"],
        "X-API-Key"
    );
    // To another host (the SDK suite's "update destination URL"): the secrets stay behind,
    // and the answer says so.
    let mut w = s.get(&path).await.1["webhook"].clone();
    w["destinations"][0]["target_url"] = json!("https://webhook-updated.example.com/handler");
    let (st, v) = s
        .call(Method::PUT, &path, Some(json!({ "webhook": w })))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["webhook"]["destinations"][0]["target_url"],
        "https://webhook-updated.example.com/handler"
    );
    assert_eq!(v["webhook"]["destinations"][0]["custom_header"], json!([]));
    let notice = v["notice"].as_str().unwrap();
    assert!(
        notice.contains("X-API-Key") && notice.contains("password"),
        "{notice}"
    );
    // A bad update changes nothing.
    let (st, _) = s
        .call(
            Method::PUT,
            &path,
            Some(json!({"webhook": {"channels": ["entries.create"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        s.get(&path).await.1["webhook"]["channels"],
        json!(["content_types.entries.create", "assets.create"])
    );
}

async fn import(
    s: &Session,
    path: &str,
    file: Vec<u8>,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "webhook",
        reqwest::multipart::Part::bytes(file).file_name("webhook.json"),
    );
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    s.send(s.request(Method::POST, path).multipart(form)).await
}

#[tokio::test]
async fn webhooks_export_without_secrets_and_import_disabled_until_confirmed() {
    let t = spawn().await;
    let s = t.admin().await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let (st, v) = hook(
        &s,
        json!({
            "name": "site build", "retry_policy": "manual", "concise_payload": true,
            "destinations": [{"target_url": receiver.url(), "http_basic_auth": "ci",
                "http_basic_password": "hunter2",
                "custom_header": [{"header_name": "x-token", "value": "s3cr3t"}]}],
            "channels": ["assets.create", "content_types.entries.publish"],
            "branches": ["main"],
        }),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let uid = v["webhook"]["uid"].as_str().unwrap().to_owned();
    let resp = s
        .request(Method::GET, &format!("/v3/webhooks/{uid}/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"site_build.json\""),
        "{disposition}"
    );
    let file = resp.bytes().await.unwrap().to_vec();
    let text = String::from_utf8(file.clone()).unwrap();
    for secret in ["hunter2", "s3cr3t", "whsec"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let exported: Value = serde_json::from_slice(&file).unwrap();
    assert_eq!(exported["name"], "site build");
    assert_eq!(exported["branches"], json!(["main"]));

    // A new webhook from the file: disabled, without the masked secrets, and it says so.
    let (st, v) = import(&s, "/v3/webhooks/import", file.clone(), &[]).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let imported = v["webhook"].clone();
    assert_ne!(imported["uid"], json!(uid));
    assert_eq!(imported["disabled"], true);
    assert_eq!(imported["channels"], exported["channels"]);
    assert_eq!(imported["retry_policy"], "manual");
    assert_eq!(imported["destinations"][0]["custom_header"], json!([]));
    let notice = v["notice"].as_str().unwrap();
    assert!(
        notice.contains("x-token") && notice.contains("password"),
        "{notice}"
    );
    // A disabled import does not fire.
    s.upload("quiet.txt", b"quiet").await;
    settle(&s, &uid, 1, "success").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, ex) = s
        .get(&format!(
            "/v3/webhooks/{}/executions",
            imported["uid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ex["webhooks"], json!([]));
    // The request may ask for it enabled.
    let (st, v) = import(
        &s,
        "/v3/webhooks/import",
        file.clone(),
        &[("disabled", "false")],
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["webhook"]["disabled"], false);
    let enabled = v["webhook"]["uid"].as_str().unwrap();
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/webhooks/{enabled}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);

    // Into the existing webhook: settings from the file, secrets kept.
    let mut changed = exported.clone();
    changed["name"] = json!("site build, renamed");
    let (st, v) = import(
        &s,
        &format!("/v3/webhooks/{uid}/import"),
        serde_json::to_vec(&changed).unwrap(),
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["webhook"]["uid"], json!(uid));
    assert_eq!(v["webhook"]["name"], "site build, renamed");
    assert_eq!(
        v["webhook"]["disabled"], false,
        "an existing webhook keeps its state"
    );
    s.upload("loud.txt", b"loud").await;
    let got = receiver.wait_for(2).await;
    let last = got.last().unwrap();
    assert_eq!(
        last.header("x-token"),
        "s3cr3t",
        "the header value was kept"
    );
    assert!(last.header("authorization").starts_with("Basic "));

    // A bare `multipart/form-data` without its boundary (the Python SDK's `imports()`,
    // which names the file field `entry`) is read by the boundary the body opens with.
    let body = format!(
        "--XyZ\r\ncontent-disposition: form-data; name=\"entry\"; filename=\"w.json\"\r\n\r\n{}\r\n--XyZ--\r\n",
        serde_json::to_string(&exported).unwrap()
    );
    let (st, v) = s
        .send(
            s.request(Method::POST, "/v3/webhooks/import")
                .header("content-type", "multipart/form-data")
                .body(body),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let bare = v["webhook"]["uid"].as_str().unwrap().to_owned();
    s.call(Method::DELETE, &format!("/v3/webhooks/{bare}"), None)
        .await;

    // Bad files change nothing.
    let before = s.get("/v3/webhooks").await.1["webhooks"]
        .as_array()
        .unwrap()
        .len();
    for (file, field) in [
        (b"not json".to_vec(), "webhook"),
        (b"[1, 2]".to_vec(), "webhook"),
        (serde_json::to_vec(&json!({"name": "x", "destinations": [{"target_url": receiver.url()}], "channels": ["entries.create"]})).unwrap(), "channels"),
        (serde_json::to_vec(&json!({"name": "x", "destinations": [{"target_url": "http://10.1.2.3/"}], "channels": ["assets.create"]})).unwrap(), "target_url"),
    ] {
        let (st, v) = import(&s, "/v3/webhooks/import", file, &[]).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["errors"].get(field).is_some(), "{v}");
    }
    let (st, v) = import(
        &s,
        "/v3/webhooks/import",
        file.clone(),
        &[("disabled", "maybe")],
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, _) = import(&s, "/v3/webhooks/import", vec![b' '; 2 << 20], &[]).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    let (st, _) = s
        .call(Method::POST, "/v3/webhooks/import", Some(json!({})))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "a JSON body is not a file");
    assert_error(
        import(&s, "/v3/webhooks/bltnothere/import", file.clone(), &[]).await,
        404,
        141,
    );
    assert_eq!(
        s.get("/v3/webhooks").await.1["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        before
    );
    let (st, _) = import(&s.read_only().await, "/v3/webhooks/import", file, &[]).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn execution_logs_answer_with_every_attempt() {
    let t = spawn().await;
    let s = t.admin().await;
    let receiver = Receiver::start(500, Duration::ZERO).await;
    let w = create_webhook(&s, &receiver.url(), &["assets.create"], "manual").await;
    s.upload("logged.txt", b"logged").await;
    let ex = settle(&s, w["uid"].as_str().unwrap(), 1, "failed").await;
    let execution = ex[0]["uid"].as_str().unwrap();
    let (st, v) = s.get(&format!("/v3/webhooks/{execution}/logs")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["webhook"]["uid"], json!(execution));
    let attempts = v["webhook"]["request_details"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["response"]["status"], 500);
    assert_eq!(attempts[0]["request"]["url"], json!(receiver.url()));
    assert_error(s.get("/v3/webhooks/bltnothere/logs").await, 404, 141);
}

async fn job_done(s: &Session, job: &str) -> Value {
    for _ in 0..200 {
        let (_, st) = s.get(&format!("/v3/bulk/jobs/{job}")).await;
        if st["status"] == json!("completed") {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job} did not finish");
}

#[tokio::test]
async fn bulk_delete_is_a_job_that_deletes_like_a_single_delete() {
    let t = spawn().await;
    let s = t.admin().await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let w = create_webhook(&s, &receiver.url(), &["assets.delete"], "automatic").await;
    let mut uids = Vec::new();
    for i in 0..4 {
        let a = s
            .upload(&format!("b{i}.txt"), format!("bulk {i}").as_bytes())
            .await;
        s.set_permanent(a["uid"].as_str().unwrap(), &format!("bulk-{i}"))
            .await;
        uids.push(a["uid"].as_str().unwrap().to_owned());
    }
    let kept = &uids[3];
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/bulk/delete",
            Some(json!({"assets": [{"uid": uids[0]}, {"uid": uids[1]}, {"uid": uids[2]}, {"uid": "bltnothere"}]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["notice"].as_str().unwrap().contains("delete"));
    let job = job_done(&s, v["job_id"].as_str().unwrap()).await;
    assert_eq!(job["action"], "delete");
    assert_eq!(job["summary"]["success"], 3, "{job}");
    assert_eq!(job["summary"]["failed"], 1);
    let (_, items) = s
        .get(&format!(
            "/v3/bulk/jobs/{}/items",
            job["uid"].as_str().unwrap()
        ))
        .await;
    let last = items["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["uid"], "bltnothere");
    assert!(
        last["error_message"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{last}"
    );
    // Each deleted asset is gone as after DELETE /v3/assets/{uid}: 410 on its URLs, a
    // webhook event each, the others untouched.
    let anon = t.anon();
    for (i, uid) in uids.iter().enumerate() {
        let url = format!("/v3/assets/{}/{uid}/bulk-{i}", s.api_key());
        let want = if uid == kept { 200 } else { 410 };
        let resp = anon.request(Method::GET, &url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), want, "{url}");
        let (st, _) = s.get(&format!("/v3/assets/{uid}")).await;
        assert_eq!(st.as_u16(), if uid == kept { 200 } else { 404 });
    }
    let ex = settle(&s, w["uid"].as_str().unwrap(), 3, "success").await;
    assert_eq!(ex.len(), 3);

    // Refused up front, nothing started: entries, no assets, assets that are not a list,
    // a read-only token.
    for (body, field) in [
        (
            json!({"entries": [{"uid": "x", "content_type": "page", "locale": "en-us"}], "assets": [{"uid": kept}]}),
            "entries",
        ),
        (json!({"assets": []}), "assets"),
        (json!({"assets": {"uid": kept}}), "assets"),
        (json!({"assets": [{"title": "no uid"}]}), "assets"),
    ] {
        let (st, v) = s
            .call(Method::POST, "/v3/bulk/delete", Some(body.clone()))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert!(v["errors"].get(field).is_some(), "{body}: {v}");
    }
    let ro = s.read_only().await;
    let (st, _) = ro
        .call(
            Method::POST,
            "/v3/bulk/delete",
            Some(json!({"assets": [{"uid": kept}]})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s.get(&format!("/v3/assets/{kept}")).await;
    assert_eq!(st, StatusCode::OK, "nothing was lost");
}

#[tokio::test]
async fn locale_codes_come_from_contentstacks_list() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    for (code, hint) in [
        ("locale-code", "not a language code"),
        ("xx-xx", "not a language code"),
        ("fr_fr", "fr-fr"),
        ("", "not a language code"),
    ] {
        let (st, v) = s
            .call(
                Method::POST,
                "/v3/locales",
                Some(json!({"locale": {"code": code, "name": "Bad"}})),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {v}");
        let why = v["errors"]["code"][0].as_str().unwrap_or_default();
        assert!(why.contains(hint), "{code}: {v}");
    }
    let (_, v) = s.get("/v3/locales").await;
    assert_eq!(
        v["locales"].as_array().unwrap().len(),
        1,
        "nothing was stored"
    );
    // Every code on the list is accepted.
    for code in perma::locale_codes::CODES {
        if *code == "en-us" {
            continue;
        }
        let (st, v) = s
            .call(
                Method::POST,
                "/v3/locales",
                Some(json!({"locale": {"code": code}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{code}: {v}");
    }
    let (_, v) = s.get("/v3/locales?include_count=true").await;
    assert_eq!(v["count"], json!(perma::locale_codes::CODES.len()), "{v}");
    // A stack's master locale comes from the same list.
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/stacks",
            Some(json!({"stack": {"name": "bad master", "master_locale": "english"}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["errors"].get("master_locale").is_some(), "{v}");
}
