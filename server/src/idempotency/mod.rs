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
    Ok(Some(response))
}

/// Stores the response of a claimed key; call it in the same transaction, right before commit.
/// Every applied mutation passes here, so this is also where it enters the audit trail: who, which method,
/// which request, and the hash of the result.
pub async fn save<R: Message>(
    tx: &mut PgConnection,
    key: &Key,
    response: &R,
) -> Result<(), AppError> {
    let encoded = response.encode_to_vec();
    store::set_response(tx, key, &encoded).await?;
    crate::audit::store::append(
        tx,
        key.principal_id,
        key.method,
        &key.request_id.to_string(),
        &hex::encode(Sha256::digest(&encoded)),
    )
    .await?;
    Ok(())
}
