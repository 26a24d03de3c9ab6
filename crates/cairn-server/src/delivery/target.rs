//! Where trails deliver: buckets in a local folder, or in any S3-compatible store, through the
//! `object_store` crate. Both kinds answer the same few calls, and one conformance test runs
//! against both (`tests/it/delivery.rs`).
//!
//! # The local target's layout
//!
//! ```text
//! <root>/<bucket>/<key>                  the object, written atomically and synced
//! <root>/.metadata/<bucket>/<key>.json   its user metadata, {"name": "value", ...}, if any
//! ```
//!
//! `<root>` defaults to `<data-dir>/buckets`. A bucket exists when its folder does; create one
//! with `mkdir`. Bucket names never start with `.`, so `.metadata` cannot clash with one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
};

/// The S3-compatible store's address and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `None`: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow an `http://` endpoint.
    pub allow_http: bool,
}

/// A place that holds buckets.
#[derive(Debug, Clone)]
pub enum Place {
    Local { root: PathBuf },
    S3(S3Settings),
}

/// A [`Place`] and its clients, made once per bucket and shared by every clone.
#[derive(Debug, Clone)]
pub struct Target {
    place: Place,
    stores: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
}

/// An object read back: its bytes and user metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub metadata: BTreeMap<String, String>,
}

impl Target {
    /// Buckets as folders under `root`.
    pub fn local(root: PathBuf) -> Target {
        Target::new(Place::Local { root })
    }

    /// Buckets of an S3-compatible server.
    pub fn s3(settings: S3Settings) -> Target {
        Target::new(Place::S3(settings))
    }

    fn new(place: Place) -> Target {
        Target {
            place,
            stores: Arc::default(),
        }
    }

    /// Human-readable, for messages: `local folder /x/buckets` or `S3 at http://...`.
    pub fn describe(&self) -> String {
        match &self.place {
            Place::Local { root } => format!("local folder {}", root.display()),
            Place::S3(s3) => format!(
                "S3 at {}",
                s3.endpoint.as_deref().unwrap_or("AWS's endpoint")
            ),
        }
    }

    /// The client of `bucket` (the local one serves every bucket).
    fn bucket(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
        self.bucket_writing(bucket, None)
    }

    /// The client of `bucket` that writes objects encrypted with the KMS key `kms_key`
    /// (SSE-KMS) when given.
    fn bucket_writing(
        &self,
        bucket: &str,
        kms_key: Option<&str>,
    ) -> Result<Arc<dyn ObjectStore>, String> {
        let cache_key = match &self.place {
            Place::Local { .. } => String::new(),
            Place::S3(_) => format!("{bucket} {}", kms_key.unwrap_or_default()),
        };
        let mut stores = self
            .stores
            .lock()
            .map_err(|_| "the bucket client lock is poisoned".to_owned())?;
        if let Some(store) = stores.get(&cache_key) {
            return Ok(store.clone());
        }
        let store = self.connect(bucket, kms_key)?;
        stores.insert(cache_key, store.clone());
        Ok(store)
    }

