//! `/v3/extensions…` and `/v3/metadata…` (Contentstack's Extensions and Metadata APIs),
//! and `include_metadata` (`_metadata`) on asset answers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::extract::{envelope, string_list, JsonBody, Params, Stack};
use crate::app::App;
use crate::assets::metadata::{self, MetadataInput};
use crate::db::metadata::{Extension, Metadata};
use crate::error::{Error, Result};
use crate::identity::DeliveryAccess;
use crate::stack_config::extensions::{self, ExtensionInput};
use crate::time::iso8601;

fn extension_json(e: &Extension) -> Value {
    let mut v = Value::Object(e.body.clone());
    v["uid"] = json!(e.uid);
    v["title"] = json!(e.title);
    v["type"] = json!(e.kind);
    v["created_by"] = json!(e.created_by);
    v["updated_by"] = json!(e.updated_by);
    v["created_at"] = json!(iso8601(e.created_at));
    v["updated_at"] = json!(iso8601(e.updated_at));
    v
}

fn extension_input(b: &Value) -> Result<ExtensionInput> {
    let e = envelope(b, "extension")?;
    let text = |k: &str| -> Result<Option<String>> {
        match e.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::field(k, "must be a string")),
        }
    };
    let rest = e
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "uid"
                    | "title"
                    | "type"
                    | "created_by"
                    | "updated_by"
                    | "created_at"
                    | "updated_at"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ExtensionInput {
        title: text("title")?,
        kind: text("type")?,
        rest,
    })
}

/// `GET /v3/extensions` (`query={"type":…}` or `type=`, `include_count`, `skip`, `limit`).
pub async fn list_extensions(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    params: Params,
) -> Result<Json<Value>> {
    let from_query = match params.get("query").filter(|q| !q.is_empty()) {
        None => None,
        Some(q) => {
            let v: Value = serde_json::from_str(q)
                .map_err(|e| Error::field("query", format!("is not JSON: {e}")))?;
            v.get("type").and_then(Value::as_str).map(str::to_owned)
        }
    };
    let kind = from_query.or_else(|| params.get("type").map(str::to_owned));
    let all: Vec<Value> = extensions::list(&app.db, &a, kind.as_deref())
        .await?
        .iter()
        .map(extension_json)
        .collect();
    Ok(Json(super::render::small_list("extensions", all, &params)?))
}

/// `POST /v3/extensions` `{"extension":{"title","type","src"|"srcdoc",…}}` → 201.
pub async fn create_extension(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    let e = extensions::create(&app.db, &a, extension_input(&b)?).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "notice": "Extension created successfully.", "extension": extension_json(&e) }),
        ),
    ))
}

/// `GET /v3/extensions/{uid}`.
pub async fn get_extension(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    let e = extensions::get(&app.db, &a, &uid).await?;
    Ok(Json(json!({ "extension": extension_json(&e) })))
}

/// `PUT /v3/extensions/{uid}`: fields left out keep their values.
pub async fn update_extension(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    let e = extensions::update(&app.db, &a, &uid, extension_input(&b)?).await?;
    Ok(Json(
        json!({ "notice": "Extension updated successfully.", "extension": extension_json(&e) }),
    ))
}

/// `DELETE /v3/extensions/{uid}`: with the metadata that belongs to it.
pub async fn delete_extension(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    extensions::delete(&app.db, &a, &uid).await?;
    Ok(Json(json!({ "notice": "Extension deleted successfully." })))
}

/// The CMA JSON of metadata, with where it is published.
fn metadata_json(m: &Metadata, published: &[(String, String)]) -> Value {
    let mut v = Value::Object(m.body.clone());
    v["uid"] = json!(m.uid);
    v["entity_uid"] = json!(m.entity_uid);
    v["type"] = json!("asset");
    v["_content_type_uid"] = json!("sys_assets");
    v["extension_uid"] = json!(m.extension_uid);
    v["locale"] = json!(m.locale);
    v["scope"] = json!("local");
    v["_version"] = json!(m.version);
    v["is_published"] = json!(!published.is_empty());
    v["publish_details"] = published
        .iter()
        .map(|(env, locale)| json!({ "environment": env, "locale": locale }))
        .collect();
    v["created_by"] = json!(m.created_by);
    v["updated_by"] = json!(m.updated_by);
    v["created_at"] = json!(iso8601(m.created_at));
    v["updated_at"] = json!(iso8601(m.updated_at));
    v
}

async fn rendered(app: &App, m: &Metadata) -> Result<Value> {
    let targets = app.db.metadata_targets(&m.uid).await?;
    Ok(metadata_json(m, &targets))
}

fn metadata_input(b: &Value) -> Result<MetadataInput> {
    let m = envelope(b, "metadata")?;
    MetadataInput::from_object(m.as_object().unwrap_or(&Map::new()))
}

/// `GET /v3/metadata` (`entity_uid`, `extension_uid`, `skip`, `limit`, `include_count`).
pub async fn list_metadata(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    params: Params,
) -> Result<Json<Value>> {
    let skip = params.uint("skip")?.unwrap_or(0);
    let limit = params.uint("limit")?.unwrap_or(100).clamp(1, 100);
    let (page, count) = metadata::list(
        &app.db,
        &a,
        params.get("entity_uid"),
        params.get("extension_uid"),
        (skip, limit),
    )
    .await?;
    let mut items = Vec::with_capacity(page.len());
    for m in &page {
        items.push(rendered(&app, m).await?);
    }
    let mut out = json!({ "metadata": items });
    if params.flag("include_count") {
        out["count"] = json!(count);
    }
    Ok(Json(out))
}

