//! Records the commit perma is built from (`perma --version`, the `perma_build_info`
//! metric): `PERMA_COMMIT` when the builder sets it (a container build has no `.git`),
//! else `git rev-parse`, else `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PERMA_COMMIT");
    let commit = std::env::var("PERMA_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PERMA_COMMIT={}", commit.trim());
}

fn git_commit() -> Option<String> {
    let git = Path::new(".git");
    if !git.exists() {
        return None;
    }
    // Built again when HEAD moves: a new commit or another branch.
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{r}");
        }
    }
    println!("cargo:rerun-if-changed=.git/packed-refs");
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !commit.trim().is_empty()).then_some(commit)
}
