//! `perma import contentstack DIR` (§8): a Contentstack CLI export comes in with its stack
//! api_key, asset, folder and file uids and permanent-URL slugs, so the links taken from the
//! export's own records serve the same bytes from perma (§2, §4). Idempotent, resumable,
//! and a broken export is reported item by item.

use std::path::Path;
use std::process::Output;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{perma_cmd, Server, Session, TestApp, ADMIN_EMAIL};

pub(crate) const KEY: &str = "blt0a1b2c3d4e5f6a7b";
const ENV: &str = "blt00000000000000e1";
const FOLDER_A: &str = "blt000000000000f0a1";
const FOLDER_B: &str = "blt000000000000f0b2";
const LOGO: &str = "blt1111111111111111";
pub(crate) const REPORT: &str = "blt2222222222222222";
const NO_FILE: &str = "blt3333333333333333";
pub(crate) const ORPHAN: &str = "blt4444444444444444";
pub(crate) const F1: &str = "5f0000000000000000000001";
const F3: &str = "5f0000000000000000000003";
const F_REPORT: &str = "5f00000000000000000000a1";
const F_NO_FILE: &str = "5f00000000000000000000b1";

pub(crate) fn write(dir: &Path, rel: &str, bytes: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

pub(crate) fn write_json(dir: &Path, rel: &str, v: &Value) {
    write(dir, rel, serde_json::to_string(v).unwrap().as_bytes());
}

fn url(asset: &str, file: &str, name: &str) -> String {
    format!("https://images.contentstack.io/v3/assets/{KEY}/{asset}/{file}/{name}")
}

/// A record as the CLI writes it (`stackHeaders` and all).
pub(crate) fn record(
    uid: &str,
    version: i64,
    title: &str,
    file: &str,
    name: &str,
    size: usize,
) -> Value {
    json!({
        "stackHeaders": {"api_key": KEY}, "urlPath": format!("/assets/{uid}"),
        "uid": uid, "_version": version, "title": title, "description": "",
        "tags": [], "is_dir": false, "parent_uid": null, "ACL": {},
        "content_type": "application/octet-stream", "file_size": size.to_string(),
        "filename": name, "url": url(uid, file, name), "publish_details": [],
        "created_at": "2024-03-01T10:00:00.000Z", "updated_at": "2024-03-02T10:00:00.000Z",
    })
}

const LOGO_V1: &[u8] = b"logo, first drawing";
const LOGO_V3: &[u8] = b"logo, the one in use today";
const REPORT_BYTES: &[u8] = b"%PDF-1.4 annual report";

/// A Contentstack export (cli-cm-export 1.x layout) of stack KEY: two nested folders, a
/// logo with three versions (a metadata-only change between two files), a permanent URL
/// and two publications; a report whose file name has spaces; an asset whose file is
/// missing; an asset in a folder the export lacks; a record with a malformed uid.
pub(crate) fn contentstack_export(dir: &Path) {
    write_json(dir, "export-info.json", &json!({"contentVersion": 2}));
    write_json(
        dir,
        "locales/master-locale.json",
        &json!({"blt00000000000000c1": {"uid": "blt00000000000000c1", "code": "en-us", "name": "English"}}),
    );
    write_json(
        dir,
        "locales/locales.json",
        &json!({"blt00000000000000c2": {"uid": "blt00000000000000c2", "code": "fr-fr", "name": "French", "fallback_locale": "en-us"}}),
    );
    write_json(
        dir,
        "environments/environments.json",
        &json!({ENV: {"uid": ENV, "name": "production", "urls": [{"locale": "en-us", "url": "https://example.com"}]}}),
    );
    let folder = |uid: &str, name: &str, parent: Option<&str>| {
        json!({"stackHeaders": {"api_key": KEY}, "uid": uid, "name": name, "is_dir": true,
               "parent_uid": parent, "_version": 1, "content_type": "application/vnd.contenstack.folder",
               "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:00.000Z"})
    };
    write_json(
        dir,
        "assets/folders.json",
        &json!([
            folder(FOLDER_B, "Logos", Some(FOLDER_A)),
            folder(FOLDER_A, "Brand", None)
        ]),
    );
    let mut logo = record(LOGO, 3, "Logo", F3, "logo.png", LOGO_V3.len());
    logo["parent_uid"] = json!(FOLDER_B);
    logo["tags"] = json!(["brand", "logo"]);
    logo["permanent_url"] = json!(format!(
        "https://images.contentstack.io/v3/assets/{KEY}/{LOGO}/brand-logo"
    ));
    logo["publish_details"] = json!([
        {"environment": ENV, "locale": "en-us", "version": 3, "time": "2024-03-03T00:00:00.000Z", "user": "bltx"},
        {"environment": ENV, "locale": "fr-fr", "version": 2, "time": "2024-03-02T12:00:00.000Z", "user": "bltx"},
    ]);
    let report = record(
        REPORT,
        1,
        "Annual report",
        F_REPORT,
        "Annual Report 2024.pdf",
        REPORT_BYTES.len(),
    );
    let no_file = record(NO_FILE, 1, "Gone", F_NO_FILE, "gone.bin", 4);
    let mut orphan = record(ORPHAN, 1, "Orphan", "5f00000000000000000000c1", "o.bin", 1);
    orphan["parent_uid"] = json!("blt9999999999999999");
    write_json(
        dir,
        "assets/assets.json",
        &json!({"1": "c1-assets.json", "2": "c2-assets.json"}),
    );
    write_json(
        dir,
        "assets/c1-assets.json",
        &json!({LOGO: logo, REPORT: report}),
    );
    write_json(
        dir,
        "assets/c2-assets.json",
        &json!({NO_FILE: no_file, ORPHAN: orphan, "x": {"uid": "not-a-uid"}}),
    );
    let mut v1 = record(LOGO, 1, "Logo (draft)", F1, "logo-old.png", LOGO_V1.len());
    v1["parent_uid"] = json!(FOLDER_B);
    let mut v2 = record(LOGO, 2, "Logo", F1, "logo-old.png", LOGO_V1.len());
    v2["parent_uid"] = json!(FOLDER_B);
    write_json(
        dir,
        "assets/versions/versioned-assets.json",
        &json!({"1": "v-assets.json"}),
    );
    write_json(
        dir,
        "assets/versions/v-assets.json",
        &json!({format!("{LOGO}_1"): v1, format!("{LOGO}_2"): v2}),
    );
    write(dir, &format!("assets/files/{LOGO}/logo-old.png"), LOGO_V1);
    write(dir, &format!("assets/files/{LOGO}/logo.png"), LOGO_V3);
    write(
        dir,
        &format!("assets/files/{REPORT}/Annual Report 2024.pdf"),
        REPORT_BYTES,
    );
    write(dir, &format!("assets/files/{ORPHAN}/o.bin"), b"o");
}

/// Runs `perma import contentstack` (off the runtime: a source perma may be serving on it).
pub(crate) async fn import(data: &Path, export: &Path, extra: &[&str]) -> (bool, String) {
    let mut cmd = perma_cmd(data);
    cmd.args(["import", "contentstack"])
        .arg(export)
        .args(["--owner", ADMIN_EMAIL])
        .args(extra);
    let out: Output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The path of a URL taken from the export, on `base` (the DNS switch).
fn on(base: &str, url: &str) -> String {
    let path = &url[url.find("/v3/").unwrap()..];
    format!("{base}{path}")
}

async fn get_bytes(http: &reqwest::Client, url: &str) -> (StatusCode, Vec<u8>, Option<String>) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, r.bytes().await.unwrap().to_vec(), etag)
}

