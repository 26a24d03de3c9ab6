//! `cairn bench sql`: Lake SQL over an event data store holding the generated records, side by
//! side in one run with DuckDB over its own zstd Parquet of the same records and over the
//! delivered log files (`scripts/duckdb_sql.py`). Six investigation questions: count by
//! eventName; errors by principal ARN; one eventID; one access key's timeline; an hourly
//! histogram of one day; a requestParameters value grouped. Each is timed in process
//! (`queries::execute`, as StartQuery runs it) and end to end through the API (StartQuery,
//! DescribeQuery until FINISHED, GetQueryResults), and the row counts of both engines are
//! compared. Last, an event appended just before a query must be in its answer.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cairn_model::Record;
use cairn_model::time::{format_event_time, now_ms, now_secs};
use cairn_server::actions::event_data_stores as ops;
use cairn_server::config::{Identity, Permissions, Principal, generate_key};
use cairn_server::event_data_stores::EventDataStores;
use cairn_server::queries::{Results, execute};
use cairn_server::trails::Scope;
use cairn_store::{Store, StoreOptions};
use serde_json::{Value, json};

use super::{InProcessServer, peak_rss_kib};
use crate::lookup_events::{ApiClient, ClientCredentials};
use crate::query::query_through_api;

#[derive(Debug, clap::Args)]
pub struct SqlBench {
    /// Generated log files (see `cairn bench generate`); generated here if missing.
    #[arg(long, default_value = "bench-data/logs-v2")]
    files: PathBuf,
    /// Records to generate when FILES does not exist yet.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// A fresh data directory for the benchmark's store (deleted first).
    #[arg(long, default_value = "bench-data/sql-store")]
    data_dir: PathBuf,
    /// DuckDB's Parquet of the records (written once, kept).
    #[arg(long, default_value = "bench-data/sql.duckdb.parquet")]
    parquet: PathBuf,
    /// Python with DuckDB (scripts/setup-python.sh installs one in .venv).
    #[arg(long, default_value = ".venv/bin/python")]
    python: PathBuf,
    /// Timed runs of each question per engine (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Skip DuckDB over the log files (about a minute a question).
    #[arg(long)]
    no_files: bool,
}

/// The account and region of the benchmark's event data store.
const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

/// What the questions look for, picked by DuckDB from the middle of the records.
#[derive(Debug, serde::Deserialize)]
struct Needles {
    rows: u64,
    event_id: String,
    access_key: String,
    day: String,
}

/// One question in both dialects: Lake's (`{eds}` the store's ID) and DuckDB's (`{table}`).
struct Question {
    name: &'static str,
    lake: String,
    duckdb: String,
}

fn questions(needles: &Needles) -> Result<Vec<Question>> {
    let day_start = format!("{} 00:00:00", needles.day);
    let next_day = cairn_model::time::parse_event_time(&format!("{}T00:00:00Z", needles.day))
        .map(|ms| format_event_time(ms + 86_400_000))
        .context("the day DuckDB picked")?;
    let day_end = format!("{} 00:00:00", &next_day[..10]);
    let both = |name, sql: String| Question {
        name,
        lake: sql.replace("{from}", "{eds}"),
        duckdb: sql.replace("{from}", "{table}"),
    };
    Ok(vec![
        both(
            "count by eventName",
            "SELECT eventName, count(*) AS n FROM {from} GROUP BY eventName \
             ORDER BY n DESC, eventName"
                .to_owned(),
        ),
        both(
            "errors by principal ARN",
            "SELECT userIdentity.arn AS arn, count(*) AS errors FROM {from} \
             WHERE errorCode IS NOT NULL GROUP BY userIdentity.arn \
             ORDER BY errors DESC, arn LIMIT 20"
                .to_owned(),
        ),
        both(
            "one eventID",
            format!(
                "SELECT eventTime, eventName, userIdentity.arn AS arn FROM {{from}} \
                 WHERE eventID = '{}'",
                needles.event_id
            ),
        ),
        both(
            "one access key's timeline",
            format!(
                "SELECT eventTime, eventName, sourceIPAddress FROM {{from}} \
                 WHERE userIdentity.accessKeyId = '{}' ORDER BY eventTime",
                needles.access_key
            ),
        ),
        both(
            "hourly histogram of one day",
            format!(
                "SELECT date_trunc('hour', eventTime) AS hour, count(*) AS n FROM {{from}} \
                 WHERE eventTime >= '{day_start}' AND eventTime < '{day_end}' \
                 GROUP BY 1 ORDER BY 1"
            ),
        ),
        Question {
            name: "a requestParameters value grouped",
            lake: "SELECT element_at(requestParameters, 'bucketName') AS bucket, count(*) AS n \
                   FROM {eds} WHERE eventSource = 's3.amazonaws.com' GROUP BY 1 \
                   ORDER BY n DESC, bucket LIMIT 20"
                .to_owned(),
            duckdb: "SELECT requestParameters.bucketName AS bucket, count(*) AS n \
                     FROM {table} WHERE eventSource = 's3.amazonaws.com' GROUP BY 1 \
                     ORDER BY n DESC, bucket LIMIT 20"
                .to_owned(),
        },
    ])
}

