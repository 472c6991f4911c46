//! `generate`: fills a migrated, seeded database with N years of deterministic data through COPY into the
//! tables the service writes: petitioners (sealed with the service's key), cases with their whole
//! lifecycle and due dates (computed by the service's own workflow rules), the case events, visits, letters
//! and their petitioner links, and the registration counters.
//!
//! Left out, because nothing measured reads them: the sync `feed` rows and the idempotency keys that the
//! service also writes per registration, and the before/after JSON of the case events.

use std::{collections::BTreeMap, time::Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::{
    PgPool, Postgres,
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgCopyIn, PgPoolCopyExt, PgPoolOptions},
};
use uuid::Uuid;
use xinfang_proto::v1::{AssignmentMode, BacklogState, CaseState};
use xinfang_server::{
    auth::{self, Role},
    cases::{
        calendar,
        model::{self as case_model, CaseRecord, Workflow},
    },
    kernel::numbers::register_year,
    pii::{Field, PiiKeys},
};

use crate::world::{
    self, BUREAU, DEPARTMENTS, OrgKind, S_ID, S_LIFE, S_REG, TEXTS, WORLD_SETTING, World, hash,
    mix, unit,
};

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub visits: u64,
    pub letters: u64,
    pub cases: u64,
    pub years: u32,
    pub seed: u64,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct GenReport {
    pub world: World,
    pub rows: BTreeMap<String, u64>,
    pub load_seconds: f64,
    pub vacuum_seconds: f64,
}

/// A COPY … FROM STDIN in text format, fed in chunks of about a megabyte.
struct Copy {
    table: &'static str,
    inner: PgCopyIn<PoolConnection<Postgres>>,
    buf: Vec<u8>,
    rows: u64,
}

const CHUNK: usize = 1 << 20;

impl Copy {
    async fn start(pool: &PgPool, table: &'static str, columns: &str) -> Result<Copy> {
        let inner = pool
            .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
            .await
            .with_context(|| format!("COPY {table}"))?;
        Ok(Copy {
            table,
            inner,
            buf: Vec::with_capacity(CHUNK + 4096),
            rows: 0,
        })
    }

    fn row(&mut self) -> Row<'_> {
        self.rows += 1;
        Row {
            buf: &mut self.buf,
            first: true,
        }
    }

    async fn flush_if_full(&mut self) -> Result<()> {
        if self.buf.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 4096));
            self.inner
                .send(chunk)
                .await
                .with_context(|| format!("COPY {}", self.table))?;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<(&'static str, u64)> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.inner.send(chunk).await?;
        }
        self.inner
            .finish()
            .await
            .with_context(|| format!("COPY {}", self.table))?;
        Ok((self.table, self.rows))
    }
}

/// One row of COPY text: fields separated by tabs, `\N` for NULL.
struct Row<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl Row<'_> {
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b'\t');
        }
        self.first = false;
    }
    fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        for b in s.bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                _ => self.buf.push(b),
            }
        }
        self
    }
    fn null(&mut self) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
        self
    }
    fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }
    fn raw(&mut self, s: impl std::fmt::Display) -> &mut Self {
        use std::io::Write;
        self.sep();
        let _ = write!(self.buf, "{s}");
        self
    }
    fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.sep();
        let mut out = [0u8; 36];
        self.buf
            .extend_from_slice(id.hyphenated().encode_lower(&mut out).as_bytes());
        self
    }
    fn ts(&mut self, t: DateTime<Utc>) -> &mut Self {
        use std::io::Write;
        self.sep();
        let _ = write!(self.buf, "{}+00", t.naive_utc());
        self
    }
    fn opt_ts(&mut self, t: Option<DateTime<Utc>>) -> &mut Self {
        match t {
            Some(t) => self.ts(t),
            None => self.null(),
        }
    }
    fn opt_date(&mut self, d: Option<NaiveDate>) -> &mut Self {
        match d {
            Some(d) => self.raw(d),
            None => self.null(),
        }
    }
    fn bool(&mut self, b: bool) -> &mut Self {
        self.sep();
        self.buf.push(if b { b't' } else { b'f' });
        self
    }
    fn opt_bytea(&mut self, bytes: Option<&[u8]>) -> &mut Self {
        match bytes {
            Some(bytes) => {
                self.sep();
                // The text form of bytea is \x…; COPY doubles the backslash.
                self.buf.extend_from_slice(b"\\\\x");
                self.buf.extend_from_slice(hex::encode(bytes).as_bytes());
                self
            }
            None => self.null(),
        }
    }
    fn end(&mut self) {
        self.buf.push(b'\n');
    }
}

