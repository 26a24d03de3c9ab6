//! Trail delivery, one conformance suite run against both targets: a real S3-compatible server
//! (moto_server from PyPI) and local folders. Log files in AWS's layout, signed digests,
//! `cairn validate-logs` and the unmodified `aws cloudtrail validate-logs`, a bucket that goes
//! away and comes back; and exactly-once delivery across crashes.

use std::process::Command;

use cairn::bench::delivery::Moto;
use serde_json::json;

use crate::api::{CONFIG, REGION, TestServer, run_scenario, scenario_principals, venv_python};

/// A moto_server from the project's `.venv` on a free port, killed when dropped.
pub(crate) fn start_moto() -> Moto {
    Moto::start(&venv_python().with_file_name("moto_server")).expect("starting moto_server")
}

/// Runs the conformance client (`delivery.py`) against a server delivering to `target`
/// ("s3" or "local"), then stops the server.
fn run_conformance(target: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let data_dir = dir.path().join("data");
    let buckets_dir = dir.path().join("buckets");
    std::fs::create_dir_all(&buckets_dir).unwrap();
    let moto = (target == "s3").then(start_moto);
    let mut env = vec![
        ("CAIRN_DELIVERY_INTERVAL_SECS", "1".to_owned()),
        ("CAIRN_DIGEST_INTERVAL_SECS", "2".to_owned()),
    ];
    match &moto {
        Some(moto) => env.extend([
            ("CAIRN_DELIVERY_TARGET", "s3".to_owned()),
            ("AWS_ENDPOINT_URL_S3", moto.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "moto".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "moto".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]),
        None => env.extend([
            ("CAIRN_DELIVERY_TARGET", "local".to_owned()),
            ("CAIRN_BUCKETS_DIR", buckets_dir.display().to_string()),
        ]),
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start(&data_dir, Some(&config_path), &env);
    let mut scenario = json!({
        "endpoint": format!("http://{}", server.endpoint),
        "region": REGION,
        "principals": scenario_principals(),
        "target": target,
        "cairn": env!("CARGO_BIN_EXE_cairn"),
        "data_dir": data_dir,
        "buckets_dir": buckets_dir,
    });
    if let Some(moto) = &moto {
        scenario["s3_endpoint"] = json!(moto.endpoint);
        scenario["aws"] = json!(venv_python().with_file_name("aws"));
    }
    run_scenario(dir.path(), "delivery.py", &scenario, &[]);
    server.stop_cleanly();
    dir
}

#[test]
fn delivery_conforms_on_an_s3_server() {
    run_conformance("s3");
}

#[test]
fn delivery_conforms_on_local_folders() {
    let dir = run_conformance("local");
    // With the server stopped, `cairn validate-logs` reads the trail and keys from the data
    // directory itself; the three digests the client deleted are still gone.
    let arn = format!(
        "arn:aws:cloudtrail:{REGION}:{}:trail/audited",
        scenario_principals()["alice"]["account"].as_str().unwrap()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["validate-logs", "--trail-arn", &arn, "--start-time", "0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("CAIRN_BUCKETS_DIR", dir.path().join("buckets"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(
        stderr.matches("\tINVALID: not found").count(),
        3,
        "{stderr}"
    );
    assert!(stdout.contains("digest files INVALID"), "{stdout}");
}

/// moto_server with every resource in alice's account, and a configuration in `dir` that
/// makes it cairn's upstream for every service.
fn moto_around(dir: &std::path::Path) -> (Moto, std::path::PathBuf) {
    let account = scenario_principals()["alice"]["account"]
        .as_str()
        .unwrap()
        .to_owned();
    let moto = Moto::start_with(
        &venv_python().with_file_name("moto_server"),
        &[("MOTO_ACCOUNT_ID", &account)],
    )
    .expect("starting moto_server");
    let config_path = dir.join("cairn.toml");
    std::fs::write(
        &config_path,
        format!("{CONFIG}\n[capture]\nupstream = \"{}\"\n", moto.endpoint),
    )
    .unwrap();
    (moto, config_path)
}

/// The environment of a server that delivers every second to moto_server at `endpoint`.
fn delivery_to_moto(endpoint: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("CAIRN_DELIVERY_INTERVAL_SECS", "1"),
        ("CAIRN_DELIVERY_TARGET", "s3"),
        ("AWS_ENDPOINT_URL_S3", endpoint),
        ("AWS_ACCESS_KEY_ID", "moto"),
        ("AWS_SECRET_ACCESS_KEY", "moto"),
        ("AWS_REGION", REGION),
        ("AWS_ALLOW_HTTP", "true"),
    ]
}

#[test]
fn trails_notify_sns_and_encrypt_with_kms_on_the_services_around_them() {
    // moto_server is the S3 target and cairn's upstream for every other service, with every
    // resource in alice's account.
    let dir = tempfile::tempdir().unwrap();
    let (moto, config_path) = moto_around(dir.path());
    let mut env = delivery_to_moto(&moto.endpoint);
    env.push(("CAIRN_DIGEST_INTERVAL_SECS", "2"));
    let server = TestServer::start(&dir.path().join("data"), Some(&config_path), &env);
    let scenario = json!({
        "endpoint": format!("http://{}", server.endpoint),
        "region": REGION,
        "principals": scenario_principals(),
        "moto": moto.endpoint,
    });
    run_scenario(dir.path(), "notifications.py", &scenario, &[]);
    server.stop_cleanly();
}

#[test]
fn a_trail_sends_each_event_once_to_cloudwatch_logs_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (moto, config_path) = moto_around(dir.path());
    let calls = 12;
    let calls_text = calls.to_string();
    let mut env = delivery_to_moto(&moto.endpoint);
    let data_dir = dir.path().join("data");
    let client = |server: &TestServer, phase: &str| {
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": scenario_principals(),
            "moto": moto.endpoint,
            "calls": calls,
        });
        run_scenario(dir.path(), "cloudwatch_logs.py", &scenario, &[phase]);
    };
    // The server dies right after sending the calls' events, before noting them sent.
    let mut crashing = env.clone();
    crashing.push(("CAIRN_TEST_CRASH_AFTER_LOG_EVENTS", &calls_text));
    let mut server = TestServer::start(&data_dir, Some(&config_path), &crashing);
    client(&server, "start");
    let status = server.wait();
    assert!(!status.success(), "the crash hook did not fire");
    env.push(("CAIRN_DIGEST_INTERVAL_SECS", "3600"));
    let server = TestServer::start(&data_dir, Some(&config_path), &env);
    client(&server, "check");
    server.stop_cleanly();
}

