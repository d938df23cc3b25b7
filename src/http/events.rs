//! The event dispatcher (§13): outbox rows become jobs (one per matching webhook
//! destination, one per purge target), and jobs are sent, at least once, with retries.
//!
//! It runs beside the server (started by `startup`), polls the outbox and the due jobs
//! every few hundred milliseconds and is woken at once by local changes. Fan-out deletes
//! the outbox row in the transaction that inserts its jobs, so each event becomes jobs
//! once whatever the number of processes; a sender leases a job before sending it, and a
//! lease that runs out (a process killed mid-send) makes the job due again: a receiver may
//! see a delivery twice, with the same `X-Perma-Event-Id`, never zero times. Sends run in
//! their own tasks (at most 16 at once), so a slow or dead receiver never slows the API.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::render::Render;
use crate::app::App;
use crate::db::events::{Attempt, EventJob, OutboxEvent, Webhook};
use crate::time::{iso8601, now_ms};
use crate::webhooks::{channel_matches, ip_allowed};

/// Sends in flight at once.
const IN_FLIGHT: usize = 16;
/// Attempts before a job with `automatic` retries is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// How often the outbox and due jobs are read when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(250);
/// How often finished jobs past `PERMA_EVENT_RETENTION_DAYS` are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Jobs deleted by one statement (a short write transaction each).
const PRUNE_BATCH: i64 = 1000;
/// Bytes of a receiver's answer kept in an execution.
const EXCERPT: usize = 1024;

/// Starts the dispatcher; it stops when the app is dropped.
pub fn start(app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    let wake = app.delivery.events_wake.clone();
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    tokio::spawn(async move {
        let mut pruned_at = Instant::now();
        loop {
            let Some(app) = weak.upgrade() else { return };
            if let Err(e) = fan_out(&app).await {
                tracing::warn!("event fan-out failed: {e:#}");
            }
            if let Err(e) = send_due(&app, &weak, &permits).await {
                tracing::warn!("sending events failed: {e:#}");
            }
            let retention = app.config.event_retention;
            if pruned_at.elapsed() >= (retention / 2).min(PRUNE_EVERY) {
                pruned_at = Instant::now();
                if let Err(e) = prune(&app, retention).await {
                    tracing::warn!("pruning finished events failed: {e:#}");
                }
            }
            drop(app);
            let _ = tokio::time::timeout(POLL, wake.notified()).await;
        }
    });
}

