//! EventBridge-style rules: the part of the EventBridge API that rules need, served by cairn
//! for the `events` signing name (`aws events ... --endpoint-url`), and the engine that
//! offers every stored event to them.
//!
//! - [`model`]: rules, targets, connections and API destinations, and their catalog documents;
//! - [`api`]: the operations (AWS JSON 1.1, `X-Amz-Target: AWSEvents.<Operation>`);
//! - [`engine`]: stored events as EventBridge presents CloudTrail events, matched with the
//!   rules' patterns (`cairn-rules`) and delivered to their targets.
//!
//! cairn has one event bus per account and region, `default`; rules match the events of their
//! account and region. Scheduled rules are not run.

pub mod api;
pub mod engine;
pub mod model;

/// An operation of the rules API (EventBridge's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    PutRule,
    DescribeRule,
    ListRules,
    DeleteRule,
    EnableRule,
    DisableRule,
    PutTargets,
    RemoveTargets,
    ListTargetsByRule,
    TestEventPattern,
    CreateConnection,
    DescribeConnection,
    ListConnections,
    UpdateConnection,
    DeleteConnection,
    CreateApiDestination,
    DescribeApiDestination,
    ListApiDestinations,
    UpdateApiDestination,
    DeleteApiDestination,
}

/// `X-Amz-Target` is this prefix, a dot, and the operation name.
pub const TARGET_PREFIX: &str = "AWSEvents";

impl Operation {
    pub const ALL: &[Operation] = &[
        Operation::PutRule,
        Operation::DescribeRule,
        Operation::ListRules,
        Operation::DeleteRule,
        Operation::EnableRule,
        Operation::DisableRule,
        Operation::PutTargets,
        Operation::RemoveTargets,
        Operation::ListTargetsByRule,
        Operation::TestEventPattern,
        Operation::CreateConnection,
        Operation::DescribeConnection,
        Operation::ListConnections,
        Operation::UpdateConnection,
        Operation::DeleteConnection,
        Operation::CreateApiDestination,
        Operation::DescribeApiDestination,
        Operation::ListApiDestinations,
        Operation::UpdateApiDestination,
        Operation::DeleteApiDestination,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::PutRule => "PutRule",
            Operation::DescribeRule => "DescribeRule",
            Operation::ListRules => "ListRules",
            Operation::DeleteRule => "DeleteRule",
            Operation::EnableRule => "EnableRule",
            Operation::DisableRule => "DisableRule",
            Operation::PutTargets => "PutTargets",
            Operation::RemoveTargets => "RemoveTargets",
            Operation::ListTargetsByRule => "ListTargetsByRule",
            Operation::TestEventPattern => "TestEventPattern",
            Operation::CreateConnection => "CreateConnection",
            Operation::DescribeConnection => "DescribeConnection",
            Operation::ListConnections => "ListConnections",
            Operation::UpdateConnection => "UpdateConnection",
            Operation::DeleteConnection => "DeleteConnection",
            Operation::CreateApiDestination => "CreateApiDestination",
            Operation::DescribeApiDestination => "DescribeApiDestination",
            Operation::ListApiDestinations => "ListApiDestinations",
            Operation::UpdateApiDestination => "UpdateApiDestination",
            Operation::DeleteApiDestination => "DeleteApiDestination",
        }
    }

    /// The operation an `X-Amz-Target` names.
    pub fn from_target(target: &str) -> Result<Operation, crate::error::ApiError> {
        let name = target
            .strip_prefix(TARGET_PREFIX)
            .and_then(|rest| rest.strip_prefix('.'));
        Operation::ALL
            .iter()
            .copied()
            .find(|op| Some(op.name()) == name)
            .ok_or_else(|| {
                crate::error::ApiError::new(
                    crate::error::ErrorCode::UnknownOperation,
                    format!(
                        "The operation {target:?} is not one cairn serves for EventBridge \
                         (rules, targets, connections, API destinations, TestEventPattern)."
                    ),
                )
            })
    }

    /// Whether the operation only reads (allowed to read-only principals).
    pub fn read_only(self) -> bool {
        let name = self.name();
        name.starts_with("Describe")
            || name.starts_with("List")
            || self == Operation::TestEventPattern
    }
}
