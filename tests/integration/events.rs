//! §13 webhooks: a real receiver on 127.0.0.1 gets every channel, signed; retries,
//! executions, SSRF rules, a slow receiver, and a SIGKILL between change and delivery.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::{Session, TestApp};

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub(crate) fn header(&self, k: &str) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A webhook receiver: records every POST, answers `status` after `delay`.
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start(status: u16, delay: Duration) -> Receiver {
        Self::start_on("127.0.0.1:0".parse().unwrap(), status, delay).await
    }

    pub(crate) async fn start_on(addr: SocketAddr, status: u16, delay: Duration) -> Receiver {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = got.clone();
        let app = axum::Router::new().fallback(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(Got {
                        headers,
                        body: body.to_vec(),
                    });
                    tokio::time::sleep(delay).await;
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        "receiver says hi",
                    )
                }
            },
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, got, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Stops listening, so that another receiver can take the port.
    pub(crate) async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (10 s at most).
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Got> {
        self.wait_for_within(n, Duration::from_secs(10)).await
    }

    pub(crate) async fn wait_for_within(&self, n: usize, within: Duration) -> Vec<Got> {
        let deadline = Instant::now() + within;
        loop {
            let all = self.all();
            if all.len() >= n || Instant::now() > deadline {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// An app whose webhooks may reach 127.0.0.1, with quick retries.
pub(crate) async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        c.webhook_allow_nets = vec!["127.0.0.0/8".into()];
        c.event_retry_ms = 50;
        c.event_timeout = 5;
    })
    .await
}

