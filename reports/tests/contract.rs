//! The report contract: deterministic bytes, one summary row per variant, every chart an
//! embedded PNG that decodes, text drawn with the shipped fonts, escaped input, no external
//! resources, and charts that survive runs with nothing in them.

mod common;

use base64::Engine as _;
use cnsim_reports::{render_run, render_sweep, ReportFile};
use common::{between, decode_png};

fn html(files: &[ReportFile]) -> String {
    assert_eq!(files[0].name, "report.html", "report.html comes first");
    String::from_utf8(files[0].bytes.clone()).expect("UTF-8 HTML")
}

fn file<'a>(files: &'a [ReportFile], name: &str) -> &'a ReportFile {
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    files
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no {name} in {names:?}"))
}

/// Every `src="..."` of an `<img>`.
fn img_sources(html: &str) -> Vec<String> {
    html.split("<img ")
        .skip(1)
        .map(|tag| between(tag, "src=\"", "\"").to_string())
        .collect()
}

/// Checks every embedded image and that each is one of the PNG files returned.
fn check_images(files: &[ReportFile]) -> usize {
    let page = html(files);
    let sources = img_sources(&page);
    let pngs: Vec<&ReportFile> = files.iter().filter(|f| f.name.ends_with(".png")).collect();
    assert_eq!(sources.len(), pngs.len(), "one <img> per PNG file");
    for (src, f) in sources.iter().zip(&pngs) {
        let b64 = src
            .strip_prefix("data:image/png;base64,")
            .unwrap_or_else(|| panic!("not a PNG data URI: {src:.40}"));
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
        assert_eq!(&bytes, &f.bytes, "{}: the page embeds the file's bytes", f.name);
        let (w, h, _) = decode_png(&bytes);
        assert!(w >= 800 && h >= 400, "{}: {w}x{h}", f.name);
    }
    for tag in page.split("<img ").skip(1) {
        let alt = between(tag, "alt=\"", "\"");
        assert!(alt.len() > 10, "every chart has alt text: {alt:?}");
    }
    sources.len()
}

#[test]
fn the_same_results_give_the_same_bytes() {
    let r = common::run(common::SERVICES);
    let a = render_run(&r).unwrap();
    let b = render_run(&r.clone()).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.name, y.name);
        assert!(x.bytes == y.bytes, "{} differs between two renders", x.name);
    }
    let vpc = common::run(common::VPC_CNI);
    assert_eq!(render_run(&vpc).unwrap(), render_run(&vpc.clone()).unwrap());
    let s = common::sweep(&["2", "20"]);
    assert_eq!(render_sweep(&s).unwrap(), render_sweep(&s).unwrap());
}

#[test]
fn the_summary_has_one_row_per_variant() {
    let r = common::run(common::SERVICES);
    let page = html(&render_run(&r).unwrap());
    let table = between(&page, "<table id=\"summary\">", "</table>");
    let body = between(table, "<tbody>", "</tbody>");
    assert_eq!(body.matches("<tr>").count(), r.variants.len());
    for v in &r.variants {
        assert!(
            body.contains(&v.digest.to_string()),
            "{}'s digest is in the summary",
            v.name
        );
    }
}

#[test]
fn every_chart_is_an_embedded_png_and_nothing_is_fetched() {
    let files = render_run(&common::run(common::SERVICES)).unwrap();
    let n = check_images(&files);
    assert!(n >= 7, "only {n} charts");
    for name in [
        "latency-cdf.png",
        "latency-cdf-first-packet.png",
        "conntrack.png",
        "address-use.png",
        "cross-az-cost.png",
    ] {
        file(&files, name);
    }
    let page = html(&files);
    for bad in ["<script", "src=\"http", "href=\"http", "src=\"//", "<link"] {
        assert!(!page.contains(bad), "the page holds {bad:?}");
    }
}

#[test]
fn scenario_text_and_names_are_escaped() {
    let mut r = common::run(common::SERVICES);
    r.scenario_text = Some("</pre><script>alert(1)</script> & \"quoted\"".into());
    let page = html(&render_run(&r).unwrap());
    let details = between(&page, "<summary>Scenario file</summary><pre>", "</pre>");
    assert_eq!(
        details,
        "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"
    );
    assert!(!page.contains("<script>"));
    // The variant description from the scenario.
    assert!(page.contains("Cilium &lt;eBPF&gt; &amp; socket LB"));
}

#[test]
fn chart_text_is_drawn_with_the_shipped_font() {
    let files = render_run(&common::run(common::SERVICES)).unwrap();
    let (w, _, px) = decode_png(&file(&files, "latency-cdf.png").bytes);
    let dark = |x0: u32, x1: u32, y0: u32, y1: u32| {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| px[((y * w + x) * 3) as usize] < 100)
            .count()
    };
    // The title, top left; the legend's first variant name, top right.
    assert!(dark(20, 500, 10, 42) > 500, "no title text: {}", dark(20, 500, 10, 42));
    assert!(dark(810, 990, 55, 80) > 30, "no legend text");
    // Nothing dark in the margin right of the title.
    assert_eq!(dark(900, 1000, 0, 10), 0);
}

