//! The errors the API returns: one closed list, each with AWS's `__type` and HTTP status,
//! turned into a response in exactly one place ([`ApiError::into_response`]).
//!
//! Body: `{"__type": "<code>", "message": "<text>"}` (AWS JSON 1.1). Modelled CloudTrail
//! exceptions and authentication errors are HTTP 400, as AWS JSON services return them;
//! unexpected failures are 500 `InternalFailure`.

use axum::response::Response;
use http::StatusCode;

use crate::server::aws_json_response;

/// An error the API reports to its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

/// Every error code cairn's API can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    // Authentication (AWS's common errors).
    MissingAuthenticationToken,
    IncompleteSignature,
    UnrecognizedClient,
    InvalidSignature,
    // Authorization.
    AccessDenied,
    // Protocol.
    UnknownOperation,
    SerializationException,
    // CloudTrail's modelled exceptions.
    InvalidLookupAttributes,
    InvalidTimeRange,
    InvalidMaxResults,
    InvalidNextToken,
    InvalidEventCategory,
    UnsupportedOperation,
    TrailAlreadyExists,
    TrailNotFound,
    InvalidTrailName,
    CloudTrailArnInvalid,
    InvalidHomeRegion,
    MaximumNumberOfTrailsExceeded,
    InvalidParameter,
    InvalidParameterCombination,
    InvalidS3BucketName,
    InvalidS3Prefix,
    S3BucketDoesNotExist,
    InvalidSnsTopicName,
    InsufficientSnsTopicPolicy,
    InvalidCloudWatchLogsLogGroupArn,
    InvalidCloudWatchLogsRoleArn,
    InvalidKmsKeyId,
    KmsKeyNotFound,
    Kms,
    OrganizationsNotInUse,
    Conflict,
    // EventBridge (the rules API).
    Validation,
    InvalidEventPattern,
    ResourceAlreadyExists,
    LimitExceeded,
    // Limits on callers.
    Throttling,
    InvalidTagParameter,
    TagsLimitExceeded,
    InvalidEventSelectors,
    ResourceNotFound,
    ResourceTypeNotSupported,
    // Event data stores.
    EventDataStoreAlreadyExists,
    EventDataStoreArnInvalid,
    EventDataStoreMaxLimitExceeded,
    EventDataStoreNotFound,
    EventDataStoreTerminationProtected,
    InactiveEventDataStore,
    InvalidEventDataStoreCategory,
    InvalidEventDataStoreStatus,
    // Queries.
    InvalidQueryStatement,
    QueryIdNotFound,
    InactiveQuery,
    MaxConcurrentQueries,
    InvalidDateRange,
    InvalidQueryStatus,
    // Not the caller's fault.
    InternalFailure,
}

