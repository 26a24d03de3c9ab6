//! Counting rows by one text value, the commonest investigation query ("count by eventName",
//! "errors by principal", "calls by bucket"), without hashing every row's text.
//!
//! An event data store's text columns come from its segments' dictionaries: rows of one value
//! in a batch share one string view (the same bytes at the same place, or the same inline
//! text), so a batch has few distinct views. [`CountByTextExec`] counts rows by their view
//! (16 bytes, hashed as one number), then adds each distinct view's count to its text's,
//! hashing the text once per view rather than once per row. Views that differ but hold the
//! same text (from different pages or buffers) meet there, so the answer does not depend on
//! where the texts are stored, only the speed does.
//!
//! [`CountByText`] is the physical optimizer rule that puts it in place of DataFusion's
//! aggregate for `GROUP BY` one text expression with only `count` aggregates (`count(*)`,
//! `count(1)`, `count` of the grouped expression): the aggregate's first stage (or only stage)
//! whose input is rows, with the same output schema, so the stages after it are unchanged.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringViewArray};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::HashMap;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::expressions::Literal;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, InputOrderMode, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use futures_util::StreamExt;

/// The rule: see the module's documentation.
#[derive(Debug, Default)]
pub struct CountByText;

impl PhysicalOptimizerRule for CountByText {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let replaced = node
                .downcast_ref::<AggregateExec>()
                .and_then(CountByTextExec::replacing);
            Ok(match replaced {
                Some(exec) => Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "count_by_text"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// What one output column after the group's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// Every row (`count(*)`, `count(1)`).
    Rows,
    /// Rows whose text is not null (`count` of the grouped expression).
    Texts,
}

/// Counts the rows of its input by the text of one expression (see the module's
/// documentation); one batch out per partition: each text, null included where rows have
/// none, and its counts.
#[derive(Debug)]
pub struct CountByTextExec {
    input: Arc<dyn ExecutionPlan>,
    /// The grouped expression (its values are string views).
    text: Arc<dyn PhysicalExpr>,
    counted: Vec<Counted>,
    /// The replaced aggregate's: the same schema, partitioning and ordering (none).
    properties: Arc<PlanProperties>,
    input_distribution: InputDistributionRequirements,
}

impl CountByTextExec {
    /// The exec doing `aggregate`'s work, where it is a count by one text (see
    /// [`CountByText`]).
    fn replacing(aggregate: &AggregateExec) -> Option<CountByTextExec> {
        let takes_rows = matches!(
            aggregate.mode(),
            AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned
        );
        let group_by = aggregate.group_expr();
        let plain = takes_rows
            && !group_by.has_grouping_set()
            && group_by.expr().len() == 1
            && aggregate.limit_options().is_none()
            && aggregate.dynamic_expressions_produced().is_empty()
            && *aggregate.input_order_mode() == InputOrderMode::Linear
            && aggregate.filter_expr().iter().all(Option::is_none);
        if !plain {
            return None;
        }
        let text = group_by.expr()[0].0.clone();
        let input_schema = aggregate.input_schema();
        if text.data_type(&input_schema).ok()? != DataType::Utf8View {
            return None;
        }
        let counted = aggregate
            .aggr_expr()
            .iter()
            .map(|a| {
                let args = a.expressions();
                let simple = a.fun().name() == "count"
                    && !a.is_distinct()
                    && a.order_bys().is_empty()
                    && args.len() == 1;
                if !simple {
                    return None;
                }
                if let Some(literal) = args[0].downcast_ref::<Literal>() {
                    return (!literal.value().is_null()).then_some(Counted::Rows);
                }
                (args[0].as_ref() == text.as_ref()).then_some(Counted::Texts)
            })
            .collect::<Option<Vec<_>>>()?;
        // Each count's output (its state or its value) is one Int64 column.
        let schema = aggregate.schema();
        let counts_fit = schema.fields().len() == 1 + counted.len()
            && schema.fields()[0].data_type() == &DataType::Utf8View
            && schema.fields()[1..]
                .iter()
                .all(|f| f.data_type() == &DataType::Int64);
        if !counts_fit {
            return None;
        }
        Some(CountByTextExec {
            input: aggregate.input().clone(),
            text,
            counted,
            properties: aggregate.properties().clone(),
            input_distribution: aggregate.input_distribution_requirements(),
        })
    }
}

impl DisplayAs for CountByTextExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CountByTextExec: text={}", self.text)
    }
}

