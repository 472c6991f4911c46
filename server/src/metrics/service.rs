//! `xinfang.v1.MetricsService`.

use std::{collections::BTreeMap, fmt::Write as _};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use xinfang_proto::{
    money,
    v1::{
        BudgetExecution, CapFormula, CategoryExecution, ChannelFigure, ChannelStatistics, Figure,
        FundPurpose, GenerateSelfEvaluationReportRequest, GetBudgetExecutionRequest,
        GetChannelStatisticsRequest, GetIndicatorsRequest, GetTargetCompletionRequest,
        GetTwoDownTwoUpRequest, GetVisitStatisticsRequest, Indicators, ListTargetsRequest,
        ListTargetsResponse, PaymentTotal, Period, Rate, RateComparison, ScoreLine,
        SelfEvaluationReport, SetTargetRequest, SetTwoDownTwoUpRequest, Target, TargetCompletion,
        TargetDirection, TargetResult, TrendDirection, TrendGoal, TrendResult, TwoDownTwoUp,
        VisitFigures, VisitGroup, VisitGrouping, VisitStatistics, YearMonth,
        metrics_service_server::MetricsService,
    },
    validate::{self, FieldViolation, Violations},
};

use super::{
    model,
    store::{self, Deadline, VisitKey, VisitRow},
};
use crate::{
    auth::{self, Principal, Role},
    error::AppError,
    idempotency,
    kernel::time::{self, shanghai},
    scope::{self, Kind, Reader},
};

/// Figures the bureau published before, to reconcile a computed report with (`data/published-figures.csv`).
pub const PUBLISHED_CSV: &str = include_str!("../../data/published-figures.csv");

pub struct MetricsApi {
    pool: PgPool,
    /// The read-only RPCs' pool: a read replica when configured, else `pool`. A replica trails the primary by
    /// its replication lag, which yearly and monthly figures tolerate.
    read: PgPool,
}

impl MetricsApi {
    pub fn new(pool: PgPool) -> Self {
        Self {
            read: pool.clone(),
            pool,
        }
    }

    pub fn with_read_pool(self, read: PgPool) -> Self {
        Self { read, ..self }
    }
}

/// The org scope a principal may read: county roles any (or the county), a township clerk its own unit.
fn scope(principal: &Principal, requested: &str) -> Result<Option<String>, AppError> {
    let requested = if requested.is_empty() {
        None
    } else {
        Some(validate::org_code("org_code", requested)?)
    };
    match principal.role {
        Role::Admin | Role::CountyClerk | Role::Leader | Role::Auditor | Role::Agency => {
            Ok(requested)
        }
        Role::TownshipClerk => match requested {
            Some(code) if code == principal.org_code => Ok(Some(code)),
            _ => Err(AppError::PermissionDenied(
                "a township clerk reads its own unit's figures: set org_code".into(),
            )),
        },
        Role::FieldOfficer => Err(AppError::PermissionDenied(
            "field officers do not read indicators".into(),
        )),
    }
}

/// A period as instants and as local dates, with the same months a year earlier.
#[derive(Debug, Clone, Copy)]
struct Span {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    from_date: NaiveDate,
    until_date: NaiveDate,
}

impl Span {
    fn parse(field: &str, period: Option<&Period>) -> Result<Span, FieldViolation> {
        let period = period.ok_or_else(|| FieldViolation::new(field, "required"))?;
        let (from, until) = time::period_bounds(field, period)?;
        Ok(Span::new(from, until))
    }

    fn new(from: DateTime<Utc>, until: DateTime<Utc>) -> Span {
        let local = |t: DateTime<Utc>| t.with_timezone(&shanghai()).date_naive();
        Span {
            from,
            until,
            from_date: local(from),
            until_date: local(until),
        }
    }

    fn year(year: i32, through_month: u32) -> Option<Span> {
        let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let end = if through_month >= 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, through_month + 1, 1)?
        };
        Some(Span::new(
            time::bureau_midnight(start)?,
            time::bureau_midnight(end)?,
        ))
    }

    /// Whole months in the period.
    fn months(&self) -> i32 {
        let month_index = |d: NaiveDate| d.year() * 12 + d.month0() as i32;
        month_index(self.until_date) - month_index(self.from_date)
    }

    /// The months immediately before, as many as this span has: the month before a month, the year before
    /// a year (环比; docs/indicators.md, "环比").
    fn previous_period(&self) -> Span {
        let months = self.months().max(1) as u32;
        let back = |t: DateTime<Utc>| {
            t.with_timezone(&shanghai())
                .checked_sub_months(chrono::Months::new(months))
                .map_or(t, |l| l.with_timezone(&Utc))
        };
        Span::new(back(self.from), self.from)
    }

    fn previous_year(&self) -> Span {
        let back = |t: DateTime<Utc>| {
            t.with_timezone(&shanghai())
                .checked_sub_months(chrono::Months::new(12))
                .map_or(t, |l| l.with_timezone(&Utc))
        };
        Span::new(back(self.from), back(self.until))
    }
}

fn percent_text(value: Option<Decimal>) -> String {
    value.map(|v| model::fixed(v, 2)).unwrap_or_default()
}

fn rate(numerator: i64, denominator: i64) -> Rate {
    Rate {
        numerator,
        denominator,
        percent: model::percent_text(numerator, denominator, 2),
        ..Rate::default()
    }
}

/// A count with the same months a year earlier (同比) and the preceding period of equal length (环比).
fn figure(value: i64, previous: i64, previous_period: i64) -> Figure {
    Figure {
        value,
        previous,
        yoy_percent: percent_text(model::yoy(value, previous)),
        previous_period,
        pop_percent: percent_text(model::change_at(value, previous_period, 2)),
    }
}

