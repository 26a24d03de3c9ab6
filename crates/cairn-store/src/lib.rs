//! cairn-store: cairn's durable event store. It owns the data directory: the write-ahead log
//! where an event becomes durable before it is acknowledged, the memtable where it is visible at
//! once, the sealed Parquet segments where it lives afterwards, their lookup index, and
//! retention. No HTTP, no CLI.
//!
//! Start at [`Store`]; the data directory layout and the life of an event are described in
//! `store.rs`, each on-disk format at the top of the module that owns it (`wal.rs`,
//! `manifest.rs`, `segment/mod.rs`, `segment/shred.rs`, `segment/index.rs`, `catalog.rs`,
//! `log_cursor.rs`).

pub mod catalog;
mod error;
mod lock;
pub mod log_cursor;
mod manifest;
mod memtable;
mod readers;
pub mod segment;
mod store;
pub mod wal;

pub use catalog::Visibility;
pub use error::{Result, StoreError};
pub use log_cursor::{LogChunk, LogCursor, LogPosition};
pub use segment::scan::{FieldScan, ValueSet, Wanted};
pub use store::{
    AppendStatus, LookupPage, RecoveryReport, Snapshot, Store, StoreOptions, StoreStats,
};
