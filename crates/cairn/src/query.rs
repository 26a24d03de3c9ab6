//! `cairn query "SQL"`: one CloudTrail Lake query over a data directory's event data stores
//! (while `cairn serve` is stopped: one process owns a data directory), printed as a table, as
//! JSON (the rows as `aws cloudtrail get-query-results` prints them) or as CSV.
//!
//! The statement names stores by ID, as through the API; with no caller to scope it, any
//! account's active store may be named. Errors are printed as the AWS CLI prints a service's
//! (`An error occurred (InvalidQueryStatementException) ...`, exit status 254).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use cairn_lake::LakeError;
use cairn_server::event_data_stores::EventDataStores;
use cairn_server::queries::{Results, execute};
use cairn_store::Store;
use serde_json::{Value, json};

use crate::{DataDirArgs, store_options};

/// How `cairn query` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryOutput {
    /// Columns aligned, a header of the column labels.
    Table,
    /// `{"QueryStatus": "FINISHED", "QueryResultRows": [...]}`, as the AWS CLI prints it.
    Json,
    /// A header of the labels, then a line a row; values that a spreadsheet would run as a
    /// formula get a leading `'`.
    Csv,
}

pub fn run(data: &DataDirArgs, sql: &str, output: QueryOutput) -> Result<ExitCode> {
    let service_error = |code: &str, message: &str| {
        eprintln!("An error occurred ({code}) when calling the StartQuery operation: {message}");
        Ok(ExitCode::from(254))
    };
    let prepared = match cairn_lake::statement::prepare(sql) {
        Ok(prepared) => prepared,
        Err(LakeError::InvalidQueryStatement(m)) | Err(LakeError::Failed(m)) => {
            return service_error("InvalidQueryStatementException", &m);
        }
    };
    let store = Arc::new(Store::open(
        &data.data_dir,
        store_options(data.retention_days),
    )?);
    let stores = EventDataStores::load(store.clone()).map_err(anyhow::Error::msg)?;
    let now = cairn_model::time::now_ms() as f64 / 1000.0;
    let outcome = execute(&stores, |edit, id| edit.find_id_anywhere(id), prepared, now);
    drop(stores);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }
    let results = match outcome {
        Ok((results, _)) => results,
        Err(message) => return service_error("QueryFailed", &message),
    };
    print!(
        "{}",
        match output {
            QueryOutput::Table => table(&results),
            QueryOutput::Json =>
                format!("{}\n", serde_json::to_string_pretty(&json_rows(&results))?),
            QueryOutput::Csv => csv(&results),
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn json_rows(results: &Results) -> Value {
    json!({"QueryStatus": "FINISHED", "QueryResultRows": results.wire_rows(0..results.rows.len())})
}

fn table(results: &Results) -> String {
    let cell = |value: &Option<String>| value.clone().unwrap_or_default();
    let mut widths: Vec<usize> = results.labels.iter().map(|l| l.chars().count()).collect();
    for row in &results.rows {
        for (width, value) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell(value).chars().count());
        }
    }
    let line = |values: Vec<String>| {
        let cells: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        format!("{}\n", cells.join("  ").trim_end())
    };
    let mut out = line(results.labels.clone());
    for row in &results.rows {
        out.push_str(&line(row.iter().map(cell).collect()));
    }
    out
}

fn csv(results: &Results) -> String {
    let field = |text: &str| {
        let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{text}")
        } else {
            text.to_owned()
        };
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let line = |values: Vec<String>| {
        let fields: Vec<String> = values.iter().map(|v| field(v)).collect();
        format!("{}\n", fields.join(","))
    };
    let mut out = line(results.labels.clone());
    for row in &results.rows {
        out.push_str(&line(
            row.iter().map(|v| v.clone().unwrap_or_default()).collect(),
        ));
    }
    out
}
