//! A permanent URL as of a date (RFC 7089): `?at=` and `Accept-Datetime` serve the version
//! current (or published) at that instant with `Memento-Datetime` and `Link`, immutable
//! caching for the past, 404 before the asset existed, 410 after its deletion, 400 for a
//! malformed date; the TimeMap lists every version, a page at a time.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::images::{get, h};
use crate::rawdb::{run_sql, Arg};
use crate::support::{assert_error, TestApp};
use perma::time::now_ms;

/// An instant strictly between what happened before and what happens after.
async fn instant() -> i64 {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let t = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    t
}

fn iso(ms: i64) -> String {
    perma::time::iso8601(ms)
}

fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(ms as u64))
}

fn path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest[rest.find('/').unwrap()..].to_owned()
}

#[tokio::test]
async fn a_permanent_url_answers_as_of_a_date() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let before_anything = instant().await;
    let a = s.upload("notes.txt", b"first").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let first_url = a["url"].as_str().unwrap().to_owned();
    let (st, v) = s.set_permanent(&uid, "notes").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let permanent = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
    let during_first = instant().await;
    let second = s.replace(&uid, "notes.txt", b"second").await;
    let second_url = second["url"].as_str().unwrap().to_owned();
    // A second apart, so that an HTTP date (whole seconds) falls between the two.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let during_second = instant().await;
    s.replace(&uid, "notes.txt", b"third").await;
    let now = instant().await;

    let at = |ms: i64| format!("{permanent}?at={}", iso(ms));
    for (when, body) in [
        (during_first, &b"first"[..]),
        (during_second, b"second"),
        (now, b"third"),
    ] {
        let g = get(&t, &at(when), &[]).await;
        assert_eq!(g.status, StatusCode::OK, "{}", iso(when));
        assert_eq!(g.body, body, "{}", iso(when));
        assert_eq!(
            h(&g.headers, "cache-control"),
            "public, max-age=31536000, immutable",
            "the past does not change"
        );
        assert!(!h(&g.headers, "vary").contains("accept-datetime"));
        assert!(!h(&g.headers, "memento-datetime").is_empty());
        let link = h(&g.headers, "link");
        let original = path(&permanent);
        assert!(
            link.contains(&format!("<{original}>; rel=\"original timegate\"")),
            "{link}"
        );
        assert!(
            link.contains(&format!("<{original}?timemap=link>; rel=\"timemap\"")),
            "{link}"
        );
    }
    // The memento names the version URL it served, with that version's date.
    let g = get(&t, &at(during_second), &[]).await;
    let link = h(&g.headers, "link");
    assert!(
        link.contains(&format!("<{}>; rel=\"memento\"", path(&second_url))),
        "{link}"
    );
    let (_, versions) = s.get(&format!("/v3/assets/{uid}/versions")).await;
    let made = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["_version"] == 3)
        .unwrap()["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = perma::time::parse_iso8601(&made).unwrap();
    assert_eq!(h(&g.headers, "memento-datetime"), http_date(made));
    // A future instant is what the URL answers now, and may still change.
    let g = get(&t, &at(now + 86_400_000), &[]).await;
    assert_eq!(g.body, b"third");
    assert!(!h(&g.headers, "cache-control").contains("immutable"));

    // Accept-Datetime negotiates the same, and the answer varies on it.
    let header_date = http_date((during_second / 1000) * 1000 + 999);
    let g = get(&t, &permanent, &[("accept-datetime", &header_date)]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body, b"second", "{header_date}");
    assert!(h(&g.headers, "vary").contains("accept-datetime"));
    // `at=` wins over the header.
    let g = get(&t, &at(during_first), &[("accept-datetime", &header_date)]).await;
    assert_eq!(g.body, b"first");
    // Plain permanent URL answers vary on it too, on both paths.
    for headers in [
        &[][..],
        &[("authtoken", s.authtoken.as_deref().unwrap())][..],
    ] {
        let g = get(&t, &permanent, headers).await;
        assert_eq!(g.body, b"third");
        assert!(
            h(&g.headers, "vary").contains("accept-datetime"),
            "{:?}",
            g.headers
        );
    }
    // A version URL is a memento already: `at=` changes nothing.
    let g = get(&t, &format!("{first_url}?at={}", iso(now)), &[]).await;
    assert_eq!(g.body, b"first");
    assert!(h(&g.headers, "memento-datetime").is_empty());

    // Before the asset existed: 404. Malformed: 400 naming the parameter or header.
    assert_error(
        t.anon()
            .get(&format!("{}?at={}", path(&permanent), iso(before_anything)))
            .await,
        404,
        145,
    );
    for bad in [
        "yesterday",
        "2026-02-30T25:00:00Z",
        "2026-03-01T09:00:00+02:00",
        "",
    ] {
        let g = get(&t, &format!("{permanent}?at={bad}"), &[]).await;
        assert_eq!(g.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(String::from_utf8_lossy(&g.body).contains("at"), "{bad}");
    }
    let g = get(&t, &permanent, &[("accept-datetime", "last tuesday")]).await;
    assert_eq!(g.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&g.body).contains("Accept-Datetime"));

    // The TimeMap: every version with its version URL and date, oldest first.
    let g = get(&t, &format!("{permanent}?timemap=link"), &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(h(&g.headers, "content-type"), "application/link-format");
    let map = String::from_utf8(g.body).unwrap();
    let mementos: Vec<&str> = map.lines().filter(|l| l.contains("memento")).collect();
    assert_eq!(mementos.len(), 4, "{map}");
    assert!(mementos[0].contains(&path(&first_url)) && mementos[0].contains("first memento"));
    assert!(mementos[2].contains(&path(&second_url)), "{map}");
    assert!(mementos[3].contains("last memento"), "{map}");
    assert!(!map.contains("rel=\"next\""));
    for bad in ["0", "x", "-1"] {
        let g = get(&t, &format!("{permanent}?timemap=link&page={bad}"), &[]).await;
        assert_eq!(g.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Deleted: a time before the deletion still has its answer, one after is 410.
    let before_delete = instant().await;
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/assets/{uid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let after_delete = instant().await;
    let g = get(&t, &at(before_delete), &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body, b"third");
    assert_eq!(
        get(&t, &at(after_delete), &[]).await.status,
        StatusCode::GONE
    );
    assert_eq!(get(&t, &permanent, &[]).await.status, StatusCode::GONE);
}

#[tokio::test]
async fn as_of_a_date_in_an_environment_and_timemaps_in_pages() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let a = s.upload("price-list.txt", b"2025 prices").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let (_, v) = s.set_permanent(&uid, "prices").await;
    let permanent = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
    let unpublished_yet = instant().await;
    s.publish(&uid, "production", &[]).await;
    let first_published = instant().await;
    s.replace(&uid, "price-list.txt", b"2026 prices").await;
    let replaced_not_published = instant().await;
    s.publish(&uid, "production", &[]).await;
    let second_published = instant().await;
    // The environment's TimeMap lists what was published there (while it is: it is
    // checked as the permanent URL with that environment is).
    let g = get(
        &t,
        &format!("{permanent}?timemap=link&environment=production"),
        &[],
    )
    .await;
    let map = String::from_utf8(g.body).unwrap();
    assert_eq!(
        map.lines().filter(|l| l.contains("memento")).count(),
        2,
        "{map}"
    );
    s.unpublish(&uid, "production").await;
    let withdrawn = instant().await;
    // Withdrawn from the environment, its history there stays readable; published again
    // (the older version), that is one more entry.
    let (st, v) = s
        .call(
            Method::POST,
            &format!("/v3/assets/{uid}/publish"),
            Some(json!({"asset": {"environments": ["production"]}, "version": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let g = get(
        &t,
        &format!("{permanent}?timemap=link&environment=production"),
        &[],
    )
    .await;
    let map = String::from_utf8(g.body).unwrap();
    assert_eq!(
        map.lines().filter(|l| l.contains("memento")).count(),
        3,
        "{map}"
    );
    s.unpublish(&uid, "production").await;
    let g = get(
        &t,
        &format!("{permanent}?timemap=link&environment=production"),
        &[],
    )
    .await;
    assert_eq!(g.status, StatusCode::OK);
    let map = String::from_utf8(g.body).unwrap();
    assert_eq!(
        map.lines().filter(|l| l.contains("memento")).count(),
        3,
        "{map}"
    );

    let env_at = |ms: i64| format!("{permanent}?environment=production&at={}", iso(ms));
    assert_eq!(
        get(&t, &env_at(unpublished_yet), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    for (when, body) in [
        (first_published, &b"2025 prices"[..]),
        // Replaced, but not yet published: the site still showed the old file.
        (replaced_not_published, b"2025 prices"),
        (second_published, b"2026 prices"),
    ] {
        let g = get(&t, &env_at(when), &[]).await;
        assert_eq!(g.status, StatusCode::OK, "{}", iso(when));
        assert_eq!(g.body, body, "{}", iso(when));
    }
    assert_eq!(
        get(&t, &env_at(withdrawn), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    // Without an environment, the file current then, published or not.
    let g = get(
        &t,
        &format!("{permanent}?at={}", iso(replaced_not_published)),
        &[],
    )
    .await;
    assert_eq!(g.body, b"2026 prices");

    // Thousands of versions: the TimeMap pages (1,000 a page) with next and prev links.
    // The extra versions are written straight into the database, each a metadata edit.
    let insert = "INSERT INTO asset_versions (asset_uid, version, file_uid, title, \
                  description, tags, parent_uid, version_name, action, created_by, created_at) \
                  SELECT asset_uid, version + $2, file_uid, title, description, tags, \
                  parent_uid, version_name, 'update', created_by, created_at + $2 \
                  FROM asset_versions WHERE asset_uid = $1 AND version = 3";
    let rows: Vec<Vec<Arg>> = (1..=1200)
        .map(|i| vec![Arg::Text(&uid), Arg::Int(i)])
        .collect();
    run_sql(&t, insert, &rows).await;
    let page = |p: u32| {
        let t = &t;
        let url = format!("{permanent}?timemap=link&page={p}");
        async move { String::from_utf8(get(t, &url, &[]).await.body).unwrap() }
    };
    let one = page(1).await;
    assert_eq!(one.lines().filter(|l| l.contains("memento")).count(), 1000);
    assert!(one.contains("rel=\"next\"") && !one.contains("rel=\"prev\""));
    let two = page(2).await;
    let last = two.lines().filter(|l| l.contains("memento")).count();
    assert!(last > 200 && last < 1000, "{last}");
    assert!(two.contains("rel=\"prev\"") && !two.contains("rel=\"next\""));
    assert!(two.contains("last memento"));

    // A secured stack's TimeMap needs what its permanent URL needs.
    let (st, _) = s
        .call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"secure_asset_urls": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let g = get(&t, &format!("{permanent}?timemap=link"), &[]).await;
    assert_eq!(g.status, StatusCode::UNAUTHORIZED);
    let g = get(&t, &format!("{permanent}?at={}", iso(first_published)), &[]).await;
    assert_eq!(g.status, StatusCode::UNAUTHORIZED);
}
