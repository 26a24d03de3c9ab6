//! `cairn bench rules`: EventBridge-style rules over generated events of one account and
//! region, with 100 rules there (one that takes the generator's EC2 writes, 99 of
//! EventBridge's other pattern shapes that take next to nothing), every rule with an API
//! destination target:
//!
//! - *matching*: N generated records offered to the 100 rules as the engine offers a chunk
//!   (parse, present as EventBridge does, match every rule), timed in process;
//! - *latency*: the engine runs in this process on a fresh store, a writer stores events at a
//!   steady rate, and a webhook receiver here takes, for every matched event, the time from
//!   its append being acknowledged to its POST arriving.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_model::Record;
use cairn_model::time::now_ms;
use cairn_server::rules::engine::{Engine, live, match_chunk};
use cairn_server::rules::model::{
    ApiDestination, Authorization, Connection, Rule, RuleCatalog, Target,
};
use cairn_store::{Store, StoreOptions};
use serde_json::{Value, json};

use super::{Rng, World, percentile};

const REGION: &str = "us-east-1";

#[derive(Debug, Clone, clap::Args)]
pub struct RulesBench {
    /// Records offered to the rules in the matching measurement.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Events per second stored during the latency measurement.
    #[arg(long, default_value_t = 2_000)]
    pub rate: usize,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// A fresh data directory (deleted first).
    #[arg(long, default_value = "bench-data/rules")]
    pub data_dir: PathBuf,
}

/// The 100 rules' patterns: the first takes EC2's writes; the others are EventBridge's other
/// shapes (prefix and anything-but, CIDR, exists, wildcard, numeric, `$or`) that the
/// generator's events meet rarely or never.
fn patterns() -> Vec<Value> {
    let mut patterns = vec![json!({
        "source": ["aws.ec2"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventName": ["RunInstances", "TerminateInstances", "CreateVolume",
                                 "AttachVolume", "CreateTags"]}
    })];
    for i in 1..100 {
        patterns.push(match i % 6 {
            0 => json!({"source": ["aws.ec2"], "detail": {"eventName": [format!("NoSuchCall{i}")]}}),
            1 => json!({"detail": {"eventName": [{"prefix": format!("Zz{i}")}],
                                   "userIdentity": {"type": [{"anything-but": "AssumedRole"}]}}}),
            2 => json!({"detail": {"sourceIPAddress": [{"cidr": format!("10.{i}.0.0/16")}]}}),
            3 => json!({"detail": {"errorCode": [{"exists": true}],
                                   "eventSource": [format!("svc{i}.amazonaws.com")]}}),
            4 => json!({"detail": {"requestParameters": {
                        "bucketName": [{"wildcard": format!("nobucket-*-{i}")}]}}}),
            _ => json!({"$or": [{"detail": {"eventName": [{"equals-ignore-case": format!("nothing{i}")}]}},
                                {"detail": {"requestParameters": {"maxResults": [{"numeric": [">", 1000 + i]}]}}}]}),
        });
    }
    patterns
}

