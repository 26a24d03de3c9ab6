//! `cairn serve` with real AWS clients: boto3 and the aws CLI (installed from PyPI by
//! `scripts/setup-python.sh`) against a live server on a free port, over the repository's
//! datasets (`testdata/datasets`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use cairn::import::{collect_files, import_files};
use cairn::lookup_events::{LookupArgs, run_lookup};
use cairn_model::lookup::LookupAttribute;
use cairn_model::{LookupEvent, LookupEventsRequest, Record};
use cairn_store::{Store, StoreOptions};
use serde_json::{Value, json};

use crate::datasets_dir;

/// Account A: the account with the most management events in the repository's datasets
/// (TrailDiscover's lab account), and the region they are in.
const ACCOUNT_A: &str = "111111111111";
const DATASET_REGION: &str = "us-east-1";
/// The region the other client scenarios call in (not us-east-1, where S3 refuses a bucket's
/// location constraint).
pub(crate) const REGION: &str = "us-west-1";
const ACCOUNT_B: &str = "222222222222";
/// The account and region of the datasets' Insights events (AWS's documentation examples).
const INSIGHTS_ACCOUNT: &str = "123456789012";
const INSIGHTS_REGION: &str = "us-east-1";

pub(crate) const CONFIG: &str = r#"
[[accounts]]
id = "111111111111"
[[accounts]]
id = "222222222222"
[[accounts]]
id = "123456789012"

[[principals]]
account = "111111111111"
access_key_id = "AKIAALICE00000000001"
secret_access_key = "alice-secret-key"
type = "IAMUser"
user_name = "alice"
permissions = "admin"

[[principals]]
account = "111111111111"
access_key_id = "ASIAAUDITOR000000001"
secret_access_key = "auditor-secret-key"
type = "AssumedRole"
role_name = "Auditor"
session_name = "auditor-session"
permissions = "read-only"

[[principals]]
account = "222222222222"
access_key_id = "AKIABOB0000000000001"
secret_access_key = "bob-secret-key"
type = "Root"
permissions = "admin"

[[principals]]
account = "123456789012"
access_key_id = "AKIACAROL00000000001"
secret_access_key = "carol-secret-key"
type = "IAMUser"
user_name = "carol"
permissions = "read-only"
"#;

/// The project's Python environment, made by `scripts/setup-python.sh`.
pub(crate) fn venv_python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-python.sh (scripts/test does)",
        python.display()
    );
    python
}

/// The principals of [`CONFIG`], as the client scripts' scenario files name them.
pub(crate) fn scenario_principals() -> Value {
    let principal = |key: &str, secret: &str, account: &str| json!({"access_key_id": key, "secret_access_key": secret, "account": account});
    json!({
        "alice": principal("AKIAALICE00000000001", "alice-secret-key", ACCOUNT_A),
        "auditor": principal("ASIAAUDITOR000000001", "auditor-secret-key", ACCOUNT_A),
        "bob": principal("AKIABOB0000000000001", "bob-secret-key", ACCOUNT_B),
        "carol": principal("AKIACAROL00000000001", "carol-secret-key", INSIGHTS_ACCOUNT),
    })
}

/// Runs the client script `script` once per phase (its argument), each time against a `cairn
/// serve` started afresh with [`CONFIG`] on the same data directory, which `setup` prepares
/// first: what a phase leaves must survive the restart before the next.
pub(crate) fn run_across_restarts(script: &str, phases: &[&str], setup: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    setup(&data_dir);
    for phase in phases {
        let server = TestServer::start(&data_dir, Some(&config_path), &[]);
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": scenario_principals(),
        });
        run_scenario(dir.path(), script, &scenario, &[phase]);
        server.stop_cleanly();
    }
}

