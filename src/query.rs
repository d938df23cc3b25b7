//! The `query` parameter of `GET /v3/assets` (§6): a JSON document over asset fields,
//! parsed once into a [`Query`] (so a bad document is refused with a clear 422 before any
//! work is done) and then evaluated per asset.
//!
//! Operators: equality, `$ne`, `$in`, `$nin`, `$exists`, `$regex` (+ `$options`), `$gt`,
//! `$gte`, `$lt`, `$lte`, `$and`, `$or`. On `tags`, equality means "contains".
//!
//! Metadata values are fields too: `_metadata.extensions.{extension_uid}.{path}`, where the
//! path names a leaf of the metadata's fields (keys joined by `.`, arrays looked through:
//! `presets.name`). Like tags, a metadata field has any number of values, and a condition
//! holds when some value satisfies it.

use std::cmp::Ordering;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::db::list::Column;
use crate::db::metadata::values::{Leaf, StoredValue};
use crate::error::{Error, Result};
use crate::records::Asset;
use crate::time::parse_iso8601;

/// A parsed query document.
#[derive(Debug, Clone)]
pub struct Query(Vec<Cond>);

#[derive(Debug, Clone)]
enum Cond {
    Field(Field, Op),
    Metadata(MetadataField, Op),
    And(Vec<Query>),
    Or(Vec<Query>),
}

/// A metadata field: `_metadata.extensions.{extension_uid}.{path}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MetadataField {
    extension_uid: String,
    path: String,
}

/// How metadata fields are named, for error messages.
const METADATA_FIELD: &str = "_metadata.extensions.{extension_uid}.{path}";

impl MetadataField {
    /// `None` when the name is not a metadata field at all.
    fn parse(name: &str) -> Option<Result<Self>> {
        let rest = name.strip_prefix("_metadata")?;
        let wrong = || {
            Some(Err(bad(format!(
                "{name:?} is not a metadata field: name one as {METADATA_FIELD}, \
                 such as _metadata.extensions.blt1234.alt"
            ))))
        };
        let Some(rest) = rest.strip_prefix(".extensions.") else {
            return wrong();
        };
        let Some((ext, path)) = rest.split_once('.') else {
            return wrong();
        };
        if ext.is_empty() || path.split('.').any(str::is_empty) || name.len() > 512 {
            return wrong();
        }
        Some(Ok(MetadataField {
            extension_uid: ext.to_owned(),
            path: path.to_owned(),
        }))
    }

    /// A literal for a metadata value: text, a number, or a boolean (as 1 or 0).
    fn lit(v: &Value) -> Result<Lit> {
        match v {
            Value::Null => Ok(Lit::Null),
            Value::Bool(b) => Ok(Lit::Num(f64::from(u8::from(*b)))),
            Value::Number(n) => Ok(Lit::Num(n.as_f64().unwrap_or(0.0))),
            Value::String(s) => Ok(Lit::Str(s.clone())),
            _ => Err(bad(format!(
                "value {v} is not a string, a number or a boolean"
            ))),
        }
    }

    fn values(&self, metadata: &[StoredValue]) -> Vec<Lit> {
        metadata
            .iter()
            .filter(|m| m.extension_uid == self.extension_uid && m.path == self.path)
            .map(|m| match &m.leaf {
                Leaf::Text(t) => Lit::Str(t.clone()),
                Leaf::Num(n) => Lit::Num(*n),
            })
            .collect()
    }
}

/// Queryable fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Uid,
    Title,
    Filename,
    ContentType,
    Tags,
    ParentUid,
    IsDir,
    Name,
    FileSize,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Lit {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Lit),
    Ne(Lit),
    In(Vec<Lit>),
    Nin(Vec<Lit>),
    Exists(bool),
    /// The pattern, and the literal text every match starts with (see [`literal_prefix`]).
    Regex(Regex, Option<Prefix>),
    Cmp(Ordering, bool, Lit),
}

/// Nesting limit for `$and` / `$or`, so a hostile document cannot exhaust the stack.
const MAX_DEPTH: usize = 16;

mod prefix;
mod sql;

use prefix::literal_prefix;
pub use prefix::Prefix;

fn bad(msg: impl Into<String>) -> Error {
    Error::field("query", msg)
}

