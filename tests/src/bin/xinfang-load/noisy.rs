//! The noisy neighbour: one principal floods the service with many calls at once (an agency system in a
//! retry loop, a script gone wrong) while a county clerk registers visits one at a time. The clerk's median
//! should stay within 2× of its median on an idle server: the per-principal fair share of the pool
//! (docs/access.md, "Fair share") turns the flood's excess away with RESOURCE_EXHAUSTED instead of letting
//! it take every connection.
//!
//! Three timed phases against one server: the clerk alone; the clerk under the flood. The suite runs the
//! second phase twice, on a server with the default fair share and on one with the share opened up to the
//! flood's size, so the table shows what the share buys.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Result;
use sqlx::PgPool;
use tonic::transport::Channel;
use xinfang_client::Client;
use xinfang_proto::v1::{ListCasesRequest, RegisterVisitRequest};
use xinfang_server::auth::Role;

use crate::{
    load::{self, Outcome, Recorder, Requests, ScenarioResult},
    world::{BUREAU, World},
};

#[derive(Debug, Clone)]
pub struct NoisyOptions {
    /// Calls the flooding principal keeps in flight.
    pub flood_callers: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// The two principals, each with its own connections (as two machines would have).
pub struct Neighbours {
    victim: Client,
    flood: Vec<Client>,
    world: Option<World>,
    seed: u64,
}

impl Neighbours {
    pub async fn new(
        address: &str,
        pool: &PgPool,
        world: Option<World>,
        seed: u64,
        flood_connections: usize,
    ) -> Result<Self> {
        let mut conn = pool.acquire().await?;
        let victim_token = load::issue(
            &mut conn,
            Role::CountyClerk,
            BUREAU,
            "noisy-neighbour clerk",
        )
        .await?;
        let flood_token = load::issue(
            &mut conn,
            Role::CountyClerk,
            BUREAU,
            "noisy-neighbour flood",
        )
        .await?;
        let victim_channel = load::connect(address, 1).await?;
        let flood_channels: Vec<Channel> = load::connect(address, flood_connections).await?;
        Ok(Neighbours {
            victim: Client::from_channel(victim_channel[0].clone(), Some(&victim_token))?,
            flood: flood_channels
                .into_iter()
                .map(|c| Client::from_channel(c, Some(&flood_token)))
                .collect::<Result<_, _>>()?,
            world,
            seed,
        })
    }

    /// The clerk alone: one registration after another.
    pub async fn alone(&self, opts: &NoisyOptions, name: &str) -> Result<ScenarioResult> {
        let mut r = self.victim_run(opts, name).await?;
        r.note = "a county clerk registering visits one at a time, nobody else calling".into();
        Ok(r)
    }

    /// The clerk while the flood runs; the flood's own result second.
    pub async fn flooded(
        &self,
        opts: &NoisyOptions,
        victim_name: &str,
        flood_name: &str,
    ) -> Result<(ScenarioResult, ScenarioResult)> {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let measure_from = started + opts.warmup;
        let mut tasks = Vec::new();
        for i in 0..opts.flood_callers.max(1) {
            let mut client = self.flood[i % self.flood.len()].clone();
            let mut requests = Requests::new(
                self.world.clone(),
                self.seed ^ 0xF100D ^ (i as u64).wrapping_mul(0x9E37_79B9),
            );
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut rec = Recorder::default();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    // Half writes, half the county-wide overdue list: what a busy desk system does.
                    let out = if n % 2 == 0 {
                        let r = client
                            .visits
                            .register_visit(RegisterVisitRequest {
                                request_id: uuid::Uuid::now_v7().to_string(),
                                visit: Some(requests.visit(false)),
                            })
                            .await;
                        Outcome::single("RegisterVisit", r.map(|_| ()))
                    } else {
                        let r = client
                            .cases
                            .list_cases(ListCasesRequest {
                                page_size: 50,
                                overdue: true,
                                ..ListCasesRequest::default()
                            })
                            .await;
                        Outcome::single("ListCases.overdue", r.map(|_| ()))
                    };
                    n += 1;
                    if t0 >= measure_from {
                        rec.add(out, t0, Instant::now());
                    }
                }
                rec
            }));
        }
        let victim = self.victim_run(opts, victim_name).await;
        stop.store(true, Ordering::Relaxed);
        let mut recs = Vec::new();
        for t in tasks {
            recs.push(t.await?);
        }
        let mut victim = victim?;
        victim.note = format!(
            "the same clerk while one other principal keeps {} calls in flight",
            opts.flood_callers
        );
        let mut flood =
            Recorder::merge(recs).result(flood_name, opts.flood_callers, self.flood.len(), None);
        flood.note = "one principal: RegisterVisit and the county-wide overdue list, alternately, \
                      as fast as answers come; RESOURCE_EXHAUSTED is the fair share turning it away"
            .into();
        Ok((victim, flood))
    }

    async fn victim_run(&self, opts: &NoisyOptions, name: &str) -> Result<ScenarioResult> {
        let mut client = self.victim.clone();
        let mut requests = Requests::new(self.world.clone(), self.seed ^ 0x71C7);
        let start = Instant::now();
        let warm_end = start + opts.warmup;
        let end = warm_end + opts.duration;
        let mut rec = Recorder::default();
        loop {
            let t0 = Instant::now();
            if t0 >= end {
                break;
            }
            let r = client
                .visits
                .register_visit(RegisterVisitRequest {
                    request_id: uuid::Uuid::now_v7().to_string(),
                    visit: Some(requests.visit(false)),
                })
                .await;
            let out = Outcome::single("RegisterVisit", r.map(|_| ()));
            if t0 >= warm_end {
                rec.add(out, t0, Instant::now());
            }
        }
        let window = rec
            .last_end()
            .map(|l| l.saturating_duration_since(warm_end));
        Ok(rec.result(name, 1, 1, window))
    }
}
