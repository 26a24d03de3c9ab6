//! `cairn bench crash-loop`: the fault benchmark. `cairn serve` (this binary, in a process of
//! its own) is killed with SIGKILL at a random moment of each round while it captures calls
//! (SSM PutParameter through the capture proxy, `sync` durability), answers API calls (rules
//! created and deleted, LookupEvents), delivers a trail every second with digests every two,
//! sends matching events to a webhook through a rule, and runs Lake queries; every fifth round,
//! with the server down, `cairn import` adds a batch of generated log files and is itself
//! killed in one round of two.
//!
//! After each kill the data directory is opened as the next start opens it, and checked:
//! every captured call that was answered (acknowledged) is stored exactly once, every rule
//! change that was answered has its audit event, no event is stored twice, every completed
//! import's events are there once, every delivered event is in exactly one log file,
//! `cairn validate-logs` accepts the digests and log files, and the trail, the event data
//! store, every rule change and every query that was answered are in the catalog. At the end,
//! with the server run until delivery and the webhook caught up and then stopped gracefully:
//! every acknowledged event was delivered by the trail and reached the webhook, the digests
//! validate, the event data store's query counts every captured event once, and every
//! finished query's results can be read.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use cairn_server::event_data_stores::EventDataStores;
use cairn_server::queries::Queries;
use cairn_server::rules::model::RuleCatalog;
use cairn_server::trails::Trails;
use cairn_store::{Store, StoreOptions};
use serde_json::{Value, json};

use super::Rng;
use super::rules::Receiver;
use crate::lookup_events::{ApiClient, ClientCredentials};

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const KEY_ID: &str = "AKIACRASHLOOP0000001";
const SECRET: &str = "crash-loop-secret";
const BUCKET: &str = "crash-bucket";

/// The benchmark's knobs, from the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct CrashBench {
    /// Kills of `cairn serve`.
    #[arg(long, default_value_t = 100)]
    pub rounds: u32,
    /// The longest a round's load runs before the kill, in ms (each round picks at random).
    #[arg(long, default_value_t = 2_500)]
    pub max_round_ms: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A fresh working directory (deleted first): the data directory, the configuration, the
    /// import batches and the server's log.
    #[arg(long, default_value = "bench-data/crash-loop")]
    pub dir: PathBuf,
}

/// What the clients were told was done: the promises the data directory must keep.
#[derive(Debug, Default)]
struct Acknowledged {
    /// Names of the SSM parameters whose PutParameter call through the proxy was answered 200.
    parameters: BTreeSet<String>,
    /// Names of all PutParameter calls sent (answered or not): none may be stored twice.
    sent: usize,
    /// Rules whose PutRule was answered, and those whose DeleteRule was.
    rules_put: BTreeSet<String>,
    rules_deleted: BTreeSet<String>,
    /// Rules whose PutRule or DeleteRule got no answer (the kill cut it off): either outcome
    /// is right.
    rules_uncertain: BTreeSet<String>,
    /// Queries StartQuery answered.
    queries: BTreeSet<String>,
    /// Event IDs of import batches that ran to completion.
    imported: HashSet<String>,
}

/// The figures of the whole run.
#[derive(Debug, Default)]
struct Tally {
    lost: usize,
    duplicated: usize,
    delivered_twice: usize,
    catalog_missing: usize,
    imports_killed: usize,
    imports_completed: usize,
    torn_tails: usize,
    problems: Vec<String>,
}

/// `cairn serve` in its own process.
struct Server {
    child: Child,
    endpoint: String,
}

struct Setup {
    exe: PathBuf,
    data: PathBuf,
    config: PathBuf,
    log: PathBuf,
    upstream: String,
}

