//! `cairn bench api`: LookupEvents through the HTTP API with several concurrent signed clients,
//! on a store filled by `cairn bench run`; and how soon an API call's own audit event is visible.
//!
//! The server runs in this process on a free port with one admin principal of the store's
//! busiest account; each client is a thread with its own connection, signing every request with
//! SigV4. The calls are recorded as audit events in that store, as any API call is.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_model::LookupQuery;
use cairn_server::Config;
use cairn_server::config::{Identity, Permissions, Principal, generate_key};
use cairn_store::Store;
use serde_json::json;

use super::{Rng, p50_p99, percentile};
use crate::lookup_events::{ApiClient, ClientCredentials};
use crate::store_options;

/// Which lookups the clients make, in turn.
const KINDS: [&str; 4] = [
    "EventId (needle)",
    "EventName rare (StopLogging)",
    "EventName common (DescribeInstances)",
    "no attribute",
];

pub fn run_api_benchmark(data_dir: &Path, clients: usize, seconds: u64) -> Result<String> {
    if !data_dir.join("MANIFEST").exists() {
        bail!(
            "{} holds no store: run `cairn bench run` first (it fills bench-data/store)",
            data_dir.display()
        );
    }
    let store = Arc::new(Store::open(data_dir, store_options(None))?);
    let (account, region, needles) = busiest_scope(&store)?;
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
    let config = Config {
        default_region: region.clone(),
        principals: HashMap::from([
            (access_key_id.clone(), principal),
            (probe_key.clone(), prober),
        ]),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .context("binding a free port")?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(cairn_server::run(store.clone(), config, listener, async {
        let _ = stopped.await;
    }));
    let credentials = ClientCredentials {
        access_key_id,
        secret_access_key,
        session_token: None,
        region: Some(region.clone()),
    };

    // Load: every client calls in turn until the time is up.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let needles = Arc::new(needles);
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let client = ApiClient::new(&endpoint, credentials.clone(), &region);
            let needles = needles.clone();
            std::thread::spawn(move || -> Result<Vec<(usize, Duration, bool)>> {
                let client = client?;
                let mut rng = Rng::new(c as u64 + 1);
                let mut samples = Vec::new();
                let mut i = c;
                while Instant::now() < deadline {
                    let kind = i % KINDS.len();
                    i += 1;
                    let body = match kind {
                        0 => json!({"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": rng.pick(&needles)}]}),
                        1 => json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "StopLogging"}]}),
                        2 => json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "DescribeInstances"}]}),
                        _ => json!({}),
                    };
                    let started = Instant::now();
                    let answer = client.call("LookupEvents", body.to_string().as_bytes())?;
                    samples.push((kind, started.elapsed(), answer.status == 200));
                }
                Ok(samples)
            })
        })
        .collect();
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??,
        );
    }
    let elapsed = seconds as f64;

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
    let _ = stop.send(());
    runtime
        .block_on(server)
        .context("the server task failed")?
        .context("serving")?;
    drop(runtime);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }

    let mut out = String::new();
    let total = samples.len();
    let failed = samples.iter().filter(|(_, _, ok)| !ok).count();
    let _ = writeln!(
        out,
        "api: {total} LookupEvents in {elapsed:.0} s from {clients} signed clients = {:.0} requests/s ({failed} failed); account {account}, region {region}",
        total as f64 / elapsed
    );
    let mut all: Vec<Duration> = samples.iter().map(|(_, d, _)| *d).collect();
    let _ = writeln!(out, "api latency, all kinds: {}", p50_p99(&mut all));
    for (k, name) in KINDS.iter().enumerate() {
        let mut times: Vec<Duration> = samples
            .iter()
            .filter(|(kind, _, _)| *kind == k)
            .map(|(_, d, _)| *d)
            .collect();
        let _ = writeln!(
            out,
            "api latency, {name}: {} ({} calls)",
            p50_p99(&mut times),
            times.len()
        );
    }
    delays.sort_unstable();
    let _ = writeln!(
        out,
        "visible: a call's audit event found by LookupEvents after p50 {:.1} ms, max {:.1} ms (50 probes)",
        percentile(&delays, 0.5).as_secs_f64() * 1e3,
        delays.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok(out)
}

/// The (account, region) with the most events among a sample spread over the stored time
/// range, and event ids of it for needle lookups.
fn busiest_scope(store: &Store) -> Result<(String, String, Vec<String>)> {
    let newest = store.lookup(&LookupQuery::default(), None, 1)?;
    let Some(newest) = newest.records.first().map(|r| r.fields.event_time_ms) else {
        bail!("the store is empty: run `cairn bench run` first");
    };
    let mut rng = Rng::new(7);
    let mut sample = Vec::new();
    for _ in 0..400 {
        let end = newest - (rng.next_u64() % (30 * 86_400_000)) as i64;
        let query = LookupQuery {
            end_ms: Some(end),
            ..LookupQuery::default()
        };
        if let Some(r) = store.lookup(&query, None, 1)?.records.into_iter().next() {
            sample.push(r);
        }
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
    let needles = sample
        .iter()
        .filter(|r| {
            r.fields.account_id.as_deref() == Some(account.as_str())
                && r.fields.aws_region.as_deref() == Some(region.as_str())
        })
        .map(|r| r.fields.event_id.clone())
        .collect();
    Ok((account, region, needles))
}
