//! Listing by the database (§5 `GET /v3/assets`, §6): every operator, order, paging and
//! counts, checked against predicates written here over what the API said each asset is,
//! on both backends. Queries the database answers exactly, queries it can only narrow
//! (regexes: anchored ones by an index, others by a scan), and their combinations.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Session, TestApp};

/// What the API said an asset is.
#[derive(Debug, Clone)]
struct Item {
    uid: String,
    title: String,
    filename: String,
    content_type: String,
    tags: Vec<String>,
    parent: Option<String>,
    size: u64,
    created_at: String,
    version: u64,
}

pub(crate) fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Every page of a listing (`page` rows at a time), and the count it reported.
pub(crate) async fn all_pages(s: &Session, params: &str, page: usize) -> (Vec<Value>, u64) {
    let mut out = Vec::new();
    let mut count = None;
    loop {
        let (st, v) = s
            .call(
                Method::GET,
                &format!(
                    "/v3/assets?{params}&limit={page}&skip={}&include_count=true",
                    out.len()
                ),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{params}: {v}");
        let n = v["count"].as_u64().expect("count");
        assert!(count.is_none_or(|c| c == n), "count changed between pages");
        count = Some(n);
        let items = v["assets"].as_array().unwrap().clone();
        let done = items.len() < page;
        out.extend(items);
        if done {
            break;
        }
    }
    (out, count.unwrap())
}

async fn seed(s: &Session) -> (Vec<Item>, String, String) {
    let folder = |name: &str| {
        let s = s.clone();
        let name = name.to_owned();
        async move {
            let (st, v) = s
                .call(
                    Method::POST,
                    "/v3/assets/folders",
                    Some(json!({"asset": {"name": name}})),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
            v["asset"]["uid"].as_str().unwrap().to_owned()
        }
    };
    let (a, b) = (folder("A").await, folder("B").await);
    let exts = ["png", "txt", "pdf", "mp4"];
    let mut items = Vec::new();
    for i in 0..96usize {
        let name = format!("f{i:03}.{}", exts[i % 4]);
        let title = match i % 3 {
            0 => format!("Alpha {i}"),
            1 => format!("beta-{i}"),
            _ => name.clone(),
        };
        let mut tags = Vec::new();
        if i % 4 == 0 {
            tags.push("red");
        }
        if i % 5 == 0 {
            tags.push("blue");
        }
        let parent = match i % 6 {
            0 => Some(a.clone()),
            1 => Some(b.clone()),
            _ => None,
        };
        let mut extra = vec![
            ("asset[title]", title.clone()),
            ("asset[tags]", tags.join(",")),
        ];
        if let Some(p) = &parent {
            extra.push(("asset[parent_uid]", p.clone()));
        }
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = vec![b'x'; 10 + i];
        let (st, v) = s
            .upload_form(Method::POST, "/v3/assets", &name, body, &extra)
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let mut v = v["asset"].clone();
        if i % 7 == 0 {
            // A second version for some.
            let (st, u) = s
                .call(
                    Method::PUT,
                    &format!("/v3/assets/{}", v["uid"].as_str().unwrap()),
                    Some(json!({"asset": {"description": "edited"}})),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{u}");
            v = u["asset"].clone();
        }
        items.push(Item {
            uid: v["uid"].as_str().unwrap().to_owned(),
            title: v["title"].as_str().unwrap().to_owned(),
            filename: v["filename"].as_str().unwrap().to_owned(),
            content_type: v["content_type"].as_str().unwrap().to_owned(),
            tags: v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect(),
            parent: v["parent_uid"].as_str().map(str::to_owned),
            size: v["file_size"].as_str().unwrap().parse().unwrap(),
            created_at: v["created_at"].as_str().unwrap().to_owned(),
            version: v["_version"].as_u64().unwrap(),
        });
    }
    (items, a, b)
}

type Pred = Box<dyn Fn(&Item) -> bool>;

#[tokio::test]
async fn every_operator_order_and_page_agrees_with_the_rules() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let (items, a, _b) = seed(&s).await;
    let (u5, u6) = (items[5].uid.clone(), items[6].uid.clone());
    let a2 = a.clone();
    let cases: Vec<(String, Pred)> = vec![
        (
            r#"{"title":"Alpha 3"}"#.into(),
            Box::new(|i| i.title == "Alpha 3"),
        ),
        (
            r#"{"title":{"$regex":"^alpha","$options":"i"}}"#.into(),
            Box::new(|i| i.title.to_lowercase().starts_with("alpha")),
        ),
        (
            r#"{"title":{"$regex":"^beta-1"}}"#.into(),
            Box::new(|i| i.title.starts_with("beta-1")),
        ),
        (
            r#"{"title":{"$regex":"^beta-1?0"}}"#.into(),
            Box::new(|i| i.title.starts_with("beta-0") || i.title.starts_with("beta-10")),
        ),
        (
            r#"{"filename":{"$in":["f001.txt","f010.pdf","nope"]}}"#.into(),
            Box::new(|i| ["f001.txt", "f010.pdf"].contains(&i.filename.as_str())),
        ),
        (
            r#"{"tags":"red"}"#.into(),
            Box::new(|i| i.tags.contains(&"red".into())),
        ),
        (
            r#"{"tags":{"$nin":["red","blue"]}}"#.into(),
            Box::new(|i| i.tags.is_empty()),
        ),
        (
            r#"{"tags":{"$exists":false}}"#.into(),
            Box::new(|i| i.tags.is_empty()),
        ),
        (r#"{"tags":null}"#.into(), Box::new(|i| i.tags.is_empty())),
        (
            r#"{"tags":{"$in":["blue",null]}}"#.into(),
            Box::new(|i| i.tags.is_empty() || i.tags.contains(&"blue".into())),
        ),
        (
            r#"{"file_size":{"$gte":50,"$lt":"70"}}"#.into(),
            Box::new(|i| (50..70).contains(&i.size)),
        ),
        (
            format!(r#"{{"parent_uid":"{a}"}}"#),
            Box::new(move |i| i.parent.as_deref() == Some(a2.as_str())),
        ),
        (
            r#"{"parent_uid":{"$exists":false}}"#.into(),
            Box::new(|i| i.parent.is_none()),
        ),
        (
            r#"{"$or":[{"tags":"blue"},{"title":{"$regex":"7$"}}]}"#.into(),
            Box::new(|i| i.tags.contains(&"blue".into()) || i.title.ends_with('7')),
        ),
        (
            r#"{"content_type":{"$regex":"^video/"}}"#.into(),
            Box::new(|i| i.content_type.starts_with("video/")),
        ),
        (
            r#"{"title":{"$ne":"Alpha 0"},"tags":"red"}"#.into(),
            Box::new(|i| i.title != "Alpha 0" && i.tags.contains(&"red".into())),
        ),
        (r#"{"_version":2}"#.into(), Box::new(|i| i.version == 2)),
        (
            format!(r#"{{"uid":{{"$in":["{u5}","{u6}"]}}}}"#),
            Box::new(move |i| i.uid == u5 || i.uid == u6),
        ),
        (
            r#"{"$and":[{"file_size":{"$gt":20}},{"title":{"$regex":"a"}}]}"#.into(),
            Box::new(|i| i.size > 20 && i.title.contains('a')),
        ),
        (
            r#"{"name":{"$exists":true}}"#.into(),
            Box::new(|_| false), // folders only, and the list leaves folders out
        ),
        (
            r#"{"created_at":{"$gte":"2000-01-01T00:00:00.000Z"}}"#.into(),
            Box::new(|_| true),
        ),
    ];
    // Newest first, ties by uid (both descending).
    let mut newest = items.clone();
    newest.sort_by(|x, y| (&y.created_at, &y.uid).cmp(&(&x.created_at, &x.uid)));
    for (query, pred) in &cases {
        let (got, count) = all_pages(&s, &format!("query={}", enc(query)), 25).await;
        let want: Vec<&str> = newest
            .iter()
            .filter(|i| pred(i))
            .map(|i| i.uid.as_str())
            .collect();
        let got: Vec<&str> = got.iter().map(|v| v["uid"].as_str().unwrap()).collect();
        assert_eq!(got, want, "{query}");
        assert_eq!(count, want.len() as u64, "count of {query}");
    }
    // Orders: ascending and descending by several fields, ties by uid in the same direction.
    let by = |key: &dyn Fn(&Item) -> String, asc: bool| {
        let mut v = items.clone();
        v.sort_by(|x, y| (key(x), &x.uid).cmp(&(key(y), &y.uid)));
        if !asc {
            v.reverse();
        }
        v.into_iter().map(|i| i.uid).collect::<Vec<_>>()
    };
    for (field, key) in [
        (
            "title",
            &(|i: &Item| i.title.clone()) as &dyn Fn(&Item) -> String,
        ),
        ("filename", &|i: &Item| i.filename.clone()),
        ("file_size", &|i: &Item| format!("{:08}", i.size)),
        ("uid", &|i: &Item| i.uid.clone()),
    ] {
        for asc in [true, false] {
            let dir = if asc { "asc" } else { "desc" };
            let (got, _) = all_pages(&s, &format!("{dir}={field}"), 40).await;
            let got: Vec<String> = got
                .iter()
                .map(|v| v["uid"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(got, by(key, asc), "{dir}={field}");
        }
    }
    // Folders: listed only when asked for, queryable by name, first when sorting by file name.
    let (got, count) = all_pages(
        &s,
        &format!("include_folders=true&query={}", enc(r#"{"is_dir":true}"#)),
        10,
    )
    .await;
    let names: BTreeSet<&str> = got.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!((names, count), (BTreeSet::from(["A", "B"]), 2));
    let (got, _) = all_pages(&s, "include_folders=true&folder=cs_root&asc=filename", 100).await;
    assert_eq!(got[0]["is_dir"], true);
    assert_eq!(got[1]["is_dir"], true);
    assert_eq!(
        got.len(),
        2 + items.iter().filter(|i| i.parent.is_none()).count()
    );
    // Kinds.
    let (st, v) = s
        .call(Method::GET, "/v3/assets/videos?include_count=true", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let videos = items
        .iter()
        .filter(|i| i.content_type.starts_with("video/"))
        .count();
    assert_eq!(v["count"].as_u64(), Some(videos as u64));
    // A page past the end is empty, with the full count.
    let (st, v) = s
        .call(Method::GET, "/v3/assets?skip=5000&include_count=true", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["assets"].as_array().unwrap().len(), 0);
    assert_eq!(v["count"].as_u64(), Some(items.len() as u64));
    // Changes are seen at once: a retag moves an asset between answers.
    let target = &items[1];
    let (st, _) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{}", target.uid),
            Some(json!({"asset": {"tags": ["green"], "title": "Renamed"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (got, n) = all_pages(&s, &format!("query={}", enc(r#"{"tags":"green"}"#)), 10).await;
    assert_eq!((got[0]["uid"].as_str(), n), (Some(target.uid.as_str()), 1));
    let (_, n) = all_pages(&s, &format!("query={}", enc(r#"{"title":"beta-1"}"#)), 10).await;
    assert_eq!(n, 0);
}

/// The CMA list conventions the official CLI's export relies on: `count=true`, `skip` in
/// exponent form, `query` on `is_dir`, and paging on every list route.
#[tokio::test]
async fn cma_list_conventions_every_list_follows() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    for n in ["a.txt", "b.txt", "c.txt"] {
        s.upload(n, n.as_bytes()).await;
    }
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/assets/folders",
            Some(json!({"asset": {"name": "Brand"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // The SDK's count(): `{"assets": N}`, with JavaScript's 1e+100 as skip.
    let (st, v) = s
        .get("/v3/assets?limit=1&skip=1e%2B100&asc=created_at&include_count=false&count=true")
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"assets": 3}));
    let (st, v) = s.get("/v3/assets?skip=1e%2B100&limit=1").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["assets"], json!([]));
    let (_, v) = s.get("/v3/assets?skip=2.0&include_count=true").await;
    assert_eq!(v["assets"].as_array().unwrap().len(), 1);
    assert_eq!(v["count"], 3);
    for bad in ["abc", "-1", "-1e3", "NaN"] {
        let (st, v) = s.get(&format!("/v3/assets?skip={bad}")).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert!(v["errors"].get("skip").is_some(), "{v}");
    }
    // A query on is_dir lists folders without include_folders.
    let q = "%7B%22is_dir%22%3Atrue%7D";
    let (_, v) = s
        .get(&format!("/v3/assets?query={q}&include_count=true"))
        .await;
    let names: Vec<&str> = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Brand"], "{v}");
    // except[BASE][] on the management list.
    let (_, v) = s
        .get("/v3/assets?except[BASE][]=description&except[BASE][]=tags&except[BASE][]=uid")
        .await;
    let first = &v["assets"][0];
    assert!(
        first.get("description").is_none() && first.get("tags").is_none(),
        "{first}"
    );
    assert!(first.get("uid").is_some() && first.get("title").is_some());

    // Small lists page too: environments, locales, tokens, webhooks.
    for name in ["dev", "staging", "production"] {
        s.call(
            Method::POST,
            "/v3/environments",
            Some(json!({"environment": {"name": name}})),
        )
        .await;
    }
    let (_, v) = s
        .get("/v3/environments?skip=1&limit=1&include_count=true")
        .await;
    assert_eq!(v["environments"].as_array().unwrap().len(), 1);
    assert_eq!(v["count"], 3);
    let (_, v) = s.get("/v3/environments?skip=3").await;
    assert_eq!(
        v["environments"],
        json!([]),
        "the CLI stops when skip >= count"
    );
    assert_eq!(
        s.get("/v3/environments?count=true").await.1,
        json!({"environments": 3})
    );
    let (_, v) = s.get("/v3/environments?only[BASE][]=name").await;
    assert_eq!(v["environments"][0].as_object().unwrap().len(), 2, "{v}");
    let (_, v) = s.get("/v3/locales?include_count=true&limit=100").await;
    assert_eq!(v["count"], 1);
    assert_eq!(s.get("/v3/locales?skip=1").await.1["locales"], json!([]));
    let (_, v) = s
        .get("/v3/stacks/management_tokens?include_count=true")
        .await;
    assert_eq!(v["count"], 0);
    let (_, v) = s.get("/v3/webhooks?count=true").await;
    assert_eq!(v, json!({"webhooks": 0}));
    let (st, _) = s.get("/v3/environments?limit=abc").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
}

/// `asc=title&ignore_case=true` (the web UI's name order): folders first, by name, then
/// files by title, both with ASCII case folded and ties broken by uid; descending is the
/// exact reverse; pages of any size agree. Without `ignore_case` the order stays bytewise.
/// `ignore_case` on a non-text sort, or without a sort, is refused and changes nothing.
#[tokio::test]
async fn name_order_ignores_case_and_puts_folders_first_alphabetically() {
    let t = TestApp::spawn().await;
    let s = t.admin().await;
    let mut folders = Vec::new();
    for name in ["zeta", "Alpha", "beta", "Beta"] {
        let (st, v) = s
            .call(
                Method::POST,
                "/v3/assets/folders",
                Some(json!({"asset": {"name": name}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        folders.push((name, v["asset"]["uid"].as_str().unwrap().to_owned()));
    }
    let mut files = Vec::new();
    for title in [
        "banana", "Apple", "apple", "Cherry", "_under", "Zed", "éclair", "a",
    ] {
        let (st, v) = s
            .upload_form(
                Method::POST,
                "/v3/assets",
                "f.txt",
                b"x".to_vec(),
                &[("asset[title]", title)],
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        files.push((title, v["asset"]["uid"].as_str().unwrap().to_owned()));
    }
    // What a reader expects: folders, then files; each by lowercased name, then uid.
    let sorted = |mut v: Vec<(&str, String)>, fold: bool| {
        let key = |t: &str| {
            if fold {
                t.to_ascii_lowercase()
            } else {
                t.to_owned()
            }
        };
        v.sort_by(|x, y| (key(x.0), &x.1).cmp(&(key(y.0), &y.1)));
        v.into_iter().map(|(_, u)| u).collect::<Vec<_>>()
    };
    for fold in [true, false] {
        let mut want = sorted(folders.clone(), fold);
        want.extend(sorted(files.clone(), fold));
        let ic = if fold { "&ignore_case=true" } else { "" };
        for page in [100, 3] {
            let (got, count) = all_pages(
                &s,
                &format!("folder=cs_root&include_folders=true&asc=title{ic}"),
                page,
            )
            .await;
            let got: Vec<String> = got
                .iter()
                .map(|v| v["uid"].as_str().unwrap().into())
                .collect();
            assert_eq!(
                (&got, count),
                (&want, 12),
                "asc, ignore_case={fold}, page {page}"
            );
            let (got, _) = all_pages(
                &s,
                &format!("folder=cs_root&include_folders=true&desc=title{ic}"),
                page,
            )
            .await;
            let mut got: Vec<String> = got
                .iter()
                .map(|v| v["uid"].as_str().unwrap().into())
                .collect();
            got.reverse();
            assert_eq!(got, want, "desc, ignore_case={fold}, page {page}");
        }
    }
    // The case-folded order really differs from the bytewise one.
    let (bytewise, _) = all_pages(&s, "asc=title", 100).await;
    let (folded, _) = all_pages(&s, "asc=title&ignore_case=true", 100).await;
    let titles = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|a| a["title"].as_str().unwrap().into())
            .collect()
    };
    let lower: Vec<String> = titles(&folded).iter().map(|t| t.to_lowercase()).collect();
    assert_eq!(
        lower,
        ["_under", "a", "apple", "apple", "banana", "cherry", "zed", "éclair"]
    );
    assert_eq!(
        titles(&bytewise),
        ["Apple", "Cherry", "Zed", "_under", "a", "apple", "banana", "éclair"]
    );
    // Refused: a non-text sort, or no sort at all; nothing changes.
    for bad in [
        "asc=file_size&ignore_case=true",
        "ignore_case=true",
        "desc=created_at&ignore_case=1",
    ] {
        let (st, v) = s
            .call(Method::GET, &format!("/v3/assets?{bad}"), None)
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert!(
            v["errors"]["ignore_case"][0].as_str().is_some(),
            "{bad}: {v}"
        );
    }
    let (_, count) = all_pages(&s, "include_folders=true", 100).await;
    assert_eq!(count, 12);
}
