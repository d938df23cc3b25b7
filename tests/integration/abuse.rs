//! Abuse, as an attacker would try it on loopback: renders that outlive their time limit,
//! decompression bombs within the per-side limit, renditions without end, connection
//! floods, slow heads, password guessing against the owner, forged `X-Forwarded-For`,
//! webhook secrets and addresses, overflowing ranges. Each test sends the abusive input
//! and checks the clear answer, the budget, and that nothing was left behind.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::events::{create_webhook, Receiver};
use crate::support::{assert_error, metric, Server, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

/// A PNG of noise (expensive to encode, as an attacker would pick).
fn noise_png(w: u32, h: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        let mut px = [0u8; 3];
        for c in &mut px {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *c = (state >> 24) as u8;
        }
        image::Rgb(px)
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A 43-byte GIF whose logical screen is `side` × `side` px with one 1 × 1 frame.
fn gif_bomb(side: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&side.to_le_bytes());
    gif.extend_from_slice(&side.to_le_bytes());
    gif.extend_from_slice(&[0, 0, 0]);
    gif.extend_from_slice(&[0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b]);
    gif
}

/// A figure of the server's `/proc/{pid}/status` (`VmHWM`, `VmRSS`) in KiB.
fn proc_kib(server: &Server, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| {
            v.trim_start_matches(':')
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap()
}

async fn get(http: &reqwest::Client, url: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = http.get(url).send().await.unwrap();
    let (st, h) = (r.status(), r.headers().clone());
    let body = r.bytes().await.unwrap();
    (st, h, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn message(v: &Value) -> &str {
    v["error_message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_render_past_its_time_limit_stops_keeps_its_turn_and_is_not_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::prepare_database(dir.path()).await;
    let budget = (256u64 << 20).to_string();
    let server = Server::start_with(
        dir.path(),
        &[
            ("PERMA_RENDER_TIMEOUT", "1"),
            ("PERMA_RENDER_CONCURRENCY", "1"),
            ("PERMA_RENDER_MEMORY_BYTES", &budget),
        ],
    );
    let s = server.login().await.with_new_stack("abuse").await;
    let heavy = s.upload("noise.png", &noise_png(1000, 700)).await;
    let tiny = s.upload("tiny.png", &noise_png(16, 16)).await;
    let heavy = format!(
        "{}?width=1000&format=avif&quality=90",
        heavy["url"].as_str().unwrap()
    );
    let tiny = format!("{}?width=8&format=png", tiny["url"].as_str().unwrap());
    let http = reqwest::Client::new();
    let idle = proc_kib(&server, "VmRSS");

    // The request gets its 422 at the time limit, not when the encoder is done.
    let started = Instant::now();
    let (st, _, v) = get(&http, &heavy).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("time limit of 1 s"), "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The AV1 encoder cannot be interrupted: the render still runs, and still holds its
    // turn and its memory, so another render waits for the turn (at most the time
    // limit), then gets a 503 it may retry.
    assert_eq!(
        metric(&http, &server.base, "perma_renders_running").await,
        1
    );
    assert!(metric(&http, &server.base, "perma_render_memory_bytes").await > 0);
    let (st, h, v) = get(&http, &tiny).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(h["retry-after"], "5");
    // The same rendition is refused at once, not rendered from zero again.
    let started = Instant::now();
    let (st, _, v) = get(&http, &heavy).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("not tried again"), "{v}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Once the encoder has stopped, the turn and the memory are free again; its result
    // came too late and was dropped.
    let deadline = Instant::now() + Duration::from_secs(180);
    while metric(&http, &server.base, "perma_renders_running").await > 0 {
        assert!(Instant::now() < deadline, "the render never stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        metric(&http, &server.base, "perma_render_memory_bytes").await,
        0
    );
    let (st, _, _) = get(&http, &tiny).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        metric(&http, &server.base, "perma_renditions_rendered_total").await,
        1
    );
    assert_eq!(
        metric(&http, &server.base, "perma_renditions_stored").await,
        1
    );
    let grown = proc_kib(&server, "VmHWM").saturating_sub(idle);
    assert!(grown < (256 + 64) << 10, "peak RSS grew {grown} KiB");
}

#[tokio::test]
async fn decoded_pixels_and_render_memory_are_limited_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::prepare_database(dir.path()).await;
    let budget = (48u64 << 20).to_string();
    let server = Server::start_with(
        dir.path(),
        &[
            ("PERMA_RENDER_MEMORY_BYTES", &budget),
            ("PERMA_RENDER_MISSES_PER_MINUTE", "0"),
        ],
    );
    let s = server.login().await.with_new_stack("bombs").await;
    let bomb = s.upload("bomb.gif", &gif_bomb(12_000)).await;
    let bomb_url = bomb["url"].as_str().unwrap().to_owned();
    let big = s.upload("big.png", &noise_png(3000, 3000)).await;
    let big_url = big["url"].as_str().unwrap().to_owned();
    let small = s.upload("small.png", &noise_png(300, 200)).await;
    let small_url = small["url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let idle = proc_kib(&server, "VmRSS");
    // Twenty distinct renders of a 12,000 px square GIF screen at once: each refused from
    // the header, none decoded.
    let tries = (0..20).map(|i| {
        let (http, url) = (http.clone(), format!("{bomb_url}?width={}", 100 + i));
        async move { get(&http, &url).await }
    });
    for (st, _, v) in futures_util::future::join_all(tries).await {
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(message(&v).contains("144.0 MP"), "{v}");
    }
    // A 9 MP image whose render needs more than the whole budget is refused and says so;
    // a render that fits is made.
    let (st, _, v) = get(&http, &format!("{big_url}?width=2900&format=webp")).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("render memory budget of 48 MB"), "{v}");
    let (st, h, _) = get(&http, &format!("{small_url}?width=100&format=webp")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["content-type"], "image/webp");
    let grown = proc_kib(&server, "VmHWM").saturating_sub(idle);
    assert!(grown < 48 << 10, "peak RSS grew {grown} KiB");
    // Nothing but the one rendition was stored; the files are served as they are.
    assert_eq!(
        metric(&http, &server.base, "perma_renditions_stored").await,
        1
    );
    let r = http.get(&bomb_url).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), gif_bomb(12_000));
}

#[tokio::test]
async fn renditions_per_source_and_new_renditions_per_client_are_capped() {
    let t = TestApp::spawn_with(|c| {
        c.renditions_per_source = 3;
        c.render_misses_per_minute = 5;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let s = t.admin().await;
    let a = s.upload("a.png", &noise_png(64, 64)).await;
    let url = a["url"].as_str().unwrap().to_owned();
    let from = |client: &'static str, q: String| {
        let http = t.http.clone();
        let url = format!("{url}?{q}");
        async move {
            let r = http
                .get(url)
                .header("x-forwarded-for", client)
                .send()
                .await
                .unwrap();
            let (st, h) = (r.status(), r.headers().clone());
            (st, h, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for w in 10..13 {
        let (st, _, _) = from("203.0.113.1", format!("width={w}")).await;
        assert_eq!(st, StatusCode::OK);
    }
    // A fourth transform of the same file: refused, the three kept and still served.
    let (st, _, v) = from("203.0.113.1", "width=13".into()).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("3 renditions stored already"), "{v}");
    let (st, _, _) = from("203.0.113.1", "width=10".into()).await;
    assert_eq!(st, StatusCode::OK);
    // New renditions per client and minute: this client has asked for 4, one more passes.
    let b = s.upload("b.png", &noise_png(65, 64)).await;
    let url_b = b["url"].as_str().unwrap().to_owned();
    let get_b = |client: &'static str, w: u32| {
        let http = t.http.clone();
        let url = format!("{url_b}?width={w}");
        async move {
            http.get(url)
                .header("x-forwarded-for", client)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(get_b("203.0.113.1", 20).await.status(), StatusCode::OK);
    let r = get_b("203.0.113.1", 21).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_code"], 429, "{v}");
    // Stored renditions are still served to it; another client may render.
    assert_eq!(get_b("203.0.113.1", 20).await.status(), StatusCode::OK);
    assert_eq!(get_b("198.51.100.2", 21).await.status(), StatusCode::OK);
    let stored = t.app.db.rendition_usage().await.unwrap().0;
    assert_eq!(stored, 5, "three of a, two of b");
}

#[tokio::test]
async fn connections_per_client_address_are_capped_with_a_clear_503() {
    let t = TestApp::spawn_with(|c| c.max_connections_per_client = 4).await;
    let addr = t.base.trim_start_matches("http://").to_owned();
    let open: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    // Let the server accept them all before the fifth.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            let mut fifth = std::net::TcpStream::connect(&addr).unwrap();
            fifth
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut text = String::new();
            let _ = fifth.read_to_string(&mut text);
            text
        }
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
    assert!(answer.contains("retry-after: 5"), "{answer:?}");
    assert!(answer.contains("Too many open connections"), "{answer:?}");
    // The held connections still work, and a closed one gives its place back.
    drop(open);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = reqwest::get(format!("{}/healthz", t.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_request_head_has_one_time_limit_on_both_paths() {
    let t = TestApp::spawn_with(|c| c.head_timeout = 1).await;
    let addr = t.base.trim_start_matches("http://").to_owned();
    let closed_after = |first: &'static [u8]| {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.write_all(first).unwrap();
            let started = Instant::now();
            let mut text = Vec::new();
            let _ = c.read_to_end(&mut text);
            (
                started.elapsed(),
                String::from_utf8_lossy(&text).into_owned(),
            )
        })
    };
    // Nothing at all; half a head; a request the router answers, then an idle keep-alive.
    for first in [
        &b""[..],
        b"GET /v3/assets/blt0000000000000000/blt0000000000000001 HTTP/1.1\r\nHo",
        b"GET /v3/no-such-route HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let (took, text) = closed_after(first).await.unwrap();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "{first:?}: closed after {took:?}"
        );
        if first.ends_with(b"\r\n\r\n") {
            assert!(text.starts_with("HTTP/1.1 404"), "{text}");
        }
    }
}

#[tokio::test]
async fn guessing_from_one_address_does_not_lock_the_owner_out() {
    let t = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let login = |client: &'static str, password: &'static str| {
        let http = t.http.clone();
        let url = format!("{}/v3/user-session", t.base);
        async move {
            http.post(url)
                .header("x-forwarded-for", client)
                .json(&json!({"user": {"email": ADMIN_EMAIL, "password": password}}))
                .send()
                .await
                .unwrap()
        }
    };
    let owner = "198.51.100.1";
    let attacker = "203.0.113.9";
    assert_eq!(login(owner, ADMIN_PASSWORD).await.status(), StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(
            login(attacker, "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The attacker now waits, growing delays, even with the right password ...
    let r = login(attacker, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        login(attacker, "guess").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login(attacker, "guess").await.headers()["retry-after"], "2");
    // ... while the owner, and anyone else, logs in as ever.
    assert_eq!(login(owner, ADMIN_PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        login("192.0.2.77", ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_is_not_believed() {
    // No PERMA_TRUSTED_PROXIES: loopback is a client like any other.
    let t = TestApp::spawn().await;
    let mut limited = None;
    for i in 0..40 {
        let r = t
            .http
            .post(format!("{}/v3/user-session", t.base))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"user": {"email": format!("u{i}@example.com"), "password": "x"}}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(i);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{i}");
    }
    assert_eq!(
        limited,
        Some(30),
        "rotating X-Forwarded-For evaded the address limit"
    );
    // Nor does it open /metrics to the outside: a forwarded address is ignored, the peer
    // (loopback) may read it.
    let r = t
        .http
        .get(format!("{}/metrics", t.base))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn webhook_header_values_are_masked_and_kept_through_a_round_trip() {
    let t = TestApp::spawn_with(|c| c.webhook_allow_nets = vec!["127.0.0.0/8".into()]).await;
    let s = t.admin().await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let hook = create_webhook(&s, &receiver.url(), &["assets.create"], "manual").await;
    let uid = hook["uid"].as_str().unwrap().to_owned();
    assert_eq!(
        hook["destinations"][0]["custom_header"][0]["value"],
        "********"
    );
    // A read-only token sees names, not values; so does the admin.
    let ro = s.read_only().await;
    for who in [&ro, &s] {
        for path in ["/v3/webhooks".to_owned(), format!("/v3/webhooks/{uid}")] {
            let (st, v) = who.get(&path).await;
            assert_eq!(st, StatusCode::OK, "{v}");
            let text = v.to_string();
            assert!(!text.contains("\"docs\""), "{path}: {text}");
            assert!(text.contains("x-site"), "{path}: {text}");
        }
    }
    // Read, rename, write back (masked value and all): the real value is kept.
    let (_, v) = s.get(&format!("/v3/webhooks/{uid}")).await;
    let mut w = v["webhook"].clone();
    w["name"] = json!("renamed");
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/webhooks/{uid}"),
            Some(json!({"webhook": w})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.upload("w.txt", b"w").await;
    let got = receiver.wait_for_within(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-site"), "docs");
}

#[tokio::test]
async fn webhook_targets_that_reach_private_networks_through_ipv6_are_refused() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    for target in [
        "http://[64:ff9b::a00:1]/",
        "http://[64:ff9b:1::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[ff02::1]/",
        "http://224.0.0.251/",
    ] {
        let v = assert_error(
            s.call(
                Method::POST,
                "/v3/webhooks",
                Some(json!({"webhook": {"name": "x", "destinations": [{"target_url": target}], "channels": ["assets.create"]}})),
            )
            .await,
            422,
            422,
        );
        assert!(v["errors"]["target_url"].is_array(), "{target}: {v}");
    }
    let (_, v) = s.get("/v3/webhooks").await;
    assert_eq!(v["webhooks"], json!([]));
}

#[tokio::test]
async fn a_range_past_every_number_is_to_the_end_on_both_paths() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("r.txt", b"0123456789").await;
    let url = a["url"].as_str().unwrap().to_owned();
    let huge = "bytes=3-99999999999999999999999";
    // The fast path; two If-None-Match lines make the request the router's.
    for router in [false, true] {
        let mut r = t.http.get(&url).header("range", huge);
        if router {
            r = r
                .header("if-none-match", "\"a\"")
                .header("if-none-match", "\"b\"");
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "router: {router}");
        assert_eq!(r.headers()["content-range"], "bytes 3-9/10");
        assert_eq!(r.bytes().await.unwrap(), "3456789");
    }
    let r = t
        .http
        .get(&url)
        .header("range", "bytes=99999999999999999999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn guesses_spread_over_addresses_leave_the_owner_in() {
    // The owner's password still works after an attacker's failures from many addresses
    // (fewer than the per-account limit), and the account's data is untouched.
    let t = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1".into()]).await;
    for i in 0..20 {
        let r = t
            .http
            .post(format!("{}/v3/user-session", t.base))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"user": {"email": ADMIN_EMAIL, "password": "guess"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let s = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (st, _) = s.get("/v3/user").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn a_header_behind_large_metadata_is_still_found() {
    // Renders are planned from the first 256 KiB of a file; a JPEG whose frame header comes
    // after 360 KB of APP segments is planned from the whole file instead.
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let img = image::RgbImage::from_pixel(40, 20, image::Rgb([10, 200, 30]));
    let mut plain = Vec::new();
    jpeg_encoder::Encoder::new(&mut plain, 90)
        .encode(img.as_raw(), 40, 20, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    let mut jpeg = plain[..2].to_vec();
    for _ in 0..6 {
        jpeg.extend_from_slice(&[0xff, 0xe2]);
        jpeg.extend_from_slice(&60_002u16.to_be_bytes());
        jpeg.extend_from_slice(&vec![0x20; 60_000]);
    }
    jpeg.extend_from_slice(&plain[2..]);
    assert!(jpeg.len() > 360_000);
    let a = s.upload("meta.jpg", &jpeg).await;
    let url = format!("{}?width=10&format=png", a["url"].as_str().unwrap());
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let out = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((out.width(), out.height()), (10, 5));
}