#[test]
fn a_run_without_traffic_still_renders_every_chart() {
    let r = common::run(common::IDLE);
    assert_eq!((r.variants.len(), r.variants[0].packets.sent), (1, 0));
    let files = render_run(&r).unwrap();
    check_images(&files);
    let page = html(&files);
    assert!(page.contains("No packets were dropped in any variant."));
    // No Services: no first-packet chart, and the latency bars fall back to every packet.
    assert!(!files.iter().any(|f| f.name == "latency-cdf-first-packet.png"));
    assert!(page.contains("every delivered packet (latency_ns)"));
}

#[test]
fn drops_get_a_chart_by_reason() {
    let mut r = common::run(common::SERVICES);
    r.variants[1].packets.dropped.insert("eni_queue_full".into(), 17);
    r.variants[0].packets.dropped.insert("no_route".into(), 3);
    let files = render_run(&r).unwrap();
    file(&files, "drops.png");
    let page = html(&files);
    assert!(!page.contains("No packets were dropped"));
    assert!(page.contains("totals: iptables 3, ebpf 17"));
}

#[test]
fn service_counts_in_one_mode_draw_scaling_curves() {
    // Same mode at two Service counts: curves over the count instead of bars.
    let text = common::SERVICES.replace(
        r#"(name: "ebpf", description: "Cilium <eBPF> & socket LB", set: {"kube_proxy.mode": "Ebpf"}),"#,
        r#"(name: "iptables-200", set: {"kube_proxy.mode": "Iptables", "service_generators[0].count": "200"}),"#,
    );
    let files = render_run(&common::run(&text)).unwrap();
    file(&files, "first-packet-p99.png");
    file(&files, "sync-time.png");
    let plain = render_run(&common::run(common::SERVICES)).unwrap();
    assert!(!plain.iter().any(|f| f.name == "first-packet-p99.png"));
    file(&plain, "sync-time.png");
}

#[test]
fn a_sweep_has_a_curve_per_metric_and_a_row_per_point_and_variant() {
    let s = common::sweep(&["2", "20", "200"]);
    let files = render_sweep(&s).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "report.html",
            "sweep-latency.png",
            "sweep-first-packet-p99.png",
            "sweep-datapath-work.png",
            "sweep-sync-time.png",
            "sweep-drops.png",
            "sweep-pods-pending.png",
            "sweep-cross-az-cost.png",
        ]
    );
    check_images(&files);
    let page = html(&files);
    let body = between(&page, "<table id=\"points\">", "</table>");
    assert_eq!(between(body, "<tbody>", "</tbody>").matches("<tr>").count(), 3 * 2);
    assert!(page.contains("service_generators[0].count (swept)") || page.contains("service_generators[0].count"));
    assert!(
        page.contains("&lt;b&gt;&quot;bold&quot;&lt;/b&gt;"),
        "the sweep's scenario text is escaped"
    );
}

#[test]
fn a_single_point_sweep_renders() {
    let s = common::sweep(&["5"]);
    check_images(&render_sweep(&s).unwrap());
}

#[test]
fn conntrack_limit_is_drawn_only_when_it_is_near() {
    let mut r = common::run(common::SERVICES);
    let page = html(&render_run(&r).unwrap());
    assert!(
        page.contains("more than 10× the peak"),
        "a far limit is stated, not drawn"
    );
    let peak = (r.variants.iter())
        .flat_map(|v| v.timeline.conntrack_entries_max_node.iter().copied())
        .max()
        .unwrap();
    assert!(peak > 0);
    for v in &mut r.variants {
        v.service_datapath.conntrack_max = peak * 2;
    }
    let page = html(&render_run(&r).unwrap());
    assert!(page.contains("Dotted: the table size"));
}

#[test]
fn a_sweep_over_names_puts_them_along_x_in_grid_order() {
    let mut s = common::sweep(&["2", "20"]);
    s.axes[0].path = "kube_proxy.mode".into();
    s.axes[0].values = vec!["Iptables".into(), "Ebpf".into()];
    s.points[0].values = vec!["Iptables".into()];
    s.points[1].values = vec!["Ebpf".into()];
    let files = render_sweep(&s).unwrap();
    assert_eq!(check_images(&files), 7);
    assert!(html(&files).contains("kube_proxy.mode (swept)"));
}

