//! The checks behind the fuzz targets in `fuzz/` (`cargo +nightly fuzz run TARGET`), one
//! function per target, each taking arbitrary bytes: they must never panic, and each
//! asserts the invariants of what it parses. `tests/integration/fuzz_corpus.rs` replays
//! every file of `fuzz/corpus/` through them on the stable toolchain, so a crash found once
//! (its input saved there) stays a regression test. Not part of perma's API.

use crate::delivery::{byte_range, Outcome};
use crate::filename::Filename;
use crate::query::Query;
use crate::records::{Asset, FileMeta};
use crate::slug::Slug;

/// The check of one target: arbitrary bytes in, a panic on a broken invariant.
pub type Check = fn(&[u8]);

/// Every target, by name, as `fuzz/` and the corpus test know them.
pub const TARGETS: &[(&str, Check)] = &[
    ("head", head),
    ("range", range),
    ("slug", slug),
    ("filename", filename),
    ("query", query),
    ("sync_token", sync_token),
    ("transform", transform),
    ("image", image),
    ("agreement", agreement),
    ("upload", upload),
    ("export", export),
];

/// The delivery fast path's request-head parser and classifier: a head it takes is a public
/// GET or HEAD of an asset path with exactly one Host.
pub fn head(data: &[u8]) {
    crate::http::fuzzing::fast_path_head(data);
}

/// `Range` (RFC 9110 §14): the first 8 bytes are the representation's length, the rest the
/// header; the answer is a 200, a 416, or a 206 inside the representation.
pub fn range(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&data[..8]);
    let len = u64::from_le_bytes(n) % (1 << 40);
    let header = String::from_utf8_lossy(&data[8..]);
    match byte_range(&header, len) {
        Outcome::Partial { start, end } => {
            assert!(
                start <= end && end < len,
                "{header:?} {len} -> {start}..={end}"
            );
        }
        Outcome::Full | Outcome::RangeNotSatisfiable => {}
        other => panic!("a Range header alone gave {other:?}"),
    }
}

/// Slugs and permanent-URL values (§3): a slug that parses keeps the rules and parses back
/// to itself.
pub fn slug(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(slug) = Slug::parse(&text) {
        let s = slug.as_str();
        assert!(!s.is_empty() && s.len() <= 255, "{s:?}");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)),
            "{s:?}"
        );
        assert!(s != "." && s != ".." && s.bytes().any(|b| b.is_ascii_alphanumeric()));
        assert_eq!(Slug::parse(s).ok().as_ref().map(Slug::as_str), Some(s));
    }
    let _ = Slug::suggest(&text);
    let _ =
        crate::assets::parse_permanent_value(&text, "blt0123456789abcdef", "blt00112233445566ff");
}

/// File-name cleaning (§5): non-empty, at most 255 bytes, none of the reserved, whitespace,
/// control or bidirectional formatting characters, and cleaning it again changes nothing.
pub fn filename(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let name = Filename::sanitize(&raw);
    let s = name.as_str();
    assert!(!s.is_empty() && s.len() <= 255, "{s:?}");
    for c in s.chars() {
        assert!(!"#%^+\\/?*:|\"'<>{}=,".contains(c), "{c:?} in {s:?}");
        assert!(!c.is_whitespace() && !c.is_control(), "{c:?} in {s:?}");
        assert!(
            !matches!(
                c,
                '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            ),
            "{c:?} in {s:?}"
        );
    }
    assert_eq!(Filename::sanitize(s).as_str(), s);
}

/// The §6 query language: any text is a query or an error (never a panic), and a query
/// becomes SQL filters and matches assets.
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(q) = Query::parse(&text) else { return };
    let _ = q.filter();
    let asset = Asset {
        uid: "blt00112233445566ff".into(),
        api_key: "blt0123456789abcdef".into(),
        is_dir: false,
        parent_uid: None,
        title: "Brand guide".into(),
        description: String::new(),
        tags: vec!["brand".into(), "2024".into()],
        version: 3,
        permanent_slug: Some("guide".into()),
        created_by: "u".into(),
        updated_by: "u".into(),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_100_000,
        deleted_at: None,
        file: Some(FileMeta {
            uid: "f".into(),
            sha256: "0".repeat(64),
            size: 4096,
            content_type: "application/pdf".into(),
            filename: "guide.pdf".into(),
            width: None,
            height: None,
            created_at: 1_700_000_100_000,
        }),
    };
    let _ = q.matches(&asset);
}

