//! Which file a delivery request serves (§4 "Which file", "Secured stacks"): from the
//! in-memory index for anonymous requests, with the database for credentials, delivery
//! tokens and environments.

use std::sync::Arc;

use anyhow::Context;

use super::entry::{HotAsset, Prepared};
use super::renditions::Rendition;
use super::{Classified, Delivery, Target};
use crate::error::{Error, Result};
use crate::identity;
use crate::ids::{self, ApiKey, Uid};
use crate::records::TokenKind;
use crate::time::now_ms;

/// The kind of URL, which decides `Cache-Control` (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// Immutable version URL.
    Version,
    /// Permanent URL (or management download through it).
    Permanent,
}

/// The file to serve, and how to label it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The asset's index entry (stack, keys for purging).
    pub asset: Arc<HotAsset>,
    /// Which of the asset's files.
    pub file: u16,
    /// Which URL kind answered.
    pub kind: UrlKind,
    /// `private` caching: the stack is secured or credentials were used.
    pub private: bool,
    /// The rendition served instead of the file (§11).
    pub rendition: Option<Arc<Rendition>>,
    /// The answer depends on `Accept` (§11 `auto=`).
    pub vary_accept: bool,
    /// The answer can change though the URL names a version: its rendition draws an
    /// overlay named by a permanent URL (§11). Cached like a permanent URL's answer.
    pub changeable: bool,
    /// The answer of a permanent URL as of a date (RFC 7089).
    pub memento: Option<Arc<super::memento::Memento>>,
}

impl Resolved {
    /// The answer, borrowed.
    pub fn answer(&self) -> Answer<'_> {
        Answer {
            asset: &self.asset,
            file: self.asset.file_at(self.file),
            kind: self.kind,
            private: self.private,
            rendition: self.rendition.as_deref(),
            vary_accept: self.vary_accept,
            changeable: self.changeable,
            memento: self.memento.as_deref(),
        }
    }
}

/// A decided answer, borrowed from the index (the fast path decides and writes the head
/// without taking a reference count on shared entries).
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The asset's index entry.
    pub asset: &'a HotAsset,
    /// The file.
    pub file: &'a Prepared,
    /// Which URL kind answered.
    pub kind: UrlKind,
    /// `private` caching.
    pub private: bool,
    /// The rendition served instead of the file (§11).
    pub rendition: Option<&'a Rendition>,
    /// The answer depends on `Accept` (§11 `auto=`).
    pub vary_accept: bool,
    /// See [`Resolved::changeable`].
    pub changeable: bool,
    /// See [`Resolved::memento`].
    pub memento: Option<&'a super::memento::Memento>,
}

pub(super) enum Mode {
    Management,
    Token { environment: String },
    Public,
}

/// The answer to an anonymous request without `?environment=` or token, from the asset's
/// index entry alone (§4 "Which file": the version URL's file, or the permanent URL's current file).
/// `None` whenever anything else is needed: a database read, credentials, or an error
/// answer (unknown asset, wrong slug, secured stack, deleted asset). The HTTP fast path
/// (`http/fast.rs`) answers with this and hands everything else to [`Delivery::resolve`].
pub fn resolve_public<'a>(
    asset: &'a HotAsset,
    api_key: &str,
    target: &Target,
) -> Option<Answer<'a>> {
    let (file, kind) = public_file(asset, api_key, target)?;
    Some(Answer {
        asset,
        file: asset.file_at(file),
        kind,
        private: false,
        rendition: None,
        vary_accept: false,
        changeable: false,
        memento: None,
    })
}

/// Which file of the entry [`resolve_public`] answers with, and as which URL kind.
fn public_file(asset: &HotAsset, api_key: &str, target: &Target) -> Option<(u16, UrlKind)> {
    if Some(asset.stack) != ids::blt_bits(api_key) || asset.secured || asset.deleted {
        return None;
    }
    match target {
        Target::Version { file_uid } => Some((asset.file_index(file_uid)?, UrlKind::Version)),
        Target::Slug(slug) if asset.slug() == Some(slug.as_str()) => {
            Some((asset.current()?, UrlKind::Permanent))
        }
        Target::Slug(_) | Target::Latest => None,
    }
}

