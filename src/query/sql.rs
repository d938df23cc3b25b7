//! The SQL form of a parsed query: a [`Filter`] the database answers on its indexes (§6).

use std::cmp::Ordering;

use super::{Cond, Field, Lit, MetadataField, Op, Query};
use crate::db::list::{Cmp, Column, Filter, Value as SqlValue};

impl Field {
    pub(super) fn column(self) -> Column {
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
        Cond::Metadata(m, op) => metadata_filter(m, op, exact),
    }
}

/// The SQL form of a condition on a metadata field: the same meaning as [`op_filter`]
/// ("some value …"), each value test inside a [`Filter::Metadata`] of the field.
fn metadata_filter(m: &MetadataField, op: &Op, exact: &mut bool) -> Filter {
    let some = |value: Filter| Filter::Metadata {
        extension_uid: m.extension_uid.clone(),
        path: m.path.clone(),
        value: Box::new(value),
    };
    let column = |l: &Lit| match l {
        Lit::Str(_) => Column::MetadataText,
        _ => Column::MetadataNumber,
    };
    let test = |cmp: Cmp, l: &Lit| match sql_value(l) {
        Some(v) => Filter::Compare(column(l), cmp, v),
        None => Filter::False,
    };
    let none = || Filter::Not(Box::new(some(Filter::True)));
    let eq = |l: &Lit| match l {
        Lit::Null => none(),
        l => some(test(Cmp::Eq, l)),
    };
    let any_of = |ls: &[Lit]| {
        let tests: Vec<Filter> = ls
            .iter()
            .filter(|l| **l != Lit::Null)
            .map(|l| test(Cmp::Eq, l))
            .collect();
        let mut parts = vec![some(Filter::Any(tests))];
        if ls.contains(&Lit::Null) {
            parts.push(none());
        }
        Filter::Any(parts)
    };
    match op {
        Op::Eq(l) => eq(l),
        Op::Ne(l) => Filter::Not(Box::new(eq(l))),
        Op::In(ls) => any_of(ls),
        Op::Nin(ls) => Filter::Not(Box::new(any_of(ls))),
        Op::Exists(true) => some(Filter::True),
        Op::Exists(false) => none(),
        Op::Regex(_, prefix) => match prefix {
            Some(p) => {
                *exact &= p.exact;
                some(Filter::Prefix {
                    column: Column::MetadataText,
                    prefix: p.text.clone(),
                    fold: p.fold,
                })
            }
            None => {
                *exact = false;
                some(Filter::Present(Column::MetadataText))
            }
        },
        Op::Cmp(dir, or_eq, l) => {
            let cmp = cmp_of(*dir, *or_eq);
            match l {
                Lit::Null => Filter::False,
                l => some(test(cmp, l)),
            }
        }
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
            let cmp = cmp_of(*dir, *or_eq);
            Filter::Compare(col, cmp, v)
        }
    }
}

/// The SQL comparison of `$gt`, `$gte`, `$lt`, `$lte`.
fn cmp_of(dir: Ordering, or_eq: bool) -> Cmp {
    match (dir, or_eq) {
        (Ordering::Greater, false) => Cmp::Gt,
        (Ordering::Greater, true) => Cmp::Ge,
        (_, false) => Cmp::Lt,
        (_, true) => Cmp::Le,
    }
}
