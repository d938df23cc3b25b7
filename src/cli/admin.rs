//! Admin and maintenance commands (§8): they open the database and blob store of this
//! installation directly (no server needed).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use std::io::Write as _;

use anyhow::Context;
use clap::Subcommand;

use crate::app::{App, Migrations};
use crate::config::Config;
use crate::db::Db;
use crate::identity::{self, Actor, StackAccess};
use crate::maintenance;
use crate::records::TokenKind;
use crate::stack_config::{self, NewToken};

/// `perma user …`.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Create {
        /// Email (login name).
        #[arg(long)]
        email: String,
        /// Password (at least 8 characters).
        #[arg(long, env = "PERMA_NEW_PASSWORD")]
        password: String,
    },
    /// Invite someone: their account is made without a password; prints the invitation
    /// secret (valid 7 days) with which they set one at their first sign-in. Share a stack
    /// with them to give them roles.
    #[command(alias = "add")]
    Invite {
        /// Email (login name).
        #[arg(long)]
        email: String,
    },
    /// Disable an account: no sign-in of any kind (password, invitation, single sign-on)
    /// is accepted, and its sessions end at once. Its stacks and tokens stay.
    Disable {
        /// Email (login name).
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// Email (login name).
        #[arg(long)]
        email: String,
    },
}

