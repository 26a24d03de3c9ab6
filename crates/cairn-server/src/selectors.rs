//! Event selectors: which events a trail logs (spec §5), AWS's rules for them, and matching.
//!
//! A trail has either basic selectors ([`EventSelector`], spec §5.5) or advanced ones
//! ([`AdvancedEventSelector`], §5.1–5.3), never both; a trail that never had any logs every
//! management event, read and write, and nothing else ([`Selectors::default_for_trail`]).
//! Both kinds are kept, in the trail catalog, in exactly their wire shape.
//!
//! An event is logged when any selector matches it. Within an advanced selector every field
//! selector must match; within a field selector every operator present must hold, and the
//! values of one operator are alternatives (spec §5.3). Where AWS does not say (an event
//! lacking the field, several resources), cairn follows the spec's derived rule: a missing value
//! satisfies only negative operators; with several resources, some resource must satisfy the
//! positive operators and none may violate a negative one.

use cairn_model::record::with_lone_surrogates_replaced;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};

/// AWS's limits (spec §5.4).
const MAX_BASIC_SELECTORS: usize = 5;
const MAX_DATA_RESOURCES: usize = 250;
const MAX_ADVANCED_VALUES: usize = 500;
const MAX_EVENT_DATA_STORE_SELECTORS: usize = 5;

/// Whose advanced selectors: trails and event data stores accept different fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Trail,
    EventDataStore,
}

impl Owner {
    fn describe(self) -> &'static str {
        match self {
            Owner::Trail => "a trail",
            Owner::EventDataStore => "an event data store",
        }
    }
}

/// The only event sources basic selectors may exclude from management events.
const EXCLUDABLE_SOURCES: [&str; 2] = ["kms.amazonaws.com", "rdsdata.amazonaws.com"];
/// The data resource types basic selectors can name.
const BASIC_DATA_TYPES: [(&str, &str); 3] = [
    ("AWS::S3::Object", "s3"),
    ("AWS::Lambda::Function", "lambda"),
    ("AWS::DynamoDB::Table", "dynamodb"),
];

/// A basic event selector (`EventSelector`), with AWS's defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelector {
    #[serde(default = "all")]
    pub read_write_type: String,
    #[serde(default = "yes")]
    pub include_management_events: bool,
    #[serde(default)]
    pub data_resources: Vec<DataResource>,
    #[serde(default)]
    pub exclude_management_event_sources: Vec<String>,
}

fn all() -> String {
    "All".to_owned()
}

fn yes() -> bool {
    true
}

/// Data events of one resource type, for the resources `values` name (ARNs or ARN prefixes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataResource {
    #[serde(rename = "Type")]
    pub resource_type: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// An advanced event selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedEventSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub field_selectors: Vec<FieldSelector>,
}

/// One condition of an advanced selector: a field and its operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FieldSelector {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_starts_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ends_with: Option<Vec<String>>,
}

/// A trail's selectors: one kind or the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selectors {
    Basic(Vec<EventSelector>),
    Advanced(Vec<AdvancedEventSelector>),
}

