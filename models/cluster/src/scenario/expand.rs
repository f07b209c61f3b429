//! Service generators become plain workloads and Services before validation and the world see
//! them, so everything downstream handles one shape. Generated items are appended after the
//! declared ones; `Expanded` maps their indices back to the generator for diagnostics.

use super::format::{ContainerPort, Scenario, Workload};
use super::services::{ServiceDef, ServicePortDef, TargetPort};
use std::collections::BTreeMap;

/// Where generated items start, and which generator made which range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expanded {
    pub declared_services: usize,
    pub declared_workloads: usize,
    /// (first generated service index, generator index), ascending.
    service_ranges: Vec<(usize, usize)>,
    /// (generated workload index, generator index).
    workload_of: Vec<(usize, usize)>,
}

impl Expanded {
    /// Rewrites a finding's field path that points into generated items to the generator.
    pub fn remap(&self, field: &str) -> String {
        if let Some(i) = index_after(field, "services[") {
            if i >= self.declared_services {
                let g = self
                    .service_ranges
                    .iter()
                    .rev()
                    .find(|(start, _)| *start <= i)
                    .map_or(0, |(_, g)| *g);
                return format!("service_generators[{g}]");
            }
        }
        if let Some(i) = index_after(field, "workloads[") {
            if let Some((_, g)) = self.workload_of.iter().find(|(w, _)| *w == i) {
                return format!("service_generators[{g}]");
            }
        }
        field.to_string()
    }
}

fn index_after(field: &str, prefix: &str) -> Option<usize> {
    let rest = field.strip_prefix(prefix)?;
    rest[..rest.find(']')?].parse().ok()
}

/// Appends each generator's pool workload and Services. Idempotent only on a scenario whose
/// generators have not been expanded yet (the loader calls it once per variant).
pub fn expand(s: &mut Scenario) -> Expanded {
    let mut out = Expanded {
        declared_services: s.services.len(),
        declared_workloads: s.workloads.len(),
        ..Expanded::default()
    };
    for (gi, g) in s.service_generators.iter().enumerate() {
        let pool = g.pool.unwrap_or(g.endpoints).max(1);
        let backend = format!("{}-backend", g.prefix);
        out.workload_of.push((s.workloads.len(), gi));
        s.workloads.push(Workload {
            namespace: g.namespace.clone(),
            name: backend.clone(),
            replicas: pool,
            labels: BTreeMap::from([("app".to_string(), backend.clone())]),
            ports: vec![ContainerPort {
                name: Some("backend".into()),
                port: g.target_port,
                protocol: g.protocol,
            }],
            node_selector: g.node_selector.clone(),
        });
        out.service_ranges.push((s.services.len(), gi));
        for i in 0..g.count {
            let per = g.endpoints.min(pool);
            let endpoints = (0..per)
                .map(|k| {
                    format!(
                        "{backend}-{}",
                        (u64::from(i) * u64::from(g.endpoints) + u64::from(k)) % u64::from(pool)
                    )
                })
                .collect();
            let ports = vec![ServicePortDef {
                name: None,
                port: g.port,
                target_port: Some(TargetPort::Number(g.target_port)),
                protocol: g.protocol,
                node_port: None,
            }];
            s.services.push(ServiceDef {
                endpoints,
                ..ServiceDef::with_ports(&g.namespace, &format!("{}-{i}", g.prefix), g.kind, ports)
            });
        }
    }
    s.service_generators.clear();
    out
}
