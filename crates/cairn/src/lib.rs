//! The `cairn` command: its subcommands as a library, so that tests drive them directly.
//!
//! - [`import`]: `cairn import`, reading delivered log files and exports into the store;
//! - [`lookup_events`]: `cairn lookup-events`, event history from the command line;
//! - [`serve`]: `cairn serve`, the API server;
//! - [`validate_logs`]: `cairn validate-logs`, integrity validation of a trail's log files;
//! - [`bench`]: `cairn bench`, the generator of realistic trail log files and the benchmark.

pub mod bench;
pub mod import;
pub mod lookup_events;
pub mod query;
pub mod serve;
pub mod validate_logs;

use std::path::{Path, PathBuf};

use cairn_store::{Store, StoreOptions};

/// The data directory when none is given.
pub const DEFAULT_DATA_DIR: &str = "./cairn-data";

/// Store options from the command line.
pub fn store_options(retention_days: Option<u32>) -> StoreOptions {
    StoreOptions {
        retention_days,
        ..StoreOptions::default()
    }
}

/// Opens the store of `dir` for a command, telling on standard error what recovery found that
/// a person should know (a damaged log tail, where its bytes were kept).
pub fn open_store(dir: &Path, retention_days: Option<u32>) -> cairn_store::Result<Store> {
    let store = Store::open(dir, store_options(retention_days))?;
    for warning in store.recovery().warnings() {
        eprintln!("cairn: warning: {warning}");
    }
    Ok(store)
}

/// The data directory argument shared by the subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDirArgs {
    /// Where cairn keeps its data.
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Keep events for this many days (by eventTime); default: keep everything.
    #[arg(long, env = "CAIRN_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
}
