//! The rooms of `api/src` and their one-way doors: `http` → `graphql` → `app` → `store` (and the
//! pure domain crate), with the pure renderers (`render/`) and link signing (`links.rs`) in rooms
//! of their own, and the mail worker (`mail/`) beside the store. This reads every source file and fails when one names a room above its own,
//! printing the offending lines.
//!
//! A file's code is read without its comments; `crate::x`, `crate::{x, …}` and the `super::`
//! paths that reach the crate root all count as naming `x`.

use std::path::{Path, PathBuf};

/// Which files a rule applies to, and what they may not name.
struct Rule {
    /// Files whose path (relative to `api/src`, with `/`) starts with one of these.
    rooms: &'static [&'static str],
    /// Modules of the crate they may not name (`crate::…`).
    modules: &'static [&'static str],
    /// Crates they may not name.
    crates: &'static [&'static str],
}

const RULES: &[Rule] = &[
    // Pure renderers and link signing know nothing of the layers, nor of the web or the database.
    Rule {
        rooms: &["render/", "links.rs"],
        modules: &["http", "graphql", "app"],
        crates: &["axum", "async_graphql", "sea_orm"],
    },
    // The use cases and the store speak neither HTTP nor GraphQL.
    Rule { rooms: &["app/", "store/"], modules: &["http", "graphql"], crates: &["axum", "async_graphql"] },
    // The leaves every room uses speak neither HTTP, GraphQL nor the database.
    Rule {
        rooms: &["error.rs", "ids.rs", "config.rs"],
        modules: &["http", "graphql", "app"],
        crates: &["axum", "async_graphql", "sea_orm"],
    },
    // The LTI tool speaks its protocol, not the service's HTTP or GraphQL (its routes are in
    // `http/lti.rs`).
    Rule { rooms: &["lti/"], modules: &["http", "graphql"], crates: &["axum", "async_graphql"] },
    // The mail worker speaks SMTP, not the service's HTTP or GraphQL (its unsubscribe route is
    // in `http/unsubscribe.rs`), and uses no use case: it reads and records nudges in the store.
    Rule { rooms: &["mail/"], modules: &["http", "graphql", "app"], crates: &["axum", "async_graphql"] },
    // The store knows no use case.
    Rule { rooms: &["store/"], modules: &["app"], crates: &[] },
    // The schema does not reach back into the HTTP layer, and builds no SQL: it reads through
    // `app::reads` and writes through the use cases.
    Rule { rooms: &["graphql/"], modules: &["http"], crates: &["sea_orm", "axum"] },
];

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The line without its `//` comment (string literals that contain `//` are rare in imports and
/// would only hide text after them, never invent a name).
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |at| &line[..at])
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The prefixes that name the crate root from a file at `rel`: `crate::`, and the `super::`
/// chain that climbs to the root from where the file sits.
fn root_prefixes(rel: &str) -> Vec<String> {
    let depth = rel.matches('/').count();
    let is_mod = rel.ends_with("/mod.rs");
    // A file `a/b.rs` sits in module `a::b`: two `super::` reach the root; `a/mod.rs` is `a`.
    let climbs = if rel == "lib.rs" || rel == "main.rs" { 0 } else { depth + usize::from(!is_mod) };
    let mut prefixes = vec!["crate::".to_owned()];
    if climbs > 0 {
        prefixes.push("super::".repeat(climbs));
    }
    prefixes
}

/// The top-level modules a piece of code names through one of the root prefixes.
fn crate_modules_named(text: &str, prefixes: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    for prefix in prefixes {
        let mut rest = text;
        while let Some(at) = rest.find(prefix.as_str()) {
            let before_ok = rest[..at].chars().next_back().is_none_or(|c| !is_ident(c) && c != ':');
            let after = &rest[at + prefix.len()..];
            rest = after;
            if !before_ok {
                continue;
            }
            if let Some(group) = after.strip_prefix('{') {
                // `crate::{a, b::c, …}`: every top-level name of the group.
                let mut depth = 0usize;
                for item in group.split_inclusive([',', '{', '}']) {
                    if depth == 0 {
                        let name: String = item.trim_start().chars().take_while(|&c| is_ident(c)).collect();
                        if !name.is_empty() {
                            names.push(name);
                        }
                    }
                    if item.ends_with('{') {
                        depth += 1;
                    } else if item.ends_with('}') {
                        if depth == 0 {
                            break;
                        }
                        depth -= 1;
                    }
                }
            } else {
                let name: String = after.chars().take_while(|&c| is_ident(c)).collect();
                if !name.is_empty() {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// Whether the code names the crate `name` as a path root (`name::…`, `use name;`, `{name, …}`).
fn names_crate(text: &str, name: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + name.len()..].chars().next();
        rest = &rest[at + name.len()..];
        let before_ok = before.is_none_or(|c| !is_ident(c) && c != ':');
        let after_ok = after.is_none_or(|c| !is_ident(c));
        if before_ok && after_ok {
            return true;
        }
    }
    false
}

#[test]
fn no_file_names_a_room_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    assert!(files.len() > 20, "found only {} source files under {}", files.len(), src.display());

    let mut offences = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&src).unwrap_or(path).to_string_lossy().replace('\\', "/");
        let rules: Vec<&Rule> = RULES.iter().filter(|r| r.rooms.iter().any(|room| rel.starts_with(room))).collect();
        if rules.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let prefixes = root_prefixes(&rel);
        let lines: Vec<&str> = text.lines().map(code).collect();
        for (i, line) in lines.iter().enumerate() {
            // A `crate::{` group is read with the lines that follow it, up to its closing brace.
            let mut chunk = (*line).to_owned();
            if prefixes.iter().any(|p| line.contains(&format!("{p}{{"))) {
                for next in lines.iter().skip(i + 1).take(50) {
                    chunk.push(' ');
                    chunk.push_str(next);
                    if next.contains('}') && chunk.matches('{').count() <= chunk.matches('}').count() {
                        break;
                    }
                }
            }
            for rule in &rules {
                let named = crate_modules_named(&chunk, &prefixes);
                for m in named.iter().filter(|m| rule.modules.contains(&m.as_str())) {
                    let shown = chunk.split_whitespace().collect::<Vec<_>>().join(" ");
                    offences.push(format!("api/src/{rel}:{}: names crate::{m}: {shown}", i + 1));
                }
                for c in rule.crates.iter().filter(|c| names_crate(line, c)) {
                    offences.push(format!("api/src/{rel}:{}: names {c}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "files name a room above their own (http → graphql → app → store; render/ and links.rs stand apart):\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_reader_sees_every_way_of_naming_a_room() {
    let file = root_prefixes("app/charts.rs");
    assert_eq!(file, ["crate::", "super::super::"]);
    assert_eq!(root_prefixes("app/mod.rs"), ["crate::", "super::"]);
    assert_eq!(root_prefixes("links.rs"), ["crate::", "super::"]);
    assert_eq!(crate_modules_named("use crate::http::AppState;", &file), ["http"]);
    assert_eq!(
        crate_modules_named("use crate::{error::ApiError, graphql::{self, x}, store};", &file),
        ["error", "graphql", "store"]
    );
    assert_eq!(crate_modules_named("super::super::graphql::types::Goal", &file), ["graphql"]);
    assert!(crate_modules_named("my_crate::http::x", &file).is_empty());
    assert!(names_crate("use axum::Router;", "axum") && names_crate("axum::serve(l, r)", "axum"));
    assert!(!names_crate("let axum_like = 1;", "axum") && !names_crate("tower::axum", "axum"));
    assert_eq!(code("let x = 1; // crate::http"), "let x = 1; ");
}
