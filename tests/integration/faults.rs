//! Faults (issue: hardening): the blob disk fills up during an upload; the S3 server
//! stops and comes back.
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

/// An s3s-fs of the test's own (the shared one must keep running), on a fixed port and
/// directory so that it can be stopped and started again at the same address.
struct OwnS3 {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnS3 {
    fn find() -> Option<std::path::PathBuf> {
        let home = std::env::var("HOME").unwrap_or_default();
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .map(std::path::PathBuf::from)
            .chain([std::path::Path::new(&home).join(".cargo/bin")])
            .map(|d| d.join("s3s-fs"))
            .find(|p| p.is_file())
    }

    fn start(&mut self) {
        let child = std::process::Command::new(&self.bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", &std::env::var("AWS_ACCESS_KEY_ID").unwrap()])
            .args([
                "--secret-key",
                &std::env::var("AWS_SECRET_ACCESS_KEY").unwrap(),
            ])
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting s3s-fs");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("s3s-fs did not start");
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The S3 server stops under load and comes back: uploads and reads answer 503 with
/// `Retry-After` within seconds (not a hang, not a 500), no asset row is written without
/// its blob, and perma recovers by itself once S3 answers again. Runs in the S3 phase
/// (with `PERMA_TEST_S3_ENDPOINT`), where s3s-fs is installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_s3_outage_answers_503_and_recovers_without_a_restart() {
    if crate::support::s3_endpoint().is_none() {
        eprintln!("skipped: runs with PERMA_TEST_S3_ENDPOINT (the S3 phase)");
        return;
    }
    let Some(bin) = OwnS3::find() else {
        panic!("s3s-fs is not installed, but PERMA_TEST_S3_ENDPOINT is set");
    };
    let holder = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(holder.path().join("outage")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s3 = OwnS3 {
        bin,
        dir: holder.path().to_owned(),
        port,
        child: None,
    };
    s3.start();
    let app = TestApp::spawn_with(|c| {
        c.storage = Some("s3://outage/t".into());
        c.s3_endpoint = Some(format!("http://127.0.0.1:{port}"));
    })
    .await;
    let s = app.admin().await.with_new_stack("outage").await;
    // Larger than the delivery body cache holds, so reads go to S3.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let before = s.upload("before.bin", &big).await;
    let url = before["url"].as_str().unwrap().to_owned();

    s3.stop();
    let started = std::time::Instant::now();
    let mut load = Vec::new();
    for i in 0..6 {
        let s = s.clone();
        let url = url.clone();
        load.push(tokio::spawn(async move {
            let r = if i % 2 == 0 {
                let form = reqwest::multipart::Form::new().part(
                    "asset[upload]",
                    reqwest::multipart::Part::bytes(vec![i as u8; 200_000])
                        .file_name(format!("during-{i}.bin")),
                );
                s.request(Method::POST, "/v3/assets")
                    .multipart(form)
                    .send()
                    .await
                    .unwrap()
            } else {
                s.http.get(&url).send().await.unwrap()
            };
            let retry_after = r.headers().get("retry-after").cloned();
            (i, r.status(), retry_after)
        }));
    }
    for l in load {
        let (i, status, retry_after) = l.await.unwrap();
        let what = if i % 2 == 0 { "upload" } else { "read" };
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(retry_after.is_some(), "a 503 says when to retry");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "an outage is answered within seconds, took {:?}",
        started.elapsed()
    );
    let (_, list) = s.get("/v3/assets?include_count=true").await;
    assert_eq!(
        list["count"], 1,
        "no row was written without its blob: {list}"
    );

    s3.start();
    let after = s.upload("after.bin", b"S3 is back").await;
    assert_eq!(after["file_size"], "10");
    let r = s.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), big.as_slice());
    let report = perma::maintenance::fsck(&app.app.db, &app.app.blobs, false)
        .await
        .unwrap();
    assert!(report.missing.is_empty(), "{:?}", report.missing);
}

/// A PostgreSQL cluster of the test's own (the shared one must keep running), started and
/// stopped with Debian's `pg_ctl` as the `postgres` user, like `.ci/postgres.sh`.
struct OwnPostgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    fn create() -> Option<OwnPostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").is_file())
            .max()?;
        let dir = tempfile::tempdir().unwrap();
        let chown = std::process::Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .ok()?;
        if !chown.success() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = OwnPostgres { bin, dir, port };
        let data = pg.dir.path().join("data");
        pg.as_postgres(
            "initdb",
            &["-D", data.to_str()?, "-A", "trust", "-U", "postgres"],
        )
        .then_some(())?;
        pg.start().then_some(pg)
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) -> bool {
        std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn start(&self) -> bool {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-o",
                &opts,
                "start",
            ],
        )
    }

    fn stop(&self) -> bool {
        let data = self.dir.path().join("data");
        self.as_postgres(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        )
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// PostgreSQL restarts under load: every answer meanwhile is a success or a clean 503 with
/// `Retry-After` (no 500, no hang), every upload answered 201 has its row and no other row
/// appears, and perma recovers by itself once the database is back. Runs in the
/// PostgreSQL phase (`PERMA_TEST_POSTGRES`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_load_fails_cleanly_and_recovers() {
    if crate::support::postgres_base().is_none() {
        eprintln!("skipped: runs with PERMA_TEST_POSTGRES (the PostgreSQL phase)");
        return;
    }
    let pg = OwnPostgres::create()
        .expect("PERMA_TEST_POSTGRES is set, but a cluster of the test's own cannot be started");
    let port = pg.port;
    let app = TestApp::spawn_with(|c| {
        c.database_url = Some(format!("postgres://postgres@127.0.0.1:{port}/postgres"));
    })
    .await;
    let s = app.admin().await.with_new_stack("restart").await;
    let first = s.upload("first.bin", b"before the restart").await;
    let url = first["url"].as_str().unwrap().to_owned();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (s, url, stop) = (s.clone(), url.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let (mut created, mut unavailable, mut n) = (0u64, 0u64, 0u32);
            let mut slowest = std::time::Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let r = match (worker, n % 3) {
                    (0 | 1, _) => {
                        let form = reqwest::multipart::Form::new().part(
                            "asset[upload]",
                            reqwest::multipart::Part::bytes(format!("{worker}-{n}").into_bytes())
                                .file_name("load.txt"),
                        );
                        s.request(Method::POST, "/v3/assets").multipart(form)
                    }
                    (_, 0) => s.request(Method::GET, "/v3/assets?limit=5"),
                    _ => s.http.get(&url),
                };
                let sent = std::time::Instant::now();
                let r = r.send().await.unwrap();
                slowest = slowest.max(sent.elapsed());
                let status = r.status();
                match status {
                    StatusCode::CREATED => created += 1,
                    StatusCode::OK => {}
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(r.headers().contains_key("retry-after"), "a 503 says when");
                        unavailable += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    other => panic!("{other}: {}", r.text().await.unwrap_or_default()),
                }
            }
            (created, unavailable, slowest)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(pg.stop(), "stopping PostgreSQL");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(pg.start(), "starting PostgreSQL again");
    // Recovery without restarting perma: uploads succeed again within seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (st, _) = s
            .upload_form(
                Method::POST,
                "/v3/assets",
                "after.bin",
                b"after".to_vec(),
                &[],
            )
            .await;
        if st == StatusCode::CREATED {
            break;
        }
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            std::time::Instant::now() < deadline,
            "perma did not recover"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut created, mut unavailable, mut slowest) = (0, 0, std::time::Duration::ZERO);
    for l in load {
        let (c, u, w) = l.await.unwrap();
        created += c;
        unavailable += u;
        slowest = slowest.max(w);
    }
    // The load met the outage: a query cut off by the shutdown answered 503, or a request
    // that needed a new connection meanwhile waited for the database to come back (the
    // pool retries a refused connection within its acquire timeout).
    assert!(
        unavailable > 0 || slowest >= std::time::Duration::from_secs(1),
        "the load never met the outage (slowest answer {slowest:?})"
    );
    // first + the uploads answered 201 under load + "after", and at most the uploads whose
    // commit reached the database just as it went away (the answer to a commit can be
    // lost with the connection; a retry then makes a second asset, as with any API).
    let (st, list) = s.get("/v3/assets?include_count=true&limit=1").await;
    assert_eq!(st, StatusCode::OK);
    let count = list["count"].as_u64().unwrap();
    assert!(
        (created + 2..=created + 2 + unavailable).contains(&count),
        "{count} rows, {created} uploads answered 201, {unavailable} answers were 503"
    );
    // Every row has its blob (blob first, row second, §5).
    let report = perma::maintenance::fsck(&app.app.db, &app.app.blobs, false)
        .await
        .unwrap();
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let r = s.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
