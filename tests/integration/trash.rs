//! The trash (§15): a deleted asset or folder (with all it held) keeps its versions, blobs
//! and slug until restored, emptied, or older than the stack's retention; only then does
//! `gc` reclaim its bytes.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::rawdb::{run_sql, Arg};
use crate::support::{assert_error, Session, TestApp};

async fn trash(s: &Session) -> Value {
    let (st, v) = s.get("/v3/trash?include_count=true").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

pub(crate) async fn delete(s: &Session, path: &str) {
    let (st, v) = s.call(Method::DELETE, path, None).await;
    assert_eq!(st, StatusCode::OK, "{path}: {v}");
}

async fn status(t: &TestApp, url: &str) -> StatusCode {
    t.http.get(url).send().await.unwrap().status()
}

#[tokio::test]
async fn deleted_assets_and_folders_wait_in_the_trash_and_come_back_whole() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let a = s.upload("brochure.pdf", b"%PDF-1.4 the brochure").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let (_, v) = s.set_permanent(&uid, "brochure").await;
    let permanent = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
    let version_url = v["asset"]["url"].as_str().unwrap().to_owned();
    let (st, _) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{uid}"),
            Some(json!({"asset": {"tags": ["print"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    s.publish(&uid, "production", &[]).await;
    delete(&s, &format!("/v3/assets/{uid}")).await;
    assert_eq!(status(&t, &permanent).await, StatusCode::GONE);
    assert_eq!(status(&t, &version_url).await, StatusCode::GONE);
    let (_, v) = s.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 0, "the library no longer lists it");

    let v = trash(&s).await;
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["retention_days"], 14);
    let item = &v["trash"][0];
    assert_eq!(item["uid"], json!(uid));
    assert_eq!(item["filename"], "brochure.pdf");
    assert_eq!(item["days_left"], 14);
    assert!(item["deleted_by"].as_str().unwrap().starts_with("blt"));
    assert!(item["deleted_at"].as_str().unwrap().ends_with('Z'));

    // Restored: same uid, versions, permanent URL and tags; unpublished.
    let (st, v) = s
        .call(Method::POST, &format!("/v3/trash/{uid}/restore"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["notice"], "Asset restored.");
    assert_eq!(v["moved_to_root"], false);
    assert_eq!(v["asset"]["permanent_url"], json!(permanent));
    assert_eq!(v["asset"]["tags"], json!(["print"]));
    assert_eq!(v["asset"]["_version"], 3);
    for url in [&permanent, &version_url] {
        let r = t.http.get(url.as_str()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert_eq!(&r.bytes().await.unwrap()[..], b"%PDF-1.4 the brochure");
    }
    let (_, v) = s
        .get(&format!("/v3/assets/{uid}?include_publish_details=true"))
        .await;
    assert_eq!(
        v["asset"]["publish_details"],
        json!([]),
        "restored unpublished"
    );
    let (_, v) = s
        .get(&format!("/v3/assets/{uid}/versions?include_count=true"))
        .await;
    assert_eq!(v["count"], 3);
    assert_eq!(trash(&s).await["count"], 0);

    // A folder goes as one item with all it holds, and comes back with it.
    let docs = s.folder("Docs", None).await;
    let old = s.folder("Old", Some(&docs)).await;
    s.upload_into("a.txt", b"a", Some(&docs)).await;
    let b = s.upload_into("b.txt", b"b", Some(&old)).await;
    delete(&s, &format!("/v3/assets/folders/{docs}")).await;
    let v = trash(&s).await;
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["trash"][0]["uid"], json!(docs));
    assert_eq!(v["trash"][0]["is_dir"], true);
    assert_eq!(v["trash"][0]["items"], 3, "a sub-folder and two files");
    // What went with a folder is not an item of its own.
    assert_error(
        s.call(Method::POST, &format!("/v3/trash/{b}/restore"), None)
            .await,
        404,
        141,
    );
    let (st, v) = s
        .call(Method::POST, &format!("/v3/trash/{docs}/restore"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["notice"], "Folder restored.");
    assert_eq!(v["restored"], 4);
    let (_, v) = s
        .get(&format!("/v3/assets?folder={old}&include_count=true"))
        .await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["assets"][0]["uid"], json!(b));

    // An asset whose folder is gone comes back into the root, and says so.
    let inner = s.upload_into("inner.txt", b"inner", Some(&old)).await;
    delete(&s, &format!("/v3/assets/{inner}")).await;
    delete(&s, &format!("/v3/assets/folders/{old}")).await;
    let (st, v) = s
        .call(Method::POST, &format!("/v3/trash/{inner}/restore"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["moved_to_root"], true);
    assert!(v["notice"].as_str().unwrap().contains("root"), "{v}");
    assert_eq!(v["asset"]["parent_uid"], Value::Null);

    // Bad requests change nothing: a live asset, an unknown uid, a read-only token.
    for path in [
        format!("/v3/trash/{uid}/restore"),
        "/v3/trash/bltnothere/restore".to_owned(),
    ] {
        assert_error(s.call(Method::POST, &path, None).await, 404, 141);
    }
    assert_error(
        s.call(Method::DELETE, &format!("/v3/trash/{uid}"), None)
            .await,
        404,
        141,
    );
    let ro = s.read_only().await;
    assert_eq!(trash(&ro).await["count"], 1, "reading the trash is reading");
    let (st, _) = ro
        .call(Method::POST, &format!("/v3/trash/{old}/restore"), None)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = ro.call(Method::DELETE, "/v3/trash", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(trash(&s).await["count"], 1);
}

#[tokio::test]
async fn only_an_emptied_item_gives_its_bytes_up() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("big.bin", b"bytes that only this asset has").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let url = a["url"].as_str().unwrap().to_owned();
    let other = s.upload("other.bin", b"another file").await;
    let other_uid = other["uid"].as_str().unwrap().to_owned();
    delete(&s, &format!("/v3/assets/{uid}")).await;
    delete(&s, &format!("/v3/assets/{other_uid}")).await;
    let blobs = t.blob_count().await;
    let gc = perma::maintenance::gc(&t.app.db, &t.app.blobs, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(gc.blobs_removed, 0, "the trash keeps its bytes");
    assert_eq!(t.blob_count().await, blobs);
    let report = perma::maintenance::fsck(&t.app.db, &t.app.blobs, false)
        .await
        .unwrap();
    assert!(report.is_healthy(), "{report:?}");

    let (st, v) = s
        .call(Method::DELETE, &format!("/v3/trash/{uid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["removed"], 1);
    assert_error(
        s.call(Method::POST, &format!("/v3/trash/{uid}/restore"), None)
            .await,
        404,
        141,
    );
    assert_eq!(
        status(&t, &url).await,
        StatusCode::GONE,
        "a tombstone still"
    );
    let gc = perma::maintenance::gc(&t.app.db, &t.app.blobs, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(gc.blobs_removed, 1);
    assert_eq!(t.blob_count().await, blobs - 1);

    // The whole trash at once.
    let (st, v) = s.call(Method::DELETE, "/v3/trash", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["removed"], 1);
    assert_eq!(trash(&s).await["count"], 0);
    let report = perma::maintenance::fsck(&t.app.db, &t.app.blobs, false)
        .await
        .unwrap();
    assert!(report.is_healthy(), "{report:?}");
}

#[tokio::test]
async fn the_retention_is_a_stack_setting_and_the_sweep_keeps_it() {
    let t = TestApp::spawn_with(|c| c.trash_sweep_seconds = 1).await;
    let s = t.admin().await;
    let set = |days: Value| {
        let s = &s;
        async move {
            s.call(
                Method::POST,
                "/v3/stacks/settings",
                Some(json!({"stack_settings": {"trash_retention_days": days}})),
            )
            .await
        }
    };
    for bad in [json!(0), json!(366), json!("7"), json!(1.5)] {
        let v = assert_error(set(bad.clone()).await, 422, 422);
        assert!(v["errors"]["trash_retention_days"].is_array(), "{bad}: {v}");
    }
    let (st, v) = set(json!(3)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["stack_settings"]["trash_retention_days"], 3);
    let keep = s.upload("keep.txt", b"deleted a day ago").await;
    let old = s.upload("old.txt", b"deleted four days ago").await;
    for a in [&keep, &old] {
        delete(&s, &format!("/v3/assets/{}", a["uid"].as_str().unwrap())).await;
    }
    // Move the deletions back in time, as if they had happened days ago.
    let day = 86_400_000i64;
    run_sql(
        &t,
        "UPDATE assets SET deleted_at = deleted_at - $2 WHERE uid = $1",
        &[
            vec![Arg::Text(keep["uid"].as_str().unwrap()), Arg::Int(day)],
            vec![Arg::Text(old["uid"].as_str().unwrap()), Arg::Int(4 * day)],
        ],
    )
    .await;
    let mut left = Value::Null;
    for _ in 0..100 {
        left = trash(&s).await;
        if left["count"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left["count"], 1, "the sweep removed the old one: {left}");
    assert_eq!(left["trash"][0]["uid"], keep["uid"]);
    assert_eq!(left["trash"][0]["days_left"], 2);
    // The audit log says the retention removed it.
    let (_, v) = s.get("/v3/audit-logs?event_type=purged").await;
    assert_eq!(v["logs"][0]["metadata"]["uid"], old["uid"], "{v}");
    assert_eq!(v["logs"][0]["actor"]["kind"], "system");
    assert_eq!(v["logs"][0]["details"]["reason"], "retention");
}

/// Counts a folder's live files and whether the folder is an item of the trash (with how
/// many it holds).
async fn where_is(s: &Session, folder: &str) -> (u64, Option<i64>) {
    let (_, v) = s
        .get(&format!(
            "/v3/assets?folder={folder}&include_count=true&limit=1"
        ))
        .await;
    let live = v["count"].as_u64().unwrap_or(0);
    let t = trash(s).await;
    let item = t["trash"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["uid"] == json!(folder))
        .map(|i| i["items"].as_i64().unwrap());
    (live, item)
}

#[tokio::test]
async fn sigkill_while_trashing_or_restoring_a_folder_leaves_it_whole() {
    use crate::support::Server;
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    crate::support::prepare_database(dir.path()).await;
    let server = Server::start(dir.path());
    let mut s = server.login().await.with_new_stack("kill").await;
    let folder = s.folder("Big", None).await;
    const FILES: usize = 400;
    let uploads: Vec<(String, Vec<u8>)> = futures_util::stream::iter(0..FILES)
        .map(|i| {
            let s = &s;
            let folder = &folder;
            async move {
                let bytes = format!("file {i} of the big folder").into_bytes();
                let uid = s
                    .upload_into(&format!("f{i}.txt"), &bytes, Some(folder))
                    .await;
                (uid, bytes)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(where_is(&s, &folder).await, (FILES as u64, None));
    let mut server = Some(server);
    for (step, delay_ms) in [("trash", 15u64), ("restore", 15)] {
        let path = if step == "trash" {
            format!("/v3/assets/folders/{folder}")
        } else {
            format!("/v3/trash/{folder}/restore")
        };
        let method = if step == "trash" {
            Method::DELETE
        } else {
            Method::POST
        };
        let call = {
            let s = s.clone();
            tokio::spawn(async move { s.call(method, &path, None).await })
        };
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        server.take().unwrap().kill();
        let _ = call.await;
        let restarted = Server::start(dir.path());
        s.base = restarted.base.clone();
        server = Some(restarted);
        // Whole in the library, or whole in the trash: never in between.
        let state = where_is(&s, &folder).await;
        assert!(
            state == (FILES as u64, None) || state == (0, Some(FILES as i64)),
            "after a SIGKILL during {step}: {state:?}"
        );
        // Finish what the kill interrupted, so that the next step starts from there.
        let in_trash = state.1.is_some();
        match (step, in_trash) {
            ("trash", false) => {
                let (st, _) = s
                    .call(
                        Method::DELETE,
                        &format!("/v3/assets/folders/{folder}"),
                        None,
                    )
                    .await;
                assert_eq!(st, StatusCode::OK);
            }
            ("restore", true) => {
                let (st, _) = s
                    .call(Method::POST, &format!("/v3/trash/{folder}/restore"), None)
                    .await;
                assert_eq!(st, StatusCode::OK);
            }
            _ => {}
        }
    }
    assert_eq!(where_is(&s, &folder).await, (FILES as u64, None));
    // Every byte is still served, and fsck is clean.
    let (_, v) = s
        .get(&format!("/v3/assets?folder={folder}&limit=100"))
        .await;
    let http = reqwest::Client::new();
    for a in v["assets"].as_array().unwrap() {
        let (_, bytes) = uploads.iter().find(|(u, _)| a["uid"] == json!(u)).unwrap();
        let got = http
            .get(a["url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&got[..], bytes.as_slice());
    }
    drop(server);
    let out = crate::support::perma_cmd(dir.path())
        .arg("fsck")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("missing: 0"), "{text}");
}

/// A folder bigger than `PERMA_RESTORE_INLINE_MAX` comes back as a job with progress: the
/// folder at once, what it held a chunk at a time; a SIGKILL in the middle is resumed at the
/// next start, and everything comes back whole.
#[tokio::test]
async fn a_big_folder_comes_back_as_a_job_that_survives_a_sigkill() {
    use crate::support::Server;
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    crate::support::prepare_database(dir.path()).await;
    // One asset per transaction: the job takes long enough to be killed in the middle.
    let env = [
        ("PERMA_RESTORE_INLINE_MAX", "20"),
        ("PERMA_RESTORE_CHUNK", "1"),
    ];
    let server = Server::start_with(dir.path(), &env);
    let mut s = server.login().await.with_new_stack("big").await;
    let folder = s.folder("Archive", None).await;
    let sub = s.folder("2025", Some(&folder)).await;
    const FILES: usize = 120;
    let uploads: Vec<(String, Vec<u8>)> = futures_util::stream::iter(0..FILES)
        .map(|i| {
            let (s, parent) = (&s, if i % 2 == 0 { &folder } else { &sub });
            async move {
                let bytes = format!("archived file {i}").into_bytes();
                let uid = s
                    .upload_into(&format!("a{i}.txt"), &bytes, Some(parent))
                    .await;
                (uid, bytes)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    delete(&s, &format!("/v3/assets/folders/{folder}")).await;
    assert_eq!(trash(&s).await["trash"][0]["items"], FILES as i64 + 1);

    // A small item still comes back at once (200); the big folder as a job (202).
    let (st, v) = s
        .call(Method::POST, &format!("/v3/trash/{folder}/restore"), None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let job = v["job_id"].as_str().unwrap().to_owned();
    assert_eq!(v["asset"]["uid"], json!(folder));
    // Killed while the job runs: the next start resumes it.
    let (_, running) = s.get(&format!("/v3/bulk/jobs/{job}")).await;
    server.kill();
    assert_eq!(running["status"], "in_progress", "{running}");
    let done_then = running["progress"]["done"].as_i64().unwrap();
    assert!(done_then < FILES as i64 + 2, "{running}");
    let restarted = Server::start_with(dir.path(), &env);
    s.base = restarted.base.clone();
    let mut status = Value::Null;
    for _ in 0..400 {
        let (st, v) = s.get(&format!("/v3/bulk/jobs/{job}")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        status = v;
        if status["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["action"], "restore");
    assert_eq!(status["progress"]["total"], FILES as i64 + 2, "{status}");
    assert_eq!(
        status["progress"]["done"], status["progress"]["total"],
        "{status}"
    );
    let (_, v) = s
        .get(&format!(
            "/v3/assets?folder={folder}&include_count=true&include_folders=true"
        ))
        .await;
    assert_eq!(v["count"], FILES as i64 / 2 + 1, "{v}");
    let (_, v) = s
        .get(&format!("/v3/assets?folder={sub}&include_count=true"))
        .await;
    assert_eq!(v["count"], FILES as i64 / 2, "{v}");
    assert_eq!(trash(&s).await["count"], 0);
    let http = reqwest::Client::new();
    for (uid, bytes) in uploads.iter().take(10) {
        let (_, v) = s.get(&format!("/v3/assets/{uid}")).await;
        let got = http
            .get(v["asset"]["url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&got[..], bytes.as_slice());
    }
    // The audit log has the restore, with its job.
    let (_, v) = s.get("/v3/audit-logs?event_type=restored").await;
    assert_eq!(v["logs"][0]["details"]["job_id"], json!(job), "{v}");
    drop(restarted);
    let out = crate::support::perma_cmd(dir.path())
        .arg("fsck")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("missing: 0"));
}
