//! The decision log as its owner reads it: every answer the UMA grant gave about the owner's resources, newest
//! first, a bounded number at a time. It must never return one owner's decisions to another.

use crate::protocol::decisions::Decision;
use crate::store::decisions::DecisionFilter;
use crate::store::{DecisionRead, StoreError};

/// Entries returned when no limit is given, and the most ever returned at once.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// How many entries to return: 1 to [`MAX_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(usize);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`limit` must be a number from 1 to {MAX_LIMIT}, got {}", crate::error::quoted(.0))]
pub struct BadLimit(pub String);

impl Limit {
    /// The limit a request names, or [`DEFAULT_LIMIT`] when it names none.
    pub fn parse(text: Option<&str>) -> Result<Self, BadLimit> {
        match text {
            None => Ok(Self(DEFAULT_LIMIT)),
            Some(text) => match text.parse::<usize>() {
                Ok(n) => Self::new(n).ok_or_else(|| BadLimit(text.to_owned())),
                Err(_) => Err(BadLimit(text.to_owned())),
            },
        }
    }

    /// `n` when it is within 1 to [`MAX_LIMIT`].
    pub fn new(n: usize) -> Option<Self> {
        (1..=MAX_LIMIT).contains(&n).then_some(Self(n))
    }

    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

/// `owner`'s most recent decisions, newest first, at most `limit`.
pub fn recent(
    reader: &impl DecisionRead,
    owner: &str,
    limit: Limit,
) -> Result<Vec<Decision>, StoreError> {
    reader.decisions_of_owner(owner, limit.get())
}

/// The answers the decision log records, which an activity filter may name.
pub const ANSWERS: [&str; 4] = ["permit", "need_info", "request_submitted", "request_denied"];

/// The furthest an activity page may start: deeper history is for the API's export, not for paging.
pub const MAX_OFFSET: usize = 100_000;

/// An activity query that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivityError {
    #[error("`answer` must be one of {}, got {}", ANSWERS.join(", "), crate::error::quoted(.0))]
    BadAnswer(String),
    #[error("`page` must be a number from 1 to {}, got {}", MAX_OFFSET / DEFAULT_PAGE, crate::error::quoted(.0))]
    BadPage(String),
}

/// Entries per activity page.
pub const DEFAULT_PAGE: usize = 50;

/// One page of activity and whether another follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityPage {
    pub entries: Vec<Decision>,
    /// The 1-based page number shown.
    pub page: usize,
    /// True when a further page holds at least one entry.
    pub more: bool,
}

/// A validated activity query: which resource and answer to keep, and which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityQuery {
    filter: DecisionFilter,
    page: usize,
}

impl ActivityQuery {
    /// The query a request names: empty texts mean "any"; the page defaults to 1.
    pub fn parse(
        resource: Option<&str>,
        answer: Option<&str>,
        page: Option<&str>,
    ) -> Result<Self, ActivityError> {
        let nonempty = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(str::to_owned);
        let answer = nonempty(answer);
        if let Some(a) = &answer
            && !ANSWERS.contains(&a.as_str())
        {
            return Err(ActivityError::BadAnswer(a.clone()));
        }
        let page = match page.filter(|p| !p.is_empty()) {
            None => 1,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_OFFSET / DEFAULT_PAGE).contains(n))
                .ok_or_else(|| ActivityError::BadPage(text.to_owned()))?,
        };
        Ok(Self {
            filter: DecisionFilter {
                resource_id: nonempty(resource),
                answer,
            },
            page,
        })
    }
}