/// Visit figures now, a year earlier and in the preceding period.
fn visit_figures(cur: &VisitRow, prev: &VisitRow, before: &VisitRow) -> VisitFigures {
    let f = |pick: fn(&VisitRow) -> i64| Some(figure(pick(cur), pick(prev), pick(before)));
    VisitFigures {
        batches: f(|r| r.batches),
        persons: f(|r| r.persons),
        initial_batches: f(|r| r.initial_batches),
        initial_persons: f(|r| r.initial_persons),
        repeat_batches: f(|r| r.repeat_batches),
        repeat_persons: f(|r| r.repeat_persons),
        collective_batches: f(|r| r.collective_batches),
        collective_persons: f(|r| r.collective_persons),
        leapfrog_batches: f(|r| r.leapfrog_batches),
        non_reception_batches: f(|r| r.non_reception_batches),
        large_scale_batches: f(|r| r.large_scale_batches),
        large_scale_persons: f(|r| r.large_scale_persons),
    }
}

/// Whom the drill-through ids of [`indicators`] are listed for (`None` leaves them out): the ids are those of
/// the matters the reader reads (`crate::scope`), while the counts include every matter of the scope asked
/// for — a unit's own figures count the accusations against it, whose ids it never gets.
#[derive(Debug, Clone, Copy)]
struct Ids<'a> {
    reader: &'a Reader,
}

/// The rates of [`Indicators`], in the order of its fields.
const RATES: usize = 10;
const TIMELY_OFFICE: usize = 0;
const TIMELY_UNIT: usize = 1;
const ON_TIME: usize = 2;
const PARTICIPATION_OFFICE: usize = 3;
const SATISFACTION_OFFICE: usize = 4;
const PARTICIPATION_UNIT: usize = 5;
const SATISFACTION_UNIT: usize = 6;
const BACKLOG: usize = 7;
const REPEAT: usize = 8;
const ONLINE: usize = 9;

/// What the indicators of one period are made of, before anything is divided or rounded: each rate as
/// (numerator, denominator), and the counts.
#[derive(Debug, Clone, Default)]
struct Counts {
    rates: [(i64, i64); RATES],
    special_difficult_resolved: i64,
    accepted: i64,
    evaluated: i64,
    lapsed: i64,
    /// Visits by level, and letters and online items (campaign transfers apart), for 两降两升.
    levels: BTreeMap<String, VisitRow>,
    letters: i64,
}

impl Counts {
    /// The value of a 两降两升 indicator ([`model::TREND_INDICATORS`]).
    fn trend(&self, indicator: &str) -> model::TrendValue {
        use model::TrendValue::{Count, Rate};
        let all = |pick: fn(&VisitRow) -> i64| Count(self.levels.values().map(pick).sum());
        let level = |l: &str, pick: fn(&VisitRow) -> i64| Count(self.levels.get(l).map_or(0, pick));
        let rate = |i: usize| Rate(self.rates[i].0, self.rates[i].1);
        match indicator {
            // Every registration: visit batches and letters of every channel.
            "total_volume" => Count(self.rates[REPEAT].1),
            "visit_batches" => all(|r| r.batches),
            "visit_persons" => all(|r| r.persons),
            "national_batches" => level("national", |r| r.batches),
            "province_batches" => level("province", |r| r.batches),
            "leapfrog_batches" => all(|r| r.leapfrog_batches),
            "collective_batches" => all(|r| r.collective_batches),
            "repeat_batches" => all(|r| r.repeat_batches),
            "letters_and_online" => Count(self.letters),
            "online_share" => rate(ONLINE),
            "satisfaction_office" => rate(SATISFACTION_OFFICE),
            "satisfaction_unit" => rate(SATISFACTION_UNIT),
            "participation_office" => rate(PARTICIPATION_OFFICE),
            "participation_unit" => rate(PARTICIPATION_UNIT),
            "timely_acceptance_office" => rate(TIMELY_OFFICE),
            "timely_acceptance_unit" => rate(TIMELY_UNIT),
            "on_time_completion" => rate(ON_TIME),
            "repeat_rate" => rate(REPEAT),
            _ => Rate(0, 0),
        }
    }
}

