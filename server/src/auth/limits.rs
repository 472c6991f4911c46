//! Per-principal limits: a fair share of the database pool in flight, and a token-bucket rate. One laptop
//! stuck in a retry loop or one agency system flooding the API slows down itself, not the county.
//!
//! Every call of a principal holds one of its in-flight slots until its answer is done; a call that finds
//! them all taken waits briefly for one, then gets RESOURCE_EXHAUSTED with the time to wait before trying
//! again (`google.rpc.RetryInfo`). With the share below the pool's size, connections stay free for everyone
//! else however hard one principal pushes (docs/access.md, "Fair share").
//!
//! A principal is known here by its credential (token, session or client certificate, hashed), and the
//! share is taken before that credential is looked up: the lookups of a flood would otherwise hold the
//! pool's connections themselves.

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
    /// Numbered writes (NUMBERED_WRITES) one principal may have in flight at once.
    pub numbered_in_flight: u32,
    /// Sustained requests per second per principal; bursts up to twice that.
    pub rate_per_second: f64,
    /// How long a request waits for one of its principal's slots before it is turned away.
    pub queue_wait: Duration,
}

impl Limits {
    /// The fair share of a pool of `pool_size` connections on a machine of `cpus` cores: a quarter of the
    /// pool, so that at least three other principals find a connection free whatever one principal does,
    /// and no more than half the cores, since the service's own cluster runs its statements on them: a
    /// principal with more CPU-bound calls in flight than that takes the machine from everyone else however
    /// many connections are free (docs/performance.md, "The noisy neighbour").
    pub fn fair_share(pool_size: u32, cpus: u32) -> u32 {
        (pool_size / 4).min(cpus / 2).max(1)
    }

    /// The cores this process may run on.
    pub fn cpus() -> u32 {
        std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: Self::fair_share(16, Self::cpus()),
            numbered_in_flight: 1,
            rate_per_second: 500.0,
            queue_wait: Duration::from_millis(200),
        }
    }
}

/// Methods that take a gap-free counter row of the year (registration, trip and fund numbers) and hold it to
/// their commit. Calls of them queue at that row whoever makes them, so a principal with several in flight
/// gains nothing from the second one and puts its whole queue ahead of everyone else's next registration:
/// the fair share of one row is one call. Each principal therefore has one numbered write in flight at a
/// time, besides its share of the pool (measured in docs/performance.md, "The noisy neighbour").
pub const NUMBERED_WRITES: [&str; 5] = [
    "/xinfang.v1.VisitService/RegisterVisit",
    "/xinfang.v1.VisitService/RegisterLetter",
    "/xinfang.v1.VisitService/RecordReturnTrip",
    "/xinfang.v1.FundService/SubmitFundRequest",
    "/xinfang.v1.SyncService/Push",
];

/// Buckets kept before quiet ones are forgotten; past it (after forgetting), new keys share one bucket.
const MAX_BUCKETS: usize = 10_000;

/// The bucket that keys beyond MAX_BUCKETS share: made-up credentials in numbers hold one share together.
const OVERFLOW: Uuid = Uuid::nil();

#[derive(Debug, Default)]
struct Buckets {
    map: HashMap<Uuid, Bucket>,
    /// When quiet buckets were last forgotten: at most once a second, since it walks the whole map.
    pruned: Option<Instant>,
}

#[derive(Debug)]
struct Bucket {
    slots: Arc<Semaphore>,
    /// The principal's one numbered write in flight.
    numbered: Arc<Semaphore>,
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
    buckets: Arc<Mutex<Buckets>>,
}