/// One page of `owner`'s activity, newest first: [`DEFAULT_PAGE`] entries at most.
pub fn activity(
    reader: &impl DecisionRead,
    owner: &str,
    query: &ActivityQuery,
) -> Result<ActivityPage, StoreError> {
    let offset = (query.page - 1) * DEFAULT_PAGE;
    // One more than a page tells whether another follows.
    let mut entries = reader.decision_page(owner, &query.filter, offset, DEFAULT_PAGE + 1)?;
    let more = entries.len() > DEFAULT_PAGE;
    entries.truncate(DEFAULT_PAGE);
    Ok(ActivityPage {
        entries,
        page: query.page,
        more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_queries_are_checked() {
        let q = ActivityQuery::parse(Some(""), Some(""), None).expect("any");
        assert_eq!(q.filter, DecisionFilter::default());
        assert_eq!(q.page, 1);
        let q = ActivityQuery::parse(Some("r1"), Some("permit"), Some("3")).expect("some");
        assert_eq!(q.filter.resource_id.as_deref(), Some("r1"));
        assert_eq!(q.filter.answer.as_deref(), Some("permit"));
        assert_eq!(q.page, 3);
        assert_eq!(
            ActivityQuery::parse(None, Some("maybe"), None),
            Err(ActivityError::BadAnswer("maybe".into()))
        );
        for bad in ["0", "-1", "x", "2001"] {
            assert_eq!(
                ActivityQuery::parse(None, None, Some(bad)),
                Err(ActivityError::BadPage(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn activity_pages_through_her_filtered_decisions() {
        let (_dir, store) = crate::store::testing::temp_store();
        let entry = |time, owner: &str, resource: &str, answer: &str| Decision {
            time,
            owner: owner.into(),
            client_id: "app".into(),
            party: None,
            resource_id: resource.into(),
            scopes: vec!["view".into()],
            granted: vec![],
            answer: answer.into(),
            policies: vec![],
            detail: None,
            http_request_id: None,
        };
        store
            .write(|tx| {
                use crate::store::DecisionLog;
                for owner in ["alice", "carol"] {
                    crate::store::users::insert(tx, &crate::store::testing::test_user(owner))?;
                }
                for time in 0..120 {
                    let answer = if time % 2 == 0 {
                        "permit"
                    } else {
                        "request_denied"
                    };
                    let resource = if time % 3 == 0 { "r1" } else { "r2" };
                    tx.record_decision(&entry(time, "alice", resource, answer))?;
                }
                tx.record_decision(&entry(500, "carol", "r1", "permit"))
            })
            .expect("record");
        let read = |q: &ActivityQuery| store.read(|r| activity(r, "alice", q)).expect("page");
        let first = read(&ActivityQuery::parse(None, None, None).expect("q"));
        assert_eq!(first.entries.len(), DEFAULT_PAGE);
        assert!(first.more);
        assert_eq!(first.entries.first().map(|d| d.time), Some(119));
        let third = read(&ActivityQuery::parse(None, None, Some("3")).expect("q"));
        assert_eq!(third.entries.len(), 20);
        assert!(!third.more);
        assert_eq!(third.entries.first().map(|d| d.time), Some(19));
        let filtered = read(&ActivityQuery::parse(Some("r1"), Some("permit"), None).expect("q"));
        // Multiples of 6 below 120: 20 of them.
        assert_eq!(filtered.entries.len(), 20);
        assert!(
            filtered
                .entries
                .iter()
                .all(|d| d.time % 6 == 0 && d.owner == "alice")
        );
        assert!(!filtered.more);
    }

    #[test]
    fn a_limit_is_one_to_the_maximum_and_defaults_when_absent() {
        assert_eq!(Limit::parse(None), Ok(Limit(DEFAULT_LIMIT)));
        assert_eq!(Limit::parse(Some("1")).map(Limit::get), Ok(1));
        assert_eq!(Limit::parse(Some("1000")).map(Limit::get), Ok(MAX_LIMIT));
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert_eq!(
                Limit::parse(Some(bad)),
                Err(BadLimit(bad.to_owned())),
                "{bad:?}"
            );
        }
        let message = BadLimit("0".into()).to_string();
        assert!(message.contains("from 1 to 1000"), "{message}");
    }
}