impl Delivery {
    /// The index entry of an asset: from memory, or loaded from the database (in a batch
    /// with other misses) and remembered. `None` when the asset does not exist, is not a
    /// file asset, or belongs to another stack; such uids are remembered as missing.
    pub async fn hot_asset(
        &self,
        api_key: &str,
        asset_uid: &str,
    ) -> anyhow::Result<Option<Arc<HotAsset>>> {
        if let Some(hit) = self.hot.get(asset_uid) {
            return Ok((Some(hit.stack) == ids::blt_bits(api_key)).then_some(hit));
        }
        if self.hot.is_missing(asset_uid) {
            return Ok(None);
        }
        // SQLite: one point read right here, on this thread (a delivery worker's miss
        // costs no thread hop). The pooled, batched loader otherwise, and if that read
        // fails (say a lock held past its short wait).
        let entry = match self.db.direct_reader().map(|direct| {
            let generation = self.hot.generation();
            direct.entry(asset_uid, generation).map(|found| {
                super::loader::remember(&self.hot, asset_uid, found.as_ref(), generation)
            })
        }) {
            Some(Ok(entry)) => entry,
            Some(Err(e)) => {
                tracing::debug!(asset_uid, error = %e, "direct read failed; using the pool");
                self.loader().load(asset_uid).await?
            }
            // PostgreSQL: a delivery worker's own loader, else (or if it fails) the pool's.
            None => match super::loader::Loader::local(&self.db, &self.hot) {
                Some(local) => match local.load(asset_uid).await {
                    Ok(entry) => entry,
                    Err(e) => {
                        tracing::debug!(asset_uid, error = %e, "worker read failed; using the pool");
                        self.loader().load(asset_uid).await?
                    }
                },
                None => self.loader().load(asset_uid).await?,
            },
        };
        Ok(entry.filter(|e| Some(e.stack) == ids::blt_bits(api_key)))
    }

    /// Fills the delivery index at start-up, in batches, until the budget is reached (or
    /// every asset is in), so that the first requests after a restart are as fast as the
    /// later ones. Runs in the background: perma answers at once, and requests meanwhile
    /// load their entries on demand. A batch during which something changed is skipped
    /// (its entries load on demand). Returns how many entries it stored.
    pub async fn preload(&self) -> anyhow::Result<usize> {
        const BATCH: u32 = 2000;
        let (mut after, mut stored) = (String::new(), 0);
        loop {
            let generation = self.hot.generation();
            let batch = self
                .db
                .delivery_batch(&after, BATCH)
                .await
                .context("reading a batch of the delivery index")?;
            let Some(last) = batch.last() else {
                return Ok(stored);
            };
            after = last.uid.clone();
            let full = batch.len() < BATCH as usize;
            let entries = batch
                .iter()
                .map(|e| (e.uid.clone(), Arc::new(HotAsset::new(e))))
                .collect();
            match self.hot.fill(entries, generation) {
                Some(n) => stored += n,
                None if self.hot.generation() != generation => {}
                None => return Ok(stored),
            }
            if full {
                return Ok(stored);
            }
        }
    }

