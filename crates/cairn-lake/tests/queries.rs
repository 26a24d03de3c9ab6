//! Investigation queries over the repository's real CloudTrail records (`testdata/datasets`),
//! each answer computed independently here from the records, not by cairn.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cairn_lake::{Lake, LakeError};
use cairn_model::Record;
use serde_json::Value;

/// The table name of the test's store: an ID as Lake's are, written unquoted in queries.
const STORE: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/// Every record of the datasets, as JSON values, in file order.
fn dataset_values() -> &'static Vec<Value> {
    static VALUES: OnceLock<Vec<Value>> = OnceLock::new();
    VALUES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/datasets");
        let mut files = Vec::new();
        collect(&root, &mut files);
        files.sort();
        let mut out = Vec::new();
        for path in files {
            let raw = std::fs::read(&path).unwrap();
            let mut bytes = Vec::new();
            if raw.starts_with(&[0x1f, 0x8b]) {
                flate2::read::MultiGzDecoder::new(raw.as_slice())
                    .read_to_end(&mut bytes)
                    .unwrap();
            } else {
                bytes = raw;
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            let documents: Vec<Value> = match serde_json::from_str::<Value>(&text) {
                Ok(v) => vec![v],
                Err(_) => text
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect(),
            };
            for document in documents {
                match document {
                    Value::Object(mut o) if o.get("Records").is_some_and(Value::is_array) => {
                        if let Some(Value::Array(records)) = o.remove("Records") {
                            out.extend(records);
                        }
                    }
                    Value::Array(items) => out.extend(items),
                    other => out.push(other),
                }
            }
        }
        out
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.to_string_lossy().into_owned();
        if path.is_dir() {
            collect(&path, out);
        } else if !(name.ends_with(".md")
            || name.ends_with(".index.jsonl")
            || name.ends_with(".txt"))
        {
            out.push(path);
        }
    }
}

/// The events among the values (what cairn stores), with their values.
fn events() -> &'static Vec<(Record, Value)> {
    static EVENTS: OnceLock<Vec<(Record, Value)>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        dataset_values()
            .iter()
            .filter_map(|v| Record::parse(&v.to_string()).ok().map(|r| (r, v.clone())))
            .collect()
    })
}

fn lake() -> &'static Lake {
    static LAKE: OnceLock<Lake> = OnceLock::new();
    LAKE.get_or_init(|| {
        let mut lake = Lake::new();
        let records: Vec<Record> = events().iter().map(|(r, _)| r.clone()).collect();
        lake.add_events(STORE, &records).unwrap();
        lake
    })
}

