//! Helpers shared by the integration tests.
#![allow(dead_code)]

use cnsim_manifests::{load_str, Diagnostic, ImportOptions, Manifests};

pub fn import(text: &str) -> Manifests {
    match load_str("test.yaml", text, &ImportOptions::default()) {
        Ok(m) => m,
        Err(d) => panic!("expected the manifests to load, got:\n{d}"),
    }
}

pub fn errors(text: &str) -> Vec<Diagnostic> {
    match load_str("test.yaml", text, &ImportOptions::default()) {
        Ok(_) => panic!("expected errors, the manifests loaded"),
        Err(d) => d.errors,
    }
}

/// The one error at `field`, with every error listed on failure.
pub fn error_at(errs: &[Diagnostic], field: &str) -> Diagnostic {
    let found: Vec<_> = errs.iter().filter(|e| e.field.as_deref() == Some(field)).collect();
    assert_eq!(found.len(), 1, "expected one error at {field}, got:\n{}", list(errs));
    found[0].clone()
}

pub fn list(ds: &[Diagnostic]) -> String {
    ds.iter().map(|d| format!("  {d}\n")).collect()
}

/// A NetworkPolicy `np` in namespace `x` with `spec` (indented YAML under `spec:`).
pub fn netpol(spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np\n  namespace: x\nspec:\n{spec}"
    )
}
