//! From paths to raw objects: files found (recursively, sorted), YAML split into documents at
//! `---` markers so each keeps its first line, each document parsed within a budget, `List`
//! objects expanded. Nothing here knows the Kubernetes kinds beyond `apiVersion` and `kind`.

use crate::diag::{Diagnostic, Diagnostics, Origin, Severity};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Bounds on what one load may parse, so that no input takes unbounded memory or time. The
/// per-document limits go to serde-saphyr's budget; `max_total_nodes` bounds what is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YamlLimits {
    pub max_depth: usize,
    /// Sequences, mappings and scalars in one document, aliases expanded.
    pub max_nodes_per_document: usize,
    pub max_scalar_bytes_per_document: usize,
    pub max_aliases_per_document: usize,
    /// Nodes kept over the whole load (all files, all documents).
    pub max_total_nodes: usize,
}

impl Default for YamlLimits {
    fn default() -> YamlLimits {
        YamlLimits {
            max_depth: 64,
            max_nodes_per_document: 1_000_000,
            max_scalar_bytes_per_document: 64 << 20,
            max_aliases_per_document: 10_000,
            max_total_nodes: 20_000_000,
        }
    }
}

/// One Kubernetes object as parsed, before its kind is looked at.
#[derive(Clone, Debug)]
pub(crate) struct RawObject {
    pub origin: Origin,
    pub value: Value,
}

/// The manifest files under `paths`: files as given, directories walked recursively for
/// `*.yaml`, `*.yml` and `*.json`, sorted by path so that the order never depends on the file
/// system.
pub(crate) fn collect_files(paths: &[PathBuf], diags: &mut Diagnostics) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            for entry in walkdir::WalkDir::new(path).follow_links(true) {
                match entry {
                    Ok(e) if e.file_type().is_file() && is_manifest(e.path()) => found.push(e.into_path()),
                    Ok(_) => {}
                    Err(e) => diags.file_error(&path.display().to_string(), format!("cannot walk the directory: {e}")),
                }
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Splits YAML text into documents at `---` markers in column 0. Returns each document's text
/// and its first line (1-based) in the file. Text after `---` on the marker line stays in the
/// document (YAML allows `--- {a: 1}`); the marker itself is blanked so columns stay true.
pub(crate) fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let is_marker = line.starts_with("---") && line[3..].chars().next().is_none_or(|c| c.is_whitespace());
        if is_marker {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 1;
            current.push_str("   ");
            current.push_str(&line[3..]);
        } else {
            current.push_str(line);
        }
    }
    docs.push((start, current));
    docs
}

/// A document with nothing but blank lines, comments and directives holds no object.
fn is_blank(doc: &str) -> bool {
    doc.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "..." || l.starts_with('%')
    })
}

/// State across one load: the objects found and the budget spent.
pub(crate) struct Reader<'a> {
    pub limits: YamlLimits,
    pub diags: &'a mut Diagnostics,
    pub objects: Vec<RawObject>,
    total_nodes: usize,
}

impl<'a> Reader<'a> {
    pub fn new(limits: YamlLimits, diags: &'a mut Diagnostics) -> Reader<'a> {
        Reader {
            limits,
            diags,
            objects: Vec::new(),
            total_nodes: 0,
        }
    }

    pub fn read_file(&mut self, path: &Path) {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Err(e) => self.diags.file_error(&name, format!("cannot read: {e}")),
            Ok(bytes) => match String::from_utf8(bytes) {
                Err(e) => self.diags.file_error(
                    &name,
                    format!(
                        "not UTF-8 text (byte {}); manifests must be UTF-8",
                        e.utf8_error().valid_up_to()
                    ),
                ),
                Ok(text) => self.read_text(&name, &text, is_json(path)),
            },
        }
    }