#[test]
fn each_event_is_delivered_exactly_once_across_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let bucket_dir = data_dir.join("buckets/crash-bucket");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let fast = [("CAIRN_DELIVERY_INTERVAL_SECS", "1")];
    let crashing = [
        ("CAIRN_DELIVERY_INTERVAL_SECS", "1"),
        ("CAIRN_TEST_CRASH_AFTER_DELIVERY", "1"),
    ];
    let client = |server: &TestServer, phase: &str| {
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": scenario_principals(),
            "bucket_dir": bucket_dir,
        });
        run_scenario(dir.path(), "delivery_crash.py", &scenario, &[phase]);
    };

    let server = TestServer::start(&data_dir, Some(&config_path), &fast);
    client(&server, "start");
    server.stop();
    // Twice: the server dies right after writing a batch's log files, before saving its
    // cursor; the restarted server must not deliver that batch again, nor lose any event.
    for _ in 0..2 {
        let mut server = TestServer::start(&data_dir, Some(&config_path), &crashing);
        client(&server, "load");
        let status = server.wait();
        assert!(!status.success(), "the crash hook did not fire");
    }
    // And a kill -9 at whatever moment the load reaches.
    let mut server = TestServer::start(&data_dir, Some(&config_path), &fast);
    client(&server, "load");
    server.kill();
    let server = TestServer::start(&data_dir, Some(&config_path), &fast);
    client(&server, "load");
    client(&server, "check");
    server.stop_cleanly();
}

#[test]
fn the_delivery_benchmark_delivers_each_selected_event_once() {
    // A small run of `cairn bench delivery`: it fails unless every selected event of the
    // backlog was delivered exactly once and every event of the steady load arrived.
    // With --cloudwatch-logs it also fails unless moto's log group holds each event once.
    let moto_server = venv_python().with_file_name("moto_server");
    let stdout = crate::run_bench(&[
        "delivery",
        "--events",
        "3000",
        "--lag-rate",
        "500",
        "--lag-seconds",
        "2",
        "--cloudwatch-logs",
        "--moto-server",
        moto_server.to_str().unwrap(),
    ]);
    assert!(
        stdout.contains("throughput: 3000 events stored"),
        "{stdout}"
    );
    assert!(stdout.contains("lag: "), "{stdout}");
    assert!(stdout.contains("CloudWatch Logs: "), "{stdout}");
}
