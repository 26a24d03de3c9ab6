//! EventBridge's event pattern language: [`Pattern::parse`] checks a pattern as EventBridge
//! does (its reasons word for word where they are known), [`Pattern::matches`] tests an event.
//!
//! A pattern is a JSON object whose members are either objects (the event's member of that
//! name must match it) or non-empty arrays of conditions on the event's *leaf values* at that
//! path (the strings, numbers, booleans and nulls there, through arrays; objects are not
//! leaves). Members are and-ed, the conditions of an array or-ed, and `"$or": [{...}, {...}]`
//! (two objects at least) or-s whole objects at any level. A condition is:
//!
//! - a string, `true`, `false` or `null`: that exact value; a number: a number equal to it;
//! - `{"prefix": s}`, `{"suffix": s}` (or `{"prefix": {"equals-ignore-case": s}}`, likewise
//!   for suffix), `{"equals-ignore-case": s}`, `{"wildcard": "a*b"}` (`*` any run of
//!   characters, `\*` a star, `\\` a backslash): on strings;
//! - `{"numeric": [">", 0, "<=", 5]}` (`=`, `<`, `<=`, `>`, `>=`; a lower and an upper bound at
//!   most, within ±5.0e9): on numbers;
//! - `{"anything-but": v}`: a leaf value present and not `v`, where `v` is a string, a
//!   number, a list of strings or of numbers, or `{"prefix": s}`, `{"suffix": s}`,
//!   `{"equals-ignore-case": s | [s...]}`, `{"wildcard": w | [w...]}`;
//! - `{"exists": true}` (some leaf value there) or `{"exists": false}` (none);
//! - `{"cidr": "10.0.0.0/24"}` (IPv4 or IPv6): on strings that are IP addresses in it.
//!
//! Where EventBridge's documentation is silent this follows its reference matcher
//! (aws/event-ruler): a nested pattern object meets an array in the event by any element.

use std::net::IpAddr;

use serde_json::{Map, Value};

/// Why a pattern is not valid: EventBridge's `InvalidEventPatternException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {0}")]
pub struct PatternError(pub String);

/// A checked event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: Node,
}

/// An object of the pattern: its members, and its `$or` groups.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    members: Vec<(String, Member)>,
    /// Each group: alternatives, at least one of which must match the same object.
    ors: Vec<Vec<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Member {
    Nested(Node),
    Leaf(Vec<Condition>),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    /// A string, boolean or null, matched exactly.
    Exact(Value),
    /// A number, matched by value.
    Number(f64),
    Prefix(String, Case),
    Suffix(String, Case),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    Numeric(Range),
    AnythingBut(AnythingBut),
    Exists(bool),
    Cidr(IpRange),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Sensitive,
    Ignored,
}

#[derive(Debug, Clone, PartialEq)]
enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

/// A numeric range: each bound with whether it is open.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Range {
    low: Option<(f64, bool)>,
    high: Option<(f64, bool)>,
}

/// EventBridge's numeric limit.
const NUMERIC_LIMIT: f64 = 5.0e9;

impl Pattern {
    /// Parses and checks a pattern's JSON text.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PatternError(format!("Pattern is not valid JSON: {e}")))?;
        Pattern::from_value(&value)
    }

    /// Checks a pattern already parsed as JSON.
    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        let Value::Object(object) = value else {
            return Err(invalid("Filter is not an object"));
        };
        Ok(Pattern {
            root: object_node(object)?,
        })
    }

    /// Whether `event` (a JSON object) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(event)
    }
}

fn invalid(reason: &str) -> PatternError {
    PatternError(reason.to_owned())
}

