//! The decision log: every answer of the UMA grant about an owner's resource, for the owner to review.

use rusqlite::params;

use super::{ReadTx, Result, WriteTx, from_json, to_json};
use crate::clock::UnixTime;

pub use crate::protocol::decisions::Decision;

pub(super) fn record(tx: &WriteTx<'_>, d: &Decision) -> Result<()> {
    tx.conn()?.prepare_cached("INSERT INTO decisions (time, owner, client_id, party, resource_id, scopes, granted, answer, policies, detail, http_request_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")?.execute(params![
            d.time,
            d.owner,
            d.client_id,
            d.party,
            d.resource_id,
            to_json(&d.scopes)?,
            to_json(&d.granted)?,
            d.answer,
            to_json(&d.policies)?,
            d.detail,
            d.http_request_id,
        ],
    )?;
    Ok(())
}

/// The owner's most recent decisions, newest first, at most `limit`.
pub(super) fn list_for_owner(
    conn: &ReadTx<'_>,
    owner: &str,
    limit: usize,
) -> Result<Vec<Decision>> {
    let mut stmt = conn.conn()?.prepare_cached(
        "SELECT time, owner, client_id, party, resource_id, scopes, granted, answer, policies, detail, http_request_id
         FROM decisions WHERE owner = ?1 ORDER BY time DESC, id DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![owner, limit], row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(decode).collect()
}

/// What an activity query keeps: the decisions on one resource, or with one answer, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionFilter {
    pub resource_id: Option<String>,
    pub answer: Option<String>,
}

/// The owner's decisions that `filter` keeps, newest first: `limit` of them after skipping `offset`.
pub(super) fn page_for_owner(
    conn: &ReadTx<'_>,
    owner: &str,
    filter: &DecisionFilter,
    offset: usize,
    limit: usize,
) -> Result<Vec<Decision>> {
    let mut stmt = conn.conn()?.prepare(
        "SELECT time, owner, client_id, party, resource_id, scopes, granted, answer, policies, detail, http_request_id
         FROM decisions
         WHERE owner = ?1 AND (?2 IS NULL OR resource_id = ?2) AND (?3 IS NULL OR answer = ?3)
         ORDER BY time DESC, id DESC LIMIT ?4 OFFSET ?5",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(
            params![owner, filter.resource_id, filter.answer, limit, offset],
            row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(decode).collect()
}

type Row = (
    UnixTime,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get("time")?,
        r.get("owner")?,
        r.get("client_id")?,
        r.get("party")?,
        r.get("resource_id")?,
        r.get("scopes")?,
        r.get("granted")?,
        r.get("answer")?,
        r.get("policies")?,
        r.get("detail")?,
        r.get("http_request_id")?,
    ))
}

fn decode(
    (
        time,
        owner,
        client_id,
        party,
        resource_id,
        scopes,
        granted,
        answer,
        policies,
        detail,
        http_request_id,
    ): Row,
) -> Result<Decision> {
    Ok(Decision {
        time,
        owner,
        client_id,
        party,
        resource_id,
        scopes: from_json(&scopes)?,
        granted: from_json(&granted)?,
        answer,
        policies: from_json(&policies)?,
        detail,
        http_request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[test]
    fn party_is_answered_as_a_json_array() {
        let mut d = Decision {
            party: Some(r#"["http://as.test","bob"]"#.into()),
            ..decision(1, "alice", "permit")
        };
        let json = serde_json::to_value(&d).expect("json");
        assert_eq!(json["party"], serde_json::json!(["http://as.test", "bob"]));
        assert_eq!(
            serde_json::from_value::<Decision>(json).expect("back"),
            d.clone()
        );
        assert_eq!(
            d.party_parts(),
            Some(("http://as.test".into(), "bob".into()))
        );
        d.party = None;
        let json = serde_json::to_value(&d).expect("json");
        assert!(json["party"].is_null());
        assert_eq!(serde_json::from_value::<Decision>(json).expect("back"), d);
    }

    fn decision(time: UnixTime, owner: &str, answer: &str) -> Decision {
        Decision {
            time,
            owner: owner.into(),
            client_id: "app".into(),
            party: Some("bob".into()),
            resource_id: "r1".into(),
            scopes: vec!["view".into()],
            granted: if answer == "permit" {
                vec!["view".into()]
            } else {
                vec![]
            },
            answer: answer.into(),
            policies: vec!["spouse".into()],
            detail: None,
            http_request_id: Some("req-1".into()),
        }
    }

    #[test]
    fn listed_per_owner_newest_first() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                for (id, kind) in [("alice", "user"), ("carol", "user")] {
                    tx.conn()?.execute(
                        "INSERT INTO principals (id, kind) VALUES (?1, ?2)",
                        params![id, kind],
                    )?;
                }
                record(tx, &decision(10, "alice", "need_info"))?;
                record(tx, &decision(20, "alice", "permit"))?;
                record(tx, &decision(30, "carol", "request_denied"))
            })
            .expect("record");
        let alice = store
            .read(|c| list_for_owner(c, "alice", 10))
            .expect("list");
        assert_eq!(
            alice,
            vec![
                decision(20, "alice", "permit"),
                decision(10, "alice", "need_info")
            ]
        );
        assert_eq!(
            store
                .read(|c| list_for_owner(c, "alice", 1))
                .expect("list")
                .len(),
            1
        );
        assert!(
            store
                .read(|c| list_for_owner(c, "dave", 10))
                .expect("list")
                .is_empty()
        );
    }
}
