//! One entry of an owner's decision log, as the domain writes it and the store keeps it.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub time: UnixTime,
    pub owner: String,
    /// The client that asked.
    pub client_id: String,
    /// The requesting party, when claims identified one: its id (`crate::uma::party_id`, the JSON text
    /// `["<iss>","<sub>"]`) as stored. Serialized as that JSON array itself, not as a string holding it.
    #[serde(
        default,
        serialize_with = "party_as_array",
        deserialize_with = "party_from_array"
    )]
    pub party: Option<String>,
    pub resource_id: String,
    /// The scopes requested for the resource.
    pub scopes: Vec<String>,
    /// The scopes granted (empty unless the answer is `permit`).
    pub granted: Vec<String>,
    /// `permit`, `need_info` or `request_denied`.
    pub answer: String,
    /// The policies that decided, as `file name` or `file name#index`.
    pub policies: Vec<String>,
    /// Claims that would help (`need_info`) or evaluation errors, in words.
    pub detail: Option<String>,
    /// The id of the request that made the decision (its `X-Request-Id`), when it came through the server.
    #[serde(default)]
    pub http_request_id: Option<String>,
}

impl Decision {
    /// The requesting party's issuer and subject, when claims identified one and its id is well formed.
    pub fn party_parts(&self) -> Option<(String, String)> {
        let text = self.party.as_deref()?;
        match serde_json::from_str::<Vec<String>>(text).ok()?.as_slice() {
            [iss, sub] => Some((iss.clone(), sub.clone())),
            _ => None,
        }
    }
}

fn party_as_array<S: serde::Serializer>(
    party: &Option<String>,
    out: S,
) -> std::result::Result<S::Ok, S::Error> {
    match party {
        None => out.serialize_none(),
        // An id that is not the JSON array it should be is shown as it is rather than hidden.
        Some(text) => match serde_json::from_str::<Vec<String>>(text) {
            Ok(parts) => out.collect_seq(parts),
            Err(_) => out.serialize_str(text),
        },
    }
}

fn party_from_array<'de, D: serde::Deserializer<'de>>(
    input: D,
) -> std::result::Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Party {
        Parts(Vec<String>),
        Id(String),
    }
    Ok(match Option::<Party>::deserialize(input)? {
        None => None,
        Some(Party::Parts(parts)) => Some(serde_json::Value::from(parts).to_string()),
        Some(Party::Id(id)) => Some(id),
    })
}
