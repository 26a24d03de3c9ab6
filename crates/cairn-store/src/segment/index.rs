//! The lookup index of one segment: `segments/<id>.idx`, beside `<id>.parquet`.
//!
//! # On-disk format, version 7
//!
//! All integers little-endian; every section starts at a multiple of 8 bytes. Row `r` is row `r`
//! of the segment's Parquet file; rows are sorted by (account, region, eventTime, fingerprint)
//! ascending and scope ids are numbered in row order, so the rows of one scope are one stretch.
//!
//! ```text
//! header (40 bytes): "CAIRNIDX" | version: u32 = 7 | rows: u32 | keys: u32
//!                    | postings_bytes: u32 | scopes: u32 | time_words: u32 | key_bytes: u32
//!                    | key_coding: u32 = rice_k | row_bits << 8 | offset_bits << 16
//! scope starts   : (scopes + 1) × u32   first row of each scope, then `rows`
//! history        : rows × 2 bits        HistoryCategory (0 management, 1 insight, 2 not in
//!                                       history), row r in bits 2(r%4).. of byte r/4
//! time blocks    : ceil(rows / 64) × (base: i64, first_word: u32, width: u8, unit: u8, 2 × 0)
//!                  eventTime of row r (ms since epoch) = base + unit_ms × delta, where delta is
//!                  the (r % 64)-th `width`-bit field of the block's `width` words, bit-packed
//!                  from the low bits up; unit 1 means seconds (unit_ms 1000), 0 milliseconds
//! time words     : time_words × u64
//! key blocks     : ceil(keys / 64) × (first hash: u32, bit offset: u32): where each run of 64
//!                  keys starts in `key entries`
//! key entries    : key_bytes bytes, padded with zeros to a multiple of 8: a bit stream (bit i
//!                  is bit i % 8 of byte i / 8; a field of n bits is written low bit first) of
//!                  the keys sorted by hash, each: the hash's distance from the previous hash
//!                  of its block (0 for the first), Rice-coded with parameter `rice_k` (the
//!                  quotient distance >> rice_k in unary as that many 1 bits and a 0, then the
//!                  low rice_k bits); then 1 and the row in `row_bits` bits when a single row
//!                  has the key, else 0 and the byte offset of its rows in `postings` in
//!                  `offset_bits` bits. hash = the low 28 bits of
//!                  attribute_index_key(attribute, value)
//! postings       : per key with several rows, from a byte boundary: the count of rows as a
//!                  LEB128 varint, a byte `k`, a skip table, then a bit stream as in `key
//!                  entries`: the first row in `row_bits` bits, then for each next row its
//!                  distance from the previous minus 1, Rice-coded with parameter `k`; then
//!                  zeros to the next byte. The skip table has (count - 1) / 512 entries
//!                  (row: u32, bit: u32), entry j for the list's row number 512 (j + 1): the row
//!                  and where in the bit stream the code of the row after it starts, so that a
//!                  lookup within one scope decodes from near the scope's first row. The section
//!                  is padded with zeros to a multiple of 8
//! scope table    : scopes × (account, region), each a string: len u16 (0xFFFF = absent) | UTF-8
//! checksum       : u32 CRC-32C of everything before it
//! ```
//!
//! The file is memory-mapped and read in place; only its checksum is computed on open. Keys are
//! hashes: a lookup re-checks every record it returns against the query, so a hash collision
//! (two values under one key, their rows merged) can only cost a short page, never a wrong
//! event. The index holds no fingerprints: the order of rows of one time (by fingerprint, as
//! lookups order events) and whether a row is a duplicate are told from the records.
//!
//! The keys are those of the fields `cairn-model` derives from a record ([`Record::fields`]);
//! when that derivation changes what an attribute finds, the version goes up, and an index of
//! an older version is rebuilt from its segment's records when the store opens
//! ([`SegmentIndex::is_current`]; the segment itself is never rewritten). Version 7 has the layout of
//! version 6 and adds the resources derived from each call (`cairn_model::resources`); version
//! 6 added the skip tables, 5 Rice-coded postings, 4 dropped per-row fingerprints.

use std::collections::HashMap;
use std::path::Path;

use cairn_model::{HistoryCategory, LookupAttributeKey, Record};