/// `POST /v3/metadata` `{"metadata":{"entity_uid","type":"asset","extension_uid","locale",
/// "presets":[…],…}}` → 201.
pub async fn create_metadata(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    let m = metadata::create(&app.db, &a, metadata_input(&b)?).await?;
    app.changes.changed(Some(&m.entity_uid)).await;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "notice": "Metadata created successfully.", "metadata": metadata_json(&m, &[]) }),
        ),
    ))
}

/// `GET /v3/metadata/{uid}`.
pub async fn get_metadata(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    let m = metadata::get(&app.db, &a, &uid).await?;
    Ok(Json(json!({ "metadata": rendered(&app, &m).await? })))
}

/// `PUT /v3/metadata/{uid}`: new fields (the asset's version does not move).
pub async fn update_metadata(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    let m = metadata::update(&app.db, &a, &uid, metadata_input(&b)?).await?;
    app.changes.changed(Some(&m.entity_uid)).await;
    Ok(Json(json!({
        "notice": "Metadata updated successfully.",
        "metadata": rendered(&app, &m).await?,
    })))
}

/// `DELETE /v3/metadata/{uid}`.
pub async fn delete_metadata(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    metadata::delete(&app.db, &a, &uid).await?;
    Ok(Json(json!({ "notice": "Metadata deleted successfully." })))
}

async fn publishing(
    app: &App,
    a: &crate::identity::StackAccess,
    uid: &str,
    b: &Value,
    publish: bool,
) -> Result<Json<Value>> {
    let m = b.get("metadata").filter(|m| m.is_object()).unwrap_or(b);
    let environments = string_list(m.get("environments"), "environments")?;
    let locales = string_list(m.get("locales"), "locales")?;
    let (md, targets) =
        metadata::publish(&app.db, a, uid, &environments, &locales, publish).await?;
    app.changes.changed(Some(&md.entity_uid)).await;
    let notice = if publish {
        "Metadata published successfully."
    } else {
        "Metadata unpublished successfully."
    };
    Ok(Json(
        json!({ "notice": notice, "metadata": metadata_json(&md, &targets) }),
    ))
}

/// `POST /v3/metadata/{uid}/publish` `{"metadata":{"environments":[…],"locales":[…]}}`.
pub async fn publish_metadata(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    publishing(&app, &a, &uid, &b, true).await
}

/// `POST /v3/metadata/{uid}/unpublish`.
pub async fn unpublish_metadata(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    publishing(&app, &a, &uid, &b, false).await
}

/// `_metadata` of one asset: `{"extensions": {extension_uid: [{uid, locale, scope, …}]}}`.
fn grouped<'a>(items: impl Iterator<Item = (&'a str, String, Value)>) -> HashMap<String, Value> {
    let mut out: HashMap<String, Map<String, Value>> = HashMap::new();
    for (entity, extension, v) in items {
        let exts = out.entry(entity.to_owned()).or_default();
        match exts.entry(extension).or_insert_with(|| json!([])) {
            Value::Array(list) => list.push(v),
            _ => unreachable!("each extension's entry is a list"),
        }
    }
    out.into_iter()
        .map(|(k, exts)| (k, json!({ "extensions": exts })))
        .collect()
}

fn attach(items: &mut [Value], by_uid: &HashMap<String, Value>) {
    for item in items {
        let Some(uid) = item.get("uid").and_then(Value::as_str) else {
            continue;
        };
        if item.get("is_dir") == Some(&Value::Bool(true)) {
            continue;
        }
        let md = by_uid
            .get(uid)
            .cloned()
            .unwrap_or_else(|| json!({ "extensions": {} }));
        item["_metadata"] = md;
    }
}

/// `include_metadata=true` on management answers: each asset's metadata, every locale.
pub(super) async fn embed(app: &App, api_key: &str, items: &mut [Value]) -> Result<()> {
    let uids: Vec<&str> = items
        .iter()
        .filter_map(|i| i.get("uid").and_then(Value::as_str))
        .collect();
    let all = metadata::of_assets(&app.db, api_key, &uids).await?;
    let by_uid = grouped(all.iter().map(|m| {
        let mut v = Value::Object(m.body.clone());
        v["uid"] = json!(m.uid);
        v["locale"] = json!(m.locale);
        v["scope"] = json!("local");
        v["_version"] = json!(m.version);
        (m.entity_uid.as_str(), m.extension_uid.clone(), v)
    }));
    attach(items, &by_uid);
    Ok(())
}

/// `include_metadata=true` on delivery answers: only what is published to the request's
/// environment, in each asset's published locale.
pub(super) async fn embed_published(
    app: &App,
    access: &DeliveryAccess,
    items: &mut [Value],
) -> Result<()> {
    let mut by_locale: HashMap<String, Vec<String>> = HashMap::new();
    for i in items.iter() {
        let (Some(uid), Some(locale)) = (
            i.get("uid").and_then(Value::as_str),
            i.pointer("/publish_details/locale").and_then(Value::as_str),
        ) else {
            continue;
        };
        by_locale
            .entry(locale.to_owned())
            .or_default()
            .push(uid.to_owned());
    }
    let mut found = Vec::new();
    for (locale, uids) in &by_locale {
        let uids: Vec<&str> = uids.iter().map(String::as_str).collect();
        for p in
            metadata::published_of_assets(&app.db, &access.environment.uid, locale, &uids).await?
        {
            found.push((p, locale.clone()));
        }
    }
    let by_uid = grouped(found.iter().map(|(p, locale)| {
        let mut v = Value::Object(p.body.clone());
        v["uid"] = json!(p.metadata_uid);
        v["locale"] = json!(locale);
        v["scope"] = json!("local");
        v["_version"] = json!(p.version);
        (p.entity_uid.as_str(), p.extension_uid.clone(), v)
    }));
    attach(items, &by_uid);
    Ok(())
}