/// The counts of every indicator over `span`.
async fn counts(
    conn: &mut PgConnection,
    span: Span,
    org: Option<&str>,
    include_pending: bool,
    basically_counts: bool,
) -> Result<Counts, AppError> {
    let today = Utc::now().with_timezone(&shanghai()).date_naive();
    // A deadline inside the period that is not met by the period's end (or by today, for a period still
    // running) counts as missed.
    let cutoff = today.min(span.until_date);
    let mut c = Counts::default();
    for (i, deadline, pending) in [
        (TIMELY_OFFICE, Deadline::Assign, false),
        (TIMELY_UNIT, Deadline::Accept, false),
        (ON_TIME, Deadline::Conclude, include_pending),
    ] {
        let b =
            store::timeliness(conn, deadline, span.from_date, span.until_date, cutoff, org).await?;
        let denominator = b.on_time + b.late + b.overdue + if pending { b.pending } else { 0 };
        c.rates[i] = (b.on_time, denominator);
    }
    let ratings = store::ratings(conn, span.from_date, span.until_date, org).await?;
    let lapsed = store::lapsed_evaluations(conn, span.from, span.until, today, org).await?;
    // 应评价: the recorded evaluations and the published matters whose window closed unrated.
    let due_evaluation = ratings.evaluated + lapsed;
    let matters = store::matter_counts(conn, span.from_date, span.until_date, org).await?;
    let regs = store::registrations(conn, span.from_date, span.until_date, org).await?;
    let extra = |n: i64| if basically_counts { n } else { 0 };
    c.rates[PARTICIPATION_OFFICE] = (ratings.office_rated, due_evaluation);
    c.rates[SATISFACTION_OFFICE] = (
        ratings.office_satisfied + extra(ratings.office_basically),
        ratings.office_rated,
    );
    c.rates[PARTICIPATION_UNIT] = (ratings.unit_rated, due_evaluation);
    c.rates[SATISFACTION_UNIT] = (
        ratings.unit_satisfied + extra(ratings.unit_basically),
        ratings.unit_rated,
    );
    c.rates[BACKLOG] = (matters.backlog_resolved, matters.backlog_listed);
    c.rates[REPEAT] = (regs.repeat, regs.total);
    c.rates[ONLINE] = (regs.online, regs.total);
    c.special_difficult_resolved = matters.special_difficult_resolved;
    c.accepted = matters.accepted;
    c.evaluated = ratings.evaluated;
    c.lapsed = lapsed;
    c.levels = store::visits(conn, span.from_date, span.until_date, org, VisitKey::Level)
        .await?
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    c.letters = store::letters_by_channel(conn, span.from_date, span.until_date, org)
        .await?
        .iter()
        .filter(|(channel, _)| channel != "campaign_transfer")
        .map(|(_, n)| n)
        .sum();
    Ok(c)
}

/// A year's 两降两升: its own four, or the default ones (`true`).
async fn trend_goals(
    conn: &mut PgConnection,
    year: i32,
) -> Result<(Vec<TrendGoal>, bool), AppError> {
    let rows = store::trend_goals(conn, year).await?;
    if rows.is_empty() {
        let goals = model::DEFAULT_TWO_DOWN_TWO_UP
            .iter()
            .map(|(indicator, direction)| TrendGoal {
                indicator: (*indicator).to_owned(),
                direction: *direction as i32,
                name: model::trend_indicator(indicator)
                    .map(|(name, _)| name.to_owned())
                    .unwrap_or_default(),
            })
            .collect();
        return Ok((goals, true));
    }
    let goals = rows
        .into_iter()
        .map(|r| TrendGoal {
            indicator: r.indicator,
            direction: i32::from(r.direction),
            name: r.name,
        })
        .collect();
    Ok((goals, false))
}

/// How a 两降两升 indicator moved from the same months a year earlier to now.
fn trend_result(goal: &TrendGoal, now: &Counts, then: &Counts) -> TrendResult {
    use model::TrendValue::{Count, Rate};
    let (value, previous) = (now.trend(&goal.indicator), then.trend(&goal.indicator));
    let text = |v: model::TrendValue| match v {
        Count(n) => n.to_string(),
        Rate(n, d) => model::percent_text(n, d, 2),
    };
    let change = match (value, previous) {
        (Count(n), Count(t)) => percent_text(model::change_at(n, t, 2)),
        (Rate(n, d), Rate(tn, td)) => percent_text(model::points_change((n, d), (tn, td), 2)),
        _ => String::new(),
    };
    let direction = TrendDirection::try_from(goal.direction).unwrap_or_default();
    let (met, undetermined) = model::trend_met(direction, value, previous);
    TrendResult {
        goal: Some(goal.clone()),
        value: text(value),
        previous: text(previous),
        change,
        met,
        undetermined,
    }
}

/// A rate of another period beside this one's (numerator, denominator): 环比 or 同比.
fn comparison(now: (i64, i64), then: (i64, i64)) -> RateComparison {
    RateComparison {
        numerator: then.0,
        denominator: then.1,
        percent: model::percent_text(then.0, then.1, 2),
        change_points: model::points_change(now, then, 2)
            .map(|p| model::fixed(p, 2))
            .unwrap_or_default(),
    }
}

/// Every indicator of a period, each rate with the preceding period of equal length (环比) and the same
/// months a year earlier (同比).
async fn indicators(
    conn: &mut PgConnection,
    span: Span,
    org: Option<&str>,
    include_pending: bool,
    basically_counts: bool,
    ids: Option<Ids<'_>>,
) -> Result<Indicators, AppError> {
    let now = counts(conn, span, org, include_pending, basically_counts).await?;
    let before = span.previous_period();
    let period_before = counts(conn, before, org, include_pending, basically_counts).await?;
    let year_before = counts(
        conn,
        span.previous_year(),
        org,
        include_pending,
        basically_counts,
    )
    .await?;
    let mut rates: Vec<Rate> = (0..RATES)
        .map(|i| {
            let (n, d) = now.rates[i];
            Rate {
                previous_period: Some(comparison((n, d), period_before.rates[i])),
                previous_year: Some(comparison((n, d), year_before.rates[i])),
                ..rate(n, d)
            }
        })
        .collect();
    if let Some(ids) = ids {
        let today = Utc::now().with_timezone(&shanghai()).date_naive();
        let cutoff = today.min(span.until_date);
        for (i, deadline, pending) in [
            (TIMELY_OFFICE, Deadline::Assign, false),
            (TIMELY_UNIT, Deadline::Accept, false),
            (ON_TIME, Deadline::Conclude, include_pending),
        ] {
            let listed = store::timeliness_ids(
                conn,
                deadline,
                span.from_date,
                span.until_date,
                cutoff,
                store::IdFilter {
                    org,
                    include_pending: pending,
                },
            )
            .await?;
            let shown = scope::store::keep_readable(
                conn,
                ids.reader,
                Kind::Matter,
                listed.iter().map(|(id, _)| *id).collect(),
            )
            .await?;
            let shown: std::collections::HashSet<_> = shown.into_iter().collect();
            let r = &mut rates[i];
            for (id, ok) in listed {
                if !shown.contains(&id) {
                    continue;
                }
                if ok {
                    r.numerator_case_ids.push(id.to_string());
                } else {
                    r.other_case_ids.push(id.to_string());
                }
            }
        }
    }
    // 两降两升 as the year of the period's last month defines it, against the same months a year earlier.
    let last_year = span
        .until_date
        .pred_opt()
        .map_or(span.until_date.year(), |d| d.year());
    let (goals, _) = trend_goals(conn, last_year).await?;
    let two_down_two_up = goals
        .iter()
        .map(|g| trend_result(g, &now, &year_before))
        .collect();
    let mut rates = rates.into_iter().map(Some);
    let mut next = || rates.next().flatten();
    Ok(Indicators {
        period: Some(period_of(span)),
        org_code: org.unwrap_or_default().to_owned(),
        timely_acceptance_office: next(),
        timely_acceptance_unit: next(),
        on_time_completion: next(),
        participation_office: next(),
        satisfaction_office: next(),
        participation_unit: next(),
        satisfaction_unit: next(),
        backlog_resolution: next(),
        repeat_rate: next(),
        online_share: next(),
        special_difficult_resolved: now.special_difficult_resolved,
        matters_accepted: now.accepted,
        evaluations: now.evaluated,
        evaluations_lapsed: now.lapsed,
        previous_period: Some(period_of(before)),
        two_down_two_up,
    })
}

