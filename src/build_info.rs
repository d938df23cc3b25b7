//! What perma was built from: its version and commit (`perma --version`, the
//! `perma_build_info` metric on `/metrics`). The anonymous `/healthz` tells neither.

/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit (12 hex digits), or `unknown` (see `build.rs`).
pub const COMMIT: &str = env!("PERMA_COMMIT");

/// `perma --version`'s line after the name: `0.1.0 (commit 0123456789ab)`.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PERMA_COMMIT"),
    ")"
);
