//! Rules an adversarial review found missing: active content types, bidirectional
//! characters in file names, what management tokens may read, the JSON body limit, list
//! headers split over lines and the Host rules.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt as _;

use crate::connection::{asset, Raw};
use crate::support::{assert_error, metrics_text, Session, TestApp};

#[tokio::test]
async fn every_javascript_type_is_sandboxed() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    for (i, ctype) in [
        "text/x-javascript",
        "text/jscript",
        "application/x-ecmascript",
        "text/livescript",
        "text/javascript1.5",
    ]
    .into_iter()
    .enumerate()
    {
        // No extension and no magic bytes: the client's claim decides the type (§5).
        let form = reqwest::multipart::Form::new().part(
            "asset[upload]",
            reqwest::multipart::Part::bytes(b"alert(1)".to_vec())
                .file_name(format!("script{i}"))
                .mime_str(ctype)
                .unwrap(),
        );
        let (st, v) = s
            .send(s.request(Method::POST, "/v3/assets").multipart(form))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        assert_eq!(v["asset"]["content_type"], ctype);
        let r = t
            .http
            .get(v["asset"]["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("sandbox"), "{ctype}: {csp}");
    }
}

#[tokio::test]
async fn bidirectional_characters_leave_file_names() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("invoice\u{202E}fdp.exe", b"MZ").await;
    let name = a["filename"].as_str().unwrap();
    assert_eq!(name, "invoice_fdp.exe");
    for c in [
        '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200F}', '\u{061C}',
    ] {
        let a = s.upload(&format!("a{c}b.txt"), b"x").await;
        assert_eq!(a["filename"], "a_b.txt", "{:?}", c);
    }
}

