//! What operators run besides `serve` (§19): `perma --version` and the `perma_build_info`
//! metric say what was built from which commit; `perma health` is the container's
//! HEALTHCHECK; `perma config check` refuses unknown settings and masks secrets.

use std::process::Output;

use crate::support::{metrics_text, perma_cmd, Server};

fn perma(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = perma_cmd(dir.path());
    // Only the settings the suite gives every perma, and the test's own.
    const SUITE: &[&str] = &[
        "PERMA_DATA_DIR",
        "PERMA_LISTEN",
        "PERMA_LOG",
        "PERMA_DATABASE_URL",
        "PERMA_STORAGE",
        "PERMA_S3_ENDPOINT",
    ];
    for (k, _) in std::env::vars() {
        if k.starts_with("PERMA_") && !SUITE.contains(&k.as_str()) {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The commit the binary should carry: this checkout's HEAD, when git can say.
fn head_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| text(&out.stdout).trim().to_owned())
}

#[tokio::test]
async fn version_and_build_info_name_the_commit_and_healthz_does_not() {
    let out = perma(&["--version"], &[]);
    assert!(out.status.success());
    let line = text(&out.stdout);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        line.starts_with(&format!("perma {version} (commit ")),
        "{line}"
    );
    let commit = line
        .trim()
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    match head_commit() {
        Some(head) if std::env::var("PERMA_COMMIT").is_err() => assert_eq!(commit, head),
        _ => assert!(!commit.is_empty()),
    }

    let data = tempfile::tempdir().unwrap();
    crate::support::prepare_database(data.path()).await;
    let server = Server::start(data.path());
    let http = reqwest::Client::new();
    let metrics = metrics_text(&http, &server.base).await;
    let want = format!("perma_build_info{{version=\"{version}\",commit=\"{commit}\"}} 1");
    assert!(metrics.lines().any(|l| l == want), "{want} in:\n{metrics}");
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !health.contains(version) && !health.contains(&commit),
        "{health}"
    );
}

#[tokio::test]
async fn health_exits_0_for_a_live_server_and_1_otherwise() {
    let data = tempfile::tempdir().unwrap();
    crate::support::prepare_database(data.path()).await;
    let server = Server::start(data.path());
    let out = perma(&["health", "--url", &server.base], &[]);
    assert!(out.status.success(), "{out:?}");
    // Without --url: the address it would listen on (PERMA_LISTEN).
    let listen = server.base.trim_start_matches("http://").to_owned();
    let out = perma(&["health"], &[("PERMA_LISTEN", &listen)]);
    assert!(out.status.success(), "{out:?}");
    let gone = server.base.clone();
    server.kill();
    let out = perma(&["health", "--url", &gone, "--timeout", "1"], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("unhealthy"), "{out:?}");
    // Something that answers, but not perma's healthz.
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = other.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut c, _)) = other.accept().await {
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf).await;
            let _ = c
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let out = tokio::task::spawn_blocking(move || {
        perma(&["health", "--url", &format!("http://{addr}")], &[])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("503"), "{out:?}");
}

#[test]
fn config_check_refuses_unknown_names_and_bad_values_and_masks_secrets() {
    let out = perma(
        &["config", "check"],
        &[
            ("PERMA_ADMIN_EMAIL", "ops@example.com"),
            ("PERMA_ADMIN_PASSWORD", "very secret words"),
            (
                "PERMA_DATABASE_URL",
                "postgres://perma:hunter22@db.internal:5432/perma",
            ),
            ("PERMA_OIDC_ISSUER", "https://login.example"),
            ("PERMA_OIDC_CLIENT_ID", "perma"),
            ("PERMA_OIDC_CLIENT_SECRET", "client-secret-value"),
            ("PERMA_INDEX_BYTES", "1048576"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["admin_email"], "ops@example.com");
    assert_eq!(shown["admin_password"], "********");
    assert_eq!(shown["oidc_client_secret"], "********");
    assert_eq!(shown["index_bytes"], 1048576);
    assert_eq!(
        shown["database_url"],
        "postgres://perma:********@db.internal:5432/perma"
    );
    let all = text(&out.stdout);
    for secret in ["very secret words", "hunter22", "client-secret-value"] {
        assert!(!all.contains(secret), "{secret} shown:\n{all}");
    }

    // A misspelt name is named (it would otherwise be ignored without a word).
    let out = perma(&["config", "check"], &[("PERMA_LISTN", "0.0.0.0:8080")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(err.contains("unknown setting PERMA_LISTN"), "{err}");
    assert!(
        err.contains("PERMA_LISTEN"),
        "the known names are listed: {err}"
    );
    // A bad value is named.
    let out = perma(&["config", "check"], &[("PERMA_INDEX_BYTES", "lots")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("PERMA_INDEX_BYTES"), "{out:?}");
    // The caches' budgets must fit in the memory budget; the default plan is shown.
    let out = perma(
        &["config", "check"],
        &[
            ("PERMA_MEMORY_BYTES", "268435456"),
            ("PERMA_INDEX_BYTES", "268435456"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("PERMA_MEMORY_BYTES") && err.contains("does not fit"),
        "{err}"
    );
    let out = perma(&["config", "check"], &[]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plan = &shown["memory_plan"];
    let sum = ["index_bytes", "body_cache_bytes", "fixed_bytes"]
        .iter()
        .map(|k| plan[*k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(sum, shown["memory_bytes"].as_u64().unwrap(), "{plan}");
    // Half a sign-on configuration is refused.
    let out = perma(
        &["config", "check"],
        &[("PERMA_OIDC_ISSUER", "https://login.example")],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("PERMA_OIDC_CLIENT_ID"),
        "{out:?}"
    );
}

#[tokio::test]
async fn systemd_hears_ready_once_listening_and_stopping_at_sigterm() {
    use std::os::unix::net::UnixDatagram;
    let data = tempfile::tempdir().unwrap();
    crate::support::prepare_database(data.path()).await;
    let socket_dir = tempfile::tempdir().unwrap();
    let path = socket_dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut server = Server::start_with(data.path(), &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 within a minute");
    assert_eq!(&buf[..n], b"READY=1");
    // Ready means serving.
    let r = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert!(r.status().is_success());
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let n = socket.recv(&mut buf).expect("STOPPING=1 at SIGTERM");
    assert_eq!(&buf[..n], b"STOPPING=1");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
