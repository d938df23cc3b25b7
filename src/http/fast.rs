//! The delivery fast path (§4 Delivery): anonymous GET/HEAD requests
//! for version and permanent URLs of public stacks, answered straight from the in-memory
//! index ([`delivery::resolve_public`]) with the same headers as the router's handler
//! ([`delivery::response_headers`]); large local files go out with `sendfile(2)`, as from
//! nginx.
//!
//! It answers only what it can answer entirely from memory with a 200, 206 or 304. Any
//! other request (another route, credentials, `?environment=`, a token, a body, an error
//! answer, HTTP/1.0, an unusual header) hands the connection, with the bytes already read,
//! to hyper and the router for the rest of its life, so the two paths cannot disagree:
//! there is one implementation of everything but the happy path's byte shuffling.

use std::io::{self, IoSlice, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::extract::Params;
use crate::app::App;
use crate::delivery::{self, Answer, Conditionals, Outcome, Prepared, Target};
use crate::ids::{ApiKey, Uid};

/// A head longer than this goes to hyper (whose own limit is larger; past it, hyper
/// answers 431).
const MAX_HEAD: usize = 16 * 1024;
/// More request headers than this go to hyper.
const MAX_HEADERS: usize = 48;
/// An idle keep-alive connection (or a head that does not arrive) is closed after this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Local files larger than this are sent with `sendfile(2)` from the page cache; smaller
/// ones (and files up to [`delivery::MAX_BODY`] in S3) from the in-memory body cache.
const MEMORY_MAX: u64 = 64 << 10;
/// Bytes per `sendfile` call; the socket's buffer usually takes less.
const SENDFILE_CHUNK: usize = 16 << 20;

/// How the fast path left a connection.
pub enum End {
    /// Closed (by the client, an error, a timeout, `Connection: close` or shutdown).
    Closed,
    /// Not a request the fast path answers: the stream and the bytes read from it so far.
    Handover {
        /// The connection.
        stream: TcpStream,
        /// Read but not answered; hyper reads these first.
        read: Bytes,
    },
}

/// Serves requests on `stream` while they are fast-path requests.
///
/// Runs on a delivery worker; anything that needs the database or S3 (an asset missing
/// from the index, a small body not in memory) is done on `main`, which owns those pools.
pub async fn serve(
    app: &Arc<App>,
    main: &Handle,
    mut stream: TcpStream,
    stop: &CancellationToken,
) -> End {
    let mut buf = BytesMut::with_capacity(4096);
    let mut head = Vec::with_capacity(1024);
    let idle = tokio::time::sleep(IDLE_TIMEOUT);
    // Made once per connection: registering a waiter per request would take a lock that
    // every connection shares.
    let stopped = stop.cancelled();
    tokio::pin!(idle, stopped);
    let mut started = Instant::now();
    loop {
        let mut loaded = false;
        let (len, plan) = loop {
            match step(app, &buf, &mut head) {
                Step::Serve(len, plan) => break (len, plan),
                Step::Handover => return handover(stream, buf),
                Step::Load { api_key, asset_uid } => {
                    // Once per request: an asset that is still missing afterwards (unknown,
                    // or changing right now) is the router's to answer.
                    if loaded || !load(app, main, api_key, asset_uid).await {
                        return handover(stream, buf);
                    }
                    loaded = true;
                    continue;
                }
                Step::Partial if buf.len() > MAX_HEAD => return handover(stream, buf),
                Step::Partial => {}
            }
            let waiting = buf.is_empty();
            tokio::select! {
                read = stream.read_buf(&mut buf) => match read {
                    Ok(0) | Err(_) => return End::Closed,
                    Ok(_) => {}
                },
                () = &mut stopped, if waiting => return End::Closed,
                // The timer is re-armed only when it fires (resetting it per request costs
                // more than the rest of a 304): closes once no request has started within
                // the timeout.
                () = &mut idle => {
                    let deadline = started + IDLE_TIMEOUT;
                    if Instant::now() >= deadline {
                        return End::Closed;
                    }
                    idle.as_mut().reset(deadline);
                }
            }
        };
        let Some(body) = body(app, main, plan.body).await else {
            return handover(stream, buf);
        };
        let sent = match body {
            Body::Empty => write_both(&mut stream, &head, &[]).await,
            Body::Memory(bytes) => write_both(&mut stream, &head, &bytes).await,
            Body::File { file, start, count } => match send_more(&stream, &head).await {
                Ok(()) => send_file(&stream, &file, start, count).await,
                Err(e) => Err(e),
            },
        };
        buf.advance(len);
        started = Instant::now();
        if sent.is_err() || plan.close || stop.is_cancelled() {
            let _ = stream.shutdown().await;
            return End::Closed;
        }
    }
}

/// Loads an asset's index entry; false when there is none (or the ids are malformed).
async fn load(app: &Arc<App>, main: &Handle, api_key: String, asset_uid: String) -> bool {
    let (Some(key), Some(uid)) = (ApiKey::parse(&api_key), Uid::parse(&asset_uid)) else {
        return false;
    };
    let app = app.clone();
    let loaded = main.spawn(async move {
        matches!(
            delivery::hot_asset(&app, key.as_str(), uid.as_str()).await,
            Ok(Some(_))
        )
    });
    loaded.await.unwrap_or(false)
}

fn handover(stream: TcpStream, buf: BytesMut) -> End {
    End::Handover {
        stream,
        read: buf.freeze(),
    }
}

/// A request the fast path answers; its head is already written.
struct Plan {
    body: BodyPlan,
    close: bool,
}

enum Step {
    /// The head is not complete yet.
    Partial,
    /// Not ours.
    Handover,
    /// The asset is not in the index yet.
    Load { api_key: String, asset_uid: String },
    /// A head of this many bytes, answered so.
    Serve(usize, Plan),
}

/// Parses the head at the start of `buf`, decides whether the fast path answers it, and if
/// so writes the answer's head into `head`.
fn step(app: &App, buf: &[u8], head: &mut Vec<u8>) -> Step {
    if buf.is_empty() {
        return Step::Partial;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Step::Partial,
        Err(_) => return Step::Handover,
    };
    let Some(p) = parse(&req) else {
        return Step::Handover;
    };
    app.hot.with(p.asset_uid, |asset| {
        // Not in the index (new, changed or evicted): loaded, then the head is read again.
        let Some(asset) = asset else {
            return Step::Load {
                api_key: p.api_key.to_owned(),
                asset_uid: p.asset_uid.to_owned(),
            };
        };
        let Some(answer) = delivery::resolve_public(asset, p.api_key, &p.target) else {
            return Step::Handover;
        };
        let outcome = match delivery::evaluate(&p.conditionals, answer.file) {
            o @ (Outcome::Full | Outcome::Partial { .. } | Outcome::NotModified) => o,
            Outcome::PreconditionFailed | Outcome::RangeNotSatisfiable => return Step::Handover,
        };
        let Some(body) = body_plan(app, answer.file, &outcome, p.head_only) else {
            return Step::Handover;
        };
        head.clear();
        write_head(app, answer, &outcome, &p, head);
        Step::Serve(
            len,
            Plan {
                body,
                close: p.close,
            },
        )
    })
}

/// What a delivery request head asks for.
struct Parsed<'a> {
    head_only: bool,
    api_key: &'a str,
    asset_uid: &'a str,
    target: Target,
    conditionals: Conditionals<'a>,
    close: bool,
    download: bool,
}

