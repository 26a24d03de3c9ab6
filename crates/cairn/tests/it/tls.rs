//! `cairn serve --tls-cert --tls-key`: the aws CLI and boto3 over HTTPS, against a CA the test
//! makes (`tests/clients/tls.py`), and a clear refusal of a key that does not fit.

use std::process::Command;

use serde_json::json;

use crate::api::venv_python;
use crate::api::{CONFIG, REGION, TestServer, run_client, run_scenario, scenario_principals};

#[test]
fn the_aws_cli_and_boto3_call_cairn_over_https() {
    let dir = tempfile::tempdir().unwrap();
    run_client("tls.py", &[dir.path().as_os_str(), "certs".as_ref()]);
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let env = [
        ("CAIRN_TLS_CERT", cert.to_str().unwrap()),
        ("CAIRN_TLS_KEY", key.to_str().unwrap()),
    ];
    let server = TestServer::start(&dir.path().join("data"), Some(&config_path), &env);
    let scenario = json!({
        "endpoint": format!("https://{}", server.endpoint),
        "region": REGION,
        "principals": scenario_principals(),
        "ca": dir.path().join("ca.pem"),
        "aws": venv_python().with_file_name("aws"),
    });
    run_scenario(dir.path(), "tls.py", &scenario, &["check"]);

    // cairn's own client commands check the server as the aws CLI does.
    let alice = &scenario_principals()["alice"];
    let cairn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("AWS_PROFILE")
            .env(
                "AWS_ACCESS_KEY_ID",
                alice["access_key_id"].as_str().unwrap(),
            )
            .env(
                "AWS_SECRET_ACCESS_KEY",
                alice["secret_access_key"].as_str().unwrap(),
            )
            .env("AWS_REGION", REGION)
            .output()
            .unwrap()
    };
    let endpoint = format!("https://{}", server.endpoint);
    let ca = dir.path().join("ca.pem");
    let lookup = [
        "lookup-events",
        "--endpoint-url",
        &endpoint,
        "--max-items",
        "1",
    ];
    let verified = cairn(&[&lookup[..], &["--ca-bundle", ca.to_str().unwrap()]].concat());
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(
        printed["Events"].as_array().map(Vec::len),
        Some(1),
        "{printed}"
    );
    let refused = cairn(&lookup);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    let unverified = cairn(&[&lookup[..], &["--no-verify-ssl"]].concat());
    assert!(unverified.status.success());
    server.stop_cleanly();

    // A key that is not the certificate's stops cairn before it listens, naming both files.
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    run_client(
        "tls.py",
        &[dir.path().join("other").as_os_str(), "certs".as_ref()],
    );
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config_path)
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(dir.path().join("other/key.pem"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("does not fit the certificate"), "{stderr}");
    assert!(stderr.contains("key.pem"), "{stderr}");
}
