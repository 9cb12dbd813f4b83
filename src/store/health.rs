//! The store's part in operations: the readiness check's write and the webhook outbox backlog read when
//! metrics are scraped.

use rusqlite::params;

use super::{ReadTx, Result, WriteTx};
use crate::clock::UnixTime;
use crate::ops::metrics::Backlog;

impl WriteTx<'_> {
    /// Rewrites the readiness row: succeeds only when the database accepts a write.
    pub fn mark_ready(&self, now: UnixTime) -> Result<()> {
        self.conn()?
            .prepare_cached("INSERT OR REPLACE INTO readiness (id, checked_at) VALUES (1, ?1)")?
            .execute(params![now])?;
        Ok(())
    }
}

impl ReadTx<'_> {
    /// The webhook outbox's backlog: events not fanned out, deliveries pending and dead (indexed counts).
    pub fn outbox_backlog(&self) -> Result<Backlog> {
        let conn = self.conn()?;
        let count = |sql: &str| -> Result<u64> {
            let n: i64 = conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok(Backlog {
            events_waiting: count("SELECT count(*) FROM notify_events WHERE fanned_out = 0")?,
            deliveries_pending: count(
                "SELECT count(*) FROM notify_deliveries WHERE state = 'pending'",
            )?,
            deliveries_dead: count("SELECT count(*) FROM notify_deliveries WHERE state = 'dead'")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::testing::temp_store;

    #[test]
    fn the_readiness_write_commits_and_an_empty_outbox_has_no_backlog() {
        let (_dir, store) = temp_store();
        store.write(|tx| tx.mark_ready(5)).expect("write");
        store.write(|tx| tx.mark_ready(6)).expect("rewrite");
        let at: i64 = store
            .read(|r| {
                Ok(r.conn()?
                    .query_row("SELECT checked_at FROM readiness", [], |r| r.get(0))?)
            })
            .expect("read");
        assert_eq!(at, 6);
        assert_eq!(
            store.read(|r| r.outbox_backlog()).expect("backlog"),
            crate::ops::metrics::Backlog::default()
        );
    }
}
