//! One start-up for `perma serve` and the tests: build the [`App`], bind the listener,
//! fill the delivery index in the background, serve until shut down (a future, or
//! SIGINT/SIGTERM), then close the database.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::{App, Migrations};
use crate::config::Config;

/// A built perma, bound to its address, not yet serving.
#[derive(Debug)]
pub struct Application {
    app: Arc<App>,
    listener: TcpListener,
}

impl Application {
    /// Binds `config.listen` (port 0: the OS picks one, and the app's URLs carry the real
    /// port) and builds the app on it.
    pub async fn build(mut config: Config, migrations: Migrations) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        config.listen = listener.local_addr().context("reading the bound address")?;
        let app = App::build(config, migrations).await?;
        // Bulk jobs a previous run left unfinished (§5) continue now.
        let resumed =
            crate::assets::resume_bulk_jobs(&app.db, &app.changes, app.config.restore_chunk)
                .await
                .map_err(|e| anyhow::anyhow!("resuming bulk jobs: {e}"))?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed unfinished bulk publish jobs");
        }
        Ok(Application { app, listener })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.app.config.listen
    }

    /// The app, for tests and commands that look inside.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serves until `shutdown` resolves, then lets open requests finish and closes the
    /// database. The delivery index fills in the background meanwhile; requests that come
    /// before it is loaded fill their entries on demand.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Application { app, listener } = self;
        let shutdown = async move {
            shutdown.await;
            notify_service_manager("STOPPING=1");
        };
        preload_in_background(&app);
        record_rendition_use(&app);
        sweep_trash(&app);
        flush_insights(&app);
        crate::events::start(&app);
        tracing::info!(listen = %app.config.listen, public_url = %app.public_url, "perma serving");
        let served = crate::http::serve(app.clone(), listener, shutdown).await;
        // What was counted since the last flush is not lost on a clean stop.
        if let Err(e) = app.insights.flush(&app.db).await {
            tracing::warn!("link insights: the last counts could not be written: {e:#}");
        }
        app.db.close().await;
        served
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        let shutdown = shutdown_signal().context("installing signal handlers")?;
        self.run(shutdown).await.context("serving")
    }
}

fn preload_in_background(app: &Arc<App>) {
    let app = app.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        match app.delivery.preload().await {
            Ok(n) => tracing::info!(
                assets = n,
                ms = started.elapsed().as_millis() as u64,
                "delivery index loaded"
            ),
            Err(e) => tracing::warn!("delivery index preload failed, filling on demand: {e:#}"),
        }
        // Listening since before the preload began, and now at full speed.
        notify_service_manager("READY=1");
    });
}

/// Tells systemd how the service is doing (`Type=notify`, sd_notify(3)): `READY=1` once it
/// listens and the delivery index is loaded, `STOPPING=1` when it starts to shut down. A
/// datagram to `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace); nothing
/// without it.
pub fn notify_service_manager(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|socket| {
        let bytes = target.as_bytes();
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name)?,
            None => SocketAddr::from_pathname(std::path::Path::new(&target))?,
        };
        socket.send_to_addr(state.as_bytes(), &addr)
    });
    if let Err(e) = sent {
        tracing::warn!("telling the service manager {state}: {e}");
    }
}

/// Writes which renditions were served, every few seconds, for the size budget's
/// least-recently-used order (§11); stops with the app.
fn record_rendition_use(app: &Arc<App>) {
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { return };
            app.delivery.renditions.flush_usage().await;
        }
    });
}

/// Adds link insights' counts to the database every `insights_flush_seconds`, or sooner
/// when a shard holds many assets (§17); stops with the app.
fn flush_insights(app: &Arc<App>) {
    let every = std::time::Duration::from_secs(app.config.insights_flush_seconds);
    let wake = app.insights.wake.clone();
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = wake.notified() => {}
            }
            let Some(app) = app.upgrade() else { return };
            let started = std::time::Instant::now();
            match app.insights.flush(&app.db).await {
                Ok(rows) => {
                    tracing::debug!(rows, took = ?started.elapsed(), "link insights flushed")
                }
                Err(e) => tracing::warn!("link insights: counts could not be written: {e:#}"),
            }
        }
    });
}

/// Empties what has been in a trash longer than its stack's retention (§15), reclaims
/// expired resumable uploads (§16), and prunes audit log entries older than
/// `audit_retention_days` (§14), every `trash_sweep_seconds`;
/// stops with the app. Several processes may sweep at once: the
/// same rows end up emptied once.
fn sweep_trash(app: &Arc<App>) {
    let every = std::time::Duration::from_secs(app.config.trash_sweep_seconds);
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { return };
            match crate::assets::trash::sweep(&app.db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "trash: removed what outlived its retention"),
                Err(e) => tracing::warn!("trash sweep failed, trying again later: {e}"),
            }
            match app
                .uploads
                .sweep(&app.db, &app.blobs, crate::time::now_ms())
                .await
            {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(removed = n, "uploads: reclaimed expired resumable uploads")
                }
                Err(e) => tracing::warn!("upload sweep failed, trying again later: {e}"),
            }
            match crate::insights::rollup(
                &app.db,
                crate::time::now_ms(),
                app.config.insights_referrers,
            )
            .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(folded = n, "link insights: hourly rows rolled up"),
                Err(e) => tracing::warn!("link insights roll-up failed, trying again later: {e}"),
            }
            let keep_ms = app.config.audit_retention_days as i64 * 86_400_000;
            match app.db.prune_audit(crate::time::now_ms() - keep_ms).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "audit log: removed entries past retention"),
                Err(e) => tracing::warn!("audit log pruning failed, trying again later: {e}"),
            }
        }
    });
}

/// Resolves on SIGINT or SIGTERM.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    })
}
