//! Log file integrity validation (`cairn validate-logs`, spec §6.5): what
//! `aws cloudtrail validate-logs` checks, and what it misses.
//!
//! For each region with digests, the newest digest in range is the head of a walk back along
//! the chain (`previousDigestS3Object`) until the digests start before the range. Each digest
//! is checked like the AWS CLI checks it (gzip and JSON, `signature` metadata, its own
//! location, a public key with its fingerprint, SHA256withRSA over spec §6.3's string), and
//! each log file it lists is read and its uncompressed SHA-256 compared. Beyond the AWS CLI:
//!
//! - **chain links**: a digest's `previousDigestHashValue` and `previousDigestSignature` must
//!   be those of the digest it names (a valid digest put in another's place is caught);
//! - **moved files**: a digest or log file missing from its key but found elsewhere in the
//!   trail's folders (same content) is reported as moved, with where it is now;
//! - **runs of deleted digests**: the chain names only the newest digest of a deleted run, so
//!   the AWS CLI reports one and goes on from the next digest it lists. cairn's chains have
//!   regular periods (every digest but a stopped trail's last covers one digest interval,
//!   `digest.rs`), so a gap between the digest before the run and the one after it tells how
//!   many digests are gone, and their keys;
//! - **the listing cross-check**: a digest of the trail listed inside the walked range but not
//!   on the chain is reported.
//!
//! Messages follow the AWS CLI's (`INVALID: not found`, `INVALID: hash value doesn't match`,
//! ...), so that scripts that read one read the other.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use cairn_model::time::parse_event_time;
use sha2::{Digest as _, Sha256};

use super::digest::{DigestFile, DigestPlace, SIGNATURE_ALGORITHM, string_to_sign};
use super::{Target, format_seconds};

/// How far past the requested end digests are read: log files of events near the end are
/// listed by a later digest (the AWS CLI reads one hour further too).
const SPILL_MS: i64 = 3_600_000;

/// A file the validation looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Digest,
    Log,
}

/// One line of the report: a file and what is wrong with it (`None`: valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FileKind,
    /// `s3://bucket/key`.
    pub location: String,
    pub problem: Option<String>,
}

/// Everything a validation found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Remarks that are not failures (a chain starting again after logging stopped).
    pub notes: Vec<String>,
    /// The span the valid digests cover, clipped to the requested range (epoch ms).
    pub found_start_ms: Option<i64>,
    pub found_end_ms: Option<i64>,
}

impl Report {
    /// (valid, invalid) files of `kind`.
    pub fn count(&self, kind: FileKind) -> (usize, usize) {
        let of_kind = self.findings.iter().filter(|f| f.kind == kind);
        let invalid = of_kind.clone().filter(|f| f.problem.is_some()).count();
        (of_kind.count() - invalid, invalid)
    }

    pub fn all_valid(&self) -> bool {
        self.findings.iter().all(|f| f.problem.is_none())
    }

    fn valid(&mut self, kind: FileKind, bucket: &str, key: &str) {
        self.findings.push(Finding {
            kind,
            location: format!("s3://{bucket}/{key}"),
            problem: None,
        });
    }

    fn invalid(&mut self, kind: FileKind, bucket: &str, key: &str, problem: impl Into<String>) {
        self.findings.push(Finding {
            kind,
            location: format!("s3://{bucket}/{key}"),
            problem: Some(problem.into()),
        });
    }
}

/// The public keys of one region, by fingerprint: PKCS#1 `RSAPublicKey` DER.
pub type PublicKeys = HashMap<String, Vec<u8>>;

