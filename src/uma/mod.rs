//! The UMA grant's protocol logic (UMA 2.0 Grant §3.3), free of HTTP and SQL so each rule is testable alone:
//! the set math of the authorization assessment (§3.3.4), how per-permission decisions combine into one
//! answer (§3.3.5, §3.3.6), and RPT upgrade (§3.3.5.1). The grant itself, from a presented ticket to an RPT,
//! a rotated ticket or an error, is [`grant`].
//!
//! What this module must never do: turn an empty request into a grant (§5.6), or grant a scope the owner's
//! policies did not permit for that very resource.

pub mod assess;
pub mod grant;
pub mod interaction;
pub mod permission;
pub mod requests;
pub mod resources;
pub mod rpt;
pub mod wire;

/// A resource server acting through its PAT: the resource owner and the resource server the PAT names.
/// Every protection API operation is scoped to this pair.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub owner: &'a str,
    pub resource_server: &'a str,
}

/// The `sub` of an RPT (RFC 9068 §2.2), unique across issuers, so a resource server verifying RPTs locally
/// can never take one issuer's subject for another's:
///
/// - no requesting party identified (no claims): the client's id, as RFC 9068 §2.2 advises when the token
///   carries no person;
/// - a user of this server (`iss` is `own_issuer`): their `sub` as it is;
/// - a subject of a trusted issuer: [`foreign_subject`] of its `iss` and `sub`.
pub fn rpt_subject(own_issuer: &str, party: Option<(&str, &str)>, client_id: &str) -> String {
    match party {
        None => client_id.to_owned(),
        Some((iss, sub)) if iss == own_issuer => sub.to_owned(),
        Some((iss, sub)) => foreign_subject(iss, sub),
    }
}

/// The RPT's `requesting_party` claim: the issuer and subject the claims came from, as they were, for a
/// resource server that wants them (the RPT's `sub` is derived from them for other issuers than this server).
pub fn requesting_party(iss: &str, sub: &str) -> serde_json::Value {
    serde_json::json!({"iss": iss, "sub": sub})
}

/// A stable identifier for subject `sub` of issuer `iss`: the base64url (no padding) SHA-256 of `iss` and
/// `sub`, each preceded by its length in bytes as a 64-bit big-endian integer. The lengths keep
/// (`a`, `bc`) and (`ab`, `c`) apart; the hash keeps the value short, URL-safe, and 43 characters long,
/// which a user name of this server could equal only by finding a SHA-256 preimage. A resource server that
/// knows a person's issuer and subject can compute it the same way.
pub fn foreign_subject(iss: &str, sub: &str) -> String {
    let mut input = Vec::with_capacity(16 + iss.len() + sub.len());
    for part in [iss, sub] {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    crate::crypto::sha256_base64url(&input)
}

/// The identifier of a requesting party: its issuer and subject together, as a JSON array, so two issuers'
/// subjects can never collide (`["https://a", "x"]` and `["https://a\"", ...]` stay distinct).
pub fn party_id(iss: &str, sub: &str) -> String {
    serde_json::Value::from(vec![iss, sub]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpt_subjects_are_unique_across_issuers() {
        let own = "https://as.example";
        assert_eq!(rpt_subject(own, Some((own, "bob")), "app"), "bob");
        assert_eq!(rpt_subject(own, None, "app"), "app");
        let a = rpt_subject(own, Some(("https://a.example", "bob")), "app");
        let b = rpt_subject(own, Some(("https://b.example", "bob")), "app");
        assert_ne!(a, b);
        assert_ne!(a, "bob");
        assert_eq!(a, foreign_subject("https://a.example", "bob"), "stable");
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        // The length prefixes keep a shifted boundary apart.
        assert_ne!(foreign_subject("a", "bc"), foreign_subject("ab", "c"));
        // Fixed values, computed independently of this code (Python's hashlib), so the documented derivation
        // cannot drift.
        assert_eq!(
            foreign_subject("a", "b"),
            "PJ1ZEEW8iHb50Dmbv7BcakEglukG9zJ4-YQGzV3Kht8"
        );
        assert_eq!(
            foreign_subject("https://login.example.org", "bob"),
            "Z-BOgDJpiOzJVBCqgkTpg9WKkoEkXon1yiCQKk7kgsg"
        );
    }

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