fn object_node(object: &Map<String, Value>) -> Result<Node, PatternError> {
    if object.is_empty() {
        return Err(invalid("Empty objects are not allowed"));
    }
    let mut node = Node {
        members: Vec::new(),
        ors: Vec::new(),
    };
    for (name, value) in object {
        if name == "$or" {
            let Value::Array(alternatives) = value else {
                return Err(invalid("It must be an Array followed with $or."));
            };
            let mut group = Vec::new();
            for alternative in alternatives {
                let Value::Object(alternative) = alternative else {
                    return Err(invalid(
                        "Only JSON object is allowed in array of $or relationship.",
                    ));
                };
                group.push(object_node(alternative)?);
            }
            if group.len() < 2 {
                return Err(invalid(
                    "There must have at least 2 Objects in $or relationship.",
                ));
            }
            node.ors.push(group);
            continue;
        }
        let member = match value {
            Value::Object(inner) => Member::Nested(object_node(inner)?),
            Value::Array(conditions) => {
                if conditions.is_empty() {
                    return Err(invalid("Empty arrays are not allowed"));
                }
                Member::Leaf(conditions.iter().map(condition).collect::<Result<_, _>>()?)
            }
            _ => {
                return Err(PatternError(format!(
                    "\"{name}\" must be an object or an array"
                )));
            }
        };
        node.members.push((name.clone(), member));
    }
    Ok(node)
}

fn condition(value: &Value) -> Result<Condition, PatternError> {
    match value {
        Value::String(_) | Value::Bool(_) | Value::Null => Ok(Condition::Exact(value.clone())),
        Value::Number(n) => Ok(Condition::Number(n.as_f64().unwrap_or(f64::NAN))),
        Value::Array(_) => Err(invalid(
            "Match value must be String, number, true, false, or null",
        )),
        Value::Object(object) => match_expression(object),
    }
}

/// The one member of a match expression object.
fn only_member(object: &Map<String, Value>) -> Result<(&str, &Value), PatternError> {
    let mut members = object.iter();
    let Some((name, value)) = members.next() else {
        return Err(invalid("Match expression name not found"));
    };
    if members.next().is_some() {
        return Err(invalid("Only one key allowed in match expression"));
    }
    Ok((name, value))
}

fn string_of<'a>(value: &'a Value, what: &str) -> Result<&'a str, PatternError> {
    value
        .as_str()
        .ok_or_else(|| PatternError(format!("{what} match pattern must be a string")))
}

fn match_expression(object: &Map<String, Value>) -> Result<Condition, PatternError> {
    let (name, value) = only_member(object)?;
    Ok(match name {
        "prefix" | "suffix" => {
            let (text, case) = match value {
                Value::Object(inner) => match only_member(inner)? {
                    ("equals-ignore-case", text) => {
                        (string_of(text, "equals-ignore-case")?, Case::Ignored)
                    }
                    (other, _) => {
                        return Err(PatternError(format!("Unsupported {name} pattern: {other}")));
                    }
                },
                _ => (string_of(value, name)?, Case::Sensitive),
            };
            match name {
                "prefix" => Condition::Prefix(text.to_owned(), case),
                _ => Condition::Suffix(text.to_owned(), case),
            }
        }
        "equals-ignore-case" => {
            Condition::EqualsIgnoreCase(string_of(value, "equals-ignore-case")?.to_owned())
        }
        "wildcard" => Condition::Wildcard(Wildcard::parse(string_of(value, "wildcard")?)?),
        "numeric" => Condition::Numeric(numeric(value)?),
        "anything-but" => Condition::AnythingBut(anything_but(value)?),
        "exists" => match value {
            Value::Bool(exists) => Condition::Exists(*exists),
            _ => {
                return Err(invalid(
                    "exists match pattern must be either true or false.",
                ));
            }
        },
        "cidr" => Condition::Cidr(IpRange::parse(string_of(value, "cidr")?)?),
        other => return Err(PatternError(format!("Unrecognized match type {other}"))),
    })
}

