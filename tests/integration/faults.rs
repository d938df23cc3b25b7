//! Faults (issue: hardening): the blob disk fills up during an upload.
//!
//! Mounts a small tmpfs as the blob store, which needs root (CI runs as root); elsewhere
//! the test is skipped, except with `CI=true`, where it fails.

use reqwest::{Method, StatusCode};

use crate::support::TestApp;

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok && std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("mounting a tmpfs failed; CI runs as root and needs it");
        }
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_blob_disk_is_a_507_that_keeps_nothing() {
    let holder = tempfile::tempdir().unwrap();
    let blobs = holder.path().join("blobs");
    let Some(_mounted) = Tmpfs::mount(&blobs, "1m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let storage = format!("file://{}", blobs.display());
    let t = TestApp::spawn_with(move |c| {
        c.storage = Some(storage);
        c.s3_endpoint = None;
    })
    .await;
    let s = t.admin().await;
    let (st, v) = s
        .upload_form(
            Method::POST,
            "/v3/assets",
            "big.bin",
            vec![7u8; 3 << 20],
            &[],
        )
        .await;
    assert_eq!(st.as_u16(), 507, "{v}");
    assert_eq!(v["error_code"], 507);
    assert!(
        v["error_message"].as_str().unwrap().contains("no room"),
        "{v}"
    );
    // No row, no blob, no partial temp file.
    let (_, v) = s.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 0, "{v}");
    assert_eq!(t.blob_count().await, 0);
    assert_eq!(t.temp_count(), 0);
    // A replace that does not fit leaves the asset as it was.
    let a = s.upload("small.txt", b"small and fine").await;
    let uid = a["uid"].as_str().unwrap();
    let (st, _) = s
        .upload_form(
            Method::PUT,
            &format!("/v3/assets/{uid}"),
            "big.bin",
            vec![1u8; 3 << 20],
            &[],
        )
        .await;
    assert_eq!(st.as_u16(), 507);
    let (st, v) = s.get(&format!("/v3/assets/{uid}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["asset"]["_version"], 1);
    assert_eq!(v["asset"]["filename"], "small.txt");
    let body = reqwest::get(v["asset"]["url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "small and fine");
    assert_eq!(t.temp_count(), 0);
}

#[tokio::test]
async fn a_locked_sqlite_database_is_waited_for_then_a_clean_503() {
    use sqlx::{Connection, Executor};
    let t = TestApp::spawn().await;
    if t.app.db.backend() != perma::db::Backend::Sqlite {
        return; // SQLite only; the PostgreSQL run covers the same suite otherwise
    }
    let s = t.admin().await;
    let url = t.app.config.database_url();
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    // Another process (a backup tool, a script) takes the write lock for a second: perma's
    // write waits for it (busy_timeout) and succeeds.
    other.execute("BEGIN IMMEDIATE").await.unwrap();
    let release = async {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        other.execute("COMMIT").await.unwrap();
    };
    let (a, ()) = tokio::join!(s.upload("waited.txt", b"waited"), release);
    assert_eq!(a["filename"], "waited.txt");
    // Held past the busy timeout (10 s): a 503 with Retry-After, and nothing changed.
    other.execute("BEGIN IMMEDIATE").await.unwrap();
    let resp = s
        .request(Method::POST, "/v3/assets/folders")
        .json(&serde_json::json!({"asset": {"name": "Blocked"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "5");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error_code"], 503, "{v}");
    assert!(
        v["error_message"].as_str().unwrap().contains("database"),
        "{v}"
    );
    other.execute("ROLLBACK").await.unwrap();
    // And then it works again, without a restart.
    let (_, v) = s
        .get("/v3/assets?include_folders=true&include_count=true")
        .await;
    assert_eq!(v["count"], 1, "no folder was created: {v}");
    let (st, _) = s
        .call(
            Method::POST,
            "/v3/assets/folders",
            Some(serde_json::json!({"asset": {"name": "Unblocked"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
}
