//! SQLite storage: the only module that talks to rusqlite.
//!
//! The database lives in the data directory, in WAL mode with a busy timeout and foreign keys on, so the admin
//! CLI can change clients and users while the server runs. Migrations are versioned with `PRAGMA user_version`
//! and applied at open. Every multi-step change runs in one write transaction through [`Store::write`]; a
//! closure that returns an error rolls the whole change back. Writes waiting for the single writer at the same
//! time share one transaction, each in its own savepoint, and are answered after its commit.
//!
//! Secrets never reach this module in clear: callers pass SHA-256 hashes of tokens, codes, tickets and client
//! secrets, and argon2 hashes of passwords.

pub mod apps;
pub mod auth;
pub mod clients;
#[cfg(test)]
pub(crate) mod contract;
pub mod decisions;
mod health;
pub mod interaction;
pub mod keys;
pub mod oauth;
pub mod outbox;
pub mod pcts;
pub mod policies;
pub mod purge;
pub mod requests;
pub mod resources;
pub mod rpts;
mod staged;
pub mod tickets;
pub mod tokens;
pub mod traits;
mod tx;
pub mod upstream;
pub mod users;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

pub use interaction::InteractionStore;
pub use purge::{Batch, Purge, PurgeStore};
pub use staged::{Applied, Staged};
pub use traits::{
    ConnectedAppRead, DecisionLog, DecisionRead, OutboxRead, OutboxStore, PctRead, PctStore,
    PolicyRead, PolicyStore, RequestRead, RequestStore, ResourceRead, ResourceStore, RptRead,
    RptStore, TicketStore,
};
pub use tx::{Outcome, ReadTx, WriteTx};
pub use upstream::UpstreamStore;

/// The file name of the database inside the data directory.
pub const DB_FILE: &str = "uma-cedar.db";

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_policies.sql"),
    include_str!("migrations/0003_client_auth_method.sql"),
    include_str!("migrations/0004_requests.sql"),
    include_str!("migrations/0005_claims_interaction.sql"),
    include_str!("migrations/0006_outbox.sql"),
    include_str!("migrations/0007_purge.sql"),
    include_str!("migrations/0009_upstream_signin.sql"),
    include_str!("migrations/0010_operations.sql"),
];

/// Read connections kept for reuse per core. The server runs as many blocking threads per core (one HTTP
/// worker per core, each with this many), and only they read, so under load every read finds a pooled
/// connection: one opened fresh sets its pragmas and parses the schema again, and starts with an empty statement
/// cache, which costs more than most requests.
pub const CONNECTIONS_PER_CORE: usize = 8;

/// Idle read connections kept at most: one per blocking thread of the server, and a few for the rest (the
/// housekeeping round, the webhook delivery thread).
fn pool_size() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        cores.saturating_mul(CONNECTIONS_PER_CORE).saturating_add(8)
    })
}

/// Prepared statements kept per connection. Every query module prepares its statements through the cache,
/// so a request parses no SQL once its connection has seen the statement; this is more than the distinct
/// statements the store has, so none is ever evicted.
const STATEMENT_CACHE: usize = 256;

