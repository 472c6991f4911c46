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

/// A row of the audit trail to append.
pub struct NewRow {
    pub principal_id: Uuid,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// Appends rows of different principals and actions in one statement, in their order.
pub async fn append_rows(conn: &mut PgConnection, rows: &[NewRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let principals: Vec<Uuid> = rows.iter().map(|r| r.principal_id).collect();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
    let details: Vec<&str> = rows.iter().map(|r| r.detail.as_str()).collect();
    sqlx::query(
        "INSERT INTO audit_log (principal_id, action, subject, detail) \
         SELECT p, a, s, d FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) \
              WITH ORDINALITY AS t(p, a, s, d, ord) ORDER BY ord",
    )
    .bind(&principals)
    .bind(&actions)
    .bind(&subjects)
    .bind(&details)
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

/// The last seal: (seq, hash, the sealed row's xid and id), or zeros before the first.
pub async fn last_seal(conn: &mut PgConnection) -> Result<LastSeal, sqlx::Error> {
    let row: Option<LastSeal> = sqlx::query_as(
        "SELECT s.seq, s.hash, a.xid::text::bigint AS xid, a.id FROM audit_seal s \
         JOIN audit_log a ON a.id = s.audit_id ORDER BY s.seq DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.unwrap_or_default())
}

#[derive(Debug, Clone, Default, FromRow)]
pub struct LastSeal {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub xid: i64,
    pub id: i64,
}

/// Rows after the last sealed one whose transactions, and all older ones, have finished, in commit-safe order.
/// Rows of a transaction older than the last sealed one cannot appear later: it had finished when that row was
/// sealed, and rows are sealed in (xid, id) order.
pub async fn unsealed(
    conn: &mut PgConnection,
    after: &LastSeal,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, principal_id, action, subject, detail FROM audit_log \
         WHERE (xid, id) > ($1::text::xid8, $2) AND xid < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY xid, id LIMIT $3",
    )
    .bind(after.xid.to_string())
    .bind(after.id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Seals `ids` as `seqs` with their links and hashes, all in one statement.
pub async fn insert_seals(
    conn: &mut PgConnection,
    ids: &[i64],
    seqs: &[i64],
    prevs: &[Vec<u8>],
    hashes: &[Vec<u8>],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_seal (audit_id, seq, prev_hash, hash) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[])",
    )
    .bind(ids)
    .bind(seqs)
    .bind(prevs)
    .bind(hashes)
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

/// Sealed rows after `seq`, in seal order. A seal whose row is gone drops out of the join and shows as a gap.
pub async fn sealed_after(
    conn: &mut PgConnection,
    seq: i64,
    limit: i64,
) -> Result<Vec<SealedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.at, a.principal_id, a.action, a.subject, a.detail, s.seq, s.prev_hash, s.hash \
         FROM audit_seal s JOIN audit_log a ON a.id = s.audit_id \
         WHERE s.seq > $1 ORDER BY s.seq LIMIT $2",
    )
    .bind(seq)
    .bind(limit)
    .fetch_all(conn)
    .await
}
