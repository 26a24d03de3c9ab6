//! cairn-model: the CloudTrail record as cairn reads and keeps it, and the shapes of the
//! CloudTrail API that more than one crate needs. No I/O.
//!
//! - [`record`]: parsing a record losslessly and deriving the fields cairn indexes;
//! - [`lookup`]: LookupEvents' attributes, validation, page tokens and response shape;
//! - [`resources`]: the resources event history shows for an event;
//! - [`time`]: CloudTrail's timestamps.

pub mod lookup;
pub mod record;
pub mod resources;
pub mod time;

pub use lookup::{LookupAttributeKey, LookupEvent, LookupEventsRequest, LookupQuery, PageCursor};
pub use record::{HistoryCategory, IdentityNames, Record, RecordError, RecordFields, Resource};
