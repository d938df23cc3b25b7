//! Moving up (§9): `perma copy` takes an embedded installation (SQLite + local files) to
//! PostgreSQL and another blob store (S3 when the suite runs on S3); afterwards every URL
//! serves the same bytes, signed URLs stay valid, webhooks are kept and events not yet
//! delivered are delivered by the copy. Runs in the PostgreSQL pass of the suite.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::events::{create_webhook, Receiver};
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
    // Webhooks may call this machine. Failed deliveries are retried after 1, 2, 4… s, so
    // that none has used up its attempts by the copy; a send in flight when the server
    // stops holds its job for 7 s (twice the 1 s timeout, and 5 s).
    let events = [
        ("PERMA_WEBHOOK_ALLOW_NETS", "127.0.0.0/8"),
        ("PERMA_EVENT_RETRY_MS", "1000"),
        ("PERMA_EVENT_TIMEOUT", "1"),
    ];
    let embedded = [
        ("PERMA_DATABASE_URL", sqlite.as_str()),
        ("PERMA_STORAGE", files.as_str()),
        events[0],
        events[1],
        events[2],
    ];
    let server = Server::start_with(src.path(), &embedded);
    // A secured stack first: its file opens by a signed URL only, signed with the stack's
    // key. Its first asset has no slug and no folder, later rows have both: a copy binds
    // every column by its type in the schema, whatever the first row holds.
    let secure = server.login().await.with_new_stack("Secure").await;
    let (st, _) = secure
        .call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"secure_asset_urls": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let secret = secure.upload("secret.txt", b"for your eyes only").await;
    let secret_uid = secret["uid"].as_str().unwrap().to_owned();
    let folder = secure.folder("Drafts", None).await;
    secure
        .upload_into("draft.txt", b"a draft in a folder", Some(&folder))
        .await;
    let (st, v) = secure
        .call(
            Method::POST,
            &format!("/v3/assets/{secret_uid}/signed_url"),
            Some(json!({"expires_in": 3600, "url_kind": "version"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let signed_url = v["signed_url"].as_str().unwrap().to_owned();
    assert_eq!(
        reqwest::get(&signed_url).await.unwrap().status(),
        StatusCode::OK
    );
    let s = server.login().await.with_new_stack("Embedded").await;
    s.environment("production").await;
    // A webhook whose receiver is down: its deliveries are still pending at the copy.
    let receiver_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let v = create_webhook(
        &s,
        &format!("http://{receiver_addr}/hook"),
        &["assets.create"],
        "automatic",
    )
    .await;
    let webhook_uid = v["uid"].as_str().unwrap().to_owned();
    let mut uploaded = BTreeSet::new();
    let mut urls = Vec::new();
    for (i, name) in ["a.txt", "b.bin", "c.txt"].iter().enumerate() {
        let bytes = format!("{name} bytes {i}")
            .repeat(100 * (i + 1))
            .into_bytes();
        let a = s.upload(name, &bytes).await;
        let uid = a["uid"].as_str().unwrap().to_owned();
        uploaded.insert(uid.clone());
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
    // Metadata, which `query` filters on through values the target rebuilds.
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/extensions",
            Some(json!({"extension": {"title": "Alt", "type": "field", "src": "https://x"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let ext = v["extension"]["uid"].as_str().unwrap().to_owned();
    let described = uploaded.iter().next().unwrap().clone();
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/metadata",
            Some(
                json!({"metadata": {"entity_uid": described, "type": "asset",
                "extension_uid": ext, "alt": "carried over"}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let old_base = server.base.clone();
    drop(server);
    // An event recorded but not fanned out yet when the server stopped (number 100).
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&sqlite).await.unwrap();
        sqlx::query(
            "INSERT INTO outbox (seq, api_key, action, asset_uid, version, by_uid, at) \
             VALUES (100, $1, 'update', $2, 1, 'blt0000000000000000', 0)",
        )
        .bind(s.api_key())
        .bind(uploaded.iter().next().unwrap())
        .execute(&mut c)
        .await
        .unwrap();
    }

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
        text.contains("assets: 6 rows") && text.contains("blobs: 7 copied"),
        "{text}"
    );

    let rows = |table: &str| -> usize {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{table}: ")))
            .and_then(|l| l.strip_suffix(" rows"))
            .unwrap_or_else(|| panic!("no count for {table}: {text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(rows("webhooks"), 1, "{text}");
    assert_eq!(rows("signing_keys"), 1, "{text}");
    // The one written by hand, and any the server had not fanned out when it stopped.
    assert!(rows("outbox") >= 1, "{text}");
    // The target numbers its next events after the copied one.
    {
        use sqlx::Connection;
        let mut c = sqlx::postgres::PgConnection::connect(&target_db)
            .await
            .unwrap();
        let next: i64 =
            sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('outbox', 'seq'))")
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert!(next > 100, "the outbox sequence starts again at {next}");
    }

    // The receiver is back: the copy delivers the events the original could not.
    let receiver = Receiver::start_on(receiver_addr, 200, Duration::ZERO).await;
    // The copy serves every URL with the same bytes, and the same people can log in.
    let server = Server::start_with(dst.path(), &events);
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
    assert_eq!(rows("asset_metadata"), 1, "{text}");
    let query = json!({ format!("_metadata.extensions.{ext}.alt"): "carried over" });
    let (_, v) = s2
        .get(&format!(
            "/v3/assets?query={}",
            crate::listing::enc(&query.to_string())
        ))
        .await;
    assert_eq!(v["assets"][0]["uid"], json!(described), "{v}");
    // The signed URL stays valid (the stack's key came along), and an unsigned one does not.
    let path = signed_url.strip_prefix(&old_base).unwrap();
    let r = reqwest::get(format!("{}{path}", server.base))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    assert_eq!(&r.bytes().await.unwrap()[..], b"for your eyes only");
    let unsigned = path.split('?').next().unwrap();
    assert_eq!(
        reqwest::get(format!("{}{unsigned}", server.base))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The webhook came along, and every creation made before the copy reaches it.
    let (st, v) = s2.get(&format!("/v3/webhooks/{webhook_uid}")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let got = receiver
        .wait_for_within(uploaded.len(), Duration::from_secs(30))
        .await;
    let delivered: BTreeSet<String> = got
        .iter()
        .map(|g| {
            g.json()["data"]["asset"]["uid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(delivered, uploaded);
    // The copy records new events after the copied ones (the outbox's sequence moved on).
    let a = s2.upload("after.txt", b"after the move").await;
    let got = receiver
        .wait_for_within(uploaded.len() + 1, Duration::from_secs(30))
        .await;
    assert!(
        got.iter()
            .any(|g| g.json()["data"]["asset"]["uid"] == a["uid"]),
        "no event for the upload after the copy"
    );
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
