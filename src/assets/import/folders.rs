//! The folder tree of an import: parents before children, uids kept, a folder whose parent
//! the export lacks (or that would nest too deep) left out with its reason.

use std::collections::BTreeMap;

use super::export::{AssetRecord, Export};
use super::{skip, version_of, Run};
use crate::assets::{check_meta, Metadata, MAX_FOLDER_DEPTH};
use crate::db::ImportedAsset;
use crate::records::{Asset, Stack};
use crate::time::now_ms;

impl Run<'_> {
    /// Folders, parents before children.
    pub(super) async fn folders(&mut self, export: &Export, stack: &Stack) -> anyhow::Result<()> {
        let by_uid: BTreeMap<&str, &AssetRecord> =
            export.folders.iter().map(|f| (f.uid.as_str(), f)).collect();
        let depth = |uid: &str| {
            let mut d = 0;
            let mut cur = Some(uid);
            while let Some(u) = cur {
                d += 1;
                if d > MAX_FOLDER_DEPTH + 1 {
                    break;
                }
                cur = by_uid.get(u).and_then(|f| f.parent_uid.as_deref());
            }
            d
        };
        let mut order: Vec<&AssetRecord> = export.folders.iter().collect();
        order.sort_by_key(|f| depth(&f.uid));
        for f in order {
            let what = format!("folder {} ({})", f.uid, f.title);
            if depth(&f.uid) > MAX_FOLDER_DEPTH {
                skip(
                    &mut self.report,
                    what,
                    format!("it is nested deeper than {MAX_FOLDER_DEPTH} levels"),
                );
                continue;
            }
            if let Some(p) = &f.parent_uid {
                if !self.placed.contains(p) {
                    let why = format!("its parent folder {p} was not imported");
                    skip(&mut self.report, what, why);
                    continue;
                }
            }
            match self.db.stack_of_asset(&f.uid).await? {
                Some(k) if k == stack.api_key => {
                    self.report.unchanged.folders += 1;
                    self.placed.insert(f.uid.clone());
                    continue;
                }
                Some(k) => {
                    skip(
                        &mut self.report,
                        what,
                        format!("its uid belongs to stack {k}"),
                    );
                    continue;
                }
                None => {}
            }
            let meta = Metadata {
                title: Some(f.title.clone()),
                ..Default::default()
            };
            if f.title.trim().is_empty() {
                skip(&mut self.report, what, "it has no name");
                continue;
            }
            if let Err(e) = check_meta(&meta) {
                skip(&mut self.report, what, e.public_message().0);
                continue;
            }
            self.report.created.folders += 1;
            self.placed.insert(f.uid.clone());
            if self.opts.dry_run {
                continue;
            }
            let now = now_ms();
            let asset = Asset {
                uid: f.uid.clone(),
                api_key: stack.api_key.clone(),
                is_dir: true,
                parent_uid: f.parent_uid.clone(),
                title: f.title.trim().to_owned(),
                description: String::new(),
                tags: Vec::new(),
                version: f.version,
                permanent_slug: None,
                created_by: self.owner.uid.clone(),
                updated_by: self.owner.uid.clone(),
                created_at: f.created_at.unwrap_or(now),
                updated_at: f.updated_at.or(f.created_at).unwrap_or(now),
                deleted_at: None,
                file: None,
            };
            let version = version_of(&asset, f, None, "create_folder");
            let entry =
                self.audit(&stack.api_key, "folder", "import")
                    .item(&asset.uid, &asset.title, None);
            self.db
                .import_asset(&ImportedAsset {
                    asset,
                    versions: vec![version],
                    publications: Vec::new(),
                    audit: vec![entry],
                })
                .await?;
        }
        Ok(())
    }
}
