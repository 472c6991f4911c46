//! The tamper-evident audit trail. Mutations and unmasked reads append rows in their own transactions;
//! [`seal`] chains the rows that are final, in commit-safe order, by appending to `audit_seal`; [`verify`]
//! walks the chain. The service's database role may only insert and read both tables.

pub mod store;

use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::error::AppError;

/// The hash of one row, chained to the one before it.
pub fn row_hash(prev: &[u8], seq: i64, row: &store::AuditRow) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(row.id.to_be_bytes());
    h.update(row.at.timestamp_micros().to_be_bytes());
    h.update(row.principal_id.as_bytes());
    // Lengths keep field boundaries unambiguous.
    for field in [&row.action, &row.subject, &row.detail] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// Seals every row that is final now (its transaction and all older ones finished); returns how many.
pub async fn seal(pool: &PgPool) -> Result<usize, AppError> {
    let mut tx = pool.begin().await?;
    // One sealer at a time.
    store::lock_sealer(&mut tx).await?;
    let last = store::last_seal(&mut tx).await?;
    let rows = store::unsealed(&mut tx, &last, 5_000).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let (mut seq, mut prev) = (last.seq, last.hash);
    let mut ids = Vec::with_capacity(rows.len());
    let mut seqs = Vec::with_capacity(rows.len());
    let mut prevs = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    for row in &rows {
        seq += 1;
        let hash = row_hash(&prev, seq, row).to_vec();
        ids.push(row.id);
        seqs.push(seq);
        prevs.push(std::mem::replace(&mut prev, hash.clone()));
        hashes.push(hash);
    }
    store::insert_seals(&mut tx, &ids, &seqs, &prevs, &hashes).await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Seals in the background, every second, for as long as the service runs.
pub fn spawn_sealer(pool: PgPool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if let Err(err) = seal(&pool).await {
                tracing::warn!(error = %err, "audit sealing failed; retrying");
            }
        }
    })
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every sealed row checks out; how many there are.
    Intact(u64),
    /// The first row (by seal order) whose content or link does not match.
    Broken { seq: i64, id: i64, why: String },
}

pub async fn verify(pool: &PgPool) -> Result<Verdict, AppError> {
    let mut conn = pool.acquire().await?;
    let mut prev: Vec<u8> = Vec::new();
    let mut expected_seq = 0_i64;
    let mut after = 0_i64;
    loop {
        let rows = store::sealed_after(&mut conn, after, 5_000).await?;
        if rows.is_empty() {
            return Ok(Verdict::Intact(expected_seq as u64));
        }
        for sealed in &rows {
            expected_seq += 1;
            let broken = |why: &str| Verdict::Broken {
                seq: sealed.seq,
                id: sealed.row.id,
                why: why.to_owned(),
            };
            if sealed.seq != expected_seq {
                return Ok(broken("a sealed row is missing before this one"));
            }
            if sealed.prev_hash != prev {
                return Ok(broken("its link to the previous row does not match"));
            }
            if sealed.hash.as_slice() != row_hash(&prev, sealed.seq, &sealed.row) {
                return Ok(broken("its content does not match its hash"));
            }
            prev = sealed.hash.clone();
            after = sealed.seq;
        }
    }
}
