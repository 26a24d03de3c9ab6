//! Every dataset record through import and the store: lossless, once, and found by lookups
//! exactly as a brute-force filter finds it. On the records in the repository (`testdata/`), and
//! again on `../shared/datasets` where it exists.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cairn::import::{ImportSummary, collect_files, import_files, parse_file, read_file};
use cairn_model::time::parse_event_time;
use cairn_model::{LookupAttributeKey, LookupQuery, PageCursor, Record};
use cairn_store::{Store, StoreOptions};
use serde_json::Value;

use crate::{datasets_dir, odd_files_dir, shared_datasets_dir};

/// The records of the files under `roots`, read independently of cairn's importer:
/// (file, record).
fn dataset_values(roots: &[PathBuf]) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    for path in collect_files(roots).unwrap() {
        let name = path.to_string_lossy();
        if [".md", ".py", ".yml", ".index.jsonl"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        let mut bytes = Vec::new();
        if raw.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(raw.as_slice())
                .read_to_end(&mut bytes)
                .unwrap();
        } else {
            bytes = raw;
        }
        let text = String::from_utf8(bytes).unwrap();
        let documents: Vec<Value> = match serde_json::from_str::<Value>(&text) {
            Ok(v) => vec![v],
            Err(_) => text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
        };
        for document in documents {
            let records = match document {
                Value::Object(mut o) if o.get("Records").is_some_and(Value::is_array) => o
                    .remove("Records")
                    .and_then(|r| r.as_array().cloned())
                    .unwrap_or_default(),
                Value::Array(items) => items,
                other => vec![other],
            };
            out.extend(records.into_iter().map(|r| (path.clone(), r)));
        }
    }
    out
}

/// The rule a record must meet to be an event: an object with a parseable eventTime (or
/// Logstash's `@timestamp`) and an eventName or insightDetails.
fn is_event(value: &Value) -> bool {
    let Some(o) = value.as_object() else {
        return false;
    };
    let time = o
        .get("eventTime")
        .or_else(|| o.get("@timestamp"))
        .and_then(Value::as_str);
    time.and_then(parse_event_time).is_some()
        && (o.get("eventName").is_some_and(Value::is_string) || o.contains_key("insightDetails"))
}

struct Imported {
    _dir: tempfile::TempDir,
    store: Store,
    summary: ImportSummary,
    roots: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

/// The files under `roots` imported into a fresh store, in segments of `memtable_max_events`
/// (several segments, so lookups merge across them).
fn import(roots: Vec<PathBuf>, memtable_max_events: usize) -> Imported {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        memtable_max_events,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), options).unwrap();
    let files = collect_files(&roots).unwrap();
    let summary = import_files(&store, &files, 2, |_, _| {}).unwrap();
    Imported {
        _dir: dir,
        store,
        summary,
        roots,
        files,
    }
}

/// The repository's records and odd files, imported once.
fn imported() -> &'static Imported {
    static IMPORTED: OnceLock<Imported> = OnceLock::new();
    IMPORTED.get_or_init(|| import(vec![datasets_dir(), odd_files_dir()], 1_500))
}

/// `../shared/datasets`, imported once, where it exists.
fn imported_shared() -> Option<&'static Imported> {
    static IMPORTED: OnceLock<Option<Imported>> = OnceLock::new();
    IMPORTED
        .get_or_init(|| shared_datasets_dir().map(|dir| import(vec![dir], 6_000)))
        .as_ref()
}

fn stored_records(store: &Store) -> Vec<Record> {
    let mut records = Vec::new();
    store
        .for_each_record(|text| records.push(Record::parse(text).unwrap()))
        .unwrap();
    records
}

#[test]
fn every_dataset_record_reads_back_json_equal_and_exactly_once() {
    // The repository's datasets hold ~10.4k events.
    reads_back_json_equal_and_exactly_once(imported(), 10_000);
}

#[test]
fn every_shared_dataset_record_reads_back_json_equal_and_exactly_once() {
    // `../shared/datasets` holds ~41k events.
    if let Some(imported) = imported_shared() {
        reads_back_json_equal_and_exactly_once(imported, 40_000);
    }
}

