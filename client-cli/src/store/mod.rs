//! The local store of a field laptop: one SQLite file per profile (account) holding the account's settings,
//! the outbox of operations captured offline, the local copies of the records in the account's scope, and
//! the pull cursor.
//!
//! The file is in WAL mode with `synchronous=FULL`: an operation the user was told is queued survives a power
//! cut. Its schema comes from the SQL files under `migrations/`, applied in order and recorded in
//! `schema_version`. Outbox rows are never deleted; every state change is checked against
//! [`OpState::may_become`], so nothing is dropped silently.
//!
//! One [`Store`] type with its methods in one file per job, each re-exported here, so callers name
//! `store::Store`, `store::OpState`, … whatever file holds them:
//!
//! - `schema`: the migrations and the schema version;
//! - `profile`: where a profile's file lives, and the account it talks to ([`Settings`]);
//! - `op`: what an operation is to the outbox: its states and transitions, kind, subject and target;
//! - `outbox`: queueing, the push's bookkeeping, and the user's fixes and discards;
//! - `pulled`: the local copies of cases, visits, letters and trips, and saving a pulled page;
//! - `sync_state`: the pull cursor, and the lock that one sync of a store holds;
//! - `drafts`: trips under way, kept out of the outbox until they are closed.

use std::{
    fmt, fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use rusqlite::Connection;

mod drafts;
mod op;
mod outbox;
mod profile;
mod pulled;
mod schema;
mod sync_state;

pub use drafts::{DraftState, TripDraft};
pub use op::{OpState, is_transient, op_kind, op_subject, op_target};
pub use outbox::{OutboxEntry, ResultTally};
pub use profile::{Account, DictionariesState, Settings, age};
pub use pulled::PageTally;
pub use schema::{MIGRATIONS, SCHEMA_VERSION};
pub use sync_state::SyncLock;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("local store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("local store {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the local store was written by a newer xf (schema {found}; this one knows up to {known}): update xf"
    )]
    TooNew { found: i64, known: i64 },
    #[error("a stored operation or record cannot be decoded: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("no operation {0} in the outbox")]
    NoSuchOp(String),
    #[error("no trip draft {0:?}")]
    NoSuchDraft(String),
    #[error("trip draft {id} is {state}: only an open draft is closed or discarded")]
    DraftNotOpen { id: String, state: DraftState },
    #[error("{0:?} matches more than one {1}; give more characters")]
    Ambiguous(String, &'static str),
    #[error("operation {op_id} is {from}; it cannot become {to}")]
    Transition {
        op_id: String,
        from: OpState,
        to: OpState,
    },
    #[error("invalid profile name {0:?}: use letters, digits, '-' and '_'")]
    ProfileName(String),
    #[error("this user has no data directory; pass the store's path instead")]
    NoDataDir,
    #[error("{0}")]
    Invalid(String),
}

/// Now, as stored in the `*_at` columns (RFC 3339, UTC, milliseconds).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating it when missing) the store at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            // Private: the WAL next to the database holds the token too.
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(io_err)?;
        }
        let conn = Connection::open(&path)?;
        // The file holds the account's token: readable by its owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io_err)?;
        }
        let mut store = Store { conn, path };
        store.conn.busy_timeout(Duration::from_secs(30))?;
        let mode: String =
            store
                .conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!(
                "the local store could not switch to WAL mode (got {mode})"
            )));
        }
        store.conn.pragma_update(None, "synchronous", "FULL")?;
        store.conn.pragma_update(None, "foreign_keys", "ON")?;
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for diagnostics and tests.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(test)]
mod tests;
