//! `cairn serve`: opens the store, resolves the principals, and runs the API server (HTTP, or
//! HTTPS with `--tls-cert` and `--tls-key`) until SIGTERM or Ctrl-C; then finishes the
//! requests in flight, stores their audit events and closes the store (everything acknowledged
//! is durable) before exiting 0.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_server::Config;
use cairn_server::config::bootstrap;
use cairn_server::delivery::DeliverySettings;

use crate::{DataDirArgs, open_store};

/// Where `cairn serve` listens by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7700";

pub fn run(
    data: &DataDirArgs,
    listen: &str,
    config_path: Option<&Path>,
    upstream: Option<String>,
    tls: Option<(PathBuf, PathBuf)>,
) -> Result<()> {
    // Read before anything starts: a wrong certificate or key stops cairn at once.
    let tls = match &tls {
        Some((cert, key)) => Some(
            cairn_server::tls::server_config(cert, key)
                .map_err(anyhow::Error::msg)
                .context("setting up HTTPS")?,
        ),
        None => None,
    };
    let store = Arc::new(open_store(&data.data_dir, data.retention_days)?);
    let config = match config_path {
        Some(path) => Config::load(path)?,
        None => {
            let (config, generated) = bootstrap(&data.data_dir, |name| std::env::var(name).ok())?;
            if let Some(root) = generated {
                // The secret is not printed (an output may be logged): it is in the file,
                // which only its owner may read, in the AWS CLI's credentials format.
                let file = data
                    .data_dir
                    .join(cairn_server::config::ROOT_CREDENTIALS_FILE);
                println!(
                    "cairn generated an admin access key for account {}: {}; it is kept, with \
                     its secret, in {} (readable by you only). Use it with:\n  \
                     export AWS_SHARED_CREDENTIALS_FILE={}",
                    root.account_id,
                    root.access_key_id,
                    file.display(),
                    std::path::absolute(&file).unwrap_or(file.clone()).display()
                );
            }
            config
        }
    };
    let mut config = config;
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    if let Some(upstream) = upstream {
        config.capture.upstream = Some(upstream);
    }
    let delivery = DeliverySettings::resolve(&data.data_dir, &config.delivery, |name| {
        std::env::var(name).ok()
    })
    .map_err(anyhow::Error::msg)
    .context("configuring trail delivery")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("cairn listening on {scheme}://{address}");
        std::io::stdout().flush().ok();
        match tls {
            Some(tls) => {
                let listener = cairn_server::tls::TlsListener::new(listener, tls)?;
                cairn_server::run(store.clone(), config, delivery, listener, shutdown_signal())
                    .await
            }
            None => {
                cairn_server::run(store.clone(), config, delivery, listener, shutdown_signal())
                    .await
            }
        }
        .context("serving the API")
    })?;
    drop(runtime);
    match Arc::try_unwrap(store) {
        Ok(store) => store.close(),
        Err(_) => anyhow::bail!("the store is still in use after shutdown"),
    }
    println!("cairn stopped; every acknowledged event is durable");
    Ok(())
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
