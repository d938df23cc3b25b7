//! Webhooks (§13): a stack's receivers of asset events, and their executions.
//!
//! Changes write outbox rows in their own transactions (`db/assets.rs`); the dispatcher
//! (`events.rs`) fans them out into jobs and sends them. This module holds the rules:
//! what a webhook may be (its channels, its receivers' addresses), and who may manage it.

use std::net::IpAddr;

use crate::db::events::{Destination, EventJob, Webhook};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ids::{self, Network};
use crate::permissions::Area;
use crate::time::now_ms;

pub mod channels;
mod transfer;

pub use transfer::{export, import, Imported};

/// What a client sends to create or change a webhook. On an update, a field left out
/// keeps its value.
#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    /// Name.
    pub name: Option<String>,
    /// Receivers.
    pub destinations: Option<Vec<Destination>>,
    /// Channels.
    pub channels: Option<Vec<String>>,
    /// `automatic` (default) or `manual`.
    pub retry_policy: Option<String>,
    /// Paused.
    pub disabled: Option<bool>,
    /// Uids and URLs only.
    pub concise_payload: Option<bool>,
    /// Contentstack's other webhook fields ([`KEPT_FIELDS`]) that were sent.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Fields of Contentstack's webhooks that perma stores and returns unchanged without
/// acting on them (perma has one branch, `main`, and sends no notifications).
pub const KEPT_FIELDS: &[&str] = &[
    "branches",
    "notifiers",
    "applikation_id",
    "app_user_object_uid",
];

/// Whether a receiver may be at `ip`: public unicast addresses always; loopback,
/// link-local, private, shared (CGN), unspecified, broadcast, multicast and reserved ones
/// only inside `allow` (SSRF, §13). IPv6 forms that carry an IPv4 address (mapped,
/// compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address they
/// reach; the local-use NAT64 prefix `64:ff9b:1::/48` and Teredo `2001::/32` (whose
/// translators are private or whose target is hidden) only inside `allow`.
pub fn ip_allowed(ip: IpAddr, allow: &[Network]) -> bool {
    if allow.iter().any(|n| n.contains(ip)) {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => v4_public(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            // An allowed IPv4 network reached through an IPv6 form is allowed too.
            Some(v4) => v4_public(v4) || allow.iter().any(|n| n.contains(IpAddr::V4(v4))),
            None => v6_public(v6),
        },
    }
}

fn v4_public(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && v4.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn v6_public(v6: std::net::Ipv6Addr) -> bool {
    let first = v6.segments()[0];
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || (first == 0x64 && v6.segments()[1] == 0xff9b)
        || (first == 0x2001 && v6.segments()[1] == 0)
        || (first == 0x2001 && v6.segments()[1] == 0xdb8))
}

