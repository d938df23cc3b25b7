//! Sync (§12): a sync followed while publishing misses nothing and repeats nothing, also
//! across a restart; deleting a folder of published files is one deleted item each; a sync
//! token names a position, and entry types get no items.

use std::collections::{HashMap, HashSet};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cda::{site_clone, site_for, Site};
use crate::support::TestApp;

/// Follows a sync to its end: every item of every page, and the sync token.
async fn follow(site: &Site, first: &str) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let (st, mut page) = site.get(first).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    loop {
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        if let Some(p) = page["pagination_token"].as_str() {
            assert!(page.get("sync_token").is_none());
            let (st, next) = site
                .get(&format!(
                    "/v3/stacks/sync?environment=production&pagination_token={p}"
                ))
                .await;
            assert_eq!(st, StatusCode::OK, "{next}");
            page = next;
        } else {
            return (items, page["sync_token"].as_str().unwrap().to_owned());
        }
    }
}

/// Applies sync items to a local copy: uid → published version.
fn apply(copy: &mut HashMap<String, i64>, items: &[Value]) {
    for i in items {
        assert_eq!(i["content_type_uid"], json!("sys_assets"));
        let uid = i["data"]["uid"].as_str().unwrap().to_owned();
        match i["type"].as_str().unwrap() {
            "asset_published" => {
                copy.insert(uid, i["data"]["_version"].as_i64().unwrap());
            }
            "asset_unpublished" | "asset_deleted" => {
                copy.remove(&uid);
            }
            other => panic!("unexpected item type {other}"),
        }
    }
}

/// What the delivery API says is published: uid → version.
async fn published(site: &Site) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    let mut skip = 0;
    loop {
        let (_, v) = site
            .get(&format!(
                "/v3/assets?environment=production&limit=100&skip={skip}"
            ))
            .await;
        let page = v["assets"].as_array().unwrap();
        for a in page {
            out.insert(
                a["uid"].as_str().unwrap().to_owned(),
                a["_version"].as_i64().unwrap(),
            );
        }
        if page.len() < 100 {
            return out;
        }
        skip += 100;
    }
}

