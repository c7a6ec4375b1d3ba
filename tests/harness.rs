//! `chorus harness` end to end: a short clean scenario with faults must pass,
//! and a planted storage fault (debug builds: `CHORUS_PLANTED_FAULT=skip-log-writes`,
//! servers acknowledge writes they never made) must be caught as lost
//! acknowledged messages after every server is killed and restarted.
//!
//! The two scenarios run one after the other (a lock), not side by side: CI has
//! two cores.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn harness(dir: &Path, args: &[&str], planted: bool) -> (Output, Value) {
    let out = dir.join("run.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chorus"));
    cmd.arg("harness")
        .args(args)
        .arg("--dir")
        .arg(dir.join("nodes"))
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .env_remove("CHORUS_PLANTED_FAULT");
    if planted {
        cmd.env("CHORUS_PLANTED_FAULT", "skip-log-writes");
    }
    let output = cmd.output().expect("cannot run chorus harness");
    let json = std::fs::read_to_string(&out)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            panic!(
                "no report written; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
    (output, json)
}

fn explain(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_clean_run_with_leader_kills_and_pauses_passes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("temporary directory");
    let (output, json) = harness(
        tmp.path(),
        &[
            "--servers",
            "3",
            "--clients",
            "3",
            "--rate",
            "40",
            "--rooms",
            "2",
            "--duration",
            "10s",
            "--faults",
            "kill-leader,pause,churn",
            "--every",
            "2s",
            "--seed",
            "5",
        ],
        false,
    );
    assert!(
        output.status.success(),
        "the clean run failed\n{}",
        explain(&output)
    );
    let report = &json["report"];
    assert_eq!(report["ok"], true, "{}", explain(&output));
    for (kind, n) in report["violations"].as_object().expect("violations") {
        assert_eq!(n, 0, "{kind} violations\n{}", explain(&output));
    }
    let sent = report["sent"].as_u64().expect("sent");
    assert!(sent >= 300, "only {sent} sent\n{}", explain(&output));
    assert_eq!(
        report["acknowledged"].as_u64(),
        Some(sent),
        "{}",
        explain(&output)
    );
    assert_eq!(
        report["delivered"].as_u64(),
        Some(3 * sent),
        "{}",
        explain(&output)
    );
    let injected = report["failovers"]
        .as_array()
        .expect("failovers")
        .iter()
        .filter(|f| f["fault"]["skipped"].is_null())
        .count();
    assert!(
        injected >= 3,
        "only {injected} faults injected\n{}",
        explain(&output)
    );
    // Membership churn happened: a server retired for good, a new one joined.
    let churned = report["failovers"]
        .as_array()
        .expect("failovers")
        .iter()
        .any(|f| f["fault"]["kind"] == "churn" && f["fault"]["skipped"].is_null());
    assert!(churned, "no churn injected\n{}", explain(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("result: PASS"), "{}", explain(&output));
}

#[test]
fn a_planted_storage_fault_is_caught_as_lost_acknowledged_messages() {
    if !cfg!(debug_assertions) {
        eprintln!("the planted fault exists in debug builds only");
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("temporary directory");
    let (output, json) = harness(
        tmp.path(),
        &[
            "--servers",
            "3",
            "--clients",
            "2",
            "--rate",
            "40",
            "--rooms",
            "1",
            "--duration",
            "4s",
            "--faults",
            "kill-all",
            "--every",
            "3s",
            "--downtime",
            "500ms",
            "--settle",
            "10s",
        ],
        true,
    );
    assert!(
        !output.status.success(),
        "the planted fault went unnoticed\n{}",
        explain(&output)
    );
    let report = &json["report"];
    assert_eq!(report["ok"], false);
    let lost = report["violations"]["lost"].as_u64().expect("lost count");
    assert!(lost > 0, "no lost messages reported\n{}", explain(&output));
    let acked = report["acknowledged"].as_u64().expect("acknowledged");
    assert!(
        acked > 0,
        "nothing was acknowledged before the crash\n{}",
        explain(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("is not in the servers' log"),
        "{}",
        explain(&output)
    );
    assert!(stdout.contains("result: FAIL"), "{}", explain(&output));
}
