//! `cairn validate-logs`: checks a trail's delivered log files against its signed digests,
//! as `aws cloudtrail validate-logs` does and with the checks it lacks
//! (`cairn_server::delivery::validate`). Its output has the AWS CLI's shape: a header,
//! invalid files on stderr, valid ones on stdout with `--verbose`, and the summary; the exit
//! status is 1 when any file is invalid.
//!
//! The trail and its region's public keys come from a running cairn (`--endpoint-url`, through
//! DescribeTrails and ListPublicKeys, as the AWS CLI gets them) or, without one, straight from
//! the data directory (the server must be stopped: the directory is locked while it runs).
//! The files are read from the delivery target configured as for `cairn serve`.

use cairn_model::time::now_ms;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_server::delivery::digest::DigestPlace;
use cairn_server::delivery::validate::{FileKind, PublicKeys, Report, Validation, validate};
use cairn_server::delivery::{DeliverySettings, Target, format_seconds};
use cairn_server::signing_keys::SigningKeys;
use cairn_server::trails::Trails;
use serde_json::json;

use crate::lookup_events::{ApiClient, find_credentials};
use crate::{DataDirArgs, open_store};

/// What to validate, as the command line gives it.
#[derive(Debug, Clone)]
pub struct ValidateArgs {
    pub data: DataDirArgs,
    pub trail_arn: String,
    pub start_ms: i64,
    /// Default: now.
    pub end_ms: Option<i64>,
    pub verbose: bool,
    pub endpoint_url: Option<String>,
    pub config: Option<std::path::PathBuf>,
    /// How an https:// endpoint is checked.
    pub tls: crate::lookup_events::TlsArgs,
}

/// The parts of a trail ARN: `arn:<partition>:cloudtrail:<region>:<account>:trail/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailArn {
    pub region: String,
    pub account_id: String,
    pub name: String,
}