/// Holds a request's in-flight slot; the slot is given back when the response is done.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
    _numbered: Option<OwnedSemaphorePermit>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Arc::new(Mutex::new(Buckets::default())),
        }
    }

    /// Takes a token of `principal`'s rate at `now` and returns its slots, or says when to come back.
    fn take_token(
        &self,
        principal: Uuid,
        now: Instant,
    ) -> Result<(Arc<Semaphore>, Arc<Semaphore>), Refused> {
        let rate = self.limits.rate_per_second;
        let burst = rate * 2.0;
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            // A poisoned lock only means another request panicked mid-update; the counts are still usable.
            Err(poisoned) => poisoned.into_inner(),
        };
        let buckets = &mut *buckets;
        let mut key = principal;
        if buckets.map.len() >= MAX_BUCKETS && !buckets.map.contains_key(&key) {
            // Keys are credentials as presented, before they are checked, so made-up tokens make buckets
            // too: forget the ones with nothing in flight that have been quiet a while, and when that
            // frees nothing, the newcomer shares the overflow bucket.
            if buckets
                .pruned
                .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1))
            {
                let max_in_flight = self.limits.max_in_flight.max(1) as usize;
                buckets.map.retain(|_, b| {
                    b.slots.available_permits() < max_in_flight
                        || now.saturating_duration_since(b.refilled) < Duration::from_secs(10)
                });
                buckets.pruned = Some(now);
            }
            if buckets.map.len() >= MAX_BUCKETS {
                key = OVERFLOW;
            }
        }
        let bucket = buckets.map.entry(key).or_insert_with(|| Bucket {
            slots: Arc::new(Semaphore::new(self.limits.max_in_flight.max(1) as usize)),
            numbered: Arc::new(Semaphore::new(
                self.limits.numbered_in_flight.max(1) as usize
            )),
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
        Ok((Arc::clone(&bucket.slots), Arc::clone(&bucket.numbered)))
    }

    /// Admits one request presenting `credential` (its hash) before the credential is looked up: a token of
    /// its rate and one of its slots, so that a flood's own lookups stay within one share.
    pub async fn admit_credential(&self, credential: Uuid) -> Result<Permit, Refused> {
        self.admit_to(credential, false).await
    }

    /// Admits one request of `principal` to `method`: a token of its rate now, then, within the wait, its
    /// one numbered write when the method is one, and one of its slots. Counted per principal, so a person
    /// signed in twice or a system with two tokens still holds one share.
    pub async fn admit(&self, principal: Uuid, method: &str) -> Result<Permit, Refused> {
        self.admit_to(principal, NUMBERED_WRITES.contains(&method))
            .await
    }

    async fn admit_to(&self, key: Uuid, numbered_write: bool) -> Result<Permit, Refused> {
        let (slots, numbered) = self.take_token(key, Instant::now())?;
        let refused = Refused::InFlight {
            retry_after: self.limits.queue_wait * 2,
        };
        let wait = async {
            let numbered = if numbered_write {
                Some(numbered.acquire_owned().await?)
            } else {
                None
            };
            let slot = slots.acquire_owned().await?;
            Ok::<_, tokio::sync::AcquireError>(Permit {
                _slot: slot,
                _numbered: numbered,
            })
        };
        match tokio::time::timeout(self.limits.queue_wait, wait).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphores are never closed; a closed one would mean the same as no slot.
            Ok(Err(_)) | Err(_) => Err(refused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "/xinfang.v1.CaseService/ListCases";
    const WRITE: &str = "/xinfang.v1.VisitService/RegisterVisit";

    fn limits(max_in_flight: u32, rate_per_second: f64) -> Limits {
        Limits {
            max_in_flight,
            numbered_in_flight: 1,
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
        let a = limiter.admit(p, READ).await.unwrap();
        let _b = limiter.admit(p, READ).await.unwrap();
        let started = Instant::now();
        let Err(Refused::InFlight { retry_after }) = limiter.admit(p, READ).await else {
            panic!("the share is taken");
        };
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(retry_after, Duration::from_millis(100));
        // Another principal is not held up.
        let _other = limiter.admit(Uuid::from_u128(2), READ).await.unwrap();
        // A slot given back within the wait lets the waiting request in.
        let waiting = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.admit(p, READ).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(a);
        assert!(waiting.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_principal_has_one_numbered_write_in_flight_and_reads_beside_it() {
        let limiter = Limiter::new(limits(4, 1000.0));
        let p = Uuid::from_u128(1);
        let write = limiter.admit(p, WRITE).await.unwrap();
        // Its second registration waits for the first, then is refused; a read still gets a slot.
        let Err(Refused::InFlight { .. }) = limiter.admit(p, "/xinfang.v1.SyncService/Push").await
        else {
            panic!("one numbered write at a time");
        };
        let _read = limiter.admit(p, READ).await.unwrap();
        // Another principal registers at once.
        let _other = limiter.admit(Uuid::from_u128(2), WRITE).await.unwrap();
        // The waiting write goes in when the first is answered.
        let waiting = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.admit(p, WRITE).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(write);
        assert!(waiting.await.unwrap().is_ok());
    }

    #[test]
    fn the_numbered_writes_are_methods_of_the_api() {
        for m in NUMBERED_WRITES {
            assert!(
                super::super::access::ACCESS.iter().any(|(n, _)| *n == m),
                "{m} is no method of the role table"
            );
        }
    }

    #[test]
    fn made_up_credentials_beyond_the_map_share_one_bucket() {
        let limiter = Limiter::new(limits(4, 1000.0));
        let now = Instant::now();
        for n in 1..=MAX_BUCKETS as u128 {
            limiter.take_token(Uuid::from_u128(n), now).unwrap();
        }
        // All recent: nothing to forget, so newcomers share the overflow bucket (and its slots).
        let (a, _) = limiter.take_token(Uuid::from_u128(u128::MAX), now).unwrap();
        let (b, _) = limiter
            .take_token(Uuid::from_u128(u128::MAX - 1), now)
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // A key already known keeps its own.
        let (own, _) = limiter.take_token(Uuid::from_u128(7), now).unwrap();
        assert!(!Arc::ptr_eq(&own, &a));
        // Quiet ones are forgotten a while later, and a newcomer gets a bucket of its own again.
        let later = now + Duration::from_secs(11);
        let (c, _) = limiter
            .take_token(Uuid::from_u128(u128::MAX - 2), later)
            .unwrap();
        assert!(!Arc::ptr_eq(&c, &a));
    }

    #[test]
    fn the_fair_share_is_a_quarter_of_the_pool() {
        assert_eq!(Limits::fair_share(16, 8), 4);
        assert_eq!(Limits::fair_share(16, 64), 4);
        assert_eq!(Limits::fair_share(3, 8), 1);
        // and no more than half the cores
        assert_eq!(Limits::fair_share(16, 4), 2);
        assert_eq!(Limits::fair_share(16, 2), 1);
        assert_eq!(Limits::fair_share(16, 1), 1);
    }
}
