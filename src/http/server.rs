//! The listener: accepts connections, gives each to the delivery fast path first
//! ([`super::fast`]), and hands those it does not answer to hyper with the router, replaying
//! the bytes already read. Shutdown is graceful: no new connections, in-flight requests
//! finish, idle keep-alive connections close.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::{Buf, Bytes};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admission::{self, Admission, Place};
use super::extract::ClientAddr;
use super::fast::{self, End};
use crate::app::App;

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open requests.
///
/// Connections are accepted here and dealt round-robin to one single-threaded runtime per
/// core (nginx's worker model), where the fast path runs: a connection's work stays on one
/// core. Connections handed to the router, and everything that touches the database or S3,
/// run on the runtime that called `serve`, which owns those pools.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let admission = Admission::new(
        app.config.max_connections_per_client,
        app.trusted_proxies.clone(),
    );
    let shared = Shared {
        app: app.clone(),
        router: super::router(app),
        main: Handle::current(),
        stop: CancellationToken::new(),
        stopping: Arc::new(AtomicBool::new(false)),
        connections: TaskTracker::new(),
    };
    // Ends the workers even if this future is dropped before `shutdown` resolves.
    let _stop = StopOnDrop(
        shared.stop.clone(),
        shared.stopping.clone(),
        shared.connections.clone(),
    );
    // Each worker's connections watch a token of its own, cancelled with `stop`: a
    // request's check touches no lock that the other cores share.
    let workers: Vec<_> = start_workers(&shared.connections)?
        .into_iter()
        .map(|h| (h, shared.stop.child_token()))
        .collect();
    tokio::pin!(shutdown);
    for next in 0.. {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (stream, peer) = stream;
        let (worker, stop) = &workers[next % workers.len()];
        let Some(place) = admission.admit(peer.ip()) else {
            shared.connections.spawn(admission::refuse(stream));
            continue;
        };
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        worker.spawn(shared.connections.track_future(connection(
            shared.clone(),
            stream,
            place,
            stop.clone(),
        )));
    }
    drop(listener);
    shared.stopping.store(true, Ordering::Relaxed);
    shared.stop.cancel();
    shared.connections.close();
    shared.connections.wait().await;
    Ok(())
}

/// What every connection needs.
#[derive(Clone)]
struct Shared {
    app: Arc<App>,
    router: Router,
    /// The runtime that called [`serve`]: database, S3 and the router run there.
    main: Handle,
    stop: CancellationToken,
    /// Set with `stop`: what a connection reads after each answer (reading a token takes
    /// its lock).
    stopping: Arc<AtomicBool>,
    connections: TaskTracker,
}

struct StopOnDrop(CancellationToken, Arc<AtomicBool>, TaskTracker);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.1.store(true, Ordering::Relaxed);
        self.0.cancel();
        self.2.close();
    }
}

/// Starts one thread per core, each running a single-threaded runtime until every tracked
/// connection has ended after `connections` is closed.
fn start_workers(connections: &TaskTracker) -> io::Result<Vec<Handle>> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..n)
        .map(|i| {
            let (tx, rx) = std::sync::mpsc::channel();
            let connections = connections.clone();
            std::thread::Builder::new()
                .name(format!("perma-delivery-{i}"))
                .spawn(move || {
                    // Delivery misses on SQLite may keep a read snapshot for a short while
                    // (db/direct.rs); a timer on this thread ends it, busy or idle.
                    crate::db::direct::hold_snapshots();
                    // On PostgreSQL, its misses go over a connection of its own.
                    crate::delivery::on_worker_thread();
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => {
                            rt.spawn(async {
                                let period = crate::db::direct::MAX_SNAPSHOT_AGE;
                                let mut tick = tokio::time::interval(period);
                                loop {
                                    tick.tick().await;
                                    crate::db::direct::release();
                                }
                            });
                            let _ = tx.send(Ok(rt.handle().clone()));
                            rt.block_on(connections.wait());
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                })?;
            rx.recv().map_err(io::Error::other)?
        })
        .collect()
}

/// One connection, on a worker: the fast path while it can answer; then hyper, on the main
/// runtime, for the rest of its life.
async fn connection(
    shared: Shared,
    stream: std::net::TcpStream,
    place: Place,
    stop: CancellationToken,
) {
    let Ok(stream) = TcpStream::from_std(stream) else {
        return;
    };
    // Small answers go out at once (nginx's tcp_nodelay default).
    let _ = stream.set_nodelay(true);
    let (stream, read) =
        match fast::serve(&shared.app, &shared.main, stream, &stop, &shared.stopping).await {
            End::Closed => return,
            End::Handover { stream, read } => (stream, read),
        };
    let Ok(stream) = stream.into_std() else {
        return;
    };
    let main = shared.main.clone();
    let connections = shared.connections.clone();
    main.spawn(connections.track_future(routed(shared, stream, read, place)));
}

/// A connection served by hyper and the router.
async fn routed(shared: Shared, stream: std::net::TcpStream, read: Bytes, _place: Place) {
    let Ok(stream) = TcpStream::from_std(stream) else {
        return;
    };
    let peer = ClientAddr(stream.peer_addr().ok().map(|a| a.ip()));
    let io = TokioIo::new(Rewind {
        read,
        stream,
        patience: shared.app.send_timeout(),
        stalled: None,
    });
    // Every request learns the client's address (login limits).
    let router = shared.router;
    let app = shared.app.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let client = forwarded_for(peer, &app.trusted_proxies, req.headers());
            req.extensions_mut().insert(client);
            let mut router = router.clone();
            async move { tower_service::Service::call(&mut router, req).await }
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.app.head_timeout())
        .serve_connection(io, service);
    tokio::pin!(conn);
    let finished = tokio::select! {
        _ = conn.as_mut() => true,
        () = shared.stop.cancelled() => false,
    };
    if !finished {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// The client a request comes from: the peer, or, when the peer is a proxy listed in
/// `PERMA_TRUSTED_PROXIES` (none by default, not even loopback: anything on the host
/// could otherwise claim any address), the address that proxy appended last to
/// `X-Forwarded-For` (nginx's `$proxy_add_x_forwarded_for`). Another peer's
/// `X-Forwarded-For` is not believed.
fn forwarded_for(
    peer: ClientAddr,
    trusted: &[crate::ids::Network],
    headers: &hyper::HeaderMap,
) -> ClientAddr {
    match peer.0 {
        Some(ip) if trusted.iter().any(|n| n.contains(ip)) => {
            let last = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|a| a.trim().parse().ok());
            ClientAddr(last.or(Some(ip)))
        }
        _ => peer,
    }
}

/// A stream that first yields bytes already read from it, and fails writes with
/// `TimedOut` once the client has taken no bytes for `patience` (nginx's
/// `send_timeout`; hyper has none), so a client that stops reading cannot hold the
/// connection.
struct Rewind {
    read: Bytes,
    stream: TcpStream,
    patience: Duration,
    /// Armed while a write waits for the client.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Rewind {
    /// Turns a pending write into `TimedOut` once it has waited `patience`; any progress
    /// disarms the timer.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => {
                let patience = self.patience;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(patience)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
                    Poll::Pending => Poll::Pending,
                }
            }
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