impl TrailArn {
    /// Parses an ARN the way the AWS CLI accepts it.
    pub fn parse(arn: &str) -> Result<TrailArn> {
        let invalid = || anyhow::anyhow!("Invalid trail ARN provided: {arn}");
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [scheme, partition, service, region, account, resource] = parts[..] else {
            return Err(invalid());
        };
        let name = resource.strip_prefix("trail/").ok_or_else(invalid)?;
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        if scheme != "arn"
            || partition.is_empty()
            || service != "cloudtrail"
            || region.is_empty()
            || !account_ok
            || name.is_empty()
        {
            return Err(invalid());
        }
        Ok(TrailArn {
            region: region.to_owned(),
            account_id: account.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// Runs the validation and prints its report; exit 0 when everything is valid.
pub fn run(args: &ValidateArgs) -> Result<ExitCode> {
    let arn = TrailArn::parse(&args.trail_arn)?;
    let end_ms = args.end_ms.unwrap_or_else(now_ms);
    if args.start_ms > end_ms {
        bail!("Invalid time range specified: start-time must occur before end-time");
    }
    let delivery_config = match &args.config {
        Some(path) => cairn_server::Config::load(path)?.delivery,
        None => cairn_server::config::DeliveryConfig::default(),
    };
    let settings = DeliverySettings::resolve(&args.data.data_dir, &delivery_config, |name| {
        std::env::var(name).ok()
    })
    .map_err(anyhow::Error::msg)
    .context("configuring where trails deliver")?;
    let mut source = match &args.endpoint_url {
        Some(endpoint) => TrailSource::endpoint(endpoint, &arn, &args.tls)?,
        None => TrailSource::data_dir(&args.data.data_dir, args.data.retention_days)?,
    };
    let place = source.find_trail(&args.trail_arn, &arn)?;
    let validation = Validation {
        place,
        start_ms: args.start_ms,
        end_ms,
    };
    println!(
        "Validating log files for trail {} between {} and {}\n",
        args.trail_arn,
        format_seconds(args.start_ms),
        format_seconds(end_ms)
    );
    let report = validate_with(&settings.target, &validation, &mut source)?;
    print_report(&report, &validation, args.verbose);
    Ok(if report.all_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn validate_with(
    target: &Target,
    validation: &Validation,
    source: &mut TrailSource,
) -> Result<Report> {
    let (start_s, end_s) = (
        validation.start_ms.div_euclid(1000),
        // The AWS CLI asks for keys up to two hours past the end: digests after it sign
        // the last log files.
        validation.end_ms.div_euclid(1000) + 7200,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime
        .block_on(validate(target, validation, &mut |region| {
            source
                .public_keys(region, start_s, end_s)
                .map_err(|e| format!("{e:#}"))
        }))
        .map_err(anyhow::Error::msg)
        .context("reading the trail's files")
}

fn print_report(report: &Report, validation: &Validation, verbose: bool) {
    for note in &report.notes {
        eprintln!("{note}\n");
    }
    for finding in &report.findings {
        let kind = match finding.kind {
            FileKind::Digest => "Digest file",
            FileKind::Log => "Log file",
        };
        match &finding.problem {
            Some(problem) => eprintln!("{kind}\t{}\t{problem}\n", finding.location),
            None if verbose => println!("{kind}\t{}\tvalid", finding.location),
            None => {}
        }
    }
    println!(
        "\nResults requested for {} to {}",
        format_seconds(validation.start_ms),
        format_seconds(validation.end_ms)
    );
    if report.findings.is_empty() {
        println!("No digests found");
        return;
    }
    match (report.found_start_ms, report.found_end_ms) {
        (Some(start), Some(end)) => println!(
            "Results found for {} to {}:",
            format_seconds(start),
            format_seconds(end)
        ),
        _ => println!("No valid digests found in range"),
    }
    for (kind, name) in [(FileKind::Digest, "digest"), (FileKind::Log, "log")] {
        let (valid, invalid) = report.count(kind);
        let total = valid + invalid;
        if total > 0 {
            print!("\n{valid}/{total} {name} files valid");
            if invalid > 0 {
                print!(", {invalid}/{total} {name} files INVALID");
            }
        }
    }
    println!("\n");
}

/// Where the trail's description and public keys come from.
enum TrailSource {
    /// A running cairn, asked as the AWS CLI asks CloudTrail.
    Endpoint { client: ApiClient },
    /// The data directory itself.
    DataDir { trails: Trails, keys: SigningKeys },
}

impl TrailSource {
    fn endpoint(
        endpoint: &str,
        arn: &TrailArn,
        tls: &crate::lookup_events::TlsArgs,
    ) -> Result<TrailSource> {
        let credentials = find_credentials(|name| std::env::var(name).ok())?;
        // The trail's home region answers for it.
        let client = ApiClient::with_tls(endpoint, credentials, &arn.region, tls)?;
        Ok(TrailSource::Endpoint { client })
    }

    fn data_dir(data_dir: &Path, retention_days: Option<u32>) -> Result<TrailSource> {
        let store = Arc::new(
            open_store(data_dir, retention_days)
                .context("opening the data directory (use --endpoint-url while cairn serves it)")?,
        );
        let trails = Trails::load(store.clone()).map_err(anyhow::Error::msg)?;
        let keys = SigningKeys::load(store).map_err(anyhow::Error::msg)?;
        Ok(TrailSource::DataDir { trails, keys })
    }

    fn find_trail(&mut self, trail_arn: &str, arn: &TrailArn) -> Result<DigestPlace> {
        match self {
            TrailSource::Endpoint { client } => {
                let body = json!({"trailNameList": [trail_arn], "includeShadowTrails": true});
                let answer = call(client, "DescribeTrails", &body)?;
                let trail = answer["trailList"]
                    .as_array()
                    .and_then(|list| list.iter().find(|t| t["TrailARN"] == trail_arn))
                    .ok_or_else(|| anyhow::anyhow!("Trail not found: {trail_arn}"))?;
                let text = |field: &str| trail[field].as_str().map(str::to_owned);
                Ok(DigestPlace {
                    bucket: text("S3BucketName").context("the trail has no S3BucketName")?,
                    prefix: text("S3KeyPrefix"),
                    account_id: arn.account_id.clone(),
                    trail_name: text("Name").unwrap_or_else(|| arn.name.clone()),
                    home_region: text("HomeRegion").unwrap_or_else(|| arn.region.clone()),
                })
            }
            TrailSource::DataDir { trails, .. } => {
                let edit = trails.edit().map_err(|e| anyhow::anyhow!(e.message))?;
                let trail = edit
                    .items
                    .iter()
                    .find(|t| t.arn() == trail_arn)
                    .ok_or_else(|| anyhow::anyhow!("Trail not found: {trail_arn}"))?;
                Ok(DigestPlace::of(trail))
            }
        }
    }

    fn public_keys(&mut self, region: &str, start_s: i64, end_s: i64) -> Result<PublicKeys> {
        let listed: Vec<(String, String)> = match self {
            TrailSource::Endpoint { client } => {
                let client = client.in_region(region);
                let body = json!({"StartTime": start_s, "EndTime": end_s});
                call(&client, "ListPublicKeys", &body)?["PublicKeyList"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|key| {
                        Some((
                            key["Fingerprint"].as_str()?.to_owned(),
                            key["Value"].as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            }
            TrailSource::DataDir { keys, .. } => keys
                .public_keys(region, start_s, end_s)
                .map_err(anyhow::Error::msg)?
                .into_iter()
                .map(|key| (key.fingerprint, key.public_key))
                .collect(),
        };
        let mut keys = HashMap::new();
        for (fingerprint, value) in listed {
            let der = BASE64
                .decode(&value)
                .with_context(|| format!("public key {fingerprint} is not base64"))?;
            keys.insert(fingerprint, der);
        }
        Ok(keys)
    }
}

/// Calls `operation`; a service error becomes the AWS CLI's message.
fn call(
    client: &ApiClient,
    operation: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value> {
    let answer = client.call(operation, &serde_json::to_vec(body)?)?;
    match answer.error() {
        Some(e) => bail!("{}", e.aws_cli_message(operation)),
        None => Ok(answer.body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_arns_are_checked_as_the_aws_cli_checks_them() {
        let arn = TrailArn::parse("arn:aws:cloudtrail:eu-west-1:123456789012:trail/audit").unwrap();
        assert_eq!(
            arn,
            TrailArn {
                region: "eu-west-1".into(),
                account_id: "123456789012".into(),
                name: "audit".into()
            }
        );
        for bad in [
            "audit",
            "arn:aws:s3:eu-west-1:123456789012:trail/audit",
            "arn:aws:cloudtrail:eu-west-1:1234:trail/audit",
            "arn:aws:cloudtrail:eu-west-1:123456789012:bucket/audit",
            "arn:aws:cloudtrail:eu-west-1:123456789012:trail/",
        ] {
            let error = TrailArn::parse(bad).unwrap_err().to_string();
            assert_eq!(error, format!("Invalid trail ARN provided: {bad}"));
        }
    }
}
