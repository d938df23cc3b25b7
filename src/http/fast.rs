//! The delivery fast path (§4 Delivery): anonymous GET/HEAD requests for version and
//! permanent URLs of public stacks, answered straight from the in-memory index. It reads
//! the head with `httparse` into the same [`Classified`] as the router, resolves it with
//! [`delivery::resolve_public`] and writes the same [`delivery::Plan`]; large local files go
//! out with `sendfile(2)`, as from nginx.
//!
//! Any request the index alone cannot answer (another route, credentials, `?environment=`,
//! a token, a body, an error answer, HTTP/1.0, an unusual header) hands the connection,
//! with the bytes already read, to hyper and the router for the rest of its life.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod body;
mod head;

use crate::app::App;
use crate::delivery::{
    self, renditions, Classified, DeliveryHeaders, DeliveryPath, DeliveryQuery, Method, Writer,
};
use crate::ids::{ApiKey, Uid};
use crate::insights::{Hit, Kind};
use crate::metrics::{Access, Class, Path as MetricsPath};

/// A head longer than this goes to hyper (whose own limit is larger; past it, hyper
/// answers 431).
const MAX_HEAD: usize = 16 * 1024;
/// More request headers than this go to hyper.
const MAX_HEADERS: usize = 48;
/// Index loads one request may wait for before the router takes it.
const MAX_LOADS: u32 = 3;
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
    stopping: &AtomicBool,
) -> End {
    let mut buf = BytesMut::with_capacity(4096);
    let mut head = Vec::with_capacity(1024);
    // An idle keep-alive connection, or a head that does not arrive, is closed after this
    // (counted from the connection's start or the previous answer).
    let head_timeout = app.head_timeout();
    let idle = tokio::time::sleep(head_timeout);
    // Made once per connection: registering a waiter per request would take a lock that
    // every connection shares.
    let stopped = stop.cancelled();
    tokio::pin!(idle, stopped);
    let mut started = Instant::now();
    // The client's address, for the access log only.
    let client = app
        .access_log
        .as_ref()
        .and_then(|_| stream.peer_addr().ok().map(|a| a.ip()));
    loop {
        let mut loads = 0;
        // When the request's head was complete (metrics: time to the answer's head).
        let mut arrived: Option<Instant> = None;
        let (len, plan) = loop {
            let next = step(app, &buf, &mut head);
            if arrived.is_none() && !matches!(next, Step::Partial) {
                arrived = Some(Instant::now());
            }
            match next {
                Step::Serve(len, plan) => break (len, plan),
                Step::Handover => return handover(stream, buf),
                Step::Load { api_key, asset_uid } => {
                    // An unknown asset is the router's to answer (404, 410). A loaded one
                    // can still be gone when the head is read again (changed, or evicted
                    // under a small budget): a few more tries before the connection goes
                    // to the router for good.
                    if loads == MAX_LOADS || !load(app, api_key, asset_uid).await {
                        return handover(stream, buf);
                    }
                    loads += 1;
                    continue;
                }
                Step::Partial if buf.len() > MAX_HEAD => return handover(stream, buf),
                Step::Partial => {}
            }
            let waiting = buf.is_empty();
            tokio::select! {
                // In this order: no random draw per wait.
                biased;
                read = stream.read_buf(&mut buf) => match read {
                    Ok(0) | Err(_) => return End::Closed,
                    Ok(_) => {}
                },
                () = &mut stopped, if waiting => return End::Closed,
                // The timer is re-armed only when it fires (resetting it per request costs
                // more than the rest of a 304): closes once no request has started within
                // the timeout.
                () = &mut idle => {
                    let deadline = started + head_timeout;
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
        let elapsed = arrived.map_or(Duration::ZERO, |t| t.elapsed());
        app.metrics.record(
            Class::Delivery,
            MetricsPath::Fast,
            plan.status,
            plan.bytes,
            elapsed,
        );
        if let (Some(log), Some((method, target))) = (&app.access_log, &plan.logged) {
            log.log(&Access {
                client,
                method,
                target,
                status: plan.status,
                bytes: plan.bytes,
                elapsed,
                path: MetricsPath::Fast,
                request_id: None,
            });
        }
        let sent = body::send(&mut stream, &head, body, app.send_timeout()).await;
        buf.advance(len);
        started = Instant::now();
        if sent.is_err() || plan.close || stopping.load(Ordering::Relaxed) {
            let _ = stream.shutdown().await;
            return End::Closed;
        }
    }
}

/// Loads an asset's index entry; false when there is none (or the ids are malformed).
/// Waits here, on the worker, for the index loader (which runs on the main runtime and
/// reads misses in batches): no task hop per miss beyond the loader's own queue.
async fn load(app: &Arc<App>, api_key: String, asset_uid: String) -> bool {
    let (Some(key), Some(uid)) = (ApiKey::parse(&api_key), Uid::parse(&asset_uid)) else {
        return false;
    };
    matches!(
        app.delivery.hot_asset(key.as_str(), uid.as_str()).await,
        Ok(Some(_))
    )
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
    /// For metrics and the access log: status and body bytes.
    status: u16,
    bytes: u64,
    /// Method and request target, only when the access log is on.
    logged: Option<(&'static str, String)>,
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
    let Some((request, close)) = classify(&req) else {
        return Step::Handover;
    };
    let d = &app.delivery;
    let path = &request.path;
    d.hot.with_memo(&path.asset_uid, |asset, memo| {
        // Not in the index (new, changed or evicted): loaded, then the head is read again.
        let Some(asset) = asset else {
            return Step::Load {
                api_key: path.api_key.clone().into_owned(),
                asset_uid: path.asset_uid.clone().into_owned(),
            };
        };
        let Some(mut answer) = delivery::resolve_public(asset, &path.api_key, &path.target) else {
            return Step::Handover;
        };
        // §11: a stored rendition this process knows is served from here like a file; a
        // rendition still to render (or a bad parameter) is the router's.
        let held;
        if let Some(query) = request
            .query
            .transform
            .filter(|_| !delivery::redirects(&answer, &request))
        {
            let f = answer.file;
            let sha = f.sha256();
            let source = renditions::Source {
                sha256: &sha,
                size: f.size,
                content_type: asset.content_type(f),
            };
            let class = renditions::accept_class(query, request.headers.accept);
            if let Some((r, vary)) = d.renditions.memo(&sha, query, class) {
                d.renditions.counters.served.add(1);
                held = r;
                answer.rendition = Some(&held);
                answer.vary_accept = vary;
            } else {
                match renditions::decide(query, request.headers.accept, source) {
                    Ok(renditions::Decision::Original { vary_accept }) => {
                        answer.vary_accept = vary_accept;
                    }
                    // An overlay is resolved like a request of its own: the router's.
                    Ok(renditions::Decision::Rendition(wanted))
                        if wanted.overlay_path().is_some() =>
                    {
                        return Step::Handover;
                    }
                    Ok(renditions::Decision::Rendition(wanted)) => {
                        let Some(r) = d.renditions.cached(&wanted.key) else {
                            return Step::Handover;
                        };
                        d.renditions.counters.served.add(1);
                        if answer.kind == delivery::UrlKind::Permanent {
                            d.renditions.note_permanent_query(&asset.asset_uid(), query);
                        }
                        d.renditions.remember_query(
                            &sha,
                            query,
                            class,
                            wanted.vary_accept,
                            r.clone(),
                        );
                        held = r;
                        answer.rendition = Some(&held);
                        answer.vary_accept = wanted.vary_accept;
                    }
                    Err(_) => return Step::Handover,
                }
            }
        }
        let kind = insights_kind(&answer);
        let plan = delivery::Plan::new(answer, &request);
        let (sha, size) = plan.blob();
        let Some(body) = body::plan(d, &sha, size, plan.body()) else {
            return Step::Handover;
        };
        head::write(d, &plan, memo, close, head);
        d.counters.count(Writer::Fast);
        app.insights.count(Hit {
            api_key: &path.api_key,
            asset_uid: &path.asset_uid,
            kind,
            status: plan.status(),
            bytes: plan.body().map_or(0, |r| r.count),
            referer: request.headers.referer,
        });
        let logged = app.access_log.as_ref().map(|_| {
            let method = match request.method {
                delivery::Method::Get => "GET",
                delivery::Method::Head => "HEAD",
            };
            (method, req.path.unwrap_or("").to_owned())
        });
        Step::Serve(
            len,
            Plan {
                body,
                close,
                status: plan.status(),
                bytes: plan.body().map_or(0, |r| r.count),
                logged,
            },
        )
    })
}

/// The URL kind link insights count an answer under (§17).
pub(super) fn insights_kind(answer: &delivery::Answer<'_>) -> Kind {
    if answer.rendition.is_some() {
        Kind::Rendition
    } else if answer.kind == delivery::UrlKind::Permanent {
        Kind::Permanent
    } else {
        Kind::Version
    }
}

/// Fuzzing entry (`fuzz/fuzz_targets/head.rs`): parses `buf` as [`step`] does and checks
/// what [`classify`] takes: a public GET or HEAD of an asset path, with exactly one Host.
pub(super) fn fuzz_head(buf: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(len)) = req.parse(buf) else {
        return;
    };
    assert!(len <= buf.len());
    let Some((request, _close)) = classify(&req) else {
        return;
    };
    assert!(matches!(req.method, Some("GET" | "HEAD")));
    assert_eq!(req.version, Some(1));
    assert!(request.is_public() && !request.headers.unusual);
    let hosts = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .count();
    assert_eq!(hosts, 1);
    let raw = req.path.unwrap_or("");
    assert!(raw.starts_with("/v3/assets/"), "{raw:?}");
    assert!(
        axum::http::uri::PathAndQuery::try_from(raw).is_ok_and(|p| p.as_str() == raw),
        "a target hyper would refuse or cut: {raw:?}"
    );
    // The conditional headers it will evaluate never panic, whatever the file.
    let _ = delivery::byte_range(request.headers.conditionals.range.unwrap_or(""), 4096);
}

/// Bytes a request target may hold on the fast path: those valid unescaped in both the
/// path and the query for the `http` crate's parser (RFC 3986 `pchar` and `/`, `?`), as
/// hyper reads the target. Anything else (a fragment `#`, which RFC 9112 §3.2 excludes
/// from a request target and `http` cuts off; `"`, `<`, `>`, `` ` ``, `{`, `}`, bytes
/// above 0x7F) goes to hyper, so that both paths read one target alike.
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] =
            matches!(b as u8, b'!' | b'$'..=b';' | b'=' | b'?'..=b'_' | b'a'..=b'z' | b'|' | b'~');
        b += 1;
    }
    t
};