/// Page cache per connection, in KiB.
const PAGE_CACHE_KIB: i64 = 4 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot use data directory `{path}`: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the database at `{path}` has schema version {found}, newer than this build knows ({known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    /// The write transaction this request's work was part of could not commit: nothing of it was kept.
    #[error("the write transaction was rolled back: {0}")]
    Batch(String),
    /// A uniqueness rule was broken, for example an identifier already in use.
    #[error("{0}")]
    Conflict(String),
    /// Staged work asked for a write that cannot be staged; it is run again in a write transaction.
    #[error("`{0}` cannot be staged")]
    Unstaged(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on the database with a pool of open connections.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
    /// The single writer: this process's writes queue for its connection before they reach SQLite (waiting
    /// on a condition variable wakes at once, while SQLite's busy handler sleeps and retries), and the writes
    /// waiting together commit together. Other processes (the admin CLI) still meet the busy timeout.
    writer: tx::Writer,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and applies pending migrations.
    pub fn open(data_dir: &Path) -> Result<Self> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let store = Self {
            path,
            pool: Mutex::new(Vec::new()),
            writer: tx::Writer::default(),
        };
        let conn = store.connect()?;
        store.migrate(&conn)?;
        store.release(conn);
        // The WAL and shared-memory files hold the same data; a data directory made by an older version may
        // have them readable by others (new ones are created under the umask set by the CLI).
        for suffix in ["", "-wal", "-shm"] {
            let mut name = store.path.clone().into_os_string();
            name.push(suffix);
            restrict_file(Path::new(&name));
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        // Everything a connection needs is set here, once, when it is opened: pooled connections keep it.
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Negative: KiB rather than pages.
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Plans are fixed when a statement is prepared. Without this, SQLite 3.54 re-prepares a cached join
        // (`tokens` with `grants`, ...) at the first step of every transaction, which cost every read a parse;
        // the store's queries do not depend on bound values for their plans (no LIKE on parameters, partial
        // indexes named with literals).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        Ok(conn)
    }

    fn migrate(&self, conn: &Connection) -> Result<()> {
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        for (version, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(found).unwrap_or(0))
        {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(version + 1).unwrap_or(i64::MAX),
            )?;
            tx.commit()?;
            log::info!("database migrated to schema version {}", version + 1);
        }
        Ok(())
    }

    fn acquire(&self) -> Result<Connection> {
        let pooled = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        match pooled {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn release(&self, conn: Connection) {
        release_to(&self.pool, conn);
    }

    /// Opens a read transaction on a pooled connection: every query through it sees one snapshot. Dropping
    /// it ends the transaction and returns the connection to the pool.
    pub fn begin_read(&self) -> Result<ReadTx<'_>> {
        ReadTx::begin(self.acquire()?, &self.pool)
    }

    /// Opens this request's part of a write transaction (see [`WriteTx`] for group commit). Nothing is kept
    /// unless [`WriteTx::commit`] is called: dropping the value rolls back this request's writes.
    pub fn begin_write(&self) -> Result<WriteTx<'_>> {
        self.writer.begin(&self.pool, || self.connect())
    }

    /// Runs read-only work in one read transaction.
    pub fn read<T>(&self, work: impl FnOnce(&ReadTx<'_>) -> Result<T>) -> Result<T> {
        let reader = self.begin_read()?;
        work(&reader)
    }

    /// Runs `work` in one immediate transaction: committed when it returns `Ok`, rolled back otherwise.
    /// The closure gets only the transaction.
    pub fn write<T, E>(&self, work: impl FnOnce(&WriteTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = self.begin_write()?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `work` in one immediate transaction and does what its [`Outcome`] says: the way to keep the side
    /// effects of a request that still ends in a protocol error (a burnt ticket, a revoked replayed grant).
    /// A storage error from `work` rolls back.
    pub fn write_outcome<T, E>(
        &self,
        work: impl FnOnce(&WriteTx<'_>) -> Result<Outcome<T, E>, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = self.begin_write()?;
        let outcome = work(&tx)?;
        tx.finish(outcome)
    }
}

impl Store {
    /// Runs `work` on a read snapshot that records the writes it asks for (a [`Staged`] transaction), then
    /// applies them in one short write transaction as its [`Outcome`] says: the way to decide and sign without
    /// holding the writer. A ticket the work consumed is consumed again conditionally when applied; if it was
    /// spent meanwhile, or the work asked for a write that cannot be staged, nothing is kept and the answer is
    /// [`Applied::Retry`]. Work that rolls back, or writes nothing, never reaches the writer.
    pub fn write_staged<T, E>(
        &self,
        work: impl FnOnce(&Staged<'_>) -> Result<Outcome<T, E>, E>,
    ) -> Result<Applied<T, E>, E>
    where
        E: From<StoreError>,
    {
        let staged = Staged::new(self.begin_read()?);
        let result = work(&staged);
        // The snapshot ends here, before the writer is taken.
        let Some(ops) = staged.finish() else {
            return Ok(Applied::Retry);
        };
        let answer = match result? {
            Outcome::Rollback(err) => return Ok(Applied::Answer(Err(err))),
            Outcome::Commit(answer) => answer,
        };
        if ops.is_empty() {
            return Ok(Applied::Answer(answer));
        }
        let tx = self.begin_write()?;
        if !staged::apply(&tx, &ops)? {
            // Dropping `tx` rolls back whatever was applied before the spent ticket.
            return Ok(Applied::Retry);
        }
        tx.commit()?;
        Ok(Applied::Answer(answer))
    }
}

/// Files created from here on are readable and writable by this user only: the database, its WAL and
/// shared-memory files hold the private signing keys, and SQLite creates the latter two itself. Call it
/// before opening a store (the server and the admin commands both do).
pub fn restrict_new_files() {
    #[cfg(unix)]
    {
        use rustix::fs::Mode;
        rustix::process::umask(Mode::from_raw_mode(0o077));
    }
}

/// Returns `conn` to `pool` unless the pool is full.
fn release_to(pool: &Mutex<Vec<Connection>>, conn: Connection) {
    if let Ok(mut pool) = pool.lock()
        && pool.len() < pool_size()
    {
        pool.push(conn);
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let wrap = |source| StoreError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(wrap)?;
    }
    let meta = fs::metadata(dir).map_err(wrap)?;
    if !meta.is_dir() {
        return Err(wrap(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    Ok(())
}

/// The database holds private keys: keep it readable by its owner only.
fn restrict_file(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Decodes a JSON column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Encodes a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// True when `err` is a UNIQUE or PRIMARY KEY violation.
/// Storage failures reach the protocol as an opaque `server_error`: the cause goes to the log only.
impl From<StoreError> for crate::error::OAuthError {
    fn from(err: StoreError) -> Self {
        match err {
            // Not a failure: the staged attempt is discarded and the work runs again (see `Store::write_staged`).
            StoreError::Unstaged(_) => Self::new(
                crate::error::ErrorCode::ServerError,
                "the server could not complete the request",
            ),
            err => Self::server_error(&err),
        }
    }
}

pub(crate) fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A public client with nothing registered but its id, for tests that need a client row.
    pub fn public_client(id: &str) -> clients::Client {
        clients::Client::for_tests(id, crate::protocol::types::AuthMethod::None, "")
    }

    /// A local account with nothing but its name, for tests that need a user row (its password is never checked).
    pub fn test_user(username: &str) -> users::User {
        users::User {
            username: username.into(),
            password_hash: "$argon2id$unused".into(),
            email: None,
            name: None,
            created_at: 0,
        }
    }

    /// A store in a fresh temporary directory; keep the directory alive as long as the store.
    pub fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("data")).expect("open store");
        (dir, store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_join_is_not_prepared_again_in_each_read_transaction() {
        let (_dir, store) = testing::temp_store();
        let sql =
            "SELECT t.used FROM tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = ?1";
        let mut reprepared = 0;
        for i in 0..5 {
            reprepared = store
                .read(|r| {
                    let mut stmt = r.conn()?.prepare_cached(sql)?;
                    let mut rows = stmt.query([format!("h{i}")])?;
                    while rows.next()?.is_some() {}
                    drop(rows);
                    Ok(stmt.get_status(rusqlite::StatementStatus::RePrepare))
                })
                .expect("read");
        }
        assert_eq!(reprepared, 0, "the statement was parsed again");
    }

    #[test]
    fn open_migrates_and_reopen_keeps_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        {
            let store = Store::open(&data).expect("open");
            store
                .write(|tx| {
                    tx.conn()?.execute(
                        "INSERT INTO principals (id, kind) VALUES ('alice', 'user')",
                        [],
                    )?;
                    Ok::<_, StoreError>(())
                })
                .expect("insert");
        }
        let store = Store::open(&data).expect("reopen");
        let count: i64 = store
            .read(|c| {
                Ok(c.conn()?
                    .query_row("SELECT count(*) FROM principals", [], |r| r.get(0))?)
            })
            .expect("count");
        assert_eq!(count, 1);
        let version: i64 = store
            .read(|c| {
                Ok(c.conn()?
                    .pragma_query_value(None, "user_version", |r| r.get(0))?)
            })
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    /// Version 3 makes `auth_method` agree with the secret on rows written before it, and keeps it so.
    #[test]
    fn migration_3_repairs_client_auth_methods() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        create_private_dir(&data).expect("dir");
        {
            let conn = Connection::open(data.join(DB_FILE)).expect("open");
            for sql in &MIGRATIONS[..2] {
                conn.execute_batch(sql).expect("old migration");
            }
            conn.pragma_update(None, "user_version", 2)
                .expect("version");
            conn.execute_batch(
                "INSERT INTO principals (id, kind) VALUES ('pub', 'client'), ('conf', 'client'), ('ok', 'client');
                 INSERT INTO clients (client_id, secret_hash, auth_method, created_at) VALUES
                     ('pub', NULL, 'client_secret_post', 0),
                     ('conf', 'h', 'none', 0),
                     ('ok', 'h', 'client_secret_post', 0);",
            )
            .expect("old rows");
        }
        let store = Store::open(&data).expect("migrate");
        let method = |id: &str| {
            store
                .read(|c| clients::get(c, id))
                .expect("get")
                .expect("present")
                .auth_method
        };
        use crate::protocol::types::AuthMethod;
        assert_eq!(method("pub"), AuthMethod::None);
        assert_eq!(method("conf"), AuthMethod::ClientSecretBasic);
        assert_eq!(
            method("ok"),
            AuthMethod::ClientSecretPost,
            "a consistent row is kept"
        );
        let err = store
            .write(|tx| {
                tx.conn()?.execute(
                    "UPDATE clients SET auth_method = 'none' WHERE client_id = 'ok'",
                    [],
                )?;
                Ok::<_, StoreError>(())
            })
            .expect_err("trigger");
        assert!(err.to_string().contains("exactly when"), "{err}");
    }

    #[test]
    fn failed_write_rolls_back() {
        let (_dir, store) = testing::temp_store();
        let result: Result<()> = store.write(|tx| {
            tx.conn()?.execute(
                "INSERT INTO principals (id, kind) VALUES ('bob', 'user')",
                [],
            )?;
            Err(StoreError::Conflict("stop".into()))
        });
        assert!(result.is_err());
        let count: i64 = store
            .read(|c| {
                Ok(c.conn()?
                    .query_row("SELECT count(*) FROM principals", [], |r| r.get(0))?)
            })
            .expect("count");
        assert_eq!(count, 0);
    }

    #[test]
    fn wal_and_foreign_keys_are_on() {
        let (_dir, store) = testing::temp_store();
        let (mode, fk): (String, i64) = store
            .read(|c| {
                Ok((
                    c.conn()?
                        .pragma_query_value(None, "journal_mode", |r| r.get(0))?,
                    c.conn()?
                        .pragma_query_value(None, "foreign_keys", |r| r.get(0))?,
                ))
            })
            .expect("pragmas");
        assert_eq!(mode, "wal");
        assert_eq!(fk, 1);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        drop(Store::open(&data).expect("open"));
        let conn = Connection::open(data.join(DB_FILE)).expect("raw open");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(conn);
        assert!(matches!(
            Store::open(&data),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
