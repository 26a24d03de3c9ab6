//! Secrets never reach the store: members the service models mark sensitive are hidden while
//! decoding (`request.rs`), and then every member named in a [`Redaction`] list is replaced,
//! wherever it is in `requestParameters` or `responseElements`, by AWS's texts:
//! `HIDDEN_DUE_TO_SECURITY_REASONS`, or `<sensitiveDataRemoved>` for key material in answers
//! (as EC2's CreateKeyPair records show).

use serde_json::Value;

/// AWS's text for a hidden request parameter.
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";
/// AWS's text for secret material removed from an answer.
pub const REMOVED: &str = "<sensitiveDataRemoved>";

/// Which members to hide: by name anywhere (case-insensitive), or `service:Operation:member`
/// for one operation's top-level member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    pub rules: Vec<String>,
}

impl Default for Redaction {
    /// Passwords, secret keys, session tokens, private keys and secret values by name; SSM's
    /// parameter values and command parameters, as AWS hides them.
    fn default() -> Redaction {
        let rules = [
            "password",
            "newPassword",
            "oldPassword",
            "secretAccessKey",
            "sessionToken",
            "privateKey",
            "privateKeyMaterial",
            "keyMaterial",
            "secretString",
            "secretBinary",
            "clientSecret",
            "authToken",
            "ssm:PutParameter:value",
            "ssm:SendCommand:parameters",
        ];
        Redaction {
            rules: rules.iter().map(|r| (*r).to_owned()).collect(),
        }
    }
}

impl Redaction {
    /// The default rules and `extra` ones (the configuration's).
    pub fn with_extra(extra: &[String]) -> Redaction {
        let mut redaction = Redaction::default();
        redaction.rules.extend(extra.iter().cloned());
        redaction
    }

    /// Hides what the rules name in `value`, the request parameters (`answer` false) or
    /// response elements (`answer` true) of `service`'s `operation`.
    pub fn apply(&self, service: &str, operation: &str, value: &mut Value, answer: bool) {
        if let Value::Object(members) = value {
            for rule in &self.rules {
                let mut parts = rule.splitn(3, ':');
                if let (Some(s), Some(op), Some(member)) =
                    (parts.next(), parts.next(), parts.next())
                    && s == service
                    && op == operation
                    && let Some(found) = members.get_mut(member)
                {
                    *found = Value::String(HIDDEN.to_owned());
                }
            }
        }
        self.hide_names(value, answer);
    }

    fn hide_names(&self, value: &mut Value, answer: bool) {
        match value {
            Value::Object(members) => {
                for (name, member) in members.iter_mut() {
                    let named = self
                        .rules
                        .iter()
                        .any(|r| !r.contains(':') && r.eq_ignore_ascii_case(name));
                    if named && !member.is_null() {
                        let text = if answer && name.eq_ignore_ascii_case("keyMaterial") {
                            REMOVED
                        } else {
                            HIDDEN
                        };
                        *member = Value::String(text.to_owned());
                    } else {
                        self.hide_names(member, answer);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.hide_names(item, answer);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_hidden_wherever_they_are() {
        let redaction = Redaction::with_extra(&["apiKey".to_owned()]);
        let mut request =
            json!({"name": "db", "value": "s3cr3t", "nested": [{"Password": "p", "apiKey": "k"}]});
        redaction.apply("ssm", "PutParameter", &mut request, false);
        assert_eq!(
            request,
            json!({"name": "db", "value": HIDDEN, "nested": [{"Password": HIDDEN, "apiKey": HIDDEN}]})
        );
        let mut answer = json!({"keyName": "k", "keyMaterial": "-----BEGIN RSA", "credentials": {"secretAccessKey": "x", "accessKeyId": "AKIA"}});
        redaction.apply("ec2", "CreateKeyPair", &mut answer, true);
        assert_eq!(answer["keyMaterial"], REMOVED);
        assert_eq!(
            answer["credentials"],
            json!({"secretAccessKey": HIDDEN, "accessKeyId": "AKIA"})
        );
        let mut other = json!({"value": "kept"});
        redaction.apply("ssm", "LabelParameterVersion", &mut other, false);
        assert_eq!(other["value"], "kept");
    }
}