/// Classifies a request head the fast path may answer (and whether the client asked to
/// close); `None` for anything else: another method or route, HTTP/1.0, a request the
/// index alone cannot answer (credentials, token, environment), or one with something
/// unusual for hyper to handle.
fn classify<'a>(req: &httparse::Request<'_, 'a>) -> Option<(Classified<'a>, bool)> {
    let method = match req.method? {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => return None,
    };
    if req.version? != 1 {
        return None;
    }
    let target = req.path?;
    if !target.bytes().all(|b| PLAIN[b as usize]) {
        return None;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut headers = DeliveryHeaders::default();
    let mut close = false;
    let mut hosts = 0;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= h
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        } else {
            headers.add(h.name, h.value);
        }
    }
    // RFC 9112 §3.2: exactly one Host; the router answers 400 otherwise.
    if hosts != 1 {
        return None;
    }
    let request = Classified {
        method,
        path: DeliveryPath::parse(path)?,
        query: DeliveryQuery::parse(query),
        headers,
    };
    (request.is_public() && !request.headers.unusual).then_some((request, close))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Target;

    const KEY: &str = "blt0123456789abcdef";
    const UID: &str = "blt1111111111111111";

    /// What a classified head asked for: target, close, download, if-none-match.
    type Seen = (Target, bool, bool, Option<String>);

    /// Parses `head` and classifies it: `None` hands over.
    fn run(head: &str) -> Option<Seen> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let status = req.parse(head.as_bytes()).expect("a valid head");
        assert!(status.is_complete(), "{head:?}");
        classify(&req).map(|(c, close)| {
            assert_eq!(
                (c.path.api_key.as_ref(), c.path.asset_uid.as_ref()),
                (KEY, UID)
            );
            (
                c.path.target.clone(),
                close,
                c.query.download,
                c.headers.conditionals.if_none_match.map(str::to_owned),
            )
        })
    }

    fn get(path: &str, extra: &str) -> String {
        format!("GET /v3/assets/{KEY}/{UID}{path} HTTP/1.1\r\nhost: x\r\n{extra}\r\n")
    }

    #[test]
    fn heads_the_fast_path_takes() {
        let slug = |s: &str| Target::Slug(s.into());
        let version = Target::Version {
            file_uid: "abc".into(),
        };
        let cases: Vec<(String, Option<Seen>)> = vec![
            (
                get("/logo.png", ""),
                Some((slug("logo.png"), false, false, None)),
            ),
            (
                get("/caf%C3%A9", ""),
                Some((slug("café"), false, false, None)),
            ),
            (
                get("/abc/a%20b.png", ""),
                Some((version.clone(), false, false, None)),
            ),
            // Classified here; `resolve_public` then leaves it to the router (401).
            (get("", ""), Some((Target::Latest, false, false, None))),
            (get("/s?dl=1", ""), Some((slug("s"), false, true, None))),
            (
                get("/s?download=true&width=3", ""),
                Some((slug("s"), false, true, None)),
            ),
            (
                get("/s?environment=", ""),
                Some((slug("s"), false, false, None)),
            ),
            (
                get("/s", "Connection: keep-alive, Close\r\n"),
                Some((slug("s"), true, false, None)),
            ),
            (
                get("/s", "If-None-Match: \"e\"\r\n"),
                Some((slug("s"), false, false, Some("\"e\"".into()))),
            ),
            (
                get("/s", "authtoken:  \r\n"),
                Some((slug("s"), false, false, None)),
            ),
            (
                format!("HEAD /v3/assets/{KEY}/{UID}/s HTTP/1.1\r\nHost: x\r\n\r\n"),
                Some((slug("s"), false, false, None)),
            ),
        ];
        for (head, want) in cases {
            assert_eq!(run(&head), want, "{head:?}");
        }
    }

    #[test]
    fn heads_it_hands_over() {
        let over = [
            // Not GET/HEAD, not HTTP/1.1, not a delivery path.
            format!("POST /v3/assets/{KEY}/{UID}/s HTTP/1.1\r\n\r\n"),
            format!("GET /v3/assets/{KEY}/{UID}/s HTTP/1.0\r\n\r\n"),
            "GET /v3/assets HTTP/1.1\r\n\r\n".to_owned(),
            "GET / HTTP/1.1\r\n\r\n".to_owned(),
            get("/%FF", ""),
            get("/a/b/c", ""),
            // Targets hyper cuts (a fragment) or refuses (a raw `<`, a byte above 0x7F).
            get("/#s", ""),
            get("/s#x", ""),
            get("/s?x=#", ""),
            get("/s<", ""),
            get("/s?x=<", ""),
            get("/caf\u{e9}.txt", ""),
            // Needs the database: credentials, tokens, environments.
            get("/s", "authtoken: abc\r\n"),
            get(
                "/s",
                &format!("Authorization: Bearer cs{}\r\n", "0".repeat(64)),
            ),
            get("/s?access_token=x", ""),
            get("/s?environment=production", ""),
            // For hyper: bodies, protocol switches, repeated or non-ASCII conditionals.
            get("/s", "content-length: 3\r\n"),
            get("/s", "transfer-encoding: chunked\r\n"),
            get("/s", "expect: 100-continue\r\n"),
            get("/s", "upgrade: websocket\r\n"),
            get("/s", "range: bytes=0-1\r\nrange: bytes=2-3\r\n"),
            get("/s", "if-match: \"\u{e9}\"\r\n"),
            // RFC 9112 §3.2: exactly one Host (the router answers 400).
            get("/s", "host: y\r\n"),
            format!("GET /v3/assets/{KEY}/{UID}/s HTTP/1.1\r\n\r\n"),
        ];
        for head in over {
            assert_eq!(run(&head), None, "{head:?}");
        }
    }
}
