//! The rules engine: every stored event is offered, as EventBridge presents CloudTrail events
//! (`cairn_rules::event`), to the enabled rules of its account and region, and each match is
//! delivered to the rule's targets, at least once.
//!
//! One log cursor (`rules`) reads the log from where the engine first started, a chunk at a
//! time: each record is matched once against every rule, the matches are delivered (targets
//! at the same time, each target's events in log order), then the cursor moves past the chunk.
//! A target that fails is not waited for: it gets a *lag cursor* of its own
//! (`rule-lag-<hash of rule and target>`) at the chunk's start, noting how many of its matches
//! there it already has, and catches up from there on its own, retrying with backoff (1 s,
//! doubling, at most 30 s) until its `RetryPolicy` gives up (`MaximumRetryAttempts`, default
//! 185; `MaximumEventAgeInSeconds` from `eventTime`, default 86400). Events it gives up on, and
//! events a target refuses for good (HTTP 4xx other than 401, 407, 409 and 429, as EventBridge
//! retries those), are dead letters: sent to the target's `DeadLetterConfig` SQS queue when it
//! has one (on the `sqs` upstream), and kept in the catalog document `rules-dead-letters.json`
//! (the last 1000). Once it reaches the main cursor its lag cursor goes, and the main reader
//! delivers to it again. An API destination's `InvocationRateLimitPerSecond` spaces its calls.
//!
//! A crash redoes at most the chunk under way: nothing matched is lost (the log keeps every
//! file a cursor points into), some deliveries may come twice; the event's `id` is the same
//! each time.
//!
//! # Lag cursor state format (JSON inside the cursor document), version 1
//!
//! `{"rule": <rule id>, "target": <target id>, "skip": <matches at the position already
//! delivered>, "attempts": <failures of the next one>, "retry_at_ms", "error": <last error>}`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use cairn_model::time::now_ms;
use cairn_rules::Pattern;
use cairn_rules::transform::Input;
use cairn_store::{LogCursor, LogPosition, Store, Visibility};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::model::{ApiDestination, Authorization, Connection, Rule, RuleCatalog, Target};
use crate::delivery::{save_cursor, with_store};
use crate::upstream::Upstreams;

/// The main cursor's name.
const MAIN_CURSOR: &str = "rules";
const LAG_PREFIX: &str = "rule-lag-";
/// How often the engine looks for new events when there were none.
const IDLE_WAIT: Duration = Duration::from_millis(50);
/// The most JSON text one chunk reads.
const MAX_CHUNK_BYTES: usize = 4 << 20;
const DEFAULT_MAX_ATTEMPTS: u64 = 185;
const DEFAULT_MAX_AGE_SECS: u64 = 86_400;
const MAX_BACKOFF_MS: i64 = 30_000;
const DEAD_LETTERS: &str = "rules-dead-letters.json";
const DEAD_LETTERS_KEPT: usize = 1000;

/// The engine's parts.
#[derive(Clone)]
pub struct Engine {
    pub store: Arc<Store>,
    pub catalog: Arc<RuleCatalog>,
    pub upstreams: Upstreams,
    client: reqwest::Client,
    /// OAuth access tokens by connection ARN, with when they expire.
    tokens: Arc<Mutex<HashMap<String, (String, Instant)>>>,
    /// When each rate-limited API destination may be called next.
    next_call: Arc<Mutex<HashMap<String, Instant>>>,
    /// The rules compiled, and the rule list's save count they were compiled at.
    compiled: Arc<Mutex<Option<Compiled>>>,
}

/// The live rules of the rule list as saved that many times.
type Compiled = (u64, Arc<Vec<Live>>);

/// A rule ready to match: its pattern compiled, its targets' inputs.
pub struct Live {
    rule: Rule,
    pattern: Pattern,
    inputs: Vec<Input>,
}

