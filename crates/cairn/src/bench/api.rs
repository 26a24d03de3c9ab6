//! `cairn bench api`: LookupEvents through the HTTP API with several concurrent signed clients,
//! on a store filled by `cairn bench run`; and how soon an API call's own audit event is visible.
//!
//! The server runs in this process on a free port with one admin principal of the store's
//! busiest account; each client is a thread with its own connection, signing every request with
//! SigV4. The calls are recorded as audit events in that store, as any API call is.
//!
//! Two loads run in turn, each for the given time:
//! - *spread*: every lookup ends at a random time of the generated events' 30 days and every
//!   needle is one of ~20,000 events;
//! - *repeated*: the same few lookups again and again, as a console refreshing its views.
//!
//! Each load reports how many of the segment records it returned came from the store's record
//! cache; `--record-cache-mib 0` measures without it (every record decompressed and parsed).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_model::LookupQuery;
use cairn_server::config::{Identity, Permissions, Principal, generate_key};
use cairn_store::{Store, StoreOptions};
use serde_json::json;

use super::{InProcessServer, Rng, generated_span, p50_p99, percentile};
use crate::lookup_events::{ApiClient, ClientCredentials};

/// Which lookups the clients make, in turn.
const KINDS: [&str; 4] = [
    "EventId (needle)",
    "EventName rare (StopLogging)",
    "EventName common (DescribeInstances)",
    "no attribute",
];

pub fn run_api_benchmark(
    data_dir: &Path,
    options: &StoreOptions,
    clients: usize,
    seconds: u64,
) -> Result<String> {
    if !data_dir.join("MANIFEST").exists() {
        bail!(
            "{} holds no store: run `cairn bench run` first (it fills bench-data/store)",
            data_dir.display()
        );
    }
    // Sampled from a store of its own, so that the loads start with an empty record cache.
    let (scope, needles) = {
        let store = Store::open(data_dir, options.clone())?;
        let scope = busiest_scope(&store)?;
        let needles = needles(&store, &scope)?;
        store.close();
        (scope, needles)
    };
    let Scope { account, region } = scope.clone();
    let store = Arc::new(Store::open(data_dir, options.clone())?);
    let (access_key_id, secret_access_key) = generate_key()?;
    let principal = Principal {
        account_id: account.clone(),
        access_key_id: access_key_id.clone(),
        secret_access_key: secret_access_key.clone(),
        identity: Identity::Root,
        permissions: Permissions::Admin,
    };
    // A second principal makes the probes of the visibility measurement, so that they can be
    // told from the lookups that look for them.
    let (probe_key, probe_secret) = generate_key()?;
    let prober = Principal {
        account_id: account.clone(),
        access_key_id: probe_key.clone(),
        secret_access_key: probe_secret.clone(),
        identity: Identity::IamUser {
            user_name: "cairn-bench-probe".to_owned(),
        },
        permissions: Permissions::ReadOnly,
    };
    let (runtime, server) =
        InProcessServer::start_with(store.clone(), &region, vec![principal, prober])?;
    let endpoint = server.endpoint.clone();
    let credentials = ClientCredentials {
        access_key_id,
        secret_access_key,
        session_token: None,
        region: Some(region.clone()),
    };

    let needles = Arc::new(needles);
    let spread = Load::Spread {
        needles: needles.clone(),
    };
    let repeated = Load::Repeated {
        needles: Arc::new(needles.iter().take(20).cloned().collect()),
    };
    let mut report = String::new();
    for load in [spread, repeated] {
        let before = store.stats()?;
        let samples = run_load(&load, &endpoint, &credentials, &region, clients, seconds)?;
        let after = store.stats()?;
        report_load(&mut report, &load, &samples, clients, seconds);
        let cached = after.records_from_cache - before.records_from_cache;
        let read = cached + after.records_from_segments - before.records_from_segments;
        let _ = writeln!(
            report,
            "api {}: {:.0}% of {read} segment records returned came from the record cache",
            load.name(),
            cached as f64 * 100.0 / read.max(1) as f64
        );
    }

    // Visibility: how long after a call's answer its audit event is found.
    let client = ApiClient::new(&endpoint, credentials, &region)?;
    let prober = ApiClient::new(
        &endpoint,
        ClientCredentials {
            access_key_id: probe_key,
            secret_access_key: probe_secret,
            session_token: None,
            region: Some(region.clone()),
        },
        &region,
    )?;
    let mut delays = Vec::new();
    for _ in 0..50 {
        let answer = prober.call("LookupEvents", br#"{"MaxResults": 1}"#)?;
        let answered = Instant::now();
        let request_id = answer.request_id.context("no x-amzn-RequestId")?;
        let find = json!({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "cairn-bench-probe"}], "MaxResults": 50});
        loop {
            let page = client.call("LookupEvents", find.to_string().as_bytes())?;
            let seen = page.body["Events"].as_array().is_some_and(|events| {
                events.iter().any(|e| {
                    e["CloudTrailEvent"]
                        .as_str()
                        .is_some_and(|text| text.contains(&request_id))
                })
            });
            if seen {
                delays.push(answered.elapsed());
                break;
            }
            if answered.elapsed() > Duration::from_secs(10) {
                bail!("the audit event of request {request_id} was not visible after 10 s");
            }
        }
    }
    server.stop(&runtime)?;
    drop(runtime);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }

    let mut out = format!("api: account {account}, region {region}\n{report}");
    delays.sort_unstable();
    let _ = writeln!(
        out,
        "visible: a call's audit event found by LookupEvents after p50 {:.1} ms, max {:.1} ms (50 probes)",
        percentile(&delays, 0.5).as_secs_f64() * 1e3,
        delays.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok(out)
}

