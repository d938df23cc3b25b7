//! The running service: configuration plus handles to the database and the blob store.
//! [`App::build`] is used by `perma serve`, by the maintenance commands and by the tests,
//! so all of them run the same start-up (STYLE rule 1).

use std::sync::Arc;

use anyhow::Context;

use crate::blob::BlobStore;
use crate::config::Config;
use crate::db::{Backend, Db};
use crate::delivery::HotCache;

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
    /// In-memory delivery index and small-file cache.
    pub hot: Arc<HotCache>,
    /// `Cache-Control` of permanent-URL answers (public, private), computed once (§4).
    pub permanent_cache_control: (String, String),
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
    /// Opens storage, applies migrations, and creates the default organization (and the
    /// admin user when `PERMA_ADMIN_EMAIL`/`PERMA_ADMIN_PASSWORD` are set) on first start.
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
        crate::identity::bootstrap(&db, admin).await?;
        let blobs = config.open_blobs()?;
        let public_url = config.public_url();
        let cc = |scope: &str| {
            format!(
                "{scope}, max-age={}, stale-while-revalidate={}",
                config.permanent_max_age, config.permanent_stale_while_revalidate
            )
        };
        let permanent_cache_control = (cc("public"), cc("private"));
        let app = Arc::new(App {
            config,
            db,
            blobs,
            public_url,
            hot: Arc::new(HotCache::default()),
            permanent_cache_control,
        });
        if app.db.backend() == Backend::Postgres {
            // Other processes share this database: drop what they change from our cache.
            let hot = Arc::downgrade(&app.hot);
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
        Ok(app)
    }

    /// Records that an asset (`None`: anything in a stack's settings) changed: drops it
    /// from this process's delivery cache and tells the other processes (§4: a replace is
    /// visible at once, on every process). Called after the change has committed.
    pub async fn changed(&self, asset_uid: Option<&str>) {
        match asset_uid {
            Some(u) => self.hot.invalidate(u),
            None => self.hot.clear(),
        }
        if let Err(e) = self.db.notify_changed(asset_uid).await {
            tracing::error!("could not notify other processes of a change: {e:#}");
        }
    }
}
