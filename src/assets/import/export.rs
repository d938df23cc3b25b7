//! Reading a Contentstack CLI export (`csdx cm:stacks:export`) into plain records. Nothing
//! here writes: what cannot be read becomes a [`Skip`] with its reason.
//!
//! Layout (cli-cm-export 1.x): `assets/assets.json` indexes chunk files that map asset uid
//! → record; `assets/metadata.json`; `assets/folders.json` (an array of folders);
//! `assets/versions/versioned-assets.json` indexes chunks that map `{uid}_{version}` →
//! record; `assets/files/{uid}/{filename}` holds the bytes; `environments/environments.json`
//! and `locales/{locales,master-locale}.json` map uid → record; `stack/settings.json` and
//! `stack/stack.json` may name the stack. Older exports kept records directly in
//! `assets/assets.json` and files in `assets/{uid}/{filename}`; both are read.
//!
//! Exports come from other people, as tarballs, which keep symbolic links: every file is
//! resolved and read only when it lies inside the export's directory; a link that leads
//! out of it (to `/etc/passwd`, say) is a skip that names where it leads, and nothing
//! outside is ever read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Something the import leaves out, and why.
#[derive(Debug, Clone)]
pub struct Skip {
    /// What: `asset blt…`, `folder blt…`, `version 2 of blt…`, a file name.
    pub what: String,
    /// Why, in a sentence.
    pub why: String,
}

/// One asset record (a version of it) as exported.
#[derive(Debug, Clone, Default)]
pub struct AssetRecord {
    pub uid: String,
    pub version: i64,
    pub is_dir: bool,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub parent_uid: Option<String>,
    pub filename: String,
    pub file_size: Option<i64>,
    pub content_type: Option<String>,
    /// The version URL (`…/v3/assets/{api_key}/{uid}/{file_uid}/{filename}`).
    pub url: Option<String>,
    /// The permanent URL, when one was generated.
    pub permanent_url: Option<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub publish_details: Vec<PublishDetail>,
    /// The api_key the record names (`stackHeaders`, or its URL).
    pub api_key: Option<String>,
}

/// One `publish_details` entry.
#[derive(Debug, Clone)]
pub struct PublishDetail {
    /// Environment uid (or name, in some exports).
    pub environment: String,
    /// perma's exports also carry the environment's name.
    pub environment_name: Option<String>,
    pub locale: String,
    pub version: Option<i64>,
    pub time: Option<i64>,
}

/// An environment as exported.
#[derive(Debug, Clone)]
pub struct EnvironmentRecord {
    pub uid: String,
    pub name: String,
    pub urls: Value,
}

/// A locale as exported.
#[derive(Debug, Clone)]
pub struct LocaleRecord {
    pub uid: String,
    pub code: String,
    pub name: String,
    pub fallback_locale: Option<String>,
}

/// Everything read from an export directory.
#[derive(Debug, Default)]
pub struct Export {
    pub dir: PathBuf,
    /// `dir` with every link resolved: what every file must lie inside.
    pub root: PathBuf,
    /// The source stack's api_key, when the export names it.
    pub api_key: Option<String>,
    pub stack_name: Option<String>,
    pub master_locale: Option<String>,
    pub locales: Vec<LocaleRecord>,
    pub environments: Vec<EnvironmentRecord>,
    pub folders: Vec<AssetRecord>,
    /// Asset uid → its records by version (the newest is the current one).
    pub assets: BTreeMap<String, BTreeMap<i64, AssetRecord>>,
    pub skipped: Vec<Skip>,
}

