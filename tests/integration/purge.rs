//! §13 CDN purge, behind a real caching proxy: nginx (Debian) with `proxy_cache` and the
//! cache-purge module (`libnginx-mod-http-cache-purge`) in front of perma. Needs nginx and
//! the module: without them the test is skipped, except in CI (`CI=true`), where it fails.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::TestApp;

const MODULE: &str = "/usr/lib/nginx/modules/ngx_http_cache_purge_module.so";

fn nginx_available() -> bool {
    let found = std::process::Command::new("nginx")
        .arg("-v")
        .output()
        .is_ok()
        && Path::new(MODULE).exists();
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("nginx with the cache-purge module is required in CI ({MODULE})");
    }
    if !found {
        eprintln!("skipped: nginx or {MODULE} is missing (apt-get install nginx libnginx-mod-http-cache-purge)");
    }
    found
}

struct Nginx {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx on `port`, caching everything perma at `upstream` allows; `/purge{path}` from
/// loopback purges `{path}` (the module's separate-location form: its same-location
/// `proxy_cache_purge PURGE` form crashes the worker on nginx 1.22).
async fn start_nginx(port: u16, upstream: &str) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let upstream = upstream.trim_start_matches("http://");
    let conf = format!(
        r#"load_module {MODULE};
user root;
worker_processes 1;
master_process off;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  proxy_cache_path {d}/cache keys_zone=perma:10m;
  server {{
    listen 127.0.0.1:{port};
    location ~ ^/purge(/.*)$ {{
      allow 127.0.0.1;
      deny all;
      proxy_cache_purge perma $1$is_args$args;
    }}
    location / {{
      proxy_pass http://{upstream};
      proxy_http_version 1.1;
      proxy_cache perma;
      proxy_cache_key $uri$is_args$args;
      add_header X-Cache $upstream_cache_status always;
    }}
  }}
}}
"#
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = std::process::Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting nginx");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nginx did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Nginx {
        child,
        base,
        _dir: dir,
    }
}

async fn fetch(url: &str) -> (String, String) {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    let cache = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (cache, r.text().await.unwrap())
}

