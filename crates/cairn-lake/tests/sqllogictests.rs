//! Lake's SQL as sqllogictest files (`tests/slt/*.slt`): Trino's functions and forms with the
//! results Trino's documentation gives (quoted above each query), and what Lake refuses
//! (`query error`). Each file runs on a fresh [`Lake`] with no tables: the queries read
//! literals and `VALUES`; the investigation queries over real events are in `queries.rs`.
//!
//! A value is shown as Lake renders it (every value a string; arrays, maps and rows in Trino's
//! text form), NULL as `NULL` and the empty string as `(empty)`.

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_lake::{Lake, LakeError};
use sqllogictest::{DBOutput, DefaultColumnType};

struct LakeDb(Lake);

impl sqllogictest::DB for LakeDb {
    type Error = LakeError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, LakeError> {
        let result = self.0.query_blocking(sql)?;
        let rows = result
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|value| match value {
                        None => "NULL".to_owned(),
                        Some(text) if text.is_empty() => "(empty)".to_owned(),
                        Some(text) => text,
                    })
                    .collect()
            })
            .collect();
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; result.labels.len()],
            rows,
        })
    }
}

/// Runs every file, or those named: a test per file, `slt::<file name>`, listed and run as
/// libtest's `--list --format terse` and `--exact NAME` ask (what cargo nextest calls).
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .map(|entry| entry.expect("tests/slt entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    let name = |file: &PathBuf| {
        format!(
            "slt::{}",
            file.file_name().unwrap_or_default().to_string_lossy()
        )
    };
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            for file in &files {
                println!("{}: test", name(file));
            }
        }
        return ExitCode::SUCCESS;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let chosen: Vec<&PathBuf> = files
        .iter()
        .filter(|file| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if exact {
                        name(file) == **f
                    } else {
                        name(file).contains(f.as_str())
                    }
                })
        })
        .collect();
    let mut failed = 0;
    for file in &chosen {
        let mut runner = sqllogictest::Runner::new(|| async { Ok(LakeDb(Lake::new())) });
        match runner.run_file(file) {
            Ok(()) => println!("ok: {}", name(file)),
            Err(error) => {
                failed += 1;
                println!("FAILED: {}\n{}", name(file), error.display(true));
            }
        }
    }
    println!("{} files, {failed} failed", chosen.len());
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
