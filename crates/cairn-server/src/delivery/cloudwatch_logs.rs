//! A trail's events sent to its CloudWatch Logs log group (spec §6.1): one log event per event
//! the trail takes, its message the record's JSON text, its timestamp the `eventTime`, in the
//! log stream `<account>_CloudTrail_<region>` of the event's region, with `PutLogEvents` on the
//! `logs` upstream ([`crate::upstream`]). Events over 256 KB are not sent, as AWS sends none.
//!
//! Each event exactly once, through a log cursor of its own (`cloudwatch-<trail id>`), so that
//! a log group that fails holds back neither file delivery nor the other way round. The cursor
//! starts where the trail's file cursor is when the deliverer first sees the trail with a log
//! group, and goes when the log group does.
//!
//! A chunk of the log is sent as a fixed list of `PutLogEvents` calls ([`plan_calls`]: per
//! stream, in time order, within the call's limits of 10,000 events, 1,048,576 bytes and 24
//! hours). Before the first call the chunk's end is saved as *pending*, and after each call the
//! number of calls done, so a crash redoes only the call that was under way; as a call cannot
//! be told apart from a lost one, the redone call first reads its stream over its times
//! (`GetLogEvents`) and sends only the events whose `eventID` is not there yet.
//!
//! # Cursor state format (JSON inside the cursor document), version 1
//!
//! `{"pending": {"until": {"file", "offset"}, "done": <calls done>} | null}`

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use cairn_model::Record;
use cairn_store::{LogCursor, LogPosition, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::services::LOGS_TARGET;
use super::{save_cursor, trail_takes, with_store};
use crate::actions::create_trail::LogGroupArn;
use crate::trails::Trail;
use crate::upstream::Upstreams;

/// The most log events one `PutLogEvents` call carries.
const MAX_CALL_EVENTS: usize = 10_000;
/// The most bytes one call carries: its messages plus 26 bytes an event.
const MAX_CALL_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD_BYTES: usize = 26;
/// The longest stretch of time one call's events may span.
const MAX_CALL_SPAN_MS: i64 = 24 * 3600 * 1000;
/// Events larger than this are not sent to CloudWatch Logs (AWS's 256 KB).
const MAX_EVENT_BYTES: usize = 256 * 1024 - EVENT_OVERHEAD_BYTES;
/// The most JSON text one chunk reads from the log.
const MAX_CHUNK_BYTES: usize = 16 << 20;

/// The name of a trail's CloudWatch Logs cursor.
pub fn cursor_name(trail: &Trail) -> String {
    format!("{CURSOR_PREFIX}{}", trail.id)
}

pub const CURSOR_PREFIX: &str = "cloudwatch-";

/// The log stream of a trail's events of `region`, as AWS names it.
pub fn stream_name(trail: &Trail, region: &str) -> String {
    format!("{}_CloudTrail_{region}", trail.account_id)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CursorState {
    pending: Option<Pending>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    until: LogPosition,
    done: usize,
}

/// One `PutLogEvents` call: a stream and its events in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub stream: String,
    pub events: Vec<LogEvent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub timestamp_ms: i64,
    pub event_id: String,
    pub message: String,
}

/// The calls that send the events `trail` takes of `records` (a chunk of the log, in stored
/// order), and how many events were too large to send. The same records always make the same
/// calls.
pub fn plan_calls(trail: &Trail, records: &[String]) -> (Vec<Call>, usize) {
    let selectors = trail.effective_selectors();
    let mut by_stream: BTreeMap<String, Vec<LogEvent>> = BTreeMap::new();
    let mut too_large = 0;
    for text in records {
        let Ok(record) = Record::parse(text) else {
            continue; // the store only logs records that parse
        };
        if !trail_takes(trail, &selectors, &record) {
            continue;
        }
        if text.len() > MAX_EVENT_BYTES {
            too_large += 1;
            continue;
        }
        let region = record.fields.aws_region.as_deref().unwrap_or_default();
        by_stream
            .entry(stream_name(trail, region))
            .or_default()
            .push(LogEvent {
                timestamp_ms: record.fields.event_time_ms,
                event_id: record.fields.event_id.clone(),
                message: text.clone(),
            });
    }
    let mut calls = Vec::new();
    for (stream, mut events) in by_stream {
        events.sort_by_key(|e| e.timestamp_ms);
        let mut call: Vec<LogEvent> = Vec::new();
        let mut bytes = 0;
        for event in events {
            let size = event.message.len() + EVENT_OVERHEAD_BYTES;
            let full = call.len() == MAX_CALL_EVENTS
                || bytes + size > MAX_CALL_BYTES
                || call.first().is_some_and(|first| {
                    event.timestamp_ms - first.timestamp_ms >= MAX_CALL_SPAN_MS
                });
            if full {
                calls.push(Call {
                    stream: stream.clone(),
                    events: std::mem::take(&mut call),
                });
                bytes = 0;
            }
            bytes += size;
            call.push(event);
        }
        if !call.is_empty() {
            calls.push(Call {
                stream,
                events: call,
            });
        }
    }
    (calls, too_large)
}

/// What one round sent.
#[derive(Debug, Default)]
pub struct Sent {
    /// Events sent this round.
    pub events: usize,
    /// Events CloudWatch Logs refused (too old, too new, expired) or too large to send.
    pub refused: usize,
}

/// Sends trails' events to their log groups.
#[derive(Debug, Clone)]
pub struct Sender {
    pub store: Arc<Store>,
    pub upstreams: Upstreams,
    /// Streams known to exist, by (log group, stream).
    pub streams: Arc<Mutex<HashSet<(String, String)>>>,
}

impl Sender {
    /// Makes, moves or removes the trail's cursor as its log group says: made at
    /// `files_position` (the trail's file cursor) when the trail has a log group and no
    /// cursor, removed when it has none.
    pub async fn keep_cursor(
        &self,
        trail: &Trail,
        files_position: Option<LogPosition>,
    ) -> Result<(), String> {
        let name = cursor_name(trail);
        let has_group = trail.cloud_watch_logs_log_group_arn.is_some();
        with_store(&self.store, move |store| {
            let cursor = store.log_cursor(&name).map_err(|e| e.to_string())?;
            match (has_group, cursor, files_position) {
                (true, None, Some(position)) => store
                    .save_log_cursor(
                        &name,
                        &LogCursor {
                            position,
                            state: json!(CursorState::default()),
                        },
                    )
                    .map_err(|e| e.to_string()),
                (false, Some(_), _) => store.remove_log_cursor(&name).map_err(|e| e.to_string()),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Sends what the trail's cursor has not yet sent, up to `limit` (the log's end, or where
    /// a stopped trail stopped); `None` when the trail sends nothing to CloudWatch Logs.
    pub async fn send(&self, trail: &Trail, limit: LogPosition) -> Result<Option<Sent>, String> {
        let name = cursor_name(trail);
        let found = {
            let name = name.clone();
            with_store(&self.store, move |store| {
                store.log_cursor(&name).map_err(|e| e.to_string())
            })
            .await?
        };
        let (Some(group_arn), Some(mut cursor)) =
            (trail.cloud_watch_logs_log_group_arn.as_deref(), found)
        else {
            return Ok(None);
        };
        let group = LogGroupArn::parse(group_arn)
            .ok_or_else(|| format!("{group_arn} is not a log group ARN"))?;
        let mut state: CursorState = serde_json::from_value(cursor.state.clone())
            .map_err(|e| format!("cursor {name}: {e}"))?;
        let mut sent = Sent::default();
        loop {
            let redo = state.pending.clone();
            let (until, max_bytes) = match &redo {
                Some(pending) => (pending.until, usize::MAX),
                None if cursor.position >= limit => break,
                None => (limit, MAX_CHUNK_BYTES),
            };
            let from = cursor.position;
            let chunk = with_store(&self.store, move |store| {
                store
                    .read_log(from, until, max_bytes)
                    .map_err(|e| format!("reading the event log: {e}"))
            })
            .await?;
            let chunk_end = chunk.end;
            let (calls, too_large) = {
                let trail = trail.clone();
                tokio::task::spawn_blocking(move || plan_calls(&trail, &chunk.records))
                    .await
                    .map_err(|e| e.to_string())?
            };
            let mut done = redo.as_ref().map_or(0, |p| p.done);
            if redo.is_none() {
                sent.refused += too_large;
                if !calls.is_empty() {
                    state.pending = Some(Pending {
                        until: chunk_end,
                        done: 0,
                    });
                    self.save(&name, &mut cursor, &state).await?;
                }
            }
            for (k, call) in calls.iter().enumerate().skip(done) {
                let mut events: Vec<&LogEvent> = call.events.iter().collect();
                if redo.is_some() && k == done {
                    // The call under way when the last round ended may have reached the
                    // service: send only what its stream lacks.
                    let there = self.event_ids_in_stream(&group, call).await?;
                    events.retain(|e| !there.contains(&e.event_id));
                }
                if !events.is_empty() {
                    sent.refused += self.put(&group, &call.stream, &events).await?;
                    sent.events += events.len();
                    crash_after_sending(events.len());
                }
                done = k + 1;
                state.pending = Some(Pending {
                    until: chunk_end,
                    done,
                });
                self.save(&name, &mut cursor, &state).await?;
            }
            state.pending = None;
            cursor.position = chunk_end;
            self.save(&name, &mut cursor, &state).await?;
        }
        let stopped = !trail.logging.is_logging && cursor.position >= limit;
        if stopped {
            with_store(&self.store, move |store| {
                store.remove_log_cursor(&name).map_err(|e| e.to_string())
            })
            .await?;
        }
        Ok(Some(sent))
    }

    async fn save(
        &self,
        name: &str,
        cursor: &mut LogCursor,
        state: &CursorState,
    ) -> Result<(), String> {
        cursor.state = json!(state);
        save_cursor(&self.store, name, cursor).await
    }

    /// Sends `events` to `stream` (made first if it does not exist); how many the service
    /// refused.
    async fn put(
        &self,
        group: &LogGroupArn,
        stream: &str,
        events: &[&LogEvent],
    ) -> Result<usize, String> {
        self.make_stream(group, stream).await?;
        let log_events: Vec<Value> = events
            .iter()
            .map(|e| json!({"timestamp": e.timestamp_ms, "message": e.message}))
            .collect();
        let answer = self
            .upstreams
            .json(
                "logs",
                &group.region,
                &format!("{LOGS_TARGET}.PutLogEvents"),
                &json!({
                    "logGroupName": group.name,
                    "logStreamName": stream,
                    "logEvents": log_events,
                }),
            )
            .await
            .map_err(|e| {
                // A stream deleted meanwhile is made again next time.
                if let Ok(mut known) = self.streams.lock() {
                    known.remove(&(group.name.clone(), stream.to_owned()));
                }
                format!("PutLogEvents to {}:{stream}: {e}", group.name)
            })?;
        Ok(refused_count(
            &answer["rejectedLogEventsInfo"],
            events.len(),
        ))
    }

    async fn make_stream(&self, group: &LogGroupArn, stream: &str) -> Result<(), String> {
        let key = (group.name.clone(), stream.to_owned());
        if self.streams.lock().is_ok_and(|known| known.contains(&key)) {
            return Ok(());
        }
        let made = self
            .upstreams
            .json(
                "logs",
                &group.region,
                &format!("{LOGS_TARGET}.CreateLogStream"),
                &json!({"logGroupName": group.name, "logStreamName": stream}),
            )
            .await;
        match made {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {}
            Err(e) => return Err(format!("CreateLogStream {}:{stream}: {e}", group.name)),
        }
        if let Ok(mut known) = self.streams.lock() {
            known.insert(key);
        }
        Ok(())
    }

    /// The eventIDs of the records already in `call`'s stream over `call`'s times.
    async fn event_ids_in_stream(
        &self,
        group: &LogGroupArn,
        call: &Call,
    ) -> Result<HashSet<String>, String> {
        let (Some(first), Some(last)) = (call.events.first(), call.events.last()) else {
            return Ok(HashSet::new());
        };
        let mut ids = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = json!({
                "logGroupName": group.name,
                "logStreamName": call.stream,
                "startTime": first.timestamp_ms,
                "endTime": last.timestamp_ms + 1,
                "startFromHead": true,
            });
            if let Some(token) = &token {
                request["nextToken"] = json!(token);
            }
            let answer = self
                .upstreams
                .json(
                    "logs",
                    &group.region,
                    &format!("{LOGS_TARGET}.GetLogEvents"),
                    &request,
                )
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                // No stream yet: nothing was sent to it.
                Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(ids),
                Err(e) => return Err(format!("GetLogEvents {}:{}: {e}", group.name, call.stream)),
            };
            let events = answer["events"].as_array().cloned().unwrap_or_default();
            for event in &events {
                if let Some(record) = event["message"]
                    .as_str()
                    .and_then(|m| Record::parse(m).ok())
                {
                    ids.insert(record.fields.event_id);
                }
            }
            let next = answer["nextForwardToken"].as_str().map(str::to_owned);
            if events.is_empty() || next.is_none() || next == token {
                return Ok(ids);
            }
            token = next;
        }
    }
}

/// Test hook: with `CAIRN_TEST_CRASH_AFTER_LOG_EVENTS=n`, the process dies like a kill -9
/// right after a `PutLogEvents` call that brings the events this process sent to `n` or more,
/// before the call is marked done.
fn crash_after_sending(events: usize) {
    static SENT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let Some(limit) = std::env::var("CAIRN_TEST_CRASH_AFTER_LOG_EVENTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let sent = SENT.fetch_add(events, std::sync::atomic::Ordering::SeqCst) + events;
    if sent >= limit {
        std::process::abort();
    }
}

/// How many of a call's `count` events `PutLogEvents`' `rejectedLogEventsInfo` says were
/// refused: those below `tooOldLogEventEndIndex` or `expiredLogEventEndIndex`, and those from
/// `tooNewLogEventStartIndex` on.
fn refused_count(info: &Value, count: usize) -> usize {
    let index = |name: &str| info[name].as_u64().map(|i| i as usize);
    let old = index("tooOldLogEventEndIndex")
        .max(index("expiredLogEventEndIndex"))
        .unwrap_or(0)
        .min(count);
    let new = index("tooNewLogEventStartIndex").map_or(0, |start| count.saturating_sub(start));
    (old + new).min(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail() -> Trail {
        serde_json::from_value(json!({
            "id": "t", "name": "t", "account_id": "111122223333", "home_region": "us-east-1",
            "s3_bucket_name": "b", "s3_key_prefix": null, "sns_topic_name": null,
            "include_global_service_events": true, "is_multi_region_trail": true,
            "log_file_validation_enabled": false,
            "cloud_watch_logs_log_group_arn":
                "arn:aws:logs:us-east-1:111122223333:log-group:trail:*",
            "cloud_watch_logs_role_arn": "arn:aws:iam::111122223333:role/r",
            "kms_key_id": null, "is_organization_trail": false, "tags": [],
            "logging": {"is_logging": true, "start_logging_time": null,
                        "stop_logging_time": null}
        }))
        .unwrap()
    }

    fn record(i: usize, region: &str, time: &str, padding: usize) -> String {
        json!({
            "eventVersion": "1.09", "eventTime": time, "eventID": format!("id-{i}"),
            "eventName": "DescribeInstances", "eventSource": "ec2.amazonaws.com",
            "awsRegion": region, "recipientAccountId": "111122223333",
            "eventType": "AwsApiCall", "managementEvent": true,
            "eventCategory": "Management", "userAgent": "x".repeat(padding)
        })
        .to_string()
    }

    #[test]
    fn calls_are_per_region_stream_in_time_order_within_the_limits() {
        let mut records = vec![
            record(0, "us-east-1", "2024-01-01T00:00:02Z", 0),
            record(1, "eu-west-1", "2024-01-01T00:00:00Z", 0),
            record(2, "us-east-1", "2024-01-01T00:00:01Z", 0),
            // A day later: a call of its own.
            record(3, "us-east-1", "2024-01-02T00:00:01Z", 0),
            // Too large to send.
            record(4, "us-east-1", "2024-01-02T00:00:02Z", 300 * 1024),
        ];
        // 12,000 more in one region: more than one call's bytes.
        records
            .extend((0..12_000).map(|i| record(10 + i, "ap-south-1", "2024-01-03T00:00:00Z", 0)));
        let (calls, too_large) = plan_calls(&trail(), &records);
        assert_eq!(too_large, 1);
        let within_limits = |call: &Call| {
            call.events.len() <= MAX_CALL_EVENTS
                && call
                    .events
                    .iter()
                    .map(|e| e.message.len() + EVENT_OVERHEAD_BYTES)
                    .sum::<usize>()
                    <= MAX_CALL_BYTES
        };
        assert!(calls.iter().all(within_limits));
        let (south, others) = calls.split_at(calls.len() - 3);
        assert!(south.len() > 1);
        assert!(
            south
                .iter()
                .all(|c| c.stream == "111122223333_CloudTrail_ap-south-1")
        );
        let south_ids: Vec<&str> = south
            .iter()
            .flat_map(|c| c.events.iter().map(|e| e.event_id.as_str()))
            .collect();
        let expected: Vec<String> = (0..12_000).map(|i| format!("id-{}", 10 + i)).collect();
        assert_eq!(south_ids, expected);
        let shape: Vec<(&str, usize)> = others
            .iter()
            .map(|c| (c.stream.as_str(), c.events.len()))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("111122223333_CloudTrail_eu-west-1", 1),
                ("111122223333_CloudTrail_us-east-1", 2),
                ("111122223333_CloudTrail_us-east-1", 1),
            ]
        );
        let calls = others;
        let ids: Vec<&str> = calls[1]
            .events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect();
        assert_eq!(ids, ["id-2", "id-0"]);
        // Bytes: events of 100 KB, ten to a megabyte.
        let big: Vec<String> = (0..25)
            .map(|i| record(i, "us-east-1", "2024-01-01T00:00:00Z", 100 * 1024))
            .collect();
        let (calls, _) = plan_calls(&trail(), &big);
        assert_eq!(
            calls.iter().map(|c| c.events.len()).collect::<Vec<_>>(),
            [10, 10, 5]
        );
        assert!(calls.iter().all(|c| {
            c.events
                .iter()
                .map(|e| e.message.len() + EVENT_OVERHEAD_BYTES)
                .sum::<usize>()
                <= MAX_CALL_BYTES
        }));
    }

    #[test]
    fn refused_events_are_counted_from_the_rejection_indexes() {
        assert_eq!(refused_count(&Value::Null, 10), 0);
        assert_eq!(refused_count(&json!({"tooOldLogEventEndIndex": 3}), 10), 3);
        assert_eq!(
            refused_count(&json!({"tooNewLogEventStartIndex": 8}), 10),
            2
        );
        assert_eq!(
            refused_count(
                &json!({"tooOldLogEventEndIndex": 2, "expiredLogEventEndIndex": 4,
                        "tooNewLogEventStartIndex": 9}),
                10
            ),
            5
        );
    }
}
