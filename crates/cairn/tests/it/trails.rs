//! Trails through boto3 against a live `cairn serve`: every trail operation, its errors, shadow
//! trails, the per-region limit, audit events, and the catalog surviving a restart.

use serde_json::json;

use crate::api::{CONFIG, REGION, TestServer, run_scenario, scenario_principals};

#[test]
fn boto3_manages_trails_and_they_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    // The trails deliver to the local target: a bucket is a folder under the data directory.
    std::fs::create_dir_all(data_dir.join("buckets/audit-bucket")).unwrap();

    for phase in ["manage", "after-restart"] {
        let server = TestServer::start(&data_dir, Some(&config_path), &[]);
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": scenario_principals(),
        });
        run_scenario(dir.path(), "trails.py", &scenario, &[phase]);
        server.stop_cleanly();
    }
}