/// What the clients ask for, in turn: an event by id, a rare and a common event name, the
/// newest events.
#[derive(Debug)]
enum Load {
    /// Lookups ending at random times of the generated events' span, needles from many events.
    Spread { needles: Arc<Vec<String>> },
    /// The same lookups again and again, needles from a few events.
    Repeated { needles: Arc<Vec<String>> },
}

impl Load {
    fn name(&self) -> &'static str {
        match self {
            Load::Spread { .. } => "spread",
            Load::Repeated { .. } => "repeated",
        }
    }

    /// The request body of lookup kind `kind` (an index into [`KINDS`]).
    fn body(&self, kind: usize, rng: &mut Rng) -> serde_json::Value {
        let (needles, end_time) = match self {
            Load::Spread { needles } => (needles, Some(random_time(rng) / 1000)),
            Load::Repeated { needles } => (needles, None),
        };
        let mut body = match kind {
            0 => {
                return json!({"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": rng.pick(needles)}]});
            }
            1 => {
                json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "StopLogging"}]})
            }
            2 => {
                json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "DescribeInstances"}]})
            }
            _ => json!({}),
        };
        if let Some(end_time) = end_time {
            body["EndTime"] = json!(end_time);
        }
        body
    }
}

/// One call: its lookup kind, how long it took, how many events it returned (`None`: it
/// failed).
type Sample = (usize, Duration, Option<usize>);

/// Every client calls in turn until the time is up.
fn run_load(
    load: &Load,
    endpoint: &str,
    credentials: &ClientCredentials,
    region: &str,
    clients: usize,
    seconds: u64,
) -> Result<Vec<Sample>> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let client = ApiClient::new(endpoint, credentials.clone(), region);
                scope.spawn(move || -> Result<Vec<Sample>> {
                    let client = client?;
                    let mut rng = Rng::new(c as u64 + 1);
                    let mut samples = Vec::new();
                    let mut i = c;
                    while Instant::now() < deadline {
                        let kind = i % KINDS.len();
                        i += 1;
                        let body = load.body(kind, &mut rng).to_string();
                        let started = Instant::now();
                        let answer = client.call("LookupEvents", body.as_bytes())?;
                        let events = answer.body["Events"].as_array().map(Vec::len);
                        let events = events.filter(|_| answer.status == 200);
                        samples.push((kind, started.elapsed(), events));
                    }
                    Ok(samples)
                })
            })
            .collect();
        super::join_workers(workers)
    })
}

