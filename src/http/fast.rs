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

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod body;

use super::extract::Params;
use crate::app::App;
use crate::delivery::{self, Answer, Conditionals, Outcome, Target};
use crate::ids::{ApiKey, Uid};

/// A head longer than this goes to hyper (whose own limit is larger; past it, hyper
/// answers 431).
const MAX_HEAD: usize = 16 * 1024;
/// More request headers than this go to hyper.
const MAX_HEADERS: usize = 48;
/// An idle keep-alive connection (or a head that does not arrive) is closed after this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
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
        let Some(body) = body::fetch(app, main, plan.body).await else {
            return handover(stream, buf);
        };
        let sent = body::send(&mut stream, &head, body).await;
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
    body: body::Plan,
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
        let Some(body) = body::plan(app, answer.file, &outcome, p.head_only) else {
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
