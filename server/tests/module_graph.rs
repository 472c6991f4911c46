//! The server's top-level modules form a DAG whose arrows point toward the kernel (docs/architecture.md): a
//! module that reached into one above it would make the layers a tangle that nobody can change alone. Read
//! from the sources' `crate::` paths, as text.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// The top-level module a source file belongs to: `src/cases/model/apply.rs` → `cases`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// The top-level modules a text names through `crate::`: `crate::cases::…`, and the items of a
/// `use crate::{a::…, b, c::{…}}` group at its first level.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 && c == ',' {
                    found.extend(first_ident(&item));
                    item.clear();
                } else {
                    item.push(c);
                }
            }
            found.extend(first_ident(&item));
        } else {
            found.extend(first_ident(rest));
        }
    }
    found
}

fn first_ident(s: &str) -> Option<String> {
    let ident: String = s
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty() && ident != "self").then_some(ident)
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("reading src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = module_of(&src, file) else {
            continue;
        };
        // Comments may name any module (a doc link is no dependency): only code counts.
        let text: String = fs::read_to_string(file)
            .expect("reading a source file")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let entry = edges.entry(from.clone()).or_default();
        for to in crate_paths(&text) {
            if to != from && modules.contains(&to) {
                entry.insert(to);
            }
        }
    }
    edges
}

/// A cycle of the graph, if it has one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
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
    for node in edges.keys() {
        if let Some(found) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(found);
        }
    }
    None
}

#[test]
fn top_level_modules_form_a_dag() {
    let edges = graph();
    assert!(edges.contains_key("cases") && edges.contains_key("intake"));
    if let Some(found) = cycle(&edges) {
        panic!(
            "a cycle between top-level modules: {}\n{edges:#?}",
            found.join(" → ")
        );
    }
}

#[test]
fn the_kernel_imports_no_other_module() {
    let edges = graph();
    assert_eq!(
        edges.get("kernel").cloned().unwrap_or_default(),
        BTreeSet::new(),
        "the kernel is imported, it imports nothing of the service"
    );
}

#[test]
fn the_reader_finds_grouped_and_plain_paths() {
    let text = "use crate::{\n    auth::{self, Principal},\n    db,\n    kernel::time,\n};\nlet x = crate::scope::Reader::of(p);";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, ["auth", "db", "kernel", "scope"]);
    let mut edges = BTreeMap::new();
    edges.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    edges.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert!(cycle(&edges).is_some());
}
