//! `runbook report`: every format from a run's journal; the HTML page rendered for real in
//! Debian's headless chromium (`scripts/test-browser.sh`), its screenshot checked for the bars
//! of the timeline.

use crate::support::*;

/// `warm` fails once then succeeds (a retry); `verify` fails after a while, so `a` is undone.
const PLAYBOOK: &str = r#"
version: 1
name: report-shape
steps:
  - id: a
    shell.run: { script: "sleep 0.3" }
    rollback:
      shell.run: { script: "sleep 0.3" }
  - id: warm
    needs: [a]
    shell.run: { script: "test -f {dir}/warm || { touch {dir}/warm; exit 1; }; sleep 0.3" }
    retry: { attempts: 2, delay: 100ms }
  - id: verify
    needs: [warm]
    shell.run: { script: "sleep 0.3; echo 'row counts differ' >&2; exit 1" }
"#;

fn failed_run() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("shape.yml", PLAYBOOK);
    let output = sandbox.run(&["run", "shape.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    sandbox
}

#[test]
fn every_run_leaves_its_reports_and_report_makes_them_again() {
    let sandbox = failed_run();
    let output = sandbox.run(&["report", "last", "--format", "junit"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let junit = stdout(&output);
    assert!(
        junit.contains(r#"tests="3" failures="1" errors="0""#),
        "{junit}"
    );
    assert!(
        junit.contains(r#"name="verify""#) && junit.contains("row counts differ"),
        "{junit}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(
        &sandbox.run(&["report", "last", "--format", "json"]),
    ))
    .unwrap();
    assert_eq!(json["status"], "rolled_back");
    assert_eq!(json["steps"][1]["id"], "warm");
    assert_eq!(json["steps"][1]["retries"].as_array().unwrap().len(), 1);
    assert_eq!(json["rollback"][0]["step"], "a");

    // The run wrote its reports from the entries it journaled, as it went; `report` makes
    // them from the journal file. Both must say the same, byte for byte.
    for (written, format) in [
        ("json", "json"),
        ("md", "markdown"),
        ("html", "html"),
        ("junit.xml", "junit"),
    ] {
        let kept = sandbox.report(written);
        assert!(
            !kept.is_empty(),
            "report.{written} is written when the run ends"
        );
        let made = stdout(&sandbox.run(&["report", "last", "--format", format]));
        assert_eq!(kept.trim_end(), made.trim_end(), "report.{written}");
    }
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let sandbox = failed_run();
    let html = sandbox.path().join("report.html");
    let output = sandbox.run(&[
        "report",
        "last",
        "--format",
        "html",
        "--output",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let shot = sandbox.path().join("shot.png");
    let chromium = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg("--window-size=1000,900")
        .arg(format!(
            "--user-data-dir={}",
            sandbox.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs (scripts/test-browser.sh installs it)");
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&chromium.stderr)
    );

    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((frame.width, frame.height), (1000, 900));
    let channels = frame.color_type.samples();
    let count = |rgb: [u8; 3]| {
        pixels[..frame.buffer_size()]
            .chunks(channels)
            .filter(|p| p[..3] == rgb)
            .count()
    };
    // The timeline's bars, in the page's colours: steps that succeeded, the failed one, the
    // compensation that undid `a`. A page that did not render has none of them.
    let (succeeded, failed, undone) = (
        count([0x3a, 0x9d, 0x5d]),
        count([0xd2, 0x45, 0x3b]),
        count([0xe0, 0xa8, 0x00]),
    );
    assert!(succeeded > 2000, "green bars: {succeeded} pixels");
    assert!(failed > 1000, "red bar: {failed} pixels");
    assert!(undone > 1000, "yellow bar: {undone} pixels");
}