/// What selectors look at in an event.
#[derive(Debug, Clone, Default)]
pub struct EventView<'a> {
    /// `eventCategory`: `Management`, `Data`, `NetworkActivity`, `Insight`.
    pub category: &'a str,
    pub read_only: Option<bool>,
    pub event_source: Option<&'a str>,
    pub event_name: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub user_identity_arn: Option<&'a str>,
    /// (type, ARN) of each resource.
    pub resources: Vec<(Option<&'a str>, Option<&'a str>)>,
    /// The whole record, for the rarely selected fields cairn does not derive
    /// (`sessionCredentialFromConsole`, `vpcEndpointId`)...
    pub json: &'a str,
    /// ... or those fields' values, when the event was read member by member (see
    /// [`Selectors::member_paths`]).
    pub others: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> EventView<'a> {
    /// The view of an event read member by member: `member(path)` is the text a store's field
    /// scan gives for each of [`Selectors::member_paths`], `resources` the record's own
    /// (`cairn_model::resources::recorded`). The same view [`Self::of`] makes of the record.
    pub fn of_members(
        member: &dyn Fn(&str) -> Option<&'a str>,
        resources: &'a [cairn_model::Resource],
        others: Vec<(&'a str, Option<&'a str>)>,
    ) -> EventView<'a> {
        let event_type = member("eventType");
        let category = member("eventCategory").unwrap_or_else(|| {
            let history = cairn_model::record::history_category(
                None,
                event_type,
                member("managementEvent").and_then(cairn_model::record::boolean_text),
                member("insightDetails").is_some(),
            );
            category_name(history)
        });
        EventView {
            category,
            read_only: member("readOnly").and_then(cairn_model::record::boolean_text),
            event_source: member("eventSource"),
            event_name: member("eventName"),
            event_type,
            error_code: member("errorCode"),
            user_identity_arn: member("userIdentity.arn"),
            resources: resources
                .iter()
                .map(|r| (r.resource_type.as_deref(), r.resource_name.as_deref()))
                .collect(),
            json: "",
            others,
        }
    }

    /// What selectors look at in `record`. Without `eventCategory` (records older than 1.07),
    /// the category is the one event history files it under.
    pub fn of(record: &'a cairn_model::Record) -> EventView<'a> {
        let fields = &record.fields;
        let category = fields
            .event_category
            .as_deref()
            .unwrap_or(category_name(fields.history));
        EventView {
            category,
            read_only: fields.read_only,
            event_source: fields.event_source.as_deref(),
            event_name: fields.event_name.as_deref(),
            event_type: fields.event_type.as_deref(),
            error_code: fields.error_code.as_deref(),
            user_identity_arn: fields.user_identity_arn.as_deref(),
            // Only data events' resources are selected on: those the record names.
            resources: fields
                .resources
                .iter()
                .map(|r| (r.resource_type.as_deref(), r.resource_name.as_deref()))
                .collect(),
            json: &record.json,
            others: Vec::new(),
        }
    }
}

impl Selectors {
    /// The selectors of a trail that never had any: every management event.
    pub fn default_for_trail() -> Selectors {
        Selectors::Basic(vec![EventSelector {
            read_write_type: all(),
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }])
    }

