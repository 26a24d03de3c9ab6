//! `cairn import`: reading delivered CloudTrail log files (and other exports) into the store.
//!
//! A file's kind is told by its content, not its name: gzip is recognised by its magic bytes;
//! then the text is one JSON document (a `{"Records":[...]}` log file, a JSON array of records,
//! or a single record) or JSON Lines (each line one of those). Digest files and anything that is
//! not CloudTrail are skipped and reported; a record that cannot be an event is rejected with
//! its reason; none of these stop the import.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cairn_model::{Record, RecordError};
use cairn_store::{AppendStatus, Store};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Why a whole file was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// A CloudTrail digest file (integrity validation), not events.
    Digest,
    Empty,
    NotJson(String),
    /// Valid JSON, but not CloudTrail records.
    NotCloudTrail(String),
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::Digest => f.write_str("CloudTrail digest file, not events"),
            Skipped::Empty => f.write_str("empty"),
            Skipped::NotJson(e) => write!(f, "not JSON: {e}"),
            Skipped::NotCloudTrail(e) => write!(f, "not CloudTrail records: {e}"),
        }
    }
}

/// A record that was rejected: where it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub file: PathBuf,
    /// 1-based position of the record in the file (line number for JSON Lines).
    pub position: String,
    pub reason: RecordError,
}

/// What an import did.
#[derive(Debug, Default, Clone)]
pub struct ImportSummary {
    pub files_read: usize,
    /// Records stored now.
    pub imported: u64,
    /// Records the store already held (same eventID and content).
    pub duplicates: u64,
    /// Those records' event IDs and times (ms), in the files' order.
    pub duplicate_events: Vec<(String, i64)>,
    /// Records stored although another record with the same eventID and other content is stored.
    pub conflicting_ids: Vec<(PathBuf, String)>,
    /// Records older than the store's retention.
    pub expired: u64,
    pub rejected: Vec<Rejected>,
    pub skipped: Vec<(PathBuf, Skipped)>,
    /// Files that could not be read at all.
    pub io_errors: Vec<(PathBuf, String)>,
    pub elapsed: Duration,
}

impl ImportSummary {
    /// The summary, and the events it did not store because they were stored already (what
    /// an import into an event data store adds to it by ID).
    pub fn with_already_stored(mut self) -> (ImportSummary, Vec<(String, i64)>) {
        let already_stored = std::mem::take(&mut self.duplicate_events);
        (self, already_stored)
    }

    /// Records that parsed as CloudTrail events (imported or not).
    pub fn records_read(&self) -> u64 {
        self.imported + self.duplicates + self.expired
    }
}

/// The records of one file, or why it has none.
#[derive(Debug)]
pub struct ParsedFile {
    pub records: Vec<Record>,
    pub rejected: Vec<(String, RecordError)>,
    /// Set when the whole file was skipped.
    pub skipped: Option<Skipped>,
}

/// Every file under `paths` (directories recursively), sorted within each directory.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads a file, un-gzipping it if it is gzip.
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let bytes = std::fs::read(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 8);
        flate2::read::MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut out)?;
        return Ok(out);
    }
    Ok(bytes)
}

#[derive(Deserialize)]
struct ObjectProbe<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<&'a RawValue>,
    #[serde(rename = "digestStartTime", default)]
    digest_start_time: Option<serde::de::IgnoredAny>,
    #[serde(rename = "logFiles", default)]
    log_files: Option<serde::de::IgnoredAny>,
}

/// What one top-level JSON value holds.
enum Value<'a> {
    Records(Vec<&'a RawValue>),
    Digest,
    Foreign(String),
}

fn classify(value: &RawValue) -> Value<'_> {
    let text = value.get();
    if text.starts_with('[') {
        return match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(elements) => Value::Records(elements),
            Err(e) => Value::Foreign(e.to_string()),
        };
    }
    if !text.starts_with('{') {
        return Value::Foreign(format!(
            "a JSON {}",
            if text.starts_with('"') {
                "string"
            } else {
                "scalar"
            }
        ));
    }
    match serde_json::from_str::<ObjectProbe<'_>>(text) {
        Ok(ObjectProbe {
            records: Some(records),
            ..
        }) => match serde_json::from_str::<Vec<&RawValue>>(records.get()) {
            Ok(elements) => Value::Records(elements),
            Err(_) => Value::Foreign("\"Records\" is not an array".to_owned()),
        },
        Ok(ObjectProbe {
            digest_start_time: Some(_),
            log_files: Some(_),
            ..
        }) => Value::Digest,
        // Any other object is taken as one record; parsing says if it is not an event.
        _ => Value::Records(vec![value]),
    }
}

