//! EventBridge-style rules (`cairn serve` answers the `events` API): the aws CLI and boto3
//! make a rule on SendSSHPublicKey with an API destination, the key pushes are captured through
//! cairn's proxy in front of moto_server, and a webhook receiver started here gets them, also
//! after it was down and cairn was killed with SIGKILL in between (`tests/clients/rules.py`).

use std::net::TcpListener;
use std::process::{Child, Command};

use cairn::bench::delivery::Moto;
use serde_json::json;

use crate::api::{CONFIG, REGION, TestServer, run_scenario, scenario_principals, venv_python};

/// `tests/clients/webhook_receiver.py` on `port`, appending what it gets to `file`.
struct Receiver(Child);

impl Receiver {
    fn start(port: u16, file: &std::path::Path) -> Receiver {
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/clients/webhook_receiver.py");
        let child = Command::new(venv_python())
            .arg(script)
            .arg(port.to_string())
            .arg(file)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the receiver did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Receiver(child)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn rules_deliver_matched_events_to_a_webhook_at_least_once() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(&venv_python().with_file_name("moto_server")).expect("moto_server");
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(
        &config_path,
        format!("{CONFIG}\n[capture]\nupstream = \"{}\"\n", moto.endpoint),
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let received = dir.path().join("received.jsonl");
    let data_dir = dir.path().join("data");
    let run = |server: &TestServer, phase: &str| {
        let scenario = json!({
            "endpoint": format!("http://{}", server.endpoint),
            "region": REGION,
            "principals": scenario_principals(),
            "receiver_port": port,
            "received": received,
            "pushed": dir.path().join("pushed.json"),
            "aws": venv_python().with_file_name("aws"),
            "moto": moto.endpoint,
        });
        run_scenario(dir.path(), "rules.py", &scenario, &[phase]);
    };
    let receiver = Receiver::start(port, &received);
    // The credentials cairn signs its own calls of other services with (dead letters to SQS).
    let env = [
        ("AWS_ACCESS_KEY_ID", "moto"),
        ("AWS_SECRET_ACCESS_KEY", "moto"),
    ];
    let mut server = TestServer::start(&data_dir, Some(&config_path), &env);
    run(&server, "setup");
    // The webhook goes down; three keys are pushed; cairn is killed before it could deliver.
    drop(receiver);
    run(&server, "push");
    server.kill();
    let server = TestServer::start(&data_dir, Some(&config_path), &env);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let _receiver = Receiver::start(port, &received);
    run(&server, "check");
    server.stop_cleanly();
}

#[test]
fn the_rules_benchmark_posts_every_matched_event() {
    // A small run of `cairn bench rules`: it fails unless every event the first rule takes
    // reached its webhook.
    let stdout = crate::run_bench(&[
        "rules",
        "--events",
        "5000",
        "--rate",
        "500",
        "--seconds",
        "2",
    ]);
    assert!(
        stdout.contains("matching: 5000 events offered to 100 rules"),
        "{stdout}"
    );
    assert!(stdout.contains("latency: "), "{stdout}");
}
