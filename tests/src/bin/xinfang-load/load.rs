//! The load: workers calling the service through the project's client library, latencies per call, errors
//! by gRPC code. Time-based runs discard the warm-up; count-based runs (push) time everything.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use chrono::Utc;
use prost_types::Timestamp;
use serde::Serialize;
use sqlx::PgPool;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use xinfang_client::Client;
use xinfang_proto::v1::{
    GetIndicatorsRequest, GetVisitStatisticsRequest, LetterChannel, Level, ListCasesRequest,
    ListVisitsRequest, MatterInput, OpOutcome, Operation, Period, Petitioner, PushRequest,
    RegisterLetterRequest, RegisterVisitRequest, Visit, VisitGrouping, YearMonth, operation,
};
use xinfang_server::auth::{self, Role};

use crate::world::{
    self, BUREAU, CATEGORIES, COUNTY, DEPARTMENTS, Rng, TEXTS, TOWNSHIPS, World, zipf,
};

// ---------------------------------------------------------------------------------------------------------
// Statistics

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    /// Nearest-rank percentiles of latencies in microseconds.
    pub fn of(mut micros: Vec<u32>) -> Stats {
        if micros.is_empty() {
            return Stats::default();
        }
        micros.sort_unstable();
        let n = micros.len();
        let at = |p: f64| {
            let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
            f64::from(micros[rank.min(n) - 1]) / 1000.0
        };
        Stats {
            count: n as u64,
            mean_ms: micros.iter().map(|&m| f64::from(m)).sum::<f64>() / n as f64 / 1000.0,
            p50_ms: at(50.0),
            p90_ms: at(90.0),
            p99_ms: at(99.0),
            max_ms: f64::from(micros[n - 1]) / 1000.0,
        }
    }
}

/// What one scenario did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub concurrency: usize,
    pub connections: usize,
    /// Length of the measured window.
    pub seconds: f64,
    /// Successful requests, and their rate.
    pub ok: u64,
    pub rate: f64,
    /// Items (operations applied by pushes; 1 per other request), and their rate.
    pub items: u64,
    pub item_rate: f64,
    pub latency: Stats,
    /// Failed requests (and rejected push operations, `op:` prefixed) by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// Latency per call kind (mixed and indicators).
    pub calls: BTreeMap<String, Stats>,
    /// Peak and current resident set of the server process during the scenario.
    pub server_rss: Option<crate::procs::Rss>,
    /// CPU seconds used during the scenario: server process, PostgreSQL (all its processes), this process.
    pub cpu: Option<crate::procs::CpuShare>,
    pub note: String,
}

