//! The senders: webhooks (signed, to a receiver whose addresses are checked and pinned
//! for each delivery) and CDN purges (one client shared by every purge).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::app::App;
use crate::db::events::EventJob;
use crate::webhooks::ip_allowed;

/// The clients that outlive one job.
#[derive(Debug)]
pub(super) struct Senders {
    /// Purges go to the operator's own caches (`PERMA_PURGE`), no address check needed.
    purge: reqwest::Client,
}

impl Senders {
    /// Clients whose requests give up after `timeout`.
    pub(super) fn new(timeout: Duration) -> Self {
        let purge = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_else(|e| {
                tracing::error!("building the purge client failed, using defaults: {e}");
                reqwest::Client::new()
            });
        Senders { purge }
    }
}

/// `X-Contentstack-Request-Signature`: lowercase hex HMAC-SHA256 of the exact body.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A client for one receiver URL whose host name resolves only to allowed addresses,
/// pinned to them (so a DNS answer cannot change between the check and the connection).
async fn pinned_client(app: &App, url: &reqwest::Url) -> Result<reqwest::Client, String> {
    let host = url.host_str().ok_or("no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("no port")?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("resolving {host}: {e}"))?
            .collect(),
    };
    if addrs.is_empty()
        || addrs
            .iter()
            .any(|a| !ip_allowed(a.ip(), &app.webhook_allow))
    {
        return Err(format!(
            "{host} resolves to a loopback, link-local or private address (PERMA_WEBHOOK_ALLOW_NETS)"
        ));
    }
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(app.config.event_timeout))
        .redirect(reqwest::redirect::Policy::none());
    if bare.parse::<IpAddr>().is_err() {
        b = b.resolve_to_addrs(bare, &addrs);
    }
    b.build().map_err(|e| e.to_string())
}

pub(super) async fn send_webhook(app: &App, job: &EventJob) -> Result<(u16, String), String> {
    let webhook = app
        .db
        .webhook(&job.api_key, job.webhook_uid.as_deref().unwrap_or(""))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the webhook was deleted")?;
    let destination = webhook
        .destinations
        .iter()
        .find(|d| d.target_url == job.target)
        .cloned()
        .unwrap_or_else(|| crate::db::events::Destination {
            target_url: job.target.clone(),
            ..Default::default()
        });
    let url = reqwest::Url::parse(&job.target).map_err(|e| e.to_string())?;
    let client = pinned_client(app, &url).await?;
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "perma-webhooks")
        .header(
            "x-contentstack-request-signature",
            signature(&webhook.secret, job.body.as_bytes()),
        )
        .header("x-perma-event-id", &job.uid)
        .body(job.body.clone());
    if let Some(user) = &destination.http_basic_auth {
        req = req.basic_auth(user, destination.http_basic_password.as_ref());
    }
    for h in &destination.custom_header {
        req = req.header(h.header_name.as_str(), h.value.as_str());
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    Ok((status, text))
}

/// A purge job: `http-purge:URL` sends `PURGE URL{path}` for each path (a 404 means it was
/// not cached: done); `surrogate-key:URL` sends one `POST URL` with `Surrogate-Key`.
pub(super) async fn send_purge(senders: &Senders, job: &EventJob) -> Result<(u16, String), String> {
    let what: Value = serde_json::from_str(&job.body).map_err(|e| e.to_string())?;
    let client = &senders.purge;
    let strings = |k: &str| -> Vec<String> {
        what[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(base) = job.target.strip_prefix("http-purge:") {
        let method = reqwest::Method::from_bytes(b"PURGE").expect("a token");
        let mut summary = Vec::new();
        for path in strings("paths") {
            let resp = client
                .request(
                    method.clone(),
                    format!("{}{path}", base.trim_end_matches('/')),
                )
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) && status != 404 {
                return Ok((status, format!("PURGE {path}: {status}")));
            }
            summary.push(format!("PURGE {path}: {status}"));
        }
        return Ok((200, summary.join("\n")));
    }
    let url = job
        .target
        .strip_prefix("surrogate-key:")
        .unwrap_or(&job.target);
    let keys = strings("keys");
    let resp = client
        .post(url)
        .header("surrogate-key", keys.join(" "))
        .json(&json!({ "keys": keys }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.unwrap_or_default()))
}
