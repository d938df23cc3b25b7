//! Sync for assets (§12 `GET /v3/stacks/sync`): a website's build keeps its copy of the
//! published assets in step by reading the stack's sync log.
//!
//! A sync reads a window `(after, upto]` of the log, where `upto` is the log's head when
//! the sync began. Within a window each asset appears once, as its latest event there, so
//! following a sync to its end repeats nothing; events committed while it runs land after
//! `upto` and are read by the next sync, which starts where this one's `sync_token` says,
//! so nothing is missed (the log is numbered in commit order, `db/published.rs`).
//! Tokens are opaque to clients and carry the window; they name no secret, and a reader
//! only ever reads its own environment through one. A finished sync's token depends only
//! on its position, environment and locale, however the sync got there; a delta that finds
//! nothing returns the token it was given, so a site that compares tokens sees a change
//! only when there is one.
//!
//! Contentstack's sync also carries entries (`type=entry_published`, …,
//! `content_type_uid`); perma has none, so those asks are answered with no items.

use crate::db::published::SyncWindow;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::DeliveryAccess;
use crate::records::{Asset, Publication, SyncEvent, SyncKind};

/// Items per sync page (Contentstack's page size).
pub const SYNC_PAGE: u64 = 100;

/// What a sync call asks for.
#[derive(Debug, Default, Clone)]
pub struct SyncRequest {
    /// `init=true`: start a sync from the beginning.
    pub init: bool,
    /// `type` (init only): which kinds of items; default `asset_published` for an init,
    /// every kind for a delta.
    pub kinds: Option<Vec<SyncKind>>,
    /// `start_from` (init only): events at or after this time (ms).
    pub start_from: Option<i64>,
    /// `pagination_token`: the next page of a sync.
    pub pagination_token: Option<String>,
    /// `sync_token`: what changed since a finished sync.
    pub sync_token: Option<String>,
    /// Only entries were asked for (entry `type`s alone, or a `content_type_uid`): the
    /// answer has no items.
    pub entries_only: bool,
}

/// Contentstack's sync types for entries and content types, accepted and never matched.
pub const ENTRY_SYNC_TYPES: &[&str] = &[
    "entry_published",
    "entry_unpublished",
    "entry_deleted",
    "content_type_deleted",
];

/// One sync item: the event, and for a publish, the asset as published.
#[derive(Debug, Clone)]
pub struct SyncItem {
    /// The event.
    pub event: SyncEvent,
    /// For `asset_published`: the published version and its publication.
    pub published: Option<(Asset, Publication)>,
}

/// A page of a sync.
#[derive(Debug, Clone)]
pub struct SyncPage {
    /// Items in log order.
    pub items: Vec<SyncItem>,
    /// Items of this sync before this page.
    pub skip: u64,
    /// Page size.
    pub limit: u64,
    /// Items in the whole sync.
    pub total_count: u64,
    /// `pagination_token` when more pages follow.
    pub pagination_token: Option<String>,
    /// `sync_token` on the last page.
    pub sync_token: Option<String>,
}

/// Where a sync stands: its window, the last event read and how many items came before.
#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    after: i64,
    upto: i64,
    read: i64,
    skip: u64,
    kinds: u8,
    since: Option<i64>,
    environment_uid: String,
    locale: String,
}

fn kind_mask(kinds: &[SyncKind]) -> u8 {
    SyncKind::ALL
        .iter()
        .enumerate()
        .filter(|(_, k)| kinds.contains(k))
        .fold(0, |m, (i, _)| m | (1 << i))
}

fn mask_kinds(mask: u8) -> Vec<SyncKind> {
    SyncKind::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, k)| *k)
        .collect()
}

fn unhex(s: &str) -> Option<String> {
    if s.len() > 1024 {
        return None;
    }
    String::from_utf8(hex::decode(s).ok()?).ok()
}

