//! No crate's top-level modules use each other in a circle: each crate's
//! modules form layers (lib.rs maps say which), so a module can be read,
//! and moved, with what is below it. The check reads the sources: every
//! `crate::<module>` a module's non-test, non-comment code names.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use authpair_tests::{TestResult, repo_root, rust_files};

const CRATES: &[&str] = &[
    "auth-service",
    "resource-service",
    "claims",
    "server",
    "cli",
    "loadgen",
    "stack",
    "username",
    "proto",
    "tests",
    "examples/orders-service",
];

/// The top-level module a file belongs to (`lib` for lib.rs and main.rs).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap_or(file);
    let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
    match first.as_deref() {
        Some("lib.rs" | "main.rs") | None => "lib".into(),
        Some(name) => name.trim_end_matches(".rs").into(),
    }
}

/// Every `crate::name` in `code`, and each name in `use crate::{a, b::c}`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each path in the group, at depth one.
            let mut depth = 0;
            let mut segment_start = true;
            let mut word = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => segment_start = true,
                    c if depth == 0 && segment_start && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ if !word.is_empty() => {
                        names.insert(std::mem::take(&mut word));
                        segment_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !word.is_empty() {
                names.insert(word);
            }
        }
    }
    names
}

/// A circle in `edges`, if there is one, as the modules in it.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some(path[at..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_modules_that_use_each_other_in_a_circle() -> TestResult {
    let repo = repo_root();
    for krate in CRATES {
        let src = repo.join(krate).join("src");
        let files = rust_files(&src)?;
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let module = module_of(&src, file);
            let text = std::fs::read_to_string(file)?;
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let used: Vec<String> = named_modules(&code).into_iter().filter(|m| *m != module && m != "self").collect();
            edges.entry(module).or_default().extend(used);
        }
        assert!(!edges.is_empty(), "{krate}: no modules read");
        assert_eq!(circle(&edges), None, "{krate}: modules that use each other in a circle");
    }
    Ok(())
}

#[test]
fn the_circle_check_finds_a_circle_through_a_use_group() {
    let mut edges = BTreeMap::new();
    for (module, code) in [("a", "use crate::{b::X, c};"), ("b", "fn f() { crate::c::g() }"), ("c", "use crate::a;")] {
        edges.insert(module.to_owned(), named_modules(code));
    }
    assert_eq!(named_modules("use crate::{b::X, c::{d, e}};"), ["b", "c"].map(String::from).into());
    assert_eq!(circle(&edges), Some(["a", "b", "c"].map(String::from).to_vec()));
    edges.insert("c".into(), BTreeSet::new());
    assert_eq!(circle(&edges), None);
}
