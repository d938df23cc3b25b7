//! A typed HTTP client for perma's `/v3` API, used by the CLI's client commands.
//! Transfers stream from and to disk with a progress bar.

use std::path::Path;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{multipart, Method, RequestBuilder, Response};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A user session (`authtoken` header).
    Authtoken(String),
    /// A management token (`authorization` header).
    ManagementToken(String),
}

/// Client for one stack on one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
    auth: Option<Auth>,
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
        let body = serde_json::json!({ "user": { "email": email, "password": password } });
        let v = self
            .json(self.request(Method::POST, "/v3/user-session").json(&body))
            .await?;
        v["user"]["authtoken"]
            .as_str()
            .map(str::to_owned)
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

    async fn json(&self, r: RequestBuilder) -> anyhow::Result<Value> {
        let resp = Self::check(r.send().await.context("sending request")?).await?;
        resp.json().await.context("reading JSON response")
    }

    async fn send_file(&self, method: Method, path: &str, file: &Path) -> anyhow::Result<Value> {
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
        let v = self.json(self.request(method, path).multipart(form)).await;
        bar.finish_and_clear();
        v
    }

    /// Uploads a file as a new asset; returns the asset JSON.
    pub async fn upload(&self, file: &Path) -> anyhow::Result<Value> {
        Ok(self.send_file(Method::POST, "/v3/assets", file).await?["asset"].take())
    }

    /// Replaces an asset's file; returns the asset JSON.
    pub async fn replace(&self, uid: &str, file: &Path) -> anyhow::Result<Value> {
        Ok(self
            .send_file(Method::PUT, &format!("/v3/assets/{uid}"), file)
            .await?["asset"]
            .take())
    }

    /// Generates the permanent URL of an asset (§3); returns the asset JSON.
    pub async fn permanent_url(&self, uid: &str, slug: &str) -> anyhow::Result<Value> {
        let body = serde_json::json!({ "asset": { "permanent_url": slug } });
        let v = self
            .json(
                self.request(Method::PUT, &format!("/v3/assets/{uid}"))
                    .json(&body),
            )
            .await?;
        Ok(v["asset"].clone())
    }

    /// Fetches one asset's JSON.
    pub async fn asset(&self, uid: &str) -> anyhow::Result<Value> {
        let v = self
            .json(self.request(Method::GET, &format!("/v3/assets/{uid}")))
            .await?;
        Ok(v["asset"].clone())
    }

    /// Lists assets (first 100 matching), optionally in a folder.
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
        self.json(r).await
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
