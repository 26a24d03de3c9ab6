//! The resources of an event as CloudTrail's event history shows them (LookupEvents'
//! `Resources`, and what its `ResourceType` / `ResourceName` attributes find).
//!
//! Most delivered records carry no `resources` member (EC2, SSM and CloudWatch calls never do),
//! yet AWS's event history lists the resources of those calls. AWS does not publish its rule;
//! its answers show what it does. An `aws cloudtrail lookup-events` answer for a console
//! RunInstances (one instance from an AMI, a key pair, a new security group) lists, from that
//! record's `requestParameters` and `responseElements`:
//!
//! ```text
//! AWS::EC2::VPC              vpc-e9e14694
//! AWS::EC2::Ami              ami-09d3b3274b6c5d4aa
//! AWS::EC2::NetworkInterface eni-0e2047025f1642a88
//! AWS::EC2::Instance         i-08b3f8f7dcc08d7e4
//! AWS::EC2::KeyPair          cloudryer_sandbox
//! AWS::EC2::SecurityGroup    sg-04bd74569fe50fdb5
//! AWS::EC2::SecurityGroup    launch-wizard-1
//! AWS::EC2::Subnet           subnet-ff9ec5b2
//! ```
//!
//! (the reservation `r-…` and the attachment `eni-attach-…` are not resources), StopInstances
//! lists its `AWS::EC2::Instance`, and an STS AssumeRole lists `AWS::IAM::AccessKey` (the new
//! key), `AWS::STS::AssumedRole` (the session's id and name) and `AWS::IAM::Role` (the role's
//! ARN). Resource names are ids or names as the call gives them, not ARNs, unless the call
//! gives an ARN.
//!
//! cairn's rule, which gives those answers:
//! 1. Every element of the record's `resources` array, as recorded ([`recorded`]).
//! 2. Then, walking `requestParameters` and then `responseElements` (objects' members by name,
//!    arrays in order), every string value (or string in an array) of a member that [`MEMBER_RULES`]
//!    names for the event's service (and event name, and parent member, where it says), with
//!    that rule's type. The members are the identifiers of the services' API models, under the
//!    lower-camel names CloudTrail records them with (a first capital letter also matches:
//!    newer EC2 calls are recorded as `{"CreateLaunchTemplateRequest": {"LaunchTemplateName":
//!    ...}}`).
//! 3. For EC2-family services ([`ID_PREFIX_SERVICES`]), also every string anywhere in those
//!    members that has the shape of an EC2 id with a prefix of [`EC2_ID_PREFIXES`]
//!    (`<prefix>-` and 8 or 17 lowercase hex digits): so CreateTags' `resourcesSet`,
//!    `resourceId`s and ids under unusual member names count too.
//! 4. Only for management events: event history shows no others (data events keep the
//!    resources they record, which is what trails' event selectors read too).
//! 5. Each (type, name) once, in the order found (AWS's order is its own); redacted values
//!    (`HIDDEN_DUE_TO_SECURITY_REASONS`) are not names; at most [`MAX_DERIVED`] derived ones.
//!
//! The record's text is never changed: this is derived data, recomputed whenever a record is
//! parsed. Segments sealed by cairn before this rule existed hold only the recorded resources in
//! their lookup index (see `cairn-store`'s index docs).

use serde_json::Value;
use serde_json::value::RawValue;

use crate::record::Resource;

/// At most this many resources are derived from one call's parameters and elements (a
/// DescribeInstances answer can name hundreds): the first ones found.
pub const MAX_DERIVED: usize = 64;

/// The placeholder capture and AWS write for a redacted value.
const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// A member of `requestParameters` / `responseElements` that names a resource.
pub struct MemberRule {
    /// `eventSource` without `.amazonaws.com`.
    pub service: &'static str,
    /// The member's name as CloudTrail records it.
    pub member: &'static str,
    /// Only for event names containing this (SSM's `name` is a parameter in `PutParameter` and
    /// a document in `CreateDocument`).
    pub event_name_contains: Option<&'static str>,
    /// Only when the member sits directly in an object that is this member's value
    /// (EC2's `groupName` is a placement group under `placement`).
    pub parent: Option<&'static str>,
    pub resource_type: &'static str,
}