/// Sync and pagination tokens (§12): refused, or a window that encodes back to the token.
pub fn sync_token(data: &[u8]) {
    crate::assets::fuzzing::sync_token(&String::from_utf8_lossy(data));
}

/// A 16 × 12 PNG with four coloured quadrants, made once.
fn small_png() -> &'static [u8] {
    static PNG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PNG.get_or_init(|| {
        let img = image::RgbImage::from_fn(16, 12, |x, y| {
            image::Rgb([
                if x < 8 { 255 } else { 0 },
                if y < 6 { 255 } else { 0 },
                128,
            ])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("encoding a PNG in memory");
        out.into_inner()
    })
}

/// Whether rendering `t` stays small enough for a fuzzing iteration (outputs of up to
/// 8,192 px a side are valid, but too slow to encode thousands of times a second).
fn small(t: &crate::images::Transform) -> bool {
    use crate::images::{Area, Side};
    let side = |s: Option<Side>| match s {
        None => true,
        Some(Side::Px(n)) => n <= 256,
        Some(Side::Percent(p)) => p <= 40_000,
    };
    let area = |r: Option<crate::images::Region>| match r.map(|r| r.area) {
        Some(Area::Px(w, h)) => w <= 256 && h <= 256,
        Some(Area::Aspect(w, h)) => w <= 16 * h && h <= 16 * w,
        None => true,
    };
    side(t.width)
        && side(t.height)
        && t.dpr.is_none_or(|d| d <= 200)
        && area(t.crop)
        && area(t.canvas)
        && t.pad.is_none_or(|p| p.iter().all(|e| *e <= 64))
        && t.format != Some(crate::images::Format::Avif)
        && t.auto.is_none()
}

/// §11 parameters: any query parses to a transform or a 400/422, never a panic; the
/// canonical form names the output format; and rendering a small image with it either
/// succeeds with an output inside the limits or is refused with a 4xx.
pub fn transform(data: &[u8]) {
    use crate::images::{self, Format, Transform};
    let text = String::from_utf8_lossy(data);
    let t = match Transform::parse(&text) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(e) => {
            assert!(matches!(e.status(), 400 | 422), "{e}");
            return;
        }
    };
    let output = t.output_format(Some("image/webp"), Format::Png);
    let canonical = t.canonical(output);
    assert!(
        canonical.contains(&format!("format={}", output.name())),
        "{canonical}"
    );
    assert_eq!(canonical, t.clone().canonical(output));
    if !small(&t) {
        return;
    }
    match images::render(
        small_png(),
        Format::Png,
        &t,
        Format::Png,
        &images::Deadline::none(),
    ) {
        Ok(r) => {
            assert!(r.width >= 1 && r.height >= 1);
            assert!(r.width <= images::MAX_OUTPUT_SIDE && r.height <= images::MAX_OUTPUT_SIDE);
        }
        Err(e) => assert_eq!(e.status(), 422, "{e}"),
    }
}

