//! Resumable uploads (§16) across failures: a connection cut mid-PATCH keeps what arrived,
//! a new request takes over from a hanging one, and after SIGKILL a client resumes at the
//! last acknowledged offset with the source's digest.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::uploads::{b64, create, data, offset, patch, served, upload_uid};
use crate::support::{Server, Session, TestApp};

/// Sends a PATCH by hand: its head announcing `announced` bytes, then `sent` of them.
async fn partial_patch(
    base: &str,
    s: &Session,
    path: &str,
    offset: u64,
    announced: usize,
    sent: &[u8],
) -> tokio::net::TcpStream {
    let addr = base.strip_prefix("http://").unwrap();
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nauthtoken: {}\r\napi_key: {}\r\n\
         Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {announced}\r\n\r\n",
        s.authtoken.as_deref().unwrap(),
        s.api_key()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(sent).await.unwrap();
    c.flush().await.unwrap();
    c
}

async fn wait_for_offset(s: &Session, path: &str, want: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = offset(s, path).await;
        if got == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "offset {got}, expected {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_broken_connection_keeps_what_arrived_and_a_new_request_takes_over() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let bytes = data(4 << 20, 2);
    let path = create(&s, bytes.len() as u64, "cut.bin").await;

    // The client is cut off after 1 MiB: that MiB is kept.
    let c = partial_patch(&t.base, &s, &path, 0, bytes.len(), &bytes[..1 << 20]).await;
    drop(c);
    wait_for_offset(&s, &path, 1 << 20).await;

    // A request that hangs after its second MiB (the server has not noticed the client is
    // gone): a new one takes over; the old one saves what it had, so the new offset is
    // refused (409) and HEAD tells the real one.
    let mut hanging = partial_patch(
        &t.base,
        &s,
        &path,
        1 << 20,
        bytes.len() - (1 << 20),
        &bytes[1 << 20..2 << 20],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = patch(&s, &path, 1 << 20, &bytes[1 << 20..]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(offset(&s, &path).await, 2 << 20);
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        hanging.read_to_end(&mut answer),
    )
    .await;
    drop(hanging);
    let r = patch(&s, &path, 2 << 20, &bytes[2 << 20..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets",
            Some(json!({"asset": {"upload_uid": upload_uid(&path)}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(served(&s, &v["asset"]).await, bytes);
}

#[tokio::test]
async fn after_sigkill_a_client_resumes_at_the_acknowledged_offset() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::prepare_database(dir.path()).await;
    let server = Server::start(dir.path());
    let s = server.login().await.with_new_stack("Crash").await;
    let bytes = data(6 << 20, 3);
    let path = create(&s, bytes.len() as u64, "crash.bin").await;
    let r = patch(&s, &path, 0, &bytes[..2 << 20]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Two more MiB arrive, unacknowledged, then the server dies.
    let c = partial_patch(
        &server.base,
        &s,
        &path,
        2 << 20,
        bytes.len() - (2 << 20),
        &bytes[2 << 20..4 << 20],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.kill();
    drop(c);

    let server = Server::start(dir.path());
    let mut s2 = server.login().await;
    s2.api_key = s.api_key.clone();
    let at = offset(&s2, &path).await;
    assert_eq!(at, 2 << 20, "the acknowledged offset");
    let r = patch(&s2, &path, at, &bytes[at as usize..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (st, v) = s2
        .call(
            Method::POST,
            "/v3/assets",
            Some(json!({"asset": {"upload_uid": upload_uid(&path)}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let digest = format!("sha256-{}", b64(&Sha256::digest(&bytes)));
    assert_eq!(v["asset"]["integrity"], digest);
    assert_eq!(served(&s2, &v["asset"]).await, bytes);
}