#[tokio::test]
async fn contentstack_export_keeps_uids_urls_versions_and_publications() {
    let data = tempfile::tempdir().unwrap();
    crate::support::prepare_database(data.path()).await;
    let export = tempfile::tempdir().unwrap();
    contentstack_export(export.path());
    crate::support::create_admin(data.path());
    // On SQLite a server learns of another process's changes only for assets it has
    // cached (docs/operations.md), so this one starts after the import.
    let http = reqwest::Client::new();
    // A dry run writes nothing and reports what it would do.
    let (ok, out) = import(data.path(), export.path(), &["--dry-run"]).await;
    assert!(!ok, "a dry run with skips exits 1: {out}");
    assert!(out.contains("(would be created)"), "{out}");

    let (ok, out) = import(data.path(), export.path(), &[]).await;
    assert!(!ok, "skips make the exit status 1: {out}");
    assert!(out.contains(&format!("stack {KEY} (created)")), "{out}");
    assert!(
        out.contains(
            "created: 1 locales, 1 environments, 2 folders, 2 assets (4 versions), 2 publications"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "SKIPPED asset {NO_FILE} (Gone): its file assets/files/{NO_FILE}/gone.bin is missing"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "SKIPPED asset {ORPHAN} (Orphan): its folder blt9999999999999999 was not imported"
        )),
        "{out}"
    );
    assert!(out.contains("has no uid of the form blt"), "{out}");
    assert!(out.contains("skipped: 3"), "{out}");
    let (_, again) = import(data.path(), export.path(), &["--dry-run"]).await;
    assert!(
        again.contains("would create: 0 locales, 0 environments, 0 folders, 0 assets"),
        "{again}"
    );

    let server = Server::start(data.path());
    let permanent = format!("{}/v3/assets/{KEY}/{LOGO}/brand-logo", server.base);

    // Old links, after a DNS switch: the records' own URLs answer the exported bytes, with
    // §4 semantics.
    let (st, body, etag) = get_bytes(&http, &permanent).await;
    assert_eq!((st, body.as_slice()), (StatusCode::OK, LOGO_V3));
    let etag = etag.expect("an ETag");
    let r = http
        .get(&permanent)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = http
        .get(on(&server.base, &url(LOGO, F1, "logo-old.png")))
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &LOGO_V1[..4]);
    for (u, want) in [
        (url(LOGO, F3, "logo.png"), LOGO_V3),
        (url(LOGO, F1, "logo-old.png"), LOGO_V1),
        (
            url(REPORT, F_REPORT, "Annual%20Report%202024.pdf"),
            REPORT_BYTES,
        ),
    ] {
        let (st, body, _) = get_bytes(&http, &on(&server.base, &u)).await;
        assert_eq!((st, body.as_slice()), (StatusCode::OK, want), "{u}");
    }

    // The management API shows the asset as it was: uid, version, folder tree, tags,
    // the history the export carried, the publications (a fr-fr locale was created).
    let s = Session {
        api_key: Some(KEY.into()),
        ..server.login().await
    };
    let (st, v) = s
        .get(&format!("/v3/assets/{LOGO}?include_publish_details=true"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let a = &v["asset"];
    assert_eq!(a["_version"], 3);
    assert_eq!(a["parent_uid"], FOLDER_B);
    assert_eq!(a["tags"], json!(["brand", "logo"]));
    assert!(a["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/{LOGO}/{F3}/logo.png")));
    assert_eq!(a["permanent_url"], json!(permanent));
    let mut pubs: Vec<(String, i64)> = a["publish_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["locale"].as_str().unwrap().to_owned(),
                p["version"].as_i64().unwrap(),
            )
        })
        .collect();
    pubs.sort();
    assert_eq!(pubs, vec![("en-us".into(), 3), ("fr-fr".into(), 2)]);
    let (_, v) = s.get(&format!("/v3/assets/{LOGO}?version=1")).await;
    assert_eq!(v["asset"]["title"], "Logo (draft)");
    let (_, v) = s.get(&format!("/v3/assets/folders/{FOLDER_B}")).await;
    assert_eq!(v["asset"]["parent_uid"], FOLDER_A, "{v}");
    let (_, v) = s.get("/v3/locales").await;
    let fr = v["locales"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["code"] == "fr-fr")
        .cloned();
    assert_eq!(fr.expect("fr-fr")["fallback_locale"], "en-us");
    // The permanent URL stays once-only (§3): another slug is refused.
    let (st, _) = s.set_permanent(LOGO, "another-slug").await;
    assert_eq!(st.as_u16(), 422);

    // A second run changes nothing.
    let (_, again) = import(data.path(), export.path(), &[]).await;
    assert!(
        again.contains(
            "created: 0 locales, 0 environments, 0 folders, 0 assets (0 versions), 0 publications"
        ),
        "{again}"
    );
    assert!(
        again.contains("unchanged: 2 locales, 1 environments, 2 folders, 2 assets"),
        "{again}"
    );
    let (_, v) = s.get(&format!("/v3/assets/{LOGO}")).await;
    assert_eq!(v["asset"]["_version"], 3);
    let (st, _) = s.get(&format!("/v3/assets/{NO_FILE}")).await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "the asset without its file was not imported"
    );

    // The missing file turns up: running again finishes the job, and only that.
    write(
        export.path(),
        &format!("assets/files/{NO_FILE}/gone.bin"),
        b"back",
    );
    let (_, third) = import(data.path(), export.path(), &[]).await;
    assert!(
        third.contains("created: 0 locales, 0 environments, 0 folders, 1 assets (1 versions)"),
        "{third}"
    );
    assert!(third.contains("skipped: 2"), "{third}");
    let (st, body, _) = get_bytes(
        &http,
        &on(&server.base, &url(NO_FILE, F_NO_FILE, "gone.bin")),
    )
    .await;
    assert_eq!((st, body.as_slice()), (StatusCode::OK, b"back".as_slice()));

    // The audit log (§14) says who brought what in, one entry per item, none for skips.
    let (st, log) = s
        .get("/v3/audit-logs?event_type=import&include_count=true&limit=100")
        .await;
    assert_eq!(st, StatusCode::OK, "{log}");
    let mut seen: Vec<String> = log["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["actor"]["name"], ADMIN_EMAIL, "{e}");
            assert_eq!(e["details"]["source"], "perma import", "{e}");
            format!(
                "{}:{}",
                e["module"].as_str().unwrap(),
                e["metadata"]["uid"].as_str().unwrap_or("")
            )
        })
        .collect();
    seen.sort();
    let modules: Vec<&str> = seen.iter().map(|m| m.split(':').next().unwrap()).collect();
    assert_eq!(
        modules,
        [
            "asset",
            "asset",
            "asset",
            "environment",
            "folder",
            "folder",
            "locale"
        ],
        "{log}"
    );
    assert!(seen.contains(&format!("asset:{LOGO}")), "{seen:?}");
    assert!(!seen.contains(&format!("asset:{ORPHAN}")), "{seen:?}");
    let logo = log["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metadata"]["uid"] == LOGO)
        .unwrap();
    assert_eq!(logo["metadata"]["version_after"], 3);
    assert_eq!(logo["details"]["versions"], 3, "{logo}");
}

