//! cairn's integration tests, one binary: real CloudTrail records (the repository's
//! `testdata/`, and `../shared/datasets` where it exists) through the importer and the store,
//! and the `cairn` command as a user runs it.

mod api;
mod capture;
mod cli;
mod console;
mod damaged_files;
mod datasets;
mod delivery;
mod lake;
mod rules;
mod tls;
mod trails;

use std::path::PathBuf;

/// The repository's `testdata/` folder.
fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// The real CloudTrail records copied into the repository (`testdata/datasets`, sources and
/// licences in its README).
pub fn datasets_dir() -> PathBuf {
    testdata().join("datasets")
}

/// Files written for the tests that are not CloudTrail events (`testdata/odd-files`).
pub fn odd_files_dir() -> PathBuf {
    testdata().join("odd-files")
}

/// The developers' larger collection, `../shared/datasets` beside the project root, when it
/// exists (a fresh clone has none): extra coverage. Says so on stderr when it is absent.
pub fn shared_datasets_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent (extra coverage only)", dir.display());
        None
    }
}

/// Runs `cairn bench ARGS... --data-dir <a temporary folder>`; what it printed, once it
/// succeeded.
pub fn run_bench(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("bench")
        .args(args)
        .arg("--data-dir")
        .arg(dir.path().join("bench"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