/// What to validate.
#[derive(Debug, Clone)]
pub struct Validation {
    pub place: DigestPlace,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// A digest that passed the AWS CLI's checks.
#[derive(Debug)]
struct CheckedDigest {
    bucket: String,
    key: String,
    file: DigestFile,
    /// Hex SHA-256 of its uncompressed bytes.
    hash: String,
    signature: String,
    start_ms: i64,
    end_ms: i64,
}

/// What reading a digest found.
#[derive(Debug)]
enum DigestCheck {
    Valid(Box<CheckedDigest>),
    Invalid(String),
    Missing,
}

/// Validates the trail's digests and log files in every region it has digests for.
/// `public_keys(region)` answers the region's keys valid in the range. An `Err` is a failure
/// to read (the bucket unreachable), not an invalid file.
pub async fn validate(
    target: &Target,
    validation: &Validation,
    public_keys: &mut dyn FnMut(&str) -> Result<PublicKeys, String>,
) -> Result<Report, String> {
    let place = &validation.place;
    let listed = target.list(&place.bucket, &place.digest_folder()).await?;
    let regions: BTreeSet<&str> = listed
        .iter()
        .filter_map(|key| key[place.digest_folder().len()..].split('/').next())
        .collect();
    let mut report = Report::default();
    for region in regions {
        let mut digests: Vec<(i64, String)> = listed
            .iter()
            .filter_map(|key| place.end_of_key(region, key).map(|end| (end, key.clone())))
            .collect();
        digests.sort();
        if digests.is_empty() {
            continue;
        }
        let keys = public_keys(region)?;
        let mut walk = RegionWalk {
            target,
            validation,
            region,
            keys,
            cache: HashMap::new(),
            report: &mut report,
            referenced_logs: HashSet::new(),
            missing_logs: Vec::new(),
        };
        walk.run(digests).await?;
    }
    Ok(report)
}

/// The walk along one region's chain.
struct RegionWalk<'a> {
    target: &'a Target,
    validation: &'a Validation,
    region: &'a str,
    keys: PublicKeys,
    /// Digests already read, by key.
    cache: HashMap<String, DigestCheck>,
    report: &'a mut Report,
    /// Log files the digests list, as (bucket, key).
    referenced_logs: HashSet<(String, String)>,
    /// Listed log files that were not found: (bucket, key, expected hash).
    missing_logs: Vec<(String, String, String)>,
}

