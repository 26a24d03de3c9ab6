//! CloudTrail Lake through boto3 and the aws CLI against a live `cairn serve`: event data
//! stores, their rules and errors, tags, queries over them, and all of it surviving a restart.

use crate::api::run_across_restarts;

#[test]
fn boto3_manages_event_data_stores_and_they_survive_a_restart() {
    run_across_restarts("event_data_stores.py", &["manage", "after-restart"], |_| {});
}

#[test]
fn boto3_queries_what_an_event_data_store_ingested_and_results_survive_a_restart() {
    // Results are saved to the local target: a bucket is a folder under the data directory.
    run_across_restarts("lake_queries.py", &["query", "after-restart"], |data_dir| {
        std::fs::create_dir_all(data_dir.join("buckets/lake-results")).unwrap()
    });
}

#[test]
fn cairn_query_runs_a_query_through_the_api() {
    use cairn::lookup_events::{ApiClient, ClientCredentials};
    use std::process::Command;

    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, crate::api::CONFIG).unwrap();
    let server = crate::api::TestServer::start(&dir.path().join("data"), Some(&config_path), &[]);
    let endpoint = format!("http://{}", server.endpoint);
    let (key, secret) = ("AKIAALICE00000000001", "alice-secret-key");
    let credentials = ClientCredentials {
        access_key_id: key.to_owned(),
        secret_access_key: secret.to_owned(),
        session_token: None,
        region: None,
    };
    let client = ApiClient::new(&endpoint, credentials, crate::api::REGION).unwrap();
    let made = client
        .call("CreateEventDataStore", br#"{"Name":"from-the-cli"}"#)
        .unwrap();
    assert!(made.error().is_none(), "{:?}", made.body);
    let arn = made.body["EventDataStoreArn"].as_str().unwrap();
    let store_id = arn.rsplit('/').next().unwrap().to_owned();
    for _ in 0..2 {
        assert!(client.call("ListTrails", b"{}").unwrap().error().is_none());
    }
    let query = |sql: &str| {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args([
                "query",
                "--endpoint-url",
                &endpoint,
                "--region",
                crate::api::REGION,
            ])
            .args(["--output", "csv", sql])
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap()
    };
    // The calls' audit events are stored a moment after they are answered.
    let sql = format!(
        "SELECT eventName, count(*) AS n FROM {store_id} WHERE eventName = 'ListTrails' \
         GROUP BY eventName"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = query(&sql);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        if printed == "eventName,n\nListTrails,2\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{printed}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = query(&format!("DELETE FROM {store_id}"));
    assert_eq!(out.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with(
            "An error occurred (InvalidQueryStatementException) when calling the StartQuery \
             operation:"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop_cleanly();
}

#[test]
fn a_query_past_the_configured_timeout_is_timed_out_without_results() {
    use cairn::lookup_events::{ApiClient, ClientCredentials};

    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("cairn.toml");
    // No query can finish within 0 seconds.
    std::fs::write(
        &config_path,
        format!("{}\n[lake]\nquery_timeout_secs = 0\n", crate::api::CONFIG),
    )
    .unwrap();
    let server = crate::api::TestServer::start(&dir.path().join("data"), Some(&config_path), &[]);
    let credentials = ClientCredentials {
        access_key_id: "AKIAALICE00000000001".to_owned(),
        secret_access_key: "alice-secret-key".to_owned(),
        session_token: None,
        region: None,
    };
    let endpoint = format!("http://{}", server.endpoint);
    let client = ApiClient::new(&endpoint, credentials, crate::api::REGION).unwrap();
    let made = client
        .call("CreateEventDataStore", br#"{"Name":"slow"}"#)
        .unwrap();
    let arn = made.body["EventDataStoreArn"].as_str().unwrap();
    let store_id = arn.rsplit('/').next().unwrap();
    let started = client
        .call(
            "StartQuery",
            format!(r#"{{"QueryStatement":"SELECT count(*) FROM {store_id}"}}"#).as_bytes(),
        )
        .unwrap();
    let query_id = started.body["QueryId"].as_str().unwrap().to_owned();
    let request = format!(r#"{{"QueryId":"{query_id}"}}"#);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let described = loop {
        let described = client.call("DescribeQuery", request.as_bytes()).unwrap();
        let status = described.body["QueryStatus"].as_str().unwrap().to_owned();
        if status != "QUEUED" && status != "RUNNING" {
            break described;
        }
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(
        described.body["QueryStatus"], "TIMED_OUT",
        "{:?}",
        described.body
    );
    assert_eq!(
        described.body["ErrorMessage"],
        "The query ran longer than 0 seconds."
    );
    let results = client.call("GetQueryResults", request.as_bytes()).unwrap();
    assert_eq!(results.body["QueryStatus"], "TIMED_OUT");
    assert_eq!(results.body["QueryResultRows"], serde_json::json!([]));
    server.stop_cleanly();
}
