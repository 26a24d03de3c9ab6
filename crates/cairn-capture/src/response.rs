//! An answer's `responseElements`, `errorCode`/`errorMessage` and `requestID`.
//!
//! As in AWS's records: `responseElements` is `null` for reading calls and failed calls; for
//! the others it is the output in the naming `request.rs` describes (EC2: the XML names of its
//! answer with `requestId`, lists as `{"items": [...]}`, times as epoch milliseconds; S3: the
//! `x-amz-` headers of the answer). EC2 error codes carry EC2's `Client.`/`Server.` prefix.

use serde_json::{Map, Value};

use crate::model::{Protocol, ServiceModel, Shape};
use crate::request::{header, json_to_cloudtrail, lower_first, scalar};
use crate::xml::{self, Element};

/// An answer as it came back from the service.
#[derive(Debug, Clone, Copy)]
pub struct ResponseParts<'a> {
    pub status: u16,
    pub headers: &'a http::HeaderMap,
    /// The body, when it was read (`&[]` for streamed bodies, such as S3 objects).
    pub body: &'a [u8],
}

/// What an answer says, for the event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedResponse {
    pub elements: Value,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: Option<String>,
}

/// Decodes the answer to `operation` (known to `model` or not), sent in `protocol`.
pub fn decode_response(
    model: &ServiceModel,
    protocol: Protocol,
    operation: &str,
    read_only: bool,
    parts: &ResponseParts<'_>,
) -> DecodedResponse {
    let document = match protocol {
        Protocol::Json | Protocol::RestJson => {
            Document::Json(serde_json::from_slice::<Value>(parts.body).unwrap_or(Value::Null))
        }
        _ => Document::Xml(xml::parse(parts.body)),
    };
    // The id the client reads: from the body for the query and EC2 protocols (which carry it
    // there), else from the headers.
    let from_headers = ["x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"]
        .iter()
        .find_map(|name| header(parts.headers, name))
        .map(str::to_owned);
    let from_body = match &document {
        Document::Xml(Some(root)) => ["RequestId", "requestId", "RequestID"]
            .iter()
            .find_map(|name| root.find(name))
            .map(|e| e.text.clone()),
        // Only the head of a big answer was read: the id is near its start.
        Document::Xml(None) => ["RequestId", "requestId", "RequestID"]
            .iter()
            .find_map(|name| element_text(parts.body, name)),
        _ => None,
    };
    let request_id = match protocol {
        Protocol::Query | Protocol::Ec2 => from_body.or(from_headers),
        _ => from_headers.or(from_body),
    };
    if parts.status >= 300 {
        let (code, message) = error_of(protocol, parts, &document);
        return DecodedResponse {
            elements: Value::Null,
            error_code: Some(code),
            error_message: message,
            request_id,
        };
    }
    let output = model
        .operations
        .get(operation)
        .and_then(|op| op.output.as_deref())
        .and_then(|name| model.shape(name));
    let elements = if read_only {
        Value::Null
    } else {
        elements_of(model, protocol, output, parts, &document)
    };
    DecodedResponse {
        elements,
        error_code: None,
        error_message: None,
        request_id,
    }
}

/// The text of the first `<name>...</name>` in a document that may be cut short.
fn element_text(bytes: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&format!("</{name}>"))?;
    Some(text[start..end].trim().to_owned())
}

enum Document {
    Json(Value),
    Xml(Option<Element>),
}

fn elements_of(
    model: &ServiceModel,
    protocol: Protocol,
    output: Option<&Shape>,
    parts: &ResponseParts<'_>,
    document: &Document,
) -> Value {
    let value = match (protocol, document) {
        (Protocol::Json | Protocol::RestJson, Document::Json(body)) => {
            json_to_cloudtrail(model, body, output)
        }
        (Protocol::Query, Document::Xml(Some(root))) => {
            // <OperationResponse><OperationResult>...</OperationResult>...
            let result = root.children.iter().find(|c| c.name.ends_with("Result"));
            match (result, output) {
                (Some(result), Some(shape)) => xml_value(model, result, shape, false),
                _ => Value::Null,
            }
        }
        (Protocol::Ec2, Document::Xml(Some(root))) => {
            let mut value = match output {
                Some(shape) => xml_value(model, root, shape, true),
                None => Value::Object(Map::new()),
            };
            if let (Value::Object(members), Some(id)) = (&mut value, root.child("requestId")) {
                members.insert("requestId".to_owned(), Value::String(id.text.clone()));
            }
            value
        }
        (Protocol::RestXml, _) => {
            let mut out = Map::new();
            for (name, reference) in output.map(|s| &s.members).into_iter().flatten() {
                if reference.location.as_deref() != Some("header") {
                    continue;
                }
                let wire = reference.wire_name(name);
                if wire.to_ascii_lowercase().starts_with("x-amz-")
                    && let Some(value) = header(parts.headers, wire)
                {
                    out.insert(wire.to_ascii_lowercase(), Value::String(value.to_owned()));
                }
            }
            Value::Object(out)
        }
        _ => Value::Null,
    };
    match &value {
        Value::Object(members) if members.is_empty() => Value::Null,
        _ => value,
    }
}

