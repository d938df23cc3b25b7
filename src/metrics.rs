//! Operational metrics and the access log. Counters are sharded per thread (each thread adds
//! to its own cache lines), so counting costs the delivery fast path no memory traffic
//! between cores; `GET /metrics` sums the shards and writes the Prometheus text format.
//!
//! The access log (`PERMA_ACCESS_LOG`) is written by a thread of its own from a bounded
//! queue: a request never waits for the disk, and a line that does not fit in the queue is
//! dropped and counted (`perma_access_log_dropped_total`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use crate::time::{iso8601, now_ms};

/// Shards of every counter.
pub const SHARDS: usize = 16;

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

/// This thread's shard (0..[`SHARDS`]): what per-thread tallies elsewhere index by.
pub fn shard() -> usize {
    SHARD.with(|&i| i)
}

/// A counter that threads add to without sharing cache lines.
#[derive(Debug, Default)]
pub struct ShardedCounter {
    shards: [PaddedU64; SHARDS],
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct PaddedU64(AtomicU64);

impl ShardedCounter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        SHARD.with(|&i| self.shards[i].0.fetch_add(n, Ordering::Relaxed));
    }

    /// The sum so far.
    pub fn get(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

/// What kind of route answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Asset bytes: version and permanent URLs (§2, §4).
    Delivery = 0,
    /// The Content Delivery API (§12): requests with a delivery token, and sync.
    DeliveryApi = 1,
    /// The management API (§5).
    Management = 2,
    /// The web UI's files.
    Ui = 3,
    /// `/healthz`, `/readyz`, `/metrics`.
    Health = 4,
}

const CLASSES: [&str; 5] = ["delivery", "delivery_api", "management", "ui", "health"];

/// Which writer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The delivery fast path.
    Fast = 0,
    /// The router (hyper and axum).
    Router = 1,
}

const PATHS: [&str; 2] = ["fast", "router"];
const STATUS: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Upper bounds of the latency buckets, in microseconds (then +Inf).
const BUCKETS_US: [u64; 11] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000, 10_000_000,
];
const SERIES: usize = CLASSES.len() * PATHS.len();
const REQUESTS: usize = SERIES * STATUS.len();
const BUCKETS: usize = SERIES * (BUCKETS_US.len() + 1);
const TOTAL: usize = REQUESTS + BUCKETS + 2 * SERIES;

#[repr(align(128))]
struct Shard([AtomicU64; TOTAL]);

/// Request counters, latency histograms and bytes sent, by route class and writer; and
/// the gauges the app owns (uploads in flight).
pub struct Metrics {
    enabled: bool,
    shards: Box<[Shard]>,
    /// Uploads being received now.
    pub uploads_in_flight: AtomicI64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl Metrics {
    /// Metrics that record (`enabled`) or ignore every request.
    pub fn new(enabled: bool) -> Self {
        let shards = (0..SHARDS)
            .map(|_| Shard(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect();
        Metrics {
            enabled,
            shards,
            uploads_in_flight: AtomicI64::new(0),
        }
    }

    /// Whether requests are recorded.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records one answer: its status, the bytes of its head and body, and the time from
    /// its request head to its answer's head being ready.
    pub fn record(&self, class: Class, path: Path, status: u16, bytes: u64, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        let series = class as usize * PATHS.len() + path as usize;
        let status = usize::from((status / 100).clamp(1, 5)) - 1;
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BUCKETS_US.len());
        SHARD.with(|&i| {
            let c = &self.shards[i].0;
            c[series * STATUS.len() + status].fetch_add(1, Ordering::Relaxed);
            c[REQUESTS + series * (BUCKETS_US.len() + 1) + bucket].fetch_add(1, Ordering::Relaxed);
            c[REQUESTS + BUCKETS + series].fetch_add(us, Ordering::Relaxed);
            c[REQUESTS + BUCKETS + SERIES + series].fetch_add(bytes, Ordering::Relaxed);
        });
    }

    fn sum(&self, i: usize) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0[i].load(Ordering::Relaxed))
            .sum()
    }

    /// Answers counted for a class and writer (all statuses).
    pub fn requests(&self, class: Class, path: Path) -> u64 {
        let series = class as usize * PATHS.len() + path as usize;
        (0..STATUS.len())
            .map(|s| self.sum(series * STATUS.len() + s))
            .sum()
    }