    /// Decides which file a delivery request serves (§4 "Which file", "Secured stacks").
    /// Anonymous requests for public stacks are answered from memory.
    pub async fn resolve(&self, req: &Classified<'_>) -> Result<Resolved> {
        let path = &req.path;
        let management = req.headers.has_credentials();
        // §2.3: the latest-file path is for management credentials only; refused before
        // anything is looked up.
        if path.target == Target::Latest && !management {
            return Err(Error::Unauthorized);
        }
        if req.is_public() {
            if let Some(hit) = self.hot.get(&path.asset_uid) {
                let found = public_file(&hit, &path.api_key, &path.target);
                if let Some((file, kind)) = found {
                    return Ok(Resolved {
                        asset: hit,
                        file,
                        kind,
                        private: false,
                        rendition: None,
                        vary_accept: false,
                        changeable: false,
                        memento: None,
                    });
                }
            }
        }
        let not_found = || Error::NotFound("Asset");
        let api_key = ApiKey::parse(&path.api_key).ok_or_else(not_found)?;
        let asset_uid = Uid::parse(&path.asset_uid).ok_or_else(not_found)?;
        let mut asset = self
            .hot_asset(api_key.as_str(), asset_uid.as_str())
            .await?
            .ok_or_else(not_found)?;

        // §13: a signed URL is checked first (403 if any byte changed, 410 once expired);
        // a valid one stands in for a delivery token on a secured stack.
        let signed = !management && req.query.signed;
        if signed {
            crate::signing::verify(
                &self.db,
                api_key.as_str(),
                req.path.raw,
                req.query.raw.unwrap_or(""),
            )
            .await?;
        }
        let mode = if management {
            let access = identity::stack_access(
                &self.db,
                Some(api_key.as_str()),
                &req.headers.credentials(),
            )
            .await?;
            access.require_read()?;
            // A member whose roles reach only some assets reads only those (§14).
            if !access.grants.everywhere(crate::permissions::Action::Read) {
                if let Some(row) = self.db.asset(api_key.as_str(), asset_uid.as_str()).await? {
                    access
                        .require(&self.db, crate::permissions::Action::Read, &row)
                        .await?;
                }
            }
            Mode::Management
        } else if let Some(token) = &req.query.access_token {
            let t = self
                .db
                .token_by_hash(&ids::hash_token(token))
                .await?
                .filter(|t| {
                    t.kind == TokenKind::Delivery
                        && t.api_key == api_key.as_str()
                        && t.expires_at.is_none_or(|e| e > now_ms())
                })
                .ok_or(Error::Unauthorized)?;
            let environment = req
                .query
                .environment
                .clone()
                .map(String::from)
                .ok_or_else(|| {
                    Error::Forbidden("A delivery token must be used with ?environment=".into())
                })?;
            if !t.environments.contains(&environment) {
                return Err(Error::Forbidden(
                    "This delivery token is not valid for that environment.".into(),
                ));
            }
            Mode::Token { environment }
        } else if asset.secured && !signed {
            return Err(Error::Unauthorized);
        } else {
            Mode::Public
        };

        // A permanent URL as of a date (RFC 7089): its own answer, deleted assets included
        // (a time before the deletion has one).
        if matches!(path.target, Target::Slug(_) | Target::Latest) {
            if let Some(at) = super::memento::instant(req)? {
                return self.resolve_at(req, asset, &mode, at).await;
            }
        }
        if asset.deleted {
            return Err(Error::Gone);
        }
        let environment = match &mode {
            Mode::Management => None,
            Mode::Token { environment } => Some(environment.as_str()),
            Mode::Public => req.query.environment.as_deref(),
        };
        // The file of the version published to the environment, if one is asked for.
        let published_file = match environment {
            None => None,
            Some(name) => {
                let env = self
                    .db
                    .environment(api_key.as_str(), name)
                    .await?
                    .ok_or(Error::NotFound("Environment"))?;
                let locale = req.query.locale.as_deref().unwrap_or(asset.master_locale());
                let version = self
                    .db
                    .published_version(asset_uid.as_str(), &env.uid, locale)
                    .await?
                    .ok_or_else(not_found)?;
                let v = self
                    .db
                    .version(asset_uid.as_str(), version)
                    .await?
                    .ok_or_else(not_found)?;
                let uid = v.file.ok_or_else(not_found)?.uid;
                let (with, _) = self
                    .file_of(asset, asset_uid.as_str(), &uid)
                    .await?
                    .ok_or_else(not_found)?;
                asset = with;
                Some(uid)
            }
        };
        if path.target == Target::Latest && !matches!(mode, Mode::Management) {
            return Err(Error::Unauthorized);
        }
        let (file, kind) = match &path.target {
            Target::Latest => (asset.current().ok_or_else(not_found)?, UrlKind::Permanent),
            Target::Version { file_uid } => {
                // With a delivery token, only published files are served.
                if matches!(mode, Mode::Token { .. })
                    && published_file.as_deref() != Some(file_uid.as_str())
                {
                    return Err(not_found());
                }
                let (with, file) = self
                    .file_of(asset, asset_uid.as_str(), file_uid)
                    .await?
                    .ok_or_else(not_found)?;
                asset = with;
                (file, UrlKind::Version)
            }
            Target::Slug(slug) => {
                let current = asset.current().ok_or_else(not_found)?;
                let matches_slug = asset.slug() == Some(slug.as_str());
                match mode {
                    // §2.3: management download, always the latest version. Before a permanent
                    // URL exists the current file name works too, so scripts can fetch bytes.
                    Mode::Management
                        if matches_slug
                            || asset.filename(asset.file_at(current)) == slug.as_str() =>
                    {
                        (current, UrlKind::Permanent)
                    }
                    _ if !matches_slug => return Err(not_found()),
                    Mode::Management => unreachable!("handled above"),
                    _ => match &published_file {
                        Some(uid) => (
                            asset.file_index(uid).ok_or_else(not_found)?,
                            UrlKind::Permanent,
                        ),
                        None => (current, UrlKind::Permanent),
                    },
                }
            }
        };
        Ok(Resolved {
            private: asset.secured || management,
            asset,
            file,
            kind,
            rendition: None,
            vary_accept: false,
            changeable: false,
            memento: None,
        })
    }

    /// The entry with the file `file_uid` of the asset, and the file's position in it: the
    /// entry itself when it holds the file, else (an incomplete entry, §4 "Version
    /// URLs" of an asset with many versions) a copy for this answer with the file read by
    /// its primary key. `None` when the asset has no such file.
    pub(super) async fn file_of(
        &self,
        asset: Arc<HotAsset>,
        asset_uid: &str,
        file_uid: &str,
    ) -> Result<Option<(Arc<HotAsset>, u16)>> {
        if let Some(i) = asset.file_index(file_uid) {
            return Ok(Some((asset, i)));
        }
        if asset.complete || ids::file_uid_bits(file_uid).is_none() {
            return Ok(None);
        }
        let Some(f) = self.db.asset_file(asset_uid, file_uid).await? else {
            return Ok(None);
        };
        let Some(with) = asset.with_file(&f) else {
            return Ok(None);
        };
        let i = with.file_index(file_uid);
        Ok(i.map(|i| (Arc::new(with), i)))
    }

    /// The bytes of a small file (up to [`super::MAX_BODY`]): from the body cache, or read from the
    /// blob store once and remembered (content-addressed, so never stale). Only bytes whose
    /// length matches the file row are cached or returned.
    pub async fn small_body(&self, sha256: &str, len: u64) -> std::io::Result<bytes::Bytes> {
        if let Some(b) = self.hot.body(sha256) {
            return Ok(b);
        }
        let b = self.blobs.read_all(sha256).await?;
        if b.len() as u64 != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("blob has {} bytes, the file row says {len}", b.len()),
            ));
        }
        self.hot.put_body(sha256, b.clone());
        Ok(b)
    }
}
