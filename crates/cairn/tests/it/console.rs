//! The console in a real browser (`tests/clients/console.py`: Playwright driving Debian's
//! chromium, both installed by the project's scripts) against a live `cairn serve` holding the
//! repository's datasets and one hostile event. Screenshots of each journey's final page go to
//! `<target tmp>/console-screenshots/`.

use std::path::PathBuf;

use cairn::import::{collect_files, import_files};
use cairn_model::Record;
use cairn_store::{Store, StoreOptions};
use serde_json::json;

use crate::api::{CONFIG, TestServer, run_scenario, scenario_principals};
use crate::datasets_dir;

/// What the hostile event's userAgent and requestParameters hold: markup that would run
/// script if a page wrote it as HTML.
const HOSTILE_TEXT: &str = r#""><img src=x onerror="window.__pwned=1">"#;

#[test]
fn the_console_in_a_browser_signs_in_shows_filters_and_expands_event_history_safely() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let hostile_id = "0badc0de-0000-4000-8000-00000000cafe";
    {
        let store = Store::open(&data_dir, StoreOptions::default()).unwrap();
        let files = collect_files(&[datasets_dir()]).unwrap();
        import_files(&store, &files, 2, |_, _| {}).unwrap();
        let hostile = json!({
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::111111111111:user/mallory", "accountId": "111111111111", "userName": "<script>window.__pwned=1</script>"},
            "eventTime": "2024-03-01T12:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "DescribeInstances",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.9",
            "userAgent": format!("<script>window.__pwned=1</script>{HOSTILE_TEXT}"),
            "requestParameters": {"filterSet": {"items": [{"name": HOSTILE_TEXT}]}},
            "responseElements": null,
            "eventID": hostile_id,
            "readOnly": true,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "111111111111",
            "eventCategory": "Management"
        });
        store
            .append(vec![Record::parse(&hostile.to_string()).unwrap()])
            .unwrap();
        store.close();
    }
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let server = TestServer::start(&data_dir, Some(&config_path), &[]);
    let scenario = json!({
        "endpoint": format!("http://{}", server.endpoint),
        "region": crate::api::REGION,
        "console_region": "us-east-1",
        "principals": scenario_principals(),
        "screenshots": screenshots,
        "hostile_event_id": hostile_id,
        "hostile_text": HOSTILE_TEXT,
        // The server's local delivery target: a bucket is a folder of its data directory.
        "buckets": data_dir.join("buckets"),
    });
    run_scenario(dir.path(), "console.py", &scenario, &[]);
    server.stop_cleanly();
}
