//! Asset metadata (Contentstack's Metadata API): alt text, rights, SEO and the like,
//! attached to an asset by an extension, per locale, without a new asset version.
//!
//! Metadata is at most [`MAX_METADATA_BYTES`] per asset, extension and locale; it belongs
//! to an extension of the stack and to a live asset. Publishing it to environments makes
//! it part of the Content Delivery API's answers (`include_metadata`); every change is an
//! `update` of the asset for webhooks, and a publish is an update of the asset for sync.

use serde_json::{json, Map, Value};

use super::versions::publish_targets;
use crate::db::metadata::{Metadata, PublishedMetadata};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ids;
use crate::permissions::Action;
use crate::time::now_ms;

/// Most bytes of one asset's metadata for one extension (and locale): 5 KB.
pub const MAX_METADATA_BYTES: usize = 5 * 1024;

/// Fields of the metadata object that are its address or are answered, not stored.
const RESERVED: &[&str] = &[
    "uid",
    "entity_uid",
    "type",
    "extension_uid",
    "locale",
    "_content_type_uid",
    "scope",
    "_version",
    "is_published",
    "created_by",
    "updated_by",
    "created_at",
    "updated_at",
    "deleted_at",
    "api_key",
];

/// What a client sends to create or change metadata.
#[derive(Debug, Clone, Default)]
pub struct MetadataInput {
    /// The asset (`entity_uid`).
    pub entity_uid: Option<String>,
    /// `type`: `asset` (entries are refused: perma stores assets only).
    pub kind: Option<String>,
    /// The extension it belongs to.
    pub extension_uid: Option<String>,
    /// Locale (default: the master locale).
    pub locale: Option<String>,
    /// Everything else (`presets`, …), kept as sent.
    pub fields: Map<String, Value>,
}

impl MetadataInput {
    /// Splits a metadata object into its address and its fields.
    pub fn from_object(m: &Map<String, Value>) -> Result<MetadataInput> {
        let text = |k: &str| -> Result<Option<String>> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(Error::field(k, "must be a non-empty string")),
            }
        };
        let fields = m
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(MetadataInput {
            entity_uid: text("entity_uid")?,
            kind: text("type")?,
            extension_uid: text("extension_uid")?,
            locale: text("locale")?,
            fields,
        })
    }
}

fn check_size(fields: &Map<String, Value>) -> Result<()> {
    let size = serde_json::to_string(fields).map_or(0, |t| t.len());
    if size > MAX_METADATA_BYTES {
        return Err(Error::field(
            "metadata",
            format!(
                "is {size} bytes; an asset's metadata is at most 5 KB ({MAX_METADATA_BYTES} \
                 bytes) per extension"
            ),
        ));
    }
    Ok(())
}

/// Creates an asset's metadata for an extension and locale.
pub async fn create(db: &Db, access: &StackAccess, input: MetadataInput) -> Result<Metadata> {
    access.require_write()?;
    let api_key = &access.stack.api_key;
    match input.kind.as_deref() {
        None | Some("asset") => {}
        Some("entry") => {
            return Err(Error::field(
                "type",
                "entry is not supported: perma stores assets only",
            ))
        }
        Some(other) => return Err(Error::field("type", format!("{other:?} is not asset"))),
    }
    let entity_uid = input
        .entity_uid
        .ok_or_else(|| Error::field("entity_uid", "is required"))?;
    match db.asset(api_key, &entity_uid).await? {
        Some(a) if !a.is_dir && a.deleted_at.is_none() => {
            access.require(db, Action::Update, &a).await?;
        }
        _ => {
            return Err(Error::field(
                "entity_uid",
                format!("{entity_uid:?} is not an asset of this stack"),
            ))
        }
    }
    let extension_uid = input
        .extension_uid
        .ok_or_else(|| Error::field("extension_uid", "is required"))?;
    if db.extension(api_key, &extension_uid).await?.is_none() {
        return Err(Error::field(
            "extension_uid",
            format!("{extension_uid:?} is not an extension of this stack (create it with POST /v3/extensions)"),
        ));
    }
    let locale = input
        .locale
        .unwrap_or_else(|| access.stack.master_locale.clone());
    if db.locale(api_key, &locale).await?.is_none() {
        return Err(Error::field(
            "locale",
            format!("{locale:?} is not a locale of this stack"),
        ));
    }
    check_size(&input.fields)?;
    let now = now_ms();
    let by = access.actor.uid().to_owned();
    let m = Metadata {
        uid: ids::new_uid(),
        api_key: api_key.clone(),
        entity_uid,
        extension_uid,
        locale,
        body: input.fields,
        version: 1,
        created_by: by.clone(),
        updated_by: by,
        created_at: now,
        updated_at: now,
    };
    let entry = access
        .audit("metadata", "create")
        .item(&m.uid, &m.entity_uid, None)
        .after(1)
        .details(json!({ "extension_uid": m.extension_uid, "locale": m.locale, "fields": m.body }));
    if !db.insert_metadata(&m, &[entry]).await? {
        return Err(Error::field(
            "entity_uid",
            "already has metadata for this extension and locale: update that one",
        ));
    }
    Ok(m)
}