const fn rule(
    service: &'static str,
    member: &'static str,
    resource_type: &'static str,
) -> MemberRule {
    MemberRule {
        service,
        member,
        event_name_contains: None,
        parent: None,
        resource_type,
    }
}

const fn rule_for(
    service: &'static str,
    member: &'static str,
    event_name_contains: &'static str,
    resource_type: &'static str,
) -> MemberRule {
    MemberRule {
        service,
        member,
        event_name_contains: Some(event_name_contains),
        parent: None,
        resource_type,
    }
}

const fn rule_under(
    service: &'static str,
    parent: &'static str,
    member: &'static str,
    resource_type: &'static str,
) -> MemberRule {
    MemberRule {
        service,
        member,
        event_name_contains: None,
        parent: Some(parent),
        resource_type,
    }
}

/// The members that name resources, per service; the first rule that applies wins.
pub const MEMBER_RULES: &[MemberRule] = &[
    // EC2 and EBS (ec2.amazonaws.com records EBS calls too).
    rule("ec2", "instanceId", "AWS::EC2::Instance"),
    rule("ec2", "imageId", "AWS::EC2::Ami"),
    rule("ec2", "sourceImageId", "AWS::EC2::Ami"),
    rule("ec2", "volumeId", "AWS::EC2::Volume"),
    rule("ec2", "snapshotId", "AWS::EC2::Snapshot"),
    rule("ec2", "sourceSnapshotId", "AWS::EC2::Snapshot"),
    rule("ec2", "groupId", "AWS::EC2::SecurityGroup"),
    rule_under("ec2", "placement", "groupName", "AWS::EC2::PlacementGroup"),
    rule("ec2", "groupName", "AWS::EC2::SecurityGroup"),
    rule("ec2", "keyName", "AWS::EC2::KeyPair"),
    rule("ec2", "keyPairId", "AWS::EC2::KeyPair"),
    rule("ec2", "vpcId", "AWS::EC2::VPC"),
    rule("ec2", "subnetId", "AWS::EC2::Subnet"),
    rule("ec2", "networkInterfaceId", "AWS::EC2::NetworkInterface"),
    rule("ec2", "internetGatewayId", "AWS::EC2::InternetGateway"),
    rule("ec2", "routeTableId", "AWS::EC2::RouteTable"),
    rule("ec2", "networkAclId", "AWS::EC2::NetworkAcl"),
    rule("ec2", "natGatewayId", "AWS::EC2::NatGateway"),
    rule("ec2", "allocationId", "AWS::EC2::EIP"),
    rule("ec2", "launchTemplateId", "AWS::EC2::LaunchTemplate"),
    rule("ec2", "launchTemplateName", "AWS::EC2::LaunchTemplate"),
    rule("ec2", "vpcEndpointId", "AWS::EC2::VPCEndpoint"),
    rule(
        "ec2",
        "vpcPeeringConnectionId",
        "AWS::EC2::VPCPeeringConnection",
    ),
    rule("ec2", "transitGatewayId", "AWS::EC2::TransitGateway"),
    // EBS direct APIs.
    rule("ebs", "snapshotId", "AWS::EC2::Snapshot"),
    rule("ebs", "parentSnapshotId", "AWS::EC2::Snapshot"),
    // EC2 Instance Connect (SendSSHPublicKey, SendSerialConsoleSSHPublicKey).
    rule("ec2-instance-connect", "instanceId", "AWS::EC2::Instance"),
    // Systems Manager: parameters, documents, managed nodes (instances and `mi-` nodes).
    rule_for("ssm", "name", "Parameter", "AWS::SSM::Parameter"),
    rule_for("ssm", "names", "Parameter", "AWS::SSM::Parameter"),
    rule_for("ssm", "name", "Document", "AWS::SSM::Document"),
    rule("ssm", "documentName", "AWS::SSM::Document"),
    rule("ssm", "instanceId", "AWS::SSM::ManagedNode"),
    rule("ssm", "instanceIds", "AWS::SSM::ManagedNode"),
    rule_for("ssm", "target", "Session", "AWS::SSM::ManagedNode"),
    rule("ssm", "associationId", "AWS::SSM::Association"),
    rule("ssm", "windowId", "AWS::SSM::MaintenanceWindow"),
    // CloudWatch.
    rule("monitoring", "alarmName", "AWS::CloudWatch::Alarm"),
    rule("monitoring", "alarmNames", "AWS::CloudWatch::Alarm"),
    rule("monitoring", "dashboardName", "AWS::CloudWatch::Dashboard"),
    rule("monitoring", "dashboardNames", "AWS::CloudWatch::Dashboard"),
    // CloudWatch Logs.
    rule("logs", "logGroupName", "AWS::Logs::LogGroup"),
    // S3 (object resources come with the record's `resources`, as AWS writes them).
    rule("s3", "bucketName", "AWS::S3::Bucket"),
    // IAM.
    rule("iam", "userName", "AWS::IAM::User"),
    rule("iam", "roleName", "AWS::IAM::Role"),
    rule("iam", "groupName", "AWS::IAM::Group"),
    rule("iam", "policyArn", "AWS::IAM::Policy"),
    rule("iam", "policyName", "AWS::IAM::Policy"),
    rule("iam", "accessKeyId", "AWS::IAM::AccessKey"),
    rule("iam", "instanceProfileName", "AWS::IAM::InstanceProfile"),
    // STS.
    rule("sts", "roleArn", "AWS::IAM::Role"),
    rule("sts", "roleSessionName", "AWS::STS::AssumedRole"),
    rule("sts", "assumedRoleId", "AWS::STS::AssumedRole"),
    rule("sts", "accessKeyId", "AWS::IAM::AccessKey"),
    // KMS.
    rule("kms", "keyId", "AWS::KMS::Key"),
    rule("kms", "targetKeyId", "AWS::KMS::Key"),
    rule("kms", "aliasName", "AWS::KMS::Alias"),
    // CloudTrail (its own trail and event data store calls).
    rule_for("cloudtrail", "name", "Trail", "AWS::CloudTrail::Trail"),
    rule_for("cloudtrail", "name", "Logging", "AWS::CloudTrail::Trail"),
    rule("cloudtrail", "trailName", "AWS::CloudTrail::Trail"),
    rule(
        "cloudtrail",
        "eventDataStore",
        "AWS::CloudTrail::EventDataStore",
    ),
    // Others often seen in investigations.
    rule("lambda", "functionName", "AWS::Lambda::Function"),
    rule("dynamodb", "tableName", "AWS::DynamoDB::Table"),
    rule("sns", "topicArn", "AWS::SNS::Topic"),
    rule("sqs", "queueUrl", "AWS::SQS::Queue"),
    rule("secretsmanager", "secretId", "AWS::SecretsManager::Secret"),
];