fn numeric(value: &Value) -> Result<Range, PatternError> {
    let Value::Array(terms) = value else {
        return Err(invalid("Value of numeric must be an array."));
    };
    let number = |operator: &str, term: Option<&Value>| -> Result<f64, PatternError> {
        let n = term
            .and_then(Value::as_f64)
            .ok_or_else(|| PatternError(format!("Value of {operator} must be numeric")))?;
        if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&n) {
            return Err(PatternError(format!(
                "Value of {operator} must be between -5.0E9 and 5.0E9 inclusive"
            )));
        }
        Ok(n)
    };
    let operator = |term: Option<&Value>| -> Result<String, PatternError> {
        match term {
            Some(Value::String(op)) => Ok(op.clone()),
            other => Err(PatternError(format!(
                "Invalid member in numeric match: {}",
                other.map(Value::to_string).unwrap_or_default()
            ))),
        }
    };
    let first = operator(terms.first())?;
    let value = number(&first, terms.get(1))?;
    let mut range = Range {
        low: None,
        high: None,
    };
    match first.as_str() {
        "=" => {
            range.low = Some((value, false));
            range.high = Some((value, false));
        }
        "<" | "<=" => range.high = Some((value, first == "<")),
        ">" | ">=" => {
            range.low = Some((value, first == ">"));
            if terms.len() > 2 {
                let second = match &terms[2] {
                    Value::String(op) => op.clone(),
                    other => {
                        return Err(PatternError(format!("Bad value in numeric range: {other}")));
                    }
                };
                if second != "<" && second != "<=" {
                    return Err(PatternError(format!(
                        "Bad numeric range operator: {second}"
                    )));
                }
                let top = number(&second, terms.get(3))?;
                if terms.len() > 4 {
                    return Err(invalid("Too many terms in numeric range expression"));
                }
                if top < value {
                    return Err(invalid("Bottom must be less than top"));
                }
                range.high = Some((top, second == "<"));
                return Ok(range);
            }
        }
        other => {
            return Err(PatternError(format!(
                "Unrecognized numeric range operator: {other}"
            )));
        }
    }
    if terms.len() > 2 {
        return Err(invalid("Too many elements in numeric expression"));
    }
    Ok(range)
}

fn anything_but(value: &Value) -> Result<AnythingBut, PatternError> {
    match value {
        Value::String(s) => Ok(AnythingBut::Strings(vec![s.clone()])),
        Value::Number(n) => Ok(AnythingBut::Numbers(vec![n.as_f64().unwrap_or(f64::NAN)])),
        Value::Array(values) => {
            if values.iter().all(Value::is_string) && !values.is_empty() {
                Ok(AnythingBut::Strings(
                    values
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                ))
            } else if values.iter().all(Value::is_number) && !values.is_empty() {
                Ok(AnythingBut::Numbers(
                    values.iter().filter_map(Value::as_f64).collect(),
                ))
            } else if values.iter().any(|v| !v.is_string() && !v.is_number()) {
                Err(invalid(
                    "Inside anything but list, start|null|boolean is not supported.",
                ))
            } else {
                Err(invalid(
                    "Inside anything but list, either all values are number or string, mixed \
                     type is not supported",
                ))
            }
        }
        Value::Object(inner) => {
            let (name, operand) = only_member(inner)?;
            let strings = |what: &str| -> Result<Vec<String>, PatternError> {
                match operand {
                    Value::String(s) => Ok(vec![s.clone()]),
                    Value::Array(items)
                        if !items.is_empty() && items.iter().all(Value::is_string) =>
                    {
                        Ok(items
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect())
                    }
                    _ => Err(PatternError(format!(
                        "Inside anything-but/{what} list, number|start|null|boolean is not \
                         supported."
                    ))),
                }
            };
            match name {
                "prefix" | "suffix" => {
                    let text = operand
                        .as_str()
                        .ok_or_else(|| invalid("prefix/suffix match pattern must be a string"))?;
                    if text.is_empty() {
                        return Err(invalid("Null prefix/suffix not allowed"));
                    }
                    Ok(match name {
                        "prefix" => AnythingBut::Prefix(text.to_owned()),
                        _ => AnythingBut::Suffix(text.to_owned()),
                    })
                }
                "equals-ignore-case" => Ok(AnythingBut::EqualsIgnoreCase(strings(
                    "equals-ignore-case",
                )?)),
                "wildcard" => Ok(AnythingBut::Wildcards(
                    strings("wildcard")?
                        .iter()
                        .map(|w| Wildcard::parse(w))
                        .collect::<Result<_, _>>()?,
                )),
                other => Err(PatternError(format!(
                    "Unsupported anything-but pattern: {other}"
                ))),
            }
        }
        _ => Err(invalid(
            "Value of anything-but must be an array or single string/number value.",
        )),
    }
}