/// Deletes finished jobs older than the retention, a batch at a time, so that executions
/// do not grow without bound (pending and retrying jobs are never deleted).
async fn prune(app: &App, retention: Duration) -> anyhow::Result<()> {
    let before = now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut total = 0;
    loop {
        let n = app.db.prune_jobs(before, PRUNE_BATCH).await?;
        total += n;
        if n < PRUNE_BATCH as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    if total > 0 {
        tracing::info!(jobs = total, "deleted finished events past their retention");
    }
    Ok(())
}

/// The channels an outbox event fires.
fn channels(e: &OutboxEvent, environment: Option<&str>) -> Vec<String> {
    let env = environment.unwrap_or("");
    match e.action.as_str() {
        "create" => vec!["assets.create".into()],
        "update" | "restore" => vec!["assets.update".into()],
        "replace" => vec!["assets.update".into(), "assets.replace".into()],
        "permanent_url" => vec!["assets.permanent_url.create".into()],
        "delete" => vec!["assets.delete".into()],
        "publish" => vec![format!("assets.environments.{env}.publish.success")],
        "unpublish" => vec![format!("assets.environments.{env}.unpublish.success")],
        _ => Vec::new(),
    }
}

async fn fan_out(app: &Arc<App>) -> anyhow::Result<()> {
    for e in app.db.pending_events(100).await? {
        let jobs = jobs_for(app, &e).await?;
        app.db.fan_out(e.seq, &jobs).await?;
    }
    Ok(())
}

/// The jobs one event makes.
async fn jobs_for(app: &Arc<App>, e: &OutboxEvent) -> anyhow::Result<Vec<EventJob>> {
    let Some(asset) = app.db.asset(&e.api_key, &e.asset_uid).await? else {
        return Ok(Vec::new());
    };
    let environment = match &e.environment_uid {
        Some(uid) => app
            .db
            .environments(&e.api_key)
            .await?
            .into_iter()
            .find(|env| &env.uid == uid),
        None => None,
    };
    let env_name = environment.as_ref().map(|env| env.name.as_str());
    let channels = channels(e, env_name);
    let now = now_ms();
    let new_job = |kind: &str, webhook: Option<&Webhook>, channel: &str, target: &str| EventJob {
        uid: crate::ids::new_uid(),
        api_key: e.api_key.clone(),
        kind: kind.into(),
        webhook_uid: webhook.map(|w| w.uid.clone()),
        channel: channel.into(),
        target: target.into(),
        body: String::new(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: now,
        log: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    let mut jobs = Vec::new();
    let webhooks = app.db.webhooks(&e.api_key).await?;
    if webhooks.iter().any(|w| !w.disabled) {
        let publications = app.db.asset_publications(&asset.uid).await?;
        let full = asset.json(&app.public_url, &publications, Render::default());
        for w in webhooks.iter().filter(|w| !w.disabled) {
            for channel in &channels {
                if !w.channels.iter().any(|p| channel_matches(p, channel)) {
                    continue;
                }
                for d in &w.destinations {
                    let mut job = new_job("webhook", Some(w), channel, &d.target_url);
                    let asset_json = if w.concise_payload {
                        json!({
                            "uid": full["uid"],
                            "url": full["url"],
                            "permanent_url": full["permanent_url"],
                            "_version": e.version,
                        })
                    } else {
                        full.clone()
                    };
                    let mut data = json!({ "asset": asset_json });
                    if let Some(env) = &environment {
                        data["environment"] = json!({ "uid": env.uid, "name": env.name });
                        data["locale"] = json!(e.locale);
                    }
                    job.body = json!({
                        "id": job.uid,
                        "event": e.action,
                        "channel": channel,
                        "module": "asset",
                        "api_key": e.api_key,
                        "triggered_at": iso8601(e.at),
                        "data": data,
                    })
                    .to_string();
                    jobs.push(job);
                }
            }
        }
    }
    // CDN purge (§13): what changed behind the permanent URL. Creating an asset or its
    // permanent URL changes nothing a cache can hold; version URLs are never purged.
    let purges = matches!(
        e.action.as_str(),
        "update" | "restore" | "replace" | "delete" | "publish" | "unpublish"
    );
    if purges && !app.config.purge.is_empty() {
        if let Some(slug) = &asset.permanent_slug {
            let base = crate::records::permanent_path(&e.api_key, &asset.uid, slug);
            let mut paths = vec![base.clone()];
            // Renditions of the permanent URL this process has served (§11): their query
            // strings, as clients spelled them, are the cache's keys.
            for q in app.delivery.renditions.permanent_queries(&asset.uid) {
                paths.push(format!("{base}?{q}"));
            }
            if let Some(env) = env_name {
                let env = form_urlencoded::byte_serialize(env.as_bytes()).collect::<String>();
                paths.push(format!("{base}?environment={env}"));
                if let Some(locale) = &e.locale {
                    paths.push(format!("{base}?environment={env}&locale={locale}"));
                }
            }
            let what = json!({
                "paths": paths,
                "keys": [format!("asset-{}", asset.uid)],
            })
            .to_string();
            for target in &app.config.purge {
                let mut job = new_job("purge", None, &channels.join(","), target);
                job.body = what.clone();
                jobs.push(job);
            }
        }
    }
    Ok(jobs)
}

async fn send_due(
    app: &Arc<App>,
    weak: &Weak<App>,
    permits: &Arc<Semaphore>,
) -> anyhow::Result<()> {
    let now = now_ms();
    let lease = app.config.event_timeout as i64 * 1000 * 2 + 5_000;
    for job in app.db.due_jobs(now, IN_FLIGHT as i64).await? {
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            break;
        };
        if !app.db.lease_job(&job.uid, now, now + lease).await? {
            continue;
        }
        let weak = weak.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let Some(app) = weak.upgrade() else { return };
            if let Err(e) = attempt(&app, job).await {
                tracing::warn!("event job failed: {e:#}");
            }
        });
    }
    Ok(())
}

/// One attempt at a job, recorded.
async fn attempt(app: &Arc<App>, mut job: EventJob) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let result = match job.kind.as_str() {
        "webhook" => send_webhook(app, &job).await,
        _ => send_purge(app, &job).await,
    };
    let now = now_ms();
    let (status, response, ok) = match result {
        Ok((status, text)) => (Some(status), text, (200..300).contains(&status)),
        Err(why) => (None, why, false),
    };
    job.attempts += 1;
    job.log.push(Attempt {
        at: now,
        status,
        response: excerpt(&response),
        duration_ms: started.elapsed().as_millis() as u64,
    });
    let automatic = match &job.webhook_uid {
        Some(uid) => app
            .db
            .webhook(&job.api_key, uid)
            .await?
            .is_none_or(|w| w.retry_policy == "automatic"),
        None => true,
    };
    if ok {
        job.status = "success".into();
    } else if automatic && job.attempts < MAX_ATTEMPTS {
        job.status = "retrying".into();
        job.next_attempt_at = now + backoff(app.config.event_retry_ms, job.attempts);
    } else {
        job.status = "failed".into();
    }
    job.updated_at = now;
    app.db.finish_attempt(&job).await?;
    Ok(())
}

/// Exponential back-off with jitter: `base × 2^(attempts−1)`, ±50 %.
fn backoff(base_ms: u64, attempts: i64) -> i64 {
    let exp = base_ms.saturating_mul(1 << (attempts - 1).clamp(0, 16)) as f64;
    let jitter = 0.5 + rand::random::<f64>();
    (exp * jitter) as i64
}

fn excerpt(s: &str) -> String {
    let mut end = s.len().min(EXCERPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
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

async fn send_webhook(app: &Arc<App>, job: &EventJob) -> Result<(u16, String), String> {
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
async fn send_purge(app: &Arc<App>, job: &EventJob) -> Result<(u16, String), String> {
    let what: Value = serde_json::from_str(&job.body).map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(app.config.event_timeout))
        .build()
        .map_err(|e| e.to_string())?;
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
