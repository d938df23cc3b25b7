//! Asset metadata as flat values (schema v14, `metadata_values`): one row per leaf of a
//! metadata body, so that `query` (§6) filters on metadata in the database, on an index,
//! like on tags. Rows exist for the metadata as it is (environment `""`, read by the
//! management API) and as published to each environment and locale (read by the Content
//! Delivery API). They are derived data: written in the same transaction as the metadata,
//! and rebuilt from the metadata tables after the migration that adds them or a copy.

use serde_json::{Map, Value};
use sqlx::Row;

use super::super::Db;

/// Deepest nesting of a metadata body that is indexed (a 5 KB body rarely goes past 3).
const MAX_DEPTH: usize = 16;

/// Rows per multi-row insert (9 parameters each, well under both backends' limits).
const INSERT_CHUNK: usize = 100;

/// A leaf value of metadata. Booleans are numbers (`true` = 1, `false` = 0); `null` is no
/// value at all.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// A string.
    Text(String),
    /// A number or a boolean.
    Num(f64),
}

/// Every leaf of a metadata body with its path: object keys joined by `.`, arrays looked
/// through (each element has the array's path), so `{"presets":[{"name":"a"}]}` has the
/// leaf `presets.name` = `"a"`.
pub fn leaves(body: &Map<String, Value>) -> Vec<(String, Leaf)> {
    fn walk(path: &str, v: &Value, depth: usize, out: &mut Vec<(String, Leaf)>) {
        if depth > MAX_DEPTH {
            return;
        }
        match v {
            Value::Null => {}
            Value::Bool(b) => out.push((path.to_owned(), Leaf::Num(f64::from(u8::from(*b))))),
            Value::Number(n) => out.push((path.to_owned(), Leaf::Num(n.as_f64().unwrap_or(0.0)))),
            Value::String(s) => out.push((path.to_owned(), Leaf::Text(s.clone()))),
            Value::Array(items) => {
                for i in items {
                    walk(path, i, depth + 1, out);
                }
            }
            Value::Object(m) => {
                for (k, v) in m {
                    walk(&format!("{path}.{k}"), v, depth + 1, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (k, v) in body {
        walk(k, v, 0, &mut out);
    }
    out
}

/// Which metadata rows a set of values belongs to.
pub(crate) struct Owner<'a> {
    pub(crate) metadata_uid: &'a str,
    pub(crate) api_key: &'a str,
    pub(crate) entity_uid: &'a str,
    pub(crate) extension_uid: &'a str,
    /// `""`: the metadata as it is; otherwise the environment it is published to.
    pub(crate) environment_uid: &'a str,
    pub(crate) locale: &'a str,
}

/// Replaces the values of one metadata in one scope (environment and locale) by the leaves
/// of `body`.
pub(crate) async fn replace(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    o: &Owner<'_>,
    body: &Map<String, Value>,
) -> sqlx::Result<()> {
    remove(tx, o.metadata_uid, Some((o.environment_uid, o.locale))).await?;
    let all = leaves(body);
    for chunk in all.chunks(INSERT_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 9;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO metadata_values (metadata_uid, api_key, entity_uid, extension_uid, \
             environment_uid, locale, path, text_value, num_value) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (path, leaf) in chunk {
            q = q
                .bind(o.metadata_uid)
                .bind(o.api_key)
                .bind(o.entity_uid)
                .bind(o.extension_uid)
                .bind(o.environment_uid)
                .bind(o.locale)
                .bind(path.as_str());
            q = match leaf {
                Leaf::Text(s) => q.bind(Some(s.as_str())).bind(None::<f64>),
                Leaf::Num(n) => q.bind(None::<&str>).bind(Some(*n)),
            };
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Removes the values of one metadata: in one scope, or (`None`) in all of them.
pub(crate) async fn remove(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    metadata_uid: &str,
    scope: Option<(&str, &str)>,
) -> sqlx::Result<()> {
    match scope {
        Some((env, locale)) => {
            sqlx::query(
                "DELETE FROM metadata_values WHERE metadata_uid = $1 \
                 AND environment_uid = $2 AND locale = $3",
            )
            .bind(metadata_uid)
            .bind(env)
            .bind(locale)
            .execute(&mut **tx)
            .await?
        }
        None => {
            sqlx::query("DELETE FROM metadata_values WHERE metadata_uid = $1")
                .bind(metadata_uid)
                .execute(&mut **tx)
                .await?
        }
    };
    Ok(())
}

/// One stored value, as [`Db::metadata_values_of`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredValue {
    /// The asset.
    pub entity_uid: String,
    /// The locale of the metadata (as it is) or of its publication.
    pub locale: String,
    /// The extension.
    pub extension_uid: String,
    /// The leaf's path.
    pub path: String,
    /// The value.
    pub leaf: Leaf,
}

impl Db {
    /// The metadata values of these assets (at most a few hundred) in one scope: `""` for
    /// the metadata as it is, or an environment uid for what is published there.
    pub async fn metadata_values_of(
        &self,
        api_key: &str,
        environment_uid: &str,
        entity_uids: &[&str],
    ) -> sqlx::Result<Vec<StoredValue>> {
        if entity_uids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT entity_uid, locale, extension_uid, path, text_value, num_value \
             FROM metadata_values WHERE api_key = $1 AND environment_uid = $2 \
             AND entity_uid IN ({})",
            super::placeholders(3, entity_uids.len())
        );
        let mut q = sqlx::query(&sql).bind(api_key).bind(environment_uid);
        for u in entity_uids {
            q = q.bind(*u);
        }
        q.fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| {
                let text: Option<String> = r.try_get("text_value")?;
                let num: Option<f64> = r.try_get("num_value")?;
                Ok(StoredValue {
                    entity_uid: r.try_get("entity_uid")?,
                    locale: r.try_get("locale")?,
                    extension_uid: r.try_get("extension_uid")?,
                    path: r.try_get("path")?,
                    leaf: match text {
                        Some(t) => Leaf::Text(t),
                        None => Leaf::Num(num.unwrap_or(0.0)),
                    },
                })
            })
            .collect()
    }

    /// Rebuilds every metadata value from the metadata tables (after the migration that
    /// adds them, or a copy between databases), in one transaction, 500 metadata at a time
    /// so that memory stays bounded.
    pub async fn rebuild_metadata_values(&self) -> sqlx::Result<u64> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM metadata_values")
            .execute(&mut *tx)
            .await?;
        let mut done = 0u64;
        for published in [false, true] {
            let sql = if published {
                "SELECT p.metadata_uid AS uid, m.api_key, p.entity_uid, m.extension_uid, \
                 p.environment_uid, p.locale, p.body FROM asset_metadata_published p \
                 JOIN asset_metadata m ON m.uid = p.metadata_uid \
                 ORDER BY p.metadata_uid, p.environment_uid, p.locale LIMIT 500 OFFSET $1"
            } else {
                "SELECT uid, api_key, entity_uid, extension_uid, '' AS environment_uid, \
                 locale, body FROM asset_metadata ORDER BY uid LIMIT 500 OFFSET $1"
            };
            let mut offset = 0i64;
            loop {
                let rows = sqlx::query(sql).bind(offset).fetch_all(&mut *tx).await?;
                for r in &rows {
                    let text: String = r.try_get("body")?;
                    let body: Map<String, Value> = serde_json::from_str(&text).unwrap_or_default();
                    let (uid, api_key, entity, ext, env, locale): (
                        String,
                        String,
                        String,
                        String,
                        String,
                        String,
                    ) = (
                        r.try_get("uid")?,
                        r.try_get("api_key")?,
                        r.try_get("entity_uid")?,
                        r.try_get("extension_uid")?,
                        r.try_get("environment_uid")?,
                        r.try_get("locale")?,
                    );
                    let owner = Owner {
                        metadata_uid: &uid,
                        api_key: &api_key,
                        entity_uid: &entity,
                        extension_uid: &ext,
                        environment_uid: &env,
                        locale: &locale,
                    };
                    replace(&mut tx, &owner, &body).await?;
                    done += 1;
                }
                if rows.len() < 500 {
                    break;
                }
                offset += 500;
            }
        }
        tx.commit().await?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_join_keys_and_look_through_arrays() {
        let body = serde_json::json!({
            "alt": "A dog",
            "presets": [{"name": "hero", "options": {"width": 800}}, {"name": "thumb"}],
            "rights": {"exclusive": true, "until": null},
            "tags": ["a", ["b"]]
        });
        let mut got = leaves(body.as_object().unwrap());
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let t = |p: &str, s: &str| (p.to_owned(), Leaf::Text(s.into()));
        let n = |p: &str, x: f64| (p.to_owned(), Leaf::Num(x));
        assert_eq!(
            got,
            vec![
                t("alt", "A dog"),
                t("presets.name", "hero"),
                t("presets.name", "thumb"),
                n("presets.options.width", 800.0),
                n("rights.exclusive", 1.0),
                t("tags", "a"),
                t("tags", "b"),
            ]
        );
    }
}
