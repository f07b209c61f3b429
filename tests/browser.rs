//! The headline report opened in a real browser (headless Chromium): every image decodes and
//! the summary table has one row per variant. The report itself has no JavaScript; the test
//! opens a copy with a small checker script appended, which writes what it found into the
//! page, and reads the page back with `--dump-dom`.
//!
//! Skipped when Chromium is not installed, unless CNSIM_REQUIRE_BROWSER=1 (as `.ci/run` sets).

mod common;
use common::{cnsim, scratch, stderr};
use std::path::{Path, PathBuf};
use std::process::Command;

const HEADLINE: &str = "scenarios/1000-services-iptables-vs-ipvs.ron";

/// Counts images, images that loaded (complete, natural width > 0) and summary rows, and
/// names the images that did not load.
const CHECKER: &str = r#"<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var rows = document.querySelectorAll('table#summary tbody tr').length;
  var pre = document.createElement('pre');
  pre.id = 'cnsim-check';
  pre.textContent = 'images=' + imgs.length + ' loaded=' + (imgs.length - broken.length) +
    ' rows=' + rows + ' broken=' + broken.map(function (i) { return i.alt || '?'; }).join('|') + ' end';
  document.body.appendChild(pre);
});
</script>"#;

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Chromium with the flags this sandbox needs: no sandbox (root), no GPU, no background
/// network traffic (the machine has no outside network), a fresh profile.
fn browser(chrome: &Path, profile: &Path) -> Command {
    let mut c = Command::new(chrome);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[derive(Debug, PartialEq)]
struct Check {
    images: usize,
    loaded: usize,
    rows: usize,
    broken: String,
}

/// Opens `html` (a report with the checker appended) and returns what the checker found.
fn check_page(chrome: &Path, html: &Path, work: &Path) -> Check {
    let o = browser(chrome, &work.join("profile-dom"))
        .args(["--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium starts");
    let dom = String::from_utf8_lossy(&o.stdout);
    let line = dom
        .split("<pre id=\"cnsim-check\">")
        .nth(1)
        .and_then(|rest| rest.split(" end").next())
        .unwrap_or_else(|| panic!("checker output not in the page; chromium said: {}", stderr(&o)));
    let field = |name: &str| -> String {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or("")
            .to_string()
    };
    Check {
        images: field("images").parse().unwrap(),
        loaded: field("loaded").parse().unwrap(),
        rows: field("rows").parse().unwrap(),
        broken: field("broken"),
    }
}

fn with_checker(report: &str, path: &Path) {
    let page = report.replace("</body>", &format!("{CHECKER}</body>"));
    assert_ne!(page, report, "report.html has a </body>");
    std::fs::write(path, page).unwrap();
}

#[test]
fn headline_report_loads_in_chromium_with_every_image_and_a_row_per_variant() {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var("CNSIM_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "CNSIM_REQUIRE_BROWSER=1 but no chromium: apt-get install chromium"
        );
        eprintln!("skipped: chromium is not installed");
        return;
    };
    let work = scratch("browser");
    let out = work.join("report");
    let o = cnsim(&["run", HEADLINE, "--out", out.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let results: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let variants = results["variants"].as_array().unwrap().len();
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    let pngs = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png"))
        .count();

    let page = work.join("checked.html");
    with_checker(&report, &page);
    let found = check_page(&chrome, &page, &work);
    assert_eq!(
        found,
        Check {
            images: pngs,
            loaded: pngs,
            rows: variants,
            broken: String::new()
        },
        "every chart PNG is in the page and loads; one summary row per variant"
    );
    assert!(pngs >= 5, "the headline report has its charts: {pngs}");

    // The check must fail on a broken page: a corrupt image and a missing row.
    let start = report.find("base64,").expect("images are data URIs") + "base64,".len();
    let mut corrupt = report.clone();
    corrupt.replace_range(start..start + 40, &"A".repeat(40));
    let tbody = corrupt.find("<tbody>").expect("summary has a tbody");
    let row_end = corrupt[tbody..].find("</tr>").unwrap() + tbody + "</tr>".len();
    corrupt.replace_range(tbody + "<tbody>".len()..row_end, "");
    let page = work.join("broken.html");
    with_checker(&corrupt, &page);
    let found = check_page(&chrome, &page, &work);
    assert_eq!(
        found.loaded,
        pngs - 1,
        "the corrupt image is seen as not loaded: {found:?}"
    );
    assert!(!found.broken.is_empty(), "{found:?}");
    assert_eq!(found.rows, variants - 1, "{found:?}");

    // And a screenshot, for people to look at: it must be a real PNG of the page.
    let shot = work.join("report.png");
    let o = browser(&chrome, &work.join("profile-shot"))
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=1280,2400", "--hide-scrollbars"])
        .arg(format!("file://{}", out.join("report.html").display()))
        .output()
        .expect("chromium starts");
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}): {}", stderr(&o)));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a screenshot of a page with charts is not tiny: {} bytes",
        png.len()
    );
    if let Ok(dir) = std::env::var("CNSIM_SCREENSHOT_DIR") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::copy(&shot, Path::new(&dir).join("headline-report.png"));
    }
}
