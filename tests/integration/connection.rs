//! Delivery at the connection level (§4): keep-alive, pipelining, HEAD framing, slow
//! clients, `Connection: close`, shutdown, and the hand-over from the fast path to the
//! router, spoken over raw TCP so that every byte on the wire is checked.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use perma::delivery::Writer;

use crate::support::{Session, TestApp};

/// One response as read off the wire.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every header but `date`, sorted: what two answers to one request must share.
    fn comparable(&self) -> Vec<(String, String)> {
        let mut h: Vec<_> = self
            .headers
            .iter()
            .filter(|(n, _)| n != "date")
            .cloned()
            .collect();
        h.sort();
        h
    }
}

/// A raw HTTP/1.1 connection.
pub(crate) struct Raw {
    pub(crate) stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub(crate) async fn connect(t: &TestApp) -> Raw {
        let addr = t.base.strip_prefix("http://").unwrap();
        Raw {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub(crate) async fn get(&mut self, path: &str, extra: &str) -> Resp {
        self.request("GET", path, extra).await
    }

    pub(crate) async fn request(&mut self, method: &str, path: &str, extra: &str) -> Resp {
        self.send(format!("{method} {path} HTTP/1.1\r\nhost: test\r\n{extra}\r\n").as_bytes())
            .await;
        self.response(method == "HEAD").await
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 64 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("response within 10 s")
            .unwrap();
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads one response; `head_request`: no body follows whatever the headers say.
    pub(crate) async fn response(&mut self, head_request: bool) -> Resp {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            assert!(self.fill().await > 0, "connection closed before a response");
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status: u16 = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        assert!(
            resp.header("transfer-encoding").is_none(),
            "delivery answers have a length"
        );
        let len: usize = match resp.header("content-length") {
            Some(l) if !head_request && status != 304 => l.parse().unwrap(),
            _ => 0,
        };
        while self.buf.len() < len {
            assert!(self.fill().await > 0, "connection closed inside a body");
        }
        resp.body = self.buf.drain(..len).collect();
        resp
    }

    /// True when the server closes the connection (and sends nothing more).
    async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn path_of(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    rest[rest.find('/').unwrap()..].to_owned()
}

pub(crate) async fn asset(
    s: &Session,
    name: &str,
    body: &[u8],
    slug: &str,
) -> (String, String, String) {
    let a = s.upload(name, body).await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let (st, v) = s.set_permanent(&uid, slug).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    (
        uid,
        path_of(v["asset"]["url"].as_str().unwrap()),
        path_of(v["asset"]["permanent_url"].as_str().unwrap()),
    )
}

fn pattern(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as u8)
        .collect()
}

#[tokio::test]
async fn both_paths_answer_alike() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let body = pattern(3000, 1);
    let (_, version, perm) = asset(&s, "page.html", &body, "page").await;
    let etag = format!("\"{}\"", {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    });
    let cases: [(&str, &str); 6] = [
        (&perm, ""),
        (&perm, "range: bytes=100-199\r\n"),
        (&perm, "range: bytes=-10\r\n"),
        (&version, ""),
        (
            &version,
            "if-modified-since: Fri, 01 Jan 2100 00:00:00 GMT\r\n",
        ),
        (&format!("{perm}?dl=1"), ""),
    ];
    // A connection whose first request the fast path cannot answer belongs to the router
    // from then on: the same requests on it must get the same answers.
    let mut fast = Raw::connect(&t).await;
    let mut routed = Raw::connect(&t).await;
    let first = routed.get("/v3/assets/nostack/noasset/noslug", "").await;
    assert_eq!(first.status, 404);
    let conditional = format!("if-none-match: {etag}\r\n");
    let all = cases
        .iter()
        .copied()
        .chain([(perm.as_str(), conditional.as_str())]);
    for (path, extra) in all {
        let a = fast.get(path, extra).await;
        let b = routed.get(path, extra).await;
        assert_eq!(a.status, b.status, "{path} {extra}");
        assert_eq!(a.comparable(), b.comparable(), "{path} {extra}");
        assert_eq!(a.body, b.body, "{path} {extra}");
        assert!(a.header("date").is_some() && b.header("date").is_some());
    }
    // Spot checks that the shared answers are the right ones.
    let r = fast.get(&perm, "range: bytes=100-199\r\n").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/3000"));
    assert_eq!(r.body, &body[100..200]);
    let r = fast.get(&perm, &conditional).await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(r.header("content-type").is_none() && r.body.is_empty());
    // RFC 9110 §15.4.5: what guides caches, and with an ETag no Last-Modified.
    assert!(r.header("last-modified").is_none());
    assert!(r.header("content-length").is_none());
    for name in [
        "cache-control",
        "vary",
        "surrogate-key",
        "cache-tag",
        "date",
    ] {
        assert!(r.header(name).is_some(), "304 without {name}");
    }
    let r = fast.get(&perm, "").await;
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("sandbox"));
    let r = fast.get(&format!("{perm}?dl=1"), "").await;
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment;"));
}

/// Every kind of answer both writers give, compared byte for byte; the per-writer counters
/// prove which path answered each one.
#[tokio::test]
async fn both_paths_write_the_same_plans() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let counters = &t.app.delivery.counters;
    // Small (from memory on the fast path) and large (sendfile) bodies.
    let small = pattern(3000, 3);
    let large = pattern(300 * 1024, 4);
    let mut targets = Vec::new();
    for (name, body, slug) in [("s.html", &small, "small"), ("l.bin", &large, "large")] {
        let (_, version, perm) = asset(&s, name, body, slug).await;
        let etag = format!("\"{}\"", {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(body))
        });
        // The same permanent URL with its slug percent-encoded letter by letter.
        let encoded: String = perm
            .rsplit_once('/')
            .map(|(base, slug)| {
                let enc: String = slug.bytes().map(|b| format!("%{b:02X}")).collect();
                format!("{base}/{enc}")
            })
            .unwrap();
        targets.push((version, perm, encoded, etag, body.len()));
    }
    let mut fast = Raw::connect(&t).await;
    let mut routed = Raw::connect(&t).await;
    assert_eq!(
        routed
            .get("/v3/assets/nostack/noasset/noslug", "")
            .await
            .status,
        404
    );
    let mut seen = std::collections::BTreeSet::new();
    for (version, perm, encoded, etag, len) in &targets {
        let paths = [
            version.clone(),
            perm.clone(),
            encoded.clone(),
            format!("{perm}?download=true"),
            format!("{version}?dl=1&width=300"),
        ];
        let extras = [
            String::new(),
            "range: bytes=100-199\r\n".into(),
            "range: bytes=-10\r\n".into(),
            format!("range: bytes={len}-\r\n"),
            format!("if-range: {etag}\r\nrange: bytes=5-9\r\n"),
            "if-range: \"stale\"\r\nrange: bytes=5-9\r\n".into(),
            format!("if-none-match: {etag}\r\n"),
            "if-modified-since: Fri, 01 Jan 2100 00:00:00 GMT\r\n".into(),
            "if-match: \"other\"\r\n".into(),
        ];
        for path in &paths {
            for extra in &extras {
                for method in ["GET", "HEAD"] {
                    let before = (counters.get(Writer::Fast), counters.get(Writer::Router));
                    let a = fast.request(method, path, extra).await;
                    let mid = (counters.get(Writer::Fast), counters.get(Writer::Router));
                    let b = routed.request(method, path, extra).await;
                    let after = (counters.get(Writer::Fast), counters.get(Writer::Router));
                    let what = format!("{method} {path} {extra}");
                    assert_eq!(mid, (before.0 + 1, before.1), "fast path answered {what}");
                    assert_eq!(after, (mid.0, mid.1 + 1), "router answered {what}");
                    assert_eq!(a.status, b.status, "{what}");
                    assert_eq!(a.comparable(), b.comparable(), "{what}");
                    assert_eq!(a.body, b.body, "{what}");
                    seen.insert(a.status);
                }
            }
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [200, 206, 304, 412, 416],
        "every kind of answer was compared"
    );
    // Spot checks that the shared answers are the right ones.
    let (_, perm, encoded, etag, len) = &targets[1];
    let r = fast.get(encoded, "").await;
    assert_eq!((r.status, r.body.len()), (200, *len));
    assert_eq!(r.body, large);
    let r = fast.get(perm, &format!("range: bytes={len}-\r\n")).await;
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    let r = fast
        .get(perm, &format!("if-range: {etag}\r\nrange: bytes=5-9\r\n"))
        .await;
    assert_eq!((r.status, r.body.as_slice()), (206, &large[5..10]));
    let r = fast
        .get(perm, "if-range: \"stale\"\r\nrange: bytes=5-9\r\n")
        .await;
    assert_eq!((r.status, r.body.len()), (200, *len));
    let r = fast.request("HEAD", perm, "").await;
    assert_eq!(r.header("content-length"), Some(len.to_string().as_str()));
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let body = pattern(1000, 2);
    let (uid, _, perm) = asset(&s, "a.bin", &body, "a").await;
    let wrong = format!("/v3/assets/{}/{uid}/not-the-slug", s.api_key());
    let mut c = Raw::connect(&t).await;
    // One write: fast, fast (HEAD), router (404), then the router for good.
    c.send(
        format!(
            "GET {perm} HTTP/1.1\r\nhost: t\r\n\r\n\
             HEAD {perm} HTTP/1.1\r\nhost: t\r\n\r\n\
             GET {wrong} HTTP/1.1\r\nhost: t\r\n\r\n\
             GET {perm} HTTP/1.1\r\nhost: t\r\nrange: bytes=0-9\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    let r = c.response(false).await;
    assert_eq!((r.status, r.body.as_slice()), (200, body.as_slice()));
    let r = c.response(true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1000"));
    let r = c.response(false).await;
    assert_eq!(r.status, 404);
    let err: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(err["error_code"], 145, "{err}");
    let r = c.response(false).await;
    assert_eq!((r.status, r.body.as_slice()), (206, &body[..10]));
    // Nothing else was sent.
    assert!(c.buf.is_empty());
}

#[tokio::test]
async fn a_replace_is_visible_on_an_open_connection() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (old, new) = (pattern(500, 3), pattern(700, 4));
    let (uid, version, perm) = asset(&s, "logo.png", &old, "logo").await;
    let mut c = Raw::connect(&t).await;
    // Asked for repeatedly: the worker keeps the entry and the answer's head with it.
    let mut heads = Vec::new();
    for _ in 0..4 {
        let r = c.get(&perm, "").await;
        assert_eq!(r.body, old);
        heads.push(r.comparable());
    }
    assert!(heads.windows(2).all(|w| w[0] == w[1]), "{heads:?}");
    let old_etag = c.get(&perm, "").await.header("etag").map(str::to_owned);
    s.replace(&uid, "logo.png", &new).await;
    let r = c.get(&perm, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, new, "the permanent URL serves the new file at once");
    assert_ne!(r.header("etag").map(str::to_owned), old_etag);
    assert_eq!(r.header("content-length"), Some("700"));
    let r = c.get(&version, "").await;
    assert_eq!(r.body, old, "the old version URL keeps its bytes");
}

#[tokio::test]
async fn large_files_keep_the_connection_usable() {
    // 300 KiB: sent with sendfile on local storage, from memory on S3.
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let body = pattern(300 << 10, 5);
    let (_, version, perm) = asset(&s, "big.bin", &body, "big").await;
    let mut c = Raw::connect(&t).await;
    for _ in 0..2 {
        let r = c.get(&perm, "").await;
        assert_eq!(r.status, 200);
        assert!(r.body == body, "full body");
    }
    let r = c.get(&version, "range: bytes=100000-200000\r\n").await;
    assert_eq!(r.status, 206);
    assert!(r.body == body[100_000..=200_000], "range");
    let r = c.get(&version, "range: bytes=-7\r\n").await;
    assert!(r.body == body[body.len() - 7..], "suffix");
    c.send(format!("HEAD {perm} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes())
        .await;
    let r = c.response(true).await;
    assert_eq!(r.header("content-length"), Some("307200"));
    let r = c.get(&perm, "range: bytes=0-0\r\n").await;
    assert_eq!(r.body, &body[..1], "framing intact after HEAD");
}

#[tokio::test]
async fn slow_heads_big_heads_and_connection_close() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let body = pattern(200, 6);
    let (_, _, perm) = asset(&s, "s.txt", &body, "s").await;

    // A head that arrives in pieces.
    let mut c = Raw::connect(&t).await;
    let head = format!("GET {perm} HTTP/1.1\r\nhost: t\r\n\r\n");
    let (a, b) = head.split_at(10);
    c.send(a.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.send(b.as_bytes()).await;
    assert_eq!(c.response(false).await.body, body);

    // A head larger than the fast path reads is still answered (by the router).
    let pad = "x".repeat(20_000);
    let r = c.get(&perm, &format!("x-pad: {pad}\r\n")).await;
    assert_eq!((r.status, r.body.as_slice()), (200, body.as_slice()));

    // `Connection: close` is honoured on both paths.
    for first in [None, Some("/v3/assets/nostack/noasset/noslug")] {
        let mut c = Raw::connect(&t).await;
        if let Some(p) = first {
            assert_eq!(c.get(p, "").await.status, 404);
        }
        let r = c.get(&perm, "connection: close\r\n").await;
        assert_eq!(r.body, body);
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed().await, "closed after the answer");
    }

    // Garbage is refused with 400 by the router, not dropped silently.
    let mut c = Raw::connect(&t).await;
    c.send(b"GET /v3/assets/a b c HTTP/1.1\r\n\r\n").await;
    assert_eq!(c.response(false).await.status, 400);
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_finishes() {
    let mut t = TestApp::spawn().await;
    let s = t.admin().await;
    let body = pattern(100, 7);
    let (_, _, perm) = asset(&s, "i.txt", &body, "i").await;
    let mut fast = Raw::connect(&t).await;
    assert_eq!(fast.get(&perm, "").await.status, 200);
    let mut routed = Raw::connect(&t).await;
    assert_eq!(routed.get("/v3/nothing-here", "").await.status, 404);
    tokio::time::timeout(Duration::from_secs(10), t.stop())
        .await
        .expect("server stops while keep-alive connections are idle")
        .unwrap();
    assert!(fast.closed().await);
    assert!(routed.closed().await);
}

/// A client that asks for a lot and stops reading is cut off after `send_timeout` on both
/// paths (nginx's `send_timeout`), instead of holding the connection and its buffers.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() {
    let t = TestApp::spawn_with(|c| c.send_timeout = 1).await;
    let s = t.admin().await;
    let body = pattern(8 << 20, 5);
    let (_, _, perm) = asset(&s, "big.bin", &body, "big").await;
    let token = s.authtoken.clone().unwrap();
    for (path, extra) in [
        // Anonymous: the fast path (sendfile).
        (perm.clone(), String::new()),
        // With credentials: the router (a management download, streamed).
        (
            perm.clone(),
            format!("authtoken: {token}\r\napi_key: {}\r\n", s.api_key()),
        ),
    ] {
        let mut c = Raw::connect(&t).await;
        let one = format!("GET {path} HTTP/1.1\r\nhost: t\r\n{extra}\r\n");
        c.send(one.repeat(10).as_bytes()).await;
        // Read nothing for longer than the timeout…
        tokio::time::sleep(Duration::from_secs(3)).await;
        // …then the server has given up: what it had sent drains, then the end.
        let mut got = 0usize;
        let mut chunk = vec![0u8; 1 << 20];
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match c.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got += n,
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "{extra:?}: the connection was still open");
        assert!(
            got < 10 * body.len(),
            "{extra:?}: everything was sent ({got} bytes)"
        );
    }
}

/// A GET with a chunked body and a pipelined GET after it, on a fresh connection (so the
/// fast path hands both to hyper): both are answered, every time.
#[tokio::test]
async fn a_chunked_get_then_a_pipelined_one_are_both_answered() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (_, _, perm) = asset(&s, "a.txt", b"hello", "a").await;
    for i in 0..200 {
        let mut c = Raw::connect(&t).await;
        c.send(
            format!(
                "GET {perm} HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n\
                 3\r\nabc\r\n0\r\n\r\n\
                 GET {perm} HTTP/1.1\r\nhost: t\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        for n in 0..2 {
            let r = tokio::time::timeout(Duration::from_secs(5), c.response(false))
                .await
                .unwrap_or_else(|_| panic!("try {i}: answer {n} never came"));
            assert_eq!((r.status, r.body.as_slice()), (200, b"hello".as_slice()));
        }
    }
    // The same on an API route, which the router answers from the start.
    let auth = format!("authtoken: {}\r\n", s.authtoken.clone().unwrap());
    for i in 0..50 {
        let mut c = Raw::connect(&t).await;
        c.send(
            format!(
                "GET /v3/user HTTP/1.1\r\nhost: t\r\n{auth}transfer-encoding: chunked\r\n\r\n\
                 3\r\nabc\r\n0\r\n\r\n\
                 GET /v3/user HTTP/1.1\r\nhost: t\r\n{auth}\r\n"
            )
            .as_bytes(),
        )
        .await;
        for n in 0..2 {
            let r = tokio::time::timeout(Duration::from_secs(5), c.response(false))
                .await
                .unwrap_or_else(|_| panic!("API try {i}: answer {n} never came"));
            assert_eq!(r.status, 200);
        }
    }
    // A body too large to ignore is refused in words.
    let mut c = Raw::connect(&t).await;
    let big = "x".repeat(100_000);
    c.send(
        format!(
            "GET {perm} HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n{big}",
            big.len()
        )
        .as_bytes(),
    )
    .await;
    let r = c.response(false).await;
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("must not carry a body"));
}
