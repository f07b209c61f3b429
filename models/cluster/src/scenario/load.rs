//! Loading a scenario: parse the RON, resolve variants, validate, and locate every problem in
//! the file. The single entry point from text to a checked, runnable set of variants.

use super::diag::{Diagnostic, Diagnostics, Finding, Severity};
use super::format::Scenario;
use super::manifest_source::{self, Merged};
use super::overrides::{self, Applied};
use super::policy_source::{self, ScenarioPolicies};
use super::source_map::{join, key_segment, Position, SourceMap};
use super::validate::validate;
use cnsim_ipam::InstanceCatalog;
use ron::extensions::Extensions;
use std::path::Path;
use std::sync::Arc;

/// A variant ready to run: its name and the base scenario with its overrides applied.
#[derive(Clone, Debug)]
pub struct VariantSpec {
    pub name: String,
    pub description: String,
    pub scenario: Scenario,
    pub overrides: Vec<Applied>,
    /// The NetworkPolicies the variant enforces, read from its `network_policy.manifests` and
    /// the top-level `manifests`.
    pub policies: Arc<ScenarioPolicies>,
}

/// A parsed, validated scenario file.
#[derive(Clone, Debug)]
pub struct LoadedScenario {
    /// The file as the user named it.
    pub file: String,
    /// The file's exact text: it is part of what identifies a run.
    pub text: String,
    /// The scenario's name (its `name`, else the file stem).
    pub name: String,
    pub base: Scenario,
    /// What runs: the declared variants, or the base alone as "base".
    pub variants: Vec<VariantSpec>,
    pub warnings: Vec<Diagnostic>,
}

/// RON options: `Some(..)` may be left out around optional values (`max_pods: 29`).
pub fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME)
}

pub fn load_file(path: &Path) -> Result<LoadedScenario, Diagnostics> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut d = Diagnostics::default();
        d.push(Diagnostic {
            severity: Severity::Error,
            file: file.clone(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read the scenario: {e}"),
            valid: Some("a readable .ron scenario file, e.g. scenarios/quickstart.ron".into()),
            variant: None,
        });
        d
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    load_str(&file, &stem, &text, &[])
}