#[test]
fn a_vpc_cni_run_has_pod_startup_and_a_host_local_run_does_not() {
    let r = common::run(common::VPC_CNI);
    assert!(r
        .variants
        .iter()
        .all(|v| v.pod_startup.is_some() && !v.timeline.enis_attached.is_empty()));
    let files = render_run(&r).unwrap();
    check_images(&files);
    file(&files, "pod-startup.png");
    let page = html(&files);
    assert!(page.contains("How long do pods wait for an address?"));
    // Pending pods by reason, one row per (variant, reason); prefix delegation fits every pod.
    let table = between(&page, "<table id=\"pending-by-reason\">", "</table>");
    let body = between(table, "<tbody>", "</tbody>");
    let pd = &r.variants[1].pod_startup.as_ref().unwrap().pending_by_reason;
    let rows: usize = (r.variants.iter())
        .map(|v| v.pod_startup.as_ref().unwrap().pending_by_reason.len().max(1))
        .sum();
    assert_eq!(body.matches("<tr>").count(), rows);
    let (reason, _) = (r.variants[0]
        .pod_startup
        .as_ref()
        .unwrap()
        .pending_by_reason
        .iter()
        .next())
    .expect("secondary IPs leave pods pending on one m5.large");
    assert!(body.contains(&reason.replace('&', "&amp;")), "{reason} is listed");
    assert_eq!(pd.is_empty(), body.contains("none: every pod is Running"));
    // The pools at the end: one row per variant, the ENI column the sum over its nodes.
    let pools = between(&page, "<table id=\"vpc-cni\">", "</table>");
    let body = between(pools, "<tbody>", "</tbody>");
    assert_eq!(body.matches("<tr>").count(), r.variants.len());
    for (row, v) in body.split("<tr>").skip(1).zip(&r.variants) {
        let enis: u32 = v.vpc_cni.as_ref().unwrap().nodes.iter().map(|n| n.enis).sum();
        let cells: Vec<&str> = row.split("<td class=\"n\">").skip(1).collect();
        assert!(cells[0].starts_with(&format!("{enis}<")), "{}: {row}", v.name);
    }
    // Five address-use panels: subnet, node, ENIs, pools, pending.
    let (_, h, _) = decode_png(&file(&files, "address-use.png").bytes);
    assert_eq!(h, 560 + 4 * 190);

    let host_local = render_run(&common::run(common::SERVICES)).unwrap();
    assert!(!host_local.iter().any(|f| f.name == "pod-startup.png"));
    let page = html(&host_local);
    assert!(!page.contains("pending-by-reason") && !page.contains("ENIs attached"));
    assert!(!page.contains("vpc-cni") && !page.contains("service-endpoints"));
    let (_, h, _) = decode_png(&file(&host_local, "address-use.png").bytes);
    assert_eq!(h, 560 + 2 * 190, "host-local keeps its three panels");
}

#[test]
fn the_eni_and_pool_series_are_drawn() {
    let r = common::run(common::VPC_CNI);
    let address_use = |r: &cnsim_cluster::RunResult| file(&render_run(r).unwrap(), "address-use.png").bytes.clone();
    let base = address_use(&r);
    type Edit = fn(&mut cnsim_cluster::results::Timeline);
    let edits: [(&str, Edit); 3] = [
        ("enis_attached", |t| t.enis_attached.iter_mut().for_each(|x| *x = 1)),
        ("addresses_held", |t| t.addresses_held.iter_mut().for_each(|x| *x = 1)),
        ("addresses_assigned", |t| {
            t.addresses_assigned.iter_mut().for_each(|x| *x = 1)
        }),
    ];
    for (name, edit) in edits {
        let mut changed = r.clone();
        // The first variant only, so every axis keeps its range from the other.
        edit(&mut changed.variants[0].timeline);
        assert!(address_use(&changed) != base, "{name} is not drawn");
    }
}

#[test]
fn the_time_to_ready_cdf_is_drawn_per_variant() {
    let r = common::run(common::VPC_CNI);
    let startup = |r: &cnsim_cluster::RunResult| file(&render_run(r).unwrap(), "pod-startup.png").bytes.clone();
    let base = startup(&r);
    let mut changed = r.clone();
    let s = changed.variants[0].pod_startup.as_mut().unwrap();
    s.time_to_ready.0 = vec![[0, s.time_to_ready.count()]];
    assert!(startup(&changed) != base, "the first variant's curve is not drawn");
}

#[test]
fn a_run_whose_services_follow_pods_has_their_table() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/scale-behind-a-service.ron"
    ))
    .expect("the scenario");
    let r = common::run(&text);
    let page = html(&render_run(&r).unwrap());
    let table = between(&page, "<table id=\"service-endpoints\">", "</table>");
    let body = between(table, "<tbody>", "</tbody>");
    assert_eq!(body.matches("<tr>").count(), r.variants.len());
    for (row, v) in body.split("<tr>").skip(1).zip(&r.variants) {
        let e = v.endpoints.as_ref().expect("pods change behind a Service");
        assert!(
            row.contains(&format!("{} / {}", e.endpoints_added, e.endpoints_removed)),
            "{row}"
        );
        assert!(
            row.contains(&format!("{} of {}", e.new_endpoints_receiving, e.new_endpoints)),
            "{row}"
        );
    }
}
