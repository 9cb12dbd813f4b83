//! Deleting what no longer means anything, one small batch at a time: expired and spent rows, and the
//! decision log past its retention. Each call deletes at most `limit` rows of one kind, found through an
//! index on the column it scans, so one batch holds the writer for a few milliseconds whatever the size of
//! the table; the caller ([`crate::oauth::housekeeping`]) repeats it in separate transactions.
//!
//! What each row means decides when it may go:
//! - an access or refresh token, an RPT or a PCT: at its expiry. A revoked one is kept until then, since its
//!   row is what refuses it; once expired it is refused for that reason alone (a missing row reads as
//!   inactive). A grant goes with its last token, unless a code that produced it may still be replayed.
//! - a permission ticket: at its expiry when it produced no RPT. One that produced an RPT is kept while that
//!   RPT is live, because presenting the ticket again must revoke it (UMA Grant §3.3.6, replay).
//! - an authorization code: [`super::auth::USED_CODE_RETENTION`] after its expiry (replay detection).
//! - a pending authorization request, a login session, a claims interaction visit: at expiry.
//! - a request held for the owner: at its expiry while still pending; decided ones are the owner's history.
//! - a decision: when older than the retention, and beyond the newest `max_rows`.

use rusqlite::params;

use super::{Result, WriteTx};
use crate::clock::UnixTime;

/// One kind of row to delete, with the cut-off that says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// Access and refresh tokens that expired before the time, and the grants they leave empty.
    Tokens(UnixTime),
    /// Tickets that expired before `now` and produced no RPT, or produced one that is gone or expired.
    /// `linked_before` is the expiry before which a ticket that produced an RPT is looked at: the ticket's
    /// expiry plus the longest RPT lifetime before `now`, so the scan skips the tickets whose RPT surely lives.
    Tickets {
        now: UnixTime,
        linked_before: UnixTime,
    },
    /// RPTs that expired before the time.
    Rpts(UnixTime),
    /// Persisted claims tokens that expired before the time.
    Pcts(UnixTime),
    /// Authorization codes that expired before the time (the caller subtracts the replay window), and the
    /// grants they leave empty.
    Codes(UnixTime),
    /// Pending authorization requests that expired before the time.
    AuthRequests(UnixTime),
    /// Login sessions that expired before the time.
    Sessions(UnixTime),
    /// Claims interaction visits that expired before the time.
    Interactions(UnixTime),
    /// Requests held for their owner, still pending and expired before the time.
    HeldRequests(UnixTime),
    /// Decisions made before the time.
    DecisionsBefore(UnixTime),
    /// Decisions but the newest this many.
    DecisionsBeyond(u64),
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Batch {
    /// Rows deleted, those deleted along with them (grants) included.
    pub deleted: usize,
    /// The batch was full: there may be more to delete.
    pub more: bool,
}

/// Purging, in a write transaction.
pub trait PurgeStore {
    /// Deletes at most `limit` rows of the kind `what` names (and the grants they leave empty).
    fn purge(&self, what: Purge, limit: usize) -> Result<Batch>;
}

impl PurgeStore for WriteTx<'_> {
    fn purge(&self, what: Purge, limit: usize) -> Result<Batch> {
        batch(self, what, limit)
    }
}

