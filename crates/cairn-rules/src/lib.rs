//! cairn-rules: EventBridge-style rules over cairn's events; no I/O.
//!
//! - [`pattern`]: EventBridge's event pattern language, checked and matched;
//! - [`event`]: a CloudTrail record as EventBridge presents it to rules;
//! - [`transform`]: what a target receives of a matched event.

pub mod event;
pub mod pattern;
pub mod transform;

pub use pattern::{Pattern, PatternError};