impl Export {
    /// Reads `dir`. Fails only when it is not an export at all; damaged parts are skips.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let root = dir
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let mut ex = Export {
            dir: dir.to_owned(),
            root,
            ..Default::default()
        };
        let assets_dir = dir.join("assets");
        let known = ["assets", "environments", "locales", "stack"]
            .iter()
            .any(|d| dir.join(d).is_dir());
        if !known {
            anyhow::bail!(
                "{} is not a Contentstack export: it has none of assets/, environments/, \
                 locales/ or stack/",
                dir.display()
            );
        }
        ex.read_stack();
        ex.read_locales();
        ex.read_environments();
        if assets_dir.is_dir() {
            if let Some(folders) = ex.json(&assets_dir.join("folders.json")) {
                match folders {
                    Value::Array(items) => {
                        for v in items {
                            ex.take_record(v, "folders.json", true);
                        }
                    }
                    Value::Object(m) => {
                        for (_, v) in m {
                            ex.take_record(v, "folders.json", true);
                        }
                    }
                    _ => ex.skip("assets/folders.json", "is neither an array nor an object"),
                }
            }
            ex.read_chunked(&assets_dir, "assets.json");
            let versions = assets_dir.join("versions");
            if versions.is_dir() {
                ex.read_chunked(&versions, "versioned-assets.json");
            }
        }
        if ex.api_key.is_none() {
            ex.api_key = ex
                .assets
                .values()
                .flat_map(|v| v.values())
                .chain(&ex.folders)
                .find_map(|r| r.api_key.clone());
        }
        Ok(ex)
    }

    fn skip(&mut self, what: impl Into<String>, why: impl Into<String>) {
        self.skipped.push(Skip {
            what: what.into(),
            why: why.into(),
        });
    }

    /// Where `path` (a path under the export) really is, when that is inside the export;
    /// `Err` says why not. `NotFound` when there is nothing there.
    pub fn confined(&self, path: &Path) -> std::io::Result<PathBuf> {
        let real = path.canonicalize()?;
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "is a link to {}, outside the export: not read",
                    real.display()
                ),
            ))
        }
    }

    /// A JSON file, or `None` (absent files are silent, unreadable ones and links out of
    /// the export are skips).
    fn json(&mut self, path: &Path) -> Option<Value> {
        let text = match self.confined(path).and_then(std::fs::read) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                self.skip(self.rel(path), e.to_string());
                return None;
            }
            Err(e) => {
                self.skip(self.rel(path), format!("cannot be read: {e}"));
                return None;
            }
        };
        match serde_json::from_slice(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.skip(self.rel(path), format!("is not valid JSON: {e}"));
                None
            }
        }
    }

    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn read_stack(&mut self) {
        for name in ["stack/stack.json", "stack/settings.json"] {
            let Some(Value::Object(m)) = self.json(&self.dir.join(name)) else {
                continue;
            };
            let m = m.get("stack").and_then(Value::as_object).unwrap_or(&m);
            if self.api_key.is_none() {
                self.api_key = text(m, "api_key");
            }
            if self.stack_name.is_none() {
                self.stack_name = text(m, "name");
            }
            if self.master_locale.is_none() {
                self.master_locale = text(m, "master_locale");
            }
        }
    }

    fn read_locales(&mut self) {
        for (file, master) in [("master-locale.json", true), ("locales.json", false)] {
            let path = self.dir.join("locales").join(file);
            let Some(v) = self.json(&path) else { continue };
            for (_, l) in entries(v) {
                let Some(l) = l.as_object() else { continue };
                let Some(code) = text(l, "code") else {
                    self.skip(format!("a locale in locales/{file}"), "has no code");
                    continue;
                };
                if master && self.master_locale.is_none() {
                    self.master_locale = Some(code.clone());
                }
                self.locales.push(LocaleRecord {
                    uid: text(l, "uid").unwrap_or_default(),
                    name: text(l, "name").unwrap_or_else(|| code.clone()),
                    fallback_locale: text(l, "fallback_locale"),
                    code,
                });
            }
        }
    }

    fn read_environments(&mut self) {
        let path = self.dir.join("environments").join("environments.json");
        let Some(v) = self.json(&path) else { return };
        for (_, e) in entries(v) {
            let Some(e) = e.as_object() else { continue };
            let (Some(uid), Some(name)) = (text(e, "uid"), text(e, "name")) else {
                self.skip("an environment", "has no uid or no name");
                continue;
            };
            self.environments.push(EnvironmentRecord {
                uid,
                name,
                urls: e.get("urls").cloned().unwrap_or(Value::Array(vec![])),
            });
        }
    }

    /// An index file of chunk names (`{"1": "…-assets.json"}`), or (older exports) the
    /// records themselves.
    fn read_chunked(&mut self, dir: &Path, index: &str) {
        let Some(v) = self.json(&dir.join(index)) else {
            return;
        };
        for (_, item) in entries(v) {
            match item {
                Value::String(chunk) => {
                    if chunk.contains(['/', '\\']) || chunk.starts_with('.') {
                        self.skip(format!("chunk {chunk}"), "is not a plain file name");
                        continue;
                    }
                    let path = dir.join(&chunk);
                    let Some(records) = self.json(&path) else {
                        if !path.exists() {
                            self.skip(self.rel(&path), "is listed in the index but missing");
                        }
                        continue;
                    };
                    for (_, r) in entries(records) {
                        self.take_record(r, &chunk, false);
                    }
                }
                other => self.take_record(other, index, false),
            }
        }
    }

    fn take_record(&mut self, v: Value, source: &str, folder_file: bool) {
        let Value::Object(m) = v else {
            self.skip(format!("a record in {source}"), "is not an object");
            return;
        };
        let Some(rec) = record(&m) else {
            self.skip(
                format!("a record in {source}"),
                "has no uid of the form blt + 16 hex digits",
            );
            return;
        };
        if rec.is_dir || folder_file {
            if !self.folders.iter().any(|f| f.uid == rec.uid) {
                self.folders.push(AssetRecord {
                    is_dir: true,
                    ..rec
                });
            }
        } else {
            self.assets
                .entry(rec.uid.clone())
                .or_default()
                .insert(rec.version, rec);
        }
    }

    /// The exported bytes of an asset's file: `assets/files/{uid}/{filename}`, or the older
    /// `assets/{uid}/{filename}`. `Err` names the reason it cannot be used.
    pub fn file_path(&self, rec: &AssetRecord) -> Result<PathBuf, String> {
        let name = rec.filename.as_str();
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(format!("its file name {name:?} is not a plain file name"));
        }
        if !is_blt(&rec.uid) {
            return Err(format!("its uid {:?} is not a plain uid", rec.uid));
        }
        let assets = self.dir.join("assets");
        for p in [
            assets.join("files").join(&rec.uid).join(name),
            assets.join(&rec.uid).join(name),
        ] {
            match self.confined(&p) {
                Ok(real) if real.is_file() => return Ok(real),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("its file {} {e}", self.rel(&p))),
            }
        }
        Err(format!(
            "its file assets/files/{}/{name} is missing",
            rec.uid
        ))
    }
}

