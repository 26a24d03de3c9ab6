//! Crashes and what they leave. Damaged tails of every kind of file in a data directory: the
//! event log, the manifest, log cursors, catalog documents, segments and their indexes, each
//! truncated, zero-filled and overwritten with garbage at its end. cairn recovers (the newest
//! log file's tail: an unfinished append, whose bytes it keeps beside the file), or refuses to
//! start with an error that names the file. It never starts as if nothing had happened with
//! events missing. And a short run of the crash-loop benchmark (`cairn bench crash-loop`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_model::Record;
use cairn_server::trails::Trails;
use cairn_store::{LogCursor, Store, StoreOptions, Visibility};

fn record(n: usize) -> Record {
    Record::parse(&format!(
        r#"{{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:{:02}Z","eventID":"00000000-0000-4000-8000-{n:012}","eventName":"RunInstances","eventSource":"ec2.amazonaws.com","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser","userName":"alice"}}}}"#,
        n % 60
    ))
    .unwrap()
}

const SEALED: usize = 12;
const LOGGED: usize = 6;

/// A data directory with a sealed segment, two log files (a cursor keeps the first), a cursor
/// and a catalog document of trails.
fn make_data_dir(dir: &Path) {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let start = store.log_end().unwrap();
    store
        .save_log_cursor(
            "trail-x",
            &LogCursor {
                position: start,
                state: serde_json::json!({"delivered": 0}),
            },
        )
        .unwrap();
    store.append((0..SEALED).map(record).collect()).unwrap();
    store.seal().unwrap();
    store
        .append((SEALED..SEALED + LOGGED).map(record).collect())
        .unwrap();
    store
        .write_document(
            "trails.json",
            br#"{"version":1,"trails":[]}"#,
            Visibility::Plain,
        )
        .unwrap();
    store.close();
}

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// The last third of the file is gone.
    Truncated,
    /// The last third reads as zeros (blocks a crash left unwritten).
    ZeroFilled,
    /// The last third is other bytes.
    Garbage,
}

fn damage(path: &Path, how: Damage) {
    let mut bytes = std::fs::read(path).unwrap();
    let keep = bytes.len() * 2 / 3;
    match how {
        Damage::Truncated => bytes.truncate(keep),
        Damage::ZeroFilled => bytes[keep..].fill(0),
        Damage::Garbage => {
            for (i, b) in bytes[keep..].iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(31).wrapping_add(7);
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
}

/// What opening the damaged directory (the store, then the trails, as `cairn serve` starts)
/// gave: the events it holds, or the error.
fn open(dir: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let store = Arc::new(Store::open(dir, StoreOptions::default()).map_err(|e| e.to_string())?);
    Trails::load(store.clone())?;
    let mut ids = Vec::new();
    store
        .for_each_record(|text| {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            ids.push(value["eventID"].as_str().unwrap().to_owned());
        })
        .map_err(|e| e.to_string())?;
    ids.sort();
    // The trail's deliverer reads the log from its cursor: every event, or an error naming
    // the file it could not read.
    let mut position = store.log_cursor("trail-x").unwrap().unwrap().position;
    let end = store.log_end().unwrap();
    let mut from_log = Vec::new();
    while position != end {
        let chunk = store
            .read_log(position, end, 1 << 20)
            .map_err(|e| e.to_string())?;
        for text in &chunk.records {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            from_log.push(value["eventID"].as_str().unwrap().to_owned());
        }
        position = chunk.end;
    }
    from_log.sort();
    assert_eq!(from_log, ids, "the log and the store hold other events");
    let warnings = store.recovery().warnings();
    Ok((ids, warnings))
}

fn all_ids() -> Vec<String> {
    let mut ids: Vec<String> = (0..SEALED + LOGGED)
        .map(|n| format!("00000000-0000-4000-8000-{n:012}"))
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_damaged_file_is_recovered_or_named_never_silently_lost() {
    let pristine = tempfile::tempdir().unwrap();
    make_data_dir(pristine.path());
    assert_eq!(open(pristine.path()).unwrap(), (all_ids(), Vec::new()));

    // Where each kind of file is, in a copy of the directory.
    type Locate = fn(&Path) -> PathBuf;
    let kinds: Vec<(&str, Locate)> = vec![
        ("newest log file", |d| {
            files_in(&d.join("wal"), "wal").pop().unwrap()
        }),
        ("older log file", |d| {
            files_in(&d.join("wal"), "wal")[0].clone()
        }),
        ("manifest", |d| d.join("MANIFEST")),
        ("log cursor", |d| d.join("cursors/trail-x.json")),
        ("catalog document", |d| d.join("catalog/trails.json")),
        ("segment", |d| {
            files_in(&d.join("segments"), "parquet")[0].clone()
        }),
        ("segment index", |d| {
            files_in(&d.join("segments"), "idx")[0].clone()
        }),
    ];
    let mut outcomes = Vec::new();
    for (kind, locate) in kinds {
        for how in [Damage::Truncated, Damage::ZeroFilled, Damage::Garbage] {
            let copy = tempfile::tempdir().unwrap();
            copy_tree(pristine.path(), copy.path());
            let file = locate(copy.path());
            damage(&file, how);
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            match open(copy.path()) {
                Err(message) => {
                    assert!(
                        message.contains(&name),
                        "{kind} {how:?}: the error does not name {name}: {message}"
                    );
                    outcomes.push(format!("{kind} {how:?}: refused, naming {name}"));
                }
                Ok((ids, warnings)) if ids == all_ids() => {
                    assert!(warnings.is_empty(), "{kind} {how:?}: {warnings:?}");
                    outcomes.push(format!("{kind} {how:?}: recovered, nothing lost"));
                }
                Ok((ids, warnings)) => {
                    // Only the newest log file's tail may be cut, and never silently: the
                    // events lost are those of its damaged part, whose bytes are kept.
                    assert_eq!(
                        kind, "newest log file",
                        "{kind} {how:?}: events went missing"
                    );
                    assert_eq!(warnings.len(), 1, "{kind} {how:?}: {warnings:?}");
                    assert!(warnings[0].contains(&name), "{warnings:?}");
                    let kept = files_in(&copy.path().join("wal"), "wal")
                        .pop()
                        .unwrap()
                        .with_extension("");
                    let tails: Vec<_> = std::fs::read_dir(copy.path().join("wal"))
                        .unwrap()
                        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .filter(|n| n.contains(".torn-at-"))
                        .collect();
                    assert_eq!(tails.len(), 1, "{kept:?}");
                    assert!(ids.iter().all(|id| all_ids().contains(id)));
                    outcomes.push(format!(
                        "{kind} {how:?}: cut, {} events of the damaged tail kept in {}",
                        all_ids().len() - ids.len(),
                        tails[0]
                    ));
                    // Opening again finds nothing more to cut.
                    assert_eq!(open(copy.path()).unwrap(), (ids, Vec::new()));
                }
            }
        }
    }
    eprintln!("{}", outcomes.join("\n"));
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_short_crash_loop_loses_and_repeats_nothing() {
    // Five rounds of `cairn bench crash-loop` (the committed fault benchmark runs 100): it
    // fails unless every promise held after every kill.
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "bench",
            "crash-loop",
            "--rounds",
            "5",
            "--max-round-ms",
            "1200",
        ])
        .arg("--dir")
        .arg(dir.path().join("crash-loop"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("lost: 0 acknowledged events; duplicated: 0 events stored twice, 0 delivered twice; catalog entries missing: 0"),
        "{stdout}"
    );
    assert!(stdout.contains("round   5: killed after"), "{stdout}");
}
