//! Files, directories, documents, Lists, syntax errors and unknown kinds.

mod common;
use cnsim_manifests::{load, load_str, ImportOptions, Severity};
use common::*;
use std::path::PathBuf;

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: NAME\n";

fn pod(name: &str) -> String {
    POD.replace("NAME", name)
}

#[test]
fn multi_document_files_keep_each_documents_line() {
    let text = format!(
        "# leading comment\n---\n{}---\n# only a comment\n---\n{}",
        pod("a"),
        pod("b")
    );
    let m = import(&text);
    let names: Vec<_> = m.cluster.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    // The second pod's document starts at line 9 (its `---`); an error there says so.
    let bad = text.replace("name: b", "name: B");
    let errs = errors(&bad);
    let e = error_at(&errs, "metadata.name");
    assert_eq!(e.line, 9, "{e}");
    assert_eq!(e.object.as_deref(), Some("Pod default/B"));
}

#[test]
fn list_objects_are_expanded_with_their_index() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n- {apiVersion: v1, kind: Pod, metadata: {name: b, namespace: kube-system}}\n---\napiVersion: v1\nkind: PodList\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: c}}\n";
    let m = import(text);
    let names: Vec<_> = m
        .cluster
        .pods
        .iter()
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect();
    assert_eq!(names, ["default/a", "kube-system/b", "default/c"]);
    assert!(
        m.warnings.is_empty(),
        "built-in namespaces are not warned of: {}",
        list(&m.warnings)
    );
}

#[test]
fn yaml_syntax_errors_are_shifted_to_file_lines() {
    let text = format!("{}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [b\n", pod("a"));
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{}", list(&errs));
    assert!(
        errs[0].line >= 8,
        "the error is in the second document, at or after line 8: {}",
        errs[0]
    );
    assert!(errs[0].column.is_some());
    assert!(errs[0].message.starts_with("invalid YAML"), "{}", errs[0]);
}

#[test]
fn duplicate_keys_are_errors() {
    let errs = errors("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n");
    assert_eq!(errs[0].line, 5, "{}", errs[0]);
    assert!(errs[0].message.contains("duplicate"), "{}", errs[0]);
}

#[test]
fn unknown_kinds_are_listed_never_dropped_silently() {
    let text = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: x}}\n",
        pod("a")
    );
    let m = import(&text);
    let w: Vec<_> = m
        .warnings
        .iter()
        .filter(|w| w.object.as_deref() == Some("v1 ConfigMap x/cfg"))
        .collect();
    assert_eq!(w.len(), 1, "{}", list(&m.warnings));
    assert_eq!(w[0].line, 5);
    assert_eq!(w[0].severity, Severity::Warning);
    // A known kind at an API version cnsim does not read is unknown too.
    let m = import("apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\n");
    assert!(m
        .warnings
        .iter()
        .any(|w| w.object.as_deref() == Some("extensions/v1beta1 Deployment old")));
}

#[test]
fn objects_without_kind_are_errors() {
    let errs = errors("metadata: {name: a}\n");
    assert!(errs[0].message.contains("apiVersion and kind"), "{}", errs[0]);
}

#[test]
fn json_files_parse_as_one_document() {
    let m = load_str(
        "pods.json",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"}}"#,
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(m.cluster.pods[0].name, "j");
    let e = load_str("pods.json", "{\n  \"apiVersion\": \n}", &ImportOptions::default()).unwrap_err();
    assert_eq!(e.errors[0].line, 3, "{}", e.errors[0]);
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    dir
}

#[test]
fn directories_are_walked_recursively_in_path_order() {
    let dir = scratch("dir_walk");
    std::fs::write(dir.join("b.yaml"), pod("from-b")).unwrap();
    std::fs::write(dir.join("a.yml"), pod("from-a")).unwrap();
    std::fs::write(
        dir.join("sub/c.json"),
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"from-c"}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
    let m = load(std::slice::from_ref(&dir), &ImportOptions::default()).unwrap();
    let names: Vec<_> = m.cluster.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["from-a", "from-b", "from-c"]);
    // Errors name the file they are in.
    std::fs::write(
        dir.join("sub/bad.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad}\n",
    )
    .unwrap();
    let e = load(std::slice::from_ref(&dir), &ImportOptions::default()).unwrap_err();
    assert!(e.errors[0].file.ends_with("sub/bad.yaml"), "{}", e.errors[0]);
}

#[test]
fn unreadable_paths_are_errors_naming_the_file() {
    let e = load(&[PathBuf::from("/nonexistent/x.yaml")], &ImportOptions::default()).unwrap_err();
    assert_eq!(e.errors[0].file, "/nonexistent/x.yaml");
}

#[test]
fn the_yaml_budget_refuses_alias_bombs() {
    let mut text = String::from("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nx0: &a0 [1,1,1,1,1,1,1,1,1,1]\n");
    for i in 1..10 {
        text.push_str(&format!(
            "x{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n",
            p = i - 1
        ));
    }
    let e = load_str("bomb.yaml", &text, &ImportOptions::default()).unwrap_err();
    assert!(e.errors[0].message.starts_with("invalid YAML"), "{}", e.errors[0]);
}

#[test]
fn the_pod_limit_refuses_huge_replica_counts() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 2000000000\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: i}]}\n";
    let errs = errors(text);
    let e = error_at(&errs, "spec.replicas");
    assert!(e.valid.as_deref().unwrap().contains("max_pods"), "{e}");
}
