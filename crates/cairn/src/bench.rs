//! `cairn bench`: a deterministic generator of realistic delivered trail log files, and the
//! benchmarks: import throughput, bytes per event on disk (against DuckDB's zstd Parquet of
//! the same records) and lookup latency (`run`); the HTTP API (`api`, in `bench/api.rs`);
//! trail delivery throughput and lag (`delivery`, in `bench/delivery.rs`); the latency the
//! capture proxy adds (`capture`, in `bench/capture.rs`); Lake SQL against DuckDB (`sql`, in
//! `bench/sql.rs`); the console in a browser (`console`, in `bench/console.rs`).
//!
//! The generator writes gzipped `{"Records":[...]}` files in AWS's key layout, ~2,000 records a
//! file, over many accounts, regions, services and identity types, with errors and S3 data
//! events, from a seeded PRNG: the same arguments always give the same bytes. As in real trails,
//! identities repeat (users and roles keep their ids and keys, role sessions last an hour) while
//! event and request ids, object keys and instances are new (see `World::identity`).

mod api;
pub mod capture;
pub mod console;
pub mod crash;
pub mod delivery;
pub mod rules;
pub mod sql;
pub mod tls;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_model::lookup::MAX_RESULTS;
use cairn_model::time::{civil_date, format_event_time, parse_event_time};
use cairn_model::{LookupAttributeKey, LookupQuery};
use cairn_store::{Store, StoreOptions};
use serde_json::{Value, json};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Write realistic delivered trail log files (gzipped, AWS key layout) into OUT.
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        #[arg(long, default_value_t = 2_000)]
        records_per_file: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Every event in one account and region (the console's worst case: one scope holds
        /// them all), instead of 16 accounts over many regions.
        #[arg(long)]
        one_scope: bool,
    },
    /// Import generated files into a fresh store and print throughput, size and lookup latency.
    Run {
        /// Generated log files (see `cairn bench generate`); generated here if missing. The
        /// default names the generator's version (2: principals and sessions that repeat, as
        /// in real trails; version 1 gave every event new ones).
        #[arg(long, default_value = "bench-data/logs-v2")]
        files: PathBuf,
        /// Records to generate when FILES does not exist yet.
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// A fresh data directory for the benchmark's store (deleted first).
        #[arg(long, default_value = "bench-data/store")]
        data_dir: PathBuf,
        /// Python with DuckDB (scripts/setup-python.sh installs one in .venv).
        #[arg(long, default_value = ".venv/bin/python")]
        python: PathBuf,
        /// Lookups timed per kind.
        #[arg(long, default_value_t = 300)]
        lookups: usize,
    },
    /// LookupEvents through the HTTP API with concurrent signed clients, on the store `run`
    /// filled; prints requests/s, latency percentiles and how soon a call's audit event is
    /// visible.
    Api {
        /// A store filled by `cairn bench run`.
        #[arg(long, default_value = "bench-data/store")]
        data_dir: PathBuf,
        /// Concurrent clients (threads, each with its own connection).
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// How long the clients call, per load.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The store's cache of recently read records, in MiB (0: none).
        #[arg(long, default_value_t = 64)]
        record_cache_mib: usize,
    },
    /// Trail delivery: throughput of one round over a backlog, and the lag from event to
    /// delivered object under a steady load, to local folders or an S3-compatible server.
    Delivery(delivery::DeliveryBench),
    /// The capture proxy: the latency it adds to a call against calling the upstream directly,
    /// at a fixed rate, with durable recording.
    Capture(capture::CaptureBench),
    /// Lake SQL over an event data store of the generated records, against DuckDB over its
    /// Parquet of them and over the log files; in process and through the API.
    Sql(sql::SqlBench),
    /// The console in a browser: event history's first page after navigation, and the
    /// download's throughput, over a store of generated events.
    Console(console::ConsoleBench),
    /// EventBridge-style rules: matching with 100 rules, and stored-to-webhook latency.
    Rules(rules::RulesBench),
    /// HTTPS against plain HTTP: LookupEvents on new and on kept connections.
    Tls(tls::TlsBench),
    /// The fault benchmark: `cairn serve` killed with SIGKILL at random moments of 100 rounds
    /// of mixed load (captured calls, API calls, imports, trail delivery, rules, Lake
    /// queries), every promise checked after each restart.
    CrashLoop(crash::CrashBench),
}

