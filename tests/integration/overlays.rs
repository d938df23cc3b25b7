//! §11 overlays: another image of the same stack drawn over a rendition, named by its
//! version URL or permanent URL path; never anything outside the stack.

use image::GenericImageView as _;
use reqwest::{Method, StatusCode};

use crate::images::{get, h, metric, png, quadrants, uploaded};
use crate::listing::enc;
use crate::support::TestApp;

fn solid(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    png(&image::RgbImage::from_pixel(w, h, image::Rgb(rgb)))
}

#[track_caller]
fn near(img: &image::DynamicImage, x: u32, y: u32, want: [u8; 3]) {
    let p = img.get_pixel(x, y).0;
    let close = (0..3).all(|i| (i32::from(p[i]) - i32::from(want[i])).abs() <= 40);
    assert!(close, "pixel ({x},{y}) is {p:?}, expected about {want:?}");
}

/// The path of an absolute URL.
fn path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest[rest.find('/').unwrap()..].to_owned()
}

#[tokio::test]
async fn overlays_are_drawn_where_asked_and_follow_their_permanent_url() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (_, base, _) = uploaded(&s, "base.png", &png(&quadrants(400, 200))).await;
    let (badge_uid, badge_version, badge_permanent) =
        uploaded(&s, "badge.png", &solid(40, 20, [0, 0, 0])).await;
    let by_slug = enc(&path(&badge_permanent));
    let q = |p: &str| format!("{base}?overlay={by_slug}&{p}");

    // Bottom right, natural size: 40 × 20 black in the yellow quadrant.
    let got = get(&t, &q("overlay-align=bottom,right"), &[]).await;
    let img = got.image();
    assert_eq!(img.dimensions(), (400, 200));
    near(&img, 395, 195, [0, 0, 0]);
    near(&img, 355, 195, [255, 255, 0]);
    near(&img, 10, 10, [255, 0, 0]);
    // The answer changes with the overlay's permanent URL: not immutable, though the base
    // is a version URL.
    assert!(!h(&got.headers, "cache-control").contains("immutable"));
    let first_etag = h(&got.headers, "etag").to_owned();
    // Alignment is the same in either order; the default is the middle.
    let again = get(&t, &q("overlay-align=right,bottom"), &[]).await;
    assert_eq!(h(&again.headers, "etag"), first_etag);
    let img = get(&t, &q(""), &[]).await.image();
    near(&img, 200, 100, [0, 0, 0]);
    near(&img, 170, 100, [0, 0, 255]);

    // A percentage of the base: half the width, the height keeping the aspect ratio.
    let img = get(&t, &q("overlay-width=50p&overlay-align=bottom,right"), &[])
        .await
        .image();
    near(&img, 210, 110, [0, 0, 0]);
    near(&img, 190, 110, [0, 0, 255]);
    near(&img, 210, 90, [0, 255, 0]);
    // Repeated across the top.
    let img = get(&t, &q("overlay-align=top&overlay-repeat=x"), &[])
        .await
        .image();
    for x in [2, 100, 250, 398] {
        near(&img, x, 10, [0, 0, 0]);
    }
    near(&img, 10, 30, [255, 0, 0]);
    // Padding is transparent room around it.
    let img = get(&t, &q("overlay-align=top,left&overlay-pad=10"), &[])
        .await
        .image();
    near(&img, 5, 5, [255, 0, 0]);
    near(&img, 15, 15, [0, 0, 0]);
    near(&img, 55, 15, [255, 0, 0]);
    // After resize, before pad: the overlay is drawn on the 100 × 50 image.
    let img = get(
        &t,
        &q("width=100&overlay-align=top,left&pad=10&bg-color=fff"),
        &[],
    )
    .await
    .image();
    assert_eq!(img.dimensions(), (120, 70));
    near(&img, 5, 5, [255, 255, 255]);
    near(&img, 15, 15, [0, 0, 0]);

    // `sharpen` takes a decimal amount, as the Image Delivery API documents.
    let got = get(&t, &format!("{base}?sharpen=a1.5,r10,t0"), &[]).await;
    assert_eq!(got.image().dimensions(), (400, 200));
    let got = get(&t, &format!("{base}?sharpen=a10.5,r10,t0"), &[]).await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST);

    // Named by its version URL, the overlay is one file forever: immutable.
    let by_version = format!(
        "{base}?overlay={}&overlay-align=bottom,right",
        enc(&path(&badge_version))
    );
    let got = get(&t, &by_version, &[]).await;
    near(&got.image(), 395, 195, [0, 0, 0]);
    assert!(h(&got.headers, "cache-control").contains("immutable"));

    // Replacing the overlay's file changes every rendition that names it by permanent URL.
    s.replace(&badge_uid, "badge.png", &solid(40, 20, [255, 255, 255]))
        .await;
    let got = get(&t, &q("overlay-align=bottom,right"), &[]).await;
    near(&got.image(), 395, 195, [255, 255, 255]);
    assert_ne!(h(&got.headers, "etag"), first_etag);
    // The version URL keeps its file.
    near(
        &get(&t, &by_version, &[]).await.image(),
        395,
        195,
        [0, 0, 0],
    );
}

