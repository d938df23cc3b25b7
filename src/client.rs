//! A typed HTTP client for perma's `/v3` API, used by the CLI's client commands.
//! Transfers stream from and to disk with a progress bar.

use std::path::Path;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{multipart, Method, RequestBuilder, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

mod direct;
mod resumable;
pub use resumable::{Resume, Target};

/// Files at least this large are sent as resumable uploads (§16) by [`Client::upload`] and
/// [`Client::replace`].
pub const RESUMABLE_FROM: u64 = 8 << 20;

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A user session (`authtoken` header).
    Authtoken(String),
    /// A management token (`authorization` header).
    ManagementToken(String),
}

/// An asset or folder as the API answers it (§5 "Asset JSON fields"), the fields the
/// CLI reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RemoteAsset {
    /// Asset uid.
    pub uid: String,
    /// Version URL (§2.1).
    pub url: Option<String>,
    /// Permanent URL, once generated (§2.2).
    pub permanent_url: Option<String>,
    /// Stored file name.
    pub filename: Option<String>,
    /// Title (assets).
    pub title: Option<String>,
    /// Name (folders).
    pub name: Option<String>,
    /// Bytes, as a string (§5).
    pub file_size: Option<String>,
    /// Stored content type.
    pub content_type: Option<String>,
    /// Folder?
    pub is_dir: bool,
}

/// A page of `GET /v3/assets`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AssetPage {
    /// The assets and folders.
    pub assets: Vec<RemoteAsset>,
    /// How many matched in all (`include_count`).
    pub count: Option<u64>,
}

#[derive(Deserialize)]
struct AssetEnvelope {
    asset: RemoteAsset,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    user: Credentials<'a>,
}

#[derive(Serialize)]
struct Credentials<'a> {
    email: &'a str,
    password: &'a str,
}

#[derive(Deserialize)]
struct LoginAnswer {
    user: LoginUser,
}

#[derive(Deserialize)]
struct LoginUser {
    authtoken: Option<String>,
}

#[derive(Serialize)]
struct PermanentUrlBody<'a> {
    asset: PermanentUrl<'a>,
}

#[derive(Serialize)]
struct PermanentUrl<'a> {
    permanent_url: &'a str,
}

/// Client for one stack on one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
    auth: Option<Auth>,
}

