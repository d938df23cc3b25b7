//! Moving up (§9): `perma copy` takes an embedded installation (SQLite + local files) to
//! PostgreSQL and another blob store (S3 when the suite runs on S3); afterwards every URL serves the same bytes.
//! Runs in the PostgreSQL pass of the suite.

use reqwest::StatusCode;

use crate::support::{
    database_url_for, perma_cmd, postgres_base, prepare_database, storage_for, Server,
};

#[tokio::test]
async fn copy_sqlite_installation_to_postgres() {
    if postgres_base().is_none() {
        eprintln!("copy: runs in the PostgreSQL pass of the suite");
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/perma.db", src.path().display());
    let files = format!("file://{}/blobs", src.path().display());
    let embedded = [
        ("PERMA_DATABASE_URL", sqlite.as_str()),
        ("PERMA_STORAGE", files.as_str()),
    ];
    let server = Server::start_with(src.path(), &embedded);
    let s = server.login().await.with_new_stack("Embedded").await;
    s.environment("production").await;
    let mut urls = Vec::new();
    for (i, name) in ["a.txt", "b.bin", "c.txt"].iter().enumerate() {
        let bytes = format!("{name} bytes {i}")
            .repeat(100 * (i + 1))
            .into_bytes();
        let a = s.upload(name, &bytes).await;
        let uid = a["uid"].as_str().unwrap().to_owned();
        urls.push((a["url"].as_str().unwrap().to_owned(), bytes.clone()));
        if i < 2 {
            let (_, v) = s.set_permanent(&uid, &format!("slug-{i}")).await;
            let replaced = format!("replaced {name}").into_bytes();
            let r = s.replace(&uid, name, &replaced).await;
            urls.push((r["url"].as_str().unwrap().to_owned(), replaced.clone()));
            urls.push((
                v["asset"]["permanent_url"].as_str().unwrap().to_owned(),
                replaced,
            ));
        }
    }
    let old_base = server.base.clone();
    drop(server);

    let dst = tempfile::tempdir().unwrap();
    prepare_database(dst.path()).await;
    let target_db = database_url_for(dst.path()).unwrap();
    // The suite's blob storage: S3 when it runs on S3, another directory otherwise.
    let storage =
        storage_for(dst.path()).unwrap_or_else(|| format!("file://{}/blobs", dst.path().display()));
    let out = perma_cmd(src.path())
        .envs(embedded)
        .args([
            "copy",
            "--to-database",
            &target_db,
            "--to-storage",
            &storage,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("assets: 3 rows") && text.contains("blobs: 5 copied"),
        "{text}"
    );

    // The copy serves every URL with the same bytes, and the same people can log in.
    let server = Server::start(dst.path());
    for (url, bytes) in &urls {
        let path = url.strip_prefix(&old_base).unwrap();
        let r = reqwest::get(format!("{}{path}", server.base))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.bytes().await.unwrap().as_ref() == bytes.as_slice(),
            "{path}"
        );
    }
    let mut s2 = server.login().await;
    s2.api_key = s.api_key.clone();
    let (_, v) = s2.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 3);
    drop(server);

    // Copying into a database that already holds data is refused.
    let again = perma_cmd(src.path())
        .envs(embedded)
        .args(["copy", "--to-database", &target_db])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));
}
