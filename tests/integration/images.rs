//! §11: image transforms on version and permanent URLs, rendered once and served as files.
//!
//! The test image has coloured quadrants (red top-left, green top-right, blue bottom-left,
//! yellow bottom-right), so each test can decode the output and check where pixels landed.

use image::GenericImageView as _;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Session, TestApp};

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const YELLOW: [u8; 3] = [255, 255, 0];

/// `w` × `h` with the four coloured quadrants.
pub(crate) fn quadrants(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb(match (x < w / 2, y < h / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => YELLOW,
        })
    })
}

pub(crate) fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg(img: &image::RgbImage, exif_orientation: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let e = jpeg_encoder::Encoder::new(&mut out, 95);
    e.encode(
        img.as_raw(),
        img.width() as u16,
        img.height() as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .unwrap();
    let Some(o) = exif_orientation else {
        return out;
    };
    // APP1 "Exif": a little-endian TIFF header and one IFD entry, Orientation (0x0112).
    let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec();
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&o.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut with = out[..2].to_vec();
    with.extend_from_slice(&[0xFF, 0xE1]);
    with.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    with.extend_from_slice(&app1);
    with.extend_from_slice(&out[2..]);
    with
}

pub(crate) fn h<'a>(m: &'a HeaderMap, k: &str) -> &'a str {
    m.get(k).map(|v| v.to_str().unwrap()).unwrap_or("")
}