/// Reads a head the fast path may answer; `None` for anything else.
fn parse<'a>(req: &httparse::Request<'_, 'a>) -> Option<Parsed<'a>> {
    let head_only = match req.method? {
        "GET" => false,
        "HEAD" => true,
        _ => return None,
    };
    if req.version? != 1 {
        return None;
    }
    let (path, query) = match req.path?.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (req.path?, None),
    };
    let mut segments = path.strip_prefix("/v3/assets/")?.split('/');
    let (api_key, asset_uid, third) = (segments.next()?, segments.next()?, segments.next()?);
    let target = match (segments.next(), segments.next()) {
        // §2.2 permanent URL; slugs may arrive percent-encoded.
        (None, _) if !third.is_empty() => Target::Slug(
            percent_encoding::percent_decode_str(third)
                .decode_utf8()
                .ok()?
                .into_owned(),
        ),
        // §2.1 version URL: the file uid decides, the name segment is not checked.
        (Some(name), None) if !name.is_empty() && !third.contains('%') => Target::Version {
            file_uid: third.to_owned(),
        },
        _ => return None,
    };
    let mut c = Conditionals::default();
    let mut close = false;
    for h in req.headers.iter() {
        let name = h.name;
        let slot = if name.eq_ignore_ascii_case("if-none-match") {
            &mut c.if_none_match
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            &mut c.if_modified_since
        } else if name.eq_ignore_ascii_case("if-match") {
            &mut c.if_match
        } else if name.eq_ignore_ascii_case("if-unmodified-since") {
            &mut c.if_unmodified_since
        } else if name.eq_ignore_ascii_case("range") {
            &mut c.range
        } else if name.eq_ignore_ascii_case("if-range") {
            &mut c.if_range
        } else if name.eq_ignore_ascii_case("connection") {
            close |= h
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            continue;
        } else if ["authtoken", "authorization"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            // §2.3 management downloads need the database.
            if !h.value.trim_ascii().is_empty() {
                return None;
            }
            continue;
        } else if ["content-length", "transfer-encoding", "expect", "upgrade"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            return None;
        } else {
            continue;
        };
        // Repeated fields and non-ASCII values: the router's semantics apply.
        let visible = h
            .value
            .iter()
            .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
        if slot.is_some() || !visible {
            return None;
        }
        *slot = Some(std::str::from_utf8(h.value).ok()?);
    }
    let mut download = false;
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        let params = Params::from_query(Some(q));
        // Published versions and tokens need the database.
        if params.get("environment").is_some_and(|e| !e.is_empty())
            || params.get("access_token").is_some()
        {
            return None;
        }
        download = params.flag("dl") || params.flag("download");
    }
    Some(Parsed {
        head_only,
        api_key,
        asset_uid,
        target,
        conditionals: c,
        close,
        download,
    })
}

