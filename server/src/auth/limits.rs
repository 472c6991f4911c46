//! Per-principal limits: a fair share of the database pool in flight, and a token-bucket rate. One laptop
//! stuck in a retry loop or one agency system flooding the API slows down itself, not the county.
//!
//! Every call of a principal holds one of its in-flight slots until its answer is done; a call that finds
//! them all taken waits briefly for one, then gets RESOURCE_EXHAUSTED with the time to wait before trying
//! again (`google.rpc.RetryInfo`). With the share below the pool's size, connections stay free for everyone
//! else however hard one principal pushes (docs/access.md, "Fair share").

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Requests one principal may have in flight at once: its fair share of the database pool.
    pub max_in_flight: u32,
    /// Sustained requests per second per principal; bursts up to twice that.
    pub rate_per_second: f64,
    /// How long a request waits for one of its principal's slots before it is turned away.
    pub queue_wait: Duration,
}

impl Limits {
    /// The fair share of a pool of `pool_size` connections: a quarter of it, so that at least three other
    /// principals find a connection free whatever one principal does.
    pub fn fair_share(pool_size: u32) -> u32 {
        (pool_size / 4).max(1)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: Self::fair_share(16),
            rate_per_second: 500.0,
            queue_wait: Duration::from_millis(200),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    slots: Arc<Semaphore>,
    tokens: f64,
    refilled: Instant,
}

/// Why a request was turned away, and after how long trying again makes sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot of the principal stayed taken for the whole wait.
    InFlight { retry_after: Duration },
    /// The rate is used up until the bucket refills.
    Rate { retry_after: Duration },
}

#[derive(Debug, Clone)]
pub struct Limiter {
    limits: Limits,
    buckets: Arc<Mutex<HashMap<Uuid, Bucket>>>,
}

/// Holds a request's in-flight slot; the slot is given back when the response is done.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes a token of `principal`'s rate at `now` and returns its slots, or says when to come back.
    fn take_token(&self, principal: Uuid, now: Instant) -> Result<Arc<Semaphore>, Refused> {
        let rate = self.limits.rate_per_second;
        let burst = rate * 2.0;
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            // A poisoned lock only means another request panicked mid-update; the counts are still usable.
            Err(poisoned) => poisoned.into_inner(),
        };
        let bucket = buckets.entry(principal).or_insert_with(|| Bucket {
            slots: Arc::new(Semaphore::new(self.limits.max_in_flight.max(1) as usize)),
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.refilled = now;
        if bucket.tokens < 1.0 {
            let missing = (1.0 - bucket.tokens) / rate;
            return Err(Refused::Rate {
                retry_after: Duration::from_secs_f64(missing.clamp(0.001, 60.0)),
            });
        }
        bucket.tokens -= 1.0;
        Ok(Arc::clone(&bucket.slots))
    }

    /// Admits one request of `principal`: a token of its rate now, then one of its slots within the wait.
    pub async fn admit(&self, principal: Uuid) -> Result<Permit, Refused> {
        let slots = self.take_token(principal, Instant::now())?;
        match tokio::time::timeout(self.limits.queue_wait, slots.acquire_owned()).await {
            Ok(Ok(slot)) => Ok(Permit { _slot: slot }),
            // The semaphore is never closed; a closed one would mean the same as no slot.
            Ok(Err(_)) | Err(_) => Err(Refused::InFlight {
                retry_after: self.limits.queue_wait * 2,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_in_flight: u32, rate_per_second: f64) -> Limits {
        Limits {
            max_in_flight,
            rate_per_second,
            queue_wait: Duration::from_millis(50),
        }
    }

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let limiter = Limiter::new(limits(100, 5.0));
        let p = Uuid::from_u128(1);
        let t0 = Instant::now();
        for _ in 0..10 {
            limiter.take_token(p, t0).unwrap();
        }
        let Err(Refused::Rate { retry_after }) = limiter.take_token(p, t0) else {
            panic!("the burst is spent");
        };
        assert!(retry_after <= Duration::from_millis(200), "{retry_after:?}");
        // A second later, five more.
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..5 {
            limiter.take_token(p, t1).unwrap();
        }
        assert!(limiter.take_token(p, t1).is_err());
        // Another principal has its own bucket.
        assert!(limiter.take_token(Uuid::from_u128(2), t1).is_ok());
    }

    #[tokio::test]
    async fn a_full_share_waits_briefly_then_is_refused() {
        let limiter = Limiter::new(limits(2, 1000.0));
        let p = Uuid::from_u128(1);
        let a = limiter.admit(p).await.unwrap();
        let _b = limiter.admit(p).await.unwrap();
        let started = Instant::now();
        let Err(Refused::InFlight { retry_after }) = limiter.admit(p).await else {
            panic!("the share is taken");
        };
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(retry_after, Duration::from_millis(100));
        // Another principal is not held up.
        let _other = limiter.admit(Uuid::from_u128(2)).await.unwrap();
        // A slot given back within the wait lets the waiting request in.
        let waiting = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.admit(p).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(a);
        assert!(waiting.await.unwrap().is_ok());
    }

    #[test]
    fn the_fair_share_is_a_quarter_of_the_pool() {
        assert_eq!(Limits::fair_share(16), 4);
        assert_eq!(Limits::fair_share(3), 1);
    }
}
