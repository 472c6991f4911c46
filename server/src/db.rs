//! Pools, migrations and database-wide locks.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgConnection, PgPool, Postgres, Transaction,
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::error::AppError;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub fn options_from_url(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    PgConnectOptions::from_str(url)
}

/// A connection idle in the pool longer than this is pinged before it is handed out.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

pub async fn pool(options: PgConnectOptions, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        // A request waits this long for a connection before answering UNAVAILABLE.
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection as it comes back to the pool, and by default again as it goes out:
        // a round trip on every request's path (its authentication) and every transaction's, at the
        // moment the pool is busiest. A connection back within the last second was just pinged; one idle
        // longer (across a database restart, say) is pinged before use, as before.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
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