impl Setup {
    fn start(&self) -> Result<Server> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut child = Command::new(&self.exe)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&self.data)
            .arg("--config")
            .arg(&self.config)
            .args(["--upstream", &self.upstream])
            .env("CAIRN_DELIVERY_INTERVAL_SECS", "1")
            .env("CAIRN_DIGEST_INTERVAL_SECS", "2")
            .env_remove("CAIRN_BUCKETS_DIR")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.exe.display()))?;
        let stdout = child.stdout.take().context("the server's output")?;
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if !sent && let Some(at) = line.strip_prefix("cairn listening on ") {
                    let _ = found.send(at.to_owned());
                    sent = true;
                }
            }
        });
        match address.recv_timeout(Duration::from_secs(60)) {
            Ok(endpoint) => Ok(Server { child, endpoint }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "cairn serve did not start within 60 s; its log: {}",
                    self.log.display()
                )
            }
        }
    }
}

impl Server {
    fn client(&self) -> Result<ApiClient> {
        ApiClient::new(
            &self.endpoint,
            ClientCredentials {
                access_key_id: KEY_ID.to_owned(),
                secret_access_key: SECRET.to_owned(),
                session_token: None,
                region: Some(REGION.to_owned()),
            },
            REGION,
        )
    }

    /// SIGKILL, as a crash.
    fn kill(mut self) -> Result<()> {
        self.child.kill().context("killing cairn serve")?;
        self.child.wait().context("waiting for cairn serve")?;
        Ok(())
    }

    /// SIGTERM: a graceful stop.
    fn stop(mut self) -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let status = self.child.wait().context("waiting for cairn serve")?;
        if !status.success() {
            bail!("cairn serve stopped with {status}");
        }
        Ok(())
    }
}

/// A JSON call that must succeed.
fn call(client: &ApiClient, service: &str, target: &str, body: Value) -> Result<Value> {
    let answer = client.call_service(service, target, body.to_string().as_bytes())?;
    if let Some(error) = answer.error() {
        bail!("{target}: {} {}", error.code, error.message);
    }
    Ok(answer.body)
}

