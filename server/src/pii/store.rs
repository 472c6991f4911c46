//! SQL of the personal-data keys: which sealing keys the data may be sealed with (`pii_keys`), the match
//! key's fingerprint (`settings`), and the rows a rotation re-seals.

use anyhow::Context;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use super::PiiKeys;
use crate::kernel::settings;

/// `settings` row holding the fingerprint of the match key.
const MATCH_FINGERPRINT: &str = "pii_match_fingerprint";

/// The database must agree with the key file before anything is sealed or matched: the same match key (else
/// no ID number would match its earlier registrations), and every sealing key the database lists (else some
/// rows would not open). A key file whose first sealing key is new to the database begins a rotation, and
/// the key is recorded; so is everything on a first start. Replicas starting together take turns.
pub async fn check_database(pool: &PgPool, keys: &PiiKeys) -> anyhow::Result<()> {
    let ring = keys.ring();
    let file = keys
        .file()
        .map_or_else(|| "the key".to_owned(), |f| f.display().to_string());
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('xinfang.pii_keys'))")
        .execute(&mut *tx)
        .await?;
    let stored = settings::setting(&mut tx, MATCH_FINGERPRINT).await?;
    let database_keys = key_ids(&mut tx).await?;
    match stored {
        Some(stored) if stored != ring.match_fingerprint() => anyhow::bail!(
            "the personal-data key file {file} does not match this database (match key fingerprint {stored} \
             expected, {} given); restore the key file this database was created with",
            ring.match_fingerprint()
        ),
        Some(_) => {}
        None => {
            // A database that predates the match fingerprint knows its sealing key: a file without it is
            // the wrong one, and its match key must not be recorded.
            if !database_keys.is_empty() && !database_keys.iter().any(|id| ring.has(id)) {
                anyhow::bail!(
                    "the personal-data key file {file} does not match this database (key {} expected, {} \
                     given); restore the key file this database was created with",
                    database_keys.join(", "),
                    ring.ids().join(", ")
                );
            }
            settings::insert_setting(&mut tx, MATCH_FINGERPRINT, ring.match_fingerprint()).await?;
        }
    }
    let missing: Vec<&str> = database_keys
        .iter()
        .map(String::as_str)
        .filter(|id| !ring.has(id))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "this database holds personal data sealed with key {} which {file} lacks; restore a key file \
             that holds it (a rotation keeps the old key in the file until nothing needs it)",
            missing.join(", ")
        );
    }
    if !database_keys.iter().any(|id| id == ring.current_id()) {
        add_key(&mut tx, ring.current_id()).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The keys personal data may be sealed with, oldest first.
pub async fn key_ids(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM pii_keys ORDER BY created_at, id")
        .fetch_all(conn)
        .await
}

pub async fn add_key(conn: &mut PgConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO pii_keys (id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets keys. Fails with a foreign-key violation (23503) while any petitioner is still sealed with one,
/// also one a concurrent registration is inserting.
pub async fn retire_keys(conn: &mut PgConnection, ids: &[String]) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM pii_keys WHERE id = ANY($1)")
        .bind(ids)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Petitioners per sealing key (`None`: nothing sealed).
pub async fn rows_per_key(
    conn: &mut PgConnection,
) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT seal_key, count(*) FROM petitioners GROUP BY 1 ORDER BY 1 NULLS FIRST")
        .fetch_all(conn)
        .await
}

#[derive(Debug, FromRow)]
pub struct SealedRow {
    pub id: Uuid,
    pub seal_key: Option<String>,
    pub id_number_enc: Option<Vec<u8>>,
    pub phone_enc: Option<Vec<u8>>,
    pub address_enc: Option<Vec<u8>>,
}

/// Sealed values without a key id (see the migration `…0200_pii_keys.sql`).
const UNKEYED: &str = "seal_key IS NULL \
     AND (id_number_enc IS NOT NULL OR phone_enc IS NOT NULL OR address_enc IS NOT NULL)";

/// Up to `limit` petitioners sealed with one of `keys` or without a key id, locked until the transaction
/// ends. Registrations never update a known petitioner, so the lock holds up nobody but another rotation.
pub async fn lock_sealed_with(
    conn: &mut PgConnection,
    keys: &[String],
    limit: i64,
) -> Result<Vec<SealedRow>, sqlx::Error> {
    // Two statements, each on its own partial index (FOR UPDATE does not go with UNION).
    let mut rows: Vec<SealedRow> = sqlx::query_as(
        "SELECT id, seal_key, id_number_enc, phone_enc, address_enc FROM petitioners \
         WHERE seal_key = ANY($1) ORDER BY seal_key, id LIMIT $2 FOR UPDATE",
    )
    .bind(keys)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let room = limit - rows.len() as i64;
    if room > 0 {
        rows.extend(
            sqlx::query_as::<_, SealedRow>(&format!(
                "SELECT id, seal_key, id_number_enc, phone_enc, address_enc FROM petitioners \
                 WHERE {UNKEYED} ORDER BY id LIMIT $1 FOR UPDATE"
            ))
            .bind(room)
            .fetch_all(conn)
            .await?,
        );
    }
    Ok(rows)
}

/// Stores a petitioner's values sealed again with `seal_key`.
pub async fn reseal(
    conn: &mut PgConnection,
    row: &SealedRow,
    seal_key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE petitioners SET seal_key = $2, id_number_enc = $3, phone_enc = $4, address_enc = $5 \
         WHERE id = $1",
    )
    .bind(row.id)
    .bind(seal_key)
    .bind(&row.id_number_enc)
    .bind(&row.phone_enc)
    .bind(&row.address_enc)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a database error is the refusal to retire a key still in use, or to seal with a retired one.
pub fn is_key_in_use(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23503")
            && db.constraint() == Some("petitioners_seal_key_fkey"))
}

/// The rows a rotation has left, for its progress and for `keys status`.
pub async fn count_sealed_with(conn: &mut PgConnection, keys: &[String]) -> anyhow::Result<i64> {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM petitioners WHERE seal_key = ANY($1) OR ({UNKEYED})"
    ))
    .bind(keys)
    .fetch_one(conn)
    .await
    .context("counting petitioners by key")
}
