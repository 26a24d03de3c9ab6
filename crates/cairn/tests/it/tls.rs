//! `cairn serve --tls-cert --tls-key`: the aws CLI and boto3 over HTTPS, against a CA the test
//! makes (`tests/clients/tls.py`), and a clear refusal of a key that does not fit.

use std::process::Command;

use serde_json::json;

use crate::api::{CONFIG, REGION, TestServer, run_scenario, scenario_principals, venv_python};

/// A CA, and a certificate and key for 127.0.0.1 it signed, in `dir` (scripts/make_certs.py).
fn make_certs(dir: &std::path::Path) {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make_certs.py");
    let made = Command::new(venv_python())
        .arg(script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}

#[test]
fn the_aws_cli_and_boto3_call_cairn_over_https() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
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
    run_scenario(dir.path(), "tls.py", &scenario, &[]);

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
    make_certs(&dir.path().join("other"));
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

#[test]
fn the_tls_benchmark_calls_over_http_and_https() {
    let python = venv_python();
    let stdout = crate::run_bench(&[
        "tls",
        "--requests",
        "20",
        "--python",
        python.to_str().unwrap(),
    ]);
    assert!(
        stdout.contains("HTTP : new connection + LookupEvents p50"),
        "{stdout}"
    );
    assert!(
        stdout.contains("HTTPS: new connection + LookupEvents p50"),
        "{stdout}"
    );
}