fn query(sql: &str) -> cairn_lake::QueryResult {
    lake()
        .query_blocking(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut at = value;
    for part in path {
        at = at.get(part)?;
    }
    at.as_str().map(str::to_owned)
}

/// Lake's rendering of an event's time: `YYYY-MM-DD HH:MM:SS.mmm`.
fn lake_time(ms: i64) -> String {
    let iso = cairn_model::time::format_event_time(ms.div_euclid(1000) * 1000);
    format!("{}.{:03}", iso[..19].replace('T', " "), ms.rem_euclid(1000))
}

/// The `n` largest counts, ties by name.
fn top(counts: BTreeMap<String, i64>, n: usize) -> Vec<(String, i64)> {
    let mut sorted: Vec<(String, i64)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    sorted.truncate(n);
    sorted
}

/// Rows of (text, count).
fn counted(result: &cairn_lake::QueryResult) -> Vec<(String, i64)> {
    result
        .rows
        .iter()
        .map(|row| {
            (
                row[0].clone().unwrap(),
                row[1].as_deref().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn count_by_event_name() {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for (record, _) in events() {
        if let Some(name) = &record.fields.event_name {
            *counts.entry(name.clone()).or_default() += 1;
        }
    }
    let result = query(&format!(
        "SELECT eventName, count(*) AS events FROM {STORE} WHERE eventName IS NOT NULL \
         GROUP BY eventName ORDER BY events DESC, eventName LIMIT 10"
    ));
    assert_eq!(result.labels, ["eventName", "events"]);
    assert_eq!(counted(&result), top(counts, 10));
}

#[test]
fn errors_by_principal() {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for (_, value) in events() {
        let (Some(_), Some(arn)) = (
            text(value, &["errorCode"]),
            text(value, &["userIdentity", "arn"]),
        ) else {
            continue;
        };
        *counts.entry(arn).or_default() += 1;
    }
    let expected = top(counts, 5);
    assert!(!expected.is_empty());
    let result = query(&format!(
        "SELECT userIdentity.arn, count(*) AS errors FROM {STORE} \
         WHERE errorCode IS NOT NULL AND userIdentity.arn IS NOT NULL \
         GROUP BY userIdentity.arn ORDER BY errors DESC, 1 LIMIT 5"
    ));
    assert_eq!(result.labels, ["arn", "errors"]);
    assert_eq!(counted(&result), expected);
}

#[test]
fn one_event_by_its_id() {
    let (record, _) = &events()[events().len() / 2];
    let result = query(&format!(
        "SELECT eventName, eventSource, eventTime FROM {STORE} WHERE eventID = '{}'",
        record.fields.event_id
    ));
    assert_eq!(result.labels, ["eventName", "eventSource", "eventTime"]);
    let matching: Vec<&Record> = events()
        .iter()
        .map(|(r, _)| r)
        .filter(|r| r.fields.event_id == record.fields.event_id && !r.fields.event_id_derived)
        .collect();
    assert!(!matching.is_empty());
    assert_eq!(result.rows.len(), matching.len());
    assert!(result.rows.contains(&vec![
        record.fields.event_name.clone(),
        record.fields.event_source.clone(),
        Some(lake_time(record.fields.event_time_ms)),
    ]));
}

#[test]
fn one_access_keys_timeline() {
    let mut per_key: BTreeMap<&str, Vec<(i64, String)>> = BTreeMap::new();
    for (record, _) in events() {
        if let (Some(key), Some(name)) = (&record.fields.access_key_id, &record.fields.event_name) {
            per_key
                .entry(key)
                .or_default()
                .push((record.fields.event_time_ms, name.clone()));
        }
    }
    // The key with the most events that are all at distinct times (a total order).
    let (key, mut timeline) = per_key
        .into_iter()
        .filter(|(_, events)| {
            let mut times: Vec<i64> = events.iter().map(|e| e.0).collect();
            times.sort_unstable();
            times.windows(2).all(|w| w[0] != w[1])
        })
        .max_by_key(|(_, events)| events.len())
        .unwrap();
    assert!(timeline.len() > 3, "{key}: {timeline:?}");
    timeline.sort();
    let result = query(&format!(
        "SELECT eventTime, eventName FROM {STORE} \
         WHERE userIdentity.accessKeyId = '{key}' ORDER BY eventTime"
    ));
    let expected: Vec<Vec<Option<String>>> = timeline
        .iter()
        .map(|(ms, name)| vec![Some(lake_time(*ms)), Some(name.clone())])
        .collect();
    assert_eq!(result.rows, expected);
}

#[test]
fn hourly_histogram_of_the_busiest_day() {
    let mut per_day: BTreeMap<i64, BTreeMap<i64, i64>> = BTreeMap::new();
    for (record, _) in events() {
        let hour = record.fields.event_time_ms.div_euclid(3_600_000);
        *per_day
            .entry(hour.div_euclid(24))
            .or_default()
            .entry(hour)
            .or_default() += 1;
    }
    let (day, hours) = per_day
        .into_iter()
        .max_by_key(|(_, hours)| hours.values().sum::<i64>())
        .unwrap();
    let start = lake_time(day * 86_400_000);
    let end = lake_time((day + 1) * 86_400_000);
    let result = query(&format!(
        "SELECT date_trunc('hour', eventTime) AS hour, count(*) AS events FROM {STORE} \
         WHERE eventTime >= '{start}' AND eventTime < '{end}' GROUP BY 1 ORDER BY 1"
    ));
    let expected: Vec<Vec<Option<String>>> = hours
        .iter()
        .map(|(hour, n)| vec![Some(lake_time(hour * 3_600_000)), Some(n.to_string())])
        .collect();
    assert_eq!(result.rows, expected);
}

#[test]
fn statements_that_are_not_one_select_are_refused_with_what_and_where() {
    for (sql, says) in [
        (
            format!("DELETE FROM {STORE}"),
            "Only SELECT statements are allowed",
        ),
        (
            format!("SELECT eventName FROM {STORE}; DROP TABLE x"),
            "Only one statement is allowed",
        ),
        (format!("SELECT nosuchcolumn FROM {STORE}"), "nosuchcolumn"),
        (
            "SELECT * FROM 11111111-2222-4333-8444-555555555555".to_owned(),
            "11111111-2222-4333-8444-555555555555",
        ),
    ] {
        match lake().query_blocking(&sql) {
            Err(LakeError::InvalidQueryStatement(message)) => {
                assert!(message.contains(says), "{sql}: {message}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
}

#[test]
fn times_compare_with_lakes_string_literals() {
    let mut times: Vec<i64> = events()
        .iter()
        .map(|(r, _)| r.fields.event_time_ms)
        .collect();
    times.sort_unstable();
    // A whole second, as Lake's examples write times: '2023-01-22 00:00:00'.
    let cut = times[times.len() / 2].div_euclid(1000) * 1000;
    let expected = times.iter().filter(|&&t| t >= cut).count();
    let literal = &lake_time(cut)[..19];
    let result = query(&format!(
        "SELECT count(*) FROM {STORE} WHERE eventTime >= '{literal}'"
    ));
    assert_eq!(result.labels, ["_col0"]);
    assert_eq!(result.rows, [[Some(expected.to_string())]]);
}

#[test]
fn a_request_parameter_grouped() {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for (record, value) in events() {
        if record.fields.event_source.as_deref() != Some("s3.amazonaws.com") {
            continue;
        }
        if let Some(bucket) = text(value, &["requestParameters", "bucketName"]) {
            *counts.entry(bucket).or_default() += 1;
        }
    }
    let expected = top(counts, 5);
    assert!(!expected.is_empty());
    // Trino's element_at: the map's value (DataFusion's own answers a one-element list).
    let result = query(&format!(
        "SELECT element_at(requestParameters, 'bucketName') AS bucket, count(*) AS calls \
         FROM {STORE} WHERE eventSource = 's3.amazonaws.com' \
         AND element_at(requestParameters, 'bucketName') IS NOT NULL \
         GROUP BY 1 ORDER BY calls DESC, bucket LIMIT 5"
    ));
    assert_eq!(counted(&result), expected);
}

#[test]
fn array_elements_by_one_based_and_negative_index() {
    let with_resources: Vec<&Value> = events()
        .iter()
        .map(|(_, v)| v)
        .filter(|v| {
            v.get("resources")
                .and_then(Value::as_array)
                .is_some_and(|items| !items.is_empty() && items.iter().all(Value::is_object))
        })
        .collect();
    let (first, last): (usize, usize) = (
        with_resources
            .iter()
            .filter(|v| v["resources"][0].get("type").is_some())
            .count(),
        with_resources
            .iter()
            .filter(|v| {
                let items = v["resources"].as_array().unwrap();
                items[items.len() - 1].get("type").is_some()
            })
            .count(),
    );
    let result = query(&format!(
        "SELECT count(element_at(resources, 1)), count(element_at(resources, -1)), \
         count(element_at(resources, 0)), count(element_at(resources, 1000)) FROM {STORE}"
    ));
    let expected = with_resources.len().to_string();
    assert_eq!(
        result.rows,
        [[
            Some(expected.clone()),
            Some(expected),
            Some("0".to_owned()),
            Some("0".to_owned())
        ]]
    );
    assert!(first > 0 && last > 0);
}

#[test]
fn trinos_date_functions_with_trinos_argument_order() {
    // Trino: date_add clamps to the month's last day; date_diff counts whole units;
    // day_of_week is ISO (2024-03-10 was a Sunday).
    let result = query(&format!(
        "SELECT date_add('day', 1, timestamp '2024-01-31 10:00:00'), \
                date_add('MONTH', 1, timestamp '2024-01-31 10:00:00'), \
                date_add('hour', -2, timestamp '2024-01-01 01:00:00'), \
                date_diff('day', timestamp '2024-01-01 00:00:00', timestamp '2024-01-03 12:00:00'), \
                date_diff('month', timestamp '2024-01-15 00:00:00', timestamp '2024-03-14 00:00:00'), \
                date_diff('month', timestamp '2024-01-15 00:00:00', timestamp '2024-03-15 00:00:00'), \
                to_iso8601(from_iso8601_timestamp('2024-03-09T12:00:00+01:00')), \
                day_of_week(timestamp '2024-03-10 00:00:00'), dow(date '2024-03-11') \
         FROM {STORE} LIMIT 1"
    ));
    let expected = [
        "2024-02-01 10:00:00.000",
        "2024-02-29 10:00:00.000",
        "2023-12-31 23:00:00.000",
        "2",
        "1",
        "2",
        "2024-03-09T11:00:00.000",
        "7",
        "1",
    ];
    assert_eq!(result.rows, [expected.map(|v| Some(v.to_owned())).to_vec()]);
}

#[test]
fn a_days_events_bounded_by_date_functions() {
    let day_ms = 86_400_000;
    let mut per_day: BTreeMap<i64, usize> = BTreeMap::new();
    for (record, _) in events() {
        *per_day
            .entry(record.fields.event_time_ms.div_euclid(day_ms))
            .or_default() += 1;
    }
    let (&day, &count) = per_day.iter().max_by_key(|(_, n)| **n).unwrap();
    let start = &cairn_model::time::format_event_time(day * day_ms)[..10];
    let result = query(&format!(
        "SELECT count(*) FROM {STORE} WHERE eventtime >= from_iso8601_timestamp('{start}') \
         AND eventtime < date_add('day', 1, from_iso8601_timestamp('{start}'))"
    ));
    assert_eq!(result.rows, [[Some(count.to_string())]]);
}

#[test]
fn trinos_conditional_and_by_value_aggregates() {
    let errors = events()
        .iter()
        .filter(|(r, _)| r.fields.error_code.is_some())
        .count();
    // Trino's if(NULL, a, b) is b: events without a readOnly count as writes here.
    let writes = events()
        .iter()
        .filter(|(_, v)| {
            !matches!(v.get("readOnly"), Some(Value::Bool(true)))
                && v.get("readOnly").and_then(Value::as_str) != Some("true")
        })
        .count();
    let latest = events()
        .iter()
        .map(|(r, _)| r.fields.event_time_ms)
        .max()
        .unwrap();
    let earliest = events()
        .iter()
        .map(|(r, _)| r.fields.event_time_ms)
        .min()
        .unwrap();
    // An event may have no eventID: max_by gives its x, null or not.
    let ids_at = |ms: i64| -> Vec<Option<String>> {
        events()
            .iter()
            .filter(|(r, _)| r.fields.event_time_ms == ms)
            .map(|(_, v)| text(v, &["eventID"]))
            .collect()
    };
    let result = query(&format!(
        "SELECT count_if(errorcode IS NOT NULL), \
                count_if(if(readonly, 'read', 'write') = 'write'), \
                max_by(eventid, eventtime), min_by(eventid, eventtime), \
                arbitrary(eventsource) IS NOT NULL, if(false, 1) \
         FROM {STORE}"
    ));
    let row = &result.rows[0];
    assert_eq!(row[0].as_deref(), Some(errors.to_string().as_str()));
    assert_eq!(row[1].as_deref(), Some(writes.to_string().as_str()));
    assert!(ids_at(latest).contains(&row[2]), "{row:?}");
    assert!(ids_at(earliest).contains(&row[3]), "{row:?}");
    assert_eq!(row[4].as_deref(), Some("true"));
    assert_eq!(row[5], None);
    // Lake labels them as Trino does: `_col<N>`.
    assert_eq!(result.labels[0], "_col0");
}

#[test]
fn trino_forms_datafusion_writes_otherwise() {
    // element_at(resources, 1).arn: the first resource (the first object) of each event.
    let first_arns = events()
        .iter()
        .filter(|(_, v)| {
            v.get("resources")
                .and_then(Value::as_array)
                .and_then(|items| items.iter().find_map(Value::as_object))
                .and_then(|first| first.iter().find(|(k, _)| k.eq_ignore_ascii_case("arn")))
                .is_some_and(|(_, arn)| !arn.is_null())
        })
        .count();
    let with_bucket = events()
        .iter()
        .filter(|(_, v)| {
            v.get("requestParameters")
                .and_then(Value::as_object)
                .is_some_and(|p| p.contains_key("bucketName"))
        })
        .count();
    let result = query(&format!(
        "SELECT count(element_at(resources, 1).arn), \
                count_if(contains(map_keys(requestparameters), 'bucketName')) FROM {STORE}"
    ));
    assert_eq!(
        result.rows,
        [[Some(first_arns.to_string()), Some(with_bucket.to_string())]]
    );

    let (record, value) = events()
        .iter()
        .find(|(r, _)| {
            r.fields.event_source.as_deref() == Some("s3.amazonaws.com")
                && r.fields.event_id.len() == 36
        })
        .unwrap();
    let result = query(&format!(
        "SELECT regexp_extract(eventsource, '[a-z0-9-]+'), \
                regexp_extract(eventsource, '([a-z0-9-]+)\\.amazonaws', 1), date(eventtime) \
         FROM {STORE} WHERE eventid = '{}'",
        record.fields.event_id
    ));
    let day = text(value, &["eventTime"]).unwrap()[..10].to_owned();
    assert!(
        result
            .rows
            .contains(&vec![Some("s3".into()), Some("s3".into()), Some(day)]),
        "{:?}",
        result.rows
    );
}

#[test]
fn trinos_json_functions_over_eventjson() {
    let resources: usize = events()
        .iter()
        .filter_map(|(_, v)| v.get("resources").and_then(Value::as_array))
        .map(Vec::len)
        .sum();
    let result = query(&format!(
        "SELECT sum(json_array_length(json_extract(eventjson, '$.resources'))) FROM {STORE}"
    ));
    assert_eq!(result.rows, [[Some(resources.to_string())]]);

    let (record, value) = events()
        .iter()
        .find(|(r, v)| {
            r.fields.event_id.len() == 36
                && v["requestParameters"]
                    .as_object()
                    .is_some_and(|p| p.len() > 1)
                && v["userIdentity"]["type"].is_string()
        })
        .unwrap();
    let result = query(&format!(
        "SELECT json_extract(eventjson, '$.userIdentity.type'), \
                is_json_scalar(json_extract(eventjson, '$.eventName')), \
                json_size(eventjson, '$.requestParameters'), \
                json_array_contains('[1, \"a\", true]', 'a'), json_array_get('[1, 2, 3]', -1), \
                json_format(json_parse('{{\"b\": 1, \"a\": [true]}}')) \
         FROM {STORE} WHERE eventid = '{}'",
        record.fields.event_id
    ));
    let identity_type = format!("\"{}\"", value["userIdentity"]["type"].as_str().unwrap());
    let size = value["requestParameters"]
        .as_object()
        .unwrap()
        .len()
        .to_string();
    let expected: Vec<Option<String>> = [
        identity_type.as_str(),
        "true",
        size.as_str(),
        "true",
        "3",
        r#"{"a":[true],"b":1}"#,
    ]
    .map(|v| Some(v.to_owned()))
    .to_vec();
    assert!(result.rows.contains(&expected), "{:?}", result.rows);
}

#[test]
fn a_limit_stops_the_scan_with_the_rows_it_asked_for() {
    let result = query(&format!("SELECT eventname FROM {STORE} LIMIT 3"));
    assert_eq!(result.rows.len(), 3);
    // And the table answers the next query whole.
    let all = query(&format!("SELECT count(*) FROM {STORE}"));
    assert_eq!(all.rows, [[Some(events().len().to_string())]]);
}

/// An event's resources as (type, arn, accountId) members, whatever their case.
fn resource_members(value: &Value) -> Vec<[Option<String>; 3]> {
    let member = |item: &serde_json::Map<String, Value>, name: &str| {
        item.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    };
    value
        .get("resources")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_object)
                .map(|item| {
                    [
                        member(item, "type"),
                        member(item, "arn"),
                        member(item, "accountId"),
                    ]
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An event with two or more resources, each with an ARN.
fn with_named_resources() -> &'static (Record, Value) {
    events()
        .iter()
        .find(|(_, v)| {
            let members = resource_members(v);
            members.len() >= 2 && members.iter().all(|m| m[1].is_some())
        })
        .unwrap()
}

#[test]
fn lambdas_over_an_events_resources() {
    // any_match: the events that touched an S3 bucket.
    let touched_bucket = events()
        .iter()
        .filter(|(_, v)| {
            resource_members(v)
                .iter()
                .any(|[kind, _, _]| kind.as_deref() == Some("AWS::S3::Bucket"))
        })
        .count();
    assert!(touched_bucket > 0);
    let result = query(&format!(
        "SELECT count(*) FROM {STORE} \
         WHERE any_match(resources, r -> r.type = 'AWS::S3::Bucket')"
    ));
    assert_eq!(result.rows, [[Some(touched_bucket.to_string())]]);

    // transform, then any_match over its answer; nested lambdas.
    let result = query(&format!(
        "SELECT count_if(any_match(transform(resources, r -> lower(r.type)), \
                                   t -> t LIKE 'aws::s3::%')), \
                count_if(any_match(resources, \
                    r -> cardinality(filter(split(r.type, '::'), p -> p = 'Bucket')) > 0)) \
         FROM {STORE}"
    ));
    let s3_touched = events()
        .iter()
        .filter(|(_, v)| {
            resource_members(v).iter().any(|[kind, _, _]| {
                kind.as_deref()
                    .is_some_and(|k| k.to_lowercase().starts_with("aws::s3::"))
            })
        })
        .count();
    let bucket_typed = events()
        .iter()
        .filter(|(_, v)| {
            resource_members(v).iter().any(|[kind, _, _]| {
                kind.as_deref()
                    .is_some_and(|k| k.split("::").any(|p| p == "Bucket"))
            })
        })
        .count();
    assert_eq!(
        result.rows,
        [[Some(s3_touched.to_string()), Some(bucket_typed.to_string())]]
    );

    // filter with a value captured from the event: resources of another account than the
    // one that received the event; all_match and none_match with Trino's NULL rule.
    let (mut foreign, mut all_own, mut none_own) = (0usize, 0usize, 0usize);
    for (_, v) in events() {
        let Some(recipient) = text(v, &["recipientAccountId"]) else {
            continue;
        };
        let members = resource_members(v);
        if v.get("resources").and_then(Value::as_array).is_none() {
            continue;
        }
        let own: Vec<Option<bool>> = members
            .iter()
            .map(|[_, _, account]| account.as_ref().map(|a| *a == recipient))
            .collect();
        foreign += own.iter().filter(|o| **o == Some(false)).count();
        // all_match is true when no element is false and none is NULL.
        if own.iter().all(|o| *o == Some(true)) {
            all_own += 1;
        }
        if own.iter().all(|o| *o == Some(false)) {
            none_own += 1;
        }
    }
    let result = query(&format!(
        "SELECT sum(cardinality(filter(resources, r -> r.accountid <> recipientaccountid))), \
                count_if(all_match(resources, r -> r.accountid = recipientaccountid)), \
                count_if(none_match(resources, r -> r.accountid = recipientaccountid)) \
         FROM {STORE} WHERE recipientaccountid IS NOT NULL"
    ));
    assert_eq!(
        result.rows,
        [[
            Some(foreign.to_string()),
            Some(all_own.to_string()),
            Some(none_own.to_string())
        ]]
    );

    // transform's answer is an array, rendered as Trino renders one.
    let (record, value) = with_named_resources();
    let arns: Vec<String> = resource_members(value)
        .into_iter()
        .map(|[_, arn, _]| arn.unwrap())
        .collect();
    let result = query(&format!(
        "SELECT transform(resources, r -> r.arn) FROM {STORE} WHERE eventid = '{}'",
        record.fields.event_id
    ));
    // (Some of the datasets' event IDs are shared by several records.)
    let wanted = vec![Some(format!("[{}]", arns.join(", ")))];
    assert!(result.rows.contains(&wanted), "{:?}", result.rows);

    let error = lake()
        .query_blocking(&format!("SELECT transform(resources) FROM {STORE}"))
        .unwrap_err();
    assert!(
        matches!(&error, LakeError::InvalidQueryStatement(m) if m.contains("takes an array and a lambda")),
        "{error:?}"
    );
}

#[test]
fn unnest_gives_a_row_per_element_beside_its_event() {
    // Resources of each type, a row per resource (records without resources give none).
    let mut by_type: BTreeMap<String, i64> = BTreeMap::new();
    let mut elements = 0i64;
    for (_, v) in events() {
        for [kind, _, _] in resource_members(v) {
            elements += 1;
            *by_type.entry(kind.unwrap_or_default()).or_default() += 1;
        }
    }
    let expected = top(by_type, 5);
    // Trino's form: an array of rows expands into a column per field.
    let result = query(&format!(
        "SELECT coalesce(t.type, ''), count(*) FROM {STORE} CROSS JOIN UNNEST(resources) \
         AS t(accountid, type, arn, arnprefix) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
    ));
    assert_eq!(counted(&result), expected);
    // One column name keeps the row whole; the comma form is the same join.
    let result = query(&format!(
        "SELECT coalesce(r.type, ''), count(*) FROM {STORE} e, UNNEST(e.resources) AS t(r) \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
    ));
    assert_eq!(counted(&result), expected);
    let result = query(&format!(
        "SELECT count(*), count(DISTINCT eventid) FROM {STORE} CROSS JOIN UNNEST(resources)"
    ));
    let with_resources: std::collections::BTreeSet<&str> = events()
        .iter()
        .filter(|(_, v)| !resource_members(v).is_empty())
        .filter_map(|(_, v)| v.get("eventID").and_then(Value::as_str))
        .collect();
    assert_eq!(
        result.rows,
        [[
            Some(elements.to_string()),
            Some(with_resources.len().to_string())
        ]]
    );

    // WITH ORDINALITY: each element's 1-based position.
    let (record, value) = with_named_resources();
    let result = query(&format!(
        "SELECT n, t.arn FROM {STORE} CROSS JOIN UNNEST(resources) WITH ORDINALITY \
         AS t(accountid, type, arn, arnprefix, n) WHERE eventid = '{}' ORDER BY n",
        record.fields.event_id
    ));
    let positions: Vec<Vec<Option<String>>> = resource_members(value)
        .into_iter()
        .enumerate()
        .map(|(i, [_, arn, _])| vec![Some((i + 1).to_string()), arn])
        .collect();
    for row in &positions {
        assert!(result.rows.contains(row), "{row:?} in {:?}", result.rows);
    }

    // A map gives its keys and values: the request parameters most often given.
    let mut keys: BTreeMap<String, i64> = BTreeMap::new();
    for (_, v) in events() {
        if let Some(parameters) = v.get("requestParameters").and_then(Value::as_object) {
            for key in parameters.keys() {
                *keys.entry(key.clone()).or_default() += 1;
            }
        }
    }
    let result = query(&format!(
        "SELECT p.name, count(*) FROM {STORE} \
         CROSS JOIN UNNEST(requestparameters) AS p(name, value) \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 8"
    ));
    assert_eq!(counted(&result), top(keys, 8));

    let error = lake()
        .query_blocking(&format!(
            "SELECT * FROM {STORE} LEFT JOIN UNNEST(resources) AS t(r) ON true"
        ))
        .unwrap_err();
    assert!(
        matches!(&error, LakeError::InvalidQueryStatement(m) if m.contains("CROSS JOIN UNNEST")),
        "{error:?}"
    );
}

/// A record with a lone UTF-16 surrogate escape (valid JSON grammar, stored as it came) is one
/// row like any other; decoding it shows U+FFFD where the lone half was.
#[test]
fn a_record_with_a_lone_surrogate_escape_is_a_row_with_its_members() {
    let record = Record::parse(
        r#"{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventID":"e1","eventName":"GetObject","eventSource":"s3.amazonaws.com","awsRegion":"us-east-1","recipientAccountId":"111122223333","userAgent":"curl\ud83d","requestParameters":{"key":"a\udc00b"}}"#,
    )
    .unwrap();
    let mut lake = Lake::new();
    lake.add_events(STORE, &[record]).unwrap();
    let result = lake
        .query_blocking(&format!(
            "SELECT eventname, json_extract_scalar(eventjson, '$.userAgent'), \
             element_at(requestparameters, 'key') FROM {STORE}"
        ))
        .unwrap();
    assert_eq!(
        result.rows,
        vec![vec![
            Some("GetObject".to_owned()),
            Some("curl\u{fffd}".to_owned()),
            Some("a\u{fffd}b".to_owned())
        ]]
    );
}

/// Counting by one text is done by cairn's `CountByTextExec` (rows counted by string view)
/// instead of DataFusion's aggregate: the same answers as DataFusion's own aggregate gives for
/// the same counts written as sums (which the rewrite leaves alone), over every dataset
/// record: texts with nulls, struct fields, map values, filtered rows, `count` of the text.
#[test]
fn counts_by_one_text_are_datafusions_counts() {
    let cases = [
        ("eventName", ""),
        ("errorCode", ""),
        ("userIdentity.arn", "WHERE errorCode IS NOT NULL"),
        ("userIdentity.sessionContext.sessionIssuer.userName", ""),
        (
            "element_at(requestParameters, 'bucketName')",
            "WHERE eventSource = 's3.amazonaws.com'",
        ),
        ("requestParameters['instanceId']", ""),
        ("sourceIPAddress", "WHERE readOnly"),
        ("awsRegion", "WHERE eventTime >= '2020-01-01 00:00:00'"),
    ];
    for (text, filter) in cases {
        let counted = format!(
            "SELECT {text} AS t, count(*) AS n, count({text}) AS present, count(1) AS one \
             FROM {STORE} {filter} GROUP BY {text}"
        );
        let plan = lake().plan_blocking(&counted).unwrap();
        assert!(plan.contains("CountByTextExec"), "{counted}:\n{plan}");
        let summed = format!(
            "SELECT {text} AS t, sum(1) AS n, \
             sum(CASE WHEN {text} IS NULL THEN 0 ELSE 1 END) AS present, sum(1) AS one \
             FROM {STORE} {filter} GROUP BY {text}"
        );
        let plan = lake().plan_blocking(&summed).unwrap();
        assert!(!plan.contains("CountByTextExec"), "{summed}:\n{plan}");
        let sorted = |sql: &str| {
            let mut rows = query(sql).rows;
            rows.sort();
            rows
        };
        let expected = sorted(&summed);
        assert!(expected.len() > 1, "{summed}: too few groups to compare");
        assert_eq!(sorted(&counted), expected, "{counted}");
    }
}

/// Aggregates the rewrite does not do are left to DataFusion: other functions beside the
/// count, distinct counts, several grouped expressions, a count of another column.
#[test]
fn other_aggregates_by_text_are_datafusions() {
    for sql in [
        "SELECT eventName, count(DISTINCT eventSource) FROM {STORE} GROUP BY eventName",
        "SELECT eventName, count(*), max(eventTime) FROM {STORE} GROUP BY eventName",
        "SELECT eventName, awsRegion, count(*) FROM {STORE} GROUP BY eventName, awsRegion",
        "SELECT eventName, count(errorCode) FROM {STORE} GROUP BY eventName",
        "SELECT readOnly, count(*) FROM {STORE} GROUP BY readOnly",
    ] {
        let sql = sql.replace("{STORE}", STORE);
        let plan = lake().plan_blocking(&sql).unwrap();
        assert!(!plan.contains("CountByTextExec"), "{sql}:\n{plan}");
        assert!(!query(&sql).rows.is_empty(), "{sql}");
    }
}

/// A filter that is one condition on a text member (equal to a string, or not null) is the
/// scan's alone: DataFusion neither filters nor copies the rows again, and the answers are
/// the records' (counted here).
#[test]
fn text_conditions_are_applied_by_the_scan_alone() {
    let s3 = events()
        .iter()
        .filter(|(r, _)| r.fields.event_source.as_deref() == Some("s3.amazonaws.com"))
        .count();
    let errors_with_key = events()
        .iter()
        .filter(|(_, v)| {
            !v["errorCode"].is_null()
                && v.get("errorCode").is_some()
                && text(v, &["userIdentity", "accessKeyId"]).is_some()
        })
        .count();
    assert!(s3 > 0 && errors_with_key > 0);
    for (sql, expected) in [
        (
            format!("SELECT count(*) FROM {STORE} WHERE eventSource = 's3.amazonaws.com'"),
            s3,
        ),
        (
            format!(
                "SELECT count(*) FROM {STORE} WHERE errorCode IS NOT NULL \
                 AND userIdentity.accessKeyId IS NOT NULL"
            ),
            errors_with_key,
        ),
    ] {
        let plan = lake().plan_blocking(&sql).unwrap();
        assert!(!plan.contains("FilterExec"), "{sql}:\n{plan}");
        assert_eq!(query(&sql).rows, [[Some(expected.to_string())]], "{sql}");
    }
}
