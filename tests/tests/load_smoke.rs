//! The benchmark tools keep working: `xinfang-load suite --smoke` (a tiny generated county, one-second runs
//! of every scenario and pgbench baseline) in whatever profile the tests are built in. It checks that each
//! part ran and made no errors, never how fast: timings belong to `suite` in --release (docs/performance.md).
//! It runs with `--profile`, so that the statement profile keeps working too; at this size its cost does
//! not matter.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

#[test]
fn the_load_suite_runs_every_scenario_and_baseline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("results.json");
    let log_path = dir.path().join("suite.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xinfang-load"))
        .args([
            "suite",
            "--smoke",
            "--concurrency",
            "4",
            "--connections",
            "2",
            "--profile",
            "--out",
        ])
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("starting xinfang-load");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for xinfang-load") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(150) {
            let _ = child.kill();
            panic!(
                "xinfang-load suite --smoke took over 150 s:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "xinfang-load suite --smoke: {status}\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );

    let report: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("results.json")).expect("JSON");
    assert_eq!(report["generated"]["rows"]["visits"], 2000, "{report:#}");
    assert_eq!(report["generated"]["rows"]["cases"], 300);
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    for name in ["indicators", "register-visit", "push", "mixed", "echo"] {
        let s = scenarios
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report:#}"));
        assert!(
            s["ok"].as_u64().unwrap_or(0) > 0,
            "{name} did nothing: {s:#}"
        );
        assert_eq!(
            s["errors"],
            serde_json::json!({}),
            "{name} had errors: {s:#}"
        );
        assert!(
            s["server_rss"]["peak_mb"].as_f64().unwrap_or(0.0) > 0.0,
            "{name}: no server memory figure: {s:#}"
        );
    }
    let indicators = scenarios
        .iter()
        .find(|s| s["name"] == "indicators")
        .unwrap();
    assert_eq!(
        indicators["calls"].as_object().map(|c| c.len()),
        Some(4),
        "the four indicator calls: {indicators:#}"
    );
    // The noisy neighbour: the clerk is never turned away, the flood only ever by its fair share.
    for name in [
        "noisy-neighbour: clerk alone",
        "noisy-neighbour: clerk, flood, fair share",
        "noisy-neighbour: clerk, flood, no fair share",
        "noisy-neighbour: the flood, fair share",
        "noisy-neighbour: the flood, no fair share",
    ] {
        let s = scenarios
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report:#}"));
        assert!(
            s["ok"].as_u64().unwrap_or(0) > 0,
            "{name} did nothing: {s:#}"
        );
        let errors = s["errors"].as_object().expect("errors");
        if name.contains("clerk") {
            assert!(errors.is_empty(), "{name} had errors: {s:#}");
        } else {
            assert!(
                errors.keys().all(|k| k == "ResourceExhausted"),
                "{name} failed otherwise than by its fair share: {s:#}"
            );
        }
    }
    let push = scenarios.iter().find(|s| s["name"] == "push").unwrap();
    assert_eq!(
        push["items"], 60,
        "every pushed operation applied: {push:#}"
    );

    let baselines = report["baselines"].as_array().expect("baselines");
    for name in [
        "register-visit",
        "register-visit-own-counter",
        "push-batched",
    ] {
        let b = baselines
            .iter()
            .find(|b| b["name"] == name)
            .unwrap_or_else(|| panic!("no pgbench {name} in {report:#}"));
        assert!(b["transactions"].as_u64().unwrap_or(0) > 0, "{b:#}");
        assert_eq!(b["failed"], 0, "{b:#}");
    }
    assert!(
        report["startup"]["private_cluster_ms"].as_f64().is_some(),
        "{report:#}"
    );
    assert!(!report["explain"].as_array().expect("explain").is_empty());
    assert!(!report["goals"].as_array().expect("goals").is_empty());

    // The statement profiles: a header, the column names, and the service's statements.
    for name in ["register-visit", "push", "mixed", "register-visit@1"] {
        let path = dir.path().join(format!("profile-{name}.txt"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.starts_with(&format!("{name}: ")), "{text}");
        assert!(text.contains("INSERT INTO visits"), "{name}: {text}");
        assert!(text.lines().count() > 10, "{name}: {text}");
    }
}
