//! The `query` parameter of `GET /v3/assets` (§6): a JSON document over asset fields,
//! parsed once into a [`Query`] (so a bad document is refused with a clear 422 before any
//! work is done) and then evaluated per asset.
//!
//! Operators: equality, `$ne`, `$in`, `$nin`, `$exists`, `$regex` (+ `$options`), `$gt`,
//! `$gte`, `$lt`, `$lte`, `$and`, `$or`. On `tags`, equality means "contains".

use std::cmp::Ordering;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::db::list::{Cmp, Column, Filter, Value as SqlValue};
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
    /// The pattern, and the literal text every match starts with (see [`literal_prefix`]).
    Regex(Regex, Option<Prefix>),
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
            "$regex" => {
                let re = regex(x, options)?;
                let prefix = literal_prefix(re.as_str(), options);
                Op::Regex(re, prefix)
            }
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

/// A literal prefix that every match of a regex has, for the database to narrow a scan
/// with an index (§6: anchored regexes use an index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    text: String,
    /// Case-insensitive: `text` is lowercase ASCII, compared with `lower(column)`.
    fold: bool,
    /// The pattern is nothing but `^` and this text: the prefix condition is the regex.
    exact: bool,
}

/// The literal text every match of `pattern` starts with: `^`, then literal characters up
/// to the first metacharacter. `None` when there is no such text, or when the pattern or
/// options could make a match start otherwise (`|` anywhere, multi-line `^`, `x` mode).
/// Case-insensitively, only ASCII characters count, and not `k` or `s`, which also match
/// non-ASCII letters (KELVIN SIGN, LONG S) that `lower()` in SQL leaves alone. The result
/// is always a necessary condition, never a sufficient one: rows are still matched with
/// the regex.
fn literal_prefix(pattern: &str, options: Option<&Value>) -> Option<Prefix> {
    let flags = options.and_then(Value::as_str).unwrap_or("");
    if flags.contains(['m', 'x']) || pattern.contains('|') {
        return None;
    }
    let fold = flags.contains('i');
    let mut chars = pattern.strip_prefix('^')?.chars().peekable();
    let mut text = String::new();
    while let Some(&c) = chars.peek() {
        let literal = match c {
            '\\' => {
                chars.next();
                match chars.peek() {
                    Some(&e) if e.is_ascii_punctuation() => e,
                    _ => break,
                }
            }
            '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' | '|' => break,
            c => c,
        };
        if fold && (!literal.is_ascii() || matches!(literal.to_ascii_lowercase(), 'k' | 's')) {
            break;
        }
        chars.next();
        text.push(if fold {
            literal.to_ascii_lowercase()
        } else {
            literal
        });
    }
    // A quantifier that allows zero repetitions makes the last literal optional.
    if matches!(chars.peek(), Some('?' | '*' | '{')) {
        text.pop();
    }
    let exact = chars.peek().is_none();
    (!text.is_empty()).then_some(Prefix { text, fold, exact })
}

impl Field {
    fn column(self) -> Column {
        match self {
            Field::Uid => Column::Uid,
            Field::Title => Column::Title,
            Field::Filename => Column::Filename,
            Field::ContentType => Column::ContentType,
            Field::Tags => Column::Tag,
            Field::ParentUid => Column::ParentUid,
            Field::IsDir => Column::IsDir,
            Field::Name => Column::Name,
            Field::FileSize => Column::FileSize,
            Field::CreatedAt => Column::CreatedAt,
            Field::UpdatedAt => Column::UpdatedAt,
            Field::Version => Column::Version,
        }
    }
}

fn sql_value(l: &Lit) -> Option<SqlValue> {
    Some(match l {
        Lit::Null => return None,
        Lit::Bool(b) => SqlValue::Int(i64::from(*b)),
        Lit::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => SqlValue::Int(*n as i64),
        Lit::Num(n) => SqlValue::Float(*n),
        Lit::Str(s) => SqlValue::Text(s.clone()),
    })
}

impl Query {
    /// The query as a database [`Filter`] (§6: listing is answered by the database), and
    /// whether that filter is exact. It is not when a regex could only be narrowed to its
    /// literal prefix (or not at all): then the database's rows are a superset, and each
    /// must still pass [`Query::matches`].
    pub fn filter(&self) -> (Filter, bool) {
        let mut exact = true;
        let f = Filter::All(self.0.iter().map(|c| cond_filter(c, &mut exact)).collect());
        (f, exact)
    }
}

