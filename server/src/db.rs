//! Pools, migrations and database-wide locks.

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    Connection, PgConnection, PgPool, Postgres, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub fn options_from_url(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    PgConnectOptions::from_str(url)
}

pub async fn pool(options: PgConnectOptions, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        // A request waits this long for a connection before answering UNAVAILABLE.
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

pub async fn lock_for_seeding(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('xinfang.seed'))")
        .execute(conn)
        .await?;
    Ok(())
}

/// The transaction of a batch of writes (the operations of a Push). Each write runs in a savepoint of it, so
/// a refused operation is undone alone, and the batch commits, and waits for its WAL flush, once. The
/// online methods find the batch in their request's extensions, so an operation pushed offline runs exactly
/// the code of the same call made online.
#[derive(Clone)]
pub struct Batch(Arc<Mutex<Transaction<'static, Postgres>>>);

/// A write's hold on its batch, if it belongs to one. Writes of a batch run one after another; holding the
/// batch for the whole write keeps it that way.
pub type BatchHold = Option<OwnedMutexGuard<Transaction<'static, Postgres>>>;

impl Batch {
    pub async fn begin(pool: &PgPool) -> Result<Batch, sqlx::Error> {
        Ok(Batch(Arc::new(Mutex::new(pool.begin().await?))))
    }

    pub async fn lock(&self) -> OwnedMutexGuard<Transaction<'static, Postgres>> {
        Arc::clone(&self.0).lock_owned().await
    }

    /// Holds the batch of a request, if it has one.
    pub async fn hold(batch: Option<&Batch>) -> BatchHold {
        match batch {
            Some(b) => Some(b.lock().await),
            None => None,
        }
    }

    /// Commits the batch. Every clone (the requests that carried it) must be gone by then.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match Arc::try_unwrap(self.0) {
            Ok(tx) => tx.into_inner().commit().await,
            Err(_) => Err(sqlx::Error::Protocol(
                "a batch was committed while a write still held it".into(),
            )),
        }
    }
}

/// A write's transaction: a savepoint of its batch, or a transaction of its own.
pub async fn begin<'a>(
    pool: &PgPool,
    hold: &'a mut BatchHold,
) -> Result<Transaction<'a, Postgres>, sqlx::Error> {
    match hold {
        Some(outer) => {
            let conn: &mut PgConnection = outer;
            conn.begin().await
        }
        None => pool.begin().await,
    }
}
