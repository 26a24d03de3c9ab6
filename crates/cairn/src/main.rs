//! The `cairn` binary: parses the command line and runs a subcommand.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use cairn::import::{ImportSummary, collect_files, import_files, render_summary};
use cairn::lookup_events::{
    LookupArgs, ServiceError, find_credentials, parse_lookup_attribute, parse_time_arg,
    render_json, render_table, run_lookup, run_remote_lookup,
};
use cairn::{DataDirArgs, open_store};
use cairn_model::LookupEventsRequest;
use cairn_server::event_data_stores::EventDataStores;
use clap::{Parser, Subcommand, ValueEnum};

/// Every allocation of the binary goes through mimalloc (see the workspace Cargo.toml for why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// cairn: a self-hosted audit trail service that behaves like AWS CloudTrail.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import delivered CloudTrail log files and exports into the event store.
    ///
    /// PATH is a file or a directory (read recursively). Accepted: `.json` and `.json.gz`
    /// `{"Records":[...]}` log files, JSON arrays of records, single records and JSON Lines,
    /// gzipped or not, whatever the file name. Digest files and other files are skipped and
    /// reported; records that are not CloudTrail events are rejected with the reason. Importing
    /// the same files again adds nothing. Exits non-zero only when nothing could be read or on
    /// I/O errors.
    Import {
        #[command(flatten)]
        data: DataDirArgs,
        /// List every rejected record and skipped file, not only the first 20 of each.
        #[arg(long)]
        verbose: bool,
        /// Threads that read and parse files (default: the number of CPUs).
        #[arg(long)]
        threads: Option<usize>,
        /// Also add the events this import stores to this event data store (its ID or ARN),
        /// whatever its selectors; the store's retention still applies.
        #[arg(long, value_name = "ID_OR_ARN")]
        event_data_store: Option<String>,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Run one CloudTrail Lake query (a SELECT naming event data stores by ID) over the data
    /// directory while `cairn serve` is stopped, or through a running cairn's API.
    Query {
        #[command(flatten)]
        data: DataDirArgs,
        /// Run it through this endpoint's API (StartQuery, DescribeQuery, GetQueryResults),
        /// signing with the AWS CLI's credential sources, instead of on the data directory.
        #[arg(long)]
        endpoint_url: Option<String>,
        #[command(flatten)]
        tls: cairn::lookup_events::TlsArgs,
        /// The region to call (with --endpoint-url; default AWS_REGION or the profile's).
        #[arg(long)]
        region: Option<String>,
        /// How to print the results.
        #[arg(long, value_enum, default_value = "table")]
        output: cairn::query::QueryOutput,
        /// The statement, e.g. "SELECT eventName, count(*) FROM <store ID> GROUP BY 1".
        #[arg(value_name = "SQL")]
        sql: String,
    },
    /// Look up events in the event history, as `aws cloudtrail lookup-events` does.
    ///
    /// Newest first; every page is read unless --max-items stops it. Without --account and
    /// --region, events of every account and region are searched.
    LookupEvents {
        #[command(flatten)]
        data: DataDirArgs,
        /// One attribute to match exactly: `AttributeKey=KEY,AttributeValue=VALUE`, KEY one of
        /// EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource,
        /// AccessKeyId.
        #[arg(long, value_name = "AttributeKey=K,AttributeValue=V", value_parser = parse_lookup_attribute)]
        lookup_attributes: Vec<cairn_model::lookup::LookupAttribute>,
        /// Events at or after this time (ISO 8601 or epoch seconds).
        #[arg(long, value_parser = parse_time_arg)]
        start_time: Option<f64>,
        /// Events at or before this time (ISO 8601 or epoch seconds).
        #[arg(long, value_parser = parse_time_arg)]
        end_time: Option<f64>,
        /// `insight` to look up Insights events instead of management events.
        #[arg(long)]
        event_category: Option<String>,
        /// Print at most this many events, and a NextToken to continue from.
        #[arg(long)]
        max_items: Option<usize>,
        /// Events per page read from the store (1-50).
        #[arg(long)]
        page_size: Option<i64>,
        /// Continue from the NextToken a previous --max-items run printed.
        #[arg(long)]
        starting_token: Option<String>,
        /// Only events of this account (local data directory only: an endpoint answers for
        /// the caller's account).
        #[arg(long)]
        account: Option<String>,
        /// Only events of this region; with --endpoint-url, the region to call (default:
        /// AWS_REGION, AWS_DEFAULT_REGION or the profile's region).
        #[arg(long)]
        region: Option<String>,
        /// Look up through a CloudTrail API endpoint (`cairn serve`, e.g.
        /// http://127.0.0.1:7700) instead of the local data directory, signing with the
        /// standard AWS credential sources: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
        /// AWS_SESSION_TOKEN, else AWS_PROFILE in ~/.aws/credentials and ~/.aws/config.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        #[command(flatten)]
        tls: cairn::lookup_events::TlsArgs,
        #[arg(long, value_enum, default_value_t = Output::Json)]
        output: Output,
    },
    /// Run the CloudTrail API server on the data directory.
    ///
    /// Serves the CloudTrail API (AWS JSON 1.1, SigV4) at `POST /`, `/health` and Prometheus
    /// `/metrics`; with --upstream, also the capture proxy: calls signed for other services
    /// (EC2, S3, SSM, CloudWatch, ...) are verified, forwarded and recorded as their events. Principals come from --config (TOML; see the documentation of
    /// `cairn_server::config`); without one, a Root admin key from CAIRN_ROOT_ACCESS_KEY_ID /
    /// CAIRN_ROOT_SECRET_ACCESS_KEY, or generated on first start into
    /// `<data-dir>/root-credentials` and printed once. SIGTERM or Ctrl-C stops it gracefully.
    Serve {
        #[command(flatten)]
        data: DataDirArgs,
        /// Address to listen on; port 0 picks a free port (the address is printed).
        #[arg(long, env = "CAIRN_LISTEN", default_value = cairn::serve::DEFAULT_LISTEN)]
        listen: String,
        /// Accounts and principals (TOML).
        #[arg(long, env = "CAIRN_CONFIG")]
        config: Option<PathBuf>,
        /// Forward the calls signed for other services than CloudTrail to this URL and record
        /// them as their CloudTrail events (the capture proxy; per-service upstreams in the
        /// config file's [capture] table).
        #[arg(long, env = "CAIRN_UPSTREAM", value_name = "URL")]
        upstream: Option<String>,
        /// Serve HTTPS with this certificate chain (PEM), for the API, the capture proxy and
        /// the console alike; with --tls-key.
        #[arg(
            long,
            env = "CAIRN_TLS_CERT",
            value_name = "FILE",
            requires = "tls_key"
        )]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(
            long,
            env = "CAIRN_TLS_KEY",
            value_name = "FILE",
            requires = "tls_cert"
        )]
        tls_key: Option<PathBuf>,
    },
    /// Validate a trail's delivered log files against its signed digest files.
    ///
    /// Does what `aws cloudtrail validate-logs` does (signatures, hashes, moved digests) and
    /// also reports moved log files, digests whose chain links do not match, digests off the
    /// chain, and every digest of a run of deleted ones (the AWS CLI reports only the newest).
    /// The trail and its public keys come from --endpoint-url (a running cairn) or, without
    /// it, from the data directory (cairn must be stopped); files are read from the delivery
    /// target configured as for `cairn serve` (CAIRN_DELIVERY_TARGET, AWS_ENDPOINT_URL_S3, ...
    /// or --config). Invalid files go to stderr; exits 1 if any file is invalid.
    ValidateLogs {
        #[command(flatten)]
        data: DataDirArgs,
        /// The trail's ARN: arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME.
        #[arg(long)]
        trail_arn: String,
        /// Validate from this time (ISO 8601 or epoch seconds).
        #[arg(long, value_parser = parse_time_arg)]
        start_time: f64,
        /// Validate up to this time (default: now).
        #[arg(long, value_parser = parse_time_arg)]
        end_time: Option<f64>,
        /// Also list every valid file.
        #[arg(long)]
        verbose: bool,
        /// Ask a running cairn (e.g. http://127.0.0.1:7700) for the trail and public keys,
        /// signing with the standard AWS credential sources.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        #[command(flatten)]
        tls: cairn::lookup_events::TlsArgs,
        /// The configuration file whose [delivery] table says where trails deliver.
        #[arg(long, env = "CAIRN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Generate realistic trail log files, or run the import and lookup benchmark.
    #[command(subcommand)]
    Bench(cairn::bench::BenchCommand),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    /// `{"Events": [...]}` exactly as the AWS CLI prints it.
    Json,
    /// The console's event history columns.
    Table,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Import {
            data,
            verbose,
            threads,
            event_data_store,
            paths,
        } => {
            let store = Arc::new(open_store(&data.data_dir, data.retention_days)?);
            let files = collect_files(&paths)?;
            let total: u64 = files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            let bar = if std::io::stderr().is_terminal() {
                indicatif::ProgressBar::new(total)
            } else {
                indicatif::ProgressBar::hidden()
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)",
                )
                .context("progress bar template")?,
            );
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            let import = || {
                import_files(&store, &files, threads, |bytes, records| {
                    bar.set_position(bytes);
                    bar.set_message(format!("{records} records"));
                })
            };
            let (summary, added_to) = match &event_data_store {
                None => (import()?, None),
                Some(reference) => {
                    let stores =
                        EventDataStores::load(store.clone()).map_err(anyhow::Error::msg)?;
                    let now = cairn_model::time::now_secs();
                    let (arn, summary) = stores
                        .import_into(reference, now, || {
                            import().map(ImportSummary::with_already_stored)
                        })
                        .map_err(anyhow::Error::msg)?;
                    (summary, Some(arn))
                }
            };
            bar.finish_and_clear();
            match Arc::try_unwrap(store) {
                Ok(store) => store.close(),
                Err(_) => anyhow::bail!("the store is still in use after the import"),
            }
            if let Some(arn) = added_to {
                println!(
                    "the files' events are in event data store {arn} (those stored before \
                     included)"
                );
            }
            print!(
                "{}",
                render_summary(&summary, if verbose { usize::MAX } else { 20 })
            );
            let nothing_read = summary.records_read() == 0;
            if nothing_read {
                eprintln!("error: no CloudTrail events could be read from the given paths");
            }
            Ok(if nothing_read || !summary.io_errors.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::LookupEvents {
            data,
            lookup_attributes,
            start_time,
            end_time,
            event_category,
            max_items,
            page_size,
            starting_token,
            account,
            region,
            endpoint_url,
            tls,
            output,
        } => {
            let args = LookupArgs {
                request: LookupEventsRequest {
                    lookup_attributes: (!lookup_attributes.is_empty()).then_some(lookup_attributes),
                    start_time,
                    end_time,
                    event_category,
                    max_results: page_size,
                    next_token: starting_token,
                },
                max_items,
                account_id: account,
                region,
            };
            let outcome = match endpoint_url {
                Some(endpoint) => {
                    let credentials = find_credentials(|name| std::env::var(name).ok())?;
                    run_remote_lookup(&endpoint, &credentials, &args, &tls)?
                }
                None => {
                    let store = open_store(&data.data_dir, data.retention_days)?;
                    run_lookup(&store, &args)?.map_err(ServiceError::from)
                }
            };
            match outcome {
                Ok(result) => {
                    let text = match output {
                        Output::Json => render_json(&result)?,
                        Output::Table => render_table(&result),
                    };
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(e.report("LookupEvents")),
            }
        }
        Command::Serve {
            data,
            listen,
            config,
            upstream,
            tls_cert,
            tls_key,
        } => {
            let tls = tls_cert.zip(tls_key);
            cairn::serve::run(&data, &listen, config.as_deref(), upstream, tls)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ValidateLogs {
            data,
            trail_arn,
            start_time,
            end_time,
            verbose,
            endpoint_url,
            tls,
            config,
        } => cairn::validate_logs::run(&cairn::validate_logs::ValidateArgs {
            data,
            trail_arn,
            start_ms: (start_time * 1000.0) as i64,
            end_ms: end_time.map(|t| (t * 1000.0) as i64),
            verbose,
            endpoint_url,
            config,
            tls,
        }),
        Command::Bench(command) => cairn::bench::run(command),
        Command::Query {
            data,
            endpoint_url,
            tls,
            region,
            output,
            sql,
        } => {
            let place = match endpoint_url {
                Some(url) => cairn::query::QueryPlace::Endpoint { url, region, tls },
                None => cairn::query::QueryPlace::Local(data),
            };
            cairn::query::run(&place, &sql, output)
        }
    }
}