impl Cursor {
    /// The token of a finished sync at this cursor's position: only `upto`, the
    /// environment and the locale, in the `s|…` layout (a delta reads every kind from
    /// `upto` on, whatever this sync asked for).
    fn finished(&self) -> String {
        Cursor {
            after: self.upto,
            upto: self.upto,
            read: self.upto,
            skip: 0,
            kinds: 0,
            since: None,
            environment_uid: self.environment_uid.clone(),
            locale: self.locale.clone(),
        }
        .encode('s')
    }

    /// `p|…` for a page to come, `s|…` for a finished sync ([`Cursor::finished`]).
    fn encode(&self, tag: char) -> String {
        let since = self.since.map_or("-".to_owned(), |s| s.to_string());
        hex::encode(format!(
            "{tag}|{}|{}|{}|{}|{}|{since}|{}|{}",
            self.after,
            self.upto,
            self.read,
            self.skip,
            self.kinds,
            self.environment_uid,
            self.locale
        ))
    }

    fn decode(token: &str, tag: char) -> Option<Cursor> {
        let text = unhex(token)?;
        let f: Vec<&str> = text.split('|').collect();
        if f.len() != 9 || f[0] != tag.to_string() {
            return None;
        }
        let c = Cursor {
            after: f[1].parse().ok()?,
            upto: f[2].parse().ok()?,
            read: f[3].parse().ok()?,
            skip: f[4].parse().ok()?,
            kinds: f[5].parse().ok()?,
            since: match f[6] {
                "-" => None,
                s => Some(s.parse().ok()?),
            },
            environment_uid: f[7].to_owned(),
            locale: f[8].to_owned(),
        };
        (c.after >= 0 && c.after <= c.upto && c.read >= c.after && c.read <= c.upto).then_some(c)
    }

    fn window(&self, api_key: &str) -> SyncWindow {
        SyncWindow {
            api_key: api_key.to_owned(),
            environment_uid: self.environment_uid.clone(),
            locale: self.locale.clone(),
            after: self.after,
            upto: self.upto,
            kinds: mask_kinds(self.kinds),
            since: self.since,
        }
    }
}

/// Answers one sync call (§12).
pub async fn sync(db: &Db, access: &DeliveryAccess, r: &SyncRequest) -> Result<SyncPage> {
    let api_key = &access.stack.api_key;
    let env = &access.environment.uid;
    let locale = access.locales[0].clone();
    let bad = |field: &str| Error::field(field, "is not a token this environment issued");
    // Each of the three starts from a different place; none silently wins.
    let given = [r.init, r.pagination_token.is_some(), r.sync_token.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        let field = if r.init { "init" } else { "sync_token" };
        return Err(Error::field(
            field,
            "cannot be combined: init=true starts a new sync, a pagination_token continues \
             one sync's pages, a sync_token asks for what changed since; send exactly one",
        ));
    }
    let cursor = if let Some(t) = &r.pagination_token {
        Cursor::decode(t, 'p')
            .filter(|c| &c.environment_uid == env)
            .ok_or_else(|| bad("pagination_token"))?
    } else if let Some(t) = &r.sync_token {
        let done = Cursor::decode(t, 's')
            .filter(|c| &c.environment_uid == env)
            .ok_or_else(|| bad("sync_token"))?;
        let head = db.sync_head(api_key).await?;
        Cursor {
            after: done.upto,
            upto: head.max(done.upto),
            read: done.upto,
            skip: 0,
            kinds: kind_mask(r.kinds.as_deref().unwrap_or(&SyncKind::ALL)),
            since: None,
            environment_uid: env.clone(),
            locale: done.locale,
        }
    } else if r.init {
        let kinds = r.kinds.clone().unwrap_or_else(|| vec![SyncKind::Published]);
        Cursor {
            after: 0,
            upto: db.sync_head(api_key).await?,
            read: 0,
            skip: 0,
            kinds: kind_mask(&kinds),
            since: r.start_from,
            environment_uid: env.clone(),
            locale,
        }
    } else {
        return Err(Error::field(
            "init",
            "is required: send init=true, a pagination_token or a sync_token",
        ));
    };
    if r.entries_only {
        // Entries perma does not have: nothing, at the same position.
        let sync_token = match &r.sync_token {
            Some(given) => given.clone(),
            None => cursor.finished(),
        };
        return Ok(SyncPage {
            items: Vec::new(),
            skip: cursor.skip,
            limit: SYNC_PAGE,
            total_count: cursor.skip,
            pagination_token: None,
            sync_token: Some(sync_token),
        });
    }
    let window = cursor.window(api_key);
    let mut events = db.sync_page(&window, cursor.read, SYNC_PAGE + 1).await?;
    let more = events.len() as u64 > SYNC_PAGE;
    events.truncate(SYNC_PAGE as usize);
    let total_count = cursor.skip + db.sync_count(&window, cursor.read).await?;
    let mut items = Vec::with_capacity(events.len());
    for e in events {
        let published = match (e.kind, e.version) {
            (SyncKind::Published, Some(v)) => published_at(db, access, &e, v).await?,
            _ => None,
        };
        items.push(SyncItem {
            event: e,
            published,
        });
    }
    let skip = cursor.skip;
    let next = Cursor {
        read: items.last().map_or(cursor.read, |i| i.event.seq),
        skip: skip + items.len() as u64,
        ..cursor
    };
    let (pagination_token, sync_token) = match (&r.sync_token, more) {
        (_, true) => (Some(next.encode('p')), None),
        // A delta that found nothing stays where it was.
        (Some(given), false) if items.is_empty() => (None, Some(given.clone())),
        (_, false) => (None, Some(next.finished())),
    };
    Ok(SyncPage {
        items,
        skip,
        limit: SYNC_PAGE,
        total_count,
        pagination_token,
        sync_token,
    })
}

