//! `cnsim trace --at`: a trace in the cluster as the run has it at a time, not as it was
//! built. Pods a scale event creates (and the VPC CNI addresses) later exist only then.

use cnsim_cluster::scenario::load_file;
use cnsim_cluster::trace::{trace, trace_at};
use sim_core::SimTime;
use std::path::Path;

#[test]
fn a_pod_created_during_the_run_is_traceable_once_it_runs_and_not_before() {
    // node-group-scale-up.ron: shop/api scales from 6 to 120 replicas at 10 s; replica 100
    // waits for a node that joins 65 s in, then for its address.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/node-group-scale-up.ron");
    let loaded = load_file(&path).unwrap_or_else(|d| panic!("{d}"));
    let spec = &loaded.variants[0];
    let err = trace(spec, "shop/api-100", "shop/api-0:8080").unwrap_err();
    assert!(err.contains("not running at t=0"), "{err}");
    let err = trace_at(spec, "shop/api-100", "shop/api-0:8080", Some(SimTime::from_secs(30))).unwrap_err();
    assert!(err.contains("not running at 30"), "{err}");
    let t = trace_at(spec, "shop/api-100", "shop/api-0:8080", Some(SimTime::from_secs(110))).unwrap();
    assert_eq!(t.verdict, "delivered", "{t:#?}");
    assert_eq!(t.at_ns, Some(110_000_000_000));
    // And to it: through the Service, the new pod is one of the endpoints nodes have synced.
    let to_new = trace_at(
        spec,
        "shop/client-0",
        "shop/api-100:8080",
        Some(SimTime::from_secs(110)),
    )
    .unwrap();
    assert_eq!(to_new.verdict, "delivered", "{to_new:#?}");
    let err = trace_at(spec, "shop/client-0", "shop/api-0:8080", Some(SimTime::from_secs(121))).unwrap_err();
    assert!(err.contains("past the run's duration"), "{err}");
}
