//! Resumable uploads from the command line (§16, tus 1.0.0): a file is sent with
//! `PATCH`es from the offset the server acknowledged, so that a broken connection costs
//! only what was in flight. Within one run, a failed `PATCH` is retried (with a growing
//! pause) from the offset `HEAD` reports; across runs, the upload's address is kept in a
//! state file under the file's fingerprint (server, stack, path, size, modification
//! time), so running the same command again resumes instead of starting over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine as _;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncSeekExt;
use tokio_util::io::ReaderStream;

use super::direct::{self, Sent};
use super::{progress, AssetEnvelope, Client, RemoteAsset};

/// What a finished upload becomes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A new asset.
    New,
    /// A new version of this asset.
    Replace(&'a str),
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct Resume {
    /// How many times a broken transfer is resumed within one run.
    pub retries: u32,
    /// Where unfinished uploads are remembered between runs (`None`: not at all).
    pub state_file: Option<PathBuf>,
}

impl Resume {
    /// The default: five retries, state in `$XDG_STATE_HOME/perma/uploads.json` (else
    /// `~/.local/state/perma/uploads.json`).
    pub fn standard(retries: u32) -> Resume {
        let dir = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")));
        Resume {
            retries,
            state_file: dir.map(|d| d.join("perma").join("uploads.json")),
        }
    }
}

/// The remembered unfinished uploads: fingerprint → a tus upload's address, or a direct
/// upload's id and the parts sent.
struct State {
    file: Option<PathBuf>,
    entries: BTreeMap<String, Value>,
}

impl State {
    fn load(file: Option<PathBuf>) -> State {
        let entries = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        State { file, entries }
    }

    fn save(&self) {
        let Some(f) = &self.file else { return };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = f.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = f.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&self.entries)?)?;
            std::fs::rename(tmp, f)
        };
        if let Err(e) = write() {
            eprintln!(
                "warning: cannot remember the upload in {}: {e}",
                f.display()
            );
        }
    }
}

