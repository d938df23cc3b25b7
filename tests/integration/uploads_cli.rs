//! `perma upload` and `perma replace` as resumable uploads (§16): through a proxy that cuts
//! the connection mid-file, the CLI resumes where the server stopped (within a run with
//! retries, and in the next run from its state file) and never sends finished bytes again;
//! as tus uploads to perma, and as direct uploads to S3 storage.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{perma_cmd, Server, ADMIN_EMAIL, ADMIN_PASSWORD};

/// A TCP proxy in front of perma (or S3): counts what clients send in requests of one
/// method (PATCH for tus, PUT for parts), and cuts such a connection once it has forwarded
/// `cut_after` bytes (then forwards normally again if `cut_once`).
struct Proxy {
    base: String,
    patch_bytes: Arc<AtomicU64>,
    cut_after: Arc<AtomicI64>,
    cut_once: Arc<AtomicBool>,
}

async fn pipe_up(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    patch_bytes: Arc<AtomicU64>,
    cut_after: Arc<AtomicI64>,
    cut_once: Arc<AtomicBool>,
    method: &'static [u8],
) {
    let mut buf = vec![0u8; 64 << 10];
    // Bytes forwarded since the first PATCH on this connection (a client reuses its
    // connections, so a PATCH need not open one).
    let mut sent: Option<i64> = None;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut start = 0;
        if sent.is_none() {
            if let Some(at) = buf[..n].windows(method.len()).position(|w| w == method) {
                sent = Some(0);
                start = at;
            }
        }
        let Some(done) = sent else {
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
            continue;
        };
        let limit = cut_after.load(Ordering::SeqCst);
        let counted = (n - start) as i64;
        let cut = limit >= 0 && done + counted >= limit;
        let take = if cut {
            start + (limit - done).max(0) as usize
        } else {
            n
        };
        patch_bytes.fetch_add((take - start) as u64, Ordering::SeqCst);
        if to.write_all(&buf[..take]).await.is_err() {
            return;
        }
        sent = Some(done + (take - start) as i64);
        if cut {
            if cut_once.load(Ordering::SeqCst) {
                cut_after.store(-1, Ordering::SeqCst);
            }
            // Both directions end: the client sees its connection break mid-body.
            return;
        }
    }
}

impl Proxy {
    async fn start(upstream: &str, method: &'static [u8]) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.strip_prefix("http://").unwrap().to_owned();
        let patch_bytes = Arc::new(AtomicU64::new(0));
        let cut_after = Arc::new(AtomicI64::new(-1));
        let cut_once = Arc::new(AtomicBool::new(false));
        let (pb, ca, co) = (patch_bytes.clone(), cut_after.clone(), cut_once.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (mut sr, sw) = server.into_split();
                let (pb, ca, co) = (pb.clone(), ca.clone(), co.clone());
                tokio::spawn(async move {
                    let up = pipe_up(cr, sw, pb, ca, co, method);
                    let down = async move {
                        let mut cw = cw;
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    };
                    tokio::select! { _ = up => {}, _ = down => {} }
                });
            }
        });
        Proxy {
            base,
            patch_bytes,
            cut_after,
            cut_once,
        }
    }
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32 * 31 + seed as u32 + (i >> 11) as u32) as u8)
        .collect()
}

