//! The `agreement` target: the fast path and the router give one answer to one head.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::app::{App, Migrations};
use crate::assets::{self, AssetUpdate, Metadata};
use crate::config::Config;
use crate::identity::{self, Actor, StackAccess};
use crate::startup::Application;

/// A running perma with a seeded stack, shared by the targets that need one.
pub(super) struct World {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) app: Arc<App>,
    addr: SocketAddr,
    names: Vec<(&'static str, String)>,
}

impl World {
    /// What a placeholder (`{K}`, `{A}`, …) stands for.
    pub(super) fn name(&self, placeholder: &str) -> &str {
        self.names
            .iter()
            .find(|(n, _)| *n == placeholder)
            .map_or("", |(_, v)| v.as_str())
    }
}

pub(super) const ADMIN: &str = "fuzz@example.com";
pub(super) const PASSWORD: &str = "fuzz-password";

pub(super) fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = std::env::temp_dir().join(format!("{WORLD_DIR}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        remove_stale_worlds();
        let (app, addr, names) = rt.block_on(async {
            let config = Config {
                data_dir: dir,
                listen: "127.0.0.1:0".parse().expect("an address"),
                admin_email: Some(ADMIN.into()),
                admin_password: Some(PASSWORD.into()),
                database_url: None,
                storage: None,
                // Limits per client address apply to requests over TCP only (the router
                // called directly has no client): off, so both sides answer alike.
                render_misses_per_minute: 0,
                max_connections_per_client: 0,
                ..Config::default()
            };
            let application = Application::build(config, Migrations::Apply)
                .await
                .expect("perma starts");
            let app = application.app().clone();
            let addr = application.local_addr();
            tokio::spawn(application.run(std::future::pending()));
            let names = seed(&app).await;
            (app, addr, names)
        });
        World {
            rt,
            app,
            addr,
            names,
        }
    })
}

/// A world's data directory in the temporary directory: this prefix and the process id.
const WORLD_DIR: &str = "perma-agreement-";

/// Removes the data directories of earlier fuzzing processes that have ended. libFuzzer
/// ends a run with `exit`, so a world never removes its own directory. (Where there is
/// no `/proc` to tell a live process, nothing is removed.)
fn remove_stale_worlds() {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(WORLD_DIR))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

async fn upload(
    app: &App,
    access: &StackAccess,
    name: &str,
    bytes: Vec<u8>,
) -> crate::records::Asset {
    let body =
        futures_util::stream::iter([Ok::<_, crate::error::Error>(bytes::Bytes::from(bytes))]);
    let staged = crate::ingest::ingest(&app.blobs, body, Some(name), None, u64::MAX)
        .await
        .expect("staged");
    assets::create(
        &app.db,
        &app.blobs,
        &app.changes,
        access,
        staged,
        Metadata::default(),
    )
    .await
    .expect("created")
}

/// A stack with a small asset that has a permanent URL and a large one (read from the
/// blob in chunks rather than from memory).
async fn seed(app: &App) -> Vec<(&'static str, String)> {
    let (user, _) = app
        .db
        .user_by_email(ADMIN)
        .await
        .expect("database")
        .expect("the admin");
    let stack = identity::create_stack(
        &app.db,
        &user,
        None,
        "fuzz",
        "",
        None,
        &identity::Origin::default(),
    )
    .await
    .expect("a stack");
    let access = StackAccess::of(&app.db, stack, Actor::User(user))
        .await
        .expect("database")
        .expect("the owner's access");
    let small = upload(app, &access, "logo.txt", b"0123456789abcdef".repeat(256)).await;
    let update = AssetUpdate {
        permanent_url: Some("logo".into()),
        ..Default::default()
    };
    assets::update(
        &app.db,
        &app.blobs,
        &app.changes,
        &access,
        &small.uid,
        update,
    )
    .await
    .expect("a permanent URL");
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    let big = upload(app, &access, "big.bin", big).await;
    let file = |a: &crate::records::Asset| a.file.as_ref().expect("a file").uid.clone();
    vec![
        ("{K}", access.stack.api_key.clone()),
        ("{A}", small.uid.clone()),
        ("{S}", "logo".into()),
        ("{F}", file(&small)),
        ("{B}", big.uid.clone()),
        ("{G}", file(&big)),
    ]
}

/// What is compared of an answer.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

const COMPARED: &[&str] = &[
    "content-length",
    "content-range",
    "content-type",
    "etag",
    "last-modified",
    "cache-control",
    "accept-ranges",
    "location",
    "content-disposition",
];

fn compared(name: &str) -> bool {
    COMPARED.iter().any(|c| c.eq_ignore_ascii_case(name))
}

pub(super) fn check(data: &[u8]) {
    let w = world();
    let mut head = data.to_vec();
    for (name, value) in &w.names {
        head = replace(&head, name.as_bytes(), value.as_bytes());
    }
    // One request head, no body: what both writers are meant to agree on.
    let Some(end) = head.windows(4).position(|x| x == b"\r\n\r\n") else {
        return;
    };
    head.truncate(end + 4);
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = req.parse(&head) else {
        return;
    };
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return;
    };
    let hosts = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"));
    if req.version != Some(1)
        || hosts.count() != 1
        || !matches!(method, "GET" | "HEAD")
        || req.headers.iter().any(|h| {
            [
                "content-length",
                "transfer-encoding",
                "connection",
                "upgrade",
                "expect",
            ]
            .iter()
            .any(|n| h.name.eq_ignore_ascii_case(n))
        })
    {
        return;
    }
    if axum::http::Uri::try_from(path).is_err() {
        // hyper refuses a target its parser refuses (400): the fast path may not
        // answer it either.
        if let Some(wire) = over_tcp(w.addr, &head, method == "HEAD") {
            assert_eq!(wire.status, 400, "{}", String::from_utf8_lossy(&head));
        }
        return;
    }
    let mut builder = axum::http::Request::builder().method(method).uri(path);
    for h in req.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    let Ok(request) = builder.body(axum::body::Body::empty()) else {
        return;
    };
    let Some(wire) = over_tcp(w.addr, &head, method == "HEAD") else {
        return;
    };
    let routed = w.rt.block_on(async {
        let mut router = crate::http::router(w.app.clone());
        let response = tower_service::Service::call(&mut router, request)
            .await
            .expect("infallible");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(n, _)| compared(n.as_str()))
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect::<Vec<_>>();
        let body = axum::body::to_bytes(response.into_body(), 4 << 20)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        Answer {
            status,
            headers: sorted(headers),
            body: if method == "HEAD" { Vec::new() } else { body },
        }
    });
    assert_eq!(
        wire.status,
        routed.status,
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert_eq!(
        wire.headers,
        routed.headers,
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(
        wire.body == routed.body,
        "bodies differ: {}",
        String::from_utf8_lossy(&head)
    );
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    for (n, _) in v.iter_mut() {
        n.make_ascii_lowercase();
    }
    v.sort();
    v
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Sends the head on a fresh connection and reads one answer (head, then as many body
/// bytes as `content-length` says); `None` if the server closed or took too long.
fn over_tcp(addr: SocketAddr, head: &[u8], is_head: bool) -> Option<Answer> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(head).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = resp.parse(&buf) {
            let status = resp.code?;
            let list: Vec<(String, String)> = resp
                .headers
                .iter()
                .filter(|h| compared(h.name))
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let want = if is_head || status == 304 || status == 204 {
                0
            } else {
                list.iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0)
            };
            while buf.len() < len + want {
                let n = s.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(Answer {
                status,
                headers: sorted(list),
                body: buf[len..len + want].to_vec(),
            });
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
