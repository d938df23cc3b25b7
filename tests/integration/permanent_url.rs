//! §3 generating a permanent URL: forms, grammar, once-only, idempotence, the race.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{assert_error, TestApp};

#[tokio::test]
async fn generate_with_full_url_then_frozen() {
    let t =
        TestApp::spawn_with(|c| c.public_url = Some("https://assets.example.com/".into())).await;
    let s = t.admin().await;
    let a = s.upload("Sample Logo (1).PNG", b"logo bytes").await;
    let id = a["uid"].as_str().unwrap();
    let key = s.api_key();
    let (st, v) = s
        .set_permanent(
            id,
            &format!("https://any-host.test/v3/assets/{key}/{id}/sample-logo-1.png"),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["notice"], "Asset updated successfully.");
    assert_eq!(v["asset"]["_version"], 2);
    let canonical = format!("https://assets.example.com/v3/assets/{key}/{id}/sample-logo-1.png");
    assert_eq!(v["asset"]["permanent_url"], json!(canonical));

    // Same slug again: idempotent, no new version.
    let (st, v) = s.set_permanent(id, "sample-logo-1.png").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["asset"]["_version"], 2);
    // A different slug: refused, nothing changed.
    let v = assert_error(s.set_permanent(id, "other").await, 422, 422);
    assert_eq!(
        v["errors"]["permanent_url"],
        json!(["is already set and cannot be changed"])
    );
    let v = assert_error(
        s.set_permanent(
            id,
            &format!("http://x/v3/assets/{key}/{id}/Sample-logo-1.png"),
        )
        .await,
        422,
        422,
    );
    assert!(v["errors"]["permanent_url"][0]
        .as_str()
        .unwrap()
        .contains("already set"));
    let (_, v) = s.get(&format!("/v3/assets/{id}")).await;
    assert_eq!(v["asset"]["permanent_url"], json!(canonical));
    assert_eq!(v["asset"]["_version"], 2);
    // Metadata edits stay allowed.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": {"title": "New title", "permanent_url": canonical}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["asset"]["title"], "New title");
    assert_eq!(v["asset"]["_version"], 3);
}

#[tokio::test]
async fn bare_slug_and_multipart_forms() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("a.txt", b"a").await;
    let id = a["uid"].as_str().unwrap();
    let (st, v) = s.set_permanent(id, "my-slug").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["asset"]["permanent_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/{id}/my-slug")));

    let b = s.upload("b.txt", b"b").await;
    let bid = b["uid"].as_str().unwrap();
    let form = reqwest::multipart::Form::new().text(
        "asset[permanent_url]",
        format!("http://h/v3/assets/{}/{bid}/From-Form_1~x", s.api_key()),
    );
    let (st, v) = s
        .send(
            s.request(Method::PUT, &format!("/v3/assets/{bid}"))
                .multipart(form),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["asset"]["permanent_url"]
        .as_str()
        .unwrap()
        .ends_with("/From-Form_1~x"));
}

#[tokio::test]
async fn slug_grammar_is_enforced() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let a = s.upload("a.txt", b"a").await;
    let id = a["uid"].as_str().unwrap();
    let key = s.api_key().to_owned();
    let too_long = "a".repeat(256);
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "blank"),
        (".".into(), "'.' or '..'"),
        ("..".into(), "'.' or '..'"),
        ("-_~.".into(), "letter or digit"),
        ("has space".into(), "only letters"),
        ("ümlaut".into(), "only letters"),
        ("a%2Fb".into(), "only letters"),
        ("semi;colon".into(), "only letters"),
        (too_long, "too long"),
        (
            format!("http://h/v3/assets/blt0000000000000000/{id}/ok"),
            "api_key",
        ),
        (
            format!("http://h/v3/assets/{key}/blt0000000000000000/ok"),
            "asset uid",
        ),
        ("http://h/not/the/right/shape".into(), "must be a URL"),
        (format!("http://h/v3/assets/{key}/{id}/"), "must be a URL"),
    ];
    for (value, expect) in cases {
        let v = assert_error(s.set_permanent(id, &value).await, 422, 422);
        let msg = v["errors"]["permanent_url"][0].as_str().unwrap_or_default();
        assert!(msg.contains(expect), "{value:?}: {msg}");
    }
    assert_error(
        s.call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": {"permanent_url": 5}})),
        )
        .await,
        422,
        422,
    );
    // Nothing was set and no version was made.
    let (_, v) = s.get(&format!("/v3/assets/{id}")).await;
    assert!(v["asset"]["permanent_url"].is_null());
    assert_eq!(v["asset"]["_version"], 1);
    // Exactly 255 is fine.
    let max = "b".repeat(255);
    let (st, v) = s.set_permanent(id, &max).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["asset"]["permanent_url"]
        .as_str()
        .unwrap()
        .ends_with(&max));
}

