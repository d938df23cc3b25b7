//! The publications of an imported asset, mapped onto the stack's environments and
//! locales.

use std::collections::BTreeMap;

use super::export::AssetRecord;
use super::Run;
use crate::records::Stack;
use crate::time::now_ms;

impl Run<'_> {
    /// The publications of an asset, mapped onto the target's environments and locales
    /// (a locale that is missing is created). One that cannot be mapped is a note.
    pub(super) async fn publications(
        &mut self,
        stack: &Stack,
        uid: &str,
        records: &BTreeMap<i64, AssetRecord>,
        versions: &[(i64, Option<String>)],
    ) -> anyhow::Result<Vec<(String, String, i64, String, i64)>> {
        let mut out: Vec<(String, String, i64, String, i64)> = Vec::new();
        let current = records.values().last().map(|r| r.version).unwrap_or(1);
        let details = records
            .values()
            .rev()
            .flat_map(|r| r.publish_details.iter());
        for d in details {
            let env = self
                .env_map
                .get(&d.environment)
                .or_else(|| {
                    d.environment_name
                        .as_ref()
                        .and_then(|n| self.env_map.get(n))
                })
                .cloned();
            let Some(env) = env else {
                self.report.notes.push(format!(
                    "asset {uid}: its publication to environment {} is left out (not in the \
                     export's environments)",
                    d.environment
                ));
                continue;
            };
            let locale = d.locale.to_lowercase();
            if out.iter().any(|(e, l, ..)| *e == env && *l == locale) {
                continue;
            }
            let version = d.version.unwrap_or(current);
            if !versions.iter().any(|(n, f)| *n == version && f.is_some()) {
                self.report.notes.push(format!(
                    "asset {uid}: its publication of version {version} to {}/{locale} is left \
                     out (that version is not in the export)",
                    d.environment
                ));
                continue;
            }
            let have = self.new_locales.contains(&locale)
                || locale == stack.master_locale
                || self.db.locale(&stack.api_key, &locale).await?.is_some();
            if !have && crate::identity::validate_locale_code(&locale).is_ok() {
                self.create_locale(stack, "", &locale, &locale, None)
                    .await?;
            }
            let at = d.time.unwrap_or_else(now_ms);
            out.push((env, locale, version, self.owner.uid.clone(), at));
        }
        Ok(out)
    }
}
