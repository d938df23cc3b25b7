//! `/v3/assets` and `/v3/assets/{uid}` (§5 Assets, §3 permanent URLs, §6 queries).

use std::sync::Arc;

use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::extract::{JsonBody, Params, Reader, Stack};
use super::render::shape;
use crate::app::App;
use crate::assets::{self, AssetUpdate, Kind, ListParams, Metadata};
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ingest::{self, Ingested};
use crate::query::{self, Query};
use crate::records::Asset;
use crate::wire::Render;

/// Renders one asset with its publish details.
pub(super) async fn asset_json(app: &App, a: &Asset, r: Render) -> Result<Value> {
    // One asset's publications, not the whole stack's.
    let mine = app.db.asset_publications(&a.uid).await?;
    Ok(a.json(&app.public_url, &mine, r))
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Maps a multipart failure: a body over the limit is 413, anything else is 400.
fn multipart_error(max: u64) -> impl Fn(MultipartError) -> Error {
    move |e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge(max)
        } else {
            Error::Malformed(format!(
                "The multipart body could not be read: {}",
                e.body_text()
            ))
        }
    }
}

/// Refuses an upload without storing it, after reading (and dropping) up to 1 MiB of its
/// body for at most a second: a client that is still sending gets to read the answer
/// instead of a connection reset.
async fn refuse(req: Request, err: Error) -> Error {
    let body = req.into_body();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        axum::body::to_bytes(body, 1 << 20),
    )
    .await;
    err
}

/// What a multipart asset form carried.
#[derive(Default)]
struct Form {
    upload: Option<Ingested>,
    meta: Metadata,
    permanent_url: Option<String>,
}

/// Reads an asset form, streaming the file field into the blob store as it arrives.
/// Field names are those the SDKs send: `asset[upload]` (JS, Python upload) or `asset`
/// with a file (the Python SDK's `replace()` sends that), plus `asset[title]`,
/// `asset[description]`, `asset[tags]` (comma-separated), `asset[parent_uid]`,
/// `asset[permanent_url]`.
async fn read_form(app: &App, req: Request) -> Result<Form> {
    let max = app.config.max_upload_bytes;
    let to_err = multipart_error(max);
    let mut mp = Multipart::from_request(req, &()).await.map_err(|e| {
        Error::Malformed(format!(
            "The multipart body could not be read: {}",
            e.body_text()
        ))
    })?;
    let mut form = Form::default();
    while let Some(field) = mp.next_field().await.map_err(&to_err)? {
        let name = field.name().unwrap_or("").to_owned();
        let is_file = field.file_name().is_some();
        match name.as_str() {
            "asset[upload]" | "asset" | "upload" if is_file || name == "asset[upload]" => {
                if form.upload.is_some() {
                    return Err(Error::field("upload", "only one file per request"));
                }
                let _in_flight = crate::metrics::InFlight::new(&app.metrics.uploads_in_flight);
                let file_name = field.file_name().map(str::to_owned);
                let claimed = field.content_type().map(str::to_owned);
                let stream = field.map(|r| r.map_err(&to_err));
                let ing = ingest::ingest(
                    &app.blobs,
                    stream,
                    file_name.as_deref(),
                    claimed.as_deref(),
                    max,
                )
                .await?;
                form.upload = Some(ing);
            }
            _ => {
                let text = field.text().await.map_err(&to_err)?;
                match name.as_str() {
                    "asset[title]" => form.meta.title = Some(text),
                    "asset[description]" => form.meta.description = Some(text),
                    "asset[tags]" => form.meta.tags = Some(assets::tags_from_csv(&text)),
                    "asset[parent_uid]" => {
                        form.meta.parent_uid = Some(Some(text).filter(|t| !t.is_empty()))
                    }
                    "asset[permanent_url]" => form.permanent_url = Some(text),
                    _ => {} // unknown fields are ignored, like unknown JSON keys
                }
            }
        }
    }
    Ok(form)
}

