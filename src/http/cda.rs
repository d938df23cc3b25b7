//! The Content Delivery API for assets (§12): published assets and sync for websites, on
//! the same paths as the management API (a request with `access_token` and no management
//! credentials is a delivery request, `extract::Reader`). Every answer is cacheable:
//! `Cache-Control: public, max-age=0, must-revalidate` and a strong ETag over the body, so
//! a CDN or browser revalidates with a 304 instead of reloading.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::extract::{Params, Reader};
use super::render::shape;
use crate::app::App;
use crate::assets::{self, ListParams, SyncItem, SyncRequest};
use crate::db::list::Listed;
use crate::error::{Error, Result};
use crate::identity::DeliveryAccess;
use crate::records::SyncKind;
use crate::time::{iso8601, parse_iso8601};
use crate::wire::Render;

/// `Cache-Control` of every delivery API answer (§12).
const CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";

/// A JSON answer with a strong ETag over its bytes; 304 when `If-None-Match` names it.
pub(super) fn cacheable(headers: &HeaderMap, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| crate::delivery::none_match(v, &etag));
    let common = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
        (header::ETAG, etag_value),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// The delivery JSON of a published asset: the published version's metadata and URL, and
/// `publish_details` of that publication as one object.
fn published_json(app: &App, l: &Listed, r: Render) -> Value {
    let mut v = l.asset.json(&app.public_url, &[], r);
    if let Value::Object(map) = &mut v {
        // The permanent URL serves the current file, not the published one (§2).
        map.remove("permanent_url");
        map.insert(
            "publish_details".into(),
            match &l.publication {
                Some(p) => json!({
                    "environment": p.environment_uid,
                    "locale": p.locale,
                    "time": iso8601(p.published_at),
                    "user": p.published_by,
                }),
                None => Value::Null,
            },
        );
    }
    v
}

/// §12 `GET /v3/assets` for a delivery token.
pub(super) async fn list(
    app: &App,
    access: &DeliveryAccess,
    params: &Params,
    p: ListParams,
    headers: &HeaderMap,
) -> Result<Response> {
    let (page, total) = assets::list_published(&app.db, access, &p).await?;
    let r = params.render();
    let (only, except) = params.projection();
    let mut items: Vec<Value> = page
        .iter()
        .map(|l| shape(published_json(app, l, r), &only, &except))
        .collect();
    if params.flag("include_metadata") {
        super::metadata::embed_published(app, access, &mut items).await?;
    }
    let mut out = json!({ "assets": items });
    if let Some(total) = total {
        out["count"] = json!(total);
    }
    Ok(cacheable(headers, &out))
}

/// §12 `GET /v3/assets/{uid}` for a delivery token; counted for link insights (§17)
/// under the `cda` kind, a 404 (not published there, or gone) as a dead link.
pub(super) async fn fetch(
    app: &App,
    access: &DeliveryAccess,
    uid: &str,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response> {
    let answer = fetch_asset(app, access, uid, params, headers).await;
    let (status, bytes) = match &answer {
        Ok(r) => (
            r.status().as_u16(),
            axum::body::HttpBody::size_hint(r.body())
                .exact()
                .unwrap_or(0),
        ),
        Err(e) => (e.status(), 0),
    };
    app.insights.count(crate::insights::Hit {
        api_key: &access.stack.api_key,
        asset_uid: uid,
        kind: crate::insights::Kind::Cda,
        status,
        bytes,
        referer: headers
            .get(axum::http::header::REFERER)
            .and_then(|v| v.to_str().ok()),
    });
    answer
}

async fn fetch_asset(
    app: &App,
    access: &DeliveryAccess,
    uid: &str,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response> {
    let version = params.uint("version")?;
    let l = assets::fetch_published(&app.db, access, uid, version).await?;
    let (only, except) = params.projection();
    let mut one = [shape(
        published_json(app, &l, params.render()),
        &only,
        &except,
    )];
    if params.flag("include_metadata") {
        super::metadata::embed_published(app, access, &mut one).await?;
    }
    let [v] = one;
    Ok(cacheable(headers, &json!({ "asset": v })))
}

fn sync_item(app: &App, item: &SyncItem, r: Render) -> Value {
    let e = &item.event;
    let data = match &item.published {
        Some((asset, publication)) => published_json(
            app,
            &Listed {
                asset: asset.clone(),
                publication: Some(publication.clone()),
            },
            r,
        ),
        None => json!({
            "uid": e.asset_uid,
            "locale": e.locale,
            "publish_details": { "environment": e.environment_uid, "locale": e.locale },
        }),
    };
    json!({
        "type": e.kind.as_str(),
        "event_at": iso8601(e.event_at),
        "content_type_uid": "sys_assets",
        "data": data,
    })
}

/// §12 `GET /v3/stacks/sync`.
pub async fn sync(
    State(app): State<Arc<App>>,
    reader: Reader,
    params: Params,
    headers: HeaderMap,
) -> Result<Response> {
    let Reader::Delivery(access) = reader else {
        return Err(Error::BadAccessToken);
    };
    // Contentstack's types: the asset ones select items, the entry ones select nothing
    // (perma has no entries), anything else is refused naming the list.
    let (kinds, entry_types) = match params.get("type").filter(|t| !t.is_empty()) {
        None => (None, false),
        Some(t) => {
            let (mut kinds, mut entries) = (Vec::new(), false);
            for k in t.split(',').map(str::trim) {
                if let Some(kind) = SyncKind::parse(k) {
                    kinds.push(kind);
                } else if assets::ENTRY_SYNC_TYPES.contains(&k) {
                    entries = true;
                } else {
                    return Err(Error::field(
                        "type",
                        format!(
                            "{k:?} is not one of asset_published, asset_unpublished, \
                             asset_deleted, {}",
                            assets::ENTRY_SYNC_TYPES.join(", ")
                        ),
                    ));
                }
            }
            let entries_only = kinds.is_empty() && entries;
            (Some(kinds).filter(|k| !k.is_empty()), entries_only)
        }
    };
    // `content_type_uid` asks for one content type's entries; `sys_assets` is what perma's
    // sync items name as theirs, so it means the assets.
    let entries_only = entry_types
        || params
            .get("content_type_uid")
            .is_some_and(|c| !c.is_empty() && c != "sys_assets");
    let start_from = match params.get("start_from").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            parse_iso8601(s)
                .ok_or_else(|| Error::field("start_from", "is not an ISO-8601 date"))?,
        ),
    };
    let request = SyncRequest {
        init: params.flag("init"),
        kinds,
        start_from,
        pagination_token: params
            .get("pagination_token")
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        sync_token: params
            .get("sync_token")
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        entries_only,
    };
    let page = assets::sync(&app.db, &access, &request).await?;
    let r = params.render();
    let items: Vec<Value> = page.items.iter().map(|i| sync_item(&app, i, r)).collect();
    let mut out = json!({
        "items": items,
        "skip": page.skip,
        "limit": page.limit,
        "total_count": page.total_count,
    });
    if let Some(t) = page.pagination_token {
        out["pagination_token"] = json!(t);
    }
    if let Some(t) = page.sync_token {
        out["sync_token"] = json!(t);
    }
    Ok(cacheable(&headers, &out))
}
