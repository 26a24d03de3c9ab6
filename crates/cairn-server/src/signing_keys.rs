//! The RSA key pairs that sign digest files: one current pair per region, 2048-bit, replaced
//! every [`ROTATION_SECS`]; old public keys stay listed (ListPublicKeys) so that old digests
//! still verify. As AWS documents (spec §6.3–6.4): the public key is served as PKCS#1
//! `RSAPublicKey` DER, base64 on the wire, and its fingerprint is the hex MD5 of that DER.
//!
//! # Format: secret catalog document `signing-keys.json` (mode 0600), version 1
//!
//! ```text
//! {"version": 1, "regions": {"us-east-1": [
//!     {"private_key": "<base64 PKCS#8 DER>", "public_key": "<base64 PKCS#1 DER>",
//!      "fingerprint": "<hex MD5>", "valid_from": <epoch s>, "valid_until": <epoch s>}, ...]}}
//! ```
//!
//! Keys of a region are in creation order; the last one signs while `now < valid_until`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_store::{Store, Visibility};
use md5::Digest;
use serde::{Deserialize, Serialize};

const DOCUMENT: &str = "signing-keys.json";
const FORMAT_VERSION: u32 = 1;
/// How long a key pair signs: 30 days, the validity window of AWS's published example keys.
pub const ROTATION_SECS: i64 = 30 * 86_400;

/// One key pair as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    private_key: String,
    pub public_key: String,
    pub fingerprint: String,
    pub valid_from: i64,
    pub valid_until: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    version: u32,
    regions: BTreeMap<String, Vec<KeyRecord>>,
}

/// Every region's signing keys, kept in the catalog.
#[derive(Debug)]
pub struct SigningKeys {
    store: Arc<Store>,
    document: Mutex<Document>,
}

impl SigningKeys {
    pub fn load(store: Arc<Store>) -> Result<SigningKeys, String> {
        let document = match store.read_document(DOCUMENT).map_err(|e| e.to_string())? {
            None => Document {
                version: FORMAT_VERSION,
                regions: BTreeMap::new(),
            },
            Some(bytes) => {
                let document: Document = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("catalog document {DOCUMENT}: {e}"))?;
                if document.version != FORMAT_VERSION {
                    return Err(format!(
                        "catalog document {DOCUMENT} has version {}; this cairn reads \
                         {FORMAT_VERSION}",
                        document.version
                    ));
                }
                document
            }
        };
        Ok(SigningKeys {
            store,
            document: Mutex::new(document),
        })
    }

    /// Signs `message` (SHA256withRSA, PKCS#1 v1.5) with `key`; the signature in lowercase hex.
    pub fn sign(key: &KeyRecord, message: &[u8]) -> Result<String, String> {
        let der = BASE64
            .decode(&key.private_key)
            .map_err(|e| format!("signing key {}: {e}", key.fingerprint))?;
        let pair = KeyPair::from_pkcs8(&der)
            .map_err(|e| format!("signing key {}: {e}", key.fingerprint))?;
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            message,
            &mut signature,
        )
        .map_err(|e| format!("signing with key {}: {e}", key.fingerprint))?;
        Ok(hex::encode(signature))
    }

    /// `region`'s keys whose validity intersects [start, end] (epoch seconds).
    pub fn public_keys(
        &self,
        region: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<KeyRecord>, String> {
        let document = self
            .document
            .lock()
            .map_err(|_| "the key lock is poisoned")?;
        Ok(document
            .regions
            .get(region)
            .into_iter()
            .flatten()
            .filter(|k| k.valid_from <= end && start <= k.valid_until)
            .cloned()
            .collect())
    }

    /// `region`'s signing key at `now` (epoch seconds), created or rotated first when needed
    /// (durably, before it signs anything).
    pub fn current(&self, region: &str, now: i64) -> Result<KeyRecord, String> {
        let mut document = self
            .document
            .lock()
            .map_err(|_| "the key lock is poisoned")?;
        if let Some(key) = document.regions.get(region).and_then(|keys| keys.last())
            && now < key.valid_until
        {
            return Ok(key.clone());
        }
        let key = generate(now)?;
        document
            .regions
            .entry(region.to_owned())
            .or_default()
            .push(key.clone());
        let bytes = serde_json::to_vec_pretty(&*document).map_err(|e| e.to_string())?;
        if let Err(e) = self
            .store
            .write_document(DOCUMENT, &bytes, Visibility::Secret)
        {
            if let Some(keys) = document.regions.get_mut(region) {
                keys.pop();
            }
            return Err(format!("saving a new signing key for {region}: {e}"));
        }
        Ok(key)
    }
}

fn generate(now: i64) -> Result<KeyRecord, String> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|e| format!("generating an RSA key pair: {e}"))?;
    let private = AsDer::<Pkcs8V1Der>::as_der(&pair)
        .map_err(|e| format!("encoding an RSA private key: {e}"))?;
    // ring's and aws-lc-rs's `public_key().as_ref()` is the PKCS#1 RSAPublicKey DER.
    let public = pair.public_key().as_ref().to_vec();
    Ok(KeyRecord {
        private_key: BASE64.encode(private.as_ref()),
        public_key: BASE64.encode(&public),
        fingerprint: hex::encode(md5::Md5::digest(&public)),
        valid_from: now,
        valid_until: now + ROTATION_SECS,
    })
}
