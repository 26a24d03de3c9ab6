//! `cairn bench console`: the console in a real browser (`scripts/console_bench.py`:
//! Playwright driving Debian's chromium) over a store of generated events, as the busiest
//! account and region's read-only principal: how long event history's first page takes to be
//! on screen after navigation; how long the overview of the generator's 30 days (the count of
//! matching events, the histogram and the top values) takes; and how fast "Download events"
//! streams. `cairn bench generate --one-scope` makes a store whose one scope holds every event.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_server::config::{Identity, Permissions, Principal, generate_key};
use cairn_store::{Store, StoreOptions};
use serde::Deserialize;

use super::InProcessServer;

#[derive(Debug, clap::Args)]
pub struct ConsoleBench {
    /// A store of generated events (`cairn bench run` or `cairn bench sql` fills one).
    #[arg(long, default_value = "bench-data/sql-store")]
    data_dir: PathBuf,
    /// Python with Playwright (scripts/setup-python.sh; chromium from scripts/setup-browser.sh).
    #[arg(long, default_value = ".venv/bin/python")]
    python: PathBuf,
    /// Timed navigations to event history (the median is reported).
    #[arg(long, default_value_t = 9)]
    repeat: usize,
    /// Events of the timed download (at most the scope's).
    #[arg(long, default_value_t = 100_000)]
    download_events: usize,
}

/// What the browser measured.
#[derive(Debug, Deserialize)]
struct Measured {
    first_page_ms: Vec<f64>,
    facets_ms: Vec<f64>,
    facets_matched: u64,
    download_events: usize,
    download_seconds: f64,
}

pub fn run_console_benchmark(bench: &ConsoleBench) -> Result<String> {
    let store = Arc::new(
        Store::open(&bench.data_dir, StoreOptions::default())
            .with_context(|| format!("opening {}", bench.data_dir.display()))?,
    );
    let stored = store.stats()?.events;
    let scope = super::api::busiest_scope(&store)?;
    let (access_key_id, secret_access_key) = generate_key()?;
    let principal = Principal {
        account_id: scope.account.clone(),
        access_key_id: access_key_id.clone(),
        secret_access_key: secret_access_key.clone(),
        identity: Identity::IamUser {
            user_name: "console-bench".to_owned(),
        },
        permissions: Permissions::ReadOnly,
    };
    let (span_start, span_end) = super::generated_span();
    let iso = cairn_model::time::format_event_time;
    let (runtime, server) =
        InProcessServer::start_with(store.clone(), &scope.region, vec![principal])?;
    let measured = super::run_script(
        &bench.python,
        "console_bench.py",
        &[
            &server.endpoint,
            &access_key_id,
            &secret_access_key,
            &bench.repeat.to_string(),
            &bench.download_events.to_string(),
            &iso(span_start),
            &iso(span_end),
        ],
        None,
    );
    server.stop(&runtime)?;
    drop(runtime);
    let mut measured: Measured = serde_json::from_str(&measured?)?;
    let first_page = super::sql::median(&mut measured.first_page_ms);
    let facets = super::sql::median(&mut measured.facets_ms);
    Ok(format!(
        "console: {stored} events stored; account {}, region {}\n\
         event history's first page on screen {first_page:.0} ms after navigation (median of {})\n\
         the generator's 30 days ({} events): count, histogram and top values on screen \
         {facets:.0} ms after navigation (median)\n\
         download: {} events as CSV in {:.2} s: {:.0} events/s\n",
        scope.account,
        scope.region,
        measured.first_page_ms.len(),
        measured.facets_matched,
        measured.download_events,
        measured.download_seconds,
        measured.download_events as f64 / measured.download_seconds.max(1e-9),
    ))
}
