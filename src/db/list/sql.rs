//! The SQL text of a listing: `FROM … WHERE …` from a [`ListQuery`]'s filters, `ORDER BY`
//! from its order, with numbered placeholders and their values built together.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use super::{Cmp, Column, Filter, ListQuery, Order, Source, Value};

/// The largest code point: `prefix + MAX` is above every text that starts with `prefix`
/// (UTF-8 byte order is code point order, and both backends compare bytes).
const MAX_CHAR: char = '\u{10FFFF}';

/// SQL text and its parameters, built together so that placeholders stay numbered.
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) binds: Vec<Value>,
    /// `FROM … WHERE …` of the tag rows that belong to the listing's rows.
    tags: String,
    /// Listing published rows (tags then match on asset and locale).
    published: bool,
    /// The stack (bound where metadata is read).
    api_key: String,
    /// The metadata scope: `''` (as it is) or the published environment's placeholder.
    metadata_scope: String,
}

impl Sql {
    fn bind(&mut self, v: Value) -> String {
        self.binds.push(v);
        format!("${}", self.binds.len())
    }

    fn filter(&mut self, f: &Filter) -> String {
        match f {
            Filter::True => "1 = 1".into(),
            Filter::False => "1 = 0".into(),
            Filter::All(fs) if fs.is_empty() => "1 = 1".into(),
            Filter::Any(fs) if fs.is_empty() => "1 = 0".into(),
            Filter::All(fs) => self.join(fs, " AND "),
            Filter::Any(fs) => self.join(fs, " OR "),
            Filter::Not(f) => format!("NOT ({})", self.filter(f)),
            Filter::Present(c) => c.sql().1.into(),
            Filter::Compare(c, op, v) => {
                let op = match op {
                    Cmp::Eq => "=",
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Ge => ">=",
                };
                let p = self.bind(v.clone());
                self.on(*c, &format!("{} {op} {p}", c.sql().0))
            }
            Filter::In(c, vs) if vs.is_empty() => {
                let _ = c;
                "1 = 0".into()
            }
            Filter::In(c, vs) => {
                let ps: Vec<String> = vs.iter().map(|v| self.bind(v.clone())).collect();
                self.on(*c, &format!("{} IN ({})", c.sql().0, ps.join(", ")))
            }
            Filter::Prefix {
                column,
                prefix,
                fold,
            } => {
                let col = column.sql().0;
                let col = if *fold {
                    format!("lower({col})")
                } else {
                    col.to_owned()
                };
                let lo = self.bind(Value::Text(prefix.clone()));
                let hi = self.bind(Value::Text(format!("{prefix}{MAX_CHAR}")));
                self.on(*column, &format!("{col} >= {lo} AND {col} < {hi}"))
            }
            Filter::Metadata {
                extension_uid,
                path,
                value,
            } => self.metadata(extension_uid, path, value),
        }
    }

    /// Some metadata value of the row's asset (published: in the row's locale) satisfies
    /// `value`.
    fn metadata(&mut self, extension_uid: &str, path: &str, value: &Filter) -> String {
        let e = self.bind(Value::Text(extension_uid.to_owned()));
        let p = self.bind(Value::Text(path.to_owned()));
        let cond = self.filter(value);
        let key = self.bind(Value::Text(self.api_key.clone()));
        let from = format!(
            "FROM metadata_values v WHERE v.api_key = {key} AND v.environment_uid = {}",
            self.metadata_scope
        );
        if self.published {
            format!(
                "(a.uid, a.locale) IN (SELECT v.entity_uid, v.locale {from} \
                 AND v.extension_uid = {e} AND v.path = {p} AND ({cond}))"
            )
        } else {
            format!(
                "a.uid IN (SELECT v.entity_uid {from} AND v.extension_uid = {e} \
                 AND v.path = {p} AND ({cond}))"
            )
        }
    }

    /// A condition on one column's value: with its presence, or through `asset_tags`.
    fn on(&mut self, c: Column, cond: &str) -> String {
        match c {
            Column::Tag if self.published => format!(
                "(a.uid, a.locale) IN (SELECT t.asset_uid, t.locale {} AND {cond})",
                self.tags
            ),
            Column::Tag => format!("a.uid IN (SELECT t.asset_uid {} AND {cond})", self.tags),
            c => format!("({} AND {cond})", c.sql().1),
        }
    }

    fn join(&mut self, fs: &[Filter], sep: &str) -> String {
        let parts: Vec<String> = fs.iter().map(|f| format!("({})", self.filter(f))).collect();
        parts.join(sep)
    }