    /// Writes the request metrics in the Prometheus text format (version 0.0.4).
    pub fn render(&self, out: &mut String) {
        let series = || {
            (0..CLASSES.len())
                .flat_map(|c| (0..PATHS.len()).map(move |p| (c, p, c * PATHS.len() + p)))
        };
        out.push_str(
            "# HELP perma_http_requests_total Answers by route class, writer and status class.\n",
        );
        out.push_str("# TYPE perma_http_requests_total counter\n");
        for (c, p, s) in series() {
            for (k, code) in STATUS.iter().enumerate() {
                let n = self.sum(s * STATUS.len() + k);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "perma_http_requests_total{{class=\"{}\",path=\"{}\",code=\"{code}\"}} {n}",
                        CLASSES[c], PATHS[p]
                    );
                }
            }
        }
        out.push_str("# HELP perma_http_request_duration_seconds Time from a request's head to its answer's head.\n");
        out.push_str("# TYPE perma_http_request_duration_seconds histogram\n");
        for (c, p, s) in series() {
            let base = REQUESTS + s * (BUCKETS_US.len() + 1);
            let total: u64 = (0..=BUCKETS_US.len()).map(|b| self.sum(base + b)).sum();
            if total == 0 {
                continue;
            }
            let labels = format!("class=\"{}\",path=\"{}\"", CLASSES[c], PATHS[p]);
            let mut cumulative = 0;
            for (b, le) in BUCKETS_US.iter().enumerate() {
                cumulative += self.sum(base + b);
                let _ = writeln!(
                    out,
                    "perma_http_request_duration_seconds_bucket{{{labels},le=\"{}\"}} {cumulative}",
                    *le as f64 / 1e6
                );
            }
            let _ = writeln!(
                out,
                "perma_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                out,
                "perma_http_request_duration_seconds_sum{{{labels}}} {}",
                self.sum(REQUESTS + BUCKETS + s) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "perma_http_request_duration_seconds_count{{{labels}}} {total}"
            );
        }
        out.push_str(
            "# HELP perma_http_response_bytes_total Bytes of answers (heads and bodies).\n",
        );
        out.push_str("# TYPE perma_http_response_bytes_total counter\n");
        for (c, p, s) in series() {
            let n = self.sum(REQUESTS + BUCKETS + SERIES + s);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "perma_http_response_bytes_total{{class=\"{}\",path=\"{}\"}} {n}",
                    CLASSES[c], PATHS[p]
                );
            }
        }
        out.push_str("# HELP perma_uploads_in_flight Uploads being received.\n");
        out.push_str("# TYPE perma_uploads_in_flight gauge\n");
        let _ = writeln!(
            out,
            "perma_uploads_in_flight {}",
            self.uploads_in_flight.load(Ordering::Relaxed)
        );
    }
}

/// Counts an upload as in flight until dropped.
pub struct InFlight<'a>(&'a AtomicI64);

impl<'a> InFlight<'a> {
    /// Starts counting.
    pub fn new(gauge: &'a AtomicI64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Replaces the value of every `signature` parameter in a request target (for logs: the
/// signature never appears there).
fn redact(target: &str) -> std::borrow::Cow<'_, str> {
    let Some((path, query)) = target.split_once('?') else {
        return target.into();
    };
    if !query.split('&').any(|p| p.starts_with("signature=")) {
        return target.into();
    }
    let query: Vec<&str> = query
        .split('&')
        .map(|p| {
            if p.starts_with("signature=") {
                "signature=REDACTED"
            } else {
                p
            }
        })
        .collect();
    format!("{path}?{}", query.join("&")).into()
}

/// One access log line's fields.
#[derive(Debug)]
pub struct Access<'a> {
    /// Client address (the peer, or a trusted proxy's `X-Forwarded-For`).
    pub client: Option<IpAddr>,
    /// Request method.
    pub method: &'a str,
    /// Request target as received (path and query).
    pub target: &'a str,
    /// Answer status.
    pub status: u16,
    /// Bytes of the answer's head and body.
    pub bytes: u64,
    /// From the request head to the answer's head.
    pub elapsed: Duration,
    /// Which writer answered.
    pub path: Path,
    /// The request id (`X-Request-Id`; the audit log carries it too), when one was given.
    pub request_id: Option<&'a str>,
}

