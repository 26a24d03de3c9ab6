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
