//! Trails through boto3 against a live `cairn serve`: every trail operation, its errors, shadow
//! trails, the per-region limit, audit events, and the catalog surviving a restart.

use serde_json::json;

use crate::api::{CONFIG, REGION, TestServer, run_client, scenario_principals};

#[test]
fn boto3_manages_trails_and_they_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let scenario_path = dir.path().join("scenario.json");
    // The trails deliver to the local target: a bucket is a folder under the data directory.
    std::fs::create_dir_all(data_dir.join("buckets/audit-bucket")).unwrap();

    for phase in ["manage", "after-restart"] {
        let server = TestServer::start(&data_dir, Some(&config_path), &[]);
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": scenario_principals(),
        });
        std::fs::write(&scenario_path, scenario.to_string()).unwrap();
        run_client("trails.py", &[scenario_path.as_os_str(), phase.as_ref()]);
        let (status, printed) = server.stop();
        assert!(
            status.success(),
            "cairn serve exited with {status}: {printed}"
        );
    }
}
