//! Trails through boto3 against a live `cairn serve`: every trail operation, its errors, shadow
//! trails, the per-region limit, audit events, and the catalog surviving a restart.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::api::{ACCOUNT_A, ACCOUNT_B, CONFIG, REGION, TestServer, venv_python};

fn run_client(python: &PathBuf, scenario: &std::path::Path, phase: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/trails.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(scenario)
        .arg(phase)
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success(),
        "the {phase} checks failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn boto3_manages_trails_and_they_survive_a_restart() {
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let scenario_path = dir.path().join("scenario.json");
    let principal = |key: &str, secret: &str, account: &str| json!({"access_key_id": key, "secret_access_key": secret, "account": account});

    for phase in ["manage", "after-restart"] {
        let server = TestServer::start(&data_dir, Some(&config_path), &[]);
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": {
                "alice": principal("AKIAALICE00000000001", "alice-secret-key", ACCOUNT_A),
                "auditor": principal("ASIAAUDITOR000000001", "auditor-secret-key", ACCOUNT_A),
                "bob": principal("AKIABOB0000000000001", "bob-secret-key", ACCOUNT_B),
            },
        });
        std::fs::write(&scenario_path, scenario.to_string()).unwrap();
        run_client(&python, &scenario_path, phase);
        let (status, printed) = server.stop();
        assert!(
            status.success(),
            "cairn serve exited with {status}: {printed}"
        );
    }
}
