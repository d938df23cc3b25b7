//! Assets, folders, versions and publishing (§1, §3, §5): the rules, independent of HTTP.
//!
//! Every change of an asset is one compare-and-swap on its `_version` ([`Db::apply_version`]):
//! the new state is computed from what was read, and written only if nobody changed the
//! asset meanwhile; otherwise it is recomputed. That is how the §3 once-only rule and the
//! "exactly one slug wins" race are enforced by the database.

use std::collections::HashMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::db::{AssetInsert, FileInsert, NewVersion};
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ids;
use crate::ingest::Ingested;
use crate::query::Query;
use crate::slug::Slug;
use crate::time::{iso8601, now_ms};

/// Content type of folders; the misspelling is what clients expect (§1).
pub const FOLDER_CONTENT_TYPE: &str = "application/vnd.contenstack.folder";
/// Deepest folder nesting (§5).
pub const MAX_FOLDER_DEPTH: usize = 5;
/// How often a change is recomputed after losing a race before giving up with 409.
const MAX_RETRIES: usize = 50;

/// One uploaded byte sequence (§1 "file").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// 24 lowercase hex.
    pub uid: String,
    /// Blob address.
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// Stored content type.
    pub content_type: String,
    /// Sanitised file name.
    pub filename: String,
    /// Image width.
    pub width: Option<i64>,
    /// Image height.
    pub height: Option<i64>,
    /// Upload time (ms); the delivery `Last-Modified`.
    pub created_at: i64,
}

/// An asset or folder as stored now.
#[derive(Debug, Clone)]
pub struct Asset {
    /// `blt` + 16 hex.
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// Folder?
    pub is_dir: bool,
    /// Containing folder.
    pub parent_uid: Option<String>,
    /// Title (folder name for folders).
    pub title: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Current `_version`.
    pub version: i64,
    /// Permanent-URL slug, once generated (§3).
    pub permanent_slug: Option<String>,
    /// Creator.
    pub created_by: String,
    /// Last editor.
    pub updated_by: String,
    /// Creation (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// Tombstone time (ms) for deleted assets (§4: their URLs answer 410).
    pub deleted_at: Option<i64>,
    /// Current file (none for folders).
    pub file: Option<FileMeta>,
}

/// One recorded version of an asset.
#[derive(Debug, Clone)]
pub struct Version {
    /// `_version`.
    pub version: i64,
    /// Title then.
    pub title: String,
    /// Description then.
    pub description: String,
    /// Tags then.
    pub tags: Vec<String>,
    /// Folder then.
    pub parent_uid: Option<String>,
    /// `_version_name`, if named.
    pub version_name: Option<String>,
    /// What made it.
    pub action: String,
    /// Who.
    pub created_by: String,
    /// When (ms).
    pub created_at: i64,
    /// File then.
    pub file: Option<FileMeta>,
}

/// A publication of an asset version to an environment and locale.
#[derive(Debug, Clone)]
pub struct Publication {
    /// Environment uid.
    pub environment_uid: String,
    /// Environment name.
    pub environment: String,
    /// Locale code.
    pub locale: String,
    /// Published `_version`.
    pub version: i64,
    /// Who published.
    pub published_by: String,
    /// When (ms).
    pub published_at: i64,
}

/// Metadata fields a client may set on upload or update.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New folder: `Some(None)` moves to the root.
    pub parent_uid: Option<Option<String>>,
}

/// Everything a `PUT /v3/assets/{uid}` may ask for (§5), already parsed from JSON or multipart.
#[derive(Debug, Default)]
pub struct AssetUpdate {
    /// Metadata changes.
    pub meta: Metadata,
    /// A permanent URL or bare slug to generate (§3).
    pub permanent_url: Option<String>,
    /// Restore this version's file and metadata as a new version.
    pub restore_version: Option<i64>,
    /// A replacement file, already durable in the blob store.
    pub upload: Option<Ingested>,
}

