//! A stack's extensions (Contentstack's `/v3/extensions`), kept as records: perma hosts no
//! extension UI, but asset metadata belongs to an extension, so the extensions a project
//! brings along (or creates for its metadata) are stored, listed and managed here.

use serde_json::{Map, Value};

use crate::db::metadata::Extension;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ids;
use crate::permissions::Area;
use crate::time::now_ms;

/// Contentstack's extension types.
pub const KINDS: &[&str] = &[
    "field",
    "widget",
    "dashboard",
    "asset_sidebar_widget",
    "rte_plugin",
];

/// Most bytes of one extension's fields (its `srcdoc` may be a whole page).
pub const MAX_EXTENSION_BYTES: usize = 512 << 10;

/// An extension's fields as sent: `title` and `type` apart, the rest kept.
#[derive(Debug, Clone, Default)]
pub struct ExtensionInput {
    /// Title.
    pub title: Option<String>,
    /// Type (one of [`KINDS`]).
    pub kind: Option<String>,
    /// Every other field, as sent.
    pub rest: Map<String, Value>,
}

fn checked(e: &Extension) -> Result<()> {
    if e.title.trim().is_empty() {
        return Err(Error::field("title", "is required"));
    }
    if !KINDS.contains(&e.kind.as_str()) {
        return Err(Error::field(
            "type",
            format!("{:?} is not one of {}", e.kind, KINDS.join(", ")),
        ));
    }
    if e.kind != "dashboard"
        && e.kind != "rte_plugin"
        && !e.body.contains_key("src")
        && !e.body.contains_key("srcdoc")
    {
        return Err(Error::field("src", "or srcdoc is required"));
    }
    let size = serde_json::to_string(&e.body).map_or(0, |t| t.len());
    if size > MAX_EXTENSION_BYTES {
        return Err(Error::field(
            "extension",
            format!("is {size} bytes; at most {MAX_EXTENSION_BYTES}"),
        ));
    }
    Ok(())
}

fn merged(cur: Extension, input: ExtensionInput) -> Extension {
    let mut body = cur.body;
    body.extend(input.rest);
    Extension {
        title: input.title.unwrap_or(cur.title),
        kind: input.kind.unwrap_or(cur.kind),
        body,
        ..cur
    }
}

/// Creates an extension.
pub async fn create(db: &Db, access: &StackAccess, input: ExtensionInput) -> Result<Extension> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let now = now_ms();
    let by = access.actor.uid().to_owned();
    let blank = Extension {
        uid: ids::new_uid(),
        api_key: access.stack.api_key.clone(),
        title: String::new(),
        kind: "field".into(),
        body: Map::new(),
        created_by: by.clone(),
        updated_by: by,
        created_at: now,
        updated_at: now,
    };
    let e = merged(blank, input);
    checked(&e)?;
    let entry = access
        .audit("extension", "create")
        .item(&e.uid, &e.title, None);
    db.insert_extension(&e, &[entry]).await?;
    Ok(e)
}

/// One extension of the stack, or 404.
pub async fn get(db: &Db, access: &StackAccess, uid: &str) -> Result<Extension> {
    access.require_read()?;
    db.extension(&access.stack.api_key, uid)
        .await?
        .ok_or(Error::NotFound("Extension"))
}

/// The stack's extensions (optionally of one type).
pub async fn list(db: &Db, access: &StackAccess, kind: Option<&str>) -> Result<Vec<Extension>> {
    access.require_read()?;
    let all = db.extensions(&access.stack.api_key).await?;
    Ok(all
        .into_iter()
        .filter(|e| kind.is_none_or(|k| e.kind == k))
        .collect())
}

/// Changes an extension (fields left out keep their values).
pub async fn update(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    input: ExtensionInput,
) -> Result<Extension> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let cur = get(db, access, uid).await?;
    let e = Extension {
        updated_by: access.actor.uid().to_owned(),
        updated_at: now_ms(),
        ..merged(cur, input)
    };
    checked(&e)?;
    let entry = access
        .audit("extension", "update")
        .item(&e.uid, &e.title, None);
    if !db.update_extension(&e, &[entry]).await? {
        return Err(Error::NotFound("Extension"));
    }
    Ok(e)
}

/// Deletes an extension and the metadata that belongs to it.
pub async fn delete(db: &Db, access: &StackAccess, uid: &str) -> Result<()> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let entry = access.audit("extension", "delete").item(uid, "", None);
    if db
        .delete_extension(&access.stack.api_key, uid, &[entry])
        .await?
    {
        Ok(())
    } else {
        Err(Error::NotFound("Extension"))
    }
}
