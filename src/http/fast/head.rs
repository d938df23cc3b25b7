//! The head of a fast-path answer: the plan's status line and headers (kept with the
//! asset's index entry when the worker keeps that entry, so that a repeated answer costs
//! a copy), then `Connection` and `Date`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::delivery::{self, Delivery, MemoSlot};

/// Writes the head of `plan` into `out` (cleared first).
pub(super) fn write(
    d: &Delivery,
    plan: &delivery::Plan<'_>,
    memo: Option<MemoSlot<'_>>,
    close: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    match (plan.memo_key(), memo) {
        (Some(key), Some(mut memo)) => match memo.get(key) {
            Some(kept) => out.extend_from_slice(kept),
            None => {
                write_fields(d, plan, out);
                memo.put(key, out);
            }
        },
        _ => write_fields(d, plan, out),
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"date: ");
    http_date(out);
    out.extend_from_slice(b"\r\n\r\n");
}

/// Status line and headers of the plan, byte for byte what the router writes.
fn write_fields(d: &Delivery, plan: &delivery::Plan<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(plan.status_line());
    plan.headers(d, |name, value| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
}

/// Appends the current time as an HTTP date, formatted once per second per thread (as
/// hyper does).
fn http_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            *d = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(d.1.as_bytes());
    });
}