/// The asset as a publish event published it.
async fn published_at(
    db: &Db,
    access: &DeliveryAccess,
    e: &SyncEvent,
    version: i64,
) -> Result<Option<(Asset, Publication)>> {
    let Some(asset) = db.asset(&access.stack.api_key, &e.asset_uid).await? else {
        return Ok(None);
    };
    let Some(v) = db.version(&e.asset_uid, version).await? else {
        return Ok(None);
    };
    Ok(Some((
        asset.at_version(v),
        Publication {
            environment_uid: e.environment_uid.clone(),
            environment: access.environment.name.clone(),
            locale: e.locale.clone(),
            version,
            published_by: e.by.clone(),
            published_at: e.event_at,
        },
    )))
}

/// Fuzzing entry (`fuzz/fuzz_targets/sync_token.rs`): any text is refused, or decodes to a
/// window that encodes back to the same token.
pub fn fuzz_token(text: &str) {
    for tag in ['p', 's'] {
        if let Some(c) = Cursor::decode(text, tag) {
            assert!(c.after <= c.read && c.read <= c.upto);
            assert_eq!(Cursor::decode(&c.encode(tag), tag), Some(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_garbage() {
        let c = Cursor {
            after: 3,
            upto: 90,
            read: 40,
            skip: 100,
            kinds: 0b101,
            since: Some(1_700_000_000_000),
            environment_uid: "blt0123".into(),
            locale: "en-us".into(),
        };
        assert_eq!(Cursor::decode(&c.encode('p'), 'p'), Some(c.clone()));
        assert_eq!(Cursor::decode(&c.encode('p'), 's'), None);
        for bad in ["", "zz", "7031", &c.encode('p')[2..]] {
            assert_eq!(Cursor::decode(bad, 'p'), None, "{bad}");
        }
        let backwards = Cursor { read: 95, ..c };
        assert_eq!(Cursor::decode(&backwards.encode('p'), 'p'), None);
        assert_eq!(
            mask_kinds(kind_mask(&[SyncKind::Deleted])),
            [SyncKind::Deleted]
        );
    }
}
