//! The simulation of one variant: build the world, plan the traffic, run the packet path on
//! sim-core's engine until the scenario's duration, collect the results.

pub mod datapath;
pub mod drain;
pub mod egress;
pub mod endpoints;
pub mod event;
pub mod ipamd;
pub mod metrics;
pub mod netfilter;
pub mod packet;
pub mod pods;
pub mod policy;
pub mod proxy;
pub mod routing;
pub mod tcp;
pub mod timeline;
pub mod traffic;

use crate::results::{collect, CollectInput, VariantResult};
use crate::scenario::VariantSpec;
use crate::world::World;

/// The packet path of a variant over `world` (built from its scenario), ready to run, and
/// each node's t=0 sync. `run_variant` runs it to the end; tests can run it in steps.
pub fn model<'w>(spec: &VariantSpec, world: &'w World) -> (datapath::Model<'w>, Vec<cnsim_services::SyncStats>) {
    let s = &spec.scenario;
    let (set, endpoint_pods) = crate::service_world::build(s, world);
    let (flows, sources) = traffic::plan(s, world, &set);
    let (netfilter, syncs) = proxy::netfilter(s, world, set);
    let mut model = datapath::Model::new(world, &s.fabric, netfilter, flows, sources, s);
    model.policy = policy::PacketPolicy::build(world, s, spec.policies.clone());
    if model.life.is_dynamic() {
        let full_sync_ns = model.netfilter.sync_ns(&syncs);
        let eps = endpoints::Endpoints::new(s, world, endpoint_pods, &full_sync_ns);
        model.endpoints = eps.is_active().then_some(eps);
    }
    (model, syncs)
}

/// Runs one variant to the end of its duration. A pure function of the variant's scenario.
pub fn run_variant(spec: &VariantSpec) -> VariantResult {
    let s = &spec.scenario;
    let world = World::build(s);
    let (mut model, syncs) = model(spec, &world);
    let mut timeline = timeline::TimelineRecorder::new(&world, s.duration);
    model.run(s.duration, &mut timeline);
    let timeline = timeline.finish(&world, &model.netfilter, &model.life);
    // Events past the end stay queued: packets still on their way are reported as in flight.
    let in_flight = model.packets_in_flight() as u64;
    // Measured on the first node there from t=0 (a launched node may never have synced).
    let endpoint_change = world
        .nodes
        .iter()
        .position(|n| n.joined_at_start())
        .and_then(|n| model.netfilter.endpoint_change_sync(n as u32));
    let mut result = collect(CollectInput {
        name: &spec.name,
        seed: s.seed,
        duration_ns: s.duration.as_nanos(),
        description: &spec.description,
        world: &world,
        flows: model.flows(),
        metrics: &model.metrics,
        digest: model.engine.digest(),
        events: model.engine.executed(),
        in_flight,
        netfilter: &model.netfilter,
        syncs: &syncs,
        endpoint_change,
        timeline,
        pricing: &s.pricing,
        life: &model.life,
    });
    result.network_policy = model.policy.as_ref().map(policy::PacketPolicy::result);
    result.endpoints = model
        .endpoints
        .as_ref()
        .map(|e| crate::results::endpoints(&e.stats, e.added_pods(), &model.metrics.pod_rx));
    result.egress = crate::results::egress::egress(
        &world,
        &model.egress,
        model.metrics.snat_connections,
        &s.pricing,
        s.duration.as_nanos(),
    );
    result
}
