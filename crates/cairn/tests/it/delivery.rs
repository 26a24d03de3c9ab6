//! Trail delivery against a real S3-compatible server (moto_server from PyPI): log files in
//! AWS's layout, signed digests, and the unmodified `aws cloudtrail validate-logs`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::{CONFIG, REGION, TestServer, run_client, scenario_principals, venv_python};

/// A moto_server on 127.0.0.1 with a free port, killed when dropped.
pub(crate) struct MotoServer {
    child: Child,
    pub(crate) endpoint: String,
}

impl MotoServer {
    pub(crate) fn start() -> MotoServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let moto = venv_python().with_file_name("moto_server");
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", moto.display()));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn aws_cli_validates_delivered_logs_and_catches_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let moto = MotoServer::start();
    let server = TestServer::start(
        &dir.path().join("data"),
        Some(&config_path),
        &[
            ("CAIRN_DELIVERY_TARGET", "s3"),
            ("AWS_ENDPOINT_URL_S3", &moto.endpoint),
            ("AWS_ACCESS_KEY_ID", "moto"),
            ("AWS_SECRET_ACCESS_KEY", "moto"),
            ("AWS_REGION", REGION),
            ("AWS_ALLOW_HTTP", "true"),
            ("CAIRN_DELIVERY_INTERVAL_SECS", "1"),
            ("CAIRN_DIGEST_INTERVAL_SECS", "2"),
        ],
    );
    let aws: PathBuf = venv_python().with_file_name("aws");
    let scenario = json!({
        "endpoint": format!("http://{}", server.endpoint),
        "region": REGION,
        "principals": scenario_principals(),
        "s3_endpoint": moto.endpoint,
        "aws": aws,
    });
    let scenario_path = dir.path().join("scenario.json");
    std::fs::write(&scenario_path, scenario.to_string()).unwrap();
    run_client("delivery.py", &[scenario_path.as_os_str()]);
    let (status, printed) = server.stop();
    assert!(
        status.success(),
        "cairn serve exited with {status}: {printed}"
    );
}

#[test]
fn each_event_is_delivered_exactly_once_across_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let bucket_dir = data_dir.join("buckets/crash-bucket");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let scenario_path = dir.path().join("scenario.json");
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
        std::fs::write(&scenario_path, scenario.to_string()).unwrap();
        run_client(
            "delivery_crash.py",
            &[scenario_path.as_os_str(), phase.as_ref()],
        );
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
    let (status, printed) = server.stop();
    assert!(
        status.success(),
        "cairn serve exited with {status}: {printed}"
    );
}
