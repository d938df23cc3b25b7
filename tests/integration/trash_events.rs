//! The trash (§15) in webhooks (§13): what went to the trash, came back and was emptied.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::trash::delete;

#[tokio::test]
async fn the_trash_tells_webhooks_what_went_and_came_back() {
    use crate::events::{create_webhook, settle, spawn, Receiver};
    let t = spawn().await;
    let s = t.admin().await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let hook = create_webhook(
        &s,
        &receiver.url(),
        &[
            "assets.trashed",
            "assets.restored",
            "assets.purged",
            "assets.delete",
        ],
        "automatic",
    )
    .await;
    let uid = s.upload("note.txt", b"note").await["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    delete(&s, &format!("/v3/assets/{uid}")).await;
    let (st, _) = s
        .call(Method::POST, &format!("/v3/trash/{uid}/restore"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    delete(&s, &format!("/v3/assets/{uid}")).await;
    delete(&s, &format!("/v3/trash/{uid}")).await;
    let ex = settle(&s, hook["uid"].as_str().unwrap(), 6, "success").await;
    let mut channels: Vec<&str> = ex
        .iter()
        .map(|e| e["channel"][0].as_str().unwrap())
        .collect();
    channels.sort_unstable();
    assert_eq!(
        channels,
        [
            "assets.delete",
            "assets.delete",
            "assets.purged",
            "assets.restored",
            "assets.trashed",
            "assets.trashed"
        ],
        "{ex:?}"
    );
    // Folders have their own family: a webhook on `assets.*` hears no folder, one on
    // `asset_folders.*` hears each folder change, with the folder as `data.asset`.
    let folders_hook = create_webhook(&s, &receiver.url(), &["asset_folders.*"], "automatic").await;
    let all_assets = create_webhook(&s, &receiver.url(), &["assets.*"], "automatic").await;
    let folder = s.folder("Press", None).await;
    s.upload_into("in-folder.txt", b"x", Some(&folder)).await;
    let (st, _) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/folders/{folder}"),
            Some(json!({"asset": {"name": "Press kit"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    delete(&s, &format!("/v3/assets/folders/{folder}")).await;
    let (st, _) = s
        .call(Method::POST, &format!("/v3/trash/{folder}/restore"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    delete(&s, &format!("/v3/assets/folders/{folder}")).await;
    delete(&s, &format!("/v3/trash/{folder}")).await;
    let ex = settle(&s, folders_hook["uid"].as_str().unwrap(), 8, "success").await;
    let mut channels: Vec<&str> = ex
        .iter()
        .map(|e| e["channel"][0].as_str().unwrap())
        .collect();
    channels.sort_unstable();
    assert_eq!(
        channels,
        [
            "asset_folders.create",
            "asset_folders.delete",
            "asset_folders.delete",
            "asset_folders.purged",
            "asset_folders.restored",
            "asset_folders.trashed",
            "asset_folders.trashed",
            "asset_folders.update",
        ],
        "{ex:?}"
    );
    let ex = settle(&s, all_assets["uid"].as_str().unwrap(), 6, "success").await;
    assert!(
        ex.iter()
            .all(|e| e["channel"][0].as_str().unwrap().starts_with("assets.")),
        "{ex:?}"
    );
    // The names are perma's additions to the channel grammar; others stay refused.
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/webhooks",
            Some(
                json!({"webhook": {"name": "x", "destinations": [{"target_url": receiver.url()}],
                "channels": ["assets.binned"]}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}
