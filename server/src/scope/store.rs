//! The read rule asked of the database: which of some records a reader reads.

use std::collections::HashSet;

use sqlx::PgConnection;
use uuid::Uuid;

use super::{Kind, Reader};

/// Those of `ids` that exist and that `reader` reads.
pub async fn readable(
    conn: &mut PgConnection,
    reader: &Reader,
    kind: Kind,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<Uuid> = sqlx::query_scalar(&format!(
        "SELECT x.id FROM {} x WHERE x.id = ANY($1) AND {}",
        kind.table(),
        reader.condition(kind, "x", 2)
    ))
    .bind(ids)
    .bind(reader.param())
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Whether `reader` reads the record `id` (which exists).
pub async fn reads(
    conn: &mut PgConnection,
    reader: &Reader,
    kind: Kind,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    Ok(readable(conn, reader, kind, &[id]).await?.contains(&id))
}

/// `ids` (of records that exist) without those `reader` may not read, in their order. A county reader keeps
/// them all without asking.
pub async fn keep_readable(
    conn: &mut PgConnection,
    reader: &Reader,
    kind: Kind,
    mut ids: Vec<Uuid>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    if reader.reads_everything() {
        return Ok(ids);
    }
    let ok = readable(conn, reader, kind, &ids).await?;
    ids.retain(|id| ok.contains(id));
    Ok(ids)
}
