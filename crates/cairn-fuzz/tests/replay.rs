//! Every seed and every input the fuzzers found runs through its target: a regression test per
//! finding, kept as the file the fuzzer wrote (`regressions/<target>/<name>`, see
//! `scripts/fuzz`).

use std::path::{Path, PathBuf};

use cairn_fuzz::TARGETS;

fn inputs(folder: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(folder)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(folder: &str) -> usize {
    let mut count = 0;
    for target in TARGETS {
        for file in inputs(folder, target.name) {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| (target.run)(&data));
            assert!(
                outcome.is_ok(),
                "{} fails on {}",
                target.name,
                file.display()
            );
            count += 1;
        }
    }
    count
}

#[test]
fn every_seed_runs_through_its_target() {
    for target in TARGETS {
        assert!(
            !inputs("corpus", target.name).is_empty(),
            "target {} has no seeds under corpus/{}",
            target.name,
            target.name
        );
    }
    assert!(replay("corpus") > 0);
}

#[test]
fn every_finding_stays_fixed() {
    // Folders that exist only once a finding was fixed; none yet is no failure.
    replay("regressions");
}