/// The fingerprint of a file to send to a place: the same file (path, size, modification
/// time) to the same server, stack and target.
fn fingerprint(c: &Client, file: &Path, meta: &std::fs::Metadata, target: Target) -> String {
    let path = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let target = match target {
        Target::New => "new".to_owned(),
        Target::Replace(uid) => format!("replace:{uid}"),
    };
    let text = format!(
        "{}\n{}\n{}\n{}\n{mtime}\n{target}",
        c.base,
        c.api_key.as_deref().unwrap_or(""),
        path.display(),
        meta.len()
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn tus(c: &Client, method: Method, url: &str) -> reqwest::RequestBuilder {
    c.request(method, url).header("tus-resumable", "1.0.0")
}

/// Where the server says an upload is (`None`: it does not have it any more).
async fn server_offset(c: &Client, url: &str) -> anyhow::Result<Option<u64>> {
    let r = tus(c, Method::HEAD, url)
        .send()
        .await
        .context("asking where the upload is")?;
    match r.status() {
        StatusCode::OK => Ok(Some(
            r.headers()
                .get("upload-offset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .context("HEAD answered without Upload-Offset")?,
        )),
        StatusCode::NOT_FOUND | StatusCode::GONE => Ok(None),
        s => bail!("{s} asking where the upload is"),
    }
}

/// How an upload goes: by tus to this address, or straight to the store.
enum Way {
    Tus(String),
    Direct(Sent),
}

/// Starts an upload through `/v3/uploads/direct`: the server says which way (a server
/// without it gets a tus upload).
async fn create(c: &Client, name: &str, len: u64) -> anyhow::Result<Way> {
    let body = json!({ "upload": { "size": len, "filename": name } });
    let r = c
        .request(Method::POST, "/v3/uploads/direct")
        .json(&body)
        .send()
        .await
        .context("starting the upload")?;
    if r.status() == StatusCode::NOT_FOUND {
        return create_tus(c, name, len).await.map(Way::Tus);
    }
    let v: Value = Client::check(r).await?.json().await?;
    let up = &v["upload"];
    match (
        up["mode"].as_str(),
        up["uid"].as_str(),
        up["location"].as_str(),
    ) {
        (Some("direct"), Some(uid), _) => Ok(Way::Direct(Sent {
            uid: uid.to_owned(),
            ..Sent::default()
        })),
        (Some("tus"), _, Some(location)) => Ok(Way::Tus(location.to_owned())),
        _ => bail!("unexpected answer starting the upload: {v}"),
    }
}

async fn create_tus(c: &Client, name: &str, len: u64) -> anyhow::Result<String> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
    let r = tus(c, Method::POST, "/v3/uploads")
        .header("upload-length", len.to_string())
        .header("upload-metadata", format!("filename {b64}"))
        .send()
        .await
        .context("starting the upload")?;
    let r = Client::check(r).await?;
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("the server answered without Location")?;
    // The upload's path on the server this client was pointed at (a `Location` built
    // from the server's public URL may name an address this client does not use).
    match location.find("/v3/uploads/") {
        Some(at) => Ok(location[at..].to_owned()),
        None => bail!("unexpected upload address {location:?}"),
    }
}

/// Sends the file from `offset` in one `PATCH`; the new offset, or why it broke.
async fn send_from(
    c: &Client,
    url: &str,
    file: &Path,
    offset: u64,
    len: u64,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let mut f = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    f.seek(std::io::SeekFrom::Start(offset)).await?;
    bar.set_position(offset);
    let b2 = bar.clone();
    let stream = ReaderStream::with_capacity(f, 256 * 1024).inspect(move |c| {
        if let Ok(c) = c {
            b2.inc(c.len() as u64);
        }
    });
    let r = tus(c, Method::PATCH, url)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .header("content-length", (len - offset).to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .context("sending bytes")?;
    let r = Client::check(r).await?;
    r.headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .context("PATCH answered without Upload-Offset")
}

impl Client {
    /// Sends `file` as a resumable upload and makes it a new asset or a new version.
    pub async fn send_resumable(
        &self,
        file: &Path,
        target: Target<'_>,
        resume: &Resume,
    ) -> anyhow::Result<RemoteAsset> {
        let meta =
            std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
        let len = meta.len();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let key = fingerprint(self, file, &meta, target);
        let mut state = State::load(resume.state_file.clone());
        let mut known = None;
        match state.entries.get(&key).cloned() {
            Some(Value::String(url)) => match server_offset(self, &url).await? {
                Some(at) => known = Some((Way::Tus(url), at)),
                None => {
                    state.entries.remove(&key);
                    state.save();
                }
            },
            Some(v) => match Sent::from_json(&v) {
                Some(sent) if direct::status(self, &sent.uid).await?.is_some() => {
                    known = Some((Way::Direct(sent), 0));
                }
                _ => {
                    state.entries.remove(&key);
                    state.save();
                }
            },
            None => {}
        }
        let (way, offset) = match known {
            Some((way, at)) => {
                match &way {
                    Way::Tus(_) => eprintln!("{name}: resuming at {at} of {len} bytes"),
                    Way::Direct(sent) => eprintln!(
                        "{name}: resuming an unfinished upload of {len} bytes ({} parts sent)",
                        sent.etags.len()
                    ),
                }
                (way, at)
            }
            None => {
                let way = create(self, &name, len).await?;
                let entry = match &way {
                    Way::Tus(url) => json!(url),
                    Way::Direct(sent) => sent.to_json(),
                };
                state.entries.insert(key.clone(), entry);
                state.save();
                (way, 0)
            }
        };
        let upload_uid = match way {
            Way::Tus(url) => {
                let sent = self
                    .send_tus(file, &name, &url, offset, len, resume.retries)
                    .await?;
                let Some(uid) = sent else {
                    state.entries.remove(&key);
                    state.save();
                    bail!("the server no longer has the upload of {name}; send it again");
                };
                uid
            }
            Way::Direct(mut sent) => {
                eprintln!("{name}: sending {len} bytes straight to the storage");
                direct::send(self, file, &name, &mut sent, resume.retries, |sent| {
                    state.entries.insert(key.clone(), sent.to_json());
                    state.save();
                })
                .await?;
                sent.uid
            }
        };
        let body = json!({ "asset": { "upload_uid": upload_uid } });
        let request = match target {
            Target::New => self.request(Method::POST, "/v3/assets"),
            Target::Replace(uid) => self.request(Method::PUT, &format!("/v3/assets/{uid}")),
        };
        let answer: AssetEnvelope = self.typed(request.json(&body)).await?;
        state.entries.remove(&key);
        state.save();
        Ok(answer.asset)
    }

    /// Sends a tus upload's bytes from `offset`, resuming after breaks: its id, or `None`
    /// when the server no longer has it.
    async fn send_tus(
        &self,
        file: &Path,
        name: &str,
        url: &str,
        mut offset: u64,
        len: u64,
        retries: u32,
    ) -> anyhow::Result<Option<String>> {
        let bar = progress(len, name);
        let mut tries = 0;
        while offset < len {
            match send_from(self, url, file, offset, len, &bar).await {
                Ok(at) => offset = at,
                Err(e) if tries < retries => {
                    tries += 1;
                    let pause = Duration::from_millis(500 << (tries - 1).min(5));
                    tokio::time::sleep(pause).await;
                    match server_offset(self, url).await {
                        Ok(Some(at)) => {
                            bar.suspend(|| {
                                eprintln!("{name}: {e:#}; resuming at {at} of {len} bytes")
                            });
                            offset = at;
                        }
                        Ok(None) => return Ok(None),
                        Err(_) => {}
                    }
                }
                Err(e) => {
                    bar.abandon();
                    return Err(e.context(format!(
                        "{name}: interrupted at {offset} of {len} bytes; run the same command again to resume"
                    )));
                }
            }
        }
        bar.finish_and_clear();
        Ok(Some(url.rsplit('/').next().unwrap_or_default().to_owned()))
    }
}
