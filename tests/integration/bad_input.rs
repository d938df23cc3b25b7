//! Bad input gets a clear CMA error and loses nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{assert_error, TestApp};

#[tokio::test]
async fn oversized_upload_and_replace_keep_nothing() {
    let t = TestApp::spawn_with(|c| c.max_upload_bytes = 64 * 1024).await;
    let s = t.admin().await;
    let keep = s.upload("keep.txt", b"kept").await;
    let blobs_before = t.blob_count().await;

    let big = vec![7u8; 64 * 1024 + 1];
    let r = s
        .upload_form(Method::POST, "/v3/assets", "big.bin", big.clone(), &[])
        .await;
    let v = assert_error(r, 413, 113);
    assert!(v["error_message"].as_str().unwrap().contains("65536"));
    // Much larger than the body limit too (refused while streaming).
    let huge = vec![7u8; 3 << 20];
    assert_error(
        s.upload_form(Method::POST, "/v3/assets", "huge.bin", huge, &[])
            .await,
        413,
        113,
    );
    let id = keep["uid"].as_str().unwrap();
    assert_error(
        s.upload_form(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            "big.bin",
            big,
            &[],
        )
        .await,
        413,
        113,
    );

    let (_, v) = s.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 1, "no row was written");
    assert_eq!(t.blob_count().await, blobs_before, "no blob was kept");
    assert_eq!(t.temp_count(), 0, "no temp file was left");
    let (_, v) = s.get(&format!("/v3/assets/{id}")).await;
    assert_eq!(v["asset"]["_version"], 1);
    // Exactly at the limit is fine.
    s.upload("limit.bin", &vec![1u8; 64 * 1024]).await;
}

#[tokio::test]
async fn malformed_bodies() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("a.txt", b"a").await;
    let id = a["uid"].as_str().unwrap();

    // Neither multipart nor JSON → 415.
    let r = s
        .send(
            s.request(Method::POST, "/v3/assets")
                .header("content-type", "text/plain")
                .body("a file?"),
        )
        .await;
    assert_error(r, 415, 115);
    // JSON names a finished resumable upload (§16); without one → 422 naming it.
    let r = s
        .send(
            s.request(Method::POST, "/v3/assets")
                .json(&json!({"asset": {}})),
        )
        .await;
    let v = assert_error(r, 422, 422);
    assert!(v["errors"]["upload_uid"].is_array(), "{v}");
    // Multipart without the file → 422.
    let form = reqwest::multipart::Form::new().text("asset[title]", "no file");
    let v = assert_error(
        s.send(s.request(Method::POST, "/v3/assets").multipart(form))
            .await,
        422,
        422,
    );
    assert!(v["errors"]["upload"].is_array());
    // Broken multipart: boundary announced, body truncated mid-part.
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"asset[upload]\"; filename=\"x.txt\"\r\n\r\npartial data with no end";
    let r = s
        .send(
            s.request(Method::POST, "/v3/assets")
                .header("content-type", "multipart/form-data; boundary=XyZ")
                .body(body),
        )
        .await;
    assert_error(r, 400, 100);
    let r = s
        .send(
            s.request(Method::POST, "/v3/assets")
                .header("content-type", "multipart/form-data")
                .body("garbage"),
        )
        .await;
    assert_error(r, 400, 100);
    // Truncated JSON.
    let r = s
        .send(
            s.request(Method::PUT, &format!("/v3/assets/{id}"))
                .header("content-type", "application/json")
                .body("{\"asset\": {\"title\": \"x"),
        )
        .await;
    assert_error(r, 400, 100);
    let r = s
        .send(s.request(Method::POST, "/v3/user-session").body("not json"))
        .await;
    assert_error(r, 400, 100);
    // Wrong types.
    assert_error(
        s.call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": {"title": 5}})),
        )
        .await,
        422,
        422,
    );
    assert_error(
        s.call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": {"tags": {"a": 1}}})),
        )
        .await,
        422,
        422,
    );
    assert_error(
        s.call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": {"parent_uid": "blt0000000000000000"}})),
        )
        .await,
        422,
        422,
    );
    assert_error(
        s.call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": {"title": "x".repeat(1001)}})),
        )
        .await,
        422,
        422,
    );

    let (_, v) = s.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["assets"][0]["title"], "a.txt");
    assert_eq!(v["assets"][0]["_version"], 1);
    assert_eq!(t.temp_count(), 0);
}

