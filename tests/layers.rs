//! The layering of `src/`, checked from the source text (README, Architecture): which top-level module may
//! use which, that no two top-level modules depend on each other through any chain, and that each external
//! crate with a boundary (actix-web, rusqlite, cedar-policy and its symbolic compiler, openssl, josekit, argon2, ureq) is named only in
//! its module.
//!
//! A dependency is any `crate::x` path in code (`use crate::x::..`, `use crate::{x, y::z}`, `crate::x::f()`),
//! outside comments and outside test-only code (`#[cfg(test)] mod .. { }` blocks and files declared with
//! `#[cfg(test)] mod name;`): what tests of a module reach for does not make the module depend on it.
//! `cargo test --test layers -- --nocapture` also prints the whole module graph.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops at the first surprise"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first. A module may use modules of its own layer or of any layer below it; the cycle check
/// keeps peers honest.
const LAYERS: &[(&str, &[&str])] = &[
    ("composition root and binaries", &["app", "server", "cli"]),
    ("http (the only module with actix-web)", &["http"]),
    (
        "domain services (no actix-web, no rusqlite)",
        &["oauth", "uma", "owner", "notify", "issue"],
    ),
    (
        "policy, crypto, claims, storage traits and their SQLite implementation, the services' context",
        &["policy", "crypto", "claims", "store", "keyring", "context"],
    ),
    (
        "plain values",
        &[
            "clock", "error", "scope", "protocol", "secret", "config", "throttle", "ops",
        ],
    ),
];

/// Dependencies that point up a layer today, each with why. An exception no longer in the code is reported
/// (not failed), so moving code out of one never breaks this test; then delete its line. A cycle that runs
/// through an exception is reported too, and goes when the exception does.
const LAYER_EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// External crates with a boundary, and the top-level modules that may name them.
const CRATES: &[(&str, &[&str])] = &[
    ("actix_web", &["http"]),
    ("actix_http", &["http"]),
    ("askama", &["http"]),
    ("rusqlite", &["store"]),
    ("cedar_policy", &["policy"]),
    ("cedar_policy_symcc", &["policy"]),
    ("openssl", &["crypto"]),
    ("josekit", &["crypto"]),
    ("argon2", &["crypto"]),
    ("ureq", &["claims", "notify"]),
];

/// Modules that name a bounded crate outside its module, each with why (reported, not failed, once gone).
const CRATE_EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "actix_web",
    "server",
    "it runs the actix-web `HttpServer` over the routes `http` configures, and its housekeeping timer",
)];

