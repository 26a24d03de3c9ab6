//! `catalog`: a file of a data directory that cairn reads when it starts, other than the event
//! log and segments: the store's `MANIFEST`, a log cursor, each catalog document of the server
//! (trails, event data stores, queries, signing keys, rules, connections, API destinations),
//! and the configuration file. The first byte of an input picks the file (see [`FILES`]), the
//! rest is its content, written into a new data directory that is then opened and loaded as
//! `cairn serve` does. Loading succeeds, or fails with an error that names the file: a
//! damaged file is never taken silently, and never panics cairn.

use std::sync::Arc;

use cairn_server::Config;
use cairn_server::event_data_stores::EventDataStores;
use cairn_server::queries::Queries;
use cairn_server::rules::engine;
use cairn_server::rules::model::RuleCatalog;
use cairn_server::signing_keys::SigningKeys;
use cairn_server::trails::Trails;
use cairn_store::{Store, StoreOptions};

/// The files an input may be, by its first byte (modulo their number): where each is kept in
/// the data directory, and the name an error about it must give.
pub const FILES: &[(&str, &str)] = &[
    ("MANIFEST", "MANIFEST"),
    ("cursors/trail-fuzz.json", "trail-fuzz.json"),
    ("catalog/trails.json", "trails.json"),
    ("catalog/event-data-stores.json", "event-data-stores.json"),
    ("catalog/queries.json", "queries.json"),
    ("catalog/signing-keys.json", "signing-keys.json"),
    ("catalog/rules.json", "rules.json"),
    ("catalog/connections.json", "connections.json"),
    ("catalog/api-destinations.json", "api-destinations.json"),
    ("cairn.toml", ""),
];

/// 2023-11-14T22:13:20Z, in seconds.
const NOW: f64 = 1_700_000_000.0;

/// One event to offer the loaded rules.
const EVENT: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","accountId":"111111111111"},"eventTime":"2023-11-14T22:13:20Z","eventSource":"ec2-instance-connect.amazonaws.com","eventName":"SendSSHPublicKey","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","requestParameters":{"instanceId":"i-0123456789abcdef0","instanceOSUser":"ec2-user"},"eventID":"3f9d3ab8-2a8e-4c1b-9c55-0f7e4f0c2a01","eventType":"AwsApiCall","recipientAccountId":"111111111111"}"#;

pub fn run(data: &[u8]) {
    let Some((&which, content)) = data.split_first() else {
        return;
    };
    let (path, name) = FILES[usize::from(which) % FILES.len()];
    if path == "cairn.toml" {
        if let Ok(text) = std::str::from_utf8(content) {
            let _ = Config::parse(text);
        }
        return;
    }
    // tmpfs where there is one: an input costs a directory.
    let base = std::path::Path::new("/dev/shm");
    let dir = if base.is_dir() {
        tempfile::tempdir_in(base)
    } else {
        tempfile::tempdir()
    }
    .unwrap_or_else(|e| panic!("a data directory for the input: {e}"));
    let file = dir.path().join(path);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    std::fs::write(&file, content).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    if let Err(message) = load(dir.path()) {
        assert!(
            message.contains(name),
            "loading a damaged {name} failed without naming it: {message}"
        );
    }
}

/// Opens the data directory and loads what the server keeps in it, as `cairn serve` starts.
fn load(dir: &std::path::Path) -> Result<(), String> {
    let store = Arc::new(Store::open(dir, StoreOptions::default()).map_err(|e| e.to_string())?);
    let loaded = load_documents(&store);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close();
    }
    loaded
}

fn load_documents(store: &Arc<Store>) -> Result<(), String> {
    let trails = Trails::load(store.clone())?;
    for trail in trails.edit().map_err(|e| e.message)?.items.iter() {
        let _ = (trail.arn(), trail.description(), trail.settings());
        let _ = trail.effective_selectors();
    }
    let stores = EventDataStores::load(store.clone())?;
    for eds in stores.edit(NOW).map_err(|e| e.message)?.items.iter() {
        let _ = (eds.arn(), eds.description(eds.status()), eds.categories());
    }
    Queries::load(store.clone(), 3600.0, NOW)?;
    SigningKeys::load(store.clone())?;
    let rules = RuleCatalog::load(store.clone())?;
    let live = engine::live(&rules.rules.edit().map_err(|e| e.message)?.items);
    let _ = engine::match_chunk(&live, &[EVENT.to_owned()]);
    let _ = rules.connections.edit().map_err(|e| e.message)?;
    let _ = rules.api_destinations.edit().map_err(|e| e.message)?;
    Ok(())
}
