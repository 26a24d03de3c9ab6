//! cairn's fuzz targets: every parser and decoder that reads bytes someone else wrote, each as
//! a function of one input that returns normally for every input and panics only when cairn is
//! wrong (a panic, a broken invariant the target checks, a hang the fuzzer times out).
//!
//! Two callers run them:
//! - `fuzz/` (a cargo-fuzz project outside the workspace, built on the stable toolchain with
//!   `--sanitizer none`): `scripts/fuzz` runs each target for a million inputs or more;
//! - `tests/replay.rs`: every file under `corpus/<target>/` (seeds, from the repository's test
//!   data) and `regressions/<target>/` (inputs the fuzzer found, each fixed) runs through its
//!   target in the ordinary test suite.
//!
//! | target    | what it reads                                                            |
//! |-----------|--------------------------------------------------------------------------|
//! | `record`  | a file `cairn import` reads: a log file, one record, JSON Lines           |
//! | `sigv4`   | an HTTP/1.1 request head and body, as the API authenticates it           |
//! | `capture` | a captured call (request, then response) decoded into its event          |
//! | `sql`     | a Lake query, parsed, rewritten to Trino's semantics and planned          |
//! | `pattern` | an EventBridge event pattern and an event matched against it             |
//! | `catalog` | a catalog document, log cursor or manifest, as cairn loads them at start |

pub mod capture;
pub mod catalog;
pub mod http_text;
pub mod pattern;
pub mod record;
pub mod sigv4;
pub mod sql;

/// A fuzz target: its name (the folder names of its corpus) and its function.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "record",
        run: record::run,
    },
    Target {
        name: "sigv4",
        run: sigv4::run,
    },
    Target {
        name: "capture",
        run: capture::run,
    },
    Target {
        name: "sql",
        run: sql::run,
    },
    Target {
        name: "pattern",
        run: pattern::run,
    },
    Target {
        name: "catalog",
        run: catalog::run,
    },
];