/// Why a delivery failed, and whether trying again may help.
#[derive(Debug)]
struct Failure {
    retryable: bool,
    message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LagState {
    rule: String,
    target: String,
    skip: usize,
    attempts: u64,
    retry_at_ms: i64,
    error: Option<String>,
}

impl Engine {
    pub fn new(
        store: Arc<Store>,
        catalog: Arc<RuleCatalog>,
        upstreams: Upstreams,
    ) -> Result<Engine, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("building the rules' HTTP client: {e}"))?;
        Ok(Engine {
            store,
            catalog,
            upstreams,
            client,
            tokens: Arc::default(),
            compiled: Arc::default(),
            next_call: Arc::default(),
        })
    }

    /// Runs until `shutdown` says stop.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            let busy = match self.round().await {
                Ok(busy) => busy,
                Err(e) => {
                    eprintln!("cairn: rules: {e}");
                    false
                }
            };
            let wait = if busy { Duration::ZERO } else { IDLE_WAIT };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One round: the lagging targets catch up, then the main cursor reads one chunk. True
    /// when it read something (there may be more).
    pub async fn round(&self) -> Result<bool, String> {
        let main = with_store(&self.store, move |store| {
            match store.log_cursor(MAIN_CURSOR).map_err(|e| e.to_string())? {
                Some(cursor) => Ok(cursor),
                None => {
                    // Rules see the events stored from the first start on, as EventBridge
                    // sees those that arrive after a rule exists.
                    let cursor = LogCursor {
                        position: store.log_end().map_err(|e| e.to_string())?,
                        state: json!({}),
                    };
                    store
                        .save_log_cursor(MAIN_CURSOR, &cursor)
                        .map_err(|e| e.to_string())?;
                    Ok(cursor)
                }
            }
        })
        .await?;
        let live = self.live_rules()?;
        let lagging = self.catch_up(&live, main.position).await?;
        self.read_main(&live, main, &lagging).await
    }

    /// The enabled rules with targets, compiled: again only when the rules were saved since.
    fn live_rules(&self) -> Result<Arc<Vec<Live>>, String> {
        let edit = self.catalog.rules.edit().map_err(|e| e.message)?;
        let mut compiled = self
            .compiled
            .lock()
            .map_err(|_| "the compiled rules' lock is poisoned".to_owned())?;
        match compiled.as_ref() {
            Some((saves, live)) if *saves == edit.saves() => Ok(live.clone()),
            _ => {
                let fresh = Arc::new(live(&edit.items));
                *compiled = Some((edit.saves(), fresh.clone()));
                Ok(fresh)
            }
        }
    }

    /// Reads one chunk after the main cursor, delivers its matches to the targets that are
    /// not lagging, and moves the cursor.
    async fn read_main(
        &self,
        live: &Arc<Vec<Live>>,
        mut main: LogCursor,
        lagging: &[(String, String)],
    ) -> Result<bool, String> {
        let from = main.position;
        let chunk = with_store(&self.store, move |store| {
            let end = store.log_end().map_err(|e| e.to_string())?;
            store
                .read_log(from, end, MAX_CHUNK_BYTES)
                .map_err(|e| e.to_string())
        })
        .await?;
        if chunk.end == from {
            return Ok(false);
        }
        let chunk_end = chunk.end;
        let matches = {
            let live = live.clone();
            tokio::task::spawn_blocking(move || match_chunk(&live, &chunk.records))
                .await
                .map_err(|e| e.to_string())?
        };
        // Each (rule, target) not lagging: its events in order.
        let mut work = Vec::new();
        for (r, rule) in live.iter().enumerate() {
            for (t, target) in rule.rule.targets.iter().enumerate() {
                if lagging
                    .iter()
                    .any(|(rid, tid)| *rid == rule.rule.id && *tid == target.id)
                {
                    continue;
                }
                let events: Vec<&Value> = matches
                    .iter()
                    .filter(|(index, _)| *index == r)
                    .map(|(_, event)| event.as_ref())
                    .collect();
                if !events.is_empty() {
                    work.push((rule, target, &rule.inputs[t], events));
                }
            }
        }
        let outcomes = futures_util::future::join_all(work.iter().map(
            |(rule, target, input, events)| async move {
                for (k, event) in events.iter().enumerate() {
                    if let Err(failure) = self.deliver(&rule.rule, target, input, event).await {
                        return Some((k, failure));
                    }
                }
                None
            },
        ))
        .await;
        for ((rule, target, _, events), outcome) in work.iter().zip(outcomes) {
            let Some((k, failure)) = outcome else {
                continue;
            };
            if failure.retryable {
                self.start_lagging(&rule.rule, target, from, k, &failure)
                    .await?;
            } else {
                // Refused for good: a dead letter, and the rest of the chunk from where it
                // stopped is the lag cursor's.
                self.dead_letter(&rule.rule, target, events[k], &failure.message)
                    .await;
                if k + 1 < events.len() {
                    self.start_lagging(&rule.rule, target, from, k + 1, &failure)
                        .await?;
                }
            }
        }
        main.position = chunk_end;
        save_cursor(&self.store, MAIN_CURSOR, &main).await?;
        Ok(true)
    }

    /// Makes `target`'s lag cursor at `position`, where it has its first `skip` matches.
    async fn start_lagging(
        &self,
        rule: &Rule,
        target: &Target,
        position: LogPosition,
        skip: usize,
        failure: &Failure,
    ) -> Result<(), String> {
        let state = LagState {
            rule: rule.id.clone(),
            target: target.id.clone(),
            skip,
            attempts: 1,
            retry_at_ms: now_ms() + backoff_ms(1),
            error: Some(failure.message.clone()),
        };
        let cursor = LogCursor {
            position,
            state: json!(state),
        };
        save_cursor(&self.store, &lag_cursor_name(&rule.id, &target.id), &cursor).await
    }

    /// Lets every lagging target catch up as far as it can; the (rule, target) pairs still
    /// lagging.
    async fn catch_up(
        &self,
        live: &[Live],
        main_position: LogPosition,
    ) -> Result<Vec<(String, String)>, String> {
        let cursors: Vec<(String, LogCursor)> = with_store(&self.store, move |store| {
            let names = store.log_cursor_names().map_err(|e| e.to_string())?;
            let mut cursors = Vec::new();
            for name in names.into_iter().filter(|n| n.starts_with(LAG_PREFIX)) {
                if let Some(cursor) = store.log_cursor(&name).map_err(|e| e.to_string())? {
                    cursors.push((name, cursor));
                }
            }
            Ok(cursors)
        })
        .await?;
        let mut still = Vec::new();
        for (name, cursor) in cursors {
            let state: LagState = serde_json::from_value(cursor.state.clone()).unwrap_or_default();
            let found = live.iter().find_map(|l| {
                let t = l.rule.targets.iter().position(|t| t.id == state.target)?;
                (l.rule.id == state.rule).then_some((l, t))
            });
            let Some((rule, t)) = found else {
                // The rule or target is gone (or the rule disabled): so is its backlog.
                with_store(&self.store, move |store| {
                    store.remove_log_cursor(&name).map_err(|e| e.to_string())
                })
                .await?;
                continue;
            };
            if self
                .lag_round(rule, t, &name, cursor, state, main_position)
                .await?
            {
                still.push((rule.rule.id.clone(), rule.rule.targets[t].id.clone()));
            }
        }
        Ok(still)
    }

    /// Delivers a lagging target's backlog up to `main_position` until a failure; true while
    /// it still lags.
    async fn lag_round(
        &self,
        live: &Live,
        t: usize,
        name: &str,
        mut cursor: LogCursor,
        mut state: LagState,
        main_position: LogPosition,
    ) -> Result<bool, String> {
        if now_ms() < state.retry_at_ms {
            return Ok(true);
        }
        let target = &live.rule.targets[t];
        let policy = &target.definition["RetryPolicy"];
        let max_attempts = policy["MaximumRetryAttempts"]
            .as_u64()
            .unwrap_or(DEFAULT_MAX_ATTEMPTS);
        let max_age_ms = policy["MaximumEventAgeInSeconds"]
            .as_u64()
            .unwrap_or(DEFAULT_MAX_AGE_SECS) as i64
            * 1000;
        while cursor.position < main_position {
            let from = cursor.position;
            let chunk = with_store(&self.store, move |store| {
                store
                    .read_log(from, main_position, MAX_CHUNK_BYTES)
                    .map_err(|e| e.to_string())
            })
            .await?;
            let matches = match_chunk(std::slice::from_ref(live), &chunk.records);
            let mut k = state.skip;
            while k < matches.len() {
                let event = &matches[k].1;
                match self
                    .deliver(&live.rule, target, &live.inputs[t], event)
                    .await
                {
                    Ok(()) => k += 1,
                    Err(failure) => {
                        let age_ms = event_age_ms(event);
                        if failure.retryable
                            && state.attempts < max_attempts
                            && age_ms <= max_age_ms
                        {
                            state.skip = k;
                            state.attempts += 1;
                            state.retry_at_ms = now_ms() + backoff_ms(state.attempts);
                            state.error = Some(failure.message);
                            cursor.state = json!(state);
                            save_cursor(&self.store, name, &cursor).await?;
                            return Ok(true);
                        }
                        self.dead_letter(&live.rule, target, event, &failure.message)
                            .await;
                        state.attempts = 0;
                        k += 1;
                    }
                }
            }
            cursor.position = chunk.end;
            state.skip = 0;
            state.attempts = 0;
            state.error = None;
            cursor.state = json!(state);
            save_cursor(&self.store, name, &cursor).await?;
        }
        let name = name.to_owned();
        with_store(&self.store, move |store| {
            store.remove_log_cursor(&name).map_err(|e| e.to_string())
        })
        .await?;
        Ok(false)
    }

    /// Delivers one matched event to one target.
    async fn deliver(
        &self,
        rule: &Rule,
        target: &Target,
        input: &Input,
        event: &Value,
    ) -> Result<(), Failure> {
        let kind = target.arn.splitn(6, ':').nth(5).unwrap_or_default();
        if let Some(bus) = kind.strip_prefix("event-bus/") {
            return self.put_events(rule, bus, event).await;
        }
        let (destination, connection) =
            self.destination_of(&target.arn)
                .map_err(|message| Failure {
                    retryable: false,
                    message,
                })?;
        let body = input.render(event, &rule.arn());
        self.call_destination(&destination, &connection, &target.definition, body)
            .await
    }

    fn destination_of(&self, arn: &str) -> Result<(ApiDestination, Connection), String> {
        let destination = self
            .catalog
            .api_destinations
            .edit()
            .map_err(|e| e.message)?
            .items
            .iter()
            .find(|d| d.arn() == arn)
            .cloned()
            .ok_or_else(|| format!("API destination {arn} does not exist"))?;
        let connection = self
            .catalog
            .connections
            .edit()
            .map_err(|e| e.message)?
            .items
            .iter()
            .find(|c| c.arn() == destination.connection_arn)
            .cloned()
            .ok_or_else(|| format!("connection {} does not exist", destination.connection_arn))?;
        Ok((destination, connection))
    }

    /// An HTTP call of an API destination with its connection's authorization and
    /// parameters and the target's `HttpParameters`.
    async fn call_destination(
        &self,
        destination: &ApiDestination,
        connection: &Connection,
        target: &Value,
        body: String,
    ) -> Result<(), Failure> {
        let mut endpoint = destination.invocation_endpoint.clone();
        let http = &target["HttpParameters"];
        for value in http["PathParameterValues"].as_array().into_iter().flatten() {
            if let (Some(at), Some(value)) = (endpoint.find('*'), value.as_str()) {
                endpoint.replace_range(at..at + 1, value);
            }
        }
        let mut query: Vec<(String, String)> = Vec::new();
        let mut headers: Vec<(String, String)> = vec![
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
            (
                "user-agent".into(),
                "Amazon/EventBridge/ApiDestinations".into(),
            ),
        ];
        if let Some(extra) = &connection.invocation_http_parameters {
            for (list, into) in [
                ("HeaderParameters", &mut headers),
                ("QueryStringParameters", &mut query),
            ] {
                for p in extra[list].as_array().into_iter().flatten() {
                    if let (Some(k), Some(v)) = (p["Key"].as_str(), p["Value"].as_str()) {
                        into.push((k.to_owned(), v.to_owned()));
                    }
                }
            }
        }
        for (member, into) in [
            ("HeaderParameters", &mut headers),
            ("QueryStringParameters", &mut query),
        ] {
            for (k, v) in http[member].as_object().into_iter().flatten() {
                if let Some(v) = v.as_str() {
                    into.push((k.clone(), v.to_owned()));
                }
            }
        }
        match &connection.authorization {
            Authorization::Basic { username, password } => headers.push((
                "authorization".into(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                ),
            )),
            Authorization::ApiKey { name, value } => headers.push((name.clone(), value.clone())),
            Authorization::OauthClientCredentials { .. } => {
                let token = self.oauth_token(connection).await?;
                headers.push(("authorization".into(), format!("Bearer {token}")));
            }
        }
        if !query.is_empty() {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&query)
                .finish();
            endpoint.push(if endpoint.contains('?') { '&' } else { '?' });
            endpoint.push_str(&encoded);
        }
        if let Some(rate) = destination.rate_limit_per_second {
            self.pace(&destination.arn(), rate).await;
        }
        let method = reqwest::Method::from_bytes(destination.http_method.as_bytes())
            .unwrap_or(reqwest::Method::POST);
        let mut request = self.client.request(method, &endpoint).body(body);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        // The message names the endpoint as configured: the query the connection adds may
        // hold secrets (`IsValueSecret`), and messages are printed and kept as dead letters.
        let response = request.send().await.map_err(|e| Failure {
            retryable: true,
            message: format!(
                "{} {}: {}",
                destination.http_method,
                destination.invocation_endpoint,
                e.without_url()
            ),
        })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        if status == 401
            && let Ok(mut tokens) = self.tokens.lock()
        {
            tokens.remove(&connection.arn());
        }
        Err(Failure {
            // EventBridge retries these; other answers are final.
            retryable: matches!(status, 401 | 407 | 409 | 429) || status >= 500,
            message: format!(
                "{} {} answered HTTP {status}",
                destination.http_method, destination.invocation_endpoint
            ),
        })
    }

    /// Waits for the destination's turn: calls at most `rate` a second
    /// (`InvocationRateLimitPerSecond`), evenly spaced.
    async fn pace(&self, destination_arn: &str, rate: u64) {
        let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        let at = match self.next_call.lock() {
            Ok(mut next) => {
                let now = Instant::now();
                let at = next.get(destination_arn).copied().unwrap_or(now).max(now);
                next.insert(destination_arn.to_owned(), at + gap);
                at
            }
            Err(_) => return,
        };
        tokio::time::sleep_until(at.into()).await;
    }

    /// The connection's OAuth access token, asked for with the client credentials when there
    /// is none or it expired.
    async fn oauth_token(&self, connection: &Connection) -> Result<String, Failure> {
        let Authorization::OauthClientCredentials {
            client_id,
            client_secret,
            authorization_endpoint,
            http_method,
            http_parameters,
        } = &connection.authorization
        else {
            return Err(Failure {
                retryable: false,
                message: "not an OAuth connection".into(),
            });
        };
        if let Ok(tokens) = self.tokens.lock()
            && let Some((token, expires)) = tokens.get(&connection.arn())
            && Instant::now() < *expires
        {
            return Ok(token.clone());
        }
        let failed = |message: String| Failure {
            retryable: true,
            message: format!("getting an OAuth token from {authorization_endpoint}: {message}"),
        };
        let mut form = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
        for p in http_parameters
            .as_ref()
            .and_then(|h| h["BodyParameters"].as_array())
            .into_iter()
            .flatten()
        {
            if let (Some(k), Some(v)) = (p["Key"].as_str(), p["Value"].as_str()) {
                form.push((k.to_owned(), v.to_owned()));
            }
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let method =
            reqwest::Method::from_bytes(http_method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{client_secret}"));
        let response = self
            .client
            .request(method, authorization_endpoint)
            .header("authorization", format!("Basic {credentials}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let answer: Value =
            serde_json::from_slice(&response.bytes().await.map_err(|e| failed(e.to_string()))?)
                .unwrap_or(Value::Null);
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| failed(format!("HTTP {status} without an access_token")))?
            .to_owned();
        let lifetime = answer["expires_in"]
            .as_u64()
            .unwrap_or(300)
            .saturating_sub(30);
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(
                connection.arn(),
                (
                    token.clone(),
                    Instant::now() + Duration::from_secs(lifetime),
                ),
            );
        }
        Ok(token)
    }

    /// Sends the event to an event bus of the EventBridge-compatible upstream (`PutEvents`).
    async fn put_events(&self, rule: &Rule, bus: &str, event: &Value) -> Result<(), Failure> {
        // Timestamps in AWS's JSON protocol are epoch seconds.
        let time = event["time"]
            .as_str()
            .and_then(cairn_model::time::parse_event_time)
            .map_or_else(|| now_ms() as f64 / 1000.0, |ms| ms as f64 / 1000.0);
        let entry = json!({
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": event["detail"].to_string(),
            "Resources": event["resources"],
            "Time": time,
            "EventBusName": bus,
        });
        let answer = self
            .upstreams
            .json(
                "events",
                &rule.region,
                "AWSEvents.PutEvents",
                &json!({"Entries": [entry]}),
            )
            .await
            .map_err(|e| Failure {
                retryable: !matches!(e, crate::upstream::UpstreamError::NotConfigured(_)),
                message: format!("PutEvents to event bus {bus}: {e}"),
            })?;
        if answer["FailedEntryCount"].as_u64().unwrap_or(0) > 0 {
            return Err(Failure {
                retryable: true,
                message: format!(
                    "PutEvents to event bus {bus}: {}",
                    answer["Entries"][0]["ErrorMessage"]
                        .as_str()
                        .unwrap_or("failed")
                ),
            });
        }
        Ok(())
    }

    /// Records an event a target will not get: to its dead-letter queue if it has one, and
    /// in the dead-letter document.
    async fn dead_letter(&self, rule: &Rule, target: &Target, event: &Value, error: &str) {
        let mut sent_to = None;
        if let Some(queue_arn) = target.definition["DeadLetterConfig"]["Arn"].as_str() {
            match self
                .send_to_queue(queue_arn, rule, target, event, error)
                .await
            {
                Ok(()) => sent_to = Some(queue_arn.to_owned()),
                Err(e) => eprintln!("cairn: rules: dead-letter queue {queue_arn}: {e}"),
            }
        }
        let entry = json!({
            "time_ms": now_ms(),
            "rule_arn": rule.arn(),
            "target_id": target.id,
            "target_arn": target.arn,
            "event_id": event["id"],
            "detail_event_id": event["detail"]["eventID"],
            "error": error,
            "sent_to": sent_to,
        });
        let kept = with_store(&self.store, move |store| {
            let mut letters: Vec<Value> = match store.read_document(DEAD_LETTERS) {
                Ok(Some(bytes)) => serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v["dead_letters"].as_array().cloned())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            letters.push(entry);
            let excess = letters.len().saturating_sub(DEAD_LETTERS_KEPT);
            letters.drain(..excess);
            let bytes = serde_json::to_vec_pretty(&json!({"version": 1, "dead_letters": letters}))
                .map_err(|e| e.to_string())?;
            store
                .write_document(DEAD_LETTERS, &bytes, Visibility::Plain)
                .map_err(|e| e.to_string())
        })
        .await;
        if let Err(e) = kept {
            eprintln!("cairn: rules: keeping a dead letter: {e}");
        }
    }

    async fn send_to_queue(
        &self,
        queue_arn: &str,
        rule: &Rule,
        target: &Target,
        event: &Value,
        error: &str,
    ) -> Result<(), String> {
        let parts: Vec<&str> = queue_arn.splitn(6, ':').collect();
        let [_, _, "sqs", region, account, name] = parts[..] else {
            return Err(format!("{queue_arn} is not an SQS queue ARN"));
        };
        let url = self
            .upstreams
            .query(
                "sqs",
                region,
                &[
                    ("Action", "GetQueueUrl"),
                    ("Version", "2012-11-05"),
                    ("QueueName", name),
                    ("QueueOwnerAWSAccountId", account),
                ],
            )
            .await
            .map_err(|e| e.to_string())?
            .find("QueueUrl")
            .map(|u| u.text.trim().to_owned())
            .ok_or("GetQueueUrl gave no QueueUrl")?;
        let body = event.to_string();
        let rule_arn = rule.arn();
        self.upstreams
            .query(
                "sqs",
                region,
                &[
                    ("Action", "SendMessage"),
                    ("Version", "2012-11-05"),
                    ("QueueUrl", &url),
                    ("MessageBody", &body),
                    ("MessageAttribute.1.Name", "RULE_ARN"),
                    ("MessageAttribute.1.Value.DataType", "String"),
                    ("MessageAttribute.1.Value.StringValue", &rule_arn),
                    ("MessageAttribute.2.Name", "TARGET_ARN"),
                    ("MessageAttribute.2.Value.DataType", "String"),
                    ("MessageAttribute.2.Value.StringValue", &target.arn),
                    ("MessageAttribute.3.Name", "ERROR_MESSAGE"),
                    ("MessageAttribute.3.Value.DataType", "String"),
                    ("MessageAttribute.3.Value.StringValue", error),
                ],
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The enabled rules of `rules` that have targets, compiled.
pub fn live(rules: &[Rule]) -> Vec<Live> {
    rules
        .iter()
        .filter(|r| r.enabled && !r.targets.is_empty())
        .filter_map(|rule| {
            Some(Live {
                pattern: Pattern::parse(&rule.pattern).ok()?,
                inputs: rule
                    .targets
                    .iter()
                    .map(|t| Input::of_target(&t.definition))
                    .collect(),
                rule: rule.clone(),
            })
        })
        .collect()
}

/// The matches of a chunk of records, in log order: (index of the rule in `live`, event).
/// Each record is parsed once; a large chunk is matched in parts on every core.
pub fn match_chunk(live: &[Live], records: &[String]) -> Vec<(usize, Arc<Value>)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || records.len() < 512 {
        return match_records(live, records);
    }
    let part = records.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = records
            .chunks(part)
            .map(|records| scope.spawn(move || match_records(live, records)))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_default())
            .collect()
    })
}

