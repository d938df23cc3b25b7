//! Resumable uploads (§16, tus 1.0.0) over HTTP: create, append at the acknowledged
//! offset, resume after a broken connection and after SIGKILL, finish into a new asset or a
//! new version; every bad input refused with its status and nothing left behind.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::{assert_error, Session, TestApp};

pub(crate) fn tus(s: &Session, method: Method, path: &str) -> reqwest::RequestBuilder {
    s.request(method, path).header("tus-resumable", "1.0.0")
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Creates an upload of `length` bytes named `name`; returns its path (`/v3/uploads/…`).
pub(crate) async fn create(s: &Session, length: u64, name: &str) -> String {
    let r = tus(s, Method::POST, "/v3/uploads")
        .header("upload-length", length.to_string())
        .header(
            "upload-metadata",
            format!(
                "filename {},filetype {}",
                b64(name.as_bytes()),
                b64(b"text/plain")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    assert_eq!(r.headers()["tus-resumable"], "1.0.0");
    assert_eq!(r.headers()["upload-offset"], "0");
    assert!(r.headers().contains_key("upload-expires"));
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/v3/uploads/"), "{location}");
    location
}

pub(crate) async fn patch(s: &Session, path: &str, offset: u64, bytes: &[u8]) -> reqwest::Response {
    tus(s, Method::PATCH, path)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

/// The acknowledged offset (`HEAD`).
pub(crate) async fn offset(s: &Session, path: &str) -> u64 {
    let r = tus(s, Method::HEAD, path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "HEAD {path}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

pub(crate) async fn head_status(s: &Session, path: &str) -> StatusCode {
    tus(s, Method::HEAD, path).send().await.unwrap().status()
}

pub(crate) fn upload_uid(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

/// The file of an upload in the staging directory, if present.
pub(crate) fn upload_file(t: &TestApp, path: &str) -> Option<u64> {
    std::fs::metadata(t.app.blobs.resumable_path(upload_uid(path)))
        .ok()
        .map(|m| m.len())
}

pub(crate) fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32 * 7 + seed as u32 * 13 + (i >> 9) as u32) as u8)
        .collect()
}

/// The bytes an asset's current file serves (through its version URL).
pub(crate) async fn served(s: &Session, asset: &Value) -> Vec<u8> {
    let url = asset["url"].as_str().unwrap();
    let r = s.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_resumed_upload_becomes_an_asset_with_the_source_digest() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let r = s
        .http
        .request(Method::OPTIONS, format!("{}/v3/uploads", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["tus-version"], "1.0.0");
    assert_eq!(
        r.headers()["tus-extension"],
        "creation,creation-with-upload,termination,expiration,checksum"
    );
    assert_eq!(r.headers()["tus-max-size"], (10u64 << 30).to_string());
    assert_eq!(r.headers()["tus-checksum-algorithm"], "sha256");

    let bytes = data(3 << 20, 1);
    let path = create(&s, bytes.len() as u64, "master.bin").await;
    assert_eq!(offset(&s, &path).await, 0);
    let half = bytes.len() / 2;
    let r = patch(&s, &path, 0, &bytes[..half]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["upload-offset"], half.to_string());
    assert_eq!(offset(&s, &path).await, half as u64);
    // HEAD tells what the upload was created with.
    let r = tus(&s, Method::HEAD, &path).send().await.unwrap();
    assert_eq!(r.headers()["upload-length"], bytes.len().to_string());
    assert!(r.headers()["upload-metadata"]
        .to_str()
        .unwrap()
        .contains("filename "));

    // The rest, with a checksum of this request's bytes.
    let rest = &bytes[half..];
    let r = tus(&s, Method::PATCH, &path)
        .header("upload-offset", half.to_string())
        .header("content-type", "application/offset+octet-stream")
        .header(
            "upload-checksum",
            format!("sha256 {}", b64(&Sha256::digest(rest))),
        )
        .body(rest.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["upload-offset"], bytes.len().to_string());

    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets",
            Some(json!({"asset": {"upload_uid": upload_uid(&path), "title": "The master", "tags": ["video"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let a = &v["asset"];
    assert_eq!(a["title"], "The master");
    assert_eq!(a["filename"], "master.bin");
    assert_eq!(a["file_size"], bytes.len().to_string());
    assert_eq!(a["tags"], json!(["video"]));
    let digest = format!("sha256-{}", b64(&Sha256::digest(&bytes)));
    assert_eq!(a["integrity"], digest, "{a}");
    assert_eq!(served(&s, a).await, bytes);
    // The upload is used up: gone with its file, and nothing else stays staged.
    assert_eq!(head_status(&s, &path).await, StatusCode::NOT_FOUND);
    assert_eq!(upload_file(&t, &path), None);
    assert_eq!(t.temp_count(), 0);
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets",
            Some(json!({"asset": {"upload_uid": upload_uid(&path)}})),
        )
        .await;
    assert_error((st, v), 422, 422);
}

#[tokio::test]
async fn creation_with_upload_and_a_replace_move_the_permanent_url() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let first = s.upload("poster.txt", b"first poster").await;
    let uid = first["uid"].as_str().unwrap();
    let (st, v) = s.set_permanent(uid, "poster.txt").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let version = v["asset"]["_version"].as_i64().unwrap();

    // creation-with-upload: the first (here: all) bytes in the creating POST.
    let second = b"the second poster, uploaded resumably".to_vec();
    let r = tus(&s, Method::POST, "/v3/uploads")
        .header("upload-length", second.len().to_string())
        .header(
            "upload-metadata",
            format!("filename {}", b64(b"poster-v2.txt")),
        )
        .header("content-type", "application/offset+octet-stream")
        .body(second.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["upload-offset"], second.len().to_string());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let up = upload_uid(&location).to_owned();
    // The same with a checksum that does not match: 460, and no upload is left behind.
    let r = tus(&s, Method::POST, "/v3/uploads")
        .header("upload-length", second.len().to_string())
        .header("content-type", "application/offset+octet-stream")
        .header(
            "upload-checksum",
            format!("sha256 {}", b64(&Sha256::digest(b"other bytes"))),
        )
        .body(second.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 460);
    assert!(!r.headers().contains_key("location"));
    assert_eq!(
        t.app.blobs.resumable_files().unwrap().len(),
        1,
        "only the first upload's file"
    );

    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{uid}"),
            Some(json!({"asset": {"upload_uid": up}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["asset"]["_version"], version + 1);
    assert_eq!(v["asset"]["filename"], "poster-v2.txt");
    let permanent = format!("{}/v3/assets/{}/{uid}/poster.txt", s.base, s.api_key());
    let got = s.http.get(&permanent).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().to_vec(), second);
    assert_eq!(t.temp_count(), 0);
}

#[tokio::test]
async fn bad_tus_requests_are_refused_and_keep_nothing() {
    let t = TestApp::spawn_with(|c| {
        c.max_resumable_bytes = 1 << 20;
        c.max_open_uploads = 3;
    })
    .await;
    let s = t.admin().await;

    // No or another protocol version: 412 naming the one spoken.
    let r = s
        .request(Method::POST, "/v3/uploads")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.headers()["tus-version"], "1.0.0");
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], 117);
    // Over the limit: 413 before any byte is taken.
    let r = tus(&s, Method::POST, "/v3/uploads")
        .header("upload-length", ((1 << 20) + 1).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    for (name, value) in [
        ("upload-length", "ten"),
        ("upload-length", "-1"),
        ("upload-metadata", "filename !!!"),
    ] {
        let mut r = tus(&s, Method::POST, "/v3/uploads").header(name, value);
        if name != "upload-length" {
            r = r.header("upload-length", "10");
        }
        let (st, v) = s.send(r).await;
        assert_error((st, v), 400, 100);
    }
    let (st, _) = s.send(tus(&s, Method::POST, "/v3/uploads")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "Upload-Length is required");
    assert_eq!(
        t.app.blobs.resumable_files().unwrap().len(),
        0,
        "refusals kept a file"
    );

    let path = create(&s, 100, "a.txt").await;
    patch(&s, &path, 0, &[b'a'; 40]).await;
    // A wrong offset: 409, nothing appended.
    let r = patch(&s, &path, 10, &[b'b'; 10]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Not application/offset+octet-stream: 415.
    let r = tus(&s, Method::PATCH, &path)
        .header("upload-offset", "40")
        .header("content-type", "text/plain")
        .body(vec![b'c'; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A checksum that does not match: 460, none of the bytes kept.
    let r = tus(&s, Method::PATCH, &path)
        .header("upload-offset", "40")
        .header("content-type", "application/offset+octet-stream")
        .header(
            "upload-checksum",
            format!("sha256 {}", b64(&Sha256::digest(b"other"))),
        )
        .body(vec![b'd'; 30])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 460);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], 460);
    // An algorithm perma does not know: 400.
    let r = tus(&s, Method::PATCH, &path)
        .header("upload-offset", "40")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-checksum", "md5 XrY7u+Ae7tCTyyK7j1rNww==")
        .body(vec![b'e'; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // More bytes than announced: 400, none kept.
    let r = patch(&s, &path, 40, &[b'f'; 61]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(offset(&s, &path).await, 40);
    assert_eq!(upload_file(&t, &path), Some(40));

    // Not finished: it cannot become an asset, and stays.
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets",
            Some(json!({"asset": {"upload_uid": upload_uid(&path)}})),
        )
        .await;
    let v = assert_error((st, v), 422, 422);
    assert!(
        v["errors"]["upload_uid"][0]
            .as_str()
            .unwrap()
            .contains("40 of 100"),
        "{v}"
    );
    assert_eq!(offset(&s, &path).await, 40);

    // Another user, and the same user in another stack, do not see it: 404.
    let other = t
        .new_user("other@example.com")
        .await
        .with_new_stack("Theirs")
        .await;
    let path_elsewhere = path.clone();
    for who in [&other, &s.clone().with_new_stack("Mine too").await] {
        assert_eq!(
            head_status(who, &path_elsewhere).await,
            StatusCode::NOT_FOUND
        );
        let r = patch(who, &path_elsewhere, 40, &[b'g'; 60]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = tus(who, Method::DELETE, &path_elsewhere)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let (st, v) = who
            .call(
                Method::POST,
                "/v3/assets",
                Some(json!({"asset": {"upload_uid": upload_uid(&path)}})),
            )
            .await;
        assert_error((st, v), 422, 422);
    }
    assert_eq!(offset(&s, &path).await, 40);
    // Without credentials: 401 (an unknown upload id is 404 like another's).
    let nobody = Session {
        authtoken: None,
        ..s.clone()
    };
    let r = nobody
        .request(Method::HEAD, &path)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        head_status(&s, "/v3/uploads/0123456789abcdef0123456789abcdef").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        head_status(&s, "/v3/uploads/..%2F..%2Fperma.db").await,
        StatusCode::NOT_FOUND
    );

    // Finished, but into a folder that does not exist: refused, and the upload stays for
    // another try.
    patch(&s, &path, 40, &[b'h'; 60]).await;
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets",
            Some(json!({"asset": {"upload_uid": upload_uid(&path), "parent_uid": "bltnosuchfolder0"}})),
        )
        .await;
    assert!(st.is_client_error(), "{st} {v}");
    assert_eq!(offset(&s, &path).await, 100);
    assert_eq!(t.temp_count(), 0);

    // Limits on open uploads: three at most here.
    let second = create(&s, 10, "b.txt").await;
    create(&s, 10, "c.txt").await;
    let (st, v) = s
        .send(tus(&s, Method::POST, "/v3/uploads").header("upload-length", "10"))
        .await;
    assert_error((st, v), 429, 429);
    // Termination frees one: gone, with its bytes.
    let r = tus(&s, Method::DELETE, &second).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(head_status(&s, &second).await, StatusCode::NOT_FOUND);
    assert_eq!(upload_file(&t, &second), None);
    create(&s, 10, "d.txt").await;
}

#[tokio::test]
async fn bytes_in_flight_are_limited_per_user() {
    let t = TestApp::spawn_with(|c| c.max_upload_bytes_in_flight = 1000).await;
    let s = t.admin().await;
    create(&s, 600, "a.bin").await;
    let (st, v) = s
        .send(tus(&s, Method::POST, "/v3/uploads").header("upload-length", "401"))
        .await;
    let v = assert_error((st, v), 429, 429);
    assert!(v["error_message"].as_str().unwrap().contains("1000"), "{v}");
    // Another user has a budget of their own.
    let other = t
        .new_user("budget@example.com")
        .await
        .with_new_stack("B")
        .await;
    create(&other, 900, "b.bin").await;
    create(&s, 400, "c.bin").await;
}

#[tokio::test]
async fn an_expired_upload_answers_410_and_its_bytes_are_reclaimed() {
    let t = TestApp::spawn_with(|c| c.upload_expiry = 1).await;
    let s = t.admin().await;
    let path = create(&s, 10, "late.txt").await;
    patch(&s, &path, 0, b"12345").await;
    assert!(upload_file(&t, &path).is_some());
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let r = patch(&s, &path, 5, b"67890").await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], 149);
    assert_eq!(upload_file(&t, &path), None);
    assert_eq!(head_status(&s, &path).await, StatusCode::NOT_FOUND);

    // One nobody asks about again is reclaimed by the sweep.
    let t = TestApp::spawn_with(|c| {
        c.upload_expiry = 1;
        c.trash_sweep_seconds = 1;
    })
    .await;
    let s = t.admin().await;
    let path = create(&s, 10, "forgotten.txt").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while upload_file(&t, &path).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep never reclaimed it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(head_status(&s, &path).await, StatusCode::NOT_FOUND);
}