/// Options for rendering asset JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Render {
    /// Root-relative URLs (`relative_urls=true`).
    pub relative_urls: bool,
    /// Add `dimension` for images (`include_dimension=true`).
    pub include_dimension: bool,
}

/// Characters escaped in a URL path segment (file names may hold any Unicode).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// The version URL path of a file (§2.1).
pub fn version_path(api_key: &str, asset_uid: &str, file: &FileMeta) -> String {
    format!(
        "/v3/assets/{api_key}/{asset_uid}/{}/{}",
        file.uid,
        utf8_percent_encode(&file.filename, SEGMENT)
    )
}

/// The permanent URL path (§2.2).
pub fn permanent_path(api_key: &str, asset_uid: &str, slug: &str) -> String {
    format!("/v3/assets/{api_key}/{asset_uid}/{slug}")
}

impl Asset {
    /// The CMA JSON of this asset or folder (§5 "Asset JSON fields").
    pub fn json(&self, public_url: &str, publications: &[Publication], render: Render) -> Value {
        let base = if render.relative_urls { "" } else { public_url };
        let details: Vec<Value> = publications.iter().map(Publication::json).collect();
        if self.is_dir {
            return json!({
                "uid": self.uid,
                "created_at": iso8601(self.created_at),
                "updated_at": iso8601(self.updated_at),
                "created_by": self.created_by,
                "updated_by": self.updated_by,
                "content_type": FOLDER_CONTENT_TYPE,
                "tags": self.tags,
                "name": self.title,
                "parent_uid": self.parent_uid,
                "is_dir": true,
                "_version": self.version,
                "ACL": {},
            });
        }
        let mut v = json!({
            "uid": self.uid,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
            "created_by": self.created_by,
            "updated_by": self.updated_by,
            "tags": self.tags,
            "title": self.title,
            "description": self.description,
            "parent_uid": self.parent_uid,
            "is_dir": false,
            "_version": self.version,
            "publish_details": details,
            "ACL": {},
        });
        if let Some(f) = &self.file {
            v["content_type"] = json!(f.content_type);
            v["file_size"] = json!(f.size.to_string());
            v["filename"] = json!(f.filename);
            v["url"] = json!(format!(
                "{base}{}",
                version_path(&self.api_key, &self.uid, f)
            ));
            if render.include_dimension {
                if let (Some(w), Some(h)) = (f.width, f.height) {
                    v["dimension"] = json!({ "width": w, "height": h });
                }
            }
        }
        if let Some(slug) = &self.permanent_slug {
            v["permanent_url"] = json!(format!(
                "{base}{}",
                permanent_path(&self.api_key, &self.uid, slug)
            ));
        }
        v
    }

    /// The asset as it was at `version` (metadata and file of that version).
    fn at_version(&self, v: Version) -> Asset {
        Asset {
            title: v.title,
            description: v.description,
            tags: v.tags,
            parent_uid: v.parent_uid,
            version: v.version,
            updated_by: v.created_by,
            updated_at: v.created_at,
            file: v.file,
            ..self.clone()
        }
    }
}

impl Publication {
    /// `publish_details` entry.
    pub fn json(&self) -> Value {
        json!({
            "environment": self.environment_uid,
            "environment_name": self.environment,
            "locale": self.locale,
            "version": self.version,
            "time": iso8601(self.published_at),
            "user": self.published_by,
        })
    }
}

impl Version {
    /// Entry of `GET /v3/assets/{uid}/versions`.
    pub fn json(&self, public_url: &str, api_key: &str, asset_uid: &str) -> Value {
        let mut v = json!({
            "_version": self.version,
            "action": self.action,
            "title": self.title,
            "created_by": self.created_by,
            "created_at": iso8601(self.created_at),
        });
        if let Some(name) = &self.version_name {
            v["_version_name"] = json!(name);
        }
        if let Some(f) = &self.file {
            v["file_uid"] = json!(f.uid);
            v["filename"] = json!(f.filename);
            v["file_size"] = json!(f.size.to_string());
            v["content_type"] = json!(f.content_type);
            v["url"] = json!(format!(
                "{public_url}{}",
                version_path(api_key, asset_uid, f)
            ));
        }
        v
    }
}

