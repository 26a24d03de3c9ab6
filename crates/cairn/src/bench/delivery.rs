//! `cairn bench delivery`: trail delivery throughput and lag, to local folders or to an
//! S3-compatible server (moto_server from the project's `.venv`, started here on a free port,
//! unless `--s3-endpoint` names one).
//!
//! The deliverer runs in this process on a fresh store, with one multi-region trail (log file
//! validation on, AWS's default selectors: management events) of the generator's account:
//!
//! - *throughput*: N generated events (one account, 4 regions, the generator's mix of
//!   services; its S3 data events are not selected, `trail_takes` decides) are stored first; then one delivery round
//!   is timed from the log to the last object written, and every delivered object is read back
//!   and counted (each selected event exactly once);
//! - *lag*: a writer stores events at a steady rate while the deliverer runs on its interval;
//!   a poller lists the bucket every 50 ms and takes, for every delivered event, the time from
//!   its append to the poll that found its object (so lag is over-estimated by up to 50 ms);
//! - with `--cloudwatch-logs`, *CloudWatch Logs*: before the file round, the same backlog is
//!   sent to a log group on moto_server in one timed round, then counted back.

use cairn_model::time::now_ms;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_model::Record;
use cairn_server::delivery::{
    Deliverer, DeliverySettings, S3Settings, StatusBoard, Target, trail_takes,
};
use cairn_server::signing_keys::SigningKeys;
use cairn_server::trails::{LoggingState, Trail, Trails, new_trail_id};
use cairn_store::{Store, StoreOptions};

use super::{Rng, World, percentile};

const BUCKET: &str = "bench-bucket";
const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"];

/// Where the benchmark delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    Local,
    S3,
}

/// The benchmark's knobs, from the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryBench {
    #[arg(long, value_enum, default_value = "local")]
    pub target: TargetKind,
    /// Events in the backlog delivered by the timed round.
    #[arg(long, default_value_t = 500_000)]
    pub events: usize,
    /// A fresh data directory (deleted first).
    #[arg(long, default_value = "bench-data/delivery")]
    pub data_dir: PathBuf,
    /// An S3-compatible server that takes any credentials and creates buckets on an unsigned
    /// PUT (moto); default: start moto_server on a free port.
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    #[arg(long, default_value = ".venv/bin/moto_server")]
    pub moto_server: PathBuf,
    /// The delivery interval during the lag measurement.
    #[arg(long, default_value_t = 1)]
    pub interval_secs: u64,
    /// Events per second written during the lag measurement.
    #[arg(long, default_value_t = 5_000)]
    pub lag_rate: usize,
    #[arg(long, default_value_t = 10)]
    pub lag_seconds: u64,
    /// Also send the trail's events to a CloudWatch Logs log group on moto_server (the S3
    /// endpoint's, or one started here), timed on its own before the file round.
    #[arg(long)]
    pub cloudwatch_logs: bool,
}

/// The log group of `--cloudwatch-logs`.
const LOG_GROUP: &str = "bench-trail-events";

