//! The `cairn` command as a user runs it: exit codes, output shapes, errors.

use std::path::Path;
use std::process::{Command, Output};

use cairn_store::{Store, StoreOptions};
use serde_json::Value;

use crate::{datasets_dir, odd_files_dir};

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A data directory with the OTRF dataset imported (an attacker's EC2 and S3 calls, exported
/// through Logstash).
fn otrf_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let otrf = datasets_dir().join("otrf-security-datasets");
    let out = cairn(&[
        "import",
        "--data-dir",
        dir.path().to_str().unwrap(),
        otrf.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.starts_with("imported 103 events from 2 files"),
        "{summary}"
    );
    assert!(summary.contains("README.md: not JSON"), "{summary}");
    dir
}

fn lookup(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["lookup-events", "--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    cairn(&args)
}

#[test]
fn lookup_events_prints_what_the_aws_cli_prints() {
    let dir = otrf_store();
    let out = lookup(
        dir.path(),
        &[
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=ListBuckets",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("{\n    \"Events\": [\n        {\n            \"EventId\": "),
        "{stdout}"
    );
    let output: Value = serde_json::from_str(&stdout).unwrap();
    let events = output["Events"].as_array().unwrap();
    assert!(!events.is_empty());
    let mut previous = f64::MAX;
    for event in events {
        let keys: Vec<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in &keys {
            assert!(
                [
                    "EventId",
                    "EventName",
                    "ReadOnly",
                    "AccessKeyId",
                    "EventTime",
                    "EventSource",
                    "Username",
                    "Resources",
                    "CloudTrailEvent"
                ]
                .contains(key),
                "unexpected member {key}"
            );
        }
        let record: Value =
            serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap()).unwrap();
        assert_eq!(event["EventId"], record["eventID"]);
        assert_eq!(event["EventName"], "ListBuckets");
        assert_eq!(event["EventSource"], record["eventSource"]);
        assert_eq!(
            event["ReadOnly"].as_str(),
            record["readOnly"]
                .as_bool()
                .map(|b| b.to_string())
                .as_deref()
        );
        assert_eq!(event["AccessKeyId"], record["userIdentity"]["accessKeyId"]);
        assert!(event["Resources"].is_array());
        let time = event["EventTime"].as_f64().unwrap();
        let expected_time =
            // Logstash exports (this dataset) call eventTime `@timestamp`.
            cairn_model::time::parse_event_time(record["@timestamp"].as_str().unwrap()).unwrap()
                as f64
                / 1000.0;
        assert_eq!(time, expected_time);
        assert!(time <= previous, "not newest first");
        previous = time;
    }
    // Epoch seconds print as the AWS CLI prints a float.
    assert!(
        stdout.contains(&format!("\"EventTime\": {previous:.1},")),
        "{stdout}"
    );
}

#[test]
fn max_items_and_starting_token_continue_where_they_stopped() {
    let dir = otrf_store();
    let all: Value = serde_json::from_slice(&lookup(dir.path(), &[]).stdout).unwrap();
    let all_ids: Vec<&Value> = all["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["EventId"])
        .collect();
    assert!(all_ids.len() > 5);
    let first: Value = serde_json::from_slice(
        &lookup(dir.path(), &["--max-items", "3", "--page-size", "2"]).stdout,
    )
    .unwrap();
    let token = first["NextToken"]
        .as_str()
        .expect("a NextToken when --max-items cuts the list")
        .to_owned();
    let rest: Value =
        serde_json::from_slice(&lookup(dir.path(), &["--starting-token", &token]).stdout).unwrap();
    assert!(rest.get("NextToken").is_none());
    let mut ids: Vec<&Value> = first["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["EventId"])
        .collect();
    ids.extend(
        rest["Events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["EventId"]),
    );
    assert_eq!(ids, all_ids);
}

#[test]
fn bad_requests_get_aws_errors_and_exit_254() {
    let dir = otrf_store();
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "--lookup-attributes",
                "AttributeKey=eventname,AttributeValue=X",
            ],
            "InvalidLookupAttributesException",
        ),
        (
            &["--start-time", "2020-01-02", "--end-time", "2020-01-01"],
            "InvalidTimeRangeException",
        ),
        (&["--page-size", "51"], "InvalidMaxResultsException"),
    ];
    for (args, code) in cases {
        let out = lookup(dir.path(), args);
        assert_eq!(out.status.code(), Some(254), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!(
                "An error occurred ({code}) when calling the LookupEvents operation: "
            )),
            "{stderr}"
        );
    }
    let out = lookup(dir.path(), &["--start-time", "yesterday"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid time"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_table_shows_the_console_columns() {
    let dir = otrf_store();
    let out = lookup(dir.path(), &["--output", "table", "--max-items", "2"]);
    let stdout = text(&out.stdout);
    let header = stdout.lines().next().unwrap();
    for column in [
        "Event time",
        "User name",
        "Event name",
        "Event source",
        "Resource type",
        "Resource name",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("2020-09-14T"))
            .count(),
        2,
        "{stdout}"
    );
}

#[test]
fn a_second_process_on_the_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let out = lookup(dir.path(), &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is in use by another cairn process"),
        "{stderr}"
    );
}

#[test]
fn import_fails_only_when_nothing_could_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let foreign = odd_files_dir();
    let out = cairn(&[
        "import",
        "--data-dir",
        data.to_str().unwrap(),
        foreign.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no CloudTrail events could be read"),
        "{}",
        text(&out.stderr)
    );
    let missing = dir.path().join("missing");
    let out = cairn(&[
        "import",
        "--data-dir",
        data.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot read"),
        "{}",
        text(&out.stderr)
    );
}

/// Creates an event data store of account 111111111111 in us-east-1 from the
/// CreateEventDataStore request `request` in the data directory `dir`, then runs `then` on the
/// store of events; answers the event data store's ID.
fn with_event_data_store(dir: &Path, request: &str, then: impl FnOnce(&Store)) -> String {
    use cairn_server::actions::event_data_stores as ops;
    use cairn_server::event_data_stores::EventDataStores;
    use cairn_server::trails::Scope;

    let now = cairn_model::time::now_secs();
    let store = std::sync::Arc::new(Store::open(dir, StoreOptions::default()).unwrap());
    let stores = EventDataStores::load(store.clone()).unwrap();
    let scope = Scope {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
    };
    let made = ops::create(&stores, &scope, serde_json::from_str(request).unwrap(), now).unwrap();
    then(&store);
    drop(stores);
    std::sync::Arc::try_unwrap(store).unwrap().close();
    let arn = made["EventDataStoreArn"].as_str().unwrap();
    arn.rsplit('/').next().unwrap().to_owned()
}

#[test]
fn cairn_query_runs_lake_sql_over_a_data_directorys_event_data_stores() {
    use cairn::import::{collect_files, import_files, parse_file, read_file};

    let dir = tempfile::tempdir().unwrap();
    let now = cairn_model::time::now_secs();
    let traildiscover = datasets_dir().join("traildiscover");
    let files = collect_files(&[traildiscover]).unwrap();
    // The lab's events arrive while the store ingests.
    let store_id = with_event_data_store(
        dir.path(),
        r#"{"Name":"lab","RetentionPeriod":3653}"#,
        |store| {
            import_files(store, &files, 2, |_, _| {}).unwrap();
            // Sealed, the events' frequent requestParameters keys have columns of their own.
            store.seal().unwrap();
        },
    );
    // Independently: the account's management events within 3653 days, by event source, and
    // by the bucket and instance their requests name.
    let oldest = (now * 1000.0) as i64 - 3653 * 86_400_000;
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    let mut by_request: std::collections::BTreeMap<(String, String), usize> = Default::default();
    let mut seen = std::collections::BTreeSet::new();
    for path in &files {
        for record in parse_file(&read_file(path).unwrap()).records {
            let f = &record.fields;
            let management = f
                .event_category
                .as_deref()
                .map_or(f.history == cairn_model::HistoryCategory::Management, |c| {
                    c == "Management"
                });
            if f.account_id.as_deref() == Some("111111111111")
                && management
                && f.event_time_ms >= oldest
                && seen.insert(record.fingerprint)
            {
                *counts
                    .entry(f.event_source.clone().unwrap_or_default())
                    .or_default() += 1;
                let value: serde_json::Value = serde_json::from_str(&record.json).unwrap();
                let key = |name: &str| match &value["requestParameters"][name] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "none".to_owned(),
                    other => panic!("{name} is not a string: {other}"),
                };
                let named = (key("bucketName"), key("instanceId"));
                if named != ("none".to_owned(), "none".to_owned()) {
                    *by_request.entry(named).or_default() += 1;
                }
            }
        }
    }
    let mut expected: Vec<(String, usize)> = counts.into_iter().collect();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    expected.truncate(5);
    assert_eq!(expected.len(), 5, "{expected:?}");
    let mut csv = String::from("eventSource,n\n");
    for (source, n) in &expected {
        csv.push_str(&format!("{source},{n}\n"));
    }
    let sql = format!(
        "SELECT eventSource, count(*) AS n FROM {store_id} GROUP BY eventSource \
         ORDER BY n DESC, eventSource LIMIT 5"
    );
    let dir_arg = dir.path().to_str().unwrap();
    let out = cairn(&["query", "--data-dir", dir_arg, "--output", "csv", &sql]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), csv);

    assert!(by_request.len() > 3, "{by_request:?}");
    let mut csv = String::from("bucket,instance,n\n");
    for ((bucket, instance), n) in &by_request {
        csv.push_str(&format!("{bucket},{instance},{n}\n"));
    }
    let sql = format!(
        "SELECT coalesce(element_at(requestParameters, 'bucketName'), 'none') AS bucket, \
         coalesce(requestParameters['instanceId'], 'none') AS instance, count(*) AS n \
         FROM {store_id} WHERE element_at(requestParameters, 'bucketName') IS NOT NULL \
         OR element_at(requestParameters, 'instanceId') IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
    );
    let out = cairn(&["query", "--data-dir", dir_arg, "--output", "csv", &sql]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), csv);

    let out = cairn(&[
        "query",
        "--data-dir",
        dir_arg,
        &format!("DELETE FROM {store_id}"),
    ]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        text(&out.stderr).starts_with(
            "An error occurred (InvalidQueryStatementException) when calling the StartQuery \
             operation: Only SELECT statements are allowed"
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn cairn_import_adds_the_files_events_to_an_event_data_store_stored_before_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    // A store that does not ingest: only what is imported into it on purpose.
    let store_id = with_event_data_store(
        dir.path(),
        r#"{"Name":"imported","RetentionPeriod":3653,"StartIngestion":false}"#,
        |_| {},
    );
    let count = || {
        let out = cairn(&[
            "query",
            "--data-dir",
            dir_arg,
            "--output",
            "csv",
            &format!("SELECT count(*) AS events FROM {store_id}"),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    // Imported without the option: not the store's.
    let other = datasets_dir().join("zmallen-cloudtrail2sightings");
    let out = cairn(&["import", "--data-dir", dir_arg, other.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let other_events: u64 = text(&out.stdout)
        .strip_prefix("imported ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", text(&out.stdout)));
    assert!(other_events > 0);
    assert_eq!(count(), "events\n0\n");
    let import_into_store = |path: &std::path::Path, imported: &str| {
        let out = cairn(&[
            "import",
            "--data-dir",
            dir_arg,
            "--event-data-store",
            &store_id,
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        assert!(
            printed.contains("the files' events are in event data store")
                && printed.contains(&format!("imported {imported} events")),
            "{printed}"
        );
    };
    // The OTRF events (another account's, 2020), imported into the store on purpose.
    let otrf = datasets_dir().join("otrf-security-datasets");
    import_into_store(&otrf, "103");
    assert_eq!(count(), "events\n103\n");
    // The events stored before, imported into the store: now its too, stored once (the
    // import stores nothing), and counted once however often they are imported into it.
    let before = dir_size(&dir.path().join("segments"));
    import_into_store(&other, "0");
    let both = format!("events\n{}\n", 103 + other_events);
    assert_eq!(count(), both);
    assert_eq!(dir_size(&dir.path().join("segments")), before);
    import_into_store(&other, "0");
    import_into_store(&otrf, "0");
    assert_eq!(count(), both);
    let out = cairn(&[
        "import",
        "--data-dir",
        dir_arg,
        "--event-data-store",
        "00000000-0000-4000-8000-000000000000",
        otrf.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("No active event data store"),
        "{}",
        text(&out.stderr)
    );
}

/// The bytes of the files under `dir`.
fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        dir_size(&path)
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
