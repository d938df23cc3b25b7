//! Link insights (§17) over HTTP: delivery answers counted per asset, URL kind, status
//! class and referring page; series, referrers, top, unused and dead links read back;
//! the stack setting, the roll-up, and every bad range refused with 422.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, metric, metrics_text, Session, TestApp};

/// Writes what was counted so far (the flusher would within its interval).
async fn flush(t: &TestApp) {
    t.app.insights.flush(&t.app.db).await.unwrap();
}

/// An anonymous GET (or HEAD) of a delivery URL, with an optional Referer.
async fn fetch(t: &TestApp, url: &str, referer: Option<&str>) -> reqwest::Response {
    let mut r = t.http.get(url);
    if let Some(page) = referer {
        r = r.header("referer", page);
    }
    r.send().await.unwrap()
}

async fn with_permanent(s: &Session, name: &str, bytes: &[u8], slug: &str) -> Value {
    let a = s.upload(name, bytes).await;
    let uid = a["uid"].as_str().unwrap();
    let (st, v) = s.set_permanent(uid, slug).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["asset"].clone()
}

#[tokio::test]
async fn answers_are_counted_per_kind_status_and_referring_page() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let bytes = vec![7u8; 3000];
    let a = with_permanent(&s, "hero.png", &bytes, "hero").await;
    let uid = a["uid"].as_str().unwrap();
    let version = a["url"].as_str().unwrap();
    let permanent = a["permanent_url"].as_str().unwrap();

    let blog = "https://blog.example.com/2026/launch?utm_source=x#top";
    for referer in [Some(blog), Some(blog), None] {
        let r = fetch(&t, version, referer).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().len(), bytes.len());
    }
    let r = fetch(&t, permanent, Some("http://partner.example:8080/assets")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = t
        .http
        .get(permanent)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    // A management download is not a link: not counted.
    let r = s.request(Method::GET, permanent).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    flush(&t).await;

    let (st, v) = s.get(&format!("/v3/assets/{uid}/insights")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let i = &v["insights"];
    assert_eq!(i["granularity"], "day");
    assert_eq!(i["totals"]["requests"], 5, "{v}");
    assert_eq!(i["totals"]["bytes"], 4 * bytes.len(), "{v}");
    assert_eq!(
        i["totals"]["by_kind"],
        json!({"version": 3, "permanent": 2})
    );
    assert_eq!(
        i["totals"]["by_status"],
        json!({"ok": 4, "not_modified": 1})
    );
    let hourly = s
        .get(&format!("/v3/assets/{uid}/insights?granularity=hour"))
        .await
        .1;
    let points = hourly["insights"]["series"].as_array().unwrap();
    assert!(points
        .iter()
        .all(|p| p["at"].as_str().unwrap().ends_with(":00:00.000Z")));
    assert_eq!(
        points
            .iter()
            .map(|p| p["requests"].as_i64().unwrap())
            .sum::<i64>(),
        5
    );

    let (st, v) = s.get(&format!("/v3/assets/{uid}/referrers")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Scheme, host and path only: no query, no fragment.
    assert_eq!(
        v["referrers"],
        json!([
            {"page": "https://blog.example.com/2026/launch", "requests": 2},
            {"page": "http://partner.example:8080/assets", "requests": 1}
        ])
    );
    assert_eq!(v["count"], 2);
    assert_eq!(
        v["sites"][0],
        json!({"site": "https://blog.example.com", "requests": 2})
    );

    // Bounded labels on /metrics: kind and status, never the asset.
    let n = metric(
        &t.http,
        &t.base,
        "perma_delivery_requests_total{kind=\"version\",status=\"ok\"}",
    )
    .await;
    assert_eq!(n, 3);
    let text = metrics_text(&t.http, &t.base).await;
    assert!(!text.contains(uid), "no asset uid in /metrics");

    // A second flush adds to the first (several processes add up the same way).
    fetch(&t, version, None).await;
    flush(&t).await;
    let v = s.get(&format!("/v3/assets/{uid}/insights")).await.1;
    assert_eq!(v["insights"]["totals"]["requests"], 6);
}

#[tokio::test]
async fn dead_links_name_the_asset_its_pages_and_what_to_link_instead() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = with_permanent(&s, "old.pdf", b"%PDF-1.4 old", "brochure").await;
    let uid = a["uid"].as_str().unwrap();
    let permanent = a["permanent_url"].as_str().unwrap().to_owned();
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/assets/{uid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let newsletter = "https://mail.example.com/issue/42";
    for _ in 0..3 {
        let r = fetch(&t, &permanent, Some(newsletter)).await;
        assert_eq!(r.status(), StatusCode::GONE);
    }
    // A uid that never was an asset of the stack is noise, not a dead link.
    let noise = format!("{}/v3/assets/{}/blt0000000000000000/x", t.base, s.api_key());
    assert_eq!(
        fetch(&t, &noise, Some(newsletter)).await.status(),
        StatusCode::NOT_FOUND
    );
    flush(&t).await;

    let (st, v) = s.get("/v3/insights/dead_links").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let links = v["dead_links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{v}");
    assert_eq!(links[0]["asset_uid"], uid);
    assert_eq!(links[0]["state"], "trashed");
    assert_eq!(links[0]["requests"], 3);
    assert_eq!(
        links[0]["pages"],
        json!([{"page": newsletter, "requests": 3}])
    );
    assert_eq!(links[0]["link_instead"], Value::Null);
    // Served answers of the asset have no referrers: the dead ones are listed apart.
    let v = s.get(&format!("/v3/assets/{uid}/referrers")).await.1;
    assert_eq!(v["referrers"], json!([]));

    // Restored: the requests stay on record, and the live URL is offered.
    let (st, v) = s
        .call(Method::POST, &format!("/v3/trash/{uid}/restore"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let v = s.get("/v3/insights/dead_links").await.1;
    assert_eq!(v["dead_links"][0]["state"], "live");
    assert_eq!(v["dead_links"][0]["link_instead"], permanent.as_str());
}

#[tokio::test]
async fn top_and_unused_assets() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let busy = s.upload("busy.png", b"busy").await;
    let quiet = s.upload("quiet.png", b"quiet").await;
    let never = s.upload("never.png", b"never").await;
    for _ in 0..3 {
        fetch(&t, busy["url"].as_str().unwrap(), None).await;
    }
    fetch(&t, quiet["url"].as_str().unwrap(), None).await;
    flush(&t).await;

    let (st, v) = s.get("/v3/insights/top").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let top: Vec<(&str, i64)> = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["uid"].as_str().unwrap(), a["requests"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        top,
        vec![
            (busy["uid"].as_str().unwrap(), 3),
            (quiet["uid"].as_str().unwrap(), 1)
        ]
    );
    assert_eq!(v["assets"][0]["title"], "busy.png");
    assert_eq!(v["assets"][0]["bytes"], 12);
    let v = s.get("/v3/insights/top?limit=1&skip=1").await.1;
    assert_eq!(v["assets"][0]["uid"], quiet["uid"]);

    let (st, v) = s.get("/v3/insights/unused?include_count=true").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["count"], 1);
    assert_eq!(v["assets"][0]["uid"], never["uid"]);
    // Without include_count the page comes alone (a count walks the whole stack).
    let v = s.get("/v3/insights/unused").await.1;
    assert_eq!(v["assets"].as_array().map(Vec::len), Some(1), "{v}");
    assert!(v.get("count").is_none(), "{v}");
    // A date in the future is refused; one long ago keeps the never requested one.
    let later = perma::time::iso8601(perma::time::now_ms() + 60_000);
    let v = s.get(&format!("/v3/insights/unused?since={later}")).await;
    assert_error(v, 422, 422);
    let v = s
        .get("/v3/insights/unused?since=2000-01-01&include_count=true")
        .await
        .1;
    assert_eq!(v["count"], 1);
}

#[tokio::test]
async fn bad_ranges_and_unknown_assets_are_refused() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("a.png", b"a").await;
    let uid = a["uid"].as_str().unwrap();
    let base = format!("/v3/assets/{uid}/insights");
    for (query, field) in [
        ("from=2026-12-01&to=2026-11-01", "from"),
        ("from=2026-12-01&to=2026-12-01", "from"),
        ("from=2024-01-01&to=2026-01-01", "to"),
        ("granularity=week", "granularity"),
        (
            "from=2026-01-01&to=2026-03-01&granularity=hour",
            "granularity",
        ),
        ("from=yesterday", "from"),
        ("to=2026-13-45T99:00:00Z", "to"),
    ] {
        let v = assert_error(s.get(&format!("{base}?{query}")).await, 422, 422);
        assert!(v["errors"][field].is_array(), "{query}: {v}");
    }
    let v = assert_error(
        s.get("/v3/insights/top?from=2026-12-01&to=2026-11-01")
            .await,
        422,
        422,
    );
    assert!(v["errors"]["from"].is_array(), "{v}");
    assert_error(s.get("/v3/insights/dead_links?to=nope").await, 422, 422);
    assert_error(
        s.get("/v3/assets/blt0000000000000000/insights").await,
        404,
        145,
    );
    assert_error(
        s.get("/v3/assets/blt0000000000000000/referrers").await,
        404,
        145,
    );
    // Without credentials: refused like every CMA call.
    let anon = Session {
        authtoken: None,
        ..s.clone()
    };
    assert_eq!(anon.get(&base).await.0, StatusCode::UNAUTHORIZED);
    // Nothing was counted by these reads.
    flush(&t).await;
    let v = s.get(&base).await.1;
    assert_eq!(v["insights"]["totals"]["requests"], 0);
}

#[tokio::test]
async fn the_stack_setting_turns_counting_off() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("off.png", b"off").await;
    let uid = a["uid"].as_str().unwrap();
    let v = assert_error(
        s.call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"insights": "no"}})),
        )
        .await,
        422,
        422,
    );
    assert!(v["errors"]["insights"].is_array(), "{v}");
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"insights": false}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["stack_settings"]["insights"], false);
    fetch(&t, a["url"].as_str().unwrap(), Some("https://x.example/")).await;
    flush(&t).await;
    let v = s.get(&format!("/v3/assets/{uid}/insights")).await.1;
    assert_eq!(v["insights"]["totals"]["requests"], 0, "{v}");

    s.call(
        Method::POST,
        "/v3/stacks/settings",
        Some(json!({"stack_settings": {"insights": true}})),
    )
    .await;
    fetch(&t, a["url"].as_str().unwrap(), None).await;
    flush(&t).await;
    let v = s.get(&format!("/v3/assets/{uid}/insights")).await.1;
    assert_eq!(v["insights"]["totals"]["requests"], 1, "{v}");
}