pub(crate) struct Got {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Got {
    pub(crate) fn image(&self) -> image::DynamicImage {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        image::load_from_memory(&self.body).expect("decodable output")
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

pub(crate) async fn get(t: &TestApp, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut r = t.http.get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    Got {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

/// Close to `want` (lossy formats and filters blur edges a little).
#[track_caller]
fn near(img: &image::DynamicImage, x: u32, y: u32, want: [u8; 3]) {
    let p = img.get_pixel(x, y).0;
    let close = (0..3).all(|i| (i32::from(p[i]) - i32::from(want[i])).abs() <= 40);
    assert!(close, "pixel ({x},{y}) is {p:?}, expected about {want:?}");
}

pub(crate) async fn uploaded(s: &Session, name: &str, bytes: &[u8]) -> (String, String, String) {
    let a = s.upload(name, bytes).await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let (st, v) = s.set_permanent(&uid, &format!("p-{name}")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    (
        uid,
        v["asset"]["url"].as_str().unwrap().to_owned(),
        v["asset"]["permanent_url"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn metric(t: &TestApp, name: &str) -> u64 {
    crate::support::metric(&t.http, &t.base, name).await
}

#[tokio::test]
async fn resize_fit_crop_trim_pad_canvas_and_orient_put_pixels_where_they_belong() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (_, url, _) = uploaded(&s, "q.png", &png(&quadrants(400, 200))).await;
    let q = |p: &str| format!("{url}?{p}");

    let img = get(&t, &q("width=100&resize-filter=nearest"), &[])
        .await
        .image();
    assert_eq!(img.dimensions(), (100, 50));
    near(&img, 10, 10, RED);
    near(&img, 90, 10, GREEN);
    near(&img, 10, 40, BLUE);
    near(&img, 90, 40, YELLOW);

    let dims = [
        ("height=50", (100, 50)),
        ("width=50p", (200, 100)),
        ("width=100&height=100", (100, 100)),
        ("width=100&height=100&fit=bounds", (100, 50)),
        ("width=100&height=100&fit=crop", (100, 100)),
        ("width=50&dpr=2", (100, 50)),
        ("width=50&dpr=1.5", (75, 38)),
        ("width=800&disable=upscale", (400, 200)),
        ("width=800", (800, 400)),
        ("crop=1:1", (200, 200)),
        ("crop=500,100,safe", (400, 100)),
        ("pad=10", (420, 220)),
        ("pad=10,20", (440, 220)),
        ("canvas=600,400", (600, 400)),
        ("canvas=1:1", (400, 400)),
        ("orient=6", (200, 400)),
        ("trim=10,20,30,40", (340, 160)),
    ];
    for (p, want) in dims {
        let img = get(&t, &q(p), &[]).await.image();
        assert_eq!(img.dimensions(), want, "{p}");
    }

    // fit=crop: the middle of the 200×100 resize.
    let img = get(&t, &q("width=100&height=100&fit=crop"), &[])
        .await
        .image();
    near(&img, 5, 5, RED);
    near(&img, 95, 5, GREEN);
    near(&img, 5, 95, BLUE);
    // Crops by pixels, offsets and aspect.
    let img = get(&t, &q("crop=200,100"), &[]).await.image();
    near(&img, 2, 2, RED);
    near(&img, 197, 97, YELLOW);
    let img = get(&t, &q("crop=100,100,x300,y100"), &[]).await.image();
    near(&img, 2, 2, YELLOW);
    near(&img, 97, 97, YELLOW);
    let img = get(&t, &q("crop=100,100,offset-x100,offset-y0"), &[])
        .await
        .image();
    near(&img, 50, 50, GREEN);
    let img = get(&t, &q("crop=1:1"), &[]).await.image();
    near(&img, 10, 10, RED);
    near(&img, 190, 190, YELLOW);
    // Trim keeps the top-left quadrant.
    let img = get(&t, &q("trim=0,200,100,0"), &[]).await.image();
    assert_eq!(img.dimensions(), (200, 100));
    near(&img, 199, 99, RED);
    // Pad and canvas with a background colour.
    let img = get(&t, &q("pad=10&bg-color=000000"), &[]).await.image();
    near(&img, 2, 2, [0, 0, 0]);
    near(&img, 15, 15, RED);
    near(&img, 405, 205, YELLOW);
    let img = get(&t, &q("canvas=600,400&bg-color=fff"), &[])
        .await
        .image();
    near(&img, 50, 50, [255, 255, 255]);
    near(&img, 110, 110, RED);
    near(&img, 490, 290, YELLOW);
    let img = get(&t, &q("canvas=600,400,x0,y0&bg-color=0,0,0"), &[])
        .await
        .image();
    near(&img, 5, 5, RED);
    near(&img, 500, 300, [0, 0, 0]);
    // Orientation: 6 turns right (bottom-left comes to the top-left), 8 left, 2 mirrors.
    for (o, top_left) in [
        ("6", BLUE),
        ("8", GREEN),
        ("2", GREEN),
        ("4", BLUE),
        ("3", YELLOW),
        ("toggle", YELLOW),
        ("horizontal", GREEN),
        ("vertical", BLUE),
    ] {
        let img = get(&t, &q(&format!("orient={o}")), &[]).await.image();
        near(&img, 3, 3, top_left);
    }
}

#[tokio::test]
async fn formats_quality_and_adjustments() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (_, url, _) = uploaded(&s, "photo.png", &png(&quadrants(200, 100))).await;
    let q = |p: &str| format!("{url}?{p}");

    for (f, ct, guess) in [
        ("jpg", "image/jpeg", Some(image::ImageFormat::Jpeg)),
        ("pjpg", "image/jpeg", Some(image::ImageFormat::Jpeg)),
        ("png", "image/png", Some(image::ImageFormat::Png)),
        ("webp", "image/webp", Some(image::ImageFormat::WebP)),
        ("webpll", "image/webp", Some(image::ImageFormat::WebP)),
        ("gif", "image/gif", Some(image::ImageFormat::Gif)),
        ("avif", "image/avif", None),
    ] {
        let g = get(&t, &q(&format!("format={f}&width=100")), &[]).await;
        assert_eq!(g.status, StatusCode::OK, "{f}");
        assert_eq!(h(&g.headers, "content-type"), ct, "{f}");
        let ext = if f == "pjpg" {
            "jpg"
        } else if f == "webpll" {
            "webp"
        } else {
            f
        };
        assert!(
            h(&g.headers, "content-disposition").contains(&format!("photo.{ext}")),
            "{f}: {}",
            h(&g.headers, "content-disposition")
        );
        match guess {
            Some(fmt) => {
                assert_eq!(image::guess_format(&g.body).unwrap(), fmt, "{f}");
                let img = g.image();
                assert_eq!(img.dimensions(), (100, 50), "{f}");
                near(&img, 10, 10, RED);
                near(&img, 90, 40, YELLOW);
            }
            // AVIF: an ISO-BMFF file of brand avif (perma encodes AVIF but does not decode it).
            None => assert_eq!(&g.body[4..12], b"ftypavif", "{f}"),
        }
    }
    // Progressive JPEG has a progressive frame marker (SOF2).
    let g = get(&t, &q("format=pjpg"), &[]).await;
    assert!(g.body.windows(2).any(|w| w == [0xFF, 0xC2]));
    // Quality changes the size of lossy output.
    let lo = get(&t, &q("format=jpg&quality=5"), &[]).await.body.len();
    let hi = get(&t, &q("format=jpg&quality=95"), &[]).await.body.len();
    assert!(lo < hi, "quality 5: {lo} bytes, 95: {hi}");

    // Adjustments, checked on the red quadrant.
    let img = get(&t, &q("brightness=-50"), &[]).await.image();
    let p = img.get_pixel(10, 10).0;
    assert!(p[0] < 160 && p[0] > 100, "{p:?}");
    let img = get(&t, &q("saturation=-100"), &[]).await.image();
    let p = img.get_pixel(10, 10).0;
    assert!(
        p[0].abs_diff(p[1]) < 3 && p[1].abs_diff(p[2]) < 3,
        "grey: {p:?}"
    );
    let img = get(&t, &q("contrast=-100"), &[]).await.image();
    let p = img.get_pixel(10, 10).0;
    assert!(
        p[0].abs_diff(128) < 3 && p[1].abs_diff(128) < 3,
        "flat: {p:?}"
    );
    // Blur mixes colours across the red/green edge; sharpen keeps flat areas flat.
    let img = get(&t, &q("blur=50"), &[]).await.image();
    let p = img.get_pixel(100, 10).0;
    assert!(p[0] > 40 && p[1] > 40, "mixed at the edge: {p:?}");
    let img = get(&t, &q("sharpen=a5,r10,t0"), &[]).await.image();
    near(&img, 20, 20, RED);
    let img = get(&t, &q("width=50&resize-filter=bilinear"), &[])
        .await
        .image();
    assert_eq!(img.dimensions(), (50, 25));
    let img = get(&t, &q("width=50&resize-filter=lanczos2&frame=1"), &[])
        .await
        .image();
    near(&img, 5, 5, RED);
}

#[tokio::test]
async fn a_png_with_a_bad_checksum_renders_as_browsers_show_it() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let mut bytes = png(&quadrants(40, 20));
    // Break the IDAT chunk's CRC (browsers ignore it).
    let idat = bytes.windows(4).position(|w| w == b"IDAT").unwrap();
    let len = u32::from_be_bytes(bytes[idat - 4..idat].try_into().unwrap()) as usize;
    bytes[idat + 4 + len] ^= 0xFF;
    let (_, url, _) = uploaded(&s, "crc.png", &bytes).await;
    let img = get(&t, &format!("{url}?width=20&format=webp"), &[])
        .await
        .image();
    assert_eq!(img.dimensions(), (20, 10));
    near(&img, 2, 2, RED);
}

#[tokio::test]
async fn exif_orientation_is_applied_first() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    // Stored sideways with "rotate 90° clockwise to display" (6).
    let (_, url, _) = uploaded(&s, "side.jpg", &jpeg(&quadrants(200, 100), Some(6))).await;
    let img = get(&t, &format!("{url}?format=png"), &[]).await.image();
    assert_eq!(img.dimensions(), (100, 200));
    near(&img, 5, 5, BLUE);
    // Then the requested orientation, and resizing on the upright image.
    let img = get(&t, &format!("{url}?width=50&format=png"), &[])
        .await
        .image();
    assert_eq!(img.dimensions(), (50, 100));
    let img = get(&t, &format!("{url}?orient=2&format=png"), &[])
        .await
        .image();
    near(&img, 5, 5, RED);
}

/// `Vary` names `accept` itself (permanent URLs also vary on `accept-datetime`).
fn varies_on_accept(headers: &HeaderMap) -> bool {
    h(headers, "vary").split(',').any(|t| t.trim() == "accept")
}

#[tokio::test]
async fn auto_follows_accept_with_vary_and_format_wins() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (_, url, perm) = uploaded(&s, "a.png", &png(&quadrants(200, 100))).await;
    let chrome = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8";
    for base in [&url, &perm] {
        let g = get(
            &t,
            &format!("{base}?auto=webp&width=50"),
            &[("accept", chrome)],
        )
        .await;
        assert_eq!(h(&g.headers, "content-type"), "image/webp");
        assert!(varies_on_accept(&g.headers), "{:?}", g.headers);
        let g = get(
            &t,
            &format!("{base}?auto=webp&width=50"),
            &[("accept", "*/*")],
        )
        .await;
        assert_eq!(h(&g.headers, "content-type"), "image/png");
        assert!(varies_on_accept(&g.headers));
        let g = get(
            &t,
            &format!("{base}?auto=avif&width=50"),
            &[("accept", chrome)],
        )
        .await;
        assert_eq!(h(&g.headers, "content-type"), "image/avif");
        // Without other parameters and an Accept that refuses WebP: the original file,
        // still with Vary: Accept.
        let g = get(&t, &format!("{base}?auto=webp"), &[("accept", "image/png")]).await;
        assert_eq!(h(&g.headers, "content-type"), "image/png");
        assert_eq!(g.body, png(&quadrants(200, 100)));
        assert!(varies_on_accept(&g.headers));
        let g = get(
            &t,
            &format!("{base}?auto=webp&format=jpg"),
            &[("accept", chrome)],
        )
        .await;
        assert_eq!(h(&g.headers, "content-type"), "image/jpeg");
        assert!(!varies_on_accept(&g.headers));
    }
}

#[tokio::test]
async fn bad_values_are_400_naming_the_parameter_and_limits_are_422() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (_, url, perm) = uploaded(&s, "b.png", &png(&quadrants(200, 100))).await;
    for base in [&url, &perm] {
        for (p, name) in [
            ("width=abc", "width"),
            ("width=0", "width"),
            ("height=-1", "height"),
            ("fit=cover", "fit"),
            ("format=bmp", "format"),
            ("quality=0", "quality"),
            ("orient=9", "orient"),
            ("crop=1,2,3", "crop"),
            ("trim=a", "trim"),
            ("bg-color=zzzzzz&pad=1", "bg-color"),
            ("blur=1001", "blur"),
            ("sharpen=a1", "sharpen"),
            ("brightness=500", "brightness"),
            ("resize-filter=magic", "resize-filter"),
            ("dpr=2", "dpr"),
            ("auto=png", "auto"),
        ] {
            let g = get(&t, &format!("{base}?{p}"), &[]).await;
            assert_eq!(g.status, StatusCode::BAD_REQUEST, "{p}");
            let v = g.json();
            assert_eq!(v["error_code"], 100, "{p}: {v}");
            assert!(
                v["error_message"].as_str().unwrap().contains(name),
                "{p}: {v}"
            );
        }
        for p in [
            "width=9000",
            "width=5000&dpr=2",
            "crop=500,100",
            "trim=50,0,50,0",
            "canvas=9000,10",
            "width=8000&pad=200",
        ] {
            let g = get(&t, &format!("{base}?{p}"), &[]).await;
            assert_eq!(g.status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
            assert_eq!(g.json()["error_code"], 422, "{p}");
        }
    }
    // Nothing was stored for the refused requests, and the file is intact.
    assert_eq!(metric(&t, "perma_renditions_stored").await, 0);
    let g = get(&t, &url, &[]).await;
    assert_eq!(g.body, png(&quadrants(200, 100)));
    // Unknown parameters are ignored; non-images ignore transform parameters.
    let g = get(&t, &format!("{url}?colour=blue&utm_source=x"), &[]).await;
    assert_eq!(g.body, png(&quadrants(200, 100)));
    let (_, txt, _) = uploaded(&s, "n.txt", b"not an image").await;
    let g = get(&t, &format!("{txt}?width=100&format=webp"), &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body, b"not an image");
    assert_eq!(h(&g.headers, "content-type"), "text/plain");
}

#[tokio::test]
async fn a_declared_decompression_bomb_is_refused_without_allocating_it() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    // A valid PNG header that declares 60,000 × 60,000 px (14 GB as RGBA), one tiny IDAT.
    let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0, 0, 0, 0]); // CRC unchecked by the size reader
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut bomb, b"IHDR", &ihdr);
    chunk(
        &mut bomb,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut bomb, b"IEND", &[]);
    let (_, url, _) = uploaded(&s, "bomb.png", &bomb).await;
    let before = peak_rss_kib();
    for p in ["width=100", "format=webp", "crop=10,10"] {
        let g = get(&t, &format!("{url}?{p}"), &[]).await;
        assert_eq!(g.status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        let v = g.json();
        assert!(
            v["error_message"].as_str().unwrap().contains("60000"),
            "{v}"
        );
    }
    let after = peak_rss_kib();
    assert!(
        after.saturating_sub(before) < 64 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    // The file itself is still served as it is.
    assert_eq!(get(&t, &url, &[]).await.body, bomb);
}

/// This process's peak resident set (the server runs in it).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
