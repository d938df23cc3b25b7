//! Webhook channel names (§13): Contentstack's grammar, and which names an asset event
//! answers to.
//!
//! A webhook may list any channel of Contentstack's documented grammar (entries, content
//! types, assets, releases, workflows, global fields, branches), so that webhooks moved
//! from Contentstack keep their channel lists. perma fires only asset events; a channel of
//! another module is stored, returned and never fires.
//!
//! A channel is dot-separated segments. In a webhook's list, `*` stands for any one
//! segment, and a `*` at the end for one or more (`assets.*` is every asset event).

/// The grammar, one line per family. `{name}` is a uid or a name (letters, digits, `_`,
/// `-`); `a|b` is either literal; a segment ending in `?` may be left out.
pub const GRAMMAR: &[&str] = &[
    "assets.{asset_uid}?.create|update|delete|replace|publish|unpublish",
    "assets.{asset_uid}?.publish|unpublish.success|fail|failure",
    "assets.{asset_uid}?.environments.{environment}.publish|unpublish.success|fail|failure",
    "assets.permanent_url.create",
    "assets.{asset_uid}?.trashed|restored|purged",
    "asset_folders.{folder_uid}?.create|update|delete|trashed|restored|purged",
    "content_types.{content_type_uid}?.create|update|delete",
    "content_types.{content_type_uid}?.entries.{entry_uid}?.create|update|delete|publish|unpublish",
    "content_types.{content_type_uid}?.entries.{entry_uid}?.publish|unpublish.success|fail|failure",
    "content_types.{content_type_uid}?.entries.{entry_uid}?.environments.{environment}.publish|unpublish.success|fail|failure",
    "content_types.{content_type_uid}?.entries.{entry_uid}?.comments.create|update|delete",
    "content_types.{content_type_uid}?.entries.{entry_uid}?.workflow_stages.{stage_uid}?.update",
    "releases.{release_uid}?.create|update|delete",
    "releases.{release_uid}?.environments.{environment}?.deploy",
    "workflows.{workflow_uid}?.create|update|delete",
    "global_fields.{global_field_uid}?.create|update|delete",
    "branch.{branch_uid}?.create|delete.initiated|completed",
];

/// Whether `channel` is a name of the grammar (with `*` wildcards).
pub fn valid(channel: &str) -> bool {
    let c: Vec<&str> = channel.split('.').collect();
    if c.iter().any(|s| s.is_empty()) {
        return false;
    }
    GRAMMAR.iter().any(|line| {
        let t: Vec<&str> = line.split('.').collect();
        fits(&c, &t)
    })
}

/// The error text for a name outside the grammar.
pub fn rule() -> String {
    format!(
        "follow Contentstack's channel grammar: one of {} (`*` is any segment, a final `*` \
         any rest)",
        GRAMMAR.join(", ")
    )
}

fn name_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether channel segments `c` fit template segments `t`.
fn fits(c: &[&str], t: &[&str]) -> bool {
    let Some((t0, t_rest)) = t.split_first() else {
        return c.is_empty();
    };
    let (seg, optional) = match t0.strip_suffix('?') {
        Some(s) => (s, true),
        None => (*t0, false),
    };
    if optional && fits(c, t_rest) {
        return true;
    }
    let Some((c0, c_rest)) = c.split_first() else {
        return false;
    };
    if *c0 == "*" {
        // A final `*` takes what is left of the template (at least this segment).
        return c_rest.is_empty() || fits(c_rest, t_rest);
    }
    let matches = if seg.starts_with('{') {
        name_like(c0)
    } else {
        seg.split('|').any(|alt| alt == *c0)
    };
    matches && fits(c_rest, t_rest)
}

/// Whether a webhook listening on `pattern` receives the event named `channel`: `*` is
/// any one segment, a final `*` one or more.
pub fn matches(pattern: &str, channel: &str) -> bool {
    let (mut p, mut c) = (pattern.split('.').peekable(), channel.split('.'));
    loop {
        match (p.next(), c.next()) {
            (None, None) => return true,
            (Some("*"), Some(_)) if p.peek().is_none() => return true,
            (Some(a), Some(b)) if a == "*" || a == b => {}
            _ => return false,
        }
    }
}

/// An event as webhooks see it: the channel it is recorded under, and every name of the
/// grammar it answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The channel of the execution and of the payload's `channel`.
    pub channel: String,
    /// Names a webhook may list to receive it (the channel first).
    pub names: Vec<String>,
}

impl Fired {
    /// Whether a webhook listening on `patterns` receives this event.
    pub fn wanted_by(&self, patterns: &[String]) -> bool {
        patterns
            .iter()
            .any(|p| self.names.iter().any(|n| matches(p, n)))
    }
}

/// Where a publish or unpublish went.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The environment's uid.
    pub uid: &'a str,
    /// The environment's name.
    pub name: &'a str,
}

