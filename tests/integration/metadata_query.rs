//! `query` (§6) on asset metadata: `_metadata.extensions.{extension_uid}.{path}` fields,
//! answered by the database on the management API (metadata as it is) and on the Content
//! Delivery API (metadata as published there), following every change of the metadata.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cda::site_for;
use crate::events::spawn;
use crate::listing::enc;
use crate::support::{assert_error, Session};

async fn extension(s: &Session) -> String {
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/extensions",
            Some(
                json!({"extension": {"title": "Alt text", "type": "asset_sidebar_widget",
                "src": "https://apps.example.com/alt"}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["extension"]["uid"].as_str().unwrap().to_owned()
}

async fn attach(s: &Session, asset: &str, ext: &str, fields: Value) -> String {
    let mut m = json!({"entity_uid": asset, "type": "asset", "extension_uid": ext});
    for (k, v) in fields.as_object().unwrap() {
        m[k] = v.clone();
    }
    let (st, v) = s
        .call(Method::POST, "/v3/metadata", Some(json!({ "metadata": m })))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["metadata"]["uid"].as_str().unwrap().to_owned()
}

/// The titles of a listing's answer, sorted, and the count it reports.
fn titles_of((st, v): (StatusCode, Value), query: &str) -> (Vec<String>, u64) {
    assert_eq!(st, StatusCode::OK, "{query}: {v}");
    let mut t: Vec<String> = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    (t, v["count"].as_u64().unwrap())
}

/// The titles a query answers, sorted, and the count it reports.
async fn titles(s: &Session, path: &str, query: &str) -> (Vec<String>, u64) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let got = s
        .get(&format!(
            "{path}{sep}include_count=true&query={}",
            enc(query)
        ))
        .await;
    titles_of(got, query)
}

#[tokio::test]
async fn query_filters_on_metadata_values_in_the_database() {
    let t = spawn().await;
    let s = t.admin().await;
    let ext = extension(&s).await;
    let [kite, dog, bare] = ["kite.txt", "dog.txt", "bare.txt"];
    let mut uids = Vec::new();
    for name in [kite, dog, bare] {
        uids.push(
            s.upload(name, name.as_bytes()).await["uid"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    s.folder("A folder", None).await;
    let kite_md = attach(
        &s,
        &uids[0],
        &ext,
        json!({"alt": "A red kite", "rating": 5, "cleared": true,
               "presets": [{"name": "hero"}, {"name": "thumb"}]}),
    )
    .await;
    let dog_md = attach(
        &s,
        &uids[1],
        &ext,
        json!({"alt": "A dog", "rating": 2, "cleared": false}),
    )
    .await;
    let f = |path: &str| format!("_metadata.extensions.{ext}.{path}");
    let q = |path: &str, cond: Value| json!({ f(path): cond }).to_string();
    let expect = |names: &[&str]| {
        let v: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        (v.clone(), v.len() as u64)
    };
    let cases: Vec<(String, (Vec<String>, u64))> = vec![
        (q("alt", json!("A dog")), expect(&[dog])),
        (q("alt", json!({"$ne": "A dog"})), expect(&[bare, kite])),
        (
            q("alt", json!({"$in": ["A dog", null]})),
            expect(&[bare, dog]),
        ),
        (q("alt", json!({"$nin": ["A dog"]})), expect(&[bare, kite])),
        (q("alt", json!({"$exists": false})), expect(&[bare])),
        (q("alt", json!({"$regex": "^A red"})), expect(&[kite])),
        // Narrowed to a prefix, completed row by row with the metadata read alongside.
        (
            q("alt", json!({"$regex": "^a.*g$", "$options": "i"})),
            expect(&[dog]),
        ),
        (q("alt", json!({"$regex": "kite"})), expect(&[kite])),
        (q("rating", json!({"$gte": 3})), expect(&[kite])),
        (q("rating", json!({"$lt": 3})), expect(&[dog])),
        (q("cleared", json!(true)), expect(&[kite])),
        (q("presets.name", json!("thumb")), expect(&[kite])),
        (q("presets.name", json!({"$exists": true})), expect(&[kite])),
        (q("alt", json!(5)), expect(&[])),
        (
            json!({"$or": [{ f("alt"): "A dog" }, {"title": bare}]}).to_string(),
            expect(&[bare, dog]),
        ),
        (
            json!({ f("rating"): {"$gt": 1}, "title": {"$regex": "^d"} }).to_string(),
            expect(&[dog]),
        ),
        // Another extension's metadata is another field.
        (
            json!({"_metadata.extensions.bltother.alt": {"$exists": true}}).to_string(),
            expect(&[]),
        ),
    ];
    for (query, want) in &cases {
        assert_eq!(&titles(&s, "/v3/assets", query).await, want, "{query}");
    }

    // Changes are followed: an update replaces the values, a delete removes them.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/metadata/{dog_md}"),
            Some(json!({"metadata": {"alt": "A cat", "rating": 4}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        titles(&s, "/v3/assets", &q("alt", json!("A dog"))).await,
        expect(&[])
    );
    assert_eq!(
        titles(&s, "/v3/assets", &q("rating", json!({"$gte": 3}))).await,
        expect(&[dog, kite])
    );

    // The CDA filters on what is published there: both assets are, only the kite's
    // metadata is.
    s.environment("production").await;
    s.publish(&uids[0], "production", &[]).await;
    s.publish(&uids[1], "production", &[]).await;
    let (st, v) = s
        .call(
            Method::POST,
            &format!("/v3/metadata/{kite_md}/publish"),
            Some(json!({"metadata": {"environments": ["production"], "locales": ["en-us"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let site = site_for(&t, &s, &["production"]).await;
    let cda = |query: String| {
        let site = &site;
        async move {
            let got = site
                .get(&format!(
                    "/v3/assets?environment=production&include_count=true&query={}",
                    enc(&query)
                ))
                .await;
            titles_of(got, &query)
        }
    };
    assert_eq!(cda(q("alt", json!("A red kite"))).await, expect(&[kite]));
    assert_eq!(
        cda(q("alt", json!({"$regex": "kite$"}))).await,
        expect(&[kite])
    );
    assert_eq!(cda(q("rating", json!({"$gte": 3}))).await, expect(&[kite]));
    assert_eq!(
        cda(q("alt", json!({"$exists": false}))).await,
        expect(&[dog])
    );
    // Unpublishing the metadata takes its values out of the CDA's view.
    let (st, _) = s
        .call(
            Method::POST,
            &format!("/v3/metadata/{kite_md}/unpublish"),
            Some(json!({"metadata": {"environments": ["production"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(cda(q("alt", json!("A red kite"))).await, expect(&[]));

    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/metadata/{kite_md}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        titles(&s, "/v3/assets", &q("cleared", json!(true))).await,
        expect(&[])
    );
    let (st, _) = s
        .call(Method::DELETE, &format!("/v3/extensions/{ext}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        titles(&s, "/v3/assets", &q("alt", json!({"$exists": true}))).await,
        expect(&[])
    );
}

#[tokio::test]
async fn bad_metadata_fields_in_a_query_are_refused_by_name() {
    let t = spawn().await;
    let s = t.admin().await;
    s.upload("a.txt", b"a").await;
    for query in [
        json!({"_metadata.alt": "x"}),
        json!({"_metadata.extensions.bltx": "x"}),
        json!({"_metadata.extensions..alt": "x"}),
        json!({"_metadata.extensions.bltx.alt.": "x"}),
        json!({"_metadata.extensions.bltx.alt": ["x"]}),
        json!({"_metadata.extensions.bltx.alt": {"x": 1}}),
        json!({"_metadata.extensions.bltx.alt": {"$regex": 1}}),
        json!({"_metadata": "x"}),
    ] {
        let (st, v) = s
            .get(&format!("/v3/assets?query={}", enc(&query.to_string())))
            .await;
        assert_eq!(st.as_u16(), 422, "{query}: {v}");
        assert!(v["errors"]["query"][0].as_str().is_some(), "{query}: {v}");
    }
    // Metadata fields can't be sorted on.
    assert_error(
        s.get("/v3/assets?asc=_metadata.extensions.bltx.alt").await,
        422,
        422,
    );
}

/// A database from schema v13 (metadata, no values) gets the values of its metadata, as it
/// is and as published, when it migrates: queries then find what was there before.
#[tokio::test]
async fn migrating_to_metadata_values_indexes_the_existing_metadata() {
    let mut t = crate::support::TestApp::spawn().await;
    let mut s = t.admin().await.with_new_stack("upgrade").await;
    let ext = extension(&s).await;
    let a = s.upload("old.txt", b"old").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    let md = attach(&s, &uid, &ext, json!({"alt": "from before"})).await;
    s.environment("production").await;
    s.publish(&uid, "production", &[]).await;
    let (st, _) = s
        .call(
            Method::POST,
            &format!("/v3/metadata/{md}/publish"),
            Some(json!({"metadata": {"environments": ["production"], "locales": ["en-us"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    t.stop().await.unwrap();
    let undo = "DROP TABLE metadata_values; DELETE FROM perma_migrations WHERE version = 14;";
    crate::rawdb::run_sql(&t, undo, &[]).await;
    t.restart().await;
    s.base = t.base.clone();
    let query = json!({ format!("_metadata.extensions.{ext}.alt"): "from before" }).to_string();
    assert_eq!(
        titles(&s, "/v3/assets", &query).await,
        (vec!["old.txt".to_owned()], 1)
    );
    let site = site_for(&t, &s, &["production"]).await;
    let (_, v) = site
        .get(&format!(
            "/v3/assets?environment=production&query={}",
            enc(&query)
        ))
        .await;
    assert_eq!(v["assets"][0]["uid"], json!(uid), "{v}");
}
