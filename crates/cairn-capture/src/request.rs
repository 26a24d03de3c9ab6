//! A request's operation and `requestParameters`, per protocol, following the model.
//!
//! Naming, as CloudTrail writes `requestParameters` (checked against the records in
//! `../shared/datasets`):
//! - JSON, query and REST-JSON services: the input's member names in lower camel case
//!   (`SSHPublicKey` → `sSHPublicKey`), map keys as sent, lists as arrays;
//! - EC2: the XML names of EC2's wire format: members by their `locationName` in lower camel
//!   case, lists as `{"items": [...]}` under a `…Set` name (`InstanceId.N` →
//!   `instancesSet.items[].instanceId`); a describing call shows its absent lists as `{}`;
//!   `RunInstances` groups its image, counts and key under `instancesSet`, as EC2 does;
//! - S3 (REST-XML): `bucketName`, `Host`, `key`, the query parameters and `x-amz-` headers by
//!   their wire names, a sub-resource such as `?acl` as `"acl": ""`, and an XML body as
//!   `{"<root element>": {...}}`.
//!
//! Timestamps sent as epoch seconds are written as CloudTrail writes them there
//! (`Dec 16, 2023, 2:46:48 PM`). Members whose model shape is sensitive are replaced by
//! `HIDDEN_DUE_TO_SECURITY_REASONS` here, before anything else sees them.

use std::collections::BTreeMap;

use cairn_model::time::format_request_parameter_time;
use serde_json::{Map, Value};

use crate::model::{MemberRef, Operation, Protocol, ServiceModel, Shape};
use crate::redact::HIDDEN;
use crate::xml;

/// A request as it came off the wire.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// What a request asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// The protocol the request was in (the answer is in the same).
    pub protocol: Protocol,
    pub operation: String,
    /// `null` when the call has no parameters.
    pub parameters: Value,
    /// S3: the bucket and object key the call names.
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Decodes `parts` with `model`; an `Err` says why the call could not be read as one of the
/// model's operations.
pub fn decode_request(
    model: &ServiceModel,
    parts: &RequestParts<'_>,
) -> Result<DecodedRequest, String> {
    let form = if parts.method == "POST" {
        parts.body
    } else {
        parts.query.as_bytes()
    };
    let form_action = form_urlencoded::parse(form).any(|(k, _)| k == "Action");
    let protocol = model.protocol_of(parts.headers.contains_key("x-amz-target"), form_action);
    let mut decoded = match protocol {
        Protocol::Json => decode_json(model, parts),
        Protocol::Query | Protocol::Ec2 => decode_query(model, parts, protocol),
        Protocol::RestJson | Protocol::RestXml => decode_rest(model, parts, protocol),
    }?;
    decoded.protocol = protocol;
    Ok(decoded)
}

fn decode_json(model: &ServiceModel, parts: &RequestParts<'_>) -> Result<DecodedRequest, String> {
    let target = header(parts.headers, "x-amz-target")
        .ok_or("a JSON-protocol request without X-Amz-Target")?;
    let operation = target.rsplit_once('.').map_or(target, |(_, op)| op);
    let body: Value = if parts.body.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(parts.body).map_err(|e| format!("the request body: {e}"))?
    };
    let input = model
        .operations
        .get(operation)
        .and_then(|op| op.input.as_deref())
        .and_then(|name| model.shape(name));
    Ok(DecodedRequest {
        protocol: Protocol::Json,
        operation: operation.to_owned(),
        parameters: non_empty(json_to_cloudtrail(model, &body, input)),
        bucket: None,
        key: None,
    })
}