/// What follows the head.
enum Body {
    Empty,
    Memory(Bytes),
    File {
        file: Arc<std::fs::File>,
        start: u64,
        count: u64,
    },
}

/// Where the body comes from: known now, or after some I/O.
enum BodyPlan {
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
fn body_plan(app: &App, file: &Prepared, outcome: &Outcome, head_only: bool) -> Option<BodyPlan> {
    let (start, count) = match *outcome {
        _ if head_only => return Some(BodyPlan::Ready(Body::Empty)),
        Outcome::Full => (0, file.size),
        Outcome::Partial { start, end } => (start, end - start + 1),
        _ => return Some(BodyPlan::Ready(Body::Empty)),
    };
    let (sha, len) = (file.sha256(), file.size);
    if len > MEMORY_MAX {
        if let Some(file) = app.hot.file(sha) {
            return Some(BodyPlan::Ready(Body::File { file, start, count }));
        }
        if let Some(path) = app.blobs.local_path(sha) {
            let sha = sha.to_owned();
            return Some(BodyPlan::Open {
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
    match app.hot.body(sha) {
        Some(bytes) => memory(bytes, len, start, count).map(BodyPlan::Ready),
        None => Some(BodyPlan::Fetch {
            sha: sha.to_owned(),
            len,
            start,
            count,
        }),
    }
}

fn memory(bytes: Bytes, len: u64, start: u64, count: u64) -> Option<Body> {
    (bytes.len() as u64 == len)
        .then(|| Body::Memory(bytes.slice(start as usize..(start + count) as usize)))
}

/// The body, opened before anything is sent so that this request reads these exact bytes
/// even if the asset is replaced or the blob collected meanwhile (§4). `None` hands the
/// request to the router (a missing blob is its 500 to report).
async fn body(app: &Arc<App>, main: &Handle, plan: BodyPlan) -> Option<Body> {
    match plan {
        BodyPlan::Ready(body) => Some(body),
        BodyPlan::Open {
            sha,
            path,
            start,
            count,
        } => {
            let file = Arc::new(tokio::fs::File::open(path).await.ok()?.into_std().await);
            app.hot.put_file(&sha, file.clone());
            Some(Body::File { file, start, count })
        }
        BodyPlan::Fetch {
            sha,
            len,
            start,
            count,
        } => {
            let (owner, key) = (app.clone(), sha.clone());
            let read = main.spawn(async move { owner.blobs.read_all(&key).await });
            let bytes = read.await.ok()?.ok()?;
            app.hot.put_body(&sha, bytes.clone());
            memory(bytes, len, start, count)
        }
    }
}

/// Status line and headers, byte for byte what the router's handler would send.
fn write_head(app: &App, answer: Answer<'_>, outcome: &Outcome, p: &Parsed<'_>, out: &mut Vec<u8>) {
    let len = answer.file.size;
    let not_modified = *outcome == Outcome::NotModified;
    out.extend_from_slice(match outcome {
        Outcome::Partial { .. } => b"HTTP/1.1 206 Partial Content\r\n",
        Outcome::NotModified => b"HTTP/1.1 304 Not Modified\r\n",
        _ => b"HTTP/1.1 200 OK\r\n",
    });
    delivery::response_headers(app, answer, p.download, not_modified, |name, value| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
    // Writing to a Vec cannot fail.
    match *outcome {
        Outcome::Partial { start, end } => {
            let _ = write!(
                out,
                "content-range: bytes {start}-{end}/{len}\r\ncontent-length: {}\r\n",
                end - start + 1
            );
        }
        Outcome::NotModified => {}
        _ => {
            let _ = write!(out, "content-length: {len}\r\n");
        }
    }
    if p.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"date: ");
    http_date(out);
    out.extend_from_slice(b"\r\n\r\n");
}

/// Appends the current time as an HTTP date, formatted once per second per thread (as
/// hyper does).
fn http_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            *d = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(d.1.as_bytes());
    });
}

/// Writes `a` then `b` with as few system calls as the socket allows.
async fn write_both(stream: &mut TcpStream, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
    while !a.is_empty() || !b.is_empty() {
        let n = stream
            .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_a = n.min(a.len());
        a = &a[from_a..];
        b = &b[n - from_a..];
    }
    Ok(())
}

/// Writes `bytes` with `MSG_MORE`: the kernel holds them back to share full-sized segments
/// with the file that follows, as nginx's `tcp_nopush` does.
async fn send_more(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
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
) -> io::Result<()> {
    let end = offset + count;
    while offset < end {
        stream.writable().await?;
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
