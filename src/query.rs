//! The `query` parameter of `GET /v3/assets` (§6): a JSON document over asset fields,
//! parsed once into a [`Query`] (so a bad document is refused with a clear 422 before any
//! work is done) and then evaluated per asset.
//!
//! Operators: equality, `$ne`, `$in`, `$nin`, `$exists`, `$regex` (+ `$options`), `$gt`,
//! `$gte`, `$lt`, `$lte`, `$and`, `$or`. On `tags`, equality means "contains".

use std::cmp::Ordering;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::records::Asset;
use crate::time::parse_iso8601;

/// A parsed query document.
#[derive(Debug, Clone)]
pub struct Query(Vec<Cond>);

#[derive(Debug, Clone)]
enum Cond {
    Field(Field, Op),
    And(Vec<Query>),
    Or(Vec<Query>),
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
    Regex(Regex),
    Cmp(Ordering, bool, Lit),
}

/// Nesting limit for `$and` / `$or`, so a hostile document cannot exhaust the stack.
const MAX_DEPTH: usize = 16;

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
                field => {
                    let field = Field::parse(field)?;
                    for op in parse_ops(field, v)? {
                        conds.push(Cond::Field(field, op));
                    }
                }
            }
        }
        Ok(Query(conds))
    }

    /// Whether an asset satisfies every condition.
    pub fn matches(&self, a: &Asset) -> bool {
        self.0.iter().all(|c| match c {
            Cond::And(qs) => qs.iter().all(|q| q.matches(a)),
            Cond::Or(qs) => qs.iter().any(|q| q.matches(a)),
            Cond::Field(f, op) => eval(op, &f.values(a)),
        })
    }
}

fn parse_ops(field: Field, v: &Value) -> Result<Vec<Op>> {
    let Value::Object(ops) = v else {
        return Ok(vec![Op::Eq(field.lit(v)?)]);
    };
    if ops.is_empty() {
        return Err(bad("an operator object can't be empty"));
    }
    let list = |x: &Value, op: &str| -> Result<Vec<Lit>> {
        match x {
            Value::Array(items) => items.iter().map(|i| field.lit(i)).collect(),
            _ => Err(bad(format!("{op} takes an array"))),
        }
    };
    let options = ops.get("$options");
    let mut out = Vec::new();
    for (op, x) in ops {
        out.push(match op.as_str() {
            "$ne" => Op::Ne(field.lit(x)?),
            "$in" => Op::In(list(x, "$in")?),
            "$nin" => Op::Nin(list(x, "$nin")?),
            "$exists" => match x {
                Value::Bool(b) => Op::Exists(*b),
                _ => return Err(bad("$exists takes true or false")),
            },
            "$regex" => Op::Regex(regex(x, options)?),
            "$options" if ops.contains_key("$regex") => continue,
            "$options" => return Err(bad("$options is only allowed with $regex")),
            "$gt" => Op::Cmp(Ordering::Greater, false, field.lit(x)?),
            "$gte" => Op::Cmp(Ordering::Greater, true, field.lit(x)?),
            "$lt" => Op::Cmp(Ordering::Less, false, field.lit(x)?),
            "$lte" => Op::Cmp(Ordering::Less, true, field.lit(x)?),
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
        Op::Regex(r) => values
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

/// Orders two assets by a sortable field (`asc` / `desc` parameters).
pub fn compare_field(a: &Asset, b: &Asset, field: &str) -> Ordering {
    let Ok(f) = Field::parse(field) else {
        return a.created_at.cmp(&b.created_at);
    };
    let (va, vb) = (f.values(a), f.values(b));
    va.first()
        .partial_cmp(&vb.first())
        .unwrap_or(Ordering::Equal)
}

/// Whether `field` may be used with `asc` / `desc`.
pub fn is_sortable(field: &str) -> bool {
    Field::parse(field).is_ok() && field != "tags"
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
