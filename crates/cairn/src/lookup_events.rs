//! `cairn lookup-events`: event history lookups from the command line, printed as the AWS CLI
//! prints them (`--output json`) or as the console's table (`--output table`).

use anyhow::{Result, bail};
use cairn_model::lookup::{LookupAttribute, LookupError, encode_next_token};
use cairn_model::time::{format_event_time, parse_user_time};
use cairn_model::{LookupEvent, LookupEventsRequest, PageCursor};
use cairn_store::Store;
use serde::Serialize;

/// Parses `AttributeKey=K,AttributeValue=V` (the AWS CLI's shorthand). The value may contain
/// commas and `=`; everything after `AttributeValue=` is the value.
pub fn parse_lookup_attribute(text: &str) -> Result<LookupAttribute> {
    let rest = text.trim().strip_prefix("AttributeKey=").ok_or_else(|| {
        anyhow::anyhow!("expected AttributeKey=KEY,AttributeValue=VALUE, got {text:?}")
    })?;
    let Some((key, value)) = rest.split_once(",AttributeValue=") else {
        bail!("expected AttributeKey=KEY,AttributeValue=VALUE, got {text:?}");
    };
    Ok(LookupAttribute {
        attribute_key: key.to_owned(),
        attribute_value: value.to_owned(),
    })
}

/// Parses a `--start-time`/`--end-time` into epoch seconds.
pub fn parse_time_arg(text: &str) -> Result<f64> {
    match parse_user_time(text) {
        Some(ms) => Ok(ms as f64 / 1000.0),
        None => {
            bail!("invalid time {text:?}: use ISO 8601 (2024-01-31T12:00:00Z) or epoch seconds")
        }
    }
}

/// What to look up, as the command line gives it.
#[derive(Debug, Clone, Default)]
pub struct LookupArgs {
    pub request: LookupEventsRequest,
    /// Stop after this many events (all pages are read otherwise).
    pub max_items: Option<usize>,
    pub account_id: Option<String>,
    pub region: Option<String>,
}

/// The AWS CLI's output shape: all events, and a `NextToken` when `--max-items` cut it short.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupOutput {
    pub events: Vec<LookupEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Runs a lookup through every page, as the AWS CLI's paginator does.
pub fn run_lookup(store: &Store, args: &LookupArgs) -> Result<Result<LookupOutput, LookupError>> {
    let valid = match args
        .request
        .validate(args.account_id.clone(), args.region.clone())
    {
        Ok(valid) => valid,
        Err(e) => return Ok(Err(e)),
    };
    let mut events = Vec::new();
    let mut cursor = valid.cursor;
    let full = |events: &Vec<LookupEvent>| args.max_items.is_some_and(|max| events.len() >= max);
    let mut cut_short = false;
    loop {
        let page = store.lookup(&valid.query, cursor, valid.max_results)?;
        for record in &page.records {
            if full(&events) {
                cut_short = true;
                break;
            }
            events.push(LookupEvent::from_record(record));
            cursor = Some(PageCursor {
                time_ms: record.fields.event_time_ms,
                fingerprint: record.fingerprint,
            });
        }
        if full(&events) {
            cut_short |= page.next.is_some();
            break;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let next_token = if cut_short {
        cursor.map(|c| encode_next_token(&valid.query, c))
    } else {
        None
    };
    Ok(Ok(LookupOutput { events, next_token }))
}

/// JSON as the AWS CLI (v1, default settings) prints it: 4-space indent, non-ASCII as is,
/// `EventTime` as the epoch number the API returned.
pub fn render_json(output: &LookupOutput) -> Result<String> {
    let mut buffer = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut buffer, formatter);
    output.serialize(&mut serializer)?;
    buffer.push(b'\n');
    Ok(String::from_utf8(buffer)?)
}

/// The console's event history view: time, user, event name, source, resource.
pub fn render_table(output: &LookupOutput) -> String {
    const HEADERS: [&str; 6] = [
        "Event time",
        "User name",
        "Event name",
        "Event source",
        "Resource type",
        "Resource name",
    ];
    const MAX_WIDTH: usize = 60;
    let rows: Vec<[String; 6]> = output
        .events
        .iter()
        .map(|e| {
            let first = e.resources.first();
            [
                format_event_time((e.event_time * 1000.0).round() as i64),
                e.username.clone().unwrap_or_else(|| "-".into()),
                e.event_name.clone().unwrap_or_else(|| "-".into()),
                e.event_source.clone().unwrap_or_else(|| "-".into()),
                first
                    .and_then(|r| r.resource_type.clone())
                    .unwrap_or_else(|| "-".into()),
                first
                    .and_then(|r| r.resource_name.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let clip = |s: &str| -> String {
        if s.chars().count() > MAX_WIDTH {
            let mut c: String = s.chars().take(MAX_WIDTH - 1).collect();
            c.push('…');
            c
        } else {
            s.to_owned()
        }
    };
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(clip(cell).chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{:<w$}", clip(c), w = w))
            .collect();
        parts.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(&HEADERS.map(String::from));
    for row in &rows {
        out.push_str(&line(row));
    }
    if let Some(token) = &output.next_token {
        out.push_str(&format!("(more events: --starting-token {token})\n"));
    }
    out
}
