//! Trails through boto3 against a live `cairn serve`: every trail operation, its errors, shadow
//! trails, the per-region limit, audit events, and the catalog surviving a restart.

use crate::api::run_across_restarts;

#[test]
fn boto3_manages_trails_and_they_survive_a_restart() {
    // The trails deliver to the local target: a bucket is a folder under the data directory.
    run_across_restarts("trails.py", &["manage", "after-restart"], |data_dir| {
        std::fs::create_dir_all(data_dir.join("buckets/audit-bucket")).unwrap()
    });
}
