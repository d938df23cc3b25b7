//! Direct uploads from the command line (§16): on S3 storage the file's parts go straight
//! to the bucket through the presigned URLs perma hands out, one part at a time; each part
//! sent is remembered (its `ETag`), so a broken transfer resends only the part in flight,
//! within the run and when the same command runs again.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{progress, Client};

/// A direct upload under way: its id and the parts sent, by number.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// The upload's id.
    pub uid: String,
    /// Part number → `ETag`.
    pub etags: BTreeMap<u32, String>,
}

impl Sent {
    /// As kept in the state file.
    pub fn to_json(&self) -> Value {
        json!({ "direct": self.uid, "etags": self.etags })
    }

    /// From the state file.
    pub fn from_json(v: &Value) -> Option<Sent> {
        Some(Sent {
            uid: v["direct"].as_str()?.to_owned(),
            etags: serde_json::from_value(v["etags"].clone()).unwrap_or_default(),
        })
    }
}

/// The upload's state (`None`: the server no longer has it).
pub async fn status(c: &Client, uid: &str) -> anyhow::Result<Option<Value>> {
    let r = c
        .request(Method::GET, &format!("/v3/uploads/direct/{uid}"))
        .send()
        .await
        .context("asking where the upload is")?;
    if matches!(r.status(), StatusCode::NOT_FOUND | StatusCode::GONE) {
        return Ok(None);
    }
    let v: Value = Client::check(r).await?.json().await?;
    Ok(Some(v["upload"].clone()))
}

/// Fresh URLs for every part, by number.
async fn urls(c: &Client, uid: &str, count: u32) -> anyhow::Result<BTreeMap<u32, String>> {
    let mut out = BTreeMap::new();
    while (out.len() as u32) < count {
        let from = out.len() + 1;
        let path = format!("/v3/uploads/direct/{uid}/parts?from={from}");
        let v: Value = c.typed(c.request(Method::GET, &path)).await?;
        let parts = v["parts"].as_array().context("no parts in the answer")?;
        if parts.is_empty() {
            bail!("the server gave no URL for part {from}");
        }
        for p in parts {
            let n = p["part_number"].as_u64().context("a part without number")?;
            let url = p["url"].as_str().context("a part without URL")?;
            out.insert(n as u32, url.to_owned());
        }
    }
    Ok(out)
}

/// `PUT`s bytes `start..start+len` of `file` to a part URL; its `ETag`, or why not.
async fn put_part(
    c: &Client,
    url: &str,
    file: &Path,
    start: u64,
    len: u64,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Result<String, StatusCode>> {
    let mut f = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    f.seek(std::io::SeekFrom::Start(start)).await?;
    let b2 = bar.clone();
    let stream = ReaderStream::with_capacity(f.take(len), 256 * 1024).inspect(move |c| {
        if let Ok(c) = c {
            b2.inc(c.len() as u64);
        }
    });
    // The URL carries its own authorisation: no credentials of perma's go to the store.
    let r = c
        .http
        .put(url)
        .header("content-length", len.to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .context("sending a part")?;
    if !r.status().is_success() {
        return Ok(Err(r.status()));
    }
    r.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(|e| Ok(e.to_owned()))
        .context("the store answered a part without ETag")
}

/// Sends the parts not sent yet, then has perma assemble and check them. `remember` is
/// called after every part, to keep `sent` across runs.
pub async fn send(
    c: &Client,
    file: &Path,
    name: &str,
    sent: &mut Sent,
    retries: u32,
    mut remember: impl FnMut(&Sent),
) -> anyhow::Result<()> {
    let up = status(c, &sent.uid)
        .await?
        .context("the server no longer has the upload; send it again")?;
    if up["finished"] == json!(true) {
        return Ok(());
    }
    let len = up["size"].as_u64().context("an upload without size")?;
    let part_size = up["part_size"].as_u64().context("no part size")?;
    let count = up["parts_count"].as_u64().context("no part count")? as u32;
    let mut urls = urls(c, &sent.uid, count).await?;
    let part_len = |n: u32| part_size.min(len - u64::from(n - 1) * part_size);
    let bar = progress(len, name);
    bar.set_position(sent.etags.keys().map(|n| part_len(*n)).sum());
    let mut tries = 0;
    for n in 1..=count {
        while !sent.etags.contains_key(&n) {
            let start = u64::from(n - 1) * part_size;
            let before = bar.position();
            let failure = match put_part(c, &urls[&n], file, start, part_len(n), &bar).await {
                Ok(Ok(etag)) => {
                    sent.etags.insert(n, etag);
                    remember(sent);
                    continue;
                }
                Ok(Err(status)) => anyhow::anyhow!("the store answered {status}"),
                Err(e) => e,
            };
            bar.set_position(before);
            if tries >= retries {
                bar.abandon();
                return Err(failure.context(format!(
                    "{name}: interrupted at part {n} of {count}; run the same command again to resume"
                )));
            }
            tries += 1;
            bar.suspend(|| eprintln!("{name}: part {n}: {failure:#}; sending it again"));
            tokio::time::sleep(Duration::from_millis(500 << (tries - 1).min(5))).await;
            // The URLs may have expired meanwhile.
            urls = self::urls(c, &sent.uid, count).await?;
        }
    }
    bar.finish_and_clear();
    let parts: Vec<Value> = sent
        .etags
        .iter()
        .map(|(n, etag)| json!({ "part_number": n, "etag": etag }))
        .collect();
    let path = format!("/v3/uploads/direct/{}/complete", sent.uid);
    let _: Value = c
        .typed(
            c.request(Method::POST, &path)
                .json(&json!({ "parts": parts })),
        )
        .await?;
    Ok(())
}