/// A UUIDv7 at `t` whose random part comes from `x`: ids sort by time, as the service's do.
pub fn v7(t: DateTime<Utc>, x: u64) -> Uuid {
    let a = mix(x).to_le_bytes();
    let b = mix(x ^ 0xABCD).to_le_bytes();
    let bytes = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1]];
    uuid::Builder::from_unix_timestamp_millis(t.timestamp_millis().max(0) as u64, &bytes)
        .into_uuid()
}

/// Registration numbers per year, continuing the database's counters.
#[derive(Clone)]
struct Serials(BTreeMap<i32, i64>);

impl Serials {
    fn next(&mut self, t: DateTime<Utc>) -> String {
        let year = register_year(t);
        let serial = self.0.entry(year).or_insert(0);
        *serial += 1;
        format!("XF510422-{year}-{serial:06}")
    }
}

/// A case's workflow as it went: the record (due dates follow from it) and its events.
struct Life {
    record: CaseRecord,
    events: Vec<(&'static str, DateTime<Utc>)>,
}

fn days(d: i64, hours: i64) -> Duration {
    Duration::days(d) + Duration::hours(hours)
}

fn lifecycle(w: &World, workflow: &Workflow, m: &world::Case, now: DateTime<Utc>) -> Life {
    let r = |k: u64| unit(hash(w.seed, S_LIFE + k, m.index));
    let pick = |k: u64, lo: i64, hi: i64| lo + (r(k) * (hi - lo + 1) as f64) as i64;
    let t0 = m.registered_at;
    let mut rec = CaseRecord::registered(t0, 0);
    let mut events = Vec::new();
    let step = |t: DateTime<Utc>| if t <= now { Some(t) } else { None };
    if r(0) < 0.03 {
        // Declined at registration (不予受理).
        if let Some(t) = step(t0 + days(pick(1, 1, 10), 3)) {
            rec.state = CaseState::Declined;
            rec.declined_at = Some(t);
            rec.decline_ground = pick(2, 1, 6) as i32;
            events.push(("declined", t));
        }
    } else {
        let late = r(3) < 0.08;
        let assign = if late {
            pick(4, 16, 30)
        } else {
            pick(4, 1, 14)
        };
        if let Some(assigned) = step(t0 + days(assign, 2)) {
            let unit_code = match m.org_kind {
                OrgKind::County => DEPARTMENTS[(hash(w.seed, S_LIFE + 5, m.index) % 12) as usize].0,
                _ => m.org,
            };
            rec.state = CaseState::Assigned;
            rec.responsible_org_code = Some(unit_code.to_owned());
            rec.first_assigned_at = Some(assigned);
            rec.assigned_at = Some(assigned);
            if r(6) < 0.15 {
                rec.assignment_mode = AssignmentMode::Assign as i32;
                rec.handling_deadline =
                    Some(case_model::local_date(assigned) + chrono::Days::new(45));
            } else {
                rec.assignment_mode = AssignmentMode::Forward as i32;
            }
            events.push(("assigned", assigned));
            let accept = if r(7) < 0.07 {
                pick(8, 16, 25)
            } else {
                pick(8, 1, 12)
            };
            if let Some(accepted) = step(assigned + days(accept, 1)) {
                rec.state = CaseState::Accepted;
                rec.accepted_at = Some(accepted);
                events.push(("accepted", accepted));
                let reply = if r(9) < 0.08 {
                    pick(10, 61, 90)
                } else {
                    pick(10, 10, 55)
                };
                if let Some(replied) = step(accepted + days(reply, 4)) {
                    rec.state = CaseState::Replied;
                    rec.replied_at = Some(replied);
                    rec.reply_opinion = Some("经调查核实，已依法依规作出处理意见".to_owned());
                    if rec.assignment_mode == AssignmentMode::Assign as i32 {
                        rec.completion_report = Some("已按交办要求办结".to_owned());
                        // The office confirms the report (审核认定办结) within a few days.
                        rec.completion_confirmed_at = step(replied + days(pick(25, 1, 5), 2));
                    }
                    events.push(("replied", replied));
                    // Published for evaluation: the 45 % that are rated (within their window), and as many
                    // again of the rest, which lapse into 未参评 when the window closes.
                    let rated = r(11) < 0.45;
                    if rated || r(24) < 0.45 {
                        // The window is fixed at publication, by the service's own rules.
                        rec.evaluation_due = Some(calendar::due_date(
                            &workflow.calendar,
                            case_model::local_date(replied),
                            workflow.rules.evaluation_days,
                            workflow.policy,
                        ));
                    }
                    if rated && let Some(evaluated) = step(replied + days(pick(12, 3, 10), 0)) {
                        let rating = |k: u64| match (r(k) * 100.0) as u32 {
                            0..=69 => 1,
                            70..=84 => 2,
                            85..=91 => 3,
                            _ => 4,
                        };
                        rec.state = CaseState::Evaluated;
                        rec.evaluated_at = Some(evaluated);
                        rec.office_rating = rating(13);
                        rec.unit_rating = rating(14);
                        events.push(("evaluated", evaluated));
                    }
                    if r(15) < 0.02
                        && let Some(requested) = step(replied + days(pick(16, 5, 25), 0))
                    {
                        rec.state = CaseState::ReviewRequested;
                        rec.review_kind = 1;
                        rec.review_requested_at = Some(requested);
                        events.push(("review_requested", requested));
                        if r(17) < 0.8
                            && let Some(decided) = step(requested + days(pick(18, 20, 55), 0))
                        {
                            rec.state = CaseState::Reviewed;
                            rec.review_decided_at = Some(decided);
                            rec.review_outcome = 1;
                            events.push(("review_decided", decided));
                        }
                    }
                }
            }
        }
        if r(19) < 0.015
            && let Some(listed) = step(t0 + days(pick(20, 30, 200), 0))
        {
            rec.backlog_state = BacklogState::Listed as i32;
            rec.backlog_listed_at = Some(listed);
            rec.backlog_leader = Some(format!("县领导{}", m.index % 9 + 1));
            rec.special_difficult = r(21) < 0.4;
            events.push(("backlog_listed", listed));
            if r(22) < 0.6
                && let Some(resolved) = step(listed + days(pick(23, 30, 300), 0))
            {
                rec.backlog_state = BacklogState::Resolved as i32;
                rec.backlog_resolved_at = Some(resolved);
                rec.backlog_resolution = 1;
                events.push(("backlog_resolved", resolved));
            }
        }
    }
    events.sort_by_key(|(_, t)| *t);
    Life {
        record: rec,
        events,
    }
}

const LEVELS: [(&str, i32, &str); 4] = [
    ("county", 1, "盐边县信访局接待大厅"),
    ("city", 2, "攀枝花市信访局"),
    ("province", 3, "四川省信访局"),
    ("national", 4, "国家信访局"),
];

const CHANNELS: [(&str, u64); 7] = [
    ("letter", 30),
    ("phone", 15),
    ("online", 35),
    ("leader_mailbox", 8),
    ("peoples_daily_board", 4),
    ("transferred", 5),
    ("assigned", 3),
];

/// One registration: a visit or a letter, opening a case or repeating it.
struct Registration<'a> {
    index: u64,
    matter: &'a world::Case,
    case_id: Uuid,
    at: DateTime<Utc>,
    number: String,
    repeat: bool,
    persons: &'a [Uuid],
}

