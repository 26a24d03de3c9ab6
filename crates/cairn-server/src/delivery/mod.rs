//! Trail delivery: log files and signed digest files in AWS's bucket layout (spec §6).
//!
//! Each logging trail has a log cursor in the store (`trail-<trail id>`, see
//! `cairn_store::log_cursor`), created at StartLogging at the end of the log, so the trail
//! sees every event stored from then on, in the order it was stored. Every
//! [`DeliverySettings::interval`] the deliverer, for each trail:
//!
//! 1. reads the log from the cursor and keeps the events the trail takes (its account; its
//!    home region unless multi-region; global service events only if included; its
//!    selectors, see `selectors.rs`);
//! 2. saves the batch's end and delivery time in the cursor's state (*pending*), then writes
//!    one gzipped `{"Records":[...]}` object per region ([`log_file_key`]), then saves the
//!    cursor past the batch with the pending mark cleared. A crash in between redoes exactly
//!    the pending batch: the same events, the same keys, the same bytes, so each event is
//!    delivered exactly once per trail;
//! 3. with log file validation on, remembers each file's hash and delivery time, and writes
//!    one signed digest per region for each whole [`DeliverySettings::digest_interval`] gone
//!    by (back to back, each listing the files delivered in its period; `digest.rs`), also
//!    when no file was delivered;
//! 4. with an SNS topic, publishes AWS's notification of each batch's files
//!    (`{"s3Bucket", "s3ObjectKey": [...]}`) to it through the SNS upstream
//!    ([`crate::upstream`]): kept in the cursor's state until SNS has it, so at least once,
//!    and a failing topic neither stops nor repeats file delivery;
//! 5. after StopLogging, delivers up to where the trail stopped, writes final digests, and
//!    once every notification is out removes the cursor.
//!
//! A trail with a CloudWatch Logs log group also sends the events it takes there, through a
//! cursor of its own (`cloudwatch_logs.rs`).
//!
//! A failure (an unreachable bucket) leaves the cursor where it was: the trail's status shows
//! the error, and the deliverer retries with backoff from 1 s up to the interval, catching up
//! with no gap when the bucket is back.
//!
//! # Cursor state format (JSON inside the cursor document), version 1
//!
//! `{"pending": {"until": {"file", "offset"}, "delivered_at_ms"} | null,
//!   "digests": {"<region>": {"period_start_ms",
//!                            "files": [{"delivered_at_ms", <digest logFiles entry's members>}],
//!                            "previous": {"bucket", "object", "hash", "signature"} | null}},
//!   "notifications": [{"s3Bucket", "s3ObjectKey": [...]}] (absent when none)}`

pub mod cloudwatch_logs;
pub mod digest;
pub mod query_results;
pub mod services;
pub mod target;
pub mod validate;

use cairn_model::time::now_ms;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_model::Record;
use cairn_model::time::format_event_time;
use cairn_store::{LogCursor, LogPosition, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::selectors::{EventView, Selectors};
use crate::signing_keys::SigningKeys;
use crate::trails::{Trail, Trails};
use crate::upstream::Upstreams;
use digest::{DigestLogFile, RegionDigest};
pub use target::{S3Settings, Target};

/// AWS's default delivery cadence: about every 5 minutes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// AWS's digest cadence: hourly.
pub const DEFAULT_DIGEST_INTERVAL: Duration = Duration::from_secs(3600);
/// AWS's largest log file: 50 MB before compression.
const MAX_LOG_FILE_BYTES: usize = 50 << 20;
/// The most JSON text one batch reads from the log.
const MAX_BATCH_BYTES: usize = 64 << 20;
/// Global services record their events in us-east-1; a trail takes them only with
/// `IncludeGlobalServiceEvents` (spec §6.1 names IAM, STS and CloudFront).
const GLOBAL_SERVICE_SOURCES: [&str; 3] = [
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "cloudfront.amazonaws.com",
];

/// How and where trails deliver.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub interval: Duration,
    pub digest_interval: Duration,
    pub target: Target,
}

