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
///
/// Every digest of a chain covers exactly one digest interval (the last one of a stopped
/// trail excepted), back to back: the chain's periods are regular, so that `validate-logs`
/// can tell how many digests a gap in the chain stands for, and a digest redone after a crash
/// gets the same key and bytes as the one it replaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionDigest {
    /// Where the next digest's period starts (the previous digest's end), whole seconds.
    pub period_start_ms: i64,
    /// The log files delivered since, each listed by the digest whose period holds its
    /// delivery time.
    pub files: Vec<ListedFile>,
    /// The previous digest; `None` starts a chain.
    pub previous: Option<PreviousDigest>,
}

/// A delivered log file waiting for its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedFile {
    pub delivered_at_ms: i64,
    #[serde(flatten)]
    pub entry: DigestLogFile,
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
            period_start_ms: now_ms.div_euclid(1000) * 1000,
            files: Vec::new(),
            previous: None,
        }
    }

    pub fn add_file(&mut self, delivered_at_ms: i64, entry: DigestLogFile) {
        self.files.push(ListedFile {
            delivered_at_ms,
            entry,
        });
    }

    /// True when nothing has happened in this chain yet.
    pub fn is_fresh(&self) -> bool {
        self.files.is_empty() && self.previous.is_none()
    }
}

/// Where a trail's digests go: what [`digest_key`] needs to know about the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestPlace {
    pub bucket: String,
    /// The trail's `S3KeyPrefix`, if any.
    pub prefix: Option<String>,
    pub account_id: String,
    pub trail_name: String,
    pub home_region: String,
}

impl DigestPlace {
    pub fn of(trail: &Trail) -> DigestPlace {
        DigestPlace {
            bucket: trail.s3_bucket_name.clone(),
            prefix: trail.s3_key_prefix.clone(),
            account_id: trail.account_id.clone(),
            trail_name: trail.name.clone(),
            home_region: trail.home_region.clone(),
        }
    }

    /// `[prefix/]AWSLogs/<account>/CloudTrail-Digest/<region>/`: the folder of a region's
    /// digests.
    pub fn region_folder(&self, region: &str) -> String {
        format!("{}{region}/", self.digest_folder())
    }

    /// `[prefix/]AWSLogs/<account>/CloudTrail-Digest/`.
    pub fn digest_folder(&self) -> String {
        format!(
            "{}AWSLogs/{}/CloudTrail-Digest/",
            key_prefix(self.prefix.as_deref()),
            self.account_id
        )
    }

    /// `[prefix/]AWSLogs/<account>/CloudTrail/<region>/`: the folder of a region's log files.
    pub fn log_folder(&self, region: &str) -> String {
        format!(
            "{}AWSLogs/{}/CloudTrail/{region}/",
            key_prefix(self.prefix.as_deref()),
            self.account_id
        )
    }

    /// The start of a digest's file name, before its time stamp:
    /// `<account>_CloudTrail-Digest_<region>_<trail>_<home region>_`.
    pub fn file_name_start(&self, region: &str) -> String {
        format!(
            "{}_CloudTrail-Digest_{region}_{}_{}_",
            self.account_id, self.trail_name, self.home_region
        )
    }

    /// `[prefix/]AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHMMSSZ>.json.gz`,
    /// dated by the digest's end.
    pub fn key(&self, region: &str, end_ms: i64) -> String {
        let stamp = cairn_model::time::format_amz_date(end_ms);
        let (year, month, day) = (&stamp[0..4], &stamp[4..6], &stamp[6..8]);
        format!(
            "{}{year}/{month}/{day}/{}{stamp}.json.gz",
            self.region_folder(region),
            self.file_name_start(region)
        )
    }

    /// The end time (epoch ms) a digest key of this trail and `region` names; `None` for any
    /// other key.
    pub fn end_of_key(&self, region: &str, key: &str) -> Option<i64> {
        let rest = key.strip_prefix(&self.region_folder(region))?;
        let (_date, file_name) = rest.rsplit_once('/')?;
        let stamp = file_name
            .strip_prefix(&self.file_name_start(region))?
            .strip_suffix(".json.gz")?;
        cairn_model::time::parse_amz_date(stamp)
    }
}

/// The key of `trail`'s digest of `region` ending at `end_ms` (see [`DigestPlace::key`]).
pub fn digest_key(trail: &Trail, region: &str, end_ms: i64) -> String {
    DigestPlace::of(trail).key(region, end_ms)
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

/// Writes the digest of `region` for the period from the chain's start to `end_ms` (listing
/// the files delivered before `end_ms`), and returns the chain's state for the next one.
/// Deterministic in its inputs, so that a digest redone after a crash is the same object.
pub async fn write(
    target: &Target,
    keys: &SigningKeys,
    trail: &Trail,
    region: &str,
    chain: &RegionDigest,
    end_ms: i64,
) -> Result<RegionDigest, String> {
    // Second precision, and never ending where it starts.
    let start_s = chain.period_start_ms.div_euclid(1000);
    let end_s = end_ms.div_euclid(1000).max(start_s + 1);
    let end_ms = end_s * 1000;
    let (listed, later): (Vec<ListedFile>, Vec<ListedFile>) = chain
        .files
        .iter()
        .cloned()
        .partition(|f| f.delivered_at_ms < end_ms);
    let listed: Vec<DigestLogFile> = listed.into_iter().map(|f| f.entry).collect();
    let key = digest_key(trail, region, end_ms);
    let signing_key = keys.current(region, end_s)?;
    let newest = listed.iter().map(|f| &f.newest_event_time).max();
    let oldest = listed.iter().map(|f| &f.oldest_event_time).min();
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
        log_files: listed,
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
        .put(
            &trail.s3_bucket_name,
            &key,
            gzip(&json),
            &metadata,
            trail.kms_key_id.as_deref(),
        )
        .await?;
    Ok(RegionDigest {
        period_start_ms: end_ms,
        files: later,
        previous: Some(PreviousDigest {
            bucket: trail.s3_bucket_name.clone(),
            object: key,
            hash,
            signature,
        }),
    })
}