#[tokio::test]
async fn sync_while_publishing_misses_nothing_repeats_nothing_and_survives_a_restart() {
    let mut t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let site = site_for(&t, &s, &["production"]).await;
    let mut uids = Vec::new();
    for i in 0..230 {
        let a = s
            .upload(&format!("f{i:03}.txt"), format!("{i}").as_bytes())
            .await;
        uids.push(a["uid"].as_str().unwrap().to_owned());
    }
    for u in &uids[..210] {
        s.publish(u, "production", &[]).await;
    }

    // Start a sync, then keep changing things while it is followed page by page.
    let (st, first) = site
        .get("/v3/stacks/sync?init=true&environment=production")
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(first["total_count"], json!(210));
    assert_eq!(first["items"].as_array().unwrap().len(), 100);
    assert_eq!(first["skip"], json!(0));
    assert_eq!(first["limit"], json!(100));
    let p1 = first["pagination_token"].as_str().unwrap().to_owned();
    // Changes during the sync: publish new ones, republish after a replace, unpublish,
    // delete (some already read, some not yet).
    for u in &uids[210..220] {
        s.publish(u, "production", &[]).await;
    }
    s.replace(&uids[0], "f000.txt", b"zero again").await;
    s.publish(&uids[0], "production", &[]).await;
    s.unpublish(&uids[1], "production").await;
    s.unpublish(&uids[205], "production").await;
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/assets/{}", uids[2]), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/assets/{}", uids[206]), None)
        .await;
    assert_eq!(st, StatusCode::OK);

    let mut all = first["items"].as_array().unwrap().clone();
    let (rest, token) = follow(
        &site,
        &format!("/v3/stacks/sync?environment=production&pagination_token={p1}"),
    )
    .await;
    all.extend(rest);
    // The init is a snapshot as of its start: 210 items, each asset once, all published.
    assert_eq!(all.len(), 210);
    let seen: HashSet<&str> = all
        .iter()
        .map(|i| i["data"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(seen.len(), 210, "no asset twice");
    assert!(all.iter().all(|i| i["type"] == json!("asset_published")));
    let mut copy = HashMap::new();
    apply(&mut copy, &all);

    // The changes made during the sync come with its token, after a restart too: they are
    // rows, not memory.
    t.restart().await;
    let site = Site {
        base: t.base.clone(),
        ..site_clone(&site)
    };
    let (delta, token2) = follow(
        &site,
        &format!("/v3/stacks/sync?environment=production&sync_token={token}"),
    )
    .await;
    let kinds: Vec<(&str, &str)> = delta
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap(),
                i["data"]["uid"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(delta.len(), 10 + 1 + 2 + 2, "{kinds:?}");
    assert!(kinds.contains(&("asset_unpublished", uids[1].as_str())));
    assert!(kinds.contains(&("asset_deleted", uids[206].as_str())));
    apply(&mut copy, &delta);
    assert_eq!(
        copy,
        published(&site).await,
        "the copy equals what is published"
    );
    assert_eq!(copy[&uids[0]], 2, "the republished version");

    // Nothing new: an empty delta with a token that still works.
    let (st, v) = site
        .get(&format!(
            "/v3/stacks/sync?environment=production&sync_token={token2}"
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["items"], json!([]));
    assert_eq!(v["total_count"], json!(0));

    // Filters on an init: by type, and by time.
    let (_, v) = site
        .get("/v3/stacks/sync?init=true&environment=production&type=asset_deleted")
        .await;
    let deleted: HashSet<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["data"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        deleted,
        HashSet::from([uids[2].as_str(), uids[206].as_str()])
    );
    let (_, v) = site
        .get("/v3/stacks/sync?init=true&environment=production&start_from=2999-01-01T00:00:00.000Z")
        .await;
    assert_eq!(v["total_count"], json!(0));
}

/// Deleting a folder withdraws every publication inside it (subfolders too) in one
/// transaction: each becomes one `asset_deleted` sync item, after the token taken before,
/// and nothing else changes.
#[tokio::test]
async fn deleting_a_folder_of_published_files_is_one_deleted_item_each() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let site = site_for(&t, &s, &["production"]).await;
    let folder = s.folder("Campaign", None).await;
    let inner = s.folder("Banners", Some(&folder)).await;
    let mut doomed = HashSet::new();
    for i in 0..12 {
        let uid = s
            .upload_into(
                &format!("c{i}.txt"),
                format!("c{i}").as_bytes(),
                Some(&folder),
            )
            .await;
        s.publish(&uid, "production", &[]).await;
        doomed.insert(uid);
    }
    for i in 0..3 {
        let uid = s
            .upload_into(
                &format!("b{i}.txt"),
                format!("b{i}").as_bytes(),
                Some(&inner),
            )
            .await;
        s.publish(&uid, "production", &[]).await;
        doomed.insert(uid);
    }
    // An unpublished file goes too, silently; a published one outside stays.
    s.upload_into("draft.txt", b"draft", Some(&folder)).await;
    let kept = s.upload("kept.txt", b"kept").await;
    let kept = kept["uid"].as_str().unwrap().to_owned();
    s.publish(&kept, "production", &[]).await;

    let (before, token) = follow(&site, "/v3/stacks/sync?init=true&environment=production").await;
    assert_eq!(before.len(), 16);
    let (st, v) = s
        .call(
            Method::DELETE,
            &format!("/v3/assets/folders/{folder}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    let (delta, token2) = follow(
        &site,
        &format!("/v3/stacks/sync?environment=production&sync_token={token}"),
    )
    .await;
    assert!(
        delta.iter().all(|i| i["type"] == json!("asset_deleted")),
        "{delta:?}"
    );
    let deleted: Vec<String> = delta
        .iter()
        .map(|i| i["data"]["uid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deleted.len(), doomed.len(), "one item each: {deleted:?}");
    assert_eq!(deleted.into_iter().collect::<HashSet<_>>(), doomed);
    let mut copy = HashMap::new();
    apply(&mut copy, &before);
    apply(&mut copy, &delta);
    assert_eq!(copy, published(&site).await);
    assert_eq!(copy.keys().collect::<Vec<_>>(), [&kept]);
    // And nothing after it.
    let (st, v) = site
        .get(&format!(
            "/v3/stacks/sync?environment=production&sync_token={token2}"
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["items"], json!([]));
}

/// One sync call: its items and its sync token (asserting 200 and a finished sync).
async fn once(site: &Site, query: &str) -> (Vec<Value>, String) {
    let (st, v) = site
        .get(&format!("/v3/stacks/sync?environment=production&{query}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{query}: {v}");
    assert!(v.get("pagination_token").is_none(), "{v}");
    (
        v["items"].as_array().unwrap().clone(),
        v["sync_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_sync_token_names_a_position_and_entry_asks_get_no_items() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    s.environment("staging").await;
    let site = site_for(&t, &s, &["production"]).await;
    let mut uids = Vec::new();
    for i in 0..3 {
        let a = s.upload(&format!("s{i}.txt"), b"s").await;
        let uid = a["uid"].as_str().unwrap().to_owned();
        s.publish(&uid, "production", &[]).await;
        uids.push(uid);
    }
    let (items, token) = once(&site, "init=true").await;
    assert_eq!(items.len(), 3);
    // Nothing new: the same token back, again and again.
    for _ in 0..2 {
        let (items, again) = once(&site, &format!("sync_token={token}")).await;
        assert_eq!(items, Vec::<Value>::new());
        assert_eq!(again, token, "a delta that finds nothing keeps the token");
    }
    // A change elsewhere (another environment) moves the log, not this position's answer.
    s.publish(&uids[0], "staging", &[]).await;
    let (items, again) = once(&site, &format!("sync_token={token}")).await;
    assert!(items.is_empty());
    assert_eq!(again, token);
    // A new init at the same position has the same token, whatever its type filter.
    let (_, fresh) = once(&site, "init=true").await;
    let (_, typed) = once(&site, "init=true&type=asset_published,asset_deleted").await;
    assert_eq!(fresh, typed);

    // Entry types and content types are Contentstack's; perma has no entries.
    for query in [
        "init=true&type=entry_published".to_owned(),
        "init=true&type=entry_unpublished,entry_deleted,content_type_deleted".to_owned(),
        "init=true&content_type_uid=blog".to_owned(),
        format!("sync_token={token}&type=entry_published"),
        format!("sync_token={token}&content_type_uid=blog"),
    ] {
        let (items, _) = once(&site, &query).await;
        assert!(items.is_empty(), "{query}: {items:?}");
    }
    let (_, kept) = once(&site, &format!("sync_token={token}&content_type_uid=blog")).await;
    assert_eq!(kept, token);
    // Mixed with asset types, or naming perma's own `sys_assets`: the assets.
    let (items, _) = once(&site, "init=true&type=asset_published,entry_published").await;
    assert_eq!(items.len(), 3);
    let (items, _) = once(&site, "init=true&content_type_uid=sys_assets").await;
    assert_eq!(items.len(), 3);
    // Unknown types are refused, naming every allowed one.
    let (st, v) = site
        .get("/v3/stacks/sync?environment=production&init=true&type=entry_created")
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let why = v["errors"]["type"][0].as_str().unwrap();
    for k in ["asset_published", "entry_published", "content_type_deleted"] {
        assert!(why.contains(k), "{why}");
    }

    // A real change: one item, a new token; then that token stays.
    s.unpublish(&uids[1], "production").await;
    let (items, next) = once(&site, &format!("sync_token={token}")).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["type"], "asset_unpublished");
    assert_ne!(next, token);
    let (items, same) = once(&site, &format!("sync_token={next}")).await;
    assert!(items.is_empty());
    assert_eq!(same, next);
    let (_, fresh) = once(&site, "init=true").await;
    assert_eq!(
        fresh, next,
        "an init at that position names it the same way"
    );
}