#[tokio::test]
async fn overlays_outside_the_stack_or_not_images_are_refused() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (base_uid, base, _) = uploaded(&s, "base.png", &png(&quadrants(200, 100))).await;
    let (badge_uid, _, badge) = uploaded(&s, "badge.png", &solid(20, 10, [0, 0, 0])).await;
    let (_, _, text) = uploaded(&s, "notes.txt", b"not an image").await;
    let other = t.admin().await.with_new_stack("elsewhere").await;
    let (_, _, foreign) = uploaded(&other, "logo.png", &solid(20, 10, [0, 0, 0])).await;
    let rendered = metric(&t, "perma_renditions_rendered").await;

    let k = s.api_key().to_owned();
    let cases = [
        ("https://elsewhere.example/logo.png".to_owned(), "outside"),
        (
            "//elsewhere.example/v3/assets/a/b/c.png".to_owned(),
            "outside",
        ),
        (path(&foreign), "another stack"),
        (path(&text), "not an image"),
        (
            format!("/v3/assets/{k}/blt0000000000000000/x.png"),
            "unknown asset",
        ),
        (
            format!("/v3/assets/{k}/{badge_uid}/wrong-slug"),
            "wrong slug",
        ),
        (format!("{}?width=10", path(&badge)), "a query"),
    ];
    for (overlay, why) in cases {
        let got = get(&t, &format!("{base}?overlay={}", enc(&overlay)), &[]).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "{why}: {overlay}");
        let v = got.json();
        let msg = v["error_message"].as_str().unwrap();
        assert!(msg.contains("overlay"), "{why}: {msg}");
    }
    for bad in [
        "overlay-align=sideways",
        "overlay-align=top,bottom",
        "overlay-repeat=diagonal",
        "overlay-width=0",
    ] {
        let url = format!("{base}?overlay={}&{bad}", enc(&path(&badge)));
        let got = get(&t, &url, &[]).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "{bad}");
        let name = bad.split('=').next().unwrap();
        assert!(got.json()["error_message"].as_str().unwrap().contains(name));
    }
    let got = get(&t, &format!("{base}?overlay-width=10"), &[]).await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST);
    // Nothing was rendered for any of them.
    assert_eq!(metric(&t, "perma_renditions_rendered").await, rendered);

    // A delivery request's overlay must be published to its environment.
    s.environment("production").await;
    let token = s.delivery_token(&["production"]).await;
    s.publish(&base_uid, "production", &[]).await;
    let (_, v) = s
        .call(Method::GET, &format!("/v3/assets/{base_uid}"), None)
        .await;
    let permanent = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
    let cda = format!(
        "{permanent}?environment=production&access_token={token}&overlay={}",
        enc(&path(&badge))
    );
    let got = get(&t, &cda, &[]).await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST);
    s.publish(&badge_uid, "production", &[]).await;
    let img = get(&t, &cda, &[]).await.image();
    near(&img, 100, 50, [0, 0, 0]);
    near(&img, 10, 10, [255, 0, 0]);
}
