//! Typed transactions: the only way code outside `store` reaches the database.
//!
//! A [`ReadTx`] is a read transaction on a pooled connection; a [`WriteTx`] is an immediate write transaction
//! that holds this process's writer mutex. Neither carries a handle on the [`Store`](super::Store), so work
//! given a transaction cannot open a second one (a nested write would deadlock on the writer mutex). A
//! `WriteTx` keeps nothing unless [`WriteTx::commit`] consumes it; dropping it rolls back. Both return their
//! connection to the pool when dropped. The rusqlite connection inside is private to `store`.

use std::ops::Deref;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use super::{Result, StoreError, release_to};

/// What a request's work asks of its write transaction.
///
/// Most work simply returns `Ok` (commit) or `Err` (roll back). Some protocol errors must still keep their
/// side effects: a replayed code revokes its grant, a ticket that led to `need_info` is burnt and replaced.
/// That work returns `Commit(Err(..))`; this is the one way to say so.
#[derive(Debug)]
#[must_use = "an outcome does nothing until a transaction finishes with it"]
pub enum Outcome<T, E> {
    /// Keep what was written, then answer with the result (a success or a protocol error).
    Commit(std::result::Result<T, E>),
    /// Undo what was written and answer with the error.
    Rollback(E),
}

impl<T, E> Outcome<T, E> {
    /// Keep what was written and answer with `value`.
    pub fn done(value: T) -> Self {
        Self::Commit(Ok(value))
    }

    /// Keep what was written and answer with the protocol error `err`.
    pub fn commit_then(err: E) -> Self {
        Self::Commit(Err(err))
    }
}

/// A read transaction: every query through it sees one snapshot of the database.
#[derive(Debug)]
pub struct ReadTx<'s> {
    /// Always `Some` until dropped.
    conn: Option<Connection>,
    pool: &'s Mutex<Vec<Connection>>,
    /// A transaction is open on `conn` and must be ended before it goes back to the pool.
    open: bool,
}

impl<'s> ReadTx<'s> {
    pub(super) fn begin(conn: Connection, pool: &'s Mutex<Vec<Connection>>) -> Result<Self> {
        Self::start(conn, pool, "BEGIN DEFERRED")
    }

    fn start(conn: Connection, pool: &'s Mutex<Vec<Connection>>, begin: &str) -> Result<Self> {
        let mut this = Self {
            conn: Some(conn),
            pool,
            open: false,
        };
        this.conn()?.execute_batch(begin)?;
        this.open = true;
        Ok(this)
    }

    /// The connection, for the query modules of `store` only.
    pub(super) fn conn(&self) -> Result<&Connection> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("transaction already finished".into()))
    }
}

impl Drop for ReadTx<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.open
            && let Err(err) = conn.execute_batch("ROLLBACK")
        {
            // A connection whose transaction could not be ended is not reused.
            log::error!("cannot end a transaction, dropping its connection: {err}");
            return;
        }
        release_to(self.pool, conn);
    }
}

/// An immediate write transaction. Dropped without [`commit`](Self::commit), it rolls back.
///
/// It reads like a [`ReadTx`] (it dereferences to one), so every query takes either.
#[derive(Debug)]
pub struct WriteTx<'s> {
    // Field order is drop order: the connection goes back to the pool before the writer mutex is released.
    read: ReadTx<'s>,
    _serial: MutexGuard<'s, ()>,
}

impl<'s> WriteTx<'s> {
    pub(super) fn begin(
        conn: Connection,
        pool: &'s Mutex<Vec<Connection>>,
        serial: MutexGuard<'s, ()>,
    ) -> Result<Self> {
        Ok(Self {
            read: ReadTx::start(conn, pool, "BEGIN IMMEDIATE")?,
            _serial: serial,
        })
    }

    /// Keeps everything written through this transaction.
    pub fn commit(mut self) -> Result<()> {
        self.read.conn()?.execute_batch("COMMIT")?;
        self.read.open = false;
        Ok(())
    }

    /// Commits or rolls back as `outcome` says and returns its answer. A failed commit is a storage error.
    pub fn finish<T, E>(self, outcome: Outcome<T, E>) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        match outcome {
            Outcome::Commit(answer) => {
                self.commit()?;
                answer
            }
            Outcome::Rollback(err) => Err(err),
        }
    }
}

impl<'s> Deref for WriteTx<'s> {
    type Target = ReadTx<'s>;

    fn deref(&self) -> &ReadTx<'s> {
        &self.read
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::temp_store;
    use super::*;

    fn count(store: &super::super::Store) -> i64 {
        store
            .read(|r| {
                Ok(r.conn()?
                    .query_row("SELECT count(*) FROM principals", [], |row| row.get(0))?)
            })
            .expect("count")
    }

    fn insert(tx: &WriteTx<'_>, id: &str) {
        tx.conn()
            .expect("conn")
            .execute(
                "INSERT INTO principals (id, kind) VALUES (?1, 'user')",
                [id],
            )
            .expect("insert");
    }

    #[test]
    fn dropped_write_rolls_back_and_commit_keeps() {
        let (_dir, store) = temp_store();
        {
            let tx = store.begin_write().expect("begin");
            insert(&tx, "dropped");
        }
        assert_eq!(count(&store), 0);
        let tx = store.begin_write().expect("begin");
        insert(&tx, "kept");
        tx.commit().expect("commit");
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn outcome_commit_keeps_effects_of_an_error_and_rollback_does_not() {
        let (_dir, store) = temp_store();
        let kept: std::result::Result<(), StoreError> = store.write_outcome(|tx| {
            insert(tx, "burnt");
            Ok(Outcome::commit_then(StoreError::Conflict("refused".into())))
        });
        assert!(kept.is_err());
        assert_eq!(count(&store), 1);
        let undone: std::result::Result<(), StoreError> = store.write_outcome(|tx| {
            insert(tx, "undone");
            Ok(Outcome::Rollback(StoreError::Conflict("refused".into())))
        });
        assert!(undone.is_err());
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn connections_return_to_the_pool_after_rollback() {
        let (_dir, store) = temp_store();
        for _ in 0..40 {
            let tx = store.begin_write().expect("begin");
            insert(&tx, "again");
        }
        // Each rolled-back connection was reused with no transaction left open on it.
        let tx = store.begin_write().expect("begin");
        insert(&tx, "finally");
        tx.commit().expect("commit");
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn a_read_sees_one_snapshot() {
        let (_dir, store) = temp_store();
        let reader = store.begin_read().expect("read");
        let before: i64 = reader
            .conn()
            .expect("conn")
            .query_row("SELECT count(*) FROM principals", [], |r| r.get(0))
            .expect("count");
        let tx = store.begin_write().expect("begin");
        insert(&tx, "later");
        tx.commit().expect("commit");
        let after: i64 = reader
            .conn()
            .expect("conn")
            .query_row("SELECT count(*) FROM principals", [], |r| r.get(0))
            .expect("count");
        assert_eq!(before, after);
        drop(reader);
        assert_eq!(count(&store), 1);
    }
}
