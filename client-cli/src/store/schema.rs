//! The local schema: the SQL files under `client-cli/migrations/`, applied in order, each once, and recorded in
//! `schema_version`. A store written by a newer `xf` is refused rather than guessed at.

use rusqlite::{TransactionBehavior, params};

use super::{Store, StoreError, now};

/// The migrations of the local schema, in order: (version, SQL).
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (2, include_str!("../../migrations/0002_trip_drafts.sql")),
    (3, include_str!("../../migrations/0003_account.sql")),
    (4, include_str!("../../migrations/0004_dictionaries.sql")),
    (
        5,
        include_str!("../../migrations/0005_dictionaries_checked.sql"),
    ),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

impl Store {
    pub(super) fn migrate(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version INTEGER PRIMARY KEY,
                 applied_at TEXT NOT NULL
             )",
        )?;
        for &(version, sql) in MIGRATIONS {
            // IMMEDIATE: two processes opening a new file at once apply each migration once.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )?;
            if current > SCHEMA_VERSION {
                return Err(StoreError::TooNew {
                    found: current,
                    known: SCHEMA_VERSION,
                });
            }
            if version <= current {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
                params![version, now()],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )?)
    }
}