#[tokio::test]
async fn management_tokens_cannot_read_members_or_settings() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    for write in [false, true] {
        let (st, v) = s
            .call(
                Method::POST,
                "/v3/stacks/management_tokens",
                Some(json!({"token": {"name": format!("t{write}"), "scope": [{"module": "asset", "acl": {"read": true, "write": write}}]}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let mut token = t.anon();
        token.api_key = s.api_key.clone();
        token.mgmt_token = Some(v["token"]["token"].as_str().unwrap().to_owned());
        for path in ["/v3/stacks", "/v3/stacks/settings"] {
            let v = assert_error(token.send(token.request(Method::GET, path)).await, 403, 161);
            assert!(!v.to_string().contains("@example.com"), "{v}");
        }
        // The asset API stays open to it.
        assert_eq!(token.get("/v3/assets").await.0, StatusCode::OK);
    }
    // People still can.
    assert_eq!(s.get("/v3/stacks").await.0, StatusCode::OK);
    assert_eq!(s.get("/v3/stacks/settings").await.0, StatusCode::OK);
}

#[tokio::test]
async fn json_updates_have_the_json_limit() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("a.txt", b"hello").await;
    let uid = a["uid"].as_str().unwrap();
    let big = "x".repeat((1 << 20) + 10);
    let r = s
        .request(Method::PUT, &format!("/v3/assets/{uid}"))
        .header("content-type", "application/json")
        .body(json!({"asset": {"description": big}}).to_string());
    let v = assert_error(s.send(r).await, 413, 113);
    assert!(
        v["error_message"].as_str().unwrap().contains("1048576"),
        "{v}"
    );
    // Nothing changed.
    let (_, now) = s.get(&format!("/v3/assets/{uid}")).await;
    assert_eq!(now["asset"]["_version"], 1);
    // Within the limit it works.
    let (st, _) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{uid}"),
            Some(json!({"asset": {"description": "x".repeat(5000)}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
}

/// A proxy or CDN in front may add its own `Authorization` (an auth proxy's `Basic …`, a
/// JWT): a public URL answers as without it. Perma's own credentials still decide.
#[tokio::test]
async fn foreign_credentials_get_the_public_answer() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("p.txt", b"public bytes").await;
    let uid = a["uid"].as_str().unwrap();
    let (_, v) = s.set_permanent(uid, "p").await;
    let perm = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
    for auth in ["Basic dXNlcjpwYXNz", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"] {
        let r = t
            .http
            .get(&perm)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{auth}");
        let cc = r.headers()["cache-control"].to_str().unwrap().to_owned();
        assert!(cc.starts_with("public"), "{auth}: {cc}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"public bytes");
    }
    // A perma credential that is not valid (any more) is refused, as documented.
    let stale = format!("cs{}", "0".repeat(64));
    for (name, value) in [("authorization", stale.as_str()), ("authtoken", "stale")] {
        let r = t.http.get(&perm).header(name, value).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
}

/// `/healthz` while alive; `/readyz` 200 while the database and the blob store answer,
/// 503 naming the part when one does not.
#[tokio::test]
async fn health_and_readiness() {
    let t = TestApp::spawn().await;
    let get = |path: &'static str| {
        let http = t.http.clone();
        let url = format!("{}{path}", t.base);
        async move {
            let r = http.get(url).send().await.unwrap();
            let st = r.status();
            (st, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (st, v) = get("/healthz").await;
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (st, v) = get("/readyz").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["database"].as_str(), v["storage"].as_str()),
        (Some("ok"), Some("ok"))
    );
    // The database goes away: not ready, and says which part.
    t.app.db.close().await;
    let (st, v) = get("/readyz").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(
        (v["database"].as_str(), v["storage"].as_str()),
        (Some("unavailable"), Some("ok"))
    );
    assert!(!v.to_string().contains("closed"), "no internals: {v}");
    // Alive all the same.
    assert_eq!(get("/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_management_api_limit_is_per_credential_and_says_so() {
    let t = TestApp::spawn_with(|c| c.rate_limit = 3).await;
    let s = t.admin().await; // login (no credential yet) and stack creation: 1 request
    let other = t
        .login(crate::support::ADMIN_EMAIL, crate::support::ADMIN_PASSWORD)
        .await;
    // Wait for a full bucket, then spend it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut left = Vec::new();
    for _ in 0..3 {
        let r = s.request(Method::GET, "/v3/assets").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-ratelimit-limit"], "3");
        left.push(
            r.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(left, ["2", "1", "0"]);
    // Past the limit: 429, the CMA body, Retry-After; a write is refused whole.
    let form = reqwest::multipart::Form::new().part(
        "asset[upload]",
        reqwest::multipart::Part::bytes(b"limited".to_vec()).file_name("limited.txt"),
    );
    let r = s
        .request(Method::POST, "/v3/assets")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_code"], json!(429));
    assert!(v["error_message"]
        .as_str()
        .unwrap()
        .contains("3 per second"));
    // Another credential has its own bucket; delivery is never limited.
    let (st, v) = Session {
        api_key: s.api_key.clone(),
        ..other.clone()
    }
    .get("/v3/assets?include_count=true")
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["count"], json!(0), "the refused upload wrote nothing");
    for _ in 0..10 {
        let r = t
            .http
            .get(format!("{}/healthz", t.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("x-ratelimit-limit").is_none());
    }
    // A moment later the bucket has refilled.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (st, _) = s.get("/v3/assets").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn metrics_and_the_access_log_see_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let log_path = log.to_string_lossy().into_owned();
    // A proxy on this host, trusted (PERMA_TRUSTED_PROXIES): its X-Forwarded-For counts.
    let t = TestApp::spawn_with(move |c| {
        c.access_log = log_path;
        c.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let s = t.admin().await;
    let a = s.upload("m.txt", b"metrics").await;
    let id = a["uid"].as_str().unwrap();
    let (_, v) = s.set_permanent(id, "m").await;
    let perm = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
    // A client of its own: connections that carried management calls belong to hyper.
    let reader = reqwest::Client::new();
    for _ in 0..3 {
        let r = reader.get(&perm).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = reader
        .get(format!("{perm}?x=%22quoted%20%0Aline"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // With credentials, delivery goes through the router (management download, §2.3).
    let (st, _) = s.send(s.request(Method::GET, &perm)).await;
    assert_eq!(st, StatusCode::OK);
    assert_error(s.get("/v3/no-such-route").await, 404, 141);

    let r = t
        .http
        .get(format!("{}/metrics", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let fast = value("perma_http_requests_total{class=\"delivery\",path=\"fast\",code=\"2xx\"}");
    let router =
        value("perma_http_requests_total{class=\"delivery\",path=\"router\",code=\"2xx\"}");
    assert_eq!((fast, router), (4.0, 1.0), "{text}");
    assert!(
        value("perma_http_requests_total{class=\"management\",path=\"router\",code=\"2xx\"}")
            >= 3.0
    );
    assert!(
        value("perma_http_requests_total{class=\"management\",path=\"router\",code=\"4xx\"}")
            >= 1.0
    );
    assert!(value("perma_http_response_bytes_total{class=\"delivery\",path=\"fast\"}") >= 7.0);
    assert!(value("perma_index_hits_total") >= 1.0);
    assert_eq!(value("perma_uploads_in_flight"), 0.0);
    assert!(text.contains(
        "perma_http_request_duration_seconds_bucket{class=\"delivery\",path=\"fast\",le=\"+Inf\"}"
    ));
    assert!(text.contains("perma_db_connections{pool="));
    // Only loopback (and PERMA_METRICS_FROM) may read it: a client behind the local proxy
    // is not loopback.
    let r = t
        .http
        .get(format!("{}/metrics", t.base))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The access log: one line per answer, both writers, fields that cannot be forged.
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if lines.iter().any(|l| l.contains("/metrics")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let path = perm
        .split_once("/v3/")
        .map(|(_, p)| format!("/v3/{p}"))
        .unwrap();
    let deliveries: Vec<&String> = lines.iter().filter(|l| l.contains(&path)).collect();
    assert_eq!(deliveries.len(), 5, "{lines:#?}");
    for l in &deliveries {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 9, "{l}");
        assert_eq!(
            (f[1], f[2], f[4], f[5]),
            ("127.0.0.1", "GET", "200", "7"),
            "{l}"
        );
        assert!(
            f[6].parse::<f64>().is_ok() && ["fast", "router"].contains(&f[7]),
            "{l}"
        );
    }
    assert!(
        deliveries
            .iter()
            .any(|l| l.contains("?x=%22quoted%20%0Aline ")),
        "{deliveries:?}"
    );
    // Asset URLs have no request id (on either path); every other answer has one.
    assert_eq!(
        deliveries.iter().filter(|l| l.ends_with(" fast -")).count(),
        4
    );
    assert_eq!(
        deliveries
            .iter()
            .filter(|l| l.ends_with(" router -"))
            .count(),
        1
    );
    let missing = lines
        .iter()
        .find(|l| l.contains(" GET /v3/no-such-route 404 "))
        .unwrap();
    let id = missing.rsplit(' ').next().unwrap();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{missing}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" GET /v3/no-such-route 404 ")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn metrics_off_counts_nothing() {
    let t = TestApp::spawn_with(|c| c.metrics = false).await;
    let s = t.admin().await;
    s.get("/v3/assets").await;
    let text = metrics_text(&t.http, &t.base).await;
    assert!(!text.contains("perma_http_requests_total{"), "{text}");
}

/// RFC 9110 §5.3: a list header split over several lines is one list; RFC 9112 §3.2: an
/// HTTP/1.1 request has exactly one Host.
#[tokio::test]
async fn split_list_headers_and_host_rules() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let body = b"list headers".to_vec();
    let (_, _, perm) = asset(&s, "l.txt", &body, "l").await;
    let etag = format!("\"{}\"", {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    });
    let mut c = Raw::connect(&t).await;
    let r = c
        .get(
            &perm,
            &format!("if-none-match: \"a\"\r\nif-none-match: {etag}\r\n"),
        )
        .await;
    assert_eq!(r.status, 304, "the etag on the second line counts");
    let r = c
        .get(&perm, &format!("if-match: \"a\"\r\nif-match: {etag}\r\n"))
        .await;
    assert_eq!(r.status, 200);
    let r = c.get(&perm, "if-match: \"a\"\r\nif-match: \"b\"\r\n").await;
    assert_eq!(r.status, 412);
    // Host: none, or two, on HTTP/1.1 → 400 (a fresh connection each: the fast path's and
    // the router's answers).
    for head in [
        format!("GET {perm} HTTP/1.1\r\n\r\n"),
        format!("GET {perm} HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n"),
        "GET /v3/user HTTP/1.1\r\n\r\n".to_owned(),
    ] {
        let mut c = Raw::connect(&t).await;
        c.send(head.as_bytes()).await;
        let r = c.response(false).await;
        assert_eq!(r.status, 400, "{head:?}");
        assert!(String::from_utf8_lossy(&r.body).contains("exactly one Host"));
    }
    // HTTP/1.0 needs no Host.
    let mut c = Raw::connect(&t).await;
    c.send(format!("GET {perm} HTTP/1.0\r\n\r\n").as_bytes())
        .await;
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.stream.read_to_end(&mut all)).await;
    assert!(all.starts_with(b"HTTP/1.0 200") || all.starts_with(b"HTTP/1.1 200"));
}