/// Loads from text. `extra` overrides apply to the base before variants (a sweep point).
pub fn load_str(file: &str, stem: &str, text: &str, extra: &[(String, String)]) -> Result<LoadedScenario, Diagnostics> {
    let map = SourceMap::scan(text);
    let locate = |f: Finding, variant: Option<&str>, at: Option<Position>| {
        let pos = at.unwrap_or_else(|| map.locate(&f.field));
        Diagnostic {
            severity: f.severity,
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            field: f.field,
            message: f.message,
            valid: f.valid,
            variant: variant.map(str::to_string),
        }
    };
    let mut diags = Diagnostics::default();
    let mut base = match parse(text) {
        Ok(s) => s,
        Err((mut finding, pos)) => {
            if finding.field.is_empty() || finding.field.contains('?') {
                finding.field = map.field_before(pos).unwrap_or_default().to_string();
            }
            diags.push(locate(finding, None, Some(pos)));
            return Err(diags);
        }
    };
    if !extra.is_empty() {
        match overrides::apply(&base, extra, "--set") {
            Ok((s, _)) => {
                base = Scenario {
                    variants: base.variants.clone(),
                    ..s
                }
            }
            Err(findings) => {
                for f in findings {
                    diags.push(locate(f, None, Some(Position { line: 0, column: 0 })));
                }
                return Err(diags);
            }
        }
    }
    // The top-level manifests join the base once; variants and sweeps start from the result.
    let (manifest_policies, merged, findings) = manifest_source::merge(file, &mut base);
    for f in findings {
        diags.push(locate(f, None, None));
    }
    if diags.has_errors() {
        return Err(diags); // validating without the manifests' objects would only add noise
    }
    let catalog = InstanceCatalog::embedded();
    let (expanded_base, base_findings) = expand_and_validate(&base, catalog, &merged);
    for f in base_findings.iter().cloned() {
        diags.push(locate(f, None, None));
    }
    let mut variants = Vec::new();
    // Manifests are read once per distinct policy configuration; findings are reported once.
    let mut policy_cache: Vec<(super::format::NetworkPolicyConfig, Arc<ScenarioPolicies>)> = Vec::new();
    let mut policies_of = |s: &Scenario, variant: Option<&str>, diags: &mut Diagnostics| {
        if let Some((_, p)) = policy_cache.iter().find(|(c, _)| *c == s.network_policy) {
            return p.clone();
        }
        let (mut p, findings) = policy_source::load(file, s);
        p.set
            .network_policies
            .extend(manifest_policies.network_policies.iter().cloned());
        p.set
            .cluster_policies
            .extend(manifest_policies.cluster_policies.iter().cloned());
        for f in findings {
            diags.push(locate(f, variant, None));
        }
        let p = Arc::new(p);
        policy_cache.push((s.network_policy.clone(), p.clone()));
        p
    };
    if base.variants.is_empty() {
        let policies = policies_of(&expanded_base, None, &mut diags);
        variants.push(VariantSpec {
            name: "base".into(),
            description: String::new(),
            scenario: expanded_base,
            overrides: Vec::new(),
            policies,
        });
    }
    for (i, v) in base.variants.iter().enumerate() {
        let sets: Vec<(String, String)> = v.set.iter().map(|(k, val)| (k.clone(), val.clone())).collect();
        let prefix = format!("variants[{i}].set");
        match overrides::apply(&base, &sets, &prefix) {
            Err(findings) => findings
                .into_iter()
                .for_each(|f| diags.push(locate(f, Some(&v.name), None))),
            Ok((mut scenario, applied)) => {
                scenario.variants.clear();
                let (expanded, findings) = expand_and_validate(&scenario, catalog, &merged);
                scenario = expanded;
                for f in findings {
                    if base_findings.contains(&f) {
                        continue; // reported once, for the base
                    }
                    // Point at the override that changed this field, if one did.
                    let culprit = applied.iter().zip(&sets).find(|(a, _)| related(&a.path, &f.field));
                    let at = culprit.map(|(_, (k, _))| map.locate(&join(&prefix, &key_segment(k))));
                    diags.push(locate(f, Some(&v.name), at));
                }
                let policies = policies_of(&scenario, Some(&v.name), &mut diags);
                variants.push(VariantSpec {
                    name: v.name.clone(),
                    description: v.description.clone(),
                    scenario,
                    overrides: applied,
                    policies,
                });
            }
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let name = base.name.clone().unwrap_or_else(|| stem.to_string());
    Ok(LoadedScenario {
        file: file.to_string(),
        text: text.to_string(),
        name,
        base,
        variants,
        warnings: diags.warnings,
    })
}

/// Expands service generators, then validates; findings about generated items name their
/// generator, and those about objects from manifests name the `manifests` entry.
fn expand_and_validate(s: &Scenario, catalog: &InstanceCatalog, merged: &Merged) -> (Scenario, Vec<Finding>) {
    let mut expanded = s.clone();
    let map = super::expand::expand(&mut expanded);
    let mut findings = validate(&expanded, catalog);
    for f in &mut findings {
        f.field = merged.remap(&map.remap(&f.field));
    }
    findings.extend(super::validate_services::generators(s));
    (expanded, findings)
}

/// Whether an override at `set` and a finding at `field` concern the same value.
fn related(set: &str, field: &str) -> bool {
    let under = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}.")) || a.starts_with(&format!("{b}["));
    under(field, set) || under(set, field)
}

/// Parses RON into a scenario; an error carries the field path and the position.
fn parse(text: &str) -> Result<Scenario, (Finding, Position)> {
    let options = ron_options();
    let mut de = match ron::Deserializer::from_str_with_options(text, &options) {
        Ok(de) => de,
        Err(e) => return Err((Finding::error("", e.code.to_string()), pos(&e.span.start))),
    };
    match serde_path_to_error::deserialize::<_, Scenario>(&mut de) {
        Ok(s) => match de.end() {
            Ok(()) => Ok(s),
            Err(e) => {
                let spanned = de.span_error(e);
                Err((
                    Finding::error("", format!("{} after the scenario", spanned.code)),
                    pos(&spanned.span.start),
                ))
            }
        },
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let spanned = de.span_error(e.into_inner());
            let mut f = Finding::error(path, spanned.code.to_string());
            if let Some(valid) = hint(&spanned.code) {
                f = f.valid(valid);
            }
            Err((f, pos(&spanned.span.start)))
        }
    }
}

fn pos(p: &ron::error::Position) -> Position {
    Position {
        line: p.line,
        column: p.col,
    }
}

/// A "valid:" line for the parse errors people hit most.
fn hint(e: &ron::Error) -> Option<String> {
    match e {
        ron::Error::MissingStructField { field, .. } => Some(format!(
            "add `{field}: ...` (see scenarios/quickstart.ron for a complete example)"
        )),
        ron::Error::NoSuchStructField { expected, .. } => Some(format!("one of: {}", expected.join(", "))),
        ron::Error::NoSuchEnumVariant { expected, .. } => Some(format!("one of: {}", expected.join(", "))),
        _ => None,
    }
}
