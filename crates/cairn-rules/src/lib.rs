//! cairn-rules: EventBridge-style rules over cairn's events; no I/O.
//!
//! - [`pattern`]: EventBridge's event pattern language, checked and matched;
//! - [`event`]: a CloudTrail record as EventBridge presents it to rules.

pub mod event;
pub mod pattern;

pub use pattern::{Pattern, PatternError};