/// (key, value) pairs of an object, or (index, item) of an array.
fn entries(v: Value) -> Vec<(String, Value)> {
    match v {
        Value::Object(m) => m.into_iter().collect(),
        Value::Array(a) => a
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    }
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn number(m: &Map<String, Value>, key: &str) -> Option<i64> {
    match m.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn time(m: &Map<String, Value>, key: &str) -> Option<i64> {
    crate::time::parse_iso8601(m.get(key)?.as_str()?)
}

fn is_blt(s: &str) -> bool {
    crate::ids::blt_bits(s).is_some()
}

/// The segments of a URL's path after `/v3/assets/`: api_key, asset uid, then the rest.
pub fn asset_url_segments(url: &str) -> Option<Vec<String>> {
    let path = match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            &rest[rest.find('/')?..]
        }
        None => url,
    };
    let path = path.split(['?', '#']).next()?;
    let i = path.find("/v3/assets/")?;
    Some(
        path[i + "/v3/assets/".len()..]
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect(),
    )
}

fn record(m: &Map<String, Value>) -> Option<AssetRecord> {
    let uid = text(m, "uid").filter(|u| is_blt(u))?;
    let url = text(m, "url");
    let api_key = m
        .get("stackHeaders")
        .and_then(Value::as_object)
        .and_then(|h| text(h, "api_key"))
        .or_else(|| {
            url.as_deref()
                .and_then(asset_url_segments)
                .and_then(|s| s.first().cloned())
        })
        .filter(|k| is_blt(k));
    let tags = match m.get("tags") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let publish_details = match m.get("publish_details") {
        Some(Value::Array(a)) => a.iter().filter_map(publish_detail).collect(),
        Some(v @ Value::Object(_)) => publish_detail(v).into_iter().collect(),
        _ => Vec::new(),
    };
    let is_dir = m.get("is_dir").and_then(Value::as_bool).unwrap_or(false);
    Some(AssetRecord {
        version: number(m, "_version").unwrap_or(1).max(1),
        title: text(m, if is_dir { "name" } else { "title" })
            .or_else(|| text(m, "title"))
            .or_else(|| text(m, "filename"))
            .unwrap_or_default(),
        description: text(m, "description").unwrap_or_default(),
        tags,
        parent_uid: text(m, "parent_uid"),
        filename: text(m, "filename").unwrap_or_default(),
        file_size: number(m, "file_size"),
        content_type: text(m, "content_type"),
        permanent_url: text(m, "permanent_url"),
        created_at: time(m, "created_at"),
        updated_at: time(m, "updated_at"),
        publish_details,
        is_dir,
        url,
        api_key,
        uid,
    })
}

fn publish_detail(v: &Value) -> Option<PublishDetail> {
    let m = v.as_object()?;
    Some(PublishDetail {
        environment: text(m, "environment")?,
        environment_name: text(m, "environment_name"),
        locale: text(m, "locale")?,
        version: number(m, "version"),
        time: time(m, "time"),
    })
}
