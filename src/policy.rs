//! `cnsim policy check | matrix | diff`: NetworkPolicy verdicts on real manifests, with their
//! explanations. The manifests are imported by cnsim-manifests and judged by cnsim-policy's
//! compiled engine; this module parses the question and prints the answer.

use crate::{out, Outcome, OutputFormat};
use cnsim_manifests::{ImportOptions, Manifests};
use cnsim_policy::{Compiled, Connection, Endpoint, EvalOptions, Explanation, PolicyEngine, Protocol};
use serde::Serialize;
use std::fmt::Write;
use std::net::IpAddr;
use std::path::PathBuf;

/// JSON schema version of `cnsim policy ... --format json`.
pub const POLICY_SCHEMA: u32 = 1;

/// Loads manifests, printing warnings and errors; None is bad input.
pub fn load(paths: &[PathBuf]) -> Option<Manifests> {
    match cnsim_manifests::load(paths, &ImportOptions::default()) {
        Ok(m) => {
            for w in &m.warnings {
                eprintln!("{w}");
            }
            Some(m)
        }
        Err(d) => {
            eprint!("{d}");
            None
        }
    }
}

pub fn options(ip_block_matches_pods: bool) -> EvalOptions {
    EvalOptions {
        ip_block_matches_pods,
        ..EvalOptions::default()
    }
}

/// `PORT[/PROTO]`, protocol TCP unless given.
pub fn parse_port(text: &str) -> Result<(u16, Protocol), String> {
    let bad = || {
        format!("--port {text:?}: expected PORT[/PROTO] with PORT 1-65535 and PROTO tcp, udp or sctp, e.g. 8080/tcp")
    };
    let (port, proto) = match text.split_once('/') {
        Some((p, proto)) => (p, Some(proto)),
        None => (text, None),
    };
    let port: u16 = port.trim().parse().ok().filter(|&p| p > 0).ok_or_else(bad)?;
    let protocol = match proto.map(|p| p.trim().to_ascii_lowercase()).as_deref() {
        None | Some("tcp") => Protocol::Tcp,
        Some("udp") => Protocol::Udp,
        Some("sctp") => Protocol::Sctp,
        _ => return Err(bad()),
    };
    Ok((port, protocol))
}

/// What `--from` / `--to` name.
enum Target {
    Endpoint(Endpoint),
    Service { namespace: String, name: String },
}

fn parse_target(m: &Manifests, flag: &str, text: &str) -> Result<Target, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        // An address that is a pod's is that pod: policies select pods, not addresses.
        return Ok(Target::Endpoint(match m.cluster.pod_by_ip(ip) {
            Some(pod) => Endpoint::Pod(pod),
            None => Endpoint::Ip(ip),
        }));
    }
    let parts: Vec<&str> = text.split('/').collect();
    match parts.as_slice() {
        [ns, "svc", name] => match m.service(ns, name) {
            Some(_) => Ok(Target::Service {
                namespace: ns.to_string(),
                name: name.to_string(),
            }),
            None => Err(format!(
                "{flag} {text:?}: no Service {name} in namespace {ns} in the manifests"
            )),
        },
        [ns, pod] => m
            .cluster
            .pod_by_name(ns, pod)
            .map(|p| Target::Endpoint(Endpoint::Pod(p)))
            .ok_or_else(|| {
                let known: Vec<String> = m
                    .cluster
                    .pods
                    .iter()
                    .filter(|p| p.namespace == *ns)
                    .take(5)
                    .map(|p| format!("{}/{}", p.namespace, p.name))
                    .collect();
                format!(
                    "{flag} {text:?}: no pod {pod} in namespace {ns} in the manifests{}",
                    if known.is_empty() {
                        String::new()
                    } else {
                        format!(" (valid: e.g. {})", known.join(", "))
                    }
                )
            }),
        _ => Err(format!(
            "{flag} {text:?}: expected NAMESPACE/POD, NAMESPACE/svc/NAME or an IP address"
        )),
    }
}

pub struct CheckArgs<'a> {
    pub manifests: &'a [PathBuf],
    pub from: &'a str,
    pub to: &'a str,
    pub port: &'a str,
    pub ip_block_matches_pods: bool,
    pub format: OutputFormat,
}

#[derive(Serialize)]
struct EndpointCheck {
    ip: IpAddr,
    port: u16,
    pod: Option<String>,
    allowed: bool,
    explanation: Explanation,
}