/// One source file: its top-level module and its code with comments and test-only blocks removed.
struct Source {
    path: PathBuf,
    module: String,
    code: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of `text` without comment lines and test-only items (`#[cfg(test)]` before a `mod`, `fn` or `impl`
/// whose first line opens its block), and the names of the modules it declares test-only with
/// `#[cfg(test)] mod name;`. Test code may use any module; the layering is about what the server runs.
fn strip(text: &str) -> (String, Vec<String>) {
    let mut code = String::new();
    let mut test_mods = Vec::new();
    let mut after_cfg_test = false;
    let mut depth = 0usize;
    for line in text.lines() {
        let t = line.trim();
        if depth > 0 {
            let opened = t.matches('{').count();
            let closed = t.matches('}').count();
            depth = (depth + opened).saturating_sub(closed);
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        if t == "#[cfg(test)]" {
            after_cfg_test = true;
            continue;
        }
        if after_cfg_test {
            after_cfg_test = false;
            if let Some(rest) = t.split("mod ").nth(1)
                && let Some(name) = rest.strip_suffix(';')
            {
                test_mods.push(name.trim().to_owned());
                continue;
            }
            if t.ends_with('{') {
                depth = 1;
                continue;
            }
        }
        code.push_str(line);
        code.push('\n');
    }
    (code, test_mods)
}

/// Every source file of the crate except `lib.rs`, `main.rs` and test-only files.
fn sources() -> Vec<Source> {
    let root = src_dir();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    paths.sort();
    let mut stripped = Vec::new();
    let mut test_only = BTreeSet::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("read source");
        let (code, test_mods) = strip(&text);
        let dir = if path
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
        {
            path.parent().expect("parent").to_path_buf()
        } else {
            path.with_extension("")
        };
        for name in test_mods {
            test_only.insert(dir.join(format!("{name}.rs")));
            test_only.insert(dir.join(&name).join("mod.rs"));
        }
        stripped.push((path, code));
    }
    stripped
        .into_iter()
        .filter(|(path, _)| !test_only.contains(path))
        .filter_map(|(path, code)| {
            let rel = path.strip_prefix(&root).expect("under src");
            let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
            let module = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
            (module != "lib" && module != "main").then_some(Source { path, module, code })
        })
        .collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first identifier of `text`.
fn ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|&c| is_ident_char(c))
        .collect()
}

/// The top-level modules `code` names through `crate::`.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| is_ident_char(c) && c != '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::{c, d}, e}`: the first segment of each item at the group's own depth.
            let mut depth = 0usize;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 0 => {
                        item_start = false;
                        found.insert(ident(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

/// Whether `code` names the external crate `name` as a path (`name::`), not as part of a longer identifier.
fn names_crate(code: &str, name: &str) -> bool {
    let needle = format!("{name}::");
    code.match_indices(&needle).any(|(at, _)| {
        !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| is_ident_char(c) || c == ':')
    })
}

/// Module → (module it uses → files that use it).
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn graph(sources: &[Source]) -> Graph {
    let modules: BTreeSet<&str> = sources.iter().map(|s| s.module.as_str()).collect();
    let mut graph = Graph::new();
    for source in sources {
        let node = graph.entry(source.module.clone()).or_default();
        for target in crate_references(&source.code) {
            if target != source.module && modules.contains(target.as_str()) {
                let file = source
                    .path
                    .strip_prefix(src_dir())
                    .unwrap_or(&source.path)
                    .display()
                    .to_string();
                node.entry(target).or_default().insert(file);
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// A cycle through the graph, as the list of modules on it (first repeated last), if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn every_top_level_module_has_a_layer() {
    let unplaced: BTreeSet<String> = sources()
        .into_iter()
        .map(|s| s.module)
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules with no layer: {unplaced:?}; place each in `LAYERS` in tests/layers.rs and in the README's \
         Architecture section"
    );
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let graph = graph(&sources());
    let mut wrong = Vec::new();
    let mut used_exceptions = BTreeSet::new();
    for (from, edges) in &graph {
        for (to, files) in edges {
            println!("{from} -> {to}  ({})", join(files));
            let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) else {
                continue;
            };
            if a <= b {
                continue;
            }
            if let Some(exception) = LAYER_EXCEPTIONS
                .iter()
                .find(|(f, t, _)| *f == from.as_str() && *t == to.as_str())
            {
                used_exceptions.insert(*exception);
                continue;
            }
            wrong.push(format!(
                "`{from}` ({}) uses `{to}` ({}) in {}",
                LAYERS[a].0,
                LAYERS[b].0,
                join(files)
            ));
        }
    }
    for exception in LAYER_EXCEPTIONS {
        if !used_exceptions.contains(exception) {
            eprintln!(
                "note: the exception `{}` -> `{}` is no longer needed; remove it from tests/layers.rs",
                exception.0, exception.1
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies pointing up a layer (move the code, or list the edge in LAYER_EXCEPTIONS with a \
         reason):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let full = graph(&sources());
    // A cycle through a listed exception is that exception's problem, already named with its reason: it is
    // reported here, and any other cycle fails.
    let mut graph = full.clone();
    for (from, to, _) in LAYER_EXCEPTIONS {
        if let Some(edges) = graph.get_mut(*from) {
            edges.remove(*to);
        }
    }
    if let (Some(cycle), None) = (find_cycle(&full), find_cycle(&graph)) {
        eprintln!(
            "note: import cycle through a listed exception: {}",
            cycle.join(" -> ")
        );
    }
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                let files = &graph[&pair[0]][&pair[1]];
                format!("{} -> {}  ({})", pair[0], pair[1], join(files))
            })
            .collect();
        panic!("import cycle: {}\n{}", cycle.join(" -> "), steps.join("\n"));
    }
}

#[test]
fn bounded_crates_appear_only_in_their_module() {
    let mut wrong = Vec::new();
    let mut used_exceptions = BTreeSet::new();
    for source in sources() {
        for (name, allowed) in CRATES {
            if allowed.contains(&source.module.as_str()) || !names_crate(&source.code, name) {
                continue;
            }
            if let Some(exception) = CRATE_EXCEPTIONS
                .iter()
                .find(|(c, m, _)| c == name && *m == source.module)
            {
                used_exceptions.insert(*exception);
                continue;
            }
            wrong.push(format!(
                "`{name}` in {} (only {allowed:?} may use it)",
                source.path.display()
            ));
        }
    }
    for exception in CRATE_EXCEPTIONS {
        if !used_exceptions.contains(exception) {
            eprintln!(
                "note: the exception `{}` in `{}` is no longer needed; remove it from tests/layers.rs",
                exception.0, exception.1
            );
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn join(files: &BTreeSet<String>) -> String {
    files.iter().cloned().collect::<Vec<_>>().join(", ")
}

// The checks above are only as good as the reading of the source: these pin it.

#[test]
fn references_are_read_from_paths_and_use_groups() {
    let code = "use crate::error::OAuthError;\nuse crate::{\n    clock::Clock,\n    store::{self, Store},\n    \
                scope,\n};\nlet x = crate::crypto::random_token();\nlet y = uma_cedar::http::configure;\n";
    let found: Vec<String> = crate_references(code).into_iter().collect();
    assert_eq!(found, ["clock", "crypto", "error", "scope", "store"]);
}

#[test]
fn comments_and_test_modules_are_not_dependencies() {
    let text = "//! See [`crate::app`].\nuse crate::clock;\n#[cfg(test)]\nmod tests {\n    use crate::store;\n    \
                fn f() { if true { crate::http::x(); } }\n}\n#[cfg(test)]\npub(crate) mod testing;\nfn g() {}\n";
    let (code, test_mods) = strip(text);
    assert_eq!(
        crate_references(&code).into_iter().collect::<Vec<_>>(),
        ["clock"]
    );
    assert_eq!(test_mods, ["testing"]);
    assert!(code.contains("fn g()"), "code after the test block is kept");
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph
            .entry(from.into())
            .or_default()
            .entry(to.into())
            .or_default()
            .insert("f.rs".into());
    }
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    graph.get_mut("c").expect("c").remove("a");
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn crate_names_match_whole_paths_only() {
    assert!(names_crate("use rusqlite::Connection;", "rusqlite"));
    assert!(names_crate(
        "let s = actix_web::rt::System::new();",
        "actix_web"
    ));
    assert!(!names_crate("use my_rusqlite::X;", "rusqlite"));
    assert!(!names_crate("use uma_cedar::store;", "store"));
}