fn report_load(out: &mut String, load: &Load, samples: &[Sample], clients: usize, seconds: u64) {
    let name = load.name();
    let total = samples.len();
    let failed = samples
        .iter()
        .filter(|(_, _, events)| events.is_none())
        .count();
    let _ = writeln!(
        out,
        "api {name}: {total} LookupEvents in {seconds} s from {clients} signed clients = {:.0} requests/s ({failed} failed)",
        total as f64 / seconds as f64
    );
    let mut all: Vec<Duration> = samples.iter().map(|(_, d, _)| *d).collect();
    let _ = writeln!(out, "api {name} latency, all kinds: {}", p50_p99(&mut all));
    for (k, kind) in KINDS.iter().enumerate() {
        let of_kind = || {
            samples
                .iter()
                .filter(|(sample_kind, _, _)| *sample_kind == k)
        };
        let mut times: Vec<Duration> = of_kind().map(|(_, d, _)| *d).collect();
        let events: usize = of_kind().filter_map(|(_, _, events)| *events).sum();
        let _ = writeln!(
            out,
            "api {name} latency, {kind}: {} ({} calls, {:.1} events/page)",
            p50_p99(&mut times),
            times.len(),
            events as f64 / times.len().max(1) as f64
        );
    }
}

/// The scope the clients read.
#[derive(Debug, Clone)]
pub(super) struct Scope {
    pub(super) account: String,
    pub(super) region: String,
}

/// A random time of the generated events' span (the store also holds the benchmark's own
/// audit events, of today).
fn random_time(rng: &mut Rng) -> i64 {
    let (start, end) = generated_span();
    start + (rng.next_u64() % (end - start) as u64) as i64
}

/// Event ids of `scope` for needle lookups: the pages of lookups ending at random times.
fn needles(store: &Store, scope: &Scope) -> Result<Vec<String>> {
    let mut rng = Rng::new(11);
    let mut needles = Vec::new();
    for _ in 0..400 {
        let query = LookupQuery {
            end_ms: Some(random_time(&mut rng)),
            account_id: Some(scope.account.clone()),
            region: Some(scope.region.clone()),
            ..LookupQuery::default()
        };
        let page = store.lookup(&query, None, 50)?;
        needles.extend(page.records.iter().map(|r| r.fields.event_id.clone()));
    }
    needles.sort_unstable();
    needles.dedup();
    if needles.is_empty() {
        bail!("no event in the busiest scope");
    }
    Ok(needles)
}

/// The (account, region) with the most events among a sample spread over the stored time
/// range.
pub(super) fn busiest_scope(store: &Store) -> Result<Scope> {
    let mut rng = Rng::new(7);
    let mut sample = Vec::new();
    for _ in 0..400 {
        let query = LookupQuery {
            end_ms: Some(random_time(&mut rng)),
            ..LookupQuery::default()
        };
        if let Some(r) = store.lookup(&query, None, 1)?.records.into_iter().next() {
            sample.push(r);
        }
    }
    if sample.is_empty() {
        bail!("the store holds no generated events: run `cairn bench run` first");
    }
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for r in &sample {
        if let (Some(a), Some(g)) = (&r.fields.account_id, &r.fields.aws_region) {
            *counts.entry((a.clone(), g.clone())).or_default() += 1;
        }
    }
    let ((account, region), _) = counts
        .into_iter()
        .max_by_key(|(scope, n)| (*n, scope.clone()))
        .context("no sampled event has an account and a region")?;
    Ok(Scope { account, region })
}
