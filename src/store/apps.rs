//! Connected applications: the clients holding live tokens a user consented to (PATs of resource servers,
//! access and refresh tokens of other clients), grouped by client, for the owner console.

use rusqlite::params;

use super::{ReadTx, Result};
use crate::clock::UnixTime;

pub use crate::protocol::tokens::ConnectedGrant;

/// The grants of `owner` (a local user) that still hold a token that is unrevoked and unexpired at `now`,
/// with their client's name; the oldest first.
pub(super) fn live_grants_of_user(
    conn: &ReadTx<'_>,
    owner: &str,
    now: UnixTime,
) -> Result<Vec<ConnectedGrant>> {
    let mut stmt = conn.conn()?.prepare(
        "SELECT g.id, g.client_id, c.client_name, g.scope, g.created_at,
                MAX(t.kind = 'refresh') AS has_refresh
         FROM grants g
         JOIN clients c ON c.client_id = g.client_id
         JOIN tokens t ON t.grant_id = g.id
         WHERE g.subject = ?1 AND g.subject_kind = 'user' AND g.revoked = 0
           AND t.revoked = 0 AND t.used = 0 AND t.expires_at > ?2
         GROUP BY g.id
         ORDER BY g.created_at, g.id",
    )?;
    let rows = stmt
        .query_map(params![owner, now], |r| {
            Ok(ConnectedGrant {
                grant_id: r.get(0)?,
                client_id: r.get(1)?,
                client_name: r.get(2)?,
                scope: r.get(3)?,
                created_at: r.get(4)?,
                refresh: r.get::<_, i64>(5)? != 0,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