/// Deletes at most `limit` rows of the kind `what` names. Where a table has two indexes the scan could take,
/// the statement names the one that holds only candidates (`INDEXED BY`, an error rather than a full scan if it
/// were ever missing).
fn batch(tx: &WriteTx<'_>, what: Purge, limit: usize) -> Result<Batch> {
    let conn = tx.conn()?;
    let cap = i64::try_from(limit).unwrap_or(i64::MAX);
    let simple = |sql: &str, before: UnixTime| -> Result<usize> {
        Ok(conn.prepare_cached(sql)?.execute(params![before, cap])?)
    };
    let (main, extra) = match what {
        Purge::Tokens(before) => {
            let (deleted, grants) = expired_with_grants(tx, "tokens", before, cap)?;
            (deleted, drop_empty_grants(tx, grants)?)
        }
        Purge::Codes(before) => {
            let (deleted, grants) = expired_with_grants(tx, "auth_codes", before, cap)?;
            (deleted, drop_empty_grants(tx, grants)?)
        }
        Purge::Tickets { now, linked_before } => {
            let unlinked = simple(
                "DELETE FROM tickets WHERE rowid IN
                     (SELECT rowid FROM tickets INDEXED BY tickets_unlinked_expiry
                      WHERE rpt_jti IS NULL AND expires_at < ?1 LIMIT ?2)",
                now,
            )?;
            let linked = conn
                .prepare_cached(
                    "DELETE FROM tickets WHERE rowid IN
                         (SELECT t.rowid FROM tickets t INDEXED BY tickets_expiry
                          WHERE t.expires_at < ?1
                            AND NOT EXISTS (SELECT 1 FROM rpts r WHERE r.jti = t.rpt_jti AND r.expires_at >= ?2)
                          LIMIT ?3)",
                )?
                .execute(params![linked_before, now, cap])?;
            // Either statement filling its batch means there may be more.
            let full = unlinked.max(linked);
            return Ok(Batch {
                deleted: unlinked + linked,
                more: full >= limit,
            });
        }
        Purge::Rpts(before) => (simple(&expired_sql("rpts", ""), before)?, 0),
        Purge::Pcts(before) => (simple(&expired_sql("pcts", ""), before)?, 0),
        Purge::AuthRequests(before) => (simple(&expired_sql("auth_requests", ""), before)?, 0),
        Purge::Sessions(before) => (simple(&expired_sql("sessions", ""), before)?, 0),
        Purge::Interactions(before) => {
            (simple(&expired_sql("claims_interactions", ""), before)?, 0)
        }
        Purge::HeldRequests(before) => (
            simple(
                &expired_sql(
                    "access_requests INDEXED BY access_requests_pending_expiry",
                    "state = 'pending' AND",
                ),
                before,
            )?,
            0,
        ),
        // Decisions are appended in time order, so the oldest by id are the oldest by time: each batch looks
        // at the `limit` oldest rows only (no index on time is kept for this, which would cost every grant a
        // write) and deletes those made before the cut-off. A row dated later than newer ones (the clock
        // stepped back) stops the scan until it is old enough itself.
        Purge::DecisionsBefore(before) => (
            simple(
                "DELETE FROM decisions WHERE id IN
                     (SELECT id FROM (SELECT id, time FROM decisions ORDER BY id LIMIT ?2) WHERE time < ?1)",
                before,
            )?,
            0,
        ),
        // Ids only grow, so every row but the newest `keep` has an id at most the largest minus `keep`.
        Purge::DecisionsBeyond(keep) => (
            simple(
                "DELETE FROM decisions WHERE id IN
                     (SELECT id FROM decisions
                      WHERE id <= (SELECT max(id) FROM decisions) - ?1 ORDER BY id LIMIT ?2)",
                i64::try_from(keep).unwrap_or(i64::MAX),
            )?,
            0,
        ),
    };
    Ok(Batch {
        deleted: main + extra,
        more: main >= limit,
    })
}

/// The statement deleting at most `?2` rows of `source` (a table, with an `INDEXED BY` clause where one is
/// named) that expired before `?1` and meet `also` (a condition ending in `AND`, or nothing). Both pieces are
/// constants of this module, never input.
fn expired_sql(source: &str, also: &str) -> String {
    let table = source.split_whitespace().next().unwrap_or(source);
    format!(
        "DELETE FROM {table} WHERE rowid IN
             (SELECT rowid FROM {source} WHERE {also} expires_at < ?1 LIMIT ?2)"
    )
}

