//! The delivery index under a budget (§4, `PERMA_INDEX_BYTES`): a stack larger than the
//! budget is served correctly, the index stays within it, hot entries stay while cold ones
//! go, unknown and folder uids are answered without growing it, and a replace is seen at
//! once whatever was evicted.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn a_stack_larger_than_the_index_budget_is_served_right() {
    // Room for about ten entries of about 250 bytes.
    const BUDGET: u64 = 2500;
    let t = TestApp::spawn_with(|c| c.index_bytes = Some(BUDGET)).await;
    let s = t.admin().await;
    let mut assets = Vec::new();
    for i in 0..40 {
        let body = format!("body of asset {i}").into_bytes();
        let a = s.upload(&format!("f{i}.txt"), &body).await;
        let uid = a["uid"].as_str().unwrap().to_owned();
        let (st, v) = s.set_permanent(&uid, &format!("s{i}")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let perm = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
        assets.push((uid, perm, body));
    }
    let index = || t.app.delivery.hot.index_size();
    // Every asset, twice over, in an order that defeats any budget of ten.
    for round in 0..2 {
        for (_, perm, body) in &assets {
            let r = t.http.get(perm).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "round {round}: {perm}");
            assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice());
            let (entries, bytes) = index();
            assert!(bytes as u64 <= BUDGET, "{bytes} bytes in the index");
            assert!(entries < assets.len(), "{entries} entries");
        }
    }
    // Many misses at once are read in batches; every answer is still its own asset's.
    let answers = futures_util::future::join_all(assets.iter().map(|(_, perm, _)| {
        let http = t.http.clone();
        let perm = perm.clone();
        async move { http.get(&perm).send().await.unwrap().bytes().await.unwrap() }
    }))
    .await;
    for ((_, perm, body), got) in assets.iter().zip(answers) {
        assert_eq!(got.as_ref(), body.as_slice(), "{perm}");
    }
    // A hot asset stays: ask for one between every other request.
    let hot = &assets[0];
    for (_, perm, _) in assets.iter().skip(1) {
        assert_eq!(t.http.get(&hot.1).send().await.unwrap().status(), 200);
        assert_eq!(t.http.get(perm).send().await.unwrap().status(), 200);
    }
    assert!(
        t.app.delivery.hot.get(&hot.0).is_some(),
        "the hot entry was evicted"
    );
    // Unknown uids and folders: 404, and the index does not grow past its budget.
    let key = s.api_key();
    for i in 0..50 {
        let url = format!(
            "{}/v3/assets/{key}/blt{:016x}/x",
            t.base,
            0xdead_0000_u64 + i
        );
        assert_eq!(t.http.get(&url).send().await.unwrap().status(), 404);
        assert_eq!(t.http.get(&url).send().await.unwrap().status(), 404);
    }
    let (st, folder) = s
        .call(
            Method::POST,
            "/v3/assets/folders",
            Some(json!({"asset": {"name": "F"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let url = format!(
        "{}/v3/assets/{key}/{}/x",
        t.base,
        folder["asset"]["uid"].as_str().unwrap()
    );
    assert_eq!(t.http.get(&url).send().await.unwrap().status(), 404);
    assert!(index().1 as u64 <= BUDGET);
    // A replace is visible at once, evicted or not.
    for (uid, perm, _) in assets.iter().take(3) {
        let new = format!("new bytes of {uid}").into_bytes();
        s.replace(uid, "new.txt", &new).await;
        let r = t.http.get(perm).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), new.as_slice());
    }
}

/// Misses read on the delivery workers may share a read snapshot (SQLite, db/direct.rs)
/// while nothing changes; every change ends it. With room for two entries, every request
/// misses: after each replace, concurrent requests for every asset (on both workers, each
/// holding a snapshot from the round before) must all answer the latest bytes.
#[tokio::test]
async fn misses_never_answer_from_a_snapshot_older_than_a_change() {
    let t = TestApp::spawn_with(|c| c.index_bytes = Some(500)).await;
    let s = t.admin().await;
    let mut assets = Vec::new();
    for i in 0..8 {
        let body = format!("first bytes of {i}").into_bytes();
        let a = s.upload(&format!("f{i}.txt"), &body).await;
        let uid = a["uid"].as_str().unwrap().to_owned();
        let (st, v) = s.set_permanent(&uid, &format!("m{i}")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let perm = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
        assets.push((uid, perm, body));
    }
    for round in 0..24 {
        let i = round % assets.len();
        let new = format!("round {round} bytes of {i}").into_bytes();
        s.replace(&assets[i].0, "new.txt", &new).await;
        assets[i].2 = new;
        // Every asset three times at once: both workers miss and read.
        let answers = futures_util::future::join_all(
            assets
                .iter()
                .chain(assets.iter())
                .chain(assets.iter())
                .map(|(_, perm, _)| {
                    let http = t.http.clone();
                    let perm = perm.clone();
                    async move { http.get(&perm).send().await.unwrap().bytes().await.unwrap() }
                }),
        )
        .await;
        for ((_, perm, body), got) in assets.iter().cycle().zip(answers) {
            assert_eq!(got.as_ref(), body.as_slice(), "round {round}: {perm}");
        }
    }
}