    /// The request's selectors, checked against AWS's rules for trails: exactly one kind.
    pub fn for_trail(
        basic: Option<Vec<EventSelector>>,
        advanced: Option<Vec<AdvancedEventSelector>>,
    ) -> Result<Selectors, ApiError> {
        let selectors = match (basic, advanced) {
            (Some(basic), None) => Selectors::Basic(basic),
            (None, Some(advanced)) => Selectors::Advanced(advanced),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "You can use either EventSelectors or AdvancedEventSelectors in a \
                     PutEventSelectors request, but not both.",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "Either EventSelectors or AdvancedEventSelectors must be given.",
                ));
            }
        };
        match &selectors {
            Selectors::Basic(basic) => validate_basic(basic)?,
            Selectors::Advanced(advanced) => validate_advanced(advanced, Owner::Trail)?,
        }
        Ok(selectors)
    }

    /// An event data store's selectors (advanced only), checked against AWS's rules for
    /// event data stores: the default when none are given, every management event.
    pub fn for_event_data_store(
        advanced: Option<Vec<AdvancedEventSelector>>,
    ) -> Result<Vec<AdvancedEventSelector>, ApiError> {
        let advanced = advanced.unwrap_or_else(|| {
            vec![AdvancedEventSelector {
                name: Some("Default management events".to_owned()),
                field_selectors: vec![FieldSelector {
                    field: "eventCategory".to_owned(),
                    equals: Some(vec!["Management".to_owned()]),
                    starts_with: None,
                    ends_with: None,
                    not_equals: None,
                    not_starts_with: None,
                    not_ends_with: None,
                }],
            }]
        });
        if advanced.is_empty() || advanced.len() > MAX_EVENT_DATA_STORE_SELECTORS {
            return Err(invalid(format!(
                "An event data store can have 1 to {MAX_EVENT_DATA_STORE_SELECTORS} advanced \
                 event selectors; {} were given.",
                advanced.len()
            )));
        }
        validate_advanced(&advanced, Owner::EventDataStore)?;
        Ok(advanced)
    }

    /// The members GetEventSelectors and PutEventSelectors answer with (besides `TrailARN`).
    pub fn to_wire(&self) -> Value {
        match self {
            Selectors::Basic(basic) => serde_json::json!({ "EventSelectors": basic }),
            Selectors::Advanced(advanced) => {
                serde_json::json!({ "AdvancedEventSelectors": advanced })
            }
        }
    }

    /// Whether a trail with these selectors logs `event`.
    /// The members every [`EventView::of_members`] reads, first in [`Self::member_paths`].
    pub const VIEW_PATHS: [&'static str; 10] = [
        "eventCategory",
        "eventType",
        "managementEvent",
        "insightDetails",
        "readOnly",
        "eventSource",
        "eventName",
        "errorCode",
        "userIdentity.arn",
        "resources",
    ];

    /// Whether matching looks at an event's resources.
    pub fn selects_resources(&self) -> bool {
        match self {
            Selectors::Basic(basic) => basic.iter().any(|s| !s.data_resources.is_empty()),
            Selectors::Advanced(advanced) => advanced
                .iter()
                .flat_map(|s| &s.field_selectors)
                .any(|f| f.field.starts_with("resources.")),
        }
    }

    /// The record members matching reads (an event's view made from them is the one
    /// [`EventView::of`] makes of its record): those every view has, and the other fields
    /// advanced selectors name.
    pub fn member_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = Self::VIEW_PATHS.map(String::from).to_vec();
        if let Selectors::Advanced(advanced) = self {
            for field in advanced.iter().flat_map(|s| &s.field_selectors) {
                if !KNOWN_FIELDS.contains(&field.field.as_str()) && !paths.contains(&field.field) {
                    paths.push(field.field.clone());
                }
            }
        }
        paths
    }

    pub fn matches(&self, event: &EventView) -> bool {
        match self {
            Selectors::Basic(basic) => basic.iter().any(|s| s.matches(event)),
            Selectors::Advanced(advanced) => advanced.iter().any(|s| {
                s.field_selectors
                    .iter()
                    .all(|f| f.matches(&field_values(event, &f.field)))
            }),
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidEventSelectors, message)
}

fn validate_basic(selectors: &[EventSelector]) -> Result<(), ApiError> {
    if !(1..=MAX_BASIC_SELECTORS).contains(&selectors.len()) {
        return Err(invalid(format!(
            "A trail can have 1 to {MAX_BASIC_SELECTORS} event selectors; {} were given.",
            selectors.len()
        )));
    }
    let mut data_resources = 0;
    for selector in selectors {
        if !["ReadOnly", "WriteOnly", "All"].contains(&selector.read_write_type.as_str()) {
            return Err(invalid(format!(
                "ReadWriteType {:?} is not valid: it is ReadOnly, WriteOnly or All.",
                selector.read_write_type
            )));
        }
        if let Some(source) = selector
            .exclude_management_event_sources
            .iter()
            .find(|s| !EXCLUDABLE_SOURCES.contains(&s.as_str()))
        {
            return Err(invalid(format!(
                "ExcludeManagementEventSources may name only kms.amazonaws.com and \
                 rdsdata.amazonaws.com, not {source:?}."
            )));
        }
        for resource in &selector.data_resources {
            let Some((_, service)) = BASIC_DATA_TYPES
                .iter()
                .find(|(t, _)| *t == resource.resource_type)
            else {
                return Err(invalid(format!(
                    "Data resource type {:?} is not valid in basic event selectors: use \
                     AWS::S3::Object, AWS::Lambda::Function or AWS::DynamoDB::Table, or \
                     advanced event selectors.",
                    resource.resource_type
                )));
            };
            if resource.values.is_empty() {
                return Err(invalid(format!(
                    "Data resource {} has no values.",
                    resource.resource_type
                )));
            }
            for value in &resource.values {
                let parts: Vec<&str> = value.splitn(4, ':').collect();
                if parts.len() < 3 || parts[0] != "arn" || parts[2] != *service {
                    return Err(invalid(format!(
                        "Value {value:?} of data resource {} is not an ARN or ARN prefix of \
                         {service}.",
                        resource.resource_type
                    )));
                }
            }
            data_resources += resource.values.len();
        }
    }
    if data_resources > MAX_DATA_RESOURCES {
        return Err(invalid(format!(
            "A trail is limited to {MAX_DATA_RESOURCES} data resources; {data_resources} were \
             given."
        )));
    }
    Ok(())
}