/// `perma stack …`.
#[derive(Debug, Subcommand)]
pub enum StackCmd {
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

/// `perma import …`.
#[derive(Debug, Subcommand)]
pub enum ImportCmd {
    /// Import a Contentstack CLI export (`csdx cm:stacks:export`): the stack keeps its
    /// api_key, assets and folders their uids, files their uids (so version URLs keep
    /// working) and permanent URLs their slugs. Running it again changes nothing and
    /// finishes an interrupted run.
    Contentstack {
        /// The export directory.
        dir: std::path::PathBuf,
        /// Email of the user the stack and imported assets belong to.
        #[arg(long)]
        owner: String,
        /// Import into this existing stack instead of the api_key the export names.
        #[arg(long)]
        stack: Option<String>,
        /// Download files that are missing from the export (or have the wrong size) from
        /// their URL in the export's records.
        #[arg(long)]
        fetch: bool,
        /// Import assets even when some of their older versions' files cannot be had.
        #[arg(long)]
        partial_history: bool,
        /// Check and report only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `perma token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
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

async fn build(config_file: Option<&Path>, migrations: Migrations) -> anyhow::Result<Arc<App>> {
    App::build(Config::load(config_file)?, migrations).await
}

/// The user with this e-mail address (any case).
async fn user_named(app: &App, email: &str) -> anyhow::Result<crate::records::User> {
    let (user, _) = app
        .db
        .user_by_email(&email.to_lowercase())
        .await?
        .with_context(|| format!("no user {email}"))?;
    Ok(user)
}

/// A domain refusal as one line for the terminal.
fn refusal(e: crate::error::Error) -> anyhow::Error {
    let (message, _) = e.public_message();
    match e {
        crate::error::Error::Internal(cause) => cause,
        _ => anyhow::anyhow!("{message}"),
    }
}

/// `perma migrate`.
pub async fn migrate(config_file: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load(config_file)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let db = Db::connect(&config.database_url()).await?;
    let applied = db.migrate().await?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for m in applied {
        println!("applied {m}");
    }
    Ok(())
}

/// `perma copy`: this installation's rows (and blobs) into another database (and store).
pub async fn copy(
    config_file: Option<&Path>,
    to_database: &str,
    to_storage: Option<&str>,
) -> anyhow::Result<()> {
    let app = build(config_file, Migrations::Apply).await?;
    let target = Db::connect(to_database).await?;
    target
        .migrate()
        .await
        .context("migrating the target database")?;
    if let Some(storage) = to_storage {
        let target_blobs = Config {
            storage: Some(storage.to_owned()),
            ..app.config.clone()
        }
        .open_blobs()?;
        let copied = maintenance::copy_blobs(&app.blobs, &target_blobs).await?;
        println!("blobs: {copied} copied to {}", target_blobs.describe());
    }
    for (table, n) in app.db.copy_into(&target).await? {
        println!("{table}: {n} rows");
    }
    target.close().await;
    Ok(())
}

/// `perma user create`.
pub async fn user(config_file: Option<&Path>, cmd: UserCmd) -> anyhow::Result<()> {
    let app = build(config_file, Migrations::Apply).await?;
    match cmd {
        UserCmd::Create { email, password } => {
            let u = identity::create_user(&app.db, &email, &password)
                .await
                .map_err(refusal)?;
            println!("{}", u.uid);
        }
        UserCmd::Invite { email } => {
            let inv = identity::invite(&app.db, &email, "cli")
                .await
                .map_err(refusal)?
                .with_context(|| format!("{email} already has a password; no invitation needed"))?;
            println!("{}", inv.token);
            eprintln!(
                "invited {} ({}); the invitation works until {}",
                inv.user.email,
                inv.user.uid,
                crate::time::iso8601(inv.expires_at)
            );
        }
        UserCmd::Disable { email } => set_disabled(&app, &email, true).await?,
        UserCmd::Enable { email } => set_disabled(&app, &email, false).await?,
    }
    Ok(())
}

/// `perma user disable|enable`.
async fn set_disabled(app: &App, email: &str, disable: bool) -> anyhow::Result<()> {
    let u = identity::set_disabled(&app.db, email, disable)
        .await
        .map_err(refusal)?;
    let what = if disable { "disabled" } else { "enabled" };
    eprintln!("{what} {} ({})", u.email, u.uid);
    Ok(())
}

/// `perma insights …`.
#[derive(Debug, Subcommand)]
pub enum InsightsCmd {
    /// Write a stack's requests and bytes per asset, period, URL kind and status class as
    /// CSV (hourly rows for the last 30 days, daily ones before).
    Export {
        /// The stack's api_key.
        #[arg(long)]
        stack: String,
        /// Start (ISO-8601 date or instant; default 30 days before `to`).
        #[arg(long)]
        from: Option<String>,
        /// End, exclusive (default now).
        #[arg(long)]
        to: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// `perma insights export`.
pub async fn insights(config_file: Option<&Path>, cmd: InsightsCmd) -> anyhow::Result<()> {
    let InsightsCmd::Export {
        stack,
        from,
        to,
        out,
    } = cmd;
    let range =
        crate::insights::read::Range::parse(from.as_deref(), to.as_deref()).map_err(refusal)?;
    let app = build(config_file, Migrations::Apply).await?;
    if app.db.stack(&stack).await?.is_none() {
        anyhow::bail!("no stack {stack}");
    }
    let rows = crate::insights::export(&app.db, &stack, range).await?;
    let mut w: Box<dyn std::io::Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    w.write_all(rows.as_bytes())?;
    w.flush()?;
    Ok(())
}

/// `perma stack create`.
pub async fn stack(config_file: Option<&Path>, cmd: StackCmd) -> anyhow::Result<()> {
    let StackCmd::Create { name, owner } = cmd;
    let app = build(config_file, Migrations::Apply).await?;
    let user = user_named(&app, &owner).await?;
    let s = identity::create_stack(
        &app.db,
        &user,
        None,
        &name,
        "",
        None,
        &identity::Origin::default(),
    )
    .await
    .map_err(refusal)?;
    println!("{}", s.api_key);
    Ok(())
}

/// `perma token create`: as the stack's owner.
pub async fn token(config_file: Option<&Path>, cmd: TokenCmd) -> anyhow::Result<()> {
    let TokenCmd::Create {
        stack,
        name,
        read_only,
        delivery_environment,
    } = cmd;
    let app = build(config_file, Migrations::Apply).await?;
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
    let access = StackAccess::of(&app.db, s, Actor::User(owner))
        .await?
        .context("the stack owner is not a member")?;
    let base = NewToken {
        name,
        ..NewToken::default()
    };
    let (kind, new) = match delivery_environment {
        Some(env) => (
            TokenKind::Delivery,
            NewToken {
                environments: vec![env],
                ..base
            },
        ),
        None => (
            TokenKind::Management,
            NewToken {
                asset_read: true,
                asset_write: !read_only,
                ..base
            },
        ),
    };
    let (_, secret) = stack_config::create_token(&app.db, &access, kind, new)
        .await
        .map_err(refusal)?;
    println!("{secret}");
    Ok(())
}

/// `perma fsck`: exit 1 unless every file row has its (intact) blob and every folder's
/// kept totals are right.
pub async fn fsck(config_file: Option<&Path>, verify: bool) -> anyhow::Result<ExitCode> {
    let app = build(config_file, Migrations::Skip).await?;
    let r = maintenance::fsck(&app.db, &app.blobs, verify).await?;
    println!(
        "files: {}  blobs: {}  missing: {}  corrupt: {}  unreferenced: {}  temp files: {}  miscounted folders: {}",
        r.files,
        r.blobs,
        r.missing.len(),
        r.corrupt.len(),
        r.unreferenced,
        r.temp_files,
        r.miscounted.len()
    );
    for (uid, sha) in &r.missing {
        println!("MISSING file {uid} blob {sha}");
    }
    for sha in &r.corrupt {
        println!("CORRUPT blob {sha}");
    }
    for m in &r.miscounted {
        let what = if m.folders { "folders" } else { "files" };
        let folder = if m.folder.is_empty() {
            "(root)"
        } else {
            &m.folder
        };
        println!(
            "MISCOUNTED stack {} folder {folder} {what}: kept {}, counted {}",
            m.api_key, m.kept, m.counted
        );
    }
    Ok(if r.is_healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `perma gc`: unreferenced blobs and leftover temporary files older than `min_age`.
pub async fn gc(config_file: Option<&Path>, min_age: Duration) -> anyhow::Result<()> {
    let app = build(config_file, Migrations::Skip).await?;
    let r = maintenance::gc(&app.db, &app.blobs, min_age).await?;
    println!(
        "removed {} blobs ({} bytes) and {} temporary files",
        r.blobs_removed, r.bytes_freed, r.temp_removed
    );
    Ok(())
}

/// `perma import contentstack DIR`: prints what was created, what was already there and
/// what was left out (with the reason); exit 1 when anything was left out.
pub async fn import(config_file: Option<&Path>, cmd: ImportCmd) -> anyhow::Result<ExitCode> {
    let ImportCmd::Contentstack {
        dir,
        owner,
        stack,
        fetch,
        partial_history,
        dry_run,
    } = cmd;
    let app = build(config_file, Migrations::Apply).await?;
    let user = user_named(&app, &owner).await?;
    let opts = crate::assets::ImportOptions {
        dir,
        stack,
        fetch,
        partial_history,
        dry_run,
    };
    let r =
        crate::assets::import_contentstack(&app.db, &app.blobs, &app.changes, &user, &opts).await?;
    let verb = if dry_run { "would create" } else { "created" };
    println!(
        "stack {}{}",
        r.api_key,
        match (r.stack_created, dry_run) {
            (true, false) => " (created)",
            (true, true) => " (would be created)",
            _ => "",
        }
    );
    for (label, c) in [(verb, r.created), ("unchanged", r.unchanged)] {
        println!(
            "{label}: {} locales, {} environments, {} folders, {} assets ({} versions), {} publications",
            c.locales, c.environments, c.folders, c.assets, c.versions, c.publications
        );
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    for s in &r.skipped {
        println!("SKIPPED {}: {}", s.what, s.why);
    }
    println!("skipped: {}", r.skipped.len());
    Ok(if r.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
