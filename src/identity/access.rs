//! What an actor may do in one stack (§5, §14): [`StackAccess`], with the grants of the
//! actor's roles, the permission checks every path asks, and the audit entries it signs.

use std::sync::Arc;

use super::Actor;
use crate::db::audit::AuditEntry;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::permissions::{Action, Area, Grants, RoleKind};
use crate::records::{Asset, Environment, Locale, Stack, User};

/// What an actor may do in one stack.
#[derive(Debug, Clone)]
pub struct StackAccess {
    /// The stack.
    pub stack: Stack,
    /// Who asks.
    pub actor: Actor,
    /// What the actor's roles (or the token's scope) grant (§14).
    pub grants: Arc<Grants>,
    /// Where the request comes from, for the audit log.
    pub origin: Origin,
}

/// Where a request comes from (§14 audit log): the client's address and the request id.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The client (the peer, or a trusted proxy's `X-Forwarded-For`).
    pub client: Option<std::net::IpAddr>,
    /// The request's id (`X-Request-Id`).
    pub request_id: Option<String>,
}

fn denied(what: &str) -> Error {
    Error::Forbidden(format!(
        "You don't have permission to {what}. Ask an Admin of this stack for a role that allows it."
    ))
}

impl StackAccess {
    /// The access of an actor to a stack, with the grants of its roles (`None` when a user
    /// is not a member).
    pub async fn of(db: &Db, stack: Stack, actor: Actor) -> Result<Option<StackAccess>> {
        let grants = match &actor {
            Actor::Token(t) if t.api_key == stack.api_key => Grants::token(t.can_read, t.can_write),
            Actor::Token(_) => return Ok(None),
            Actor::User(u) => match db.member_roles(&stack.api_key, &u.uid).await? {
                None => return Ok(None),
                // The owner is always an Admin, whatever roles the rows hold.
                Some(_) if u.uid == stack.owner_uid => Grants::owner(),
                Some(roles) => {
                    Grants::from_roles(roles.iter().map(|r| (RoleKind::parse(&r.kind), &r.rules)))
                }
            },
        };
        Ok(Some(StackAccess {
            stack,
            actor,
            grants: Arc::new(grants),
            origin: Origin::default(),
        }))
    }

    /// A new audit log entry (§14) of this actor, stack and request.
    pub fn audit(&self, module: &str, event_type: &str) -> AuditEntry {
        let (kind, name) = match &self.actor {
            Actor::User(u) => ("user", u.email.clone()),
            Actor::Token(t) => ("token", t.name.clone()),
        };
        AuditEntry::by(
            &self.stack.api_key,
            module,
            event_type,
            (kind, self.actor.uid(), &name),
        )
        .from_request(
            self.origin.client.map(|c| c.to_string()),
            self.origin.request_id.clone(),
        )
    }

    /// An audit entry about an asset or folder (module `asset` or `folder`).
    pub fn audit_asset(&self, event_type: &str, a: &Asset) -> AuditEntry {
        self.audit(if a.is_dir { "folder" } else { "asset" }, event_type)
            .item(&a.uid, &a.title, Some(a.version))
    }

    /// Refuses unless the actor's roles manage this part of the stack (§14).
    pub fn require_area(&self, area: Area) -> Result<()> {
        if self.grants.manages(area) {
            return Ok(());
        }
        Err(denied(match area {
            Area::Settings => "manage this stack's settings",
            Area::Administration => "administer this stack",
            Area::AuditLog => "read this stack's audit log",
        }))
    }

    /// Folders above an asset or folder: its own folder first, up to the root (at most
    /// the folder depth, §5: a few primary-key reads).
    pub async fn ancestors(&self, db: &Db, parent: Option<&str>) -> Result<Vec<String>> {
        let mut chain = Vec::new();
        let mut cur = parent.map(str::to_owned);
        while let Some(uid) = cur {
            if chain.len() > 8 || chain.contains(&uid) {
                break;
            }
            cur = db
                .asset(&self.stack.api_key, &uid)
                .await?
                .and_then(|f| f.parent_uid);
            chain.push(uid);
        }
        Ok(chain)
    }

    /// Refuses (403, nothing changed) unless the roles grant `action` on this asset or
    /// folder: the one decision every path asks (§14).
    pub async fn require(&self, db: &Db, action: Action, asset: &Asset) -> Result<()> {
        if self.grants.everywhere(action) {
            return Ok(());
        }
        let chain = self.ancestors(db, asset.parent_uid.as_deref()).await?;
        if self.grants.covers(action, &asset.uid, asset.is_dir, &chain) {
            return Ok(());
        }
        Err(denied(&format!(
            "{} {} {:?}",
            action.as_str(),
            if asset.is_dir {
                "the folder"
            } else {
                "the asset"
            },
            asset.title
        )))
    }

    /// Refuses unless the roles may make something new in `folder` (`None`: the root).
    pub async fn require_create_in(&self, db: &Db, folder: Option<&str>) -> Result<()> {
        if self.grants.everywhere(Action::Create) {
            return Ok(());
        }
        let chain = match folder {
            Some(f) => self.ancestors(db, Some(f)).await?,
            None => Vec::new(),
        };
        let above = chain.get(1..).unwrap_or(&[]);
        if self.grants.may_create_in(folder, above) {
            return Ok(());
        }
        Err(denied(match folder {
            Some(_) => "add to this folder",
            None => "add to the stack's root folder",
        }))
    }

    /// Refuses unless the roles may publish to this environment and in this locale.
    pub fn require_publish_target(&self, env: &Environment, locale: &Locale) -> Result<()> {
        if !self.grants.may_publish_to(&env.name, &env.uid) {
            return Err(denied(&format!(
                "publish to the environment {:?}",
                env.name
            )));
        }
        if !self.grants.may_publish_in(&locale.code, &locale.uid) {
            return Err(denied(&format!("publish in the locale {:?}", locale.code)));
        }
        Ok(())
    }

    /// Refuses unless the actor may read assets.
    pub fn require_read(&self) -> Result<()> {
        match &self.actor {
            Actor::Token(t) if !t.can_read => Err(Error::Forbidden(
                "This management token has no read access to assets.".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses unless the actor may change assets.
    pub fn require_write(&self) -> Result<()> {
        match &self.actor {
            Actor::Token(t) if !t.can_write => Err(Error::Forbidden(
                "This management token is read-only; it cannot change assets.".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses unless the actor is a user (stack settings, tokens and members are managed
    /// by people, not by tokens).
    pub fn require_user(&self) -> Result<&User> {
        match &self.actor {
            Actor::User(u) => Ok(u),
            Actor::Token(_) => Err(Error::Forbidden(
                "Management tokens cannot perform this action; log in as a user.".into(),
            )),
        }
    }
}