/// Services whose strings are also read for EC2-shaped ids (rule 3).
pub const ID_PREFIX_SERVICES: &[&str] = &["ec2", "ebs", "ec2-instance-connect"];

/// EC2 id prefixes and the resource types they name.
pub const EC2_ID_PREFIXES: &[(&str, &str)] = &[
    ("i", "AWS::EC2::Instance"),
    ("ami", "AWS::EC2::Ami"),
    ("vol", "AWS::EC2::Volume"),
    ("snap", "AWS::EC2::Snapshot"),
    ("sg", "AWS::EC2::SecurityGroup"),
    ("key", "AWS::EC2::KeyPair"),
    ("vpc", "AWS::EC2::VPC"),
    ("subnet", "AWS::EC2::Subnet"),
    ("eni", "AWS::EC2::NetworkInterface"),
    ("igw", "AWS::EC2::InternetGateway"),
    ("rtb", "AWS::EC2::RouteTable"),
    ("acl", "AWS::EC2::NetworkAcl"),
    ("nat", "AWS::EC2::NatGateway"),
    ("eipalloc", "AWS::EC2::EIP"),
    ("lt", "AWS::EC2::LaunchTemplate"),
    ("vpce", "AWS::EC2::VPCEndpoint"),
    ("pcx", "AWS::EC2::VPCPeeringConnection"),
    ("tgw", "AWS::EC2::TransitGateway"),
    ("fl", "AWS::EC2::FlowLog"),
    ("tmf", "AWS::EC2::TrafficMirrorFilter"),
    ("tms", "AWS::EC2::TrafficMirrorSession"),
    ("tmt", "AWS::EC2::TrafficMirrorTarget"),
];