fn reads_back_json_equal_and_exactly_once(imported: &Imported, at_least: usize) {
    let values = dataset_values(&imported.roots);
    let events: Vec<&Value> = values
        .iter()
        .map(|(_, v)| v)
        .filter(|v| is_event(v))
        .collect();
    assert!(
        events.len() > at_least,
        "expected more than {at_least} events, found {}",
        events.len()
    );

    // Canonical form: serde_json's Value sorts keys, so equal JSON prints equal.
    let expected: BTreeSet<String> = events.iter().map(|v| v.to_string()).collect();
    let stored: Vec<String> = stored_records(&imported.store)
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.json).unwrap().to_string())
        .collect();
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "a record is stored twice");
    let missing: Vec<_> = expected.difference(&stored_set).take(3).collect();
    assert!(
        missing.is_empty(),
        "records not read back JSON-equal: {missing:?}"
    );
    assert_eq!(stored_set, expected);

    // Byte for byte, too: the text read back from segments (re-made from their columns) is a
    // text the importer stored, so its fingerprint is one the importer computed. (The importer
    // sees more: a record delivered twice written differently is stored once.)
    let imported_fingerprints: BTreeSet<u64> = imported
        .files
        .iter()
        .flat_map(|path| parse_file(&read_file(path).unwrap()).records)
        .map(|record| record.fingerprint)
        .collect();
    let stored_fingerprints: BTreeSet<u64> = stored_records(&imported.store)
        .iter()
        .map(|r| r.fingerprint)
        .collect();
    let altered = stored_fingerprints
        .difference(&imported_fingerprints)
        .count();
    assert_eq!(altered, 0, "records whose text changed in the store");

    let summary = &imported.summary;
    assert_eq!(summary.imported as usize, stored.len());
    assert_eq!(summary.records_read() as usize, events.len());
    assert!(summary.io_errors.is_empty(), "{:?}", summary.io_errors);
}

#[test]
fn records_that_are_not_events_are_rejected_or_skipped_with_a_reason() {
    let imported = imported();
    let skipped = rejected_and_skipped_files_are_accounted_for(imported);
    let reason = |name: &str| {
        skipped
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not reported: {skipped:?}"))
    };
    assert!(reason("aws.execution.ec2-user-data.json").starts_with("not JSON"));
    assert!(reason("unquoted-keys.json").starts_with("not JSON"));
    assert_eq!(
        reason("123456789012_CloudTrail-Digest_us-east-1_trail_us-east-1_20261201T030000Z.json"),
        "CloudTrail digest file, not events"
    );
    assert_eq!(reason("AppSync__UpdateGraphqlApi.json.cloudtrail"), "empty");
    assert!(reason("README.md").starts_with("not JSON"));
}

#[test]
fn records_of_the_shared_datasets_that_are_not_events_are_rejected_or_skipped() {
    if let Some(imported) = imported_shared() {
        let skipped = rejected_and_skipped_files_are_accounted_for(imported);
        assert!(skipped.contains_key("README.md"), "{skipped:?}");
    }
}

/// Checks that every record that is not an event, in a file that has events, is rejected with a
/// position and a reason, and that every file is read or reported; returns the skipped files'
/// reasons by file name.
fn rejected_and_skipped_files_are_accounted_for(imported: &Imported) -> BTreeMap<String, String> {
    let values = dataset_values(&imported.roots);
    // Per file: how many records are not events, in files that have events.
    let mut per_file: BTreeMap<&Path, (usize, usize)> = BTreeMap::new();
    for (path, value) in &values {
        let entry = per_file.entry(path).or_default();
        if is_event(value) {
            entry.0 += 1
        } else {
            entry.1 += 1
        }
    }
    let expected_rejected: usize = per_file
        .values()
        .filter(|(events, _)| *events > 0)
        .map(|(_, other)| other)
        .sum();
    let summary = &imported.summary;
    assert_eq!(summary.rejected.len(), expected_rejected);
    for rejected in &summary.rejected {
        assert!(!rejected.position.is_empty() && !rejected.reason.to_string().is_empty());
    }
    let skipped: BTreeMap<String, String> = summary
        .skipped
        .iter()
        .map(|(p, why)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                why.to_string(),
            )
        })
        .collect();
    // Every file is accounted for: read, or reported unreadable.
    assert_eq!(summary.files_read, imported.files.len());
    skipped
}

