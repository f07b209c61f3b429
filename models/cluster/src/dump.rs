//! What one node's service datapath holds: the scenario's Services programmed into a chosen
//! mode on a chosen node, printed in that mode's own save format (`cnsim datapath dump`).

use crate::scenario::services::ProxyMode;
use crate::scenario::VariantSpec;
use crate::world::World;
use cnsim_services::NodeView;

/// The dump of `node` in `mode`, or a message naming what would be valid.
pub fn dump(spec: &VariantSpec, node: &str, mode: ProxyMode) -> Result<String, String> {
    let s = &spec.scenario;
    let world = World::build(s);
    let Some(n) = world.nodes.iter().find(|n| n.name == node) else {
        let names: Vec<&str> = world.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(format!(
            "no node {node:?} in variant {:?}; nodes: {}",
            spec.name,
            crate::scenario::diag::one_of(&names)
        ));
    };
    let (set, _) = crate::service_world::build(s, &world);
    let mut config = s.kube_proxy.clone();
    config.mode = mode;
    let mut engine = crate::sim::proxy::engine(&config).expect("every mode has an engine");
    let view = NodeView {
        name: n.name.clone(),
        node_ips: vec![n.ip],
        cluster_cidr: Some(world.cluster_cidr),
    };
    engine.full_sync(&set, &view);
    Ok(engine.dump())
}
