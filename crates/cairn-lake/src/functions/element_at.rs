//! Trino's `element_at(map, key)`: the key's value, NULL when the key is absent; and
//! `element_at(array, index)`: the element at a 1-based index, counted from the end when
//! negative, NULL when out of range (Trino fails on index 0; NULL here, as for any index
//! without an element).

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, MapArray, Scalar, UInt32Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ElementAt {
    signature: Signature,
}

impl ElementAt {
    pub fn new() -> ElementAt {
        ElementAt {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ElementAt {
    fn name(&self) -> &str {
        "element_at"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
                other => plan_err!("element_at: a map's entries are not key and value: {other}"),
            },
            DataType::List(item) | DataType::LargeList(item) => Ok(item.data_type().clone()),
            DataType::Null => Ok(DataType::Null),
            other => plan_err!("element_at takes a map or an array, not {other}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // One key for every row (`element_at(requestparameters, 'bucketName')`, the usual
        // call) is not made into a column of copies.
        if let [ColumnarValue::Array(container), ColumnarValue::Scalar(key)] = args.args.as_slice()
        {
            let key = key.to_array_of_size(1)?;
            if let DataType::Map(..) = container.data_type() {
                return Ok(ColumnarValue::Array(map_value_at(
                    container.as_map(),
                    &key,
                )?));
            }
            return Ok(ColumnarValue::Array(element_at(container, &key, |_| 0)?));
        }
        super::invoke(args, |arrays| element_at(&arrays[0], &arrays[1], |row| row))
    }
}

/// Each row's value of `map` at the one key `key` (an array of one): the keys are compared
/// with the key at once, then each row takes its first entry that matched.
fn map_value_at(map: &MapArray, key: &ArrayRef) -> Result<ArrayRef> {
    let wanted = cast(key, &DataType::Utf8)?;
    let keys = cast(map.keys(), &DataType::Utf8)?;
    let matched = eq(&keys, &Scalar::new(wanted))?;
    let matched = match matched.nulls() {
        Some(nulls) => matched.values() & nulls.inner(),
        None => matched.values().clone(),
    };
    let offsets = map.value_offsets();
    let mut picks = vec![0u32; map.len()];
    let mut found = BooleanBufferBuilder::new(map.len());
    found.append_n(map.len(), false);
    let mut row = 0;
    for entry in matched.set_indices() {
        // The row whose entries hold `entry` (rows without entries are passed over).
        while offsets[row + 1] as usize <= entry {
            row += 1;
        }
        if !found.get_bit(row) && map.is_valid(row) {
            found.set_bit(row, true);
            picks[row] = u32::try_from(entry).map_err(|e| DataFusionError::External(e.into()))?;
        }
    }
    let picks = UInt32Array::new(picks.into(), Some(NullBuffer::new(found.finish())));
    Ok(take(map.values().as_ref(), &picks, None)?)
}

/// Each row's element of `container` at its key in `key` (row `key_row(row)`).
fn element_at(
    container: &ArrayRef,
    key: &ArrayRef,
    key_row: impl Fn(usize) -> usize,
) -> Result<ArrayRef> {
    let picks: Vec<Option<u32>> = match container.data_type() {
        DataType::Map(..) => {
            let map = container.as_map();
            let wanted = cast(key, &DataType::Utf8)?;
            let wanted = wanted.as_string::<i32>();
            let keys = cast(map.keys(), &DataType::Utf8)?;
            let keys = keys.as_string::<i32>();
            let offsets = map.value_offsets();
            (0..map.len())
                .map(|row| {
                    let at = key_row(row);
                    if map.is_null(row) || wanted.is_null(at) {
                        return None;
                    }
                    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                    (start..end)
                        .find(|&j| keys.value(j) == wanted.value(at))
                        .map(|j| j as u32)
                })
                .collect()
        }
        DataType::List(_) => {
            let list = container.as_list::<i32>();
            let index = cast(key, &DataType::Int64)?;
            let index = index.as_primitive::<Int64Type>();
            let offsets = list.value_offsets();
            (0..list.len())
                .map(|row| {
                    let at = key_row(row);
                    if list.is_null(row) || index.is_null(at) {
                        return None;
                    }
                    let (start, end) = (i64::from(offsets[row]), i64::from(offsets[row + 1]));
                    let i = index.value(at);
                    let len = end - start;
                    let at = if (1..=len).contains(&i) {
                        start + i - 1
                    } else if (-len..=-1).contains(&i) {
                        end + i
                    } else {
                        return None;
                    };
                    u32::try_from(at).ok()
                })
                .collect()
        }
        DataType::Null => return Ok(container.clone()),
        other => return plan_err!("element_at takes a map or an array, not {other}"),
    };
    let values = match container.data_type() {
        DataType::Map(..) => container.as_map().values().clone(),
        _ => container.as_list::<i32>().values().clone(),
    };
    Ok(take(values.as_ref(), &UInt32Array::from(picks), None)?)
}