struct Streams {
    seed: u64,
    case_petitioners: Copy,
    case_events: Copy,
    visits: Copy,
    visit_petitioners: Copy,
    letters: Copy,
    letter_petitioners: Copy,
}

impl Streams {
    async fn visit(&mut self, reg: &Registration<'_>, registrar: Uuid) -> Result<()> {
        let h = hash(self.seed ^ 0x7157, S_REG, reg.index);
        let (level, rank, place) = LEVELS[match h % 100 {
            0..=74 => 0,
            75..=89 => 1,
            90..=96 => 2,
            _ => 3,
        }];
        let non_reception = rank >= 3 && mix(h) % 10 < 4;
        let place = if non_reception {
            "北京市中南海周边"
        } else {
            place
        };
        let headcount = match mix(h ^ 1) % 100 {
            0..=77 => 1,
            78..=92 => 2 + (mix(h ^ 2) % 3) as i32,
            _ => 5 + (mix(h ^ 3) % 36) as i32,
        }
        .max(reg.persons.len() as i32);
        let competent = if reg.matter.org_kind == OrgKind::Township {
            0
        } else {
            1
        };
        let m = reg.matter;
        let (content, demands) = TEXTS[m.text];
        let id = v7(reg.at, h);
        let content = format!("{}{}", m.org_name, content);
        self.visits
            .row()
            .uuid(id)
            .text(&reg.number)
            .uuid(reg.case_id)
            .ts(reg.at)
            .text(level)
            .bool(non_reception)
            .text(place)
            .raw(headcount)
            .bool(headcount >= 5)
            .bool(reg.repeat)
            .bool(rank - competent >= 2)
            .text(m.category)
            .text(m.org)
            .text(&content)
            .text(demands)
            .uuid(registrar)
            .ts(reg.at + Duration::minutes(10))
            .end();
        for (i, p) in reg.persons.iter().enumerate() {
            self.visit_petitioners
                .row()
                .uuid(id)
                .raw(i + 1)
                .uuid(*p)
                .bool(headcount >= 5 && i == 0)
                .end();
        }
        self.visits.flush_if_full().await?;
        self.visit_petitioners.flush_if_full().await
    }