pub fn run(command: BenchCommand) -> Result<ExitCode> {
    match command {
        BenchCommand::CrashLoop(bench) => {
            print!("{}", crash::run_crash_benchmark(&bench)?);
        }
        BenchCommand::Tls(bench) => {
            print!("{}", tls::run_tls_benchmark(&bench)?);
        }
        BenchCommand::Rules(bench) => {
            print!("{}", rules::run_rules_benchmark(&bench)?);
        }
        BenchCommand::Console(bench) => {
            print!("{}", console::run_console_benchmark(&bench)?);
        }
        BenchCommand::Sql(bench) => {
            print!("{}", sql::run_sql_benchmark(&bench)?);
        }
        BenchCommand::Capture(bench) => {
            print!("{}", capture::run_capture_benchmark(&bench)?);
        }
        BenchCommand::Delivery(bench) => {
            print!("{}", delivery::run_delivery_benchmark(&bench)?);
        }
        BenchCommand::Api {
            data_dir,
            clients,
            seconds,
            record_cache_mib,
        } => {
            let options = StoreOptions {
                record_cache_bytes: record_cache_mib << 20,
                ..StoreOptions::default()
            };
            let report = api::run_api_benchmark(&data_dir, &options, clients, seconds)?;
            print!("{report}");
        }
        BenchCommand::Generate {
            out,
            records,
            records_per_file,
            seed,
            one_scope,
        } => {
            let report = generate(&out, records, records_per_file, seed, one_scope)?;
            println!(
                "wrote {} records in {} files ({} bytes gzipped) to {}",
                report.records,
                report.files,
                report.bytes,
                out.display()
            );
        }
        BenchCommand::Run {
            files,
            records,
            data_dir,
            python,
            lookups,
        } => {
            if !files.exists() {
                println!("generating {records} records into {}", files.display());
                generate(&files, records, 2_000, 1, false)?;
            }
            print!("{}", run_benchmark(&files, &data_dir, &python, lookups)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// SplitMix64: small, fast, and the same sequence everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A generator seeded by `parts` alone: the same parts always give the same ids.
    fn derived(parts: &[&str]) -> Rng {
        // FNV-1a over the parts, each ended by a 0 byte.
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for byte in parts.iter().flat_map(|p| p.bytes().chain([0])) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng::new(hash)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            let _ = write!(s, "{:016x}", self.next_u64());
        }
        s.truncate(len);
        s
    }

    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    fn upper(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| (b'A' + self.below(26) as u8) as char)
            .collect()
    }
}

/// (eventSource, eventName, readOnly, weight, data event)
const CALLS: &[(&str, &str, bool, u32, bool)] = &[
    ("ec2.amazonaws.com", "DescribeInstances", true, 120, false),
    ("ec2.amazonaws.com", "DescribeVolumes", true, 40, false),
    (
        "ec2.amazonaws.com",
        "DescribeSecurityGroups",
        true,
        30,
        false,
    ),
    ("ec2.amazonaws.com", "RunInstances", false, 6, false),
    ("ec2.amazonaws.com", "TerminateInstances", false, 4, false),
    ("ec2.amazonaws.com", "CreateVolume", false, 4, false),
    ("ec2.amazonaws.com", "AttachVolume", false, 3, false),
    ("ec2.amazonaws.com", "CreateTags", false, 8, false),
    ("sts.amazonaws.com", "AssumeRole", true, 90, false),
    ("sts.amazonaws.com", "GetCallerIdentity", true, 20, false),
    ("iam.amazonaws.com", "ListRoles", true, 10, false),
    ("iam.amazonaws.com", "CreateAccessKey", false, 1, false),
    ("s3.amazonaws.com", "GetObject", true, 150, true),
    ("s3.amazonaws.com", "PutObject", false, 60, true),
    ("s3.amazonaws.com", "ListBuckets", true, 10, false),
    ("s3.amazonaws.com", "GetBucketAcl", true, 15, false),
    ("kms.amazonaws.com", "Decrypt", true, 80, false),
    ("kms.amazonaws.com", "GenerateDataKey", true, 40, false),
    ("ssm.amazonaws.com", "GetParameter", true, 30, false),
    ("ssm.amazonaws.com", "SendCommand", false, 2, false),
    ("ssm.amazonaws.com", "DeleteDocument", false, 1, false),
    (
        "monitoring.amazonaws.com",
        "PutMetricAlarm",
        false,
        2,
        false,
    ),
    (
        "monitoring.amazonaws.com",
        "DescribeAlarms",
        true,
        25,
        false,
    ),
    ("logs.amazonaws.com", "CreateLogStream", false, 20, false),
    ("lambda.amazonaws.com", "Invoke", false, 40, true),
    ("dynamodb.amazonaws.com", "DescribeTable", true, 15, false),
    ("cloudtrail.amazonaws.com", "LookupEvents", true, 5, false),
    ("cloudtrail.amazonaws.com", "StopLogging", false, 1, false),
    (
        "ec2-instance-connect.amazonaws.com",
        "SendSSHPublicKey",
        false,
        2,
        false,
    ),
    ("signin.amazonaws.com", "ConsoleLogin", false, 2, false),
];

const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
    "ap-southeast-2",
    "sa-east-1",
];
const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/ec2.describe-instances",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0",
    "console.amazonaws.com",
    "aws-sdk-java/1.12.681 Linux/5.10.210 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS java/17.0.10 vendor/Amazon.com_Inc.",
    "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.41.0 aws-sdk-go-v2/1.25.3",
];
const ERRORS: &[(&str, &str)] = &[
    (
        "AccessDenied",
        "User is not authorized to perform this operation",
    ),
    (
        "Client.UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    ),
    ("ThrottlingException", "Rate exceeded"),
    (
        "Client.InvalidInstanceID.NotFound",
        "The instance ID 'i-0123456789abcdef0' does not exist",
    ),
];

/// Role sessions in use at once, per account and role, each lasting an hour.
const ROLE_SESSIONS_AN_HOUR: usize = 6;
/// KMS keys per account and region.
const KMS_KEYS: usize = 4;

/// The console's session key (ASIA) of `principal` in `account` for one hour.
fn console_key(account: &str, principal: &str, hour: i64) -> String {
    let hour = hour.to_string();
    format!(
        "ASIA{}",
        Rng::derived(&[account, principal, "console", &hour]).upper(16)
    )
}

/// The world the generated events happen in.
struct World {
    accounts: Vec<String>,
    users: Vec<String>,
    roles: Vec<String>,
    buckets: Vec<String>,
    ips: Vec<String>,
    weights_total: u32,
}

impl World {
    fn new(rng: &mut Rng) -> World {
        let accounts = (0..16)
            .map(|_| format!("{:012}", rng.next_u64() % 1_000_000_000_000))
            .collect();
        let users = (0..60)
            .map(|i| {
                format!(
                    "{}-{i}",
                    rng.pick(&["alice", "bob", "deploy", "ci", "admin", "svc-backup"])
                )
            })
            .collect();
        let roles = (0..25)
            .map(|i| {
                format!(
                    "{}-{i}",
                    rng.pick(&[
                        "OrganizationAccountAccessRole",
                        "eks-node",
                        "lambda-exec",
                        "ReadOnly",
                        "AWSReservedSSO_Admin"
                    ])
                )
            })
            .collect();
        let buckets = (0..30)
            .map(|i| format!("data-{}-{i}", rng.hex(6)))
            .collect();
        let ips = (0..400)
            .map(|_| {
                format!(
                    "{}.{}.{}.{}",
                    1 + rng.below(222),
                    rng.below(256),
                    rng.below(256),
                    1 + rng.below(254)
                )
            })
            .collect();
        World {
            accounts,
            users,
            roles,
            buckets,
            ips,
            weights_total: CALLS.iter().map(|c| c.3).sum(),
        }
    }

    fn call(&self, rng: &mut Rng) -> &'static (&'static str, &'static str, bool, u32, bool) {
        let mut n = (rng.next_u64() % u64::from(self.weights_total)) as u32;
        for call in CALLS {
            if n < call.3 {
                return call;
            }
            n -= call.3;
        }
        &CALLS[0]
    }

    /// Who made a call. As in real trails, principals and their credentials repeat: an IAM
    /// user keeps its id and long-term access keys (AKIA), a role its id; a role session
    /// (ASIA key, session name, creation date) lasts the hour it was made in and is one of
    /// a few that hour; the console issues a user or root an hour's session key. (In the
    /// delivered logs of `../shared/datasets`, principalId is 0.1% distinct and
    /// accessKeyId 1.1%.)
    fn identity(&self, rng: &mut Rng, account: &str, time_ms: i64) -> Value {
        let hour = time_ms.div_euclid(3_600_000);
        match rng.below(100) {
            0..=44 => {
                let role = rng.pick(&self.roles);
                let role_id = format!("AROA{}", Rng::derived(&[account, role]).upper(17));
                let slot = rng.below(ROLE_SESSIONS_AN_HOUR).to_string();
                let mut session_rng = Rng::derived(&[account, role, &hour.to_string(), &slot]);
                let session = if session_rng.chance(50) {
                    format!("i-0{}", session_rng.hex(16))
                } else {
                    format!("botocore-session-{}", session_rng.below(1 << 30))
                };
                let key = format!("ASIA{}", session_rng.upper(16));
                let created = hour * 3_600_000 + session_rng.below(3_600) as i64 * 1000;
                json!({"type": "AssumedRole", "principalId": format!("{role_id}:{session}"),
                    "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
                    "accountId": account, "accessKeyId": key,
                    "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": role_id,
                        "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role},
                        "webIdFederationData": {},
                        "attributes": {"creationDate": format_event_time(created), "mfaAuthenticated": "false"}}})
            }
            45..=84 => {
                let user = rng.pick(&self.users);
                let mut user_rng = Rng::derived(&[account, user]);
                let principal_id = format!("AIDA{}", user_rng.upper(17));
                // Two long-term keys, or the console's session key of this hour.
                let key = match rng.below(10) {
                    0..=5 => format!("AKIA{}", user_rng.upper(16)),
                    6..=8 => format!("AKIA{}", Rng::derived(&[account, user, "2"]).upper(16)),
                    _ => console_key(account, user, hour),
                };
                json!({"type": "IAMUser", "principalId": principal_id,
                    "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account,
                    "accessKeyId": key, "userName": user})
            }
            85..=89 => {
                json!({"type": "Root", "principalId": account, "arn": format!("arn:aws:iam::{account}:root"),
                "accountId": account, "accessKeyId": console_key(account, "root", hour)})
            }
            _ => {
                json!({"type": "AWSService", "invokedBy": rng.pick(&["ec2.amazonaws.com", "lambda.amazonaws.com", "cloudformation.amazonaws.com"])})
            }
        }
    }

    fn record(&self, rng: &mut Rng, account: &str, region: &str, time_ms: i64) -> Value {
        let &(source, name, read_only, _, data) = self.call(rng);
        let identity = self.identity(rng, account, time_ms);
        let error = (!data && rng.chance(5)).then(|| *rng.pick(ERRORS));
        let instance = format!("i-0{}", rng.hex(16));
        let bucket = rng.pick(&self.buckets).clone();
        let (params, response, resources) = match name {
            "DescribeInstances" => (
                json!({"instancesSet": {}, "filterSet": {"items": [{"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}}]}}),
                Value::Null,
                Value::Null,
            ),
            "RunInstances" => (
                json!({"instancesSet": {"items": [{"imageId": format!("ami-0{}", rng.hex(16)), "minCount": 1, "maxCount": 1}]}, "instanceType": "t3.micro", "blockDeviceMapping": {}, "monitoring": {"enabled": false}, "disableApiTermination": false}),
                json!({"requestId": rng.uuid(), "reservationId": format!("r-0{}", rng.hex(16)), "ownerId": account, "instancesSet": {"items": [{"instanceId": instance, "currentState": {"code": 0, "name": "pending"}}]}}),
                json!([{"accountId": account, "type": "AWS::EC2::Instance", "ARN": format!("arn:aws:ec2:{region}:{account}:instance/{instance}")}]),
            ),
            "TerminateInstances" => (
                json!({"instancesSet": {"items": [{"instanceId": instance}]}}),
                json!({"requestId": rng.uuid(), "instancesSet": {"items": [{"instanceId": instance, "currentState": {"code": 32, "name": "shutting-down"}, "previousState": {"code": 16, "name": "running"}}]}}),
                json!([{"accountId": account, "type": "AWS::EC2::Instance", "ARN": format!("arn:aws:ec2:{region}:{account}:instance/{instance}")}]),
            ),
            "GetObject" | "PutObject" => {
                let key = format!("logs/{}/{}.json", 2024, rng.hex(12));
                (
                    json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"), "key": key}),
                    if name == "PutObject" {
                        json!({"x-amz-server-side-encryption": "AES256"})
                    } else {
                        Value::Null
                    },
                    json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")}, {"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]),
                )
            }
            "AssumeRole" => (
                json!({"roleArn": format!("arn:aws:iam::{account}:role/{}", rng.pick(&self.roles)), "roleSessionName": format!("session-{}", rng.below(100_000)), "durationSeconds": 3600}),
                json!({"credentials": {"accessKeyId": format!("ASIA{}", rng.upper(16)), "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "expiration": "Jan 1, 2024, 1:00:00 AM"}}),
                json!([{"accountId": account, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{account}:role/{}", rng.pick(&self.roles))}]),
            ),
            "Decrypt" | "GenerateDataKey" => {
                // A few keys an account and region.
                let slot = rng.below(KMS_KEYS).to_string();
                let key_id = Rng::derived(&[account, region, &slot]).uuid();
                (
                    json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": format!("arn:aws:kms:{region}:{account}:key/{key_id}")}),
                    Value::Null,
                    json!([{"accountId": account, "type": "AWS::KMS::Key", "ARN": format!("arn:aws:kms:{region}:{account}:key/{key_id}")}]),
                )
            }
            "SendSSHPublicKey" => (
                json!({"instanceId": instance, "instanceOSUser": "ec2-user", "sSHPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLE"}),
                json!({"requestId": rng.uuid(), "success": true}),
                Value::Null,
            ),
            _ => (
                json!({"maxResults": 100}),
                if read_only {
                    Value::Null
                } else {
                    json!({"requestId": rng.uuid()})
                },
                Value::Null,
            ),
        };
        let (params, response) = if error.is_some() {
            (params, Value::Null)
        } else {
            (params, response)
        };
        let mut r = json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": format_event_time(time_ms),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": rng.pick(&self.ips),
            "userAgent": rng.pick(AGENTS),
            "requestParameters": params,
            "responseElements": response,
            "requestID": rng.uuid(),
            "eventID": rng.uuid(),
            "readOnly": read_only,
            "eventType": if name == "ConsoleLogin" { "AwsConsoleSignIn" } else { "AwsApiCall" },
            "managementEvent": !data,
            "recipientAccountId": account,
            "eventCategory": if data { "Data" } else { "Management" },
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"))},
        });
        if let Some(map) = r.as_object_mut() {
            if let Some((code, message)) = error {
                map.insert("errorCode".into(), json!(code));
                map.insert("errorMessage".into(), json!(message));
            }
            if !resources.is_null() {
                map.insert("resources".into(), resources);
            }
        }
        r
    }
}

/// What the generator wrote.
#[derive(Debug, Clone, Copy)]
pub struct GenerateReport {
    pub records: usize,
    pub files: usize,
    pub bytes: u64,
}

/// The generated events' time span: 30 days from 2024-03-01, as ms since the epoch.
pub fn generated_span() -> (i64, i64) {
    let start = parse_event_time("2024-03-01T00:00:00Z").unwrap_or_default();
    (start, start + 30 * 86_400_000)
}

/// Writes `records` records in files of `per_file` into `out`, from `seed`; with `one_scope`,
/// all of one account and region.
pub fn generate(
    out: &Path,
    records: usize,
    per_file: usize,
    seed: u64,
    one_scope: bool,
) -> Result<GenerateReport> {
    let mut rng = Rng::new(seed);
    let world = World::new(&mut rng);
    let (start, end) = generated_span();
    let files = records.div_ceil(per_file.max(1));
    // Spread the files over the span; each covers five minutes of one account and region.
    let step = (end - start) / files.max(1) as i64;
    let mut report = GenerateReport {
        records: 0,
        files: 0,
        bytes: 0,
    };
    for f in 0..files {
        let (account, region) = match one_scope {
            true => (world.accounts[0].clone(), REGIONS[0]),
            false => (rng.pick(&world.accounts).clone(), *rng.pick(REGIONS)),
        };
        let window_start = start + f as i64 * step;
        let count = per_file.min(records - report.records);
        let mut times: Vec<i64> = (0..count)
            .map(|_| window_start + rng.below(300_000) as i64 / 1000 * 1000)
            .collect();
        times.sort_unstable();
        let batch: Vec<Value> = times
            .iter()
            .map(|&t| world.record(&mut rng, &account, region, t))
            .collect();
        let (y, m, d) = civil_date(window_start);
        let stamp = format_event_time(window_start).replace(['-', ':'], "");
        let stamp = format!("{}Z", &stamp[..13]);
        let dir = out.join(format!(
            "AWSLogs/{account}/CloudTrail/{region}/{y:04}/{m:02}/{d:02}"
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = format!(
            "{account}_CloudTrail_{region}_{stamp}_{}.json.gz",
            rng.upper(16)
        );
        let json = serde_json::to_vec(&json!({ "Records": batch }))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&json)?;
        let bytes = gz.finish()?;
        std::fs::write(dir.join(&name), &bytes).with_context(|| format!("writing {name}"))?;
        report.records += count;
        report.files += 1;
        report.bytes += bytes.len() as u64;
    }
    Ok(report)
}

/// cairn's server running in this process on a free port (trails idle: none logs).
struct InProcessServer {
    endpoint: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A server configuration with `principals` and nothing else, whose default region is `region`.
fn bench_config(
    region: &str,
    principals: Vec<cairn_server::config::Principal>,
) -> cairn_server::Config {
    cairn_server::Config {
        default_region: region.to_owned(),
        principals: principals
            .into_iter()
            .map(|p| (p.access_key_id.clone(), p))
            .collect(),
        delivery: Default::default(),
        capture: Default::default(),
        lake: Default::default(),
        metrics: Default::default(),
        limits: Default::default(),
    }
}

impl InProcessServer {
    fn start(
        runtime: &tokio::runtime::Runtime,
        store: std::sync::Arc<Store>,
        config: cairn_server::Config,
    ) -> Result<InProcessServer> {
        let delivery = cairn_server::delivery::DeliverySettings::resolve(
            store.dir(),
            &config.delivery,
            |_| None,
        )
        .map_err(anyhow::Error::msg)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("binding a free port")?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(cairn_server::run(
            store,
            config,
            delivery,
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        Ok(InProcessServer {
            endpoint,
            stop,
            task,
        })
    }

    /// A runtime, and a server on it with `principals` (and no delivery, capture or Lake
    /// settings) whose default region is `region`.
    fn start_with(
        store: std::sync::Arc<Store>,
        region: &str,
        principals: Vec<cairn_server::config::Principal>,
    ) -> Result<(tokio::runtime::Runtime, InProcessServer)> {
        let config = bench_config(region, principals);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let server = InProcessServer::start(&runtime, store, config)?;
        Ok((runtime, server))
    }

    /// Stops the server once the requests in flight are answered and their events stored.
    fn stop(self, runtime: &tokio::runtime::Runtime) -> Result<()> {
        let _ = self.stop.send(());
        runtime
            .block_on(self.task)
            .context("the server task failed")?
            .context("serving")
    }
}

/// Runs `scripts/<script>` with the Python at `python` (its DuckDB), `args`, and `stdin`
/// written to it; what it printed. Its errors pass through to the terminal.
fn run_script(python: &Path, script: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    use std::io::Write as _;
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let mut child = std::process::Command::new(python)
        .arg(&script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "running {} (scripts/setup-python.sh installs it)",
                python.display()
            )
        })?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.unwrap_or_default().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("{} {args:?} failed", script.display());
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// The results of worker threads, in order; the first failure wins.
fn join_workers<T>(
    workers: Vec<std::thread::ScopedJoinHandle<'_, Result<Vec<T>>>>,
) -> Result<Vec<T>> {
    let mut all = Vec::new();
    for worker in workers {
        all.extend(
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a worker thread panicked"))??,
        );
    }
    Ok(all)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            total += if path.is_dir() {
                dir_bytes(&path)
            } else {
                entry.metadata().map_or(0, |m| m.len())
            };
        }
    }
    total
}

/// `p50 X ms, p99 Y ms` of `times` (sorted here).
fn p50_p99(times: &mut [Duration]) -> String {
    times.sort_unstable();
    format!(
        "p50 {:.2} ms, p99 {:.2} ms",
        percentile(times, 0.5).as_secs_f64() * 1e3,
        percentile(times, 0.99).as_secs_f64() * 1e3
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Imports `files` into a fresh store in `data_dir`, compares its size with DuckDB's, and times
/// lookups. Returns the report to print.
pub fn run_benchmark(
    files: &Path,
    data_dir: &Path,
    python: &Path,
    lookups: usize,
) -> Result<String> {
    if data_dir.exists() {
        std::fs::remove_dir_all(data_dir)
            .with_context(|| format!("removing {}", data_dir.display()))?;
    }
    let mut out = String::new();
    let list = crate::import::collect_files(&[files.to_owned()])?;
    let input_bytes: u64 = list
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();

    // Import.
    let store = Store::open(data_dir, StoreOptions::default())?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let summary = crate::import::import_files(&store, &list, threads, |_, _| {})?;
    let seconds = summary.elapsed.as_secs_f64();
    let events = summary.imported;
    if events == 0 {
        bail!("nothing was imported from {}", files.display());
    }
    let _ = writeln!(
        out,
        "import: {events} events from {} files ({:.1} MB gzipped) in {seconds:.1} s = {:.0} events/s, peak RSS {} MiB",
        list.len(),
        input_bytes as f64 / 1e6,
        events as f64 / seconds,
        peak_rss_kib().unwrap_or(0) / 1024
    );

    // Size.
    let stats = store.stats()?;
    store.close();
    let disk = dir_bytes(data_dir);
    let _ = writeln!(
        out,
        "size: {disk} bytes on disk ({} in {} segments) = {:.1} bytes/event: Parquet {:.1}, lookup index {:.1}",
        stats.segment_bytes,
        stats.segments,
        disk as f64 / events as f64,
        (stats.segment_bytes - stats.index_bytes) as f64 / events as f64,
        stats.index_bytes as f64 / events as f64,
    );
    let parquet = data_dir.with_extension("duckdb.parquet");
    match duckdb_parquet_bytes(python, files, &parquet) {
        Ok((bytes, rows)) => {
            let _ = writeln!(
                out,
                "size: DuckDB zstd Parquet of the same records: {bytes} bytes for {rows} rows = {:.1} bytes/event; cairn/DuckDB = {:.3}",
                bytes as f64 / rows.max(1) as f64,
                (disk as f64 / events as f64) / (bytes as f64 / rows.max(1) as f64)
            );
        }
        Err(e) => {
            let _ = writeln!(out, "size: DuckDB comparison not run: {e:#}");
        }
    }

    // Lookups, on a freshly opened store without a record cache: every page is read from its
    // segments (`cairn bench api` measures the cache too).
    let options = StoreOptions {
        record_cache_bytes: 0,
        ..StoreOptions::default()
    };
    let store = Store::open(data_dir, options)?;
    let mut rng = Rng::new(7);
    let mut needles = Vec::new();
    let sample = store.lookup(&LookupQuery::default(), None, MAX_RESULTS)?;
    needles.extend(sample.records.iter().map(|r| r.fields.event_id.clone()));
    // Event ids from across the whole time range: start points spread over it.
    let (start, end) = generated_span();
    for _ in 0..lookups.min(200) {
        let t = start + (rng.next_u64() % (end - start) as u64) as i64;
        let q = LookupQuery {
            end_ms: Some(t),
            ..LookupQuery::default()
        };
        if let Some(r) = store.lookup(&q, None, 1)?.records.first() {
            needles.push(r.fields.event_id.clone());
        }
    }
    let kinds: Vec<(&str, QueryMaker<'_>)> = vec![
        (
            "EventId (needle)",
            Box::new(|rng: &mut Rng| LookupQuery {
                attribute: Some((LookupAttributeKey::EventId, rng.pick(&needles).clone())),
                ..LookupQuery::default()
            }),
        ),
        (
            "EventName rare (StopLogging)",
            Box::new(|_: &mut Rng| LookupQuery {
                attribute: Some((LookupAttributeKey::EventName, "StopLogging".into())),
                ..LookupQuery::default()
            }),
        ),
        (
            "EventName common (DescribeInstances)",
            Box::new(|_: &mut Rng| LookupQuery {
                attribute: Some((LookupAttributeKey::EventName, "DescribeInstances".into())),
                ..LookupQuery::default()
            }),
        ),
        (
            "no attribute, one region",
            Box::new(|rng: &mut Rng| LookupQuery {
                region: Some((*rng.pick(REGIONS)).to_owned()),
                ..LookupQuery::default()
            }),
        ),
    ];
    for (name, make) in kinds {
        let mut times = Vec::with_capacity(lookups);
        let mut returned = 0;
        for _ in 0..lookups {
            let query = make(&mut rng);
            let started = Instant::now();
            let page = store.lookup(&query, None, MAX_RESULTS)?;
            times.push(started.elapsed());
            returned += page.records.len();
        }
        let _ = writeln!(
            out,
            "lookup {name}: {} ({:.1} events/page)",
            p50_p99(&mut times),
            returned as f64 / lookups.max(1) as f64
        );
    }
    store.close();
    Ok(out)
}

/// Makes the next query of one kind of lookup.
type QueryMaker<'a> = Box<dyn Fn(&mut Rng) -> LookupQuery + 'a>;

/// Runs `scripts/duckdb_parquet.py` and returns (Parquet bytes, rows).
fn duckdb_parquet_bytes(python: &Path, files: &Path, out: &Path) -> Result<(u64, u64)> {
    let text = run_script(
        python,
        "duckdb_parquet.py",
        &[&files.to_string_lossy(), &out.to_string_lossy()],
        None,
    )?;
    let mut parts = text.split_whitespace();
    let bytes = parts
        .next()
        .and_then(|b| b.parse().ok())
        .context("DuckDB script printed no size")?;
    let rows = parts
        .next()
        .and_then(|r| r.parse().ok())
        .context("DuckDB script printed no row count")?;
    Ok((bytes, rows))
}
