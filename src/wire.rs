//! The CMA wire format (§5 "Asset JSON fields", identity shapes): how records are rendered
//! as JSON. The domain computes with typed records; the edges that speak JSON (the HTTP
//! API, and the webhooks `events` sends) render them here.

use serde_json::{json, Value};

use crate::records::{
    permanent_path, version_path, Asset, Environment, Locale, Organization, Publication, Stack,
    Token, User, Version, FOLDER_CONTENT_TYPE,
};
use crate::time::iso8601;

/// Options for rendering asset JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Render {
    /// Root-relative URLs (`relative_urls=true`).
    pub relative_urls: bool,
    /// Add `dimension` for images (`include_dimension=true`).
    pub include_dimension: bool,
    /// Add `_branch: "main"` (`include_branch=true`; perma has that one branch).
    pub include_branch: bool,
}

impl Asset {
    /// The CMA JSON of this asset or folder (§5 "Asset JSON fields").
    pub fn json(&self, public_url: &str, publications: &[Publication], render: Render) -> Value {
        let base = if render.relative_urls { "" } else { public_url };
        let details: Vec<Value> = publications.iter().map(Publication::json).collect();
        if self.is_dir {
            let folder = json!({
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
            if render.include_branch {
                return with_branch(folder);
            }
            return folder;
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
            // A perma addition: the Subresource Integrity value of this version's file.
            v["integrity"] = json!(crate::digest::integrity(&f.sha256));
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
        if render.include_branch {
            return with_branch(v);
        }
        v
    }
}

/// The branch every object of a perma stack is on.
pub const BRANCH: &str = "main";

fn with_branch(mut v: Value) -> Value {
    v["_branch"] = json!(BRANCH);
    v
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
            v["integrity"] = json!(crate::digest::integrity(&f.sha256));
        }
        v
    }
}

impl User {
    /// CMA JSON shape.
    pub fn json(&self, org: Option<&Organization>, authtoken: Option<&str>) -> Value {
        let mut v = json!({
            "uid": self.uid,
            "email": self.email,
            "username": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
            "organizations": org.map(|o| vec![o.json()]).unwrap_or_default(),
        });
        if let Some(t) = authtoken {
            v["authtoken"] = json!(t);
        }
        v
    }
}

impl Organization {
    /// CMA JSON shape.
    pub fn json(&self) -> Value {
        json!({
            "uid": self.uid,
            "name": self.name,
            "enabled": true,
            "is_owner": true,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.created_at),
        })
    }
}

impl Stack {
    /// CMA JSON shape.
    pub fn json(&self) -> Value {
        json!({
            "uid": self.api_key,
            "api_key": self.api_key,
            "name": self.name,
            "description": self.description,
            "master_locale": self.master_locale,
            "org_uid": self.org_uid,
            "owner_uid": self.owner_uid,
            "user_uids": [self.owner_uid],
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
            "settings": {
                "secure_asset_urls": self.secure_asset_urls,
                "permanent_url_mode": self.permanent_url_mode,
                "metadata_extension": (!self.metadata_extension.is_empty())
                    .then_some(&self.metadata_extension),
                "trash_retention_days": self.trash_retention_days,
                "insights": self.insights,
            },
        })
    }
}

impl Environment {
    /// CMA JSON shape.
    pub fn json(&self) -> Value {
        json!({
            "uid": self.uid,
            "name": self.name,
            "urls": self.urls,
            "created_by": self.created_by,
            "updated_by": self.created_by,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
            "ACL": [],
            "_version": 1,
        })
    }
}

impl Locale {
    /// CMA JSON shape.
    pub fn json(&self) -> Value {
        json!({
            "uid": self.uid,
            "code": self.code,
            "name": self.name,
            "fallback_locale": self.fallback_locale,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
            "ACL": [],
            "_version": 1,
        })
    }
}

impl Token {
    /// CMA JSON shape; `secret` only right after creation (§5: shown once).
    pub fn json(&self, secret: Option<&str>) -> Value {
        let mut v = json!({
            "uid": self.uid,
            "name": self.name,
            "description": self.description,
            "scope": self.scope,
            "expires_on": self.expires_at.map(iso8601),
            "created_by": self.created_by,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.created_at),
        });
        if let Some(s) = secret {
            v["token"] = json!(s);
        }
        v
    }
}
