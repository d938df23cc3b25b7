//! Hostile exports: links out of the export directory.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::json;

use crate::import::{
    contentstack_export, import, record, write, write_json, F1, KEY, ORPHAN, REPORT,
};
use crate::support::{perma_cmd, Server, Session};

/// Exports arrive as tarballs, which keep symbolic links: a file, a chunk or a whole uid
/// directory that links out of the export is reported and never read, so nothing outside
/// the export becomes an asset.
#[tokio::test]
async fn links_out_of_the_export_are_reported_and_not_followed() {
    let data = tempfile::tempdir().unwrap();
    crate::support::prepare_database(data.path()).await;
    let export = tempfile::tempdir().unwrap();
    contentstack_export(export.path());
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.pdf", b"the server's secret");
    write_json(
        outside.path(),
        "c9.json",
        &json!({ORPHAN: record(ORPHAN, 1, "o", F1, "o.bin", 1)}),
    );
    let link = |to: &Path, at: &str| {
        let at = export.path().join(at);
        let _ = std::fs::remove_file(&at);
        let _ = std::fs::remove_dir_all(&at);
        std::os::unix::fs::symlink(to, at).unwrap();
    };
    link(
        &outside.path().join("secret.pdf"),
        &format!("assets/files/{REPORT}/Annual Report 2024.pdf"),
    );
    link(outside.path(), &format!("assets/files/{ORPHAN}"));
    link(&outside.path().join("c9.json"), "assets/c2-assets.json");
    crate::support::create_admin(data.path());
    let (_, out) = import(data.path(), export.path(), &["--dry-run"]).await;
    assert!(
        out.contains(&format!(
            "assets/files/{REPORT}/Annual Report 2024.pdf is a link to"
        )),
        "{out}"
    );
    assert!(out.contains("outside the export: not read"), "{out}");
    assert!(
        out.contains("SKIPPED assets/c2-assets.json: is a link to"),
        "{out}"
    );
    assert!(!out.contains("the server's secret"), "{out}");
    // For real: the report is left out; what lies inside the export comes in.
    let (_, out) = import(data.path(), export.path(), &[]).await;
    assert!(out.contains(&format!("SKIPPED asset {REPORT}")), "{out}");
    let server = Server::start(data.path());
    let s = Session {
        api_key: Some(KEY.into()),
        ..server.login().await
    };
    let (st, v) = s.get("/v3/assets?include_count=true").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let names: Vec<&str> = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["filename"].as_str().unwrap())
        .collect();
    assert!(
        !names.iter().any(|n| n.ends_with(".pdf") || *n == "o.bin"),
        "{names:?}"
    );
    let fsck = perma_cmd(data.path()).arg("fsck").output().unwrap();
    let fsck = String::from_utf8_lossy(&fsck.stdout).to_string();
    assert!(!fsck.contains("blobs: 0"), "the logo came in: {fsck}");
}
