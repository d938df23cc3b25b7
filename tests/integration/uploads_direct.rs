//! Direct uploads (§16) over HTTP: on S3 storage (the S3 phase, s3s-fs, which checks
//! signatures) the parts go straight to the bucket through presigned URLs and perma only
//! assembles, verifies and copies them; on local storage the same request starts a tus
//! upload. Every refusal is tested with what it leaves behind.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::{assert_error, s3_endpoint, Session, TestApp};
use crate::uploads::{data, patch, served, tus};

const MIB: usize = 1 << 20;

async fn start(s: &Session, upload: Value) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/v3/uploads/direct",
        Some(json!({ "upload": upload })),
    )
    .await
}

/// Sends every part of `bytes` to its presigned URL, with no credentials of perma's: the
/// parts as the client reports them to `complete`.
async fn send_parts(http: &reqwest::Client, upload: &Value, bytes: &[u8]) -> Vec<Value> {
    let part_size = upload["part_size"].as_u64().unwrap() as usize;
    let mut sent = Vec::new();
    for p in upload["parts"].as_array().unwrap() {
        let n = p["part_number"].as_u64().unwrap() as usize;
        let start = (n - 1) * part_size;
        let chunk = &bytes[start..(start + part_size).min(bytes.len())];
        assert_eq!(p["size"], chunk.len(), "{p}");
        let r = http
            .put(p["url"].as_str().unwrap())
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "part {n}: {:?}", r.text().await);
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        sent.push(json!({ "part_number": n, "etag": etag }));
    }
    sent
}

async fn complete(s: &Session, uid: &str, parts: &[Value]) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        &format!("/v3/uploads/direct/{uid}/complete"),
        Some(json!({ "parts": parts })),
    )
    .await
}

async fn staged_objects(t: &TestApp) -> usize {
    t.app.blobs.staged_objects().await.unwrap().len()
}

/// Part copies are exercised at test sizes: objects over 5 MiB are copied in 5 MiB parts.
/// `None` with local storage: these tests run in the S3 phase.
async fn s3_app() -> Option<TestApp> {
    if s3_endpoint().is_none() {
        eprintln!("skipped here: runs in the S3 phase (PERMA_TEST_S3_ENDPOINT)");
        return None;
    }
    Some(TestApp::spawn_with(|c| c.s3_copy_part_bytes = 5 << 20).await)
}

