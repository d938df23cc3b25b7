//! Link insights (§17) over HTTP: an asset's series and referring pages, and the stack's
//! most requested assets, unused assets and dead links. Shapes in docs/api.md.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::extract::{Params, Stack};
use crate::app::App;
use crate::db::insights::AssetState;
use crate::error::Result;
use crate::insights::read::{self, Granularity, Range};
use crate::time::iso8601;

/// `skip` and `limit` (1–100, default `default`).
fn page(params: &Params, default: i64) -> Result<(i64, i64)> {
    let skip = params.skip()?.min(i64::MAX as u64) as i64;
    let limit = params.uint("limit")?.unwrap_or(default).clamp(1, 100);
    Ok((skip, limit))
}

fn range(params: &Params) -> Result<Range> {
    Range::parse(params.get("from"), params.get("to"))
}

fn range_json(r: Range) -> Value {
    json!({ "from": iso8601(r.from), "to": iso8601(r.to) })
}

/// The URL to link instead of a dead link: the asset's permanent URL (or its version
/// URL) once it is live again; `null` otherwise.
fn link_instead(app: &App, api_key: &str, s: &AssetState) -> Value {
    if s.state != "live" {
        return Value::Null;
    }
    let path = match (&s.slug, &s.file) {
        (Some(slug), _) => crate::records::permanent_path(api_key, &s.uid, slug),
        (None, Some((file_uid, filename))) => {
            crate::records::file_path(api_key, &s.uid, file_uid, filename)
        }
        (None, None) => return Value::Null,
    };
    json!(format!("{}{path}", app.public_url))
}

/// A referring page and its requests.
fn page_json((page, requests): &(String, i64)) -> Value {
    json!({ "page": page, "requests": requests })
}

/// The range and one list under `field`.
fn ranged(r: Range, field: &str, list: Vec<Value>) -> Json<Value> {
    let mut out = range_json(r);
    out[field] = json!(list);
    Json(out)
}

/// `GET /v3/assets/{uid}/insights?from&to&granularity=hour|day`: the asset's requests and
/// bytes per period, URL kind and status class, with totals.
pub async fn asset(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    params: Params,
) -> Result<Json<Value>> {
    let r = range(&params)?;
    let g = Granularity::parse(params.get("granularity"), r)?;
    let points = read::series(&app.db, &access, &uid, r, g).await?;
    let (mut requests, mut bytes) = (0i64, 0i64);
    let mut by_kind = serde_json::Map::new();
    let mut by_status = serde_json::Map::new();
    for p in &points {
        requests += p.requests;
        bytes += p.bytes;
        let k = by_kind.entry(p.kind.clone()).or_insert(json!(0));
        *k = json!(k.as_i64().unwrap_or(0) + p.requests);
        let s = by_status.entry(p.status.clone()).or_insert(json!(0));
        *s = json!(s.as_i64().unwrap_or(0) + p.requests);
    }
    let series: Vec<Value> = points
        .iter()
        .map(|p| {
            json!({
                "at": iso8601(p.at),
                "kind": p.kind,
                "status": p.status,
                "requests": p.requests,
                "bytes": p.bytes,
            })
        })
        .collect();
    let mut out = range_json(r);
    out["asset_uid"] = json!(uid);
    out["granularity"] = json!(match g {
        Granularity::Hour => "hour",
        Granularity::Day => "day",
    });
    out["totals"] = json!({
        "requests": requests,
        "bytes": bytes,
        "by_kind": by_kind,
        "by_status": by_status,
    });
    out["series"] = json!(series);
    Ok(Json(json!({ "insights": out })))
}

/// `GET /v3/assets/{uid}/referrers?from&to&skip&limit`: the pages that link to the asset,
/// most requests first (`""`: the pages past the kept top N), and their sites.
pub async fn referrers(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    params: Params,
) -> Result<Json<Value>> {
    let r = range(&params)?;
    let (skip, limit) = page(&params, 20)?;
    let got = read::asset_referrers(&app.db, &access, &uid, r, skip, limit).await?;
    let pages: Vec<Value> = got.pages.iter().map(page_json).collect();
    let sites: Vec<Value> = got
        .sites
        .iter()
        .map(|(s, n)| json!({ "site": s, "requests": n }))
        .collect();
    let mut out = range_json(r);
    out["referrers"] = json!(pages);
    out["sites"] = json!(sites);
    out["count"] = json!(got.count);
    Ok(Json(out))
}

/// `GET /v3/insights/top?from&to&skip&limit`: the stack's most requested assets.
pub async fn top(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    params: Params,
) -> Result<Json<Value>> {
    let r = range(&params)?;
    let (skip, limit) = page(&params, 100)?;
    let list = read::top(&app.db, &access, r, skip, limit).await?;
    let assets: Vec<Value> = list
        .iter()
        .map(|t| {
            let mut v = json!({
                "uid": t.total.asset_uid,
                "requests": t.total.requests,
                "bytes": t.total.bytes,
                "last_requested_at": iso8601(t.total.last_at),
            });
            if let Some(s) = &t.asset {
                v["title"] = json!(s.title);
                v["state"] = json!(s.state);
            }
            v
        })
        .collect();
    Ok(ranged(r, "assets", assets))
}

/// `GET /v3/insights/unused?since&skip&limit&include_count`: the stack's assets nobody
/// requested since `since` (default: 30 days ago), oldest first; `count` when asked (it
/// costs a walk over the whole stack, a page only what it skips).
pub async fn unused(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    params: Params,
) -> Result<Json<Value>> {
    let paged = page(&params, 100)?;
    let with_count = params.flag("include_count");
    let (list, count) =
        read::unused(&app.db, &access, params.get("since"), paged, with_count).await?;
    let assets: Vec<Value> = list
        .iter()
        .map(|u| {
            json!({
                "uid": u.uid,
                "title": u.title,
                "filename": u.filename,
                "file_size": u.file_size,
                "created_at": iso8601(u.created_at),
            })
        })
        .collect();
    let mut out = json!({ "assets": assets });
    if let Some(n) = count {
        out["count"] = json!(n);
    }
    Ok(Json(out))
}

/// `GET /v3/insights/dead_links?from&to&skip&limit`: trashed, deleted or unpublished
/// assets still requested, with the pages that ask for them and what to link instead.
pub async fn dead_links(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    params: Params,
) -> Result<Json<Value>> {
    let r = range(&params)?;
    let (skip, limit) = page(&params, 100)?;
    let key = access.stack.api_key.clone();
    let list = read::dead_links(&app.db, &access, r, skip, limit).await?;
    let links: Vec<Value> = list
        .iter()
        .map(|d| {
            json!({
                "asset_uid": d.total.asset_uid,
                "requests": d.total.requests,
                "last_requested_at": iso8601(d.total.last_at),
                "pages": d.pages.iter().map(page_json).collect::<Vec<_>>(),
                "title": d.asset.as_ref().map(|s| &s.title),
                "state": d.asset.as_ref().map_or("deleted", |s| s.state),
                "link_instead": d.asset.as_ref().map_or(Value::Null, |s| link_instead(&app, &key, s)),
            })
        })
        .collect();
    Ok(ranged(r, "dead_links", links))
}
