//! Client commands (§8): they talk HTTP to a running perma through the typed
//! [`Client`], with progress bars on transfers.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::client::{Auth, Client, Resume};
use crate::filename::Filename;
use crate::slug::Slug;

/// Where a client command connects and how it authenticates.
#[derive(Debug, Args)]
pub struct Remote {
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
    /// A client for this server and stack, logged in as asked.
    pub async fn client(&self) -> anyhow::Result<Client> {
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

/// How `upload` and `replace` send files.
#[derive(Debug, Args)]
pub struct Resumable {
    /// Send every file as a resumable upload, whatever its size.
    #[arg(long)]
    resumable: bool,
    /// How many times a broken transfer is resumed before giving up (run the command
    /// again to resume later).
    #[arg(long, default_value_t = 5)]
    retries: u32,
}

/// `perma upload`: each file as a new asset; prints uid and version URL.
pub async fn upload(remote: &Remote, how: &Resumable, files: &[PathBuf]) -> anyhow::Result<()> {
    let c = remote.client().await?;
    let resume = Resume::standard(how.retries);
    for f in files {
        let a = c.upload(f, &resume, how.resumable).await?;
        println!("{}\t{}", a.uid, a.url.unwrap_or_default());
    }
    Ok(())
}

/// `perma sign`: prints a signed URL (§13).
pub async fn sign(
    remote: &Remote,
    uid: &str,
    expires_in: u64,
    version: bool,
    params: &str,
) -> anyhow::Result<()> {
    let url = remote
        .client()
        .await?
        .signed_url(uid, expires_in, version, params)
        .await?;
    println!("{url}");
    Ok(())
}

/// `perma replace`: prints the new version URL.
pub async fn replace(
    remote: &Remote,
    how: &Resumable,
    uid: &str,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    let resume = Resume::standard(how.retries);
    let a = remote
        .client()
        .await?
        .replace(uid, file, &resume, how.resumable)
        .await?;
    println!("{}", a.url.unwrap_or_default());
    Ok(())
}

/// `perma permanent-url`: with the slug given, or one suggested from the file name (§3).
pub async fn permanent_url(remote: &Remote, uid: &str, slug: Option<String>) -> anyhow::Result<()> {
    let c = remote.client().await?;
    let slug = match slug {
        Some(s) => s,
        None => {
            let a = c.asset(uid).await?;
            Slug::suggest(a.filename.as_deref().unwrap_or("asset"))
                .as_str()
                .to_owned()
        }
    };
    let a = c.permanent_url(uid, &slug).await?;
    println!("{}", a.permanent_url.unwrap_or_default());
    Ok(())
}

/// `perma download`: an asset's current file, or any asset URL.
pub async fn download(
    remote: &Remote,
    target: &str,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
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
        (target.to_owned(), name)
    } else {
        let a = c.asset(target).await?;
        (
            a.url.context("asset has no url")?,
            a.filename.unwrap_or_else(|| "download".into()),
        )
    };
    let dest = output.unwrap_or_else(|| PathBuf::from(Filename::sanitize(&name).as_str()));
    let n = c.download(&url, &dest).await?;
    println!("{} ({n} bytes)", dest.display());
    Ok(())
}

/// `perma ls`: a table, or the server's JSON with `--json`.
pub async fn ls(
    remote: &Remote,
    folder: Option<&str>,
    query: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let v = remote.client().await?.list(folder, query).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let page: crate::client::AssetPage =
        serde_json::from_value(v).context("reading the asset list")?;
    for a in &page.assets {
        let (size, label) = if a.is_dir {
            ("dir".to_owned(), a.name.as_deref())
        } else {
            (a.file_size.clone().unwrap_or_default(), a.title.as_deref())
        };
        println!(
            "{}\t{}\t{}\t{}",
            a.uid,
            size,
            a.content_type.as_deref().unwrap_or(""),
            label.unwrap_or("")
        );
    }
    eprintln!("{} assets", page.count.unwrap_or(page.assets.len() as u64));
    Ok(())
}

/// `perma trash list|restore|empty` (§15).
pub async fn trash(cmd: super::TrashCmd) -> anyhow::Result<()> {
    use super::TrashCmd;
    match cmd {
        TrashCmd::List { remote, json } => {
            let v = remote.client().await?.trash().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            for item in v["trash"].as_array().into_iter().flatten() {
                let dir = item["is_dir"].as_bool().unwrap_or(false);
                let name = if dir { &item["name"] } else { &item["title"] };
                println!(
                    "{}\t{}\t{}\t{} days left\t{}",
                    item["uid"].as_str().unwrap_or(""),
                    if dir { "folder" } else { "asset" },
                    item["items"]
                        .as_i64()
                        .map(|n| format!("{n} inside"))
                        .unwrap_or_default(),
                    item["days_left"].as_i64().unwrap_or(0),
                    name.as_str().unwrap_or("")
                );
            }
            eprintln!("{} in the trash", v["count"].as_i64().unwrap_or(0));
        }
        TrashCmd::Restore { remote, uid } => {
            let v = remote.client().await?.restore(&uid).await?;
            println!("{}", v["notice"].as_str().unwrap_or("Restored."));
        }
        TrashCmd::Empty { remote, uid, all } => {
            let uid = if all { None } else { uid.as_deref() };
            let v = remote.client().await?.empty_trash(uid).await?;
            println!(
                "{} ({} removed for good)",
                v["notice"].as_str().unwrap_or("Emptied."),
                v["removed"].as_i64().unwrap_or(0)
            );
        }
    }
    Ok(())
}