fn period_of(span: Span) -> Period {
    let last = span.until_date.pred_opt().unwrap_or(span.until_date);
    Period {
        start: Some(YearMonth {
            year: span.from_date.year(),
            month: span.from_date.month() as i32,
        }),
        end: Some(YearMonth {
            year: last.year(),
            month: last.month() as i32,
        }),
    }
}

const LEVELS: [&str; 4] = ["county", "city", "province", "national"];

async fn visit_statistics(
    conn: &mut PgConnection,
    span: Span,
    org: Option<&str>,
    group_by: VisitGrouping,
) -> Result<VisitStatistics, AppError> {
    let prev = span.previous_year();
    let before = span.previous_period();
    let by_key = |rows: Vec<VisitRow>| -> BTreeMap<String, VisitRow> {
        rows.into_iter().map(|r| (r.key.clone(), r)).collect()
    };
    // Now, a year earlier, the period before: by a key.
    let mut three = async |key: VisitKey| -> Result<[BTreeMap<String, VisitRow>; 3], AppError> {
        let mut out: [BTreeMap<String, VisitRow>; 3] = Default::default();
        for (i, s) in [span, prev, before].into_iter().enumerate() {
            out[i] = by_key(store::visits(conn, s.from_date, s.until_date, org, key).await?);
        }
        Ok(out)
    };
    let [cur, old, earlier] = three(VisitKey::All).await?;
    let get = |m: &BTreeMap<String, VisitRow>, k: &str| m.get(k).cloned().unwrap_or_default();
    let total = visit_figures(&get(&cur, ""), &get(&old, ""), &get(&earlier, ""));
    let [cur, old, earlier] = three(VisitKey::Level).await?;
    let levels = LEVELS
        .iter()
        .map(|level| VisitGroup {
            key: (*level).to_owned(),
            figures: Some(visit_figures(
                &get(&cur, level),
                &get(&old, level),
                &get(&earlier, level),
            )),
        })
        .collect();
    let mut groups = Vec::new();
    match group_by {
        VisitGrouping::Township => {
            let [cur, old, earlier] = three(VisitKey::Township).await?;
            let keys: std::collections::BTreeSet<&String> =
                cur.keys().chain(old.keys()).chain(earlier.keys()).collect();
            for k in keys {
                groups.push(VisitGroup {
                    key: k.clone(),
                    figures: Some(visit_figures(
                        &get(&cur, k),
                        &get(&old, k),
                        &get(&earlier, k),
                    )),
                });
            }
        }
        VisitGrouping::Month => {
            // A month group ("03") compares with the same month a year earlier and with the month before
            // it, which for the period's first month lies before the period.
            let month = |d: NaiveDate| d.format("%Y-%m").to_string();
            let months = by_key(
                store::visits(
                    conn,
                    span.from_date
                        .checked_sub_months(chrono::Months::new(1))
                        .unwrap_or(span.from_date),
                    span.until_date,
                    org,
                    VisitKey::YearMonth,
                )
                .await?,
            );
            let old = by_key(
                store::visits(
                    conn,
                    prev.from_date,
                    prev.until_date,
                    org,
                    VisitKey::YearMonth,
                )
                .await?,
            );
            let mut first = span.from_date;
            while first < span.until_date {
                let a_year_earlier = first
                    .checked_sub_months(chrono::Months::new(12))
                    .unwrap_or(first);
                let month_before = first
                    .checked_sub_months(chrono::Months::new(1))
                    .unwrap_or(first);
                let (now, then, last) = (
                    get(&months, &month(first)),
                    get(&old, &month(a_year_earlier)),
                    get(&months, &month(month_before)),
                );
                if now.batches != 0 || then.batches != 0 {
                    groups.push(VisitGroup {
                        key: first.format("%m").to_string(),
                        figures: Some(visit_figures(&now, &then, &last)),
                    });
                }
                let Some(next) = first.checked_add_months(chrono::Months::new(1)) else {
                    break;
                };
                first = next;
            }
            groups.sort_by(|a, b| a.key.cmp(&b.key));
        }
        VisitGrouping::Level | VisitGrouping::Unspecified => {}
    }
    Ok(VisitStatistics {
        period: Some(period_of(span)),
        total: Some(total),
        levels,
        groups,
        previous_period: Some(period_of(before)),
    })
}

