//! The layering of `src/`, checked: every top-level module has a place in
//! one order, lowest first, and may use only modules before it (and
//! itself). An upward import — the network layer reaching for the web
//! layer, the chat taking the web's `App` — fails here with the file and
//! line, and because the order is total there can be no cycle between
//! layers. `src/lib.rs` documents the same order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lowest first. `main` is the binary.
const ORDER: &[&str] = &[
    "util", "sync", "log", "metrics", "limits", "der", "text", "http", "tls", "net", "ws", "store",
    "auth", "chat", "web", "admin", "config", "server", "main",
];

/// The crate-root macros live in `log`.
const MACROS: &[&str] = &["info", "warn", "error", "debug", "log_at"];

fn rank(module: &str) -> Option<usize> {
    let module = if MACROS.contains(&module) {
        "log"
    } else {
        module
    };
    ORDER.iter().position(|m| *m == module)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/chat/hub.rs` → `chat`).
fn owner(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "bin" => None,
        other => Some(other.trim_end_matches(".rs").to_string()),
    }
}

/// The top-level modules a line names: `crate::x`, `use crate::{x, y}`,
/// and in the binary `securechat::x`.
fn named(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["crate::", "securechat::"] {
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(list) = rest.strip_prefix('{') {
                let end = list.find('}').unwrap_or(list.len());
                for item in list[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
    }
    out
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    let mut unknown = BTreeMap::new();
    for file in &files {
        let Some(owner) = owner(&src, file) else {
            continue;
        };
        let Some(own_rank) = rank(&owner) else {
            unknown.insert(owner.clone(), file.display().to_string());
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for used in named(code) {
                match rank(&used) {
                    Some(r) if r > own_rank => upward.push(format!(
                        "{}:{}: {owner} uses {used}, a layer above it",
                        file.display(),
                        n + 1
                    )),
                    Some(_) => {}
                    None => {
                        unknown.insert(used, format!("{}:{}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from ORDER (add them where they belong): {unknown:?}"
    );
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn the_checker_sees_the_forms_imports_take() {
    assert_eq!(named("use crate::web::{App, handle};"), ["web"]);
    assert_eq!(named("use crate::{chat, store::Store};"), ["chat", "store"]);
    assert_eq!(named("    let x = crate::net::conn::serve(a);"), ["net"]);
    assert_eq!(
        named("use securechat::{admin, config};"),
        ["admin", "config"]
    );
    assert_eq!(named("$crate::log::write(x)"), Vec::<String>::new());
    assert_eq!(rank("info"), rank("log"));
    assert!(rank("web") > rank("chat") && rank("net") < rank("web"));
}