/// `POST /v3/assets` (multipart) → 201.
pub async fn create(
    State(app): State<Arc<App>>,
    stack: Result<Stack, Error>,
    req: Request,
) -> Result<(StatusCode, Json<Value>)> {
    let access = match stack.and_then(|Stack(a)| a.require_write().map(|()| a)) {
        Ok(a) => a,
        Err(e) => return Err(refuse(req, e).await),
    };
    if is_json(&req) {
        // A finished resumable upload (§16) becomes the asset's file.
        let JsonBody(body) = JsonBody::read(req, super::JSON_LIMIT).await?;
        let a = asset_object(&body)?;
        let uid = upload_uid(&a)?
            .ok_or_else(|| Error::field("upload_uid", "is required: the id of a finished upload (or send multipart/form-data with the file in asset[upload])"))?;
        let (upload, claim) = app
            .uploads
            .take_finished(&app.db, &app.blobs, &access, &uid)
            .await?;
        let a = assets::create(
            &app.db,
            &app.blobs,
            &app.changes,
            &access,
            upload,
            json_meta(&a)?,
        )
        .await?;
        claim.consumed(&app.db, &app.blobs).await?;
        return Ok((
            StatusCode::CREATED,
            Json(
                json!({ "notice": "Asset created successfully.", "asset": asset_json(&app, &a, Render::default()).await? }),
            ),
        ));
    }
    if !is_multipart(&req) {
        return Err(refuse(
            req,
            Error::UnsupportedMediaType(
                "Uploads must be multipart/form-data with the file in asset[upload], or JSON naming a finished upload in asset.upload_uid.".into(),
            ),
        )
        .await);
    }
    let form = read_form(&app, req).await?;
    let upload = form
        .upload
        .ok_or_else(|| Error::field("upload", "is required: send the file in asset[upload]"))?;
    let a = assets::create(
        &app.db,
        &app.blobs,
        &app.changes,
        &access,
        upload,
        form.meta,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "notice": "Asset created successfully.", "asset": asset_json(&app, &a, Render::default()).await? }),
        ),
    ))
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"))
}

/// The `asset` object of a JSON body (an empty one when absent).
fn asset_object(body: &Value) -> Result<Value> {
    let a = body
        .get("asset")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    if !a.is_object() {
        return Err(Error::field("asset", "must be an object"));
    }
    Ok(a)
}

/// `asset.upload_uid`: a finished resumable upload to take the file from (§16).
fn upload_uid(a: &Value) -> Result<Option<String>> {
    match a.get("upload_uid") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::field("upload_uid", "must be a string")),
    }
}

fn json_meta(a: &Value) -> Result<Metadata> {
    let text = |k: &str| -> Result<Option<String>> {
        match a.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::field(k, "must be a string")),
        }
    };
    let tags = match a.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(assets::tags_from_csv(s)),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|t| {
                    t.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| Error::field("tags", "must be strings"))
                })
                .collect::<Result<Vec<_>>>()?,
        ),
        Some(_) => return Err(Error::field("tags", "must be an array of strings")),
    };
    let parent_uid = match a.get("parent_uid") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(_) => return Err(Error::field("parent_uid", "must be a string or null")),
    };
    Ok(Metadata {
        title: text("title")?,
        description: text("description")?,
        tags,
        parent_uid,
    })
}

/// `PUT /v3/assets/{uid}`: JSON or multipart; metadata, replace, restore, permanent URL.
pub async fn update(
    State(app): State<Arc<App>>,
    stack: Result<Stack, Error>,
    Path(uid): Path<String>,
    params: Params,
    req: Request,
) -> Result<Json<Value>> {
    // Refuse before storing a possibly large body.
    let access = match stack.and_then(|Stack(a)| a.require_write().map(|()| a)) {
        Ok(a) => a,
        Err(e) => return Err(refuse(req, e).await),
    };
    if let Err(e) = assets::get_live(&app.db, &access.stack.api_key, &uid).await {
        return Err(refuse(req, e).await);
    }
    let mut claim = None;
    let update = if is_multipart(&req) {
        let form = read_form(&app, req).await?;
        AssetUpdate {
            meta: form.meta,
            permanent_url: form.permanent_url,
            restore_version: None,
            upload: form.upload,
        }
    } else {
        // JSON gets the JSON limit, not the upload limit of this route.
        let JsonBody(body) = JsonBody::read(req, super::JSON_LIMIT).await?;
        let a = asset_object(&body)?;
        // Replace with a finished resumable upload (§16).
        let upload = match upload_uid(&a)? {
            Some(id) => {
                let (upload, c) = app
                    .uploads
                    .take_finished(&app.db, &app.blobs, &access, &id)
                    .await?;
                claim = Some(c);
                Some(upload)
            }
            None => None,
        };
        let restore_version = match body.get("version") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Error::field("version", "must be a version number"))?,
            ),
        };
        let permanent_url = match a.get("permanent_url") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::field("permanent_url", "must be a string")),
        };
        AssetUpdate {
            meta: json_meta(&a)?,
            permanent_url,
            restore_version,
            upload,
        }
    };
    let a = assets::update(&app.db, &app.blobs, &app.changes, &access, &uid, update).await?;
    if let Some(claim) = claim {
        claim.consumed(&app.db, &app.blobs).await?;
    }
    Ok(Json(
        json!({ "notice": "Asset updated successfully.", "asset": asset_json(&app, &a, params.render()).await? }),
    ))
}

/// `GET /v3/assets/{uid}` (`version`, `relative_urls`, `include_dimension`); with a
/// delivery token, the published asset (§12).
pub async fn fetch(
    State(app): State<Arc<App>>,
    reader: Reader,
    Path(uid): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response> {
    let access = match reader {
        Reader::Management(a) => a,
        Reader::Delivery(d) => return super::cda::fetch(&app, &d, &uid, &params, &headers).await,
    };
    let version = params.uint("version")?;
    let a = assets::fetch(&app.db, &access, &uid, version).await?;
    let mut one = [asset_json(&app, &a, params.render()).await?];
    if params.flag("include_metadata") {
        super::metadata::embed(&app, &access.stack.api_key, &mut one).await?;
    }
    let [v] = one;
    Ok(Json(json!({ "asset": v })).into_response())
}

/// `DELETE /v3/assets/{uid}`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    assets::delete(&app.db, &app.changes, &access, &uid).await?;
    Ok(Json(json!({ "notice": "Asset deleted successfully." })))
}

