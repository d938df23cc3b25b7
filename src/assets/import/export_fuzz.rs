//! The export reader under the fuzzer: arbitrary bytes become the JSON files of an export
//! directory (parts separated by `0xff`, in the order of [`FILES`]) that also holds links
//! out of it, as a hostile tarball would. Reading never panics, never reads a file outside
//! the export, and every file it would import lies inside.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::export::{AssetRecord, Export};

/// Where each part of the input is written.
const FILES: [&str; 8] = [
    "assets/assets.json",
    "assets/chunk-1.json",
    "assets/folders.json",
    "assets/versions/versioned-assets.json",
    "assets/versions/v-1.json",
    "environments/environments.json",
    "locales/locales.json",
    "stack/settings.json",
];

/// The uid whose file and directory are links out of the export.
const LINKED_UID: &str = "blt0123456789abcdef";

pub(crate) fn check(data: &[u8]) {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir().join(format!(
        "perma-fuzz-export-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&base);
    let result = std::panic::catch_unwind(|| check_in(&base, data));
    let _ = std::fs::remove_dir_all(&base);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn check_in(base: &Path, data: &[u8]) {
    let outside = base.join("outside");
    let dir = base.join("export");
    for d in [
        "assets/versions",
        "assets/files",
        "environments",
        "locales",
        "stack",
    ] {
        std::fs::create_dir_all(dir.join(d)).expect("making the export");
    }
    std::fs::create_dir_all(&outside).expect("making the outside");
    std::fs::write(
        outside.join("secret.json"),
        br#"{"stack":{"name":"OUTSIDE","api_key":"blt00000000000000aa"}}"#,
    )
    .expect("writing the secret");
    std::fs::write(outside.join("secret.txt"), b"secret").expect("writing the secret");
    for (name, part) in FILES.iter().zip(data.split(|b| *b == 0xff)) {
        std::fs::write(dir.join(name), part).expect("writing a part");
    }
    // Links out: a stack file, an asset's file (new layout) and an asset's directory (old).
    let link = |to: &Path, at: &str| {
        std::os::unix::fs::symlink(to, dir.join(at)).expect("making a link");
    };
    link(&outside.join("secret.json"), "stack/stack.json");
    std::fs::create_dir_all(dir.join("assets/files").join(LINKED_UID)).expect("a uid dir");
    link(
        &outside.join("secret.txt"),
        &format!("assets/files/{LINKED_UID}/evil.txt"),
    );
    link(&outside, &format!("assets/{LINKED_UID}"));

    let ex = Export::read(&dir).expect("a directory with assets/ is an export");
    assert_ne!(
        ex.stack_name.as_deref(),
        Some("OUTSIDE"),
        "read a linked file"
    );
    assert!(
        ex.skipped
            .iter()
            .any(|s| s.why.contains("outside the export")),
        "the link out was not reported: {:?}",
        ex.skipped
    );
    for rec in ex.assets.values().flat_map(|v| v.values()) {
        if let Ok(p) = ex.file_path(rec) {
            assert!(p.starts_with(&ex.root), "{} is outside", p.display());
        }
    }
    for name in ["evil.txt", "secret.txt"] {
        let rec = AssetRecord {
            uid: LINKED_UID.to_owned(),
            filename: name.to_owned(),
            ..Default::default()
        };
        let e = ex.file_path(&rec).expect_err("a file behind a link out");
        assert!(e.contains("outside the export"), "{e}");
    }
}