/// Parses tags from a comma-separated string.
pub fn tags_from_csv(s: &str) -> Vec<String> {
    normalize_tags(s.split(',').map(str::to_owned).collect())
}

/// Trims, drops empties and duplicates, keeps order.
pub fn normalize_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_owned();
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(Error::field(
            field,
            format!("is too long (maximum is {max} characters)"),
        ));
    }
    Ok(())
}

fn check_meta(meta: &Metadata) -> Result<()> {
    if let Some(t) = &meta.title {
        check_text("title", t, 1000)?;
    }
    if let Some(d) = &meta.description {
        check_text("description", d, 10_000)?;
    }
    if let Some(tags) = &meta.tags {
        if tags.len() > 100 || tags.iter().any(|t| t.chars().count() > 255) {
            return Err(Error::field(
                "tags",
                "at most 100 tags of at most 255 characters",
            ));
        }
    }
    Ok(())
}

/// A live asset (not a folder) of the stack, or 404; 404 also for deleted ones in the CMA.
pub async fn get_live(app: &App, api_key: &str, uid: &str) -> Result<Asset> {
    match app.db.asset(api_key, uid).await? {
        Some(a) if a.deleted_at.is_none() && !a.is_dir => Ok(a),
        _ => Err(Error::NotFound("Asset")),
    }
}

/// A live folder of the stack, or 404.
pub async fn get_folder(app: &App, api_key: &str, uid: &str) -> Result<Asset> {
    match app.db.asset(api_key, uid).await? {
        Some(a) if a.deleted_at.is_none() && a.is_dir => Ok(a),
        _ => Err(Error::NotFound("Folder")),
    }
}

/// An asset, or the asset as of `version`.
pub async fn fetch(
    app: &App,
    access: &StackAccess,
    uid: &str,
    version: Option<i64>,
) -> Result<Asset> {
    access.require_read()?;
    let asset = get_live(app, &access.stack.api_key, uid).await?;
    match version {
        None => Ok(asset),
        Some(n) => match app.db.version(uid, n).await? {
            Some(v) => Ok(asset.at_version(v)),
            None => Err(Error::NotFound("Asset version")),
        },
    }
}

/// Publications of all assets of a stack.
pub async fn publications(app: &App, api_key: &str) -> Result<HashMap<String, Vec<Publication>>> {
    Ok(app.db.publications(api_key).await?)
}

/// Depth of a folder (1 = in the root); `None` for the root itself.
async fn folder_depth(app: &App, api_key: &str, folder: Option<&str>) -> Result<usize> {
    let mut depth = 0;
    let mut cur = folder.map(str::to_owned);
    while let Some(uid) = cur {
        depth += 1;
        if depth > MAX_FOLDER_DEPTH + 1 {
            break;
        }
        cur = get_folder(app, api_key, &uid).await?.parent_uid;
    }
    Ok(depth)
}

/// Resolves a requested parent folder: must be a live folder of this stack.
async fn check_parent(app: &App, api_key: &str, parent: Option<&str>) -> Result<Option<String>> {
    match parent.filter(|p| !p.is_empty() && *p != "cs_root") {
        None => Ok(None),
        Some(p) => match app.db.asset(api_key, p).await? {
            Some(f) if f.is_dir && f.deleted_at.is_none() => Ok(Some(f.uid)),
            _ => Err(Error::field("parent_uid", "is not a folder of this stack")),
        },
    }
}

/// Creates an asset from an upload (§5 `POST /v3/assets`).
pub async fn create(
    app: &App,
    access: &StackAccess,
    upload: Ingested,
    meta: Metadata,
) -> Result<Asset> {
    access.require_write()?;
    check_meta(&meta)?;
    let api_key = &access.stack.api_key;
    let parent = check_parent(app, api_key, meta.parent_uid.flatten().as_deref()).await?;
    let now = now_ms();
    let default_title = upload.display_name.clone();
    let file = file_meta(upload, now);
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
    app.db
        .insert_asset(&AssetInsert {
            asset: asset.clone(),
            action: "upload",
        })
        .await?;
    Ok(asset)
}