impl ErrorCode {
    /// The `__type` AWS sends.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorCode::IncompleteSignature => "IncompleteSignatureException",
            ErrorCode::UnrecognizedClient => "UnrecognizedClientException",
            ErrorCode::InvalidSignature => "InvalidSignatureException",
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::SerializationException => "SerializationException",
            ErrorCode::InvalidLookupAttributes => "InvalidLookupAttributesException",
            ErrorCode::InvalidTimeRange => "InvalidTimeRangeException",
            ErrorCode::InvalidMaxResults => "InvalidMaxResultsException",
            ErrorCode::InvalidNextToken => "InvalidNextTokenException",
            ErrorCode::InvalidEventCategory => "InvalidEventCategoryException",
            ErrorCode::UnsupportedOperation => "UnsupportedOperationException",
            ErrorCode::TrailAlreadyExists => "TrailAlreadyExistsException",
            ErrorCode::TrailNotFound => "TrailNotFoundException",
            ErrorCode::InvalidTrailName => "InvalidTrailNameException",
            ErrorCode::CloudTrailArnInvalid => "CloudTrailARNInvalidException",
            ErrorCode::InvalidHomeRegion => "InvalidHomeRegionException",
            ErrorCode::MaximumNumberOfTrailsExceeded => "MaximumNumberOfTrailsExceededException",
            ErrorCode::InvalidParameter => "InvalidParameterException",
            ErrorCode::InvalidParameterCombination => "InvalidParameterCombinationException",
            ErrorCode::InvalidS3BucketName => "InvalidS3BucketNameException",
            ErrorCode::InvalidS3Prefix => "InvalidS3PrefixException",
            ErrorCode::S3BucketDoesNotExist => "S3BucketDoesNotExistException",
            ErrorCode::InvalidSnsTopicName => "InvalidSnsTopicNameException",
            ErrorCode::InsufficientSnsTopicPolicy => "InsufficientSnsTopicPolicyException",
            ErrorCode::InvalidCloudWatchLogsLogGroupArn => {
                "InvalidCloudWatchLogsLogGroupArnException"
            }
            ErrorCode::InvalidCloudWatchLogsRoleArn => "InvalidCloudWatchLogsRoleArnException",
            ErrorCode::InvalidKmsKeyId => "InvalidKmsKeyIdException",
            ErrorCode::KmsKeyNotFound => "KmsKeyNotFoundException",
            ErrorCode::Kms => "KmsException",
            ErrorCode::OrganizationsNotInUse => "OrganizationsNotInUseException",
            ErrorCode::Conflict => "ConflictException",
            ErrorCode::Validation => "ValidationException",
            ErrorCode::InvalidEventPattern => "InvalidEventPatternException",
            ErrorCode::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            ErrorCode::LimitExceeded => "LimitExceededException",
            ErrorCode::Throttling => "ThrottlingException",
            ErrorCode::InvalidTagParameter => "InvalidTagParameterException",
            ErrorCode::TagsLimitExceeded => "TagsLimitExceededException",
            ErrorCode::InvalidEventSelectors => "InvalidEventSelectorsException",
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::ResourceTypeNotSupported => "ResourceTypeNotSupportedException",
            ErrorCode::EventDataStoreAlreadyExists => "EventDataStoreAlreadyExistsException",
            ErrorCode::EventDataStoreArnInvalid => "EventDataStoreARNInvalidException",
            ErrorCode::EventDataStoreMaxLimitExceeded => "EventDataStoreMaxLimitExceededException",
            ErrorCode::EventDataStoreNotFound => "EventDataStoreNotFoundException",
            ErrorCode::EventDataStoreTerminationProtected => {
                "EventDataStoreTerminationProtectedException"
            }
            ErrorCode::InactiveEventDataStore => "InactiveEventDataStoreException",
            ErrorCode::InvalidEventDataStoreCategory => "InvalidEventDataStoreCategoryException",
            ErrorCode::InvalidEventDataStoreStatus => "InvalidEventDataStoreStatusException",
            ErrorCode::InvalidQueryStatement => "InvalidQueryStatementException",
            ErrorCode::QueryIdNotFound => "QueryIdNotFoundException",
            ErrorCode::InactiveQuery => "InactiveQueryException",
            ErrorCode::MaxConcurrentQueries => "MaxConcurrentQueriesException",
            ErrorCode::InvalidDateRange => "InvalidDateRangeException",
            ErrorCode::InvalidQueryStatus => "InvalidQueryStatusException",
            ErrorCode::InternalFailure => "InternalFailure",
        }
    }

    /// AWS JSON services answer every client error, authentication included, with 400.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            ErrorCode::InternalFailure,
            format!("The request processing has failed because of an internal error: {detail}"),
        )
    }

    /// The HTTP response, with the request id header every AWS response carries.
    pub fn into_response(self, request_id: &str) -> Response {
        let body = serde_json::json!({"__type": self.code.as_str(), "message": self.message});
        aws_json_response(self.code.status(), body.to_string(), request_id)
    }
}

impl From<cairn_model::lookup::LookupError> for ApiError {
    fn from(e: cairn_model::lookup::LookupError) -> ApiError {
        use cairn_model::lookup::LookupError as L;
        let code = match &e {
            L::InvalidLookupAttributes(_) => ErrorCode::InvalidLookupAttributes,
            L::InvalidTimeRange(_) => ErrorCode::InvalidTimeRange,
            L::InvalidMaxResults(_) => ErrorCode::InvalidMaxResults,
            L::InvalidNextToken(_) => ErrorCode::InvalidNextToken,
            L::InvalidEventCategory(_) => ErrorCode::InvalidEventCategory,
        };
        ApiError::new(code, e.to_string())
    }
}
