//! Typed transactions: the only way code outside `store` reaches the database.
//!
//! A [`ReadTx`] is a read transaction on a pooled connection, returned to the pool when dropped. A [`WriteTx`]
//! is one request's part of a write transaction on the single [`Writer`]'s connection. Neither carries a
//! handle on the [`Store`](super::Store), so work given a transaction cannot open a second one (a nested write
//! would wait for itself). The rusqlite connection inside is private to `store`.
//!
//! Group commit: the writer runs one request's work at a time, each inside its own `SAVEPOINT`, so one
//! request's rollback never undoes another's. When a request's work ends and others are already waiting for
//! the writer, the transaction stays open for them; the request whose work ends with nobody waiting (or
//! with the batch full) commits the whole batch once. Every request whose work was kept is answered only
//! after that commit, with its result: a crash loses no acknowledged write, and a failed commit answers every
//! request of the batch with an error.
//!
//! What this module must never do: answer a kept write before its commit, let a rolled-back request undo
//! another's writes, or leave a transaction open on a connection with nobody to end it.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

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
        let mut this = Self {
            conn: Some(conn),
            pool,
            open: false,
        };
        run(this.conn()?, "BEGIN DEFERRED")?;
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
            && let Err(err) = run(&conn, "ROLLBACK")
        {
            // A connection whose transaction could not be ended is not reused.
            log::error!("cannot end a transaction, dropping its connection: {err}");
            return;
        }
        release_to(self.pool, conn);
    }
}

/// How many requests' writes one transaction carries at most: the first ones are not kept waiting for ever
/// under a steady queue.
const MAX_BATCH: usize = 64;

/// The single writer: one connection and the batch (transaction) open on it. Requests take the connection one
/// at a time; see the module documentation for when a batch commits.
#[derive(Debug, Default)]
pub(super) struct Writer {
    state: Mutex<WriterState>,
    /// Signalled when the connection is handed back.
    free: Condvar,
    /// Transactions committed, for tests and diagnostics.
    commits: AtomicU64,
}

#[derive(Debug, Default)]
struct WriterState {
    /// The connection, while nobody holds it (`None` before first use, or after a connection had to be dropped).
    conn: Option<Connection>,
    /// A request holds the connection.
    busy: bool,
    /// Requests waiting for the connection.
    queued: usize,
    /// The batch whose transaction is open on the connection, if any.
    batch: Option<Arc<Batch>>,
    /// Requests whose work the open batch carries.
    members: usize,
}

/// One transaction shared by the requests that wrote in it.
#[derive(Debug, Default)]
struct Batch {
    /// Something went wrong that leaves the batch unfit to commit: it is rolled back.
    failed: AtomicBool,
    /// How the batch ended: `None` while it is open.
    ended: Mutex<Option<std::result::Result<(), String>>>,
    done: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a thread panicked holding it; the state it guards stays consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs one statement without rows, prepared once per connection.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

impl Batch {
    fn end(&self, result: std::result::Result<(), String>) {
        *lock(&self.ended) = Some(result);
        self.done.notify_all();
    }

    /// Waits until the batch is committed or rolled back.
    fn wait(&self) -> Result<()> {
        let mut ended = lock(&self.ended);
        loop {
            match &*ended {
                Some(Ok(())) => return Ok(()),
                Some(Err(cause)) => return Err(StoreError::Batch(cause.clone())),
                None => {
                    ended = self
                        .done
                        .wait(ended)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            }
        }
    }
}

impl Writer {
    /// Takes the connection (waiting for it), joins the open batch or begins one, and opens this request's
    /// savepoint.
    pub(super) fn begin<'s>(
        &'s self,
        pool: &'s Mutex<Vec<Connection>>,
        connect: impl FnOnce() -> Result<Connection>,
    ) -> Result<WriteTx<'s>> {
        let mut state = lock(&self.state);
        state.queued += 1;
        crate::ops::metrics::WRITE_QUEUE_DEPTH.inc();
        while state.busy {
            state = self
                .free
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.queued -= 1;
        crate::ops::metrics::WRITE_QUEUE_DEPTH.dec();
        state.busy = true;
        let conn = state.conn.take();
        let open = state.batch.clone();
        drop(state);
        // From here until `hand_back` the connection is this thread's alone.
        let conn = match conn {
            Some(conn) => conn,
            None => match connect() {
                Ok(conn) => conn,
                Err(err) => {
                    self.hand_back(None, open);
                    return Err(err);
                }
            },
        };
        let batch = match open {
            Some(batch) => batch,
            None => {
                if let Err(err) = run(&conn, "BEGIN IMMEDIATE") {
                    self.hand_back(Some(conn), None);
                    return Err(err.into());
                }
                Arc::new(Batch::default())
            }
        };
        let mut tx = WriteTx {
            read: ReadTx {
                conn: Some(conn),
                pool,
                // The transaction belongs to the batch, not to this request.
                open: false,
            },
            writer: self,
            batch,
            savepoint: false,
        };
        run(tx.read.conn()?, "SAVEPOINT request")?;
        tx.savepoint = true;
        Ok(tx)
    }

