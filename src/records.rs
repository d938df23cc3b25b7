//! Records: what perma stores, as plain values (§1). The bottom layer: the database code
//! reads and writes these, the domain computes with them, the HTTP layer renders them. This
//! module imports nothing from the crate but the id helpers, so every other layer may use it.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::Value;

/// Content type of folders; the misspelling is what clients expect (§1).
pub const FOLDER_CONTENT_TYPE: &str = "application/vnd.contenstack.folder";

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

/// Characters escaped in a URL path segment (file names may hold any Unicode).
/// Characters percent-encoded in a URL path segment.
pub const SEGMENT: &AsciiSet = &CONTROLS
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
    file_path(api_key, asset_uid, &file.uid, &file.filename)
}

/// The version URL path of a file given by uid and filename (§2.1).
pub fn file_path(api_key: &str, asset_uid: &str, file_uid: &str, filename: &str) -> String {
    format!(
        "/v3/assets/{api_key}/{asset_uid}/{file_uid}/{}",
        utf8_percent_encode(filename, SEGMENT)
    )
}

/// The permanent URL path (§2.2).
pub fn permanent_path(api_key: &str, asset_uid: &str, slug: &str) -> String {
    format!("/v3/assets/{api_key}/{asset_uid}/{slug}")
}

impl Asset {
    /// The asset as it was at `version` (metadata and file of that version).
    pub fn at_version(&self, v: Version) -> Asset {
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

/// An organization; one default organization exists from the first start (§1).
#[derive(Debug, Clone)]
pub struct Organization {
    /// `blt…` uid.
    pub uid: String,
    /// Display name.
    pub name: String,
    /// Whether this is the organization created at first start.
    pub is_default: bool,
    /// Creation time (ms).
    pub created_at: i64,
}

/// A person who logs in with email and password.
#[derive(Debug, Clone)]
pub struct User {
    /// `blt…` uid.
    pub uid: String,
    /// Lowercased email, unique.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// The user's organization.
    pub org_uid: String,
    /// A disabled account cannot sign in in any way (§14); its sessions ended with it.
    pub disabled: bool,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A role of a stack (§14): Contentstack-shaped rules, and which built-in role it is.
#[derive(Debug, Clone)]
pub struct Role {
    /// `blt…` uid.
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// Name, unique in the stack.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `admin`, `developer`, `content_manager` (built in) or `custom`.
    pub kind: String,
    /// The rules as the client sent them (a JSON array).
    pub rules: Value,
    /// Creator.
    pub created_by: String,
    /// Last editor.
    pub updated_by: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// An isolated asset library.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `blt` + 16 hex.
    pub api_key: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Master locale code (default `en-us`).
    pub master_locale: String,
    /// Owning organization.
    pub org_uid: String,
    /// Creator and owner.
    pub owner_uid: String,
    /// §4 secured stacks: delivery needs credentials or a delivery token.
    pub secure_asset_urls: bool,
    /// `serve` (default) or `redirect`: permanent URLs answer 302 to the version URL (§13).
    pub permanent_url_mode: String,
    /// The extension whose metadata the web UI's asset panel shows and edits; empty: none.
    pub metadata_extension: String,
    /// Days an item stays in the trash before it is removed for good (§15; default 14).
    pub trash_retention_days: i64,
    /// Whether delivery answers are counted for link insights (§17; default true).
    pub insights: bool,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// How long an item stays in a stack's trash unless the stack says otherwise (§15).
pub const DEFAULT_TRASH_RETENTION_DAYS: i64 = 14;

/// Longest trash retention a stack may set, in days.
pub const MAX_TRASH_RETENTION_DAYS: i64 = 365;

/// A publishing target.
#[derive(Debug, Clone)]
pub struct Environment {
    /// `blt…` uid.
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// Unique name within the stack (`production`, …).
    pub name: String,
    /// Base URLs per locale, as the client sent them.
    pub urls: Value,
    /// Creator.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A language of a stack.
#[derive(Debug, Clone)]
pub struct Locale {
    /// `blt…` uid.
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// Code, e.g. `en-us`, unique within the stack.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Fallback locale code.
    pub fallback_locale: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// Management or delivery token (§1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Stack-scoped secret for the CMA (`authorization` header).
    Management,
    /// Environment-scoped secret for reading published assets (`access_token`).
    Delivery,
}

impl TokenKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Management => "management",
            TokenKind::Delivery => "delivery",
        }
    }
}

/// A stored token. The secret itself is never stored, only its hash.
#[derive(Debug, Clone)]
pub struct Token {
    /// `blt…` uid.
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// Management or delivery.
    pub kind: TokenKind,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The scope exactly as the client sent it (echoed back).
    pub scope: Value,
    /// Asset read permission (management tokens).
    pub can_read: bool,
    /// Asset write permission (management tokens).
    pub can_write: bool,
    /// Environment names (delivery tokens).
    pub environments: Vec<String>,
    /// Expiry (ms), if any.
    pub expires_at: Option<i64>,
    /// Creator.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at: i64,
}

/// What happened to a publication (§12 sync item `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncKind {
    /// A version was published (or republished) to an environment and locale.
    Published,
    /// A publication was withdrawn.
    Unpublished,
    /// A published asset was deleted.
    Deleted,
}

impl SyncKind {
    /// Every kind, in a fixed order (bit `i` of a type mask is `ALL[i]`).
    pub const ALL: [SyncKind; 3] = [
        SyncKind::Published,
        SyncKind::Unpublished,
        SyncKind::Deleted,
    ];

    /// The sync API's name (`asset_published`, …), also the stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Published => "asset_published",
            SyncKind::Unpublished => "asset_unpublished",
            SyncKind::Deleted => "asset_deleted",
        }
    }

    /// Parses the sync API's name.
    pub fn parse(s: &str) -> Option<SyncKind> {
        SyncKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One row of a stack's sync log (§12): numbered per stack in commit order.
#[derive(Debug, Clone)]
pub struct SyncEvent {
    /// Position in the stack's log (1, 2, …; never reused).
    pub seq: i64,
    /// What happened.
    pub kind: SyncKind,
    /// The asset.
    pub asset_uid: String,
    /// Environment uid.
    pub environment_uid: String,
    /// Locale code.
    pub locale: String,
    /// Published version (publish events).
    pub version: Option<i64>,
    /// Who made the change.
    pub by: String,
    /// When (ms).
    pub event_at: i64,
}

/// A bulk publish or unpublish job (§5 bulk publishing).
#[derive(Debug, Clone)]
pub struct BulkJob {
    /// Job uid (`job_id`).
    pub uid: String,
    /// Stack.
    pub api_key: String,
    /// `publish` or `unpublish`.
    pub action: String,
    /// Environment names.
    pub environments: Vec<String>,
    /// Locale codes.
    pub locales: Vec<String>,
    /// `pending`, `in_progress`, `completed` or `failed`.
    pub status: String,
    /// Who started it.
    pub created_by: String,
    /// When (ms).
    pub created_at: i64,
    /// Last progress (ms).
    pub updated_at: i64,
    /// For a job whose one item is many assets (a folder restored from the trash): how
    /// many in all, and how many are done.
    pub total: i64,
    /// See `total`.
    pub done: i64,
}

/// One asset of a bulk job and how it went.
#[derive(Debug, Clone)]
pub struct BulkItem {
    /// Asset uid.
    pub asset_uid: String,
    /// Version to publish (the current one when absent).
    pub version: Option<i64>,
    /// `pending`, `success` or `failed`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
}