/// The fields advanced selectors accept, per owner and event category (spec §5.2).
fn fields_for_category(owner: Owner, category: &str) -> Option<&'static [&'static str]> {
    match (owner, category) {
        (Owner::Trail, "Management") => Some(&["eventCategory", "eventSource", "readOnly"]),
        (Owner::EventDataStore, "Management") => Some(&[
            "eventCategory",
            "eventSource",
            "readOnly",
            "eventName",
            "eventType",
            "sessionCredentialFromConsole",
            "userIdentity.arn",
        ]),
        (_, "Data") => Some(&[
            "eventCategory",
            "resources.type",
            "eventName",
            "eventSource",
            "eventType",
            "readOnly",
            "resources.ARN",
            "sessionCredentialFromConsole",
            "userIdentity.arn",
        ]),
        (Owner::Trail, "NetworkActivity") => Some(&[
            "eventCategory",
            "eventSource",
            "eventName",
            "errorCode",
            "vpcEndpointId",
            "userIdentity.arn",
        ]),
        (Owner::EventDataStore, "NetworkActivity") => Some(&[
            "eventCategory",
            "eventSource",
            "eventName",
            "errorCode",
            "vpcEndpointId",
        ]),
        // Selected whole: "filtering is not supported".
        (
            Owner::EventDataStore,
            "Insight" | "ConfigurationItem" | "Evidence" | "ActivityAuditLog",
        ) => Some(&["eventCategory"]),
        _ => None,
    }
}

