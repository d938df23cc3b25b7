//! A permanent URL as of a date, perma's addition (RFC 7089, Memento): `?at=` (ISO-8601)
//! or the `Accept-Datetime` header on a permanent URL serves the version that was current
//! at that instant (with `environment=`, or a delivery token: the version published there
//! then); its TimeMap (`?timemap=link`) lists every version with its date. A time before
//! the asset existed is 404, one after its deletion 410; a malformed date 400.

use std::time::{Duration, UNIX_EPOCH};

use super::resolve::Mode;
use super::{Classified, Delivery, HotAsset, Resolved, Target, UrlKind};
use crate::db::history::PublishedThen;
use crate::error::{Error, Result};
use crate::records::version_path;
use crate::time::{now_ms, parse_iso8601};

/// Versions per TimeMap page.
pub const TIMEMAP_PAGE: i64 = 1000;

/// What an answer as of a date says about itself (the `Memento-Datetime` and `Link`
/// headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memento {
    /// When the served version became what the URL answered (ms): its creation, or its
    /// publication to the environment.
    pub datetime: i64,
    /// The permanent URL's path (the original resource and its time gate).
    pub original: String,
    /// The served version's version URL path.
    pub version_path: String,
    /// The instant came from `Accept-Datetime` (the answer varies on it).
    pub negotiated: bool,
}

impl Memento {
    /// `Memento-Datetime`.
    pub fn datetime_header(&self) -> String {
        http_date(self.datetime)
    }

    /// `Link`: the original resource (also the time gate), the TimeMap, and this memento.
    pub fn link_header(&self) -> String {
        format!(
            "<{o}>; rel=\"original timegate\", <{o}?timemap=link>; rel=\"timemap\"; \
             type=\"application/link-format\", <{v}>; rel=\"memento\"; datetime=\"{d}\"",
            o = self.original,
            v = self.version_path,
            d = self.datetime_header(),
        )
    }
}

/// An HTTP date (RFC 9110 §5.6.7) of an instant in ms.
fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// The instant a request asks for, in ms: `?at=` (ISO-8601, `Z` or no zone: UTC) wins over
/// `Accept-Datetime` (an HTTP date, RFC 7089 §2.1.1); whether it came from the header.
/// Either malformed → 400 naming it.
pub fn instant(req: &Classified<'_>) -> Result<Option<(i64, bool)>> {
    if let Some(at) = &req.query.at {
        return parse_at(at).map(|t| Some((t, false))).ok_or_else(|| {
            Error::Malformed(format!(
                "The value {at:?} of at is not a date: use ISO-8601 such as \
                 2026-03-01T09:00:00Z."
            ))
        });
    }
    match req.headers.accept_datetime {
        None => Ok(None),
        Some(h) => parse_accept_datetime(h)
            .map(|t| Some((t, true)))
            .ok_or_else(|| {
                Error::Malformed(format!(
                    "The Accept-Datetime header {h:?} is not an HTTP date such as \
                 Sun, 01 Mar 2026 09:00:00 GMT."
                ))
            }),
    }
}

/// `?at=`: an ISO-8601 instant in UTC, to the millisecond.
pub fn parse_at(s: &str) -> Option<i64> {
    let s = s.trim();
    // Digits, separators and a final `Z` only: no offsets, no spaces inside.
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b"-:.TZ".contains(&b))
        && s.find('Z').is_none_or(|i| i == s.len() - 1);
    ok.then(|| parse_iso8601(s)).flatten()
}

/// `Accept-Datetime`: an HTTP date (IMF-fixdate; the obsolete forms too, as `httpdate`
/// reads them).
pub fn parse_accept_datetime(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s.trim()).ok()?;
    let ms = t.duration_since(UNIX_EPOCH).ok()?.as_millis();
    i64::try_from(ms).ok()
}

impl Delivery {
    /// The answer to a permanent URL (or a management download) as of `at`: the version
    /// current then, or (an environment) published there then. Access has been checked.
    pub(super) async fn resolve_at(
        &self,
        req: &Classified<'_>,
        asset: std::sync::Arc<HotAsset>,
        mode: &Mode,
        (at, negotiated): (i64, bool),
    ) -> Result<Resolved> {
        let not_found = || Error::NotFound("Asset");
        let asset_uid = req.path.asset_uid.as_ref();
        if let Target::Slug(slug) = &req.path.target {
            if asset.slug() != Some(slug.as_str()) {
                return Err(not_found());
            }
        }
        let (created, deleted) = self
            .db
            .asset_lifetime(asset_uid)
            .await?
            .ok_or_else(not_found)?;
        if at < created {
            // The asset did not exist yet at that time.
            return Err(not_found());
        }
        if deleted.is_some_and(|d| d <= at) {
            return Err(Error::Gone);
        }
        let environment = match mode {
            Mode::Management => None,
            Mode::Token { environment } => Some(environment.as_str()),
            Mode::Public => req.query.environment.as_deref(),
        };
        let (version, datetime) = match environment {
            None => self
                .db
                .version_at(asset_uid, at)
                .await?
                .ok_or_else(not_found)?,
            Some(name) => {
                let env = self
                    .db
                    .environment(&req.path.api_key, name)
                    .await?
                    .ok_or(Error::NotFound("Environment"))?;
                let locale = req.query.locale.as_deref().unwrap_or(asset.master_locale());
                match self
                    .db
                    .published_then(asset_uid, &env.uid, locale, at)
                    .await?
                {
                    PublishedThen::Version(v, since) => (v, since),
                    // Not published there at that time.
                    PublishedThen::Never | PublishedThen::Withdrawn(_) => return Err(not_found()),
                }
            }
        };
        let v = self
            .db
            .version(asset_uid, version)
            .await?
            .ok_or_else(not_found)?;
        let file = v.file.ok_or_else(not_found)?;
        let (asset, index) = self
            .file_of(asset, asset_uid, &file.uid)
            .await?
            .ok_or_else(not_found)?;
        let memento = Memento {
            datetime,
            original: req.path.raw.to_owned(),
            version_path: version_path(&req.path.api_key, asset_uid, &file),
            negotiated,
        };
        Ok(Resolved {
            private: asset.secured || matches!(mode, Mode::Management),
            asset,
            file: index,
            // An instant in the past has one answer forever: cached like a version URL.
            // One still to come is what the URL answers now, and can change.
            kind: if at <= now_ms() {
                UrlKind::Version
            } else {
                UrlKind::Permanent
            },
            rendition: None,
            vary_accept: false,
            changeable: false,
            memento: Some(std::sync::Arc::new(memento)),
        })
    }