/// [`match_chunk`] on this thread.
fn match_records(live: &[Live], records: &[String]) -> Vec<(usize, Arc<Value>)> {
    let mut by_scope: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, l) in live.iter().enumerate() {
        by_scope
            .entry((l.rule.account_id.as_str(), l.rule.region.as_str()))
            .or_default()
            .push(i);
    }
    let mut matches = Vec::new();
    for text in records {
        let Some(event) = cairn_rules::event::of_text(text) else {
            continue;
        };
        let scope = (
            event["account"].as_str().unwrap_or_default(),
            event["region"].as_str().unwrap_or_default(),
        );
        let Some(candidates) = by_scope.get(&scope) else {
            continue;
        };
        let mut shared: Option<Arc<Value>> = None;
        for &i in candidates {
            if live[i].pattern.matches(&event) {
                let event = shared.get_or_insert_with(|| Arc::new(event.clone()));
                matches.push((i, event.clone()));
            }
        }
    }
    matches
}

/// How long since the event happened (its `time`), in ms.
fn event_age_ms(event: &Value) -> i64 {
    event["time"]
        .as_str()
        .and_then(cairn_model::time::parse_event_time)
        .map_or(0, |t| now_ms() - t)
}

/// The wait before attempt `attempts + 1`: 1 s, doubling, at most 30 s.
fn backoff_ms(attempts: u64) -> i64 {
    (1000i64 << attempts.saturating_sub(1).min(5)).min(MAX_BACKOFF_MS)
}

/// A lag cursor's name: catalog names are lower case, so the pair is hashed.
fn lag_cursor_name(rule_id: &str, target_id: &str) -> String {
    let digest = Sha256::digest(format!("{rule_id}/{target_id}").as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{LAG_PREFIX}{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limited_destination_is_called_evenly_spaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), Default::default()).unwrap());
        let catalog = Arc::new(RuleCatalog::load(store.clone()).unwrap());
        let upstreams = Upstreams::new(&Default::default(), &Default::default(), |_| None).unwrap();
        let engine = Engine::new(store, catalog, upstreams).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let started = Instant::now();
        runtime.block_on(async {
            for _ in 0..6 {
                engine.pace("arn:dest", 20).await;
            }
        });
        // Six calls at 20 a second: the sixth 250 ms after the first.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(245), "{took:?}");
    }

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let waits: Vec<i64> = (1..=8).map(backoff_ms).collect();
        assert_eq!(waits, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        assert!(lag_cursor_name("r", "T").len() <= 64);
        assert_eq!(lag_cursor_name("r", "T"), lag_cursor_name("r", "T"));
        assert_ne!(lag_cursor_name("r", "T"), lag_cursor_name("r", "U"));
    }
}
