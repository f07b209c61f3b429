//! The compiled engine against the reference on generated cases: same verdict, same
//! explanation. Cases come from `testing::decode`, the decoder the fuzz target uses, so
//! proptest shrinks the bytes and with them the case.

use cnsim_policy::testing::{decode, differential};
use cnsim_policy::{Compiled, Decision, PolicyEngine, Reference};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_equals_reference(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let case = decode(&bytes);
        if let Err(diff) = differential(&case) {
            panic!("{diff}\n{case:#?}");
        }
    }
}

/// The generator must reach every kind of decision, or the property above proves little.
#[test]
fn generated_cases_reach_every_decision() {
    let mut seen = [0usize; 7];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..400 {
        let bytes: Vec<u8> = (0..600)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let case = decode(&bytes);
        let reference = Reference::new(&case.cluster, &case.policies, case.options);
        let compiled = Compiled::build(&case.cluster, &case.policies, case.options);
        for conn in &case.queries {
            let v = reference.evaluate(conn);
            assert_eq!(v, compiled.evaluate(conn));
            for d in [&v.egress, &v.ingress] {
                let i = match d.decision {
                    Decision::NotAPod => 0,
                    Decision::Tier { .. } => 1,
                    Decision::SelfTraffic => 2,
                    Decision::OwnNode => 3,
                    Decision::Allowed { .. } => 4,
                    Decision::Isolated { .. } => 5,
                    Decision::DefaultAllow => 6,
                };
                seen[i] += 1;
            }
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "decisions seen: {seen:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// A pod's address set after the build (a CNI assigning it during a run) gives the answers
    /// of an engine built with that address, on every query of the case.
    #[test]
    fn a_pod_address_set_after_the_build_answers_as_a_build_with_it(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        which in any::<prop::sample::Index>(),
        host in 0u8..=255,
        cleared in any::<bool>(),
    ) {
        let case = decode(&bytes);
        prop_assume!(!case.cluster.pods.is_empty());
        let pod = which.index(case.cluster.pods.len());
        let ip = (!cleared).then(|| std::net::Ipv4Addr::new(10, 0, 0, host));
        let mut after = case.cluster.clone();
        let p = &mut after.pods[pod];
        p.ips.retain(|a| a.is_ipv6());
        if let Some(ip) = ip {
            p.ips.insert(0, std::net::IpAddr::V4(ip));
        }
        let mut updated = Compiled::build(&case.cluster, &case.policies, case.options);
        updated.set_pod_ipv4(cnsim_policy::PodId(pod as u32), ip);
        prop_assert_eq!(updated.pod_ipv4(cnsim_policy::PodId(pod as u32)), ip);
        let rebuilt = Compiled::build(&after, &case.policies, case.options);
        let reference = Reference::new(&after, &case.policies, case.options);
        for conn in &case.queries {
            let v = reference.evaluate(conn);
            prop_assert_eq!(&updated.evaluate(conn), &v, "{:?}", conn);
            prop_assert_eq!(updated.is_allowed(conn), rebuilt.is_allowed(conn));
        }
    }
}