#[tokio::test]
async fn bad_queries_are_4xx_never_500() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.upload("a.txt", b"a").await;
    let enc = |q: &str| {
        percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    for q in [
        "{",
        "[1,2]",
        "\"title\"",
        r#"{"title":{"$foo":"x"}}"#,
        r#"{"$where":"sleep(1)"}"#,
        r#"{"secret_field":"x"}"#,
        r#"{"title":{"$regex":"(unclosed"}}"#,
        r#"{"title":{"$regex":"a","$options":"q"}}"#,
        r#"{"file_size":{"$gt":"huge"}}"#,
        r#"{"created_at":{"$gt":"yesterday"}}"#,
        r#"{"$or":"x"}"#,
        r#"{"$and":[]}"#,
        r#"{"is_dir":"yes"}"#,
        r#"{"title":{"nested":1}}"#,
        &format!("{}{}", "{\"$and\":[".repeat(40), "]}".repeat(40)),
    ] {
        let (st, v) = s.get(&format!("/v3/assets?query={}", enc(q))).await;
        assert_eq!(st.as_u16(), 422, "{q}: {v}");
        assert!(v["errors"]["query"][0].as_str().is_some(), "{q}: {v}");
    }
    assert_error(s.get("/v3/assets?limit=abc").await, 422, 422);
    assert_error(s.get("/v3/assets?skip=-1").await, 422, 422);
    assert_error(s.get("/v3/assets?asc=password").await, 422, 422);
    // Unknown parameters are ignored.
    assert_eq!(s.get("/v3/assets?whatever=1").await.0, StatusCode::OK);
}

#[tokio::test]
async fn hostile_filenames_are_sanitised() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    for (raw, expect) in [
        ("../../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        (
            "a#b%c^d+e?f*g:h|i\"j'k<l>m{n}o=p,q.txt",
            "a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p_q.txt",
        ),
        ("tab\there new line.txt", "tab_here_new_line.txt"),
        ("..", "file"),
    ] {
        let a = s.upload(raw, raw.as_bytes()).await;
        assert_eq!(a["filename"], expect, "{raw:?}");
        let r = t.http.get(a["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), raw.as_bytes());
    }
    // Nothing escaped the data dir.
    assert!(!t.dir.path().join("etc").exists());
}

#[tokio::test]
async fn unknown_asset_wrong_stack_unknown_route() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("mine.txt", b"mine").await;
    let id = a["uid"].as_str().unwrap();
    assert_error(s.get("/v3/assets/blt0000000000000000").await, 404, 145);
    assert_error(s.get("/v3/assets/not-a-uid").await, 404, 145);
    assert_error(
        s.call(
            Method::PUT,
            "/v3/assets/blt0000000000000000",
            Some(json!({"asset": {"title": "x"}})),
        )
        .await,
        404,
        145,
    );
    let other = t
        .login(crate::support::ADMIN_EMAIL, crate::support::ADMIN_PASSWORD)
        .await
        .with_new_stack("Other")
        .await;
    assert_error(other.get(&format!("/v3/assets/{id}")).await, 404, 145);
    assert_error(
        other
            .call(Method::DELETE, &format!("/v3/assets/{id}"), None)
            .await,
        404,
        145,
    );
    assert_eq!(
        s.get(&format!("/v3/assets/{id}")).await.0,
        StatusCode::OK,
        "still there"
    );
    assert_error(s.get("/v3/nope").await, 404, 141);
}