impl ScenarioResult {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One call's outcome: its kind, items done, or the error code; and rejected push operations.
pub struct Outcome {
    label: &'static str,
    result: Result<u64, String>,
    op_errors: Vec<String>,
}

impl Outcome {
    pub(crate) fn single(label: &'static str, result: Result<(), tonic::Status>) -> Self {
        Outcome {
            label,
            result: result.map(|()| 1).map_err(|s| format!("{:?}", s.code())),
            op_errors: Vec::new(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Recorder {
    all: Vec<u32>,
    calls: BTreeMap<&'static str, Vec<u32>>,
    ok: u64,
    items: u64,
    errors: BTreeMap<String, u64>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Recorder {
    pub(crate) fn add(&mut self, out: Outcome, started: Instant, ended: Instant) {
        let micros = u32::try_from((ended - started).as_micros()).unwrap_or(u32::MAX);
        self.first = Some(self.first.map_or(started, |f| f.min(started)));
        self.last = Some(self.last.map_or(ended, |l| l.max(ended)));
        for e in out.op_errors {
            *self.errors.entry(format!("op:{e}")).or_default() += 1;
        }
        match out.result {
            Ok(items) => {
                self.ok += 1;
                self.items += items;
                self.all.push(micros);
                self.calls.entry(out.label).or_default().push(micros);
            }
            Err(code) => *self.errors.entry(code).or_default() += 1,
        }
    }

    /// When the last recorded call ended.
    pub(crate) fn last_end(&self) -> Option<Instant> {
        self.last
    }

    pub(crate) fn merge(recs: Vec<Recorder>) -> Recorder {
        let mut out = Recorder::default();
        for r in recs {
            out.all.extend(r.all);
            for (k, v) in r.calls {
                out.calls.entry(k).or_default().extend(v);
            }
            out.ok += r.ok;
            out.items += r.items;
            for (k, v) in r.errors {
                *out.errors.entry(k).or_default() += v;
            }
            out.first = match (out.first, r.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            out.last = match (out.last, r.last) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        out
    }

    pub(crate) fn result(
        self,
        name: &str,
        concurrency: usize,
        connections: usize,
        window: Option<Duration>,
    ) -> ScenarioResult {
        let seconds = window
            .map(|w| w.as_secs_f64())
            .or_else(|| {
                self.first
                    .zip(self.last)
                    .map(|(f, l)| (l - f).as_secs_f64())
            })
            .unwrap_or(0.0)
            .max(1e-9);
        ScenarioResult {
            name: name.to_owned(),
            concurrency,
            connections,
            seconds,
            ok: self.ok,
            rate: self.ok as f64 / seconds,
            items: self.items,
            item_rate: self.items as f64 / seconds,
            latency: Stats::of(self.all),
            errors: self.errors,
            calls: self
                .calls
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Stats::of(v)))
                .collect(),
            ..ScenarioResult::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Principals and connections

/// Tokens of the callers: each worker has principals of its own (a desk, a laptop), as the service limits
/// requests per principal.
#[derive(Debug, Clone)]
pub struct Principals {
    pub clerks: Vec<String>,
    pub officers: Vec<String>,
    pub leaders: Vec<String>,
    /// (township code, token) of a township clerk.
    pub townships: Vec<(String, String)>,
}

impl Principals {
    pub async fn issue(pool: &PgPool, workers: usize) -> Result<Principals> {
        let mut conn = pool.acquire().await?;
        let mut p = Principals {
            clerks: Vec::new(),
            officers: Vec::new(),
            leaders: Vec::new(),
            townships: Vec::new(),
        };
        for i in 0..workers.max(1) {
            p.clerks.push(
                issue(
                    &mut conn,
                    Role::CountyClerk,
                    BUREAU,
                    &format!("load clerk {i}"),
                )
                .await?,
            );
            p.officers.push(
                issue(
                    &mut conn,
                    Role::FieldOfficer,
                    BUREAU,
                    &format!("load officer {i}"),
                )
                .await?,
            );
            p.leaders
                .push(issue(&mut conn, Role::Leader, BUREAU, &format!("load leader {i}")).await?);
            let (code, _) = TOWNSHIPS[i % TOWNSHIPS.len()];
            let token = issue(
                &mut conn,
                Role::TownshipClerk,
                code,
                &format!("load township clerk {i}"),
            )
            .await?;
            p.townships.push((code.to_owned(), token));
        }
        Ok(p)
    }
}

/// A new principal's token.
pub async fn issue(
    conn: &mut sqlx::PgConnection,
    role: Role,
    org: &str,
    name: &str,
) -> Result<String> {
    let (_, token) = auth::issue_token(conn, role, org, name)
        .await
        .map_err(|e| anyhow::anyhow!("issuing a {role} token: {e:?}"))?;
    Ok(token)
}

/// `n` HTTP/2 connections to `address`.
pub async fn connect(address: &str, n: usize) -> Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..n.max(1) {
        let channel = Endpoint::from_shared(address.to_owned())?
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to {address}"))?;
        channels.push(channel);
    }
    Ok(channels)
}

// ---------------------------------------------------------------------------------------------------------
// Requests

/// Person numbers of new petitioners, unique in this process (and, offset by the start time, across runs).
static NEXT_PERSON: AtomicU64 = AtomicU64::new(0);

pub fn init_people(world: Option<&World>) {
    let base = world.map_or(10_000_000, World::first_free_person);
    let run = (Utc::now().timestamp() as u64 / 60) % 2_000;
    NEXT_PERSON.store(base + run * 100_000_000, Ordering::SeqCst);
}

fn new_person() -> u64 {
    NEXT_PERSON.fetch_add(1, Ordering::Relaxed)
}

fn ts(t: chrono::DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

fn petitioner(n: u64, place: &str, representative: bool) -> Petitioner {
    Petitioner {
        name: world::person_name(n),
        id_number: world::id_number(n),
        phone: world::phone(n),
        address: world::address(n, place),
        representative,
        ..Petitioner::default()
    }
}

/// A year as a period.
pub fn year_period(year: i32) -> Period {
    Period {
        start: Some(YearMonth { year, month: 1 }),
        end: Some(YearMonth { year, month: 12 }),
    }
}

/// Realistic requests: new petitioners with new cases, or (`repeat_share`) the lead petitioner of a
/// generated case coming back about the same thing, which the service links as a repeat.
#[derive(Clone)]
pub struct Requests {
    world: Option<World>,
    rng: Rng,
    pub repeat_share: f64,
}

/// The case a registration is about, and its people.
struct About {
    matter: MatterInput,
    people: Vec<Petitioner>,
}

impl Requests {
    pub fn new(world: Option<World>, seed: u64) -> Self {
        Requests {
            world,
            rng: Rng::new(seed),
            repeat_share: 0.3,
        }
    }

    fn about(&mut self, collective: bool) -> About {
        if let Some(w) = &self.world
            && w.cases > 0
            && self.rng.chance(self.repeat_share)
        {
            let m = w.case(self.rng.below(w.cases));
            let (content, demands) = TEXTS[m.text];
            return About {
                matter: MatterInput {
                    content: format!("{}{}（再次反映）", m.org_name, content),
                    demands: demands.to_owned(),
                    category: m.category.to_owned(),
                    problem_org_code: m.org.to_owned(),
                    link_case_id: String::new(),
                    ..Default::default()
                },
                people: vec![petitioner(w.person(m.index, 0), m.org_name, collective)],
            };
        }
        let r = self.rng.next();
        let category = CATEGORIES[zipf(r, CATEGORIES.len())];
        let (org, place) = match self.rng.below(100) {
            0..=64 => TOWNSHIPS[zipf(self.rng.next(), TOWNSHIPS.len())],
            65..=97 => DEPARTMENTS[zipf(self.rng.next(), DEPARTMENTS.len())],
            _ => (COUNTY, "盐边县"),
        };
        let (content, demands) = TEXTS[(self.rng.below(TEXTS.len() as u64)) as usize];
        let persons = match self.rng.below(100) {
            0..=79 => 1,
            80..=94 => 2,
            _ => 3,
        };
        About {
            matter: MatterInput {
                content: format!("{place}{content}"),
                demands: demands.to_owned(),
                category: category.to_owned(),
                problem_org_code: org.to_owned(),
                link_case_id: String::new(),
                ..Default::default()
            },
            people: (0..persons)
                .map(|i| petitioner(new_person(), place, collective && i == 0))
                .collect(),
        }
    }

    /// A visit as a county clerk registers it at the reception hall (`field`: as a field officer records
    /// one in Beijing or Chengdu, days ago).
    pub fn visit(&mut self, field: bool) -> Visit {
        let now = Utc::now();
        let (level, place, non_reception, at) = if field {
            let level = match self.rng.below(10) {
                0..=4 => Level::National,
                5..=7 => Level::Province,
                _ => Level::City,
            };
            let non_reception = self.rng.chance(0.4);
            let place = match (level, non_reception) {
                (Level::National, true) => "北京市中南海周边",
                (Level::National, false) => "国家信访局来访接待司",
                (Level::Province, true) => "成都市省委周边",
                (Level::Province, false) => "四川省信访局",
                _ => "攀枝花市信访局",
            };
            let at = now - chrono::Duration::minutes(self.rng.range(60, 20 * 24 * 60));
            (level, place, non_reception, at)
        } else {
            let level = match self.rng.below(100) {
                0..=74 => Level::County,
                75..=89 => Level::City,
                90..=96 => Level::Province,
                _ => Level::National,
            };
            let at = now - chrono::Duration::minutes(self.rng.range(1, 240));
            (level, "盐边县信访局接待大厅", false, at)
        };
        let headcount = match self.rng.below(100) {
            0..=79 => 1,
            80..=93 => self.rng.range(2, 4) as i32,
            _ => self.rng.range(5, 30) as i32,
        };
        let about = self.about(headcount >= 5);
        Visit {
            visited_at: Some(ts(at)),
            level: level as i32,
            non_reception_place: non_reception,
            place_name: place.to_owned(),
            headcount: headcount.max(about.people.len() as i32),
            petitioners: about.people,
            matter: Some(about.matter),
            ..Visit::default()
        }
    }

    pub fn letter(&mut self) -> xinfang_proto::v1::Letter {
        let channel = match self.rng.below(10) {
            0..=3 => LetterChannel::Letter,
            4..=5 => LetterChannel::Phone,
            _ => LetterChannel::Online,
        };
        let at = Utc::now() - chrono::Duration::minutes(self.rng.range(1, 600));
        let about = self.about(false);
        xinfang_proto::v1::Letter {
            channel: channel as i32,
            received_at: Some(ts(at)),
            petitioners: about.people,
            matter: Some(about.matter),
            ..xinfang_proto::v1::Letter::default()
        }
    }

    pub fn push(&mut self, ops: usize) -> PushRequest {
        PushRequest {
            operations: (0..ops)
                .map(|_| Operation {
                    op_id: uuid::Uuid::now_v7().to_string(),
                    op: Some(operation::Op::RegisterVisit(RegisterVisitRequest {
                        request_id: String::new(),
                        visit: Some(self.visit(true)),
                    })),
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Workers

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Scenario {
    RegisterVisit,
    Push,
    Indicators,
    Mixed,
    Echo,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::RegisterVisit => "register-visit",
            Scenario::Push => "push",
            Scenario::Indicators => "indicators",
            Scenario::Mixed => "mixed",
            Scenario::Echo => "echo",
        }
    }
}

struct Worker {
    scenario: Scenario,
    clerk: Client,
    officer: Client,
    leader: Client,
    township: (String, Client),
    health: HealthClient<Channel>,
    requests: Requests,
    year: i32,
    push_batch: usize,
}

/// The mix of a day, per mille: intake at the county desk, field officers syncing, township clerks working
/// their lists, now and then a leader's dashboard.
const MIX: [(&str, u64); 9] = [
    ("RegisterVisit", 330),
    ("RegisterLetter", 100),
    ("Push", 50),
    ("ListVisits", 200),
    ("ListCases", 200),
    ("ListCases.overdue", 100),
    ("GetIndicators.township", 10),
    ("GetIndicators.county", 5),
    ("GetVisitStatistics.county", 5),
];

impl Worker {
    async fn register_visit(&mut self) -> Outcome {
        let visit = self.requests.visit(false);
        let r = self
            .clerk
            .visits
            .register_visit(RegisterVisitRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                visit: Some(visit),
            })
            .await;
        Outcome::single("RegisterVisit", r.map(|_| ()))
    }

    async fn push(&mut self, ops: usize) -> Outcome {
        let request = self.requests.push(ops);
        match self.officer.sync.push(request).await {
            Ok(response) => {
                let results = response.into_inner().results;
                let applied = results
                    .iter()
                    .filter(|r| r.outcome == OpOutcome::Applied as i32)
                    .count() as u64;
                let op_errors = results
                    .iter()
                    .filter(|r| r.outcome == OpOutcome::Rejected as i32)
                    .map(|r| format!("{:?}", tonic::Code::from_i32(r.code)))
                    .collect();
                Outcome {
                    label: "Push",
                    result: Ok(applied),
                    op_errors,
                }
            }
            Err(s) => Outcome::single("Push", Err(s)),
        }
    }

    async fn indicators(&mut self, county: bool) -> Outcome {
        let (client, org, label) = if county {
            (&mut self.leader, String::new(), "GetIndicators.county")
        } else {
            (
                &mut self.township.1,
                self.township.0.clone(),
                "GetIndicators.township",
            )
        };
        let r = client
            .metrics
            .get_indicators(GetIndicatorsRequest {
                period: Some(year_period(self.year)),
                org_code: org,
                ..GetIndicatorsRequest::default()
            })
            .await;
        Outcome::single(label, r.map(|_| ()))
    }

    async fn visit_statistics(&mut self, county: bool) -> Outcome {
        let (client, org, group, label) = if county {
            (
                &mut self.leader,
                String::new(),
                VisitGrouping::Township,
                "GetVisitStatistics.county",
            )
        } else {
            (
                &mut self.township.1,
                self.township.0.clone(),
                VisitGrouping::Month,
                "GetVisitStatistics.township",
            )
        };
        let r = client
            .metrics
            .get_visit_statistics(GetVisitStatisticsRequest {
                period: Some(year_period(self.year)),
                org_code: org,
                group_by: group as i32,
            })
            .await;
        Outcome::single(label, r.map(|_| ()))
    }

    async fn step(&mut self) -> Outcome {
        match self.scenario {
            Scenario::RegisterVisit => self.register_visit().await,
            Scenario::Push => self.push(self.push_batch).await,
            Scenario::Echo => {
                let r = self
                    .health
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await;
                Outcome::single("Check", r.map(|_| ()))
            }
            Scenario::Indicators => self.indicators(true).await,
            Scenario::Mixed => {
                let total: u64 = MIX.iter().map(|m| m.1).sum();
                let mut x = self.requests.rng.below(total);
                let mut op = MIX[0].0;
                for (name, weight) in MIX {
                    if x < weight {
                        op = name;
                        break;
                    }
                    x -= weight;
                }
                match op {
                    "RegisterVisit" => self.register_visit().await,
                    "RegisterLetter" => {
                        let letter = self.requests.letter();
                        let r = self
                            .clerk
                            .visits
                            .register_letter(RegisterLetterRequest {
                                request_id: uuid::Uuid::now_v7().to_string(),
                                letter: Some(letter),
                            })
                            .await;
                        Outcome::single("RegisterLetter", r.map(|_| ()))
                    }
                    "Push" => self.push(5).await,
                    "ListVisits" => {
                        let org = self.township.0.clone();
                        let r = self
                            .township
                            .1
                            .visits
                            .list_visits(ListVisitsRequest {
                                page_size: 50,
                                problem_org_code: org,
                                ..ListVisitsRequest::default()
                            })
                            .await;
                        Outcome::single("ListVisits", r.map(|_| ()))
                    }
                    "ListCases" => {
                        let org = self.township.0.clone();
                        let r = self
                            .township
                            .1
                            .cases
                            .list_cases(ListCasesRequest {
                                page_size: 50,
                                responsible_org_code: org,
                                ..ListCasesRequest::default()
                            })
                            .await;
                        Outcome::single("ListCases", r.map(|_| ()))
                    }
                    "ListCases.overdue" => {
                        let r = self
                            .clerk
                            .cases
                            .list_cases(ListCasesRequest {
                                page_size: 50,
                                overdue: true,
                                ..ListCasesRequest::default()
                            })
                            .await;
                        Outcome::single("ListCases.overdue", r.map(|_| ()))
                    }
                    "GetIndicators.township" => self.indicators(false).await,
                    "GetIndicators.county" => self.indicators(true).await,
                    _ => self.visit_statistics(true).await,
                }
            }
        }
    }
}

/// What a run needs: where to call, as whom, about which county.
pub struct Target {
    pub channels: Vec<Channel>,
    pub principals: Principals,
    pub world: Option<World>,
    /// The year the indicators are asked for.
    pub year: i32,
    pub seed: u64,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Push: operations in all, and per push.
    pub push_ops: u64,
    pub push_batch: usize,
    /// Indicators: measured rounds of the four calls (after one warm-up round).
    pub rounds: u32,
}

impl Target {
    fn worker(&self, scenario: Scenario, i: usize, channels: &[Channel]) -> Result<Worker> {
        let channel = channels[i % channels.len()].clone();
        let p = &self.principals;
        let pick = |v: &Vec<String>| v[i % v.len()].clone();
        let client = |token: &str| Client::from_channel(channel.clone(), Some(token));
        let (code, token) = &p.townships[i % p.townships.len()];
        Ok(Worker {
            scenario,
            clerk: client(&pick(&p.clerks))?,
            officer: client(&pick(&p.officers))?,
            leader: client(&pick(&p.leaders))?,
            township: (code.clone(), client(token)?),
            health: HealthClient::new(channel.clone()),
            requests: Requests::new(
                self.world.clone(),
                self.seed ^ (i as u64 + 1).wrapping_mul(0x5851_F42D_4C95_7F2D),
            ),
            year: self.year,
            push_batch: 1,
        })
    }

    /// A time-based run: `concurrency` workers call in a loop; calls started during the warm-up are not
    /// counted.
    pub async fn run_timed(
        &self,
        scenario: Scenario,
        opts: &RunOptions,
        channels: Option<&[Channel]>,
    ) -> Result<ScenarioResult> {
        let channels = channels.unwrap_or(&self.channels);
        let start = Instant::now();
        let warm_end = start + opts.warmup;
        let end = warm_end + opts.duration;
        let mut tasks = Vec::new();
        for i in 0..opts.concurrency.max(1) {
            let mut worker = self.worker(scenario, i, channels)?;
            tasks.push(tokio::spawn(async move {
                let mut rec = Recorder::default();
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let out = worker.step().await;
                    let t1 = Instant::now();
                    if t0 >= warm_end {
                        rec.add(out, t0, t1);
                    }
                }
                rec
            }));
        }
        let mut recs = Vec::new();
        for t in tasks {
            recs.push(t.await?);
        }
        let rec = Recorder::merge(recs);
        let window = rec.last.map(|l| l.saturating_duration_since(warm_end));
        Ok(rec.result(scenario.name(), opts.concurrency, channels.len(), window))
    }

    /// Push: `push_ops` operations in pushes of `push_batch`, shared by `concurrency` field officers; the
    /// whole run is timed.
    pub async fn run_push(&self, opts: &RunOptions) -> Result<ScenarioResult> {
        let batches = opts.push_ops.div_ceil(opts.push_batch.max(1) as u64);
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for i in 0..opts.concurrency.max(1) {
            let mut worker = self.worker(Scenario::Push, i, &self.channels)?;
            worker.push_batch = opts.push_batch.max(1);
            let next = next.clone();
            tasks.push(tokio::spawn(async move {
                let mut rec = Recorder::default();
                while next.fetch_add(1, Ordering::SeqCst) < batches {
                    let t0 = Instant::now();
                    let out = worker.step().await;
                    rec.add(out, t0, Instant::now());
                }
                rec
            }));
        }
        let mut recs = Vec::new();
        for t in tasks {
            recs.push(t.await?);
        }
        let mut result =
            Recorder::merge(recs).result("push", opts.concurrency, self.channels.len(), None);
        result.note = format!(
            "{} operations (RegisterVisit by field officers) in pushes of {}",
            opts.push_ops, opts.push_batch
        );
        Ok(result)
    }

    /// Indicators: one caller, rounds of the four calls (county-wide as a leader, per township as its clerk,
    /// townships in turn); the first round warms up.
    pub async fn run_indicators(&self, opts: &RunOptions) -> Result<ScenarioResult> {
        let mut workers = Vec::new();
        for i in 0..TOWNSHIPS.len().min(self.principals.townships.len()) {
            workers.push(self.worker(Scenario::Indicators, i, &self.channels)?);
        }
        let mut rec = Recorder::default();
        for round in 0..=opts.rounds {
            let n = workers.len();
            let w = &mut workers[round as usize % n];
            for call in 0..4 {
                let t0 = Instant::now();
                let out = match call {
                    0 => w.indicators(true).await,
                    1 => w.indicators(false).await,
                    2 => w.visit_statistics(true).await,
                    _ => w.visit_statistics(false).await,
                };
                if round > 0 {
                    rec.add(out, t0, Instant::now());
                }
            }
        }
        let mut result = rec.result("indicators", 1, 1, None);
        result.note = format!(
            "year {}: {} rounds of GetIndicators and GetVisitStatistics, county-wide and per township",
            self.year, opts.rounds
        );
        Ok(result)
    }
}
