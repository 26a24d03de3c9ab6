//! CloudTrail Lake through boto3 and the aws CLI against a live `cairn serve`: event data
//! stores, their rules and errors, tags, queries over them, and all of it surviving a restart.

use crate::api::run_across_restarts;

#[test]
fn boto3_manages_event_data_stores_and_they_survive_a_restart() {
    run_across_restarts("event_data_stores.py", &["manage", "after-restart"], |_| {});
}

#[test]
fn boto3_queries_what_an_event_data_store_ingested_and_results_survive_a_restart() {
    run_across_restarts("lake_queries.py", &["query", "after-restart"], |_| {});
}