#[tokio::test]
async fn counts_reach_the_database_within_the_flush_interval() {
    let t = TestApp::spawn_with(|c| c.insights_flush_seconds = 1).await;
    let s = t.admin().await;
    let a = s.upload("tick.png", b"tick").await;
    let uid = a["uid"].as_str().unwrap();
    fetch(&t, a["url"].as_str().unwrap(), None).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = s.get(&format!("/v3/assets/{uid}/insights")).await.1;
        if v["insights"]["totals"]["requests"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not flushed: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_rollup_keeps_totals_and_the_top_referrers() {
    use perma::db::insights::{Cell, Point, RefRow};
    const DAY: i64 = 86_400_000;
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("old.png", b"old").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let key = s.api_key().to_owned();
    let now = perma::time::now_ms();
    let day = now - now.rem_euclid(DAY) - 40 * DAY;
    let cell = |at: i64, n: i64| Cell {
        api_key: key.clone(),
        asset_uid: uid.clone(),
        point: Point {
            at,
            kind: "permanent".into(),
            status: "ok".into(),
            requests: n,
            bytes: n * 3,
        },
    };
    // Two hours of one day 40 days ago, and 25 pages two days ago (keep: 20).
    let refs: Vec<RefRow> = (0..25)
        .map(|i| RefRow {
            api_key: key.clone(),
            asset_uid: uid.clone(),
            day: now - now.rem_euclid(DAY) - 2 * DAY,
            dead: false,
            referrer: format!("https://site{i:02}.example/"),
            requests: 100 - i,
        })
        .collect();
    t.app
        .db
        .add_traffic(&[cell(day + 3_600_000, 4), cell(day + 7_200_000, 6)], &refs)
        .await
        .unwrap();
    let folded = perma::insights::rollup(&t.app.db, now, 20).await.unwrap();
    assert_eq!(folded, 2);
    // Idempotent: nothing left to fold.
    assert_eq!(
        perma::insights::rollup(&t.app.db, now, 20).await.unwrap(),
        0
    );

    let from = perma::time::iso8601(day - DAY);
    let (st, v) = s
        .get(&format!("/v3/assets/{uid}/insights?from={from}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let series = v["insights"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "one daily point: {v}");
    assert_eq!(series[0]["requests"], 10);
    assert_eq!(series[0]["bytes"], 30);
    assert_eq!(series[0]["at"], perma::time::iso8601(day));

    let v = s
        .get(&format!("/v3/assets/{uid}/referrers?limit=100"))
        .await
        .1;
    let pages = v["referrers"].as_array().unwrap();
    assert_eq!(pages.len(), 21, "top 20 and the others: {v}");
    assert!(pages.contains(&json!({"page": "https://site00.example/", "requests": 100})));
    assert!(!pages.iter().any(|p| p["page"] == "https://site20.example/"));
    // The five past the top 20 (requests 80..76) are one "other" row.
    let other = pages.iter().find(|p| p["page"] == "").unwrap();
    assert_eq!(other["requests"], 80 + 79 + 78 + 77 + 76);
}

#[tokio::test]
async fn the_cli_exports_a_stack_as_csv() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = with_permanent(&s, "csv.png", b"csv-bytes", "csv").await;
    let uid = a["uid"].as_str().unwrap();
    fetch(&t, a["permanent_url"].as_str().unwrap(), None).await;
    fetch(&t, a["permanent_url"].as_str().unwrap(), None).await;
    flush(&t).await;

    let out = crate::support::perma_cmd(t.dir.path())
        .args(["insights", "export", "--stack", s.api_key()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "period,start,asset_uid,kind,status,requests,bytes"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].starts_with("hour,"), "{csv}");
    assert!(
        lines[1].ends_with(&format!(",{uid},permanent,ok,2,18")),
        "{csv}"
    );

    // A bad range or an unknown stack: a clear error, exit 1, nothing written.
    let out = crate::support::perma_cmd(t.dir.path())
        .args([
            "insights",
            "export",
            "--stack",
            s.api_key(),
            "--from",
            "2026-12-01",
            "--to",
            "2026-11-01",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("from must be before to"));
    let out = crate::support::perma_cmd(t.dir.path())
        .args(["insights", "export", "--stack", "blt0000000000000000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no stack"));
}

#[tokio::test]
async fn a_flush_of_many_assets_adds_up_across_statements() {
    use perma::db::insights::{Cell, Point};
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let now = perma::time::now_ms();
    let hour = now - now.rem_euclid(3_600_000);
    // More rows than one statement carries; each written twice (the second adds up).
    let cells: Vec<Cell> = (0..1200)
        .map(|i| Cell {
            api_key: s.api_key().to_owned(),
            asset_uid: format!("blt{i:016x}"),
            point: Point {
                at: hour,
                kind: "version".into(),
                status: "ok".into(),
                requests: i + 1,
                bytes: 10 * (i + 1),
            },
        })
        .collect();
    t.app.db.add_traffic(&cells, &[]).await.unwrap();
    t.app.db.add_traffic(&cells, &[]).await.unwrap();
    let (st, v) = s.get("/v3/insights/top?limit=3").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let top: Vec<(&str, i64, i64)> = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["uid"].as_str().unwrap(),
                a["requests"].as_i64().unwrap(),
                a["bytes"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top,
        vec![
            ("blt00000000000004af", 2400, 24000),
            ("blt00000000000004ae", 2398, 23980),
            ("blt00000000000004ad", 2396, 23960)
        ]
    );
}
