//! Creating, changing and deleting assets (§3, §5): one compare-and-swap per change.

use super::{
    check_meta, check_parent, get_live, normalize_tags, AssetUpdate, Metadata, MAX_RETRIES,
};
use serde_json::{json, Value};

use crate::blob::BlobStore;
use crate::db::{AssetInsert, Db, FileInsert, NewVersion};
use crate::delivery::Changes;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ids;
use crate::ingest::Ingested;
use crate::permissions::Action;
use crate::records::{Asset, FileMeta};
use crate::slug::Slug;
use crate::time::now_ms;

/// Creates an asset from an upload (§5 `POST /v3/assets`).
pub async fn create(
    db: &Db,
    blobs: &BlobStore,
    changes: &Changes,
    access: &StackAccess,
    mut upload: Ingested,
    meta: Metadata,
) -> Result<Asset> {
    access.require_write()?;
    check_meta(&meta)?;
    let api_key = &access.stack.api_key;
    let parent = check_parent(db, api_key, meta.parent_uid.flatten().as_deref()).await?;
    access.require_create_in(db, parent.as_deref()).await?;
    let now = now_ms();
    let default_title = upload.display_name.clone();
    let file = file_meta(&upload, now);
    // Every check passed: the staged bytes become the blob, then the row (§5 blob first).
    upload.commit(blobs).await?;
    let asset = Asset {
        uid: ids::new_uid(),
        api_key: api_key.clone(),
        is_dir: false,
        parent_uid: parent,
        title: meta.title.unwrap_or(default_title),
        description: meta.description.unwrap_or_default(),
        tags: normalize_tags(meta.tags.unwrap_or_default()),
        version: 1,
        permanent_slug: None,
        created_by: access.actor.uid().to_owned(),
        updated_by: access.actor.uid().to_owned(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
        file: Some(file),
    };
    db.insert_asset(&AssetInsert {
        audit: vec![access
            .audit("asset", "create")
            .item(&asset.uid, &asset.title, None)
            .after(1)
            .details(json!({ "file": file_json(asset.file.as_ref()) }))],
        asset: asset.clone(),
        action: "upload",
    })
    .await?;
    // A request may have asked for this uid before it existed: forget that miss.
    changes.changed(Some(&asset.uid)).await;
    Ok(asset)
}

/// A file as the audit log describes it.
fn file_json(f: Option<&FileMeta>) -> Value {
    match f {
        Some(f) => json!({
            "uid": f.uid,
            "filename": f.filename,
            "size": f.size,
            "sha256": f.sha256,
            "content_type": f.content_type,
        }),
        None => Value::Null,
    }
}

fn file_meta(upload: &Ingested, now: i64) -> FileMeta {
    FileMeta {
        uid: ids::new_file_uid(),
        sha256: upload.sha256.clone(),
        size: upload.size as i64,
        content_type: upload.content_type.clone(),
        filename: upload.filename.as_str().to_owned(),
        width: upload.width.map(|w| w as i64),
        height: upload.height.map(|h| h as i64),
        created_at: now,
    }
}

/// Extracts the slug from what a client sent as `permanent_url` (§3): a full URL whose
/// `api_key` and `asset_uid` segments must match, or a bare slug.
pub fn parse_permanent_value(value: &str, api_key: &str, asset_uid: &str) -> Result<Slug> {
    let value = value.trim();
    let slug = if value.contains('/') {
        let path = match value.find("://") {
            Some(i) => {
                let rest = &value[i + 3..];
                rest.find('/').map(|j| &rest[j..]).unwrap_or("")
            }
            None => value,
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let n = segs.len();
        if n < 4 || segs[n - 4] != "assets" {
            return Err(Error::field(
                "permanent_url",
                "must be a URL ending in /v3/assets/{api_key}/{asset_uid}/{slug}, or a bare slug",
            ));
        }
        if segs[n - 3] != api_key {
            return Err(Error::field(
                "permanent_url",
                "has an api_key that is not this stack's",
            ));
        }
        if segs[n - 2] != asset_uid {
            return Err(Error::field(
                "permanent_url",
                "has an asset uid that is not this asset's",
            ));
        }
        segs[n - 1]
    } else {
        value
    };
    Slug::parse(slug).map_err(|e| Error::field("permanent_url", e.to_string()))
}

/// Applies a `PUT /v3/assets/{uid}` (§5): metadata, replace, restore and/or permanent URL,
/// as one new version. A request that changes nothing (for example re-sending the same slug,
/// §3 "safe retries") succeeds without a new version.
pub async fn update(
    db: &Db,
    blobs: &BlobStore,
    changes: &Changes,
    access: &StackAccess,
    uid: &str,
    req: AssetUpdate,
) -> Result<Asset> {
    access.require_write()?;
    check_meta(&req.meta)?;
    let api_key = access.stack.api_key.clone();
    let slug = req
        .permanent_url
        .as_deref()
        .map(|v| parse_permanent_value(v, &api_key, uid))
        .transpose()?;
    let parent = match &req.meta.parent_uid {
        Some(p) => Some(check_parent(db, &api_key, p.as_deref()).await?),
        None => None,
    };
    let now = now_ms();
    let mut upload = req.upload;
    let new_file = upload.as_ref().map(|u| file_meta(u, now));
    for _ in 0..MAX_RETRIES {
        let cur = get_live(db, &api_key, uid).await?;
        access.require(db, Action::Update, &cur).await?;
        if let Some(p) = parent.as_ref().filter(|p| **p != cur.parent_uid) {
            access.require_create_in(db, p.as_deref()).await?;
        }
        let mut next = NewVersion {
            uid: cur.uid.clone(),
            expected_version: cur.version,
            title: cur.title.clone(),
            description: cur.description.clone(),
            tags: cur.tags.clone(),
            parent_uid: cur.parent_uid.clone(),
            file_uid: cur.file.as_ref().map(|f| f.uid.clone()),
            permanent_slug: None,
            new_file: None,
            action: "update",
            by: access.actor.uid().to_owned(),
            at: now_ms(),
            audit: Vec::new(),
        };
        if let Some(n) = req.restore_version {
            let v = db
                .version(uid, n)
                .await?
                .ok_or_else(|| Error::field("version", format!("{n} does not exist")))?;
            next.title = v.title;
            next.description = v.description;
            next.tags = v.tags;
            next.file_uid = v.file.map(|f| f.uid);
            next.action = "restore";
        }
        if let Some(t) = &req.meta.title {
            next.title = t.clone();
        }
        if let Some(d) = &req.meta.description {
            next.description = d.clone();
        }
        if let Some(t) = &req.meta.tags {
            next.tags = normalize_tags(t.clone());
        }
        if let Some(p) = &parent {
            next.parent_uid = p.clone();
        }
        if let Some(f) = &new_file {
            next.file_uid = Some(f.uid.clone());
            next.new_file = Some(FileInsert { meta: f.clone() });
            next.action = "replace";
        }
        let meta_changed = next.title != cur.title
            || next.description != cur.description
            || next.tags != cur.tags
            || next.parent_uid != cur.parent_uid
            || next.file_uid != cur.file.as_ref().map(|f| f.uid.clone());
        let mut sets_slug = false;
        if let Some(s) = &slug {
            match &cur.permanent_slug {
                Some(existing) if existing == s.as_str() => {}
                Some(_) => {
                    return Err(Error::field(
                        "permanent_url",
                        "is already set and cannot be changed",
                    ))
                }
                None => {
                    next.permanent_slug = Some(s.as_str().to_owned());
                    sets_slug = true;
                    if !meta_changed {
                        next.action = "permanent_url";
                    }
                }
            }
        }
        if !meta_changed && !sets_slug && req.restore_version.is_none() {
            return Ok(cur);
        }
        let event = match next.action {
            "permanent_url" => "update",
            other => other,
        };
        let mut changed = serde_json::Map::new();
        if next.title != cur.title {
            changed.insert("title".into(), json!([cur.title, next.title]));
        }
        if next.parent_uid != cur.parent_uid {
            changed.insert(
                "parent_uid".into(),
                json!([cur.parent_uid, next.parent_uid]),
            );
        }
        if next.tags != cur.tags {
            changed.insert("tags".into(), json!([cur.tags, next.tags]));
        }
        if next.description != cur.description {
            changed.insert("description".into(), json!(true));
        }
        if let Some(slug) = &next.permanent_slug {
            changed.insert("permanent_url".into(), json!([null, slug]));
        }
        if next.file_uid != cur.file.as_ref().map(|f| f.uid.clone()) {
            let after = match &new_file {
                Some(f) => file_json(Some(f)),
                None => json!({ "uid": next.file_uid }),
            };
            changed.insert("file".into(), json!([file_json(cur.file.as_ref()), after]));
        }
        if let Some(n) = req.restore_version {
            changed.insert("restored_version".into(), json!(n));
        }
        next.audit = vec![access
            .audit_asset(event, &cur)
            .after(cur.version + 1)
            .details(Value::Object(changed))];
        // Every check passed: a replacement's staged bytes become the blob first.
        if let Some(u) = upload.as_mut() {
            u.commit(blobs).await?;
        }
        if db.apply_version(&next).await? {
            changes.changed(Some(uid)).await;
            // Answer with the version this request made, even if another change has
            // landed since (the client must see the file it uploaded).
            let now = get_live(db, &api_key, uid).await?;
            return match db.version(uid, next.expected_version + 1).await? {
                Some(v) => Ok(now.at_version(v)),
                None => Ok(now),
            };
        }
        // Someone else changed the asset first: recompute from the new state.
    }
    Err(Error::Conflict(
        "The asset is being changed by many requests at once; try again.".into(),
    ))
}

/// Deletes an asset into the trash (§15; tombstone: its URLs answer 410 from now on, §4).
pub async fn delete(db: &Db, changes: &Changes, access: &StackAccess, uid: &str) -> Result<()> {
    access.require_write()?;
    let asset = get_live(db, &access.stack.api_key, uid).await?;
    access.require(db, Action::Delete, &asset).await?;
    db.tombstone(
        std::slice::from_ref(&asset.uid),
        access.actor.uid(),
        now_ms(),
        None,
        &[access.audit_asset("trashed", &asset)],
    )
    .await?;
    changes.changed(Some(&asset.uid)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "blt0123456789abcdef";
    const UID: &str = "blt1111111111111111";

    fn slug(v: &str) -> std::result::Result<String, String> {
        parse_permanent_value(v, KEY, UID)
            .map(|s| s.as_str().to_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn permanent_values() {
        let ok = |v: &str, want: &str| assert_eq!(slug(v).as_deref(), Ok(want), "{v}");
        ok("logo.png", "logo.png");
        ok("  logo.png ", "logo.png");
        ok(
            &format!("https://cdn.example/v3/assets/{KEY}/{UID}/logo.png"),
            "logo.png",
        );
        ok(
            &format!("https://x/y/v3/assets/{KEY}/{UID}/a-b?x=1#f"),
            "a-b",
        );
        ok(&format!("/v3/assets/{KEY}/{UID}/rel"), "rel");
        let err = |v: &str, part: &str| {
            let e = slug(v).expect_err(v);
            assert!(e.contains(part), "{v}: {e}");
        };
        err(
            &format!("https://h/v3/assets/bltffffffffffffffff/{UID}/s"),
            "api_key",
        );
        err(
            &format!("https://h/v3/assets/{KEY}/bltffffffffffffffff/s"),
            "asset uid",
        );
        err("https://h/v3/other/s", "must be a URL ending in");
        err("..", "permanent_url");
        err("a b", "permanent_url");
        err(&"a".repeat(256), "permanent_url");
    }

    #[test]
    fn tags() {
        assert_eq!(
            super::super::tags_from_csv(" a, b,,a , c "),
            ["a", "b", "c"].map(String::from)
        );
        assert!(super::super::tags_from_csv(" , ").is_empty());
    }
}