/// Issue: a request refused after its file arrived (422 for an unknown folder, a second
/// file part or a different slug on replace; 400 for a truncated body) kept the blob until
/// `gc`. Files are now staged and become blobs only when the request is accepted.
#[tokio::test]
async fn refused_uploads_leave_no_blob() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("a.txt", b"first").await;
    let id = a["uid"].as_str().unwrap().to_owned();
    let (st, _) = s.set_permanent(&id, "a-slug").await;
    assert_eq!(st, StatusCode::OK);
    let blobs_before = t.blob_count().await;
    let fresh = |tag: &str| format!("{tag} {}", rand_text()).into_bytes();

    // An unknown folder, on upload and on replace.
    assert_error(
        s.upload_form(
            Method::POST,
            "/v3/assets",
            "x.txt",
            fresh("parent"),
            &[("asset[parent_uid]", "blt0000000000000000")],
        )
        .await,
        422,
        422,
    );
    assert_error(
        s.upload_form(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            "x.txt",
            fresh("parent on replace"),
            &[("asset[parent_uid]", "blt0000000000000000")],
        )
        .await,
        422,
        422,
    );
    // A different slug along with a replacement file.
    let v = assert_error(
        s.upload_form(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            "x.txt",
            fresh("slug"),
            &[("asset[permanent_url]", "another-slug")],
        )
        .await,
        422,
        422,
    );
    assert!(v["errors"]["permanent_url"].is_array(), "{v}");
    // A second file part.
    let form = reqwest::multipart::Form::new()
        .part(
            "asset[upload]",
            reqwest::multipart::Part::bytes(fresh("one")).file_name("one.txt"),
        )
        .part(
            "asset[upload]",
            reqwest::multipart::Part::bytes(fresh("two")).file_name("two.txt"),
        );
    assert_error(
        s.send(s.request(Method::POST, "/v3/assets").multipart(form))
            .await,
        422,
        422,
    );
    // A body cut off after the file part (no closing boundary).
    let body = format!(
        "--cut\r\nContent-Disposition: form-data; name=\"asset[upload]\"; filename=\"cut.txt\"\r\n\r\n{}\r\n--cut\r\nContent-Disposition: form-data; name=\"asset[title]\"\r\n\r\nunfinish",
        rand_text()
    );
    let (st, v) = s
        .send(
            s.request(Method::POST, "/v3/assets")
                .header("content-type", "multipart/form-data; boundary=cut")
                .body(body),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    assert_eq!(
        t.blob_count().await,
        blobs_before,
        "no refused file became a blob"
    );
    assert_eq!(t.temp_count(), 0, "no staged file was left");
    let (_, v) = s.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 1, "no row was written");
    let (_, v) = s.get(&format!("/v3/assets/{id}")).await;
    assert_eq!(v["asset"]["_version"], 2, "the asset did not change");
    // The same requests, accepted, store their file.
    s.replace(&id, "x.txt", &fresh("accepted")).await;
    assert_eq!(t.blob_count().await, blobs_before + 1);
}

fn rand_text() -> String {
    use rand::Rng;
    let n: u128 = rand::thread_rng().gen();
    format!("{n:032x}")
}

/// Found by fuzzing: a date with an 11-digit year overflowed the date arithmetic (a panic in
/// debug builds, a wrong instant in release). It is now a clear 4xx, everywhere dates are read.
#[tokio::test]
async fn dates_out_of_range_are_refused() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.upload("a.txt", b"a").await;
    let q = form_urlencoded::byte_serialize(
        br#"{"created_at":{"$gt":"24444444023-01-01T00:00:00.000Z"}}"#,
    )
    .collect::<String>();
    let (st, v) = s.get(&format!("/v3/assets?query={q}")).await;
    assert!(st.is_client_error(), "{st} {v}");
    assert!(v["error_message"].as_str().is_some());
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/stacks/management_tokens",
            Some(json!({"token": {"name": "far", "expires_on": "99999999999-01-01", "scope": [{"module": "asset", "acl": {"read": true}}]}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, v) = s.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], json!(1));
}