fn validate_advanced(selectors: &[AdvancedEventSelector], owner: Owner) -> Result<(), ApiError> {
    let mut values = 0;
    for (i, selector) in selectors.iter().enumerate() {
        let label = selector
            .name
            .clone()
            .unwrap_or_else(|| format!("number {}", i + 1));
        let problem =
            |message: String| invalid(format!("Advanced event selector {label}: {message}"));
        if selector
            .name
            .as_ref()
            .is_some_and(|n| n.chars().count() > 1000)
        {
            return Err(problem(
                "its Name is longer than 1000 characters.".to_owned(),
            ));
        }
        if selector.field_selectors.is_empty() {
            return Err(problem("it has no field selectors.".to_owned()));
        }
        let category = selector
            .field_selectors
            .iter()
            .find(|f| f.field == "eventCategory")
            .and_then(|f| f.equals.as_deref())
            .filter(|values| values.len() == 1)
            .map(|values| values[0].as_str())
            .ok_or_else(|| {
                problem("it needs an eventCategory field with Equals and one value.".to_owned())
            })?;
        let allowed = fields_for_category(owner, category).ok_or_else(|| {
            problem(match owner {
                Owner::Trail => format!(
                    "eventCategory {category:?} is not valid for trails: use Management, Data or \
                     NetworkActivity."
                ),
                Owner::EventDataStore => format!(
                    "eventCategory {category:?} is not valid for event data stores: use \
                     Management, Data, NetworkActivity, Insight, ConfigurationItem, Evidence or \
                     ActivityAuditLog."
                ),
            })
        })?;
        for (j, field) in selector.field_selectors.iter().enumerate() {
            let name = field.field.as_str();
            if !allowed.contains(&name) {
                return Err(problem(format!(
                    "field {name:?} cannot select {category} events of {}.",
                    owner.describe()
                )));
            }
            if selector.field_selectors[..j]
                .iter()
                .any(|f| f.field == name)
            {
                return Err(problem(format!("field {name} appears more than once.")));
            }
            let operators = field.operators();
            if operators.iter().all(|(_, values)| values.is_none()) {
                return Err(problem(format!("field {name} has no operator.")));
            }
            for (operator, given) in &operators {
                let Some(given) = given else { continue };
                if given.is_empty() || given.iter().any(|v| !(1..=2048).contains(&v.len())) {
                    return Err(problem(format!(
                        "{operator} of {name} needs 1 or more values of 1 to 2048 characters."
                    )));
                }
                values += given.len();
                let equals_only = ["eventCategory", "readOnly", "resources.type"];
                if equals_only.contains(&name) && *operator != "Equals" {
                    return Err(problem(format!("{name} takes only Equals.")));
                }
            }
            if name == "readOnly"
                && let Some(bad) = field
                    .equals
                    .iter()
                    .flatten()
                    .find(|v| !["true", "false"].contains(&v.as_str()))
            {
                return Err(problem(format!(
                    "readOnly is \"true\" or \"false\", not {bad:?}."
                )));
            }
            if name == "resources.type" && field.equals.as_ref().is_some_and(|v| v.len() != 1) {
                return Err(problem(
                    "resources.type takes exactly one value.".to_owned(),
                ));
            }
            if owner == Owner::Trail && category == "Management" && name == "eventSource" {
                let only_exclusions = field.operators().iter().all(|(operator, values)| {
                    values.is_none()
                        || (*operator == "NotEquals"
                            && values
                                .iter()
                                .flatten()
                                .all(|v| EXCLUDABLE_SOURCES.contains(&v.as_str())))
                });
                if !only_exclusions {
                    return Err(problem(
                        "for management events, eventSource takes only NotEquals \
                         kms.amazonaws.com or rdsdata.amazonaws.com."
                            .to_owned(),
                    ));
                }
            }
        }
        let has = |name: &str| selector.field_selectors.iter().any(|f| f.field == name);
        if category == "Data" && !has("resources.type") {
            return Err(problem(
                "data events need a resources.type field.".to_owned(),
            ));
        }
        if category == "NetworkActivity" && !has("eventSource") {
            return Err(problem(
                "network activity events need an eventSource field.".to_owned(),
            ));
        }
    }
    if values > MAX_ADVANCED_VALUES {
        return Err(invalid(format!(
            "The advanced event selectors of {} may hold {MAX_ADVANCED_VALUES} values in all; \
             {values} were given.",
            owner.describe()
        )));
    }
    Ok(())
}

impl EventSelector {
    fn matches(&self, event: &EventView) -> bool {
        let read_write_ok = match (self.read_write_type.as_str(), event.read_only) {
            ("ReadOnly", Some(read_only)) => read_only,
            ("WriteOnly", Some(read_only)) => !read_only,
            ("ReadOnly" | "WriteOnly", None) => false,
            _ => true,
        };
        if !read_write_ok {
            return false;
        }
        match event.category {
            "Management" => {
                self.include_management_events
                    && !event.event_source.is_some_and(|source| {
                        self.exclude_management_event_sources
                            .iter()
                            .any(|excluded| excluded == source)
                    })
            }
            "Data" => self.data_resources.iter().any(|wanted| {
                event.resources.iter().any(|(resource_type, arn)| {
                    *resource_type == Some(wanted.resource_type.as_str())
                        && arn.is_some_and(|arn| {
                            wanted
                                .values
                                .iter()
                                .any(|value| data_value_matches(&wanted.resource_type, value, arn))
                        })
                })
            }),
            _ => false,
        }
    }
}

/// Whether a basic `DataResource` value selects the resource `arn`: `arn:<partition>:<service>`
/// (with or without trailing colons) selects every resource of the type; S3 values are
/// prefixes of object ARNs; Lambda functions and DynamoDB tables match exactly.
fn data_value_matches(resource_type: &str, value: &str, arn: &str) -> bool {
    let whole_type = value.trim_end_matches(':').split(':').count() == 3;
    whole_type
        || if resource_type == "AWS::S3::Object" {
            arn.starts_with(value)
        } else {
            arn == value
        }
}

