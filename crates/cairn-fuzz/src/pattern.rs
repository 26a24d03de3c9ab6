//! `pattern`: an EventBridge event pattern (PutRule, TestEventPattern) on the first line, an
//! event (JSON) on the rest. A pattern is compiled or refused with a reason; a compiled pattern
//! matches any event without failing, and matches the same way twice.

use cairn_rules::pattern::Pattern;
use serde_json::Value;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, event) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(pattern) = Pattern::parse(pattern) else {
        return;
    };
    let Ok(event) = serde_json::from_str::<Value>(event) else {
        return;
    };
    let first = pattern.matches(&event);
    assert_eq!(first, pattern.matches(&event), "a pattern matched two ways");
    if let Some(record) = cairn_rules::event::of_text(&event.to_string()) {
        let _ = pattern.matches(&record);
    }
}