/// The events a folder change fires (perma's `asset_folders` family, §15): created,
/// renamed or moved, deleted into the trash, restored, emptied for good. Apart from the
/// `assets` family, so that a webhook on `assets.*` keeps receiving assets only.
pub fn folder_fired(action: &str, folder_uid: &str) -> Vec<Fired> {
    let simple = |verb: &str| Fired {
        channel: format!("asset_folders.{verb}"),
        names: vec![
            format!("asset_folders.{verb}"),
            format!("asset_folders.{folder_uid}.{verb}"),
        ],
    };
    match action {
        "create" => vec![simple("create")],
        "update" => vec![simple("update")],
        "delete" => vec![simple("delete"), simple("trashed")],
        "restored" => vec![simple("restored")],
        "purged" => vec![simple("purged")],
        _ => Vec::new(),
    }
}

/// The events an asset change fires (`action` as the outbox records it).
pub fn fired(action: &str, asset_uid: &str, env: Option<Target<'_>>) -> Vec<Fired> {
    let simple = |verb: &str| Fired {
        channel: format!("assets.{verb}"),
        names: vec![
            format!("assets.{verb}"),
            format!("assets.{asset_uid}.{verb}"),
        ],
    };
    let publishing = |verb: &str| {
        let (uid, name) = env.map_or(("", ""), |e| (e.uid, e.name));
        let channel = format!("assets.environments.{name}.{verb}.success");
        let mut names = vec![channel.clone()];
        for env in [name, uid] {
            names.push(format!("assets.environments.{env}.{verb}.success"));
            names.push(format!(
                "assets.{asset_uid}.environments.{env}.{verb}.success"
            ));
        }
        for a in ["assets".to_owned(), format!("assets.{asset_uid}")] {
            names.push(format!("{a}.{verb}"));
            names.push(format!("{a}.{verb}.success"));
        }
        names.dedup();
        Fired { channel, names }
    };
    match action {
        "create" => vec![simple("create")],
        "update" | "restore" => vec![simple("update")],
        "replace" => vec![simple("update"), simple("replace")],
        "permanent_url" => vec![Fired {
            channel: "assets.permanent_url.create".into(),
            names: vec!["assets.permanent_url.create".into()],
        }],
        // A deletion moves the asset to the trash (§15): Contentstack's `delete`, and
        // perma's own `trashed`; then `restored` or `purged`.
        "delete" => vec![simple("delete"), simple("trashed")],
        "restored" => vec![simple("restored")],
        "purged" => vec![simple("purged")],
        "publish" => vec![publishing("publish")],
        "unpublish" => vec![publishing("unpublish")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar() {
        for ok in [
            "assets.create",
            "assets.publish",
            "assets.unpublish.fail",
            "assets.blt123.delete",
            "assets.permanent_url.create",
            "assets.environments.production.publish.success",
            "assets.environments.*.unpublish.success",
            "assets.*",
            "assets.*.delete",
            "asset_folders.create",
            "asset_folders.blt1.trashed",
            "asset_folders.*",
            "content_types.entries.create",
            "content_types.entries.update",
            "content_types.blog.entries.blt1.update",
            "content_types.entries.environments.staging.publish.success",
            "content_types.blog.entries.workflow_stages.blt9.update",
            "content_types.create",
            "content_types.*",
            "releases.environments.deploy",
            "releases.blt1.environments.production.deploy",
            "workflows.create",
            "global_fields.gf.update",
            "branch.create.completed",
            "branch.dev.delete.initiated",
            "*",
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "entries.create",
            "assets",
            "assets.created",
            "assets.environments..publish.success",
            "assets.environments.{env}.publish.success",
            "content_types.entries",
            "releases.deploy.now",
            "",
            "assets.create.",
        ] {
            assert!(!valid(bad), "{bad}");
        }
    }

    #[test]
    fn patterns_and_events() {
        assert!(matches(
            "assets.environments.*.publish.success",
            "assets.environments.staging.publish.success"
        ));
        assert!(!matches("assets.create", "assets.update"));
        assert!(matches("assets.*", "assets.environments.x.publish.success"));
        assert!(!matches("assets.*", "assets"));
        let e = Target {
            uid: "bltenv",
            name: "production",
        };
        let publish = &fired("publish", "bltA", Some(e))[0];
        assert_eq!(
            publish.channel,
            "assets.environments.production.publish.success"
        );
        for p in [
            "assets.publish",
            "assets.bltA.publish",
            "assets.environments.bltenv.publish.success",
            "assets.*",
            "*",
        ] {
            assert!(publish.wanted_by(&[p.to_owned()]), "{p}");
        }
        for p in ["assets.unpublish", "assets.bltB.publish", "content_types.*"] {
            assert!(!publish.wanted_by(&[p.to_owned()]), "{p}");
        }
        let delete = &fired("delete", "bltA", None)[0];
        assert!(delete.wanted_by(&["assets.bltA.delete".to_owned()]));
        assert!(!delete.wanted_by(&["assets.bltB.delete".to_owned()]));
    }
}