/// The event's values for an advanced selector's field; `None` stands for a missing value.
/// The `eventCategory` of an event without one: the one event history files it under.
fn category_name(history: cairn_model::HistoryCategory) -> &'static str {
    match history {
        cairn_model::HistoryCategory::Management => "Management",
        cairn_model::HistoryCategory::Insight => "Insight",
        cairn_model::HistoryCategory::NotInHistory => "Data",
    }
}

/// The fields an [`EventView`] has as members of its own.
const KNOWN_FIELDS: [&str; 9] = [
    "eventCategory",
    "readOnly",
    "eventSource",
    "eventName",
    "eventType",
    "errorCode",
    "userIdentity.arn",
    "resources.type",
    "resources.ARN",
];

fn field_values<'a>(event: &EventView<'a>, field: &str) -> Vec<Option<std::borrow::Cow<'a, str>>> {
    use std::borrow::Cow;
    let one = |value: Option<&'a str>| vec![value.map(Cow::Borrowed)];
    match field {
        "eventCategory" => one(Some(event.category)),
        "readOnly" => vec![
            event
                .read_only
                .map(|r| Cow::Borrowed(if r { "true" } else { "false" })),
        ],
        "eventSource" => one(event.event_source),
        "eventName" => one(event.event_name),
        "eventType" => one(event.event_type),
        "errorCode" => one(event.error_code),
        "userIdentity.arn" => one(event.user_identity_arn),
        "resources.type" => event
            .resources
            .iter()
            .map(|(t, _)| t.map(Cow::Borrowed))
            .collect(),
        "resources.ARN" => event
            .resources
            .iter()
            .map(|(_, a)| a.map(Cow::Borrowed))
            .collect(),
        other => {
            if let Some((_, value)) = event.others.iter().find(|(name, _)| *name == other) {
                return one(*value);
            }
            let value = serde_json::from_str::<Value>(&with_lone_surrogates_replaced(event.json))
                .ok()
                .and_then(|record| match record.get(other)? {
                    Value::String(s) => Some(s.clone()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                });
            vec![value.map(Cow::Owned)]
        }
    }
}

