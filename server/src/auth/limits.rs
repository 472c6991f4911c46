//! Per-principal limits: requests in flight and a token-bucket rate. One laptop stuck in a retry loop or one
//! agency system flooding the API slows down itself, not the county.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Requests one principal may have in flight at once.
    pub max_in_flight: u32,
    /// Sustained requests per second per principal; bursts up to twice that.
    pub rate_per_second: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            rate_per_second: 500.0,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    in_flight: u32,
    tokens: f64,
    refilled: Instant,
}

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    InFlight,
    Rate,
}

#[derive(Debug, Clone)]
pub struct Limiter {
    limits: Limits,
    buckets: Arc<Mutex<HashMap<Uuid, Bucket>>>,
}

/// Holds a request's in-flight slot; the slot is given back when the response is done.
#[derive(Debug)]
pub struct Permit {
    limiter: Limiter,
    principal: Uuid,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut buckets) = self.limiter.buckets.lock()
            && let Some(b) = buckets.get_mut(&self.principal)
        {
            b.in_flight = b.in_flight.saturating_sub(1);
        }
    }
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Admits one request of `principal` at `now`, or says why not.
    pub fn admit(&self, principal: Uuid, now: Instant) -> Result<Permit, Refused> {
        let burst = self.limits.rate_per_second * 2.0;
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            // A poisoned lock only means another request panicked mid-update; the counts are still usable.
            Err(poisoned) => poisoned.into_inner(),
        };
        let bucket = buckets.entry(principal).or_insert(Bucket {
            in_flight: 0,
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limits.rate_per_second).min(burst);
        bucket.refilled = now;
        if bucket.in_flight >= self.limits.max_in_flight {
            return Err(Refused::InFlight);
        }
        if bucket.tokens < 1.0 {
            return Err(Refused::Rate);
        }
        bucket.tokens -= 1.0;
        bucket.in_flight += 1;
        Ok(Permit {
            limiter: self.clone(),
            principal,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let limiter = Limiter::new(Limits {
            max_in_flight: 100,
            rate_per_second: 5.0,
        });
        let p = Uuid::from_u128(1);
        let t0 = Instant::now();
        let permits: Vec<_> = (0..10).map(|_| limiter.admit(p, t0).unwrap()).collect();
        drop(permits);
        assert_eq!(limiter.admit(p, t0).unwrap_err(), Refused::Rate);
        // A second later, five more.
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..5 {
            limiter.admit(p, t1).unwrap();
        }
        assert_eq!(limiter.admit(p, t1).unwrap_err(), Refused::Rate);
        // Another principal has its own bucket.
        assert!(limiter.admit(Uuid::from_u128(2), t1).is_ok());
    }

    #[test]
    fn in_flight_slots_come_back_when_requests_end() {
        let limiter = Limiter::new(Limits {
            max_in_flight: 2,
            rate_per_second: 1000.0,
        });
        let p = Uuid::from_u128(1);
        let now = Instant::now();
        let a = limiter.admit(p, now).unwrap();
        let _b = limiter.admit(p, now).unwrap();
        assert_eq!(limiter.admit(p, now).unwrap_err(), Refused::InFlight);
        drop(a);
        assert!(limiter.admit(p, now).is_ok());
    }
}
