//! Folders (§5): assets with `is_dir`, nested at most [`MAX_FOLDER_DEPTH`] deep, without
//! cycles; deleting one deletes what it holds.

use super::{check_parent, check_text, folder_depth, get_folder, MAX_FOLDER_DEPTH, MAX_RETRIES};
use crate::db::{AssetInsert, Db, NewVersion};
use crate::delivery::Changes;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ids;
use crate::permissions::Action;
use crate::records::Asset;
use crate::time::now_ms;

/// Creates a folder (§5): depth at most [`MAX_FOLDER_DEPTH`].
pub async fn create_folder(
    db: &Db,
    access: &StackAccess,
    name: &str,
    parent_uid: Option<&str>,
) -> Result<Asset> {
    access.require_write()?;
    let name = check_folder_name(name)?;
    let api_key = &access.stack.api_key;
    let parent = check_parent(db, api_key, parent_uid).await?;
    access.require_create_in(db, parent.as_deref()).await?;
    if folder_depth(db, api_key, parent.as_deref()).await? + 1 > MAX_FOLDER_DEPTH {
        return Err(Error::field(
            "parent_uid",
            format!("folders can be nested at most {MAX_FOLDER_DEPTH} deep"),
        ));
    }
    let now = now_ms();
    let folder = Asset {
        uid: ids::new_uid(),
        api_key: api_key.clone(),
        is_dir: true,
        parent_uid: parent,
        title: name,
        description: String::new(),
        tags: Vec::new(),
        version: 1,
        permanent_slug: None,
        created_by: access.actor.uid().to_owned(),
        updated_by: access.actor.uid().to_owned(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
        file: None,
    };
    db.insert_asset(&AssetInsert {
        audit: vec![access
            .audit("folder", "create")
            .item(&folder.uid, &folder.title, None)
            .after(1)],
        asset: folder.clone(),
        action: "create_folder",
    })
    .await?;
    Ok(folder)
}

fn check_folder_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::field("name", "can't be blank"));
    }
    check_text("name", name, 255)?;
    if name.chars().any(char::is_control) {
        return Err(Error::field("name", "can't contain control characters"));
    }
    Ok(name.to_owned())
}

/// Height of the folder subtree under `uid` (1 for a folder without sub-folders).
/// Walks the sub-folders level by level (at most [`MAX_FOLDER_DEPTH`] deep, so a few
/// indexed queries), never the whole stack.
async fn subtree_height(db: &Db, api_key: &str, uid: &str) -> Result<usize> {
    let mut level = vec![uid.to_owned()];
    let mut height = 0;
    while !level.is_empty() && height <= MAX_FOLDER_DEPTH + 1 {
        height += 1;
        let mut next = Vec::new();
        for folder in &level {
            next.extend(db.subfolders(api_key, folder).await?);
        }
        level = next;
    }
    Ok(height)
}

/// Renames and/or moves a folder; refuses cycles and depth over [`MAX_FOLDER_DEPTH`].
pub async fn update_folder(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    name: Option<&str>,
    parent_uid: Option<Option<&str>>,
) -> Result<Asset> {
    access.require_write()?;
    let api_key = access.stack.api_key.clone();
    let name = name.map(check_folder_name).transpose()?;
    for _ in 0..MAX_RETRIES {
        let cur = get_folder(db, &api_key, uid).await?;
        access.require(db, Action::Update, &cur).await?;
        let mut next_parent = cur.parent_uid.clone();
        if let Some(p) = parent_uid {
            next_parent = check_parent(db, &api_key, p).await?;
            if next_parent != cur.parent_uid {
                access.require_create_in(db, next_parent.as_deref()).await?;
            }
            // No cycles: the new parent must not be this folder or inside it.
            let mut walk = next_parent.clone();
            while let Some(w) = walk {
                if w == cur.uid {
                    return Err(Error::field(
                        "parent_uid",
                        "can't move a folder into itself or one of its sub-folders",
                    ));
                }
                walk = get_folder(db, &api_key, &w).await?.parent_uid;
            }
            let depth = folder_depth(db, &api_key, next_parent.as_deref()).await?
                + subtree_height(db, &api_key, &cur.uid).await?;
            if depth > MAX_FOLDER_DEPTH {
                return Err(Error::field(
                    "parent_uid",
                    format!("folders can be nested at most {MAX_FOLDER_DEPTH} deep"),
                ));
            }
        }
        let next = NewVersion {
            uid: cur.uid.clone(),
            expected_version: cur.version,
            title: name.clone().unwrap_or_else(|| cur.title.clone()),
            description: cur.description.clone(),
            tags: cur.tags.clone(),
            parent_uid: next_parent,
            file_uid: None,
            permanent_slug: None,
            new_file: None,
            action: "update_folder",
            by: access.actor.uid().to_owned(),
            at: now_ms(),
            audit: Vec::new(),
        };
        if next.title == cur.title && next.parent_uid == cur.parent_uid {
            return Ok(cur);
        }
        let mut next = next;
        next.audit = vec![access
            .audit_asset("update", &cur)
            .after(cur.version + 1)
            .details(serde_json::json!({
                "name": [cur.title, next.title],
                "parent_uid": [cur.parent_uid, next.parent_uid],
            }))];
        if db.apply_version(&next).await? {
            return get_folder(db, &api_key, uid).await;
        }
    }
    Err(Error::Conflict(
        "The folder is being changed by many requests at once; try again.".into(),
    ))
}

/// Deletes a folder and everything in it (§5), into the trash as one item (§15).
pub async fn delete_folder(
    db: &Db,
    changes: &Changes,
    access: &StackAccess,
    uid: &str,
) -> Result<usize> {
    access.require_write()?;
    let api_key = &access.stack.api_key;
    let folder = get_folder(db, api_key, uid).await?;
    access.require(db, Action::Delete, &folder).await?;
    // Everything under it: the folder's children, then the children of its sub-folders.
    let mut doomed = vec![folder.uid.clone()];
    let mut folders = vec![folder.uid.clone()];
    while let Some(f) = folders.pop() {
        for (child, is_dir) in db.folder_children(api_key, &f).await? {
            if is_dir {
                folders.push(child.clone());
            }
            doomed.push(child);
        }
    }
    let entry = access
        .audit_asset("trashed", &folder)
        .details(serde_json::json!({ "items": doomed.len() - 1 }));
    db.tombstone(
        &doomed,
        access.actor.uid(),
        now_ms(),
        Some(&folder.uid),
        &[entry],
    )
    .await?;
    for uid in &doomed {
        changes.changed(Some(uid)).await;
    }
    Ok(doomed.len())
}