impl FieldSelector {
    fn operators(&self) -> [(&'static str, &Option<Vec<String>>); 6] {
        [
            ("Equals", &self.equals),
            ("StartsWith", &self.starts_with),
            ("EndsWith", &self.ends_with),
            ("NotEquals", &self.not_equals),
            ("NotStartsWith", &self.not_starts_with),
            ("NotEndsWith", &self.not_ends_with),
        ]
    }

    /// Some value satisfies every positive operator, and no value violates a negative one.
    fn matches(&self, values: &[Option<std::borrow::Cow<'_, str>>]) -> bool {
        let any = |list: &Option<Vec<String>>, test: &dyn Fn(&str, &str) -> bool, v: &str| {
            list.as_ref()
                .is_none_or(|list| list.iter().any(|x| test(v, x)))
        };
        let positive_absent =
            self.equals.is_none() && self.starts_with.is_none() && self.ends_with.is_none();
        let positive = positive_absent
            || values.iter().flatten().any(|v| {
                any(&self.equals, &|v, x| v == x, v)
                    && any(&self.starts_with, &|v, x| v.starts_with(x), v)
                    && any(&self.ends_with, &|v, x| v.ends_with(x), v)
            });
        let violates = |list: &Option<Vec<String>>, test: &dyn Fn(&str, &str) -> bool| {
            list.as_ref().is_some_and(|list| {
                values
                    .iter()
                    .flatten()
                    .any(|v| list.iter().any(|x| test(v, x)))
            })
        };
        positive
            && !violates(&self.not_equals, &|v, x| v == x)
            && !violates(&self.not_starts_with, &|v, x| v.starts_with(x))
            && !violates(&self.not_ends_with, &|v, x| v.ends_with(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advanced(json: &str) -> Selectors {
        let selectors: Vec<AdvancedEventSelector> = serde_json::from_str(json).unwrap();
        Selectors::for_trail(None, Some(selectors)).unwrap()
    }

    fn management(source: &str, read_only: bool) -> EventView<'_> {
        EventView {
            category: "Management",
            read_only: Some(read_only),
            event_source: Some(source),
            event_name: Some("RunInstances"),
            ..EventView::default()
        }
    }

    fn s3_object<'a>(name: &'a str, arn: &'a str) -> EventView<'a> {
        EventView {
            category: "Data",
            read_only: Some(name == "GetObject"),
            event_source: Some("s3.amazonaws.com"),
            event_name: Some(name),
            resources: vec![
                (Some("AWS::S3::Object"), Some(arn)),
                (Some("AWS::S3::Bucket"), Some("arn:aws:s3:::mybucket")),
            ],
            ..EventView::default()
        }
    }

    #[test]
    fn a_new_trail_logs_management_events_only() {
        let default = Selectors::default_for_trail();
        assert!(default.matches(&management("ec2.amazonaws.com", true)));
        assert!(default.matches(&management("kms.amazonaws.com", false)));
        assert!(!default.matches(&s3_object("GetObject", "arn:aws:s3:::mybucket/a")));
        let insight = EventView {
            category: "Insight",
            ..EventView::default()
        };
        assert!(!default.matches(&insight));
    }

    #[test]
    fn the_specs_advanced_example_selects_puts_and_deletes_under_two_prefixes() {
        let selectors = advanced(
            r#"[{"Name":"Log readOnly and writeOnly management events","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]}]},
               {"Name":"Log PutObject and DeleteObject events for two S3 prefixes","FieldSelectors":[
                 {"Field":"eventCategory","Equals":["Data"]},
                 {"Field":"resources.type","Equals":["AWS::S3::Object"]},
                 {"Field":"eventName","Equals":["PutObject","DeleteObject"]},
                 {"Field":"resources.ARN","StartsWith":["arn:aws:s3:::mybucket/prefix","arn:aws:s3:::mybucket2/prefix2"]}]}]"#,
        );
        assert!(selectors.matches(&management("ec2.amazonaws.com", false)));
        assert!(selectors.matches(&s3_object("PutObject", "arn:aws:s3:::mybucket/prefix/x")));
        assert!(!selectors.matches(&s3_object("GetObject", "arn:aws:s3:::mybucket/prefix/x")));
        assert!(!selectors.matches(&s3_object("PutObject", "arn:aws:s3:::mybucket/other")));
    }

    #[test]
    fn negative_operators_exclude_and_a_missing_value_only_satisfies_them() {
        let selectors = advanced(
            r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},
                                   {"Field":"eventSource","NotEquals":["kms.amazonaws.com"]},
                                   {"Field":"readOnly","Equals":["false"]}]}]"#,
        );
        assert!(selectors.matches(&management("ec2.amazonaws.com", false)));
        assert!(!selectors.matches(&management("ec2.amazonaws.com", true)));
        assert!(!selectors.matches(&management("kms.amazonaws.com", false)));
        let buckets = advanced(
            r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},
                                   {"Field":"resources.type","Equals":["AWS::S3::Object"]},
                                   {"Field":"resources.ARN","NotStartsWith":["arn:aws:s3:::bucket1/","arn:aws:s3:::bucket2/"]}]}]"#,
        );
        assert!(buckets.matches(&s3_object("GetObject", "arn:aws:s3:::bucket3/k")));
        assert!(!buckets.matches(&s3_object("GetObject", "arn:aws:s3:::bucket2/k")));
    }

    #[test]
    fn basic_data_resources_are_prefixes_for_s3_and_exact_for_lambda() {
        let basic: Vec<EventSelector> = serde_json::from_str(
            r#"[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":false,
                 "DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::mybucket/logs/"]},
                                  {"Type":"AWS::Lambda::Function","Values":["arn:aws:lambda:us-east-1:111122223333:function:helloworld"]}]}]"#,
        )
        .unwrap();
        let selectors = Selectors::for_trail(Some(basic), None).unwrap();
        assert!(selectors.matches(&s3_object("PutObject", "arn:aws:s3:::mybucket/logs/a")));
        assert!(!selectors.matches(&s3_object("GetObject", "arn:aws:s3:::mybucket/logs/a")));
        assert!(!selectors.matches(&management("ec2.amazonaws.com", false)));
        let invoke = |arn| EventView {
            category: "Data",
            read_only: Some(false),
            resources: vec![(Some("AWS::Lambda::Function"), Some(arn))],
            ..EventView::default()
        };
        assert!(selectors.matches(&invoke(
            "arn:aws:lambda:us-east-1:111122223333:function:helloworld"
        )));
        assert!(!selectors.matches(&invoke(
            "arn:aws:lambda:us-east-1:111122223333:function:helloworld2"
        )));
        let everything: Vec<EventSelector> = serde_json::from_str(
            r#"[{"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}]}]"#,
        )
        .unwrap();
        let everything = Selectors::for_trail(Some(everything), None).unwrap();
        assert!(everything.matches(&s3_object("GetObject", "arn:aws:s3:::any/k")));
        assert!(everything.matches(&management("ec2.amazonaws.com", true)));
    }

    #[test]
    fn selectors_that_break_aws_rules_are_refused() {
        let bad_advanced = [
            r#"[{"FieldSelectors":[{"Field":"eventSource","Equals":["ec2.amazonaws.com"]}]}]"#,
            r#"[{"FieldSelectors":[{"Field":"eventCategory","StartsWith":["Manage"]}]}]"#,
            r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Insight"]}]}]"#,
            r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"eventName","Equals":["RunInstances"]}]}]"#,
            r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"eventSource","Equals":["ec2.amazonaws.com"]}]}]"#,
            r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"readOnly","Equals":["yes"]}]}]"#,
            r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"eventName","Equals":["GetObject"]}]}]"#,
            r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"eventName"}]}]"#,
            r#"[{"FieldSelectors":[]}]"#,
        ];
        for json in bad_advanced {
            let selectors: Vec<AdvancedEventSelector> = serde_json::from_str(json).unwrap();
            let error = Selectors::for_trail(None, Some(selectors)).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidEventSelectors, "{json}");
        }
        let bad_basic = [
            r#"[]"#,
            r#"[{"ReadWriteType":"read-only"}]"#,
            r#"[{"ExcludeManagementEventSources":["ec2.amazonaws.com"]}]"#,
            r#"[{"DataResources":[{"Type":"AWS::SQS::Queue","Values":["arn:aws:sqs"]}]}]"#,
            r#"[{"DataResources":[{"Type":"AWS::S3::Object","Values":["mybucket/"]}]}]"#,
            r#"[{},{},{},{},{},{}]"#,
        ];
        for json in bad_basic {
            let selectors: Vec<EventSelector> = serde_json::from_str(json).unwrap();
            let error = Selectors::for_trail(Some(selectors), None).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidEventSelectors, "{json}");
        }
        let too_many: Vec<String> = (0..501).map(|i| format!("Name{i}")).collect();
        let selectors = vec![AdvancedEventSelector {
            name: None,
            field_selectors: vec![
                FieldSelector {
                    field: "eventCategory".to_owned(),
                    equals: Some(vec!["Data".to_owned()]),
                    ..serde_json::from_str(r#"{"Field":"x"}"#).unwrap()
                },
                serde_json::from_str(r#"{"Field":"resources.type","Equals":["AWS::S3::Object"]}"#)
                    .unwrap(),
                FieldSelector {
                    field: "eventName".to_owned(),
                    equals: Some(too_many),
                    ..serde_json::from_str(r#"{"Field":"x"}"#).unwrap()
                },
            ],
        }];
        assert!(Selectors::for_trail(None, Some(selectors)).is_err());
        assert!(Selectors::for_trail(None, None).is_err());
        assert!(Selectors::for_trail(Some(Vec::new()), Some(Vec::new())).is_err());
    }
}
