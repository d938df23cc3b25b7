//! The bytes of an imported version: found in the export (and checked against the size
//! its record states) or, with `--fetch`, downloaded from its URL; then staged in the blob
//! store until the asset's rows are written.

use std::collections::HashMap;
use std::path::PathBuf;

use futures_util::TryStreamExt;

use super::export::{asset_url_segments, AssetRecord, Export};
use super::Run;
use crate::error::Error;
use crate::filename::Filename;
use crate::ids;
use crate::ingest::{ingest, Ingested};
use crate::records::FileMeta;
use crate::time::now_ms;

/// An exported version, resolved: its file uid and (unless a dry run) its staged bytes.
pub(super) struct PlannedFile {
    pub(super) meta: FileMeta,
    pub(super) staged: Option<Ingested>,
}

impl Run<'_> {
    /// The file of one exported version: its uid (kept from the version URL) and bytes.
    /// `Ok(None)` when an earlier version of the asset already brought the same file.
    pub(super) async fn plan_file(
        &mut self,
        export: &Export,
        rec: &AssetRecord,
        shared: usize,
        planned: &HashMap<String, PlannedFile>,
    ) -> Result<Option<PlannedFile>, String> {
        let kept = version_file_uid(rec);
        if kept.as_ref().is_some_and(|u| planned.contains_key(u)) {
            return Ok(None);
        }
        let file_uid = match kept {
            Some(u) if !self.db.file_exists(&u).await.map_err(|e| e.to_string())? => u,
            Some(u) => {
                return Err(format!("its file uid {u} is taken by another asset here"));
            }
            None => {
                let u = ids::new_file_uid();
                self.report.notes.push(format!(
                    "asset {} version {}: its URL has no file uid perma can keep; the \
                     file is {u} now, so its old version URL does not carry over",
                    rec.uid, rec.version
                ));
                u
            }
        };
        let local = if shared > 1 {
            Err(format!(
                "its file is one of {shared} versions' files the export saved under one name, \
                 files/{}/{}, so the export cannot tell whose bytes it holds (--fetch downloads \
                 each from its URL)",
                rec.uid, rec.filename
            ))
        } else {
            export.file_path(rec)
        }
        .and_then(|p| {
            let len = std::fs::metadata(&p).map_err(|e| e.to_string())?.len();
            match rec.file_size {
                Some(want) if want != len as i64 => Err(format!(
                    "its file in the export has {len} bytes, its record says {want} (another \
                     version with the same file name overwrote it?)"
                )),
                _ => Ok((p, len)),
            }
        });
        let (source, size) = match local {
            Ok((p, len)) => (Source::File(p), len),
            Err(why) => match (&rec.url, self.opts.fetch) {
                (Some(url), true) => (Source::Url(url.clone()), rec.file_size.unwrap_or(0) as u64),
                _ => return Err(why),
            },
        };
        let now = now_ms();
        let mut meta = FileMeta {
            uid: file_uid,
            sha256: String::new(),
            size: size as i64,
            content_type: rec.content_type.clone().unwrap_or_default(),
            filename: Filename::sanitize(&rec.filename).as_str().to_owned(),
            width: None,
            height: None,
            created_at: rec.updated_at.or(rec.created_at).unwrap_or(now),
        };
        if self.opts.dry_run {
            return Ok(Some(PlannedFile { meta, staged: None }));
        }
        let staged = self.stage(&source, rec).await?;
        if let Some(want) = rec.file_size {
            if want != staged.size as i64 {
                return Err(format!(
                    "{} gave {} bytes, its record says {want}",
                    source.describe(),
                    staged.size
                ));
            }
        }
        if let Source::Url(url) = &source {
            self.report.notes.push(format!(
                "asset {} version {}: fetched {url}",
                rec.uid, rec.version
            ));
        }
        meta.sha256 = staged.sha256.clone();
        meta.size = staged.size as i64;
        meta.content_type = staged.content_type.clone();
        meta.width = staged.width.map(|w| w as i64);
        meta.height = staged.height.map(|h| h as i64);
        Ok(Some(PlannedFile {
            meta,
            staged: Some(staged),
        }))
    }

    /// Streams a file (or a download) into the blob store's staging area.
    async fn stage(&mut self, source: &Source, rec: &AssetRecord) -> Result<Ingested, String> {
        let claimed_type = rec.content_type.as_deref();
        let name = Some(rec.filename.as_str());
        let staged = match source {
            Source::File(p) => {
                let f = tokio::fs::File::open(p).await.map_err(|e| e.to_string())?;
                let body = tokio_util::io::ReaderStream::new(f).map_err(Error::from);
                ingest(self.blobs, body, name, claimed_type, u64::MAX).await
            }
            Source::Url(url) => {
                if self.http.is_none() {
                    let client = reqwest::Client::builder()
                        .connect_timeout(std::time::Duration::from_secs(10))
                        .read_timeout(std::time::Duration::from_secs(60))
                        .build()
                        .map_err(|e| format!("starting a download client: {e}"))?;
                    self.http = Some(client);
                }
                let client = self.http.as_ref().expect("set above");
                let resp = client
                    .get(url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| format!("downloading {url}: {e}"))?;
                let body = resp
                    .bytes_stream()
                    .map_err(|e| Error::Internal(anyhow::anyhow!("download failed: {e}")));
                ingest(self.blobs, body, name, claimed_type, u64::MAX).await
            }
        };
        staged.map_err(|e| match e {
            Error::Internal(cause) => format!("{cause:#}"),
            other => other.public_message().0,
        })
    }
}

enum Source {
    File(PathBuf),
    Url(String),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Url(u) => u.clone(),
        }
    }
}

/// The file uid a version URL names (`…/{api_key}/{asset_uid}/{file_uid}/{filename}`), if
/// it has perma's shape (24 hex digits, as Contentstack's have).
pub(super) fn version_file_uid(rec: &AssetRecord) -> Option<String> {
    let segs = asset_url_segments(rec.url.as_deref()?)?;
    (segs.len() == 4 && segs[1] == rec.uid && ids::is_file_uid(&segs[2])).then(|| segs[2].clone())
}