#[test]
fn importing_the_same_files_again_adds_nothing() {
    let imported = imported();
    let before = imported.store.stats().unwrap().events;
    let again = import_files(&imported.store, &imported.files, 2, |_, _| {}).unwrap();
    assert_eq!(again.imported, 0);
    assert_eq!(again.duplicates, imported.summary.records_read());
    assert_eq!(imported.store.stats().unwrap().events, before);
}

fn lookup_all(store: &Store, query: &LookupQuery, page: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<PageCursor> = None;
    loop {
        let result = store.lookup(query, cursor, page).unwrap();
        out.extend(result.records.into_iter().map(|r| r.json.clone()));
        match result.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

fn brute_force(records: &[Record], query: &LookupQuery) -> Vec<String> {
    let mut matching: Vec<&Record> = records
        .iter()
        .filter(|r| query.matches(&r.fields))
        .collect();
    matching.sort_by_key(|r| std::cmp::Reverse((r.fields.event_time_ms, r.fingerprint)));
    matching.into_iter().map(|r| r.json.clone()).collect()
}

/// Up to `n` values spread over the sorted distinct values.
fn sample(values: BTreeSet<String>, n: usize) -> Vec<String> {
    let step = values.len().div_ceil(n).max(1);
    values.into_iter().step_by(step).collect()
}

#[test]
fn lookups_equal_a_brute_force_filter_for_every_attribute() {
    lookups_equal_a_brute_force_filter(imported());
}

#[test]
fn lookups_over_the_shared_datasets_equal_a_brute_force_filter() {
    if let Some(imported) = imported_shared() {
        lookups_equal_a_brute_force_filter(imported);
    }
}

fn lookups_equal_a_brute_force_filter(imported: &Imported) {
    let records = stored_records(&imported.store);
    let mut times: Vec<i64> = records.iter().map(|r| r.fields.event_time_ms).collect();
    times.sort_unstable();
    let (t1, t2) = (times[times.len() / 3], times[2 * times.len() / 3]);
    let mut accounts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        *accounts
            .entry(r.fields.account_id.as_deref().unwrap_or(""))
            .or_default() += 1;
    }
    let busiest_account = accounts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(a, _)| a.to_string());

    let mut checked = 0;
    for key in LookupAttributeKey::ALL {
        let values: BTreeSet<String> = records
            .iter()
            .flat_map(|r| r.fields.lookup_values(key))
            .map(str::to_owned)
            .collect();
        assert!(!values.is_empty(), "no record has a {key}");
        let mut values = sample(values, 12);
        values.push("no-such-value".to_owned());
        for value in values {
            let base = LookupQuery {
                attribute: Some((key, value.clone())),
                ..LookupQuery::default()
            };
            let variants = [
                base.clone(),
                LookupQuery {
                    start_ms: Some(t1),
                    end_ms: Some(t2),
                    ..base.clone()
                },
                LookupQuery {
                    region: Some("us-east-1".into()),
                    ..base.clone()
                },
                LookupQuery {
                    account_id: busiest_account.clone(),
                    ..base.clone()
                },
                LookupQuery {
                    insights: true,
                    ..base.clone()
                },
            ];
            for query in variants {
                let expected = brute_force(&records, &query);
                // Small pages where they stay few, to exercise cursors across segments.
                let page = if expected.len() <= 40 { 3 } else { 50 };
                assert_eq!(
                    lookup_all(&imported.store, &query, page),
                    expected,
                    "{query:?}"
                );
                checked += 1;
            }
        }
    }
    // Without an attribute, over a time range, and Insights events alone.
    for query in [
        LookupQuery {
            start_ms: Some(t1),
            end_ms: Some(t1 + 3_600_000),
            ..LookupQuery::default()
        },
        LookupQuery {
            insights: true,
            ..LookupQuery::default()
        },
    ] {
        let expected = brute_force(&records, &query);
        assert_eq!(
            lookup_all(&imported.store, &query, 50),
            expected,
            "{query:?}"
        );
        checked += 1;
    }
    assert!(checked > 400);
}

