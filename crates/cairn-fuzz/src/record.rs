//! `record`: the bytes of a file `cairn import` reads (a delivered log file, one record, JSON
//! Lines). Every record accepted must survive the pipeline losslessly: its stored text is the
//! same JSON value as the input's (the input's text, for the lone surrogate escapes serde_json
//! cannot decode), parsing that text again gives the same record, and the
//! views built from it (LookupEvents' event, the EventBridge event) can be made.

use cairn_model::{LookupEvent, Record};
use serde_json::Value;

pub fn run(data: &[u8]) {
    let parsed = cairn::import::parse_file(data);
    for record in &parsed.records {
        let again = Record::parse(&record.json)
            .unwrap_or_else(|e| panic!("the stored text of a record does not parse: {e}"));
        assert_eq!(&again, record, "parsing a record's stored text changed it");
        // Stored as it came, lone surrogate escapes included (valid JSON grammar that names no
        // character); decodable once those are replaced, as the rules decode it.
        let decodable = cairn_model::record::with_lone_surrogates_replaced(&record.json);
        let value: Value = serde_json::from_str(&decodable)
            .unwrap_or_else(|e| panic!("a record's stored text cannot be decoded: {e}"));
        assert!(value.is_object(), "a record is a JSON object");
        let event = LookupEvent::from_record(record);
        serde_json::to_string(&event).unwrap_or_else(|e| panic!("LookupEvents' event: {e}"));
        let bridged = cairn_rules::event::of_record(record);
        assert!(bridged.is_object(), "the EventBridge event is an object");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        // The stored text is the input's JSON value, member for member.
        if let (Ok(record), Ok(input)) = (
            Record::parse(text),
            serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}')),
        ) {
            let stored: Value = serde_json::from_str(&record.json)
                .unwrap_or_else(|e| panic!("a record's stored text is not JSON: {e}"));
            assert_eq!(stored, input, "storing a record changed its value");
        }
    }
}