/// DuckDB's answer to one question.
#[derive(Debug, serde::Deserialize)]
struct DuckDbTimes {
    name: String,
    parquet_ms: Vec<f64>,
    parquet_rows: usize,
    files_ms: Option<f64>,
    files_rows: Option<usize>,
}

pub(super) fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(0.0)
}

pub fn run_sql_benchmark(bench: &SqlBench) -> Result<String> {
    if !bench.files.exists() {
        println!(
            "generating {} records into {}",
            bench.records,
            bench.files.display()
        );
        super::generate(&bench.files, bench.records, 2_000, 1, false)?;
    }
    let mut out = String::new();
    let files = bench.files.to_string_lossy().into_owned();
    let parquet = bench.parquet.to_string_lossy().into_owned();
    let needles: Needles = serde_json::from_str(&super::run_script(
        &bench.python,
        "duckdb_sql.py",
        &["prepare", &files, &parquet],
        None,
    )?)?;

    // The store, and an event data store holding every generated record (imported into it;
    // retention long enough for the generator's 2024 dates).
    if bench.data_dir.exists() {
        std::fs::remove_dir_all(&bench.data_dir)
            .with_context(|| format!("removing {}", bench.data_dir.display()))?;
    }
    let store = Arc::new(Store::open(&bench.data_dir, StoreOptions::default())?);
    let stores = EventDataStores::load(store.clone()).map_err(anyhow::Error::msg)?;
    let scope = Scope {
        account_id: ACCOUNT.to_owned(),
        region: REGION.to_owned(),
    };
    // A new event data store (`request`, CreateEventDataStore's) and its ID; the generated
    // files imported into a store, and how long that took.
    let create = |request: Value| -> Result<String> {
        let made = ops::create(
            &stores,
            &scope,
            serde_json::from_value(request)?,
            now_secs(),
        )
        .map_err(|e| anyhow::anyhow!(e.message))?;
        made["EventDataStoreArn"]
            .as_str()
            .and_then(|arn| arn.rsplit('/').next())
            .map(str::to_owned)
            .context("no EventDataStoreArn")
    };
    let list = crate::import::collect_files(std::slice::from_ref(&bench.files))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let import_into = |eds_id: &str| -> Result<(crate::import::ImportSummary, Duration)> {
        let started = Instant::now();
        let (_, summary) = stores
            .import_into(eds_id, now_secs(), || {
                crate::import::import_files(&store, &list, threads, |_, _| {})
                    .map(crate::import::ImportSummary::with_already_stored)
            })
            .map_err(anyhow::Error::msg)?;
        Ok((summary, started.elapsed()))
    };
    let eds_id = create(json!({
        "Name": "bench",
        "BillingMode": "EXTENDABLE_RETENTION_PRICING",
        "RetentionPeriod": 3653
    }))?;
    let (summary, import_time) = import_into(&eds_id)?;
    let _ = writeln!(
        out,
        "sql: {} events imported into event data store {eds_id} in {:.1} s; DuckDB's Parquet holds {} rows",
        summary.imported,
        import_time.as_secs_f64(),
        needles.rows
    );

    let questions = questions(&needles)?;
    let run_in_process = |sql: &str| -> Result<(Duration, Results)> {
        let prepared = cairn_lake::statement::prepare(sql).map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = Instant::now();
        let (results, _) = execute(
            &stores,
            |edit, id| edit.find_id_anywhere(id),
            prepared,
            now_secs(),
            None,
        )
        .map_err(anyhow::Error::msg)?;
        Ok((started.elapsed(), results))
    };
    let mut in_process: Vec<(f64, f64, usize)> = Vec::new();
    for question in &questions {
        let sql = question.lake.replace("{eds}", &eds_id);
        let (cold, results) = run_in_process(&sql)?;
        let mut warm = Vec::new();
        for _ in 0..bench.repeat {
            warm.push(run_in_process(&sql)?.0.as_secs_f64() * 1e3);
        }
        in_process.push((
            cold.as_secs_f64() * 1e3,
            median(&mut warm),
            results.rows.len(),
        ));
    }
    let after_queries_rss = peak_rss_kib().unwrap_or(0) / 1024;

    // A full scan of every event's whole text, with the peak RSS counted from its start
    // (writing 5 to clear_refs resets the peak the kernel keeps).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let (full_scan, full) = run_in_process(&format!(
        "SELECT count(*), max(length(eventjson)) FROM {eds_id}"
    ))?;
    let full_scan_rss = peak_rss_kib().unwrap_or(0) / 1024;

    // A second event data store given the same files by import: every event is stored
    // already, so it is added by ID; what that costs, and a count over it.
    let again_id = create(json!({
        "Name": "bench-again",
        "RetentionPeriod": 3653,
        "StartIngestion": false
    }))?;
    let segment_bytes = store.stats()?.segment_bytes;
    let (again, again_import) = import_into(&again_id)?;
    let added_bytes: u64 = {
        let edit = stores
            .edit(now_secs())
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let eds = edit
            .find_id_anywhere(&again_id)
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let mut bytes = 0;
        for added in &edit.items[eds].added {
            bytes += store
                .read_document(&added.document)?
                .map_or(0, |d| d.len() as u64);
        }
        bytes
    };
    let segments_grew = store.stats()?.segment_bytes - segment_bytes;
    let (again_count, again_counted) = run_in_process(&format!("SELECT count(*) FROM {again_id}"))?;

    // Through the API, with a principal of the store's account.
    let (access_key_id, secret_access_key) = generate_key()?;
    let principal = Principal {
        account_id: ACCOUNT.to_owned(),
        access_key_id: access_key_id.clone(),
        secret_access_key: secret_access_key.clone(),
        identity: Identity::Root,
        permissions: Permissions::Admin,
    };
    let (runtime, server) = InProcessServer::start_with(store.clone(), REGION, vec![principal])?;
    let client = ApiClient::new(
        &server.endpoint,
        ClientCredentials {
            access_key_id,
            secret_access_key,
            session_token: None,
            region: Some(REGION.to_owned()),
        },
        REGION,
    )?;
    let through_api = |sql: &str| -> Result<(f64, usize)> {
        let started = Instant::now();
        let results = query_through_api(&client, sql)?
            .map_err(|e| anyhow::anyhow!("the query through the API failed: {e:?}"))?;
        Ok((started.elapsed().as_secs_f64() * 1e3, results.rows.len()))
    };
    let mut api = Vec::new();
    for question in &questions {
        let sql = question.lake.replace("{eds}", &eds_id);
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..bench.repeat.max(1) {
            let (ms, n) = through_api(&sql)?;
            times.push(ms);
            rows = n;
        }
        api.push((median(&mut times), rows));
    }

    // Fresh events: one appended (acknowledged, durable) just before the query is in it.
    let fresh_id = format!("{:032x}", now_ms());
    let fresh_id = format!(
        "{}-{}-{}-{}-{}",
        &fresh_id[..8],
        &fresh_id[8..12],
        &fresh_id[12..16],
        &fresh_id[16..20],
        &fresh_id[20..32]
    );
    let record = Record::parse(&format!(
        r#"{{"eventVersion":"1.10","eventTime":"{}","eventID":"{fresh_id}","eventName":"DescribeInstances","eventSource":"ec2.amazonaws.com","awsRegion":"{REGION}","recipientAccountId":"{ACCOUNT}","eventCategory":"Management","readOnly":true}}"#,
        format_event_time(now_ms())
    ))?;
    store.append(vec![record])?;
    let acknowledged = Instant::now();
    let (fresh_ms, fresh_rows) = through_api(&format!(
        "SELECT eventID FROM {eds_id} WHERE eventID = '{fresh_id}'"
    ))?;
    let fresh_after = acknowledged.elapsed();
    server.stop(&runtime)?;
    drop(runtime);

    // DuckDB.
    let duck_questions: Vec<Value> = questions
        .iter()
        .map(|q| json!({"name": q.name, "sql": q.duckdb}))
        .collect();
    let repeat = bench.repeat.max(1).to_string();
    let mut args = vec!["run", &files, &parquet, &repeat];
    if bench.no_files {
        args.push("--no-files");
    }
    let duck: Vec<DuckDbTimes> = serde_json::from_str(&super::run_script(
        &bench.python,
        "duckdb_sql.py",
        &args,
        Some(&serde_json::to_string(&duck_questions)?),
    )?)?;

    let _ = writeln!(
        out,
        "sql: median of {} runs (ms); cairn cold = first run; API = StartQuery to last page",
        bench.repeat
    );
    let _ = writeln!(
        out,
        "{:<36} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>9} {:>6}",
        "question", "cairn", "cold", "API", "DuckDB", "files", "÷DuckDB", "files÷", "rows"
    );
    for (i, question) in questions.iter().enumerate() {
        let (cold, warm, rows) = in_process[i];
        let (api_ms, api_rows) = api[i];
        let d = duck
            .iter()
            .find(|d| d.name == question.name)
            .context("DuckDB skipped a question")?;
        let duck_ms = median(&mut d.parquet_ms.clone());
        let files_ms = d.files_ms.unwrap_or(f64::NAN);
        // Through the API the store also takes the API's own calls (its audit events), so
        // only the engines' answers over the same records are compared.
        let _ = api_rows;
        let rows_agree = rows == d.parquet_rows && d.files_rows.is_none_or(|n| n == rows);
        let _ = writeln!(
            out,
            "{:<36} {warm:>9.1} {cold:>9.1} {api_ms:>9.1} {duck_ms:>9.1} {files_ms:>10.0} {:>8.2} {:>9.0} {:>6}",
            question.name,
            warm / duck_ms,
            files_ms / warm,
            if rows_agree {
                rows.to_string()
            } else {
                format!("{rows}≠{}", d.parquet_rows)
            }
        );
    }
    let _ = writeln!(
        out,
        "fresh: an event appended (acknowledged) {:.1} ms before its query ended was {} its answer ({fresh_ms:.1} ms through the API)",
        fresh_after.as_secs_f64() * 1e3,
        if fresh_rows == 1 { "in" } else { "NOT in" }
    );
    let _ = writeln!(
        out,
        "peak RSS after the in-process queries: {after_queries_rss} MiB (the import included)"
    );
    let _ = writeln!(
        out,
        "full scan: every event's text ({} events) in {:.0} ms, peak RSS {}{full_scan_rss} MiB",
        full.rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default(),
        full_scan.as_secs_f64() * 1e3,
        if reset {
            "during it "
        } else {
            "(since start) "
        }
    );
    let _ = writeln!(
        out,
        "added by import: a second event data store given the same {} events (stored already) \
         in {:.1} s: {added_bytes} bytes of IDs ({:.1} bytes an event), segments +{segments_grew} \
         bytes; count(*) over it = {} in {:.0} ms",
        again.duplicates,
        again_import.as_secs_f64(),
        added_bytes as f64 / again.duplicates.max(1) as f64,
        again_counted
            .rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default(),
        again_count.as_secs_f64() * 1e3,
    );
    drop(stores);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }
    Ok(out)
}
