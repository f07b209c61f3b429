//! `cnsim policy matrix` (who reaches whom, as the upstream e2e truth tables print it) and
//! `cnsim policy diff` (the verdicts a change of manifests would flip, with the reason on each
//! side: the dry run before `kubectl apply`).

use crate::policy::{load, options, parse_port, POLICY_SCHEMA};
use crate::{out, Outcome, OutputFormat};
use cnsim_manifests::Manifests;
use cnsim_policy::{Compiled, Connection, Endpoint, PodId, PolicyEngine, Protocol};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::PathBuf;

/// Pods selected by `--pods` (`NS/POD` or `NS/*`, comma separated), all when None.
fn select_pods(m: &Manifests, filter: Option<&str>) -> Result<Vec<PodId>, String> {
    let all = (0..m.cluster.pods.len() as u32).map(PodId);
    let Some(filter) = filter else {
        return Ok(all.collect());
    };
    let wanted: Vec<(&str, &str)> = filter
        .split(',')
        .map(|w| w.trim().split_once('/').ok_or(w))
        .collect::<Result<_, _>>()
        .map_err(|w| format!("--pods {w:?}: expected NAMESPACE/POD or NAMESPACE/*"))?;
    let pods: Vec<PodId> = all
        .filter(|&id| {
            let p = m.cluster.pod(id);
            wanted
                .iter()
                .any(|(ns, name)| *ns == p.namespace && (*name == "*" || *name == p.name))
        })
        .collect();
    if pods.is_empty() {
        return Err(format!("--pods {filter:?} selects no pod of the manifests"));
    }
    Ok(pods)
}

fn ports_of(flags: &[String]) -> Result<Vec<(u16, Protocol)>, String> {
    if flags.is_empty() {
        return Ok(vec![(80, Protocol::Tcp)]);
    }
    flags.iter().map(|p| parse_port(p)).collect()
}

fn pod_name(m: &Manifests, id: PodId) -> String {
    let p = m.cluster.pod(id);
    format!("{}/{}", p.namespace, p.name)
}

#[derive(Serialize)]
struct MatrixPort {
    port: u16,
    protocol: Protocol,
    /// One string per source pod (in `pods` order): '.' reachable, 'X' not, per destination.
    reachable: Vec<String>,
    denied: u64,
}

#[derive(Serialize)]
struct MatrixJson {
    schema: u32,
    pods: Vec<String>,
    ports: Vec<MatrixPort>,
}

pub fn matrix(
    manifests: &[PathBuf],
    pods: Option<&str>,
    ports: &[String],
    ip_block: bool,
    format: OutputFormat,
) -> Outcome {
    let Some(m) = load(manifests) else {
        return Outcome::BadInput;
    };
    let (pods, ports) = match (select_pods(&m, pods), ports_of(ports)) {
        (Ok(p), Ok(q)) => (p, q),
        (Err(e), _) | (_, Err(e)) => return out::bad(e),
    };
    let engine = Compiled::build(&m.cluster, &m.policies, options(ip_block));
    let result = MatrixJson {
        schema: POLICY_SCHEMA,
        pods: pods.iter().map(|&p| pod_name(&m, p)).collect(),
        ports: ports
            .iter()
            .map(|&(port, protocol)| {
                let mut denied = 0;
                let reachable = pods
                    .iter()
                    .map(|&src| {
                        pods.iter()
                            .map(|&dst| {
                                let conn = Connection {
                                    src: Endpoint::Pod(src),
                                    dst: Endpoint::Pod(dst),
                                    protocol,
                                    port,
                                };
                                if engine.is_allowed(&conn) {
                                    '.'
                                } else {
                                    denied += 1;
                                    'X'
                                }
                            })
                            .collect()
                    })
                    .collect();
                MatrixPort {
                    port,
                    protocol,
                    reachable,
                    denied,
                }
            })
            .collect(),
    };
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(&result).expect("serializes") + "\n",
        OutputFormat::Table => matrix_text(&result),
    };
    out::print(&text)
}