/// What event history shows of the resources of the datasets' calls: every EC2 id in an EC2,
/// EBS or EC2 Instance Connect management call is a resource of its type; and most write calls of the
/// services cairn captures name at least one resource, though their records carry no
/// `resources`.
fn calls_name_their_resources(imported: &Imported, at_least_percent: usize) {
    let records = stored_records(&imported.store);
    let mut writes = 0;
    let mut writes_with_resources = 0;
    let mut ids_checked = 0;
    for record in &records {
        let value: Value = serde_json::from_str(&record.json).unwrap();
        let source = record.fields.event_source.as_deref().unwrap_or("");
        let service = source.strip_suffix(".amazonaws.com").unwrap_or("");
        let management = record.fields.history == cairn_model::HistoryCategory::Management;
        if management && cairn_model::resources::ID_PREFIX_SERVICES.contains(&service) {
            let mut ids = Vec::new();
            for member in ["requestParameters", "responseElements"] {
                collect_strings(&value[member], &mut ids);
            }
            for id in ids {
                if let Some(resource_type) = cairn_model::resources::ec2_id_type(&id) {
                    let named = record.fields.resources.iter().any(|r| {
                        r.resource_type.as_deref() == Some(resource_type)
                            && r.resource_name.as_deref() == Some(id.as_str())
                    });
                    let capped =
                        record.fields.resources.len() >= cairn_model::resources::MAX_DERIVED;
                    assert!(
                        named || capped,
                        "{id} not among {:?}",
                        record.fields.resources
                    );
                    ids_checked += 1;
                }
            }
        }
        let captured = ["ec2", "ssm", "monitoring", "s3", "ec2-instance-connect"];
        let has_parameters = value["requestParameters"]
            .as_object()
            .is_some_and(|members| !members.is_empty());
        if captured.contains(&service)
            && record.fields.read_only == Some(false)
            && management
            && record.fields.error_code.is_none()
            && has_parameters
        {
            writes += 1;
            writes_with_resources += usize::from(!record.fields.resources.is_empty());
        }
    }
    println!(
        "{ids_checked} EC2 ids checked; {writes_with_resources} of {writes} successful writes \
         of EC2, SSM, CloudWatch, S3 and EC2 Instance Connect name a resource"
    );
    assert!(ids_checked > 0 && writes > 0);
    assert!(
        writes_with_resources * 100 >= writes * at_least_percent,
        "{writes_with_resources} of {writes} writes name a resource"
    );
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(members) => members.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[test]
fn calls_of_the_datasets_name_their_resources() {
    calls_name_their_resources(imported(), 95);
}

#[test]
fn calls_of_the_shared_datasets_name_their_resources() {
    if let Some(imported) = imported_shared() {
        calls_name_their_resources(imported, 95);
    }
}

/// Members a field scan is asked for: every shredded one, and some only templates hold.
const SCANNED_PATHS: &[&str] = &[
    "eventVersion",
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.accessKeyId",
    "userIdentity.sessionContext.attributes.creationDate",
    "userIdentity.sessionContext.sessionIssuer.userName",
    "userIdentity.sessionContext.webIdFederationData",
    "userIdentity.onBehalfOf.userId",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "sharedEventID",
    "serviceEventDetails",
    "eventCategory",
    "tlsDetails.clientProvidedHostHeader",
];

/// What a scan gives for a member: a string as itself, JSON null or absence as nothing, and
/// anything else as JSON (compared as JSON, since stored text keeps the record's key order).
fn member_value(record: &Value, path: &str) -> Option<Value> {
    let mut value = record;
    for key in path.split('.') {
        value = value.as_object()?.get(key)?;
    }
    (!value.is_null()).then(|| value.clone())
}

/// Whether a scan's text of a member is the member's value: a string's characters, other
/// values' JSON text, null for none.
fn is_scanned_as(expected: &Option<Value>, scanned: Option<&str>) -> bool {
    match (expected, scanned) {
        (Some(Value::String(s)), Some(t)) => s == t,
        (Some(v), Some(t)) => serde_json::from_str::<Value>(t).ok().as_ref() == Some(v),
        (None, None) => true,
        _ => false,
    }
}

#[test]
fn a_field_scan_gives_every_stored_records_members_and_text() {
    a_field_scan_gives_every_stored_records_members(imported());
}

#[test]
fn a_field_scan_over_the_shared_datasets_gives_every_records_members() {
    if let Some(imported) = imported_shared() {
        a_field_scan_gives_every_stored_records_members(imported);
    }
}

#[test]
fn a_field_scan_between_two_times_gives_exactly_the_events_of_those_times() {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use cairn_store::FieldScan;
    use cairn_store::segment::scan;

    let imported = imported();
    let records = stored_records(&imported.store);
    let mut times: Vec<i64> = records.iter().map(|r| r.fields.event_time_ms).collect();
    times.sort_unstable();
    // Bounds inside the data, so that segments straddle them; some events fall on them.
    let (min, max) = (times[times.len() / 4], times[times.len() * 3 / 4]);
    let mut expected: Vec<String> = records
        .iter()
        .filter(|r| (min..=max).contains(&r.fields.event_time_ms))
        .map(|r| r.fields.event_id.clone())
        .collect();
    expected.sort();
    assert!(expected.len() > 100 && expected.len() < records.len() * 3 / 4);
    // Neither times nor accounts asked for: the batches have neither.
    let scan = FieldScan {
        paths: vec!["eventID".to_owned()],
        min_time_ms: Some(min),
        max_time_ms: Some(max),
        without_time: true,
        without_account: true,
        ..FieldScan::default()
    };
    let mut scanned: Vec<String> = Vec::new();
    imported
        .store
        .scan_all(&scan, |batch| {
            assert!(batch.column_by_name(scan::TIME_COLUMN).is_none());
            assert!(batch.column_by_name(scan::ACCOUNT_COLUMN).is_none());
            let ids = batch.column_by_name("eventID").unwrap().as_string_view();
            assert_eq!(ids.null_count(), 0);
            scanned.extend(ids.iter().map(|id| id.unwrap().to_owned()));
            Ok(())
        })
        .unwrap();
    scanned.sort();
    assert_eq!(scanned, expected);
}

#[test]
fn a_scan_with_conditions_gives_the_rows_a_full_scan_would() {
    a_scan_with_conditions_gives_the_rows_of_a_full_scan(imported());
}

#[test]
fn a_scan_with_conditions_over_the_shared_datasets_gives_the_rows_a_full_scan_would() {
    if let Some(imported) = imported_shared() {
        a_scan_with_conditions_gives_the_rows_of_a_full_scan(imported);
    }
}

/// For values of the members a segment's lookup index knows (and one it does not), a scan
/// asking for rows with that value gives exactly the rows whose member has it: what the
/// index skips or selects changes nothing. A scan in parts gives every event once.
fn a_scan_with_conditions_gives_the_rows_of_a_full_scan(imported: &Imported) {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use cairn_store::{FieldScan, Wanted};

    const PATHS: [&str; 5] = [
        "eventID",
        "eventName",
        "eventSource",
        "userIdentity.accessKeyId",
        "awsRegion",
    ];
    let scan_part = |conditions: Vec<(String, Wanted)>, part: (usize, usize)| {
        let scan = FieldScan {
            paths: PATHS.iter().map(|p| p.to_string()).collect(),
            conditions,
            part,
            ..FieldScan::default()
        };
        let mut rows: Vec<Vec<Option<String>>> = Vec::new();
        imported
            .store
            .scan_all(&scan, |batch| {
                let columns: Vec<_> = PATHS
                    .iter()
                    .map(|p| batch.column_by_name(p).unwrap().as_string_view().clone())
                    .collect();
                for row in 0..batch.num_rows() {
                    rows.push(
                        columns
                            .iter()
                            .map(|c| c.is_valid(row).then(|| c.value(row).to_owned()))
                            .collect(),
                    );
                }
                Ok(())
            })
            .unwrap();
        rows.sort();
        rows
    };
    let scan_of = |conditions: Vec<(String, Wanted)>| scan_part(conditions, (0, 1));
    let all = scan_of(Vec::new());
    // Read in three parts at once, the events are every event once.
    let mut parts: Vec<Vec<Option<String>>> =
        (0..3).flat_map(|i| scan_part(Vec::new(), (i, 3))).collect();
    parts.sort();
    assert_eq!(parts, all);
    let mut checked = 0;
    for (column, path) in PATHS.iter().enumerate() {
        let values: BTreeSet<&str> = all.iter().filter_map(|r| r[column].as_deref()).collect();
        // Every value of the small members, a sample of the event IDs.
        let step = values.len() / 300 + 1;
        for value in values.into_iter().step_by(step) {
            let wanted: Vec<Vec<Option<String>>> = all
                .iter()
                .filter(|r| r[column].as_deref() == Some(value))
                .cloned()
                .collect();
            let found = scan_of(vec![(path.to_string(), Wanted::Value(value.to_owned()))]);
            assert_eq!(found, wanted, "{path} = {value:?}");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}

fn a_field_scan_gives_every_stored_records_members(imported: &Imported) {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMillisecondType;
    use cairn_store::FieldScan;
    use cairn_store::segment::scan;

    let scan = FieldScan {
        paths: SCANNED_PATHS.iter().map(|p| p.to_string()).collect(),
        record_text: true,
        ..FieldScan::default()
    };
    let mut rows = 0;
    let mut texts = BTreeSet::new();
    let mut values_by_path: Vec<Vec<Option<String>>> = vec![Vec::new(); SCANNED_PATHS.len()];
    imported
        .store
        .snapshot()
        .unwrap()
        .scan_log_files(0, None, &scan, |batch| {
            let text_column = batch
                .column_by_name(scan::RECORD_COLUMN)
                .unwrap()
                .as_string_view();
            let times = batch
                .column_by_name(scan::TIME_COLUMN)
                .unwrap()
                .as_primitive::<TimestampMillisecondType>();
            let accounts = batch
                .column_by_name(scan::ACCOUNT_COLUMN)
                .unwrap()
                .as_string_view();
            for row in 0..batch.num_rows() {
                let text = text_column.value(row);
                let record = Record::parse(text).unwrap();
                assert_eq!(times.value(row), record.fields.event_time_ms);
                assert_eq!(
                    accounts.is_valid(row).then(|| accounts.value(row)),
                    record.fields.account_id.as_deref()
                );
                let value: Value = serde_json::from_str(text).unwrap();
                for (path, values) in SCANNED_PATHS.iter().zip(&mut values_by_path) {
                    let column = batch.column_by_name(path).unwrap().as_string_view();
                    let scanned = column.is_valid(row).then(|| column.value(row));
                    values.push(scanned.map(str::to_owned));
                    let expected = member_value(&value, path);
                    assert!(
                        is_scanned_as(&expected, scanned),
                        "{path} of {text}: scanned {scanned:?}, record has {expected:?}"
                    );
                }
                texts.insert(text.to_owned());
                rows += 1;
            }
            Ok(())
        })
        .unwrap();
    let stored: BTreeSet<String> = stored_records(&imported.store)
        .into_iter()
        .map(|r| r.json)
        .collect();
    assert_eq!(rows, stored.len(), "every event once");
    assert_eq!(texts, stored);
    // A member scanned alone (where a segment's templates write none of its values, without
    // reading them) has the same values.
    for (path, expected) in SCANNED_PATHS.iter().zip(&values_by_path) {
        let alone = FieldScan {
            paths: vec![path.to_string()],
            ..FieldScan::default()
        };
        let mut values = Vec::new();
        imported
            .store
            .snapshot()
            .unwrap()
            .scan_log_files(0, None, &alone, |batch| {
                let column = batch.column_by_name(path).unwrap().as_string_view();
                values.extend(column.iter().map(|v| v.map(str::to_owned)));
                Ok(())
            })
            .unwrap();
        assert!(values == *expected, "{path} scanned alone differs");
    }
}

#[test]
fn a_scan_of_keys_of_json_members_gives_each_records_values() {
    a_scan_of_keys_gives_each_records_values(imported());
}

#[test]
fn a_scan_of_keys_over_the_shared_datasets_gives_each_records_values() {
    if let Some(imported) = imported_shared() {
        a_scan_of_keys_gives_each_records_values(imported);
    }
}

/// A scan of one key of `requestParameters` (and the other JSON members) gives the key's value
/// in every event, whether its segment keeps the key in a column of its own (frequent keys)
/// or not (rare keys, events not sealed yet): the most frequent keys of each member and a
/// sample of the others, against the records' JSON.
fn a_scan_of_keys_gives_each_records_values(imported: &Imported) {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use cairn_store::FieldScan;

    const PARENTS: [&str; 4] = [
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "serviceEventDetails",
    ];
    let records = stored_records(&imported.store);
    let mut paths: Vec<String> = Vec::new();
    for parent in PARENTS {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for record in &records {
            let value: Value = serde_json::from_str(&record.json).unwrap();
            for key in value[parent].as_object().into_iter().flat_map(|o| o.keys()) {
                if !key.is_empty() && !key.contains('.') {
                    *counts.entry(key.clone()).or_default() += 1;
                }
            }
        }
        let mut by_count: Vec<(usize, String)> = counts.into_iter().map(|(k, n)| (n, k)).collect();
        by_count.sort_by(|a, b| b.cmp(a));
        let frequent = by_count.iter().take(40);
        let rare = by_count.iter().skip(40).step_by(25);
        paths.extend(
            frequent
                .chain(rare)
                .map(|(_, key)| format!("{parent}.{key}")),
        );
    }
    assert!(paths.len() > 40, "{paths:?}");
    // Each event by its ID; IDs that several stored records share (rare conflicting copies)
    // are not told apart here, and left out.
    let mut by_id: BTreeMap<&str, Option<Value>> = BTreeMap::new();
    for record in &records {
        by_id
            .entry(record.fields.event_id.as_str())
            .and_modify(|shared| *shared = None)
            .or_insert_with(|| Some(serde_json::from_str(&record.json).unwrap()));
    }
    let mut rows = 0;
    let mut values = 0;
    let scan = FieldScan {
        paths: [vec!["eventID".to_owned()], paths.clone()].concat(),
        ..FieldScan::default()
    };
    imported
        .store
        .scan_all(&scan, |batch| {
            let ids = batch.column_by_name("eventID").unwrap().as_string_view();
            for row in 0..batch.num_rows() {
                let Some(Some(record)) = ids.is_valid(row).then(|| &by_id[ids.value(row)]) else {
                    continue;
                };
                for path in &paths {
                    let column = batch.column_by_name(path).unwrap().as_string_view();
                    let scanned = column.is_valid(row).then(|| column.value(row));
                    let expected = member_value(record, path);
                    assert!(
                        is_scanned_as(&expected, scanned),
                        "{path}: scanned {scanned:?}, record has {expected:?}"
                    );
                    values += usize::from(scanned.is_some());
                }
                rows += 1;
            }
            Ok(())
        })
        .unwrap();
    println!(
        "{rows} events, {} keys, {values} values compared",
        paths.len()
    );
    assert!(rows > records.len() / 2 && values > rows, "{rows} {values}");
}
