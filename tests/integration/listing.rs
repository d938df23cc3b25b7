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

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Every page of a listing (`page` rows at a time), and the count it reported.
async fn all_pages(s: &Session, params: &str, page: usize) -> (Vec<Value>, u64) {
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

/// The totals an unfiltered count reads (schema v9: kept per folder by triggers) against
/// the same listings counted row by row (an always-true condition forces a `COUNT(*)`)
/// and against their pages. Expected numbers are those of the state built here.
async fn check_counts(s: &Session, folders: &[(&str, &str)], expected: &[u64]) {
    let always = enc(r#"{"_version":{"$gte":1}}"#);
    let mut scopes = vec![
        String::new(),
        "folder=cs_root".to_owned(),
        "include_folders=true".to_owned(),
        "include_folders=true&folder=cs_root".to_owned(),
    ];
    for (_, uid) in folders {
        scopes.push(format!("folder={uid}"));
        scopes.push(format!("include_folders=true&folder={uid}"));
    }
    assert_eq!(scopes.len(), expected.len());
    for (scope, want) in scopes.iter().zip(expected) {
        let (rows, kept) = all_pages(s, scope, 7).await;
        let (_, counted) = all_pages(s, &format!("{scope}&query={always}"), 100).await;
        assert_eq!(
            (kept, counted, rows.len() as u64),
            (*want, *want, *want),
            "{scope}: kept total, COUNT(*), rows listed"
        );
    }
}

#[tokio::test]
async fn unfiltered_counts_stay_exact_through_every_change() {
    let t = TestApp::spawn().await;
    let s = t.admin().await.with_new_stack("totals").await;
    let other = t.admin().await.with_new_stack("other").await;
    let a = s.folder("A", None).await;
    let b = s.folder("B", Some(&a)).await;
    let mut root = Vec::new();
    for i in 0..5 {
        root.push(s.upload_into(&format!("r{i}.txt"), b"x", None).await);
    }
    let mut in_a = Vec::new();
    for i in 0..3 {
        in_a.push(s.upload_into(&format!("a{i}.txt"), b"x", Some(&a)).await);
    }
    for i in 0..2 {
        s.upload_into(&format!("b{i}.txt"), b"x", Some(&b)).await;
    }
    // Another stack's assets never count here.
    for i in 0..4 {
        other.upload(&format!("o{i}.txt"), b"o").await;
    }
    let folders = [("A", a.as_str()), ("B", b.as_str())];
    // Scopes: all files, root files, everything, root with folders, A's files, A with
    // folders, B's files, B with folders.
    check_counts(&s, &folders, &[10, 5, 12, 6, 3, 4, 2, 2]).await;

    // A metadata change that names the same folder, and a replace: no change.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/{}", in_a[0]),
            Some(json!({"asset": {"title": "renamed", "parent_uid": a}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.replace(&root[0], "r0.txt", b"new bytes").await;
    check_counts(&s, &folders, &[10, 5, 12, 6, 3, 4, 2, 2]).await;

    // Moves: root -> B, A -> root.
    for (uid, parent) in [(&root[1], json!(b)), (&in_a[1], json!(null))] {
        let (st, v) = s
            .call(
                Method::PUT,
                &format!("/v3/assets/{uid}"),
                Some(json!({"asset": {"parent_uid": parent}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    check_counts(&s, &folders, &[10, 5, 12, 6, 2, 3, 3, 3]).await;

    // A folder moves to the root: its files go with it.
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v3/assets/folders/{b}"),
            Some(json!({"asset": {"parent_uid": null}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    check_counts(&s, &folders, &[10, 5, 12, 7, 2, 2, 3, 3]).await;

    // Deletions: a root file, then folder A and everything in it.
    let (st, v) = s
        .call(Method::DELETE, &format!("/v3/assets/{}", root[2]), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = s
        .call(Method::DELETE, &format!("/v3/assets/folders/{a}"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // A's scopes now list nothing (the folder is gone: 404), so only the others.
    check_counts(&s, &[("B", b.as_str())], &[7, 4, 8, 5, 3, 3]).await;
    let (st, _) = s
        .get(&format!("/v3/assets?folder={a}&include_count=true"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (_, v) = other.get("/v3/assets?include_count=true").await;
    assert_eq!(v["count"], 4, "{v}");
    // fsck agrees: every kept total equals a count of the folder's live assets.
    let report = perma::maintenance::fsck(&t.app.db, &t.app.blobs, false)
        .await
        .unwrap();
    assert!(report.miscounted.is_empty(), "{:?}", report.miscounted);
    assert!(report.is_healthy());
}

/// A database from before schema v9 (no kept totals) gets them from its assets when it
/// migrates: the totals then equal a count of each folder.
#[tokio::test]
async fn migrating_to_kept_totals_counts_the_existing_library() {
    use sqlx::Connection;
    let mut t = TestApp::spawn().await;
    let mut s = t.admin().await.with_new_stack("upgrade").await;
    let f = s.folder("F", None).await;
    for i in 0..3 {
        s.upload(&format!("root{i}.txt"), b"r").await;
    }
    for i in 0..2 {
        s.upload_into(&format!("in{i}.txt"), b"f", Some(&f)).await;
    }
    let gone = s.upload("gone.txt", b"g").await;
    let (st, _) = s
        .call(
            Method::DELETE,
            &format!("/v3/assets/{}", gone["uid"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    t.stop().await.unwrap();
    // Back to schema v8: no table, no triggers, the index v9 drops, v9 not recorded (on
    // PostgreSQL nor v10, which replaced v9's triggers).
    let url = t.app.config.database_url();
    let undo = if t.app.db.backend() == perma::db::Backend::Sqlite {
        "DROP TRIGGER asset_counts_insert; DROP TRIGGER asset_counts_delete; \
         DROP TRIGGER asset_counts_update; DELETE FROM perma_migrations WHERE version = 9;"
    } else {
        "DROP TRIGGER asset_counts_insert ON assets; DROP TRIGGER asset_counts_update ON assets; \
         DROP TRIGGER asset_counts_delete ON assets; DROP FUNCTION asset_counts_apply(); \
         DELETE FROM perma_migrations WHERE version IN (9, 10);"
    };
    let undo = format!(
        "{undo} DROP TABLE asset_counts; \
         CREATE INDEX assets_live_count ON assets (api_key, is_dir) WHERE deleted_at IS NULL;"
    );
    if t.app.db.backend() == perma::db::Backend::Sqlite {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&undo).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&undo).execute(&mut c).await.unwrap();
    }
    t.restart().await;
    s.base = t.base.clone();
    check_counts(&s, &[("F", f.as_str())], &[5, 3, 6, 4, 2, 2]).await;
    let report = perma::maintenance::fsck(&t.app.db, &t.app.blobs, false)
        .await
        .unwrap();
    assert!(report.miscounted.is_empty(), "{:?}", report.miscounted);

    // A kept total that went wrong (here by hand) is what a count answers, so fsck names
    // it and fails, in the library and on the command line.
    let wrong = "UPDATE asset_counts SET n = n + 2 WHERE parent_key = $1 AND is_dir = 0";
    if t.app.db.backend() == perma::db::Backend::Sqlite {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(wrong).bind(&f).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
        sqlx::query(wrong).bind(&f).execute(&mut c).await.unwrap();
    }
    let (_, v) = s
        .get(&format!("/v3/assets?folder={f}&include_count=true"))
        .await;
    assert_eq!(v["count"], 4, "the kept total answers: {v}");
    let report = perma::maintenance::fsck(&t.app.db, &t.app.blobs, false)
        .await
        .unwrap();
    assert_eq!(
        report.miscounted,
        [perma::db::Miscount {
            api_key: s.api_key().to_owned(),
            folder: f.clone(),
            folders: false,
            kept: 4,
            counted: 2,
        }]
    );
    assert!(!report.is_healthy());
    let out = crate::support::perma_cmd(t.dir.path())
        .arg("fsck")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("miscounted folders: 1"), "{text}");
    assert!(
        text.contains(&format!(
            "MISCOUNTED stack {} folder {f} files: kept 4, counted 2",
            s.api_key()
        )),
        "{text}"
    );
}

/// SQLite plans listings and delivery reads by the statistics perma ships (schema v10), not
/// by what an ANALYZE of this library would say: every index of the tables that listings
/// and delivery read has its row (an index added without one would be planned by SQLite's
/// built-in guesses), the rows are those of the measured million-asset library whatever
/// this library's size, and they hold across restarts.
#[tokio::test]
async fn planner_statistics() {
    use sqlx::Connection;
    let mut t = TestApp::spawn().await;
    let mut s = t.admin().await.with_new_stack("planned").await;
    let f = s.folder("F", None).await;
    for i in 0..5 {
        s.upload_into(&format!("f{i}.txt"), b"f", Some(&f)).await;
    }
    if t.app.db.backend() != perma::db::Backend::Sqlite {
        return; // PostgreSQL's autovacuum analyses; it has no shipped statistics.
    }
    let url = t.app.config.database_url();
    t.restart().await;
    s.base = t.base.clone();
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let tables = [
        "assets",
        "files",
        "asset_tags",
        "asset_versions",
        "publications",
        "published_assets",
        "published_tags",
        "asset_counts",
    ];
    let indexes: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT m.tbl_name, m.name, COALESCE(s.stat, '') FROM sqlite_master m \
         LEFT JOIN sqlite_stat1 s ON s.idx = m.name WHERE m.type = 'index' ORDER BY m.name",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut checked = 0;
    for (table, index, stat) in &indexes {
        if !tables.contains(&table.as_str()) {
            continue;
        }
        checked += 1;
        // The row count, then one figure per indexed column (the key columns of a partial
        // or expression index included).
        let columns: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM pragma_index_info('{index}')"
        ))
        .fetch_one(&mut c)
        .await
        .unwrap();
        let figures: Vec<i64> = stat
            .split(' ')
            .map(|n| n.parse().unwrap_or_else(|_| panic!("{index}: {stat:?}")))
            .collect();
        assert_eq!(
            figures.len() as i64,
            columns + 1,
            "{table}.{index} has no statistics or the wrong shape: {stat:?}"
        );
        if table != "asset_counts" {
            assert!(figures[0] >= 1_000_000, "{index}: {stat}");
        }
    }
    assert!(checked >= 30, "only {checked} indexes checked");
    // Listings answer the same with them.
    let (st, v) = s
        .get(&format!("/v3/assets?folder={f}&include_count=true&limit=2"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["count"], 5);
    assert_eq!(v["assets"].as_array().unwrap().len(), 2);
}