fn cond_filter(c: &Cond, exact: &mut bool) -> Filter {
    match c {
        Cond::And(qs) => Filter::All(qs.iter().map(|q| query_filter(q, exact)).collect()),
        Cond::Or(qs) => Filter::Any(qs.iter().map(|q| query_filter(q, exact)).collect()),
        Cond::Field(f, op) => op_filter(f.column(), op, exact),
    }
}

fn query_filter(q: &Query, exact: &mut bool) -> Filter {
    Filter::All(q.0.iter().map(|c| cond_filter(c, exact)).collect())
}

/// The SQL form of `eval` (same meaning: "some value of the field …", absent fields have
/// no values).
fn op_filter(col: Column, op: &Op, exact: &mut bool) -> Filter {
    let eq = |l: &Lit| match sql_value(l) {
        None => Filter::Not(Box::new(Filter::Present(col))),
        Some(v) => Filter::Compare(col, Cmp::Eq, v),
    };
    let any_of = |ls: &[Lit]| {
        let values: Vec<SqlValue> = ls.iter().filter_map(sql_value).collect();
        let mut parts = vec![Filter::In(col, values)];
        if ls.contains(&Lit::Null) {
            parts.push(Filter::Not(Box::new(Filter::Present(col))));
        }
        Filter::Any(parts)
    };
    match op {
        Op::Eq(l) => eq(l),
        Op::Ne(l) => Filter::Not(Box::new(eq(l))),
        Op::In(ls) => any_of(ls),
        Op::Nin(ls) => Filter::Not(Box::new(any_of(ls))),
        Op::Exists(true) => Filter::Present(col),
        Op::Exists(false) => Filter::Not(Box::new(Filter::Present(col))),
        Op::Regex(_, prefix) => match prefix {
            Some(p) => {
                *exact &= p.exact;
                Filter::Prefix {
                    column: col,
                    prefix: p.text.clone(),
                    fold: p.fold,
                }
            }
            None => {
                *exact = false;
                Filter::Present(col)
            }
        },
        Op::Cmp(dir, or_eq, l) => {
            let Some(v) = sql_value(l) else {
                return Filter::False;
            };
            let cmp = match (dir, or_eq) {
                (Ordering::Greater, false) => Cmp::Gt,
                (Ordering::Greater, true) => Cmp::Ge,
                (_, false) => Cmp::Lt,
                (_, true) => Cmp::Le,
            };
            Filter::Compare(col, cmp, v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes_are_necessary_conditions() {
        let p = |pat: &str, opts: Option<&str>| {
            literal_prefix(pat, opts.map(|o| Value::String(o.into())).as_ref())
                .map(|p| (p.text, p.fold, p.exact))
        };
        let some = |t: &str, fold: bool, exact: bool| Some((t.to_owned(), fold, exact));
        assert_eq!(p("^b-99", None), some("b-99", false, true));
        assert_eq!(p("^b-99.*x", None), some("b-99", false, false));
        assert_eq!(p("^ab?c", None), some("a", false, false));
        assert_eq!(p("^ab*", None), some("a", false, false));
        assert_eq!(p("^ab{0,2}", None), some("a", false, false));
        assert_eq!(p("^ab+", None), some("ab", false, false));
        assert_eq!(p(r"^a\.b", None), some("a.b", false, true));
        assert_eq!(p(r"^a\d", None), some("a", false, false));
        assert_eq!(p("^Ab-9", Some("i")), some("ab-9", true, true));
        // k and s also match non-ASCII letters case-insensitively (KELVIN SIGN, LONG S).
        assert_eq!(p("^ask", Some("i")), some("a", true, false));
        assert_eq!(p("^ask", None), some("ask", false, true));
        assert_eq!(p("^é", Some("i")), None);
        for none in [
            ("b-99", None),
            ("^a|b", None),
            ("^(?i)a", None),
            ("^abc", Some("m")),
            ("^abc", Some("x")),
            ("^", None),
            ("^?", None),
        ] {
            assert_eq!(p(none.0, none.1), None, "{none:?}");
        }
    }

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
