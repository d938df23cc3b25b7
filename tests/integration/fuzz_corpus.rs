//! Replays every input of `fuzz/corpus/TARGET/` (seeds, what fuzzing found interesting, and
//! any crash once found) through the target's checks on the stable toolchain, so each stays
//! a regression test in `cargo test`.

use std::path::Path;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = 0;
    for (name, check) in perma::fuzzing::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>();
        assert!(!entries.is_empty(), "no corpus for {name}");
        for path in entries {
            // A fuzzer running meanwhile may replace an input by a smaller one.
            let data = match std::fs::read(&path) {
                Ok(data) => data,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", path.display());
            replayed += 1;
        }
    }
    assert!(replayed >= perma::fuzzing::TARGETS.len());
}
