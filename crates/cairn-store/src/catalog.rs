//! The catalog: small named documents the service keeps beside its events (trails and their
//! delivery state, signing keys), each replaced atomically. The store does not interpret them;
//! their owners document their formats.
//!
//! # On-disk format, version 1
//!
//! `catalog/<name>` holds the document's bytes exactly as given; `<name>` is 1–64 of
//! `[a-z0-9._-]`, not starting with `.`. A document is replaced by writing `<name>.tmp`,
//! syncing it, renaming it over `<name>` and syncing the directory, so a reader (or a restart
//! after a crash) sees the old document or the new one, never a mix. Secret documents are
//! created with mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};
use crate::wal::sync_dir;

/// Whether a document may be read by other users of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Mode 0644 (subject to the umask).
    Plain,
    /// Mode 0600: key material.
    Secret,
}

pub(crate) fn catalog_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("catalog")
}

/// Checks a document (or log cursor) name: 1–64 of `[a-z0-9._-]`, not starting with `.`.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let valid = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidName(name.to_owned()))
    }
}

fn document_path(data_dir: &Path, name: &str) -> Result<PathBuf> {
    validate_name(name)?;
    Ok(catalog_dir(data_dir).join(name))
}

/// Removes the document `name`; removing one that is not there is not an error.
pub(crate) fn remove(data_dir: &Path, name: &str) -> Result<()> {
    let path = document_path(data_dir, name)?;
    match std::fs::remove_file(&path) {
        Ok(()) => sync_dir(&catalog_dir(data_dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).context(|| format!("removing {}", path.display())),
    }
}

/// The document `name`, if there is one.
pub(crate) fn read(data_dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let path = document_path(data_dir, name)?;
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context(|| format!("reading {}", path.display())),
    }
}

/// Replaces (or creates) the document `name`, durably.
pub(crate) fn write(
    data_dir: &Path,
    name: &str,
    bytes: &[u8],
    visibility: Visibility,
) -> Result<()> {
    let path = document_path(data_dir, name)?;
    let dir = catalog_dir(data_dir);
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    write_atomically(&path, bytes, visibility)
}

/// Replaces `path` with `bytes` atomically and durably: a temporary file beside it, synced,
/// renamed over it, the directory synced.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], visibility: Visibility) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if visibility == Visibility::Secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path))
        .context(|| format!("writing {}", path.display()))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_replaced_whole_and_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), "trails.json").unwrap(), None);
        write(dir.path(), "trails.json", b"[1]", Visibility::Plain).unwrap();
        write(dir.path(), "trails.json", b"[1,2]", Visibility::Plain).unwrap();
        assert_eq!(read(dir.path(), "trails.json").unwrap().unwrap(), b"[1,2]");
        for bad in ["", "../manifest", "Trails", ".hidden", "a/b"] {
            assert!(matches!(
                write(dir.path(), bad, b"x", Visibility::Plain),
                Err(StoreError::InvalidName(_))
            ));
        }
    }

    #[cfg(unix)]
    #[test]
    fn secret_documents_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "key.pem", b"k", Visibility::Secret).unwrap();
        let mode = std::fs::metadata(catalog_dir(dir.path()).join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