use crate::error::{Result, StoreError};

const MAGIC: &[u8; 8] = b"CAIRNIDX";
const VERSION: u32 = 7;
/// Rows of a posting list between two entries of its skip table.
const SKIP_ROWS: usize = 512;

/// The oldest version that is opened to be rebuilt: versions 4 to 6 differ from 7 only in
/// their postings (which a rebuild does not read) and in the keys they hold.
const OLDEST_REBUILT: u32 = 4;

const HEADER_LEN: usize = 40;
const ABSENT: u16 = u16::MAX;
const TIME_BLOCK_ROWS: usize = 64;
const TIME_BLOCK_LEN: usize = 16;
const KEY_BLOCK_KEYS: usize = 64;
const KEY_BLOCK_LEN: usize = 8;

/// An (account, region) pair: the scope LookupEvents filters by.
pub(crate) type Scope = (Option<String>, Option<String>);

/// Bits of a stored key. Fewer bits make smaller keys (about 2.2 keys a row in distance
/// gaps of log2(2^bits / keys) bits) and more collisions, each costing a lookup a record read
/// and a dedup check an eventID read: with 28 bits and 450,000 keys a segment, 1 in 600 lookups
/// of a value a segment does not hold finds a row anyway.
const KEY_BITS: u32 = 28;

/// The key stored for a 64-bit `attribute_index_key`: its low [`KEY_BITS`] bits.
fn stored_key(key: u64) -> u32 {
    (key as u32) & ((1 << KEY_BITS) - 1)
}

/// Bits needed to write every value up to `max`, at least 1.
fn bits_for(max: u64) -> u32 {
    (64 - max.leading_zeros()).max(1)
}

/// A bit stream written low bit first (the `key entries` section).
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    /// Writes the low `width` (at most 57) bits of `value`.
    fn push(&mut self, value: u64, width: u32) {
        let value = value & ((1u64 << width) - 1);
        let shift = self.bits % 8;
        self.bits += width as usize;
        self.bytes.resize(self.bits.div_ceil(8), 0);
        // The bytes from the one holding the first new bit on: at most 8.
        let first = self.bytes.len() - (shift + width as usize).div_ceil(8);
        for (i, byte) in (value << shift).to_le_bytes().iter().enumerate() {
            if let Some(b) = self.bytes.get_mut(first + i) {
                *b |= byte;
            }
        }
    }

    fn push_rice(&mut self, value: u64, k: u32) {
        let mut quotient = value >> k;
        while quotient >= 32 {
            self.push(u64::from(u32::MAX), 32);
            quotient -= 32;
        }
        // `quotient` ones, then a zero.
        self.push((1u64 << quotient) - 1, quotient as u32 + 1);
        self.push(value, k);
    }
}

/// Reads `width` (at most 57) bits at bit `*at` of `bytes`, advancing it; bits past the end
/// read as zeros.
fn read_bits(bytes: &[u8], at: &mut usize, width: u32) -> u64 {
    let (byte, shift) = (*at / 8, *at % 8);
    let mut word = [0u8; 8];
    match bytes.get(byte..byte + 8) {
        Some(eight) => word.copy_from_slice(eight),
        None => {
            let tail = bytes.get(byte..).unwrap_or_default();
            word[..tail.len()].copy_from_slice(tail);
        }
    }
    *at += width as usize;
    (u64::from_le_bytes(word) >> shift) & ((1u64 << width) - 1)
}

/// Reads a Rice-coded value (the zeros past the end stop its quotient).
fn read_rice(bytes: &[u8], at: &mut usize, k: u32) -> u64 {
    // The common case in one read: the whole code within the 57 bits one read can see.
    let mut peek = *at;
    let window = read_bits(bytes, &mut peek, 57);
    let ones = window.trailing_ones();
    if ones + 1 + k <= 57 {
        *at += (ones + 1 + k) as usize;
        return u64::from(ones) << k | (window >> (ones + 1)) & ((1u64 << k) - 1);
    }
    let mut quotient = 0u64;
    loop {
        let mut peek = *at;
        let ones = read_bits(bytes, &mut peek, 32).trailing_ones();
        quotient += u64::from(ones);
        *at += ones as usize;
        if ones < 32 {
            *at += 1;
            break;
        }
    }
    quotient << k | read_bits(bytes, at, k)
}