impl RegionWalk<'_> {
    async fn run(&mut self, listed: Vec<(i64, String)>) -> Result<(), String> {
        let range = self.validation.start_ms..=self.validation.end_ms + SPILL_MS;
        let in_range: Vec<(i64, String)> = listed
            .into_iter()
            .filter(|(end, _)| range.contains(end))
            .collect();
        let mut remaining = in_range.clone();
        let mut bucket = self.validation.place.bucket.clone();
        let mut next = remaining.pop().map(|(_, key)| key);
        let mut successor: Option<Box<CheckedDigest>> = None;
        let mut last_start_ms = i64::MAX;
        let mut visited: HashSet<String> = HashSet::new();
        while let Some(key) = next.take() {
            if last_start_ms < self.validation.start_ms {
                break;
            }
            visited.insert(key.clone());
            let named_by = successor.take();
            let check = self.check(&bucket, &key, &key).await?;
            let found = match check {
                DigestCheck::Valid(digest) => Some(digest),
                DigestCheck::Invalid(problem) => {
                    self.report
                        .invalid(FileKind::Digest, &bucket, &key, problem);
                    None
                }
                DigestCheck::Missing => {
                    let unvisited: Vec<(i64, String)> = remaining
                        .iter()
                        .filter(|(_, k)| !visited.contains(k))
                        .cloned()
                        .collect();
                    match self.find_moved(&bucket, &key, &unvisited).await? {
                        Some(moved) => {
                            self.report.invalid(
                                FileKind::Digest,
                                &bucket,
                                &key,
                                format!("INVALID: moved to s3://{}/{}", moved.bucket, moved.key),
                            );
                            visited.insert(moved.key.clone());
                            remaining.retain(|(_, k)| *k != moved.key);
                            // Go on along the moved digest's chain.
                            self.check_chain_link(named_by.as_deref(), &moved, false);
                            self.found(&moved);
                            self.check_logs(&moved).await?;
                            last_start_ms = moved.start_ms;
                            next = moved.file.previous_digest_s3_object.clone();
                            successor = Some(moved);
                            continue;
                        }
                        None => {
                            self.report.invalid(
                                FileKind::Digest,
                                &bucket,
                                &key,
                                "INVALID: not found",
                            );
                            let end = self
                                .validation
                                .place
                                .end_of_key(self.region, &key)
                                .unwrap_or(last_start_ms);
                            let before = newest_before(&mut remaining, end);
                            if let Some(before) = &before {
                                self.report_deleted_run(&bucket, before, end).await?;
                            }
                            next = before;
                            continue;
                        }
                    }
                }
            };
            let Some(digest) = found else {
                let end = self
                    .validation
                    .place
                    .end_of_key(self.region, &key)
                    .unwrap_or(last_start_ms);
                next = newest_before(&mut remaining, end);
                continue;
            };
            self.check_chain_link(named_by.as_deref(), &digest, true);
            self.found(&digest);
            self.check_logs(&digest).await?;
            last_start_ms = digest.start_ms;
            match (
                &digest.file.previous_digest_s3_bucket,
                &digest.file.previous_digest_s3_object,
            ) {
                (Some(previous_bucket), Some(previous_key)) => {
                    bucket.clone_from(previous_bucket);
                    next = Some(previous_key.clone());
                }
                _ => {
                    // The chain starts here (logging or validation was turned on).
                    next = newest_before(&mut remaining, digest.end_ms);
                    if let Some(older) = &next
                        && let Some(end) = self.validation.place.end_of_key(self.region, older)
                    {
                        self.report.notes.push(format!(
                            "No log files were delivered by CloudTrail between {} and {}",
                            format_seconds(end),
                            format_seconds(digest.start_ms)
                        ));
                    }
                }
            }
            successor = Some(digest);
        }
        // The listing cross-check: digests inside the walked span that the chain skipped.
        let oldest_visited = in_range
            .iter()
            .filter(|(_, key)| visited.contains(key))
            .map(|(end, _)| *end)
            .min();
        for (end, key) in &in_range {
            if !visited.contains(key) && oldest_visited.is_some_and(|oldest| *end > oldest) {
                self.report.invalid(
                    FileKind::Digest,
                    &self.validation.place.bucket,
                    key,
                    "INVALID: not part of the trail's digest chain",
                );
            }
        }
        self.report_missing_logs().await
    }

    /// Reads and checks the digest stored at `stored_key`, which should be the digest of
    /// `claimed_key` (the same, unless it was moved).
    async fn check(
        &mut self,
        bucket: &str,
        stored_key: &str,
        claimed_key: &str,
    ) -> Result<DigestCheck, String> {
        if let Some(cached) = self.cache.remove(stored_key) {
            return Ok(cached);
        }
        let Some(object) = self.target.get(bucket, stored_key).await? else {
            return Ok(DigestCheck::Missing);
        };
        let invalid = |what: &str| Ok(DigestCheck::Invalid(format!("INVALID: {what}")));
        let Some(json) = gunzip(&object.bytes).ok().filter(|(_, trailing)| !trailing) else {
            return invalid("invalid format");
        };
        let json = json.0;
        let Ok(file) = serde_json::from_slice::<DigestFile>(&json) else {
            return invalid("invalid format");
        };
        let (Some(signature), Some(algorithm)) = (
            object.metadata.get("signature"),
            object.metadata.get("signature-algorithm"),
        ) else {
            return invalid("signature verification failed");
        };
        if file.digest_s3_bucket != bucket || file.digest_s3_object != claimed_key {
            return invalid("has been moved from its original location");
        }
        let Some(public_key) = self.keys.get(&file.digest_public_key_fingerprint) else {
            return invalid(&format!(
                "public key not found in region {} for fingerprint {}",
                self.region, file.digest_public_key_fingerprint
            ));
        };
        let hash = hex::encode(Sha256::digest(&json));
        let message = string_to_sign(
            &file.digest_end_time,
            &file.digest_s3_bucket,
            &file.digest_s3_object,
            &hash,
            file.previous_digest_signature.as_deref(),
        );
        let verified = algorithm == SIGNATURE_ALGORITHM
            && hex::decode(signature).is_ok_and(|signature| {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
                    .verify(message.as_bytes(), &signature)
                    .is_ok()
            });
        if !verified {
            return invalid("signature verification failed");
        }
        let (Some(start_ms), Some(end_ms)) = (
            parse_event_time(&file.digest_start_time),
            parse_event_time(&file.digest_end_time),
        ) else {
            return invalid("invalid format");
        };
        Ok(DigestCheck::Valid(Box::new(CheckedDigest {
            bucket: bucket.to_owned(),
            key: stored_key.to_owned(),
            hash,
            signature: signature.clone(),
            start_ms,
            end_ms,
            file,
        })))
    }

    /// A digest among `candidates` whose content says it belongs at `key`.
    async fn find_moved(
        &mut self,
        bucket: &str,
        key: &str,
        candidates: &[(i64, String)],
    ) -> Result<Option<Box<CheckedDigest>>, String> {
        for (_, candidate) in candidates {
            let check = self.check(bucket, candidate, candidate).await?;
            let names_key = match &check {
                DigestCheck::Invalid(problem) if problem.contains("moved") => {
                    // Read it again as the digest of `key`: its signature covers that name.
                    match self.check(bucket, candidate, key).await? {
                        DigestCheck::Valid(moved) => return Ok(Some(moved)),
                        _ => false,
                    }
                }
                _ => false,
            };
            if !names_key {
                self.cache.insert(candidate.clone(), check);
            }
        }
        Ok(None)
    }

    /// After `key` (ending at `missing_end_ms`) was not found and `before` is the newest
    /// listed digest older than it: the chain's regular period tells whether more digests
    /// between them are gone. Each is reported with the key it would have.
    async fn report_deleted_run(
        &mut self,
        bucket: &str,
        before: &str,
        missing_end_ms: i64,
    ) -> Result<(), String> {
        let check = self.check(bucket, before, before).await?;
        let period = match &check {
            DigestCheck::Valid(digest) => Some((digest.end_ms, digest.end_ms - digest.start_ms)),
            _ => None,
        };
        self.cache.insert(before.to_owned(), check);
        let Some((before_end_ms, period_ms)) = period else {
            return Ok(());
        };
        let gap_ms = missing_end_ms - before_end_ms;
        if period_ms <= 0 || gap_ms <= period_ms {
            return Ok(());
        }
        if gap_ms % period_ms == 0 {
            // Newest first, as the walk goes.
            for step in (1..gap_ms / period_ms).rev() {
                let end_ms = before_end_ms + step * period_ms;
                let key = self.validation.place.key(self.region, end_ms);
                self.report.invalid(
                    FileKind::Digest,
                    bucket,
                    &key,
                    format!(
                        "INVALID: not found (one of a run of deleted digests: the chain has \
                         one every {} s)",
                        period_ms / 1000
                    ),
                );
            }
        } else {
            self.report.invalid(
                FileKind::Digest,
                bucket,
                &self.validation.place.region_folder(self.region),
                format!(
                    "INVALID: digests covering {} to {} are missing",
                    format_seconds(before_end_ms),
                    format_seconds(missing_end_ms)
                ),
            );
        }
        Ok(())
    }

    /// `digest` must be the one `successor` names, with the hash and signature it recorded.
    fn check_chain_link(
        &mut self,
        successor: Option<&CheckedDigest>,
        digest: &CheckedDigest,
        report_valid: bool,
    ) {
        let linked = successor.is_none_or(|s| {
            s.file.previous_digest_hash_value.as_deref() == Some(digest.hash.as_str())
                && s.file.previous_digest_signature.as_deref() == Some(digest.signature.as_str())
        });
        if !linked {
            let successor_key = successor.map_or("", |s| s.key.as_str());
            self.report.invalid(
                FileKind::Digest,
                &digest.bucket,
                &digest.key,
                format!(
                    "INVALID: its hash and signature are not the ones recorded by the next \
                     digest, s3://{}/{successor_key}",
                    digest.bucket
                ),
            );
        } else if report_valid {
            self.report
                .valid(FileKind::Digest, &digest.bucket, &digest.key);
        }
    }

    /// Widens the found span with a valid digest.
    fn found(&mut self, digest: &CheckedDigest) {
        let start = digest.start_ms.max(self.validation.start_ms);
        let end = digest.end_ms.min(self.validation.end_ms);
        let report = &mut *self.report;
        report.found_start_ms = Some(report.found_start_ms.map_or(start, |s| s.min(start)));
        report.found_end_ms = Some(report.found_end_ms.map_or(end, |e| e.max(end)));
    }

    /// Checks the log files `digest` lists; missing ones wait for [`Self::report_missing_logs`].
    async fn check_logs(&mut self, digest: &CheckedDigest) -> Result<(), String> {
        for log in &digest.file.log_files {
            let (bucket, key) = (&log.s3_bucket, &log.s3_object);
            self.referenced_logs.insert((bucket.clone(), key.clone()));
            let Some(object) = self.target.get(bucket, key).await? else {
                self.missing_logs
                    .push((bucket.clone(), key.clone(), log.hash_value.clone()));
                continue;
            };
            match gunzip(&object.bytes) {
                Err(_) => {
                    self.report
                        .invalid(FileKind::Log, bucket, key, "INVALID: invalid format")
                }
                Ok((_, true)) => self.report.invalid(
                    FileKind::Log,
                    bucket,
                    key,
                    "INVALID: unexpected data after end of compressed stream",
                ),
                Ok((json, false)) if hex::encode(Sha256::digest(&json)) != log.hash_value => {
                    self.report.invalid(
                        FileKind::Log,
                        bucket,
                        key,
                        "INVALID: hash value doesn't match",
                    );
                }
                Ok(_) => self.report.valid(FileKind::Log, bucket, key),
            }
        }
        Ok(())
    }

    /// Reports the listed log files that were not found: moved, when a log file that no
    /// digest lists has their content, else not found.
    async fn report_missing_logs(&mut self) -> Result<(), String> {
        if self.missing_logs.is_empty() {
            return Ok(());
        }
        let folder = self.validation.place.log_folder(self.region);
        let mut unlisted_by_hash: HashMap<String, (String, String)> = HashMap::new();
        let buckets: BTreeSet<String> = self.missing_logs.iter().map(|m| m.0.clone()).collect();
        for bucket in buckets {
            for key in self.target.list(&bucket, &folder).await? {
                if self
                    .referenced_logs
                    .contains(&(bucket.clone(), key.clone()))
                {
                    continue;
                }
                let Some(object) = self.target.get(&bucket, &key).await? else {
                    continue;
                };
                if let Ok((json, _)) = gunzip(&object.bytes) {
                    let hash = hex::encode(Sha256::digest(&json));
                    unlisted_by_hash.insert(hash, (bucket.clone(), key));
                }
            }
        }
        for (bucket, key, hash) in std::mem::take(&mut self.missing_logs) {
            let problem = match unlisted_by_hash.get(&hash) {
                Some((new_bucket, new_key)) => {
                    format!("INVALID: moved to s3://{new_bucket}/{new_key}")
                }
                None => "INVALID: not found".to_owned(),
            };
            self.report.invalid(FileKind::Log, &bucket, &key, problem);
        }
        Ok(())
    }
}

/// Takes the newest key of `remaining` (sorted by end) that ends before `end_ms`, dropping
/// the newer ones.
fn newest_before(remaining: &mut Vec<(i64, String)>, end_ms: i64) -> Option<String> {
    while let Some((end, key)) = remaining.pop() {
        if end < end_ms {
            return Some(key);
        }
    }
    None
}

/// The gunzipped bytes of a gzip member, and whether data follows it.
fn gunzip(bytes: &[u8]) -> std::io::Result<(Vec<u8>, bool)> {
    let mut decoder = flate2::bufread::GzDecoder::new(bytes);
    let mut out = Vec::new();
    decoder.read_to_end(&mut out)?;
    let trailing = !decoder.into_inner().is_empty();
    Ok((out, trailing))
}