    /// `FROM … WHERE …` of a listing.
    pub(super) fn from_where(q: &ListQuery) -> Sql {
        let mut s = Sql {
            text: String::new(),
            binds: Vec::new(),
            tags: String::new(),
            published: matches!(q.source, Source::Published { .. }),
            api_key: q.api_key.clone(),
            metadata_scope: "''".into(),
        };
        let published = s.published;
        let (table, mut conds) = match &q.source {
            Source::Assets => {
                let key = s.bind(Value::Text(q.api_key.clone()));
                s.tags = format!("FROM asset_tags t WHERE t.api_key = {key}");

                (
                    "assets",
                    vec![format!("a.api_key = {key}"), "a.deleted_at IS NULL".into()],
                )
            }
            Source::Published {
                environment_uid,
                locales,
            } => {
                let env = s.bind(Value::Text(environment_uid.clone()));
                let marks: Vec<String> = locales
                    .iter()
                    .map(|l| s.bind(Value::Text(l.clone())))
                    .collect();
                // The first locale of the chain the asset is published in: a row in locale
                // i counts when none exists in locales 0..i.
                let chain: Vec<String> = marks
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        if i == 0 {
                            format!("a.locale = {m}")
                        } else {
                            format!(
                                "(a.locale = {m} AND NOT EXISTS (SELECT 1 FROM published_assets b \
                                 WHERE b.environment_uid = {env} AND b.uid = a.uid \
                                 AND b.locale IN ({})))",
                                marks[..i].join(", ")
                            )
                        }
                    })
                    .collect();
                // Uncorrelated (a row value, not `t.locale = a.locale`), so that both
                // planners join it instead of running it once per row.
                s.tags = format!("FROM published_tags t WHERE t.environment_uid = {env}");
                s.metadata_scope = env.clone();
                // The environment names the stack, and folders are never published:
                // no condition on `api_key` or `is_dir`, so that the index on
                // (environment, locale, created_at, uid) alone answers pages and counts.
                (
                    "published_assets",
                    vec![
                        format!("a.environment_uid = {env}"),
                        format!("({})", chain.join(" OR ")),
                    ],
                )
            }
        };
        if !q.include_folders && !published {
            conds.push("a.is_dir = 0".into());
        }
        match &q.folder {
            None => {}
            Some(None) => conds.push("a.parent_uid IS NULL".into()),
            Some(Some(f)) => {
                let p = s.bind(Value::Text(f.clone()));
                conds.push(format!("a.parent_uid = {p}"));
            }
        }
        if let Some(t) = &q.type_prefix {
            let lo = s.bind(Value::Text(t.clone()));
            let hi = s.bind(Value::Text(format!("{t}{MAX_CHAR}")));
            conds.push(format!("a.content_type >= {lo} AND a.content_type < {hi}"));
        }
        if let Some(env) = &q.environment {
            let key = s.bind(Value::Text(q.api_key.clone()));
            let e = s.bind(Value::Text(env.clone()));
            conds.push(format!(
                "a.uid IN (SELECT p.asset_uid FROM publications p JOIN environments e \
                 ON e.uid = p.environment_uid WHERE e.api_key = {key} AND (e.name = {e} OR e.uid = {e}))"
            ));
        }
        if q.filter != Filter::True {
            let f = s.filter(&q.filter);
            conds.push(format!("({f})"));
        }
        s.text = format!("FROM {table} a WHERE {}", conds.join(" AND "));
        s
    }

    /// ORDER BY for a listing. In one folder, orders with an index that starts at the
    /// folder (`…_by_parent…`: by creation, by name) lead with `parent_uid`: the order is
    /// the same (one parent), but PostgreSQL's planner takes `parent_uid IS NULL` (the
    /// root) for a filter, not a constant, and would otherwise not see that the index
    /// gives the order past that column (a sort of the whole folder instead).
    pub(super) fn order_by(q: &ListQuery) -> String {
        let o = q.order;
        let order = Self::column_order(o);
        let by_parent = matches!(o.column, Column::CreatedAt | Column::Title | Column::Name);
        if q.folder.is_some() && by_parent && matches!(q.source, Source::Assets) {
            let dir = if o.ascending { "ASC" } else { "DESC" };
            format!("a.parent_uid {dir}, {order}")
        } else {
            order
        }
    }

    fn column_order(o: Order) -> String {
        let (dir, nulls) = if o.ascending {
            ("ASC", "NULLS FIRST")
        } else {
            ("DESC", "NULLS LAST")
        };
        let fold = |sql: &str| {
            if o.ignore_case {
                format!("lower({sql})")
            } else {
                sql.to_owned()
            }
        };
        match o.column {
            Column::Uid => format!("a.uid {dir}"),
            // Never NULL: no NULLS clause, so the index on (created_at, uid) gives the order.
            Column::CreatedAt | Column::UpdatedAt | Column::Version | Column::IsDir => {
                format!("{} {dir}, a.uid {dir}", o.column.sql().0)
            }
            Column::ContentType => format!("{} {dir}, a.uid {dir}", fold(o.column.sql().0)),
            // Title and name share a column: the rows that lack the sorted one (folders
            // for a title, files for a name) come first ascending and last descending, in
            // the order of their own name or title, so a library lists its folders
            // alphabetically too. Written as `is_dir` then the column, which is that order
            // and what the name-order indexes hold.
            Column::Title | Column::Name => {
                let lacking_first = o.ascending == (o.column == Column::Title);
                let kind = if lacking_first { "DESC" } else { "ASC" };
                format!("a.is_dir {kind}, {} {dir}, a.uid {dir}", fold("a.title"))
            }
            c => format!("{} {dir} {nulls}, a.uid {dir}", fold(c.sql().0)),
        }
    }
}

pub(super) fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    binds: &'q [Value],
) -> Query<'q, Any, AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Value::Text(s) => q.bind(s.as_str()),
            Value::Int(i) => q.bind(*i),
            Value::Float(f) => q.bind(*f),
        };
    }
    q
}
