//! The body of a fast-path answer: decided from the caches, fetched when it is not there
//! yet, and sent: from memory with one vectored write, or from a local file with
//! `sendfile(2)` (no copy through user space, no buffer per request).

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::runtime::Handle;

use crate::app::App;
use crate::delivery::{self, BodyRange, Delivery};

/// Local files larger than this are sent with `sendfile(2)` from the page cache; smaller
/// ones (and files up to [`delivery::MAX_BODY`] in S3) from the in-memory body cache.
const MEMORY_MAX: u64 = 64 << 10;
/// Bytes per `sendfile` call; the socket's buffer usually takes less.
const SENDFILE_CHUNK: usize = 16 << 20;

/// What follows the head.
pub(super) enum Body {
    Empty,
    Memory(Bytes),
    File {
        file: Arc<std::fs::File>,
        start: u64,
        count: u64,
    },
}

/// Where the body comes from: known now, or after some I/O.
pub(super) enum Plan {
    Ready(Body),
    /// A large local file not open yet.
    Open {
        sha: String,
        path: std::path::PathBuf,
        start: u64,
        count: u64,
    },
    /// A small file not in memory yet.
    Fetch {
        sha: String,
        len: u64,
        start: u64,
        count: u64,
    },
}

/// Decides the body from the caches. `None` hands the request to the router (large files
/// in S3 are its streams).
pub(super) fn plan(d: &Delivery, sha: &str, len: u64, range: Option<BodyRange>) -> Option<Plan> {
    let Some(BodyRange { start, count }) = range else {
        return Some(Plan::Ready(Body::Empty));
    };
    if len > MEMORY_MAX {
        if let Some(file) = d.hot.file(sha) {
            return Some(Plan::Ready(Body::File { file, start, count }));
        }
        if let Some(path) = d.blobs.local_path(sha) {
            let sha = sha.to_owned();
            return Some(Plan::Open {
                sha,
                path,
                start,
                count,
            });
        }
    }
    if len > delivery::MAX_BODY {
        return None;
    }
    match d.hot.body(sha) {
        Some(bytes) => Some(Plan::Ready(memory(&bytes, start, count))),
        None => Some(Plan::Fetch {
            sha: sha.to_owned(),
            len,
            start,
            count,
        }),
    }
}

/// The requested range of a cached body ([`Delivery::small_body`] checked its length).
fn memory(bytes: &Bytes, start: u64, count: u64) -> Body {
    Body::Memory(bytes.slice(start as usize..(start + count) as usize))
}

/// The body, opened or read before anything is sent so that this request reads these exact bytes
/// even if the asset is replaced or the blob collected meanwhile (§4). `None` hands the
/// request to the router (a missing blob is its 500 to report).
pub(super) async fn fetch(app: &Arc<App>, main: &Handle, plan: Plan) -> Option<Body> {
    match plan {
        Plan::Ready(body) => Some(body),
        Plan::Open {
            sha,
            path,
            start,
            count,
        } => {
            let file = Arc::new(tokio::fs::File::open(path).await.ok()?.into_std().await);
            app.delivery.hot.put_file(&sha, file.clone());
            Some(Body::File { file, start, count })
        }
        Plan::Fetch {
            sha,
            len,
            start,
            count,
        } => {
            let owner = app.clone();
            let read = main.spawn(async move { owner.delivery.small_body(&sha, len).await });
            let bytes = read.await.ok()?.ok()?;
            Some(memory(&bytes, start, count))
        }
    }
}

/// Sends the head and then the body.
/// Fails with `TimedOut` when the client takes no bytes for `patience` (a client that
/// stops reading must not hold the connection, nginx's `send_timeout`).
pub(super) async fn send(
    stream: &mut TcpStream,
    head: &[u8],
    body: Body,
    patience: Duration,
) -> io::Result<()> {
    match body {
        Body::Empty => write_both(stream, head, &[], patience).await,
        Body::Memory(bytes) => write_both(stream, head, &bytes, patience).await,
        Body::File { file, start, count } => {
            send_more(stream, head, patience).await?;
            send_file(stream, &file, start, count, patience).await
        }
    }
}

/// `fut`, or `TimedOut` after `patience`.
async fn within<T>(
    patience: Duration,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(patience, fut)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// Writes `a` then `b` with as few system calls as the socket allows.
async fn write_both(
    stream: &mut TcpStream,
    mut a: &[u8],
    mut b: &[u8],
    patience: Duration,
) -> io::Result<()> {
    // Most answers fit the socket's buffer: written at once, with no timer armed.
    while !a.is_empty() || !b.is_empty() {
        match stream.try_write_vectored(&[IoSlice::new(a), IoSlice::new(b)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => (a, b) = advance(a, b, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    while !a.is_empty() || !b.is_empty() {
        let n = within(
            patience,
            stream.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]),
        )
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        (a, b) = advance(a, b, n);
    }
    Ok(())
}

/// `a` then `b` after `n` of their bytes were written.
fn advance<'a, 'b>(a: &'a [u8], b: &'b [u8], n: usize) -> (&'a [u8], &'b [u8]) {
    let from_a = n.min(a.len());
    (&a[from_a..], &b[n - from_a..])
}

/// Writes `bytes` with `MSG_MORE`: the kernel holds them back to share full-sized segments
/// with the file that follows, as nginx's `tcp_nopush` does.
async fn send_more(stream: &TcpStream, mut bytes: &[u8], patience: Duration) -> io::Result<()> {
    while !bytes.is_empty() {
        within(patience, stream.writable()).await?;
        match stream.try_io(Interest::WRITABLE, || {
            rustix::net::send(stream, bytes, rustix::net::SendFlags::MORE).map_err(io::Error::from)
        }) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends `count` bytes of `file` from `offset` with `sendfile(2)`: no copy through user
/// space, no buffer per request.
async fn send_file(
    stream: &TcpStream,
    file: &std::fs::File,
    mut offset: u64,
    count: u64,
    patience: Duration,
) -> io::Result<()> {
    let end = offset + count;
    while offset < end {
        within(patience, stream.writable()).await?;
        let n = (end - offset).min(SENDFILE_CHUNK as u64) as usize;
        match stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, Some(&mut offset), n).map_err(io::Error::from)
        }) {
            // The file is shorter than its row says: the client sees a short body.
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
