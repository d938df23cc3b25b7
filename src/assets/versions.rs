//! Versions and publishing (§5): the version list, version names, publish and unpublish.

use super::{check_text, get_live};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::permissions::Action;
use crate::records::Version;
use crate::time::now_ms;

/// Versions of an asset, newest first, with the total count.
pub async fn versions(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    named_only: bool,
    skip: i64,
    limit: i64,
) -> Result<(Vec<Version>, i64)> {
    access.require_read()?;
    let asset = get_live(db, &access.stack.api_key, uid).await?;
    access.require(db, Action::Read, &asset).await?;
    Ok(db.versions(uid, named_only, skip, limit).await?)
}

/// Names (or, with `None`, unnames) a version.
pub async fn name_version(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    n: i64,
    name: Option<&str>,
) -> Result<()> {
    access.require_write()?;
    let asset = get_live(db, &access.stack.api_key, uid).await?;
    access.require(db, Action::Update, &asset).await?;
    if let Some(name) = name {
        if name.trim().is_empty() {
            return Err(Error::field("_version_name", "can't be blank"));
        }
        check_text("_version_name", name, 255)?;
    }
    let entry = access
        .audit_asset("update", &asset)
        .details(serde_json::json!({ "version": n, "_version_name": name.map(str::trim) }));
    if db
        .name_version(uid, n, name.map(str::trim), &[entry])
        .await?
    {
        Ok(())
    } else {
        Err(Error::NotFound("Asset version"))
    }
}

/// Publishes (or unpublishes) an asset to environments and locales (§5).
pub async fn publish(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    environments: &[String],
    locales: &[String],
    version: Option<i64>,
    unpublish: bool,
) -> Result<()> {
    access.require_write()?;
    let asset = get_live(db, &access.stack.api_key, uid).await?;
    access.require(db, Action::Publish, &asset).await?;
    let targets = publish_targets(db, access, environments, locales).await?;
    publish_to(db, access, uid, &targets, version, unpublish).await
}

/// Where a publish goes: each (environment uid, locale) pair, checked against the stack.
/// No locale means the master locale.
pub async fn publish_targets(
    db: &Db,
    access: &StackAccess,
    environments: &[String],
    locales: &[String],
) -> Result<Vec<(String, String)>> {
    let api_key = &access.stack.api_key;
    if environments.is_empty() {
        return Err(Error::field("environments", "can't be blank"));
    }
    let all_envs = db.environments(api_key).await?;
    let mut env_uids = Vec::new();
    for e in environments {
        let env = all_envs
            .iter()
            .find(|x| &x.name == e || &x.uid == e)
            .ok_or_else(|| Error::field("environments", format!("{e} does not exist")))?;
        env_uids.push(env);
    }
    let all_locales = db.locales(api_key).await?;
    let locales: Vec<String> = if locales.is_empty() {
        vec![access.stack.master_locale.clone()]
    } else {
        locales.to_vec()
    };
    let mut targets = Vec::new();
    for l in &locales {
        let locale = all_locales
            .iter()
            .find(|x| &x.code == l)
            .ok_or_else(|| Error::field("locales", format!("{l} does not exist")))?;
        for env in &env_uids {
            access.require_publish_target(env, locale)?;
        }
    }
    for env in &env_uids {
        for l in &locales {
            targets.push((env.uid.clone(), l.clone()));
        }
    }
    Ok(targets)
}

/// Publishes `version` (default: the current one) of a live asset to resolved targets,
/// or withdraws it from them.
pub async fn publish_to(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    targets: &[(String, String)],
    version: Option<i64>,
    unpublish: bool,
) -> Result<()> {
    access.require_write()?;
    let asset = get_live(db, &access.stack.api_key, uid).await?;
    access.require(db, Action::Publish, &asset).await?;
    let where_to: Vec<_> = targets
        .iter()
        .map(|(env, locale)| serde_json::json!({ "environment": env, "locale": locale }))
        .collect();
    let by = (access.actor.uid(), now_ms());
    if unpublish {
        let entry = access
            .audit_asset("unpublish", &asset)
            .details(serde_json::json!({ "targets": where_to }));
        db.unpublish(uid, targets, by, &[entry]).await?;
        return Ok(());
    }
    let version = version.unwrap_or(asset.version);
    if version < 1 || version > asset.version {
        return Err(Error::field("version", format!("{version} does not exist")));
    }
    let entry = access
        .audit_asset("publish", &asset)
        .details(serde_json::json!({ "targets": where_to, "version": version }));
    db.publish(uid, targets, version, by, &[entry]).await?;
    Ok(())
}