    /// Gives the connection back to the next request, with `open` still open on it (or no batch).
    fn hand_back(&self, conn: Option<Connection>, open: Option<Arc<Batch>>) {
        let mut state = lock(&self.state);
        state.conn = conn;
        state.batch = open;
        state.busy = false;
        drop(state);
        self.free.notify_one();
    }

    /// A request's work in `batch` is over (its savepoint released or rolled back): hands the connection on
    /// with the batch open if others wait for it, or else ends the batch.
    fn leave(&self, conn: Connection, batch: Arc<Batch>) {
        let mut state = lock(&self.state);
        state.members += 1;
        let failed = batch.failed.load(Ordering::Acquire);
        if !failed && state.queued > 0 && state.members < MAX_BATCH {
            drop(state);
            self.hand_back(Some(conn), Some(batch));
            return;
        }
        state.members = 0;
        drop(state);
        let ended = if failed {
            Err("an earlier statement of the batch failed".to_owned())
        } else {
            crate::ops::metrics::COMMIT_SECONDS
                .time(|| run(&conn, "COMMIT"))
                .map_err(|err| err.to_string())
        };
        if ended.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        let conn = if conn.is_autocommit() || run(&conn, "ROLLBACK").is_ok() {
            Some(conn)
        } else {
            log::error!("cannot end the write transaction, dropping its connection");
            None
        };
        if let Err(cause) = &ended {
            log::error!("a write batch was rolled back: {cause}");
        }
        batch.end(ended);
        self.hand_back(conn, None);
    }

    /// Transactions committed so far.
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Requests waiting for the connection.
    #[cfg(test)]
    fn queued(&self) -> usize {
        lock(&self.state).queued
    }
}

/// One request's part of a write transaction. Dropped without [`commit`](Self::commit), its writes are rolled
/// back (and only its own).
///
/// It reads like a [`ReadTx`] (it dereferences to one), so every query takes either.
#[derive(Debug)]
pub struct WriteTx<'s> {
    /// Holds the writer's connection until the request's work is over.
    read: ReadTx<'s>,
    writer: &'s Writer,
    batch: Arc<Batch>,
    /// This request's savepoint is open.
    savepoint: bool,
}

