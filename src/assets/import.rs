//! `perma import contentstack DIR` (§8): recreates a stack from a Contentstack CLI export,
//! keeping what links depend on — the stack's api_key, asset and folder uids, file uids
//! (so every version URL, `…/{asset_uid}/{file_uid}/{filename}`, keeps answering) and
//! permanent-URL slugs (§3) — along with titles, descriptions, tags, the folder tree,
//! every version the export carries and the publications.
//!
//! Each asset is written in one transaction with its files, versions and publications
//! ([`Db::import_asset`]), after its bytes are durable: nothing is ever half-imported. What
//! is already there is left alone, so a second run changes nothing and an interrupted run
//! is finished by running it again. What cannot be imported is reported with its reason.

mod export;
pub(crate) mod export_fuzz;
mod files;
mod folders;
mod publications;
mod targets;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use export::{asset_url_segments, AssetRecord};
pub use export::{Export, Skip};
use files::{version_file_uid, PlannedFile};

use super::{check_meta, normalize_tags, Metadata};
use crate::blob::BlobStore;
use crate::db::audit::AuditEntry;
use crate::db::{Db, ImportedAsset};
use crate::delivery::Changes;

use crate::records::{Asset, FileMeta, Stack, User, Version};
use crate::slug::Slug;
use crate::time::now_ms;

/// What to import and how.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The export directory (`csdx cm:stacks:export -d DIR`).
    pub dir: PathBuf,
    /// Import into this stack instead of the one the export names.
    pub stack: Option<String>,
    /// Download a file that is missing from the export, or whose size is not the one its
    /// record states, from the record's URL (while the old service still answers).
    pub fetch: bool,
    /// Import an asset even when some of its older versions' files cannot be had.
    pub partial_history: bool,
    /// Check everything and report, write nothing.
    pub dry_run: bool,
}

/// Counts of what an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Locales.
    pub locales: usize,
    /// Environments.
    pub environments: usize,
    /// Folders.
    pub folders: usize,
    /// Assets.
    pub assets: usize,
    /// Asset versions.
    pub versions: usize,
    /// Publications.
    pub publications: usize,
}

/// The outcome of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// The stack imported into.
    pub api_key: String,
    /// Whether this run created it.
    pub stack_created: bool,
    /// What this run created (or, in a dry run, would create).
    pub created: Counts,
    /// What was already there and left alone.
    pub unchanged: Counts,
    /// What was left out, with the reason.
    pub skipped: Vec<Skip>,
    /// Things worth knowing that are not failures (a file fetched, a uid that changed).
    pub notes: Vec<String>,
}

/// Imports a Contentstack export as `owner`. Fails only when nothing can be imported (not
/// an export, no stack to import into); everything else is a [`Skip`] in the report.
pub async fn import_contentstack(
    db: &Db,
    blobs: &BlobStore,
    changes: &Changes,
    owner: &User,
    opts: &ImportOptions,
) -> anyhow::Result<ImportReport> {
    let dir = opts.dir.clone();
    let export = tokio::task::spawn_blocking(move || Export::read(&dir)).await??;
    let mut run = Run {
        db,
        blobs,
        owner,
        opts,
        report: ImportReport {
            skipped: export.skipped.clone(),
            ..Default::default()
        },
        env_map: HashMap::new(),
        placed: HashSet::new(),
        new_locales: HashSet::new(),
        http: None,
    };
    let stack = run.stack(&export).await?;
    run.locales(&export, &stack).await?;
    run.environments(&export, &stack).await?;
    run.folders(&export, &stack).await?;
    for (uid, records) in &export.assets {
        if run.asset(&export, &stack, uid, records).await? {
            changes.changed(Some(uid)).await;
        }
    }
    Ok(run.report)
}

struct Run<'a> {
    db: &'a Db,
    blobs: &'a BlobStore,
    owner: &'a User,
    opts: &'a ImportOptions,
    report: ImportReport,
    /// Exported environment uid or name → the target's environment uid.
    env_map: HashMap<String, String>,
    /// Folders that exist in the target (imported now or before).
    placed: HashSet<String>,
    /// Locale codes this run created (or, in a dry run, would create).
    new_locales: HashSet<String>,
    http: Option<reqwest::Client>,
}

impl Run<'_> {
    /// An audit entry (§14) of this import, by its owner from the command line.
    fn audit(&self, api_key: &str, module: &str, event_type: &str) -> AuditEntry {
        AuditEntry::by_user(
            api_key,
            module,
            event_type,
            &self.owner.uid,
            &self.owner.email,
        )
        .details(serde_json::json!({ "source": "perma import" }))
    }
}

