//! Request ids: taken from an incoming `X-Request-Id` when it is well formed, else generated; echoed in the
//! response, written on the access log line and stored with the decisions the request made.

/// The header carrying it, both ways.
pub const HEADER: &str = "x-request-id";

/// The longest incoming id taken as it is.
pub const MAX_LEN: usize = 128;

/// A request's id: 1 to [`MAX_LEN`] characters of `A-Z a-z 0-9 - _ . :`, so it is safe in a header, a log
/// line and a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// An incoming id, if it is well formed.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = (1..=MAX_LEN).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        ok.then(|| Self(text.to_owned()))
    }

    /// An id for a request that came without one, when no random one could be made: a process-wide
    /// sequence number.
    pub fn sequential() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(format!("seq-{n}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_ids_are_taken_and_others_refused() {
        assert!(RequestId::parse("abc-123_x.y:z").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse("quote\"").is_none());
        assert!(RequestId::parse(&"a".repeat(MAX_LEN)).is_some());
        assert!(RequestId::parse(&"a".repeat(MAX_LEN + 1)).is_none());
    }
}
