//! Asset metadata (Contentstack's Metadata API) and the extensions it belongs to: written
//! without a new asset version, at most 5 KB per extension, `include_metadata` on CMA and
//! CDA answers (the CDA only what is published), webhooks and sync.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cda::site_for;
use crate::events::{create_webhook, settle, spawn, Receiver};
use crate::support::{assert_error, Session};

async fn extension(s: &Session, title: &str) -> String {
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/extensions",
            Some(
                json!({"extension": {"title": title, "type": "asset_sidebar_widget",
                "src": "https://apps.example.com/alt-text", "config": {"field": "alt"}}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["extension"]["config"], json!({"field": "alt"}));
    v["extension"]["uid"].as_str().unwrap().to_owned()
}

fn alt(entity: &str, ext: &str, text: &str) -> Value {
    json!({"metadata": {"entity_uid": entity, "type": "asset", "extension_uid": ext,
        "presets": [{"uid": "alt", "name": "Alt text", "options": {"value": text}}]}})
}

#[tokio::test]
async fn extensions_are_records_with_their_rules() {
    let t = spawn().await;
    let s = t.admin().await;
    let uid = extension(&s, "Alt text").await;
    for (body, field) in [
        (
            json!({"extension": {"type": "field", "src": "https://x"}}),
            "title",
        ),
        (
            json!({"extension": {"title": "x", "type": "gadget", "src": "https://x"}}),
            "type",
        ),
        (json!({"extension": {"title": "x", "type": "field"}}), "src"),
        (
            json!({"extension": {"title": "x", "type": "field", "srcdoc": "a".repeat(600 << 10)}}),
            "extension",
        ),
    ] {
        let (st, v) = s.call(Method::POST, "/v3/extensions", Some(body)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["errors"].get(field).is_some(), "{v}");
    }
    let (_, v) = s.get("/v3/extensions?include_count=true").await;
    assert_eq!(v["count"], 1, "nothing else was stored");
    let (_, v) = s.get("/v3/extensions?query={\"type\":\"field\"}").await;
    assert_eq!(v["extensions"], json!([]));
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/extensions/{uid}"),
            Some(json!({"extension": {"title": "Alt text v2"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["extension"]["title"], "Alt text v2");
    assert_eq!(v["extension"]["src"], "https://apps.example.com/alt-text");
    assert_error(s.get("/v3/extensions/bltnothere").await, 404, 141);
    let (st, _) = s
        .read_only()
        .await
        .call(
            Method::POST,
            "/v3/extensions",
            Some(json!({"extension": {"title": "x", "type": "field", "src": "https://x"}})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn metadata_changes_no_version_and_shows_where_it_is_asked_for() {
    let t = spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let ext = extension(&s, "Alt text").await;
    let a = s.upload("hero.txt", b"hero").await;
    let asset = a["uid"].as_str().unwrap();
    s.publish(asset, "production", &[]).await;
    let hook = create_webhook(&s, &receiver.url(), &["assets.update"], "automatic").await;
    let site = site_for(&t, &s, &["production"]).await;

    let (st, v) = s
        .call(
            Method::POST,
            "/v3/metadata",
            Some(alt(asset, &ext, "A red kite")),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let md = v["metadata"].clone();
    let uid = md["uid"].as_str().unwrap().to_owned();
    assert_eq!(md["entity_uid"], json!(asset));
    assert_eq!(md["locale"], "en-us");
    assert_eq!(md["scope"], "local");
    assert_eq!(md["is_published"], false);
    assert_eq!(md["presets"][0]["options"]["value"], "A red kite");
    let (_, v) = s.get(&format!("/v3/assets/{asset}")).await;
    assert_eq!(v["asset"]["_version"], 1, "metadata makes no new version");
    assert!(v["asset"].get("_metadata").is_none());
    // include_metadata on the management API: single and list.
    let (_, v) = s
        .get(&format!("/v3/assets/{asset}?include_metadata=true"))
        .await;
    let mine = &v["asset"]["_metadata"]["extensions"][&ext];
    assert_eq!(
        mine[0]["presets"][0]["options"]["value"], "A red kite",
        "{v}"
    );
    let (_, v) = s.get("/v3/assets?include_metadata=true").await;
    assert_eq!(
        v["assets"][0]["_metadata"]["extensions"][&ext][0]["uid"],
        json!(uid)
    );
    // The CDA shows only published metadata.
    let cda = format!("/v3/assets/{asset}?environment=production&include_metadata=true");
    let (_, v) = site.get(&cda).await;
    assert_eq!(v["asset"]["_metadata"], json!({"extensions": {}}), "{v}");
    let (_, first) = site
        .get("/v3/stacks/sync?environment=production&init=true")
        .await;
    let token = first["sync_token"].as_str().unwrap().to_owned();
    let (st, v) = s
        .call(
            Method::POST,
            &format!("/v3/metadata/{uid}/publish"),
            Some(json!({"metadata": {"environments": ["production"], "locales": ["en-us"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["is_published"], true);
    let (_, v) = site.get(&cda).await;
    assert_eq!(
        v["asset"]["_metadata"]["extensions"][&ext][0]["presets"][0]["options"]["value"],
        "A red kite",
        "{v}"
    );
    let (_, v) = site
        .get("/v3/assets?environment=production&include_metadata=true")
        .await;
    assert_eq!(
        v["assets"][0]["_metadata"]["extensions"][&ext][0]["uid"],
        json!(uid)
    );
    // Sync: a publish of metadata is an update of the asset.
    let (_, delta) = site
        .get(&format!(
            "/v3/stacks/sync?environment=production&sync_token={token}"
        ))
        .await;
    let items = delta["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{delta}");
    assert_eq!(items[0]["type"], "asset_published");
    assert_eq!(items[0]["data"]["uid"], json!(asset));

    // An update: the metadata's version moves, the asset's does not; the CDA keeps the
    // published copy until it is published again.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/metadata/{uid}"),
            Some(alt(asset, &ext, "A kite in flight")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["_version"], 2);
    let (_, v) = site.get(&cda).await;
    assert_eq!(
        v["asset"]["_metadata"]["extensions"][&ext][0]["presets"][0]["options"]["value"],
        "A red kite"
    );
    let (_, v) = s.get(&format!("/v3/assets/{asset}")).await;
    assert_eq!(v["asset"]["_version"], 1);
    // Webhooks: create, publish and update were each an update of the asset.
    let ex = settle(&s, hook["uid"].as_str().unwrap(), 3, "success").await;
    assert_eq!(ex.len(), 3, "{ex:?}");
    assert!(ex.iter().all(|e| e["channel"][0] == "assets.update"));

    // Unpublish, then delete.
    let (st, v) = s
        .call(
            Method::POST,
            &format!("/v3/metadata/{uid}/unpublish"),
            Some(json!({"metadata": {"environments": ["production"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["is_published"], false);
    let (_, v) = site.get(&cda).await;
    assert_eq!(v["asset"]["_metadata"], json!({"extensions": {}}));
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/metadata/{uid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_error(s.get(&format!("/v3/metadata/{uid}")).await, 404, 141);
    let (_, v) = s
        .get(&format!("/v3/assets/{asset}?include_metadata=true"))
        .await;
    assert_eq!(v["asset"]["_metadata"], json!({"extensions": {}}));
}

#[tokio::test]
async fn bad_metadata_is_refused_and_nothing_is_kept() {
    let t = spawn().await;
    let s = t.admin().await;
    let ext = extension(&s, "Rights").await;
    let a = s.upload("photo.txt", b"photo").await;
    let asset = a["uid"].as_str().unwrap();
    let folder = s.folder("Photos", None).await;
    let big = "x".repeat(5 * 1024);
    let cases = [
        (alt(asset, "bltnoextension", "x"), "extension_uid"),
        (alt("bltnoasset", &ext, "x"), "entity_uid"),
        (alt(&folder, &ext, "x"), "entity_uid"),
        (alt(asset, &ext, &big), "metadata"),
        (
            json!({"metadata": {"entity_uid": asset, "type": "entry", "extension_uid": ext}}),
            "type",
        ),
        (
            json!({"metadata": {"type": "asset", "extension_uid": ext}}),
            "entity_uid",
        ),
        (
            json!({"metadata": {"entity_uid": asset, "extension_uid": ext, "locale": "fr-fr"}}),
            "locale",
        ),
        (
            json!({"metadata": {"entity_uid": asset, "extension_uid": 7}}),
            "extension_uid",
        ),
    ];
    for (body, field) in cases {
        let (st, v) = s
            .call(Method::POST, "/v3/metadata", Some(body.clone()))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert!(v["errors"].get(field).is_some(), "{body}: {v}");
    }
    let (_, v) = s.get("/v3/metadata?include_count=true").await;
    assert_eq!(v["count"], 0, "nothing was stored");
    // One per asset, extension and locale; its address cannot move.
    let (st, v) = s
        .call(Method::POST, "/v3/metadata", Some(alt(asset, &ext, "ok")))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let uid = v["metadata"]["uid"].as_str().unwrap().to_owned();
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/metadata",
            Some(alt(asset, &ext, "again")),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let other = s.upload("other.txt", b"other").await;
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/metadata/{uid}"),
            Some(alt(other["uid"].as_str().unwrap(), &ext, "moved")),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["errors"].get("entity_uid").is_some());
    let (st, _) = s
        .call(
            Method::PUT,
            &format!("/v3/metadata/{uid}"),
            Some(alt(asset, &ext, &big)),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, v) = s
        .call(
            Method::POST,
            &format!("/v3/metadata/{uid}/publish"),
            Some(json!({"metadata": {"environments": ["nowhere"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, v) = s.get(&format!("/v3/metadata/{uid}")).await;
    assert_eq!(v["metadata"]["presets"][0]["options"]["value"], "ok");
    assert_eq!(v["metadata"]["_version"], 1);
    assert_eq!(v["metadata"]["is_published"], false);
    let (st, _) = s
        .read_only()
        .await
        .call(
            Method::PUT,
            &format!("/v3/metadata/{uid}"),
            Some(alt(asset, &ext, "ro")),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Deleting the extension deletes its metadata.
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/extensions/{ext}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_error(s.get(&format!("/v3/metadata/{uid}")).await, 404, 141);
}

/// The stack setting that chooses the extension the web UI's asset panel edits.
#[tokio::test]
async fn the_panels_metadata_extension_is_a_stack_setting() {
    let t = spawn().await;
    let s = t.admin().await;
    let ext = extension(&s, "Alt text").await;
    let set = |v: Value| {
        let s = &s;
        async move {
            s.call(
                Method::POST,
                "/v3/stacks/settings",
                Some(json!({"stack_settings": {"metadata_extension": v}})),
            )
            .await
        }
    };
    for bad in [json!("bltnothere"), json!(7)] {
        let v = assert_error(set(bad.clone()).await, 422, 422);
        assert!(v["errors"]["metadata_extension"].is_array(), "{bad}: {v}");
    }
    let (_, v) = s.get("/v3/stacks/settings").await;
    assert_eq!(
        v["stack_settings"]["metadata_extension"],
        Value::Null,
        "unchanged"
    );
    let (st, v) = set(json!(ext)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["stack_settings"]["metadata_extension"], json!(ext));
    let (_, v) = s.get("/v3/stacks").await;
    assert_eq!(v["stack"]["settings"]["metadata_extension"], json!(ext));
    // Deleting the extension un-chooses it; null un-chooses it too.
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/extensions/{ext}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = s.get("/v3/stacks/settings").await;
    assert_eq!(v["stack_settings"]["metadata_extension"], Value::Null);
    let other = extension(&s, "Rights").await;
    set(json!(other)).await;
    let (st, v) = set(Value::Null).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["stack_settings"]["metadata_extension"], Value::Null);
}
