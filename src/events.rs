//! Sending what happened out (§13): outbox rows become jobs (one per matching webhook
//! destination, one per purge target), and jobs are sent, at least once, with retries.
//! The HTTP clients are this module's own (`send.rs`): one shared client for purges, and
//! for each webhook delivery a client pinned to the receiver's checked addresses.
//!
//! It runs beside the server (started by `startup`), polls the outbox and the due jobs
//! every few hundred milliseconds and is woken at once by local changes. Fan-out deletes
//! the outbox row in the transaction that inserts its jobs, so each event becomes jobs
//! once whatever the number of processes; a sender leases a job before sending it, and a
//! lease that runs out (a process killed mid-send) makes the job due again: a receiver may
//! see a delivery twice, with the same `X-Perma-Event-Id`, never zero times. Sends run in
//! their own tasks (at most 16 at once), so a slow or dead receiver never slows the API.

mod send;

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Semaphore;

use crate::app::App;
use crate::db::events::{Attempt, EventJob, OutboxEvent, Webhook};
use crate::time::{iso8601, now_ms};
use crate::webhooks::channels::{self, Fired};
use crate::wire::Render;
use send::{send_purge, send_webhook, Senders};

pub use send::signature;

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
    let senders = Arc::new(Senders::new(Duration::from_secs(app.config.event_timeout)));
    tokio::spawn(async move {
        let mut pruned_at = Instant::now();
        loop {
            let Some(app) = weak.upgrade() else { return };
            if let Err(e) = fan_out(&app).await {
                tracing::warn!("event fan-out failed: {e:#}");
            }
            if let Err(e) = send_due(&app, &weak, &permits, &senders).await {
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
    let target = environment.as_ref().map(|env| channels::Target {
        uid: &env.uid,
        name: &env.name,
    });
    let fired: Vec<Fired> = if asset.is_dir {
        channels::folder_fired(&e.action, &asset.uid)
    } else {
        channels::fired(&e.action, &asset.uid, target)
    };
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
            for f in &fired {
                if !f.wanted_by(&w.channels) {
                    continue;
                }
                let channel = &f.channel;
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
                        "module": if asset.is_dir { "folder" } else { "asset" },
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
        "update" | "restore" | "replace" | "delete" | "publish" | "unpublish" | "restored"
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
            // Renditions of other assets that draw this one as their overlay.
            paths.extend(app.delivery.renditions.overlay_uses(&asset.uid));
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
                let names: Vec<&str> = fired.iter().map(|f| f.channel.as_str()).collect();
                let mut job = new_job("purge", None, &names.join(","), target);
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
    senders: &Arc<Senders>,
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
        let (weak, senders) = (weak.clone(), senders.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let Some(app) = weak.upgrade() else { return };
            if let Err(e) = attempt(&app, &senders, job).await {
                tracing::warn!("event job failed: {e:#}");
            }
        });
    }
    Ok(())
}

/// One attempt at a job, recorded.
async fn attempt(app: &Arc<App>, senders: &Senders, mut job: EventJob) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let result = match job.kind.as_str() {
        "webhook" => send_webhook(app, &job).await,
        _ => send_purge(senders, &job).await,
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