/// A wildcard pattern: literal pieces between stars.
#[derive(Debug, Clone, PartialEq)]
struct Wildcard {
    /// The text split at unescaped stars: `a*b*c` is `["a", "b", "c"]`.
    pieces: Vec<String>,
}

impl Wildcard {
    fn parse(text: &str) -> Result<Wildcard, PatternError> {
        let mut pieces = vec![String::new()];
        let mut chars = text.chars().enumerate().peekable();
        let mut last_was_star = false;
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, escaped @ ('*' | '\\'))) => {
                        if let Some(piece) = pieces.last_mut() {
                            piece.push(escaped);
                        }
                        last_was_star = false;
                    }
                    _ => {
                        return Err(PatternError(format!(
                            "Invalid escape character at pos {at}"
                        )));
                    }
                },
                '*' => {
                    if last_was_star {
                        return Err(PatternError(format!(
                            "Consecutive wildcard characters at pos {}",
                            at - 1
                        )));
                    }
                    pieces.push(String::new());
                    last_was_star = true;
                }
                c => {
                    if let Some(piece) = pieces.last_mut() {
                        piece.push(c);
                    }
                    last_was_star = false;
                }
            }
        }
        Ok(Wildcard { pieces })
    }

    fn matches(&self, text: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(split) => split,
            None => return text.is_empty(),
        };
        let Some(mut remaining) = text.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return remaining.is_empty();
        };
        for piece in middle {
            match remaining.find(piece.as_str()) {
                Some(at) => remaining = &remaining[at + piece.len()..],
                None => return false,
            }
        }
        remaining.len() >= last.len() && remaining.ends_with(last.as_str())
    }
}

/// An IP range from CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    fn parse(text: &str) -> Result<IpRange, PatternError> {
        let bad = || PatternError(format!("Nonstandard IP address: {text}"));
        let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(bad());
        }
        Ok(IpRange { network, prefix })
    }

    fn contains(&self, text: &str) -> bool {
        let Ok(address) = text.parse::<IpAddr>() else {
            return false;
        };
        let (a, b, bits) = match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(a)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= 128 || (a >> shift) == (b >> shift)
    }
}

impl Node {
    fn matches(&self, value: &Value) -> bool {
        match value {
            Value::Array(items) => items.iter().any(|item| self.matches(item)),
            Value::Object(object) => {
                self.members.iter().all(|(name, member)| match member {
                    Member::Nested(inner) => object.get(name).is_some_and(|v| inner.matches(v)),
                    Member::Leaf(conditions) => {
                        let mut leaves = Vec::new();
                        if let Some(v) = object.get(name) {
                            collect_leaves(v, &mut leaves);
                        }
                        conditions.iter().any(|c| c.matches(&leaves))
                    }
                }) && self
                    .ors
                    .iter()
                    .all(|group| group.iter().any(|alternative| alternative.matches(value)))
            }
            _ => false,
        }
    }
}

/// The leaf values of `value`: itself unless an object or array; an array's elements' leaves.
fn collect_leaves<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| collect_leaves(item, out)),
        Value::Object(_) => {}
        leaf => out.push(leaf),
    }
}

impl Condition {
    fn matches(&self, leaves: &[&Value]) -> bool {
        if let Condition::Exists(exists) = self {
            return leaves.is_empty() != *exists;
        }
        leaves.iter().any(|leaf| self.matches_leaf(leaf))
    }

