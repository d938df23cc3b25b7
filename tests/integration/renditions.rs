//! §11 renditions as stored files: rendered once, served like files by both paths, and
//! evicted least recently used past the storage budget.

use std::time::Duration;

use image::GenericImageView as _;

use reqwest::StatusCode;

use crate::images::{get, h, metric, png, quadrants, uploaded, Got};
use crate::support::TestApp;

#[tokio::test]
async fn renditions_render_once_and_are_served_like_files_by_both_paths() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (uid, url, perm) = uploaded(&s, "r.png", &png(&quadrants(400, 200))).await;
    let wanted = format!("{perm}?width=120&format=webp");
    let first = get(&t, &wanted, &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(metric(&t, "perma_renditions_rendered_total").await, 1);
    let etag = h(&first.headers, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");
    // The same request in another spelling: no decode, same bytes and ETag, from the fast path.
    // (A new connection: the first one was handed to the router for the render, and a
    // connection the router took stays with it.)
    let fast_before = t.app.delivery.counters.get(perma::delivery::Writer::Fast);
    let resp = reqwest::Client::new()
        .get(format!("{perm}?format=webp&width=0120&utm=1"))
        .send()
        .await
        .unwrap();
    let again = Got {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    };
    assert_eq!(again.body, first.body);
    assert_eq!(h(&again.headers, "etag"), etag);
    assert_eq!(metric(&t, "perma_renditions_rendered_total").await, 1);
    assert!(t.app.delivery.counters.get(perma::delivery::Writer::Fast) > fast_before);
    // §4 on a rendition: every header, conditionals, ranges, HEAD.
    let hd = &again.headers;
    assert_eq!(h(hd, "content-length"), first.body.len().to_string());
    assert_eq!(h(hd, "accept-ranges"), "bytes");
    assert_eq!(h(hd, "x-content-type-options"), "nosniff");
    assert_eq!(
        h(hd, "cache-control"),
        "public, max-age=60, stale-while-revalidate=300"
    );
    assert_eq!(
        h(hd, "surrogate-key"),
        format!("asset-{uid} stack-{}", s.api_key())
    );
    assert!(!h(hd, "last-modified").is_empty());
    assert!(h(hd, "content-disposition").starts_with("inline; filename=\"r.webp\""));
    let g = get(&t, &wanted, &[("if-none-match", &etag)]).await;
    assert_eq!(g.status, StatusCode::NOT_MODIFIED);
    let g = get(&t, &wanted, &[("range", "bytes=0-9")]).await;
    assert_eq!(g.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(g.body, first.body[..10]);
    assert_eq!(
        h(&g.headers, "content-range"),
        format!("bytes 0-9/{}", first.body.len())
    );
    let g = get(&t, &wanted, &[("if-match", "\"other\"")]).await;
    assert_eq!(g.status, StatusCode::PRECONDITION_FAILED);
    let head = t.http.head(&wanted).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        h(head.headers(), "content-length"),
        first.body.len().to_string()
    );
    // The router serves it the same way (credentials send requests there).
    let g = t
        .http
        .get(&wanted)
        .header("authtoken", s.authtoken.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(g.status(), StatusCode::OK);
    assert_eq!(g.bytes().await.unwrap().to_vec(), first.body);
    // The version URL shares the rendition (same file bytes, same parameters).
    let g = get(&t, &format!("{url}?width=120&format=webp"), &[]).await;
    assert_eq!(h(&g.headers, "etag"), etag);
    assert_eq!(
        h(&g.headers, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(metric(&t, "perma_renditions_rendered_total").await, 1);

    // 20 concurrent requests for one missing rendition: one render.
    let wanted = format!("{perm}?width=77&format=png");
    let all = futures_util::future::join_all((0..20).map(|_| get(&t, &wanted, &[]))).await;
    let body = &all[0].body;
    for g in &all {
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(&g.body, body);
    }
    assert_eq!(metric(&t, "perma_renditions_rendered_total").await, 2);

    // A replace: the permanent URL gets a fresh rendition at once; the old version URL
    // keeps its own.
    let new = s.replace(&uid, "r.png", &png(&quadrants(300, 300))).await;
    let g = get(&t, &format!("{perm}?width=120&format=webp"), &[]).await;
    assert_ne!(h(&g.headers, "etag"), etag);
    assert_eq!(g.image().dimensions(), (120, 120));
    let old = get(&t, &format!("{url}?width=120&format=webp"), &[]).await;
    assert_eq!(h(&old.headers, "etag"), etag);
    assert_eq!(old.image().dimensions(), (120, 60));
    let new_url = new["url"].as_str().unwrap();
    let g = get(&t, &format!("{new_url}?width=120&format=webp"), &[]).await;
    assert_eq!(g.image().dimensions(), (120, 120));
}

#[tokio::test]
async fn the_size_budget_evicts_least_recently_used_renditions() {
    let t = TestApp::spawn_with(|c| c.rendition_budget_bytes = 6_000).await;
    let s = t.admin().await;
    let (_, url, _) = uploaded(&s, "e.png", &png(&quadrants(400, 200))).await;
    // PNG renditions of ~1–2 KB each; the budget holds a few.
    let mut kept = 0;
    for w in 40..60 {
        let g = get(&t, &format!("{url}?width={w}&format=png"), &[]).await;
        assert_eq!(g.status, StatusCode::OK);
        kept += 1;
        // The first one is kept warm: it is served between every render.
        let g = get(&t, &format!("{url}?width=40&format=png"), &[]).await;
        assert_eq!(g.status, StatusCode::OK);
        t.app.delivery.renditions.flush_usage().await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(kept, 20);
    let evicted = metric(&t, "perma_renditions_evicted_total").await;
    assert!(evicted > 0, "nothing evicted");
    let bytes = metric(&t, "perma_renditions_bytes").await;
    assert!(bytes <= 6_000, "{bytes} bytes stored");
    // The warm one survived (no new render); a cold one is rendered again.
    let rendered = metric(&t, "perma_renditions_rendered_total").await;
    get(&t, &format!("{url}?width=40&format=png"), &[]).await;
    assert_eq!(
        metric(&t, "perma_renditions_rendered_total").await,
        rendered
    );
    let g = get(&t, &format!("{url}?width=41&format=png"), &[]).await;
    assert_eq!(g.image().dimensions().0, 41);
    assert_eq!(
        metric(&t, "perma_renditions_rendered_total").await,
        rendered + 1
    );
    // Evicted blobs are gone from the store: blobs = the file + what is stored.
    let stored = metric(&t, "perma_renditions_stored").await as usize;
    assert_eq!(t.blob_count().await, 1 + stored);
}