/// Polls `url` through the proxy until it serves `want`; the time it took.
async fn until_serves(url: &str, want: &str) -> Duration {
    let started = Instant::now();
    loop {
        let (_, body) = fetch(url).await;
        if body == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url} still serves {body:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls until the proxy answers `url` from its cache with `want`. A change's purges are
/// delivered asynchronously and may arrive just after the proxy cached the new answer
/// (evicting it once more), so "cached again" is awaited rather than expected at once.
async fn until_cached(url: &str, want: &str) {
    let started = Instant::now();
    loop {
        let got = fetch(url).await;
        if got.0 == "HIT" && got.1 == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url} is not served from the cache with {want:?}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_cached_permanent_url_serves_the_new_file_right_after_a_replace() {
    if !nginx_available() {
        return;
    }
    let port = free_port();
    let t = TestApp::spawn_with(|c| {
        c.purge = vec![format!("http-purge:http://127.0.0.1:{port}/purge")];
        c.event_retry_ms = 50;
    })
    .await;
    let nginx = start_nginx(port, &t.base).await;
    let s = t.admin().await;
    let a = s.upload("page.txt", b"version one").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let (_, v) = s.set_permanent(&uid, "page").await;
    let perm = v["asset"]["permanent_url"]
        .as_str()
        .unwrap()
        .replace(&t.base, &nginx.base);
    let v1 = a["url"].as_str().unwrap().replace(&t.base, &nginx.base);

    // The proxy caches both URLs.
    assert_eq!(fetch(&perm).await, ("MISS".into(), "version one".into()));
    assert_eq!(fetch(&perm).await, ("HIT".into(), "version one".into()));
    assert_eq!(fetch(&v1).await.0, "MISS");
    assert_eq!(fetch(&v1).await.0, "HIT");

    // A replace: the purge round trip, measured.
    s.replace(&uid, "page.txt", b"version two").await;
    let took = until_serves(&perm, "version two").await;
    println!(
        "the proxy served the new file {} ms after the replace answered",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    until_cached(&perm, "version two").await;
    // The old version URL was never purged: still cached, still the old bytes.
    assert_eq!(fetch(&v1).await, ("HIT".into(), "version one".into()));

    // With ?environment= after a publish.
    s.environment("production").await;
    s.publish(&uid, "production", &["en-us"]).await;
    let prod = format!("{perm}?environment=production");
    until_serves(&prod, "version two").await;
    until_cached(&prod, "version two").await;
    s.replace(&uid, "page.txt", b"version three").await;
    // Not published yet: the environment still has version two (the replace purged it,
    // and perma answers two again).
    until_serves(&perm, "version three").await;
    assert_eq!(fetch(&prod).await.1, "version two");
    s.publish(&uid, "production", &["en-us"]).await;
    let took = until_serves(&prod, "version three").await;
    println!(
        "?environment= served the new file {} ms after the publish",
        took.as_millis()
    );

    // Every purge is a job with its attempts (the events table), all done.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let jobs = t.app.db.due_jobs(i64::MAX, 100).await.unwrap();
        if jobs.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "purges left: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_cached_rendition_of_the_permanent_url_is_purged_too() {
    if !nginx_available() {
        return;
    }
    let port = free_port();
    let t = TestApp::spawn_with(|c| {
        c.purge = vec![format!("http-purge:http://127.0.0.1:{port}/purge")];
    })
    .await;
    let nginx = start_nginx(port, &t.base).await;
    let s = t.admin().await;
    let png = |w: u32| {
        let img = image::RgbImage::from_pixel(w, 10, image::Rgb([200, 10, 10]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let a = s.upload("pic.png", &png(40)).await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let (_, v) = s.set_permanent(&uid, "pic").await;
    let perm = v["asset"]["permanent_url"]
        .as_str()
        .unwrap()
        .replace(&t.base, &nginx.base);
    let rendition = format!("{perm}?height=5&format=png");
    let width = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().width();
    let get = |url: String| async move {
        let r = reqwest::get(&url).await.unwrap();
        let cache = r.headers()["x-cache"].to_str().unwrap().to_owned();
        (cache, r.bytes().await.unwrap().to_vec())
    };
    let (c, b) = get(rendition.clone()).await;
    assert_eq!((c.as_str(), width(&b)), ("MISS", 20));
    let (c, _) = get(rendition.clone()).await;
    assert_eq!(c, "HIT");
    s.replace(&uid, "pic.png", &png(80)).await;
    let started = Instant::now();
    loop {
        let (_, b) = get(rendition.clone()).await;
        if width(&b) == 40 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the rendition was not purged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // §11: a rendition that draws another asset's permanent URL as its overlay is purged
    // when that asset is replaced, even on a version URL.
    let solid = |rgb: [u8; 3]| {
        let img = image::RgbImage::from_pixel(10, 10, image::Rgb(rgb));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let badge = s.upload("badge.png", &solid([0, 0, 0])).await;
    let badge_uid = badge["uid"].as_str().unwrap().to_owned();
    let (_, v) = s.set_permanent(&badge_uid, "badge").await;
    let badge_path = v["asset"]["permanent_url"]
        .as_str()
        .unwrap()
        .replace(&t.base, "");
    let version = a["url"].as_str().unwrap().replace(&t.base, &nginx.base);
    let with_overlay = format!("{version}?format=png&overlay={badge_path}");
    let centre = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().to_rgb8()[(20, 5)].0;
    let (c, b) = get(with_overlay.clone()).await;
    assert_eq!((c.as_str(), centre(&b)), ("MISS", [0, 0, 0]));
    let (c, _) = get(with_overlay.clone()).await;
    assert_eq!(c, "HIT");
    s.replace(&badge_uid, "badge.png", &solid([255, 255, 255]))
        .await;
    let started = Instant::now();
    loop {
        let (_, b) = get(with_overlay.clone()).await;
        if centre(&b) == [255, 255, 255] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the rendition with the overlay was not purged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