fn skip(report: &mut ImportReport, what: impl Into<String>, why: impl Into<String>) {
    report.skipped.push(Skip {
        what: what.into(),
        why: why.into(),
    });
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

impl Run<'_> {
    async fn stack(&mut self, export: &Export) -> anyhow::Result<Stack> {
        let key = match (&self.opts.stack, &export.api_key) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k.clone(),
            (None, None) => anyhow::bail!(
                "the export does not name its stack (no stack/ directory and no api_key in \
                 its records): name the target with --stack API_KEY"
            ),
        };
        if let Some(source) = &export.api_key {
            if *source != key {
                self.report.notes.push(format!(
                    "importing into stack {key}, not the export's {source}: uids are kept, \
                     but URLs name {key}, so links into {source} do not carry over"
                ));
            }
        }
        self.report.api_key = key.clone();
        if let Some(s) = self.db.stack(&key).await? {
            return Ok(s);
        }
        if self.opts.stack.is_some() && export.api_key.as_deref() != Some(key.as_str()) {
            anyhow::bail!("there is no stack {key} to import into");
        }
        let name = export
            .stack_name
            .clone()
            .unwrap_or_else(|| format!("Imported {key}"));
        let master = export.master_locale.as_deref().unwrap_or("en-us");
        self.report.stack_created = true;
        if self.opts.dry_run {
            return Ok(Stack {
                api_key: key,
                name,
                description: String::new(),
                master_locale: master.to_owned(),
                org_uid: self.owner.org_uid.clone(),
                owner_uid: self.owner.uid.clone(),
                secure_asset_urls: false,
                permanent_url_mode: "serve".into(),
                metadata_extension: String::new(),
                trash_retention_days: crate::records::DEFAULT_TRASH_RETENTION_DAYS,
                insights: true,
                created_at: now_ms(),
                updated_at: now_ms(),
            });
        }
        crate::identity::create_stack_with_key(self.db, self.owner, &key, &name, master)
            .await
            .map_err(|e| anyhow::anyhow!("creating stack {key}: {}", e.public_message().0))
    }

    /// One asset with every version the export carries. Returns whether it was written.
    async fn asset(
        &mut self,
        export: &Export,
        stack: &Stack,
        uid: &str,
        records: &BTreeMap<i64, AssetRecord>,
    ) -> anyhow::Result<bool> {
        let Some((_, current)) = records.last_key_value() else {
            return Ok(false);
        };
        let what = format!("asset {uid} ({})", current.title);
        match self.db.stack_of_asset(uid).await? {
            Some(k) if k == stack.api_key => {
                self.unchanged_or_different(stack, uid, current).await?;
                return Ok(false);
            }
            Some(k) => {
                skip(
                    &mut self.report,
                    what,
                    format!("its uid belongs to stack {k}"),
                );
                return Ok(false);
            }
            None => {}
        }
        if let Err(why) = self.check_asset(current) {
            skip(&mut self.report, what, why);
            return Ok(false);
        }
        let slug = match permanent_slug(records, uid) {
            Ok(s) => s,
            Err(why) => {
                skip(&mut self.report, what, why);
                return Ok(false);
            }
        };
        // The bytes of every version, by file uid; a version whose bytes cannot be had
        // loses the asset (or, with --partial-history, only that older version).
        let mut files: HashMap<String, PlannedFile> = HashMap::new();
        let mut versions: Vec<(i64, Option<String>)> = Vec::new();
        // The CLI saves every version as files/{uid}/{filename}: versions with different
        // files but one name share that path, and its bytes are whichever download wrote
        // last (or a mix of them, when they ran at once). Such a path proves nothing.
        let mut by_name: HashMap<&str, HashSet<String>> = HashMap::new();
        for rec in records.values() {
            let file = version_file_uid(rec)
                .or_else(|| rec.url.clone())
                .unwrap_or_default();
            by_name
                .entry(rec.filename.as_str())
                .or_default()
                .insert(file);
        }
        for (n, rec) in records {
            let shared = by_name.get(rec.filename.as_str()).map_or(1, HashSet::len);
            match self.plan_file(export, rec, shared, &files).await {
                Ok(Some(f)) => {
                    let file_uid = f.meta.uid.clone();
                    files.entry(file_uid.clone()).or_insert(f);
                    versions.push((*n, Some(file_uid)));
                }
                Ok(None) => {
                    let known = version_file_uid(rec).filter(|u| files.contains_key(u));
                    versions.push((*n, known));
                }
                Err(why) if *n != current.version && self.opts.partial_history => {
                    self.report
                        .notes
                        .push(format!("{what}: version {n} left out because {why}"));
                }
                Err(why) => {
                    let why = if *n == current.version {
                        why
                    } else {
                        format!(
                            "version {n}: {why} (--fetch downloads it from its URL; \
                             --partial-history imports the asset without that version)"
                        )
                    };
                    skip(&mut self.report, what, why);
                    return Ok(false);
                }
            }
        }
        let Some((_, Some(current_file))) = versions.last().cloned() else {
            skip(&mut self.report, what, "its current version has no file");
            return Ok(false);
        };
        let publications = self.publications(stack, uid, records, &versions).await?;
        let (n_versions, n_publications) = (versions.len(), publications.len());
        let count = |report: &mut ImportReport| {
            report.created.assets += 1;
            report.created.versions += n_versions;
            report.created.publications += n_publications;
        };
        if self.opts.dry_run {
            count(&mut self.report);
            return Ok(false);
        }
        let now = now_ms();
        let first = records.values().next().unwrap_or(current);
        let created_at = first.created_at.or(current.created_at).unwrap_or(now);
        let mut asset = Asset {
            uid: uid.to_owned(),
            api_key: stack.api_key.clone(),
            is_dir: false,
            parent_uid: current.parent_uid.clone(),
            title: current.title.clone(),
            description: current.description.clone(),
            tags: normalize_tags(current.tags.clone()),
            version: current.version,
            permanent_slug: slug,
            created_by: self.owner.uid.clone(),
            updated_by: self.owner.uid.clone(),
            created_at,
            updated_at: current.updated_at.unwrap_or(created_at),
            deleted_at: None,
            file: files.get(&current_file).map(|f| f.meta.clone()),
        };
        if asset.title.is_empty() {
            asset.title = asset
                .file
                .as_ref()
                .map(|f| f.filename.clone())
                .unwrap_or_default();
        }
        let versions: Vec<Version> = versions
            .iter()
            .map(|(n, file_uid)| {
                let file = file_uid
                    .as_ref()
                    .and_then(|u| files.get(u))
                    .map(|f| &f.meta);
                let action = if *n == first.version {
                    "upload"
                } else {
                    "import"
                };
                version_of(&asset, &records[n], file, action)
            })
            .collect();
        // Blobs first, then the rows (§5): the rows never point at missing bytes.
        for f in files.values_mut() {
            if let Some(staged) = f.staged.as_mut() {
                staged.commit(self.blobs).await?;
            }
        }
        let entry = self
            .audit(&stack.api_key, "asset", "import")
            .item(&asset.uid, &asset.title, None)
            .after(asset.version)
            .details(serde_json::json!({
                "source": "perma import",
                "versions": n_versions,
                "publications": n_publications,
            }));
        if let Err(e) = self
            .db
            .import_asset(&ImportedAsset {
                asset,
                versions,
                publications,
                audit: vec![entry],
            })
            .await
        {
            if !is_unique_violation(&e) {
                return Err(e.into());
            }
            skip(
                &mut self.report,
                what,
                "one of its file uids is taken by another asset here",
            );
            return Ok(false);
        }
        count(&mut self.report);
        Ok(true)
    }

    fn check_asset(&self, current: &AssetRecord) -> Result<(), String> {
        if let Some(p) = &current.parent_uid {
            if !self.placed.contains(p) {
                return Err(format!("its folder {p} was not imported"));
            }
        }
        let meta = Metadata {
            title: Some(current.title.clone()),
            description: Some(current.description.clone()),
            tags: Some(normalize_tags(current.tags.clone())),
            parent_uid: None,
        };
        check_meta(&meta).map_err(|e| e.public_message().0)
    }

    /// An asset that is already in the target: unchanged when it has the export's version,
    /// current file and slug; otherwise it was changed here, and is left as it is.
    async fn unchanged_or_different(
        &mut self,
        stack: &Stack,
        uid: &str,
        current: &AssetRecord,
    ) -> anyhow::Result<()> {
        let Some(have) = self.db.asset(&stack.api_key, uid).await? else {
            return Ok(());
        };
        let same_file = match (version_file_uid(current), &have.file) {
            (Some(u), Some(f)) => f.uid == u,
            _ => true,
        };
        if have.version == current.version && same_file && have.deleted_at.is_none() {
            self.report.unchanged.assets += 1;
        } else {
            skip(
                &mut self.report,
                format!("asset {uid} ({})", current.title),
                format!(
                    "it is already here and differs (version {} here, {} in the export); \
                     left as it is",
                    have.version, current.version
                ),
            );
        }
        Ok(())
    }
}