/// The resources of an event: the recorded ones, then those derived from its call (see the
/// module docs).
pub fn event_resources(
    recorded: Vec<Resource>,
    event_source: Option<&str>,
    event_name: Option<&str>,
    request_parameters: Option<&RawValue>,
    response_elements: Option<&RawValue>,
) -> Vec<Resource> {
    let mut found = Found {
        resources: recorded,
        derived: 0,
    };
    let Some(service) = event_source.and_then(|s| s.strip_suffix(".amazonaws.com")) else {
        return found.resources;
    };
    let rules: Vec<&'static MemberRule> = MEMBER_RULES
        .iter()
        .filter(|r| {
            r.service == service
                && r.event_name_contains
                    .is_none_or(|part| event_name.is_some_and(|name| name.contains(part)))
        })
        .collect();
    let prefixes = ID_PREFIX_SERVICES.contains(&service);
    if rules.is_empty() && !prefixes {
        return found.resources;
    }
    let walker = Walker { rules, prefixes };
    for raw in [request_parameters, response_elements]
        .into_iter()
        .flatten()
    {
        let text = raw.get();
        // Only objects and arrays can name resources; `null` and strings are common. Without
        // EC2 ids to look for, a text that names none of the members needs no parsing (the
        // first letter is left out of the search: it may be a capital).
        let named = |rule: &&MemberRule| text.contains(&rule.member[1..]);
        if !text.starts_with(['{', '[']) || (!prefixes && !walker.rules.iter().any(named)) {
            continue;
        }
        walker.walk(text, &mut found);
    }
    found.resources
}

/// The resources found so far.
struct Found {
    resources: Vec<Resource>,
    derived: usize,
}

impl Found {
    fn add(&mut self, resource_type: &str, name: &str) {
        if name.is_empty() || name == HIDDEN || self.derived >= MAX_DERIVED {
            return;
        }
        let known = self.resources.iter().any(|r| {
            r.resource_type.as_deref() == Some(resource_type)
                && r.resource_name.as_deref() == Some(name)
        });
        if !known {
            self.resources.push(Resource {
                resource_type: Some(resource_type.to_owned()),
                resource_name: Some(name.to_owned()),
            });
            self.derived += 1;
        }
    }
}

/// What to look for in one call's members.
struct Walker {
    rules: Vec<&'static MemberRule>,
    prefixes: bool,
}

impl Walker {
    /// The rule for member `member` of an object that is the value of member `parent`.
    fn rule_for(&self, member: &str, parent: Option<&str>) -> Option<&'static MemberRule> {
        self.rules.iter().copied().find(|r| {
            same_member(r.member, member)
                && r.parent
                    .is_none_or(|p| same_member(p, parent.unwrap_or("")))
        })
    }

    /// Walks the JSON `text` as it is read, keeping nothing it passes over.
    fn walk(&self, text: &str, found: &mut Found) {
        let mut reader = serde_json::Deserializer::from_str(text);
        let node = Node {
            walker: self,
            parent: None,
            rule: None,
            found,
        };
        // A text that is not JSON names nothing (the record parser took it as a raw value).
        let _ = serde::de::DeserializeSeed::deserialize(node, &mut reader);
    }
}

/// One JSON value on the walk: the value of member `parent` (an array's elements keep their
/// array's member as parent, so that `placement` rules see through lists of one shape), whose
/// strings name resources of `rule`'s type when a rule names that member.
struct Node<'a> {
    walker: &'a Walker,
    parent: Option<&'a str>,
    rule: Option<&'static MemberRule>,
    found: &'a mut Found,
}

