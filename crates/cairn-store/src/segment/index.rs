//! The lookup index of one segment: `segments/<id>.idx`, beside `<id>.parquet`.
//!
//! # On-disk format, version 2
//!
//! All integers little-endian; every section starts at a multiple of 8 bytes. Row `r` is row `r`
//! of the segment's Parquet file; rows are sorted by (account, region, eventTime, fingerprint)
//! ascending, and scope ids are numbered in row order, so the rows of one scope are one
//! stretch, found by binary search over `scope`. (Version 1 sorted rows by time alone.)
//!
//! ```text
//! header (32 bytes): "CAIRNIDX" | version: u32 = 1 | rows: u32 | keys: u32 | postings: u32
//!                    | scopes: u32 | reserved: u32 = 0
//! times          : rows × i64     eventTime, ms since epoch
//! fingerprints   : rows × u64     XXH3-64 of the record's JSON text
//! scope          : rows × u32     index into the scope table
//! history        : rows × u8      HistoryCategory (0 management, 1 insight, 2 not in history),
//!                                 padded with zeros to a multiple of 8
//! keys           : keys × (key: u64, start: u32, len: u32), sorted by key
//!                  key = attribute_index_key(attribute, value); the rows having that value are
//!                  postings[start .. start + len], ascending
//! postings       : postings × u32, padded with zeros to a multiple of 8
//! scope table    : scopes × (account, region), each a string: len u16 (0xFFFF = absent) | UTF-8
//! checksum       : u32 CRC-32C of everything before it
//! ```
//!
//! The file is memory-mapped and read in place; only its checksum is computed on open. Keys are
//! hashes: a lookup re-checks every record it returns against the query, so a hash collision can
//! only cost a short page, never a wrong event.

use std::collections::HashMap;
use std::path::Path;

use cairn_model::lookup::attribute_index_key;
use cairn_model::{HistoryCategory, LookupAttributeKey, Record};

use crate::error::{Result, StoreError};

const MAGIC: &[u8; 8] = b"CAIRNIDX";
const VERSION: u32 = 2;
const HEADER_LEN: usize = 32;
const ABSENT: u16 = u16::MAX;

/// An (account, region) pair: the scope LookupEvents filters by.
pub(crate) type Scope = (Option<String>, Option<String>);

