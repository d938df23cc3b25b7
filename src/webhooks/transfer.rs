//! Webhook export and import (Contentstack's `GET /webhooks/{uid}/export` and
//! `POST /webhooks/import`, `POST /webhooks/{uid}/import`).
//!
//! An export is the webhook's settings without its secrets: no signing secret, no
//! basic-auth password, and each custom header's value replaced by [`MASK`]. Importing
//! into an existing webhook keeps the secrets it has (as an update does); a new imported
//! webhook has none of them: what was masked is left out (and named in the answer), and it
//! starts disabled until someone has confirmed its target, unless the request says
//! otherwise.

use super::{create, kept_secrets, update, WebhookInput, MASK};
use crate::db::events::Webhook;
use crate::db::Db;
use crate::error::Result;
use crate::identity::StackAccess;
use crate::ids::Network;
use crate::permissions::Area;

/// The settings of a webhook as its export file holds them.
pub fn export(w: &Webhook) -> serde_json::Value {
    let destinations: Vec<serde_json::Value> = w
        .destinations
        .iter()
        .map(|d| {
            let headers: Vec<serde_json::Value> = d
                .custom_header
                .iter()
                .map(|h| serde_json::json!({"header_name": h.header_name, "value": MASK}))
                .collect();
            serde_json::json!({
                "target_url": d.target_url,
                "http_basic_auth": d.http_basic_auth,
                "custom_header": headers,
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "name": w.name,
        "destinations": destinations,
        "channels": w.channels,
        "retry_policy": w.retry_policy,
        "disabled": w.disabled,
        "concise_payload": w.concise_payload,
    });
    for (k, x) in &w.extra {
        v[k] = x.clone();
    }
    v
}

/// What an import did.
#[derive(Debug)]
pub struct Imported {
    /// The webhook as stored.
    pub webhook: Webhook,
    /// Whether it is a new webhook (else an existing one was updated).
    pub created: bool,
    /// Secrets the file did not carry and the webhook now lacks (named for the answer).
    pub missing: Vec<String>,
}

/// Imports a webhook file: a new webhook, or (with `into`) new settings for an existing
/// one. `disabled`: what the request asked for; a new webhook is disabled by default.
pub async fn import(
    db: &Db,
    access: &StackAccess,
    into: Option<&str>,
    mut input: WebhookInput,
    disabled: Option<bool>,
    allow: &[Network],
) -> Result<Imported> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    match into {
        Some(uid) => {
            if disabled.is_some() {
                input.disabled = disabled;
            }
            let (webhook, missing) = update(db, access, uid, input, allow).await?;
            Ok(Imported {
                webhook,
                created: false,
                missing,
            })
        }
        None => {
            input.disabled = Some(disabled.unwrap_or(true));
            let (kept, missing) = kept_secrets(input.destinations.take().unwrap_or_default(), &[]);
            input.destinations = Some(kept);
            let webhook = create(db, access, input, allow).await?;
            Ok(Imported {
                webhook,
                created: true,
                missing,
            })
        }
    }
}
