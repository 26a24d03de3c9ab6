//! The CloudTrail API's operations: one closed list, and one module per implemented operation
//! (parse, validate, handle, tests).
//!
//! Every operation of CloudTrail's model is known by name, so that permissions and the audit
//! event are right even for operations cairn does not implement yet; those answer
//! `UnsupportedOperationException`. A name outside the model is `UnknownOperationException`.

pub mod create_trail;
pub mod delete_trail;
pub mod describe_trails;
pub mod event_data_stores;
pub mod event_selectors;
pub mod get_trail;
pub mod get_trail_status;
pub mod list_public_keys;
pub mod list_trails;
pub mod lookup_events;
pub mod queries;
pub mod start_logging;
pub mod tags;
pub mod update_trail;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// The request of the operations that name one trail (`Name`: its name or ARN).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrailNameRequest {
    pub name: String,
}

/// Reads an operation's request body (AWS JSON 1.1; an empty body is an empty object).
pub fn parse_request<T: DeserializeOwned>(
    operation: Operation,
    body: &[u8],
) -> Result<T, ApiError> {
    parse_named_request(operation.name(), body)
}

/// [`parse_request`] for an operation of any API cairn serves, by name.
pub fn parse_named_request<T: DeserializeOwned>(
    operation: &str,
    body: &[u8],
) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::SerializationException,
            format!("The request body could not be read as a {operation} request: {e}"),
        )
    })
}

/// `X-Amz-Target` is this prefix, a dot, and the operation name.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// An operation of the CloudTrail control plane (API version 2013-11-01).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($name,)*
        }

        impl Operation {
            /// Every operation, in the model's alphabetical order.
            pub const ALL: &[Operation] = &[$(Operation::$name,)*];

            /// The operation's name, as in `X-Amz-Target` and `eventName`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($name),)*
                }
            }
        }
    };
}

operations! {
    AddTags, CancelQuery, CreateChannel, CreateDashboard, CreateEventDataStore, CreateTrail,
    DeleteChannel, DeleteDashboard, DeleteEventDataStore, DeleteResourcePolicy, DeleteTrail,
    DeregisterOrganizationDelegatedAdmin, DescribeQuery, DescribeTrails, DisableFederation,
    EnableFederation, GenerateQuery, GetChannel, GetDashboard, GetEventConfiguration,
    GetEventDataStore, GetEventSelectors, GetImport, GetInsightSelectors, GetQueryResults,
    GetResourcePolicy, GetTrail, GetTrailStatus, ListChannels, ListDashboards,
    ListEventDataStores, ListImportFailures, ListImports, ListInsightsData,
    ListInsightsMetricData, ListPublicKeys, ListQueries, ListTags, ListTrails, LookupEvents,
    PutEventConfiguration, PutEventSelectors, PutInsightSelectors, PutResourcePolicy,
    RegisterOrganizationDelegatedAdmin, RemoveTags, RestoreEventDataStore, SearchSampleQueries,
    StartDashboardRefresh, StartEventDataStoreIngestion, StartImport, StartLogging, StartQuery,
    StopEventDataStoreIngestion, StopImport, StopLogging, UpdateChannel, UpdateDashboard,
    UpdateEventDataStore, UpdateTrail,
}

impl Operation {
    /// The operation named by an `X-Amz-Target` header value.
    pub fn from_target(target: &str) -> Result<Operation, ApiError> {
        let unknown = || {
            ApiError::new(
                ErrorCode::UnknownOperation,
                format!("The operation {target:?} is not an operation of CloudTrail."),
            )
        };
        let name = target
            .strip_prefix(TARGET_PREFIX)
            .and_then(|rest| rest.strip_prefix('.'))
            .ok_or_else(unknown)?;
        Operation::ALL
            .iter()
            .copied()
            .find(|op| op.name() == name)
            .ok_or_else(unknown)
    }

    /// Whether the operation only reads (`readOnly` in its audit event; allowed to read-only
    /// principals): CloudTrail's Get, Describe, List and Lookup operations, and the sample
    /// query search.
    pub fn read_only(self) -> bool {
        let name = self.name();
        ["Get", "Describe", "List", "Lookup"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || self == Operation::SearchSampleQueries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_has_sixty_operations_and_targets_name_them() {
        assert_eq!(Operation::ALL.len(), 60);
        let target = format!("{TARGET_PREFIX}.LookupEvents");
        assert_eq!(Operation::from_target(&target), Ok(Operation::LookupEvents));
        for bad in [
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DropAllEvents",
            "LookupEvents",
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101LookupEvents",
        ] {
            assert_eq!(
                Operation::from_target(bad).unwrap_err().code,
                ErrorCode::UnknownOperation
            );
        }
    }

    #[test]
    fn reading_operations_are_read_only() {
        assert!(Operation::LookupEvents.read_only());
        assert!(Operation::DescribeTrails.read_only());
        assert!(!Operation::CreateTrail.read_only());
        assert!(!Operation::StartQuery.read_only());
    }
}
