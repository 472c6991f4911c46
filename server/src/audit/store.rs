//! SQL of the audit trail.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub principal_id: Uuid,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// Appends a row; call it in the transaction of what it records.
pub async fn append(
    conn: &mut PgConnection,
    principal: Uuid,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (principal_id, action, subject, detail) VALUES ($1, $2, $3, $4)",
    )
    .bind(principal)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Appends one row per subject, e.g. one per petitioner shown in full.
pub async fn append_many(
    conn: &mut PgConnection,
    principal: Uuid,
    action: &str,
    subjects: &[String],
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (principal_id, action, subject, detail) \
         SELECT $1, $2, s, $4 FROM unnest($3::text[]) AS t(s)",
    )
    .bind(principal)
    .bind(action)
    .bind(subjects)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn lock_sealer(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('xinfang.audit.seal'))")
        .execute(conn)
        .await?;
    Ok(())
}

/// The last seal: (seq, hash), or (0, empty) before the first.
pub async fn last_seal(conn: &mut PgConnection) -> Result<(i64, Vec<u8>), sqlx::Error> {
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.unwrap_or((0, Vec::new())))
}

/// Unsealed rows whose transactions, and all older ones, have finished, in commit-safe order.
pub async fn unsealed(conn: &mut PgConnection, limit: i64) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, principal_id, action, subject, detail FROM audit_log \
         WHERE seq IS NULL AND xid < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY xid, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn set_seal(
    conn: &mut PgConnection,
    id: i64,
    seq: i64,
    prev: &[u8],
    hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE audit_log SET seq = $2, prev_hash = $3, hash = $4 WHERE id = $1")
        .bind(id)
        .bind(seq)
        .bind(prev)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// A sealed row with its place in the chain.
#[derive(Debug, Clone, FromRow)]
pub struct SealedRow {
    #[sqlx(flatten)]
    pub row: AuditRow,
    pub seq: i64,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Sealed rows after `seq`, in seal order.
pub async fn sealed_after(
    conn: &mut PgConnection,
    seq: i64,
    limit: i64,
) -> Result<Vec<SealedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, principal_id, action, subject, detail, seq, prev_hash, hash FROM audit_log \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(seq)
    .bind(limit)
    .fetch_all(conn)
    .await
}