/// Writes `scenario` as `<dir>/scenario.json` and runs the client script on it, with `args`
/// after it.
pub(crate) fn run_scenario(dir: &Path, script: &str, scenario: &Value, args: &[&str]) {
    let path = dir.join("scenario.json");
    std::fs::write(&path, scenario.to_string()).unwrap();
    let mut all = vec![path.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    run_client(script, &all);
}

/// Runs the client script `tests/clients/<script>` with `args` in the project's Python and
/// prints what it printed; the test fails, with the script's errors, when the script does.
pub(crate) fn run_client(script: &str, args: &[&std::ffi::OsStr]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let output = Command::new(venv_python())
        .arg(&path)
        .args(args)
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success(),
        "the client checks of {script} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A `cairn serve` process on 127.0.0.1 with a free port, stopped with SIGTERM.
pub(crate) struct TestServer {
    child: Child,
    pub(crate) endpoint: String,
    stdout: BufReader<std::process::ChildStdout>,
    /// What the server printed before it was listening.
    banner: Vec<String>,
}

impl Drop for TestServer {
    /// A test that fails midway leaves no server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestServer {
    pub(crate) fn start(
        data_dir: &Path,
        config: Option<&Path>,
        env: &[(&str, &str)],
    ) -> TestServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("CAIRN_ROOT_ACCESS_KEY_ID")
            .env_remove("CAIRN_ROOT_SECRET_ACCESS_KEY")
            .env_remove("CAIRN_CONFIG")
            .env_remove("CAIRN_UPSTREAM")
            .envs(env.iter().copied())
            .stdout(Stdio::piped());
        if let Some(config) = config {
            // cairn refuses a configuration others may read: it holds secret keys.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(config, std::fs::Permissions::from_mode(0o600)).unwrap();
            command.arg("--config").arg(config);
        }
        let mut child = command.spawn().expect("starting cairn serve");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut server = TestServer {
            child,
            endpoint: String::new(),
            stdout,
            banner: Vec::new(),
        };
        loop {
            let mut line = String::new();
            let read = server.stdout.read_line(&mut line).unwrap();
            assert!(
                read > 0,
                "cairn serve exited before listening; it printed {:?}",
                server.banner
            );
            let listening = line.trim().strip_prefix("cairn listening on ");
            if let Some(address) = listening
                .and_then(|url| url.strip_prefix("http://").or(url.strip_prefix("https://")))
            {
                server.endpoint = address.to_owned();
                return server;
            }
            server.banner.push(line.trim().to_owned());
        }
    }

    /// Waits for the server to exit by itself.
    pub(crate) fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits: returns the exit status and what the server printed meanwhile.
    pub(crate) fn stop(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut rest).unwrap();
        (self.child.wait().unwrap(), rest)
    }

    /// Stops the server and checks it exited cleanly; returns what it printed.
    pub(crate) fn stop_cleanly(self) -> String {
        let (status, printed) = self.stop();
        assert!(
            status.success(),
            "cairn serve exited with {status}: {printed}"
        );
        printed
    }
}

fn lookup(store: &Store, attribute: Option<(&str, &str)>, end_time: f64) -> Vec<LookupEvent> {
    let args = LookupArgs {
        request: LookupEventsRequest {
            lookup_attributes: attribute.map(|(k, v)| {
                vec![LookupAttribute {
                    attribute_key: k.to_owned(),
                    attribute_value: v.to_owned(),
                }]
            }),
            end_time: Some(end_time),
            ..LookupEventsRequest::default()
        },
        max_items: None,
        account_id: Some(ACCOUNT_A.to_owned()),
        region: Some(DATASET_REGION.to_owned()),
    };
    run_lookup(store, &args).unwrap().unwrap().events
}

