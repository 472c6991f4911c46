//! The change feed the offline clients pull: every write of a case, a registration or a trip appends a row
//! in its own transaction, with the units and the officer whose clients should hear of it. The sync service
//! reads it; the domains only append.

use sqlx::PgConnection;
use uuid::Uuid;

pub struct FeedEntry<'a> {
    pub kind: &'a str,
    pub entity_id: Uuid,
    pub org_code: Option<&'a str>,
    pub previous_org_code: Option<&'a str>,
    pub owner: Option<Uuid>,
    pub reason: &'a str,
}

/// Records a change; call it in the transaction that makes the change.
pub async fn append(conn: &mut PgConnection, e: &FeedEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed (kind, entity_id, org_code, previous_org_code, owner, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.kind)
    .bind(e.entity_id)
    .bind(e.org_code)
    .bind(e.previous_org_code)
    .bind(e.owner)
    .bind(e.reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records changes of several records in one statement, in their order.
pub async fn append_many(
    conn: &mut PgConnection,
    entries: &[FeedEntry<'_>],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind).collect();
    let ids: Vec<Uuid> = entries.iter().map(|e| e.entity_id).collect();
    let orgs: Vec<Option<&str>> = entries.iter().map(|e| e.org_code).collect();
    let previous: Vec<Option<&str>> = entries.iter().map(|e| e.previous_org_code).collect();
    let owners: Vec<Option<Uuid>> = entries.iter().map(|e| e.owner).collect();
    let reasons: Vec<&str> = entries.iter().map(|e| e.reason).collect();
    sqlx::query(
        "INSERT INTO feed (kind, entity_id, org_code, previous_org_code, owner, reason) \
         SELECT k, e, o, p, w, r \
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::text[]) \
              WITH ORDINALITY AS t(k, e, o, p, w, r, ord) ORDER BY ord",
    )
    .bind(&kinds)
    .bind(&ids)
    .bind(&orgs)
    .bind(&previous)
    .bind(&owners)
    .bind(&reasons)
    .execute(conn)
    .await?;
    Ok(())
}
