//! SQL of idempotency keys.

use sqlx::{PgConnection, Row};

use super::Key;

/// Inserts the key; `false` when it exists (after waiting for a concurrent holder to commit or roll back).
pub async fn insert_claim(conn: &mut PgConnection, key: &Key) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (principal_id, request_id, method, request_hash) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(key.principal_id)
    .bind(key.request_id)
    .bind(key.method)
    .bind(&key.request_hash[..])
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub struct Stored {
    pub method: String,
    pub request_hash: Vec<u8>,
    pub response: Option<Vec<u8>>,
}

pub async fn fetch(conn: &mut PgConnection, key: &Key) -> Result<Option<Stored>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT method, request_hash, response FROM idempotency_keys \
         WHERE principal_id = $1 AND request_id = $2",
    )
    .bind(key.principal_id)
    .bind(key.request_id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(Stored {
            method: row.try_get("method")?,
            request_hash: row.try_get("request_hash")?,
            response: row.try_get("response")?,
        })
    })
    .transpose()
}

/// The stored rows of `keys` (matched by principal and request id), as `(principal_id, request_id, row)`.
pub async fn fetch_many(
    conn: &mut PgConnection,
    keys: &[Key],
) -> Result<Vec<(uuid::Uuid, uuid::Uuid, Stored)>, sqlx::Error> {
    let principals: Vec<uuid::Uuid> = keys.iter().map(|k| k.principal_id).collect();
    let requests: Vec<uuid::Uuid> = keys.iter().map(|k| k.request_id).collect();
    let rows = sqlx::query(
        "SELECT k.principal_id, k.request_id, k.method, k.request_hash, k.response \
         FROM unnest($1::uuid[], $2::uuid[]) AS t(principal_id, request_id) \
         JOIN idempotency_keys k USING (principal_id, request_id)",
    )
    .bind(&principals)
    .bind(&requests)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get("principal_id")?,
                row.try_get("request_id")?,
                Stored {
                    method: row.try_get("method")?,
                    request_hash: row.try_get("request_hash")?,
                    response: row.try_get("response")?,
                },
            ))
        })
        .collect()
}

/// Claims every key not claimed yet; returns the `(principal_id, request_id)` of those this call claimed.
pub async fn insert_claims(
    conn: &mut PgConnection,
    keys: &[Key],
) -> Result<Vec<(uuid::Uuid, uuid::Uuid)>, sqlx::Error> {
    let principals: Vec<uuid::Uuid> = keys.iter().map(|k| k.principal_id).collect();
    let requests: Vec<uuid::Uuid> = keys.iter().map(|k| k.request_id).collect();
    let methods: Vec<&str> = keys.iter().map(|k| k.method).collect();
    let hashes: Vec<&[u8]> = keys.iter().map(|k| &k.request_hash[..]).collect();
    sqlx::query_as(
        "INSERT INTO idempotency_keys (principal_id, request_id, method, request_hash) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bytea[]) \
         ON CONFLICT DO NOTHING RETURNING principal_id, request_id",
    )
    .bind(&principals)
    .bind(&requests)
    .bind(&methods)
    .bind(&hashes)
    .fetch_all(conn)
    .await
}

/// Stores each key's first response.
pub async fn set_responses(
    conn: &mut PgConnection,
    keys: &[&Key],
    responses: &[Vec<u8>],
) -> Result<(), sqlx::Error> {
    let principals: Vec<uuid::Uuid> = keys.iter().map(|k| k.principal_id).collect();
    let requests: Vec<uuid::Uuid> = keys.iter().map(|k| k.request_id).collect();
    sqlx::query(
        "UPDATE idempotency_keys k SET response = t.response \
         FROM unnest($1::uuid[], $2::uuid[], $3::bytea[]) AS t(principal_id, request_id, response) \
         WHERE k.principal_id = t.principal_id AND k.request_id = t.request_id",
    )
    .bind(&principals)
    .bind(&requests)
    .bind(responses)
    .execute(conn)
    .await?;
    Ok(())
}
