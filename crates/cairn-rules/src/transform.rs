//! What a target receives of a matched event (EventBridge's "Transforming target input"):
//! the whole event by default, or the target's `Input` (constant JSON text), `InputPath` (a
//! part of the event, by JSONPath), or `InputTransformer` (an `InputTemplate` with `<name>`
//! placeholders filled from `InputPathsMap`).
//!
//! Paths are JSONPath's dot and bracket forms (`$.detail.userIdentity.arn`,
//! `$.detail.resources[0].ARN`, `$['detail']`). In a template, a placeholder within a JSON
//! string takes a string value's characters (escaped for JSON); elsewhere it takes the value's
//! JSON text; a template that is not JSON takes strings as their characters. Besides the
//! template's own names, `<aws.events.rule-arn>`, `<aws.events.rule-name>`,
//! `<aws.events.event>` and `<aws.events.event.json>` are predefined.

use serde_json::Value;

/// How a target's input is made.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    WholeEvent,
    Constant(String),
    Path(String),
    Transformer {
        paths: Vec<(String, String)>,
        template: String,
    },
}

impl Input {
    /// The input a target definition (`Target` of PutTargets) asks for.
    pub fn of_target(target: &Value) -> Input {
        if let Some(constant) = target["Input"].as_str() {
            return Input::Constant(constant.to_owned());
        }
        if let Some(path) = target["InputPath"].as_str() {
            return Input::Path(path.to_owned());
        }
        let transformer = &target["InputTransformer"];
        if let Some(template) = transformer["InputTemplate"].as_str() {
            let paths = transformer["InputPathsMap"]
                .as_object()
                .map(|map| {
                    map.iter()
                        .filter_map(|(name, path)| Some((name.clone(), path.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            return Input::Transformer {
                paths,
                template: template.to_owned(),
            };
        }
        Input::WholeEvent
    }

    /// The body the target is sent for `event`, matched by the rule `rule_arn`.
    pub fn render(&self, event: &Value, rule_arn: &str) -> String {
        match self {
            Input::WholeEvent => event.to_string(),
            Input::Constant(text) => text.clone(),
            Input::Path(path) => select(event, path).map_or_else(String::new, |v| v.to_string()),
            Input::Transformer { paths, template } => {
                let rule_name = rule_arn.rsplit('/').next().unwrap_or_default();
                let value_of = |name: &str| -> Option<Value> {
                    match name {
                        "aws.events.rule-arn" => Some(Value::String(rule_arn.to_owned())),
                        "aws.events.rule-name" => Some(Value::String(rule_name.to_owned())),
                        "aws.events.event" | "aws.events.event.json" => Some(event.clone()),
                        _ => {
                            let path = paths.iter().find(|(n, _)| n == name)?;
                            select(event, &path.1)
                        }
                    }
                };
                fill(template, &value_of)
            }
        }
    }
}

/// The value at a JSONPath of `value`, if there is one.
pub fn select(value: &Value, path: &str) -> Option<Value> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut at = value;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            at = at.get(&after[..end])?;
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = after[..end].trim();
            at = match inside.parse::<usize>() {
                Ok(index) => at.get(index)?,
                Err(_) => at.get(inside.trim_matches(['\'', '"']))?,
            };
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(at.clone())
}

/// A template with its `<name>` placeholders filled.
fn fill(template: &str, value_of: &dyn Fn(&str) -> Option<Value>) -> String {
    let json_template = serde_json::from_str::<Value>(&placeholders_as_null(template)).is_ok();
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = template.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '<'
            && let Some(end) = template[at + 1..].find('>')
            && is_placeholder_name(&template[at + 1..at + 1 + end])
        {
            let name = &template[at + 1..at + 1 + end];
            let value = value_of(name).unwrap_or(Value::Null);
            match (&value, in_string || !json_template) {
                (Value::String(text), true) if json_template => {
                    let quoted = Value::String(text.clone()).to_string();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
                (Value::String(text), true) => out.push_str(text),
                _ => out.push_str(&value.to_string()),
            }
            for _ in 0..=end {
                chars.next();
            }
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out
}

fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// The template with each placeholder outside strings replaced by `null`, to tell whether it
/// is JSON.
fn placeholders_as_null(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        match rest[start + 1..].find('>') {
            Some(end) if is_placeholder_name(&rest[start + 1..start + 1 + end]) => {
                out.push_str("null");
                rest = &rest[start + end + 2..];
            }
            _ => {
                out.push('<');
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    // Placeholders inside strings became `null` there too, which keeps a string a string.
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({"id": "e1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2-instance-connect",
               "detail": {"eventName": "SendSSHPublicKey", "userIdentity": {"arn": "arn:aws:iam::1:user/a\"b"},
                          "requestParameters": {"instanceId": "i-1", "instanceOSUser": "ec2-user"},
                          "resources": [{"ARN": "arn:aws:ec2:us-east-1:1:instance/i-1"}]}})
    }

    #[test]
    fn paths_select_parts_of_the_event() {
        let e = event();
        assert_eq!(select(&e, "$"), Some(e.clone()));
        assert_eq!(
            select(&e, "$.detail.eventName"),
            Some(json!("SendSSHPublicKey"))
        );
        assert_eq!(
            select(&e, "$.detail.resources[0].ARN"),
            Some(json!("arn:aws:ec2:us-east-1:1:instance/i-1"))
        );
        assert_eq!(
            select(&e, "$['detail-type']"),
            Some(json!("AWS API Call via CloudTrail"))
        );
        assert_eq!(select(&e, "$.detail.missing"), None);
    }

    #[test]
    fn inputs_are_the_event_a_constant_a_part_or_a_filled_template() {
        let e = event();
        let rule = "arn:aws:events:us-east-1:1:rule/ssh-keys";
        assert_eq!(
            Input::of_target(&json!({"Id": "t"})).render(&e, rule),
            e.to_string()
        );
        assert_eq!(
            Input::of_target(&json!({"Input": "{\"a\":1}"})).render(&e, rule),
            "{\"a\":1}"
        );
        assert_eq!(
            Input::of_target(&json!({"InputPath": "$.detail.requestParameters"})).render(&e, rule),
            json!({"instanceId": "i-1", "instanceOSUser": "ec2-user"}).to_string()
        );
        let transformer = json!({"InputTransformer": {
            "InputPathsMap": {"who": "$.detail.userIdentity.arn", "params": "$.detail.requestParameters",
                              "instance": "$.detail.requestParameters.instanceId"},
            "InputTemplate": "{\"text\": \"<who> pushed a key to <instance> (<aws.events.rule-name>)\", \"params\": <params>}"}});
        let rendered = Input::of_target(&transformer).render(&e, rule);
        let parsed: Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(
            parsed["text"],
            "arn:aws:iam::1:user/a\"b pushed a key to i-1 (ssh-keys)"
        );
        assert_eq!(parsed["params"]["instanceOSUser"], "ec2-user");
        let plain = json!({"InputTransformer": {"InputPathsMap": {"i": "$.detail.requestParameters.instanceId"},
                                                "InputTemplate": "Key pushed to <i>"}});
        assert_eq!(
            Input::of_target(&plain).render(&e, rule),
            "Key pushed to i-1"
        );
    }
}
