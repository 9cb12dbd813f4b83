//! The events owners are notified of, and the JSON payload a webhook receives. Plain data: no I/O.

use serde::Serialize;

use crate::clock::UnixTime;

pub use crate::protocol::events::EventKind;

/// An event with its data: what a change raises, in the transaction that makes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    RequestSubmitted(RequestSubmitted),
    RequestDecided(RequestDecided),
    PolicyChanged(PolicyChanged),
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::RequestSubmitted(_) => EventKind::RequestSubmitted,
            Self::RequestDecided(_) => EventKind::RequestDecided,
            Self::PolicyChanged(_) => EventKind::PolicyChanged,
        }
    }
}

/// `request.submitted`: a requesting party's request waits for the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestSubmitted {
    /// The pending request's id, as `uma-cedar requests` and `/uma/requests` show it.
    pub request_id: String,
    /// The client that asked.
    pub client_id: String,
    /// The requesting party, when claims identified one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<Party>,
    pub resource_id: String,
    pub scopes: Vec<String>,
}

/// A requesting party as its verified claims identify it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    pub iss: String,
    pub sub: String,
}

/// `request.decided`: the owner approved or denied a held request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestDecided {
    pub request_id: String,
    pub decision: RequestDecision,
    /// The policy an approval wrote, such as `approved-<id>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestDecision {
    Approved,
    Denied,
}

/// `policy.changed`: some of the owner's named policies were stored (new or replaced) or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyChanged {
    pub change: PolicyChange,
    /// The names of the policies changed, in the order they were given.
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyChange {
    Stored,
    Removed,
}

/// The JSON body a webhook receives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payload<'a> {
    /// The event's id: the same in every retry and for every webhook, for receivers to de-duplicate on.
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// When the change happened, in seconds since the Unix epoch.
    pub time: UnixTime,
    /// The owner whose policies or requests the event is about.
    pub owner: &'a str,
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_spell_as_documented_and_parse_back() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).expect("json"),
                json!(kind.as_str())
            );
        }
        assert_eq!(EventKind::parse("policy.change"), None);
        assert_eq!(EventKind::PolicyChanged.to_string(), "policy.changed");
    }

    #[test]
    fn event_data_has_the_documented_fields() {
        let submitted = Event::RequestSubmitted(RequestSubmitted {
            request_id: "r1".into(),
            client_id: "bank-app".into(),
            party: Some(Party {
                iss: "https://as".into(),
                sub: "bob".into(),
            }),
            resource_id: "photos".into(),
            scopes: vec!["view".into()],
        });
        assert_eq!(submitted.kind(), EventKind::RequestSubmitted);
        assert_eq!(
            serde_json::to_value(&submitted).expect("json"),
            json!({"request_id": "r1", "client_id": "bank-app",
                   "party": {"iss": "https://as", "sub": "bob"},
                   "resource_id": "photos", "scopes": ["view"]})
        );
        let decided = Event::RequestDecided(RequestDecided {
            request_id: "r1".into(),
            decision: RequestDecision::Denied,
            policy: None,
        });
        assert_eq!(decided.kind(), EventKind::RequestDecided);
        assert_eq!(
            serde_json::to_value(&decided).expect("json"),
            json!({"request_id": "r1", "decision": "denied"})
        );
        let changed = Event::PolicyChanged(PolicyChanged {
            change: PolicyChange::Removed,
            names: vec!["family".into()],
        });
        assert_eq!(changed.kind(), EventKind::PolicyChanged);
        assert_eq!(
            serde_json::to_value(&changed).expect("json"),
            json!({"change": "removed", "names": ["family"]})
        );
    }
}
