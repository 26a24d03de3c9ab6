//! `cairn bench capture`: the latency the capture proxy adds to a call, measured against calling
//! the upstream directly in the same run.
//!
//! An upstream that answers at once runs in this process (an AWS JSON service answering every
//! call with a small JSON document, so that the upstream's own time is near zero and the
//! difference is cairn's), unless `--upstream` names another one (for example a moto_server;
//! its calls must be SSM `DescribeParameters`). cairn serves on a fresh store with durable
//! recording (`sync`, the default) or `--durability async`. Worker threads then make signed SSM
//! `DescribeParameters` calls on a fixed schedule of `--rate` calls a second, each time one
//! directly to the upstream and one through cairn, so both see the same machine state; the
//! report gives p50/p99/max of each and their differences, and checks that every call through
//! cairn was recorded.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use cairn_model::{LookupAttributeKey, LookupQuery};
use cairn_server::Config;
use cairn_server::auth::{ClientKey, sign_request};
use cairn_server::config::{CaptureConfig, Durability, Identity, Permissions, Principal};
use cairn_store::{Store, StoreOptions};

use super::{InProcessServer, percentile};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const KEY_ID: &str = "AKIABENCHCAPTURE0001";
const SECRET: &str = "bench-capture-secret";

/// The benchmark's knobs, from the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct CaptureBench {
    /// Calls a second through cairn (and as many directly to the upstream).
    #[arg(long, default_value_t = 1_000)]
    pub rate: u32,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent client threads.
    #[arg(long, default_value_t = 8)]
    pub clients: u32,
    /// `sync` (answer once the event is durable) or `async`.
    #[arg(long, default_value = "sync")]
    pub durability: String,
    /// An upstream that answers SSM DescribeParameters; default: one in this process.
    #[arg(long)]
    pub upstream: Option<String>,
    /// A fresh data directory (deleted first).
    #[arg(long, default_value = "bench-data/capture")]
    pub data_dir: PathBuf,
}

pub fn run_capture_benchmark(bench: &CaptureBench) -> Result<String> {
    let durability = match bench.durability.as_str() {
        "sync" => Durability::Sync,
        "async" => Durability::Async,
        other => bail!("--durability {other}: use sync or async"),
    };
    if bench.data_dir.exists() {
        std::fs::remove_dir_all(&bench.data_dir)
            .with_context(|| format!("removing {}", bench.data_dir.display()))?;
    }
    let store = Arc::new(Store::open(&bench.data_dir, StoreOptions::default())?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let upstream = match &bench.upstream {
        Some(url) => url.clone(),
        None => runtime.block_on(start_upstream())?,
    };
    let principal = Principal {
        account_id: ACCOUNT.to_owned(),
        access_key_id: KEY_ID.to_owned(),
        secret_access_key: SECRET.to_owned(),
        identity: Identity::IamUser {
            user_name: "bench".to_owned(),
        },
        permissions: Permissions::Admin,
    };
    let config = Config {
        default_region: REGION.to_owned(),
        principals: HashMap::from([(KEY_ID.to_owned(), principal)]),
        delivery: Default::default(),
        capture: CaptureConfig {
            upstream: Some(upstream.clone()),
            durability,
            ..CaptureConfig::default()
        },
        lake: Default::default(),
        metrics: Default::default(),
        limits: Default::default(),
    };
    let server = InProcessServer::start(&runtime, store.clone(), config)?;
    let pairs = run_pairs(bench, &upstream, &server.endpoint)?;
    server.stop(&runtime)?;
    drop(runtime);
    let query = LookupQuery {
        account_id: Some(ACCOUNT.to_owned()),
        region: Some(REGION.to_owned()),
        attribute: Some((
            LookupAttributeKey::EventName,
            "DescribeParameters".to_owned(),
        )),
        ..LookupQuery::default()
    };
    let mut recorded = 0;
    let mut cursor = None;
    loop {
        let page = store.lookup(&query, cursor, 1000)?;
        recorded += page.records.len();
        match page.records.last() {
            Some(last) if page.records.len() == 1000 => {
                cursor = Some(cairn_model::PageCursor {
                    time_ms: last.fields.event_time_ms,
                    fingerprint: last.fingerprint,
                });
            }
            _ => break,
        }
    }
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }

    let (mut direct, mut proxied): (Vec<Duration>, Vec<Duration>) = pairs.into_iter().unzip();
    direct.sort_unstable();
    proxied.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let stats = |sorted: &[Duration]| {
        (
            ms(percentile(sorted, 0.5)),
            ms(percentile(sorted, 0.99)),
            ms(sorted.last().copied().unwrap_or_default()),
        )
    };
    let (d50, d99, dmax) = stats(&direct);
    let (p50, p99, pmax) = stats(&proxied);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "capture: {} calls through cairn at {}/s for {} s ({} clients, durability {}), each \
         paired with a direct call to {}",
        proxied.len(),
        bench.rate,
        bench.seconds,
        bench.clients,
        bench.durability,
        bench
            .upstream
            .as_deref()
            .unwrap_or("an in-process upstream")
    );
    let _ = writeln!(
        out,
        "direct:  p50 {d50:.3} ms, p99 {d99:.3} ms, max {dmax:.3} ms\n\
         through: p50 {p50:.3} ms, p99 {p99:.3} ms, max {pmax:.3} ms\n\
         added:   p50 {:.3} ms, p99 {:.3} ms (targets: p50 < 1 ms, p99 < 2 ms)",
        p50 - d50,
        p99 - d99
    );
    let _ = writeln!(
        out,
        "recorded: {recorded} DescribeParameters events for {} calls through cairn",
        proxied.len()
    );
    if recorded < proxied.len() {
        bail!(
            "{out}only {recorded} of {} calls were recorded",
            proxied.len()
        );
    }
    Ok(out)
}