impl Field {
    fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "uid" => Field::Uid,
            "title" => Field::Title,
            "filename" => Field::Filename,
            "content_type" => Field::ContentType,
            "tags" => Field::Tags,
            "parent_uid" => Field::ParentUid,
            "is_dir" => Field::IsDir,
            "name" => Field::Name,
            "file_size" => Field::FileSize,
            "created_at" => Field::CreatedAt,
            "updated_at" => Field::UpdatedAt,
            "_version" => Field::Version,
            other => return Err(bad(format!("can't filter on unknown field {other:?}"))),
        })
    }

    /// Converts a literal from the document to this field's type.
    fn lit(self, v: &Value) -> Result<Lit> {
        let wrong = |want: &str| bad(format!("value {v} is not {want}"));
        match (self, v) {
            (_, Value::Null) => Ok(Lit::Null),
            (Field::IsDir, Value::Bool(b)) => Ok(Lit::Bool(*b)),
            (Field::IsDir, _) => Err(wrong("a boolean")),
            (Field::FileSize | Field::Version, Value::Number(n)) => {
                Ok(Lit::Num(n.as_f64().unwrap_or(0.0)))
            }
            (Field::FileSize | Field::Version, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map(Lit::Num)
                .map_err(|_| wrong("a number")),
            (Field::FileSize | Field::Version, _) => Err(wrong("a number")),
            (Field::CreatedAt | Field::UpdatedAt, Value::String(s)) => parse_iso8601(s)
                .map(|ms| Lit::Num(ms as f64))
                .ok_or_else(|| wrong("an ISO-8601 date")),
            (Field::CreatedAt | Field::UpdatedAt, _) => Err(wrong("an ISO-8601 date")),
            (_, Value::String(s)) => Ok(Lit::Str(s.clone())),
            _ => Err(wrong("a string")),
        }
    }

    /// The asset's values for this field (several for tags; empty when absent).
    fn values(self, a: &Asset) -> Vec<Lit> {
        let s = |x: &str| vec![Lit::Str(x.to_owned())];
        match self {
            Field::Uid => s(&a.uid),
            Field::Title if !a.is_dir => s(&a.title),
            Field::Name if a.is_dir => s(&a.title),
            Field::Title | Field::Name => vec![],
            Field::Filename => a.file.as_ref().map(|f| s(&f.filename)).unwrap_or_default(),
            Field::ContentType => match &a.file {
                Some(f) => s(&f.content_type),
                None => s(crate::records::FOLDER_CONTENT_TYPE),
            },
            Field::Tags => a.tags.iter().map(|t| Lit::Str(t.clone())).collect(),
            Field::ParentUid => a.parent_uid.as_deref().map(s).unwrap_or_default(),
            Field::IsDir => vec![Lit::Bool(a.is_dir)],
            Field::FileSize => a
                .file
                .as_ref()
                .map(|f| vec![Lit::Num(f.size as f64)])
                .unwrap_or_default(),
            Field::CreatedAt => vec![Lit::Num(a.created_at as f64)],
            Field::UpdatedAt => vec![Lit::Num(a.updated_at as f64)],
            Field::Version => vec![Lit::Num(a.version as f64)],
        }
    }
}

impl Query {
    /// Parses the `query` parameter text.
    pub fn parse(text: &str) -> Result<Self> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("is not valid JSON: {e}")))?;
        Self::from_value(&v, 0)
    }

    fn from_value(v: &Value, depth: usize) -> Result<Self> {
        if depth > MAX_DEPTH {
            return Err(bad(format!("is nested more than {MAX_DEPTH} levels deep")));
        }
        let Value::Object(map) = v else {
            return Err(bad("must be a JSON object"));
        };
        let mut conds = Vec::new();
        for (k, v) in map {
            match k.as_str() {
                "$and" | "$or" => {
                    let Value::Array(items) = v else {
                        return Err(bad(format!("{k} takes an array of query objects")));
                    };
                    if items.is_empty() {
                        return Err(bad(format!("{k} needs at least one query object")));
                    }
                    let subs = items
                        .iter()
                        .map(|i| Self::from_value(i, depth + 1))
                        .collect::<Result<Vec<_>>>()?;
                    conds.push(if k == "$and" {
                        Cond::And(subs)
                    } else {
                        Cond::Or(subs)
                    });
                }
                op if op.starts_with('$') => {
                    return Err(bad(format!("unknown operator {op:?} at the top level")))
                }
                name => {
                    if let Some(m) = MetadataField::parse(name) {
                        let m = m?;
                        for op in parse_ops(&MetadataField::lit, v)? {
                            conds.push(Cond::Metadata(m.clone(), op));
                        }
                        continue;
                    }
                    let field = Field::parse(name)?;
                    for op in parse_ops(&|x| field.lit(x), v)? {
                        conds.push(Cond::Field(field, op));
                    }
                }
            }
        }
        Ok(Query(conds))
    }

    /// Whether an asset, with these metadata values of it, satisfies every condition.
    pub fn matches(&self, a: &Asset, metadata: &[StoredValue]) -> bool {
        self.0.iter().all(|c| match c {
            Cond::And(qs) => qs.iter().all(|q| q.matches(a, metadata)),
            Cond::Or(qs) => qs.iter().any(|q| q.matches(a, metadata)),
            Cond::Field(f, op) => eval(op, &f.values(a)),
            Cond::Metadata(m, op) => eval(op, &m.values(metadata)),
        })
    }

    /// Whether a condition is on metadata (so that [`Query::matches`] needs its values).
    pub fn reads_metadata(&self) -> bool {
        self.0.iter().any(|c| match c {
            Cond::And(qs) | Cond::Or(qs) => qs.iter().any(Query::reads_metadata),
            Cond::Field(..) => false,
            Cond::Metadata(..) => true,
        })
    }
}