/// The IPv4 address an IPv6 address stands for, in the forms that route to one.
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    if let Some(m) = v6.to_ipv4_mapped() {
        return Some(m);
    }
    match s {
        // IPv4-compatible (deprecated, still routed by some stacks): ::a.b.c.d.
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => Some(v4(hi, lo)),
        // NAT64, well-known prefix.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // 6to4: 2002:AABB:CCDD::/48.
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// Checks a receiver URL: http or https, a host, and (when the host is an address) one
/// that `allow` permits. Host names are checked again, resolved, at every send.
pub fn check_target(url: &str, allow: &[Network]) -> Result<()> {
    let bad = |why: &str| Error::field("target_url", format!("{why}: {url:?}"));
    let parsed = reqwest::Url::parse(url).map_err(|_| bad("is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    let host = match parsed.host() {
        Some(h) => h,
        None => return Err(bad("has no host")),
    };
    let ip = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => {
            Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        }
        url::Host::Domain(_) => None,
    };
    if let Some(ip) = ip {
        if !ip_allowed(ip, allow) {
            return Err(bad(
                "is in a loopback, link-local or private network (allow it with PERMA_WEBHOOK_ALLOW_NETS)",
            ));
        }
    }
    Ok(())
}

fn checked(w: &Webhook, allow: &[Network]) -> Result<()> {
    if w.name.is_empty() {
        return Err(Error::field("name", "is required"));
    }
    if w.destinations.is_empty() {
        return Err(Error::field(
            "destinations",
            "needs at least one target_url",
        ));
    }
    for d in &w.destinations {
        check_target(&d.target_url, allow)?;
    }
    if w.channels.is_empty() {
        return Err(Error::field("channels", "needs at least one channel"));
    }
    for c in &w.channels {
        if !channels::valid(c) {
            return Err(Error::field(
                "channels",
                format!("{c:?} is not a channel: names {}", channels::rule()),
            ));
        }
    }
    match w.retry_policy.as_str() {
        "automatic" | "manual" => Ok(()),
        other => Err(Error::field(
            "retry_policy",
            format!("{other:?} is neither automatic nor manual"),
        )),
    }
}

/// `cur` with what `input` changes.
fn merged(cur: Webhook, input: WebhookInput) -> Webhook {
    let mut extra = cur.extra;
    extra.extend(input.extra);
    Webhook {
        name: input.name.map_or(cur.name, |n| n.trim().to_owned()),
        destinations: input.destinations.unwrap_or(cur.destinations),
        channels: input.channels.unwrap_or(cur.channels),
        retry_policy: input.retry_policy.unwrap_or(cur.retry_policy),
        disabled: input.disabled.unwrap_or(cur.disabled),
        concise_payload: input.concise_payload.unwrap_or(cur.concise_payload),
        extra,
        ..cur
    }
}

/// Creates a webhook; its signing secret is in the result (shown once).
pub async fn create(
    db: &Db,
    access: &StackAccess,
    input: WebhookInput,
    allow: &[Network],
) -> Result<Webhook> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let now = now_ms();
    let by = access.actor.uid().to_owned();
    let blank = Webhook {
        uid: ids::new_uid(),
        api_key: access.stack.api_key.clone(),
        name: String::new(),
        destinations: Vec::new(),
        channels: Vec::new(),
        retry_policy: "automatic".into(),
        disabled: false,
        concise_payload: false,
        extra: serde_json::Map::new(),
        secret: ids::new_secret("whsec"),
        created_by: by.clone(),
        updated_by: by,
        created_at: now,
        updated_at: now,
    };
    let w = merged(blank, input);
    checked(&w, allow)?;
    let entry = access
        .audit("webhook", "create")
        .item(&w.uid, &w.name, None)
        .details(
            serde_json::json!({ "channels": w.channels, "destinations": w.destinations.len() }),
        );
    db.insert_webhook(&w, &[entry]).await?;
    Ok(w)
}

/// One webhook of the stack.
pub async fn get(db: &Db, access: &StackAccess, uid: &str) -> Result<Webhook> {
    access.require_read()?;
    db.webhook(&access.stack.api_key, uid)
        .await?
        .ok_or(Error::NotFound("Webhook"))
}

/// The stack's webhooks.
pub async fn list(db: &Db, access: &StackAccess) -> Result<Vec<Webhook>> {
    access.require_read()?;
    Ok(db.webhooks(&access.stack.api_key).await?)
}

/// Changes a webhook's settings (the secret stays). Also returns the secrets that were
/// not carried over (see [`kept_secrets`]), to be named in the answer.
pub async fn update(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    mut input: WebhookInput,
    allow: &[Network],
) -> Result<(Webhook, Vec<String>)> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let cur = get(db, access, uid).await?;
    let mut dropped = Vec::new();
    if let Some(new) = input.destinations.take() {
        let (kept, lost) = kept_secrets(new, &cur.destinations);
        input.destinations = Some(kept);
        dropped = lost;
    }
    let w = Webhook {
        updated_by: access.actor.uid().to_owned(),
        updated_at: now_ms(),
        ..merged(cur, input)
    };
    checked(&w, allow)?;
    let entry = access
        .audit("webhook", "update")
        .item(&w.uid, &w.name, None)
        .details(serde_json::json!({ "channels": w.channels, "destinations": w.destinations.len(), "disabled": w.disabled }));
    if !db.update_webhook(&w, &[entry]).await? {
        return Err(Error::NotFound("Webhook"));
    }
    Ok((w, dropped))
}

/// What webhook answers show instead of a custom header's value.
pub const MASK: &str = "********";

fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// Destinations of an update, with the secrets the answers hid taken from the stored
/// destination they replace: the one with the same `target_url`, or else the one in the
/// same place when its URL has the same origin (scheme, host, port). A header whose value
/// is [`MASK`] keeps its stored value, and a destination with the same basic-auth user and
/// no password keeps its password. So a client that reads a webhook, changes its name or
/// its receiver's path and writes it back loses nothing.
///
/// Secrets never move to another origin: a masked header there (or one with no stored
/// value) is left out, and a basic-auth user keeps no password. What was left out is
/// returned, named, so that the answer can say it.
pub(crate) fn kept_secrets(
    mut new: Vec<Destination>,
    old: &[Destination],
) -> (Vec<Destination>, Vec<String>) {
    let mut dropped = Vec::new();
    for (i, d) in new.iter_mut().enumerate() {
        let was = old
            .iter()
            .find(|o| o.target_url == d.target_url)
            .or_else(|| {
                old.get(i)
                    .filter(|o| same_origin(&o.target_url, &d.target_url))
            });
        if let Some(was) = was {
            if d.http_basic_password.is_none() && d.http_basic_auth == was.http_basic_auth {
                d.http_basic_password.clone_from(&was.http_basic_password);
            }
            for h in &mut d.custom_header {
                if h.value == MASK {
                    if let Some(v) = was
                        .custom_header
                        .iter()
                        .find(|o| o.header_name.eq_ignore_ascii_case(&h.header_name))
                    {
                        h.value.clone_from(&v.value);
                    }
                }
            }
        } else if d.http_basic_auth.is_some() && d.http_basic_password.is_none() {
            dropped.push(format!("the basic-auth password for {}", d.target_url));
        }
        let url = d.target_url.clone();
        d.custom_header.retain(|h| {
            let masked = h.value == MASK;
            if masked {
                dropped.push(format!("the value of header {} for {url}", h.header_name));
            }
            !masked
        });
    }
    (new, dropped)
}

/// Deletes a webhook and its executions.
pub async fn delete(db: &Db, access: &StackAccess, uid: &str) -> Result<()> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let entry = access.audit("webhook", "delete").item(uid, "", None);
    if db
        .delete_webhook(&access.stack.api_key, uid, &[entry])
        .await?
    {
        Ok(())
    } else {
        Err(Error::NotFound("Webhook"))
    }
}

/// A webhook's executions, newest first, and how many there are.
pub async fn executions(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    skip: i64,
    limit: i64,
) -> Result<(Vec<EventJob>, i64)> {
    get(db, access, uid).await?;
    Ok(db.webhook_jobs(uid, skip, limit).await?)
}

/// One execution (of any webhook of the stack).
pub async fn execution(db: &Db, access: &StackAccess, execution_uid: &str) -> Result<EventJob> {
    access.require_read()?;
    db.event_job(execution_uid)
        .await?
        .filter(|j| j.api_key == access.stack.api_key && j.kind == "webhook")
        .ok_or(Error::NotFound("Webhook execution"))
}

/// Sends one execution again, now, named by its uid alone.
pub async fn retry_execution(db: &Db, access: &StackAccess, execution_uid: &str) -> Result<()> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let job = execution(db, access, execution_uid).await?;
    db.requeue_job(&job.uid, now_ms()).await?;
    Ok(())
}

/// Sends one execution of a webhook again, now.
pub async fn retry(db: &Db, access: &StackAccess, uid: &str, execution_uid: &str) -> Result<()> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    get(db, access, uid).await?;
    let job = db
        .event_job(execution_uid)
        .await?
        .filter(|j| j.webhook_uid.as_deref() == Some(uid))
        .ok_or(Error::NotFound("Webhook execution"))?;
    db.requeue_job(&job.uid, now_ms()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_refused_unless_allowed() {
        let none: Vec<Network> = Vec::new();
        for url in [
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://172.16.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://0.0.0.0/",
            "ftp://example.com/",
            // IPv6 forms that reach a private IPv4 address, and multicast.
            "http://[64:ff9b::a00:1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[64:ff9b:1::808:808]/",
            "http://[2002:a00:1::]/",
            "http://[2002:7f00:1::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::10.0.0.1]/",
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "http://224.0.0.1/",
            "http://239.255.255.250/",
            "http://[ff02::1]/",
            "http://240.0.0.1/",
            "http://198.18.0.1/",
        ] {
            assert!(check_target(url, &none).is_err(), "{url}");
        }
        // The same forms of a public address are public.
        for url in ["http://[64:ff9b::808:808]/", "http://[2002:808:808::1]/"] {
            assert!(check_target(url, &none).is_ok(), "{url}");
        }
        assert!(check_target("https://hooks.example.com/perma", &none).is_ok());
        let loopback = vec![Network::parse("127.0.0.0/8").unwrap()];
        assert!(check_target("http://127.0.0.1:9/x", &loopback).is_ok());
        assert!(check_target("http://10.1.2.3/", &loopback).is_err());
    }
}