/// Deletes at most `cap` rows of `table` (tokens or codes) that expired before `before`; returns how many
/// went and the grants they belonged to.
fn expired_with_grants(
    tx: &WriteTx<'_>,
    table: &str,
    before: UnixTime,
    cap: i64,
) -> Result<(usize, Vec<i64>)> {
    let sql = format!("{} RETURNING grant_id", expired_sql(table, ""));
    let grants: Vec<Option<i64>> = tx
        .conn()?
        .prepare_cached(&sql)?
        .query_map(params![before, cap], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((grants.len(), grants.into_iter().flatten().collect()))
}

/// Deletes those of `grants` left with no token and no code that could be replayed against them.
fn drop_empty_grants(tx: &WriteTx<'_>, mut grants: Vec<i64>) -> Result<usize> {
    grants.sort_unstable();
    grants.dedup();
    let mut stmt = tx.conn()?.prepare_cached(
        "DELETE FROM grants WHERE id = ?1
           AND NOT EXISTS (SELECT 1 FROM tokens WHERE grant_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM auth_codes WHERE grant_id = ?1)",
    )?;
    let mut deleted = 0;
    for id in grants {
        deleted += stmt.execute([id])?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;
    use crate::store::{Store, StoreError};

    fn seed(store: &Store, sql: &str) {
        store
            .write(|tx| {
                tx.conn()?.execute_batch(sql)?;
                Ok::<_, StoreError>(())
            })
            .expect("seed");
    }

    fn count(store: &Store, sql: &str) -> i64 {
        store
            .read(|r| Ok(r.conn()?.query_row(sql, [], |row| row.get(0))?))
            .expect("count")
    }

    fn ids(store: &Store, sql: &str) -> Vec<String> {
        store
            .read(|r| {
                let mut stmt = r.conn()?.prepare(sql)?;
                let rows = stmt
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(rows)
            })
            .expect("ids")
    }

    /// Runs `what` in batches of `limit` until nothing is left; returns the rows deleted.
    fn purge_all(store: &Store, what: Purge, limit: usize) -> usize {
        let mut total = 0;
        loop {
            let done = store.write(|tx| batch(tx, what, limit)).expect("purge");
            total += done.deleted;
            if !done.more {
                return total;
            }
        }
    }

    const CLIENTS: &str = "
        INSERT INTO principals (id, kind) VALUES ('rs', 'client'), ('alice', 'user');
        INSERT INTO clients (client_id, auth_method, created_at) VALUES ('rs', 'none', 0);
        INSERT INTO users (username, password_hash, created_at) VALUES ('alice', 'x', 0);";

    #[test]
    fn expired_tokens_go_with_their_empty_grants_and_live_or_revoked_ones_stay() {
        let (_dir, store) = temp_store();
        seed(
            &store,
            &format!(
                "{CLIENTS}
                 INSERT INTO grants (id, client_id, subject, subject_kind, scope, created_at, revoked) VALUES
                     (1, 'rs', 'rs', 'client', 's', 0, 0),
                     (2, 'rs', 'rs', 'client', 's', 0, 0),
                     (3, 'rs', 'rs', 'client', 's', 0, 1);
                 INSERT INTO tokens (hash, kind, grant_id, scope, issued_at, expires_at, revoked) VALUES
                     ('g1-old', 'access', 1, 's', 0, 10, 0),
                     ('g2-old', 'access', 2, 's', 0, 10, 0),
                     ('g2-refresh', 'refresh', 2, 's', 0, 1000, 0),
                     ('g3-revoked-live', 'access', 3, 's', 0, 1000, 1);"
            ),
        );
        assert_eq!(
            purge_all(&store, Purge::Tokens(100), 1000),
            3,
            "2 tokens, 1 grant"
        );
        assert_eq!(
            ids(&store, "SELECT hash FROM tokens ORDER BY hash"),
            ["g2-refresh", "g3-revoked-live"]
        );
        assert_eq!(
            count(&store, "SELECT count(*) FROM grants"),
            2,
            "grant 1 lost its only token; grant 2 keeps a live refresh token; revoked grant 3 is still needed"
        );
        // The revoked token is still refused by its row until it expires, then by its expiry.
        let revoked = store
            .read(|r| crate::store::tokens::find(r, "g3-revoked-live"))
            .expect("find")
            .expect("kept");
        assert!(revoked.revoked);
    }

    #[test]
    fn a_grant_stays_while_a_code_that_produced_it_may_be_replayed() {
        let (_dir, store) = temp_store();
        seed(
            &store,
            &format!(
                "{CLIENTS}
                 INSERT INTO grants (id, client_id, subject, subject_kind, scope, created_at) VALUES
                     (7, 'rs', 'alice', 'user', 's', 0);
                 INSERT INTO tokens (hash, kind, grant_id, scope, issued_at, expires_at) VALUES
                     ('t', 'access', 7, 's', 0, 10);
                 INSERT INTO auth_codes (hash, client_id, username, redirect_uri, scope, auth_time, expires_at,
                                         grant_id, used)
                     VALUES ('c', 'rs', 'alice', 'https://app/cb', 's', 0, 50, 7, 1);"
            ),
        );
        purge_all(&store, Purge::Tokens(100), 10);
        assert_eq!(
            count(&store, "SELECT count(*) FROM grants"),
            1,
            "the code names it"
        );
        assert_eq!(
            purge_all(&store, Purge::Codes(40), 10),
            0,
            "code not yet past"
        );
        assert_eq!(
            purge_all(&store, Purge::Codes(60), 10),
            2,
            "the code, then its grant"
        );
        assert_eq!(count(&store, "SELECT count(*) FROM grants"), 0);
    }

    #[test]
    fn a_ticket_that_produced_a_live_rpt_is_kept_for_replay() {
        let (_dir, store) = temp_store();
        seed(
            &store,
            &format!(
                "{CLIENTS}
                 INSERT INTO rpts (jti, client_id, party, owner, resource_server, permissions, claims, issued_at,
                                   expires_at)
                     VALUES ('live-rpt', 'rs', 'p', 'rs', 'rs', '[]', '{{}}', 0, 500),
                            ('old-rpt', 'rs', 'p', 'rs', 'rs', '[]', '{{}}', 0, 90);
                 INSERT INTO tickets (hash, owner, client_id, permissions, created_at, expires_at, used, rpt_jti)
                     VALUES ('unused-expired', 'rs', 'rs', '[]', 0, 50, 0, NULL),
                            ('spent-no-rpt', 'rs', 'rs', '[]', 0, 50, 1, NULL),
                            ('spent-live-rpt', 'rs', 'rs', '[]', 0, 50, 1, 'live-rpt'),
                            ('spent-old-rpt', 'rs', 'rs', '[]', 0, 50, 1, 'old-rpt'),
                            ('spent-purged-rpt', 'rs', 'rs', '[]', 0, 50, 1, 'gone'),
                            ('live', 'rs', 'rs', '[]', 0, 500, 0, NULL);"
            ),
        );
        let what = Purge::Tickets {
            now: 100,
            linked_before: 100,
        };
        assert_eq!(purge_all(&store, what, 1), 4);
        assert_eq!(
            ids(&store, "SELECT hash FROM tickets ORDER BY hash"),
            ["live", "spent-live-rpt"]
        );
        // A replay of the kept ticket still finds it spent and names the RPT to revoke.
        let rpt = store
            .write(|tx| crate::store::tickets::issued_rpt(tx, "spent-live-rpt"))
            .expect("rpt");
        assert_eq!(rpt.as_deref(), Some("live-rpt"));
        // Linked tickets are not looked at before `linked_before`.
        seed(
            &store,
            "UPDATE rpts SET expires_at = 90 WHERE jti = 'live-rpt';",
        );
        let early = Purge::Tickets {
            now: 100,
            linked_before: 40,
        };
        assert_eq!(purge_all(&store, early, 10), 0);
        assert_eq!(purge_all(&store, what, 10), 1);
    }

    #[test]
    fn expired_rpts_pcts_sessions_requests_and_visits_go_and_live_ones_stay() {
        let (_dir, store) = temp_store();
        seed(
            &store,
            &format!(
                "{CLIENTS}
                 INSERT INTO rpts (jti, client_id, party, owner, resource_server, permissions, claims, issued_at,
                                   expires_at, revoked)
                     VALUES ('old', 'rs', 'p', 'rs', 'rs', '[]', '{{}}', 0, 10, 0),
                            ('revoked-live', 'rs', 'p', 'rs', 'rs', '[]', '{{}}', 0, 500, 1);
                 INSERT INTO pcts (hash, client_id, party, claims, created_at, expires_at, revoked)
                     VALUES ('old', 'rs', 'p', '{{}}', 0, 10, 0), ('revoked-live', 'rs', 'p', '{{}}', 0, 500, 1);
                 INSERT INTO sessions (id_hash, username, auth_time, expires_at)
                     VALUES ('old', 'alice', 0, 10), ('live', 'alice', 0, 500);
                 INSERT INTO auth_requests (id_hash, csrf_hash, client_id, params, expires_at)
                     VALUES ('old', 'c', 'rs', '{{}}', 10), ('live', 'c', 'rs', '{{}}', 500);
                 INSERT INTO claims_interactions (id_hash, csrf_hash, client_id, ticket_hash, owner, redirect_uri,
                                                  expires_at)
                     VALUES ('old', 'c', 'rs', 't', 'rs', 'u', 10), ('live', 'c', 'rs', 't', 'rs', 'u', 500);
                 INSERT INTO access_requests (id, owner, resource_server, resource_id, scopes, party, claims,
                                              client_id, created_at, expires_at, state)
                     VALUES ('old', 'rs', 'rs', 'r', '[]', 'p', '{{}}', 'rs', 0, 10, 'pending'),
                            ('approved', 'rs', 'rs', 'r', '[]', 'p', '{{}}', 'rs', 0, 10, 'approved'),
                            ('denied', 'rs', 'rs', 'r', '[]', 'p', '{{}}', 'rs', 0, 10, 'denied'),
                            ('live', 'rs', 'rs', 'r', '[]', 'p', '{{}}', 'rs', 0, 500, 'pending');"
            ),
        );
        for what in [
            Purge::Rpts(100),
            Purge::Pcts(100),
            Purge::Sessions(100),
            Purge::AuthRequests(100),
            Purge::Interactions(100),
            Purge::HeldRequests(100),
        ] {
            assert_eq!(purge_all(&store, what, 1), 1, "{what:?}");
        }
        assert_eq!(ids(&store, "SELECT jti FROM rpts"), ["revoked-live"]);
        assert_eq!(ids(&store, "SELECT hash FROM pcts"), ["revoked-live"]);
        assert_eq!(ids(&store, "SELECT id_hash FROM sessions"), ["live"]);
        assert_eq!(ids(&store, "SELECT id_hash FROM auth_requests"), ["live"]);
        assert_eq!(
            ids(&store, "SELECT id_hash FROM claims_interactions"),
            ["live"]
        );
        assert_eq!(
            ids(&store, "SELECT id FROM access_requests ORDER BY id"),
            ["approved", "denied", "live"],
            "decided requests are the owner's history"
        );
    }

    fn decisions(store: &Store, times: &[i64]) {
        let rows: Vec<String> = times
            .iter()
            .map(|t| format!("({t}, 'alice', 'rs', 'r', '[]', '[]', 'permit', '[]')"))
            .collect();
        seed(
            store,
            &format!(
                "INSERT INTO decisions (time, owner, client_id, resource_id, scopes, granted, answer, policies)
                 VALUES {};",
                rows.join(", ")
            ),
        );
    }

    #[test]
    fn the_decision_log_keeps_its_retention_and_its_size() {
        let (_dir, store) = temp_store();
        seed(&store, CLIENTS);
        decisions(&store, &[10, 20, 30, 40, 50, 60, 70]);
        assert_eq!(purge_all(&store, Purge::DecisionsBefore(35), 2), 3);
        assert_eq!(
            ids(
                &store,
                "SELECT CAST(time AS TEXT) FROM decisions ORDER BY id"
            ),
            ["40", "50", "60", "70"]
        );
        assert_eq!(purge_all(&store, Purge::DecisionsBeyond(3), 1), 1);
        assert_eq!(
            ids(
                &store,
                "SELECT CAST(time AS TEXT) FROM decisions ORDER BY id"
            ),
            ["50", "60", "70"],
            "the newest are kept"
        );
        assert_eq!(purge_all(&store, Purge::DecisionsBeyond(3), 1), 0);
        assert_eq!(purge_all(&store, Purge::DecisionsBefore(50), 10), 0);
    }

    #[test]
    fn batches_are_bounded() {
        let (_dir, store) = temp_store();
        seed(&store, CLIENTS);
        decisions(&store, &[1, 2, 3, 4, 5]);
        let first = store
            .write(|tx| batch(tx, Purge::DecisionsBefore(100), 2))
            .expect("batch");
        assert_eq!(
            first,
            Batch {
                deleted: 2,
                more: true
            }
        );
        assert_eq!(count(&store, "SELECT count(*) FROM decisions"), 3);
    }
}
