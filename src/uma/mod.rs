//! The UMA grant's protocol logic (UMA 2.0 Grant §3.3), free of HTTP and SQL so each rule is testable alone:
//! the set math of the authorization assessment (§3.3.4), how per-permission decisions combine into one
//! answer (§3.3.5, §3.3.6), and RPT upgrade (§3.3.5.1).
//!
//! What this module must never do: turn an empty request into a grant (§5.6), or grant a scope the owner's
//! policies did not permit for that very resource.

pub mod assess;
pub mod wire;

/// The identifier of a requesting party: its issuer and subject together, as a JSON array, so two issuers'
/// subjects can never collide (`["https://a", "x"]` and `["https://a\"", ...]` stay distinct).
pub fn party_id(iss: &str, sub: &str) -> String {
    serde_json::Value::from(vec![iss, sub]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_ids_do_not_collide_across_issuers() {
        assert_ne!(
            party_id("https://a.example", "bob"),
            party_id("https://b.example", "bob")
        );
        assert_ne!(party_id("a,b", "c"), party_id("a", "b,c"));
        assert_eq!(
            party_id("https://a.example", "bob"),
            r#"["https://a.example","bob"]"#
        );
    }
}