#[tokio::test]
async fn a_direct_upload_goes_to_the_bucket_and_becomes_an_asset_and_a_version() {
    let Some(t) = s3_app().await else { return };
    let s = t.admin().await;
    let bytes = data(12 * MIB + 123, 7);
    let sha = hex::encode(Sha256::digest(&bytes));
    let (st, v) = start(
        &s,
        json!({"size": bytes.len(), "filename": "master.mov", "content_type": "video/quicktime",
               "sha256": sha.to_uppercase(), "part_size": 5 * MIB}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let up = &v["upload"];
    let uid = up["uid"].as_str().unwrap();
    assert_eq!(up["mode"], "direct");
    assert_eq!(up["parts_count"], 3);
    assert_eq!(up["finished"], false);
    // The URLs name the store, not perma, and are signed.
    let url = up["parts"][0]["url"].as_str().unwrap();
    assert!(url.starts_with(&s3_endpoint().unwrap()), "{url}");
    assert!(
        url.contains("X-Amz-Signature=") && url.contains("partNumber=1"),
        "{url}"
    );

    // A URL is good for its own part only: another part number breaks the signature.
    let forged = url.replace("partNumber=1", "partNumber=2");
    let r = t.http.put(&forged).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Not usable before it is complete.
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets",
            Some(json!({"asset": {"upload_uid": uid}})),
        )
        .await;
    let e = assert_error((st, v), 422, 422);
    assert!(
        e["errors"]["upload_uid"]
            .to_string()
            .contains("not finished"),
        "{e}"
    );

    let parts = send_parts(&t.http, up, &bytes).await;
    // Fresh URLs for the rest on demand.
    let (st, v) = s
        .get(&format!("/v3/uploads/direct/{uid}/parts?from=2&count=1"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["parts"].as_array().unwrap().len(), 1);
    assert_eq!(v["parts"][0]["part_number"], 2);

    let (st, v) = complete(&s, uid, &parts).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["upload"]["finished"], true);
    assert_eq!(v["upload"]["sha256"], sha);
    // Asking again answers the same.
    let (st, v) = complete(&s, uid, &parts).await;
    assert_eq!((st, &v["upload"]["sha256"]), (StatusCode::OK, &json!(sha)));

    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets",
            Some(json!({"asset": {"upload_uid": uid, "title": "Master", "tags": ["video"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let a = v["asset"].clone();
    assert_eq!(a["filename"], "master.mov");
    assert_eq!(a["file_size"], bytes.len().to_string());
    assert_eq!(a["content_type"], "video/quicktime");
    assert_eq!(served(&s, &a).await, bytes);
    // Used up: the upload and its staged object are gone.
    let (st, _) = s.get(&format!("/v3/uploads/direct/{uid}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(staged_objects(&t).await, 0);

    // A second direct upload replaces the file: a new version.
    let next = data(6 * MIB, 9);
    let (_, v) = start(&s, json!({"size": next.len(), "filename": "master-v2.mov"})).await;
    let up = &v["upload"];
    let uid2 = up["uid"].as_str().unwrap();
    let parts = send_parts(&t.http, up, &next).await;
    assert_eq!(complete(&s, uid2, &parts).await.0, StatusCode::OK);
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{}", a["uid"].as_str().unwrap()),
            Some(json!({"asset": {"upload_uid": uid2}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["asset"]["_version"], 2);
    assert_eq!(served(&s, &v["asset"]).await, next);
    assert_eq!(staged_objects(&t).await, 0);
}

#[tokio::test]
async fn bad_direct_uploads_are_refused_and_keep_nothing() {
    let Some(t) = s3_app().await else { return };
    let s = t.admin().await;
    for (body, field) in [
        (json!({"filename": "x"}), "size"),
        (json!({"size": 0}), "size"),
        (json!({"size": -1}), "size"),
        (json!({"size": 10, "sha256": "abc"}), "sha256"),
        (json!({"size": 10, "filename": 5}), "filename"),
        (json!({"size": 10, "part_size": 1024}), "part_size"),
        (
            json!({"size": 60_000u64 << 20, "part_size": 5 * MIB}),
            "part_size",
        ),
    ] {
        let e = assert_error(start(&s, body.clone()).await, 422, 422);
        assert!(
            e["errors"][field].is_array() || e["errors"][field].is_string(),
            "{body}: {e}"
        );
    }
    assert_error(start(&s, json!({"size": 11u64 << 30})).await, 413, 113);
    assert_eq!(staged_objects(&t).await, 0);

    // A declared SHA-256 that the parts do not have voids the upload.
    let bytes = data(MIB, 3);
    let (_, v) = start(&s, json!({"size": bytes.len(), "sha256": "0".repeat(64)})).await;
    let up = v["upload"].clone();
    let uid = up["uid"].as_str().unwrap();
    let parts = send_parts(&t.http, &up, &bytes).await;
    // Parts missing, or out of order: refused, the upload stays.
    assert_error(complete(&s, uid, &[]).await, 422, 422);
    let e = assert_error(
        complete(&s, uid, &[json!({"part_number": 2, "etag": "x"})]).await,
        422,
        422,
    );
    assert!(
        e["errors"]["parts"].to_string().contains("not part 1"),
        "{e}"
    );
    // A tus request on a direct upload.
    let r = patch(&s, &format!("/v3/uploads/{uid}"), 0, b"x").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e = assert_error(complete(&s, uid, &parts).await, 422, 422);
    assert!(e["errors"]["sha256"].to_string().contains("void"), "{e}");
    assert_eq!(
        s.get(&format!("/v3/uploads/direct/{uid}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(staged_objects(&t).await, 0);

    // Fewer bytes than announced: void as well.
    let (_, v) = start(&s, json!({"size": 5 * MIB + 100, "part_size": 5 * MIB})).await;
    let up = v["upload"].clone();
    let uid = up["uid"].as_str().unwrap();
    let mut sent = Vec::new();
    for (i, len) in [(0usize, 5 * MIB), (1, 10)] {
        let r = t
            .http
            .put(up["parts"][i]["url"].as_str().unwrap())
            .body(data(len, 1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        sent.push(json!({"part_number": i + 1, "etag": r.headers()["etag"].to_str().unwrap()}));
    }
    let e = assert_error(complete(&s, uid, &sent).await, 422, 422);
    assert!(
        e["errors"]["parts"]
            .to_string()
            .contains("not the announced"),
        "{e}"
    );
    assert_eq!(staged_objects(&t).await, 0);

    // Part URLs out of range.
    let (_, v) = start(&s, json!({"size": 100})).await;
    let uid = v["upload"]["uid"].as_str().unwrap().to_owned();
    for q in ["from=0", "from=2", "from=x"] {
        let got = s.get(&format!("/v3/uploads/direct/{uid}/parts?{q}")).await;
        assert_error(got, 422, 422);
    }
    // Another user's upload is not found, and stays.
    let other = t.new_user("other@example.com").await;
    let other = other.with_new_stack("Other").await;
    for got in [
        other.get(&format!("/v3/uploads/direct/{uid}")).await,
        complete(&other, &uid, &[]).await,
        other
            .call(Method::DELETE, &format!("/v3/uploads/direct/{uid}"), None)
            .await,
    ] {
        assert_eq!(got.0, StatusCode::NOT_FOUND, "{}", got.1);
    }
    // Deleted: the parts go, and the URLs lead nowhere.
    let url = v["upload"]["parts"][0]["url"].as_str().unwrap().to_owned();
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/uploads/direct/{uid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        s.get(&format!("/v3/uploads/direct/{uid}")).await.0,
        StatusCode::NOT_FOUND
    );
    let r = t.http.put(&url).body("late").send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
}

#[tokio::test]
async fn direct_uploads_count_toward_the_open_uploads_limit() {
    // Both kinds: on local storage these are tus uploads.
    let t = TestApp::spawn_with(|c| c.max_open_uploads = 2).await;
    let s = t.admin().await;
    for _ in 0..2 {
        assert_eq!(start(&s, json!({"size": 10})).await.0, StatusCode::CREATED);
    }
    assert_error(start(&s, json!({"size": 10})).await, 429, 429);
}

#[tokio::test]
async fn on_local_storage_a_direct_request_starts_a_tus_upload() {
    if s3_endpoint().is_some() {
        eprintln!("skipped here: runs with local storage");
        return;
    }
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let bytes = data(300_000, 5);
    let (st, v) = start(
        &s,
        json!({"size": bytes.len(), "filename": "notes.txt", "content_type": "text/plain"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let up = &v["upload"];
    assert_eq!(up["mode"], "tus");
    assert!(up.get("parts").is_none(), "{up}");
    let location = up["location"].as_str().unwrap();
    let uid = up["uid"].as_str().unwrap();
    // The direct calls say what kind of upload this is.
    assert_eq!(
        s.get(&format!("/v3/uploads/direct/{uid}/parts")).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(complete(&s, uid, &[]).await.0, StatusCode::CONFLICT);
    let r = patch(&s, location, 0, &bytes).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (st, v) = s.get(&format!("/v3/uploads/direct/{uid}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["upload"]["finished"], true);
    assert_eq!(v["upload"]["sha256"], hex::encode(Sha256::digest(&bytes)));
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets",
            Some(json!({"asset": {"upload_uid": uid}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["asset"]["filename"], "notes.txt");
    assert_eq!(served(&s, &v["asset"]).await, bytes);
    let r = tus(&s, Method::HEAD, location).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// An expired direct upload answers 410 and its parts go; one nobody asks about again is
/// aborted by the sweep, so its URLs lead nowhere.
#[tokio::test]
async fn an_expired_direct_upload_answers_410_and_its_parts_go() {
    if s3_endpoint().is_none() {
        eprintln!("skipped here: runs in the S3 phase (PERMA_TEST_S3_ENDPOINT)");
        return;
    }
    let t = TestApp::spawn_with(|c| {
        c.upload_expiry = 1;
        c.trash_sweep_seconds = 1;
    })
    .await;
    let s = t.admin().await;
    let bytes = data(1000, 4);
    let (_, v) = start(&s, json!({"size": bytes.len()})).await;
    let asked = v["upload"].clone();
    let (_, v) = start(&s, json!({"size": bytes.len()})).await;
    let forgotten = v["upload"].clone();
    let parts = send_parts(&t.http, &asked, &bytes).await;
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let uid = asked["uid"].as_str().unwrap();
    let e = assert_error(complete(&s, uid, &parts).await, 410, 149);
    assert!(
        e["error_message"].as_str().unwrap().contains("expired"),
        "{e}"
    );
    assert_eq!(
        s.get(&format!("/v3/uploads/direct/{uid}")).await.0,
        StatusCode::NOT_FOUND
    );

    let url = forgotten["parts"][0]["url"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = t.http.put(url).body(bytes.clone()).send().await.unwrap();
        if r.status().is_client_error() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep never aborted the upload"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(staged_objects(&t).await, 0);
}