impl DeliverySettings {
    /// The settings from the `[delivery]` table and the environment (which wins), with
    /// defaults: local buckets under `<data_dir>/buckets`, every 5 minutes, digests hourly.
    pub fn resolve(
        data_dir: &std::path::Path,
        file: &crate::config::DeliveryConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<DeliverySettings, String> {
        let seconds = |variable: &str, configured: Option<u64>, default: Duration| {
            let value = match env(variable) {
                Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
                    format!("{variable}={text:?} is not a whole number of seconds")
                })?),
                None => configured,
            };
            match value {
                Some(0) => Err(format!("{variable} must be at least 1 second")),
                Some(secs) => Ok(Duration::from_secs(secs)),
                None => Ok(default),
            }
        };
        let interval = seconds(
            "CAIRN_DELIVERY_INTERVAL_SECS",
            file.interval_secs,
            DEFAULT_INTERVAL,
        )?;
        let digest_interval = seconds(
            "CAIRN_DIGEST_INTERVAL_SECS",
            file.digest_interval_secs,
            DEFAULT_DIGEST_INTERVAL,
        )?;
        let kind = env("CAIRN_DELIVERY_TARGET")
            .or_else(|| file.target.clone())
            .unwrap_or_else(|| "local".to_owned());
        let target = match kind.as_str() {
            "local" => Target::local(
                env("CAIRN_BUCKETS_DIR")
                    .map(std::path::PathBuf::from)
                    .or_else(|| file.buckets_dir.clone())
                    .unwrap_or_else(|| data_dir.join("buckets")),
            ),
            "s3" => {
                let s3 = file.s3.clone().unwrap_or_default();
                let required = |variable: &str, configured: Option<String>| {
                    env(variable).or(configured).ok_or_else(|| {
                        format!("the S3 delivery target needs {variable} or [delivery.s3]")
                    })
                };
                let allow_http = match env("AWS_ALLOW_HTTP") {
                    Some(text) => text.eq_ignore_ascii_case("true") || text == "1",
                    None => s3.allow_http.unwrap_or(false),
                };
                Target::s3(S3Settings {
                    endpoint: env("AWS_ENDPOINT_URL_S3")
                        .or_else(|| env("AWS_ENDPOINT_URL"))
                        .or(s3.endpoint),
                    region: env("AWS_REGION")
                        .or(s3.region)
                        .unwrap_or_else(|| "us-east-1".to_owned()),
                    access_key_id: required("AWS_ACCESS_KEY_ID", s3.access_key_id)?,
                    secret_access_key: required("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)?,
                    allow_http,
                })
            }
            other => {
                return Err(format!(
                    "delivery target {other:?} is not known: use local or s3"
                ));
            }
        };
        Ok(DeliverySettings {
            interval,
            digest_interval,
            target,
        })
    }
}

/// What GetTrailStatus reports about a trail's deliveries (epoch seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryStatus {
    pub latest_delivery_time: Option<f64>,
    pub latest_delivery_error: Option<String>,
    pub latest_digest_delivery_time: Option<f64>,
    pub latest_digest_delivery_error: Option<String>,
    pub latest_notification_time: Option<f64>,
    pub latest_notification_error: Option<String>,
    pub latest_cloud_watch_logs_delivery_time: Option<f64>,
    pub latest_cloud_watch_logs_delivery_error: Option<String>,
}

/// The delivery status of every trail, by trail id.
pub type StatusBoard = Arc<Mutex<HashMap<String, DeliveryStatus>>>;

/// The name of a trail's log cursor.
pub fn cursor_name(trail: &Trail) -> String {
    format!("trail-{}", trail.id)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CursorState {
    pending: Option<PendingBatch>,
    #[serde(default)]
    digests: BTreeMap<String, RegionDigest>,
    /// Notifications of delivered files not yet published to the trail's SNS topic, oldest
    /// first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notifications: Vec<Notification>,
}

/// The SNS message of one batch's log files, as AWS publishes it:
/// `{"s3Bucket": ..., "s3ObjectKey": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Notification {
    #[serde(rename = "s3Bucket")]
    s3_bucket: String,
    #[serde(rename = "s3ObjectKey")]
    s3_object_key: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingBatch {
    until: LogPosition,
    delivered_at_ms: i64,
}

/// Starts a trail's log cursor at the end of the log (StartLogging), unless it still has one
/// (logging restarted before the last events were delivered).
pub fn start_cursor(store: &Store, trail: &Trail, now_ms: i64) -> Result<(), String> {
    let name = cursor_name(trail);
    if store
        .log_cursor(&name)
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(());
    }
    let mut state = CursorState::default();
    state
        .digests
        .insert(trail.home_region.clone(), RegionDigest::starting(now_ms));
    let cursor = LogCursor {
        position: store.log_end().map_err(|e| e.to_string())?,
        state: serde_json::to_value(&state).map_err(|e| e.to_string())?,
    };
    store
        .save_log_cursor(&name, &cursor)
        .map_err(|e| e.to_string())
}

