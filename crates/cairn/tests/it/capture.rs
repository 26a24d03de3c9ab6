//! The capture proxy against a real upstream (moto_server) and real clients (boto3): calls to
//! EC2, EBS, SSM, CloudWatch, EC2 Instance Connect and S3 through cairn become their
//! CloudTrail events; a SecureString's value is stored nowhere.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::api::{CONFIG, REGION, TestServer, run_scenario, scenario_principals};
use crate::delivery::start_moto;

const SECRET: &str = "correct-horse-battery-staple-7f3a";

#[test]
fn calls_through_cairn_become_their_cloudtrail_events() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("cairn.toml");
    // Bodies above 2 MiB are not read whole: the test's 3 MiB upload must stream through
    // (moto's DescribeImages answer, 1.2 MB, is still read whole).
    std::fs::write(
        &config_path,
        format!("{CONFIG}\n[capture]\nmax_body_bytes = 2097152\n"),
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    let moto = start_moto();
    let server = TestServer::start(
        &data_dir,
        Some(&config_path),
        &[
            ("CAIRN_UPSTREAM", moto.endpoint.as_str()),
            ("CAIRN_DELIVERY_INTERVAL_SECS", "1"),
        ],
    );
    let scenario = json!({
        "endpoint": format!("http://{}", server.endpoint),
        "region": REGION,
        "principals": scenario_principals(),
        "bucket_dir": data_dir.join("buckets/data-event-bucket"),
        "secret": SECRET,
    });
    run_scenario(dir.path(), "capture.py", &scenario, &[]);
    server.stop_cleanly();

    // The secret is in no file of the data directory (gzipped ones read unzipped) ...
    assert_secret_absent(&data_dir);
    // ... and in no stored event, read back through the store.
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["lookup-events", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    let events = String::from_utf8_lossy(&output.stdout);
    assert!(
        events.contains("PutParameter"),
        "the PutParameter event is missing"
    );
    assert!(
        !events.contains(SECRET),
        "the SecureString value is in an event"
    );
}

fn assert_secret_absent(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_secret_absent(&path);
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut unzipped = Vec::new();
            flate2::read::MultiGzDecoder::new(bytes.as_slice())
                .read_to_end(&mut unzipped)
                .unwrap();
            bytes = unzipped;
        }
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the SecureString value is in {}",
            path.display()
        );
    }
}

#[test]
fn the_capture_benchmark_records_every_call_it_makes() {
    // A small run of `cairn bench capture`: it fails unless every call through cairn was
    // answered and recorded; no timing is asserted.
    let stdout = crate::run_bench(&["capture", "--rate", "50", "--seconds", "1"]);
    assert!(stdout.contains("added:   p50"), "{stdout}");
    // How many calls fit in the second depends on the machine's load; each must be recorded.
    let (events, calls) = stdout
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("recorded: ")?;
            let (events, rest) = rest.split_once(" DescribeParameters events for ")?;
            let calls = rest.split_whitespace().next()?;
            Some((events.parse::<u32>().ok()?, calls.parse::<u32>().ok()?))
        })
        .unwrap_or_else(|| panic!("no recorded line: {stdout}"));
    assert!(events == calls && calls >= 25, "{stdout}");
}

/// A small tmpfs mounted at a folder of its own, unmounted when dropped; `None` where this
/// process may not mount (the test then says it was skipped).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!("skipped: this process may not mount a tmpfs to fill up");
            return None;
        }
        Some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_refuses_captured_calls_until_space_returns() {
    let Some(disk) = SmallDisk::mount(16 << 20) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let data_dir = disk.0.path().join("data");
    let moto = start_moto();
    let server = TestServer::start(
        &data_dir,
        Some(&config_path),
        &[("CAIRN_UPSTREAM", moto.endpoint.as_str())],
    );
    // Fill the disk but for a little room, with files to give back later.
    let mut fillers = Vec::new();
    for i in 0.. {
        let path = disk.0.path().join(format!("filler-{i}"));
        match std::fs::write(&path, vec![1u8; 256 << 10]) {
            Ok(()) => fillers.push(path),
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                break;
            }
        }
    }
    // A little more than cairn's write reserve (1 MiB) is left: some calls go through first.
    for _ in 0..5 {
        std::fs::remove_file(fillers.pop().unwrap()).unwrap();
    }
    let scenario = json!({
        "endpoint": format!("http://{}", server.endpoint),
        "region": REGION,
        "principals": scenario_principals(),
        "moto": moto.endpoint,
        "made": dir.path().join("made.json"),
    });
    run_scenario(dir.path(), "full_disk.py", &scenario, &["fill"]);
    // Then the reserve too, to the last byte: a read's own event cannot be stored now.
    for i in 0.. {
        let path = disk.0.path().join(format!("last-{i}"));
        match std::fs::write(&path, vec![1u8; 4 << 10]) {
            Ok(()) => fillers.push(path),
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                break;
            }
        }
    }
    run_scenario(dir.path(), "full_disk.py", &scenario, &["read"]);
    for filler in &fillers {
        std::fs::remove_file(filler).unwrap();
    }
    run_scenario(dir.path(), "full_disk.py", &scenario, &["resume"]);
    server.stop_cleanly();
}