/// The e2e tests' layout: sources down, destinations across ('.' reachable, 'X' not). Columns
/// are the rows' numbers, written as digits top to bottom.
fn matrix_text(r: &MatrixJson) -> String {
    let mut s = String::new();
    let n = r.pods.len();
    let digits = n.saturating_sub(1).to_string().len();
    let w = r.pods.iter().map(String::len).max().unwrap_or(0) + digits + 1;
    for p in &r.ports {
        let _ = writeln!(
            s,
            "{}/{}: {} of {} pairs denied ('.' allowed, 'X' denied; columns: destination number)\n",
            p.port,
            p.protocol,
            p.denied,
            n * n
        );
        for d in 0..digits {
            let column: String = (0..n)
                .map(|c| format!("{c:0digits$}").chars().nth(d).unwrap_or(' '))
                .collect();
            let _ = writeln!(s, "{:w$}  {column}", "");
        }
        for (i, (name, row)) in r.pods.iter().zip(&p.reachable).enumerate() {
            let _ = writeln!(s, "{:<w$}  {row}", format!("{i:>digits$} {name}"));
        }
        s.push('\n');
    }
    s
}

#[derive(Serialize)]
struct Change {
    from: String,
    to: String,
    port: u16,
    protocol: Protocol,
    before: bool,
    after: bool,
    before_reason: String,
    after_reason: String,
}

#[derive(Serialize)]
struct DiffJson {
    schema: u32,
    pairs_checked: u64,
    changes: Vec<Change>,
}

/// Ports worth checking when none are given: every container port of every pod.
fn container_ports(m: &Manifests) -> BTreeSet<(u16, Protocol)> {
    m.cluster
        .pods
        .iter()
        .flat_map(|p| p.container_ports.iter().map(|c| (c.container_port, c.protocol)))
        .collect()
}

pub fn diff(before: &[PathBuf], after: &[PathBuf], ports: &[String], ip_block: bool, format: OutputFormat) -> Outcome {
    let (Some(b), Some(a)) = (load(before), load(after)) else {
        return Outcome::BadInput;
    };
    let ports: Vec<(u16, Protocol)> = if ports.is_empty() {
        let mut all = container_ports(&b);
        all.extend(container_ports(&a));
        if all.is_empty() {
            all.insert((80, Protocol::Tcp));
        }
        all.into_iter().collect()
    } else {
        match ports_of(ports) {
            Ok(p) => p,
            Err(e) => return out::bad(e),
        }
    };
    // Pods present on both sides, by namespace/name.
    let pairs: Vec<(PodId, PodId)> = (0..b.cluster.pods.len() as u32)
        .map(PodId)
        .filter_map(|id| {
            let p = b.cluster.pod(id);
            a.cluster.pod_by_name(&p.namespace, &p.name).map(|q| (id, q))
        })
        .collect();
    let (eb, ea) = (
        Compiled::build(&b.cluster, &b.policies, options(ip_block)),
        Compiled::build(&a.cluster, &a.policies, options(ip_block)),
    );
    let mut changes = Vec::new();
    let mut checked = 0u64;
    for &(port, protocol) in &ports {
        for &(sb, sa) in &pairs {
            for &(db, da) in &pairs {
                checked += 1;
                let conn = |s, d| Connection {
                    src: Endpoint::Pod(s),
                    dst: Endpoint::Pod(d),
                    protocol,
                    port,
                };
                let (cb, ca) = (conn(sb, db), conn(sa, da));
                let (vb, va) = (eb.evaluate(&cb), ea.evaluate(&ca));
                if vb.allowed != va.allowed {
                    let (xb, xa) = (
                        vb.explain(&b.cluster, &b.policies, &cb),
                        va.explain(&a.cluster, &a.policies, &ca),
                    );
                    changes.push(Change {
                        from: pod_name(&b, sb),
                        to: pod_name(&b, db),
                        port,
                        protocol,
                        before: vb.allowed,
                        after: va.allowed,
                        before_reason: xb.to_string(),
                        after_reason: xa.to_string(),
                    });
                }
            }
        }
    }
    let result = DiffJson {
        schema: POLICY_SCHEMA,
        pairs_checked: checked,
        changes,
    };
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(&result).expect("serializes") + "\n",
        OutputFormat::Table => {
            let mut s = format!(
                "{} of {} verdicts change ({} ports)\n",
                result.changes.len(),
                checked,
                ports.len()
            );
            for c in &result.changes {
                let verb = |ok: bool| if ok { "allowed" } else { "DENIED" };
                let _ = writeln!(
                    s,
                    "\n{} -> {} {}/{}: {} -> {}\n  before: {}\n  after:  {}",
                    c.from,
                    c.to,
                    c.port,
                    c.protocol,
                    verb(c.before),
                    verb(c.after),
                    c.before_reason,
                    c.after_reason
                );
            }
            s
        }
    };
    out::print(&text)
}