pub fn run_rules_benchmark(bench: &RulesBench) -> Result<String> {
    if bench.data_dir.exists() {
        std::fs::remove_dir_all(&bench.data_dir)
            .with_context(|| format!("removing {}", bench.data_dir.display()))?;
    }
    let store = Arc::new(Store::open(&bench.data_dir, StoreOptions::default())?);
    let mut rng = Rng::new(17);
    let world = World::new(&mut rng);
    let account = world.accounts[0].clone();
    let receiver = Receiver::start()?;
    let catalog = Arc::new(RuleCatalog::load(store.clone()).map_err(anyhow::Error::msg)?);
    let destination_arn = install(&catalog, &account, &receiver.endpoint)?;
    let mut out = String::new();

    // Matching: the engine's own matching of a chunk, over every record.
    let rules = catalog
        .rules
        .edit()
        .map_err(|e| anyhow::anyhow!(e.message))?
        .items
        .clone();
    let compiled = live(&rules);
    let records: Vec<String> = (0..bench.events)
        .map(|_| {
            world
                .record(&mut rng, &account, REGION, now_ms())
                .to_string()
        })
        .collect();
    let started = Instant::now();
    let mut matched = 0;
    for chunk in records.chunks(4096) {
        matched += match_chunk(&compiled, chunk).len();
    }
    let took = started.elapsed();
    let _ = writeln!(
        out,
        "matching: {} events offered to {} rules in {:.2} s: {:.0} events/s ({matched} matched)",
        bench.events,
        compiled.len(),
        took.as_secs_f64(),
        bench.events as f64 / took.as_secs_f64()
    );

    // Latency: stored to POSTed, with the engine running.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let upstreams =
        cairn_server::upstream::Upstreams::new(&Default::default(), &Default::default(), |_| None)
            .map_err(anyhow::Error::msg)?;
    let engine =
        Engine::new(store.clone(), catalog.clone(), upstreams).map_err(anyhow::Error::msg)?;
    // The engine starts reading at the log's end: start it before the writer.
    runtime
        .block_on(engine.round())
        .map_err(anyhow::Error::msg)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = runtime.spawn(engine.run(stopped));
    let appended: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let per_tick = (bench.rate / 50).max(1);
    let end = Instant::now() + Duration::from_secs(bench.seconds);
    let mut next = Instant::now();
    let mut stored = 0;
    let mut stored_texts = Vec::new();
    while Instant::now() < end {
        let batch: Vec<Record> = (0..per_tick)
            .map(|_| {
                let text = world
                    .record(&mut rng, &account, REGION, now_ms())
                    .to_string();
                let record =
                    Record::parse(&text).map_err(|e| anyhow::anyhow!("a generated record: {e}"));
                stored_texts.push(text);
                record
            })
            .collect::<Result<_>>()?;
        let ids: Vec<String> = batch.iter().map(|r| r.fields.event_id.clone()).collect();
        store.append(batch)?;
        let now = Instant::now();
        if let Ok(mut appended) = appended.lock() {
            appended.extend(ids.into_iter().map(|id| (id, now)));
        }
        stored += per_tick;
        next += Duration::from_millis(20);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // Every event the first rule takes is POSTed once at least.
    let expected = match_chunk(&compiled, &stored_texts).len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.count() < expected {
        if Instant::now() > deadline {
            bail!(
                "{} of {expected} matched events reached the webhook",
                receiver.count()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = stop.send(true);
    runtime.block_on(task).context("the rules engine failed")?;
    let mut lags = Vec::new();
    let appended = appended.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    for (id, at) in receiver.arrivals() {
        if let Some(stored_at) = appended.get(&id) {
            lags.push(at.saturating_duration_since(*stored_at));
        }
    }
    lags.sort_unstable();
    let _ = writeln!(
        out,
        "latency: {stored} events stored at {}/s for {} s, {} matched and POSTed to {destination_arn}: \
         stored to POST p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 1 s)",
        bench.rate,
        bench.seconds,
        lags.len(),
        percentile(&lags, 0.5).as_secs_f64() * 1e3,
        percentile(&lags, 0.99).as_secs_f64() * 1e3,
        lags.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    drop(runtime);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }
    Ok(out)
}

/// A connection, an API destination at `endpoint`, and the 100 rules, each with it as target;
/// the destination's ARN.
fn install(catalog: &RuleCatalog, account: &str, endpoint: &str) -> Result<String> {
    let now = now_ms() as f64 / 1000.0;
    let connection = Connection {
        id: "bench".into(),
        name: "bench".into(),
        account_id: account.into(),
        region: REGION.into(),
        description: None,
        authorization: Authorization::ApiKey {
            name: "x-api-key".into(),
            value: "bench".into(),
        },
        invocation_http_parameters: None,
        created: now,
        modified: now,
    };
    let destination = ApiDestination {
        id: "bench".into(),
        name: "bench".into(),
        account_id: account.into(),
        region: REGION.into(),
        description: None,
        connection_arn: connection.arn(),
        invocation_endpoint: format!("{endpoint}/hook"),
        http_method: "POST".into(),
        rate_limit_per_second: None,
        created: now,
        modified: now,
    };
    let arn = destination.arn();
    let save = |e: cairn_server::error::ApiError| anyhow::anyhow!(e.message);
    {
        let mut edit = catalog.connections.edit().map_err(save)?;
        edit.items.push(connection);
        edit.save().map_err(save)?;
    }
    {
        let mut edit = catalog.api_destinations.edit().map_err(save)?;
        edit.items.push(destination);
        edit.save().map_err(save)?;
    }
    let mut edit = catalog.rules.edit().map_err(save)?;
    for (i, pattern) in patterns().into_iter().enumerate() {
        edit.items.push(Rule {
            id: format!("bench{i}"),
            name: format!("bench-{i}"),
            account_id: account.into(),
            region: REGION.into(),
            pattern: pattern.to_string(),
            enabled: true,
            description: None,
            role_arn: None,
            targets: vec![Target {
                id: "hook".into(),
                arn: arn.clone(),
                definition: json!({"Id": "hook", "Arn": arn}),
            }],
            created: now,
        });
    }
    edit.save().map_err(save)?;
    Ok(arn)
}

/// A webhook receiver on a free port: the event IDs of the bodies POSTed to it, with when
/// each arrived.
pub(super) struct Receiver {
    pub(super) endpoint: String,
    arrivals: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Receiver {
    pub(super) fn start() -> Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let arrivals: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let kept = arrivals.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Ok(Receiver { endpoint, arrivals })
    }

    fn count(&self) -> usize {
        self.arrivals.lock().map_or(0, |a| a.len())
    }

    pub(super) fn arrivals(&self) -> Vec<(String, Instant)> {
        self.arrivals.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

/// Answers HTTP/1.1 requests on one connection with 200, noting each body's event ID.
fn serve(stream: TcpStream, arrivals: &Mutex<Vec<(String, Instant)>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" && !first {
                break;
            }
            first = false;
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let arrived = Instant::now();
        let id = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|event| event["detail"]["eventID"].as_str().map(str::to_owned));
        if let (Some(id), Ok(mut arrivals)) = (id, arrivals.lock()) {
            arrivals.push((id, arrived));
        }
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}
