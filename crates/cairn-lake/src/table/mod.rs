//! An event data store as a table: [`EventsTable`] reads, for each query, only the record
//! members its columns are made of, from an [`EventSource`] (the store, through the
//! membership of one event data store, in `cairn-server`), within the times its filters allow.
//!
//! - [`columns`]: which members make each of Lake's columns, and how;
//! - [`prefilter`]: rows taken out before the columns are built;
//! - [`records`]: records in memory as a source;
//! - [`struct_use`]: which fields of the struct columns a query reads;
//! - [`time_range`]: the times a query's filters on `eventtime` allow.
//!
//! Most filters are applied by DataFusion after the scan (`Inexact`): the source uses them only
//! to skip what cannot match, so a source that skips nothing still answers right. A filter
//! that is one [`prefilter::Condition`] (a text column or struct field equal to a string, or
//! not null) is `Exact`: the source reads its member and takes out every row that fails it
//! (the store as it reads its columns, [`records`] with [`prefilter::apply`]), so DataFusion
//! does not filter (and copy) the rows again.

pub mod columns;
pub mod prefilter;
pub mod records;
pub mod struct_use;
pub mod time_range;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};

use crate::schema::cloudtrail_events;
use struct_use::StructUse;

/// What a table asks its source for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanRequest {
    /// Record member paths, keys joined by `.`; each a text column of the batches, named by
    /// its path (a string's characters, other values as JSON text, null when absent).
    pub paths: Vec<String>,
    /// Adds the column [`columns::RECORD_MEMBER`]: each event's JSON text.
    pub record_text: bool,
    /// Events before this time (ms) are not wanted (they may still come).
    pub min_time_ms: Option<i64>,
    /// Events after this time (ms) are not wanted (they may still come).
    pub max_time_ms: Option<i64>,
    /// Rows failing one of these are not wanted: the source takes them out (every one).
    pub conditions: Vec<prefilter::Condition>,
    /// Which part of the source to read: `(i, n)`, the `i`th of `n` parts that together are
    /// every event once, read at the same time by `n` threads (`n` of 0 or 1: all of it).
    pub part: (usize, usize),
    /// Adds the column [`columns::TIME_MEMBER`]: each event's time.
    pub times: bool,
}

impl ScanRequest {
    /// Whether the `k`th of a source's pieces (segments, say) is in the requested part.
    pub fn takes_piece(&self, k: usize) -> bool {
        let (i, n) = self.part;
        n <= 1 || k % n == i
    }
}

/// Where a table's events come from. Batches have the request's columns, and the column
/// [`columns::TIME_MEMBER`] (timestamps, ms) when it asks for times.
pub trait EventSource: std::fmt::Debug + Send + Sync {
    fn scan(
        &self,
        request: &ScanRequest,
        f: &mut dyn FnMut(RecordBatch) -> Result<(), String>,
    ) -> Result<(), String>;
}

/// One event data store's events as Lake's table of CloudTrail events.
#[derive(Debug)]
pub struct EventsTable {
    source: Arc<dyn EventSource>,
    /// What the query about to run reads of the struct columns (everything until told).
    struct_use: Mutex<StructUse>,
}

impl EventsTable {
    pub fn new(source: Arc<dyn EventSource>) -> EventsTable {
        EventsTable {
            source,
            struct_use: Mutex::new(StructUse::default()),
        }
    }

    /// Tells the table what the query about to run reads of its struct columns.
    pub fn set_struct_use(&self, used: StructUse) {
        if let Ok(mut slot) = self.struct_use.lock() {
            *slot = used;
        }
    }
}