    fn matches_leaf(&self, leaf: &Value) -> bool {
        let text = leaf.as_str();
        match self {
            Condition::Exact(expected) => leaf == expected,
            Condition::Number(expected) => leaf.as_f64() == Some(*expected),
            Condition::Prefix(prefix, case) => text.is_some_and(|t| match case {
                Case::Sensitive => t.starts_with(prefix.as_str()),
                Case::Ignored => lower(t).starts_with(&lower(prefix)),
            }),
            Condition::Suffix(suffix, case) => text.is_some_and(|t| match case {
                Case::Sensitive => t.ends_with(suffix.as_str()),
                Case::Ignored => lower(t).ends_with(&lower(suffix)),
            }),
            Condition::EqualsIgnoreCase(expected) => {
                text.is_some_and(|t| lower(t) == lower(expected))
            }
            Condition::Wildcard(wildcard) => text.is_some_and(|t| wildcard.matches(t)),
            Condition::Numeric(range) => leaf.as_f64().is_some_and(|n| range.contains(n)),
            Condition::AnythingBut(but) => but.allows(leaf),
            Condition::Exists(_) => true,
            Condition::Cidr(range) => text.is_some_and(|t| range.contains(t)),
        }
    }
}

impl Range {
    fn contains(&self, n: f64) -> bool {
        let above = self
            .low
            .is_none_or(|(low, open)| if open { n > low } else { n >= low });
        let below = self
            .high
            .is_none_or(|(high, open)| if open { n < high } else { n <= high });
        above && below
    }
}

impl AnythingBut {
    /// Whether a leaf value is other than what this excludes (only strings for the string
    /// forms, only numbers for the numeric one).
    fn allows(&self, leaf: &Value) -> bool {
        let text = leaf.as_str();
        match self {
            AnythingBut::Strings(values) => text.is_some_and(|t| !values.iter().any(|v| v == t)),
            AnythingBut::Numbers(values) => leaf.as_f64().is_some_and(|n| !values.contains(&n)),
            AnythingBut::Prefix(prefix) => text.is_some_and(|t| !t.starts_with(prefix.as_str())),
            AnythingBut::Suffix(suffix) => text.is_some_and(|t| !t.ends_with(suffix.as_str())),
            AnythingBut::EqualsIgnoreCase(values) => {
                text.is_some_and(|t| !values.iter().any(|v| lower(v) == lower(t)))
            }
            AnythingBut::Wildcards(wildcards) => {
                text.is_some_and(|t| !wildcards.iter().any(|w| w.matches(t)))
            }
        }
    }
}

