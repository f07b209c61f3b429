//! Variant overrides: set fields of a scenario by path, the same way for `variants: [...]` in a
//! file and for `--set PATH=VALUE` on a sweep.
//!
//! The scenario goes to a JSON tree (serde's externally tagged form keeps enums exact), the
//! value is put at the path, and the tree is read back through the typed scenario, so a value
//! gets exactly the checks the file itself gets.

use super::diag::Finding;
use super::format::Scenario;
use super::source_map::{join, key_segment};
use serde_json::Value;

/// One resolved override: the canonical path it touched (`node_groups[0].count`) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub path: String,
    pub value: Value,
}

/// Paths a variant may not set.
/// `manifests` is read once, into the base, before any variant applies.
const FORBIDDEN: [&str; 3] = ["version", "variants", "manifests"];

/// Applies `sets` (path, value text) in order; every problem is returned, not just the first.
pub fn apply(
    base: &Scenario,
    sets: &[(String, String)],
    field_prefix: &str,
) -> Result<(Scenario, Vec<Applied>), Vec<Finding>> {
    let mut tree = serde_json::to_value(base).expect("a scenario always serializes");
    let mut findings = Vec::new();
    let mut applied = Vec::new();
    for (path, text) in sets {
        let at = join(field_prefix, &key_segment(path));
        let value = parse_value(text);
        match set_path(&mut tree, path, value.clone()) {
            Ok(canonical) => applied.push(Applied { path: canonical, value }),
            Err(f) => findings.push(Finding { field: at, ..f }),
        }
    }
    if !findings.is_empty() {
        return Err(findings);
    }
    match serde_path_to_error::deserialize::<_, Scenario>(tree) {
        Ok(s) => Ok((s, applied)),
        Err(e) => {
            let path = e.path().to_string();
            // Point at the override that wrote this field, if one did.
            let culprit = sets
                .iter()
                .zip(&applied)
                .find(|(_, a)| {
                    path == a.path
                        || path.starts_with(&format!("{}.", a.path))
                        || path.starts_with(&format!("{}[", a.path))
                })
                .map(|((p, _), _)| join(field_prefix, &key_segment(p)))
                .unwrap_or_else(|| path.clone());
            Err(vec![Finding::error(culprit, format!("{path}: {}", e.inner()))])
        }
    }
}

/// JSON if it parses, else the text as a string: `Overlay` and `20s` need no quotes.
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Splits `a.b[2].c` into segments `a`, `b`, `[2]`, `c`.
fn segments(path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (head, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if head.is_empty() && rest.is_empty() {
            return Err("empty path segment".into());
        }
        if !head.is_empty() {
            out.push(head.to_string());
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']').ok_or("unclosed '['")?;
            out.push(format!("[{}]", &stripped[..end]));
            rest = &stripped[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("unexpected {rest:?}"));
        }
    }
    Ok(out)
}

fn set_path(tree: &mut Value, path: &str, value: Value) -> Result<String, Finding> {
    let segs = segments(path).map_err(|m| Finding::error("", format!("bad path {path:?}: {m}")))?;
    if let Some(first) = segs.first() {
        if FORBIDDEN.contains(&first.as_str()) {
            let f = Finding::error("", format!("a variant cannot set {first:?}"));
            return Err(match first.as_str() {
                "manifests" => f.valid("network_policy.manifests (the policies) may differ per variant; the workloads a manifest holds may be changed as workloads[i]"),
                _ => f,
            });
        }
    }
    let mut node = tree;
    let mut canonical = String::new();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let next: &mut Value = match node {
            Value::Object(map) => {
                let key = seg.trim_start_matches('[').trim_end_matches(']');
                if !map.contains_key(key) {
                    let keys: Vec<&String> = map.keys().collect();
                    return Err(Finding::error("", format!("{path}: no field {key:?} at {canonical:?}"))
                        .valid(super::diag::one_of(&keys)));
                }
                canonical = join(&canonical, &key_segment(key));
                map.get_mut(key).expect("checked")
            }
            Value::Array(items) => {
                let wanted = seg.trim_start_matches('[').trim_end_matches(']');
                let index = match wanted.parse::<usize>() {
                    Ok(n) => n,
                    Err(_) => items
                        .iter()
                        .position(|it| it.get("name").and_then(Value::as_str) == Some(wanted))
                        .ok_or_else(|| {
                            let names: Vec<&str> = items
                                .iter()
                                .filter_map(|it| it.get("name").and_then(Value::as_str))
                                .collect();
                            Finding::error("", format!("{path}: no element named {wanted:?} in {canonical}"))
                                .valid(super::diag::one_of(&names))
                        })?,
                };
                if index >= items.len() {
                    return Err(Finding::error(
                        "",
                        format!(
                            "{path}: index {index} is past the end of {canonical} ({} elements)",
                            items.len()
                        ),
                    ));
                }
                canonical = format!("{canonical}[{index}]");
                &mut items[index]
            }
            // An enum struct variant: `{"HostLocal": {...}}` is addressed through its fields.
            _ => return Err(Finding::error("", format!("{path}: {canonical} has no fields to set"))),
        };
        if last {
            *next = value;
            return Ok(canonical);
        }
        // Step through an externally tagged enum transparently: ipam.cluster_cidr.
        let following = segs[i + 1].trim_start_matches('[').trim_end_matches(']');
        let is_enum = matches!(&*next, Value::Object(map) if map.len() == 1 && !map.contains_key(following));
        node = if is_enum {
            next.as_object_mut()
                .and_then(|m| m.values_mut().next())
                .expect("one entry")
        } else {
            next
        };
    }
    Err(Finding::error("", "empty path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_fields_and_indices() {
        assert_eq!(segments("a.b[2].c").unwrap(), vec!["a", "b", "[2]", "c"]);
        assert_eq!(segments("x[0][1]").unwrap(), vec!["x", "[0]", "[1]"]);
        assert!(segments("a..b").is_err());
        assert!(segments("a[1").is_err());
    }

    #[test]
    fn bare_words_are_strings_and_json_is_json() {
        assert_eq!(parse_value("Overlay"), Value::String("Overlay".into()));
        assert_eq!(parse_value("20s"), Value::String("20s".into()));
        assert_eq!(parse_value("3"), Value::from(3));
        assert_eq!(parse_value("{\"a\": 1}"), serde_json::json!({"a": 1}));
    }

    #[test]
    fn set_path_by_index_by_name_and_through_an_enum() {
        let mut tree = serde_json::json!({
            "groups": [{"name": "a", "count": 1}, {"name": "b", "count": 2}],
            "ipam": {"HostLocal": {"mask": 24}},
        });
        assert_eq!(
            set_path(&mut tree, "groups.b.count", Value::from(5)).unwrap(),
            "groups[1].count"
        );
        assert_eq!(
            set_path(&mut tree, "groups[0].count", Value::from(7)).unwrap(),
            "groups[0].count"
        );
        assert_eq!(set_path(&mut tree, "ipam.mask", Value::from(26)).unwrap(), "ipam.mask");
        assert_eq!(tree["groups"][1]["count"], 5);
        assert_eq!(tree["groups"][0]["count"], 7);
        assert_eq!(tree["ipam"]["HostLocal"]["mask"], 26);
        assert!(set_path(&mut tree, "groups.c.count", Value::from(1))
            .unwrap_err()
            .valid
            .unwrap()
            .contains("\"a\""));
        assert!(set_path(&mut tree, "groups[9].count", Value::from(1)).is_err());
        assert!(set_path(&mut tree, "nope", Value::from(1)).is_err());
        assert!(set_path(&mut tree, "variants", Value::from(1)).is_err());
    }
}