#[derive(Serialize)]
struct CheckJson {
    schema: u32,
    allowed: bool,
    from: String,
    to: String,
    port: u16,
    protocol: Protocol,
    /// For a pod or address destination: the verdict of each direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    egress: Option<cnsim_policy::explain::DirectionExplanation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingress: Option<cnsim_policy::explain::DirectionExplanation>,
    /// For a Service destination: every endpoint of the port, after DNAT.
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoints: Option<Vec<EndpointCheck>>,
    /// Why the answer is no when no verdict says so (a Service without endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

pub fn check(a: CheckArgs<'_>) -> Outcome {
    let Some(m) = load(a.manifests) else {
        return Outcome::BadInput;
    };
    let question = parse_port(a.port).and_then(|(port, protocol)| {
        let src = match parse_target(&m, "--from", a.from)? {
            Target::Endpoint(e) => e,
            Target::Service { .. } => {
                return Err(format!(
                    "--from {:?}: a Service cannot open a connection; give a pod or an address",
                    a.from
                ))
            }
        };
        Ok((src, parse_target(&m, "--to", a.to)?, port, protocol))
    });
    let (src, dst, port, protocol) = match question {
        Ok(q) => q,
        Err(e) => return out::bad(e),
    };
    let engine = Compiled::build(&m.cluster, &m.policies, options(a.ip_block_matches_pods));
    let judge = |dst: Endpoint, port: u16| {
        let conn = Connection {
            src,
            dst,
            protocol,
            port,
        };
        engine.evaluate(&conn).explain(&m.cluster, &m.policies, &conn)
    };
    let mut answer = CheckJson {
        schema: POLICY_SCHEMA,
        allowed: false,
        from: a.from.to_string(),
        to: a.to.to_string(),
        port,
        protocol,
        egress: None,
        ingress: None,
        endpoints: None,
        reason: None,
    };
    match dst {
        Target::Endpoint(dst) => {
            let e = judge(dst, port);
            answer.allowed = e.allowed;
            answer.egress = Some(e.egress);
            answer.ingress = Some(e.ingress);
        }
        Target::Service { namespace, name } => {
            let svc = m.service(&namespace, &name).expect("parse_target found it");
            let Some(sp) = svc.ports.iter().find(|p| p.port == port && p.protocol == protocol) else {
                let ports: Vec<String> = svc.ports.iter().map(|p| format!("{}/{}", p.port, p.protocol)).collect();
                eprintln!(
                    "error: --port {}: Service {namespace}/{name} has no such port (valid: {})",
                    a.port,
                    ports.join(", ")
                );
                return Outcome::BadInput;
            };
            let checks: Vec<EndpointCheck> = m
                .endpoints(svc)
                .into_iter()
                .filter(|e| e.port_name == sp.name && e.ready)
                .map(|e| {
                    let dst = e.pod.map(Endpoint::Pod).unwrap_or(Endpoint::Ip(e.ip));
                    let explanation = judge(dst, e.port);
                    EndpointCheck {
                        ip: e.ip,
                        port: e.port,
                        pod: e.pod.map(|p| {
                            let p = m.cluster.pod(p);
                            format!("{}/{}", p.namespace, p.name)
                        }),
                        allowed: explanation.allowed,
                        explanation,
                    }
                })
                .collect();
            answer.allowed = !checks.is_empty() && checks.iter().all(|c| c.allowed);
            if checks.is_empty() {
                answer.reason = Some(format!(
                    "Service {namespace}/{name} has no ready endpoints for port {port}/{protocol}: nothing can reach it"
                ));
            }
            answer.endpoints = Some(checks);
        }
    }
    let text = match a.format {
        OutputFormat::Json => serde_json::to_string_pretty(&answer).expect("serializes") + "\n",
        OutputFormat::Table => check_text(&answer),
    };
    let Outcome::Ok = out::print(&text) else {
        return Outcome::BadInput;
    };
    if answer.allowed {
        Outcome::Ok
    } else {
        Outcome::No
    }
}

fn check_text(a: &CheckJson) -> String {
    let mut s = format!(
        "{} {} -> {} {}/{}\n",
        if a.allowed { "ALLOWED" } else { "DENIED" },
        a.from,
        a.to,
        a.port,
        a.protocol
    );
    for d in [&a.egress, &a.ingress].into_iter().flatten() {
        let _ = writeln!(s, "  {}", d);
    }
    for e in a.endpoints.iter().flatten() {
        let _ = writeln!(
            s,
            "  endpoint {}:{}{}: {}",
            e.ip,
            e.port,
            e.pod.as_deref().map(|p| format!(" ({p})")).unwrap_or_default(),
            e.explanation
        );
    }
    if let Some(r) = &a.reason {
        let _ = writeln!(s, "  {r}");
    }
    s
}