#[async_trait]
impl TableProvider for EventsTable {
    fn schema(&self) -> SchemaRef {
        cloudtrail_events()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| match prefilter::is_exact(filter) {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = cloudtrail_events();
        let fields: Vec<&Field> = match projection {
            Some(indices) => indices.iter().map(|&i| schema.field(i)).collect(),
            None => schema.fields().iter().map(|f| f.as_ref()).collect(),
        };
        let projected: SchemaRef = Arc::new(Schema::new(
            fields.iter().map(|f| (*f).clone()).collect::<Vec<_>>(),
        ));
        let used = self
            .struct_use
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default();
        let mut needs = columns::needs(&fields, &used);
        let times = time_range::of_filters(filters);
        // Every condition is applied, the exact ones (which DataFusion leaves to the scan)
        // and the others alike: their members are read even when no column needs them.
        let conditions: Vec<prefilter::Condition> = prefilter::conditions(filters);
        for condition in &conditions {
            if !needs.paths.iter().any(|p| p == condition.path()) {
                needs.paths.push(condition.path().to_owned());
            }
        }
        let request = ScanRequest {
            paths: needs.paths,
            record_text: needs.record_text,
            times: needs.times,
            min_time_ms: times.min_ms,
            max_time_ms: times.max_ms,
            conditions: conditions.clone(),
            part: (0, 1),
        };
        // A part of the source a thread, as many as the session runs at once.
        let parts = state.config().target_partitions().max(1);
        let streams: Vec<Arc<dyn PartitionStream>> = (0..parts)
            .map(|i| {
                Arc::new(EventsStream {
                    source: self.source.clone(),
                    request: ScanRequest {
                        part: (i, parts),
                        ..request.clone()
                    },
                    schema: projected.clone(),
                    used: used.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let plan: Arc<dyn ExecutionPlan> = Arc::new(StreamingTableExec::try_new(
            projected,
            streams,
            None,
            Vec::new(),
            false,
            None,
        )?);
        Ok(plan)
    }
}

/// What a source's scan is told when the query has stopped reading (sources pass their
/// callback's error on).
const STOPPED: &str = "the query stopped reading";

/// One scan of a source as a stream of Lake's batches: the source runs on a blocking thread
/// and hands over its batches in groups of about [`GROUP_ROWS`] rows (two groups waiting at
/// most), so a scan holds a few batches in memory however many events it reads, and the
/// query's thread is woken once a group rather than once a batch (a wake-up costs more than
/// counting a batch's rows); when the query stops reading (a LIMIT met), the source is told
/// to stop.
#[derive(Debug)]
struct EventsStream {
    source: Arc<dyn EventSource>,
    request: ScanRequest,
    schema: SchemaRef,
    used: StructUse,
}

/// Rows of the batches handed over at once (see [`EventsStream`]).
const GROUP_ROWS: usize = 32 * 1024;

impl PartitionStream for EventsStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<RecordBatch>>>(2);
        let source = self.source.clone();
        let request = self.request.clone();
        let schema = self.schema.clone();
        let used = self.used.clone();
        let scanning = tokio::task::spawn_blocking(move || {
            let mut nulls = columns::NullColumns::default();
            let mut group: Vec<RecordBatch> = Vec::new();
            let scanned = source.scan(&request, &mut |scanned| {
                if scanned.num_rows() == 0 {
                    return Ok(());
                }
                group.push(columns::lake_batch(&schema, &scanned, &used, &mut nulls)?);
                if group.iter().map(RecordBatch::num_rows).sum::<usize>() < GROUP_ROWS {
                    return Ok(());
                }
                sender
                    .blocking_send(Ok(std::mem::take(&mut group)))
                    .map_err(|_| STOPPED.to_owned())
            });
            let last = match scanned {
                Ok(()) => Ok(group),
                // Not a failure: the query has what it needs.
                Err(e) if e == STOPPED => return,
                Err(e) => Err(DataFusionError::Execution(e)),
            };
            // The query may have stopped reading meanwhile: nobody to tell.
            let _ = sender.blocking_send(last);
        });
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            grouped_batches(receiver, scanning),
        ))
    }
}

/// The batches of the groups `receiver` gets, one at a time, then the end; an error where
/// the scan sent one or where it panicked (`scanning` ended without sending its last group).
fn grouped_batches(
    receiver: tokio::sync::mpsc::Receiver<Result<Vec<RecordBatch>>>,
    scanning: tokio::task::JoinHandle<()>,
) -> impl futures_util::Stream<Item = Result<RecordBatch>> {
    let state = (receiver, Some(scanning), std::collections::VecDeque::new());
    futures_util::stream::unfold(
        state,
        |(mut receiver, mut scanning, mut ready)| async move {
            loop {
                if let Some(batch) = ready.pop_front() {
                    return Some((Ok(batch), (receiver, scanning, ready)));
                }
                match receiver.recv().await {
                    Some(Ok(group)) => ready.extend(group),
                    Some(Err(e)) => return Some((Err(e), (receiver, None, ready))),
                    None => {
                        // Closed: the scan ended; a panic is a failure, not an early end.
                        let panicked = match scanning.take() {
                            Some(handle) => handle.await.err(),
                            None => None,
                        };
                        let failure = panicked.map(|e| {
                            DataFusionError::Execution(format!(
                                "the scan of the events failed: {e}"
                            ))
                        })?;
                        return Some((Err(failure), (receiver, None, ready)));
                    }
                }
            }
        },
    )
}