    async fn letter(&mut self, reg: &Registration<'_>, registrar: Uuid) -> Result<()> {
        let h = hash(self.seed ^ 0x1e77e5, S_REG, reg.index);
        let total: u64 = CHANNELS.iter().map(|c| c.1).sum();
        let mut x = h % total;
        let mut channel = CHANNELS[0].0;
        for (c, weight) in CHANNELS {
            if x < weight {
                channel = c;
                break;
            }
            x -= weight;
        }
        let reference = if matches!(channel, "transferred" | "assigned") {
            format!("GEN-{}", reg.index)
        } else {
            String::new()
        };
        let m = reg.matter;
        let (content, demands) = TEXTS[m.text];
        let id = v7(reg.at, h);
        let content = format!("{}{}", m.org_name, content);
        self.letters
            .row()
            .uuid(id)
            .text(&reg.number)
            .uuid(reg.case_id)
            .text(channel)
            .text(&reference)
            .text("")
            .ts(reg.at)
            .bool(false)
            .bool(reg.repeat)
            .text(m.category)
            .text(m.org)
            .text(&content)
            .text(demands)
            .uuid(registrar)
            .ts(reg.at + Duration::minutes(30))
            .end();
        for (i, p) in reg.persons.iter().enumerate() {
            self.letter_petitioners
                .row()
                .uuid(id)
                .raw(i + 1)
                .uuid(*p)
                .end();
        }
        self.letters.flush_if_full().await?;
        self.letter_petitioners.flush_if_full().await
    }

    async fn event(
        &mut self,
        case_id: Uuid,
        action: &str,
        actor: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<()> {
        self.case_events
            .row()
            .uuid(case_id)
            .text(action)
            .uuid(actor)
            .ts(at)
            .ts(at + Duration::minutes(5))
            .text(reason)
            .end();
        self.case_events.flush_if_full().await
    }
}

fn person_ids(w: &World, m: &world::Case) -> Vec<Uuid> {
    (0..m.persons)
        .map(|j| {
            let n = w.person(m.index, j);
            v7(m.registered_at, hash(w.seed, S_ID, n))
        })
        .collect()
}

/// Fills the database. It must be migrated and seeded, and hold no generated data yet.
pub async fn generate(
    options: &PgConnectOptions,
    keys: &PiiKeys,
    opts: &GenOptions,
) -> Result<GenReport> {
    let started = Instant::now();
    let plain = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .context("connecting for generate")?;
    if xinfang_server::kernel::settings::setting(&mut *plain.acquire().await?, WORLD_SETTING)
        .await?
        .is_some()
    {
        bail!("this database holds generated data already");
    }
    if opts.cases == 0 || opts.visits + opts.letters < opts.cases {
        bail!("need at least one case, and at least as many visits and letters as cases");
    }
    // The load runs with foreign-key triggers off (the data is consistent by construction, and the tables
    // are filled by parallel COPY streams), as bulk loads do; that takes a superuser.
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&plain)
            .await?;
    if !superuser {
        bail!(
            "generate needs a superuser connection (it loads with session_replication_role = replica)"
        );
    }
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(
            options
                .clone()
                .options([("session_replication_role", "replica")]),
        )
        .await?;

