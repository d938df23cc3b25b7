//! See `perma::fuzzing::upload` for what this target checks.
#![no_main]
libfuzzer_sys::fuzz_target!(
    // libFuzzer's own main leaves SIGPIPE at its default (a Rust main, perma's included,
    // ignores it): a write to a peer that has closed, by this target's client or by the
    // perma it runs, would kill the run instead of failing that write.
    init: {
        // SAFETY: setting a signal's disposition to SIG_IGN, before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    },
    |data: &[u8]| perma::fuzzing::upload(data)
);