    /// The TimeMap of a permanent URL (RFC 7089 §5, `application/link-format`): one page of
    /// its versions, oldest first, each with its version URL and date (with an environment:
    /// the versions published there and when), with `next`/`prev` links between pages.
    /// `resolved` is the permanent URL's own answer, so access was checked as for it.
    pub async fn timemap(&self, req: &Classified<'_>, resolved: &Resolved) -> Result<String> {
        let page = match &req.query.timemap_page {
            None => 1,
            Some(p) => p
                .parse::<i64>()
                .ok()
                .filter(|p| (1..=1_000_000).contains(p))
                .ok_or_else(|| {
                    Error::Malformed(format!(
                        "The value {p:?} of page is not a page number (1 or more)."
                    ))
                })?,
        };
        let asset_uid = req.path.asset_uid.as_ref();
        let api_key = req.path.api_key.as_ref();
        let original = req.path.raw;
        let window = ((page - 1) * TIMEMAP_PAGE, TIMEMAP_PAGE + 1);
        let environment = match &req.query.environment {
            Some(name) if !resolved.private || req.query.access_token.is_some() => Some(name),
            _ => None,
        };
        let mut entries: Vec<(String, i64)> = Vec::new();
        match environment {
            Some(name) => {
                let env = self
                    .db
                    .environment(api_key, name)
                    .await?
                    .ok_or(Error::NotFound("Environment"))?;
                let locale = req
                    .query
                    .locale
                    .as_deref()
                    .unwrap_or(resolved.asset.master_locale());
                for (v, at) in self
                    .db
                    .publish_history(asset_uid, &env.uid, locale, window)
                    .await?
                {
                    if let Some(f) = self.db.version(asset_uid, v).await?.and_then(|v| v.file) {
                        entries.push((version_path(api_key, asset_uid, &f), at));
                    }
                }
            }
            None => {
                let versions = self
                    .db
                    .versions_oldest_first(asset_uid, window.0, window.1)
                    .await?;
                for v in versions {
                    if let Some(f) = &v.file {
                        entries.push((version_path(api_key, asset_uid, f), v.created_at));
                    }
                }
            }
        }
        let more = entries.len() as i64 > TIMEMAP_PAGE;
        entries.truncate(TIMEMAP_PAGE as usize);
        let query = |p: i64| match &req.query.environment {
            Some(e) => format!("timemap=link&environment={e}&page={p}"),
            None => format!("timemap=link&page={p}"),
        };
        let mut out = format!(
            "<{original}>; rel=\"original timegate\",\n\
             <{original}?{}>; rel=\"self\"; type=\"application/link-format\"",
            query(page)
        );
        if page > 1 {
            out.push_str(&format!(
                ",\n<{original}?{}>; rel=\"prev\"; type=\"application/link-format\"",
                query(page - 1)
            ));
        }
        if more {
            out.push_str(&format!(
                ",\n<{original}?{}>; rel=\"next\"; type=\"application/link-format\"",
                query(page + 1)
            ));
        }
        for (i, (path, at)) in entries.iter().enumerate() {
            let first = page == 1 && i == 0;
            let last = !more && i + 1 == entries.len();
            let rel = match (first, last) {
                (true, true) => "first last memento",
                (true, false) => "first memento",
                (false, true) => "last memento",
                (false, false) => "memento",
            };
            out.push_str(&format!(
                ",\n<{path}>; rel=\"{rel}\"; datetime=\"{}\"",
                http_date(*at)
            ));
        }
        out.push('\n');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_strictly() {
        assert_eq!(parse_at("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_at("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_at("1970-01-02"), Some(86_400_000));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-03-01T09:00:00+02:00",
            "2026-03-01 09:00:00",
            "2026-03-01T09:00:00ZZ",
            "2026-03-01TZ09:00",
            "2026-02-29T10:00:00Z",
            "2026-04-31",
            "99999-01-01",
        ] {
            assert_eq!(parse_at(bad), None, "{bad}");
        }
        assert_eq!(
            parse_accept_datetime("Thu, 01 Jan 1970 00:00:02 GMT"),
            Some(2000)
        );
        assert_eq!(parse_accept_datetime("2026-03-01"), None);
    }
}