impl ExecutionPlan for CountByTextExec {
    fn name(&self) -> &str {
        "CountByTextExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.input_distribution.clone()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        f(&self.text)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(
                "CountByTextExec has one input".to_owned(),
            ));
        }
        Ok(Arc::new(CountByTextExec {
            input: children.swap_remove(0),
            text: self.text.clone(),
            counted: self.counted.clone(),
            properties: self.properties.clone(),
            input_distribution: self.input_distribution.clone(),
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context)?;
        let text = self.text.clone();
        let counted = self.counted.clone();
        let schema = self.schema();
        let counting = async move {
            let mut counts = TextCounts::default();
            while let Some(batch) = input.next().await {
                let batch = batch?;
                let texts = text.evaluate(&batch)?.into_array(batch.num_rows())?;
                let texts = texts.as_string_view_opt().ok_or_else(|| {
                    DataFusionError::Internal("CountByTextExec: the texts are not views".into())
                })?;
                counts.add(texts);
            }
            counts.into_batch(schema, &counted)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            futures_util::stream::once(counting),
        )))
    }
}

/// Rows counted by text.
#[derive(Debug, Default)]
struct TextCounts {
    /// Each text's rows.
    by_text: HashMap<Box<str>, i64>,
    null_rows: i64,
    /// A batch's distinct views and their rows; kept to be reused.
    by_view: ViewCounts,
}

impl TextCounts {
    fn add(&mut self, texts: &StringViewArray) {
        let views = texts.views();
        match texts.logical_nulls() {
            None => {
                for (row, &view) in views.iter().enumerate() {
                    self.by_view.add(view, row);
                }
            }
            Some(nulls) => {
                for (row, &view) in views.iter().enumerate() {
                    match nulls.is_valid(row) {
                        true => self.by_view.add(view, row),
                        false => self.null_rows += 1,
                    }
                }
            }
        }
        // Rows of one view have one text.
        for (row, rows) in self.by_view.drain() {
            let text = texts.value(row);
            match self.by_text.get_mut(text) {
                Some(total) => *total += rows,
                None => {
                    self.by_text.insert(text.into(), rows);
                }
            }
        }
    }