pub(crate) async fn create_webhook(
    s: &Session,
    url: &str,
    channels: &[&str],
    retry: &str,
) -> Value {
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/webhooks",
            Some(json!({"webhook": {
                "name": "site build",
                "destinations": [{"target_url": url, "custom_header": [{"header_name": "x-site", "value": "docs"}]}],
                "channels": channels,
                "retry_policy": retry,
            }})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["webhook"].clone()
}

pub(crate) async fn executions(s: &Session, uid: &str) -> Vec<Value> {
    let (st, v) = s.get(&format!("/v3/webhooks/{uid}/executions")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["webhooks"].as_array().unwrap().clone()
}

/// Waits until every execution of a webhook has `status` (10 s at most).
pub(crate) async fn settle(s: &Session, uid: &str, n: usize, status: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ex = executions(s, uid).await;
        if ex.len() >= n && ex.iter().all(|e| e["status"] == status) || Instant::now() > deadline {
            return ex;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_channel_fires_with_a_signed_payload() {
    let t = spawn().await;
    let s = t.admin().await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let hook = create_webhook(
        &s,
        &receiver.url(),
        &[
            "assets.create",
            "assets.update",
            "assets.delete",
            "assets.replace",
            "assets.permanent_url.create",
            "assets.environments.*.publish.success",
            "assets.environments.production.unpublish.success",
        ],
        "automatic",
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32);
    let uid = hook["uid"].as_str().unwrap();
    // The secret is shown once.
    let (_, v) = s.get(&format!("/v3/webhooks/{uid}")).await;
    assert!(v["webhook"].get("secret").is_none());
    let (_, v) = s.get("/v3/webhooks").await;
    assert_eq!(v["webhooks"].as_array().unwrap().len(), 1);

    s.environment("production").await;
    let a = s.upload("hero.txt", b"v1").await;
    let asset = a["uid"].as_str().unwrap().to_owned();
    let (st, _) = s.set_permanent(&asset, "hero").await;
    assert_eq!(st, StatusCode::OK);
    s.replace(&asset, "hero.txt", b"v2").await;
    for action in ["publish", "unpublish"] {
        let (st, v) = s
            .call(
                Method::POST,
                &format!("/v3/assets/{asset}/{action}"),
                Some(json!({"asset": {"environments": ["production"], "locales": ["en-us"]}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/assets/{asset}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);

    let want = [
        "assets.create",
        "assets.permanent_url.create",
        "assets.update",
        "assets.replace",
        "assets.environments.production.publish.success",
        "assets.environments.production.unpublish.success",
        "assets.delete",
    ];
    let got = receiver.wait_for(want.len()).await;
    let mut channels: Vec<String> = got
        .iter()
        .map(|g| g.json()["channel"].as_str().unwrap().to_owned())
        .collect();
    channels.sort();
    let mut expected: Vec<String> = want.iter().map(|c| c.to_string()).collect();
    expected.sort();
    assert_eq!(channels, expected);
    let mut ids = std::collections::HashSet::new();
    for g in &got {
        let body = g.json();
        assert_eq!(body["module"], "asset");
        assert_eq!(body["api_key"], s.api_key());
        assert_eq!(body["data"]["asset"]["uid"], asset.as_str());
        assert!(body["triggered_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(g.header("content-type"), "application/json");
        assert_eq!(g.header("x-site"), "docs");
        // The documented recipe: lowercase hex HMAC-SHA256 of the exact body.
        let sig = g.header("x-contentstack-request-signature");
        assert_eq!(sig, hmac_hex(&secret, &g.body));
        let mut tampered = g.body.clone();
        tampered[10] ^= 1;
        assert_ne!(sig, hmac_hex(&secret, &tampered));
        assert!(ids.insert(g.header("x-perma-event-id").to_owned()));
        assert_eq!(body["id"], g.header("x-perma-event-id"));
    }
    let publish = got
        .iter()
        .map(Got::json)
        .find(|b| b["event"] == "publish")
        .unwrap();
    assert_eq!(publish["data"]["environment"]["name"], "production");
    assert_eq!(publish["data"]["locale"], "en-us");
    let replace = got
        .iter()
        .map(Got::json)
        .find(|b| b["event"] == "replace")
        .unwrap();
    assert!(replace["data"]["asset"]["permanent_url"]
        .as_str()
        .unwrap()
        .ends_with("/hero"));
    // Executions list each one with its attempt.
    let ex = settle(&s, uid, want.len(), "success").await;
    assert_eq!(ex.len(), want.len());
    for e in &ex {
        assert_eq!(e["status"], "success", "{e}");
        assert_eq!(e["request_details"][0]["response"]["status"], 200);
        assert_eq!(
            e["request_details"][0]["response"]["body"],
            "receiver says hi"
        );
    }
}

#[tokio::test]
async fn concise_payloads_disabled_webhooks_and_channel_filters() {
    let t = spawn().await;
    let s = t.admin().await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/webhooks",
            Some(json!({"webhook": {
                "name": "concise", "destinations": [{"target_url": receiver.url()}],
                "channels": ["assets.create"], "concise_payload": true,
            }})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let paused = create_webhook(&s, &receiver.url(), &["assets.create"], "automatic").await;
    let paused_uid = paused["uid"].as_str().unwrap();
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/webhooks/{paused_uid}"),
            Some(json!({"webhook": {
                "name": "paused", "destinations": [{"target_url": receiver.url()}],
                "channels": ["assets.create"], "disabled": true,
            }})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["webhook"]["disabled"], true);
    let a = s.upload("c.txt", b"c").await;
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.all().len(),
        1,
        "the disabled webhook stayed silent"
    );
    let body = got[0].json();
    let asset = body["data"]["asset"].as_object().unwrap();
    assert_eq!(asset["uid"], a["uid"]);
    assert!(
        asset.contains_key("url") && !asset.contains_key("title"),
        "{asset:?}"
    );
    // An update is not on the channel list: nothing more arrives.
    s.call(
        Method::PUT,
        &format!("/v3/assets/{}", a["uid"].as_str().unwrap()),
        Some(json!({"asset": {"title": "renamed"}})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.all().len(), 1);
    // Deleting a webhook.
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/webhooks/{paused_uid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s.get(&format!("/v3/webhooks/{paused_uid}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_webhooks_are_refused_and_private_targets_need_an_allow_list() {
    let t = TestApp::spawn().await; // no PERMA_WEBHOOK_ALLOW_NETS
    let s = t.admin().await;
    for (body, field) in [
        (
            json!({"webhook": {"name": "x", "destinations": [{"target_url": "http://127.0.0.1:9/"}], "channels": ["assets.create"]}}),
            "target_url",
        ),
        (
            json!({"webhook": {"name": "x", "destinations": [{"target_url": "http://169.254.169.254/latest"}], "channels": ["assets.create"]}}),
            "target_url",
        ),
        (
            json!({"webhook": {"name": "x", "destinations": [{"target_url": "http://10.0.0.8/"}], "channels": ["assets.create"]}}),
            "target_url",
        ),
        (
            json!({"webhook": {"name": "x", "destinations": [{"target_url": "http://localhost:8080/"}], "channels": ["assets.create"]}}),
            "target_url",
        ),
        (
            json!({"webhook": {"name": "x", "destinations": [{"target_url": "not a url"}], "channels": ["assets.create"]}}),
            "target_url",
        ),
        (
            json!({"webhook": {"name": "x", "destinations": [{"target_url": "https://hooks.example.com/"}], "channels": ["entries.create"]}}),
            "channels",
        ),
        (
            json!({"webhook": {"name": "x", "destinations": [], "channels": ["assets.create"]}}),
            "destinations",
        ),
        (
            json!({"webhook": {"name": "", "destinations": [{"target_url": "https://hooks.example.com/"}], "channels": ["assets.create"]}}),
            "name",
        ),
        (
            json!({"webhook": {"name": "x", "destinations": [{"target_url": "https://hooks.example.com/"}], "channels": ["assets.create"], "retry_policy": "sometimes"}}),
            "retry_policy",
        ),
    ] {
        let (st, v) = s
            .call(Method::POST, "/v3/webhooks", Some(body.clone()))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert!(v["errors"].get(field).is_some(), "{body}: {v}");
    }
    let (_, v) = s.get("/v3/webhooks").await;
    assert_eq!(v["webhooks"], json!([]), "nothing was stored");
    // A public host name is accepted (it is resolved, and checked again, at each send).
    create_webhook(
        &s,
        "https://hooks.example.com/perma",
        &["assets.create"],
        "manual",
    )
    .await;
    // A read-only token cannot manage webhooks.
    let ro = s.read_only().await;
    let (st, _) = ro
        .call(
            Method::POST,
            "/v3/webhooks",
            Some(json!({"webhook": {"name": "x", "destinations": [{"target_url": "https://hooks.example.com/"}], "channels": ["assets.create"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_retries_then_the_event() {
    let t = spawn().await;
    let s = t.admin().await;
    // A port with nothing listening (yet).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{port}/hook");
    let auto = create_webhook(&s, &url, &["assets.create"], "automatic").await;
    let manual = create_webhook(&s, &url, &["assets.create"], "manual").await;
    s.upload("r.txt", b"r").await;
    // The automatic one keeps trying with growing delays; the manual one fails once.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ex = executions(&s, auto["uid"].as_str().unwrap()).await;
        if ex
            .first()
            .is_some_and(|e| e["attempts"].as_i64().unwrap() >= 3)
        {
            assert_eq!(ex[0]["status"], "retrying");
            assert!(ex[0]["request_details"][0]["response"]["status"].is_null());
            assert!(!ex[0]["request_details"][0]["response"]["body"]
                .as_str()
                .unwrap()
                .is_empty());
            break;
        }
        assert!(Instant::now() < deadline, "no retries: {ex:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ex = settle(&s, manual["uid"].as_str().unwrap(), 1, "failed").await;
    assert_eq!(ex[0]["status"], "failed");
    assert_eq!(ex[0]["attempts"], 1);
    // The receiver comes up: the automatic retry delivers; the manual one on request.
    let receiver = Receiver::start_on(port, 200, Duration::ZERO).await;
    let ex = settle(&s, auto["uid"].as_str().unwrap(), 1, "success").await;
    let attempts = ex[0]["request_details"].as_array().unwrap();
    assert!(attempts.len() >= 3, "{attempts:?}");
    assert_eq!(attempts.last().unwrap()["response"]["status"], 200);
    let manual_uid = manual["uid"].as_str().unwrap();
    let (st, v) = s
        .call(
            Method::POST,
            &format!("/v3/webhooks/{manual_uid}/retry"),
            Some(json!({"execution_uid": ex[0]["uid"]})),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another webhook's execution: {v}"
    );
    let execution = executions(&s, manual_uid).await[0]["uid"].clone();
    let (st, v) = s
        .call(
            Method::POST,
            &format!("/v3/webhooks/{manual_uid}/retry"),
            Some(json!({"execution_uid": execution})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ex = settle(&s, manual_uid, 1, "success").await;
    assert_eq!(ex[0]["attempts"], 2);
    assert_eq!(receiver.wait_for(2).await.len(), 2);
}

#[tokio::test]
async fn a_slow_receiver_does_not_slow_uploads() {
    async fn upload_ms(s: &Session, n: usize) -> f64 {
        let mut times = Vec::new();
        for i in 0..n {
            let started = Instant::now();
            s.upload(&format!("u{i}.txt"), b"x").await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        times[n / 2]
    }
    let t = TestApp::spawn_with(|c| {
        c.webhook_allow_nets = vec!["127.0.0.0/8".into()];
        c.event_timeout = 60;
    })
    .await;
    let s = t.admin().await;
    let without = upload_ms(&s, 20).await;
    // A receiver that takes 30 s to answer each request.
    let receiver = Receiver::start(200, Duration::from_secs(30)).await;
    create_webhook(&s, &receiver.url(), &["assets.create"], "automatic").await;
    let with = upload_ms(&s, 20).await;
    println!("median upload: {without:.1} ms without a webhook, {with:.1} ms with a 30 s receiver");
    assert!(
        !receiver.wait_for(1).await.is_empty(),
        "the receiver was called"
    );
    assert!(
        with < without * 3.0 + 20.0,
        "uploads slowed from {without:.1} ms to {with:.1} ms"
    );
}
