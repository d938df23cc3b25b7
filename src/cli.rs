//! The command line (§8): `serve`; admin and maintenance commands that work on the
//! database directly (`admin`); client commands that talk HTTP to a running perma
//! (`remote`).

mod admin;
mod remote;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use admin::{ImportCmd, InsightsCmd, StackCmd, TokenCmd, UserCmd};
use remote::Remote;

use crate::app::Migrations;
use crate::config::Config;
use crate::startup::Application;

/// perma — self-hosted assets with permanent URLs.
#[derive(Debug, Parser)]
#[command(name = "perma", version = crate::build_info::VERSION_LINE, about)]
pub struct Cli {
    /// Configuration file (default: ./perma.toml when present).
    #[arg(long, global = true, env = "PERMA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `perma config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Read the configuration as `perma serve` would; exit 1 on anything wrong.
    Check,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (API, delivery and UI).
    Serve {
        /// Do not apply pending migrations at start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Ask a running perma's `/healthz` (exit 0 when it answers ok, else 1): the
    /// container image's HEALTHCHECK, with no curl in the image.
    Health {
        /// Base URL (default: `http://{PERMA_LISTEN}`, with 0.0.0.0 or :: as loopback).
        #[arg(long)]
        url: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Check the configuration (`perma.toml` and `PERMA_*`): refuse unknown `PERMA_*`
    /// names and bad values, and print the effective settings with secrets masked.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Copy this installation (database rows and blobs) into another database and blob
    /// directory, e.g. from the embedded SQLite to PostgreSQL. The source is read, never changed.
    Copy {
        /// Target database URL (`postgres://…` or `sqlite://…`); must be empty.
        #[arg(long)]
        to_database: String,
        /// Target blob storage (`file:///path`); default: the same blob directory.
        #[arg(long)]
        to_storage: Option<String>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage stacks.
    #[command(subcommand)]
    Stack(StackCmd),
    /// Manage tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Bring in a stack from another service, keeping uids and URLs (exit 1 if anything
    /// was left out).
    #[command(subcommand)]
    Import(ImportCmd),
    /// Link insights (§17): export a stack's counted delivery answers.
    #[command(subcommand)]
    Insights(InsightsCmd),
    /// Check that every file row has its blob (exit 1 if not).
    Fsck {
        /// Also rehash every blob.
        #[arg(long)]
        verify: bool,
    },
    /// Remove unreferenced blobs and leftover temporary files.
    Gc {
        /// Only remove what is at least this many seconds old.
        #[arg(long, default_value_t = 3600)]
        min_age: u64,
    },
    /// Upload files as new assets. Files of 8 MiB and more go as resumable uploads (§16):
    /// a broken connection is resumed where the server stopped, and running the same
    /// command again after an interruption resumes too.
    Upload {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        resumable: remote::Resumable,
        /// Files to upload.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Replace an asset's file (resumable from 8 MiB, as `upload`).
    Replace {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        resumable: remote::Resumable,
        /// Asset uid.
        uid: String,
        /// New file.
        file: PathBuf,
    },
    /// Generate an asset's permanent URL (once; it can never change).
    PermanentUrl {
        #[command(flatten)]
        remote: Remote,
        /// Asset uid.
        uid: String,
        /// Slug (default: derived from the file name).
        slug: Option<String>,
    },
    /// Print a signed URL of an asset that expires (§13): it opens the file even on a
    /// secured stack, and any change to it is refused.
    Sign {
        #[command(flatten)]
        remote: Remote,
        /// Asset uid.
        uid: String,
        /// Seconds until it expires (at most a year).
        #[arg(long, default_value_t = 3600)]
        expires_in: u64,
        /// Sign the current version URL instead of the permanent URL.
        #[arg(long)]
        version: bool,
        /// Transform parameters to include, e.g. `width=800&format=webp` (§11).
        #[arg(long, default_value = "")]
        params: String,
    },
    /// Download an asset's current file, or any asset URL.
    Download {
        #[command(flatten)]
        remote: Remote,
        /// Asset uid or URL.
        target: String,
        /// Output file (default: the asset's file name).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// The stack's trash (§15): list it, restore an item, empty it.
    #[command(subcommand)]
    Trash(TrashCmd),
    /// List assets.
    Ls {
        #[command(flatten)]
        remote: Remote,
        /// Folder uid (`cs_root` for the root).
        #[arg(long)]
        folder: Option<String>,
        /// Query document (§6).
        #[arg(long)]
        query: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `perma trash …`.
#[derive(Debug, Subcommand)]
pub enum TrashCmd {
    /// What is in the trash: uid, kind, items, days left, name.
    List {
        #[command(flatten)]
        remote: Remote,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bring an item back, with everything a folder held.
    Restore {
        #[command(flatten)]
        remote: Remote,
        /// The item's uid.
        uid: String,
    },
    /// Remove one item for good, or (`--all`) everything in the trash.
    Empty {
        #[command(flatten)]
        remote: Remote,
        /// The item's uid.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        uid: Option<String>,
        /// Empty the whole trash.
        #[arg(long)]
        all: bool,
    },
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PERMA_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve { no_migrate } => serve(config, no_migrate).await?,
        Command::Migrate => admin::migrate(config).await?,
        Command::Health { url, timeout } => return health(config, url, timeout).await,
        Command::Config(ConfigCmd::Check) => return config_check(config),
        Command::Copy {
            to_database,
            to_storage,
        } => admin::copy(config, &to_database, to_storage.as_deref()).await?,
        Command::User(cmd) => admin::user(config, cmd).await?,
        Command::Stack(cmd) => admin::stack(config, cmd).await?,
        Command::Token(cmd) => admin::token(config, cmd).await?,
        Command::Import(cmd) => return admin::import(config, cmd).await,
        Command::Insights(cmd) => admin::insights(config, cmd).await?,
        Command::Fsck { verify } => return admin::fsck(config, verify).await,
        Command::Gc { min_age } => admin::gc(config, Duration::from_secs(min_age)).await?,
        Command::Upload {
            remote,
            resumable,
            files,
        } => remote::upload(&remote, &resumable, &files).await?,
        Command::Replace {
            remote,
            resumable,
            uid,
            file,
        } => remote::replace(&remote, &resumable, &uid, &file).await?,
        Command::PermanentUrl { remote, uid, slug } => {
            remote::permanent_url(&remote, &uid, slug).await?
        }
        Command::Sign {
            remote,
            uid,
            expires_in,
            version,
            params,
        } => remote::sign(&remote, &uid, expires_in, version, &params).await?,
        Command::Download {
            remote,
            target,
            output,
        } => remote::download(&remote, &target, output).await?,
        Command::Ls {
            remote,
            folder,
            query,
            json,
        } => remote::ls(&remote, folder.as_deref(), query.as_deref(), json).await?,
        Command::Trash(cmd) => remote::trash(cmd).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `perma health`: 0 when `/healthz` answers 200 with `status: ok` in time, else 1 (the
/// reason on stderr).
async fn health(
    config_file: Option<&Path>,
    url: Option<String>,
    timeout: u64,
) -> anyhow::Result<ExitCode> {
    let base = match url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let mut listen = Config::load(config_file)?.listen;
            if listen.ip().is_unspecified() {
                listen.set_ip(match listen {
                    std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            format!("http://{listen}")
        }
    };
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout.max(1)))
        .build()?
        .get(format!("{base}/healthz"))
        .send()
        .await;
    let ok = match answer {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            body["status"] == "ok"
        }
        Ok(r) => {
            eprintln!("unhealthy: {base}/healthz answered {}", r.status());
            false
        }
        Err(e) => {
            eprintln!("unhealthy: {base}/healthz: {e}");
            false
        }
    };
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `perma config check`.
fn config_check(config_file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PERMA_"))
        .collect();
    match crate::config::check(config_file, &vars) {
        Ok(effective) => {
            println!("{effective}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `perma serve`: the one start-up ([`Application`]) until SIGINT/SIGTERM.
async fn serve(config_file: Option<&Path>, no_migrate: bool) -> anyhow::Result<()> {
    let migrations = if no_migrate {
        Migrations::Skip
    } else {
        Migrations::Apply
    };
    let application = Application::build(Config::load(config_file)?, migrations).await?;
    println!("perma listening on http://{}", application.local_addr());
    application.run_until_signal().await
}