    let registrar = {
        let mut conn = plain.acquire().await?;
        let (principal, _) =
            auth::issue_token(&mut conn, Role::CountyClerk, BUREAU, "xinfang-load history")
                .await
                .map_err(|e| anyhow::anyhow!("issuing the history principal: {e:?}"))?;
        principal.id
    };
    let counters: Vec<(i32, i64)> =
        sqlx::query_as("SELECT year, last FROM registration_counters WHERE prefix = 'XF'")
            .fetch_all(&plain)
            .await?;
    let serials0 = Serials(counters.into_iter().collect());
    let workflow = Workflow::china().context("holiday calendar")?;
    let now = opts.end;
    let w = World {
        seed: opts.seed,
        cases: opts.cases,
        visits: opts.visits,
        letters: opts.letters,
        start: opts.end - Duration::days(365 * i64::from(opts.years.max(1))),
        end: opts.end,
    };

    // Phase 1: the parents.
    let mut rows = BTreeMap::new();
    {
        let mut petitioners = Copy::start(
            &pool,
            "petitioners",
            "id, name, id_hash, id_number_enc, id_number_masked, phone_enc, phone_masked, address_enc, \
             created_at, seal_key",
        )
        .await?;
        let seal_key = keys.current_key_id();
        let mut cases = Copy::start(
            &pool,
            "cases",
            "id, number, state, category_code, problem_org_code, content, demands, registered_at, \
             recorded_at, version, responsible_org_code, assignment_mode, handling_deadline, \
             first_assigned_at, assigned_at, accepted_at, declined_at, decline_ground, replied_at, \
             reply_opinion, completion_report, office_rating, unit_rating, evaluated_at, review_kind, \
             review_requested_at, review_decided_at, review_outcome, backlog_state, backlog_leader, \
             special_difficult, backlog_resolution, backlog_listed_at, backlog_resolved_at, next_due, \
             assign_due, accept_due, conclude_due, evaluation_due, updated_at, assign_outcome, \
             accept_outcome, conclude_outcome, completion_confirmed_at",
        )
        .await?;
        let mut serials = serials0.clone();
        for mi in 0..w.cases {
            let m = w.case(mi);
            let ids = person_ids(&w, &m);
            for (j, id) in ids.iter().enumerate() {
                let n = w.person(mi, j as u8);
                let number = world::id_number(n);
                let phone = world::phone(n);
                let address = world::address(n, m.org_name);
                petitioners
                    .row()
                    .uuid(*id)
                    .text(&world::person_name(n))
                    .opt_bytea(Some(&keys.match_hash(&number)))
                    .opt_bytea(Some(&keys.seal(Field::IdNumber, &number)?))
                    .text(&xinfang_proto::personal::mask_id_number(&number))
                    .opt_bytea(Some(&keys.seal(Field::Phone, &phone)?))
                    .text(&xinfang_proto::personal::mask_phone(&phone))
                    .opt_bytea(Some(&keys.seal(Field::Address, &address)?))
                    .ts(m.registered_at)
                    .text(&seal_key)
                    .end();
            }
            petitioners.flush_if_full().await?;
            let life = lifecycle(&w, &workflow, &m, now);
            let r = &life.record;
            let schedule = case_model::schedule(r, &workflow.facts(now));
            let number = serials.next(m.registered_at);
            let (content, demands) = TEXTS[m.text];
            let updated = life.events.last().map_or(m.registered_at, |e| e.1);
            cases
                .row()
                .uuid(v7(m.registered_at, hash(w.seed, S_ID, u64::MAX - mi)))
                .text(&number)
                .text(case_model::state_to_db(r.state))
                .text(m.category)
                .text(m.org)
                .text(&format!("{}{}", m.org_name, content))
                .text(demands)
                .ts(m.registered_at)
                .ts(m.registered_at + Duration::minutes(10))
                .raw(1 + life.events.len())
                .opt_text(r.responsible_org_code.as_deref())
                .raw(r.assignment_mode)
                .opt_date(r.handling_deadline)
                .opt_ts(r.first_assigned_at)
                .opt_ts(r.assigned_at)
                .opt_ts(r.accepted_at)
                .opt_ts(r.declined_at)
                .raw(r.decline_ground)
                .opt_ts(r.replied_at)
                .opt_text(r.reply_opinion.as_deref())
                .opt_text(r.completion_report.as_deref())
                .raw(r.office_rating)
                .raw(r.unit_rating)
                .opt_ts(r.evaluated_at)
                .raw(r.review_kind)
                .opt_ts(r.review_requested_at)
                .opt_ts(r.review_decided_at)
                .raw(r.review_outcome)
                .raw(r.backlog_state)
                .opt_text(r.backlog_leader.as_deref())
                .bool(r.special_difficult)
                .raw(r.backlog_resolution)
                .opt_ts(r.backlog_listed_at)
                .opt_ts(r.backlog_resolved_at)
                .opt_date(schedule.next_due)
                .opt_date(schedule.assign_due())
                .opt_date(schedule.accept_due())
                .opt_date(schedule.conclude_due())
                .opt_date(r.evaluation_due)
                .ts(updated)
                .raw(case_model::outcome_code(schedule.assign))
                .raw(case_model::outcome_code(schedule.accept))
                .raw(case_model::outcome_code(schedule.conclude))
                .opt_ts(r.completion_confirmed_at)
                .end();
            cases.flush_if_full().await?;
        }
        for copy in [petitioners, cases] {
            let (table, n) = copy.finish().await?;
            rows.insert(table.to_owned(), n);
        }
    }