#[test]
fn boto3_and_the_aws_cli_read_event_history_and_every_call_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");

    // Import the datasets and write down what cairn's own lookup answers, before the server
    // adds its audit events (which are newer than `end_time`).
    let end_time = 1_767_225_600.0; // 2026-01-01, after every dataset record
    let mut scenario_cases = Vec::new();
    let cli_case;
    let insights_case;
    {
        let store = Store::open(&data_dir, StoreOptions::default()).unwrap();
        let files = collect_files(&[datasets_dir()]).unwrap();
        import_files(&store, &files, 2, |_, _| {}).unwrap();
        let all = lookup(&store, None, end_time);
        assert!(all.len() > 200, "account A has {} events", all.len());
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for event in &all {
            *names
                .entry(event.event_name.clone().unwrap_or_default())
                .or_default() += 1;
        }
        let (common_name, _) = names.iter().max_by_key(|(_, n)| **n).unwrap();
        let mut case = |attribute: Option<(&str, &str)>, extra: Value| {
            let mut query = extra;
            if let Some((k, v)) = attribute {
                query["attribute"] = json!([k, v]);
            }
            query["EndTime"] = json!(end_time);
            let ids: Vec<String> = lookup(&store, attribute, end_time)
                .into_iter()
                .map(|e| e.event_id)
                .collect();
            assert!(!ids.is_empty(), "{query}");
            scenario_cases.push(json!({"query": query, "event_ids": ids}));
            ids.len()
        };
        case(None, json!({}));
        case(Some(("EventName", common_name)), json!({}));
        // A few pages of events for the aws CLI's --max-items 40.
        let writes = case(Some(("ReadOnly", "false")), json!({}));
        assert!((81..=400).contains(&writes), "{writes} writes");
        cli_case = 2;
        case(Some(("EventSource", "s3.amazonaws.com")), json!({}));
        case(Some(("EventSource", "iam.amazonaws.com")), json!({}));
        let insight_ids: Vec<String> = run_lookup(
            &store,
            &LookupArgs {
                request: LookupEventsRequest {
                    event_category: Some("insight".to_owned()),
                    ..LookupEventsRequest::default()
                },
                max_items: None,
                account_id: Some(INSIGHTS_ACCOUNT.to_owned()),
                region: Some(INSIGHTS_REGION.to_owned()),
            },
        )
        .unwrap()
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event_id)
        .collect();
        assert!(!insight_ids.is_empty());
        insights_case = json!({"region": INSIGHTS_REGION, "event_ids": insight_ids});
        store.close();
    }

    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let server = TestServer::start(&data_dir, Some(&config_path), &[]);
    let scenario = json!({
        "endpoint": format!("http://{}", server.endpoint),
        "region": DATASET_REGION,
        "principals": scenario_principals(),
        "insights": insights_case,
        "expectations": scenario_cases,
        "cli_case": cli_case,
    });
    run_scenario(dir.path(), "cloudtrail_api.py", &scenario, &[]);

    // Health and metrics, after the clients' calls.
    let get = |path: &str| {
        ureq::get(format!("http://{}{path}", server.endpoint))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    assert_eq!(get("/health"), r#"{"status":"ok"}"#);
    let metrics = get("/metrics");
    for series in [
        r#"cairn_requests_total{operation="LookupEvents",status="200"}"#,
        r#"cairn_requests_total{operation="LookupEvents",status="400"}"#,
        r#"cairn_requests_total{operation="CreateTrail",status="400"}"#,
        "cairn_events_stored",
        "cairn_lookup_seconds_count",
        "cairn_ingest_seconds_count",
        r#"cairn_records_read_total{source="segment"}"#,
    ] {
        let value = metric(&metrics, series);
        assert!(value > 0.0, "{series} is {value} in\n{metrics}");
    }
    // SIGTERM: a clean exit, and every audit event durable.
    let printed = server.stop_cleanly();
    assert!(
        printed.contains("every acknowledged event is durable"),
        "{printed}"
    );
    let store = Store::open(&data_dir, StoreOptions::default()).unwrap();
    let mut audit_events = 0;
    store
        .for_each_record(|json| {
            let r = Record::parse(json).unwrap();
            if r.fields.event_source.as_deref() == Some("cloudtrail.amazonaws.com")
                && r.fields.event_time_ms > (end_time * 1000.0) as i64
            {
                audit_events += 1;
            }
        })
        .unwrap();
    // One per page the clients fetched and per call they made (about 50).
    assert!(audit_events > 40, "{audit_events} audit events stored");
}

/// The value of one series in a Prometheus text exposition (0 when absent).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn the_short_test_keys_of_moto_and_localstack_scripts_sign_calls() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(data_dir.join("buckets/audit-bucket")).unwrap();
    // boto3 calls LookupEvents and trail operations signed with the key, then the server stops.
    let check = |server: TestServer, key: &str, secret: &str| {
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": {key: {"access_key_id": key, "secret_access_key": secret,
                "account": DEFAULT_ACCOUNT}},
        });
        run_scenario(dir.path(), "short_keys.py", &scenario, &[]);
        server.stop_cleanly();
    };

    // As the bootstrap Root key, from the environment.
    let env = [
        ("CAIRN_ROOT_ACCESS_KEY_ID", "FOOBARKEY"),
        ("CAIRN_ROOT_SECRET_ACCESS_KEY", "FOOBARSECRET"),
    ];
    check(
        TestServer::start(&data_dir, None, &env),
        "FOOBARKEY",
        "FOOBARSECRET",
    );

    // As a configured principal.
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(
        &config_path,
        format!(
            "[[accounts]]\nid = \"{DEFAULT_ACCOUNT}\"\n[[principals]]\naccount = \"{DEFAULT_ACCOUNT}\"\n\
             access_key_id = \"test\"\nsecret_access_key = \"test\"\ntype = \"Root\"\n\
             permissions = \"admin\"\n"
        ),
    )
    .unwrap();
    check(
        TestServer::start(&data_dir, Some(&config_path), &[]),
        "test",
        "test",
    );
}

