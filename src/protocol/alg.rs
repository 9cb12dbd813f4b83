//! The JWS algorithms this server signs with (RFC 7518 §3.1), as a plain value: settings name one, and
//! [`crate::crypto::keys`] makes keys and signers for it. Nothing here touches a key.

use std::fmt;
use std::str::FromStr;

/// The JWS algorithms the server signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Alg {
    ES256,
    RS256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            other => Err(format!(
                "unsupported signing algorithm `{other}` (use ES256 or RS256)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for alg in [Alg::ES256, Alg::RS256] {
            assert_eq!(alg.as_str().parse::<Alg>(), Ok(alg));
        }
        let err = "HS256".parse::<Alg>().expect_err("refused");
        assert!(
            err.contains("`HS256`") && err.contains("ES256 or RS256"),
            "{err}"
        );
    }
}
