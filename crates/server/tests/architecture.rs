//! The server's modules (the top-level files and folders of `src/`) import each other in one
//! direction: who imports whom is read from the source (every `crate::<module>` outside a
//! comment), and the graph must have no circle. docs/architecture.md draws the layers this
//! keeps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let module = if e.file_type().unwrap().is_dir() { name } else { name.strip_suffix(".rs")?.to_owned() };
            (module != "lib" && module != "main").then_some(module)
        })
        .collect()
}

fn files(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            files(&path, into);
        } else if path.extension().is_some_and(|x| x == "rs") {
            into.push(path);
        }
    }
}

/// Module → the modules it imports.
fn imports(src: &Path) -> Graph {
    let known = modules(src);
    let mut graph = Graph::new();
    for module in &known {
        let path = src.join(module);
        let mut sources = Vec::new();
        if path.is_dir() {
            files(&path, &mut sources);
        } else {
            sources.push(src.join(format!("{module}.rs")));
        }
        let uses = graph.entry(module.clone()).or_default();
        for file in sources {
            for line in std::fs::read_to_string(&file).unwrap().lines() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                for (at, _) in line.match_indices("crate::") {
                    let name: String =
                        line[at + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    if known.contains(&name) && &name != module {
                        uses.insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// The strongly connected groups of more than one module (Tarjan).
fn circles(graph: &Graph) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        for u in &w.graph[v] {
            let u = u.as_str();
            if !w.index.contains_key(u) {
                visit(w, u);
                let low = w.low[v].min(w.low[u]);
                w.low.insert(v, low);
            } else if w.stack.contains(&u) {
                let low = w.low[v].min(w.index[u]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut group = BTreeSet::new();
            while let Some(u) = w.stack.pop() {
                group.insert(u.to_owned());
                if u == v {
                    break;
                }
            }
            if group.len() > 1 {
                w.found.push(group);
            }
        }
    }
    let mut w = Walk { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for v in graph.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

#[test]
fn the_server_modules_import_each_other_in_one_direction() {
    let graph = imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph["live"].contains("media") && graph["http"].contains("live"), "the reading finds imports");
    let ties: Vec<String> = circles(&graph)
        .iter()
        .flat_map(|circle| {
            circle
                .iter()
                .flat_map(|a| graph[a].iter().filter(|b| circle.contains(*b)).map(move |b| format!("{a} -> {b}")))
        })
        .collect();
    assert!(ties.is_empty(), "modules import each other in a circle: {}", ties.join(", "));
    // The layers the redesign made: media, the cluster and state-free services sit under the
    // live meetings, which sit under the HTTP state; the recording machinery sits under the
    // services and the recording workflow, and the job runner above the jobs it runs.
    let layers = [
        ("media", "live"),
        ("cluster", "live"),
        ("live", "state"),
        ("services", "live"),
        ("tls", "server"),
        ("recorder", "services"),
        ("recorder", "recording"),
        ("recording", "jobs"),
        ("notify", "jobs"),
    ];
    for (low, high) in layers {
        assert!(!graph[low].contains(high), "{low} imports {high}, which is above it");
    }
}
