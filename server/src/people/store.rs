//! SQL of people and their sessions.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::auth::{Principal, Role};

/// A person with their principal, as signing in needs it.
#[derive(Debug)]
pub struct PersonRow {
    pub id: Uuid,
    pub user_name: String,
    pub principal: Principal,
    pub password_hash: String,
    pub failed_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    /// Disabled, or its principal revoked.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// The database's clock.
    pub now: DateTime<Utc>,
}

const PERSON: &str = "SELECT pe.id AS person_id, pe.user_name, pe.password_hash, pe.failed_attempts, \
            pe.locked_until, (pe.disabled_at IS NOT NULL OR p.revoked_at IS NOT NULL) AS disabled, \
            pe.created_at, p.id, p.name, p.role, p.org_code, now() AS now \
     FROM people pe JOIN principals p ON p.id = pe.principal_id";

fn person_from_row(row: &sqlx::postgres::PgRow) -> Result<PersonRow, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(PersonRow {
        id: row.try_get("person_id")?,
        user_name: row.try_get("user_name")?,
        principal: Principal {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: role
                .parse::<Role>()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            org_code: row.try_get("org_code")?,
        },
        password_hash: row.try_get("password_hash")?,
        failed_attempts: row.try_get("failed_attempts")?,
        locked_until: row.try_get("locked_until")?,
        disabled: row.try_get("disabled")?,
        created_at: row.try_get("created_at")?,
        now: row.try_get("now")?,
    })
}

pub async fn by_name(
    conn: &mut PgConnection,
    user_name: &str,
) -> Result<Option<PersonRow>, sqlx::Error> {
    let row = sqlx::query(&format!("{PERSON} WHERE pe.user_name = $1"))
        .bind(user_name)
        .fetch_optional(conn)
        .await?;
    row.map(|row| person_from_row(&row)).transpose()
}

pub async fn by_id(conn: &mut PgConnection, id: Uuid) -> Result<Option<PersonRow>, sqlx::Error> {
    let row = sqlx::query(&format!("{PERSON} WHERE pe.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| person_from_row(&row)).transpose()
}

pub async fn list(conn: &mut PgConnection) -> Result<Vec<PersonRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("{PERSON} ORDER BY pe.user_name"))
        .fetch_all(conn)
        .await?;
    rows.iter().map(person_from_row).collect()
}

/// `false` when the name is taken.
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    user_name: &str,
    principal_id: Uuid,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO people (id, user_name, principal_id, password_hash) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_name) DO NOTHING",
    )
    .bind(id)
    .bind(user_name)
    .bind(principal_id)
    .bind(password_hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts one more failure in a row; at `max` the account is locked for `lockout_secs` and the count starts
/// again. One statement, so concurrent failures all count. The lock's end when this failure locked it.
pub async fn record_failure(
    conn: &mut PgConnection,
    id: Uuid,
    max: i32,
    lockout_secs: f64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE people SET \
           locked_until = CASE WHEN failed_attempts + 1 >= $2 \
                               THEN now() + make_interval(secs => $3) ELSE locked_until END, \
           failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END \
         WHERE id = $1 \
         RETURNING failed_attempts = 0 AS locked_now, locked_until",
    )
    .bind(id)
    .bind(max)
    .bind(lockout_secs)
    .fetch_one(conn)
    .await?;
    let locked_now: bool = row.try_get("locked_now")?;
    Ok(if locked_now {
        row.try_get("locked_until")?
    } else {
        None
    })
}

/// Clears the failure count of a person who may sign in now; `false` when it is locked (again), disabled or
/// gone since it was read.
pub async fn record_success(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE people SET failed_attempts = 0, locked_until = NULL \
         WHERE id = $1 AND disabled_at IS NULL AND (locked_until IS NULL OR locked_until <= now())",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A new password; the account is unlocked too (an administrator's reset is how a locked person gets in early).
pub async fn set_password(
    conn: &mut PgConnection,
    id: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE people SET password_hash = $2, password_changed_at = now(), failed_attempts = 0, \
         locked_until = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(password_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// `false` when it was disabled already.
pub async fn disable(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE people SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL")
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_session(
    conn: &mut PgConnection,
    token_hash: &[u8; 32],
    person_id: Uuid,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO sessions (token_hash, person_id) VALUES ($1, $2) RETURNING last_used_at",
    )
    .bind(&token_hash[..])
    .bind(person_id)
    .fetch_one(conn)
    .await
}

/// Ends one session; `false` when it had ended already.
pub async fn end_session(
    conn: &mut PgConnection,
    token_hash: &[u8; 32],
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET ended_at = now(), end_reason = $2 WHERE token_hash = $1 AND ended_at IS NULL",
    )
    .bind(&token_hash[..])
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every live session of a person but `except`; how many.
pub async fn end_sessions_of(
    conn: &mut PgConnection,
    person_id: Uuid,
    reason: &str,
    except: Option<&[u8; 32]>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET ended_at = now(), end_reason = $2 \
         WHERE person_id = $1 AND ended_at IS NULL AND ($3::bytea IS NULL OR token_hash <> $3)",
    )
    .bind(person_id)
    .bind(reason)
    .bind(except.map(|h| h.to_vec()))
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Forgets sessions that started before `before` (long over, whatever ended them); how many.
pub async fn prune_sessions(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