/// An XML answer as JSON, typed and named by `shape`.
fn xml_value(model: &ServiceModel, element: &Element, shape: &Shape, ec2: bool) -> Value {
    match shape.kind.as_str() {
        "structure" => {
            let mut out = Map::new();
            for (name, reference) in &shape.members {
                let Some(member_shape) = model.shape(&reference.shape) else {
                    continue;
                };
                let wire = reference.wire_name(name);
                let json_name = if ec2 {
                    wire.to_owned()
                } else {
                    lower_first(name)
                };
                let flattened =
                    member_shape.kind == "list" && (reference.flattened || member_shape.flattened);
                let value = if flattened {
                    let items: Vec<Value> = element
                        .children_named(wire)
                        .map(|item| {
                            let item_shape = member_shape
                                .member
                                .as_ref()
                                .and_then(|m| model.shape(&m.shape));
                            item_shape.map_or(Value::Null, |s| xml_value(model, item, s, ec2))
                        })
                        .collect();
                    (!items.is_empty()).then_some(Value::Array(items))
                } else {
                    element
                        .child(wire)
                        .map(|child| xml_value(model, child, member_shape, ec2))
                };
                if let Some(value) = value {
                    out.insert(json_name, value);
                }
            }
            Value::Object(out)
        }
        "list" => {
            let Some(item_ref) = &shape.member else {
                return Value::Null;
            };
            let item_name =
                item_ref
                    .location_name
                    .as_deref()
                    .unwrap_or(if ec2 { "item" } else { "member" });
            let items: Vec<Value> = match model.shape(&item_ref.shape) {
                Some(item_shape) => element
                    .children_named(item_name)
                    .map(|item| xml_value(model, item, item_shape, ec2))
                    .collect(),
                None => Vec::new(),
            };
            if ec2 {
                let mut set = Map::new();
                if !items.is_empty() {
                    set.insert("items".to_owned(), Value::Array(items));
                }
                Value::Object(set)
            } else {
                Value::Array(items)
            }
        }
        "map" => {
            let (Some(key_ref), Some(value_ref)) = (&shape.key, &shape.value) else {
                return Value::Null;
            };
            let key_name = key_ref.wire_name("key");
            let value_name = value_ref.wire_name("value");
            let mut out = Map::new();
            for entry in element.children_named("entry") {
                if let (Some(k), Some(v), Some(value_shape)) = (
                    entry.child(key_name),
                    entry.child(value_name),
                    model.shape(&value_ref.shape),
                ) {
                    out.insert(k.text.clone(), xml_value(model, v, value_shape, ec2));
                }
            }
            Value::Object(out)
        }
        "integer" | "long" | "float" | "double" | "boolean" => scalar(&shape.kind, &element.text),
        // EC2's records write times as epoch milliseconds.
        "timestamp" if ec2 => cairn_model::time::parse_event_time(&element.text)
            .map_or_else(|| Value::String(element.text.clone()), Value::from),
        _ => Value::String(element.text.clone()),
    }
}

/// The error code and message of a failed call.
fn error_of(
    protocol: Protocol,
    parts: &ResponseParts<'_>,
    document: &Document,
) -> (String, Option<String>) {
    let (code, message) = match document {
        Document::Json(body) => {
            let code = body["__type"]
                .as_str()
                .or(body["code"].as_str())
                .or_else(|| header(parts.headers, "x-amzn-errortype"))
                .map(|c| {
                    let c = c.rsplit('#').next().unwrap_or(c);
                    c.split(':').next().unwrap_or(c).to_owned()
                });
            let message = ["message", "Message", "errorMessage"]
                .iter()
                .find_map(|k| body[*k].as_str())
                .map(str::to_owned);
            (code, message)
        }
        Document::Xml(root) => {
            let error = root.as_ref().and_then(|r| r.find("Error"));
            (
                error.and_then(|e| e.child("Code")).map(|c| c.text.clone()),
                error
                    .and_then(|e| e.child("Message"))
                    .map(|m| m.text.clone()),
            )
        }
    };
    let code = code.unwrap_or_else(|| status_code_name(parts.status).to_owned());
    let code = if protocol == Protocol::Ec2 {
        let side = if parts.status >= 500 {
            "Server"
        } else {
            "Client"
        };
        format!("{side}.{code}")
    } else {
        code
    };
    (code, message)
}

/// A code for an answer without a body (S3's HEAD errors).
fn status_code_name(status: u16) -> &'static str {
    match status {
        301 => "PermanentRedirect",
        304 => "NotModified",
        400 => "BadRequest",
        403 => "AccessDenied",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        412 => "PreconditionFailed",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "UnknownError",
    }
}
