//! Validation of the scenario's traffic: each flow's name, source, target (pods, a Service,
//! or an address beyond the VPC, `validate_egress`), protocol, sizes and rate.

use super::diag::Finding;
use super::format::*;
use super::refs;
use super::validate::{duplicates, MAX_FLOWS, MAX_FLOW_NAME, MAX_MESSAGE, MAX_RATE_PPS, MIN_UDP_PACKET};

pub fn flows(s: &Scenario, out: &mut Vec<Finding>) {
    duplicates(
        s.traffic.iter().map(|t| t.name.as_str()),
        |i| format!("traffic[{i}].name"),
        "flow",
        out,
    );
    if s.traffic.len() > MAX_FLOWS {
        out.push(Finding::error("traffic", format!("{} flows", s.traffic.len())).valid(format!("at most {MAX_FLOWS}")));
    }
    let mtu = u64::from(crate::calibration::pod_mtu(&s.network));
    for (i, fl) in s.traffic.iter().enumerate() {
        let f = |x: &str| format!("traffic[{i}].{x}");
        if fl.name.is_empty() || fl.name.len() > MAX_FLOW_NAME || fl.name.chars().any(|c| c.is_control()) {
            out.push(
                Finding::error(f("name"), format!("flow name of {} bytes", fl.name.len()))
                    .valid(format!("1 to {MAX_FLOW_NAME} printable characters")),
            );
        }
        if let Err(e) = refs::pod_set(s, &fl.from) {
            out.push(Finding::error(f("from"), e.message).valid(e.valid));
        }
        match refs::flow_target(s, &fl.to) {
            Err(e) => out.push(Finding::error(f("to"), e.message).valid(e.valid)),
            Ok(refs::Target::Pods(set, port)) => {
                if let Err(e) = refs::resolve_port(&s.workloads[set.workload()], &port, fl.protocol) {
                    out.push(Finding::error(f("to"), e.message).valid(e.valid));
                }
            }
            Ok(refs::Target::External(addr)) => super::validate_egress::external_target(s, i, addr, fl, out),
            Ok(refs::Target::Service { service, port }) => {
                let p = &s.services[service].ports[port];
                if p.protocol != fl.protocol {
                    out.push(Finding::error(
                        f("protocol"),
                        format!("the flow is {:?} but the Service port is {:?}", fl.protocol, p.protocol),
                    ));
                }
                if s.services[service].headless {
                    out.push(
                        Finding::error(f("to"), "a headless Service has no address to send to")
                            .valid("a pod of it, NAMESPACE/POD:PORT"),
                    );
                }
            }
        }
        if fl.protocol == Protocol::TCP && fl.request.0 == 0 {
            out.push(Finding::error(f("request"), "a TCP request of 0 bytes").valid("1 byte or more"));
        }
        if fl.protocol == Protocol::TCP && (fl.request.0 > MAX_MESSAGE || fl.response.0 > MAX_MESSAGE) {
            out.push(Finding::error(f("response"), "request or response larger than 1 GiB").valid("at most 1GiB"));
        }
        if fl.requests == 0 {
            out.push(Finding::error(f("requests"), "0 requests per connection").valid("1 or more"));
        }
        if fl.protocol == Protocol::SCTP {
            out.push(Finding::error(f("protocol"), "SCTP traffic is not simulated yet").valid("TCP or UDP"));
        }
        if fl.rate.per_sec > MAX_RATE_PPS {
            out.push(
                Finding::error(f("rate"), format!("{} per second per pod", fl.rate.per_sec))
                    .valid(format!("at most {MAX_RATE_PPS} per second")),
            );
        }
        if fl.protocol == Protocol::UDP && !(MIN_UDP_PACKET..=mtu).contains(&fl.packet_size.0) {
            out.push(
                Finding::error(
                    f("packet_size"),
                    format!(
                        "{}-byte packets with a {mtu}-byte pod MTU (fragmentation is not simulated)",
                        fl.packet_size.0
                    ),
                )
                .valid(format!("{MIN_UDP_PACKET} to {mtu} bytes")),
            );
        }
        let stop = fl.stop.unwrap_or(s.duration);
        if fl.start >= stop || stop > s.duration {
            out.push(
                Finding::error(
                    f("start"),
                    format!("flow runs from {} to {} in a {} scenario", fl.start, stop, s.duration),
                )
                .valid(format!("start < stop <= duration ({})", s.duration)),
            );
        }
    }
}