#[tokio::test]
async fn a_broken_export_is_refused_or_reported_and_nothing_is_half_imported() {
    let data = tempfile::tempdir().unwrap();
    crate::support::prepare_database(data.path()).await;
    let server = Server::start(data.path());
    // Not an export at all.
    let empty = tempfile::tempdir().unwrap();
    let (ok, out) = import(data.path(), empty.path(), &[]).await;
    assert!(!ok);
    assert!(out.contains("is not a Contentstack export"), "{out}");
    // An export that does not name its stack.
    let nameless = tempfile::tempdir().unwrap();
    write_json(
        nameless.path(),
        "environments/environments.json",
        &json!({}),
    );
    let (ok, out) = import(data.path(), nameless.path(), &[]).await;
    assert!(!ok);
    assert!(out.contains("--stack API_KEY"), "{out}");
    // --stack naming a stack that does not exist.
    let export = tempfile::tempdir().unwrap();
    contentstack_export(export.path());
    let (ok, out) = import(
        data.path(),
        export.path(),
        &["--stack", "blt9999999999999990"],
    )
    .await;
    assert!(!ok);
    assert!(
        out.contains("there is no stack blt9999999999999990"),
        "{out}"
    );

    // A damaged chunk, a path-escaping file name, an invalid slug, a version whose file
    // was overwritten by a later one with the same name: each asset is skipped whole.
    write(export.path(), "assets/c2-assets.json", b"{ not json");
    let mut logo: Value = serde_json::from_slice(
        &std::fs::read(export.path().join("assets/c1-assets.json")).unwrap(),
    )
    .unwrap();
    logo[LOGO]["permanent_url"] = json!("bad slug with spaces");
    logo[REPORT]["filename"] = json!("../../../etc/passwd");
    write_json(export.path(), "assets/c1-assets.json", &logo);
    let (ok, out) = import(data.path(), export.path(), &[]).await;
    assert!(!ok);
    assert!(
        out.contains("SKIPPED assets/c2-assets.json: is not valid JSON"),
        "{out}"
    );
    assert!(out.contains(&format!("SKIPPED asset {LOGO} (Logo): its permanent URL slug \"bad slug with spaces\" is not valid")), "{out}");
    assert!(out.contains(&format!("SKIPPED asset {REPORT} (Annual report): version 1: its file name \"../../../etc/passwd\" is not a plain file name")) || out.contains(&format!("SKIPPED asset {REPORT} (Annual report): its file name \"../../../etc/passwd\" is not a plain file name")), "{out}");
    assert!(out.contains("0 assets (0 versions)"), "{out}");
    // The folders and environment came in; no asset row, no blob was left behind.
    let s = Session {
        api_key: Some(KEY.into()),
        ..server.login().await
    };
    let (st, v) = s.get("/v3/assets?include_count=true").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["count"], 0, "{v}");
    // `fsck` counts the blobs in the store (local or S3): none of a skipped asset is kept.
    let fsck = perma_cmd(data.path()).arg("fsck").output().unwrap();
    let fsck = String::from_utf8_lossy(&fsck.stdout).to_string();
    assert!(fsck.contains("files: 0  blobs: 0"), "{fsck}");
}