/// One metadata of the stack, or 404.
pub async fn get(db: &Db, access: &StackAccess, uid: &str) -> Result<Metadata> {
    access.require_read()?;
    let m = db
        .metadata(&access.stack.api_key, uid)
        .await?
        .ok_or(Error::NotFound("Metadata"))?;
    require_on_asset(db, access, Action::Read, &m.entity_uid).await?;
    Ok(m)
}

/// Metadata goes with its asset (§14): reading it needs `read` on the asset, changing it
/// `update`, publishing it `publish`.
async fn require_on_asset(
    db: &Db,
    access: &StackAccess,
    action: Action,
    entity_uid: &str,
) -> Result<()> {
    if access.grants.everywhere(action) {
        return Ok(());
    }
    match db.asset(&access.stack.api_key, entity_uid).await? {
        Some(a) => access.require(db, action, &a).await,
        None => Ok(()),
    }
}

/// A page of the stack's metadata (optionally of one asset or extension) and the count.
pub async fn list(
    db: &Db,
    access: &StackAccess,
    entity_uid: Option<&str>,
    extension_uid: Option<&str>,
    (skip, limit): (i64, i64),
) -> Result<(Vec<Metadata>, i64)> {
    access.require_read()?;
    match entity_uid {
        Some(e) => require_on_asset(db, access, Action::Read, e).await?,
        // Metadata of every asset: for those who may read every asset.
        None if !access.grants.everywhere(Action::Read) => {
            return Err(Error::Forbidden(
                "You don't have permission to list the metadata of every asset; ask for one asset's (entity_uid).".into(),
            ))
        }
        None => {}
    }
    Ok(db
        .metadata_page(
            &access.stack.api_key,
            entity_uid,
            extension_uid,
            (skip, limit),
        )
        .await?)
}

/// Replaces metadata's fields (its address stays: asset, extension and locale).
pub async fn update(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    input: MetadataInput,
) -> Result<Metadata> {
    access.require_write()?;
    let cur = get(db, access, uid).await?;
    require_on_asset(db, access, Action::Update, &cur.entity_uid).await?;
    for (field, given, have) in [
        ("entity_uid", &input.entity_uid, &cur.entity_uid),
        ("extension_uid", &input.extension_uid, &cur.extension_uid),
        ("locale", &input.locale, &cur.locale),
    ] {
        if given.as_ref().is_some_and(|g| g != have) {
            return Err(Error::field(
                field,
                "cannot be changed: create metadata for the other one",
            ));
        }
    }
    check_size(&input.fields)?;
    let m = Metadata {
        body: input.fields,
        version: cur.version + 1,
        updated_by: access.actor.uid().to_owned(),
        updated_at: now_ms(),
        ..cur
    };
    let entry = access
        .audit("metadata", "update")
        .item(&m.uid, &m.entity_uid, Some(m.version - 1))
        .after(m.version)
        .details(json!({ "extension_uid": m.extension_uid, "locale": m.locale, "fields": m.body }));
    if !db.update_metadata(&m, &[entry]).await? {
        return Err(Error::NotFound("Metadata"));
    }
    Ok(m)
}

/// Deletes metadata (and withdraws it wherever it was published).
pub async fn delete(db: &Db, access: &StackAccess, uid: &str) -> Result<()> {
    access.require_write()?;
    let m = get(db, access, uid).await?;
    require_on_asset(db, access, Action::Update, &m.entity_uid).await?;
    let entry = access
        .audit("metadata", "delete")
        .item(&m.uid, &m.entity_uid, Some(m.version));
    if db
        .delete_metadata(&m, access.actor.uid(), now_ms(), &[entry])
        .await?
    {
        Ok(())
    } else {
        Err(Error::NotFound("Metadata"))
    }
}

/// Publishes metadata to environments and locales (default: its own locale), or
/// withdraws it from them. Returns the metadata and where it is published now.
pub async fn publish(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    environments: &[String],
    locales: &[String],
    publish: bool,
) -> Result<(Metadata, Vec<(String, String)>)> {
    access.require_write()?;
    let m = get(db, access, uid).await?;
    require_on_asset(db, access, Action::Publish, &m.entity_uid).await?;
    let locales = if locales.is_empty() {
        vec![m.locale.clone()]
    } else {
        locales.to_vec()
    };
    let targets = publish_targets(db, access, environments, &locales).await?;
    let entry = access
        .audit("metadata", if publish { "publish" } else { "unpublish" })
        .item(&m.uid, &m.entity_uid, Some(m.version))
        .details(json!({ "targets": targets }));
    db.publish_metadata(
        &m,
        &targets,
        publish,
        (access.actor.uid(), now_ms()),
        &[entry],
    )
    .await?;
    let now = db.metadata_targets(&m.uid).await?;
    Ok((m, now))
}

/// The metadata of these assets, for `include_metadata` on management answers.
pub async fn of_assets(db: &Db, api_key: &str, uids: &[&str]) -> Result<Vec<Metadata>> {
    Ok(db.metadata_of(api_key, uids).await?)
}

/// What of these assets' metadata is published to an environment and locale, for
/// `include_metadata` on delivery answers.
pub async fn published_of_assets(
    db: &Db,
    environment_uid: &str,
    locale: &str,
    uids: &[&str],
) -> Result<Vec<PublishedMetadata>> {
    Ok(db
        .published_metadata_of(environment_uid, locale, uids)
        .await?)
}
