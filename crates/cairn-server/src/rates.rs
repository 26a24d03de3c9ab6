//! Request rates per principal (`[limits] requests_per_second`, `lookup_events_per_second`):
//! a token bucket per principal and kind of call, holding a second's worth of calls and
//! refilled continuously; a call that finds it empty is answered `ThrottlingException`, as AWS
//! answers calls over its rates.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::error::{ApiError, ErrorCode};

/// The buckets, by (access key, kind of call).
#[derive(Debug, Default)]
pub struct Rates {
    buckets: Mutex<HashMap<(String, &'static str), Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Rates {
    /// Takes a call from `key`'s bucket `kind`, which allows `rate` calls a second; AWS's
    /// throttling error when it is empty.
    pub fn take(
        &self,
        key: &str,
        kind: &'static str,
        rate: f64,
        now: Instant,
    ) -> Result<(), ApiError> {
        let rate = rate.max(f64::MIN_POSITIVE);
        let capacity = rate.max(1.0);
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| ApiError::internal("the rate lock is poisoned"))?;
        let bucket = buckets.entry((key.to_owned(), kind)).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refilled =
            bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = refilled.min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Throttling, "Rate exceeded"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_rate_and_refills() {
        let rates = Rates::default();
        let start = Instant::now();
        assert!(rates.take("k", "LookupEvents", 2.0, start).is_ok());
        assert!(rates.take("k", "LookupEvents", 2.0, start).is_ok());
        let refused = rates.take("k", "LookupEvents", 2.0, start).unwrap_err();
        assert_eq!(
            (refused.code, refused.message.as_str()),
            (ErrorCode::Throttling, "Rate exceeded")
        );
        // Another principal, another kind: buckets of their own.
        assert!(rates.take("other", "LookupEvents", 2.0, start).is_ok());
        assert!(rates.take("k", "all", 2.0, start).is_ok());
        // Half a second later, one more call at 2 a second.
        let later = start + Duration::from_millis(500);
        assert!(rates.take("k", "LookupEvents", 2.0, later).is_ok());
        assert!(rates.take("k", "LookupEvents", 2.0, later).is_err());
    }
}