impl<'de> serde::de::DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, reader: D) -> Result<(), D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(member) = map.next_key_seed(MemberName)? {
            let rule = self.walker.rule_for(&member, self.parent);
            map.next_value_seed(Node {
                walker: self.walker,
                parent: Some(&member),
                rule,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items
            .next_element_seed(Node {
                walker: self.walker,
                parent: self.parent,
                rule: self.rule,
                found: &mut *self.found,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        if let Some(rule) = self.rule {
            self.found.add(rule.resource_type, text);
        }
        if self.walker.prefixes
            && let Some(resource_type) = ec2_id_type(text)
        {
            self.found.add(resource_type, text);
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A member name, borrowed from the text when it has no escapes.
struct MemberName;

impl<'de> serde::de::DeserializeSeed<'de> for MemberName {
    type Value = std::borrow::Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for MemberName {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(name))
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(name.to_owned()))
    }
}

/// A rule's lower-camel member name against a recorded one, whose first letter may be a
/// capital.
fn same_member(rule: &str, recorded: &str) -> bool {
    let (mut rule, mut recorded) = (rule.chars(), recorded.chars());
    match (rule.next(), recorded.next()) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(&b) && rule.eq(recorded),
        (None, None) => true,
        _ => false,
    }
}

/// The type an EC2-shaped id names: `<prefix>-` and 8 or 17 lowercase hex digits.
pub fn ec2_id_type(text: &str) -> Option<&'static str> {
    let (prefix, id) = text.split_once('-')?;
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !matches!(id.len(), 8 | 17) || !hex(id) {
        return None;
    }
    EC2_ID_PREFIXES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, resource_type)| *resource_type)
}

