//! The daemon's source layout keeps its promises: modules form layers (no import cycle),
//! no file grows past a size a reader can hold, and the README's module map names exactly
//! the modules in the tree.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Longest source file, in lines.
const MAX_LINES: usize = 650;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../netauth-userspace/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The crate's top-level modules (files and directories under src, but the roots).
fn modules() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|x| x == "rs")).then_some(name)
        })
        .filter(|n| n != "lib" && n != "main" && n != "cli")
        .collect()
}

/// The code of a file without comments and without its unit tests.
fn code(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which top-level modules each one names through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src()).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let name = f.file_name().unwrap().to_string_lossy();
        if !mods.contains(&top) || name == "tests.rs" || name == "testing.rs" {
            continue;
        }
        let code = code(&f);
        let mut named = BTreeSet::new();
        // `crate::x::...` and the names inside `use crate::{x::..., y, ...}`.
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find("};").unwrap_or(group.len())];
                let mut depth = 0;
                let mut start = true;
                let mut word = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 && (c.is_alphanumeric() || c == '_') {
                        if start {
                            word.push(c);
                        }
                    } else if depth == 0 && c == ',' {
                        start = true;
                        named.insert(std::mem::take(&mut word));
                    } else if !word.is_empty() {
                        start = false;
                        named.insert(std::mem::take(&mut word));
                    }
                }
                named.insert(word);
            } else {
                let word: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                named.insert(word);
            }
        }
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(named.into_iter().filter(|m| mods.contains(m) && *m != top));
    }
    graph
}

fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, bool>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(m) {
            Some(true) => {
                let i = path.iter().position(|p| p == m).unwrap();
                let mut c = path[i..].to_vec();
                c.push(m.to_string());
                return Some(c);
            }
            Some(false) => return None,
            None => {}
        }
        state.insert(m.to_string(), true);
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(m.to_string(), false);
        None
    }
    let mut state = BTreeMap::new();
    for m in graph.keys() {
        if let Some(c) = visit(m, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_daemons_modules_form_layers_without_import_cycles() {
    let graph = imports();
    assert!(graph.len() > 10, "the import graph was read: {graph:?}");
    assert!(
        graph["sessions"].contains("store"),
        "the reader sees real imports: {graph:?}"
    );
    if let Some(c) = cycle(&graph) {
        panic!("import cycle: {}", c.join(" -> "));
    }
    // The bottom layer imports nothing of the daemon but the clock.
    let model: Vec<_> = graph["model"].iter().filter(|m| *m != "clock").collect();
    assert!(model.is_empty(), "model imports {model:?}");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    g.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&g), None);
}

#[test]
fn no_source_file_is_longer_than_a_reader_can_hold() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

#[test]
fn the_readme_module_map_matches_the_tree() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let start = readme
        .find("<!-- module map -->")
        .expect("the README has a module map");
    let end = readme[start..]
        .find("<!-- /module map -->")
        .expect("the module map ends")
        + start;
    let listed: BTreeSet<String> = readme[start..end]
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().strip_prefix("- `")?;
            let name = &l[..l.find('`')?];
            Some(name.trim_end_matches('/').to_string())
        })
        .collect();
    let mut tree = modules();
    tree.insert("cli".into());
    assert_eq!(listed, tree, "README module map vs netauth-userspace/src");
}