/// Serialises the index of `rows` (already in segment order).
pub(crate) fn build(rows: &[&Record]) -> Vec<u8> {
    let mut scopes: Vec<Scope> = Vec::new();
    let mut scope_ids: HashMap<Scope, u32> = HashMap::new();
    let mut postings: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut row_scopes = Vec::with_capacity(rows.len());
    for (row, record) in rows.iter().enumerate() {
        let f = &record.fields;
        let scope = (f.account_id.clone(), f.aws_region.clone());
        let id = *scope_ids.entry(scope.clone()).or_insert_with(|| {
            scopes.push(scope);
            (scopes.len() - 1) as u32
        });
        row_scopes.push(id);
        for key in LookupAttributeKey::ALL {
            for value in f.lookup_values(key) {
                postings
                    .entry(attribute_index_key(key, value))
                    .or_default()
                    .push(row as u32);
            }
        }
    }
    let mut keys: Vec<(u64, Vec<u32>)> = postings.into_iter().collect();
    keys.sort_unstable_by_key(|(k, _)| *k);
    let postings_len: usize = keys.iter().map(|(_, rows)| rows.len()).sum();

    let mut out =
        Vec::with_capacity(HEADER_LEN + rows.len() * 24 + keys.len() * 16 + postings_len * 4);
    out.extend_from_slice(MAGIC);
    for n in [
        VERSION,
        rows.len() as u32,
        keys.len() as u32,
        postings_len as u32,
        scopes.len() as u32,
        0,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for record in rows {
        out.extend_from_slice(&record.fields.event_time_ms.to_le_bytes());
    }
    for record in rows {
        out.extend_from_slice(&record.fingerprint.to_le_bytes());
    }
    for id in &row_scopes {
        out.extend_from_slice(&id.to_le_bytes());
    }
    pad8(&mut out);
    for record in rows {
        out.push(record.fields.history.as_u8());
    }
    pad8(&mut out);
    let mut start = 0u32;
    for (key, rows) in &keys {
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        start += rows.len() as u32;
    }
    for (_, rows) in &keys {
        for row in rows {
            out.extend_from_slice(&row.to_le_bytes());
        }
    }
    pad8(&mut out);
    for (account, region) in &scopes {
        for part in [account, region] {
            match part {
                Some(s) => {
                    let bytes = &s.as_bytes()[..s.len().min(ABSENT as usize - 1)];
                    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&ABSENT.to_le_bytes()),
            }
        }
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn pad8(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
}

/// A segment index, read in place from its bytes (a memory map).
#[derive(Debug)]
pub(crate) struct SegmentIndex<B> {
    bytes: B,
    rows: usize,
    keys: usize,
    times_at: usize,
    fingerprints_at: usize,
    scope_at: usize,
    history_at: usize,
    keys_at: usize,
    postings_at: usize,
    pub(crate) scopes: Vec<Scope>,
}

impl<B: AsRef<[u8]>> SegmentIndex<B> {
    pub(crate) fn open(bytes: B, path: &Path) -> Result<SegmentIndex<B>> {
        let b = bytes.as_ref();
        let corrupt = |detail: &str| StoreError::corrupt(path, detail.to_owned());
        if b.len() < HEADER_LEN + 4 || &b[..8] != MAGIC {
            return Err(corrupt("not a cairn segment index"));
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32c::crc32c(body).to_le_bytes() != crc {
            return Err(corrupt("checksum mismatch"));
        }
        let header = |i: usize| {
            u32::from_le_bytes(b[8 + 4 * i..12 + 4 * i].try_into().unwrap_or_default()) as usize
        };
        if header(0) != VERSION as usize {
            return Err(StoreError::UnsupportedVersion {
                path: path.to_owned(),
                found: header(0) as u32,
                supported: VERSION,
            });
        }
        let (rows, keys, postings, scope_count) = (header(1), header(2), header(3), header(4));
        let round8 = |n: usize| n.div_ceil(8) * 8;
        let times_at = HEADER_LEN;
        let fingerprints_at = times_at + rows * 8;
        let scope_at = fingerprints_at + rows * 8;
        let history_at = round8(scope_at + rows * 4);
        let keys_at = round8(history_at + rows);
        let postings_at = keys_at + keys * 16;
        let scopes_at = round8(postings_at + postings * 4);
        if scopes_at > body.len() {
            return Err(corrupt("sections extend past the end of the file"));
        }
        let mut scopes = Vec::with_capacity(scope_count);
        let mut at = scopes_at;
        let read_part = |at: &mut usize| -> Result<Option<String>> {
            let len = body
                .get(*at..*at + 2)
                .ok_or_else(|| corrupt("truncated scope table"))?;
            let len = u16::from_le_bytes([len[0], len[1]]);
            *at += 2;
            if len == ABSENT {
                return Ok(None);
            }
            let text = body
                .get(*at..*at + len as usize)
                .ok_or_else(|| corrupt("truncated scope table"))?;
            *at += len as usize;
            Ok(Some(String::from_utf8_lossy(text).into_owned()))
        };
        for _ in 0..scope_count {
            let account = read_part(&mut at)?;
            let region = read_part(&mut at)?;
            scopes.push((account, region));
        }
        Ok(SegmentIndex {
            bytes,
            rows,
            keys,
            times_at,
            fingerprints_at,
            scope_at,
            history_at,
            keys_at,
            postings_at,
            scopes,
        })
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = &self.bytes.as_ref()[at..at + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    fn u64_at(&self, at: usize) -> u64 {
        let b = &self.bytes.as_ref()[at..at + 8];
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    pub(crate) fn time(&self, row: u32) -> i64 {
        self.u64_at(self.times_at + row as usize * 8) as i64
    }

    pub(crate) fn fingerprint(&self, row: u32) -> u64 {
        self.u64_at(self.fingerprints_at + row as usize * 8)
    }

    pub(crate) fn scope(&self, row: u32) -> u32 {
        self.u32_at(self.scope_at + row as usize * 4)
    }

    /// The rows of scope `scope`: `start..end`.
    pub(crate) fn scope_rows(&self, scope: u32) -> (u32, u32) {
        let first_at_least = |s: u32| {
            let (mut lo, mut hi) = (0, self.rows);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if self.scope(mid as u32) < s {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo as u32
        };
        (first_at_least(scope), first_at_least(scope + 1))
    }

    pub(crate) fn history(&self, row: u32) -> Option<HistoryCategory> {
        HistoryCategory::from_u8(self.bytes.as_ref()[self.history_at + row as usize])
    }

    /// The rows indexed under `key`, ascending, as a view.
    pub(crate) fn postings(&self, key: u64) -> Postings<'_> {
        let (mut lo, mut hi) = (0, self.keys);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let at = self.keys_at + mid * 16;
            match self.u64_at(at).cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let start = self.u32_at(at + 8) as usize;
                    let len = self.u32_at(at + 12) as usize;
                    let from = self.postings_at + start * 4;
                    return Postings::List(&self.bytes.as_ref()[from..from + len * 4]);
                }
            }
        }
        Postings::List(&[])
    }
}

/// A set of rows, ascending.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Postings<'a> {
    /// Every row `start..end`.
    Range(u32, u32),
    /// The rows stored as u32 LE.
    List(&'a [u8]),
}

impl<'a> Postings<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Postings::Range(start, end) => end.saturating_sub(*start) as usize,
            Postings::List(bytes) => bytes.len() / 4,
        }
    }

    /// The part of these rows within `start..end`.
    pub(crate) fn within(&self, (start, end): (u32, u32)) -> Postings<'a> {
        match *self {
            Postings::Range(a, b) => {
                let lo = a.max(start);
                Postings::Range(lo, b.min(end).max(lo))
            }
            Postings::List(bytes) => {
                let from = self.partition_point(|row| row < start);
                let to = self.partition_point(|row| row < end);
                Postings::List(&bytes[from * 4..to * 4])
            }
        }
    }

    pub(crate) fn get(&self, i: usize) -> u32 {
        match self {
            Postings::Range(start, _) => start + i as u32,
            Postings::List(bytes) => {
                let b = &bytes[i * 4..i * 4 + 4];
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
        }
    }

    /// The number of leading rows for which `pred` holds (`pred` must be monotone).
    pub(crate) fn partition_point(&self, pred: impl Fn(u32) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if pred(self.get(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}