#[tokio::test]
async fn concurrent_generations_have_exactly_one_winner() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    for round in 0..3 {
        let a = s.upload(&format!("race-{round}.txt"), b"race").await;
        let id = a["uid"].as_str().unwrap().to_owned();
        let mut tasks = Vec::new();
        for i in 0..24 {
            let s = s.clone();
            let id = id.clone();
            // Two requests per slug, so that idempotent re-sends of the winner also succeed.
            let slug = format!("slug-{}", i / 2);
            tasks.push(tokio::spawn(async move {
                (slug.clone(), s.set_permanent(&id, &slug).await)
            }));
        }
        let mut winners = std::collections::HashSet::new();
        let mut ok = 0;
        for task in tasks {
            let (slug, (st, v)) = task.await.unwrap();
            match st.as_u16() {
                200 => {
                    ok += 1;
                    winners.insert(slug);
                }
                422 => assert_eq!(
                    v["errors"]["permanent_url"],
                    json!(["is already set and cannot be changed"])
                ),
                other => panic!("unexpected {other}: {v}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one slug wins: {winners:?}");
        assert!((1..=2).contains(&ok));
        let (_, v) = s.get(&format!("/v3/assets/{id}")).await;
        let winner = winners.into_iter().next().unwrap();
        assert!(v["asset"]["permanent_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{winner}")));
        assert_eq!(
            v["asset"]["_version"], 2,
            "one version for the one generation"
        );
    }
}

#[tokio::test]
async fn redirect_mode_sends_permanent_urls_to_the_current_version_url() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"permanent_url_mode": "bounce"}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, v) = s.get("/v3/stacks/settings").await;
    assert_eq!(v["stack_settings"]["permanent_url_mode"], "serve");
    let a = s.upload("r.txt", b"one").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let (_, v) = s.set_permanent(&uid, "r").await;
    let perm = v["asset"]["permanent_url"].as_str().unwrap().to_owned();
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/stacks/settings",
            Some(json!({"stack_settings": {"permanent_url_mode": "redirect"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["stack_settings"]["permanent_url_mode"], "redirect");

    let no_follow = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let version_path = |url: &str| url.replace(&t.base, "");
    // The fast path (a new connection, anonymous).
    let fast_before = t.app.delivery.counters.get(perma::delivery::Writer::Fast);
    let r = no_follow().get(&perm).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let h = r.headers().clone();
    assert_eq!(h["location"], version_path(a["url"].as_str().unwrap()));
    assert_eq!(
        h["cache-control"],
        "public, max-age=60, stale-while-revalidate=300"
    );
    assert_eq!(
        h["surrogate-key"],
        format!("asset-{uid} stack-{}", s.api_key())
    );
    assert_eq!(h["content-length"], "0");
    assert!(r.bytes().await.unwrap().is_empty());
    assert!(t.app.delivery.counters.get(perma::delivery::Writer::Fast) > fast_before);
    // A replace moves the redirect; following it gives the new bytes.
    let new = s.replace(&uid, "r.txt", b"two").await;
    let r = no_follow().get(&perm).send().await.unwrap();
    assert_eq!(
        r.headers()["location"],
        version_path(new["url"].as_str().unwrap())
    );
    assert_eq!(
        reqwest::get(&perm).await.unwrap().text().await.unwrap(),
        "two"
    );
    // The router, with ?environment= after a publish: the query goes along.
    s.environment("production").await;
    let (st, _) = s
        .call(
            Method::POST,
            &format!("/v3/assets/{uid}/publish"),
            Some(json!({"asset": {"environments": ["production"], "locales": ["en-us"], "version": 2}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let r = no_follow()
        .get(format!("{perm}?environment=production&width=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers()["location"],
        format!(
            "{}?environment=production&width=10",
            version_path(new["url"].as_str().unwrap())
        )
    );
    // Management credentials still download the bytes.
    let r = no_follow()
        .get(&perm)
        .header("authtoken", s.authtoken.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "two");
}
