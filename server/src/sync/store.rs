//! SQL of the change feed.

use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct FeedRow {
    pub id: i64,
    pub xid: i64,
    pub kind: String,
    pub entity_id: Uuid,
    pub org_code: Option<String>,
    pub previous_org_code: Option<String>,
    pub owner: Option<Uuid>,
    pub reason: String,
}

/// Who may see what of the feed.
#[derive(Debug, Clone)]
pub enum FeedScope {
    All,
    /// A township clerk's unit: cases responsible there (and tombstones of those that left), visits and
    /// letters about it.
    Unit(String),
    /// A field officer: its own visits and trips, and cases linked to its trips.
    Officer(Uuid),
}

/// Feed rows after `(after_xid, after_id)` of transactions that all finished, in commit-safe order.
pub async fn page(
    conn: &mut PgConnection,
    scope: &FeedScope,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<FeedRow>, sqlx::Error> {
    query(conn, scope, after, limit, false).await
}

/// Whether committed rows wait beyond the horizon (an older transaction anywhere in the cluster is still
/// running): they become deliverable as soon as it ends.
pub async fn waiting(
    conn: &mut PgConnection,
    scope: &FeedScope,
    after: (i64, i64),
) -> Result<bool, sqlx::Error> {
    Ok(!query(conn, scope, after, 1, true).await?.is_empty())
}

async fn query(
    conn: &mut PgConnection,
    scope: &FeedScope,
    after: (i64, i64),
    limit: i64,
    beyond_horizon: bool,
) -> Result<Vec<FeedRow>, sqlx::Error> {
    let (unit, officer) = match scope {
        FeedScope::All => (None, None),
        FeedScope::Unit(code) => (Some(code.as_str()), None),
        FeedScope::Officer(id) => (None, Some(*id)),
    };
    sqlx::query_as(
        "SELECT f.id, f.xid::text::int8 AS xid, f.kind, f.entity_id, f.org_code, f.previous_org_code, \
                f.owner, f.reason \
         FROM feed f \
         WHERE (f.xid < pg_snapshot_xmin(pg_current_snapshot())) <> $6 \
           AND (f.xid, f.id) > ($1::text::xid8, $2) \
           AND ( ($3::text IS NULL AND $4::uuid IS NULL) \
              OR ($3::text IS NOT NULL AND (f.org_code = $3 OR (f.kind = 'case' AND f.previous_org_code = $3))) \
              OR ($4::uuid IS NOT NULL AND (f.owner = $4 OR (f.kind = 'case' AND EXISTS ( \
                    SELECT 1 FROM return_trip_cases rc JOIN return_trips t ON t.id = rc.trip_id \
                    WHERE rc.case_id = f.entity_id AND t.recorded_by = $4)))) ) \
         ORDER BY f.xid, f.id LIMIT $5",
    )
    .bind(after.0.to_string())
    .bind(after.1)
    .bind(unit)
    .bind(officer)
    .bind(limit)
    .bind(beyond_horizon)
    .fetch_all(conn)
    .await
}

/// Whether this principal already applied this request (its idempotency key exists).
pub async fn applied_before(
    conn: &mut PgConnection,
    principal: Uuid,
    request_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE principal_id = $1 AND request_id = $2)",
    )
    .bind(principal)
    .bind(request_id)
    .fetch_one(conn)
    .await
}