    // Phase 2: everything that points at them.
    let mut s = Streams {
        seed: w.seed,
        case_petitioners: Copy::start(&pool, "case_petitioners", "case_id, petitioner_id").await?,
        case_events: Copy::start(
            &pool,
            "case_events",
            "case_id, action, actor, occurred_at, recorded_at, reason",
        )
        .await?,
        visits: Copy::start(
            &pool,
            "visits",
            "id, number, case_id, visited_at, level, non_reception_place, place_name, headcount, \
             collective, repeat, leapfrog, category_code, problem_org_code, content, demands, \
             registered_by, recorded_at",
        )
        .await?,
        visit_petitioners: Copy::start(
            &pool,
            "visit_petitioners",
            "visit_id, position, petitioner_id, representative",
        )
        .await?,
        letters: Copy::start(
            &pool,
            "letters",
            "id, number, case_id, channel, source_reference, campaign, received_at, anonymous, \
             repeat, category_code, problem_org_code, content, demands, registered_by, recorded_at",
        )
        .await?,
        letter_petitioners: Copy::start(
            &pool,
            "letter_petitioners",
            "letter_id, position, petitioner_id",
        )
        .await?,
    };
    let mut serials = serials0.clone();
    let (mut opened_by_visits, mut opened_by_letters) = (0u64, 0u64);
    for mi in 0..w.cases {
        let m = w.case(mi);
        let case_id = v7(m.registered_at, hash(w.seed, S_ID, u64::MAX - mi));
        let persons = person_ids(&w, &m);
        let number = serials.next(m.registered_at);
        for p in &persons {
            s.case_petitioners.row().uuid(case_id).uuid(*p).end();
        }
        s.case_petitioners.flush_if_full().await?;
        s.event(case_id, "registered", registrar, m.registered_at, &number)
            .await?;
        for (action, at) in lifecycle(&w, &workflow, &m, now).events {
            s.event(case_id, action, registrar, at, "").await?;
        }
        let reg = Registration {
            index: mi,
            matter: &m,
            case_id,
            at: m.registered_at,
            number,
            repeat: false,
            persons: &persons,
        };
        if m.by_visit {
            opened_by_visits += 1;
            s.visit(&reg, registrar).await?;
        } else {
            opened_by_letters += 1;
            s.letter(&reg, registrar).await?;
        }
    }
    let repeat_visits = w.visits.saturating_sub(opened_by_visits);
    let repeat_letters = w.letters.saturating_sub(opened_by_letters);
    for r in 0..repeat_visits + repeat_letters {
        let h = hash(w.seed, S_REG + 1, r);
        let mut mi = h % w.cases;
        // Some cases come back again and again.
        if unit(mix(h)) < 0.5 {
            mi -= mi % 8;
        }
        let m = w.case(mi);
        let room = (now - m.registered_at).num_minutes().max(1) as f64;
        // Three days, then a month on average; within what is left of the span.
        let delay = 4_320.0 - 43_200.0 * unit(mix(h ^ 7)).max(1e-9).ln();
        let delay = if delay < room {
            delay
        } else {
            room * unit(mix(h ^ 9))
        };
        let at = (m.registered_at + Duration::minutes(delay.max(1.0) as i64)).min(now);
        let case_id = v7(m.registered_at, hash(w.seed, S_ID, u64::MAX - mi));
        let persons = person_ids(&w, &m);
        let number = serials.next(at);
        s.event(case_id, "repeat_linked", registrar, at, &number)
            .await?;
        let reg = Registration {
            index: w.cases + r,
            matter: &m,
            case_id,
            at,
            number,
            repeat: true,
            persons: &persons,
        };
        if r < repeat_visits {
            s.visit(&reg, registrar).await?;
        } else {
            s.letter(&reg, registrar).await?;
        }
    }
    for copy in [
        s.case_petitioners,
        s.case_events,
        s.visits,
        s.visit_petitioners,
        s.letters,
        s.letter_petitioners,
    ] {
        let (table, n) = copy.finish().await?;
        rows.insert(table.to_owned(), n);
    }
    for (year, last) in &serials.0 {
        sqlx::query(
            "INSERT INTO registration_counters (prefix, year, last) VALUES ('XF', $1, $2) \
             ON CONFLICT (prefix, year) DO UPDATE SET last = GREATEST(registration_counters.last, EXCLUDED.last)",
        )
        .bind(year)
        .bind(last)
        .execute(&plain)
        .await?;
    }
    let mut conn = plain.acquire().await?;
    xinfang_server::kernel::settings::insert_setting(
        &mut conn,
        WORLD_SETTING,
        &serde_json::to_string(&w)?,
    )
    .await?;
    drop(conn);
    let load_seconds = started.elapsed().as_secs_f64();
    // A database that has been running for a while has been vacuumed and analyzed by autovacuum; a freshly
    // loaded one has not, and the planner would be guessing.
    let vacuum = Instant::now();
    // COPY ran with triggers off (session_replication_role): the rollups the indicators read are built from
    // the loaded rows in one pass, with the functions the triggers use.
    sqlx::query("SELECT rollups_rebuild()")
        .execute(&plain)
        .await
        .context("rebuilding the rollups")?;
    sqlx::query(
        "VACUUM (ANALYZE) petitioners, cases, case_petitioners, case_events, visits, visit_petitioners, \
         letters, letter_petitioners, registration_counters, visit_months, letter_months, \
         case_deadline_days, case_months",
    )
    .execute(&plain)
    .await
    .context("VACUUM ANALYZE")?;
    sqlx::query("CHECKPOINT").execute(&plain).await.ok();
    let vacuum_seconds = vacuum.elapsed().as_secs_f64();
    pool.close().await;
    plain.close().await;
    Ok(GenReport {
        world: w,
        rows,
        load_seconds,
        vacuum_seconds,
    })
}

/// The world of a generated database, if any.
pub async fn world_of(pool: &PgPool) -> Result<Option<World>> {
    let mut conn = pool.acquire().await?;
    let text = xinfang_server::kernel::settings::setting(&mut conn, WORLD_SETTING).await?;
    text.map(|t| serde_json::from_str(&t).context("stored world"))
        .transpose()
}