fn parse_ops(lit: &dyn Fn(&Value) -> Result<Lit>, v: &Value) -> Result<Vec<Op>> {
    let Value::Object(ops) = v else {
        return Ok(vec![Op::Eq(lit(v)?)]);
    };
    if ops.is_empty() {
        return Err(bad("an operator object can't be empty"));
    }
    let list = |x: &Value, op: &str| -> Result<Vec<Lit>> {
        match x {
            Value::Array(items) => items.iter().map(lit).collect(),
            _ => Err(bad(format!("{op} takes an array"))),
        }
    };
    let options = ops.get("$options");
    let mut out = Vec::new();
    for (op, x) in ops {
        out.push(match op.as_str() {
            "$ne" => Op::Ne(lit(x)?),
            "$in" => Op::In(list(x, "$in")?),
            "$nin" => Op::Nin(list(x, "$nin")?),
            "$exists" => match x {
                Value::Bool(b) => Op::Exists(*b),
                _ => return Err(bad("$exists takes true or false")),
            },
            "$regex" => {
                let re = regex(x, options)?;
                let prefix = literal_prefix(re.as_str(), options);
                Op::Regex(re, prefix)
            }
            "$options" if ops.contains_key("$regex") => continue,
            "$options" => return Err(bad("$options is only allowed with $regex")),
            "$gt" => Op::Cmp(Ordering::Greater, false, lit(x)?),
            "$gte" => Op::Cmp(Ordering::Greater, true, lit(x)?),
            "$lt" => Op::Cmp(Ordering::Less, false, lit(x)?),
            "$lte" => Op::Cmp(Ordering::Less, true, lit(x)?),
            other if other.starts_with('$') => {
                return Err(bad(format!("unknown operator {other:?}")))
            }
            other => {
                return Err(bad(format!(
                    "nested field {other:?} is not supported; use an operator such as $in"
                )))
            }
        });
    }
    Ok(out)
}

fn regex(pattern: &Value, options: Option<&Value>) -> Result<Regex> {
    let Value::String(p) = pattern else {
        return Err(bad("$regex takes a string"));
    };
    let mut b = RegexBuilder::new(p);
    // Bounded compiled size: a hostile pattern gets a 422, not a hungry server.
    b.size_limit(1 << 20).dfa_size_limit(1 << 20);
    match options {
        None => {}
        Some(Value::String(o)) => {
            for c in o.chars() {
                match c {
                    'i' => b.case_insensitive(true),
                    'm' => b.multi_line(true),
                    's' => b.dot_matches_new_line(true),
                    'x' => b.ignore_whitespace(true),
                    other => return Err(bad(format!("unknown $options flag {other:?}"))),
                };
            }
        }
        Some(_) => return Err(bad("$options takes a string such as \"i\"")),
    }
    b.build()
        .map_err(|e| bad(format!("$regex is not a valid pattern: {e}")))
}

fn eval(op: &Op, values: &[Lit]) -> bool {
    let eq = |lit: &Lit| match lit {
        Lit::Null => values.is_empty(),
        l => values.iter().any(|v| v == l),
    };
    match op {
        Op::Eq(l) => eq(l),
        Op::Ne(l) => !eq(l),
        Op::In(ls) => ls.iter().any(eq),
        Op::Nin(ls) => !ls.iter().any(eq),
        Op::Exists(b) => values.is_empty() != *b,
        Op::Regex(r, _) => values
            .iter()
            .any(|v| matches!(v, Lit::Str(s) if r.is_match(s))),
        Op::Cmp(dir, or_eq, l) => values.iter().any(|v| {
            std::mem::discriminant(v) == std::mem::discriminant(l)
                && match v.partial_cmp(l) {
                    Some(Ordering::Equal) => *or_eq,
                    Some(o) => o == *dir,
                    None => false,
                }
        }),
    }
}

/// The column to sort by for `asc` / `desc`; `None` when the field can't be sorted on.
pub fn sort_column(field: &str) -> Option<Column> {
    match Field::parse(field).ok()? {
        Field::Tags => None,
        f => Some(f.column()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_documents() {
        for q in [
            "{",
            "[]",
            r#"{"title":{"$foo":1}}"#,
            r#"{"nope":1}"#,
            r#"{"$and":{}}"#,
            r#"{"title":{"$regex":"("}}"#,
            r#"{"file_size":{"$gt":"big"}}"#,
            r#"{"$where":"1"}"#,
            r#"{"title":{"$options":"i"}}"#,
        ] {
            assert!(Query::parse(q).is_err(), "{q} should be refused");
        }
        assert!(
            Query::parse(r#"{"$or":[{"title":"a"},{"tags":"b"}],"file_size":{"$gte":10}}"#).is_ok()
        );
    }
}
