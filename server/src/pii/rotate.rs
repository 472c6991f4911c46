//! `keys rotate`: every petitioner's sealed values move to a new sealing key while the service runs, and the
//! old key is then forgotten by the database and the key file.
//!
//! 1. A new sealing key goes in front of the key file (written atomically; the old keys stay in it).
//! 2. The database records it (`pii_keys`). Running services notice within a second and read the key file
//!    again (`startup::watch_keys`): they seal with the new key and open both. A service that meets a row
//!    sealed with a key it does not know reads the file again before it fails, so no read depends on timing.
//! 3. After a grace period, batches of petitioners sealed with an old key are opened and sealed again, one
//!    transaction per batch, until none is left.
//! 4. The old keys' rows in `pii_keys` are deleted. A foreign key makes PostgreSQL refuse while any row still
//!    names them, also one a lagging service is inserting at that moment; then step 3 runs again.
//! 5. The key file keeps only the new key. Restarting with it alone works; the old key may be destroyed,
//!    except in backups taken before the rotation, which carry their own copy.
//!
//! The match key stays (see the README's decisions): re-hashing would make every lookup try two hashes for
//! the duration, and a person registered meanwhile could be stored twice.

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use super::KEY_CHECK_INTERVAL;
use super::{Field, Keyring, PiiKeys, store};

#[derive(Debug, Clone)]
pub struct RotateOptions {
    pub batch_size: u32,
    pub pause: Duration,
}

#[derive(Debug, Clone)]
pub struct RotateReport {
    pub new_key: String,
    pub retired: Vec<String>,
    pub resealed: u64,
}

/// How many times the retirement may be refused (a service still sealing with an old key) before the
/// rotation gives up and says which instance to look at.
const RETIRE_ATTEMPTS: u32 = 20;

pub async fn rotate(
    pool: &PgPool,
    keys: &PiiKeys,
    options: &RotateOptions,
) -> anyhow::Result<RotateReport> {
    let path = keys
        .file()
        .context("keys rotate needs the key file (--data-key-file)")?
        .to_owned();
    let mut ring = Keyring::read(&path)?;
    if ring.seal.len() == 1 {
        ring = ring.with_new_current()?;
        ring.write(&path)?;
        tracing::info!(key = ring.current_id(), file = %path.display(), "new sealing key written");
    } else {
        tracing::info!(
            key = ring.current_id(),
            "resuming the rotation to the key file's first key"
        );
    }
    let new_key = ring.current_id().to_owned();
    {
        let mut conn = pool.acquire().await?;
        store::add_key(&mut conn, &new_key).await?;
    }
    // Running services poll `pii_keys` every KEY_CHECK_INTERVAL; give them two looks before any row is
    // sealed with the new key. Correctness does not rest on it (an unknown key makes them read the file),
    // only how often they have to.
    tokio::time::sleep(KEY_CHECK_INTERVAL * 3).await;

    let mut resealed = 0;
    let mut attempts = 0;
    loop {
        let old: Vec<String> = {
            let mut conn = pool.acquire().await?;
            store::key_ids(&mut conn)
                .await?
                .into_iter()
                .filter(|id| *id != new_key)
                .collect()
        };
        resealed += reseal_all(pool, &ring, &old, options).await?;
        let mut conn = pool.acquire().await?;
        match store::retire_keys(&mut conn, &old).await {
            Ok(_) => {
                ring.only_current().write(&path)?;
                let detail = format!(
                    "retired {}; {resealed} petitioners sealed again",
                    old.join(", ")
                );
                // The command line has no principal: the nil id stands for the operator.
                crate::audit::store::append(
                    &mut conn,
                    Uuid::nil(),
                    "keys.rotate",
                    &new_key,
                    &detail,
                )
                .await?;
                return Ok(RotateReport {
                    new_key,
                    retired: old,
                    resealed,
                });
            }
            Err(err) if store::is_key_in_use(&err) && attempts < RETIRE_ATTEMPTS => {
                attempts += 1;
                tracing::info!(
                    attempts,
                    "an old key still seals new rows; sealing them again"
                );
                tokio::time::sleep(KEY_CHECK_INTERVAL).await;
            }
            Err(err) if store::is_key_in_use(&err) => anyhow::bail!(
                "rows sealed with the old key keep appearing: a running service has not loaded the new key \
                 from its key file (copy {} to every instance, or restart them), then run `keys rotate` again",
                path.display()
            ),
            Err(err) => return Err(err.into()),
        }
    }
}

/// Seals every petitioner sealed with one of `old` again with the ring's current key, a batch per
/// transaction; returns how many.
async fn reseal_all(
    pool: &PgPool,
    ring: &Keyring,
    old: &[String],
    options: &RotateOptions,
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let total = {
        let mut conn = pool.acquire().await?;
        store::count_sealed_with(&mut conn, old).await?
    };
    let mut done = 0u64;
    loop {
        let mut tx = pool.begin().await?;
        let rows =
            store::lock_sealed_with(&mut tx, old, i64::from(options.batch_size.max(1))).await?;
        if rows.is_empty() {
            tx.rollback().await?;
            break;
        }
        for mut row in rows {
            let key = row.seal_key.clone();
            let again = |field, value: &Option<Vec<u8>>| -> anyhow::Result<Option<Vec<u8>>> {
                value
                    .as_deref()
                    .map(|sealed| {
                        let plain = ring.open(field, key.as_deref(), sealed)?;
                        ring.seal(field, &plain)
                    })
                    .transpose()
            };
            // Never the value in the error: only which row and which key.
            let context = || format!("petitioner {}: sealed with key {key:?}", row.id);
            row.id_number_enc = again(Field::IdNumber, &row.id_number_enc).with_context(context)?;
            row.phone_enc = again(Field::Phone, &row.phone_enc).with_context(context)?;
            row.address_enc = again(Field::Address, &row.address_enc).with_context(context)?;
            store::reseal(&mut tx, &row, ring.current_id()).await?;
            done += 1;
        }
        tx.commit().await?;
        tracing::info!(done, total, "petitioners sealed with the new key");
        if !options.pause.is_zero() {
            tokio::time::sleep(options.pause).await;
        }
    }
    tracing::info!(
        done,
        seconds = started.elapsed().as_secs_f64(),
        "re-sealing pass done"
    );
    Ok(done)
}