async fn channel_statistics(
    conn: &mut PgConnection,
    span: Span,
    org: Option<&str>,
) -> Result<ChannelStatistics, AppError> {
    let prev = span.previous_year();
    let before = span.previous_period();
    let mut by_channel = [BTreeMap::new(), BTreeMap::new(), BTreeMap::new()];
    let mut reviews = [store::Reviews::default(); 3];
    for (i, s) in [span, prev, before].into_iter().enumerate() {
        by_channel[i] = store::letters_by_channel(conn, s.from_date, s.until_date, org)
            .await?
            .into_iter()
            .collect::<BTreeMap<String, i64>>();
        reviews[i] = store::reviews(conn, s.from, s.until, org).await?;
    }
    let [cur, old, earlier] = &by_channel;
    let channels = [
        "letter",
        "phone",
        "online",
        "leader_mailbox",
        "peoples_daily_board",
        "transferred",
        "assigned",
        "campaign_transfer",
    ];
    let get = |m: &BTreeMap<String, i64>, c: &str| m.get(c).copied().unwrap_or(0);
    let sum_letters = |m: &BTreeMap<String, i64>| {
        m.iter()
            .filter(|(c, _)| c.as_str() != "campaign_transfer")
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let per_channel = |c: &str| figure(get(cur, c), get(old, c), get(earlier, c));
    Ok(ChannelStatistics {
        period: Some(period_of(span)),
        channels: channels
            .iter()
            .map(|c| ChannelFigure {
                channel: (*c).to_owned(),
                items: Some(per_channel(c)),
            })
            .collect(),
        letters_and_online: Some(figure(
            sum_letters(cur),
            sum_letters(old),
            sum_letters(earlier),
        )),
        reviews: Some(figure(reviews[0].first, reviews[1].first, reviews[2].first)),
        second_reviews: Some(figure(
            reviews[0].second,
            reviews[1].second,
            reviews[2].second,
        )),
        campaign_transfers: Some(per_channel("campaign_transfer")),
        previous_period: Some(period_of(before)),
    })
}

/// Indicators a target may name, and their actual value over a span.
pub const TARGET_INDICATORS: [&str; 11] = [
    "county_batches",
    "county_person_visits",
    "all_batches",
    "all_person_visits",
    "letters_and_online",
    "special_difficult_resolved",
    "timely_acceptance_office",
    "timely_acceptance_unit",
    "on_time_completion",
    "satisfaction_office",
    "satisfaction_unit",
];

async fn actual(
    conn: &mut PgConnection,
    indicator: &str,
    span: Span,
) -> Result<Option<Decimal>, AppError> {
    let visits = |rows: &[VisitRow], level: Option<&str>, persons: bool| {
        rows.iter()
            .filter(|r| level.is_none_or(|l| r.key == l))
            .map(|r| if persons { r.persons } else { r.batches })
            .sum::<i64>()
    };
    let value = match indicator {
        "county_batches" | "county_person_visits" | "all_batches" | "all_person_visits" => {
            let rows =
                store::visits(conn, span.from_date, span.until_date, None, VisitKey::Level).await?;
            let level = indicator.starts_with("county").then_some("county");
            Some(Decimal::from(visits(
                &rows,
                level,
                indicator.ends_with("person_visits"),
            )))
        }
        "letters_and_online" => {
            let rows =
                store::letters_by_channel(conn, span.from_date, span.until_date, None).await?;
            Some(Decimal::from(
                rows.iter()
                    .filter(|(c, _)| c != "campaign_transfer")
                    .map(|(_, n)| n)
                    .sum::<i64>(),
            ))
        }
        "special_difficult_resolved" => Some(Decimal::from(
            store::matter_counts(conn, span.from_date, span.until_date, None)
                .await?
                .special_difficult_resolved,
        )),
        other => {
            let c = counts(conn, span, None, false, false).await?;
            let r = match other {
                "timely_acceptance_office" => Some(c.rates[TIMELY_OFFICE]),
                "timely_acceptance_unit" => Some(c.rates[TIMELY_UNIT]),
                "on_time_completion" => Some(c.rates[ON_TIME]),
                "satisfaction_office" => Some(c.rates[SATISFACTION_OFFICE]),
                "satisfaction_unit" => Some(c.rates[SATISFACTION_UNIT]),
                _ => None,
            };
            // The exact percentage: completion and score start from the counts, not from the rate's
            // two-place text (docs/indicators.md, "Rounding").
            r.and_then(|(n, d)| model::fraction(n, d))
                .map(|f| f * Decimal::ONE_HUNDRED)
        }
    };
    Ok(value)
}

fn target_to_proto(t: &store::TargetRow) -> Target {
    Target {
        year: t.year,
        indicator: t.indicator.clone(),
        direction: i32::from(t.direction),
        value: t.value.normalize().to_string(),
        weight: t
            .weight
            .map(|w| w.normalize().to_string())
            .unwrap_or_default(),
        cap_formula: i32::from(t.cap_formula),
        name: t.name.clone(),
    }
}

/// The completion of a year's targets: the response, and the unrounded figures the report checks and adds
/// up (a completion of 99.996 % prints as "100.00" but is not met).
pub(super) struct TargetScores {
    pub completion: TargetCompletion,
    /// Per result, in order: the completion as a fraction (1 = met), `None` without an actual value.
    pub fractions: Vec<Option<Decimal>>,
    /// The weights as set, in order (`None`: an equal share of the rest).
    pub weights: Vec<Option<Decimal>>,
    pub total: Decimal,
}

/// Completion of every target of a year through a month (12: the whole year).
async fn target_completion(
    conn: &mut PgConnection,
    year: i32,
    through_month: u32,
) -> Result<TargetScores, AppError> {
    let span =
        Span::year(year, through_month).ok_or_else(|| AppError::invalid("year", "out of range"))?;
    let targets = store::targets(conn, year).await?;
    let weights: Vec<Option<Decimal>> = targets.iter().map(|t| t.weight).collect();
    let effective = model::effective_weights(&weights);
    let weight_total: Decimal = effective.iter().sum();
    let elapsed = model::elapsed_share(year, through_month);
    let mut results = Vec::new();
    let mut fractions = Vec::new();
    let mut total = Decimal::ZERO;
    for (t, &weight) in targets.iter().zip(&effective) {
        let points = model::target_points(weight);
        let direction = TargetDirection::try_from(i32::from(t.direction)).unwrap_or_default();
        let formula = CapFormula::try_from(i32::from(t.cap_formula)).unwrap_or_default();
        let Some(actual) = actual(conn, &t.indicator, span).await? else {
            results.push(TargetResult {
                target: Some(target_to_proto(t)),
                effective_weight: model::fixed(weight, 2),
                points: model::fixed(points, 2),
                ..TargetResult::default()
            });
            fractions.push(None);
            continue;
        };
        let completion = model::completion(direction, t.value, actual, formula);
        let score = model::target_score(points, completion);
        total += score;
        fractions.push(Some(completion));
        results.push(TargetResult {
            target: Some(target_to_proto(t)),
            actual: if is_rate(&t.indicator) {
                model::fixed(actual, 2)
            } else {
                actual.normalize().to_string()
            },
            completion_percent: model::fixed(completion * Decimal::ONE_HUNDRED, 2),
            score: model::fixed(score, 2),
            pace_percent: model::fixed(elapsed * Decimal::ONE_HUNDRED, 2),
            on_pace: model::on_pace(direction, t.value, actual, elapsed, is_rate(&t.indicator)),
            effective_weight: model::fixed(weight, 2),
            points: model::fixed(points, 2),
        });
    }
    Ok(TargetScores {
        completion: TargetCompletion {
            year,
            through_month: through_month as i32,
            results,
            output_score: model::fixed(total, 2),
            weight_total: model::fixed(weight_total, 2),
            weights_balanced: model::weights_problem(&weights).is_none(),
        },
        fractions,
        weights,
        total,
    })
}

/// Whether a target indicator is a rate (a percentage) rather than a count.
fn is_rate(indicator: &str) -> bool {
    matches!(
        indicator,
        "timely_acceptance_office"
            | "timely_acceptance_unit"
            | "on_time_completion"
            | "satisfaction_office"
            | "satisfaction_unit"
    )
}

async fn budget_execution(conn: &mut PgConnection, year: i32) -> Result<BudgetExecution, AppError> {
    let rows = store::execution(conn, year).await?;
    let appropriated: Decimal = rows.iter().map(|r| r.appropriated).sum();
    let disbursed: Decimal = rows.iter().map(|r| r.disbursed).sum();
    let pct = |a: Decimal, d: Decimal| {
        model::share_at(d, a, 2)
            .map(|p| model::fixed(p, 2))
            .unwrap_or_default()
    };
    Ok(BudgetExecution {
        year,
        categories: rows
            .iter()
            .map(|r| CategoryExecution {
                category: r.category.clone(),
                name: r.name.clone(),
                appropriated: money::format(r.appropriated),
                disbursed: money::format(r.disbursed),
                execution_percent: pct(r.appropriated, r.disbursed),
            })
            .collect(),
        appropriated: money::format(appropriated),
        disbursed: money::format(disbursed),
        execution_percent: pct(appropriated, disbursed),
        score: model::fixed(model::execution_score(appropriated, disbursed), 2),
        payments: store::payments(conn, year)
            .await?
            .into_iter()
            .map(|p| PaymentTotal {
                method: i32::from(p.method),
                requests: p.requests,
                amount: money::format(p.amount),
            })
            .collect(),
    })
}

fn year_field(value: i32) -> Result<i32, FieldViolation> {
    if (1990..=2200).contains(&value) {
        Ok(value)
    } else {
        Err(FieldViolation::new("year", "a year between 1990 and 2200"))
    }
}

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn get_indicators(
        &self,
        request: Request<GetIndicatorsRequest>,
    ) -> Result<Response<Indicators>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let org = scope(principal, &req.org_code)?;
        let span = Span::parse("period", req.period.as_ref()).map_err(AppError::from)?;
        let reader = Reader::of(principal);
        let mut conn = self.read.acquire().await.map_err(AppError::from)?;
        Ok(Response::new(
            indicators(
                &mut conn,
                span,
                org.as_deref(),
                req.include_pending,
                req.basically_satisfied_counts,
                req.include_ids.then_some(Ids { reader: &reader }),
            )
            .await?,
        ))
    }

    async fn get_visit_statistics(
        &self,
        request: Request<GetVisitStatisticsRequest>,
    ) -> Result<Response<VisitStatistics>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let org = scope(principal, &req.org_code)?;
        let span = Span::parse("period", req.period.as_ref()).map_err(AppError::from)?;
        let group_by = validate::optional_enum::<VisitGrouping>("group_by", req.group_by)
            .map_err(AppError::from)?
            .unwrap_or_default();
        // Month groups are keyed by the month of the year ("03"): a longer period would add up different
        // years' months under one key.
        if group_by == VisitGrouping::Month && span.months() > 12 {
            return Err(AppError::invalid(
                "group_by",
                "by month covers a period of at most 12 months; ask for each year",
            )
            .into());
        }
        let mut conn = self.read.acquire().await.map_err(AppError::from)?;
        Ok(Response::new(
            visit_statistics(&mut conn, span, org.as_deref(), group_by).await?,
        ))
    }

    async fn get_channel_statistics(
        &self,
        request: Request<GetChannelStatisticsRequest>,
    ) -> Result<Response<ChannelStatistics>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let org = scope(principal, &req.org_code)?;
        let span = Span::parse("period", req.period.as_ref()).map_err(AppError::from)?;
        let mut conn = self.read.acquire().await.map_err(AppError::from)?;
        Ok(Response::new(
            channel_statistics(&mut conn, span, org.as_deref()).await?,
        ))
    }

    async fn set_target(
        &self,
        request: Request<SetTargetRequest>,
    ) -> Result<Response<Target>, Status> {
        let principal = auth::principal(&request)?;
        principal.require(&[Role::Admin, Role::CountyClerk], "set targets")?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", &req.request_id));
        let Some(t) = &req.target else {
            return Err(AppError::invalid("target", "required").into());
        };
        let year = v.check(
            year_field(t.year).map_err(|f| FieldViolation::new("target.year", f.description)),
        );
        let indicator = if TARGET_INDICATORS.contains(&t.indicator.as_str()) {
            Some(t.indicator.clone())
        } else {
            v.add(
                "target.indicator",
                format!("one of {}", TARGET_INDICATORS.join(", ")),
            );
            None
        };
        let direction = v.check(validate::required_enum::<TargetDirection>(
            "target.direction",
            t.direction,
        ));
        // Never negative (money::amount refuses a sign); a rate is a percentage.
        let value = v
            .check(money::amount("target.value", &t.value))
            .and_then(|value| {
                if is_rate(&t.indicator) && value > Decimal::ONE_HUNDRED {
                    v.add("target.value", "a rate target is a percentage, 0 to 100");
                    None
                } else {
                    Some(value)
                }
            });
        let weight = if t.weight.is_empty() {
            Some(None)
        } else {
            v.check(money::amount("target.weight", &t.weight))
                .and_then(|w| match model::weight_refusal(w, Decimal::ZERO) {
                    Some(why) => {
                        v.add("target.weight", why);
                        None
                    }
                    None => Some(Some(w)),
                })
        };
        let formula = match CapFormula::try_from(t.cap_formula) {
            Ok(CapFormula::Unspecified) => Some(CapFormula::Ratio),
            Ok(f) => Some(f),
            Err(_) => {
                v.add(
                    "target.cap_formula",
                    format!("unknown value {}", t.cap_formula),
                );
                None
            }
        };
        let name = if t.name.trim().is_empty() {
            Some(t.indicator.clone())
        } else {
            v.check(validate::required_text("target.name", &t.name, 100))
        };
        let (request_id, row) = v
            .finish(|| {
                Some((
                    request_id?,
                    store::TargetRow {
                        year: year?,
                        indicator: indicator?,
                        direction: direction? as i16,
                        value: value?,
                        weight: weight?,
                        cap_formula: formula? as i16,
                        name: name?,
                    },
                ))
            })
            .map_err(AppError::from)?;
        let key = idempotency::Key::new(principal.id, "SetTarget", request_id, req);
        let mut tx = self.pool.begin().await.map_err(AppError::from)?;
        if let Some(first) = idempotency::claim::<Target>(&mut tx, &key).await? {
            return Ok(Response::new(first));
        }
        // Targets are set one at a time, so the year's weights are checked together under a lock of the
        // year: two concurrent SetTargets cannot each see room for their weight and add up past 100.
        if let Some(weight) = row.weight {
            store::lock_target_year(&mut tx, row.year)
                .await
                .map_err(AppError::from)?;
            let others = store::other_weights(&mut tx, row.year, &row.indicator)
                .await
                .map_err(AppError::from)?;
            if let Some(why) = model::weight_refusal(weight, others) {
                return Err(AppError::invalid("target.weight", why).into());
            }
        }
        let saved = store::upsert_target(&mut tx, &row)
            .await
            .map_err(AppError::from)?;
        let response = target_to_proto(&saved);
        idempotency::save(&mut tx, &key, &response).await?;
        tx.commit().await.map_err(AppError::from)?;
        Ok(Response::new(response))
    }

    async fn list_targets(
        &self,
        request: Request<ListTargetsRequest>,
    ) -> Result<Response<ListTargetsResponse>, Status> {
        let principal = auth::principal(&request)?;
        scope(principal, "")?;
        let year = year_field(request.get_ref().year).map_err(AppError::from)?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let targets = store::targets(&mut conn, year)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(ListTargetsResponse {
            targets: targets.iter().map(target_to_proto).collect(),
        }))
    }

    async fn get_target_completion(
        &self,
        request: Request<GetTargetCompletionRequest>,
    ) -> Result<Response<TargetCompletion>, Status> {
        let principal = auth::principal(&request)?;
        scope(principal, "")?;
        let req = request.get_ref();
        let year = year_field(req.year).map_err(AppError::from)?;
        let through = match req.through_month {
            0 => 12,
            m @ 1..=12 => m as u32,
            _ => {
                return Err(
                    AppError::invalid("through_month", "1 to 12 (0: the whole year)").into(),
                );
            }
        };
        let mut conn = self.read.acquire().await.map_err(AppError::from)?;
        Ok(Response::new(
            target_completion(&mut conn, year, through)
                .await?
                .completion,
        ))
    }

    async fn get_budget_execution(
        &self,
        request: Request<GetBudgetExecutionRequest>,
    ) -> Result<Response<BudgetExecution>, Status> {
        let principal = auth::principal(&request)?;
        scope(principal, "")?;
        let year = year_field(request.get_ref().year).map_err(AppError::from)?;
        let mut conn = self.read.acquire().await.map_err(AppError::from)?;
        Ok(Response::new(budget_execution(&mut conn, year).await?))
    }

    async fn generate_self_evaluation_report(
        &self,
        request: Request<GenerateSelfEvaluationReportRequest>,
    ) -> Result<Response<SelfEvaluationReport>, Status> {
        let principal = auth::principal(&request)?;
        scope(principal, "")?;
        let year = year_field(request.get_ref().year).map_err(AppError::from)?;
        let mut conn = self.read.acquire().await.map_err(AppError::from)?;
        Ok(Response::new(
            super::report::generate(&mut conn, year).await?,
        ))
    }

    async fn set_two_down_two_up(
        &self,
        request: Request<SetTwoDownTwoUpRequest>,
    ) -> Result<Response<TwoDownTwoUp>, Status> {
        let principal = auth::principal(&request)?;
        principal.require(&[Role::Admin, Role::CountyClerk], "set 两降两升")?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", &req.request_id));
        let year = v.check(year_field(req.year));
        let mut goals = Vec::new();
        for (i, g) in req.goals.iter().enumerate() {
            let direction = match TrendDirection::try_from(g.direction) {
                Ok(d) => d,
                Err(_) => {
                    v.add(
                        format!("goals[{i}].direction"),
                        format!("unknown value {}", g.direction),
                    );
                    TrendDirection::Unspecified
                }
            };
            let name = if g.name.trim().is_empty() {
                model::trend_indicator(&g.indicator)
                    .map(|(name, _)| name.to_owned())
                    .unwrap_or_default()
            } else {
                v.check(validate::required_text(
                    &format!("goals[{i}].name"),
                    &g.name,
                    100,
                ))
                .unwrap_or_default()
            };
            goals.push(store::TrendGoalRow {
                indicator: g.indicator.clone(),
                direction: direction as i16,
                name,
            });
        }
        let pairs: Vec<(&str, TrendDirection)> = req
            .goals
            .iter()
            .map(|g| {
                (
                    g.indicator.as_str(),
                    TrendDirection::try_from(g.direction).unwrap_or_default(),
                )
            })
            .collect();
        if let Err((field, why)) = model::two_down_two_up_refusal(&pairs) {
            v.add(field, why);
        }
        let (request_id, year) = v
            .finish(|| Some((request_id?, year?)))
            .map_err(AppError::from)?;
        let key = idempotency::Key::new(principal.id, "SetTwoDownTwoUp", request_id, req);
        let mut tx = self.pool.begin().await.map_err(AppError::from)?;
        if let Some(first) = idempotency::claim::<TwoDownTwoUp>(&mut tx, &key).await? {
            return Ok(Response::new(first));
        }
        store::replace_trend_goals(&mut tx, year, &goals)
            .await
            .map_err(AppError::from)?;
        let (goals, is_default) = trend_goals(&mut tx, year).await?;
        let response = TwoDownTwoUp {
            year,
            goals,
            is_default,
        };
        idempotency::save(&mut tx, &key, &response).await?;
        tx.commit().await.map_err(AppError::from)?;
        Ok(Response::new(response))
    }

    async fn get_two_down_two_up(
        &self,
        request: Request<GetTwoDownTwoUpRequest>,
    ) -> Result<Response<TwoDownTwoUp>, Status> {
        let principal = auth::principal(&request)?;
        scope(principal, "")?;
        let year = year_field(request.get_ref().year).map_err(AppError::from)?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let (goals, is_default) = trend_goals(&mut conn, year).await?;
        Ok(Response::new(TwoDownTwoUp {
            year,
            goals,
            is_default,
        }))
    }
}

