//! Exactly-once mutations: `(principal, request_id)` → the first response, kept in Postgres in the same
//! transaction as the change, so a retry (after a timeout, a cut link, a server restart) gets the first result
//! again and changes nothing.
//!
//! ```text
//! if let Some(first) = idempotency::claim(tx, &key).await? { return Ok(first) }
//! … make the change in tx …
//! idempotency::save(tx, &key, &response).await?;
//! ```
//! A concurrent duplicate blocks on the key's row until the first transaction ends, then sees its result; if
//! the first one failed and rolled back, the duplicate simply runs.

mod store;

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct Key {
    pub principal_id: Uuid,
    pub request_id: Uuid,
    pub method: &'static str,
    pub request_hash: [u8; 32],
}

impl Key {
    /// The key of `request`, sent by `principal_id` to `method`, with its validated `request_id`.
    pub fn new<M: Message>(
        principal_id: Uuid,
        method: &'static str,
        request_id: Uuid,
        request: &M,
    ) -> Self {
        Self {
            principal_id,
            request_id,
            method,
            request_hash: Sha256::digest(request.encode_to_vec()).into(),
        }
    }
}

/// Claims the key inside `tx`. `Some(first response)` when this request was already applied; `None` when it
/// is new and the caller should go on. The same `request_id` with a different request or method is refused.
pub async fn claim<R: Message + Default>(
    tx: &mut PgConnection,
    key: &Key,
) -> Result<Option<R>, AppError> {
    if store::insert_claim(tx, key).await? {
        return Ok(None);
    }
    let stored = store::fetch(tx, key).await?.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("idempotency key vanished after conflict"))
    })?;
    answer(key, stored).map(Some)
}

/// The first response stored for `key`, or the refusal of a `request_id` used for another request.
fn answer<R: Message + Default>(key: &Key, stored: store::Stored) -> Result<R, AppError> {
    if stored.method != key.method || stored.request_hash != key.request_hash {
        return Err(AppError::invalid(
            "request_id",
            "already used for a different request; generate a new request_id for each new request",
        ));
    }
    let bytes = stored.response.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "idempotency key committed without response"
        ))
    })?;
    let response = R::decode(bytes.as_slice())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored response: {e}")))?;
    tracing::info!(request_id = %key.request_id, "duplicate request answered from the first result");
    Ok(response)
}

/// For each of `keys`, the answer of [`claim`] when the request was applied before (its first response, or
/// the refusal of a reused `request_id`), `None` when it is new. Claims nothing: the set-based writers read
/// first and claim with [`claim_all`] once they know which requests they write.
pub async fn answered<R: Message + Default>(
    tx: &mut PgConnection,
    keys: &[Key],
) -> Result<Vec<Option<Result<R, AppError>>>, AppError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut stored: std::collections::HashMap<(Uuid, Uuid), store::Stored> =
        store::fetch_many(tx, keys)
            .await?
            .into_iter()
            .map(|(principal, request, row)| ((principal, request), row))
            .collect();
    Ok(keys
        .iter()
        .map(|k| {
            stored
                .remove(&(k.principal_id, k.request_id))
                .map(|row| answer(k, row))
        })
        .collect())
}

/// Claims `keys` inside `tx`; returns, for each, whether this call claimed it (`false`: a concurrent
/// transaction applied the same request since it was read, and [`answered`] now has its answer).
pub async fn claim_all(tx: &mut PgConnection, keys: &[Key]) -> Result<Vec<bool>, AppError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let claimed: std::collections::HashSet<(Uuid, Uuid)> =
        store::insert_claims(tx, keys).await?.into_iter().collect();
    Ok(keys
        .iter()
        .map(|k| claimed.contains(&(k.principal_id, k.request_id)))
        .collect())
}

/// [`save`] for many claimed keys at once: their responses, and one audit row each.
pub async fn save_all<R: Message>(
    tx: &mut PgConnection,
    keys: &[&Key],
    responses: &[R],
) -> Result<(), AppError> {
    let encoded: Vec<Vec<u8>> = responses.iter().map(Message::encode_to_vec).collect();
    store::set_responses(tx, keys, &encoded).await?;
    let rows: Vec<crate::audit::store::NewRow> = keys
        .iter()
        .zip(&encoded)
        .map(|(key, bytes)| crate::audit::store::NewRow {
            principal_id: key.principal_id,
            action: key.method.to_owned(),
            subject: key.request_id.to_string(),
            detail: hex::encode(Sha256::digest(bytes)),
        })
        .collect();
    crate::audit::store::append_rows(tx, &rows).await?;
    Ok(())
}

/// Stores the response of a claimed key; call it in the same transaction, right before commit.
/// Every applied mutation passes here, so this is also where it enters the audit trail: who, which method,
/// which request, and the hash of the result.
pub async fn save<R: Message>(
    tx: &mut PgConnection,
    key: &Key,
    response: &R,
) -> Result<(), AppError> {
    save_all(tx, &[key], std::slice::from_ref(response)).await
}