/// Every worker makes its share of the calls on a fixed schedule: (direct, through cairn).
fn run_pairs(
    bench: &CaptureBench,
    upstream: &str,
    cairn: &str,
) -> Result<Vec<(Duration, Duration)>> {
    let clients = bench.clients.max(1);
    let per_client = Duration::from_secs_f64(f64::from(clients) / f64::from(bench.rate.max(1)));
    let end = Instant::now() + Duration::from_secs(bench.seconds);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                scope.spawn(move || -> Result<Vec<(Duration, Duration)>> {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let mut next = Instant::now() + per_client * c / clients;
                    let mut pairs = Vec::new();
                    while next < end {
                        std::thread::sleep(next.saturating_duration_since(Instant::now()));
                        let direct = call(&agent, upstream)?;
                        let proxied = call(&agent, cairn)?;
                        pairs.push((direct, proxied));
                        next += per_client;
                    }
                    Ok(pairs)
                })
            })
            .collect();
        super::join_workers(workers)
    })
}

/// One signed SSM DescribeParameters call to `endpoint`; how long it took.
fn call(agent: &ureq::Agent, endpoint: &str) -> Result<Duration> {
    let started = Instant::now();
    let (status, text) = ssm_call(
        agent,
        endpoint,
        (KEY_ID, SECRET),
        "DescribeParameters",
        br#"{"MaxResults":10}"#,
    )?;
    if status != 200 {
        bail!("{endpoint} answered {status}: {text}");
    }
    Ok(started.elapsed())
}

/// One SSM call (AWS JSON 1.1) to `endpoint`, signed with `key` (ID and secret) as the SDKs
/// sign it: the answer's status and body.
pub(super) fn ssm_call(
    agent: &ureq::Agent,
    endpoint: &str,
    key: (&str, &str),
    operation: &str,
    body: &[u8],
) -> Result<(u16, String)> {
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let target = format!("AmazonSSM.{operation}");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("host", host.as_str()),
        ("x-amz-target", target.as_str()),
    ];
    let key = ClientKey {
        access_key_id: key.0,
        secret_access_key: key.1,
        session_token: None,
        region: REGION,
        service: "ssm",
    };
    let signed = sign_request(&key, "POST", &url, &headers, body, SystemTime::now())
        .map_err(anyhow::Error::msg)?;
    let mut request = agent.post(&url);
    for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
        request = request.header(*name, *value);
    }
    for (name, value) in &signed {
        request = request.header(name.as_str(), value.as_str());
    }
    let mut response = request
        .send(body)
        .with_context(|| format!("calling {url}"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string()?;
    Ok((status, text))
}

/// An AWS JSON service that answers every call at once; its URL.
async fn start_upstream() -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the upstream's port")?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(|| async {
        (
            [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amzn-requestid", "6c1c6c0e-bench-upstream"),
            ],
            r#"{"Parameters":[]}"#,
        )
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}
