//! Digests (RFC 9530) on every file answer and Subresource Integrity values in asset JSON:
//! from the stored hash, on both delivery paths, for whole, partial and HEAD answers and
//! renditions; `Want-Repr-Digest` is honoured; a version URL's digest never changes.

use reqwest::{Method, StatusCode};
use sha2::Digest as _;

use crate::images::{get, h, png, quadrants, uploaded};
use crate::support::TestApp;

fn b64(bytes: &[u8]) -> String {
    let sha: [u8; 32] = sha2::Sha256::digest(bytes).into();
    String::from_utf8(perma::digest::base64(&sha).to_vec()).unwrap()
}

fn repr(bytes: &[u8]) -> String {
    format!("sha-256=:{}:", b64(bytes))
}

#[tokio::test]
async fn every_file_answer_carries_the_digest_of_its_representation() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let first = b"the first edition of the guide".to_vec();
    let (uid, version, permanent) = uploaded(&s, "guide.txt", &first).await;
    let token = s.authtoken.clone().unwrap();
    let management = [("authtoken", token.as_str())];
    // The fast path (anonymous) and the router (management download) agree.
    for (url, headers) in [
        (&version, &[][..]),
        (&permanent, &[][..]),
        (&version, &management[..]),
        (&permanent, &management[..]),
    ] {
        let g = get(&t, url, headers).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(g.body, first);
        assert_eq!(
            h(&g.headers, "repr-digest"),
            repr(&first),
            "{url} {headers:?}"
        );
        // A range answer carries the digest of the whole representation.
        let mut with_range = headers.to_vec();
        with_range.push(("range", "bytes=4-8"));
        let g = get(&t, url, &with_range).await;
        assert_eq!(g.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(g.body, b"first");
        assert_eq!(h(&g.headers, "repr-digest"), repr(&first));
        // HEAD: the same header, no body.
        let r = t.http.head(url.as_str()).send().await.unwrap();
        assert_eq!(h(r.headers(), "repr-digest"), repr(&first));
        // Revalidation: a 304 carries only what guides caches.
        let etag = h(&g.headers, "etag").to_owned();
        let mut revalidate = headers.to_vec();
        revalidate.push(("if-none-match", &etag));
        let g = get(&t, url, &revalidate).await;
        assert_eq!(g.status, StatusCode::NOT_MODIFIED);
        assert_eq!(h(&g.headers, "repr-digest"), "");
    }
    // Want-Repr-Digest: refusing SHA-256, or wanting only another algorithm, gets none.
    for (want, sent) in [
        ("sha-256=0", false),
        ("sha-512=5", false),
        ("sha-512=5, sha-256=1", true),
        ("sha-256=10", true),
        ("nonsense", true),
    ] {
        for url in [&version, &permanent] {
            let g = get(&t, url, &[("want-repr-digest", want)]).await;
            assert_eq!(g.status, StatusCode::OK);
            let expected = if sent { repr(&first) } else { String::new() };
            assert_eq!(h(&g.headers, "repr-digest"), expected, "{want} on {url}");
        }
    }
    // The asset JSON names its current file's integrity value.
    let sri = format!("sha256-{}", b64(&first));
    let (_, v) = s.get(&format!("/v3/assets/{uid}")).await;
    assert_eq!(v["asset"]["integrity"], sri);

    // A replace: the permanent URL's digest follows the file, the version URL's never moves,
    // and each version in the history keeps its own integrity value.
    let second = b"the second edition".to_vec();
    let replaced = s.replace(&uid, "guide.txt", &second).await;
    assert_eq!(replaced["integrity"], format!("sha256-{}", b64(&second)));
    let g = get(&t, &permanent, &[]).await;
    assert_eq!(h(&g.headers, "repr-digest"), repr(&second));
    let g = get(&t, &version, &[]).await;
    assert_eq!(g.body, first);
    assert_eq!(h(&g.headers, "repr-digest"), repr(&first));
    let (_, v) = s.get(&format!("/v3/assets/{uid}/versions")).await;
    let by_version: Vec<(i64, String)> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x.get("integrity").is_some())
        .map(|x| {
            (
                x["_version"].as_i64().unwrap(),
                x["integrity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(by_version.contains(&(1, sri.clone())), "{v}");
    assert!(
        by_version.contains(&(3, format!("sha256-{}", b64(&second)))),
        "{v}"
    );

    // The CDA's asset JSON has it too.
    s.environment("production").await;
    s.publish(&uid, "production", &[]).await;
    let site = crate::cda::site_for(&t, &s, &["production"]).await;
    let (st, v) = site
        .get(&format!("/v3/assets/{uid}?environment=production"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["asset"]["integrity"], format!("sha256-{}", b64(&second)));
    // Folders have no file, so no integrity value.
    let folder = s.folder("Docs", None).await;
    let (_, v) = s
        .call(Method::GET, &format!("/v3/assets/folders/{folder}"), None)
        .await;
    assert!(v["asset"].get("integrity").is_none(), "{v}");
}

#[tokio::test]
async fn a_rendition_carries_the_digest_of_its_own_bytes() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let source = png(&quadrants(40, 20));
    let (_, version, permanent) = uploaded(&s, "q.png", &source).await;
    for url in [&version, &permanent] {
        let g = get(&t, &format!("{url}?width=10&format=png"), &[]).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_ne!(g.body, source);
        assert_eq!(h(&g.headers, "repr-digest"), repr(&g.body), "{url}");
        // Served again from the stored rendition: the same digest.
        let again = get(&t, &format!("{url}?format=png&width=10"), &[]).await;
        assert_eq!(h(&again.headers, "repr-digest"), repr(&again.body));
        assert_eq!(again.body, g.body);
    }
}