    fn connect(&self, bucket: &str, kms_key: Option<&str>) -> Result<Arc<dyn ObjectStore>, String> {
        match &self.place {
            Place::Local { root } => {
                let store = LocalFileSystem::new_with_prefix(root)
                    .map_err(|e| format!("opening {}: {e}", root.display()))?;
                Ok(Arc::new(store))
            }
            Place::S3(s3) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&s3.region)
                    .with_access_key_id(&s3.access_key_id)
                    .with_secret_access_key(&s3.secret_access_key)
                    .with_allow_http(s3.allow_http);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false);
                }
                if let Some(key) = kms_key {
                    builder = builder.with_sse_kms_encryption(key);
                }
                let store = builder
                    .build()
                    .map_err(|e| format!("configuring S3 bucket {bucket}: {e}"))?;
                Ok(Arc::new(store))
            }
        }
    }

    /// An object's path inside [`Self::bucket`]'s store (the local store holds every bucket).
    fn object_path(&self, bucket: &str, key: &str) -> Result<ObjectPath, String> {
        let full = match &self.place {
            Place::Local { .. } => format!("{bucket}/{key}"),
            Place::S3(_) => key.to_owned(),
        };
        ObjectPath::parse(&full).map_err(|e| format!("object key {key:?}: {e}"))
    }

    fn local_metadata_path(root: &Path, bucket: &str, key: &str) -> PathBuf {
        root.join(".metadata")
            .join(bucket)
            .join(format!("{key}.json"))
    }

    /// Whether `bucket` exists.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, String> {
        match &self.place {
            Place::Local { root } => Ok(root.join(bucket).is_dir()),
            Place::S3(_) => {
                let store = self.bucket(bucket)?;
                let mut listing = store.list(None);
                match listing.try_next().await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) if e.to_string().contains("NoSuchBucket") => Ok(false),
                    Err(e) => Err(format!("checking S3 bucket {bucket}: {e}")),
                }
            }
        }
    }

    /// Writes an object whole, with user metadata (`x-amz-meta-<name>` on S3), encrypted on
    /// S3 with the KMS key `kms_key` when given (SSE-KMS: the server encrypts; local folders
    /// keep no encryption). On return it is durable: synced to disk locally, acknowledged by
    /// the S3 server otherwise. A missing bucket is an error (S3 says so itself; a local
    /// folder would be created by the write, so it is checked first).
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        metadata: &[(&str, String)],
        kms_key: Option<&str>,
    ) -> Result<(), String> {
        let store = self.bucket_writing(bucket, kms_key)?;
        let path = self.object_path(bucket, key)?;
        let failed = |e: object_store::Error| format!("writing s3://{bucket}/{key}: {e}");
        match &self.place {
            Place::Local { root } => {
                if !self.bucket_exists(bucket).await? {
                    return Err(format!(
                        "bucket {bucket} does not exist in the {}",
                        self.describe()
                    ));
                }
                store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map_err(failed)?;
                let object = root.join(bucket).join(key);
                let metadata_path = Self::local_metadata_path(root, bucket, key);
                let metadata: BTreeMap<&str, &String> =
                    metadata.iter().map(|(k, v)| (*k, v)).collect();
                let root = root.clone();
                let json = serde_json::to_vec(&metadata).map_err(|e| e.to_string())?;
                tokio::task::spawn_blocking(move || {
                    write_local_metadata(&root, &metadata_path, &json)?;
                    sync_file_and_dir(&object)
                })
                .await
                .map_err(|e| e.to_string())?
            }
            Place::S3(_) => {
                let attributes: Attributes = metadata
                    .iter()
                    .map(|(name, value)| {
                        (
                            Attribute::Metadata((*name).to_owned().into()),
                            AttributeValue::from(value.clone()),
                        )
                    })
                    .collect();
                let options = PutOptions {
                    attributes,
                    ..PutOptions::default()
                };
                store
                    .put_opts(&path, PutPayload::from(bytes), options)
                    .await
                    .map_err(failed)?;
                Ok(())
            }
        }
    }

    /// An object and its user metadata; `None` if there is no such object.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<StoredObject>, String> {
        let store = self.bucket(bucket)?;
        let path = self.object_path(bucket, key)?;
        let result = match store.get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(format!("reading s3://{bucket}/{key}: {e}")),
        };
        let mut metadata = BTreeMap::new();
        for (attribute, value) in result.attributes.iter() {
            if let Attribute::Metadata(name) = attribute {
                metadata.insert(name.to_string(), value.to_string());
            }
        }
        let bytes = result
            .bytes()
            .await
            .map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))?
            .to_vec();
        if let Place::Local { root } = &self.place {
            let metadata_path = Self::local_metadata_path(root, bucket, key);
            match std::fs::read(&metadata_path) {
                Ok(json) => {
                    metadata = serde_json::from_slice(&json)
                        .map_err(|e| format!("reading {}: {e}", metadata_path.display()))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("reading {}: {e}", metadata_path.display())),
            }
        }
        Ok(Some(StoredObject { bytes, metadata }))
    }

    /// The keys under `prefix` in `bucket`, sorted.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
        let store = self.bucket(bucket)?;
        let listed_prefix = match &self.place {
            Place::Local { .. } => format!("{bucket}/{prefix}"),
            Place::S3(_) => prefix.to_owned(),
        };
        // object_store lists whole path segments: list the folder, then filter by prefix.
        let folder = listed_prefix
            .rsplit_once('/')
            .map_or("", |(folder, _)| folder);
        let folder_path = (!folder.is_empty()).then(|| ObjectPath::from(folder));
        let objects: Vec<object_store::ObjectMeta> =
            match store.list(folder_path.as_ref()).try_collect().await {
                Ok(objects) => objects,
                Err(object_store::Error::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(format!("listing s3://{bucket}/{prefix}: {e}")),
            };
        let strip = match &self.place {
            Place::Local { .. } => bucket.len() + 1,
            Place::S3(_) => 0,
        };
        let mut keys: Vec<String> = objects
            .into_iter()
            .map(|o| o.location.to_string())
            .filter(|k| k.starts_with(&listed_prefix))
            .map(|k| k[strip..].to_owned())
            .collect();
        keys.sort();
        Ok(keys)
    }
}

fn write_local_metadata(root: &Path, path: &Path, json: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("writing {} under {}: {e}", path.display(), root.display()))?;
    sync_file_and_dir(path)
}

fn sync_file_and_dir(path: &Path) -> Result<(), String> {
    let sync = |p: &Path| std::fs::File::open(p).and_then(|f| f.sync_all());
    sync(path)
        .and_then(|()| path.parent().map_or(Ok(()), sync))
        .map_err(|e| format!("syncing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_keys_and_buckets_cannot_leave_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("buckets");
        std::fs::create_dir_all(root.join("b")).unwrap();
        let target = Target::local(root.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for (bucket, key) in [
            ("b", "../escaped"),
            ("b", "a/../../escaped"),
            ("b", "/abs/escaped"),
            ("..", "escaped"),
            ("b/../..", "escaped"),
        ] {
            let put = runtime.block_on(target.put(bucket, key, b"x".to_vec(), &[], None));
            assert!(put.is_err(), "{bucket}/{key} was written");
        }
        let mut everything = Vec::new();
        let mut folders = vec![dir.path().to_path_buf()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    everything.push(path);
                }
            }
        }
        assert_eq!(everything, Vec::<std::path::PathBuf>::new());
    }
}
