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
