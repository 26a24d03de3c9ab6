//! A Lake query's results saved to a bucket (StartQuery's `DeliveryS3Uri`; spec §6.6): the
//! results as gzipped CSV and a sign file that proves them, signed with the region's digest
//! key (ListPublicKeys lists it):
//!
//! ```text
//! s3://<bucket>/[<prefix>/]AWSLogs/<account>/CloudTrail-Lake/Query/<YYYY>/<MM>/<DD>/<query-id>/
//!     result_1.csv.gz      a header of the column labels, then a line per row (RFC 4180;
//!                          NULL is an empty field)
//!     result_sign.json     {"version": "1.0", "region", "files": [{"fileHashValue",
//!                          "fileName"}], "hashAlgorithm": "SHA-256", "signatureAlgorithm":
//!                          "SHA256withRSA", "queryCompleteTime", "hashSignature",
//!                          "publicKeyFingerprint"}
//! ```
//!
//! `fileHashValue` is the hex SHA-256 of the compressed file; the string signed is the files'
//! hashes joined by a space. The date in the key is the query's creation date (AWS does not
//! say which date it uses), so DescribeQuery can name the folder while delivery is pending.

use sha2::{Digest as _, Sha256};

use super::{Target, format_seconds, gzip};
use crate::error::{ApiError, ErrorCode};
use crate::queries::Results;
use crate::signing_keys::SigningKeys;
use crate::trails::validate_s3_bucket_name;

/// AWS's limit on `DeliveryS3Uri`.
const MAX_URI_CHARS: usize = 1024;
/// The one results file cairn writes (AWS splits large results into several).
pub const RESULT_FILE: &str = "result_1.csv.gz";
pub const SIGN_FILE: &str = "result_sign.json";

/// Where a query's results go: a bucket and a folder in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsFolder {
    pub bucket: String,
    /// The key of the folder, without a trailing `/`.
    pub folder: String,
}

impl ResultsFolder {
    /// The folder of query `query_id` of `account_id`, created at `created_ms`, under
    /// `s3://bucket[/prefix]` (`uri`, checked).
    pub fn of(
        uri: &str,
        account_id: &str,
        query_id: &str,
        created_ms: i64,
    ) -> Result<ResultsFolder, ApiError> {
        let (bucket, prefix) = parse_uri(uri)?;
        let date = &format_seconds(created_ms)[..10];
        let mut folder = String::new();
        if !prefix.is_empty() {
            folder.push_str(&prefix);
            folder.push('/');
        }
        folder.push_str(&format!(
            "AWSLogs/{account_id}/CloudTrail-Lake/Query/{}/{query_id}",
            date.replace('-', "/")
        ));
        Ok(ResultsFolder { bucket, folder })
    }

    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.folder)
    }

    pub fn key(&self, file: &str) -> String {
        format!("{}/{file}", self.folder)
    }
}

/// `s3://bucket[/prefix]` as (bucket, prefix without its slashes), or AWS's error.
fn parse_uri(uri: &str) -> Result<(String, String), ApiError> {
    if uri.chars().count() > MAX_URI_CHARS {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("DeliveryS3Uri must be at most {MAX_URI_CHARS} characters."),
        ));
    }
    let Some(rest) = uri.strip_prefix("s3://") else {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("DeliveryS3Uri {uri:?} is not an S3 URI: write s3://bucket[/prefix]."),
        ));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    validate_s3_bucket_name(bucket)?;
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

/// How a delivery ended, as DescribeQuery's `DeliveryStatus` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Success,
    /// The results file could not be written (the message says why).
    Failed(String),
    /// The results file was written; the sign file could not be.
    FailedSigningFile(String),
}

/// Writes `results` and their sign file to `folder`, signed with `region`'s key at
/// `complete_ms`.
pub async fn deliver(
    target: &Target,
    keys: &SigningKeys,
    region: &str,
    folder: &ResultsFolder,
    results: &Results,
    complete_ms: i64,
) -> Delivered {
    let file = gzip(results.csv(false).as_bytes());
    let hash = hex::encode(Sha256::digest(&file));
    if let Err(e) = target
        .put(&folder.bucket, &folder.key(RESULT_FILE), file, &[], None)
        .await
    {
        return Delivered::Failed(e);
    }
    let sign_file = match sign_file(keys, region, &hash, complete_ms) {
        Ok(document) => document,
        Err(e) => return Delivered::FailedSigningFile(e),
    };
    match target
        .put(&folder.bucket, &folder.key(SIGN_FILE), sign_file, &[], None)
        .await
    {
        Ok(()) => Delivered::Success,
        Err(e) => Delivered::FailedSigningFile(e),
    }
}

fn sign_file(
    keys: &SigningKeys,
    region: &str,
    file_hash: &str,
    complete_ms: i64,
) -> Result<Vec<u8>, String> {
    let key = keys.current(region, complete_ms.div_euclid(1000))?;
    let signature = SigningKeys::sign(&key, file_hash.as_bytes())?;
    let document = serde_json::json!({
        "version": "1.0",
        "region": region,
        "files": [{"fileHashValue": file_hash, "fileName": RESULT_FILE}],
        "hashAlgorithm": "SHA-256",
        "signatureAlgorithm": "SHA256withRSA",
        "queryCompleteTime": format_seconds(complete_ms),
        "hashSignature": signature,
        "publicKeyFingerprint": key.fingerprint,
    });
    serde_json::to_vec(&document).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queries_folder_is_under_the_uris_prefix_by_account_and_day() {
        let at = cairn_model::time::parse_event_time("2022-05-10T22:06:30Z").unwrap();
        let folder =
            ResultsFolder::of("s3://results-bucket/team/q/", "123456789012", "q-1", at).unwrap();
        assert_eq!(
            folder.uri(),
            "s3://results-bucket/team/q/AWSLogs/123456789012/CloudTrail-Lake/Query/2022/05/10/q-1"
        );
        assert_eq!(
            ResultsFolder::of("s3://results-bucket", "1", "q", at)
                .unwrap()
                .key(SIGN_FILE),
            "AWSLogs/1/CloudTrail-Lake/Query/2022/05/10/q/result_sign.json"
        );
        for (bad, code) in [
            ("https://results-bucket/x", "InvalidParameterException"),
            ("s3://Results_Bucket/x", "InvalidS3BucketNameException"),
            ("s3://ab", "InvalidS3BucketNameException"),
        ] {
            let error = ResultsFolder::of(bad, "1", "q", at).unwrap_err();
            assert_eq!(error.code.as_str(), code, "{bad}");
        }
    }
}