/// One element of a record's `resources` array as event history shows it: `type`, and `ARN`
/// (or `ARNPrefix`; `arn` in hand-edited fixtures).
pub fn recorded(raw: Option<&RawValue>) -> Vec<Resource> {
    let Some(Value::Array(elements)) =
        raw.and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
    else {
        return Vec::new();
    };
    elements
        .iter()
        .filter_map(|element| {
            let text = |name: &str| {
                element
                    .get(name)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            let resource = Resource {
                resource_type: text("type"),
                resource_name: text("ARN")
                    .or_else(|| text("ARNPrefix"))
                    .or_else(|| text("arn")),
            };
            (resource.resource_type.is_some() || resource.resource_name.is_some())
                .then_some(resource)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn member_names_that_begin_with_a_wide_character_compare_without_panicking() {
        // Found by the fuzz target `capture` (regressions/capture/): a recorded member whose
        // first character is several bytes long was cut inside that character.
        assert!(!super::same_member("minCount", "\u{fffd}inCount"));
        // Only ASCII letters compare without case, as AWS's member names are ASCII.
        assert!(!super::same_member("éte", "Éte"));
        assert!(super::same_member("minCount", "MinCount"));
        assert!(!super::same_member("minCount", "minCoun"));
    }

    use super::*;

    /// The derived (type, name) pairs, sorted.
    fn derive(source: &str, name: &str, request: &str, response: &str) -> Vec<(String, String)> {
        let request: Box<RawValue> = serde_json::from_str(request).unwrap();
        let response: Box<RawValue> = serde_json::from_str(response).unwrap();
        event_resources(
            Vec::new(),
            Some(source),
            Some(name),
            Some(&request),
            Some(&response),
        )
        .into_iter()
        .map(|r| (r.resource_type.unwrap(), r.resource_name.unwrap()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
    }

    /// The pairs, sorted.
    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(t, n)| (t.to_string(), n.to_string()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    #[test]
    fn run_instances_names_what_aws_event_history_names() {
        // The record of AWS's answer quoted in the module docs, shortened to the members
        // that matter.
        let request = r#"{"instancesSet":{"items":[{"imageId":"ami-09d3b3274b6c5d4aa","minCount":1,"maxCount":1,"keyName":"cloudryer_sandbox"}]},"instanceType":"t2.micro","clientToken":"87b693e3-0246-4fa9-953c-418af376f25d","networkInterfaceSet":{"items":[{"deviceIndex":0,"groupSet":{"items":[{"groupId":"sg-04bd74569fe50fdb5"}]}}]}}"#;
        let response = r#"{"requestId":"c6bb92b5-c880-4541-82a4-0366e7e0714a","reservationId":"r-061874ab9175b555d","ownerId":"450502852875","instancesSet":{"items":[{"instanceId":"i-08b3f8f7dcc08d7e4","imageId":"ami-09d3b3274b6c5d4aa","keyName":"cloudryer_sandbox","placement":{"availabilityZone":"us-east-1a","tenancy":"default"},"subnetId":"subnet-ff9ec5b2","vpcId":"vpc-e9e14694","groupSet":{"items":[{"groupId":"sg-04bd74569fe50fdb5","groupName":"launch-wizard-1"}]},"networkInterfaceSet":{"items":[{"networkInterfaceId":"eni-0e2047025f1642a88","subnetId":"subnet-ff9ec5b2","vpcId":"vpc-e9e14694","attachment":{"attachmentId":"eni-attach-06ef86ee51058174c"}}]}}]}}"#;
        let found = derive("ec2.amazonaws.com", "RunInstances", request, response);
        let aws = pairs(&[
            ("AWS::EC2::VPC", "vpc-e9e14694"),
            ("AWS::EC2::Ami", "ami-09d3b3274b6c5d4aa"),
            ("AWS::EC2::NetworkInterface", "eni-0e2047025f1642a88"),
            ("AWS::EC2::Instance", "i-08b3f8f7dcc08d7e4"),
            ("AWS::EC2::KeyPair", "cloudryer_sandbox"),
            ("AWS::EC2::SecurityGroup", "sg-04bd74569fe50fdb5"),
            ("AWS::EC2::SecurityGroup", "launch-wizard-1"),
            ("AWS::EC2::Subnet", "subnet-ff9ec5b2"),
        ]);
        assert_eq!(found, aws);
    }

    #[test]
    fn attach_volume_names_the_instance_and_the_volume() {
        let found = derive(
            "ec2.amazonaws.com",
            "AttachVolume",
            r#"{"volumeId":"vol-0123456789abcdef0","instanceId":"i-0123456789abcdef0","device":"/dev/sdf"}"#,
            r#"{"requestId":"x","volumeId":"vol-0123456789abcdef0","instanceId":"i-0123456789abcdef0","status":"attaching"}"#,
        );
        assert_eq!(
            found,
            pairs(&[
                ("AWS::EC2::Volume", "vol-0123456789abcdef0"),
                ("AWS::EC2::Instance", "i-0123456789abcdef0")
            ])
        );
    }

    #[test]
    fn ids_under_other_members_are_found_by_their_prefix() {
        let found = derive(
            "ec2.amazonaws.com",
            "CreateTags",
            r#"{"resourcesSet":{"items":[{"resourceId":"snap-066877671789bd71b"},{"resourceId":"i-1234abcd"}]},"tagSet":{"items":[{"key":"Name","value":"sg-nothex!"}]}}"#,
            "null",
        );
        assert_eq!(
            found,
            pairs(&[
                ("AWS::EC2::Snapshot", "snap-066877671789bd71b"),
                ("AWS::EC2::Instance", "i-1234abcd")
            ])
        );
        assert_eq!(ec2_id_type("r-061874ab9175b555d"), None);
        assert_eq!(ec2_id_type("eni-attach-06ef86ee51058174c"), None);
        assert_eq!(ec2_id_type("i-08B3F8F7DCC08D7E4"), None);
    }

    #[test]
    fn newer_ec2_records_with_capitalised_members_name_resources_too() {
        let found = derive(
            "ec2.amazonaws.com",
            "CreateLaunchTemplate",
            r#"{"CreateLaunchTemplateRequest":{"LaunchTemplateName":"TrailDiscoverTemplate","LaunchTemplateData":{"ImageId":"ami-0b98a32b1c5e0d105"}}}"#,
            r#"{"DeleteFlowLogsResponse":{"FlowLogId":{"content":"fl-0ef673ef70c4f07cc","tag":1}}}"#,
        );
        assert_eq!(
            found,
            pairs(&[
                ("AWS::EC2::LaunchTemplate", "TrailDiscoverTemplate"),
                ("AWS::EC2::Ami", "ami-0b98a32b1c5e0d105"),
                ("AWS::EC2::FlowLog", "fl-0ef673ef70c4f07cc"),
            ])
        );
    }

    #[test]
    fn a_placement_group_is_not_a_security_group() {
        let found = derive(
            "ec2.amazonaws.com",
            "RunInstances",
            r#"{"placement":{"groupName":"cluster-1"},"groupSet":{"items":[{"groupName":"web"}]}}"#,
            "null",
        );
        assert_eq!(
            found,
            pairs(&[
                ("AWS::EC2::PlacementGroup", "cluster-1"),
                ("AWS::EC2::SecurityGroup", "web")
            ])
        );
    }

    #[test]
    fn ssm_names_depend_on_the_call() {
        assert_eq!(
            derive(
                "ssm.amazonaws.com",
                "PutParameter",
                r#"{"name":"/app/db-url","type":"SecureString","value":"HIDDEN_DUE_TO_SECURITY_REASONS"}"#,
                r#"{"version":1,"tier":"Standard"}"#
            ),
            pairs(&[("AWS::SSM::Parameter", "/app/db-url")])
        );
        assert_eq!(
            derive(
                "ssm.amazonaws.com",
                "GetParameters",
                r#"{"names":["a","b"],"withDecryption":true}"#,
                "null"
            ),
            pairs(&[("AWS::SSM::Parameter", "a"), ("AWS::SSM::Parameter", "b")])
        );
        assert_eq!(
            derive(
                "ssm.amazonaws.com",
                "SendCommand",
                r#"{"documentName":"AWS-RunShellScript","instanceIds":["i-0123456789abcdef0"],"parameters":"HIDDEN_DUE_TO_SECURITY_REASONS"}"#,
                "null"
            ),
            pairs(&[
                ("AWS::SSM::Document", "AWS-RunShellScript"),
                ("AWS::SSM::ManagedNode", "i-0123456789abcdef0")
            ])
        );
        assert_eq!(
            derive(
                "ssm.amazonaws.com",
                "StartSession",
                r#"{"target":"mi-0123456789abcdef0"}"#,
                r#"{"sessionId":"alice-0a1b2c3d4e5f6a7b8"}"#
            ),
            pairs(&[("AWS::SSM::ManagedNode", "mi-0123456789abcdef0")])
        );
    }

    #[test]
    fn assume_role_names_the_key_the_session_and_the_role() {
        let found = derive(
            "sts.amazonaws.com",
            "AssumeRole",
            r#"{"roleArn":"arn:aws:iam::121663830981:role/example","roleSessionName":"myHTTPRequestFunc"}"#,
            r#"{"credentials":{"accessKeyId":"ASIARYU52XPC5GYD2LMQ","sessionToken":"x","expiration":"Apr 10, 2024, 9:01:35 PM"},"assumedRoleUser":{"assumedRoleId":"AROAEXAMPLE:myHTTPRequestFunc","arn":"arn:aws:sts::121663830981:assumed-role/example/myHTTPRequestFunc"}}"#,
        );
        assert_eq!(
            found,
            pairs(&[
                ("AWS::IAM::Role", "arn:aws:iam::121663830981:role/example"),
                ("AWS::STS::AssumedRole", "myHTTPRequestFunc"),
                ("AWS::IAM::AccessKey", "ASIARYU52XPC5GYD2LMQ"),
                ("AWS::STS::AssumedRole", "AROAEXAMPLE:myHTTPRequestFunc"),
            ])
        );
    }

    #[test]
    fn recorded_resources_come_first_and_are_not_repeated() {
        let request: Box<RawValue> =
            serde_json::from_str(r#"{"bucketName":"logs","Host":"logs.s3.amazonaws.com"}"#)
                .unwrap();
        let recorded = vec![Resource {
            resource_type: Some("AWS::S3::Bucket".into()),
            resource_name: Some("arn:aws:s3:::logs".into()),
        }];
        let found = event_resources(
            recorded.clone(),
            Some("s3.amazonaws.com"),
            Some("GetBucketAcl"),
            Some(&request),
            None,
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], recorded[0]);
        assert_eq!(found[1].resource_name.as_deref(), Some("logs"));
        // A service without rules, and a record without parameters, derive nothing.
        assert!(
            event_resources(
                Vec::new(),
                Some("ce.amazonaws.com"),
                None,
                Some(&request),
                None
            )
            .is_empty()
        );
        assert!(
            event_resources(Vec::new(), Some("ec2.amazonaws.com"), None, None, None).is_empty()
        );
    }

    #[test]
    fn derived_resources_are_capped() {
        let ids: Vec<String> = (0..200).map(|i| format!("\"i-{i:08x}\"")).collect();
        let request = format!(r#"{{"instanceIds":[{}]}}"#, ids.join(","));
        let found = derive("ec2.amazonaws.com", "DescribeInstances", &request, "null");
        assert_eq!(found.len(), MAX_DERIVED);
    }
}
