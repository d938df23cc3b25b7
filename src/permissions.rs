//! Who may do what in a stack (§14): a member's roles compiled into [`Grants`], and the one
//! decision every path asks ([`Grants::covers`] for assets and folders, [`Grants::manages`]
//! for the stack's own settings). Pure: the caller brings the asset's folder chain (at most
//! five folders deep, §5), so a decision is a few set lookups, never a walk of the stack.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// What a rule's `acl` grants on assets and folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See it (fetch, list, download, versions).
    Read,
    /// Upload into a folder, make a folder.
    Create,
    /// Change metadata, replace the file, set the permanent URL, move, restore a version.
    Update,
    /// Delete (to the trash), bulk delete, restore from the trash.
    Delete,
    /// Publish and unpublish (within the role's environments and locales).
    Publish,
}

impl Action {
    /// Every action, in `acl` order.
    pub const ALL: [Action; 5] = [
        Action::Read,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Publish,
    ];

    /// The `acl` key.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Publish => "publish",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The kind of a role: the three every stack has, or one its admins made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleKind {
    /// Everything, including members, roles and emptying the trash.
    Admin,
    /// A Content Manager's rights, plus the stack's settings, environments, locales, tokens,
    /// webhooks, extensions, custom roles, inviting users and the audit log.
    Developer,
    /// Every asset and folder, publishing everywhere; none of the stack's settings.
    ContentManager,
    /// What its rules grant.
    Custom,
}

impl RoleKind {
    /// The stored name (`roles.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Admin => "admin",
            RoleKind::Developer => "developer",
            RoleKind::ContentManager => "content_manager",
            RoleKind::Custom => "custom",
        }
    }

    /// Parses a stored name; anything unknown is a custom role (grants only its rules).
    pub fn parse(s: &str) -> RoleKind {
        match s {
            "admin" => RoleKind::Admin,
            "developer" => RoleKind::Developer,
            "content_manager" => RoleKind::ContentManager,
            _ => RoleKind::Custom,
        }
    }

    /// Name and description of a built-in role, as a new stack gets it.
    pub fn built_in(self) -> Option<(&'static str, &'static str)> {
        match self {
            RoleKind::Admin => Some((
                "Admin",
                "Admin can perform all actions and manage all settings of the stack, except \
                 the ability to delete or transfer ownership of the stack.",
            )),
            RoleKind::Developer => Some((
                "Developer",
                "Developer can perform all Content Manager's actions, view audit logs, create \
                 roles, invite users, manage languages, environments, tokens, webhooks and \
                 extensions.",
            )),
            RoleKind::ContentManager => Some((
                "Content Manager",
                "Content Managers can manage and publish all assets and folders. They cannot \
                 access stack settings, tokens, environments, roles or users.",
            )),
            RoleKind::Custom => None,
        }
    }

    /// The rules of the built-in roles: every asset, every environment, every locale.
    pub fn built_in_rules() -> Value {
        serde_json::json!([
            {"module": "asset", "assets": ["$all"],
             "acl": {"read": true, "create": true, "update": true, "delete": true, "publish": true}},
            {"module": "environment", "environments": ["$all"], "acl": {"read": true}},
            {"module": "locale", "locales": ["$all"], "acl": {"read": true}},
        ])
    }
}

/// Parts of a stack that are not assets, and who manages them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Stack settings, environments, locales, management and delivery tokens, webhooks,
    /// extensions, signing keys, custom roles, inviting users: Admin and Developer.
    Settings,
    /// Giving or taking the Admin role, removing members, deleting roles, emptying the
    /// trash: Admin.
    Administration,
    /// Reading the audit log: Admin and Developer.
    AuditLog,
}

/// What one folder rule (or several on the same folder) grants.
#[derive(Debug, Clone, Copy, Default)]
struct FolderGrant {
    /// On the folder itself (`acl`).
    own: [bool; 5],
    /// On what the folder holds directly (`acl.sub_acl`, else `acl`).
    direct: [bool; 5],
    /// On everything below it (with `propagate_to_children`).
    deep: [bool; 5],
}

/// A member's (or a token's) rights in one stack, compiled from its roles' rules.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    kinds: HashSet<RoleKind>,
    all: [bool; 5],
    assets: [HashSet<String>; 5],
    folders: HashMap<String, FolderGrant>,
    /// `None`: every environment; else names and uids.
    environments: Option<HashSet<String>>,
    /// `None`: every locale; else codes and uids.
    locales: Option<HashSet<String>>,
}

/// `$all` in a rule's list.
pub const ALL: &str = "$all";

fn acl_flags(acl: Option<&Value>) -> [bool; 5] {
    let mut f = [false; 5];
    for a in Action::ALL {
        f[a.index()] = acl
            .and_then(|v| v.get(a.as_str()))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    }
    f
}

