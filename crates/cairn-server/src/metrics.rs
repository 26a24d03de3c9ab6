//! Prometheus metrics, served at `/metrics` (OpenMetrics text format):
//!
//! - `cairn_requests_total{operation, status}`: API calls by operation and HTTP status;
//! - `cairn_events_stored`: events in the store (read when scraped);
//! - `cairn_records_read_total{source}`: segment records lookups returned, from the record
//!   `cache` or decompressed from a `segment` (followed from the store when scraped);
//! - `cairn_lookup_seconds`: LookupEvents latency inside the server;
//! - `cairn_ingest_seconds`: time to make a batch of events durable.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The server's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    pub events_stored: Gauge,
    records_read: Family<Vec<(&'static str, &'static str)>, Counter>,
    pub lookup_seconds: Histogram,
    pub ingest_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "cairn_requests",
            "API requests by operation and HTTP status",
            requests.clone(),
        );
        let events_stored = Gauge::default();
        registry.register(
            "cairn_events_stored",
            "Events in the store",
            events_stored.clone(),
        );
        let records_read = Family::<Vec<(&'static str, &'static str)>, Counter>::default();
        registry.register(
            "cairn_records_read",
            "Segment records lookups returned, by source: the record cache or the segment files",
            records_read.clone(),
        );
        // 100 µs to ~3 s.
        let lookup_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "cairn_lookup_seconds",
            "LookupEvents latency in the server, seconds",
            lookup_seconds.clone(),
        );
        let ingest_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "cairn_ingest_seconds",
            "Time to make a batch of events durable, seconds",
            ingest_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            events_stored,
            records_read,
            lookup_seconds,
            ingest_seconds,
        }
    }
}

impl Metrics {
    pub fn count_request(&self, operation: &str, status: u16) {
        self.requests
            .get_or_create(&vec![
                ("operation", operation.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
    }

    /// Brings the counters that follow the store's own totals up to date.
    pub fn follow_store(&self, stats: &cairn_store::StoreStats) {
        self.events_stored.set(stats.events as i64);
        for (source, total) in [
            ("cache", stats.records_from_cache),
            ("segment", stats.records_from_segments),
        ] {
            let counter = self.records_read.get_or_create(&vec![("source", source)]);
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// The text a scrape receives.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