/// A JSON document in CloudTrail's naming, typed by `shape` when known.
pub(crate) fn json_to_cloudtrail(
    model: &ServiceModel,
    value: &Value,
    shape: Option<&Shape>,
) -> Value {
    let kind = shape.map_or("", |s| s.kind.as_str());
    match value {
        Value::Object(members) if kind == "map" => {
            let value_shape = shape
                .and_then(|s| s.value.as_ref())
                .and_then(|v| model.shape(&v.shape));
            members
                .iter()
                .map(|(k, v)| (k.clone(), json_to_cloudtrail(model, v, value_shape)))
                .collect::<Map<_, _>>()
                .into()
        }
        Value::Object(members) => {
            let mut out = Map::with_capacity(members.len());
            for (name, member) in members {
                let member_shape = shape
                    .and_then(|s| s.members.get(name))
                    .and_then(|m| model.shape(&m.shape));
                let converted = if member_shape.is_some_and(|s| s.sensitive) {
                    Value::String(HIDDEN.to_owned())
                } else {
                    json_to_cloudtrail(model, member, member_shape)
                };
                out.insert(lower_first(name), converted);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let item_shape = shape
                .and_then(|s| s.member.as_ref())
                .and_then(|m| model.shape(&m.shape));
            Value::Array(
                items
                    .iter()
                    .map(|item| json_to_cloudtrail(model, item, item_shape))
                    .collect(),
            )
        }
        Value::Number(n) if kind == "timestamp" => match n.as_f64() {
            Some(seconds) => {
                Value::String(format_request_parameter_time((seconds * 1000.0) as i64))
            }
            None => value.clone(),
        },
        other => other.clone(),
    }
}

fn decode_query(
    model: &ServiceModel,
    parts: &RequestParts<'_>,
    protocol: Protocol,
) -> Result<DecodedRequest, String> {
    let form = if parts.method == "POST" {
        parts.body
    } else {
        parts.query.as_bytes()
    };
    let params: BTreeMap<String, String> = form_urlencoded::parse(form).into_owned().collect();
    let operation = params
        .get("Action")
        .ok_or("a query-protocol request without Action")?
        .clone();
    let ec2 = protocol == Protocol::Ec2;
    let input = model
        .operations
        .get(&operation)
        .and_then(|op| op.input.as_deref())
        .and_then(|name| model.shape(name));
    let mut parameters = match input {
        Some(shape) => {
            let reader = QueryReader {
                model,
                params: &params,
                ec2,
            };
            let mut value = reader
                .structure(shape, "")
                .unwrap_or_else(|| Value::Object(Map::new()));
            if ec2 {
                ec2_conventions(model, &operation, shape, &mut value);
            }
            value
        }
        // Unknown to the model: the parameters as sent, but Action and Version.
        None => params
            .iter()
            .filter(|(k, _)| *k != "Action" && *k != "Version")
            .map(|(k, v)| (lower_first(k), Value::String(v.clone())))
            .collect::<Map<_, _>>()
            .into(),
    };
    if parameters.as_object().is_some_and(Map::is_empty) {
        parameters = Value::Null;
    }
    Ok(DecodedRequest {
        protocol,
        operation,
        parameters,
        bucket: None,
        key: None,
    })
}

/// Reads a shape out of flat query parameters (`A.member.1.B=...`, EC2: `A.1.B=...`).
struct QueryReader<'a> {
    model: &'a ServiceModel,
    params: &'a BTreeMap<String, String>,
    ec2: bool,
}

