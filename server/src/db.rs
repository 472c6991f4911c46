//! Pools, migrations and database-wide locks.

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    Connection, PgConnection, PgPool, Postgres, Transaction,
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::AppError;

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

/// A transaction of the service's own.
pub type Tx = Transaction<'static, Postgres>;

/// Runs `work` in a transaction of its own and commits it; when it loses a race to a concurrent transaction
/// (a deadlock or a serialization failure, which PostgreSQL rolled back whole) it runs again, up to
/// [`RACE_ATTEMPTS`] times. `work` gets the transaction and hands it back with its result, so that nothing but
/// this function commits:
///
/// ```text
/// db::transaction(&pool, |mut tx| async move {
///     let out = command(…, &mut tx).await?;
///     Ok((out, tx))
/// })
/// ```
///
/// A pushed operation runs the same command in a savepoint of its push's transaction instead.
pub async fn transaction<T, F, Fut>(pool: &PgPool, mut work: F) -> Result<T, AppError>
where
    F: FnMut(Tx) -> Fut,
    Fut: Future<Output = Result<(T, Tx), AppError>>,
{
    let mut attempt = 1;
    loop {
        let outcome = async {
            let (out, tx) = work(pool.begin().await?).await?;
            tx.commit().await?;
            Ok(out)
        }
        .await;
        match outcome {
            Err(AppError::LostRace) if attempt < RACE_ATTEMPTS => {
                tracing::warn!(attempt, "write lost a race, running it again");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// How often a write that keeps losing races is tried before the caller gets ABORTED.
pub const RACE_ATTEMPTS: u32 = 3;

/// Runs `write`, and runs it again when it lost a race to a concurrent transaction (a deadlock or a
/// serialization failure): PostgreSQL rolled all of it back, so the caller still gets exactly one outcome.
/// A write inside a batch is not retried here: the batch holds locks from earlier writes that took part in
/// the race, so only the batch's owner can start it again.
pub async fn retry_lost_races<T, F, Fut>(batch: Option<&Batch>, mut write: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    if batch.is_some() {
        return write().await;
    }
    let mut attempt = 1;
    loop {
        match write().await {
            Err(AppError::LostRace) if attempt < RACE_ATTEMPTS => {
                tracing::warn!(attempt, "write lost a race, running it again");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Creates the service's login role when it does not exist: no superuser, no role or database creation, and
/// it owns nothing, so the privileges [`grant_service_role`] gives are all it has. Roles belong to the
/// cluster, not to a database, and several processes (or tests) may create it at once.
pub async fn ensure_service_role(conn: &mut PgConnection, role: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('xinfang.service_role', $1, false)")
        .bind(role)
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql(
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_setting('xinfang.service_role')) THEN \
             EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', \
                            current_setting('xinfang.service_role')); \
           END IF; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; \
         END $$",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives `role` the service's privileges on the migrated tables (`xinfang_grant_service_role`, defined with
/// the schema); run by the tables' owner after every migration run.
pub async fn grant_service_role(conn: &mut PgConnection, role: &str) -> Result<(), sqlx::Error> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    // Concurrent GRANTs on one table fail with "tuple concurrently updated": replicas starting together
    // take turns.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('xinfang.grants'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT xinfang_grant_service_role($1)")
        .bind(role)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The role a connection logs in as.
pub async fn current_role(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(conn)
        .await
}

/// Whether the connection's role could change or remove audit rows despite the grants: a superuser, or a
/// member of the role that owns the audit table.
pub async fn can_alter_audit_trail(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT r.rolsuper OR pg_has_role(current_user, c.relowner, 'MEMBER') \
         FROM pg_roles r, pg_class c \
         WHERE r.rolname = current_user AND c.oid = 'audit_log'::regclass",
    )
    .fetch_one(conn)
    .await
}

/// Whether the database lacks a migration of this build or holds one that differs from it. A role that may
/// not create tables cannot even run the migrator when there is nothing to do, so the service asks first.
pub async fn needs_migration(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let applied: Vec<(i64, Vec<u8>)> =
        match sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success")
            .fetch_all(conn)
            .await
        {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P01") => {
                return Ok(true);
            }
            Err(err) => return Err(err),
        };
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .any(|m| {
            !applied
                .iter()
                .any(|(version, checksum)| *version == m.version && *checksum == *m.checksum)
        }))
}

/// A connection of the pool, for reads that need no transaction.
pub async fn connection(pool: &PgPool) -> Result<PoolConnection<Postgres>, AppError> {
    Ok(pool.acquire().await?)
}
