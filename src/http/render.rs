//! The CMA's list conventions for small lists, and field projection (`only`, `except`).
//! Records are rendered as JSON by [`crate::wire`].

use serde_json::{json, Map, Value};

/// Field projection (`only[BASE][]`): keeps `uid` and the listed fields.
/// A list answer of the CMA's conventions for a small list (environments, locales, tokens,
/// webhooks): `skip`, `limit` (1–100, default 100), `include_count` (→ `count`),
/// `count=true` (→ `{key: N}` alone), `only[BASE][]` and `except[BASE][]`.
pub fn small_list(
    key: &str,
    items: Vec<Value>,
    params: &super::extract::Params,
) -> crate::error::Result<Value> {
    let total = items.len();
    if params.flag("count") {
        return Ok(json!({ key: total }));
    }
    let skip = usize::try_from(params.skip()?).unwrap_or(usize::MAX);
    let limit = params.uint("limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let (only, except) = params.projection();
    let page: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(limit)
        .map(|v| shape(v, &only, &except))
        .collect();
    let mut out = json!({ key: page });
    if params.flag("include_count") {
        out["count"] = json!(total);
    }
    Ok(out)
}

/// Applies both projections, `only` then `except`; `uid` always stays.
pub fn shape(v: Value, only: &[String], except: &[String]) -> Value {
    except_fields(project(v, only), except)
}

/// Drops the `except` fields (`uid` always stays).
pub fn except_fields(mut v: Value, except: &[String]) -> Value {
    if let Value::Object(map) = &mut v {
        for e in except.iter().filter(|e| *e != "uid") {
            map.remove(e);
        }
    }
    v
}

pub fn project(v: Value, only: &[String]) -> Value {
    if only.is_empty() {
        return v;
    }
    let Value::Object(map) = v else { return v };
    let out: Map<String, Value> = map
        .into_iter()
        .filter(|(k, _)| k == "uid" || only.iter().any(|o| o == k))
        .collect();
    Value::Object(out)
}
