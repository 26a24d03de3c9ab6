//! `cairn query "SQL"`: one CloudTrail Lake query, printed as a table, as JSON (the rows as
//! `aws cloudtrail get-query-results` prints them) or as CSV. Either over a data directory's
//! event data stores (while `cairn serve` is stopped: one process owns a data directory), or,
//! with `--endpoint-url`, through the API: StartQuery, DescribeQuery until the query ends, then
//! every page of GetQueryResults, signed with the AWS CLI's credential sources.
//!
//! The statement names stores by ID. On a data directory, with no caller to scope it, any
//! account's active store may be named. Errors are printed as the AWS CLI prints a service's
//! (`An error occurred (InvalidQueryStatementException) ...`, exit status 254); a query that
//! ends other than FINISHED prints its status and message and exits 1.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use cairn_lake::LakeError;
use cairn_server::event_data_stores::EventDataStores;
use cairn_server::queries::{Results, execute};
use serde_json::{Value, json};

use crate::lookup_events::{ApiClient, ServiceError, find_credentials};
use crate::{DataDirArgs, open_store};

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

/// Where `cairn query` runs its statement.
#[derive(Debug, Clone)]
pub enum QueryPlace {
    /// A data directory, while cairn is stopped.
    Local(DataDirArgs),
    /// A running cairn (or CloudTrail) endpoint, in a region (default: the credentials').
    Endpoint {
        url: String,
        region: Option<String>,
        tls: crate::lookup_events::TlsArgs,
    },
}

/// The AWS CLI's wording and exit status for a service error.
fn service_error(operation: &str, code: &str, message: &str) -> ExitCode {
    let error = ServiceError {
        code: code.to_owned(),
        message: message.to_owned(),
    };
    error.report(operation)
}

pub fn run(place: &QueryPlace, sql: &str, output: QueryOutput) -> Result<ExitCode> {
    let outcome = match place {
        QueryPlace::Local(data) => local(data, sql)?,
        QueryPlace::Endpoint { url, region, tls } => remote(url, region.as_deref(), sql, tls)?,
    };
    let results = match outcome {
        Ok(results) => results,
        Err(code) => return Ok(code),
    };
    let text = match output {
        QueryOutput::Table => table(&results),
        QueryOutput::Json => format!("{}\n", serde_json::to_string_pretty(&json_rows(&results))?),
        QueryOutput::Csv => results.csv(true),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Runs `sql` through the API at `url`: the results, or the exit code of an error printed.
fn remote(
    url: &str,
    region: Option<&str>,
    sql: &str,
    tls: &crate::lookup_events::TlsArgs,
) -> Result<Result<Results, ExitCode>> {
    let credentials = find_credentials(|name| std::env::var(name).ok())?;
    let Some(region) = region.map(str::to_owned).or(credentials.region.clone()) else {
        bail!("You must specify a region: --region, AWS_REGION or the profile's region");
    };
    let client = ApiClient::with_tls(url, credentials, &region, tls)?;
    Ok(match query_through_api(&client, sql)? {
        Ok(results) => Ok(results),
        Err(ApiQueryError::Service { operation, error }) => Err(error.report(&operation)),
        Err(ApiQueryError::Ended {
            id,
            status,
            message,
        }) => {
            eprintln!("query {id} ended {status}: {message}");
            Err(ExitCode::FAILURE)
        }
    })
}

/// Why a query through the API gave no results.
#[derive(Debug)]
pub enum ApiQueryError {
    /// A call was answered with an error.
    Service {
        operation: String,
        error: ServiceError,
    },
    /// The query ended other than FINISHED.
    Ended {
        id: String,
        status: String,
        message: String,
    },
}

/// Runs `sql` through the API: StartQuery, DescribeQuery until it ends (polled after 1 ms,
/// then twice as long each time up to 100 ms), every page of GetQueryResults.
pub fn query_through_api(client: &ApiClient, sql: &str) -> Result<Result<Results, ApiQueryError>> {
    let call = |operation: &str, body: Value| -> Result<Result<Value, ApiQueryError>> {
        let answer = client.call(operation, &serde_json::to_vec(&body)?)?;
        Ok(match answer.error() {
            Some(error) => Err(ApiQueryError::Service {
                operation: operation.to_owned(),
                error,
            }),
            None => Ok(answer.body),
        })
    };
    let started = match call("StartQuery", json!({ "QueryStatement": sql }))? {
        Ok(body) => body,
        Err(e) => return Ok(Err(e)),
    };
    let id = started["QueryId"]
        .as_str()
        .context("StartQuery answered without a QueryId")?
        .to_owned();
    // Polled often while a query is young (most end within a second), then less: each
    // DescribeQuery is an API call, and an audit event.
    let polling = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        let described = match call("DescribeQuery", json!({ "QueryId": id }))? {
            Ok(body) => body,
            Err(e) => return Ok(Err(e)),
        };
        match described["QueryStatus"].as_str() {
            Some("QUEUED" | "RUNNING") => {
                std::thread::sleep(pause);
                let most = match polling.elapsed().as_secs() {
                    0..2 => 10,
                    _ => 500,
                };
                pause = (pause * 2).min(std::time::Duration::from_millis(most));
            }
            Some("FINISHED") => break,
            other => {
                return Ok(Err(ApiQueryError::Ended {
                    id,
                    status: other.unwrap_or("without a status").to_owned(),
                    message: described["ErrorMessage"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                }));
            }
        }
    }
    let mut results = Results {
        labels: Vec::new(),
        rows: Vec::new(),
    };
    let mut token: Option<String> = None;
    loop {
        let mut request = json!({ "QueryId": id });
        if let Some(token) = &token {
            request["NextToken"] = json!(token);
        }
        let page = match call("GetQueryResults", request)? {
            Ok(body) => body,
            Err(e) => return Ok(Err(e)),
        };
        for row in page["QueryResultRows"].as_array().into_iter().flatten() {
            let columns: Vec<(String, Option<String>)> = row
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|column| column.as_object()?.iter().next())
                .map(|(label, value)| (label.clone(), value.as_str().map(str::to_owned)))
                .collect();
            if results.labels.is_empty() {
                results.labels = columns.iter().map(|(label, _)| label.clone()).collect();
            }
            results
                .rows
                .push(columns.into_iter().map(|(_, value)| value).collect());
        }
        token = page["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            return Ok(Ok(results));
        }
    }
}

/// Runs `sql` over the data directory: the results, or the exit code of an error printed.
fn local(data: &DataDirArgs, sql: &str) -> Result<Result<Results, ExitCode>> {
    let prepared = match cairn_lake::statement::prepare(sql) {
        Ok(prepared) => prepared,
        Err(LakeError::InvalidQueryStatement(m)) | Err(LakeError::Failed(m)) => {
            return Ok(Err(service_error(
                "StartQuery",
                "InvalidQueryStatementException",
                &m,
            )));
        }
    };
    let store = Arc::new(open_store(&data.data_dir, data.retention_days)?);
    let stores = EventDataStores::load(store.clone()).map_err(anyhow::Error::msg)?;
    let now = cairn_model::time::now_secs();
    let outcome = execute(
        &stores,
        |edit, id| edit.find_id_anywhere(id),
        prepared,
        now,
        None,
    );
    drop(stores);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }
    match outcome {
        Ok((results, _)) => Ok(Ok(results)),
        Err(message) => {
            eprintln!("the query failed: {message}");
            Ok(Err(ExitCode::FAILURE))
        }
    }
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