pub fn run_crash_benchmark(bench: &CrashBench) -> Result<String> {
    if bench.dir.exists() {
        std::fs::remove_dir_all(&bench.dir)
            .with_context(|| format!("removing {}", bench.dir.display()))?;
    }
    let data = bench.dir.join("data");
    std::fs::create_dir_all(data.join("buckets").join(BUCKET))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let upstream = runtime.block_on(start_upstream())?;
    let receiver = Receiver::start()?;
    let config = bench.dir.join("cairn.toml");
    write_config(&config)?;
    let setup = Setup {
        exe: std::env::current_exe().context("finding the cairn binary")?,
        data: data.clone(),
        config,
        log: bench.dir.join("server.log"),
        upstream,
    };
    let batches = make_import_batches(&bench.dir.join("imports"), bench.rounds / 5 + 1)?;

    let server = setup.start()?;
    let client = server.client()?;
    let (trail_arn, eds_id) = install(&client, &receiver.endpoint)?;
    let started_at = SystemTime::now();
    server.kill()?;

    let mut rng = Rng::new(bench.seed);
    let mut acked = Acknowledged::default();
    let mut tally = Tally::default();
    let mut out = String::new();
    let mut pending_batches: Vec<usize> = (0..batches.len()).collect();
    pending_batches.reverse();
    let mut killed_batch: Option<usize> = None;
    let mut event_ids: HashMap<String, String> = HashMap::new();
    let run_started = Instant::now();
    for round in 1..=bench.rounds {
        let server = setup.start()?;
        let load_ms = 300 + rng.below(bench.max_round_ms.saturating_sub(300) as usize + 1);
        let round_acks = run_load(
            server,
            round,
            &eds_id,
            Duration::from_millis(load_ms as u64),
        )?;
        let calls = round_acks.parameters.len();
        merge(&mut acked, round_acks);

        let mut import_note = String::new();
        if round % 5 == 0 {
            // The server is down: an import has the data directory.
            let batch = killed_batch.take().or_else(|| pending_batches.pop());
            if let Some(batch) = batch {
                let kill_after = rng
                    .chance(50)
                    .then(|| Duration::from_millis(20 + rng.below(800) as u64));
                let (dir, ids) = &batches[batch];
                if run_import(&setup, dir, kill_after)? {
                    acked.imported.extend(ids.iter().cloned());
                    tally.imports_completed += 1;
                    import_note = format!("; import {batch} completed");
                } else {
                    killed_batch = Some(batch);
                    tally.imports_killed += 1;
                    import_note = format!("; import {batch} killed");
                }
            }
        }
        let check = check_data_dir(&data, &acked, &mut tally)?;
        event_ids.clone_from(&check.event_ids);
        let validation = validate_logs(&setup, &trail_arn, started_at)?;
        if let Err(failure) = &validation {
            tally.problems.push(format!("round {round}: {failure}"));
        }
        println!(
            "round {round:3}: killed after {load_ms:4} ms; {calls:3} calls answered \
             ({} in all); {} events stored, {} delivered{import_note}; validate-logs: {}",
            acked.parameters.len(),
            check.stored,
            check.delivered,
            validation.as_deref().unwrap_or("FAILED")
        );
        if !tally.problems.is_empty() {
            break;
        }
    }
    let loop_secs = run_started.elapsed().as_secs_f64();

    // The end: run until delivery and the webhook caught up, stop, check everything.
    let server = setup.start()?;
    let client = server.client()?;
    let catch_up = Instant::now();
    loop {
        let delivered = delivered_ids(&data.join("buckets").join(BUCKET))?;
        let arrived: HashSet<String> = receiver.arrivals().into_iter().map(|(id, _)| id).collect();
        // The acknowledged calls' event IDs, as the last check read them from the store.
        let ids: Vec<&String> = acked
            .parameters
            .iter()
            .filter_map(|name| event_ids.get(name))
            .collect();
        let missing_delivered = ids
            .iter()
            .filter(|id| !delivered.contains_key(**id))
            .count();
        let missing_arrived = ids.iter().filter(|id| !arrived.contains(**id)).count();
        if missing_delivered == 0 && missing_arrived == 0 {
            let _ = writeln!(
                out,
                "caught up in {:.1} s: every acknowledged call's event delivered by the trail \
                 and received by the webhook",
                catch_up.elapsed().as_secs_f64()
            );
            break;
        }
        if catch_up.elapsed() > Duration::from_secs(180) {
            tally.problems.push(format!(
                "after 180 s, {missing_delivered} acknowledged events were not delivered by the \
                 trail and {missing_arrived} had not reached the webhook"
            ));
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let lake_count = call(
        &client,
        "cloudtrail",
        &format!("{}.StartQuery", cairn_server::actions::TARGET_PREFIX),
        json!({"QueryStatement": format!(
            "SELECT count(*), count(DISTINCT eventid) FROM {eds_id} WHERE eventname = 'PutParameter'"
        )}),
    )
    .and_then(|answer| {
        let id = answer["QueryId"].as_str().unwrap_or_default().to_owned();
        query_rows(&client, &id)
    })?;
    let finished = check_queries(&client, &acked, &mut tally)?;
    server.stop()?;
    let check = check_data_dir(&data, &acked, &mut tally)?;
    let stored_parameters = check.parameter_events;
    match lake_count.first().map(|row| {
        (
            row.first().cloned().flatten(),
            row.get(1).cloned().flatten(),
        )
    }) {
        Some((Some(all), Some(distinct)))
            if all == distinct && all.parse::<usize>().ok() == Some(stored_parameters) => {}
        other => tally.problems.push(format!(
            "the event data store counted {other:?} PutParameter events; the store holds \
             {stored_parameters}"
        )),
    }
    let validation = validate_logs(&setup, &trail_arn, started_at)?;
    if let Err(failure) = &validation {
        tally.problems.push(failure.clone());
    }
    tally.torn_tails = count_torn_tails(&setup.log)?;

    let _ = writeln!(
        out,
        "\ncrash loop: {} rounds in {loop_secs:.0} s; kill -9 at a random moment of each",
        bench.rounds
    );
    let _ = writeln!(
        out,
        "acknowledged: {} captured calls (of {} sent), {} rule changes, {} queries ({finished} \
         finished, results read), {} imported events ({} imports completed, {} killed)",
        acked.parameters.len(),
        acked.sent,
        acked.rules_put.len() + acked.rules_deleted.len(),
        acked.queries.len(),
        acked.imported.len(),
        tally.imports_completed,
        tally.imports_killed
    );
    let _ = writeln!(
        out,
        "lost: {} acknowledged events; duplicated: {} events stored twice, {} delivered twice; \
         catalog entries missing: {}; torn log tails cut and kept: {}",
        tally.lost,
        tally.duplicated,
        tally.delivered_twice,
        tally.catalog_missing,
        tally.torn_tails
    );
    let _ = writeln!(
        out,
        "trail: {} events delivered; validate-logs after every kill and at the end: {}",
        check.delivered,
        validation.as_deref().unwrap_or("FAILED")
    );
    if !tally.problems.is_empty() {
        bail!("{out}\nproblems:\n{}", tally.problems.join("\n"));
    }
    Ok(out)
}

fn write_config(path: &Path) -> Result<()> {
    let text = format!(
        "[[accounts]]\nid = \"{ACCOUNT}\"\n\n[[principals]]\naccount = \"{ACCOUNT}\"\n\
         access_key_id = \"{KEY_ID}\"\nsecret_access_key = \"{SECRET}\"\ntype = \"IAMUser\"\n\
         user_name = \"crash\"\npermissions = \"admin\"\n\n[capture]\ndurability = \"sync\"\n"
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The trail, the event data store and the webhook rule: the trail's ARN and the store's ID.
fn install(client: &ApiClient, webhook: &str) -> Result<(String, String)> {
    let cloudtrail = |operation: &str, body: Value| {
        call(
            client,
            "cloudtrail",
            &format!("{}.{operation}", cairn_server::actions::TARGET_PREFIX),
            body,
        )
    };
    let events = |operation: &str, body: Value| {
        call(client, "events", &format!("AWSEvents.{operation}"), body)
    };
    let trail = cloudtrail(
        "CreateTrail",
        json!({"Name": "crash", "S3BucketName": BUCKET, "EnableLogFileValidation": true,
               "IsMultiRegionTrail": true}),
    )?;
    cloudtrail("StartLogging", json!({"Name": "crash"}))?;
    let eds = cloudtrail("CreateEventDataStore", json!({"Name": "crash-eds"}))?;
    let eds_id = eds["EventDataStoreArn"]
        .as_str()
        .and_then(|arn| arn.rsplit('/').next())
        .context("CreateEventDataStore answered no ARN")?
        .to_owned();
    let connection = events(
        "CreateConnection",
        json!({"Name": "hook", "AuthorizationType": "API_KEY",
               "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key",
                                                           "ApiKeyValue": "crash"}}}),
    )?;
    let destination = events(
        "CreateApiDestination",
        json!({"Name": "hook", "ConnectionArn": connection["ConnectionArn"],
               "InvocationEndpoint": format!("{webhook}/hook"), "HttpMethod": "POST",
               "InvocationRateLimitPerSecond": 300}),
    )?;
    events(
        "PutRule",
        json!({"Name": "crash-parameters",
               "EventPattern": json!({"detail": {"eventName": ["PutParameter"]}}).to_string()}),
    )?;
    events(
        "PutTargets",
        json!({"Rule": "crash-parameters", "Targets": [{
            "Id": "hook", "Arn": destination["ApiDestinationArn"],
            "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/events")}]}),
    )?;
    let arn = trail["TrailARN"]
        .as_str()
        .context("CreateTrail answered no TrailARN")?
        .to_owned();
    Ok((arn, eds_id))
}

fn merge(into: &mut Acknowledged, round: Acknowledged) {
    into.parameters.extend(round.parameters);
    into.sent += round.sent;
    for rule in round.rules_deleted {
        into.rules_put.remove(&rule);
        into.rules_deleted.insert(rule);
    }
    for rule in round.rules_put {
        into.rules_deleted.remove(&rule);
        into.rules_put.insert(rule);
    }
    into.rules_uncertain.extend(round.rules_uncertain);
    into.queries.extend(round.queries);
}

/// Runs the clients against `server` for `length`, then kills it with SIGKILL while they go
/// on; what was acknowledged (calls the kill cut off are not).
fn run_load(server: Server, round: u32, eds_id: &str, length: Duration) -> Result<Acknowledged> {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let sent = Arc::new(AtomicU64::new(0));
    std::thread::scope(|scope| -> Result<()> {
        for worker in 0..2 {
            let (stop, acked, sent) = (stop.clone(), acked.clone(), sent.clone());
            let endpoint = server.endpoint.clone();
            scope.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("/crash/{round}/{worker}/{n}");
                    n += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if put_parameter(&agent, &endpoint, &name)
                        && let Ok(mut acked) = acked.lock()
                    {
                        acked.parameters.insert(name);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
        {
            let (stop, acked) = (stop.clone(), acked.clone());
            let client = server.client()?;
            scope.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("crash-{round}-{n}");
                    let put = client.call_service(
                        "events",
                        "AWSEvents.PutRule",
                        json!({"Name": name, "State": "DISABLED",
                               "EventPattern": r#"{"source":["aws.ssm"]}"#})
                        .to_string()
                        .as_bytes(),
                    );
                    match put {
                        Ok(answer) if answer.error().is_none() => {
                            if let Ok(mut acked) = acked.lock() {
                                acked.rules_put.insert(name);
                            }
                        }
                        // Refused: not made. Cut off: made or not.
                        Ok(_) => {}
                        Err(_) => {
                            if let Ok(mut acked) = acked.lock() {
                                acked.rules_uncertain.insert(name);
                            }
                        }
                    }
                    if n >= 2 {
                        let old = format!("crash-{round}-{}", n - 2);
                        let deleted = client.call_service(
                            "events",
                            "AWSEvents.DeleteRule",
                            json!({"Name": old}).to_string().as_bytes(),
                        );
                        match deleted {
                            Ok(answer) if answer.error().is_none() => {
                                if let Ok(mut acked) = acked.lock() {
                                    acked.rules_put.remove(&old);
                                    acked.rules_deleted.insert(old);
                                }
                            }
                            Ok(_) => {}
                            Err(_) => {
                                if let Ok(mut acked) = acked.lock() {
                                    acked.rules_uncertain.insert(old);
                                }
                            }
                        }
                    }
                    let _ = client.call("LookupEvents", br#"{"MaxResults":5}"#);
                    n += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        {
            let (stop, acked) = (stop.clone(), acked.clone());
            let client = server.client()?;
            let statement = format!(
                "SELECT eventname, count(*) AS n FROM {eds_id} GROUP BY eventname ORDER BY n DESC"
            );
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let started = client.call(
                        "StartQuery",
                        json!({"QueryStatement": statement}).to_string().as_bytes(),
                    );
                    if let Ok(answer) = started
                        && answer.error().is_none()
                        && let Some(id) = answer.body["QueryId"].as_str()
                        && let Ok(mut acked) = acked.lock()
                    {
                        acked.queries.insert(id.to_owned());
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            });
        }
        std::thread::sleep(length);
        let killed = server.kill();
        stop.store(true, Ordering::Relaxed);
        killed
    })?;
    let mut acked = std::mem::take(&mut *acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    acked.sent = sent.load(Ordering::Relaxed) as usize;
    Ok(acked)
}

/// One SSM PutParameter through the capture proxy; whether it was answered 200 (the event is
/// durable: `sync`).
fn put_parameter(agent: &ureq::Agent, endpoint: &str, name: &str) -> bool {
    let body = json!({"Name": name, "Value": "v", "Type": "String", "Overwrite": true}).to_string();
    super::capture::ssm_call(
        agent,
        endpoint,
        (KEY_ID, SECRET),
        "PutParameter",
        body.as_bytes(),
    )
    .is_ok_and(|(status, _)| status == 200)
}

/// An SSM upstream that answers every call at once, each with a request ID of its own.
async fn start_upstream() -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the upstream's port")?;
    let url = format!("http://{}", listener.local_addr()?);
    let counter = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().fallback(move || {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        async move {
            (
                [
                    ("content-type", "application/x-amz-json-1.1".to_owned()),
                    ("x-amzn-requestid", format!("crash-upstream-{n}")),
                ],
                r#"{"Tier":"Standard","Version":1}"#,
            )
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// Import batches of generated log files (each in a folder of its own): the folders and the
/// event IDs each holds.
fn make_import_batches(dir: &Path, count: u32) -> Result<Vec<(PathBuf, Vec<String>)>> {
    let mut batches = Vec::new();
    for batch in 0..count {
        let out = dir.join(format!("batch-{batch}"));
        super::generate(&out, 2_000, 250, 1_000 + u64::from(batch), true)?;
        let mut ids = Vec::new();
        for file in crate::import::collect_files(std::slice::from_ref(&out))? {
            let bytes = crate::import::read_file(&file)?;
            for record in crate::import::parse_file(&bytes).records {
                ids.push(record.fields.event_id.clone());
            }
        }
        batches.push((out, ids));
    }
    Ok(batches)
}

/// Runs `cairn import` of `dir`, killed with SIGKILL after `kill_after` if it is still running
/// by then; whether it ran to completion.
fn run_import(setup: &Setup, dir: &Path, kill_after: Option<Duration>) -> Result<bool> {
    let mut child = Command::new(&setup.exe)
        .args(["import", "--data-dir"])
        .arg(&setup.data)
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting cairn import")?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(true);
            }
            let mut errors = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut errors);
            }
            bail!("cairn import of {} failed: {errors}", dir.display());
        }
        if kill_after.is_some_and(|after| started.elapsed() >= after) {
            child.kill()?;
            child.wait()?;
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What one check of the data directory counted.
struct Check {
    stored: usize,
    parameter_events: usize,
    delivered: usize,
    /// The event ID of each captured call's event, by parameter name.
    event_ids: HashMap<String, String>,
}

/// Opens the data directory as the next start does and checks every promise; problems go to
/// `tally`.
fn check_data_dir(data: &Path, acked: &Acknowledged, tally: &mut Tally) -> Result<Check> {
    let store = Arc::new(Store::open(data, StoreOptions::default())?);
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut parameters: HashMap<String, u32> = HashMap::new();
    let mut event_ids: HashMap<String, String> = HashMap::new();
    // The rules API's changes that have their audit event: (operation, rule name).
    let mut audited: HashSet<(String, String)> = HashSet::new();
    store.for_each_record(|text| {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return;
        };
        if let Some(id) = value["eventID"].as_str() {
            *ids.entry(id.to_owned()).or_default() += 1;
        }
        if value["eventSource"] == "events.amazonaws.com"
            && value["errorCode"].is_null()
            && let (Some(operation), Some(name)) = (
                value["eventName"].as_str(),
                value["requestParameters"]["name"].as_str(),
            )
        {
            audited.insert((operation.to_owned(), name.to_owned()));
        }
        if value["eventName"] == "PutParameter"
            && let Some(name) = value["requestParameters"]["name"].as_str()
        {
            *parameters.entry(name.to_owned()).or_default() += 1;
            if let Some(id) = value["eventID"].as_str() {
                event_ids.insert(name.to_owned(), id.to_owned());
            }
        }
    })?;
    let mut problems = Vec::new();
    let lost: Vec<&String> = acked
        .parameters
        .iter()
        .filter(|name| !parameters.contains_key(*name))
        .collect();
    let lost_imports = acked
        .imported
        .iter()
        .filter(|id| !ids.contains_key(*id))
        .count();
    let twice_ids = ids.values().filter(|&&n| n > 1).count();
    let twice_parameters = parameters.values().filter(|&&n| n > 1).count();
    if !lost.is_empty() || lost_imports > 0 {
        problems.push(format!(
            "{} acknowledged calls' events are missing (first: {:?}); {lost_imports} imported \
             events are missing",
            lost.len(),
            lost.first()
        ));
    }
    if twice_ids > 0 || twice_parameters > 0 {
        problems.push(format!(
            "{twice_ids} event IDs and {twice_parameters} calls are stored more than once"
        ));
    }
    // Every change the API acknowledged has its audit event.
    let unaudited: Vec<String> = acked
        .rules_put
        .iter()
        .map(|name| ("PutRule", name))
        .chain(acked.rules_deleted.iter().map(|name| ("DeleteRule", name)))
        .filter(|(op, name)| !audited.contains(&((*op).to_owned(), (*name).to_owned())))
        .map(|(op, name)| format!("{op} {name}"))
        .collect();
    if !unaudited.is_empty() {
        problems.push(format!(
            "{} acknowledged changes have no audit event (first: {:?})",
            unaudited.len(),
            unaudited.first()
        ));
    }
    tally.lost += lost.len() + lost_imports + unaudited.len();
    tally.duplicated += twice_ids;

    // The catalog.
    let mut missing = Vec::new();
    let trails = Trails::load(store.clone()).map_err(anyhow::Error::msg)?;
    if trails
        .edit()
        .map_err(|e| anyhow::anyhow!(e.message))?
        .items
        .len()
        != 1
    {
        missing.push("the trail".to_owned());
    }
    let stores = EventDataStores::load(store.clone()).map_err(anyhow::Error::msg)?;
    if stores
        .edit(cairn_model::time::now_secs())
        .map_err(|e| anyhow::anyhow!(e.message))?
        .items
        .len()
        != 1
    {
        missing.push("the event data store".to_owned());
    }
    let queries = Queries::load(store.clone(), 3600.0, cairn_model::time::now_secs())
        .map_err(anyhow::Error::msg)?;
    missing.extend(
        acked
            .queries
            .iter()
            .filter(|id| queries.status(id).is_none())
            .map(|id| format!("query {id}")),
    );
    let rules = RuleCatalog::load(store.clone()).map_err(anyhow::Error::msg)?;
    let names: HashSet<String> = rules
        .rules
        .edit()
        .map_err(|e| anyhow::anyhow!(e.message))?
        .items
        .iter()
        .map(|r| r.name.clone())
        .collect();
    missing.extend(
        acked
            .rules_put
            .iter()
            .filter(|name| !names.contains(*name) && !acked.rules_uncertain.contains(*name))
            .map(|name| format!("rule {name}")),
    );
    missing.extend(
        acked
            .rules_deleted
            .iter()
            .filter(|name| names.contains(*name) && !acked.rules_uncertain.contains(*name))
            .map(|name| format!("deleted rule {name} is back")),
    );
    if !names.contains("crash-parameters") {
        missing.push("the webhook rule".to_owned());
    }
    if !missing.is_empty() {
        problems.push(format!("the catalog lost: {}", missing.join(", ")));
    }
    tally.catalog_missing += missing.len();
    drop((trails, stores, queries, rules));
    let stored = ids.len();
    let parameter_events = parameters.len();
    match Arc::try_unwrap(store) {
        Ok(store) => store.close(),
        Err(_) => bail!("the store is still in use"),
    }

    // The trail's log files.
    let delivered = delivered_ids(&data.join("buckets").join(BUCKET))?;
    let twice = delivered.values().filter(|&&n| n > 1).count();
    if twice > 0 {
        problems.push(format!("{twice} events were delivered in two log files"));
    }
    tally.delivered_twice += twice;
    tally.problems.extend(problems);
    Ok(Check {
        stored,
        parameter_events,
        delivered: delivered.len(),
        event_ids,
    })
}

/// Every event ID in the trail's log files under `bucket`, with how many files hold it.
fn delivered_ids(bucket: &Path) -> Result<HashMap<String, u32>> {
    let mut ids = HashMap::new();
    if !bucket.exists() {
        return Ok(ids);
    }
    for file in crate::import::collect_files(&[bucket.to_owned()])? {
        let path = file.to_string_lossy();
        if path.contains("CloudTrail-Digest") || !path.ends_with(".json.gz") {
            continue;
        }
        let bytes = crate::import::read_file(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let document: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a log file", file.display()))?;
        for record in document["Records"].as_array().into_iter().flatten() {
            if let Some(id) = record["eventID"].as_str() {
                *ids.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    Ok(ids)
}

/// Waits for query `id` and returns its rows.
fn query_rows(client: &ApiClient, id: &str) -> Result<Vec<Vec<Option<String>>>> {
    let started = Instant::now();
    loop {
        let answer = client.call(
            "GetQueryResults",
            json!({"QueryId": id}).to_string().as_bytes(),
        )?;
        if let Some(error) = answer.error() {
            bail!("GetQueryResults {id}: {} {}", error.code, error.message);
        }
        match answer.body["QueryStatus"].as_str() {
            Some("FINISHED") => {
                let rows = answer.body["QueryResultRows"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                return Ok(rows
                    .iter()
                    .map(|row| {
                        row.as_array()
                            .into_iter()
                            .flatten()
                            .map(|cell| {
                                cell.as_object()
                                    .and_then(|o| o.values().next())
                                    .and_then(Value::as_str)
                                    .map(str::to_owned)
                            })
                            .collect()
                    })
                    .collect());
            }
            Some("QUEUED" | "RUNNING") if started.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            other => bail!("query {id} ended {other:?}"),
        }
    }
}

/// Every acknowledged query is known to DescribeQuery and has ended; those FINISHED answer
/// GetQueryResults. How many finished.
fn check_queries(client: &ApiClient, acked: &Acknowledged, tally: &mut Tally) -> Result<usize> {
    let mut finished = 0;
    for id in &acked.queries {
        let answer = client.call(
            "DescribeQuery",
            json!({"QueryId": id}).to_string().as_bytes(),
        )?;
        if let Some(error) = answer.error() {
            tally.catalog_missing += 1;
            tally.problems.push(format!(
                "DescribeQuery {id}: {} {}",
                error.code, error.message
            ));
            continue;
        }
        match answer.body["QueryStatus"].as_str() {
            Some("FINISHED") => {
                if let Err(e) = query_rows(client, id) {
                    tally
                        .problems
                        .push(format!("the results of query {id}: {e}"));
                }
                finished += 1;
            }
            Some("FAILED" | "CANCELLED" | "TIMED_OUT") => {}
            other => tally
                .problems
                .push(format!("query {id} is {other:?} after the loop")),
        }
    }
    Ok(finished)
}

/// `cairn validate-logs` of the trail over the data directory (the server is down): its last
/// line (`N/N log files valid`), or why it failed.
fn validate_logs(
    setup: &Setup,
    trail_arn: &str,
    started_at: SystemTime,
) -> Result<Result<String, String>> {
    let start_ms = started_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        - 60_000;
    let output = Command::new(&setup.exe)
        .args(["validate-logs", "--data-dir"])
        .arg(&setup.data)
        .args(["--trail-arn", trail_arn, "--start-time"])
        .arg(cairn_model::time::format_event_time(start_ms))
        .output()
        .context("running cairn validate-logs")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .to_owned();
    Ok(if output.status.success() {
        Ok(last)
    } else {
        Err(format!(
            "cairn validate-logs failed:\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

/// How many times the server warned of a torn log tail it cut and kept.
fn count_torn_tails(log: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    Ok(text.matches("ended in damaged bytes").count())
}
