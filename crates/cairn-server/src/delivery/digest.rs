//! Digest files (spec §6.2–6.3): per trail and region, one per digest interval, listing the
//! log files delivered in it with their SHA-256, signed with the region's key and chained to
//! the previous digest by its signature.
//!
//! The signature covers `digestEndTime \n bucket/key \n hex(SHA-256(digest bytes)) \n
//! previousDigestSignature-or-"null"`; it travels as the object's `signature` metadata, with
//! `signature-algorithm: SHA256withRSA`. The digest's JSON bytes are hashed exactly as
//! written (then gzipped), which is what `aws cloudtrail validate-logs` checks.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{LogFile, Target, format_seconds, gzip, key_prefix};
use crate::signing_keys::SigningKeys;
use crate::trails::Trail;

pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
pub const HASH_ALGORITHM: &str = "SHA-256";

/// A region's digest chain as the deliverer keeps it between digests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionDigest {
    /// Where the next digest's period starts (the previous digest's end).
    pub period_start_ms: i64,
    /// The log files delivered since.
    pub files: Vec<DigestLogFile>,
    /// The previous digest; `None` starts a chain.
    pub previous: Option<PreviousDigest>,
}

/// A `logFiles[]` entry of a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestLogFile {
    pub s3_bucket: String,
    pub s3_object: String,
    pub hash_value: String,
    pub hash_algorithm: String,
    pub newest_event_time: String,
    pub oldest_event_time: String,
}

/// What the next digest must say about the one before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousDigest {
    pub bucket: String,
    pub object: String,
    /// Hex SHA-256 of its uncompressed bytes.
    pub hash: String,
    pub signature: String,
}

/// The digest file, member order as AWS writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    pub newest_event_time: Option<String>,
    pub oldest_event_time: Option<String>,
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    pub log_files: Vec<DigestLogFile>,
}

impl DigestLogFile {
    pub fn new(bucket: &str, file: &LogFile) -> DigestLogFile {
        DigestLogFile {
            s3_bucket: bucket.to_owned(),
            s3_object: file.key.clone(),
            hash_value: file.sha256.clone(),
            hash_algorithm: HASH_ALGORITHM.to_owned(),
            newest_event_time: format_seconds(file.newest_event_ms),
            oldest_event_time: format_seconds(file.oldest_event_ms),
        }
    }
}

impl RegionDigest {
    /// A chain's start: no previous digest, nothing delivered yet.
    pub fn starting(now_ms: i64) -> RegionDigest {
        RegionDigest {
            period_start_ms: now_ms,
            files: Vec::new(),
            previous: None,
        }
    }

    pub fn add_file(&mut self, file: DigestLogFile) {
        self.files.push(file);
    }

    /// True when nothing has happened in this chain yet.
    pub fn is_fresh(&self) -> bool {
        self.files.is_empty() && self.previous.is_none()
    }
}

/// `[prefix/]AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHMMSSZ>.json.gz`,
/// dated by the digest's end.
pub fn digest_key(trail: &Trail, region: &str, end_ms: i64) -> String {
    let stamp = cairn_model::time::format_amz_date(end_ms);
    let (year, month, day) = (&stamp[0..4], &stamp[4..6], &stamp[6..8]);
    let account = &trail.account_id;
    format!(
        "{}AWSLogs/{account}/CloudTrail-Digest/{region}/{year}/{month}/{day}/\
         {account}_CloudTrail-Digest_{region}_{}_{}_{stamp}.json.gz",
        key_prefix(trail),
        trail.name,
        trail.home_region
    )
}

/// The text a digest's signature covers (spec §6.3).
pub fn string_to_sign(
    end_time: &str,
    bucket: &str,
    key: &str,
    digest_sha256: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{end_time}\n{bucket}/{key}\n{digest_sha256}\n{}",
        previous_signature.unwrap_or("null")
    )
}

/// Writes the digest of `region` for the period ending now, and returns the chain's state
/// for the next one.
pub async fn write(
    target: &Target,
    keys: &SigningKeys,
    trail: &Trail,
    region: &str,
    chain: &RegionDigest,
    now_ms: i64,
) -> Result<RegionDigest, String> {
    // Second precision, and never ending where it starts.
    let start_s = chain.period_start_ms.div_euclid(1000);
    let end_s = now_ms.div_euclid(1000).max(start_s + 1);
    let end_ms = end_s * 1000;
    let key = digest_key(trail, region, end_ms);
    let signing_key = keys.current(region, end_s)?;
    let newest = chain.files.iter().map(|f| &f.newest_event_time).max();
    let oldest = chain.files.iter().map(|f| &f.oldest_event_time).min();
    let previous = chain.previous.as_ref();
    let file = DigestFile {
        aws_account_id: trail.account_id.clone(),
        digest_start_time: format_seconds(start_s * 1000),
        digest_end_time: format_seconds(end_ms),
        digest_s3_bucket: trail.s3_bucket_name.clone(),
        digest_s3_object: key.clone(),
        digest_public_key_fingerprint: signing_key.fingerprint.clone(),
        digest_signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
        newest_event_time: newest.cloned(),
        oldest_event_time: oldest.cloned(),
        previous_digest_s3_bucket: previous.map(|p| p.bucket.clone()),
        previous_digest_s3_object: previous.map(|p| p.object.clone()),
        previous_digest_hash_value: previous.map(|p| p.hash.clone()),
        previous_digest_hash_algorithm: previous.map(|_| HASH_ALGORITHM.to_owned()),
        previous_digest_signature: previous.map(|p| p.signature.clone()),
        log_files: chain.files.clone(),
    };
    let json = serde_json::to_vec(&file).map_err(|e| e.to_string())?;
    let hash = hex::encode(Sha256::digest(&json));
    let message = string_to_sign(
        &file.digest_end_time,
        &trail.s3_bucket_name,
        &key,
        &hash,
        file.previous_digest_signature.as_deref(),
    );
    let signature = SigningKeys::sign(&signing_key, message.as_bytes())?;
    let metadata = [
        ("signature", signature.clone()),
        ("signature-algorithm", SIGNATURE_ALGORITHM.to_owned()),
    ];
    target
        .put(&trail.s3_bucket_name, &key, gzip(&json), &metadata)
        .await?;
    Ok(RegionDigest {
        period_start_ms: end_ms,
        files: Vec::new(),
        previous: Some(PreviousDigest {
            bucket: trail.s3_bucket_name.clone(),
            object: key,
            hash,
            signature,
        }),
    })
}
