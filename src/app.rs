//! The running service: configuration plus handles to the database and the blob store.
//! [`App::build`] is used by `perma serve`, by the maintenance commands and by the tests,
//! so all of them run the same start-up (STYLE rule 1).

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;

use crate::blob::BlobStore;
use crate::config::Config;
use crate::db::Db;
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
    pub hot: HotCache,
    /// `Cache-Control` of permanent-URL answers (public, private), computed once (§4).
    pub permanent_cache_control: (Bytes, Bytes),
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
        let blobs = BlobStore::open(config.blob_dir()?)?;
        let public_url = config.public_url();
        let cc = |scope: &str| {
            Bytes::from(format!(
                "{scope}, max-age={}, stale-while-revalidate={}",
                config.permanent_max_age, config.permanent_stale_while_revalidate
            ))
        };
        let permanent_cache_control = (cc("public"), cc("private"));
        Ok(Arc::new(App {
            config,
            db,
            blobs,
            public_url,
            hot: HotCache::default(),
            permanent_cache_control,
        }))
    }
}
