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

pub async fn set_response(
    conn: &mut PgConnection,
    key: &Key,
    response: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET response = $3 WHERE principal_id = $1 AND request_id = $2",
    )
    .bind(key.principal_id)
    .bind(key.request_id)
    .bind(response)
    .execute(conn)
    .await?;
    Ok(())
}