/// The Rice parameter that writes `gaps` in the fewest bits.
fn best_rice_k(gaps: impl Iterator<Item = u32> + Clone) -> u32 {
    (0..KEY_BITS)
        .min_by_key(|&k| {
            gaps.clone()
                .map(|g| u64::from(g >> k) + 1 + u64::from(k))
                .sum::<u64>()
        })
        .unwrap_or(0)
}

/// Serialises the index of `rows` (already in segment order).
pub(crate) fn build(rows: &[&Record]) -> Vec<u8> {
    let mut scopes: Vec<Scope> = Vec::new();
    let mut scope_starts: Vec<u32> = Vec::new();
    let mut scope_ids: HashMap<Scope, u32> = HashMap::new();
    let mut postings: HashMap<u32, Vec<u32>> = HashMap::new();
    for (row, record) in rows.iter().enumerate() {
        let f = &record.fields;
        let scope = (f.account_id.clone(), f.aws_region.clone());
        scope_ids.entry(scope.clone()).or_insert_with(|| {
            scopes.push(scope);
            scope_starts.push(row as u32);
            (scopes.len() - 1) as u32
        });
        for key in LookupAttributeKey::ALL {
            for value in f.lookup_values(key) {
                let rows = postings
                    .entry(stored_key(cairn_model::lookup::attribute_index_key(
                        key, value,
                    )))
                    .or_default();
                // Two values under one stored key, or one value twice in a record.
                if rows.last() != Some(&(row as u32)) {
                    rows.push(row as u32);
                }
            }
        }
    }
    scope_starts.push(rows.len() as u32);
    let mut keys: Vec<(u32, Vec<u32>)> = postings.into_iter().collect();
    keys.sort_unstable_by_key(|(k, _)| *k);
    let row_bits = bits_for(rows.len().saturating_sub(1) as u64);
    let mut posting_bytes = Vec::new();
    // Where each multi-row key's rows start in `postings`.
    let mut offsets = Vec::new();
    for (_, rows) in keys.iter().filter(|(_, rows)| rows.len() > 1) {
        offsets.push(posting_bytes.len() as u64);
        write_postings(&mut posting_bytes, rows, row_bits);
    }
    pad8(&mut posting_bytes);
    let gap = |i: usize| {
        if i.is_multiple_of(KEY_BLOCK_KEYS) {
            0
        } else {
            keys[i].0 - keys[i - 1].0
        }
    };
    let rice_k = best_rice_k((0..keys.len()).map(gap));
    let offset_bits = bits_for(posting_bytes.len() as u64);
    let mut key_blocks = Vec::with_capacity(keys.len().div_ceil(KEY_BLOCK_KEYS) * KEY_BLOCK_LEN);
    let mut entries = BitWriter::default();
    let mut offsets = offsets.into_iter();
    for (i, (key, rows)) in keys.iter().enumerate() {
        if i.is_multiple_of(KEY_BLOCK_KEYS) {
            key_blocks.extend_from_slice(&key.to_le_bytes());
            key_blocks.extend_from_slice(&(entries.bits as u32).to_le_bytes());
        }
        entries.push_rice(u64::from(gap(i)), rice_k);
        if let [row] = rows.as_slice() {
            entries.push(1, 1);
            entries.push(u64::from(*row), row_bits);
        } else {
            entries.push(0, 1);
            entries.push(offsets.next().unwrap_or_default(), offset_bits);
        }
    }
    let mut key_bytes = entries.bytes;
    pad8(&mut key_bytes);
    let (time_blocks, time_words) = pack_times(rows);

    let mut out = Vec::with_capacity(
        HEADER_LEN
            + rows.len() / 4
            + time_words.len() * 8
            + key_blocks.len()
            + key_bytes.len()
            + posting_bytes.len(),
    );
    out.extend_from_slice(MAGIC);
    for n in [
        VERSION,
        rows.len() as u32,
        keys.len() as u32,
        posting_bytes.len() as u32,
        scopes.len() as u32,
        time_words.len() as u32,
        key_bytes.len() as u32,
        rice_k | row_bits << 8 | offset_bits << 16,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for start in &scope_starts {
        out.extend_from_slice(&start.to_le_bytes());
    }
    pad8(&mut out);
    for four in rows.chunks(4) {
        let mut byte = 0u8;
        for (i, record) in four.iter().enumerate() {
            byte |= record.fields.history.as_u8() << (2 * i);
        }
        out.push(byte);
    }
    pad8(&mut out);
    out.extend_from_slice(&time_blocks);
    for word in &time_words {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&key_blocks);
    pad8(&mut out);
    out.extend_from_slice(&key_bytes);
    out.extend_from_slice(&posting_bytes);
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

/// The time blocks and words of `rows`' eventTimes (format in the module documentation).
fn pack_times(rows: &[&Record]) -> (Vec<u8>, Vec<u64>) {
    let mut blocks = Vec::with_capacity(rows.len().div_ceil(TIME_BLOCK_ROWS) * TIME_BLOCK_LEN);
    let mut words: Vec<u64> = Vec::new();
    for chunk in rows.chunks(TIME_BLOCK_ROWS) {
        let times = chunk.iter().map(|r| r.fields.event_time_ms);
        let base = times.clone().min().unwrap_or(0);
        let in_seconds = times.clone().all(|t| (t - base) % 1000 == 0);
        let unit_ms = if in_seconds { 1000 } else { 1 };
        let deltas: Vec<u64> = times.map(|t| ((t - base) / unit_ms) as u64).collect();
        let width = 64 - deltas.iter().max().copied().unwrap_or(0).leading_zeros();
        let first_word = words.len();
        words.resize(first_word + width as usize, 0);
        for (i, delta) in deltas.iter().enumerate().filter(|_| width > 0) {
            let bit = i * width as usize;
            let (word, shift) = (first_word + bit / 64, bit % 64);
            words[word] |= delta << shift;
            if shift + width as usize > 64 {
                words[word + 1] |= delta >> (64 - shift);
            }
        }
        blocks.extend_from_slice(&base.to_le_bytes());
        blocks.extend_from_slice(&(first_word as u32).to_le_bytes());
        blocks.extend_from_slice(&[width as u8, u8::from(in_seconds), 0, 0]);
    }
    (blocks, words)
}

/// Appends one posting list (ascending, at least two rows; format in the module documentation).
fn write_postings(out: &mut Vec<u8>, rows: &[u32], row_bits: u32) {
    write_varint(out, rows.len() as u32);
    // Distances minus 1: rows of a list are distinct.
    let steps = rows.windows(2).map(|pair| pair[1] - pair[0] - 1);
    // Rice coding suits geometric distances best with k near log2(mean × ln 2); the
    // neighbours of that estimate are tried too, as rows cluster (by scope, by time).
    let mean = (rows[rows.len() - 1] - rows[0]) as f64 / (rows.len() - 1) as f64;
    let estimate = (mean * std::f64::consts::LN_2).max(1.0).log2() as u32;
    let cost = |k: u32| -> u64 {
        steps
            .clone()
            .map(|s| u64::from(s >> k) + 1 + u64::from(k))
            .sum()
    };
    let k = (estimate.saturating_sub(1)..=estimate + 1)
        .min_by_key(|&k| cost(k))
        .unwrap_or(0);
    out.push(k as u8);
    let mut bits = BitWriter::default();
    let mut skips = Vec::with_capacity((rows.len() - 1) / SKIP_ROWS * 8);
    bits.push(u64::from(rows[0]), row_bits);
    for (i, step) in steps.enumerate() {
        bits.push_rice(u64::from(step), k);
        // Row number i + 1 is written: the next code starts here.
        if (i + 1).is_multiple_of(SKIP_ROWS) {
            skips.extend_from_slice(&rows[i + 1].to_le_bytes());
            skips.extend_from_slice(&(bits.bits as u32).to_le_bytes());
        }
    }
    out.extend_from_slice(&skips);
    out.extend_from_slice(&bits.bytes);
}

fn write_varint(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a varint at `*at`, advancing it; `None` past the end or when too long.
fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let mut n = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        n |= u32::from(byte & 0x7f).checked_shl(shift)?;
        if byte < 0x80 {
            return Some(n);
        }
    }
    None
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
    scope_starts_at: usize,
    history_at: usize,
    time_blocks_at: usize,
    time_words_at: usize,
    key_blocks_at: usize,
    key_bytes_at: usize,
    key_bytes_len: usize,
    rice_k: u32,
    row_bits: u32,
    offset_bits: u32,
    postings_at: usize,
    postings_len: usize,
    /// An index of an older version is only opened to be rebuilt: its postings are not read.
    version: u32,
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
        let version = header(0) as u32;
        if !(OLDEST_REBUILT..=VERSION).contains(&version) {
            return Err(StoreError::UnsupportedVersion {
                path: path.to_owned(),
                found: version,
                supported: VERSION,
            });
        }
        let (rows, keys, postings_len, scope_count, time_words, key_bytes_len) = (
            header(1),
            header(2),
            header(3),
            header(4),
            header(5),
            header(6),
        );
        let key_coding = header(7);
        if [
            key_coding & 0xff,
            key_coding >> 8 & 0xff,
            key_coding >> 16 & 0xff,
        ]
        .iter()
        .any(|&bits| bits > 32)
        {
            return Err(corrupt("key coding out of range"));
        }
        let round8 = |n: usize| n.div_ceil(8) * 8;
        let scope_starts_at = HEADER_LEN;
        let history_at = round8(scope_starts_at + (scope_count + 1) * 4);
        let time_blocks_at = round8(history_at + rows.div_ceil(4));
        let time_words_at = time_blocks_at + rows.div_ceil(TIME_BLOCK_ROWS) * TIME_BLOCK_LEN;
        let key_blocks_at = time_words_at + time_words * 8;
        let key_bytes_at = round8(key_blocks_at + keys.div_ceil(KEY_BLOCK_KEYS) * KEY_BLOCK_LEN);
        let postings_at = key_bytes_at + key_bytes_len;
        let scopes_at = postings_at + postings_len;
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
        let index = SegmentIndex {
            bytes,
            rows,
            keys,
            scope_starts_at,
            history_at,
            time_blocks_at,
            time_words_at,
            key_blocks_at,
            key_bytes_at,
            key_bytes_len,
            rice_k: (key_coding & 0xff) as u32,
            row_bits: (key_coding >> 8 & 0xff) as u32,
            offset_bits: (key_coding >> 16 & 0xff) as u32,
            postings_at,
            postings_len,
            version,
            scopes,
        };
        // Every time block's words must lie in the file: reading a time never goes past it.
        for block in 0..rows.div_ceil(TIME_BLOCK_ROWS) {
            let (_, first_word, width, _) = index.time_block(block);
            if width > 64 || first_word + width > time_words {
                return Err(corrupt("time block out of range"));
            }
        }
        if (0..=scope_count).any(|s| index.u32_at(scope_starts_at + s * 4) as usize > rows) {
            return Err(corrupt("scope start out of range"));
        }
        Ok(index)
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Whether this index is of the current version; an older one must be rebuilt before
    /// lookups use it.
    pub(crate) fn is_current(&self) -> bool {
        self.version == VERSION
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = &self.bytes.as_ref()[at..at + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    fn u64_at(&self, at: usize) -> u64 {
        let b = &self.bytes.as_ref()[at..at + 8];
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// (base, first word, width, unit in ms) of time block `block`.
    fn time_block(&self, block: usize) -> (i64, usize, usize, i64) {
        let at = self.time_blocks_at + block * TIME_BLOCK_LEN;
        let meta = &self.bytes.as_ref()[at + 12..at + 14];
        let unit_ms = if meta[1] == 1 { 1000 } else { 1 };
        (
            self.u64_at(at) as i64,
            self.u32_at(at + 8) as usize,
            meta[0] as usize,
            unit_ms,
        )
    }

    pub(crate) fn time(&self, row: u32) -> i64 {
        let row = row as usize;
        let (base, first_word, width, unit_ms) = self.time_block(row / TIME_BLOCK_ROWS);
        if width == 0 {
            return base;
        }
        let bit = (row % TIME_BLOCK_ROWS) * width;
        let word = self.time_words_at + (first_word + bit / 64) * 8;
        let shift = bit % 64;
        let mut delta = self.u64_at(word) >> shift;
        if shift + width > 64 {
            delta |= self.u64_at(word + 8) << (64 - shift);
        }
        if width < 64 {
            delta &= (1u64 << width) - 1;
        }
        base.wrapping_add((delta as i64).wrapping_mul(unit_ms))
    }

    /// The rows of scope `scope`: `start..end`.
    pub(crate) fn scope_rows(&self, scope: u32) -> (u32, u32) {
        let at = self.scope_starts_at + scope as usize * 4;
        (self.u32_at(at), self.u32_at(at + 4))
    }

    pub(crate) fn history(&self, row: u32) -> Option<HistoryCategory> {
        let byte = self.bytes.as_ref()[self.history_at + row as usize / 4];
        HistoryCategory::from_u8((byte >> (2 * (row % 4))) & 0b11)
    }

    /// The rows indexed under `key` (an `attribute_index_key`), ascending.
    pub(crate) fn postings(&self, key: u64) -> Postings<'static> {
        self.postings_within(key, (0, u32::MAX))
    }

    /// The rows indexed under `key` within `start..end`, ascending: for a long list, only
    /// its part from the skip entry before `start` to `end` is decoded.
    pub(crate) fn postings_within(&self, key: u64, (start, end): (u32, u32)) -> Postings<'static> {
        match self.find_key(stored_key(key)) {
            Some(KeyEntry::Row(row)) if (start..end).contains(&row) => Postings::One(row),
            Some(KeyEntry::List(offset)) => {
                Postings::Rows(self.decode_postings(offset, start, end).into())
            }
            _ => Postings::Rows(Vec::new().into()),
        }
    }

    /// Where the rows of stored key `key` are, if the index has it.
    fn find_key(&self, key: u32) -> Option<KeyEntry> {
        let blocks = self.keys.div_ceil(KEY_BLOCK_KEYS);
        let first_hash = |block: usize| self.u32_at(self.key_blocks_at + block * KEY_BLOCK_LEN);
        // The last block starting at or before `key`.
        let (mut lo, mut hi) = (0, blocks);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if first_hash(mid) <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let block = lo.checked_sub(1)?;
        let entries =
            &self.bytes.as_ref()[self.key_bytes_at..self.key_bytes_at + self.key_bytes_len];
        let mut at = self.u32_at(self.key_blocks_at + block * KEY_BLOCK_LEN + 4) as usize;
        let mut hash = first_hash(block);
        let in_block = KEY_BLOCK_KEYS.min(self.keys - block * KEY_BLOCK_KEYS);
        for _ in 0..in_block {
            let step = read_rice(entries, &mut at, self.rice_k);
            hash = hash.wrapping_add(step as u32);
            let single = read_bits(entries, &mut at, 1) == 1;
            let width = if single {
                self.row_bits
            } else {
                self.offset_bits
            };
            let value = read_bits(entries, &mut at, width);
            if hash > key {
                return None;
            }
            if hash == key {
                return Some(if single {
                    KeyEntry::Row(value as u32)
                } else {
                    KeyEntry::List(value as usize)
                });
            }
        }
        None
    }

    /// The rows within `start..end` of the posting list at byte `offset` of the postings
    /// section; a list that runs past the section ends where it does (the checksum makes that
    /// a bug, not a state to fail on).
    fn decode_postings(&self, offset: usize, start: u32, end: u32) -> Vec<u32> {
        let bytes = &self.bytes.as_ref()[self.postings_at..self.postings_at + self.postings_len];
        let mut at = offset;
        let count = read_varint(bytes, &mut at).unwrap_or(0) as usize;
        let Some(&k) = bytes.get(at) else {
            return Vec::new();
        };
        let k = u32::from(k).min(31);
        let skip_count = count.saturating_sub(1) / SKIP_ROWS;
        let skips = bytes
            .get(at + 1..at + 1 + 8 * skip_count)
            .unwrap_or_default();
        let list = bytes.get(at + 1 + 8 * skip_count..).unwrap_or_default();
        let skip = |j: usize| {
            let entry = &skips[8 * j..8 * j + 8];
            let row = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let bit = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
            (row, bit as usize)
        };
        // Start at the last skip entry before `start`, else at the first row.
        let skips_before = {
            let (mut lo, mut hi) = (0, skips.len() / 8);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if skip(mid).0 < start {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let (mut number, mut row, mut bit) = match skips_before.checked_sub(1) {
            Some(j) => {
                let (row, bit) = skip(j);
                ((j + 1) * SKIP_ROWS, row, bit)
            }
            None => {
                let mut bit = 0;
                (0, read_bits(list, &mut bit, self.row_bits) as u32, bit)
            }
        };
        let mut rows = Vec::new();
        loop {
            if row >= end {
                break;
            }
            if row >= start {
                rows.push(row);
            }
            number += 1;
            if number >= count || bit >= list.len() * 8 {
                break;
            }
            let step = read_rice(list, &mut bit, k) as u32;
            row = row.saturating_add(step).saturating_add(1);
        }
        rows
    }
}

/// Where a key's rows are: its one row, or the byte offset of its posting list.
enum KeyEntry {
    Row(u32),
    List(usize),
}

/// A set of rows, ascending.
#[derive(Debug, Clone)]
pub(crate) enum Postings<'a> {
    /// Every row `start..end`.
    Range(u32, u32),
    /// A single row.
    One(u32),
    /// The rows, decoded.
    Rows(std::borrow::Cow<'a, [u32]>),
}

impl<'a> Postings<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Postings::Range(start, end) => end.saturating_sub(*start) as usize,
            Postings::One(_) => 1,
            Postings::Rows(rows) => rows.len(),
        }
    }

    /// The part of these rows within `start..end`.
    pub(crate) fn within(&self, (start, end): (u32, u32)) -> Postings<'_> {
        match self {
            Postings::Range(a, b) => {
                let lo = (*a).max(start);
                Postings::Range(lo, (*b).min(end).max(lo))
            }
            Postings::One(row) if (start..end).contains(row) => Postings::One(*row),
            Postings::One(_) => Postings::Rows(Vec::new().into()),
            Postings::Rows(rows) => {
                let from = rows.partition_point(|&row| row < start);
                let to = rows.partition_point(|&row| row < end);
                Postings::Rows(std::borrow::Cow::Borrowed(&rows[from..to]))
            }
        }
    }

    pub(crate) fn get(&self, i: usize) -> u32 {
        match self {
            Postings::Range(start, _) => start + i as u32,
            Postings::One(row) => *row,
            Postings::Rows(rows) => rows[i],
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

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::lookup::attribute_index_key;
    use cairn_model::time::format_event_time;
    use proptest::prelude::*;

    fn record(id: usize, time_ms: i64, name: &str, account: &str, insight: bool) -> Record {
        let time = format_event_time(time_ms);
        let json = if insight {
            format!(
                r#"{{"eventID":"e{id}","eventTime":"{time}","insightDetails":{{"eventName":"{name}"}},"recipientAccountId":"{account}","eventCategory":"Insight"}}"#
            )
        } else {
            format!(
                r#"{{"eventID":"e{id}","eventTime":"{time}","eventName":"{name}","recipientAccountId":"{account}","awsRegion":"r"}}"#
            )
        };
        Record::parse(&json).unwrap()
    }

    proptest! {
        #[test]
        fn every_row_reads_back_its_time_history_scope_and_postings(
            rows in proptest::collection::vec(
                (prop_oneof![
                    // Whole seconds close together, milliseconds, and anything at all.
                    (1_600_000_000i64..1_600_000_100).prop_map(|s| s * 1000),
                    1_600_000_000_000i64..1_600_000_000_999,
                    -62_000_000_000_000i64..253_000_000_000_000,
                ], 0usize..5, 0usize..3, any::<bool>()),
                1..600,
            )
        ) {
            let mut records: Vec<Record> = rows
                .iter()
                .enumerate()
                .map(|(id, &(t, name, account, insight))| {
                    record(id, t, &format!("Name{name}"), &format!("{account}"), insight)
                })
                .collect();
            records.sort_by_key(|r| {
                (r.fields.account_id.clone(), r.fields.aws_region.clone(), r.fields.event_time_ms)
            });
            let refs: Vec<&Record> = records.iter().collect();
            let bytes = build(&refs);
            let index = SegmentIndex::open(bytes, Path::new("test.idx")).unwrap();
            prop_assert_eq!(index.rows(), records.len());
            for (row, record) in records.iter().enumerate() {
                let row = row as u32;
                prop_assert_eq!(index.time(row), record.fields.event_time_ms);
                prop_assert_eq!(index.history(row), Some(record.fields.history));
                // Every eventID is a key of its own row (or, by collision, of a few rows).
                let postings = index.postings(attribute_index_key(LookupAttributeKey::EventId, &record.fields.event_id));
                prop_assert!((0..postings.len()).any(|i| postings.get(i) == row));
            }
            for (scope, (account, region)) in index.scopes.iter().enumerate() {
                let (start, end) = index.scope_rows(scope as u32);
                let expected: Vec<u32> = (0..records.len() as u32)
                    .filter(|&r| {
                        let f = &records[r as usize].fields;
                        (&f.account_id, &f.aws_region) == (account, region)
                    })
                    .collect();
                prop_assert_eq!((start..end).collect::<Vec<_>>(), expected);
            }
            for name in 0..5 {
                let value = format!("Name{name}");
                let postings = index.postings(attribute_index_key(LookupAttributeKey::EventName, &value));
                let found: Vec<u32> = (0..postings.len()).map(|i| postings.get(i)).collect();
                let expected: Vec<u32> = (0..records.len() as u32)
                    .filter(|&r| records[r as usize].fields.event_name.as_deref() == Some(value.as_str()))
                    .collect();
                prop_assert_eq!(found, expected);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn a_long_posting_list_read_within_a_range_is_the_list_cut_to_it(
            rows in 1usize..3000,
            // How often the common name is drawn, in percent; low ones make long gaps.
            density in 1u64..100,
            seed in any::<u64>(),
            ranges in proptest::collection::vec((0u32..3100, 0u32..3100), 1..12),
        ) {
            let mut state = seed;
            let records: Vec<Record> = (0..rows)
                .map(|i| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let name = if (state >> 33) % 100 < density { "Common" } else { "Other" };
                    record(i, 1_600_000_000_000 + i as i64 * 1000, name, "1", false)
                })
                .collect();
            let refs: Vec<&Record> = records.iter().collect();
            let index = SegmentIndex::open(build(&refs), Path::new("test.idx")).unwrap();
            for name in ["Common", "Other"] {
                let key = attribute_index_key(LookupAttributeKey::EventName, name);
                let all: Vec<u32> = (0..records.len() as u32)
                    .filter(|&r| records[r as usize].fields.event_name.as_deref() == Some(name))
                    .collect();
                let whole = index.postings(key);
                prop_assert_eq!((0..whole.len()).map(|i| whole.get(i)).collect::<Vec<_>>(), all.clone());
                for &(a, b) in &ranges {
                    let (start, end) = (a.min(b), a.max(b));
                    let part = index.postings_within(key, (start, end));
                    let expected: Vec<u32> = all.iter().copied().filter(|r| (start..end).contains(r)).collect();
                    prop_assert_eq!((0..part.len()).map(|i| part.get(i)).collect::<Vec<_>>(), expected);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn a_bit_stream_reads_back_what_was_written(
            values in proptest::collection::vec((any::<u32>(), 0u32..28, 0u32..33), 1..200)
        ) {
            // Quotients up to 127: unary runs longer than a read window.
            let rice = |value: u32, k: u32| u64::from(value) & ((1u64 << (k + 7)) - 1);
            let mut writer = BitWriter::default();
            for &(value, k, width) in &values {
                writer.push_rice(rice(value, k), k);
                writer.push(u64::from(value), width);
            }
            let mut at = 0;
            for &(value, k, width) in &values {
                prop_assert_eq!(read_rice(&writer.bytes, &mut at, k), rice(value, k));
                prop_assert_eq!(read_bits(&writer.bytes, &mut at, width), u64::from(value) & ((1u64 << width) - 1));
            }
            prop_assert_eq!(at, writer.bits);
        }
    }

    #[test]
    fn a_damaged_index_is_refused() {
        let records = [record(0, 1_600_000_000_000, "A", "1", false)];
        let refs: Vec<&Record> = records.iter().collect();
        let mut bytes = build(&refs);
        bytes[HEADER_LEN] ^= 1;
        let error = SegmentIndex::open(bytes, Path::new("x.idx")).unwrap_err();
        assert!(error.to_string().contains("checksum"), "{error}");
    }
}