/// The account of the bootstrap key when `CAIRN_ACCOUNT_ID` is not set.
const DEFAULT_ACCOUNT: &str = "123456789012";

#[test]
fn without_configuration_a_root_key_is_generated_once_and_kept_but_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), None, &[]);
    let banner = server.banner.join("\n");
    // The banner names the key and its file; the secret is only in the file, in the AWS
    // CLI's shared credentials format.
    let file = dir.path().join("root-credentials");
    assert!(
        banner.contains(&format!("AWS_SHARED_CREDENTIALS_FILE={}", file.display())),
        "{banner}"
    );
    let credentials = cairn::lookup_events::find_credentials(|name| match name {
        "AWS_SHARED_CREDENTIALS_FILE" => Some(file.display().to_string()),
        "HOME" => Some(dir.path().display().to_string()),
        _ => None,
    })
    .unwrap();
    let (key, secret) = (credentials.access_key_id, credentials.secret_access_key);
    assert!(banner.contains(&key), "{banner}");
    assert!(
        !banner.contains(&secret),
        "the secret was printed: {banner}"
    );
    // `cairn lookup-events --endpoint-url` signs with the standard AWS credential sources.
    let lookup = cli_lookup(&server.endpoint, &key, &secret, &[]);
    assert!(
        lookup.status.success(),
        "{}",
        String::from_utf8_lossy(&lookup.stderr)
    );
    let printed: Value = serde_json::from_slice(&lookup.stdout).unwrap();
    assert!(printed["Events"].is_array(), "{printed}");
    let (status, _) = server.stop();
    assert!(status.success());

    // The second start reuses the stored key and prints no secret.
    let again = TestServer::start(dir.path(), None, &[]);
    assert!(
        !again.banner.iter().any(|l| l.contains(&secret)),
        "{:?}",
        again.banner
    );
    let denied = cli_lookup(&again.endpoint, &key, "wrong", &[]);
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert_eq!(denied.status.code(), Some(254), "{stderr}");
    assert!(
        stderr.contains(
            "An error occurred (InvalidSignatureException) when calling the LookupEvents operation"
        ),
        "{stderr}"
    );
    // Both calls were recorded, in eu-central-1 where they were made. (The
    // polling lookups are recorded too; they are the ones with lookupAttributes.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let events = loop {
        let mine = cli_lookup(
            &again.endpoint,
            &key,
            &secret,
            &[
                "--lookup-attributes",
                "AttributeKey=EventName,AttributeValue=LookupEvents",
            ],
        );
        let printed: Value = serde_json::from_slice(&mine.stdout).unwrap();
        let events: Vec<Value> = printed["Events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap())
            .filter(|r: &Value| r["requestParameters"].get("lookupAttributes").is_none())
            .collect();
        if events.len() >= 2 || std::time::Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(events.len(), 2, "{events:?}");
    // Both happened within a second or so; events of the same second have no defined order.
    let denied_event = events
        .iter()
        .find(|r| !r["errorCode"].is_null())
        .expect("the denied call is recorded");
    assert_eq!(
        denied_event["errorCode"], "InvalidSignatureException",
        "{denied_event}"
    );
    // Recorded in the key owner's account, but not as the Root it claimed to be: the
    // signature did not verify.
    assert_eq!(
        denied_event["userIdentity"],
        serde_json::json!({"type": "Unknown", "accessKeyId": key}),
        "{denied_event}"
    );
    assert_eq!(denied_event["awsRegion"], "eu-central-1");
    assert!(again.stop().0.success());
}