/// What the report needs, computed by the same functions the RPCs use.
pub(super) struct YearFigures {
    pub indicators: Indicators,
    pub visits: VisitStatistics,
    pub channels: ChannelStatistics,
    pub targets: TargetScores,
    pub budget: BudgetExecution,
    pub documents: Vec<(String, String, Decimal)>,
    /// The year's fund requests by state and whether they are hardship relief.
    pub requests: Vec<store::RequestRow>,
}

pub(super) async fn year_figures(
    conn: &mut PgConnection,
    year: i32,
) -> Result<YearFigures, AppError> {
    let span = Span::year(year, 12).ok_or_else(|| AppError::invalid("year", "out of range"))?;
    Ok(YearFigures {
        indicators: indicators(conn, span, None, false, false, None).await?,
        visits: visit_statistics(conn, span, None, VisitGrouping::Level).await?,
        channels: channel_statistics(conn, span, None).await?,
        targets: target_completion(conn, year, 12).await?,
        budget: budget_execution(conn, year).await?,
        documents: store::documents(conn, year).await?,
        requests: store::fund_requests(conn, year, FundPurpose::HardshipRelief as i16).await?,
    })
}

pub(super) fn score_line(part: &str, weight: u32, score: Decimal) -> ScoreLine {
    ScoreLine {
        part: part.to_owned(),
        weight: weight.to_string(),
        score: model::fixed(score, 2),
    }
}

pub(super) fn write_line(out: &mut String, line: std::fmt::Arguments<'_>) {
    let _ = out.write_fmt(line);
    out.push('\n');
}
