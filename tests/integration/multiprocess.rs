//! §9 scale-out: two `perma serve` processes on one PostgreSQL database and one blob store.
//! Runs when the suite runs on PostgreSQL (`PERMA_TEST_POSTGRES`); on SQLite one process
//! owns the database, so there is nothing to show.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{postgres_base, prepare_database, Server};

#[tokio::test]
async fn two_processes_share_one_state() {
    if postgres_base().is_none() {
        eprintln!("multiprocess: runs in the PostgreSQL pass of the suite");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    prepare_database(dir.path()).await;
    let a = Server::start(dir.path());
    let b = Server::start(dir.path());
    let sa = a.login().await.with_new_stack("Shared").await;
    let mut sb = b.login().await;
    sb.api_key = sa.api_key.clone();

    // Uploaded through A: listed, fetched and downloaded through B.
    let asset = sa.upload("shared.txt", b"version one").await;
    let uid = asset["uid"].as_str().unwrap().to_owned();
    let (_, list) = sb.get("/v3/assets").await;
    assert_eq!(list["assets"][0]["uid"], json!(uid));
    let (st, _) = sb.get(&format!("/v3/assets/{uid}")).await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = sa.set_permanent(&uid, "shared").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let path = format!("/v3/assets/{}/{uid}/shared", sa.api_key());
    let via_b = format!("{}{path}", b.base);
    // B now has the asset in its delivery cache.
    assert_eq!(
        reqwest::get(&via_b).await.unwrap().text().await.unwrap(),
        "version one"
    );

    // Replaced through A: B's permanent URL serves the new bytes at once.
    for i in 2..=6 {
        let body = format!("version {i}");
        sa.replace(&uid, "shared.txt", body.as_bytes()).await;
        assert_eq!(
            reqwest::get(&via_b).await.unwrap().text().await.unwrap(),
            body
        );
    }

    // Concurrent generations spread over both processes: exactly one winner.
    let race = sa.upload("race.txt", b"race").await;
    let rid = race["uid"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = if i % 2 == 0 { sa.clone() } else { sb.clone() };
        let rid = rid.clone();
        tasks.push(tokio::spawn(async move {
            let slug = format!("slug-{}", i / 4);
            (slug.clone(), s.set_permanent(&rid, &slug).await)
        }));
    }
    let mut winners = HashSet::new();
    for t in tasks {
        let (slug, (st, v)) = t.await.unwrap();
        match st.as_u16() {
            200 => {
                winners.insert(slug);
            }
            422 => assert_eq!(
                v["errors"]["permanent_url"],
                json!(["is already set and cannot be changed"])
            ),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let (_, v) = sb
        .call(Method::GET, &format!("/v3/assets/{rid}"), None)
        .await;
    assert!(v["asset"]["permanent_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/{}", winners.iter().next().unwrap())));

    // Deleted through B: A answers 410 at once.
    let via_a = format!("{}{path}", a.base);
    assert_eq!(reqwest::get(&via_a).await.unwrap().status(), StatusCode::OK);
    sb.call(Method::DELETE, &format!("/v3/assets/{uid}"), None)
        .await;
    assert_eq!(
        reqwest::get(&via_a).await.unwrap().status(),
        StatusCode::GONE
    );
}