/// The CLI writes every version's file to `files/{uid}/{filename}`: versions with one file
/// name share that path, which then holds whichever download wrote last (or a mix). The
/// import trusts no such path: without `--fetch` the asset is left out, with the reason;
/// with it, every such version is downloaded from its URL on the old service.
#[tokio::test]
async fn overwritten_version_files_are_fetched_from_the_old_service() {
    let source = TestApp::spawn().await;
    let s = source.admin().await.with_new_stack("old").await;
    let a = s.upload("logo.png", b"v1 bytes").await;
    let uid = a["uid"].as_str().unwrap().to_owned();
    s.replace(&uid, "logo.png", b"version two!").await;
    let (st, _) = s.set_permanent(&uid, "logo").await;
    assert_eq!(st, StatusCode::OK);
    // An export as the CLI writes it, from the old service's own answers.
    let export = tempfile::tempdir().unwrap();
    let (_, cur) = s.get(&format!("/v3/assets/{uid}")).await;
    let mut cur = cur["asset"].clone();
    cur["stackHeaders"] = json!({"api_key": s.api_key()});
    write_json(
        export.path(),
        "assets/assets.json",
        &json!({"1": "c-assets.json"}),
    );
    write_json(
        export.path(),
        "assets/c-assets.json",
        &json!({&uid: cur.clone()}),
    );
    let mut versions = serde_json::Map::new();
    for n in 1..cur["_version"].as_i64().unwrap() {
        let (_, v) = s.get(&format!("/v3/assets/{uid}?version={n}")).await;
        versions.insert(format!("{uid}_{n}"), v["asset"].clone());
    }
    write_json(
        export.path(),
        "assets/versions/versioned-assets.json",
        &json!({"1": "v.json"}),
    );
    write_json(
        export.path(),
        "assets/versions/v.json",
        &Value::Object(versions),
    );
    write(
        export.path(),
        &format!("assets/files/{uid}/logo.png"),
        b"version two!",
    );

    let data = tempfile::tempdir().unwrap();
    crate::support::prepare_database(data.path()).await;
    let target = Server::start(data.path());
    let (ok, out) = import(data.path(), export.path(), &[]).await;
    assert!(!ok);
    assert!(
        out.contains("versions' files the export saved under one name"),
        "{out}"
    );
    assert!(out.contains("--fetch downloads"), "{out}");

    let (ok, out) = import(data.path(), export.path(), &["--fetch"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("note: asset") && out.contains("fetched"),
        "{out}"
    );
    let http = reqwest::Client::new();
    let (_, versions) = s.get(&format!("/v3/assets/{uid}/versions")).await;
    for v in versions["versions"].as_array().unwrap() {
        let n = v["_version"].as_i64().unwrap();
        let (_, rec) = s.get(&format!("/v3/assets/{uid}?version={n}")).await;
        let old_url = rec["asset"]["url"].as_str().unwrap();
        let want = get_bytes(&http, old_url).await.1;
        let got = get_bytes(&http, &on(&target.base, old_url)).await;
        assert_eq!((got.0, got.1), (StatusCode::OK, want), "version {n}");
    }
    let (st, body, _) = get_bytes(
        &http,
        &format!("{}/v3/assets/{}/{uid}/logo", target.base, s.api_key()),
    )
    .await;
    assert_eq!(
        (st, body.as_slice()),
        (StatusCode::OK, b"version two!".as_slice())
    );

    // --partial-history does not help here: the current version's file is one of the
    // shared ones too, so none of them can be trusted without fetching.
    let data3 = tempfile::tempdir().unwrap();
    crate::support::prepare_database(data3.path()).await;
    let _third = Server::start(data3.path());
    let (ok, out) = import(data3.path(), export.path(), &["--partial-history"]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("cannot tell whose bytes"), "{out}");
}