impl WriteTx<'_> {
    /// Keeps everything written through this transaction. Returns once the batch holding it has committed: an
    /// error if it could not.
    pub fn commit(mut self) -> Result<()> {
        self.leave(true)?;
        self.batch.wait()
    }

    /// Commits or rolls back as `outcome` says and returns its answer once the batch ended. A failed commit is
    /// a storage error.
    pub fn finish<T, E>(mut self, outcome: Outcome<T, E>) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        match outcome {
            Outcome::Commit(answer) => {
                self.commit()?;
                answer
            }
            Outcome::Rollback(err) => {
                // The answer may rest on what earlier requests of the batch wrote: it waits for their commit,
                // but is this request's own error whatever became of it.
                if self.leave(false).is_ok() {
                    let _ = self.batch.wait();
                }
                Err(err)
            }
        }
    }

    /// Ends this request's savepoint (kept or undone) and hands the connection on; the batch may end here.
    fn leave(&mut self, keep: bool) -> Result<()> {
        let Some(conn) = self.read.conn.take() else {
            return Err(StoreError::Corrupt("transaction already finished".into()));
        };
        let mut result = Ok(());
        if self.savepoint {
            self.savepoint = false;
            let sql = if keep {
                "RELEASE request"
            } else {
                "ROLLBACK TO request"
            };
            result = run(&conn, sql).and_then(|()| {
                if keep {
                    Ok(())
                } else {
                    run(&conn, "RELEASE request")
                }
            });
        }
        // SQLite ends the whole transaction by itself on some errors (a full disk, an I/O error): nothing
        // of the batch is left to commit.
        if result.is_err() || conn.is_autocommit() {
            self.batch.failed.store(true, Ordering::Release);
        }
        self.writer.leave(conn, self.batch.clone());
        Ok(result?)
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if self.read.conn.is_some()
            && let Err(err) = self.leave(false)
        {
            log::error!("cannot roll back a write: {err}");
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

    /// Starts `work` as a write on another thread and returns once it waits for the writer held by the caller.
    fn queue_behind<'s, T: Send + 's>(
        scope: &'s std::thread::Scope<'s, '_>,
        store: &'s super::super::Store,
        work: impl FnOnce(&super::super::Store) -> T + Send + 's,
    ) -> std::thread::ScopedJoinHandle<'s, T> {
        let before = store.writer.queued();
        let handle = scope.spawn(move || work(store));
        while store.writer.queued() == before {
            std::thread::yield_now();
        }
        handle
    }

    #[test]
    fn writes_waiting_together_commit_once_and_a_rollback_undoes_only_its_own() {
        let (_dir, store) = temp_store();
        let commits = store.writer.commits();
        std::thread::scope(|scope| {
            let first = store.begin_write().expect("begin");
            insert(&first, "kept");
            let second = queue_behind(scope, &store, |store| {
                let answer: std::result::Result<(), StoreError> = store.write_outcome(|tx| {
                    insert(tx, "undone");
                    Ok(Outcome::Rollback(StoreError::Conflict("refused".into())))
                });
                answer
            });
            first.commit().expect("commit");
            assert!(second.join().expect("join").is_err());
        });
        assert_eq!(count(&store), 1, "the rollback undid only its own row");
        assert_eq!(store.writer.commits(), commits + 1, "one commit for both");
    }

    #[test]
    fn a_later_write_in_the_batch_sees_the_earlier_and_an_answer_comes_after_the_commit() {
        let (_dir, store) = temp_store();
        std::thread::scope(|scope| {
            let first = store.begin_write().expect("begin");
            insert(&first, "a");
            let second = queue_behind(scope, &store, |store| {
                store.write(|tx| {
                    let seen: i64 = tx.conn()?.query_row(
                        "SELECT count(*) FROM principals WHERE id = 'a'",
                        [],
                        |r| r.get(0),
                    )?;
                    insert(tx, "b");
                    Ok::<_, StoreError>(seen)
                })
            });
            first.commit().expect("commit");
            // Acknowledged: committed, so a fresh read on another connection sees it.
            let visible: i64 = store
                .read(|r| {
                    Ok(r.conn()?.query_row(
                        "SELECT count(*) FROM principals WHERE id = 'a'",
                        [],
                        |row| row.get(0),
                    )?)
                })
                .expect("read");
            assert_eq!(visible, 1);
            assert_eq!(second.join().expect("join").expect("second"), 1);
        });
        assert_eq!(count(&store), 2);
    }

    #[test]
    fn a_failing_commit_answers_every_write_of_the_batch_with_an_error() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                // Checked at commit only: the batch's commit fails, not the statement.
                tx.conn()?.execute_batch(
                    "CREATE TABLE later (who TEXT REFERENCES principals(id) DEFERRABLE INITIALLY DEFERRED)",
                )?;
                Ok::<_, StoreError>(())
            })
            .expect("table");
        std::thread::scope(|scope| {
            let first = store.begin_write().expect("begin");
            insert(&first, "innocent");
            let second = queue_behind(scope, &store, |store| {
                store.write(|tx| {
                    tx.conn()?
                        .execute("INSERT INTO later (who) VALUES ('nobody')", [])?;
                    Ok::<_, StoreError>(())
                })
            });
            assert!(matches!(first.commit(), Err(StoreError::Batch(_))));
            assert!(second.join().expect("join").is_err());
        });
        assert_eq!(count(&store), 0, "nothing of the batch was kept");
        // The writer is usable again.
        let tx = store.begin_write().expect("begin");
        insert(&tx, "after");
        tx.commit().expect("commit");
        assert_eq!(count(&store), 1);
    }
}
