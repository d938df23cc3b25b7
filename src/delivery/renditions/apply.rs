//! Answering a request with §11 parameters: the rendition instead of the file, with the
//! `overlay` URL resolved to a file of the same stack first.

use std::net::IpAddr;

use super::{decide, Decision, Renditions, Source, Wanted, PERMANENT_QUERIES};
use crate::delivery::{
    Classified, Delivery, DeliveryHeaders, DeliveryPath, DeliveryQuery, Resolved, Target, UrlKind,
};
use crate::error::{Error, Result};

impl Renditions {
    /// Notes that `url` (path and query) was answered with a rendition whose overlay is
    /// the permanent URL of `overlay_uid`, so that a change of that asset purges `url`.
    pub fn note_overlay_use(&self, overlay_uid: &str, url: &str) {
        let Ok(mut m) = self.overlay_uses.lock() else {
            return;
        };
        if m.len() >= super::MEMORY_ENTRIES {
            m.clear();
        }
        let list = m.entry(overlay_uid.to_owned()).or_default();
        if list.len() < PERMANENT_QUERIES && !list.iter().any(|u| &**u == url) {
            list.push(url.into());
        }
    }

    /// The URLs noted for an overlay asset (see [`Renditions::note_overlay_use`]).
    pub fn overlay_uses(&self, overlay_uid: &str) -> Vec<String> {
        self.overlay_uses
            .lock()
            .ok()
            .and_then(|m| {
                m.get(overlay_uid)
                    .map(|l| l.iter().map(|u| u.to_string()).collect())
            })
            .unwrap_or_default()
    }
}

impl Delivery {
    /// Serves a rendition instead of the file when the request has §11 parameters and the
    /// file is an image perma can decode: renders it now if it is not stored yet.
    pub async fn apply_transform(
        &self,
        resolved: &mut Resolved,
        req: &Classified<'_>,
        client: Option<IpAddr>,
    ) -> Result<()> {
        let Some(query) = req.query.transform else {
            return Ok(());
        };
        let answer = resolved.answer();
        if crate::delivery::redirects(&answer, req) {
            return Ok(());
        }
        let f = answer.file;
        let sha = f.sha256().to_string();
        let content_type = answer.asset.content_type(f).to_owned();
        let source = Source {
            sha256: &sha,
            size: f.size,
            content_type: &content_type,
        };
        match decide(query, req.headers.accept, source)? {
            Decision::Original { vary_accept } => resolved.vary_accept = vary_accept,
            Decision::Rendition(mut wanted) => {
                if resolved.kind == UrlKind::Permanent {
                    let uid = resolved.asset.asset_uid();
                    self.renditions.note_permanent_query(&uid, query);
                }
                self.bind_overlay(&mut wanted, resolved, req).await?;
                let r = self
                    .renditions
                    .get_or_render(&wanted, source, client)
                    .await?;
                self.renditions.counters.served.add(1);
                resolved.vary_accept = wanted.vary_accept;
                resolved.rendition = Some(r);
            }
        }
        Ok(())
    }

    /// Resolves the transform's `overlay` URL as the request itself would be resolved (its
    /// credentials, delivery token, environment and locale; a CDA request's overlay must be
    /// published to its environment) and binds its file. An overlay of another stack, one
    /// the request may not read, or one that does not exist is a 400 naming `overlay`.
    /// When the overlay is named by its permanent URL, the answer can change with it: it is
    /// cached as a permanent URL's, and noted for purging.
    async fn bind_overlay(
        &self,
        wanted: &mut Wanted,
        resolved: &mut Resolved,
        req: &Classified<'_>,
    ) -> Result<()> {
        let Some(path) = wanted.overlay_path().map(str::to_owned) else {
            return Ok(());
        };
        let refused = |why: &str| {
            Error::Malformed(format!(
                "The image parameter overlay ({path}) must name an image asset of this stack \
                 that this request may read: {why}."
            ))
        };
        let ov_path = DeliveryPath::parse(&path)
            .filter(|p| p.target != Target::Latest)
            .ok_or_else(|| refused("it is not a delivery URL"))?;
        if ov_path.api_key != req.path.api_key {
            return Err(refused("it belongs to another stack"));
        }
        let permanent = matches!(ov_path.target, Target::Slug(_));
        let ov_req = Classified {
            method: req.method,
            path: ov_path,
            query: DeliveryQuery {
                environment: req.query.environment.clone(),
                locale: req.query.locale.clone(),
                access_token: req.query.access_token.clone(),
                ..DeliveryQuery::default()
            },
            headers: DeliveryHeaders {
                authtoken: req.headers.authtoken,
                authorization: req.headers.authorization,
                ..DeliveryHeaders::default()
            },
        };
        let overlay = match self.resolve(&ov_req).await {
            Ok(r) => r,
            Err(Error::NotFound(_)) => return Err(refused("no such asset or file")),
            Err(Error::Gone) => return Err(refused("that asset was deleted")),
            Err(Error::Unauthorized | Error::Forbidden(_)) => {
                return Err(refused(
                    "it is not readable with this request's credentials",
                ))
            }
            Err(e) => return Err(e),
        };
        let answer = overlay.answer();
        let sha = answer.file.sha256().to_string();
        let content_type = answer.asset.content_type(answer.file).to_owned();
        wanted.bind_overlay(Source {
            sha256: &sha,
            size: answer.file.size,
            content_type: &content_type,
        })?;
        if permanent {
            resolved.changeable = true;
            let url = match req.query.raw {
                Some(q) => format!("{}?{q}", req.path.raw),
                None => req.path.raw.to_owned(),
            };
            let uid = overlay.asset.asset_uid();
            self.renditions.note_overlay_use(&uid, &url);
        }
        Ok(())
    }
}