/// §11 decoding: arbitrary bytes as a JPEG, PNG, GIF or WebP file (first byte picks which)
/// are rendered to a 16 px wide PNG or refused with a 422, never a panic; a declared size
/// over the limits is refused from the header.
pub fn image(data: &[u8]) {
    use crate::images::{self, Format, Transform};
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let source = [Format::Jpeg, Format::Png, Format::Gif, Format::Webp][usize::from(pick % 4)];
    // Keep iterations fast: large declared images are for the header check alone.
    if let Ok((w, h)) = images::check_input(file) {
        if u64::from(w) * u64::from(h) > 1 << 20 {
            return;
        }
    }
    let t = Transform::parse("width=16&format=png")
        .expect("a valid query")
        .expect("a transform");
    match images::render(file, source, &t, Format::Png, &images::Deadline::none()) {
        Ok(r) => assert_eq!(r.width, 16),
        Err(e) => assert_eq!(e.status(), 422, "{e}"),
    }
}

/// The fast path and the router agree (differential): one request head, with `{K}`, `{A}`,
/// `{S}`, `{F}`, `{B}` and `{G}` standing for a real api_key, asset uid, slug, file uid and
/// a large asset's uid and file uid, is sent over TCP to a running perma (the fast path
/// answers it or hands it to hyper) and also given to the router directly. Status, the
/// entity headers and the body must be the same.
pub fn agreement(data: &[u8]) {
    agreement::check(data);
}

/// `perma import contentstack`'s export reader: arbitrary bytes as the JSON files of an
/// export that also holds links to files outside it (`assets::import::export_fuzz`).
pub fn export(data: &[u8]) {
    crate::assets::fuzzing::export(data);
}

/// Uploads and replaces: arbitrary bytes as the `multipart/form-data` body (boundary `B`)
/// of `POST /v3/assets` (first byte even) or of a replace, `PUT /v3/assets/{uid}` (odd),
/// through the router of a running perma. Never a 5xx; a refused request leaves no blob
/// and no staged file behind (§5); an accepted one adds at most one blob.
pub fn upload(data: &[u8]) {
    upload::check(data);
}

mod upload {
    use std::sync::OnceLock;

    use axum::body::Body;
    use axum::http::Request;

    use super::agreement::{world, ADMIN, PASSWORD};

    pub(super) fn check(data: &[u8]) {
        let Some((&which, body)) = data.split_first() else {
            return;
        };
        let w = world();
        static TOKEN: OnceLock<String> = OnceLock::new();
        let token = TOKEN.get_or_init(|| {
            w.rt.block_on(crate::identity::login(&w.app.db, ADMIN, PASSWORD, 3600))
                .expect("the admin logs in")
                .1
        });
        let path = if which % 2 == 0 {
            "/v3/assets".to_owned()
        } else {
            format!("/v3/assets/{}", w.name("{A}"))
        };
        let method = if which % 2 == 0 { "POST" } else { "PUT" };
        w.rt.block_on(async {
            let before = w.app.blobs.list().await.expect("blobs").len();
            let request = Request::builder()
                .method(method)
                .uri(&path)
                .header("host", "perma.test")
                .header("authtoken", token)
                .header("api_key", w.name("{K}"))
                .header("content-type", "multipart/form-data; boundary=B")
                .body(Body::from(body.to_vec()))
                .expect("a request");
            let mut router = crate::http::router(w.app.clone());
            let response = tower_service::Service::call(&mut router, request)
                .await
                .expect("infallible");
            let status = response.status().as_u16();
            let text = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            assert!(
                status < 500,
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&text)
            );
            let after = w.app.blobs.list().await.expect("blobs").len();
            let staged = w.app.blobs.temp_files().expect("staging directory");
            assert!(
                staged.is_empty(),
                "{status}, but staged files stay: {staged:?}"
            );
            if (200..300).contains(&status) {
                assert!(after <= before + 1, "{before} blobs, then {after}");
            } else {
                assert_eq!(after, before, "refused ({status}), but a blob was kept");
            }
        });
    }
}

mod agreement {
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
            if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
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
        let stack = identity::create_stack(&app.db, &user, None, "fuzz", "", None)
            .await
            .expect("a stack");
        let access = StackAccess {
            stack,
            actor: Actor::User(user),
        };
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
}