/// `cairn lookup-events --endpoint-url` with credentials from the environment only.
fn cli_lookup(endpoint: &str, key: &str, secret: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["lookup-events", "--endpoint-url"])
        .arg(format!("http://{endpoint}"))
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "eu-central-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap()
}

#[test]
fn metrics_can_be_kept_to_principals() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(
        &config_path,
        format!("{CONFIG}\n[metrics]\nrequire_principal = true\n"),
    )
    .unwrap();
    let server = TestServer::start(&dir.path().join("data"), Some(&config_path), &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let status = |authorization: Option<String>| {
        let mut request = agent.get(format!("http://{}/metrics", server.endpoint));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.call().unwrap().status().as_u16()
    };
    let basic = |key: &str, secret: &str| {
        let pair = format!("{key}:{secret}");
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    };
    let alice = &scenario_principals()["alice"];
    let key = alice["access_key_id"].as_str().unwrap();
    assert_eq!(status(None), 401);
    assert_eq!(status(basic(key, "not-the-secret")), 401);
    assert_eq!(
        status(basic(key, alice["secret_access_key"].as_str().unwrap())),
        200
    );
    server.stop_cleanly();
}

#[test]
fn slow_clients_oversized_headers_and_too_many_connections_are_held_off() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(
        &config_path,
        format!(
            "{CONFIG}\n[limits]\nheader_timeout_secs = 1\nmax_header_bytes = 8192\n\
             max_connections = 2\n"
        ),
    )
    .unwrap();
    let server = TestServer::start(&dir.path().join("data"), Some(&config_path), &[]);
    let connect = || {
        let stream = TcpStream::connect(&server.endpoint).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    };
    let answer = |stream: &mut TcpStream| {
        let mut text = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    text.extend_from_slice(&buffer[..n]);
                    if text.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    };

    // A client that trickles its headers is cut off once its time is up.
    let mut slow = connect();
    let started = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: cairn\r\n")
        .unwrap();
    let mut cut = false;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        if slow.write_all(b"X").is_err() {
            cut = true;
            break;
        }
    }
    let rest = answer(&mut slow);
    assert!(cut || !rest.contains("200 OK"), "{rest}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    // Headers larger than the limit are refused with 431.
    let mut large = connect();
    let header = format!(
        "GET /health HTTP/1.1\r\nHost: cairn\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = large.write_all(header.as_bytes());
    let refused = answer(&mut large);
    assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");

    // Two idle connections hold both slots: a third request waits until they are cut off.
    let idle = [connect(), connect()];
    std::thread::sleep(Duration::from_millis(200));
    let mut third = connect();
    let asked = Instant::now();
    third
        .write_all(b"GET /health HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answered = answer(&mut third);
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        asked.elapsed() >= Duration::from_millis(500),
        "answered after {:?}, while two connections held the two slots",
        asked.elapsed()
    );
    drop(idle);
    server.stop_cleanly();
}

#[test]
fn lookup_events_can_be_held_to_aws_rate() {
    use cairn::lookup_events::{ApiClient, ClientCredentials};
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(
        &config_path,
        format!("{CONFIG}\n[limits]\nlookup_events_per_second = 2\n"),
    )
    .unwrap();
    let server = TestServer::start(&dir.path().join("data"), Some(&config_path), &[]);
    let alice = &scenario_principals()["alice"];
    let credentials = ClientCredentials {
        access_key_id: alice["access_key_id"].as_str().unwrap().to_owned(),
        secret_access_key: alice["secret_access_key"].as_str().unwrap().to_owned(),
        session_token: None,
        region: None,
    };
    let client =
        ApiClient::new(&format!("http://{}", server.endpoint), credentials, REGION).unwrap();
    let codes: Vec<Option<String>> = (0..3)
        .map(|_| {
            let answer = client.call("LookupEvents", b"{}").unwrap();
            answer.body["__type"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(codes[..2], [None, None], "{codes:?}");
    assert_eq!(
        codes[2].as_deref(),
        Some("ThrottlingException"),
        "{codes:?}"
    );
    // Other operations are not held to LookupEvents' rate.
    let trails = client.call("DescribeTrails", b"{}").unwrap();
    assert!(trails.body["__type"].is_null(), "{:?}", trails.body);
    server.stop_cleanly();
}