fn lower(text: &str) -> String {
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(pattern: Value, event: Value) -> bool {
        Pattern::from_value(&pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .matches(&event)
    }

    fn reason(pattern: Value) -> String {
        Pattern::from_value(&pattern).unwrap_err().0
    }

    #[test]
    fn exact_values_and_arrays_in_the_event() {
        let event = json!({"source": "aws.ec2", "detail": {"state": "running", "n": 5,
                           "ok": true, "gone": null, "tags": ["a", "b"]}});
        assert!(matches(json!({"source": ["aws.ec2"]}), event.clone()));
        assert!(matches(
            json!({"source": ["aws.s3", "aws.ec2"]}),
            event.clone()
        ));
        assert!(!matches(json!({"source": ["aws.s3"]}), event.clone()));
        assert!(matches(json!({"detail": {"n": [5.0]}}), event.clone()));
        assert!(!matches(json!({"detail": {"n": ["5"]}}), event.clone()));
        assert!(matches(
            json!({"detail": {"ok": [true], "gone": [null]}}),
            event.clone()
        ));
        assert!(matches(json!({"detail": {"tags": ["b"]}}), event.clone()));
        assert!(!matches(
            json!({"detail": {"missing": ["b"]}}),
            event.clone()
        ));
        // An object is not a leaf value.
        assert!(!matches(json!({"detail": ["running"]}), event));
    }

    #[test]
    fn string_matching_conditions() {
        let event = json!({"time": "2017-10-02T18:43:48Z", "FileName": "photo.PNG",
                           "path": "/usr/lib/x.so", "service": "EventBridge"});
        assert!(matches(
            json!({"time": [{"prefix": "2017-10-02"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"FileName": [{"suffix": ".png"}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"service": [{"equals-ignore-case": "EVENTBRIDGE"}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"path": [{"wildcard": "*/lib/*.so"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"path": [{"wildcard": "*/bin/*"}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"path": [{"wildcard": "/usr*"}]}),
            event.clone()
        ));
        assert!(!matches(json!({"path": [{"wildcard": "usr*"}]}), event));
        let stars = json!({"name": "a*b\\c"});
        assert!(matches(
            json!({"name": [{"wildcard": "a\\*b\\\\c"}]}),
            stars.clone()
        ));
        assert!(!matches(json!({"name": [{"wildcard": "a\\*bc"}]}), stars));
    }

    #[test]
    fn numeric_ranges() {
        let event = json!({"detail": {"c-count": 5, "d-count": 12, "x-limit": 301.8}});
        assert!(matches(
            json!({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                              "d-count": [{"numeric": ["<", 13]}],
                              "x-limit": [{"numeric": ["=", 3.018e2]}]}}),
            event.clone()
        ));
        assert!(!matches(
            json!({"detail": {"c-count": [{"numeric": [">", 5]}]}}),
            event.clone()
        ));
        assert!(!matches(
            json!({"detail": {"c-count": [{"numeric": [">=", 0, "<", 5]}]}}),
            event
        ));
        assert!(!matches(
            json!({"n": [{"numeric": [">", 0]}]}),
            json!({"n": "7"})
        ));
    }

    #[test]
    fn anything_but_exists_and_cidr() {
        let event = json!({"detail": {"state": "pending", "x": 123,
                           "source-ip": "10.0.0.42", "v6": "2001:db8::1"}});
        let detail = |p: Value| json!({ "detail": p });
        assert!(matches(
            detail(json!({"state": [{"anything-but": "initializing"}]})),
            event.clone()
        ));
        assert!(!matches(
            detail(json!({"state": [{"anything-but": ["pending", "stopped"]}]})),
            event.clone()
        ));
        assert!(!matches(
            detail(json!({"x": [{"anything-but": 123}]})),
            event.clone()
        ));
        assert!(matches(
            detail(json!({"state": [{"anything-but": {"prefix": "init"}}]})),
            event.clone()
        ));
        assert!(!matches(
            detail(json!({"state": [{"anything-but": {"suffix": "ing"}}]})),
            event.clone()
        ));
        assert!(!matches(
            detail(json!({"state": [{"anything-but": {"equals-ignore-case": ["PENDING"]}}]})),
            event.clone()
        ));
        assert!(!matches(
            detail(json!({"state": [{"anything-but": {"wildcard": "pen*"}}]})),
            event.clone()
        ));
        // anything-but needs a value there.
        assert!(!matches(
            detail(json!({"absent": [{"anything-but": "x"}]})),
            event.clone()
        ));
        assert!(matches(
            detail(json!({"absent": [{"exists": false}]})),
            event.clone()
        ));
        assert!(!matches(
            detail(json!({"state": [{"exists": false}]})),
            event.clone()
        ));
        assert!(matches(
            detail(json!({"state": [{"exists": true}]})),
            event.clone()
        ));
        assert!(matches(
            detail(json!({"source-ip": [{"cidr": "10.0.0.0/24"}]})),
            event.clone()
        ));
        assert!(!matches(
            detail(json!({"source-ip": [{"cidr": "10.0.1.0/24"}]})),
            event.clone()
        ));
        assert!(matches(
            detail(json!({"v6": [{"cidr": "2001:db8::/32"}]})),
            event
        ));
    }

    #[test]
    fn or_groups_at_any_level() {
        let pattern = json!({"source": ["aws.cloudwatch"], "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"]},
            {"scope": ["Service"]}]});
        let base = |extra: Value| {
            let mut event = json!({"source": "aws.cloudwatch"});
            for (k, v) in extra.as_object().unwrap() {
                event[k] = v.clone();
            }
            event
        };
        assert!(matches(
            pattern.clone(),
            base(json!({"metricName": "ReadLatency"}))
        ));
        assert!(matches(
            pattern.clone(),
            base(json!({"metricType": "MetricType", "namespace": "AWS/ES"}))
        ));
        assert!(!matches(
            pattern.clone(),
            base(json!({"metricType": "MetricType"}))
        ));
        assert!(matches(pattern.clone(), base(json!({"scope": "Service"}))));
        assert!(!matches(
            pattern,
            json!({"source": "aws.ec2", "scope": "Service"})
        ));
        let nested = json!({"detail": {"$or": [{"a": [1]}, {"b": [2]}]}});
        assert!(matches(nested.clone(), json!({"detail": {"b": 2}})));
        assert!(!matches(nested, json!({"detail": {"c": 2}})));
    }

    #[test]
    fn nested_patterns_meet_arrays_of_objects_by_any_element() {
        let event = json!({"detail": {"items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}]}});
        assert!(matches(
            json!({"detail": {"items": {"name": ["b"], "n": [2]}}}),
            event.clone()
        ));
        assert!(!matches(
            json!({"detail": {"items": {"name": ["b"], "n": [1]}}}),
            event
        ));
    }

    #[test]
    fn invalid_patterns_say_why() {
        assert_eq!(reason(json!([])), "Filter is not an object");
        assert_eq!(reason(json!({})), "Empty objects are not allowed");
        assert_eq!(
            reason(json!({"source": "aws.ec2"})),
            "\"source\" must be an object or an array"
        );
        assert_eq!(
            reason(json!({"source": []})),
            "Empty arrays are not allowed"
        );
        assert_eq!(
            reason(json!({"a": [{"foo": 1}]})),
            "Unrecognized match type foo"
        );
        assert_eq!(
            reason(json!({"a": [{"prefix": 1}]})),
            "prefix match pattern must be a string"
        );
        assert_eq!(
            reason(json!({"a": [{"prefix": "x", "suffix": "y"}]})),
            "Only one key allowed in match expression"
        );
        assert_eq!(
            reason(json!({"a": [{"numeric": [">", "x"]}]})),
            "Value of > must be numeric"
        );
        assert_eq!(
            reason(json!({"a": [{"numeric": ["!", 1]}]})),
            "Unrecognized numeric range operator: !"
        );
        assert_eq!(
            reason(json!({"a": [{"numeric": [">", 1, ">", 2]}]})),
            "Bad numeric range operator: >"
        );
        assert_eq!(
            reason(json!({"a": [{"numeric": ["<", 1, ">", 2]}]})),
            "Too many elements in numeric expression"
        );
        assert_eq!(
            reason(json!({"a": [{"exists": "yes"}]})),
            "exists match pattern must be either true or false."
        );
        assert_eq!(
            reason(json!({"a": [{"anything-but": [1, "x"]}]})),
            "Inside anything but list, either all values are number or string, mixed type is not supported"
        );
        assert_eq!(
            reason(json!({"a": [{"anything-but": {"prefix": ""}}]})),
            "Null prefix/suffix not allowed"
        );
        assert_eq!(
            reason(json!({"$or": [{"a": [1]}]})),
            "There must have at least 2 Objects in $or relationship."
        );
        assert_eq!(
            reason(json!({"a": [{"wildcard": "a**b"}]})),
            "Consecutive wildcard characters at pos 1"
        );
        assert_eq!(
            reason(json!({"a": [{"cidr": "10.0.0.0/33"}]})),
            "Nonstandard IP address: 10.0.0.0/33"
        );
        assert_eq!(
            reason(json!({"a": [{"numeric": [">", 6e9]}]})),
            "Value of > must be between -5.0E9 and 5.0E9 inclusive"
        );
        assert_eq!(
            Pattern::parse("{")
                .unwrap_err()
                .to_string()
                .split(':')
                .next()
                .unwrap(),
            "Event pattern is not valid. Reason"
        );
    }
}