/// The permanent-URL slug of an asset, from the newest record that has one: a full URL
/// (`…/{api_key}/{uid}/{slug}`) or a bare slug. Must pass §3's grammar.
fn permanent_slug(
    records: &BTreeMap<i64, AssetRecord>,
    uid: &str,
) -> Result<Option<String>, String> {
    let Some(value) = records.values().rev().find_map(|r| r.permanent_url.clone()) else {
        return Ok(None);
    };
    let slug = if value.contains('/') {
        match asset_url_segments(&value) {
            Some(s) if s.len() == 3 && s[1] == uid => s[2].clone(),
            _ => {
                return Err(format!(
                "its permanent URL {value} does not end in /v3/assets/{{api_key}}/{uid}/{{slug}}"
            ))
            }
        }
    } else {
        value
    };
    Slug::parse(&slug)
        .map(|s| Some(s.as_str().to_owned()))
        .map_err(|e| format!("its permanent URL slug {slug:?} is not valid: {e}"))
}

fn version_of(asset: &Asset, rec: &AssetRecord, file: Option<&FileMeta>, action: &str) -> Version {
    Version {
        version: rec.version,
        title: if asset.is_dir || rec.title.is_empty() {
            asset.title.clone()
        } else {
            rec.title.clone()
        },
        description: rec.description.clone(),
        tags: normalize_tags(rec.tags.clone()),
        parent_uid: rec.parent_uid.clone(),
        version_name: None,
        action: action.to_owned(),
        created_by: asset.created_by.clone(),
        created_at: rec
            .updated_at
            .or(rec.created_at)
            .unwrap_or(asset.updated_at),
        file: file.cloned(),
    }
}
