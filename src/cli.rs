//! The command line (§8): `serve`, admin commands that work on the database directly,
//! client commands that talk HTTP to a running perma, and maintenance.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::app::{App, Migrations};
use crate::client::{Auth, Client};
use crate::config::Config;
use crate::identity::{self, Actor, StackAccess, TokenKind};

/// perma — self-hosted assets with permanent URLs.
#[derive(Debug, Parser)]
#[command(name = "perma", version, about)]
pub struct Cli {
    /// Configuration file (default: ./perma.toml when present).
    #[arg(long, global = true, env = "PERMA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
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
    /// Upload files as new assets.
    Upload {
        #[command(flatten)]
        remote: Remote,
        /// Files to upload.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Replace an asset's file.
    Replace {
        #[command(flatten)]
        remote: Remote,
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

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Create a user.
    Create {
        /// Email (login name).
        #[arg(long)]
        email: String,
        /// Password (at least 8 characters).
        #[arg(long, env = "PERMA_NEW_PASSWORD")]
        password: String,
    },
}

#[derive(Debug, Subcommand)]
enum StackCmd {
    /// Create a stack; prints its api_key.
    Create {
        /// Stack name.
        #[arg(long)]
        name: String,
        /// Owner's email.
        #[arg(long)]
        owner: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Create a management (default) or delivery token; prints the secret once.
    Create {
        /// Stack api_key.
        #[arg(long)]
        stack: String,
        /// Token name.
        #[arg(long)]
        name: String,
        /// Management token without write access.
        #[arg(long)]
        read_only: bool,
        /// Create a delivery token for this environment instead.
        #[arg(long)]
        delivery_environment: Option<String>,
    },
}

/// Where a client command connects and how it authenticates.
#[derive(Debug, Args)]
struct Remote {
    /// Server base URL.
    #[arg(long, env = "PERMA_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Stack api_key.
    #[arg(long, env = "PERMA_API_KEY")]
    api_key: Option<String>,
    /// Management token.
    #[arg(long, env = "PERMA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// User session token.
    #[arg(long, env = "PERMA_AUTHTOKEN", hide_env_values = true)]
    authtoken: Option<String>,
    /// Log in with this email (with --password).
    #[arg(long, env = "PERMA_EMAIL")]
    email: Option<String>,
    /// Password for --email.
    #[arg(long, env = "PERMA_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

impl Remote {
    async fn client(&self) -> anyhow::Result<Client> {
        let auth = match (&self.token, &self.authtoken, &self.email, &self.password) {
            (Some(t), _, _, _) => Auth::ManagementToken(t.clone()),
            (_, Some(a), _, _) => Auth::Authtoken(a.clone()),
            (_, _, Some(e), Some(p)) => {
                Auth::Authtoken(Client::new(&self.server, None, None).login(e, p).await?)
            }
            _ => bail!("no credentials: set --token, --authtoken or --email/--password"),
        };
        if self.api_key.is_none() {
            bail!("no stack: set --api-key or PERMA_API_KEY");
        }
        Ok(Client::new(&self.server, self.api_key.clone(), Some(auth)))
    }
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

async fn build(
    cli_config: &Option<PathBuf>,
    migrations: Migrations,
) -> anyhow::Result<std::sync::Arc<App>> {
    App::build(Config::load(cli_config.as_deref())?, migrations).await
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { no_migrate } => serve(&cli.config, no_migrate).await?,
        Command::Migrate => {
            let config = Config::load(cli.config.as_deref())?;
            std::fs::create_dir_all(&config.data_dir)?;
            let db = crate::db::Db::connect(&config.database_url()).await?;
            let applied = db.migrate().await?;
            if applied.is_empty() {
                println!("database is up to date");
            }
            for m in applied {
                println!("applied {m}");
            }
        }
        Command::Copy {
            to_database,
            to_storage,
        } => {
            let app = build(&cli.config, Migrations::Apply).await?;
            let target = crate::db::Db::connect(&to_database).await?;
            target
                .migrate()
                .await
                .context("migrating the target database")?;
            if let Some(storage) = &to_storage {
                let target_blobs = Config {
                    storage: Some(storage.clone()),
                    ..app.config.clone()
                }
                .open_blobs()?;
                let copied = crate::maintenance::copy_blobs(&app.blobs, &target_blobs).await?;
                println!("blobs: {copied} copied to {}", target_blobs.describe());
            }
            for (table, n) in app.db.copy_into(&target).await? {
                println!("{table}: {n} rows");
            }
            target.close().await;
        }
        Command::User(UserCmd::Create { email, password }) => {
            let app = build(&cli.config, Migrations::Apply).await?;
            let u = identity::create_user(&app.db, &email, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{}", error_text(&e)))?;
            println!("{}", u.uid);
        }
        Command::Stack(StackCmd::Create { name, owner }) => {
            let app = build(&cli.config, Migrations::Apply).await?;
            let (user, _) = app
                .db
                .user_by_email(&owner.to_lowercase())
                .await?
                .with_context(|| format!("no user {owner}"))?;
            let s = identity::create_stack(&app.db, &user, None, &name, "", None)
                .await
                .map_err(|e| anyhow::anyhow!("{}", error_text(&e)))?;
            println!("{}", s.api_key);
        }
        Command::Token(TokenCmd::Create {
            stack,
            name,
            read_only,
            delivery_environment,
        }) => {
            let app = build(&cli.config, Migrations::Apply).await?;
            let s = app
                .db
                .stack(&stack)
                .await?
                .with_context(|| format!("no stack {stack}"))?;
            let owner = app
                .db
                .user(&s.owner_uid)
                .await?
                .context("stack owner is missing")?;
            let access = StackAccess {
                stack: s,
                actor: Actor::User(owner),
            };
            let (kind, body) = match &delivery_environment {
                Some(env) => (
                    TokenKind::Delivery,
                    json!({ "name": name, "scope": [{ "module": "environment", "environments": [env], "acl": { "read": true } }] }),
                ),
                None => (
                    TokenKind::Management,
                    json!({ "name": name, "scope": [{ "module": "asset", "acl": { "read": true, "write": !read_only } }] }),
                ),
            };
            let (_, secret) = crate::stack_config::create_token(&app, &access, kind, &body)
                .await
                .map_err(|e| anyhow::anyhow!("{}", error_text(&e)))?;
            println!("{secret}");
        }
        Command::Fsck { verify } => {
            let app = build(&cli.config, Migrations::Skip).await?;
            let r = crate::maintenance::fsck(&app, verify).await?;
            println!(
                "files: {}  blobs: {}  missing: {}  corrupt: {}  unreferenced: {}  temp files: {}",
                r.files,
                r.blobs,
                r.missing.len(),
                r.corrupt.len(),
                r.unreferenced,
                r.temp_files
            );
            for (uid, sha) in &r.missing {
                println!("MISSING file {uid} blob {sha}");
            }
            for sha in &r.corrupt {
                println!("CORRUPT blob {sha}");
            }
            if !r.is_healthy() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Gc { min_age } => {
            let app = build(&cli.config, Migrations::Skip).await?;
            let r = crate::maintenance::gc(&app, Duration::from_secs(min_age)).await?;
            println!(
                "removed {} blobs ({} bytes) and {} temporary files",
                r.blobs_removed, r.bytes_freed, r.temp_removed
            );
        }
        Command::Upload { remote, files } => {
            let c = remote.client().await?;
            for f in files {
                let a = c.upload(&f).await?;
                println!(
                    "{}\t{}",
                    a["uid"].as_str().unwrap_or(""),
                    a["url"].as_str().unwrap_or("")
                );
            }
        }
        Command::Replace { remote, uid, file } => {
            let a = remote.client().await?.replace(&uid, &file).await?;
            println!("{}", a["url"].as_str().unwrap_or(""));
        }
        Command::PermanentUrl { remote, uid, slug } => {
            let c = remote.client().await?;
            let slug = match slug {
                Some(s) => s,
                None => {
                    let a = c.asset(&uid).await?;
                    crate::slug::Slug::suggest(a["filename"].as_str().unwrap_or("asset"))
                        .as_str()
                        .to_owned()
                }
            };
            let a = c.permanent_url(&uid, &slug).await?;
            println!("{}", a["permanent_url"].as_str().unwrap_or(""));
        }
        Command::Download {
            remote,
            target,
            output,
        } => {
            let c = remote.client().await?;
            let (url, name) = if target.starts_with("http://") || target.starts_with("https://") {
                let name = target
                    .rsplit('/')
                    .next()
                    .unwrap_or("download")
                    .split('?')
                    .next()
                    .unwrap_or("download")
                    .to_owned();
                (target.clone(), name)
            } else {
                let a = c.asset(&target).await?;
                (
                    a["url"].as_str().context("asset has no url")?.to_owned(),
                    a["filename"].as_str().unwrap_or("download").to_owned(),
                )
            };
            let dest = output.unwrap_or_else(|| {
                PathBuf::from(crate::filename::Filename::sanitize(&name).as_str())
            });
            let n = c.download(&url, &dest).await?;
            println!("{} ({n} bytes)", dest.display());
        }
        Command::Ls {
            remote,
            folder,
            query,
            json,
        } => {
            let v = remote
                .client()
                .await?
                .list(folder.as_deref(), query.as_deref())
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for a in v["assets"].as_array().into_iter().flatten() {
                    let is_dir = a["is_dir"].as_bool().unwrap_or(false);
                    println!(
                        "{}\t{}\t{}\t{}",
                        a["uid"].as_str().unwrap_or(""),
                        if is_dir {
                            "dir".to_owned()
                        } else {
                            a["file_size"].as_str().unwrap_or("").to_owned()
                        },
                        a["content_type"].as_str().unwrap_or(""),
                        a[if is_dir { "name" } else { "title" }]
                            .as_str()
                            .unwrap_or(""),
                    );
                }
                eprintln!("{} assets", v["count"]);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn error_text(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Validation { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

async fn serve(config_file: &Option<PathBuf>, no_migrate: bool) -> anyhow::Result<()> {
    let mut config = Config::load(config_file.as_deref())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    // With port 0 the OS picks one; URLs must carry the real address.
    config.listen = listener.local_addr()?;
    let migrations = if no_migrate {
        Migrations::Skip
    } else {
        Migrations::Apply
    };
    let app = App::build(config, migrations).await?;
    {
        // The delivery index fills in the background; requests meanwhile load entries on demand.
        let app = app.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match crate::delivery::preload(&app).await {
                Ok(n) => tracing::info!(
                    assets = n,
                    ms = started.elapsed().as_millis() as u64,
                    "delivery index loaded"
                ),
                Err(e) => tracing::warn!("delivery index preload failed, filling on demand: {e:#}"),
            }
        });
    }
    println!("perma listening on http://{}", app.config.listen);
    tracing::info!(listen = %app.config.listen, public_url = %app.public_url, "perma serving");
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    };
    crate::http::serve(app.clone(), listener, shutdown).await?;
    app.db.close().await;
    Ok(())
}