pub fn run_delivery_benchmark(bench: &DeliveryBench) -> Result<String> {
    if bench.data_dir.exists() {
        std::fs::remove_dir_all(&bench.data_dir)
            .with_context(|| format!("removing {}", bench.data_dir.display()))?;
    }
    let store = Arc::new(Store::open(&bench.data_dir, StoreOptions::default())?);
    let mut moto = None;
    let mut moto_endpoint = || -> Result<String> {
        if let Some(endpoint) = &bench.s3_endpoint {
            return Ok(endpoint.clone());
        }
        if moto.is_none() {
            moto = Some(Moto::start(&bench.moto_server)?);
        }
        Ok(moto
            .as_ref()
            .map(|m| m.endpoint.clone())
            .unwrap_or_default())
    };
    let target = match bench.target {
        TargetKind::Local => {
            let root = bench.data_dir.join("buckets");
            std::fs::create_dir_all(root.join(BUCKET))?;
            Target::local(root)
        }
        TargetKind::S3 => {
            let endpoint = moto_endpoint()?;
            // moto creates a bucket on an unsigned PUT.
            let created = ureq::put(&format!("{endpoint}/{BUCKET}")).send_empty();
            if let Err(e) = created {
                bail!("creating bucket {BUCKET} at {endpoint}: {e}");
            }
            Target::s3(S3Settings {
                endpoint: Some(endpoint),
                region: "us-east-1".to_owned(),
                access_key_id: "bench".to_owned(),
                secret_access_key: "bench".to_owned(),
                allow_http: true,
            })
        }
    };
    // The services trails call: moto for CloudWatch Logs when asked for.
    let logs_endpoint = match bench.cloudwatch_logs {
        true => Some(moto_endpoint()?),
        false => None,
    };
    let upstreams = cairn_server::upstream::Upstreams::new(
        &cairn_server::config::CaptureConfig {
            upstream: logs_endpoint.clone(),
            ..Default::default()
        },
        &Default::default(),
        |name| match name {
            "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("bench".to_owned()),
            _ => None,
        },
    )
    .map_err(anyhow::Error::msg)?;
    let mut rng = Rng::new(7);
    let world = World::new(&mut rng);
    let account = world.accounts[0].clone();
    let trails = Arc::new(Trails::load(store.clone()).map_err(anyhow::Error::msg)?);
    let trail = Trail {
        id: new_trail_id(),
        name: "bench".to_owned(),
        account_id: account.clone(),
        home_region: REGIONS[0].to_owned(),
        s3_bucket_name: BUCKET.to_owned(),
        s3_key_prefix: None,
        sns_topic_name: None,
        include_global_service_events: true,
        is_multi_region_trail: true,
        log_file_validation_enabled: true,
        cloud_watch_logs_log_group_arn: logs_endpoint.as_ref().map(|_| {
            format!(
                "arn:aws:logs:{}:{account}:log-group:{LOG_GROUP}:*",
                REGIONS[0]
            )
        }),
        cloud_watch_logs_role_arn: logs_endpoint
            .as_ref()
            .map(|_| format!("arn:aws:iam::{account}:role/bench")),
        kms_key_id: None,
        is_organization_trail: false,
        tags: Vec::new(),
        selectors: None,
        logging: LoggingState {
            is_logging: true,
            ..LoggingState::default()
        },
    };
    {
        let mut edit = trails.edit().map_err(|e| anyhow::anyhow!(e.message))?;
        edit.items.push(trail.clone());
        edit.save().map_err(|e| anyhow::anyhow!(e.message))?;
    }
    cairn_server::delivery::start_cursor(&store, &trail, now_ms()).map_err(anyhow::Error::msg)?;
    let deliverer = Deliverer {
        store: store.clone(),
        trails,
        keys: Arc::new(SigningKeys::load(store.clone()).map_err(anyhow::Error::msg)?),
        settings: DeliverySettings {
            interval: Duration::from_secs(bench.interval_secs),
            digest_interval: Duration::from_secs(3600),
            target: target.clone(),
        },
        upstreams: upstreams.clone(),
        status: StatusBoard::default(),
        log_streams: Default::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut out = format!(
        "delivery to {}: one multi-region trail, management events\n",
        target.describe()
    );

    // Throughput: a backlog of events, delivered in one round.
    let selectors = trail.effective_selectors();
    let mut selected = 0usize;
    let mut written = 0usize;
    while written < bench.events {
        let count = (bench.events - written).min(20_000);
        let batch = make_records(&world, &mut rng, &account, count)?;
        selected += batch
            .iter()
            .filter(|r| trail_takes(&trail, &selectors, r))
            .count();
        store.append(batch)?;
        written += count;
    }
    if logs_endpoint.is_some() {
        let _ = writeln!(
            out,
            "{}",
            runtime.block_on(time_cloudwatch_logs(&store, &trail, &upstreams, selected))?
        );
    }
    let started = Instant::now();
    let delivered_ok = runtime.block_on(deliverer.deliver_all());
    let took = started.elapsed();
    if !delivered_ok {
        bail!(
            "the delivery round failed: {:?}",
            deliverer
                .status
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default()
        );
    }
    let (files, delivered) = runtime.block_on(count_delivered(&target))?;
    if delivered.len() != selected || delivered.values().any(|&n| n != 1) {
        bail!(
            "{} management events stored, {} distinct delivered, some more than once: {}",
            selected,
            delivered.len(),
            delivered.values().any(|&n| n != 1)
        );
    }
    let _ = writeln!(
        out,
        "throughput: {} events stored, {selected} selected, delivered in {files} objects in \
         {:.2} s: {:.0} events/s read from the log, {:.0} selected events/s delivered",
        bench.events,
        took.as_secs_f64(),
        bench.events as f64 / took.as_secs_f64(),
        selected as f64 / took.as_secs_f64()
    );

    // Lag: a steady writer while the deliverer runs on its interval.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let deliver_task = runtime.spawn(deliverer.run(stopped));
    let appended: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let writer = {
        let store = store.clone();
        let appended = appended.clone();
        let account = account.clone();
        let trail = trail.clone();
        let selectors = selectors.clone();
        let (rate, seconds) = (bench.lag_rate, bench.lag_seconds);
        std::thread::spawn(move || -> Result<()> {
            let mut rng = Rng::new(11);
            let world = World::new(&mut rng);
            let tick = Duration::from_millis(20);
            let per_tick = (rate / 50).max(1);
            let end = Instant::now() + Duration::from_secs(seconds);
            let mut next = Instant::now();
            while Instant::now() < end {
                let batch = make_records(&world, &mut rng, &account, per_tick)?;
                let ids: Vec<String> = batch
                    .iter()
                    .filter(|r| trail_takes(&trail, &selectors, r))
                    .map(|r| r.fields.event_id.clone())
                    .collect();
                // Noted before the append, so that no delivery can come before the note.
                let now = Instant::now();
                if let Ok(mut appended) = appended.lock() {
                    appended.extend(ids.into_iter().map(|id| (id, now)));
                }
                store.append(batch)?;
                next += tick;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            Ok(())
        })
    };
    let mut seen_keys: HashSet<String> = runtime
        .block_on(target.list(BUCKET, "AWSLogs/"))
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .collect();
    let mut lags = Vec::new();
    let deadline =
        Instant::now() + Duration::from_secs(bench.lag_seconds + bench.interval_secs + 30);
    loop {
        let writer_done = writer.is_finished();
        let keys = runtime
            .block_on(target.list(BUCKET, "AWSLogs/"))
            .map_err(anyhow::Error::msg)?;
        let found_at = Instant::now();
        for key in keys {
            if !key.contains("/CloudTrail/") || !seen_keys.insert(key.clone()) {
                continue;
            }
            for id in runtime.block_on(event_ids(&target, &key))? {
                let appended_at = appended.lock().ok().and_then(|a| a.get(&id).copied());
                if let Some(appended_at) = appended_at {
                    lags.push(found_at.duration_since(appended_at));
                }
            }
        }
        let expected = appended.lock().map(|a| a.len()).unwrap_or_default();
        if writer_done && lags.len() >= expected {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {} of {expected} events delivered in time", lags.len());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))??;
    let _ = stop.send(true);
    runtime
        .block_on(deliver_task)
        .context("the deliverer task failed")?;
    lags.sort_unstable();
    let _ = writeln!(
        out,
        "lag: {} events at {}/s for {} s, delivery interval {} s: event to object p50 {:.2} s, \
         p99 {:.2} s, max {:.2} s (target: interval + 1 s = {} s)",
        lags.len(),
        bench.lag_rate,
        bench.lag_seconds,
        bench.interval_secs,
        percentile(&lags, 0.5).as_secs_f64(),
        percentile(&lags, 0.99).as_secs_f64(),
        lags.last().copied().unwrap_or_default().as_secs_f64(),
        bench.interval_secs + 1
    );
    drop(runtime);
    drop(moto);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }
    Ok(out)
}

/// Sends the stored events the trail takes to its log group in one timed round of the
/// CloudWatch Logs sender, then counts them back from the log group's streams.
async fn time_cloudwatch_logs(
    store: &Arc<Store>,
    trail: &Trail,
    upstreams: &cairn_server::upstream::Upstreams,
    selected: usize,
) -> Result<String> {
    use cairn_server::delivery::cloudwatch_logs::{Sender, stream_name};
    let logs = |operation: &str, request: serde_json::Value| {
        let upstreams = upstreams.clone();
        let target = format!("Logs_20140328.{operation}");
        async move {
            upstreams
                .json("logs", REGIONS[0], &target, &request)
                .await
                .map_err(|e| anyhow::anyhow!("{target}: {e}"))
        }
    };
    logs(
        "CreateLogGroup",
        serde_json::json!({ "logGroupName": LOG_GROUP }),
    )
    .await?;
    let sender = Sender {
        store: store.clone(),
        upstreams: upstreams.clone(),
        streams: Arc::default(),
    };
    let files_cursor = store
        .log_cursor(&cairn_server::delivery::cursor_name(trail))?
        .map(|c| c.position);
    sender
        .keep_cursor(trail, files_cursor)
        .await
        .map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let sent = sender
        .send(trail, store.log_end()?)
        .await
        .map_err(anyhow::Error::msg)?
        .context("the trail sends nothing to CloudWatch Logs")?;
    let took = started.elapsed();
    let mut counted = 0;
    for region in REGIONS {
        let mut token: Option<String> = None;
        loop {
            let mut request = serde_json::json!({
                "logGroupName": LOG_GROUP,
                "logStreamName": stream_name(trail, region),
                "startFromHead": true,
            });
            if let Some(token) = &token {
                request["nextToken"] = serde_json::json!(token);
            }
            let page = logs("GetLogEvents", request).await?;
            let events = page["events"].as_array().map_or(0, Vec::len);
            counted += events;
            let next = page["nextForwardToken"].as_str().map(str::to_owned);
            if events == 0 || next == token {
                break;
            }
            token = next;
        }
    }
    if sent.events != selected || counted != selected || sent.refused != 0 {
        bail!(
            "{selected} events selected, {} sent ({} refused), {counted} in the log group",
            sent.events,
            sent.refused
        );
    }
    Ok(format!(
        "CloudWatch Logs: {selected} events sent to moto_server in {:.2} s: {:.0} events/s, \
         each once in the log group's {} streams",
        took.as_secs_f64(),
        selected as f64 / took.as_secs_f64(),
        REGIONS.len()
    ))
}

/// `count` generated events of `account` over [`REGIONS`], stamped now.
fn make_records(world: &World, rng: &mut Rng, account: &str, count: usize) -> Result<Vec<Record>> {
    let now = now_ms();
    (0..count)
        .map(|_| {
            let region = rng.pick(&REGIONS);
            let json = world.record(rng, account, region, now).to_string();
            Record::parse(&json).map_err(|e| anyhow::anyhow!("a generated record: {e}"))
        })
        .collect()
}

/// The delivered log files, and how many times each event id was delivered.
async fn count_delivered(target: &Target) -> Result<(usize, HashMap<String, usize>)> {
    let mut counts = HashMap::new();
    let keys = target
        .list(BUCKET, "AWSLogs/")
        .await
        .map_err(anyhow::Error::msg)?;
    let logs: Vec<String> = keys
        .into_iter()
        .filter(|k| k.contains("/CloudTrail/"))
        .collect();
    for key in &logs {
        for id in event_ids(target, key).await? {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    Ok((logs.len(), counts))
}

/// The event ids of a delivered log file.
async fn event_ids(target: &Target, key: &str) -> Result<Vec<String>> {
    let object = target
        .get(BUCKET, key)
        .await
        .map_err(anyhow::Error::msg)?
        .with_context(|| format!("{key} was listed but cannot be read"))?;
    let mut json = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(object.bytes.as_slice()),
        &mut json,
    )
    .with_context(|| format!("gunzipping {key}"))?;
    #[derive(serde::Deserialize)]
    struct LogFile {
        #[serde(rename = "Records")]
        records: Vec<IdOnly>,
    }
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(rename = "eventID")]
        event_id: String,
    }
    let file: LogFile = serde_json::from_slice(&json).with_context(|| format!("parsing {key}"))?;
    Ok(file.records.into_iter().map(|r| r.event_id).collect())
}

/// A moto_server on 127.0.0.1 with a free port, killed when dropped (also used by the tests).
#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `program` (`.venv/bin/moto_server`) and waits until it listens.
    pub fn start(program: &Path) -> Result<Moto> {
        Moto::start_with(program, &[])
    }

    /// [`Moto::start`] with more environment: `MOTO_ACCOUNT_ID` makes every resource one
    /// account's.
    pub fn start_with(program: &Path, env: &[(&str, &str)]) -> Result<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (scripts/setup-python.sh installs it)",
                    program.display()
                )
            })?;
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("moto_server did not start listening in 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
