//! The stack's locales and environments an import needs: matched by code and name,
//! created (with the uids they had, when free) when missing.

use std::collections::HashSet;

use super::export::Export;
use super::{is_unique_violation, skip, Run};
use crate::ids;
use crate::records::{Environment, Locale, Stack};
use crate::time::now_ms;

impl Run<'_> {
    pub(super) async fn locales(&mut self, export: &Export, stack: &Stack) -> anyhow::Result<()> {
        let existing: HashSet<String> = self
            .db
            .locales(&stack.api_key)
            .await?
            .into_iter()
            .map(|l| l.code)
            .chain([stack.master_locale.clone()])
            .collect();
        let codes: HashSet<&str> = export
            .locales
            .iter()
            .map(|l| l.code.as_str())
            .chain(existing.iter().map(String::as_str))
            .collect();
        let mut done = HashSet::new();
        for l in &export.locales {
            let code = l.code.to_lowercase();
            if !done.insert(code.clone()) {
                continue;
            }
            if existing.contains(&code) {
                self.report.unchanged.locales += 1;
                continue;
            }
            if let Err(e) = crate::identity::validate_locale_code(&code) {
                skip(
                    &mut self.report,
                    format!("locale {code}"),
                    e.public_message().0,
                );
                continue;
            }
            let fallback = l
                .fallback_locale
                .clone()
                .filter(|f| codes.contains(f.as_str()));
            self.create_locale(stack, &l.uid, &code, &l.name, fallback)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn create_locale(
        &mut self,
        stack: &Stack,
        uid: &str,
        code: &str,
        name: &str,
        fallback_locale: Option<String>,
    ) -> anyhow::Result<()> {
        self.report.created.locales += 1;
        self.new_locales.insert(code.to_owned());
        if self.opts.dry_run {
            return Ok(());
        }
        let now = now_ms();
        let mut locale = Locale {
            uid: if ids::blt_bits(uid).is_some() {
                uid.to_owned()
            } else {
                ids::new_uid()
            },
            api_key: stack.api_key.clone(),
            code: code.to_owned(),
            name: name.to_owned(),
            fallback_locale,
            created_at: now,
            updated_at: now,
        };
        let entry = |l: &Locale| {
            [self
                .audit(&stack.api_key, "locale", "import")
                .item(&l.uid, &l.code, None)]
        };
        if let Err(e) = self.db.insert_locale(&locale, &entry(&locale)).await {
            if !is_unique_violation(&e) {
                return Err(e.into());
            }
            locale.uid = ids::new_uid();
            self.db.insert_locale(&locale, &entry(&locale)).await?;
        }
        Ok(())
    }

    pub(super) async fn environments(
        &mut self,
        export: &Export,
        stack: &Stack,
    ) -> anyhow::Result<()> {
        let existing = self.db.environments(&stack.api_key).await?;
        for e in &export.environments {
            if let Some(have) = existing.iter().find(|x| x.name == e.name) {
                self.report.unchanged.environments += 1;
                self.env_map.insert(e.uid.clone(), have.uid.clone());
                self.env_map.insert(e.name.clone(), have.uid.clone());
                continue;
            }
            if let Err(err) = crate::identity::validate_environment_name(&e.name) {
                let why = err.public_message().0;
                skip(&mut self.report, format!("environment {}", e.name), why);
                continue;
            }
            let uid = self
                .create_environment(stack, &e.uid, &e.name, &e.urls)
                .await?;
            self.env_map.insert(e.uid.clone(), uid.clone());
            self.env_map.insert(e.name.clone(), uid);
        }
        Ok(())
    }

    pub(super) async fn create_environment(
        &mut self,
        stack: &Stack,
        uid: &str,
        name: &str,
        urls: &serde_json::Value,
    ) -> anyhow::Result<String> {
        self.report.created.environments += 1;
        let now = now_ms();
        let mut env = Environment {
            uid: if ids::blt_bits(uid).is_some() {
                uid.to_owned()
            } else {
                ids::new_uid()
            },
            api_key: stack.api_key.clone(),
            name: name.to_owned(),
            urls: urls.clone(),
            created_by: self.owner.uid.clone(),
            created_at: now,
            updated_at: now,
        };
        if self.opts.dry_run {
            return Ok(env.uid);
        }
        let entry = |e: &Environment| {
            [self
                .audit(&stack.api_key, "environment", "import")
                .item(&e.uid, &e.name, None)]
        };
        if let Err(e) = self.db.insert_environment(&env, &entry(&env)).await {
            if !is_unique_violation(&e) {
                return Err(e.into());
            }
            env.uid = ids::new_uid();
            self.db.insert_environment(&env, &entry(&env)).await?;
        }
        Ok(env.uid)
    }
}
