//! Kept folder totals (schema v9): unfiltered counts stay exact through every change, an
//! existing library is counted when it migrates; and the planner statistics SQLite ships.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::listing::{all_pages, enc};
use crate::support::{Session, TestApp};

/// The totals an unfiltered count reads (schema v9: kept per folder by triggers) against
/// the same listings counted row by row (an always-true condition forces a `COUNT(*)`)
/// and against their pages. Expected numbers are those of the state built here.
async fn check_counts(s: &Session, folders: &[(&str, &str)], expected: &[u64]) {
    let always = enc(r#"{"_version":{"$gte":1}}"#);
    let mut scopes = vec![
        String::new(),
        "folder=cs_root".to_owned(),
        "include_folders=true".to_owned(),
        "include_folders=true&folder=cs_root".to_owned(),
    ];
    for (_, uid) in folders {
        scopes.push(format!("folder={uid}"));
        scopes.push(format!("include_folders=true&folder={uid}"));
    }
    assert_eq!(scopes.len(), expected.len());
    for (scope, want) in scopes.iter().zip(expected) {
        let (rows, kept) = all_pages(s, scope, 7).await;
        let (_, counted) = all_pages(s, &format!("{scope}&query={always}"), 100).await;
        assert_eq!(
            (kept, counted, rows.len() as u64),
            (*want, *want, *want),
            "{scope}: kept total, COUNT(*), rows listed"
        );
    }
}

#[tokio::test]
async fn unfiltered_counts_stay_exact_through_every_change() {
    let t = TestApp::spawn().await;
    let s = t.admin().await.with_new_stack("totals").await;
    let other = t.admin().await.with_new_stack("other").await;
    let a = s.folder("A", None).await;
    let b = s.folder("B", Some(&a)).await;
    let mut root = Vec::new();
    for i in 0..5 {
        root.push(s.upload_into(&format!("r{i}.txt"), b"x", None).await);
    }
    let mut in_a = Vec::new();
    for i in 0..3 {
        in_a.push(s.upload_into(&format!("a{i}.txt"), b"x", Some(&a)).await);
    }
    for i in 0..2 {
        s.upload_into(&format!("b{i}.txt"), b"x", Some(&b)).await;
    }
    // Another stack's assets never count here.
    for i in 0..4 {
        other.upload(&format!("o{i}.txt"), b"o").await;
    }
    let folders = [("A", a.as_str()), ("B", b.as_str())];
    // Scopes: all files, root files, everything, root with folders, A's files, A with
    // folders, B's files, B with folders.
    check_counts(&s, &folders, &[10, 5, 12, 6, 3, 4, 2, 2]).await;

    // A metadata change that names the same folder, and a replace: no change.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{}", in_a[0]),
            Some(json!({"asset": {"title": "renamed", "parent_uid": a}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.replace(&root[0], "r0.txt", b"new bytes").await;
    check_counts(&s, &folders, &[10, 5, 12, 6, 3, 4, 2, 2]).await;

    // Moves: root -> B, A -> root.
    for (uid, parent) in [(&root[1], json!(b)), (&in_a[1], json!(null))] {
        let (st, v) = s
            .call(
                Method::PUT,
                &format!("/v3/assets/{uid}"),
                Some(json!({"asset": {"parent_uid": parent}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    check_counts(&s, &folders, &[10, 5, 12, 6, 2, 3, 3, 3]).await;

    // A folder moves to the root: its files go with it.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/folders/{b}"),
            Some(json!({"asset": {"parent_uid": null}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    check_counts(&s, &folders, &[10, 5, 12, 7, 2, 2, 3, 3]).await;

    // Deletions: a root file, then folder A and everything in it.
    let (st, v) = s
        .call(Method::DELETE, &format!("/v3/assets/{}", root[2]), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = s
        .call(Method::DELETE, &format!("/v3/assets/folders/{a}"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // A's scopes now list nothing (the folder is gone: 404), so only the others.
    check_counts(&s, &[("B", b.as_str())], &[7, 4, 8, 5, 3, 3]).await;
    let (st, _) = s
        .get(&format!("/v3/assets?folder={a}&include_count=true"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (_, v) = other.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 4, "{v}");
    // fsck agrees: every kept total equals a count of the folder's live assets.
    let report = perma::maintenance::fsck(&t.app.db, &t.app.blobs, false)
        .await
        .unwrap();
    assert!(report.miscounted.is_empty(), "{:?}", report.miscounted);
    assert!(report.is_healthy());
}

/// A database from before schema v9 (no kept totals) gets them from its assets when it
/// migrates: the totals then equal a count of each folder.
#[tokio::test]
async fn migrating_to_kept_totals_counts_the_existing_library() {
    use sqlx::Connection;
    let mut t = TestApp::spawn().await;
    let mut s = t.admin().await.with_new_stack("upgrade").await;
    let f = s.folder("F", None).await;
    for i in 0..3 {
        s.upload(&format!("root{i}.txt"), b"r").await;
    }
    for i in 0..2 {
        s.upload_into(&format!("in{i}.txt"), b"f", Some(&f)).await;
    }
    let gone = s.upload("gone.txt", b"g").await;
    let (st, _) = s
        .call(
            Method::DELETE,
            &format!("/v3/assets/{}", gone["uid"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    t.stop().await.unwrap();
    // Back to schema v8: no table, no triggers, the index v9 drops, v9 not recorded (on
    // PostgreSQL nor v10, which replaced v9's triggers).
    let url = t.app.config.database_url();
    let undo = if t.app.db.backend() == perma::db::Backend::Sqlite {
        "DROP TRIGGER asset_counts_insert; DROP TRIGGER asset_counts_delete; \
         DROP TRIGGER asset_counts_update; DELETE FROM perma_migrations WHERE version = 9;"
    } else {
        "DROP TRIGGER asset_counts_insert ON assets; DROP TRIGGER asset_counts_update ON assets; \
         DROP TRIGGER asset_counts_delete ON assets; DROP FUNCTION asset_counts_apply(); \
         DELETE FROM perma_migrations WHERE version IN (9, 10);"
    };
    let undo = format!(
        "{undo} DROP TABLE asset_counts; \
         CREATE INDEX assets_live_count ON assets (api_key, is_dir) WHERE deleted_at IS NULL;"
    );
    if t.app.db.backend() == perma::db::Backend::Sqlite {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&undo).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&undo).execute(&mut c).await.unwrap();
    }
    t.restart().await;
    s.base = t.base.clone();
    check_counts(&s, &[("F", f.as_str())], &[5, 3, 6, 4, 2, 2]).await;
    let report = perma::maintenance::fsck(&t.app.db, &t.app.blobs, false)
        .await
        .unwrap();
    assert!(report.miscounted.is_empty(), "{:?}", report.miscounted);

    // A kept total that went wrong (here by hand) is what a count answers, so fsck names
    // it and fails, in the library and on the command line.
    let wrong = "UPDATE asset_counts SET n = n + 2 WHERE parent_key = $1 AND is_dir = 0";
    if t.app.db.backend() == perma::db::Backend::Sqlite {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(wrong).bind(&f).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
        sqlx::query(wrong).bind(&f).execute(&mut c).await.unwrap();
    }
    let (_, v) = s
        .get(&format!("/v3/assets?folder={f}&include_count=true"))
        .await;
    assert_eq!(v["count"], 4, "the kept total answers: {v}");
    let report = perma::maintenance::fsck(&t.app.db, &t.app.blobs, false)
        .await
        .unwrap();
    assert_eq!(
        report.miscounted,
        [perma::db::Miscount {
            api_key: s.api_key().to_owned(),
            folder: f.clone(),
            folders: false,
            kept: 4,
            counted: 2,
        }]
    );
    assert!(!report.is_healthy());
    let out = crate::support::perma_cmd(t.dir.path())
        .arg("fsck")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("miscounted folders: 1"), "{text}");
    assert!(
        text.contains(&format!(
            "MISCOUNTED stack {} folder {f} files: kept 4, counted 2",
            s.api_key()
        )),
        "{text}"
    );
}

/// SQLite plans listings and delivery reads by the statistics perma ships (schema v10), not
/// by what an ANALYZE of this library would say: every index of the tables that listings
/// and delivery read has its row (an index added without one would be planned by SQLite's
/// built-in guesses), the rows are those of the measured million-asset library whatever
/// this library's size, and they hold across restarts.
#[tokio::test]
async fn planner_statistics() {
    use sqlx::Connection;
    let mut t = TestApp::spawn().await;
    let mut s = t.admin().await.with_new_stack("planned").await;
    let f = s.folder("F", None).await;
    for i in 0..5 {
        s.upload_into(&format!("f{i}.txt"), b"f", Some(&f)).await;
    }
    if t.app.db.backend() != perma::db::Backend::Sqlite {
        return; // PostgreSQL's autovacuum analyses; it has no shipped statistics.
    }
    let url = t.app.config.database_url();
    t.restart().await;
    s.base = t.base.clone();
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let tables = [
        "assets",
        "files",
        "asset_tags",
        "asset_versions",
        "publications",
        "published_assets",
        "published_tags",
        "asset_counts",
    ];
    let indexes: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT m.tbl_name, m.name, COALESCE(s.stat, '') FROM sqlite_master m \
         LEFT JOIN sqlite_stat1 s ON s.idx = m.name WHERE m.type = 'index' ORDER BY m.name",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut checked = 0;
    for (table, index, stat) in &indexes {
        if !tables.contains(&table.as_str()) {
            continue;
        }
        checked += 1;
        // The row count, then one figure per indexed column (the key columns of a partial
        // or expression index included).
        let columns: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM pragma_index_info('{index}')"
        ))
        .fetch_one(&mut c)
        .await
        .unwrap();
        let figures: Vec<i64> = stat
            .split(' ')
            .map(|n| n.parse().unwrap_or_else(|_| panic!("{index}: {stat:?}")))
            .collect();
        assert_eq!(
            figures.len() as i64,
            columns + 1,
            "{table}.{index} has no statistics or the wrong shape: {stat:?}"
        );
        if table != "asset_counts" {
            assert!(figures[0] >= 1_000_000, "{index}: {stat}");
        }
    }
    assert!(checked >= 30, "only {checked} indexes checked");
    // Listings answer the same with them.
    let (st, v) = s
        .get(&format!("/v3/assets?folder={f}&include_count=true&limit=2"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["count"], 5);
    assert_eq!(v["assets"].as_array().unwrap().len(), 2);
}
