//! §5 assets, folders, versions, publishing; §6 queries.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, TestApp};

/// A 3×2 PNG.
pub fn png() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    v.extend_from_slice(&3u32.to_be_bytes());
    v.extend_from_slice(&2u32.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    v
}

fn uid(v: &Value) -> String {
    v["uid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn upload_fetch_update_replace_restore_delete() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (st, v) = s
        .upload_form(
            Method::POST,
            "/v3/assets",
            "Logo.png",
            png(),
            &[
                ("asset[title]", "Logo"),
                ("asset[description]", "the logo"),
                ("asset[tags]", "brand, logo,brand"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let a = &v["asset"];
    assert_eq!(a["title"], "Logo");
    assert_eq!(a["description"], "the logo");
    assert_eq!(a["tags"], json!(["brand", "logo"]));
    assert_eq!(a["content_type"], "image/png");
    assert_eq!(a["file_size"], json!(png().len().to_string()));
    assert_eq!(a["filename"], "Logo.png");
    assert_eq!(a["_version"], 1);
    assert_eq!(a["is_dir"], false);
    assert_eq!(a["ACL"], json!({}));
    assert!(a["permanent_url"].is_null());
    let id = uid(a);
    let url = a["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/v3/assets/{}/{id}/", t.base, s.api_key())),
        "{url}"
    );
    assert!(url.ends_with("/Logo.png"));
    assert!(
        a["created_at"].as_str().unwrap().ends_with('Z')
            && a["created_at"].as_str().unwrap().contains('.')
    );

    let (_, v) = s
        .get(&format!(
            "/v3/assets/{id}?include_dimension=true&relative_urls=true"
        ))
        .await;
    assert_eq!(v["asset"]["dimension"], json!({"width": 3, "height": 2}));
    assert!(v["asset"]["url"]
        .as_str()
        .unwrap()
        .starts_with("/v3/assets/"));

    // The JS SDK sends the whole fetched object back on update(): read-only fields ignored.
    let mut whole = v["asset"].clone();
    whole["title"] = json!("Logo v1");
    whole["_version"] = json!(99);
    whole["file_size"] = json!("1");
    whole["url"] = json!("http://evil/x");
    whole["filename"] = json!("../../etc/passwd");
    whole["publish_details"] = json!([{"environment": "x"}]);
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": whole})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["asset"]["title"], "Logo v1");
    assert_eq!(v["asset"]["_version"], 2);
    assert_eq!(v["asset"]["filename"], "Logo.png");
    assert_eq!(v["asset"]["file_size"], json!(png().len().to_string()));
    // Sending the same again changes nothing and makes no version.
    let (_, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": {"title": "Logo v1"}})),
        )
        .await;
    assert_eq!(v["asset"]["_version"], 2);

    let r = s.replace(&id, "logo-2.txt", b"now text").await;
    assert_eq!(r["_version"], 3);
    assert_eq!(r["filename"], "logo-2.txt");
    assert_eq!(r["content_type"], "text/plain");
    assert_ne!(r["url"], a["url"]);
    assert_eq!(r["title"], "Logo v1", "replace keeps metadata");

    let (_, v1) = s.get(&format!("/v3/assets/{id}?version=1")).await;
    assert_eq!(v1["asset"]["title"], "Logo");
    assert_eq!(v1["asset"]["url"], a["url"]);
    assert_error(
        s.get(&format!("/v3/assets/{id}?version=42")).await,
        404,
        141,
    );

    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": {}, "version": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["asset"]["_version"], 4);
    assert_eq!(v["asset"]["title"], "Logo");
    assert_eq!(v["asset"]["url"], a["url"]);
    assert_error(
        s.call(
            Method::PUT,
            &format!("/v3/assets/{id}"),
            Some(json!({"asset": {}, "version": 77})),
        )
        .await,
        422,
        422,
    );

    let (_, vs) = s
        .get(&format!("/v3/assets/{id}/versions?include_count=true"))
        .await;
    assert_eq!(vs["count"], 4);
    let actions: Vec<&str> = vs["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["restore", "replace", "update", "upload"]);
    let (st, _) = s
        .call(
            Method::POST,
            &format!("/v3/assets/{id}/versions/2/name"),
            Some(json!({"upload": {"_version_name": "approved"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, named) = s.get(&format!("/v3/assets/{id}/versions?named=true")).await;
    assert_eq!(named["versions"].as_array().unwrap().len(), 1);
    assert_eq!(named["versions"][0]["_version_name"], "approved");
    assert_error(
        s.call(
            Method::POST,
            &format!("/v3/assets/{id}/versions/9/name"),
            Some(json!({"upload": {"_version_name": "x"}})),
        )
        .await,
        404,
        141,
    );
    assert_error(
        s.call(
            Method::POST,
            &format!("/v3/assets/{id}/versions/2/name"),
            Some(json!({"upload": {}})),
        )
        .await,
        422,
        422,
    );
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/v3/assets/{id}/versions/2/name"),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, named) = s.get(&format!("/v3/assets/{id}/versions?named=true")).await;
    assert_eq!(named["versions"], json!([]));

    let (_, refs) = s.get(&format!("/v3/assets/{id}/references")).await;
    assert_eq!(refs, json!({"references": []}));

    assert_eq!(
        s.call(Method::DELETE, &format!("/v3/assets/{id}"), None)
            .await
            .0,
        StatusCode::OK
    );
    assert_error(s.get(&format!("/v3/assets/{id}")).await, 404, 145);
    assert_error(
        s.call(Method::DELETE, &format!("/v3/assets/{id}"), None)
            .await,
        404,
        145,
    );
}

#[tokio::test]
async fn list_query_sort_page_and_kinds() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let img = s.upload("photo.png", &png()).await;
    let txt = s.upload("notes.txt", b"some notes here").await;
    let (_, v) = s
        .upload_form(
            Method::POST,
            "/v3/assets",
            "report.pdf",
            b"%PDF-1.4 fake".to_vec(),
            &[("asset[tags]", "finance,q3")],
        )
        .await;
    let pdf = v["asset"].clone();

    let list = |q: String| {
        let s = s.clone();
        async move {
            let (st, v) = s.get(&format!("/v3/assets?{q}")).await;
            assert_eq!(st, StatusCode::OK, "{v}");
            v
        }
    };
    let names = |v: &Value| -> Vec<String> {
        v["assets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["filename"].as_str().unwrap().to_owned())
            .collect()
    };
    let v = list("include_count=true&asc=filename".into()).await;
    assert_eq!(v["count"], 3);
    assert_eq!(names(&v), vec!["notes.txt", "photo.png", "report.pdf"]);
    let v = list("desc=filename&limit=2&skip=1".into()).await;
    assert_eq!(names(&v), vec!["photo.png", "notes.txt"]);
    let enc = |q: &str| {
        percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let v = list(format!("query={}", enc(r#"{"tags":"finance"}"#))).await;
    assert_eq!(names(&v), vec!["report.pdf"]);
    let v = list(format!("asc=filename&query={}", enc(r#"{"$or":[{"content_type":{"$regex":"^IMAGE/","$options":"i"}},{"filename":"notes.txt"}]}"#))).await;
    assert_eq!(names(&v), vec!["notes.txt", "photo.png"]);
    let v = list(format!(
        "query={}",
        enc(r#"{"file_size":{"$gt":14,"$lt":16}}"#)
    ))
    .await;
    assert_eq!(names(&v), vec!["notes.txt"]);
    let v = list(format!(
        "asc=filename&query={}",
        enc(&format!(
            r#"{{"uid":{{"$nin":["{}"]}}}}"#,
            img["uid"].as_str().unwrap()
        ))
    ))
    .await;
    assert_eq!(names(&v), vec!["notes.txt", "report.pdf"]);
    let v = list(format!(
        "query={}",
        enc(r#"{"created_at":{"$lt":"2000-01-01T00:00:00.000Z"}}"#)
    ))
    .await;
    assert_eq!(names(&v), Vec::<String>::new());
    let v = list(format!(
        "query={}",
        enc(r#"{"tags":{"$exists":true}, "title":{"$ne":"x"}}"#)
    ))
    .await;
    assert_eq!(names(&v), vec!["report.pdf"]);
    // Projection as the JS SDK sends it.
    let v = list("only[BASE][]=title&only[BASE][]=filename".into()).await;
    let keys: Vec<&String> = v["assets"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");

    let (_, v) = s.get("/v3/assets/images").await;
    assert_eq!(names(&v), vec!["photo.png"]);
    let (_, v) = s.get("/v3/assets/videos").await;
    assert_eq!(v["assets"], json!([]));
    let _ = (txt, pdf);
}

#[tokio::test]
async fn folders_depth_cycles_and_recursive_delete() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let mk = |name: &str, parent: Option<String>| {
        let s = s.clone();
        let body = json!({"asset": {"name": name, "parent_uid": parent}});
        async move { s.call(Method::POST, "/v3/assets/folders", Some(body)).await }
    };
    let (st, v) = mk("Level 1", None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["asset"]["is_dir"], true);
    assert_eq!(
        v["asset"]["content_type"],
        "application/vnd.contenstack.folder"
    );
    let mut chain = vec![uid(&v["asset"])];
    for i in 2..=5 {
        let (st, v) = mk(&format!("Level {i}"), chain.last().cloned()).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        chain.push(uid(&v["asset"]));
    }
    // A sixth level is refused.
    assert_error(mk("Level 6", chain.last().cloned()).await, 422, 422);
    assert_error(mk("", None).await, 422, 422);
    assert_error(mk("x", Some("blt0000000000000000".into())).await, 422, 422);
    // No cycles: moving level 1 under level 3 is refused.
    let cyc = s
        .call(
            Method::PUT,
            &format!("/v3/assets/folders/{}", chain[0]),
            Some(json!({"asset": {"parent_uid": chain[2]}})),
        )
        .await;
    assert_error(cyc, 422, 422);
    // Renaming works.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/folders/{}", chain[4]),
            Some(json!({"asset": {"name": "Deepest"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["asset"]["name"], "Deepest");
    // A sibling tree of depth 2 cannot move under level 4 (would be 6 deep).
    let (_, a) = mk("A", None).await;
    let (_, b) = mk("B", Some(uid(&a["asset"]))).await;
    let deep = s
        .call(
            Method::PUT,
            &format!("/v3/assets/folders/{}", uid(&a["asset"])),
            Some(json!({"asset": {"parent_uid": chain[3]}})),
        )
        .await;
    assert_error(deep, 422, 422);
    let _ = b;

    // Files in folders; listing by folder.
    let (st, v) = s
        .upload_form(
            Method::POST,
            "/v3/assets",
            "in3.txt",
            b"in level 3".to_vec(),
            &[("asset[parent_uid]", &chain[2])],
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let inside = uid(&v["asset"]);
    s.upload("root.txt", b"at root").await;
    let (_, v) = s
        .get(&format!(
            "/v3/assets?folder={}&include_folders=true",
            chain[2]
        ))
        .await;
    let items = v["assets"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    let (_, v) = s.get("/v3/assets?folder=cs_root").await;
    assert_eq!(v["assets"].as_array().unwrap().len(), 1);
    let (_, v) = s
        .get("/v3/assets?folder=cs_root&include_folders=true")
        .await;
    assert_eq!(v["assets"].as_array().unwrap().len(), 3);
    let (_, v) = s.get("/v3/assets").await;
    assert_eq!(
        v["assets"].as_array().unwrap().len(),
        2,
        "all files, no folders"
    );
    // Moving an asset into a folder through update.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{inside}"),
            Some(json!({"asset": {"parent_uid": null}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(v["asset"]["parent_uid"].is_null());
    s.call(
        Method::PUT,
        &format!("/v3/assets/{inside}"),
        Some(json!({"asset": {"parent_uid": chain[4]}})),
    )
    .await;

    // Deleting level 2 deletes 3, 4, 5 and the file inside.
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/v3/assets/folders/{}", chain[1]),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    for f in &chain[1..] {
        assert_error(s.get(&format!("/v3/assets/folders/{f}")).await, 404, 145);
    }
    assert_error(s.get(&format!("/v3/assets/{inside}")).await, 404, 145);
    assert_eq!(
        s.get(&format!("/v3/assets/folders/{}", chain[0])).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn publish_unpublish_and_environment_listing() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    s.environment("production").await;
    let a = s.upload("a.txt", b"version one").await;
    let id = uid(&a);
    s.upload("b.txt", b"never published").await;
    s.publish(&id, "production", &["en-us"]).await;
    let (_, v) = s.get(&format!("/v3/assets/{id}")).await;
    let pd = &v["asset"]["publish_details"];
    assert_eq!(pd.as_array().unwrap().len(), 1);
    assert_eq!(pd[0]["locale"], "en-us");
    assert_eq!(pd[0]["version"], 1);
    let (_, v) = s.get("/v3/assets?environment=production").await;
    assert_eq!(v["assets"].as_array().unwrap().len(), 1);
    assert_error(
        s.call(
            Method::POST,
            &format!("/v3/assets/{id}/publish"),
            Some(json!({"asset": {"environments": ["staging"]}})),
        )
        .await,
        422,
        422,
    );
    assert_error(
        s.call(
            Method::POST,
            &format!("/v3/assets/{id}/publish"),
            Some(json!({"asset": {"environments": ["production"], "locales": ["xx-yy"]}})),
        )
        .await,
        422,
        422,
    );
    assert_error(
        s.call(
            Method::POST,
            &format!("/v3/assets/{id}/publish"),
            Some(json!({"asset": {"environments": ["production"]}, "version": 5})),
        )
        .await,
        422,
        422,
    );
    let (st, _) = s
        .call(
            Method::POST,
            &format!("/v3/assets/{id}/unpublish"),
            Some(json!({"asset": {"environments": ["production"], "locales": ["en-us"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = s.get("/v3/assets?environment=production").await;
    assert_eq!(v["assets"], json!([]));
}
