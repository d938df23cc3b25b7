//! The audit log (§14): every change, by whom, from where, under which request id; newest
//! first, filtered, paged; read by Admins and Developers (one asset's by whoever may read
//! it); never changed or deleted through the API; no entry without its change.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, Session, TestApp};

async fn logs(s: &Session, query: &str) -> Value {
    let (st, v) = s
        .get(&format!("/v3/audit-logs?include_count=true{query}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

fn events(v: &Value) -> Vec<String> {
    v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}.{}",
                l["module"].as_str().unwrap(),
                l["event_type"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn every_change_is_logged_with_who_what_when_and_where() {
    let t = TestApp::spawn().await;
    let admin = t.admin().await;
    let (_, me) = admin.get("/v3/user").await;
    let admin_uid = me["user"]["uid"].as_str().unwrap().to_owned();
    admin.environment("production").await;
    let a = admin.upload("logo.png", b"first file").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    // A request id given by the client (a proxy's) carries through to the entry.
    let r = admin
        .request(Method::PUT, &format!("/v3/assets/{uid}"))
        .header("x-request-id", "edge-42")
        .multipart(reqwest::multipart::Form::new().part(
            "asset[upload]",
            reqwest::multipart::Part::bytes(b"second file".to_vec()).file_name("logo.png"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-request-id"], "edge-42");
    let (st, _) = admin.set_permanent(&uid, "logo").await;
    assert_eq!(st, StatusCode::OK);
    admin.publish(&uid, "production", &[]).await;
    admin.unpublish(&uid, "production").await;
    let (st, _) = admin
        .call(Method::DELETE, &format!("/v3/assets/{uid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = admin
        .call(Method::POST, &format!("/v3/trash/{uid}/restore"), None)
        .await;
    assert_eq!(st, StatusCode::OK);

    let v = logs(&admin, "").await;
    assert_eq!(
        events(&v),
        [
            "asset.restored",
            "asset.trashed",
            "asset.unpublish",
            "asset.publish",
            "asset.update",
            "asset.replace",
            "asset.create",
            "environment.create",
            "stack.create",
        ],
        "newest first: {v}"
    );
    assert_eq!(v["count"], 9);
    let replace = &v["logs"][5];
    assert_eq!(replace["created_by"], json!(admin_uid));
    assert_eq!(replace["actor"]["name"], "admin@example.com");
    assert_eq!(replace["request_id"], "edge-42");
    assert_eq!(replace["remote_addr"], "127.0.0.1");
    assert_eq!(replace["metadata"]["uid"], json!(uid));
    assert_eq!(replace["metadata"]["version_before"], 1);
    assert_eq!(replace["metadata"]["version_after"], 2);
    let file = &replace["details"]["file"];
    assert_eq!(file[0]["size"], 10);
    assert_eq!(file[1]["size"], 11);
    assert_ne!(file[0]["sha256"], file[1]["sha256"]);
    assert_eq!(v["logs"][4]["details"]["permanent_url"][1], "logo");
    assert_eq!(v["logs"][3]["details"]["targets"][0]["locale"], "en-us");
    // Every entry has a request id; the generated ones are what the answers said.
    assert!(v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["request_id"].is_string()));

    // One entry by uid; filters; paging.
    let entry_uid = replace["uid"].as_str().unwrap();
    let (st, one) = admin.get(&format!("/v3/audit-logs/{entry_uid}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(one["log"], *replace);
    let v = logs(&admin, "&module=asset&event_type=replace").await;
    assert_eq!(v["count"], 1);
    let v = logs(&admin, &format!("&uid={uid}&limit=2&skip=1")).await;
    assert_eq!(v["count"], 7, "the asset's own entries");
    assert_eq!(events(&v), ["asset.trashed", "asset.unpublish"]);
    let v = logs(&admin, &format!("&created_by={admin_uid}")).await;
    assert_eq!(v["count"], 9);
    let v = logs(&admin, "&from=2001-01-01T00:00:00Z&to=2002-01-01T00:00:00Z").await;
    assert_eq!(v["count"], 0);
    let v = logs(&admin, r#"&query={"module":"environment"}"#).await;
    assert_eq!(v["count"], 1);
    for bad in [
        "&from=yesterday",
        "&from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
        "&query=[1",
    ] {
        assert_error(admin.get(&format!("/v3/audit-logs?{bad}")).await, 422, 422);
    }
    assert_error(
        admin.get("/v3/audit-logs/blt0000000000000000").await,
        404,
        141,
    );

    // Entries cannot be changed or deleted.
    for m in [Method::DELETE, Method::PUT, Method::POST] {
        let (st, _) = admin
            .call(
                m.clone(),
                &format!("/v3/audit-logs/{entry_uid}"),
                Some(json!({})),
            )
            .await;
        assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{m}");
    }
    let (st, _) = admin.call(Method::DELETE, "/v3/audit-logs", None).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(logs(&admin, "").await["count"], 9);

    // A signing key rotated by hand, and the first one made for a signed URL.
    let (st, _) = admin
        .call(Method::POST, "/v3/stacks/signing_keys", None)
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let v = logs(&admin, "&module=signing_key").await;
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["logs"][0]["actor"]["kind"], "user");

    // Emptied from the trash: an entry per item, with what went with it.
    let folder = admin.folder("Old", None).await;
    admin.upload_into("old.txt", b"old", Some(&folder)).await;
    for path in [
        format!("/v3/assets/folders/{folder}"),
        "/v3/trash".to_owned(),
    ] {
        let (st, v) = admin.call(Method::DELETE, &path, None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let v = logs(&admin, "&event_type=purged").await;
    assert_eq!(v["count"], 1, "{v}");
    let purged = &v["logs"][0];
    assert_eq!(purged["module"], "folder");
    assert_eq!(purged["metadata"]["uid"], json!(folder));
    assert_eq!(purged["details"], json!({"items": 1, "reason": "emptied"}));
    assert_eq!(
        logs(&admin, "&event_type=trashed&module=folder").await["count"],
        1
    );
}

#[tokio::test]
async fn refused_and_invalid_requests_leave_no_entry_and_members_see_what_they_may() {
    let t = TestApp::spawn().await;
    let admin = t.admin().await;
    let a = admin.upload("a.txt", b"a").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let before = logs(&admin, "").await["count"].as_i64().unwrap();

    // Invalid: no change, no entry.
    assert_error(admin.set_permanent(&uid, "bad slug/").await, 422, 422);
    assert_error(
        admin
            .call(
                Method::POST,
                "/v3/roles",
                Some(json!({"role": {"rules": []}})),
            )
            .await,
        422,
        422,
    );
    assert_eq!(logs(&admin, "").await["count"], before);

    // A Content Manager: refused changes leave nothing; the stack's log is not theirs,
    // an asset's they may read is.
    let (_, roles) = admin.get("/v3/roles").await;
    let cm_role = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Content Manager")
        .unwrap()["uid"]
        .clone();
    let mut cm = t.new_user("cm@example.com").await;
    let (st, _) = admin
        .call(
            Method::POST,
            "/v3/stacks/share",
            Some(json!({"emails": ["cm@example.com"], "roles": {"cm@example.com": [cm_role]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    cm.api_key = admin.api_key.clone();
    let with_share = before + 1;
    assert_eq!(logs(&admin, "&module=member").await["count"], 1);
    assert_error(
        cm.call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"secure_asset_urls": true}})),
        )
        .await,
        403,
        161,
    );
    assert_error(cm.get("/v3/audit-logs").await, 403, 161);
    let (st, v) = cm
        .get(&format!("/v3/audit-logs?uid={uid}&include_count=true"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["count"], 1, "the upload: {v}");
    assert_eq!(logs(&admin, "").await["count"], with_share);

    // A bulk job logs each item it changes.
    admin.environment("production").await;
    let b = admin.upload("b.txt", b"b").await;
    let (st, v) = cm
        .call(
            Method::POST,
            "/v3/bulk/publish",
            Some(json!({"assets": [{"uid": uid}, {"uid": b["uid"]}], "environments": ["production"], "locales": ["en-us"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut published = 0;
    for _ in 0..200 {
        published = logs(&admin, "&event_type=publish").await["count"]
            .as_i64()
            .unwrap();
        if published == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(published, 2);
    let v = logs(&admin, "&event_type=publish").await;
    assert!(
        v["logs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["actor"]["name"] == "cm@example.com"),
        "{v}"
    );

    // A wrong password for a member's account is in the stack's log.
    let (st, _) = t
        .anon()
        .call(
            Method::POST,
            "/v3/user-session",
            Some(json!({"user": {"email": "cm@example.com", "password": "wrong-password"}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let v = logs(&admin, "&event_type=sign_in_failed").await;
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["logs"][0]["metadata"]["title"], "cm@example.com");
    assert_eq!(v["logs"][0]["remote_addr"], "127.0.0.1");
}

#[tokio::test]
async fn a_malformed_request_id_is_replaced_not_carried_into_the_log() {
    let t = TestApp::spawn().await;
    let admin = t.admin().await;
    let long = "x".repeat(65);
    let bad: [&[u8]; 4] = [long.as_bytes(), b"two words", b"caf\xc3\xa9", b""];
    for given in bad {
        let r = admin
            .request(Method::POST, "/v3/environments")
            .header(
                "x-request-id",
                reqwest::header::HeaderValue::from_bytes(given).unwrap(),
            )
            .json(&json!({"environment": {"name": format!("env-{}", given.len())}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id.as_bytes(), given);
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "a new id instead of {given:?}: {id}"
        );
        let v = logs(&admin, "&module=environment&limit=1").await;
        assert_eq!(v["logs"][0]["request_id"], id.as_str(), "{v}");
    }
}