    /// Parses one file's text: JSON as one document, YAML document by document.
    pub fn read_text(&mut self, file: &str, text: &str, json: bool) {
        let mut index = 0;
        if json {
            match serde_json::from_str::<Value>(text) {
                Ok(v) => self.accept(file, 1, v, &mut index),
                Err(e) => self.syntax_error(file, e.line(), Some(e.column()), format!("invalid JSON: {e}")),
            }
            return;
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (line, doc) in split_documents(text) {
            if is_blank(&doc) {
                continue;
            }
            match serde_saphyr::from_str_with_options::<Value>(&doc, self.options()) {
                Ok(v) => self.accept(file, line, v, &mut index),
                Err(e) => {
                    let loc = e.location();
                    let (l, c) = match loc {
                        Some(loc) if loc.line() > 0 => (line + loc.line() as usize - 1, Some(loc.column() as usize)),
                        _ => (line, None),
                    };
                    let message = bare_message(&e.without_snippet().to_string());
                    self.syntax_error(file, l, c, format!("invalid YAML: {message}"));
                }
            }
        }
    }

    fn options(&self) -> serde_saphyr::Options {
        let l = self.limits;
        let mut alias_limits = serde_saphyr::options::AliasLimits::default();
        alias_limits.max_total_replayed_events = l.max_nodes_per_document;
        serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_depth: l.max_depth,
                max_nodes: l.max_nodes_per_document,
                max_events: l.max_nodes_per_document.saturating_mul(2),
                max_total_scalar_bytes: l.max_scalar_bytes_per_document,
                max_aliases: l.max_aliases_per_document,
                max_anchors: l.max_aliases_per_document,
                max_documents: 1,
            },
            alias_limits: alias_limits,
            with_snippet: false,
        }
    }

    fn syntax_error(&mut self, file: &str, line: usize, column: Option<usize>, message: String) {
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            line,
            column,
            object: None,
            field: None,
            message,
            valid: None,
        });
    }

    /// Keeps a parsed document: `null` is skipped (kubectl skips empty documents), `List`
    /// kinds are expanded into their items, anything else must be an object.
    fn accept(&mut self, file: &str, line: usize, value: Value, index: &mut usize) {
        let nodes = count_nodes(&value);
        self.total_nodes = self.total_nodes.saturating_add(nodes);
        if self.total_nodes > self.limits.max_total_nodes {
            self.syntax_error(
                file,
                line,
                None,
                format!(
                    "the manifests hold more than {} YAML nodes in total; split the load or raise YamlLimits::max_total_nodes",
                    self.limits.max_total_nodes
                ),
            );
            return;
        }
        if value.is_null() {
            return;
        }
        let is_list = value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k == "List" || k.ends_with("List"))
            && value.get("items").is_some();
        if is_list {
            let Value::Object(mut map) = value else { return };
            match map.remove("items") {
                Some(Value::Array(items)) => {
                    for item in items {
                        let origin = Origin {
                            file: file.to_string(),
                            line,
                            index: *index,
                        };
                        *index += 1;
                        self.objects.push(RawObject { origin, value: item });
                    }
                }
                Some(Value::Null) => {}
                Some(_) => self.syntax_error(
                    file,
                    line,
                    None,
                    "a List's `items` must be a sequence of objects".into(),
                ),
                None => {}
            }
            return;
        }
        let origin = Origin {
            file: file.to_string(),
            line,
            index: *index,
        };
        *index += 1;
        self.objects.push(RawObject { origin, value });
    }
}

/// serde-saphyr's message without its document-relative position (the diagnostic carries the
/// file's) and without advice about its own options.
fn bare_message(m: &str) -> String {
    let m = m.lines().next().unwrap_or("");
    let m = match m.rfind(" at line ") {
        Some(i) => &m[..i],
        None => m,
    };
    m.replace(", set DuplicateKeyPolicy in Options if acceptable", "")
}

fn is_json(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("json")
}

/// Nodes in a parsed value, without recursion (the depth is already bounded, but a loop keeps
/// the stack flat whatever the limits are set to).
fn count_nodes(v: &Value) -> usize {
    let mut n = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(m) => stack.extend(m.values()),
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_first_line() {
        let docs = split_documents("a: 1\n---\nb: 2\n\n--- # c\nc: 3\n---x: 4\n");
        let starts: Vec<usize> = docs.iter().map(|d| d.0).collect();
        assert_eq!(starts, vec![1, 2, 5]);
        assert!(docs[2].1.contains("---x: 4"), "`---x` is not a marker");
    }

    #[test]
    fn blank_and_comment_documents_are_skipped() {
        assert!(is_blank("# only\n\n  # comments\n"));
        assert!(!is_blank("a: 1\n"));
    }
}
