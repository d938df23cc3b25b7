//! Imports run one way (ARCHITECTURE.md, "Layers"): records at the bottom, then storage,
//! the domain, the wiring, and the edges (HTTP, client, start-up, command line). A module
//! may use only modules of a lower rank; this test reads every `crate::` path in `src/`
//! and fails on one that points sideways or upwards.

use std::collections::BTreeSet;
use std::path::Path;

/// Every top-level module with its rank. A new module must be added here.
const RANKS: &[(&str, u8)] = &[
    // Leaf types: no crate imports but each other's id helpers.
    ("ids", 0),
    ("build_info", 0),
    ("digest", 0),
    ("time", 0),
    ("slug", 0),
    ("filename", 0),
    ("locale_codes", 0),
    ("error", 0),
    ("records", 1),
    ("metrics", 1),
    ("permissions", 1),
    ("images", 1),
    ("wire", 2),
    // Storage.
    ("blob", 2),
    ("db", 2),
    ("config", 3),
    // Domain.
    ("identity", 4),
    ("query", 4),
    ("ingest", 4),
    ("throttle", 4),
    ("signing", 4),
    ("delivery", 5),
    ("uploads", 5),
    ("insights", 5),
    ("assets", 6),
    ("stack_config", 6),
    ("audit", 6),
    ("maintenance", 6),
    ("webhooks", 6),
    // Wiring.
    ("app", 7),
    // Edges.
    ("http", 8),
    ("events", 8),
    ("client", 8),
    ("startup", 9),
    ("cli", 10),
    // Checks for the fuzz targets (fuzz/): they reach into every layer.
    ("fuzzing", 11),
];

fn rank(module: &str) -> Option<u8> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate modules a source text refers to (`crate::x`, `crate::{x, y}`), outside
/// comments.
fn referenced(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name = item.trim().split("::").next().unwrap_or("");
                    if !name.is_empty() {
                        found.insert(name.to_owned());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn imports_run_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = rank(module) else {
            violations.push(format!("{}: module {module} has no rank", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in referenced(&text) {
            if used == module {
                continue;
            }
            match rank(&used) {
                Some(r) if r < own => {}
                Some(r) => violations.push(format!(
                    "{}: {module} (rank {own}) uses {used} (rank {r})",
                    rel.display()
                )),
                None => violations.push(format!(
                    "{}: uses crate::{used}, which has no rank",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_should() {
    let found =
        referenced("use crate::db::Db;\nuse crate::{a, b::C};\n// crate::nope\nx(crate::y::z)");
    let names: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(names, ["a", "b", "db", "y"]);
}

/// The web UI's modules (`web/js/`) with their ranks, as in `web/app.js`: state and DOM
/// helpers, then the API client and the address, then what the views share, the views,
/// and the router on top. A new module must be added here (and to `src/http/ui.rs`).
const UI_RANKS: &[(&str, u8)] = &[
    ("state.js", 0),
    ("dom.js", 0),
    ("api.js", 1),
    ("nav.js", 2),
    ("resumable.js", 2),
    ("shell.js", 3),
    ("assets.js", 3),
    ("metadata.js", 3),
    ("audit.js", 3),
    ("insights.js", 3),
    ("panel.js", 4),
    ("library.js", 5),
    ("settings.js", 5),
    ("trash.js", 5),
    ("links.js", 5),
    ("router.js", 6),
];

/// The modules an ES module text imports (`import … from './x.js'`).
fn js_imports(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.trim_start().starts_with("import "))
        .filter_map(|l| l.rsplit_once(" from "))
        .map(|(_, from)| {
            from.trim()
                .trim_matches(|c| c == '\'' || c == '"' || c == ';')
                .trim_start_matches("./js/")
                .trim_start_matches("./")
                .to_owned()
        })
        .collect()
}

#[test]
fn the_web_ui_imports_run_one_way_too() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let ui_rs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/ui.rs"))
            .unwrap();
    let ui_rank = |m: &str| UI_RANKS.iter().find(|(n, _)| *n == m).map(|(_, r)| *r);
    let mut violations = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(web.join("js")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".js") {
            continue;
        }
        seen += 1;
        if !ui_rs.contains(&format!(
            "(\"{name}\", include_str!(\"../../web/js/{name}\"))"
        )) {
            violations.push(format!("{name} is not served (src/http/ui.rs)"));
        }
        let Some(own) = ui_rank(&name) else {
            violations.push(format!("{name} has no rank"));
            continue;
        };
        for used in js_imports(&std::fs::read_to_string(&path).unwrap()) {
            match ui_rank(&used) {
                Some(r) if r < own => {}
                Some(r) => {
                    violations.push(format!("{name} (rank {own}) imports {used} (rank {r})"))
                }
                None => violations.push(format!("{name} imports {used}, which has no rank")),
            }
        }
    }
    assert_eq!(
        seen,
        UI_RANKS.len(),
        "a ranked module is missing from web/js"
    );
    // app.js is on top: it may import any module.
    for used in js_imports(&std::fs::read_to_string(web.join("app.js")).unwrap()) {
        if ui_rank(&used).is_none() {
            violations.push(format!("app.js imports {used}, which has no rank"));
        }
    }
    assert!(
        violations.is_empty(),
        "UI imports against the layering:\n{}",
        violations.join("\n")
    );
    assert_eq!(
        js_imports("import { a } from './api.js'\nimport { b } from './js/router.js'\n// import x"),
        ["api.js", "router.js"]
    );
}