impl QueryReader<'_> {
    fn value(&self, shape: &Shape, reference: &MemberRef, key: &str) -> Option<Value> {
        if shape.sensitive {
            return self.present(key).then(|| Value::String(HIDDEN.to_owned()));
        }
        match shape.kind.as_str() {
            "structure" => self.structure(shape, key),
            "list" => self.list(shape, reference, key),
            "map" => self.map(shape, key),
            _ => self.params.get(key).map(|text| scalar(&shape.kind, text)),
        }
    }

    fn present(&self, key: &str) -> bool {
        self.params
            .keys()
            .any(|k| k == key || k.strip_prefix(key).is_some_and(|r| r.starts_with('.')))
    }

    fn structure(&self, shape: &Shape, prefix: &str) -> Option<Value> {
        let mut out = Map::new();
        for (name, reference) in &shape.members {
            let Some(member_shape) = self.model.shape(&reference.shape) else {
                continue;
            };
            let wire = if self.ec2 {
                reference
                    .query_name
                    .clone()
                    .or_else(|| reference.location_name.as_deref().map(upper_first))
                    .unwrap_or_else(|| name.clone())
            } else {
                reference
                    .location_name
                    .clone()
                    .unwrap_or_else(|| name.clone())
            };
            let key = if prefix.is_empty() {
                wire
            } else {
                format!("{prefix}.{wire}")
            };
            let Some(value) = self.value(member_shape, reference, &key) else {
                continue;
            };
            if self.ec2 {
                let (name, value) = ec2_member(name, reference, member_shape, value);
                out.insert(name, value);
            } else {
                out.insert(lower_first(name), value);
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    /// The indices `N` of `prefix.N...` parameters, in order.
    fn indices(&self, prefix: &str) -> Vec<u32> {
        let mut found: Vec<u32> = self
            .params
            .keys()
            .filter_map(|k| k.strip_prefix(prefix)?.strip_prefix('.'))
            .filter_map(|rest| rest.split('.').next()?.parse().ok())
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    fn list(&self, shape: &Shape, reference: &MemberRef, key: &str) -> Option<Value> {
        let item_ref = shape.member.as_ref()?;
        let item_shape = self.model.shape(&item_ref.shape)?;
        let base = if self.ec2 || shape.flattened || reference.flattened {
            key.to_owned()
        } else {
            format!("{key}.{}", item_ref.wire_name("member"))
        };
        let items: Vec<Value> = self
            .indices(&base)
            .into_iter()
            .filter_map(|i| self.value(item_shape, item_ref, &format!("{base}.{i}")))
            .collect();
        (!items.is_empty()).then_some(Value::Array(items))
    }

    fn map(&self, shape: &Shape, key: &str) -> Option<Value> {
        let (key_ref, value_ref) = (shape.key.as_ref()?, shape.value.as_ref()?);
        let value_shape = self.model.shape(&value_ref.shape)?;
        let base = if shape.flattened {
            key.to_owned()
        } else {
            format!("{key}.entry")
        };
        let key_name = key_ref.wire_name("key");
        let value_name = value_ref.wire_name("value");
        let mut out = Map::new();
        for i in self.indices(&base) {
            let entry = format!("{base}.{i}");
            if let (Some(k), Some(v)) = (
                self.params.get(&format!("{entry}.{key_name}")),
                self.value(value_shape, value_ref, &format!("{entry}.{value_name}")),
            ) {
                out.insert(k.clone(), v);
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }
}

/// EC2's name for a member and the shape of its value: lists become `{"items": [...]}` under a
/// `…Set` name, scalar list items `{"<name>": value}`.
fn ec2_member(name: &str, reference: &MemberRef, shape: &Shape, value: Value) -> (String, Value) {
    let wire = reference.wire_name(name);
    if shape.kind != "list" {
        return (lower_first(wire), value);
    }
    let items = match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(_) => item,
                scalar => {
                    let mut one = Map::new();
                    one.insert(lower_first(wire), scalar);
                    Value::Object(one)
                }
            })
            .collect(),
        other => vec![other],
    };
    let mut set = Map::new();
    set.insert("items".to_owned(), Value::Array(items));
    (ec2_set_name(wire), Value::Object(set))
}

/// The name EC2's records give a list parameter sent as `<wire>.N`.
fn ec2_set_name(wire: &str) -> String {
    match wire {
        // Where EC2's own names are not `<name>Set` (from AWS's records).
        "InstanceId" => "instancesSet".to_owned(),
        "ImageId" => "imagesSet".to_owned(),
        "Owner" => "ownersSet".to_owned(),
        "VolumeId" => "volumeSet".to_owned(),
        "SnapshotId" => "snapshotSet".to_owned(),
        "KeyName" => "keySet".to_owned(),
        "PublicIp" => "publicIpsSet".to_owned(),
        "BlockDeviceMapping" => "blockDeviceMapping".to_owned(),
        _ => format!("{}Set", lower_first(wire)),
    }
}

/// EC2's further habits: describing calls show absent lists as `{}`; `RunInstances` groups
/// its image, counts and key under `instancesSet.items[0]`.
fn ec2_conventions(model: &ServiceModel, operation: &str, input: &Shape, value: &mut Value) {
    let Value::Object(members) = value else {
        return;
    };
    if operation.starts_with("Describe") {
        for (name, reference) in &input.members {
            if model
                .shape(&reference.shape)
                .is_some_and(|s| s.kind == "list")
            {
                let wire = reference.wire_name(name);
                members
                    .entry(ec2_set_name(wire))
                    .or_insert_with(|| Value::Object(Map::new()));
            }
        }
    }
    if operation == "RunInstances" {
        let mut instance = Map::new();
        for name in ["imageId", "minCount", "maxCount", "keyName"] {
            if let Some(v) = members.remove(name) {
                instance.insert(name.to_owned(), v);
            }
        }
        if !instance.is_empty() {
            let mut set = Map::new();
            set.insert(
                "items".to_owned(),
                Value::Array(vec![Value::Object(instance)]),
            );
            members.insert("instancesSet".to_owned(), Value::Object(set));
        }
        members
            .entry("blockDeviceMapping")
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn decode_rest(
    model: &ServiceModel,
    parts: &RequestParts<'_>,
    protocol: Protocol,
) -> Result<DecodedRequest, String> {
    let query: Vec<(String, String)> = form_urlencoded::parse(parts.query.as_bytes())
        .into_owned()
        .collect();
    let path = percent_encoding::percent_decode_str(parts.path)
        .decode_utf8()
        .map_err(|_| "the request path is not UTF-8")?
        .into_owned();
    let (name, operation, labels) = match_operation(model, parts, &path, &query)
        .ok_or_else(|| format!("no {} operation is {} {path}", model.service, parts.method))?;
    let input = operation.input.as_deref().and_then(|n| model.shape(n));
    let mut out = Map::new();
    let s3 = protocol == Protocol::RestXml;
    if s3 {
        if let Some(bucket) = labels.get("Bucket") {
            out.insert("bucketName".into(), Value::String(bucket.clone()));
        }
        if let Some(host) = header(parts.headers, "host") {
            out.insert("Host".into(), Value::String(host.to_owned()));
        }
        if let Some(key) = labels.get("Key") {
            out.insert("key".into(), Value::String(key.clone()));
        }
        // Sub-resources named by the URI, such as `?acl`.
        if let Some((_, marker)) = operation.uri.split_once('?') {
            for (k, v) in form_urlencoded::parse(marker.as_bytes()) {
                if v.is_empty() {
                    out.insert(k.into_owned(), Value::String(String::new()));
                }
            }
        }
    }
    if let Some(input) = input {
        for (member, reference) in &input.members {
            let Some(shape) = model.shape(&reference.shape) else {
                continue;
            };
            let wire = reference.wire_name(member);
            let name = if s3 {
                wire.to_owned()
            } else {
                lower_first(member)
            };
            let value = match reference.location.as_deref() {
                Some("uri") if !s3 => labels.get(wire).map(|v| scalar(&shape.kind, v)),
                Some("querystring") => query
                    .iter()
                    .find(|(k, _)| k == wire)
                    .map(|(_, v)| scalar(&shape.kind, v)),
                Some("header") if !s3 || s3_header_recorded(wire) => {
                    header(parts.headers, wire).map(|v| scalar(&shape.kind, v))
                }
                _ => None,
            };
            if let Some(value) = value {
                let value = if shape.sensitive {
                    Value::String(HIDDEN.to_owned())
                } else {
                    value
                };
                out.insert(name, value);
            }
        }
        if !parts.body.is_empty() {
            read_rest_body(model, protocol, input, parts.body, &mut out);
        }
    }
    Ok(DecodedRequest {
        protocol,
        operation: name.to_owned(),
        parameters: non_empty(Value::Object(out)),
        bucket: labels.get("Bucket").cloned(),
        key: labels.get("Key").cloned(),
    })
}

/// The body of a REST request: S3's XML payload as `{"<root>": {...}}`, REST-JSON's members.
fn read_rest_body(
    model: &ServiceModel,
    protocol: Protocol,
    input: &Shape,
    body: &[u8],
    out: &mut Map<String, Value>,
) {
    match protocol {
        Protocol::RestXml => {
            let payload = input
                .payload
                .as_ref()
                .and_then(|p| input.members.get(p))
                .and_then(|r| model.shape(&r.shape));
            if payload.is_some_and(|s| s.kind == "structure")
                && let Some(root) = xml::parse(body)
            {
                out.insert(root.name.clone(), plain_xml(&root));
            }
        }
        _ => {
            if let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(body) {
                let converted = json_to_cloudtrail(model, &Value::Object(members), Some(input));
                if let Value::Object(members) = converted {
                    out.extend(members);
                }
            }
        }
    }
}

/// An element as JSON without a model: text for leaves, objects of children otherwise
/// (repeated names become arrays).
pub(crate) fn plain_xml(element: &xml::Element) -> Value {
    if element.children.is_empty() {
        return Value::String(element.text.clone());
    }
    let mut out = Map::new();
    for child in &element.children {
        let value = plain_xml(child);
        match out.get_mut(&child.name) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                out.insert(child.name.clone(), value);
            }
        }
    }
    Value::Object(out)
}

/// Which S3 request headers a record shows: the `x-amz-` options of the call, not transport,
/// signing or checksum headers, nor user metadata.
fn s3_header_recorded(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("x-amz-")
        && !name.starts_with("x-amz-meta-")
        && !name.starts_with("x-amz-checksum")
        && !matches!(
            name.as_str(),
            "x-amz-content-sha256"
                | "x-amz-date"
                | "x-amz-security-token"
                | "x-amz-sdk-checksum-algorithm"
                | "x-amz-decoded-content-length"
                | "x-amz-expected-bucket-owner"
        )
}

/// The operation whose method, URI template and required members fit the request best, and
/// the URI labels it binds.
fn match_operation<'m>(
    model: &'m ServiceModel,
    parts: &RequestParts<'_>,
    path: &str,
    query: &[(String, String)],
) -> Option<(&'m str, &'m Operation, BTreeMap<String, String>)> {
    let mut best: Option<(u32, &'m str, &'m Operation, BTreeMap<String, String>)> = None;
    for (name, operation) in &model.operations {
        if operation.method != parts.method {
            continue;
        }
        let (template, wanted_query) = operation
            .uri
            .split_once('?')
            .unwrap_or((operation.uri.as_str(), ""));
        let Some(labels) = match_path(template, path) else {
            continue;
        };
        let mut score = 0;
        let mut fits = true;
        for (k, v) in form_urlencoded::parse(wanted_query.as_bytes()) {
            let sent = query.iter().find(|(qk, _)| *qk == k);
            match sent {
                Some((_, sent_value)) if v.is_empty() || *sent_value == v => score += 100,
                // botocore's `x-id` names the operation; older clients do not send it.
                None if k == "x-id" => {}
                _ => fits = false,
            }
        }
        let input = operation.input.as_deref().and_then(|n| model.shape(n));
        for required in input.map(|s| s.required.as_slice()).unwrap_or_default() {
            let Some(reference) = input.and_then(|s| s.members.get(required)) else {
                continue;
            };
            let wire = reference.wire_name(required);
            let present = match reference.location.as_deref() {
                Some("uri") => labels.contains_key(wire),
                Some("querystring") => query.iter().any(|(k, _)| k == wire),
                Some("header") => header(parts.headers, wire).is_some(),
                _ => true,
            };
            if present {
                score += 10;
            } else {
                fits = false;
            }
        }
        score += template.len() as u32;
        if fits && best.as_ref().is_none_or(|(s, ..)| score > *s) {
            best = Some((score, name, operation, labels));
        }
    }
    best.map(|(_, name, operation, labels)| (name, operation, labels))
}

/// Matches a URI template (`/{Bucket}/{Key+}`) against a decoded path; the labels it binds.
fn match_path(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut rest = path.strip_prefix('/')?;
    let segments: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if let Some(label) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if let Some(greedy) = label.strip_suffix('+') {
                if rest.is_empty() {
                    return None;
                }
                labels.insert(greedy.to_owned(), rest.to_owned());
                return (i + 1 == segments.len()).then_some(labels);
            }
            let (value, after) = rest.split_once('/').unwrap_or((rest, ""));
            if value.is_empty() {
                return None;
            }
            labels.insert(label.to_owned(), value.to_owned());
            rest = after;
        } else {
            let (value, after) = rest.split_once('/').unwrap_or((rest, ""));
            if value != *segment {
                return None;
            }
            rest = after;
        }
    }
    rest.is_empty().then_some(labels)
}

/// A query, header or XML text value typed as the model says.
pub(crate) fn scalar(kind: &str, text: &str) -> Value {
    match kind {
        "integer" | "long" => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.to_owned()), Value::from),
        "float" | "double" => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(text.to_owned()), Value::Number),
        "boolean" => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_owned()),
        },
        _ => Value::String(text.to_owned()),
    }
}

pub(crate) fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `{}` as `null`, as CloudTrail records a call without parameters.
fn non_empty(value: Value) -> Value {
    match &value {
        Value::Object(members) if members.is_empty() => Value::Null,
        _ => value,
    }
}

/// `SSHPublicKey` → `sSHPublicKey`: only the first letter changes, as in AWS's records.
pub fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
