//! The running service's parts, wired together: configuration, database, blob store,
//! delivery (with its index) and the change notifier. [`App::build`] is used by
//! `perma serve` (through [`crate::startup::Application`]), by the maintenance commands and
//! by the tests, so all of them run the same start-up (STYLE rule 1). Domain functions take
//! the parts they use, never the whole `App`.

use std::sync::Arc;

use anyhow::Context;

use crate::blob::BlobStore;
use crate::config::Config;
use crate::db::{Backend, Db};
use crate::delivery::render_limits::RenderLimits;
use crate::delivery::renditions::Renditions;
use crate::delivery::{CacheControl, Changes, Delivery};
use crate::metrics::{AccessLog, Metrics};
use crate::throttle::{LoginThrottle, RateLimiter};

/// Everything a request handler or command needs. Shared as `Arc<App>`.
#[derive(Debug)]
pub struct App {
    /// Effective configuration.
    pub config: Config,
    /// Metadata database.
    pub db: Db,
    /// Blob store.
    pub blobs: BlobStore,
    /// `config.public_url()` computed once.
    pub public_url: String,
    /// Delivery: the in-memory index and what it reads (§4).
    pub delivery: Delivery,
    /// Tells delivery (and other processes) that assets changed.
    pub changes: Changes,
    /// Failed logins per e-mail and client address.
    pub login_throttle: LoginThrottle,
    /// The management API limit per credential (`PERMA_RATE_LIMIT`), when set.
    pub rate_limit: Option<RateLimiter>,
    /// Request counters and histograms for `GET /metrics`.
    pub metrics: Metrics,
    /// Networks (besides loopback) that may read `GET /metrics`.
    pub metrics_from: Vec<crate::ids::Network>,
    /// The access log, when on.
    pub access_log: Option<AccessLog>,
    /// Proxies whose `X-Forwarded-For` is believed (`PERMA_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<crate::ids::Network>,
    /// Private networks webhook receivers may be in (`PERMA_WEBHOOK_ALLOW_NETS`, §13).
    pub webhook_allow: Vec<crate::ids::Network>,
    /// Single sign-on through OpenID Connect (`PERMA_OIDC_*`, §14), when configured.
    pub sign_on: Option<crate::identity::sso::SignOn>,
    /// Link insights (§17): delivery answers counted per thread, until flushed.
    pub insights: crate::insights::Tally,
    /// Resumable uploads (§16): their limits, and which are being written here.
    pub uploads: crate::uploads::Uploads,
}

/// How [`App::build`] treats the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply pending migrations (what `serve` does).
    Apply,
    /// Leave the schema alone.
    Skip,
}

impl App {
    /// How long a request head may take to arrive (`head_timeout`), on both delivery
    /// paths.
    pub fn head_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.head_timeout.max(1))
    }

    /// How long a client may take no bytes of an answer (`send_timeout`).
    pub fn send_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.send_timeout.max(1))
    }

    /// Opens storage, applies migrations, and creates the default organization (and the
    /// admin user when `PERMA_ADMIN_EMAIL`/`PERMA_ADMIN_PASSWORD` are set) on first start.
    /// On PostgreSQL it also listens for changes made by other processes.
    pub async fn build(config: Config, migrations: Migrations) -> anyhow::Result<Arc<App>> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let db = Db::connect(&config.database_url()).await?;
        if migrations == Migrations::Apply {
            db.migrate().await.context("applying migrations")?;
        }
        let admin = match (&config.admin_email, &config.admin_password) {
            (Some(e), Some(p)) => Some((e.as_str(), p.as_str())),
            _ => None,
        };
        crate::identity::bootstrap(&db, admin)
            .await
            .context("creating the default organization and admin user")?;
        let blobs = config.open_blobs()?;
        let public_url = config.public_url();
        let memory = config.memory_plan()?;
        let delivery = Delivery::new(
            db.clone(),
            blobs.clone(),
            CacheControl::new(
                config.permanent_max_age,
                config.permanent_stale_while_revalidate,
            ),
            memory,
            Renditions::new(
                db.clone(),
                blobs.clone(),
                config.rendition_budget_bytes,
                RenderLimits::new(
                    config.render_concurrency,
                    config.render_memory_bytes,
                    std::time::Duration::from_secs(config.render_timeout),
                    config.renditions_per_source,
                    config.render_misses_per_minute,
                ),
            ),
        );
        let changes = delivery.changes();
        let trusted_proxies = config
            .trusted_proxies
            .iter()
            .filter_map(|n| crate::ids::Network::parse(n))
            .collect();
        let access_log = match config.access_log.as_str() {
            "" | "off" => None,
            "stdout" => Some(AccessLog::start(Box::new(std::io::stdout()))?),
            path => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the access log {path}"))?;
                Some(AccessLog::start(Box::new(file))?)
            }
        };
        let metrics_from = config
            .metrics_from
            .iter()
            .filter_map(|n| crate::ids::Network::parse(n))
            .collect();
        let metrics = Metrics::new(config.metrics);
        let rate_limit = (config.rate_limit > 0)
            .then(|| RateLimiter::new(u32::try_from(config.rate_limit).unwrap_or(u32::MAX)));
        let webhook_allow = config_nets(&config.webhook_allow_nets);
        let sign_on = crate::identity::sso::SignOn::from_config(&config, &public_url)?;
        let upload_limits = crate::uploads::Limits {
            max_bytes: config.max_resumable_bytes,
            expiry_ms: i64::try_from(config.upload_expiry.saturating_mul(1000)).unwrap_or(i64::MAX),
            max_open: config.max_open_uploads,
            max_in_flight: config.max_upload_bytes_in_flight,
        };
        let app = Arc::new(App {
            config,
            db,
            blobs,
            public_url,
            delivery,
            changes,
            login_throttle: LoginThrottle::default(),
            rate_limit,
            metrics,
            metrics_from,
            access_log,
            trusted_proxies,
            webhook_allow,
            sign_on,
            insights: crate::insights::Tally::default(),
            uploads: crate::uploads::Uploads::new(upload_limits),
        });
        if app.db.backend() == Backend::Postgres {
            listen_for_other_processes(&app);
        }
        Ok(app)
    }
}

fn config_nets(nets: &[String]) -> Vec<crate::ids::Network> {
    nets.iter()
        .filter_map(|n| crate::ids::Network::parse(n))
        .collect()
}

/// Other processes share a PostgreSQL database: drop what they change from our index.
fn listen_for_other_processes(app: &Arc<App>) {
    let hot = Arc::downgrade(&app.delivery.hot);
    let url = app.config.database_url();
    tokio::spawn(async move {
        let alive = || hot.strong_count() > 0;
        let hot2 = hot.clone();
        let on_change = move |uid: Option<&str>| {
            if let Some(h) = hot2.upgrade() {
                match uid {
                    Some(u) => h.invalidate(u),
                    None => h.clear(),
                }
            }
        };
        if let Err(e) = crate::db::listen_changes(&url, on_change, alive).await {
            tracing::error!("change listener stopped: {e:#}");
        }
    });
}
