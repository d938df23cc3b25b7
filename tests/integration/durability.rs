//! Blob before row, atomic writes: SIGKILL the real binary mid-traffic, restart, and check
//! that nothing acknowledged was lost, `fsck` agrees, and `gc` cleans up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::support::{config_for, perma_cmd, Server};

/// (asset uid, version URL path, bytes) of an acknowledged upload or replace.
type Acked = (String, String, Vec<u8>);

#[tokio::test]
async fn sigkill_mid_uploads_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::prepare_database(dir.path()).await;
    let server = Server::start(dir.path());
    let s = server.login().await.with_new_stack("Crash").await;
    let seed = s.upload("seed.bin", b"seed").await;
    let seed_id = seed["uid"].as_str().unwrap().to_owned();

    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..4u32 {
        let s = s.clone();
        let acked = acked.clone();
        let seed_id = seed_id.clone();
        workers.push(tokio::spawn(async move {
            for i in 0u32.. {
                let bytes: Vec<u8> = format!("worker {w} item {i} ")
                    .repeat(2000 + (i as usize % 7) * 500)
                    .into_bytes();
                let r = if w % 2 == 0 {
                    s.upload_form(
                        Method::POST,
                        "/v3/assets",
                        &format!("w{w}-{i}.txt"),
                        bytes.clone(),
                        &[],
                    )
                    .await
                } else {
                    s.upload_form(
                        Method::PUT,
                        &format!("/v3/assets/{seed_id}"),
                        &format!("w{w}-{i}.txt"),
                        bytes.clone(),
                        &[],
                    )
                    .await
                };
                // Errors after the kill are expected; only 2xx answers count as acknowledged.
                if r.0.is_success() {
                    let a = &r.1["asset"];
                    let url = a["url"].as_str().unwrap();
                    let path = url[url.find("/v3/").unwrap()..].to_owned();
                    acked.lock().unwrap().push((
                        a["uid"].as_str().unwrap().to_owned(),
                        path,
                        bytes,
                    ));
                } else {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    for w in workers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 4,
        "the load ran ({} acknowledged)",
        acked.len()
    );

    // Restart on the same data dir: every acknowledged version is there, byte for byte.
    let server = Server::start(dir.path());
    let s2 = {
        let mut s2 = server.login().await;
        s2.api_key = s.api_key.clone();
        s2
    };
    for (uid, path, bytes) in &acked {
        let (st, v) = s2.get(&format!("/v3/assets/{uid}")).await;
        assert_eq!(st, StatusCode::OK, "{uid}: {v}");
        let got = s2
            .http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK, "{path}");
        assert!(
            got.bytes().await.unwrap().as_ref() == bytes.as_slice(),
            "{path} bytes differ"
        );
    }
    drop(server);

    // fsck agrees: no row points at a missing blob.
    let out = perma_cmd(dir.path())
        .arg("fsck")
        .arg("--verify")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fsck failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("missing: 0") && text.contains("corrupt: 0"),
        "{text}"
    );

    // Leave an orphaned blob and a temp file, as a crash between blob and row would.
    let store = config_for(dir.path()).open_blobs().unwrap();
    let orphan_sha = "ab".repeat(32);
    store
        .put_unchecked(&orphan_sha, bytes::Bytes::from_static(b"orphan"))
        .await
        .unwrap();
    let temp_dir = match store.local_path(&orphan_sha) {
        Some(_) => dir.path().join("blobs/.tmp"),
        None => dir.path().join("tmp"),
    };
    std::fs::write(temp_dir.join("upload-leftover"), b"half").unwrap();
    let out = perma_cmd(dir.path()).arg("fsck").output().unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("temp files: 0"));

    let out = perma_cmd(dir.path())
        .args(["gc", "--min-age", "0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(
        !store.exists(&orphan_sha).await.unwrap(),
        "orphaned blob removed: {text}"
    );
    assert_eq!(
        std::fs::read_dir(&temp_dir).unwrap().count(),
        0,
        "temp files removed"
    );

    // gc kept everything that is referenced.
    let out = perma_cmd(dir.path())
        .args(["fsck", "--verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let server = Server::start(dir.path());
    let (_, path, bytes) = acked.last().unwrap();
    let got = reqwest::get(format!("{}{path}", server.base))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == bytes.as_slice());

    // And fsck fails loudly when a referenced blob is gone.
    drop(server);
    let victim = store.list().await.unwrap().pop().unwrap();
    store.delete(&victim.sha256).await.unwrap();
    let out = perma_cmd(dir.path()).arg("fsck").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISSING"));
}
