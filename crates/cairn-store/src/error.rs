//! The store's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {dir} is in use by another cairn process ({holder})")]
    Locked { dir: PathBuf, holder: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("corrupt {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path} has store format version {found}; this cairn reads version {supported}")]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("parquet {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("the store stopped accepting writes after an earlier failure: {0}")]
    Failed(String),
    #[error("the store is shutting down")]
    ShuttingDown,
    #[error("{0:?} is not a catalog document name (1-64 of a-z, 0-9, '.', '_', '-')")]
    InvalidName(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Adds what was being done to an I/O error.
pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            context: context(),
            source,
        })
    }
}

impl StoreError {
    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

impl StoreError {
    /// Whether the data directory's filesystem is full.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
    }
}