/// Runs the CLI against `base` with its state in `state`.
async fn cli(
    base: &str,
    api_key: &str,
    state: &std::path::Path,
    data: &std::path::Path,
    args: Vec<String>,
) -> std::process::Output {
    let mut c = perma_cmd(data);
    c.env("PERMA_SERVER", base)
        .env("PERMA_API_KEY", api_key)
        .env("PERMA_EMAIL", ADMIN_EMAIL)
        .env("PERMA_PASSWORD", ADMIN_PASSWORD)
        .env("XDG_STATE_HOME", state)
        .args(args);
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_resumes_a_cut_upload_without_sending_finished_bytes_again() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::prepare_database(dir.path()).await;
    // tus to perma, also on S3 storage.
    let server = Server::start_with(dir.path(), &[("PERMA_DIRECT_UPLOADS", "off")]);
    let s = server.login().await.with_new_stack("CLI").await;
    let proxy = Proxy::start(&server.base, b"PATCH ").await;
    let state = dir.path().join("state");
    let bytes = data(6 << 20, 1);
    let file = dir.path().join("master.mov");
    std::fs::write(&file, &bytes).unwrap();
    let upload = |retries: &str| {
        vec![
            "upload".to_owned(),
            "--resumable".to_owned(),
            "--retries".to_owned(),
            retries.to_owned(),
            file.display().to_string(),
        ]
    };

    // The connection breaks after 2 MiB and the CLI may not retry: it stops, saying how to
    // resume.
    proxy.cut_after.store(2 << 20, Ordering::SeqCst);
    let out = cli(&proxy.base, s.api_key(), &state, dir.path(), upload("0")).await;
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    assert!(state.join("perma/uploads.json").exists());

    // The same command again: it resumes where the server stopped.
    proxy.cut_after.store(-1, Ordering::SeqCst);
    let before = proxy.patch_bytes.load(Ordering::SeqCst);
    let out = cli(&proxy.base, s.api_key(), &state, dir.path(), upload("0")).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let at: u64 = err
        .split("resuming at ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no resume in {err:?}"));
    assert!(at > (1 << 20) && at <= 2 << 20, "resumed at {at}");
    let sent = proxy.patch_bytes.load(Ordering::SeqCst) - before;
    assert!(
        sent <= bytes.len() as u64 - at + 4096,
        "the second run sent {sent} bytes for the {} missing",
        bytes.len() as u64 - at
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (uid, url) = stdout.trim().split_once('\t').unwrap();
    let got = s.http.get(url).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);
    // Done: nothing left to resume.
    let remembered = std::fs::read_to_string(state.join("perma/uploads.json")).unwrap();
    assert_eq!(remembered.trim(), "{}");

    // A replace whose connection breaks once resumes within the same run.
    let second = data(5 << 20, 2);
    let file2 = dir.path().join("master-v2.mov");
    std::fs::write(&file2, &second).unwrap();
    proxy.cut_once.store(true, Ordering::SeqCst);
    proxy.cut_after.store(1 << 20, Ordering::SeqCst);
    let out = cli(
        &proxy.base,
        s.api_key(),
        &state,
        dir.path(),
        vec![
            "replace".into(),
            "--resumable".into(),
            "--retries".into(),
            "3".into(),
            uid.to_owned(),
            file2.display().to_string(),
        ],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("resuming at"), "{err}");
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let got = s.http.get(&url).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), second);
}

/// On S3 storage the CLI sends the parts straight to the bucket (here through a proxy named
/// by `PERMA_S3_PUBLIC_ENDPOINT`, which cuts the connection mid-part): the next run sends
/// only the parts the store does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sends_parts_straight_to_s3_and_resumes_at_the_cut_part() {
    let Some(endpoint) = crate::support::s3_endpoint() else {
        eprintln!("skipped here: runs in the S3 phase (PERMA_TEST_S3_ENDPOINT)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    crate::support::prepare_database(dir.path()).await;
    let proxy = Proxy::start(&endpoint, b"PUT ").await;
    let server = Server::start_with(dir.path(), &[("PERMA_S3_PUBLIC_ENDPOINT", &proxy.base)]);
    let s = server.login().await.with_new_stack("Direct").await;
    let state = dir.path().join("state");
    // Three parts of 8, 8 and 2 MiB.
    let bytes = data(18 << 20, 3);
    let file = dir.path().join("film.mov");
    std::fs::write(&file, &bytes).unwrap();
    let upload = vec![
        "upload".to_owned(),
        "--retries".to_owned(),
        "0".to_owned(),
        file.display().to_string(),
    ];

    // Cut 2 MiB into the second part.
    proxy.cut_after.store(10 << 20, Ordering::SeqCst);
    let out = cli(
        &server.base,
        s.api_key(),
        &state,
        dir.path(),
        upload.clone(),
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("straight to the storage"), "{err}");
    assert!(err.contains("interrupted at part 2 of 3"), "{err}");

    proxy.cut_after.store(-1, Ordering::SeqCst);
    let before = proxy.patch_bytes.load(Ordering::SeqCst);
    let out = cli(&server.base, s.api_key(), &state, dir.path(), upload).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("resuming an unfinished upload"), "{err}");
    let sent = proxy.patch_bytes.load(Ordering::SeqCst) - before;
    assert!(
        sent <= (10 << 20) + 4096,
        "the second run sent {sent} bytes for the 10 MiB missing"
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (_, url) = stdout.trim().split_once('\t').unwrap();
    let got = s.http.get(url).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);
    let remembered = std::fs::read_to_string(state.join("perma/uploads.json")).unwrap();
    assert_eq!(remembered.trim(), "{}");
}
