//! End-to-end tests of `cnsim ipam max-pods` and `cnsim ipam pool`.

mod common;
use common::{bad_input, cnsim, cnsim_json, stderr, stdout};

fn max_pods(args: &[&str]) -> u32 {
    let mut all = vec!["ipam", "max-pods"];
    all.extend_from_slice(args);
    let o = cnsim(&all);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let out = stdout(&o);
    out.lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{out}"))
}

#[test]
fn max_pods_gives_awss_published_examples() {
    // eni-max-pods.txt and the EKS user guide / max-pods-calculator.sh examples.
    assert_eq!(max_pods(&["--instance-type", "m5.large"]), 29);
    assert_eq!(max_pods(&["--instance-type", "m5.8xlarge"]), 234);
    let calc = ["--cni-version", "1.9.0"];
    let with = |ty: &str, extra: &[&str]| {
        let mut a = vec!["--instance-type", ty];
        a.extend_from_slice(&calc);
        a.extend_from_slice(extra);
        max_pods(&a)
    };
    assert_eq!(with("m5.large", &["--custom-networking"]), 20);
    assert_eq!(with("m5.large", &["--prefix-delegation"]), 110);
    assert_eq!(with("m5.8xlarge", &["--prefix-delegation"]), 250);
    assert_eq!(
        with("m5.large", &["--prefix-delegation", "--show-max-allowed"]),
        3 * (9 * 16) + 2
    );
    // Before 1.9 the calculator ignores prefix delegation.
    assert_eq!(
        max_pods(&[
            "--instance-type",
            "m5.large",
            "--cni-version",
            "1.8.0",
            "--prefix-delegation"
        ]),
        29
    );
}

#[test]
fn max_pods_json_has_the_number_and_its_working() {
    let v = cnsim_json(&["ipam", "max-pods", "--instance-type", "m5.large", "--format", "json"]);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["value"], 29);
    assert_eq!(v["instance_type"], "m5.large");
    let working: Vec<&str> = v["working"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        working.iter().any(|w| w.contains("3 × (10 − 1) + 2 = 29")),
        "{working:?}"
    );
}

#[test]
fn bad_ipam_input_is_exit_2_naming_it() {
    bad_input(
        &["ipam", "max-pods", "--instance-type", "m5.enormous"],
        &["\"m5.enormous\""],
    );
    bad_input(
        &[
            "ipam",
            "max-pods",
            "--instance-type",
            "m5.large",
            "--cni-version",
            "one",
        ],
        &["--cni-version"],
    );
    // The calculator needs a CNI version.
    bad_input(
        &["ipam", "max-pods", "--instance-type", "m5.large", "--prefix-delegation"],
        &[],
    );
    bad_input(
        &["ipam", "pool", "--instance-type", "m5.large", "--pods", "1,x"],
        &["--pods"],
    );
}

#[test]
fn pool_grows_with_the_pods_and_keeps_its_warm_target() {
    let v = cnsim_json(&[
        "ipam",
        "pool",
        "--instance-type",
        "m5.large",
        "--pods",
        "0,12,3",
        "--warm-ip-target",
        "4",
        "--format",
        "json",
    ]);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["max_pods"], 29);
    let rows = v["rows"].as_array().unwrap();
    // The last row of each step: every wanted pod runs, with WARM_IP_TARGET spare addresses
    // (cooling ones count as warm, as in ipamd).
    for step in 0..3u64 {
        let last = rows.iter().rfind(|r| r["step"] == step).unwrap();
        let wanted = last["pods_wanted"].as_u64().unwrap();
        assert_eq!(last["pods_running"], wanted, "step {step}: {last}");
        assert_eq!(last["warm"].as_u64().unwrap(), 4, "step {step}: {last}");
        assert_eq!(last["slots"].as_u64().unwrap(), wanted + 4, "step {step}: {last}");
    }
    // 12 pods need a second ENI: m5.large has 9 pod addresses per ENI.
    assert!(rows.iter().any(|r| r["enis"] == 2), "a second ENI was attached");
    assert!(v["ec2_total"]["attach_network_interface"].as_u64().unwrap() >= 1);
}
