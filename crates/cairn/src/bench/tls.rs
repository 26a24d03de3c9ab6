//! `cairn bench tls`: what HTTPS costs a LookupEvents call. One server in this process serves
//! plain HTTP and another HTTPS (a certificate from `scripts/make_certs.py`), over the same
//! fresh store; each is called N times on a new connection every time (TCP, for HTTPS the
//! handshake, then one signed LookupEvents) and N times on one kept-alive connection.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use cairn_server::config::{Identity, Permissions, Principal, generate_key};
use cairn_store::{Store, StoreOptions};

use super::{p50_p99, run_script};
use crate::lookup_events::{ApiClient, ClientCredentials, TlsArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct TlsBench {
    /// Calls of each kind.
    #[arg(long, default_value_t = 500)]
    pub requests: usize,
    /// A fresh data directory (deleted first).
    #[arg(long, default_value = "bench-data/tls")]
    pub data_dir: PathBuf,
    /// Python with the `cryptography` package (scripts/setup-python.sh installs one in .venv).
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
}

const REGION: &str = "us-east-1";

pub fn run_tls_benchmark(bench: &TlsBench) -> Result<String> {
    if bench.data_dir.exists() {
        std::fs::remove_dir_all(&bench.data_dir)
            .with_context(|| format!("removing {}", bench.data_dir.display()))?;
    }
    let certs = bench.data_dir.join("certs");
    std::fs::create_dir_all(&certs)?;
    run_script(
        &bench.python,
        "make_certs.py",
        &[&certs.to_string_lossy()],
        None,
    )?;
    let store = Arc::new(Store::open(
        bench.data_dir.join("store"),
        StoreOptions::default(),
    )?);
    let (access_key_id, secret_access_key) = generate_key()?;
    let principal = Principal {
        account_id: "111122223333".to_owned(),
        access_key_id: access_key_id.clone(),
        secret_access_key: secret_access_key.clone(),
        identity: Identity::Root,
        permissions: Permissions::Admin,
    };
    let config = super::bench_config(REGION, vec![principal]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let tls_config =
        cairn_server::tls::server_config(&certs.join("cert.pem"), &certs.join("key.pem"))
            .map_err(anyhow::Error::msg)?;
    let delivery =
        cairn_server::delivery::DeliverySettings::resolve(store.dir(), &config.delivery, |_| None)
            .map_err(anyhow::Error::msg)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.changed().await;
    };
    let (plain, secure) = runtime.block_on(async {
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let secure = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        anyhow::Ok((plain, secure))
    })?;
    let plain_url = format!("http://{}", plain.local_addr()?);
    let secure_url = format!("https://{}", secure.local_addr()?);
    let secure =
        runtime.block_on(async { cairn_server::tls::TlsListener::new(secure, tls_config) })?;
    let plain_task = runtime.spawn(cairn_server::run(
        store.clone(),
        config.clone(),
        delivery.clone(),
        plain,
        until_stopped(stopped.clone()),
    ));
    let secure_task = runtime.spawn(cairn_server::run(
        store.clone(),
        config,
        delivery,
        secure,
        until_stopped(stopped),
    ));

    let credentials = ClientCredentials {
        access_key_id,
        secret_access_key,
        session_token: None,
        region: Some(REGION.to_owned()),
    };
    let tls = TlsArgs {
        ca_bundle: Some(certs.join("ca.pem")),
        no_verify_ssl: false,
    };
    let body = br#"{"MaxResults": 1}"#;
    let mut out = String::new();
    for (name, url) in [("HTTP", &plain_url), ("HTTPS", &secure_url)] {
        let mut fresh = Vec::new();
        for _ in 0..bench.requests {
            let started = Instant::now();
            let client = ApiClient::with_tls(url, credentials.clone(), REGION, &tls)?;
            let answer = client.call("LookupEvents", body)?;
            anyhow::ensure!(answer.status == 200, "LookupEvents over {name}: {answer:?}");
            fresh.push(started.elapsed());
        }
        let client = ApiClient::with_tls(url, credentials.clone(), REGION, &tls)?;
        let mut kept = Vec::new();
        for _ in 0..bench.requests {
            let started = Instant::now();
            let answer = client.call("LookupEvents", body)?;
            anyhow::ensure!(answer.status == 200, "LookupEvents over {name}: {answer:?}");
            kept.push(started.elapsed());
        }
        let _ = writeln!(
            out,
            "{name:5}: new connection + LookupEvents {}; on a kept connection {} ({} calls each)",
            p50_p99(&mut fresh),
            p50_p99(&mut kept),
            bench.requests
        );
    }
    let _ = stop.send(true);
    runtime.block_on(plain_task)??;
    runtime.block_on(secure_task)??;
    drop(runtime);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }
    Ok(out)
}
