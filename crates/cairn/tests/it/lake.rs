//! CloudTrail Lake through boto3 and the aws CLI against a live `cairn serve`: event data
//! stores, their rules and errors, tags, queries over them, and all of it surviving a restart.

use serde_json::json;

use crate::api::{CONFIG, REGION, TestServer, run_scenario, scenario_principals};

#[test]
fn boto3_manages_event_data_stores_and_they_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    for phase in ["manage", "after-restart"] {
        let server = TestServer::start(&data_dir, Some(&config_path), &[]);
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": scenario_principals(),
        });
        run_scenario(dir.path(), "event_data_stores.py", &scenario, &[phase]);
        server.stop_cleanly();
    }
}

#[test]
fn boto3_queries_what_an_event_data_store_ingested_and_results_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    for phase in ["query", "after-restart"] {
        let server = TestServer::start(&data_dir, Some(&config_path), &[]);
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": scenario_principals(),
        });
        run_scenario(dir.path(), "lake_queries.py", &scenario, &[phase]);
        server.stop_cleanly();
    }
}
