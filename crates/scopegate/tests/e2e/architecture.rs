//! The shape docs/architecture.md promises, checked on the sources: which
//! crate may depend on what, no module circle, and no record changed from
//! the command line or an endpoint except through the service layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::workspace_root;

/// The names under `[dependencies]` of a crate's manifest.
fn dependencies(krate: &str) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(workspace_root().join("crates").join(krate).join("Cargo.toml")).unwrap();
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            names.insert(name.to_owned());
        }
    }
    names
}

#[test]
fn the_core_does_no_io_and_the_service_layer_knows_no_web_framework() {
    let core = dependencies("scopegate-core");
    for io in ["tokio", "sqlx", "axum", "hyper", "reqwest", "tower"] {
        assert!(!core.contains(io), "scopegate-core depends on {io}");
    }
    let service = dependencies("scopegate-service");
    for web in [
        "axum",
        "hyper",
        "tower",
        "askama",
        "utoipa",
        "scopegate-server",
        "scopegate-layer",
    ] {
        assert!(!service.contains(web), "scopegate-service depends on {web}");
    }
    let store = dependencies("scopegate-store");
    assert!(!store.contains("scopegate-service") && !store.contains("axum"));
}

/// Every `.rs` file under `dir`, with its module path (`a::b`).
fn modules(dir: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files
        .into_iter()
        .map(|f| {
            let relative = f.strip_prefix(dir).unwrap().with_extension("");
            let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            (parts.join("::"), f)
        })
        .collect()
}

/// The source without comments and without its unit tests (which may use
/// anything).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The longest known module that `path` (`a::b::Item`) names.
fn resolve(mods: &BTreeMap<String, PathBuf>, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| mods.contains_key(m))
}

/// Which module uses which, among a crate's modules (a module using its own
/// ancestor or descendant does not count: that is nesting, not a circle).
fn uses(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(dir);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, file) in &mods {
        let source = code(file);
        let mut targets = Vec::new();
        let mut rest = source.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                targets.extend(
                    inner
                        .split(',')
                        .map(|i| i.trim().split("::{").next().unwrap_or_default().to_owned()),
                );
            } else {
                let path: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                targets.push(path.trim_end_matches(':').to_owned());
            }
        }
        let parent: Vec<&str> = name.split("::").collect();
        let parent = &parent[..parent.len().saturating_sub(1)];
        let mut rest = source.as_str();
        while let Some(at) = rest.find("super::") {
            rest = &rest[at + "super::".len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut full: Vec<&str> = parent.to_vec();
            full.push(path.trim_end_matches(':'));
            targets.push(full.join("::"));
        }
        let out = edges.entry(name.clone()).or_default();
        for target in targets {
            if let Some(t) = resolve(&mods, &target) {
                let nested = t == *name || t.starts_with(&format!("{name}::")) || name.starts_with(&format!("{t}::"));
                if !nested && !t.is_empty() {
                    out.insert(t);
                }
            }
        }
    }
    edges
}

/// A circle in `edges`, if there is one.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
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
    edges.keys().find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

/// The same uses, between top-level modules (folders) only.
fn between_folders(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap_or_default().to_owned();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in edges {
        for to in tos {
            if top(from) != top(to) {
                out.entry(top(from)).or_default().insert(top(to));
            }
        }
    }
    out
}

#[test]
fn no_module_depends_on_itself_through_others() {
    for krate in [
        "scopegate-core",
        "scopegate-store",
        "scopegate-service",
        "scopegate-server",
        "scopegate-layer",
        "scopegate",
    ] {
        let edges = uses(&workspace_root().join("crates").join(krate).join("src"));
        assert!(edges.len() >= 3, "{krate}: no modules found");
        assert_eq!(circle(&edges), None, "{krate}: a module circle");
        assert_eq!(
            circle(&between_folders(&edges)),
            None,
            "{krate}: a circle between folders"
        );
    }
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let edges: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
            .collect();
    assert_eq!(
        circle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

/// The store's methods that change apps, key sets, secrets, users,
/// permissions, grants, tokens (revocation), scope requests, admin tokens,
/// signing keys and sessions ended by an operator, and the durable audit.
const CHANGES: [&str; 22] = [
    "create_app",
    "add_key_set",
    "set_redirect_uris",
    "delete_app",
    "revoke_key_set_tokens",
    "add_client_secret",
    "revoke_client_secret",
    "create_user",
    "revoke_user_tokens",
    "set_permissions",
    "set_user_enabled",
    "revoke_token",
    "revoke_grant",
    "revoke_jti",
    "revoke_consent",
    "rotate_signing_key",
    "create_scope_request",
    "decide_scope_request",
    "create_admin_token",
    "revoke_admin_token",
    "delete_sessions",
    "distrust_before",
];

#[test]
fn the_command_line_and_the_endpoints_change_records_only_through_the_service_layer() {
    for krate in ["scopegate", "scopegate-server"] {
        for (module, file) in modules(&workspace_root().join("crates").join(krate).join("src")) {
            let source = code(&file);
            for method in CHANGES.iter().chain(&["audit"]) {
                let call = format!("store.{method}(");
                assert!(
                    !source.contains(&call),
                    "{krate}::{module} calls {call}…) itself instead of a scopegate_service operation"
                );
            }
        }
    }
}