fn file_meta(upload: Ingested, now: i64) -> FileMeta {
    FileMeta {
        uid: ids::new_file_uid(),
        sha256: upload.sha256,
        size: upload.size as i64,
        content_type: upload.content_type,
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
pub async fn update(app: &App, access: &StackAccess, uid: &str, req: AssetUpdate) -> Result<Asset> {
    access.require_write()?;
    check_meta(&req.meta)?;
    let api_key = access.stack.api_key.clone();
    let slug = req
        .permanent_url
        .as_deref()
        .map(|v| parse_permanent_value(v, &api_key, uid))
        .transpose()?;
    let parent = match &req.meta.parent_uid {
        Some(p) => Some(check_parent(app, &api_key, p.as_deref()).await?),
        None => None,
    };
    let now = now_ms();
    let new_file = req.upload.map(|u| file_meta(u, now));
    for _ in 0..MAX_RETRIES {
        let cur = get_live(app, &api_key, uid).await?;
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
        };
        if let Some(n) = req.restore_version {
            let v = app
                .db
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
        if app.db.apply_version(&next).await? {
            app.changed(Some(uid)).await;
            // Answer with the version this request made, even if another change has
            // landed since (the client must see the file it uploaded).
            let now = get_live(app, &api_key, uid).await?;
            return match app.db.version(uid, next.expected_version + 1).await? {
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

/// Deletes an asset (tombstone: its URLs answer 410 from now on, §4).
pub async fn delete(app: &App, access: &StackAccess, uid: &str) -> Result<()> {
    access.require_write()?;
    let asset = get_live(app, &access.stack.api_key, uid).await?;
    app.db
        .tombstone(
            std::slice::from_ref(&asset.uid),
            access.actor.uid(),
            now_ms(),
        )
        .await?;
    app.changed(Some(&asset.uid)).await;
    Ok(())
}

/// Versions of an asset, newest first, with the total count.
pub async fn versions(
    app: &App,
    access: &StackAccess,
    uid: &str,
    named_only: bool,
    skip: i64,
    limit: i64,
) -> Result<(Vec<Version>, i64)> {
    access.require_read()?;
    get_live(app, &access.stack.api_key, uid).await?;
    Ok(app.db.versions(uid, named_only, skip, limit).await?)
}

/// Names (or, with `None`, unnames) a version.
pub async fn name_version(
    app: &App,
    access: &StackAccess,
    uid: &str,
    n: i64,
    name: Option<&str>,
) -> Result<()> {
    access.require_write()?;
    get_live(app, &access.stack.api_key, uid).await?;
    if let Some(name) = name {
        if name.trim().is_empty() {
            return Err(Error::field("_version_name", "can't be blank"));
        }
        check_text("_version_name", name, 255)?;
    }
    if app.db.name_version(uid, n, name.map(str::trim)).await? {
        Ok(())
    } else {
        Err(Error::NotFound("Asset version"))
    }
}

/// Publishes (or unpublishes) an asset to environments and locales (§5).
pub async fn publish(
    app: &App,
    access: &StackAccess,
    uid: &str,
    environments: &[String],
    locales: &[String],
    version: Option<i64>,
    unpublish: bool,
) -> Result<()> {
    access.require_write()?;
    let api_key = &access.stack.api_key;
    let asset = get_live(app, api_key, uid).await?;
    if environments.is_empty() {
        return Err(Error::field("environments", "can't be blank"));
    }
    let all_envs = app.db.environments(api_key).await?;
    let mut env_uids = Vec::new();
    for e in environments {
        let env = all_envs
            .iter()
            .find(|x| &x.name == e || &x.uid == e)
            .ok_or_else(|| Error::field("environments", format!("{e} does not exist")))?;
        env_uids.push(env.uid.clone());
    }
    let all_locales = app.db.locales(api_key).await?;
    let locales: Vec<String> = if locales.is_empty() {
        vec![access.stack.master_locale.clone()]
    } else {
        locales.to_vec()
    };
    for l in &locales {
        if !all_locales.iter().any(|x| &x.code == l) {
            return Err(Error::field("locales", format!("{l} does not exist")));
        }
    }
    let targets: Vec<(String, String)> = env_uids
        .iter()
        .flat_map(|e| locales.iter().map(move |l| (e.clone(), l.clone())))
        .collect();
    if unpublish {
        app.db.unpublish(uid, &targets).await?;
        return Ok(());
    }
    let version = version.unwrap_or(asset.version);
    if version < 1 || version > asset.version {
        return Err(Error::field("version", format!("{version} does not exist")));
    }
    app.db
        .publish(uid, &targets, version, access.actor.uid(), now_ms())
        .await?;
    Ok(())
}

/// Creates a folder (§5): depth at most [`MAX_FOLDER_DEPTH`].
pub async fn create_folder(
    app: &App,
    access: &StackAccess,
    name: &str,
    parent_uid: Option<&str>,
) -> Result<Asset> {
    access.require_write()?;
    let name = check_folder_name(name)?;
    let api_key = &access.stack.api_key;
    let parent = check_parent(app, api_key, parent_uid).await?;
    if folder_depth(app, api_key, parent.as_deref()).await? + 1 > MAX_FOLDER_DEPTH {
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
    app.db
        .insert_asset(&AssetInsert {
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
async fn subtree_height(app: &App, api_key: &str, uid: &str) -> Result<usize> {
    let all = app.db.live_assets(api_key).await?;
    fn height(all: &[Asset], uid: &str, guard: usize) -> usize {
        if guard > 64 {
            return guard;
        }
        1 + all
            .iter()
            .filter(|a| a.is_dir && a.parent_uid.as_deref() == Some(uid))
            .map(|a| height(all, &a.uid, guard + 1))
            .max()
            .unwrap_or(0)
    }
    Ok(height(&all, uid, 0))
}

/// Renames and/or moves a folder; refuses cycles and depth over [`MAX_FOLDER_DEPTH`].
pub async fn update_folder(
    app: &App,
    access: &StackAccess,
    uid: &str,
    name: Option<&str>,
    parent_uid: Option<Option<&str>>,
) -> Result<Asset> {
    access.require_write()?;
    let api_key = access.stack.api_key.clone();
    let name = name.map(check_folder_name).transpose()?;
    for _ in 0..MAX_RETRIES {
        let cur = get_folder(app, &api_key, uid).await?;
        let mut next_parent = cur.parent_uid.clone();
        if let Some(p) = parent_uid {
            next_parent = check_parent(app, &api_key, p).await?;
            // No cycles: the new parent must not be this folder or inside it.
            let mut walk = next_parent.clone();
            while let Some(w) = walk {
                if w == cur.uid {
                    return Err(Error::field(
                        "parent_uid",
                        "can't move a folder into itself or one of its sub-folders",
                    ));
                }
                walk = get_folder(app, &api_key, &w).await?.parent_uid;
            }
            let depth = folder_depth(app, &api_key, next_parent.as_deref()).await?
                + subtree_height(app, &api_key, &cur.uid).await?;
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
        };
        if next.title == cur.title && next.parent_uid == cur.parent_uid {
            return Ok(cur);
        }
        if app.db.apply_version(&next).await? {
            return get_folder(app, &api_key, uid).await;
        }
    }
    Err(Error::Conflict(
        "The folder is being changed by many requests at once; try again.".into(),
    ))
}

/// Deletes a folder and everything in it (§5).
pub async fn delete_folder(app: &App, access: &StackAccess, uid: &str) -> Result<usize> {
    access.require_write()?;
    let api_key = &access.stack.api_key;
    let folder = get_folder(app, api_key, uid).await?;
    let all = app.db.live_assets(api_key).await?;
    let mut doomed = vec![folder.uid.clone()];
    let mut i = 0;
    while i < doomed.len() {
        let parent = doomed[i].clone();
        doomed.extend(
            all.iter()
                .filter(|a| a.parent_uid.as_deref() == Some(parent.as_str()))
                .map(|a| a.uid.clone()),
        );
        i += 1;
    }
    app.db
        .tombstone(&doomed, access.actor.uid(), now_ms())
        .await?;
    for uid in &doomed {
        app.changed(Some(uid)).await;
    }
    Ok(doomed.len())
}

/// Which assets a list call wants by kind (`/assets`, `/assets/images`, `/assets/videos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// Everything.
    #[default]
    All,
    /// `image/*`.
    Images,
    /// `video/*`.
    Videos,
}

/// Parameters of `GET /v3/assets` (§5), parsed.
#[derive(Debug, Default)]
pub struct ListParams {
    /// Rows to skip.
    pub skip: usize,
    /// Rows to return (1–100).
    pub limit: usize,
    /// Sort field and direction (`true` = ascending).
    pub sort: Option<(String, bool)>,
    /// `query` document.
    pub query: Option<Query>,
    /// `folder`: `Some(None)` = `cs_root`.
    pub folder: Option<Option<String>>,
    /// Include folders in the list.
    pub include_folders: bool,
    /// Only assets published to this environment (name).
    pub environment: Option<String>,
    /// Images or videos only.
    pub kind: Kind,
}

/// Lists assets (§5, §6). Returns the page and the total that matched.
pub async fn list(app: &App, access: &StackAccess, p: &ListParams) -> Result<(Vec<Asset>, usize)> {
    access.require_read()?;
    let api_key = &access.stack.api_key;
    let mut all = match &p.folder {
        Some(Some(f)) => {
            get_folder(app, api_key, f).await?;
            app.db.children(api_key, Some(f)).await?
        }
        Some(None) => app.db.children(api_key, None).await?,
        None => app.db.live_assets(api_key).await?,
    };
    let published: Option<Vec<String>> = match &p.environment {
        None => None,
        Some(env) => {
            let pubs = app.db.publications(api_key).await?;
            Some(
                pubs.into_iter()
                    .filter(|(_, ps)| {
                        ps.iter()
                            .any(|x| &x.environment == env || &x.environment_uid == env)
                    })
                    .map(|(uid, _)| uid)
                    .collect(),
            )
        }
    };
    all.retain(|a| {
        (p.include_folders || !a.is_dir)
            && match p.kind {
                Kind::All => true,
                Kind::Images => a
                    .file
                    .as_ref()
                    .is_some_and(|f| f.content_type.starts_with("image/")),
                Kind::Videos => a
                    .file
                    .as_ref()
                    .is_some_and(|f| f.content_type.starts_with("video/")),
            }
            && published.as_ref().is_none_or(|ps| ps.contains(&a.uid))
            && p.query.as_ref().is_none_or(|q| q.matches(a))
    });
    let (field, asc) = p
        .sort
        .clone()
        .unwrap_or_else(|| ("created_at".to_owned(), false));
    all.sort_by(|a, b| {
        let ord = crate::query::compare_field(a, b, &field).then_with(|| a.uid.cmp(&b.uid));
        if asc {
            ord
        } else {
            ord.reverse()
        }
    });
    let total = all.len();
    let page = all.into_iter().skip(p.skip).take(p.limit).collect();
    Ok((page, total))
}

/// Field projection (`only[BASE][]`): keeps `uid` and the listed fields.
pub fn project(v: Value, only: &[String]) -> Value {
    if only.is_empty() {
        return v;
    }
    let Value::Object(map) = v else { return v };
    let out: Map<String, Value> = map
        .into_iter()
        .filter(|(k, _)| k == "uid" || only.iter().any(|o| o == k))
        .collect();
    Value::Object(out)
}