/// `GET /v3/assets/{uid}/references`: perma stores no entries, so always empty.
pub async fn references(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    assets::fetch(&app.db, &access, &uid, None).await?;
    Ok(Json(json!({ "references": [] })))
}

fn list_params(params: &Params, kind: Kind) -> Result<ListParams> {
    let limit = params.uint("limit")?.unwrap_or(100).clamp(1, 100) as u64;
    let skip = params.skip()?;
    let sort = match (params.get("asc"), params.get("desc")) {
        (Some(f), _) => Some((f, true)),
        (None, Some(f)) => Some((f, false)),
        _ => None,
    };
    let sort = match sort {
        None => None,
        Some((f, asc)) => match query::sort_column(f) {
            Some(c) => Some((c, asc)),
            None => return Err(Error::field("asc", format!("can't sort by {f:?}"))),
        },
    };
    // A perma addition to §6: `ignore_case=true` sorts text without regard to ASCII case
    // (what an author expects of a list of names).
    let ignore_case = params.flag("ignore_case");
    if ignore_case {
        match sort {
            Some((c, _)) if c.is_text() => {}
            Some(_) => {
                return Err(Error::field(
                    "ignore_case",
                    "applies to a sort on a text field (title, name, filename, content_type, uid, parent_uid)",
                ))
            }
            None => {
                return Err(Error::field(
                    "ignore_case",
                    "needs asc or desc on a text field",
                ))
            }
        }
    }
    let query = params
        .get("query")
        .filter(|q| !q.is_empty())
        .map(Query::parse)
        .transpose()?;
    let folder = params.get("folder").filter(|f| !f.is_empty()).map(|f| {
        if f == "cs_root" {
            None
        } else {
            Some(f.to_owned())
        }
    });
    Ok(ListParams {
        skip,
        limit,
        sort,
        ignore_case,
        query,
        folder,
        // A query on `is_dir` decides about folders itself (the CLI's export lists
        // folders with `query={"is_dir":true}` alone).
        include_folders: params.flag("include_folders")
            || params
                .get("query")
                .is_some_and(|q| q.contains("\"is_dir\"")),
        environment: params
            .get("environment")
            .filter(|e| !e.is_empty())
            .map(str::to_owned),
        kind,
        count: params.flag("include_count") || params.flag("count"),
    })
}

async fn list_kind(
    app: &App,
    access: &StackAccess,
    params: &Params,
    kind: Kind,
) -> Result<Json<Value>> {
    let p = list_params(params, kind)?;
    let (page, total) = assets::list(&app.db, access, &p).await?;
    let uids: Vec<String> = page.iter().map(|a| a.uid.clone()).collect();
    let pubs = app.db.publications_of(&uids).await?;
    let r = params.render();
    // `count=true` (the SDKs' `count()`): the number alone.
    if params.flag("count") {
        return Ok(Json(json!({ "assets": total.unwrap_or(0) })));
    }
    let (only, except) = params.projection();
    let mut items: Vec<Value> = page
        .iter()
        .map(|a| {
            let mine = pubs.get(&a.uid).map(Vec::as_slice).unwrap_or(&[]);
            shape(a.json(&app.public_url, mine, r), &only, &except)
        })
        .collect();
    if params.flag("include_metadata") {
        super::metadata::embed(app, &access.stack.api_key, &mut items).await?;
    }
    let mut out = json!({ "assets": items });
    if let Some(total) = total {
        out["count"] = json!(total);
    }
    Ok(Json(out))
}

/// `GET /v3/assets`; with a delivery token, the published assets (§12).
pub async fn list(
    State(app): State<Arc<App>>,
    reader: Reader,
    params: Params,
    headers: HeaderMap,
) -> Result<Response> {
    match reader {
        Reader::Management(access) => Ok(list_kind(&app, &access, &params, Kind::All)
            .await?
            .into_response()),
        Reader::Delivery(d) => {
            let mut p = list_params(&params, Kind::All)?;
            p.environment = None;
            p.include_folders = false;
            super::cda::list(&app, &d, &params, p, &headers).await
        }
    }
}

/// `GET /v3/assets/images`.
pub async fn images(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    params: Params,
) -> Result<Json<Value>> {
    list_kind(&app, &access, &params, Kind::Images).await
}

/// `GET /v3/assets/videos`.
pub async fn videos(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    params: Params,
) -> Result<Json<Value>> {
    list_kind(&app, &access, &params, Kind::Videos).await
}
