//! The tamper-evident audit trail. Mutations and unmasked reads append rows in their own transactions;
//! [`seal`] chains the rows that are final, in commit-safe order, by appending to `audit_seal`; [`verify`]
//! walks the chain. The service's database role may only insert and read both tables.

pub mod store;

use std::time::Duration;

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

/// How long the sealer waits after sealing something: a busy register is sealed in small batches. Sealing
/// reads the new `audit_log` rows and takes a key-share lock on each (the seal's foreign key), which writes
/// to the very pages new rows are going to; a second's worth at once (2,600 rows at 1,300 registrations a
/// second) came with one registration group in about eighty taking twice its time, once a second, which
/// was the benchmark's slowest 1 % (docs/performance.md, "Gathering").
pub const SEAL_BUSY: Duration = Duration::from_millis(100);

/// The longest the sealer waits: a quiet register is looked at once a second.
pub const SEAL_IDLE: Duration = Duration::from_secs(1);

/// The sealer's next wait: short while there is something to seal, doubling up to [`SEAL_IDLE`] while
/// there is nothing.
pub fn next_wait(last: Duration, sealed: usize) -> Duration {
    if sealed > 0 {
        SEAL_BUSY
    } else {
        (last * 2).clamp(SEAL_BUSY, SEAL_IDLE)
    }
}

/// Seals in the background for as long as the service runs.
pub fn spawn_sealer(pool: PgPool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = SEAL_IDLE;
        loop {
            tokio::time::sleep(wait).await;
            let sealed = match seal(&pool).await {
                Ok(sealed) => sealed,
                Err(err) => {
                    tracing::warn!(error = %err, "audit sealing failed; retrying");
                    0
                }
            };
            wait = next_wait(wait, sealed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sealer_comes_back_soon_while_busy_and_slows_to_once_a_second_when_quiet() {
        assert_eq!(next_wait(SEAL_IDLE, 2_600), SEAL_BUSY);
        assert_eq!(next_wait(SEAL_BUSY, 1), SEAL_BUSY);
        let mut wait = SEAL_BUSY;
        let mut waits = Vec::new();
        for _ in 0..6 {
            wait = next_wait(wait, 0);
            waits.push(wait.as_millis());
        }
        assert_eq!(waits, [200, 400, 800, 1000, 1000, 1000]);
    }
}
