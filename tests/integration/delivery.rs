//! §2 and §4: serving bytes with correct HTTP semantics.

use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Session, TestApp};

pub(crate) async fn asset_with_permanent(
    s: &Session,
    name: &str,
    bytes: &[u8],
    slug: &str,
) -> (String, String, String) {
    let a = s.upload(name, bytes).await;
    let id = a["uid"].as_str().unwrap().to_owned();
    let (st, v) = s.set_permanent(&id, slug).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    (
        id,
        v["asset"]["url"].as_str().unwrap().to_owned(),
        v["asset"]["permanent_url"].as_str().unwrap().to_owned(),
    )
}

fn h<'a>(m: &'a HeaderMap, k: &str) -> &'a str {
    m.get(k).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[tokio::test]
async fn headers_ranges_and_conditionals() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let (id, version_url, perm_url) =
        asset_with_permanent(&s, "data file.bin", &body, "data").await;
    let http = &t.http;

    let r = http.get(&perm_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let hd = r.headers().clone();
    assert_eq!(h(&hd, "content-length"), "1000");
    assert_eq!(h(&hd, "accept-ranges"), "bytes");
    assert_eq!(h(&hd, "x-content-type-options"), "nosniff");
    assert_eq!(
        h(&hd, "cache-control"),
        "public, max-age=60, stale-while-revalidate=300"
    );
    assert_eq!(
        h(&hd, "surrogate-key"),
        format!("asset-{id} stack-{}", s.api_key())
    );
    assert!(h(&hd, "cache-tag").contains(&format!("asset-{id}")));
    assert!(
        h(&hd, "content-disposition").starts_with("inline; filename=\"data_file.bin\""),
        "{}",
        h(&hd, "content-disposition")
    );
    assert!(hd.get("content-security-policy").is_none());
    let etag = h(&hd, "etag").to_owned();
    assert!(
        etag.starts_with('"') && etag.len() > 40,
        "strong etag: {etag}"
    );
    let last_modified = h(&hd, "last-modified").to_owned();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..]);

    let r = http.get(&version_url).send().await.unwrap();
    assert_eq!(
        h(r.headers(), "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(h(r.headers(), "etag"), etag);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..]);

    // HEAD: headers, no body.
    let r = http.head(&perm_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(r.headers(), "content-length"), "1000");
    assert!(r.bytes().await.unwrap().is_empty());

    let get = |hs: Vec<(&'static str, String)>| {
        let mut rb = http.get(&perm_url);
        for (k, v) in hs {
            rb = rb.header(k, v);
        }
        rb.send()
    };
    // Ranges.
    let r = get(vec![("range", "bytes=10-19".into())]).await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(h(r.headers(), "content-range"), "bytes 10-19/1000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[10..20]);
    let r = get(vec![("range", "bytes=990-".into())]).await.unwrap();
    assert_eq!(h(r.headers(), "content-range"), "bytes 990-999/1000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[990..]);
    let r = get(vec![("range", "bytes=-5".into())]).await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[995..]);
    let r = get(vec![("range", "bytes=1000-".into())]).await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(h(r.headers(), "content-range"), "bytes */1000");
    let r = get(vec![("range", "bytes=0-1,5-6".into())]).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().len(), 1000);
    // If-Range: matching strong ETag honours the range, a stale one gets the full body.
    let r = get(vec![
        ("range", "bytes=0-9".into()),
        ("if-range", etag.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let r = get(vec![
        ("range", "bytes=0-9".into()),
        ("if-range", "\"stale\"".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(vec![
        ("range", "bytes=0-9".into()),
        ("if-range", last_modified.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let r = get(vec![
        ("range", "bytes=0-9".into()),
        ("if-range", "Mon, 01 Jan 2001 00:00:00 GMT".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Conditionals.
    let r = get(vec![("if-none-match", etag.clone())]).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(h(r.headers(), "etag"), etag);
    let r = get(vec![("if-none-match", format!("\"x\", W/{etag}"))])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = get(vec![("if-none-match", "\"other\"".into())])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(vec![("if-modified-since", last_modified.clone())])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = get(vec![(
        "if-modified-since",
        "Mon, 01 Jan 2001 00:00:00 GMT".into(),
    )])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(vec![("if-match", "\"other\"".into())]).await.unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = get(vec![("if-match", etag.clone())]).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(vec![(
        "if-unmodified-since",
        "Mon, 01 Jan 2001 00:00:00 GMT".into(),
    )])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);

    // Downloads.
    for q in ["dl=1", "download=true"] {
        let r = http.get(format!("{perm_url}?{q}")).send().await.unwrap();
        assert!(h(r.headers(), "content-disposition").starts_with("attachment;"));
    }
}

#[tokio::test]
async fn active_content_is_sandboxed_and_names_are_encoded() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    for (name, bytes) in [
        ("page.html", &b"<html><script>alert(1)</script></html>"[..]),
        (
            "pic.svg",
            &b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"[..],
        ),
        (
            "disguised.txt",
            &b"<!DOCTYPE html><script>alert(1)</script>"[..],
        ),
    ] {
        let a = s.upload(name, bytes).await;
        let r = t.http.get(a["url"].as_str().unwrap()).send().await.unwrap();
        let csp = h(r.headers(), "content-security-policy");
        assert!(csp.starts_with("sandbox"), "{name}: {csp:?}");
        assert_eq!(h(r.headers(), "x-content-type-options"), "nosniff");
    }
    let a = s.upload("Überschrift 2024.txt", b"umlaut").await;
    let r = t.http.get(a["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cd = h(r.headers(), "content-disposition");
    assert!(
        cd.contains("filename*=UTF-8''%C3%9Cberschrift_2024.txt"),
        "{cd}"
    );
}

#[tokio::test]
async fn replace_publish_environment_and_410() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let (id, v1_url, perm) = asset_with_permanent(&s, "doc.txt", b"first", "doc").await;
    // Not published yet.
    let r = t
        .http
        .get(format!("{perm}?environment=production"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = t
        .http
        .get(format!("{perm}?environment=nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.publish(&id, "production", &[]).await;
    let r2 = s.replace(&id, "doc.txt", b"second").await;
    let v2_url = r2["url"].as_str().unwrap();
    assert_ne!(v1_url, v2_url);
    assert_eq!(
        r2["permanent_url"],
        json!(perm),
        "the permanent URL never changes"
    );
    // Latest through the permanent URL, published through ?environment, each version its own.
    assert_eq!(
        t.http
            .get(&perm)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "second"
    );
    assert_eq!(
        t.http
            .get(format!("{perm}?environment=production"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        t.http
            .get(format!("{perm}?environment=production&locale=en-us"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        t.http
            .get(&v1_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        t.http
            .get(v2_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "second"
    );
    // Wrong slug, wrong file uid, other asset's file: 404.
    let base = perm.rsplit_once('/').unwrap().0;
    assert_eq!(
        t.http
            .get(format!("{base}/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.http
            .get(format!("{base}/000000000000000000000000/x.txt"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let other = s.upload("other.txt", b"other").await;
    let other_file = other["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(
        t.http
            .get(format!("{base}/{other_file}/x"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // Management download: latest, drafts included, by slug or file name, and the 2-segment path.
    let mgmt = |url: String| s.request(Method::GET, &url);
    assert_eq!(
        mgmt(perm.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "second"
    );
    let r = mgmt(format!("{base}/doc.txt")).send().await.unwrap();
    assert_eq!(
        r.headers()["cache-control"].to_str().unwrap(),
        "private, max-age=60, stale-while-revalidate=300"
    );
    assert_eq!(r.text().await.unwrap(), "second");
    assert_eq!(
        mgmt(base.to_owned())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "second"
    );
    assert_eq!(
        t.http.get(base).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // Deleted: 410 for every URL of the asset.
    s.call(Method::DELETE, &format!("/v3/assets/{id}"), None)
        .await;
    for url in [perm.clone(), v1_url.clone(), v2_url.to_owned()] {
        let r = t.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::GONE, "{url}");
    }
    let unknown = format!(
        "{}/v3/assets/{}/blt0000000000000000/doc",
        t.base,
        s.api_key()
    );
    assert_eq!(
        t.http.get(unknown).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn replace_is_atomic_for_readers() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let size = 1 << 20;
    let a_bytes = vec![b'a'; size];
    let b_bytes = vec![b'b'; size];
    let (id, _, perm) = asset_with_permanent(&s, "flip.bin", &a_bytes, "flip").await;

    // A download that started before a replace completes with the old bytes.
    let big_old: Vec<u8> = (0..(8 << 20)).map(|i: u32| (i % 253) as u8).collect();
    s.replace(&id, "flip.bin", &big_old).await;
    let resp = t.http.get(&perm).send().await.unwrap();
    let mut stream = resp.bytes_stream();
    let mut got = stream.next().await.unwrap().unwrap().to_vec();
    s.replace(&id, "flip.bin", &b_bytes).await;
    while let Some(c) = stream.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert!(
        got == big_old,
        "an in-flight download must finish with the old bytes"
    );

    // Readers during a replace loop see one file or the other, never a mix.
    let writer = {
        let s = s.clone();
        let id = id.clone();
        let (a, b) = (a_bytes.clone(), b_bytes.clone());
        tokio::spawn(async move {
            for i in 0..20 {
                s.replace(&id, "flip.bin", if i % 2 == 0 { &a } else { &b })
                    .await;
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..4 {
        let http = t.http.clone();
        let perm = perm.clone();
        let (a, b) = (a_bytes.clone(), b_bytes.clone());
        readers.push(tokio::spawn(async move {
            let mut n = 0;
            for _ in 0..25 {
                let body = http.get(&perm).send().await.unwrap().bytes().await.unwrap();
                assert!(
                    body.as_ref() == a.as_slice() || body.as_ref() == b.as_slice(),
                    "torn read of {} bytes",
                    body.len()
                );
                n += 1;
            }
            n
        }));
    }
    writer.await.unwrap();
    for r in readers {
        assert_eq!(r.await.unwrap(), 25);
    }
}

#[tokio::test]
async fn large_files_round_trip_in_parts_and_ranges() {
    // 20 MiB: on S3 this is a multipart upload (8 MiB parts) and ranged GETs.
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let body: Vec<u8> = (0..(20u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (_, url, perm) = asset_with_permanent(&s, "large.bin", &body, "large").await;
    let got = t
        .http
        .get(&perm)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == body.as_slice(), "full body");
    let (a, b) = (8 << 20, (12 << 20) + 17);
    let r = t
        .http
        .get(&url)
        .header("range", format!("bytes={a}-{b}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert!(
        r.bytes().await.unwrap().as_ref() == &body[a..=b],
        "middle range"
    );
    let r = t
        .http
        .get(&url)
        .header("range", "bytes=-100")
        .send()
        .await
        .unwrap();
    assert!(
        r.bytes().await.unwrap().as_ref() == &body[body.len() - 100..],
        "suffix range"
    );
}

/// §4 "Which file" on an asset with more versions than its index entry keeps (the current
/// file and the 16 newest): every version URL still serves its own bytes, on the fast path
/// and the router, a published or restored old file is found, and a file of another asset
/// or no file at all is a 404.
#[tokio::test]
async fn every_version_url_of_an_asset_with_many_versions_serves_its_file() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let (id, first_url, perm) = asset_with_permanent(&s, "v.txt", b"v0", "v").await;
    s.publish(&id, "production", &[]).await;
    let mut urls = vec![first_url.clone()];
    for i in 1..25 {
        let r = s.replace(&id, "v.txt", format!("v{i}").as_bytes()).await;
        urls.push(r["url"].as_str().unwrap().to_owned());
    }
    let other = s.upload("other.txt", b"other").await;
    let dt = s.delivery_token(&["production"]).await;
    let body = |u: String, auth: bool| {
        let mut r = t.http.get(u);
        if auth {
            r = r.header("authtoken", s.authtoken.clone().unwrap());
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    // Twice each: the first answer may load the entry, the second comes from it.
    for _ in 0..2 {
        for (i, u) in urls.iter().enumerate() {
            let want = format!("v{i}");
            assert_eq!(
                body(u.clone(), false).await,
                (StatusCode::OK, want.clone()),
                "{u}"
            );
            assert_eq!(body(u.clone(), true).await, (StatusCode::OK, want), "{u}");
        }
    }
    assert_eq!(
        body(perm.clone(), false).await,
        (StatusCode::OK, "v24".into())
    );
    assert_eq!(
        body(format!("{perm}?environment=production"), false).await,
        (StatusCode::OK, "v0".into()),
        "the published first file"
    );
    // A delivery token: the published (old) file's version URL, and no other.
    assert_eq!(
        body(
            format!("{first_url}?access_token={dt}&environment=production"),
            false
        )
        .await,
        (StatusCode::OK, "v0".into())
    );
    let (st, _) = body(
        format!("{}?access_token={dt}&environment=production", urls[3]),
        false,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Another asset's file, and a file uid no asset has, under this asset.
    let other_file = other["url"]
        .as_str()
        .unwrap()
        .split('/')
        .rev()
        .nth(1)
        .unwrap()
        .to_owned();
    let mine_file = first_url.split('/').rev().nth(1).unwrap().to_owned();
    for (file, auth) in [
        (other_file.as_str(), false),
        (other_file.as_str(), true),
        ("0123456789abcdef01234567", false),
        ("0123456789abcdef01234567", true),
    ] {
        let u = first_url.replace(&mine_file, file);
        let (st, _) = body(u.clone(), auth).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{u}");
    }
    // Restoring the first version makes its (old) file current again.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        body(perm.clone(), false).await,
        (StatusCode::OK, "v0".into())
    );
    assert_eq!(
        body(urls[24].clone(), false).await,
        (StatusCode::OK, "v24".into())
    );
}
