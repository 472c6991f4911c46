//! SQL of principals and tokens.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::model::{Principal, Role};

/// The live (not revoked) principal holding the token with this hash.
pub async fn principal_by_token(
    conn: &mut PgConnection,
    token_hash: &[u8; 32],
) -> Result<Option<Principal>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, name, role, org_code FROM principals \
         WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(&token_hash[..])
    .fetch_optional(conn)
    .await?;
    row.map(|row| principal_from_row(&row)).transpose()
}

fn principal_from_row(row: &sqlx::postgres::PgRow) -> Result<Principal, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(Principal {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        org_code: row.try_get("org_code")?,
    })
}

pub async fn insert_principal(
    conn: &mut PgConnection,
    principal: &Principal,
    token_hash: &[u8; 32],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO principals (id, name, role, org_code, token_hash) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(principal.id)
    .bind(&principal.name)
    .bind(principal.role.as_str())
    .bind(&principal.org_code)
    .bind(&token_hash[..])
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the principal's token revoked; `false` when there is no such principal or it was revoked already.
pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE principals SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn any_admin(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM principals WHERE role = $1 AND revoked_at IS NULL)",
    )
    .bind(Role::Admin.as_str())
    .fetch_one(conn)
    .await
}

#[derive(Debug)]
pub struct PrincipalListing {
    pub principal: Principal,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn list(conn: &mut PgConnection) -> Result<Vec<PrincipalListing>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, role, org_code, created_at, revoked_at FROM principals ORDER BY created_at, id",
    )
    .fetch_all(conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(PrincipalListing {
            principal: principal_from_row(&row)?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
        });
    }
    Ok(out)
}

/// The live principal bound to one of these certificate subjects.
pub async fn principal_by_certificate(
    conn: &mut PgConnection,
    subjects: &[String],
) -> Result<Option<Principal>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, name, role, org_code FROM principals \
         WHERE cert_subject = ANY($1) AND revoked_at IS NULL ORDER BY created_at LIMIT 1",
    )
    .bind(subjects)
    .fetch_optional(conn)
    .await?;
    row.map(|row| principal_from_row(&row)).transpose()
}

/// Binds a client-certificate subject to a principal; `false` when the subject is taken.
pub async fn bind_certificate(
    conn: &mut PgConnection,
    id: Uuid,
    subject: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE principals SET cert_subject = $2 WHERE id = $1 \
           AND NOT EXISTS (SELECT 1 FROM principals WHERE cert_subject = $2)",
    )
    .bind(id)
    .bind(subject)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The kind of the org unit `code` (a principal belongs to one), if it exists.
pub async fn org_kind(conn: &mut PgConnection, code: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT kind FROM org_units WHERE code = $1")
        .bind(code)
        .fetch_optional(conn)
        .await
}

/// A session with its principal, as the auth layer needs it; `now` is the database's clock, the one that
/// wrote `last_used_at`.
#[derive(Debug)]
pub struct SessionRow {
    pub principal: Principal,
    pub person_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The person is not disabled and their principal not revoked.
    pub live: bool,
    pub now: DateTime<Utc>,
}

pub async fn session_by_token(
    conn: &mut PgConnection,
    token_hash: &[u8; 32],
) -> Result<Option<SessionRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT p.id, p.name, p.role, p.org_code, s.person_id, s.created_at, s.last_used_at, s.ended_at, \
                (pe.disabled_at IS NULL AND p.revoked_at IS NULL) AS live, now() AS now \
         FROM sessions s JOIN people pe ON pe.id = s.person_id JOIN principals p ON p.id = pe.principal_id \
         WHERE s.token_hash = $1",
    )
    .bind(&token_hash[..])
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(SessionRow {
            principal: principal_from_row(&row)?,
            person_id: row.try_get("person_id")?,
            created_at: row.try_get("created_at")?,
            last_used_at: row.try_get("last_used_at")?,
            ended_at: row.try_get("ended_at")?,
            live: row.try_get("live")?,
            now: row.try_get("now")?,
        })
    })
    .transpose()
}

pub async fn touch_session(
    conn: &mut PgConnection,
    token_hash: &[u8; 32],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET last_used_at = now() WHERE token_hash = $1 AND ended_at IS NULL",
    )
    .bind(&token_hash[..])
    .execute(conn)
    .await?;
    Ok(())
}

/// A principal without a bearer token: a person's, who comes in with session tokens.
pub async fn insert_tokenless_principal(
    conn: &mut PgConnection,
    principal: &Principal,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO principals (id, name, role, org_code) VALUES ($1, $2, $3, $4)")
        .bind(principal.id)
        .bind(&principal.name)
        .bind(principal.role.as_str())
        .bind(&principal.org_code)
        .execute(conn)
        .await?;
    Ok(())
}
