//! Keeping the database the size of what is live: deletes expired and spent rows and the decision log past
//! its retention, in small batches, so that disk use stays flat under steady load without `VACUUM` (SQLite
//! reuses the freed pages).
//!
//! Each batch is its own short write transaction, and the purge pauses between batches for as long as the
//! batch took, so requests waiting to write are served in between: a large backlog (after an upgrade, or a
//! long stop) is worked off at most half the writer's time. What each kind of row means, and so when it may go,
//! is described in [`crate::store::purge`].

use std::time::{Duration, Instant};

use crate::clock::UnixTime;
use crate::config::Settings;
use crate::store::auth::USED_CODE_RETENTION;
use crate::store::{Purge, PurgeStore, Store, StoreError};

/// Rows deleted per statement.
pub const BATCH_ROWS: usize = 1_000;

/// The shortest pause between two batches.
const MIN_PAUSE: Duration = Duration::from_millis(1);

/// How long a decision is kept and how many are, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub decision_log_days: i64,
    pub decision_log_max_rows: u64,
    /// The longest an RPT lives: how long a ticket that produced one may be needed after the ticket expired.
    pub rpt_ttl: i64,
}

impl Retention {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            decision_log_days: settings.decision_log_retention_days,
            decision_log_max_rows: settings.decision_log_max_rows,
            rpt_ttl: settings.rpt_ttl,
        }
    }

    /// Every kind of row to delete at `now`, with its cut-off.
    pub fn purges(&self, now: UnixTime) -> [Purge; 11] {
        let decisions_before = now.saturating_sub(self.decision_log_days.saturating_mul(24 * 3600));
        [
            Purge::Tickets {
                now,
                linked_before: now.saturating_sub(self.rpt_ttl),
            },
            Purge::Rpts(now),
            Purge::Tokens(now),
            Purge::Pcts(now),
            Purge::Codes(now.saturating_sub(USED_CODE_RETENTION)),
            Purge::AuthRequests(now),
            Purge::Sessions(now),
            Purge::Interactions(now),
            Purge::HeldRequests(now),
            Purge::DecisionsBefore(decisions_before),
            Purge::DecisionsBeyond(self.decision_log_max_rows),
        ]
    }
}

/// Deletes everything [`Retention::purges`] names at `now`, batch after batch; returns how many rows went.
/// A storage error stops the round (what was deleted stays deleted; the next round goes on).
pub fn purge(store: &Store, retention: &Retention, now: UnixTime) -> Result<usize, StoreError> {
    purge_in_batches(store, retention, now, BATCH_ROWS)
}

/// [`purge`] with a chosen batch size.
pub fn purge_in_batches(
    store: &Store,
    retention: &Retention,
    now: UnixTime,
    batch_rows: usize,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    for what in retention.purges(now) {
        loop {
            let started = Instant::now();
            let batch = store.write(|tx| tx.purge(what, batch_rows))?;
            deleted += batch.deleted;
            if !batch.more {
                break;
            }
            std::thread::sleep(started.elapsed().max(MIN_PAUSE));
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;
    use crate::store::{DecisionLog, DecisionRead};

    fn retention() -> Retention {
        Retention {
            decision_log_days: 1,
            decision_log_max_rows: 2,
            rpt_ttl: 300,
        }
    }

    #[test]
    fn a_round_deletes_past_every_batch_and_keeps_the_newest_decisions() {
        let (_dir, store) = temp_store();
        let day = 24 * 3600;
        store
            .write(|tx| {
                crate::store::clients::insert(tx, &crate::store::testing::public_client("rs"))?;
                for (i, time) in [0, 10, 2 * day, 2 * day + 1, 2 * day + 2]
                    .iter()
                    .enumerate()
                {
                    tx.record_decision(&crate::store::decisions::Decision {
                        time: *time,
                        owner: "rs".into(),
                        client_id: "rs".into(),
                        party: None,
                        resource_id: format!("r{i}"),
                        scopes: vec![],
                        granted: vec![],
                        answer: "permit".into(),
                        policies: vec![],
                        detail: None,
                        http_request_id: None,
                    })?;
                }
                Ok::<_, StoreError>(())
            })
            .expect("seed");
        // Two old decisions go by age, one more by count; a batch of one row makes every kind loop.
        let deleted = purge_in_batches(&store, &retention(), 2 * day + 5, 1).expect("purge");
        assert_eq!(deleted, 3);
        let left = store
            .read(|r| r.decisions_of_owner("rs", 10))
            .expect("left");
        let mut ids: Vec<String> = left.into_iter().map(|d| d.resource_id).collect();
        ids.sort();
        assert_eq!(ids, ["r3", "r4"]);
    }

    #[test]
    fn cut_offs_follow_the_settings() {
        let now = 100 * 24 * 3600;
        let purges = retention().purges(now);
        assert!(purges.contains(&Purge::DecisionsBefore(now - 24 * 3600)));
        assert!(purges.contains(&Purge::DecisionsBeyond(2)));
        assert!(purges.contains(&Purge::Tickets {
            now,
            linked_before: now - 300
        }));
        assert!(purges.contains(&Purge::Codes(now - USED_CODE_RETENTION)));
    }
}
