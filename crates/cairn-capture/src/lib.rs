//! cairn-capture: turns an AWS API call seen on the wire (request and answer) into the fields
//! of its CloudTrail event, from the services' public API models. No I/O: the proxy in
//! `cairn-server` forwards the call and stores the event.
//!
//! - [`model`]: the compiled-in service models (botocore's, compacted);
//! - [`request`]: the operation and `requestParameters` of a request, per protocol;
//! - [`response`]: `responseElements`, `errorCode`/`errorMessage` and `requestID` of an answer;
//! - [`classify`]: `readOnly`, data or management event, `resources`;
//! - [`redact`]: secrets replaced by AWS's redaction texts before anything is stored;
//! - [`xml`]: the small XML reader the query, EC2 and S3 protocols need.

pub mod classify;
pub mod model;
pub mod redact;
pub mod request;
pub mod response;
pub mod xml;

pub use model::{Protocol, ServiceModel};
pub use request::{DecodedRequest, RequestParts, decode_request};
pub use response::{DecodedResponse, ResponseParts, decode_response};
