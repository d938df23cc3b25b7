//! The Content Delivery API for assets (§12), sync, and bulk publishing (§5), through HTTP.

use std::collections::{HashMap, HashSet};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, Session, TestApp};

/// A website's view: api_key + access_token headers, no management credentials.
pub(crate) struct Site {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) api_key: String,
    pub(crate) token: String,
}

impl Site {
    pub(crate) async fn get_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value, HeaderMap) {
        let mut r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("api_key", &self.api_key)
            .header("access_token", &self.token);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let resp = r.send().await.unwrap();
        let (st, h) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        (st, v, h)
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (st, v, _) = self.get_with(path, &[]).await;
        (st, v)
    }
}

pub(crate) async fn site_for(t: &TestApp, s: &Session, envs: &[&str]) -> Site {
    Site {
        base: t.base.clone(),
        http: t.http.clone(),
        api_key: s.api_key().to_owned(),
        token: s.delivery_token(envs).await,
    }
}

fn titles(v: &Value) -> Vec<String> {
    let mut t: Vec<String> = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

#[tokio::test]
async fn delivery_lists_and_fetches_what_is_published_as_published() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    s.environment("staging").await;
    let site = site_for(&t, &s, &["production"]).await;
    let png = tiny_png();
    let a = s.upload("a.png", &png).await;
    let b = s.upload("b.txt", b"bee").await;
    let c = s.upload("c.txt", b"sea").await;
    let (a_uid, b_uid, c_uid) = (
        a["uid"].as_str().unwrap(),
        b["uid"].as_str().unwrap(),
        c["uid"].as_str().unwrap(),
    );
    s.publish(a_uid, "production", &[]).await;
    s.publish(b_uid, "production", &[]).await;
    s.publish(c_uid, "staging", &[]).await;

    let (st, v) = site.get("/v3/assets?environment=production").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(titles(&v), ["a.png", "b.txt"], "only what production has");
    let item = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["uid"] == json!(b_uid))
        .unwrap();
    assert_eq!(item["url"], b["url"]);
    assert_eq!(item["publish_details"]["locale"], json!("en-us"));
    assert!(item["publish_details"]["environment"].as_str().is_some());
    assert!(item["publish_details"]["time"].as_str().is_some());

    // A replace changes the management view, not what is published; republishing does.
    let b2 = s.replace(b_uid, "b2.txt", b"bee two").await;
    let (_, one) = site
        .get(&format!("/v3/assets/{b_uid}?environment=production"))
        .await;
    assert_eq!(one["asset"]["url"], b["url"], "{one}");
    assert_eq!(one["asset"]["filename"], json!("b.txt"));
    assert_eq!(one["asset"]["_version"], json!(1));
    let old = t
        .http
        .get(one["asset"]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(old.text().await.unwrap(), "bee");
    s.publish(b_uid, "production", &[]).await;
    let (_, one) = site
        .get(&format!("/v3/assets/{b_uid}?environment=production"))
        .await;
    assert_eq!(one["asset"]["url"], b2["url"]);
    assert_eq!(one["asset"]["_version"], json!(2));
    // `version` names the published version, or nothing.
    let (st, _) = site
        .get(&format!(
            "/v3/assets/{b_uid}?environment=production&version=2"
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_error(
        site.get(&format!(
            "/v3/assets/{b_uid}?environment=production&version=1"
        ))
        .await,
        404,
        145,
    );
    // Not published there: 404 with the CMA body.
    assert_error(
        site.get(&format!("/v3/assets/{c_uid}?environment=production"))
            .await,
        404,
        145,
    );

    // Query, count, order, paging, projections, URLs and dimensions.
    let q = urlencode(r#"{"filename":{"$regex":"^b"}}"#);
    let (_, v) = site
        .get(&format!(
            "/v3/assets?environment=production&query={q}&include_count=true"
        ))
        .await;
    assert_eq!(v["count"], json!(1), "{v}");
    assert_eq!(v["assets"][0]["uid"], json!(b_uid));
    let (_, v) = site
        .get("/v3/assets?environment=production&asc=title&limit=1&skip=1&include_count=True")
        .await;
    assert_eq!(v["count"], json!(2), "any case of True counts: {v}");
    assert_eq!(v["assets"][0]["uid"], json!(b_uid));
    let (_, v) = site
        .get("/v3/assets?environment=production&only[BASE][]=title&relative_urls=true")
        .await;
    let keys: HashSet<&str> = v["assets"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, HashSet::from(["uid", "title"]));
    let (_, v) = site
        .get(&format!(
            "/v3/assets/{a_uid}?environment=production&except[BASE][]=tags&relative_urls=true&include_dimension=true"
        ))
        .await;
    assert!(v["asset"].get("tags").is_none(), "{v}");
    assert!(v["asset"]["url"]
        .as_str()
        .unwrap()
        .starts_with("/v3/assets/"));
    assert_eq!(v["asset"]["dimension"], json!({"width": 1, "height": 1}));

    // Caching: a strong ETag over the body, 304 on revalidation, changed after a publish.
    let (st, _, h) = site
        .get_with("/v3/assets?environment=production", &[])
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["cache-control"], "public, max-age=0, must-revalidate");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"));
    let (st, _, h304) = site
        .get_with(
            "/v3/assets?environment=production",
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(st, StatusCode::NOT_MODIFIED);
    assert_eq!(h304["etag"].to_str().unwrap(), etag);
    s.unpublish(a_uid, "production").await;
    let (st, v, h) = site
        .get_with(
            "/v3/assets?environment=production",
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_ne!(h["etag"].to_str().unwrap(), etag);
    assert_eq!(titles(&v), ["b.txt"]);

    // The environment may come as a header (the Python delivery SDK sends it so).
    let (st, v, _) = site
        .get_with("/v3/assets", &[("environment", "production")])
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(titles(&v), ["b.txt"]);

    // A deleted asset leaves the delivery API at once.
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/assets/{b_uid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = site
        .get("/v3/assets?environment=production&include_count=true")
        .await;
    assert_eq!(v["count"], json!(0), "{v}");
}

#[tokio::test]
async fn delivery_refuses_wrong_tokens_environments_and_stacks_with_the_cma_body() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    s.environment("staging").await;
    let site = site_for(&t, &s, &["production"]).await;
    let a = s.upload("a.txt", b"a").await;
    s.publish(a["uid"].as_str().unwrap(), "production", &[])
        .await;

    // No token at all: the management rules (401).
    let anon = t
        .http
        .get(format!("{}/v3/assets?environment=production", t.base))
        .header("api_key", s.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    // A wrong token.
    let wrong = Site {
        token: "cs0000000000000000000000".into(),
        ..site_clone(&site)
    };
    assert_error(
        wrong.get("/v3/assets?environment=production").await,
        401,
        105,
    );
    // Another stack's token.
    let other = t.admin().await;
    other.environment("production").await;
    let other_token = other.delivery_token(&["production"]).await;
    let crossed = Site {
        token: other_token,
        ..site_clone(&site)
    };
    assert_error(
        crossed.get("/v3/assets?environment=production").await,
        401,
        105,
    );
    // A malformed or unknown api_key.
    let unknown = Site {
        api_key: "blt0000000000000000".into(),
        ..site_clone(&site)
    };
    assert_error(
        unknown.get("/v3/assets?environment=production").await,
        412,
        109,
    );
    // Environment missing, outside the scope, or unknown.
    assert_error(site.get("/v3/assets").await, 422, 422);
    assert_error(site.get("/v3/assets?environment=staging").await, 403, 161);
    assert_error(site.get("/v3/assets?environment=nowhere").await, 403, 161);
    // An unknown locale, and a bad query.
    assert_error(
        site.get("/v3/assets?environment=production&locale=xx-yy")
            .await,
        422,
        422,
    );
    let (st, v) = site
        .get("/v3/assets?environment=production&query=%7Bnot%20json")
        .await;
    assert!(
        st == StatusCode::BAD_REQUEST || st == StatusCode::UNPROCESSABLE_ENTITY,
        "{st} {v}"
    );
    assert!(v["error_message"].as_str().is_some());
    // Sync needs a delivery token too, and a way to start.
    assert_error(
        site.get("/v3/stacks/sync?environment=production").await,
        422,
        422,
    );
    assert_error(
        site.get("/v3/stacks/sync?environment=production&sync_token=zz")
            .await,
        422,
        422,
    );
    assert_error(
        site.get("/v3/stacks/sync?environment=production&init=true&type=entry_exploded")
            .await,
        422,
        422,
    );
    assert_error(
        site.get("/v3/stacks/sync?environment=production&init=true&start_from=yesterday")
            .await,
        422,
        422,
    );
    assert_error(
        site.get("/v3/stacks/sync?environment=production&init=true&start_from=99999-01-01")
            .await,
        422,
        422,
    );
    // A real token with init=true, or with a pagination token: which one wins is not
    // guessed, the answer says they cannot be combined.
    let (st, v) = site
        .get("/v3/stacks/sync?environment=production&init=true")
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let token = v["sync_token"].as_str().unwrap().to_owned();
    for (query, field) in [
        (format!("init=true&sync_token={token}"), "init"),
        (
            format!("pagination_token={token}&sync_token={token}"),
            "sync_token",
        ),
    ] {
        let v = assert_error(
            site.get(&format!("/v3/stacks/sync?environment=production&{query}"))
                .await,
            422,
            422,
        );
        let why = v["errors"][field][0].as_str().unwrap_or_default();
        assert!(why.contains("cannot be combined"), "{query}: {v}");
    }
    // Nothing of that changed what is published.
    let (st, v) = site
        .get("/v3/assets?environment=production&include_count=true")
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["count"], json!(1));
}

pub(crate) fn site_clone(s: &Site) -> Site {
    Site {
        base: s.base.clone(),
        http: s.http.clone(),
        api_key: s.api_key.clone(),
        token: s.token.clone(),
    }
}

#[tokio::test]
async fn locales_and_fallback() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/locales",
            Some(
                json!({"locale": {"code": "fr-fr", "name": "French", "fallback_locale": "en-us"}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let site = site_for(&t, &s, &["production"]).await;
    let en = s.upload("en.txt", b"en").await;
    let fr = s.upload("fr.txt", b"fr").await;
    s.publish(en["uid"].as_str().unwrap(), "production", &["en-us"])
        .await;
    s.publish(fr["uid"].as_str().unwrap(), "production", &["fr-fr"])
        .await;
    let (_, v) = site
        .get("/v3/assets?environment=production&locale=fr-fr")
        .await;
    assert_eq!(titles(&v), ["fr.txt"]);
    let (_, v) = site
        .get("/v3/assets?environment=production&locale=fr-fr&include_fallback=true")
        .await;
    assert_eq!(titles(&v), ["en.txt", "fr.txt"], "{v}");
    let locales: HashMap<String, String> = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["title"].as_str().unwrap().to_owned(),
                a["publish_details"]["locale"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(locales["en.txt"], "en-us");
    assert_eq!(locales["fr.txt"], "fr-fr");
    // Tags match the row that is listed: en.txt tagged and republished in en-us only.
    let en_uid = en["uid"].as_str().unwrap();
    let (st, _) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{en_uid}"),
            Some(json!({"asset": {"tags": ["brand"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    s.publish(en_uid, "production", &["en-us"]).await;
    let q = urlencode(r#"{"tags":"brand"}"#);
    let (_, v) = site
        .get(&format!(
            "/v3/assets?environment=production&locale=fr-fr&include_fallback=true&query={q}"
        ))
        .await;
    assert_eq!(titles(&v), ["en.txt"], "{v}");
    let (_, v) = site
        .get(&format!(
            "/v3/assets?environment=production&locale=fr-fr&query={q}"
        ))
        .await;
    assert_eq!(titles(&v), Vec::<String>::new(), "{v}");
    // Published in both: the requested locale wins, once.
    s.publish(en["uid"].as_str().unwrap(), "production", &["fr-fr"])
        .await;
    let (_, v) = site
        .get("/v3/assets?environment=production&locale=fr-fr&include_fallback=true&include_count=true")
        .await;
    assert_eq!(v["count"], json!(2), "{v}");
    assert!(v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["publish_details"]["locale"] == json!("fr-fr")));
}

#[tokio::test]
async fn bulk_publish_is_one_background_job_with_a_result_per_asset() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let site = site_for(&t, &s, &["production"]).await;
    let mut assets = Vec::new();
    for i in 0..25 {
        let a = s.upload(&format!("bulk{i}.txt"), b"x").await;
        assets.push(json!({"uid": a["uid"]}));
    }
    assets.push(json!({"uid": "blt0000000000000000"}));
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/bulk/publish",
            Some(json!({"assets": assets, "environments": ["production"], "locales": ["en-us"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["notice"].as_str().is_some());
    let job = v["job_id"].as_str().unwrap().to_owned();
    let mut status = Value::Null;
    for _ in 0..100 {
        let (_, st) = s.get(&format!("/v3/bulk/jobs/{job}")).await;
        if st["status"] == json!("completed") {
            status = st;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status["summary"]["success"], json!(25), "{status}");
    assert_eq!(status["summary"]["failed"], json!(1));
    let (_, items) = s
        .get(&format!(
            "/v3/bulk/jobs/{job}/items?include_count=true&limit=100"
        ))
        .await;
    assert_eq!(items["count"], json!(26));
    let failed = items["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(failed["status"], json!("failed"));
    assert!(
        failed["error_message"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{failed}"
    );
    let (_, v) = site
        .get("/v3/assets?environment=production&include_count=true")
        .await;
    assert_eq!(v["count"], json!(25));

    // Bulk unpublish of a few.
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/bulk/unpublish",
            Some(json!({"assets": assets[..5], "environments": ["production"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let job = v["job_id"].as_str().unwrap().to_owned();
    for _ in 0..100 {
        let (_, st) = s.get(&format!("/v3/bulk/jobs/{job}")).await;
        if st["status"] == json!("completed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, v) = site
        .get("/v3/assets?environment=production&include_count=true")
        .await;
    assert_eq!(v["count"], json!(20));

    // Refused up front, nothing started: entries, no assets, an unknown environment.
    for (body, field) in [
        (
            json!({"entries": [{"uid": "x", "content_type": "page"}], "assets": assets[..1], "environments": ["production"]}),
            "entries",
        ),
        (
            json!({"assets": [], "environments": ["production"]}),
            "assets",
        ),
        (
            json!({"assets": "all", "environments": ["production"]}),
            "assets",
        ),
        (
            json!({"assets": [{"title": "no uid"}], "environments": ["production"]}),
            "assets",
        ),
        (
            json!({"assets": assets[..1], "environments": ["nowhere"]}),
            "environments",
        ),
        (
            json!({"assets": assets[..1], "environments": ["production"], "locales": ["xx-yy"]}),
            "locales",
        ),
    ] {
        let (st, v) = s.call(Method::POST, "/v3/bulk/publish", Some(body)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["errors"].get(field).is_some(), "{field}: {v}");
    }
    assert_error(s.get("/v3/bulk/jobs/blt0000000000000000").await, 404, 141);
    let (_, v) = site
        .get("/v3/assets?environment=production&include_count=true")
        .await;
    assert_eq!(v["count"], json!(20));
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A 1×1 PNG.
fn tiny_png() -> Vec<u8> {
    vec![
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8,
        0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ]
}