fn file_len(file: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len())
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str, api_key: Option<String>, auth: Option<Auth>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            api_key,
            auth,
        }
    }

    /// Logs in and returns the authtoken.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let body = LoginBody {
            user: Credentials { email, password },
        };
        let answer: LoginAnswer = self
            .typed(self.request(Method::POST, "/v3/user-session").json(&body))
            .await?;
        answer
            .user
            .authtoken
            .context("login response has no authtoken")
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut r = self.http.request(method, url);
        if let Some(k) = &self.api_key {
            r = r.header("api_key", k);
        }
        match &self.auth {
            Some(Auth::Authtoken(t)) => r = r.header("authtoken", t),
            Some(Auth::ManagementToken(t)) => r = r.header("authorization", t),
            None => {}
        }
        r
    }

    async fn check(resp: Response) -> anyhow::Result<Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let msg = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                let mut m = v["error_message"].as_str()?.to_owned();
                if let Some(errs) = v["errors"].as_object() {
                    for (k, vs) in errs {
                        for e in vs.as_array().into_iter().flatten() {
                            m.push_str(&format!("\n  {k}: {}", e.as_str().unwrap_or("")));
                        }
                    }
                }
                Some(m)
            })
            .unwrap_or(text);
        bail!("{status}: {msg}")
    }

    async fn typed<T: serde::de::DeserializeOwned>(&self, r: RequestBuilder) -> anyhow::Result<T> {
        let resp = Self::check(r.send().await.context("sending request")?).await?;
        resp.json().await.context("reading JSON response")
    }

    async fn send_file(
        &self,
        method: Method,
        path: &str,
        file: &Path,
    ) -> anyhow::Result<RemoteAsset> {
        let f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("opening {}", file.display()))?;
        let len = f.metadata().await?.len();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let bar = progress(len, &name);
        let b2 = bar.clone();
        let stream = ReaderStream::with_capacity(f, 256 * 1024).inspect(move |c| {
            if let Ok(c) = c {
                b2.inc(c.len() as u64);
            }
        });
        let part = multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
            .file_name(name);
        let form = multipart::Form::new().part("asset[upload]", part);
        let answer = self
            .typed::<AssetEnvelope>(self.request(method, path).multipart(form))
            .await;
        bar.finish_and_clear();
        Ok(answer?.asset)
    }

    /// Uploads a file as a new asset: in one request, or resumably (§16) when it is at
    /// least [`RESUMABLE_FROM`] bytes or `force_resumable`.
    pub async fn upload(
        &self,
        file: &Path,
        resume: &Resume,
        force_resumable: bool,
    ) -> anyhow::Result<RemoteAsset> {
        if force_resumable || file_len(file)? >= RESUMABLE_FROM {
            return self.send_resumable(file, Target::New, resume).await;
        }
        self.send_file(Method::POST, "/v3/assets", file).await
    }

    /// Replaces an asset's file, like [`Client::upload`].
    pub async fn replace(
        &self,
        uid: &str,
        file: &Path,
        resume: &Resume,
        force_resumable: bool,
    ) -> anyhow::Result<RemoteAsset> {
        if force_resumable || file_len(file)? >= RESUMABLE_FROM {
            return self
                .send_resumable(file, Target::Replace(uid), resume)
                .await;
        }
        self.send_file(Method::PUT, &format!("/v3/assets/{uid}"), file)
            .await
    }

    /// Generates the permanent URL of an asset (§3).
    pub async fn permanent_url(&self, uid: &str, slug: &str) -> anyhow::Result<RemoteAsset> {
        let body = PermanentUrlBody {
            asset: PermanentUrl {
                permanent_url: slug,
            },
        };
        let answer: AssetEnvelope = self
            .typed(
                self.request(Method::PUT, &format!("/v3/assets/{uid}"))
                    .json(&body),
            )
            .await?;
        Ok(answer.asset)
    }

    /// Fetches one asset.
    pub async fn asset(&self, uid: &str) -> anyhow::Result<RemoteAsset> {
        let answer: AssetEnvelope = self
            .typed(self.request(Method::GET, &format!("/v3/assets/{uid}")))
            .await?;
        Ok(answer.asset)
    }

    /// A signed, expiring URL of an asset (§13): its permanent URL, or its current version
    /// URL with `version`; `params` are transform parameters the signature covers.
    pub async fn signed_url(
        &self,
        uid: &str,
        expires_in: u64,
        version: bool,
        params: &str,
    ) -> anyhow::Result<String> {
        let v: Value = self
            .typed(
                self.request(Method::POST, &format!("/v3/assets/{uid}/signed_url"))
                    .json(&serde_json::json!({
                        "expires_in": expires_in,
                        "url_kind": if version { "version" } else { "permanent" },
                        "params": params,
                    })),
            )
            .await?;
        v["signed_url"]
            .as_str()
            .map(str::to_owned)
            .context("the answer has no signed_url")
    }

    /// Lists assets (first 100 matching), optionally in a folder: the server's JSON as it
    /// came (for `perma ls --json`).
    pub async fn list(&self, folder: Option<&str>, query: Option<&str>) -> anyhow::Result<Value> {
        let mut r = self
            .request(Method::GET, "/v3/assets")
            .query(&[("include_count", "true"), ("include_folders", "true")]);
        if let Some(f) = folder {
            r = r.query(&[("folder", f)]);
        }
        if let Some(q) = query {
            r = r.query(&[("query", q)]);
        }
        self.typed(r).await
    }

    /// The stack's trash (§15), first 100 items: the server's JSON as it came.
    pub async fn trash(&self) -> anyhow::Result<Value> {
        let r = self
            .request(Method::GET, "/v3/trash")
            .query(&[("include_count", "true")]);
        self.typed(r).await
    }

    /// Restores an item of the trash: the server's JSON as it came.
    pub async fn restore(&self, uid: &str) -> anyhow::Result<Value> {
        let path = format!("/v3/trash/{}", urlencoding_segment(uid));
        self.typed(self.request(Method::POST, &format!("{path}/restore")))
            .await
    }

    /// Empties one item of the trash, or all of it: the server's JSON as it came.
    pub async fn empty_trash(&self, uid: Option<&str>) -> anyhow::Result<Value> {
        let path = match uid {
            Some(u) => format!("/v3/trash/{}", urlencoding_segment(u)),
            None => "/v3/trash".to_owned(),
        };
        self.typed(self.request(Method::DELETE, &path)).await
    }

    /// Downloads a URL (or an asset's current file) to `dest`, streaming.
    pub async fn download(&self, url: &str, dest: &Path) -> anyhow::Result<u64> {
        let resp = Self::check(self.request(Method::GET, url).send().await?).await?;
        let len = resp.content_length().unwrap_or(0);
        let bar = progress(len, &dest.display().to_string());
        let tmp = dest.with_extension("part");
        let mut out = tokio::fs::File::create(&tmp)
            .await
            .with_context(|| format!("creating {}", tmp.display()))?;
        let mut stream = resp.bytes_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.context("reading download")?;
            out.write_all(&chunk).await?;
            n += chunk.len() as u64;
            bar.set_position(n);
        }
        out.sync_all().await?;
        drop(out);
        tokio::fs::rename(&tmp, dest).await?;
        bar.finish_and_clear();
        Ok(n)
    }
}

/// A uid as one path segment.
fn urlencoding_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, crate::records::SEGMENT).to_string()
}
