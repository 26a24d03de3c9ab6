//! cairn-lake: CloudTrail Lake's SQL over cairn's events, on Apache DataFusion. The only crate
//! that links DataFusion; it knows records (`cairn-model`), not HTTP or the data directory.
//!
//! - [`schema`]: Lake's table schema for CloudTrail events;
//! - [`table`]: an event data store's events as that table, read member by member;
//! - [`statement`]: what a query may be (one SELECT), store IDs as table names, column labels;
//! - [`render`]: results as Lake renders them (strings, Trino's text forms);
//! - [`functions`]: Trino's functions where DataFusion's differ.
//!
//! A [`Lake`] holds the tables a query may read, each named by its event data store's ID.

pub mod count_by_text;
pub mod functions;
pub mod render;
pub mod schema;
pub mod statement;
pub mod table;

use std::sync::Arc;

use cairn_model::Record;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

/// Why a query gives no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LakeError {
    /// The statement is not a query Lake runs (`InvalidQueryStatementException`): not one
    /// SELECT, not SQL, or naming what is not there.
    #[error("{0}")]
    InvalidQueryStatement(String),
    /// The query was valid but failed while running (the query's status becomes FAILED).
    #[error("{0}")]
    Failed(String),
}

/// A query's answer: a label per column, and rows of values as text (`None` for null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    pub labels: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// The tables of one query session.
pub struct Lake {
    context: SessionContext,
    tables: Vec<Arc<table::EventsTable>>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake").finish_non_exhaustive()
    }
}

impl Default for Lake {
    fn default() -> Lake {
        Lake::new()
    }
}

impl Lake {
    pub fn new() -> Lake {
        // Identifiers fold to lower case (Lake's names are case-insensitive); `information_schema`
        // stays off: a query sees only its stores.
        let config = SessionConfig::new().with_information_schema(false);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(count_by_text::CountByText))
            .build();
        let context = SessionContext::new_with_state(state);
        functions::register_all(&context);
        Lake {
            context,
            tables: Vec::new(),
        }
    }

    /// Makes `records` the table `store_id` (an event data store's ID, a UUID).
    pub fn add_events(&mut self, store_id: &str, records: &[Record]) -> Result<(), LakeError> {
        self.add_source(
            store_id,
            Arc::new(table::records::Records(records.to_vec())),
        )
    }

    /// Makes the events of `source` the table `store_id`.
    pub fn add_source(
        &mut self,
        store_id: &str,
        source: Arc<dyn table::EventSource>,
    ) -> Result<(), LakeError> {
        let table = Arc::new(table::EventsTable::new(source));
        self.context
            .register_table(store_id.to_ascii_lowercase(), table.clone())
            .map_err(|e| LakeError::Failed(format!("table {store_id}: {e}")))?;
        self.tables.push(table);
        Ok(())
    }

    /// Runs one Lake query.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, LakeError> {
        self.run(statement::prepare(sql)?).await
    }

    /// Runs a prepared query (its tables added first).
    pub async fn run(&self, prepared: statement::Prepared) -> Result<QueryResult, LakeError> {
        let frame = self
            .context
            .sql(&prepared.sql)
            .await
            .map_err(|e| LakeError::InvalidQueryStatement(plan_message(e)))?;
        let used =
            table::struct_use::StructUse::of_plan(frame.logical_plan(), &schema::PART_READ_COLUMNS);
        for table in &self.tables {
            table.set_struct_use(used.clone());
        }
        let names: Vec<String> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let batches = frame
            .collect()
            .await
            .map_err(|e| LakeError::Failed(e.to_string()))?;
        let labels = match prepared.labels {
            Some(labels) if labels.len() == names.len() => labels,
            _ => names,
        };
        let rows = render::rows(&batches).map_err(|e| LakeError::Failed(e.to_string()))?;
        Ok(QueryResult { labels, rows })
    }

    /// [`Self::query`] for callers without an async runtime of their own.
    pub fn query_blocking(&self, sql: &str) -> Result<QueryResult, LakeError> {
        self.run_blocking(statement::prepare(sql)?)
    }

    /// [`Self::run`] for callers without an async runtime of their own.
    pub fn run_blocking(&self, prepared: statement::Prepared) -> Result<QueryResult, LakeError> {
        let runtime = QUERY_RUNTIME
            .as_ref()
            .map_err(|e| LakeError::Failed(format!("starting the query runtime: {e}")))?;
        runtime.block_on(self.run(prepared))
    }
}

/// The runtime queries run on, started with the first: a worker a core, so that the
/// partitions of a plan (each scan's parts, their partial aggregates) run at once.
static QUERY_RUNTIME: std::sync::LazyLock<Result<tokio::runtime::Runtime, String>> =
    std::sync::LazyLock::new(|| {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("cairn-lake")
            .build()
            .map_err(|e| e.to_string())
    });

impl Lake {
    /// Plans a query as [`Self::run`] would (parse, rewrite, logical and physical plans)
    /// without running it, and gives the physical plan's text: for the fuzz target `sql`,
    /// which must not wait on arbitrary joins, and for tests of what a plan is made of.
    pub fn plan_blocking(&self, sql: &str) -> Result<String, LakeError> {
        let prepared = statement::prepare(sql)?;
        let runtime = QUERY_RUNTIME
            .as_ref()
            .map_err(|e| LakeError::Failed(format!("starting the query runtime: {e}")))?;
        runtime.block_on(async {
            let frame = self
                .context
                .sql(&prepared.sql)
                .await
                .map_err(|e| LakeError::InvalidQueryStatement(plan_message(e)))?;
            let plan = frame
                .create_physical_plan()
                .await
                .map_err(|e| LakeError::Failed(e.to_string()))?;
            Ok(datafusion::physical_plan::displayable(plan.as_ref())
                .indent(false)
                .to_string())
        })
    }
}

/// DataFusion's planning error, without its error-kind prefix.
fn plan_message(error: DataFusionError) -> String {
    let text = error.strip_backtrace();
    ["Error during planning: ", "Schema error: ", "SQL error: "]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix).map(str::to_owned))
        .unwrap_or(text)
}