/// The deliverer: runs until `shutdown` says stop.
pub struct Deliverer {
    pub store: Arc<Store>,
    pub trails: Arc<Trails>,
    pub keys: Arc<SigningKeys>,
    pub settings: DeliverySettings,
    /// The services trails notify (SNS) and send events to (CloudWatch Logs).
    pub upstreams: Upstreams,
    pub status: StatusBoard,
    /// CloudWatch Logs streams known to exist.
    pub log_streams: Arc<Mutex<std::collections::HashSet<(String, String)>>>,
}

impl Deliverer {
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let wait = if self.deliver_all().await {
                backoff = Duration::from_secs(1);
                self.settings.interval
            } else {
                let wait = backoff.min(self.settings.interval);
                backoff = (backoff * 2).min(self.settings.interval);
                wait
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One round over every trail; false if any failed.
    pub async fn deliver_all(&self) -> bool {
        let trails = match self.trails.edit() {
            Ok(edit) => edit.items.clone(),
            Err(_) => return false,
        };
        let mut all_ok = true;
        let cloud_watch = cloudwatch_logs::Sender {
            store: self.store.clone(),
            upstreams: self.upstreams.clone(),
            streams: self.log_streams.clone(),
        };
        for trail in trails {
            let now_ms = now_ms();
            // Where file delivery stands is where events to CloudWatch Logs start.
            let files_position = self
                .store
                .log_cursor(&cursor_name(&trail))
                .ok()
                .flatten()
                .map(|c| c.position);
            let logs_outcome = match cloud_watch.keep_cursor(&trail, files_position).await {
                Ok(()) => {
                    let limit = match trail.logging.is_logging {
                        true => self.store.log_end().map_err(|e| e.to_string()),
                        false => Ok(trail
                            .logging
                            .stop_position
                            .unwrap_or(LogPosition { file: 0, offset: 0 })),
                    };
                    match limit {
                        Ok(limit) => cloud_watch.send(&trail, limit).await,
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let outcome = self.deliver_trail(&trail, now_ms).await;
            if let Ok(mut board) = self.status.lock() {
                let status = board.entry(trail.id.clone()).or_default();
                match &outcome {
                    Ok(round) => {
                        if round.delivered_files {
                            status.latest_delivery_time = Some(now_ms as f64 / 1000.0);
                        }
                        if round.delivered_digests {
                            status.latest_digest_delivery_time = Some(now_ms as f64 / 1000.0);
                        }
                        status.latest_delivery_error = None;
                        status.latest_digest_delivery_error = None;
                        if let Some(at) = round.notified_at_ms {
                            status.latest_notification_time = Some(at as f64 / 1000.0);
                        }
                        match &round.notification_error {
                            Some(e) => status.latest_notification_error = Some(e.clone()),
                            None if round.notified_at_ms.is_some() => {
                                status.latest_notification_error = None;
                            }
                            None => {}
                        }
                    }
                    Err(Failure::Delivery(e)) => status.latest_delivery_error = Some(e.clone()),
                    Err(Failure::Digest(e)) => {
                        status.latest_digest_delivery_error = Some(e.clone());
                    }
                }
                match &logs_outcome {
                    Ok(None) => {}
                    Ok(Some(sent)) => {
                        if sent.events > 0 {
                            status.latest_cloud_watch_logs_delivery_time =
                                Some(now_ms as f64 / 1000.0);
                        }
                        status.latest_cloud_watch_logs_delivery_error =
                            (sent.refused > 0).then(|| {
                                format!(
                                    "{} events were not taken by CloudWatch Logs (larger than \
                                     256 KB, or outside the times it accepts)",
                                    sent.refused
                                )
                            });
                    }
                    Err(e) => status.latest_cloud_watch_logs_delivery_error = Some(e.clone()),
                }
            }
            all_ok &= logs_outcome.is_ok();
            all_ok &= outcome
                .as_ref()
                .is_ok_and(|round| round.notification_error.is_none());
        }
        self.remove_orphan_cursors();
        all_ok
    }

    /// Removes the cursors of deleted trails.
    fn remove_orphan_cursors(&self) {
        let Ok(edit) = self.trails.edit() else { return };
        let Ok(names) = self.store.log_cursor_names() else {
            return;
        };
        for name in names {
            let orphan = (name.starts_with("trail-")
                && !edit.items.iter().any(|t| cursor_name(t) == name))
                || (name.starts_with(cloudwatch_logs::CURSOR_PREFIX)
                    && !edit
                        .items
                        .iter()
                        .any(|t| cloudwatch_logs::cursor_name(t) == name));
            if orphan {
                let _ = self.store.remove_log_cursor(&name);
            }
        }
    }

    async fn deliver_trail(&self, trail: &Trail, now_ms: i64) -> Result<Round, Failure> {
        let name = cursor_name(trail);
        let delivery = Failure::Delivery;
        let Some(mut cursor) = self
            .store
            .log_cursor(&name)
            .map_err(|e| delivery(e.to_string()))?
        else {
            return Ok(Round::default());
        };
        let mut state: CursorState = serde_json::from_value(cursor.state.clone())
            .map_err(|e| delivery(format!("cursor {name}: {e}")))?;
        let limit = if trail.logging.is_logging {
            self.store.log_end().map_err(|e| delivery(e.to_string()))?
        } else {
            trail.logging.stop_position.unwrap_or(cursor.position)
        };
        let mut round = Round::default();
        loop {
            let (chunk, delivered_at_ms) = match &state.pending {
                Some(pending) => {
                    let chunk = self
                        .read(cursor.position, pending.until, usize::MAX)
                        .await
                        .map_err(delivery)?;
                    (chunk, pending.delivered_at_ms)
                }
                None => {
                    if cursor.position >= limit {
                        break;
                    }
                    let chunk = self
                        .read(cursor.position, limit, MAX_BATCH_BYTES)
                        .await
                        .map_err(delivery)?;
                    (chunk, now_ms)
                }
            };
            let files = {
                let trail = trail.clone();
                let from = cursor.position;
                let records = chunk.records;
                tokio::task::spawn_blocking(move || {
                    build_log_files(&trail, &records, from, delivered_at_ms)
                })
                .await
                .map_err(|e| delivery(e.to_string()))?
            };
            if !files.is_empty() && state.pending.is_none() {
                // Mark the batch before writing it, so that a crash redoes exactly this one.
                state.pending = Some(PendingBatch {
                    until: chunk.end,
                    delivered_at_ms,
                });
                self.save(&name, &mut cursor, &state)
                    .await
                    .map_err(delivery)?;
            }
            let wrote_files = !files.is_empty();
            let mut keys = Vec::new();
            for file in files {
                let listed = DigestLogFile::new(&trail.s3_bucket_name, &file);
                self.settings
                    .target
                    .put(
                        &trail.s3_bucket_name,
                        &file.key,
                        file.gzipped,
                        &[],
                        trail.kms_key_id.as_deref(),
                    )
                    .await
                    .map_err(delivery)?;
                if trail.log_file_validation_enabled {
                    state
                        .digests
                        .entry(file.region)
                        .or_insert_with(|| RegionDigest::starting(delivered_at_ms))
                        .add_file(delivered_at_ms, listed);
                }
                round.delivered_files = true;
                keys.push(file.key);
            }
            if wrote_files && crash_after_writing() {
                // Test hook: die like a kill -9 between writing a batch and saving the cursor.
                std::process::abort();
            }
            state.pending = None;
            if trail.sns_topic_name.is_some() && !keys.is_empty() {
                state.notifications.push(Notification {
                    s3_bucket: trail.s3_bucket_name.clone(),
                    s3_object_key: keys,
                });
            }
            cursor.position = chunk.end;
            self.save(&name, &mut cursor, &state)
                .await
                .map_err(delivery)?;
        }
        self.notify(trail, &name, &mut cursor, &mut state, &mut round)
            .await
            .map_err(delivery)?;

        let stopped = !trail.logging.is_logging && cursor.position >= limit;
        if trail.log_file_validation_enabled {
            let interval_ms = self.settings.digest_interval.as_millis() as i64;
            let regions: Vec<String> = state.digests.keys().cloned().collect();
            for region in regions {
                // One digest per whole interval gone by, then a last, shorter one when the
                // trail has stopped.
                let mut final_written = false;
                while let Some(chain) = state.digests.get(&region) {
                    let end_ms = if now_ms - chain.period_start_ms >= interval_ms {
                        chain.period_start_ms + interval_ms
                    } else if stopped && !final_written {
                        final_written = true;
                        now_ms
                    } else {
                        break;
                    };
                    let written = digest::write(
                        &self.settings.target,
                        &self.keys,
                        trail,
                        &region,
                        chain,
                        end_ms,
                    )
                    .await
                    .map_err(Failure::Digest)?;
                    state.digests.insert(region.clone(), written);
                    self.save(&name, &mut cursor, &state)
                        .await
                        .map_err(Failure::Digest)?;
                    round.delivered_digests = true;
                }
            }
        } else if !state.digests.is_empty() && state.digests.values().any(|d| !d.is_fresh()) {
            // Validation was turned off: the chain ends; turning it on starts a new one.
            state.digests.clear();
            state
                .digests
                .insert(trail.home_region.clone(), RegionDigest::starting(now_ms));
            self.save(&name, &mut cursor, &state)
                .await
                .map_err(delivery)?;
        }
        if stopped && state.notifications.is_empty() {
            self.finish_stopped(trail, &name).map_err(delivery)?;
        }
        Ok(round)
    }

    /// Publishes the trail's pending notifications to its SNS topic, oldest first, each
    /// forgotten once SNS has it (so at least once); the first failure leaves it and the
    /// rest for the next round and is reported in `round`. A trail without a topic any more
    /// drops them.
    async fn notify(
        &self,
        trail: &Trail,
        name: &str,
        cursor: &mut LogCursor,
        state: &mut CursorState,
        round: &mut Round,
    ) -> Result<(), String> {
        let Some(topic) = &trail.sns_topic_name else {
            if !state.notifications.is_empty() {
                state.notifications.clear();
                self.save(name, cursor, state).await?;
            }
            return Ok(());
        };
        let topic_arn = trail.sns_topic_arn(topic);
        let region = topic_arn.split(':').nth(3).unwrap_or_default().to_owned();
        while let Some(notification) = state.notifications.first() {
            let message = serde_json::to_string(notification).map_err(|e| e.to_string())?;
            let published = self
                .upstreams
                .query(
                    "sns",
                    &region,
                    &[
                        ("Action", "Publish"),
                        ("Version", services::SNS_VERSION),
                        ("TopicArn", &topic_arn),
                        ("Message", &message),
                    ],
                )
                .await;
            match published {
                Ok(_) => {
                    state.notifications.remove(0);
                    self.save(name, cursor, state).await?;
                    round.notified_at_ms = Some(now_ms());
                }
                Err(e) => {
                    round.notification_error = Some(format!("publishing to {topic_arn}: {e}"));
                    break;
                }
            }
        }
        Ok(())
    }

    /// Removes a stopped trail's cursor once it has delivered everything, unless the trail
    /// was started again meanwhile.
    fn finish_stopped(&self, trail: &Trail, name: &str) -> Result<(), String> {
        let edit = self.trails.edit().map_err(|e| e.message)?;
        let still_stopped = edit
            .items
            .iter()
            .any(|t| t.id == trail.id && !t.logging.is_logging);
        if still_stopped {
            self.store
                .remove_log_cursor(name)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn read(
        &self,
        from: LogPosition,
        until: LogPosition,
        max_bytes: usize,
    ) -> Result<cairn_store::LogChunk, String> {
        with_store(&self.store, move |store| {
            store
                .read_log(from, until, max_bytes)
                .map_err(|e| format!("reading the event log: {e}"))
        })
        .await
    }

    /// Saves `cursor` with `state` as its state.
    async fn save(
        &self,
        name: &str,
        cursor: &mut LogCursor,
        state: &CursorState,
    ) -> Result<(), String> {
        cursor.state = serde_json::to_value(state).map_err(|e| e.to_string())?;
        save_cursor(&self.store, name, cursor).await
    }
}

/// Runs `work` with the store on a blocking thread (store work syncs files and reads
/// pages), for the deliverers and the rules engine.
pub(crate) async fn with_store<T: Send + 'static>(
    store: &Arc<Store>,
    work: impl FnOnce(&Store) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| e.to_string())?
}

/// Saves the log cursor `name` on a blocking thread (see [`with_store`]).
pub(crate) async fn save_cursor(
    store: &Arc<Store>,
    name: &str,
    cursor: &LogCursor,
) -> Result<(), String> {
    let (name, cursor) = (name.to_owned(), cursor.clone());
    with_store(store, move |store| {
        store
            .save_log_cursor(&name, &cursor)
            .map_err(|e| format!("saving the log cursor {name}: {e}"))
    })
    .await
}

/// What one round did for a trail.
#[derive(Debug, Default)]
struct Round {
    delivered_files: bool,
    delivered_digests: bool,
    /// When the last notification was published.
    notified_at_ms: Option<i64>,
    notification_error: Option<String>,
}

enum Failure {
    Delivery(String),
    Digest(String),
}

/// One log file, ready to write.
#[derive(Debug, Clone)]
pub struct LogFile {
    pub region: String,
    pub key: String,
    pub gzipped: Vec<u8>,
    /// Hex SHA-256 of the uncompressed bytes.
    pub sha256: String,
    pub newest_event_ms: i64,
    pub oldest_event_ms: i64,
}

/// Whether `trail`, with `selectors` in force, takes the event `record`.
pub fn trail_takes(trail: &Trail, selectors: &Selectors, record: &Record) -> bool {
    let fields = &record.fields;
    if fields.account_id.as_deref() != Some(trail.account_id.as_str()) {
        return false;
    }
    let Some(region) = fields.aws_region.as_deref() else {
        return false;
    };
    if !trail.is_multi_region_trail && region != trail.home_region {
        return false;
    }
    let source = fields.event_source.as_deref();
    if !trail.include_global_service_events
        && source.is_some_and(|s| GLOBAL_SERVICE_SOURCES.contains(&s))
    {
        return false;
    }
    selectors.matches(&EventView::of(record))
}

/// The log files of one batch: the events `trail` takes, by region, at most
/// [`MAX_LOG_FILE_BYTES`] of JSON each. Deterministic in its inputs (keys included), so that
/// a redone batch writes the very same objects.
pub fn build_log_files(
    trail: &Trail,
    records: &[String],
    from: LogPosition,
    delivered_at_ms: i64,
) -> Vec<LogFile> {
    let selectors = trail.effective_selectors();
    let mut by_region: BTreeMap<String, Vec<(i64, &str)>> = BTreeMap::new();
    for text in records {
        let Ok(record) = Record::parse(text) else {
            continue; // the store only logs records that parse
        };
        if trail_takes(trail, &selectors, &record) {
            let region = record.fields.aws_region.clone().unwrap_or_default();
            by_region
                .entry(region)
                .or_default()
                .push((record.fields.event_time_ms, text.as_str()));
        }
    }
    let mut files = Vec::new();
    for (region, events) in by_region {
        let mut part = 0;
        let mut start = 0;
        while start < events.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < events.len()
                && (end == start || bytes + events[end].1.len() < MAX_LOG_FILE_BYTES)
            {
                bytes += events[end].1.len() + 1;
                end += 1;
            }
            let slice = &events[start..end];
            let mut json = String::with_capacity(bytes + 16);
            json.push_str("{\"Records\":[");
            for (i, (_, text)) in slice.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(text);
            }
            json.push_str("]}");
            let unique = unique_string(&format!(
                "{}/{}/{}/{region}/{part}",
                trail.id, from.file, from.offset
            ));
            let key = log_file_key(trail, &region, delivered_at_ms, &unique);
            files.push(LogFile {
                region: region.clone(),
                key,
                gzipped: gzip(json.as_bytes()),
                sha256: hex::encode(Sha256::digest(json.as_bytes())),
                newest_event_ms: slice.iter().map(|(t, _)| *t).max().unwrap_or_default(),
                oldest_event_ms: slice.iter().map(|(t, _)| *t).min().unwrap_or_default(),
            });
            part += 1;
            start = end;
        }
    }
    files
}

/// `[prefix/]AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`
/// (spec §6.1), dated by the delivery time.
pub fn log_file_key(trail: &Trail, region: &str, delivered_at_ms: i64, unique: &str) -> String {
    let stamp = cairn_model::time::format_amz_date(delivered_at_ms);
    let (year, month, day) = (&stamp[0..4], &stamp[4..6], &stamp[6..8]);
    let minute = &stamp[..13];
    let account = &trail.account_id;
    format!(
        "{}AWSLogs/{account}/CloudTrail/{region}/{year}/{month}/{day}/\
         {account}_CloudTrail_{region}_{minute}Z_{unique}.json.gz",
        key_prefix(trail.s3_key_prefix.as_deref())
    )
}

/// A trail's `S3KeyPrefix` and a slash, or nothing.
pub fn key_prefix(prefix: Option<&str>) -> String {
    prefix.map_or_else(String::new, |p| format!("{p}/"))
}

/// 16 letters and digits derived from `seed` (AWS's are random; cairn's are reproducible so
/// that a redone batch overwrites rather than duplicates).
fn unique_string(seed: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    Sha256::digest(seed.as_bytes())
        .iter()
        .take(16)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 8),
        flate2::Compression::new(6),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// CloudTrail's second-precision time: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_seconds(ms: i64) -> String {
    format_event_time(ms.div_euclid(1000) * 1000)
}

/// `CAIRN_TEST_CRASH_AFTER_DELIVERY=1`: for the exactly-once test only, the process aborts
/// after writing a batch's log files and before saving its cursor.
fn crash_after_writing() -> bool {
    std::env::var_os("CAIRN_TEST_CRASH_AFTER_DELIVERY").is_some_and(|v| v == "1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selectors::AdvancedEventSelector;

    #[test]
    fn selectors_read_the_records_own_resources_not_those_event_history_derives() {
        let trail: Trail = serde_json::from_value(serde_json::json!({
            "name": "objects", "account_id": "111111111111", "home_region": "us-east-1",
            "s3_bucket_name": "b-1", "s3_key_prefix": null, "sns_topic_name": null,
            "include_global_service_events": true, "is_multi_region_trail": true,
            "log_file_validation_enabled": false, "cloud_watch_logs_log_group_arn": null,
            "cloud_watch_logs_role_arn": null, "kms_key_id": null,
            "is_organization_trail": false, "tags": [], "logging": {"is_logging": true,
            "start_logging_time": null, "stop_logging_time": null}
        }))
        .unwrap();
        let selector = |resource_type: &str| {
            let advanced: Vec<AdvancedEventSelector> = serde_json::from_value(serde_json::json!([
                {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                                    {"Field": "resources.type", "Equals": [resource_type]}]}
            ]))
            .unwrap();
            Selectors::for_trail(None, Some(advanced)).unwrap()
        };
        // The record names the object only; a management event would also name the bucket of
        // `bucketName` in event history, a data event does not.
        let record = Record::parse(
            r#"{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com",
                "eventName":"GetObject","awsRegion":"us-east-1","recipientAccountId":"111111111111",
                "eventCategory":"Data","requestParameters":{"bucketName":"logs","key":"a.txt"},
                "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::logs/a.txt"}]}"#,
        )
        .unwrap();
        assert_eq!(record.fields.resources.len(), 1);
        assert!(trail_takes(&trail, &selector("AWS::S3::Object"), &record));
        assert!(!trail_takes(&trail, &selector("AWS::S3::Bucket"), &record));
    }
}