/// Lines waiting for the writer thread; past this, lines are dropped.
const QUEUE: usize = 16 * 1024;

/// The access log: one line per answer (format in docs/operations.md), written by its own
/// thread to stdout or a file.
#[derive(Debug)]
pub struct AccessLog {
    queue: SyncSender<String>,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Starts the writer thread on `out` (buffered here; flushed when the queue runs dry
    /// and at least once a second).
    pub fn start(out: Box<dyn std::io::Write + Send>) -> std::io::Result<AccessLog> {
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let mut out = std::io::BufWriter::with_capacity(64 << 10, out);
        std::thread::Builder::new()
            .name("perma-access-log".into())
            .spawn(move || {
                let mut flushed = std::time::Instant::now();
                loop {
                    match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(line) => {
                            let _ = out.write_all(line.as_bytes());
                            if flushed.elapsed() >= Duration::from_secs(1) {
                                let _ = out.flush();
                                flushed = std::time::Instant::now();
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            let _ = out.flush();
                            flushed = std::time::Instant::now();
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            let _ = out.flush();
                            return;
                        }
                    }
                }
            })?;
        Ok(AccessLog {
            queue: tx,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues a line; never waits.
    pub fn log(&self, a: &Access<'_>) {
        let mut line = String::with_capacity(96 + a.target.len());
        line.push_str(&iso8601(now_ms()));
        line.push(' ');
        match a.client {
            Some(ip) => {
                let _ = write!(line, "{ip}");
            }
            None => line.push('-'),
        }
        line.push(' ');
        push_token(&mut line, a.method);
        line.push(' ');
        push_token(&mut line, &redact(a.target));
        let _ = write!(
            line,
            " {} {} {:.6} {} ",
            a.status,
            a.bytes,
            a.elapsed.as_secs_f64(),
            PATHS[a.path as usize]
        );
        push_token(&mut line, a.request_id.unwrap_or("-"));
        line.push('\n');
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(line)
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Appends text with spaces, control characters, `"` and non-ASCII bytes written as `%XX`
/// (a target is logged as received, so its own escapes stay as they are), so that a line
/// always has the same fields and a request cannot forge lines.
fn push_token(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push('-');
        return;
    }
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'"' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_class_path_and_status_and_renders_prometheus_text() {
        let m = Metrics::new(true);
        m.record(
            Class::Delivery,
            Path::Fast,
            200,
            4096,
            Duration::from_micros(80),
        );
        m.record(
            Class::Delivery,
            Path::Fast,
            304,
            200,
            Duration::from_micros(300),
        );
        m.record(
            Class::Management,
            Path::Router,
            422,
            100,
            Duration::from_millis(3),
        );
        assert_eq!(m.requests(Class::Delivery, Path::Fast), 2);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "perma_http_requests_total{class=\"delivery\",path=\"fast\",code=\"2xx\"} 1\n"
        ));
        assert!(out.contains(
            "perma_http_requests_total{class=\"management\",path=\"router\",code=\"4xx\"} 1\n"
        ));
        assert!(out.contains(
            "perma_http_request_duration_seconds_bucket{class=\"delivery\",path=\"fast\",le=\"0.0001\"} 1\n"
        ));
        assert!(out.contains(
            "perma_http_request_duration_seconds_bucket{class=\"delivery\",path=\"fast\",le=\"+Inf\"} 2\n"
        ));
        assert!(out
            .contains("perma_http_response_bytes_total{class=\"delivery\",path=\"fast\"} 4296\n"));
        let off = Metrics::new(false);
        off.record(Class::Delivery, Path::Fast, 200, 1, Duration::ZERO);
        assert_eq!(off.requests(Class::Delivery, Path::Fast), 0);
    }

    #[test]
    fn access_log_fields_cannot_be_forged() {
        let mut s = String::new();
        push_token(&mut s, "/v3/a b\"c\n%41\u{e9}");
        assert_eq!(s, "/v3/a%20b%22c%0A%41%C3%A9");
    }
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn signatures_never_reach_the_log() {
        assert_eq!(
            super::redact("/v3/assets/a/b/logo?width=1&expires=2&signature=abc"),
            "/v3/assets/a/b/logo?width=1&expires=2&signature=REDACTED"
        );
        assert_eq!(super::redact("/x?a=1"), "/x?a=1");
    }
}