/// Parses the content of one file.
pub fn parse_file(bytes: &[u8]) -> ParsedFile {
    let mut parsed = ParsedFile {
        records: Vec::new(),
        rejected: Vec::new(),
        skipped: None,
    };
    let skip = |reason| ParsedFile {
        records: Vec::new(),
        rejected: Vec::new(),
        skipped: Some(reason),
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return skip(Skipped::NotJson("not UTF-8 text".to_owned()));
    };
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return skip(Skipped::Empty);
    }
    // One document, or else JSON Lines.
    let mut document_error = None;
    let values: Vec<(String, &RawValue)> = match serde_json::from_str::<&RawValue>(text) {
        Ok(value) => vec![(String::new(), value)],
        Err(whole) => {
            let lines: Vec<(usize, &str)> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .collect();
            let parsed_lines: Vec<_> = lines
                .iter()
                .map(|(n, line)| (n + 1, serde_json::from_str::<&RawValue>(line)))
                .collect();
            if lines.len() < 2 || parsed_lines.iter().all(|(_, r)| r.is_err()) {
                return skip(Skipped::NotJson(whole.to_string()));
            }
            document_error = Some(whole.to_string());
            let mut values = Vec::new();
            for (line, result) in parsed_lines {
                match result {
                    Ok(value) => values.push((format!("line {line}"), value)),
                    Err(e) => parsed.rejected.push((
                        format!("line {line}"),
                        RecordError::InvalidJson(e.to_string()),
                    )),
                }
            }
            values
        }
    };
    let single_value = values.len() == 1;
    let mut digests = 0;
    let mut foreign = None;
    for (place, value) in values {
        match classify(value) {
            Value::Records(elements) => {
                let in_array = elements.len() > 1
                    || value.get().starts_with('[')
                    || value.get().contains("\"Records\"");
                for (i, element) in elements.into_iter().enumerate() {
                    let position = match (place.is_empty(), in_array) {
                        (true, _) => format!("record {}", i + 1),
                        (false, true) => format!("{place}, record {}", i + 1),
                        (false, false) => place.clone(),
                    };
                    match Record::from_raw(element) {
                        Ok(record) => parsed.records.push(record),
                        Err(reason) => parsed.rejected.push((position, reason)),
                    }
                }
            }
            Value::Digest => digests += 1,
            Value::Foreign(why) => {
                if single_value {
                    return skip(Skipped::NotCloudTrail(why));
                }
                foreign.get_or_insert(why);
                parsed.rejected.push((place, RecordError::NotAnObject));
            }
        }
    }
    if parsed.records.is_empty() {
        // Not one event in the file: it is not a CloudTrail file, rather than a file of bad records.
        parsed.skipped = Some(match parsed.rejected.first() {
            _ if digests > 0 => Skipped::Digest,
            // Neither one JSON document nor JSON Lines of records: report it as the document.
            Some((_, RecordError::InvalidJson(_))) if document_error.is_some() => {
                Skipped::NotJson(document_error.unwrap_or_default())
            }
            None => Skipped::Empty,
            Some((position, reason)) => {
                let more = parsed.rejected.len() - 1;
                let position = if position.is_empty() {
                    String::new()
                } else {
                    format!("{position}: ")
                };
                Skipped::NotCloudTrail(if more > 0 {
                    format!("{position}{reason} (and {more} more records like it)")
                } else {
                    format!("{position}{reason}")
                })
            }
        });
        parsed.rejected.clear();
    }
    parsed
}

/// Imports `files` into `store`, calling `progress(bytes_done, records_done)` after each file.
/// Files are read and parsed on `threads` threads; records are appended in file batches, each
/// acknowledged once durable. At the end the store is sealed.
pub fn import_files(
    store: &Store,
    files: &[PathBuf],
    threads: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<ImportSummary> {
    let started = Instant::now();
    let mut summary = ImportSummary::default();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::sync_channel::<(usize, std::io::Result<(u64, ParsedFile)>)>(threads * 2);
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..threads.max(1) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let result = std::fs::metadata(path)
                        .and_then(|m| read_file(path).map(|bytes| (m.len(), parse_file(&bytes))));
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let (mut bytes_done, mut records_done) = (0u64, 0u64);
        let mut failure = None;
        for (i, result) in rx {
            let path = &files[i];
            let (size, parsed) = match result {
                Ok(ok) => ok,
                Err(e) => {
                    summary.io_errors.push((path.clone(), e.to_string()));
                    continue;
                }
            };
            summary.files_read += 1;
            bytes_done += size;
            if let Some(reason) = parsed.skipped {
                summary.skipped.push((path.clone(), reason));
            }
            summary
                .rejected
                .extend(
                    parsed
                        .rejected
                        .into_iter()
                        .map(|(position, reason)| Rejected {
                            file: path.clone(),
                            position,
                            reason,
                        }),
                );
            let ids: Vec<(String, i64)> = parsed
                .records
                .iter()
                .map(|r| (r.fields.event_id.clone(), r.fields.event_time_ms))
                .collect();
            records_done += ids.len() as u64;
            if failure.is_none() && !ids.is_empty() {
                match store.append(parsed.records) {
                    Ok(statuses) => {
                        for (status, (id, time_ms)) in statuses.into_iter().zip(ids) {
                            match status {
                                AppendStatus::Stored => summary.imported += 1,
                                AppendStatus::Duplicate => {
                                    summary.duplicates += 1;
                                    summary.duplicate_events.push((id, time_ms));
                                }
                                AppendStatus::Expired => summary.expired += 1,
                                AppendStatus::StoredConflictingId => {
                                    summary.imported += 1;
                                    summary.conflicting_ids.push((path.clone(), id));
                                }
                            }
                        }
                    }
                    // Stop appending, but let the readers finish so the scope can end.
                    Err(e) => {
                        failure = Some(
                            anyhow::Error::new(e)
                                .context(format!("storing the events of {}", path.display())),
                        )
                    }
                }
            }
            progress(bytes_done, records_done);
        }
        failure.map_or(Ok(()), Err)
    })?;
    store
        .seal()
        .context("sealing the imported events into a segment")?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The summary printed at the end of `cairn import`; lists are cut at `limit` lines each.
