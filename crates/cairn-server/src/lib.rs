//! cairn-server: cairn's HTTP server. It owns everything that speaks HTTP: the CloudTrail
//! control plane (AWS JSON 1.1, `POST /` with `X-Amz-Target`), SigV4 authentication against the
//! configured principals, permissions, the audit events cairn records about its own API,
//! `/health` and Prometheus `/metrics`.
//!
//! - [`server`]: the router and [`server::run`], the request path from bytes to response;
//! - [`connections`]: serving connections within the configured limits;
//! - [`config`]: accounts and principals (strict TOML), the bootstrap key;
//! - [`auth`]: SigV4 verification (and signing, for cairn's own client);
//! - [`actions`]: the closed list of operations, one module per implemented operation;
//! - [`audit`]: API calls as CloudTrail events;
//! - [`error`]: the closed list of API errors with AWS's codes and statuses;
//! - [`metrics`]: the Prometheus registry;
//! - [`trails`]: trails, their rules and their catalog document;
//! - [`event_data_stores`]: CloudTrail Lake's event data stores, their rules and catalog
//!   document ([`catalog_list`]: a list kept in one catalog document);
//! - [`queries`]: Lake queries, their life and results (SQL by `cairn-lake`);
//! - [`rates`]: request rates per principal;
//! - [`rules`]: EventBridge-style rules (the `events` API) and the engine that delivers their
//!   matches;
//! - [`selectors`]: event selectors (basic and advanced), their rules and matching;
//! - [`delivery`]: trail log files and digests to a local folder or S3, exactly once;
//! - [`tls`]: HTTPS for `cairn serve` (rustls);
//! - [`signing_keys`]: the per-region RSA keys that sign digests (ListPublicKeys);
//! - [`upstream`]: cairn as a client of other AWS services (SNS, CloudWatch Logs, KMS);
//! - [`csv`]: CSV for people (Lake results, event history downloads);
//! - [`console`]: the console in a browser (`/console/`): sign-in sessions, pages, and the
//!   API called with a session instead of a signature.

pub mod actions;
pub mod audit;
pub mod auth;
pub mod capture;
pub mod catalog_list;
pub mod config;
pub mod connections;
pub mod console;
pub mod csv;
pub mod delivery;
pub mod error;
pub mod event_data_stores;
pub mod lake_events;
pub mod metrics;
pub mod queries;
pub mod rates;
pub mod rules;
pub mod selectors;
pub mod server;
pub mod signing_keys;
pub mod tls;
pub mod trails;
pub mod upstream;

pub use config::{Config, ConfigError};
pub use server::run;
