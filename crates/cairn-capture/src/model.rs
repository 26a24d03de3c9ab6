//! The service models: botocore's public API models (`service-2.json`), compacted by
//! `scripts/extract-service-models.py` into `crates/cairn-capture/models/<signing name>.json`
//! and compiled in.
//!
//! # The compact model format (written by the script; read here)
//!
//! ```text
//! {"service": "<SigV4 signing name>", "protocols": ["json|query|ec2|rest-json|rest-xml", ...],
//!  "eventSource": "<endpoint prefix>.amazonaws.com", "apiVersion": "...",
//!  "targetPrefix": "<X-Amz-Target prefix>" | null,
//!  "operations": {"<Name>": {"method", "uri", "input"?, "output"?}},
//!  "shapes": {"<Name>": {"type", "members"?: {"<Member>": {"shape", "location"?,
//!             "locationName"?, "queryName"?, "flattened"?, "jsonvalue"?}},
//!             "member"?, "key"?, "value"?, "flattened"?, "locationName"?, "required"?,
//!             "timestampFormat"?, "payload"?, "sensitive"?}}}
//! ```
//!
//! Adding a service: `.venv/bin/python scripts/extract-service-models.py <botocore name>`, then
//! a line in [`MODELS`].

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

/// The compiled-in models, by SigV4 signing name.
const MODELS: &[(&str, &str)] = &[
    ("ec2", include_str!("../models/ec2.json")),
    ("ebs", include_str!("../models/ebs.json")),
    (
        "ec2-instance-connect",
        include_str!("../models/ec2-instance-connect.json"),
    ),
    ("monitoring", include_str!("../models/monitoring.json")),
    ("s3", include_str!("../models/s3.json")),
    ("ssm", include_str!("../models/ssm.json")),
];

/// How a service puts calls on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    /// AWS JSON 1.0/1.1: `POST /`, `X-Amz-Target: <prefix>.<Operation>`, a JSON body.
    #[serde(rename = "json")]
    Json,
    /// AWS query: `Action=<Operation>` form parameters, XML answers.
    #[serde(rename = "query")]
    Query,
    /// EC2's variant of the query protocol.
    #[serde(rename = "ec2")]
    Ec2,
    /// REST with JSON bodies: the method and path name the operation.
    #[serde(rename = "rest-json")]
    RestJson,
    /// REST with XML bodies (S3).
    #[serde(rename = "rest-xml")]
    RestXml,
}

/// One service's model.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceModel {
    pub service: String,
    /// The protocols the service speaks that cairn reads, the preferred first (CloudWatch
    /// takes JSON and query).
    pub protocols: Vec<Protocol>,
    pub event_source: String,
    pub api_version: String,
    pub target_prefix: Option<String>,
    pub operations: BTreeMap<String, Operation>,
    pub shapes: HashMap<String, Shape>,
}

/// An operation's HTTP binding and shapes.
#[derive(Debug, Deserialize)]
pub struct Operation {
    pub method: String,
    /// The request URI template, e.g. `/{Bucket}/{Key+}?uploads`.
    pub uri: String,
    pub input: Option<String>,
    pub output: Option<String>,
}

/// A shape: structure, list, map or a scalar type.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub members: BTreeMap<String, MemberRef>,
    pub member: Option<MemberRef>,
    pub key: Option<MemberRef>,
    pub value: Option<MemberRef>,
    #[serde(default)]
    pub flattened: bool,
    pub location_name: Option<String>,
    #[serde(default)]
    pub required: Vec<String>,
    pub payload: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
}

/// A reference to a shape from a structure member or a list/map part.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRef {
    pub shape: String,
    /// `uri`, `querystring`, `header`, `headers`, `statusCode`; none: the body.
    pub location: Option<String>,
    pub location_name: Option<String>,
    pub query_name: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    #[serde(default)]
    pub jsonvalue: bool,
}

impl MemberRef {
    /// The name on the wire: `locationName`, else `member` (its name in the structure, or the
    /// default name of a list item or map part).
    pub fn wire_name<'a>(&'a self, member: &'a str) -> &'a str {
        self.location_name.as_deref().unwrap_or(member)
    }
}

impl ServiceModel {
    /// The model of the service with this SigV4 signing name.
    pub fn for_service(signing_name: &str) -> Option<&'static ServiceModel> {
        static LOADED: OnceLock<HashMap<&'static str, ServiceModel>> = OnceLock::new();
        LOADED
            .get_or_init(|| {
                MODELS
                    .iter()
                    .filter_map(|(name, text)| {
                        // The models are generated and tested; one that does not parse is left
                        // out (its calls are then recorded undecoded) rather than failing.
                        serde_json::from_str(text).ok().map(|model| (*name, model))
                    })
                    .collect()
            })
            .get(signing_name)
    }

    /// The signing names of the compiled-in models.
    pub fn services() -> impl Iterator<Item = &'static str> {
        MODELS.iter().map(|(name, _)| *name)
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// The preferred protocol: the one error answers use when a request tells nothing.
    pub fn protocol(&self) -> Protocol {
        self.protocols.first().copied().unwrap_or(Protocol::Json)
    }

    /// The protocol a request is in: JSON when it names its operation in `X-Amz-Target`,
    /// query when its form names an `Action`, else the preferred one.
    pub fn protocol_of(&self, x_amz_target: bool, form_action: bool) -> Protocol {
        let speaks = |p: Protocol| self.protocols.contains(&p);
        if x_amz_target && speaks(Protocol::Json) {
            Protocol::Json
        } else if form_action && speaks(Protocol::Query) {
            Protocol::Query
        } else {
            self.protocol()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compiled_in_model_parses() {
        for name in ServiceModel::services() {
            let model = ServiceModel::for_service(name)
                .unwrap_or_else(|| panic!("the {name} model does not parse"));
            assert_eq!(model.service, name);
            for (op, operation) in &model.operations {
                for shape in operation.input.iter().chain(&operation.output) {
                    assert!(
                        model.shape(shape).is_some(),
                        "{name} {op}: no shape {shape}"
                    );
                }
            }
        }
        let ec2 = ServiceModel::for_service("ec2").unwrap();
        assert_eq!(ec2.protocol(), Protocol::Ec2);
        let monitoring = ServiceModel::for_service("monitoring").unwrap();
        assert_eq!(monitoring.protocols, [Protocol::Json, Protocol::Query]);
        assert_eq!(
            ServiceModel::for_service("monitoring")
                .unwrap()
                .event_source,
            "monitoring.amazonaws.com"
        );
    }
}
