//! cairn's integration tests, one binary: the datasets in `../shared/datasets` through the
//! importer and the store, and the `cairn` command as a user runs it.

mod api;
mod capture;
mod cli;
mod datasets;
mod delivery;
mod trails;

use std::path::PathBuf;

/// `../shared/datasets` beside the project root.
pub fn datasets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
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
