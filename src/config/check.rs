//! `perma config check` (§19): the configuration as `perma serve` would read it, with
//! unknown `PERMA_*` names refused (a misspelt setting is otherwise silently ignored) and
//! the effective settings printed with their secrets masked.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::bail;
use serde_json::Value;

use super::Config;

/// `PERMA_*` variables perma reads outside the settings: the log filter, the config file,
/// the command line's client credentials and new passwords, and the build's commit.
const OTHER_NAMES: &[&str] = &[
    "PERMA_LOG",
    "PERMA_CONFIG",
    "PERMA_SERVER",
    "PERMA_API_KEY",
    "PERMA_TOKEN",
    "PERMA_AUTHTOKEN",
    "PERMA_EMAIL",
    "PERMA_PASSWORD",
    "PERMA_NEW_PASSWORD",
    "PERMA_COMMIT",
];

/// Settings whose values are secrets: printed as `********`.
const SECRETS: &[&str] = &["admin_password", "oidc_client_secret"];

/// Every `PERMA_*` name perma knows: those the settings read (asked of a recording
/// environment, so the list cannot fall behind [`Config::apply_env`]) and [`OTHER_NAMES`].
pub fn known_names() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    let _ = Config::default().apply_env(|k| {
        asked.borrow_mut().insert(k.to_owned());
        None
    });
    let mut names = asked.into_inner();
    names.extend(OTHER_NAMES.iter().map(|n| (*n).to_owned()));
    names
}

/// Reads the configuration from `file` (or `./perma.toml`) and `vars` (the `PERMA_*`
/// variables), and returns the effective settings as pretty JSON with secrets masked;
/// an unknown name or a bad value is an error naming it.
pub fn check(file: Option<&Path>, vars: &[(String, String)]) -> anyhow::Result<String> {
    let known = known_names();
    let unknown: Vec<&str> = vars
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with("PERMA_") && !k.starts_with("PERMA_TEST_"))
        .filter(|k| !known.contains(*k))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "unknown setting{} {} (known: {})",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            known.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let mut config = match file {
        Some(path) => Config::from_file(path)?,
        None if Path::new("perma.toml").exists() => Config::from_file(Path::new("perma.toml"))?,
        None => Config::default(),
    };
    let env: BTreeMap<&str, &str> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    config.apply_env(|k| env.get(k).map(|v| (*v).to_owned()))?;
    let memory = config.memory_plan()?;
    let mut shown = serde_json::to_value(&config)?;
    if let Value::Object(map) = &mut shown {
        for key in SECRETS {
            if let Some(v) = map.get_mut(*key) {
                if !v.is_null() {
                    *v = Value::String("********".into());
                }
            }
        }
        map.insert("public_url".into(), Value::String(config.public_url()));
        // What the memory budget gives each cache.
        map.insert("index_bytes".into(), memory.index.into());
        map.insert(
            "memory_plan".into(),
            serde_json::json!({
                "index_bytes": memory.index,
                "body_cache_bytes": memory.bodies,
                "fixed_bytes": memory.fixed,
            }),
        );
        map.insert(
            "database_url".into(),
            Value::String(mask_url(&config.database_url())),
        );
        if let Some(Value::Array(targets)) = map.get_mut("purge") {
            for t in targets.iter_mut() {
                if let Some(s) = t.as_str() {
                    *t = Value::String(mask_url(s));
                }
            }
        }
    }
    Ok(serde_json::to_string_pretty(&shown)?)
}

/// A URL with the password of its user info masked (`postgres://perma:********@db/perma`).
fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:********@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_follow_the_settings() {
        let names = known_names();
        for n in [
            "PERMA_LISTEN",
            "PERMA_OIDC_ISSUER",
            "PERMA_AUDIT_RETENTION_DAYS",
            "PERMA_LOG",
        ] {
            assert!(names.contains(n), "{n}");
        }
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url("postgres://perma:s3cret@db:5432/perma"),
            "postgres://perma:********@db:5432/perma"
        );
        assert_eq!(
            mask_url("sqlite:///var/lib/perma/perma.db"),
            "sqlite:///var/lib/perma/perma.db"
        );
        assert_eq!(
            mask_url("http-purge:http://u:p@cdn/x"),
            "http-purge:http://u:********@cdn/x"
        );
    }
}