    /// The counts as the replaced aggregate's output: texts, then each count.
    fn into_batch(self, schema: SchemaRef, counted: &[Counted]) -> Result<RecordBatch> {
        let mut texts: Vec<Option<&str>> = Vec::with_capacity(self.by_text.len() + 1);
        let mut rows: Vec<i64> = Vec::with_capacity(texts.capacity());
        for (text, n) in &self.by_text {
            texts.push(Some(text));
            rows.push(*n);
        }
        if self.null_rows > 0 {
            texts.push(None);
            rows.push(self.null_rows);
        }
        let not_null: Vec<i64> = texts
            .iter()
            .zip(&rows)
            .map(|(text, n)| if text.is_some() { *n } else { 0 })
            .collect();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringViewArray::from(texts))];
        for count in counted {
            let values = match count {
                Counted::Rows => rows.clone(),
                Counted::Texts => not_null.clone(),
            };
            columns.push(Arc::new(Int64Array::from(values)));
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// The distinct views of one batch, each with the first row that has it (to read its text
/// from) and its rows: a table of open addressing (linear probing), at most half full, keyed
/// by the view's 16 bytes mixed by one multiplication. Counting a row is a few instructions
/// where a general hash map's hashing of 16 bytes costs several times more, and a batch has few
/// distinct views (see the module's documentation).
#[derive(Debug)]
struct ViewCounts {
    slots: Vec<ViewSlot>,
    /// The slots in use, to read and empty them without looking at the others.
    used: Vec<usize>,
}

#[derive(Debug, Clone, Copy, Default)]
struct ViewSlot {
    view: u128,
    first_row: usize,
    /// 0 for an empty slot.
    rows: i64,
}

impl Default for ViewCounts {
    fn default() -> ViewCounts {
        ViewCounts {
            slots: vec![ViewSlot::default(); 256],
            used: Vec::new(),
        }
    }
}

impl ViewCounts {
    /// Where a view's probe starts: its two halves folded, multiplied by an odd constant,
    /// and the product's halves folded again, so that every bit of the view moves the low
    /// bits (a view's low bits are its length, the same for many texts).
    #[inline(always)]
    fn start(view: u128, mask: usize) -> usize {
        let folded = (view as u64) ^ ((view >> 64) as u64).rotate_left(29);
        let product = u128::from(folded) * 0x9E37_79B9_7F4A_7C15;
        ((product as u64) ^ ((product >> 64) as u64)) as usize & mask
    }

    /// The slot holding `view`, or the empty slot where it goes.
    #[inline(always)]
    fn slot_of(&self, view: u128) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = Self::start(view, mask);
        while self.slots[at].rows != 0 && self.slots[at].view != view {
            at = (at + 1) & mask;
        }
        at
    }

    /// Counts row `row`, whose view is `view`.
    #[inline(always)]
    fn add(&mut self, view: u128, row: usize) {
        let at = self.slot_of(view);
        let slot = &mut self.slots[at];
        if slot.rows != 0 {
            slot.rows += 1;
            return;
        }
        *slot = ViewSlot {
            view,
            first_row: row,
            rows: 1,
        };
        self.used.push(at);
        if self.used.len() * 2 > self.slots.len() {
            self.grow();
        }
    }

    /// Twice the slots, the views in use placed again.
    #[cold]
    fn grow(&mut self) {
        let taken: Vec<ViewSlot> = self.used.iter().map(|&at| self.slots[at]).collect();
        self.slots = vec![ViewSlot::default(); self.slots.len() * 2];
        self.used.clear();
        for slot in taken {
            let at = self.slot_of(slot.view);
            self.slots[at] = slot;
            self.used.push(at);
        }
    }

    /// Each distinct view's first row and rows, the table left empty.
    fn drain(&mut self) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.used.drain(..).map(|at| {
            let slot = std::mem::take(&mut self.slots[at]);
            (slot.first_row, slot.rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringViewBuilder;
    use datafusion::arrow::datatypes::{Field, Schema};

    /// Texts as the store gives them: each distinct long text written once in a buffer, and
    /// its rows pointing at it (`dictionary` holds the texts, `rows` their indexes).
    fn from_dictionary(dictionary: &[&str], rows: &[Option<usize>]) -> StringViewArray {
        let mut builder = StringViewBuilder::new();
        let buffer: Vec<u8> = dictionary.concat().into_bytes();
        let block = builder.append_block(buffer.into());
        let mut offsets = Vec::new();
        let mut at = 0u32;
        for text in dictionary {
            offsets.push(at);
            at += text.len() as u32;
        }
        for row in rows {
            match row {
                Some(i) if dictionary[*i].len() > 12 => builder
                    .try_append_view(block, offsets[*i], dictionary[*i].len() as u32)
                    .unwrap(),
                Some(i) => builder.append_value(dictionary[*i]),
                None => builder.append_null(),
            }
        }
        builder.finish()
    }

    fn counts(batches: &[StringViewArray]) -> Vec<(Option<String>, i64, i64)> {
        let mut counts = TextCounts::default();
        batches.iter().for_each(|texts| counts.add(texts));
        let schema = Arc::new(Schema::new(vec![
            Field::new("t", DataType::Utf8View, true),
            Field::new("n", DataType::Int64, false),
            Field::new("present", DataType::Int64, false),
        ]));
        let batch = counts
            .into_batch(schema, &[Counted::Rows, Counted::Texts])
            .unwrap();
        let texts = batch.column(0).as_string_view();
        let column = |i: usize| {
            batch
                .column(i)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .clone()
        };
        let (rows, present) = (column(1), column(2));
        let mut out: Vec<_> = (0..batch.num_rows())
            .map(|row| {
                (
                    texts.is_valid(row).then(|| texts.value(row).to_owned()),
                    rows.value(row),
                    present.value(row),
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn rows_of_one_text_count_together_wherever_the_text_is_kept() {
        let long = "arn:aws:iam::123456789012:user/alice";
        let other = "arn:aws:iam::123456789012:user/bob";
        // The same long text in two batches' buffers, and twice in one buffer.
        let first = from_dictionary(
            &[long, other, "GetObject"],
            &[Some(0), Some(1), Some(0), None, Some(2)],
        );
        let second = from_dictionary(
            &[other, long, long],
            &[Some(2), Some(1), Some(0), None, None],
        );
        assert_eq!(
            counts(&[first, second]),
            [
                (None, 3, 0),
                (Some("GetObject".to_owned()), 1, 1),
                (Some(long.to_owned()), 4, 4),
                (Some(other.to_owned()), 2, 2),
            ]
        );
    }

    #[test]
    fn many_distinct_texts_in_one_batch_are_each_counted() {
        // More distinct views than the table first has slots for: it grows.
        let texts: Vec<String> = (0..5000).map(|i| format!("text number {i}")).collect();
        let rows: Vec<Option<&str>> = texts
            .iter()
            .chain(&texts)
            .map(|t| Some(t.as_str()))
            .chain([None])
            .collect();
        let counted = counts(&[StringViewArray::from(rows)]);
        assert_eq!(counted.len(), 5001);
        assert_eq!(counted[0], (None, 1, 0));
        assert!(
            counted[1..]
                .iter()
                .all(|(_, rows, present)| *rows == 2 && *present == 2)
        );
    }

    #[test]
    fn no_rows_count_nothing() {
        assert_eq!(
            counts(&[StringViewArray::from(Vec::<Option<&str>>::new())]),
            []
        );
    }
}