pub fn render_summary(summary: &ImportSummary, limit: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let seconds = summary.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        summary.records_read() as f64 / seconds
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "imported {} events from {} files in {seconds:.1} s ({rate:.0} events/s)",
        summary.imported, summary.files_read
    );
    let _ = writeln!(out, "  duplicates (already stored): {}", summary.duplicates);
    if summary.expired > 0 {
        let _ = writeln!(
            out,
            "  older than the retention period, not stored: {}",
            summary.expired
        );
    }
    let mut list = |title: String, lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(out, "  {title}");
        for line in lines.iter().take(limit) {
            let _ = writeln!(out, "    {line}");
        }
        if lines.len() > limit {
            let _ = writeln!(
                out,
                "    ... and {} more (--verbose lists all)",
                lines.len() - limit
            );
        }
    };
    list(
        format!(
            "same eventID as a stored record but different content, both kept: {}",
            summary.conflicting_ids.len()
        ),
        summary
            .conflicting_ids
            .iter()
            .map(|(p, id)| format!("{}: eventID {id}", p.display()))
            .collect(),
    );
    list(
        format!("rejected records: {}", summary.rejected.len()),
        summary
            .rejected
            .iter()
            .map(|r| format!("{}: {}: {}", r.file.display(), r.position, r.reason))
            .collect(),
    );
    list(
        format!("skipped files: {}", summary.skipped.len()),
        summary
            .skipped
            .iter()
            .map(|(p, why)| format!("{}: {why}", p.display()))
            .collect(),
    );
    list(
        format!("unreadable files: {}", summary.io_errors.len()),
        summary
            .io_errors
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display()))
            .collect(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"eventTime":"2020-01-01T00:00:00Z","eventName":"X","eventID":"1"}"#;

    #[test]
    fn recognises_every_container_shape() {
        assert_eq!(
            parse_file(format!(r#"{{"Records":[{EVENT},{EVENT}]}}"#).as_bytes())
                .records
                .len(),
            2
        );
        assert_eq!(parse_file(format!("[{EVENT}]").as_bytes()).records.len(), 1);
        assert_eq!(
            parse_file(format!("{EVENT}\n\n{EVENT}\n").as_bytes())
                .records
                .len(),
            2
        );
        assert_eq!(parse_file(EVENT.as_bytes()).records.len(), 1);
        assert_eq!(parse_file(b"[]").skipped, Some(Skipped::Empty));
        assert_eq!(parse_file(b"  \n").skipped, Some(Skipped::Empty));
        let digest = br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#;
        assert_eq!(parse_file(digest).skipped, Some(Skipped::Digest));
        assert!(matches!(
            parse_file(b"title: a sigma rule\n").skipped,
            Some(Skipped::NotJson(_))
        ));
        assert!(matches!(
            parse_file(b"\"just a string\"").skipped,
            Some(Skipped::NotCloudTrail(_))
        ));
    }

    #[test]
    fn a_file_without_a_single_event_is_skipped_not_rejected() {
        let parsed = parse_file(b"{\"source\":\"x\"}\n{\"source\":\"y\"}\n");
        assert_eq!(
            parsed.skipped,
            Some(Skipped::NotCloudTrail(
                "line 1: no eventTime (and 1 more records like it)".into()
            ))
        );
        assert!(parsed.rejected.is_empty());
    }

    #[test]
    fn a_bad_line_in_json_lines_is_rejected_alone() {
        let parsed = parse_file(format!("{EVENT}\n{{oops\n{EVENT}\n").as_bytes());
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(parsed.rejected[0].0, "line 2");
    }

    #[test]
    fn records_that_are_not_events_are_rejected_with_their_position() {
        let parsed = parse_file(
            format!(r#"{{"Records":[{{"eventName":"X"}},{{"eventTime":"bad","eventName":"Y"}},{EVENT}]}}"#).as_bytes(),
        );
        let reasons: Vec<_> = parsed
            .rejected
            .iter()
            .map(|(p, r)| format!("{p}: {r}"))
            .collect();
        assert_eq!(
            reasons,
            vec![
                "record 1: no eventTime",
                "record 2: eventTime \"bad\" is not an ISO 8601 UTC time"
            ]
        );
    }
}