fn or(a: &mut [bool; 5], b: [bool; 5]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x |= y;
    }
}

/// The strings of `rule[field]`.
pub fn rule_list<'a>(rule: &'a Value, field: &str) -> Vec<&'a str> {
    rule.get(field)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

impl Grants {
    /// Everything: the stack's owner and Admins.
    pub fn owner() -> Grants {
        Grants::from_roles([(RoleKind::Admin, &RoleKind::built_in_rules())])
    }

    /// A management token: every asset, for reading and/or changing as its scope says; no
    /// area of the stack (tokens are made by Admins and Developers, who reach every asset,
    /// so a token never grants more than its creator's role did).
    pub fn token(can_read: bool, can_write: bool) -> Grants {
        let mut g = Grants::default();
        if can_write {
            // What a write token could always change: the stack's settings, environments,
            // locales, extensions and webhooks (never tokens, members or roles: §5).
            g.kinds.insert(RoleKind::Developer);
        }
        for a in Action::ALL {
            g.all[a.index()] = if a == Action::Read {
                can_read
            } else {
                can_write
            };
        }
        g
    }

    /// Compiles roles (kind and rules) into one set of rights: what any of them grants.
    /// Rules for modules perma does not have (content types, entries, taxonomies,
    /// branches…) grant nothing. A role with no environment rule publishes nowhere; one
    /// with no locale rule, in every locale.
    pub fn from_roles<'a>(roles: impl IntoIterator<Item = (RoleKind, &'a Value)>) -> Grants {
        let mut g = Grants {
            environments: Some(HashSet::new()),
            ..Grants::default()
        };
        let mut locales: Option<HashSet<String>> = Some(HashSet::new());
        let mut any_locale_rule = false;
        for (kind, rules) in roles {
            g.kinds.insert(kind);
            let mut role_has_locale_rule = false;
            for rule in rules.as_array().into_iter().flatten() {
                let module = rule.get("module").and_then(Value::as_str).unwrap_or("");
                let acl = rule.get("acl");
                match module {
                    "asset" => {
                        let flags = acl_flags(acl);
                        for uid in rule_list(rule, "assets") {
                            for a in Action::ALL.into_iter().filter(|a| flags[a.index()]) {
                                if uid == ALL {
                                    g.all[a.index()] = true;
                                } else {
                                    g.assets[a.index()].insert(uid.to_owned());
                                }
                            }
                        }
                    }
                    "folder" => {
                        let own = acl_flags(acl);
                        let sub = acl.and_then(|v| v.get("sub_acl"));
                        let contents = if sub.is_some() { acl_flags(sub) } else { own };
                        let propagate = rule
                            .get("propagate_to_children")
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                        for uid in rule_list(rule, "folders") {
                            let f = g.folders.entry(uid.to_owned()).or_default();
                            or(&mut f.own, own);
                            or(&mut f.direct, contents);
                            if propagate {
                                or(&mut f.deep, contents);
                                // A subfolder is itself "inside": it is read and changed
                                // as its contents are.
                            }
                        }
                    }
                    "environment" => {
                        for e in rule_list(rule, "environments") {
                            match (&mut g.environments, e == ALL) {
                                (_, true) => g.environments = None,
                                (Some(set), false) => {
                                    set.insert(e.to_owned());
                                }
                                (None, false) => {}
                            }
                        }
                    }
                    "locale" => {
                        role_has_locale_rule = true;
                        for l in rule_list(rule, "locales") {
                            match (&mut locales, l == ALL) {
                                (_, true) => locales = None,
                                (Some(set), false) => {
                                    set.insert(l.to_owned());
                                }
                                (None, false) => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            if !role_has_locale_rule {
                locales = None;
            }
            any_locale_rule |= role_has_locale_rule;
        }
        g.locales = if any_locale_rule { locales } else { None };
        g
    }

    /// Whether any of the roles is this kind.
    pub fn is(&self, kind: RoleKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// Whether the roles manage this part of the stack.
    pub fn manages(&self, area: Area) -> bool {
        let admin = self.is(RoleKind::Admin);
        match area {
            Area::Administration => admin,
            Area::Settings | Area::AuditLog => admin || self.is(RoleKind::Developer),
        }
    }

    /// Whether `action` is granted on every asset and folder of the stack.
    pub fn everywhere(&self, action: Action) -> bool {
        self.all[action.index()]
    }

    /// Whether `action` is granted on the asset or folder `uid`, whose folders are
    /// `ancestors` (its own folder first, then that folder's, up to the root).
    pub fn covers(&self, action: Action, uid: &str, is_dir: bool, ancestors: &[String]) -> bool {
        let i = action.index();
        if self.all[i] || self.assets[i].contains(uid) {
            return true;
        }
        if is_dir && self.folders.get(uid).is_some_and(|f| f.own[i]) {
            return true;
        }
        ancestors.iter().enumerate().any(|(depth, f)| {
            self.folders
                .get(f)
                .is_some_and(|g| g.deep[i] || (depth == 0 && g.direct[i]))
        })
    }

    /// Whether something new may be made in `folder` (`None`: the root), whose folders are
    /// `ancestors`.
    pub fn may_create_in(&self, folder: Option<&str>, ancestors: &[String]) -> bool {
        match folder {
            None => self.all[Action::Create.index()],
            Some(f) => {
                let mut chain = Vec::with_capacity(ancestors.len() + 1);
                chain.push(f.to_owned());
                chain.extend(ancestors.iter().cloned());
                self.covers(Action::Create, "", false, &chain)
            }
        }
    }

    /// Whether the roles may publish to an environment (given by name and uid).
    pub fn may_publish_to(&self, name: &str, uid: &str) -> bool {
        self.environments
            .as_ref()
            .is_none_or(|s| s.contains(name) || s.contains(uid))
    }

    /// Whether the roles may publish in a locale (given by code and uid).
    pub fn may_publish_in(&self, code: &str, uid: &str) -> bool {
        self.locales
            .as_ref()
            .is_none_or(|s| s.contains(code) || s.contains(uid))
    }

    /// Folders whose contents `action` reaches: (folder uid, whether down the tree), and
    /// folders the action reaches themselves; for narrowing listings to what a member may
    /// read (§14). Empty when the action is granted everywhere.
    pub fn folder_scope(&self, action: Action) -> (Vec<(String, bool)>, Vec<String>) {
        let i = action.index();
        let mut contents = Vec::new();
        let mut own = Vec::new();
        for (uid, g) in &self.folders {
            if g.deep[i] || g.direct[i] {
                contents.push((uid.clone(), g.deep[i]));
            }
            if g.own[i] {
                own.push(uid.clone());
            }
        }
        contents.sort();
        own.sort();
        (contents, own)
    }

    /// How far `action` reaches: `all` assets and folders, `some` (chosen ones or
    /// folders), or `none`; for clients that hide what a member cannot do.
    pub fn reach(&self, action: Action) -> &'static str {
        let i = action.index();
        if self.all[i] {
            "all"
        } else if !self.assets[i].is_empty()
            || self
                .folders
                .values()
                .any(|f| f.own[i] || f.direct[i] || f.deep[i])
        {
            "some"
        } else {
            "none"
        }
    }

    /// Assets granted one by one for `action`.
    pub fn asset_scope(&self, action: Action) -> Vec<String> {
        let mut v: Vec<String> = self.assets[action.index()].iter().cloned().collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn custom(rules: Value) -> Grants {
        Grants::from_roles([(RoleKind::Custom, &rules)])
    }

    #[test]
    fn folder_rules_reach_down_only_with_propagation() {
        let rules = json!([
            {"module": "folder", "folders": ["f1"], "propagate_to_children": false,
             "acl": {"read": true, "sub_acl": {"read": true, "update": true}}},
            {"module": "folder", "folders": ["f2"], "propagate_to_children": true,
             "acl": {"read": true, "sub_acl": {"read": true}}},
        ]);
        let g = custom(rules);
        let chain = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(g.covers(Action::Read, "a", false, &chain(&["f1"])));
        assert!(g.covers(Action::Update, "a", false, &chain(&["f1"])));
        assert!(!g.covers(Action::Read, "a", false, &chain(&["sub", "f1"])));
        assert!(g.covers(Action::Read, "a", false, &chain(&["sub", "f2"])));
        assert!(!g.covers(Action::Update, "a", false, &chain(&["sub", "f2"])));
        assert!(!g.covers(Action::Read, "a", false, &chain(&[])));
        assert!(g.covers(Action::Read, "f1", true, &[]));
        assert!(!g.covers(Action::Delete, "f1", true, &[]));
    }

    #[test]
    fn environments_locales_and_unknown_modules() {
        let g = custom(json!([
            {"module": "asset", "assets": ["$all"], "acl": {"read": true, "publish": true}},
            {"module": "environment", "environments": ["staging"], "acl": {"read": true}},
            {"module": "content_type", "content_types": ["$all"], "acl": {"read": true}},
        ]));
        assert!(g.may_publish_to("staging", "x"));
        assert!(!g.may_publish_to("production", "y"));
        assert!(g.may_publish_in("fr-fr", "z"));
        assert!(!g.everywhere(Action::Delete));
        assert!(!g.manages(Area::Settings));
        let none = custom(json!([]));
        assert!(!none.may_publish_to("staging", "x"));
        let owner = Grants::owner();
        assert!(owner.manages(Area::Administration) && owner.may_publish_to("any", "x"));
    }
}
