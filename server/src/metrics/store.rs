//! SQL of the indicators. The counts add up the rollups that triggers keep in the writing transaction
//! (migration `…_rollups.sql`): a county-wide year is a few thousand rows whatever the volume. Matter ids for
//! drill-through are only fetched when a caller asks for them, from the matters themselves.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// Which clock a timeliness rate counts. Each is stored on the matter by the workflow at every step (its due
/// date and its outcome: open, on time, late; `cases::model::Outcome`), so that the indicators, the rollups
/// and the drill-through only count what the workflow decided (docs/deadlines.md).
#[derive(Debug, Clone, Copy)]
pub enum Deadline {
    /// The petition office's: registration + 15 days, met by the first assignment (or a refusal at
    /// registration). Counted for the matter's problem place (问题属地).
    Assign,
    /// The current assignment's: its receipt + 15 days, met by accepting or declining (an objection does not
    /// meet it). Counted for the responsible unit.
    Accept,
    /// The current assignment's conclusion, for matters with a statutory period: met by the reply, a 交办 by
    /// the office's confirmation of its completion report. Counted for the responsible unit.
    Conclude,
}

impl Deadline {
    /// The `deadline` column of `case_deadline_days`.
    pub fn rollup_key(self) -> i16 {
        match self {
            Deadline::Assign => 1,
            Deadline::Accept => 2,
            Deadline::Conclude => 3,
        }
    }

    /// (due date column, outcome column, org column) of the clock on `cases`.
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Deadline::Assign => ("assign_due", "assign_outcome", "problem_org_code"),
            Deadline::Accept => ("accept_due", "accept_outcome", "responsible_org_code"),
            Deadline::Conclude => ("conclude_due", "conclude_outcome", "responsible_org_code"),
        }
    }
}

/// Matters whose deadline falls in `[from, until)`, classified on `today`: done by the deadline, done late,
/// not done and past it, not done and not yet due.
#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct Buckets {
    pub on_time: i64,
    pub late: i64,
    pub overdue: i64,
    pub pending: i64,
}

/// Parameters: from, until (due dates), the day undone steps are overdue from, org or NULL, deadline.
pub const TIMELINESS_SQL: &str = "SELECT COALESCE(sum(on_time), 0)::int8 AS on_time, COALESCE(sum(late), 0)::int8 AS late, \
                COALESCE(sum(open) FILTER (WHERE due < $3), 0)::int8 AS overdue, \
                COALESCE(sum(open) FILTER (WHERE due >= $3), 0)::int8 AS pending \
         FROM case_deadline_days \
         WHERE deadline = $5 AND due >= $1 AND due < $2 AND ($4::text IS NULL OR org_code = $4)";

pub async fn timeliness(
    conn: &mut PgConnection,
    deadline: Deadline,
    from: NaiveDate,
    until: NaiveDate,
    today: NaiveDate,
    org: Option<&str>,
) -> Result<Buckets, sqlx::Error> {
    sqlx::query_as(TIMELINESS_SQL)
        .bind(from)
        .bind(until)
        .bind(today)
        .bind(org)
        .bind(deadline.rollup_key())
        .fetch_one(conn)
        .await
}

/// Which matters a drill-through lists: those of `org` (or all), with or without the pending ones. Who may
/// see which of them is the read rule's to say (`crate::scope`).
#[derive(Debug, Clone, Copy)]
pub struct IdFilter<'a> {
    pub org: Option<&'a str>,
    pub include_pending: bool,
}

/// The matters of a timeliness rate: (id, counted in the numerator).
pub async fn timeliness_ids(
    conn: &mut PgConnection,
    deadline: Deadline,
    from: NaiveDate,
    until: NaiveDate,
    today: NaiveDate,
    filter: IdFilter<'_>,
) -> Result<Vec<(Uuid, bool)>, sqlx::Error> {
    let (due, outcome, org_column) = deadline.columns();
    sqlx::query_as(&format!(
        "SELECT id, {outcome} = 1 FROM cases \
         WHERE {due} >= $1 AND {due} < $2 AND ($4::text IS NULL OR {org_column} = $4) \
           AND ({outcome} <> 0 OR {due} < $3 OR $5) ORDER BY id"
    ))
    .bind(from)
    .bind(until)
    .bind(today)
    .bind(filter.org)
    .bind(filter.include_pending)
    .fetch_all(conn)
    .await
}

/// Ratings of the matters evaluated whose reply falls in the period.
#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct Ratings {
    pub evaluated: i64,
    pub office_rated: i64,
    pub office_satisfied: i64,
    pub office_basically: i64,
    pub unit_rated: i64,
    pub unit_satisfied: i64,
    pub unit_basically: i64,
}

/// Ratings of the matters evaluated whose reply falls in the months `[from, until)`.
/// Parameters: from, until (months), org or NULL.
pub const RATINGS_SQL: &str = "SELECT COALESCE(sum(evaluated), 0)::int8 AS evaluated, \
                COALESCE(sum(office_rated), 0)::int8 AS office_rated, \
                COALESCE(sum(office_satisfied), 0)::int8 AS office_satisfied, \
                COALESCE(sum(office_basically), 0)::int8 AS office_basically, \
                COALESCE(sum(unit_rated), 0)::int8 AS unit_rated, \
                COALESCE(sum(unit_satisfied), 0)::int8 AS unit_satisfied, \
                COALESCE(sum(unit_basically), 0)::int8 AS unit_basically \
         FROM case_months WHERE month >= $1 AND month < $2 AND ($3::text IS NULL OR org_code = $3)";

pub async fn ratings(
    conn: &mut PgConnection,
    from: NaiveDate,
    until: NaiveDate,
    org: Option<&str>,
) -> Result<Ratings, sqlx::Error> {
    sqlx::query_as(RATINGS_SQL)
        .bind(from)
        .bind(until)
        .bind(org)
        .fetch_one(conn)
        .await
}

/// Matters replied in `[from, until)` and published for evaluation whose window closed unrated before
/// `today`: 未参评 without anybody recording it. They are few (a partial index holds only the published,
/// unrated ones), so they are counted from the matters themselves.
/// Parameters: from, until (instants), today, org or NULL.
pub const LAPSED_SQL: &str = "SELECT count(*) FROM cases \
         WHERE evaluation_due IS NOT NULL AND evaluated_at IS NULL AND replied_at >= $1 AND replied_at < $2 \
           AND evaluation_due < $3 AND ($4::text IS NULL OR responsible_org_code = $4)";

pub async fn lapsed_evaluations(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    today: NaiveDate,
    org: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(LAPSED_SQL)
        .bind(from)
        .bind(until)
        .bind(today)
        .bind(org)
        .fetch_one(conn)
        .await
}

#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct MatterCounts {
    pub accepted: i64,
    pub backlog_listed: i64,
    pub backlog_resolved: i64,
    pub special_difficult_resolved: i64,
}

/// Matters accepted and special difficult backlog matters resolved in the months `[from, until)`; backlog
/// matters listed, and resolved, before `until`.
/// Parameters: from, until (months), org or NULL.
pub const MATTER_COUNTS_SQL: &str = "SELECT COALESCE(sum(accepted) FILTER (WHERE month >= $1), 0)::int8 AS accepted, \
                COALESCE(sum(backlog_listed), 0)::int8 AS backlog_listed, \
                COALESCE(sum(backlog_resolved), 0)::int8 AS backlog_resolved, \
                COALESCE(sum(special_difficult_resolved) FILTER (WHERE month >= $1), 0)::int8 \
                    AS special_difficult_resolved \
         FROM case_months WHERE month < $2 AND ($3::text IS NULL OR org_code = $3)";

pub async fn matter_counts(
    conn: &mut PgConnection,
    from: NaiveDate,
    until: NaiveDate,
    org: Option<&str>,
) -> Result<MatterCounts, sqlx::Error> {
    sqlx::query_as(MATTER_COUNTS_SQL)
        .bind(from)
        .bind(until)
        .bind(org)
        .fetch_one(conn)
        .await
}

/// Registrations in the period: all, repeats, and online items (for the repeat rate and online share).
#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct Registrations {
    pub total: i64,
    pub repeat: i64,
    pub online: i64,
}

/// Parameters: from, until (months), org or NULL.
pub const REGISTRATIONS_SQL: &str = "SELECT COALESCE(sum(n), 0)::int8 AS total, COALESCE(sum(repeats), 0)::int8 AS repeat, \
                COALESCE(sum(n) FILTER (WHERE online), 0)::int8 AS online \
         FROM (SELECT batches AS n, repeat_batches AS repeats, false AS online FROM visit_months \
                 WHERE month >= $1 AND month < $2 AND ($3::text IS NULL OR org_code = $3) \
               UNION ALL \
               SELECT letters, repeats, channel IN ('online', 'leader_mailbox', 'peoples_daily_board') \
                 FROM letter_months \
                 WHERE month >= $1 AND month < $2 AND ($3::text IS NULL OR org_code = $3)) r";

pub async fn registrations(
    conn: &mut PgConnection,
    from: NaiveDate,
    until: NaiveDate,
    org: Option<&str>,
) -> Result<Registrations, sqlx::Error> {
    sqlx::query_as(REGISTRATIONS_SQL)
        .bind(from)
        .bind(until)
        .bind(org)
        .fetch_one(conn)
        .await
}

/// Visit figures of one group.
#[derive(Debug, Clone, Default, FromRow)]
pub struct VisitRow {
    pub key: String,
    pub batches: i64,
    pub persons: i64,
    pub initial_batches: i64,
    pub initial_persons: i64,
    pub repeat_batches: i64,
    pub repeat_persons: i64,
    pub collective_batches: i64,
    pub collective_persons: i64,
    pub leapfrog_batches: i64,
    pub non_reception_batches: i64,
    pub large_scale_batches: i64,
    pub large_scale_persons: i64,
}

/// What visits are grouped by.
#[derive(Debug, Clone, Copy)]
pub enum VisitKey {
    All,
    Level,
    Township,
    /// The month of the year ("03").
    Month,
    /// The month ("2024-03").
    YearMonth,
}

/// Parameters: from, until (months), org or NULL.
pub fn visits_sql(key: VisitKey) -> String {
    let key = match key {
        VisitKey::All => "''",
        VisitKey::Level => "level",
        VisitKey::Township => "org_code",
        VisitKey::Month => "to_char(month, 'MM')",
        VisitKey::YearMonth => "to_char(month, 'YYYY-MM')",
    };
    format!(
        "SELECT {key} AS key, sum(batches)::int8 AS batches, sum(persons)::int8 AS persons, \
                sum(initial_batches)::int8 AS initial_batches, sum(initial_persons)::int8 AS initial_persons, \
                sum(repeat_batches)::int8 AS repeat_batches, sum(repeat_persons)::int8 AS repeat_persons, \
                sum(collective_batches)::int8 AS collective_batches, \
                sum(collective_persons)::int8 AS collective_persons, \
                sum(leapfrog_batches)::int8 AS leapfrog_batches, \
                sum(non_reception_batches)::int8 AS non_reception_batches, \
                sum(large_scale_batches)::int8 AS large_scale_batches, \
                sum(large_scale_persons)::int8 AS large_scale_persons \
         FROM visit_months WHERE month >= $1 AND month < $2 AND ($3::text IS NULL OR org_code = $3) \
         GROUP BY 1 HAVING sum(batches) <> 0 ORDER BY 1"
    )
}

pub async fn visits(
    conn: &mut PgConnection,
    from: NaiveDate,
    until: NaiveDate,
    org: Option<&str>,
    key: VisitKey,
) -> Result<Vec<VisitRow>, sqlx::Error> {
    sqlx::query_as(&visits_sql(key))
        .bind(from)
        .bind(until)
        .bind(org)
        .fetch_all(conn)
        .await
}

pub async fn letters_by_channel(
    conn: &mut PgConnection,
    from: NaiveDate,
    until: NaiveDate,
    org: Option<&str>,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT channel, sum(letters)::int8 FROM letter_months \
         WHERE month >= $1 AND month < $2 AND ($3::text IS NULL OR org_code = $3) \
         GROUP BY channel HAVING sum(letters) <> 0 ORDER BY channel",
    )
    .bind(from)
    .bind(until)
    .bind(org)
    .fetch_all(conn)
    .await
}

/// Review requests made in a period, from the history: 复查 (first reviews) and 复核 (second reviews).
#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct Reviews {
    pub first: i64,
    pub second: i64,
}

/// Each `review_requested` event records the kind the request started (`review_kind` in the changed
/// fields: 1 复查, 2 复核); an event without it falls back to the matter's kind now, which is the same
/// unless a later review followed. docs/indicators.md, "复查 and 复核".
pub async fn reviews(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    org: Option<&str>,
) -> Result<Reviews, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE kind <= 1) AS first, count(*) FILTER (WHERE kind >= 2) AS second \
         FROM (SELECT COALESCE((e.after ->> 'review_kind')::int, c.review_kind) AS kind \
               FROM case_events e JOIN cases c ON c.id = e.case_id \
               WHERE e.action = 'review_requested' AND e.occurred_at >= $1 AND e.occurred_at < $2 \
                 AND ($3::text IS NULL OR c.problem_org_code = $3)) r",
    )
    .bind(from)
    .bind(until)
    .bind(org)
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct TargetRow {
    pub year: i32,
    pub indicator: String,
    pub direction: i16,
    pub value: Decimal,
    pub weight: Option<Decimal>,
    pub cap_formula: i16,
    pub name: String,
}

pub async fn upsert_target(
    conn: &mut PgConnection,
    t: &TargetRow,
) -> Result<TargetRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO targets (year, indicator, direction, value, weight, cap_formula, name) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (year, indicator) DO UPDATE SET direction = EXCLUDED.direction, value = EXCLUDED.value, \
             weight = EXCLUDED.weight, cap_formula = EXCLUDED.cap_formula, name = EXCLUDED.name, \
             updated_at = now() \
         RETURNING year, indicator, direction, value, weight, cap_formula, name",
    )
    .bind(t.year)
    .bind(&t.indicator)
    .bind(t.direction)
    .bind(t.value)
    .bind(t.weight)
    .bind(t.cap_formula)
    .bind(&t.name)
    .fetch_one(conn)
    .await
}

/// Serializes the weight checks of one year's targets until the transaction ends (SetTarget).
pub async fn lock_target_year(conn: &mut PgConnection, year: i32) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('xinfang.targets'), $1)")
        .bind(year)
        .execute(conn)
        .await?;
    Ok(())
}

/// The weights set by the year's targets other than `indicator`, added up.
pub async fn other_weights(
    conn: &mut PgConnection,
    year: i32,
    indicator: &str,
) -> Result<Decimal, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(weight), 0) FROM targets WHERE year = $1 AND indicator <> $2",
    )
    .bind(year)
    .bind(indicator)
    .fetch_one(conn)
    .await
}

pub async fn targets(conn: &mut PgConnection, year: i32) -> Result<Vec<TargetRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT year, indicator, direction, value, weight, cap_formula, name FROM targets \
         WHERE year = $1 ORDER BY indicator",
    )
    .bind(year)
    .fetch_all(conn)
    .await
}

/// One of a year's 两降两升 indicators.
#[derive(Debug, Clone, FromRow)]
pub struct TrendGoalRow {
    pub indicator: String,
    pub direction: i16,
    pub name: String,
}

/// The year's 两降两升 in order; empty when the year has none of its own.
pub async fn trend_goals(
    conn: &mut PgConnection,
    year: i32,
) -> Result<Vec<TrendGoalRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT indicator, direction, name FROM trend_goals WHERE year = $1 ORDER BY position",
    )
    .bind(year)
    .fetch_all(conn)
    .await
}

/// Replaces the year's 两降两升 with `goals` (four, validated by the caller).
pub async fn replace_trend_goals(
    conn: &mut PgConnection,
    year: i32,
    goals: &[TrendGoalRow],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM trend_goals WHERE year = $1")
        .bind(year)
        .execute(&mut *conn)
        .await?;
    for (i, g) in goals.iter().enumerate() {
        sqlx::query(
            "INSERT INTO trend_goals (year, position, indicator, direction, name) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(year)
        .bind(i as i16 + 1)
        .bind(&g.indicator)
        .bind(g.direction)
        .bind(&g.name)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct ExecutionRow {
    pub category: String,
    pub name: String,
    pub appropriated: Decimal,
    pub disbursed: Decimal,
}

pub async fn execution(
    conn: &mut PgConnection,
    year: i32,
) -> Result<Vec<ExecutionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.category, c.name, b.appropriated, b.disbursed FROM budgets b \
         JOIN fund_categories c ON c.code = b.category WHERE b.year = $1 ORDER BY b.category",
    )
    .bind(year)
    .fetch_all(conn)
    .await
}

/// The documents behind a year's budgets, for the report.
pub async fn documents(
    conn: &mut PgConnection,
    year: i32,
) -> Result<Vec<(String, String, Decimal)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.category, a.document, a.amount FROM budget_appropriations a \
         JOIN budgets b ON b.id = a.budget_id WHERE b.year = $1 ORDER BY a.id",
    )
    .bind(year)
    .fetch_all(conn)
    .await
}

/// The disbursed fund requests of a year by payment method (1 直接支付, 2 授权支付, 3 cash): how many and how
/// much, at the amount approved (which the payment spends).
#[derive(Debug, Clone, FromRow)]
pub struct PaymentRow {
    pub method: i16,
    pub requests: i64,
    pub amount: Decimal,
}

pub async fn payments(conn: &mut PgConnection, year: i32) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT payment_method AS method, count(*)::int8 AS requests, \
                COALESCE(sum(COALESCE(approved_amount, amount)), 0)::numeric(14, 2) AS amount \
         FROM fund_requests WHERE year = $1 AND state = 'disbursed' \
         GROUP BY payment_method ORDER BY payment_method",
    )
    .bind(year)
    .fetch_all(conn)
    .await
}

/// A year's fund requests by where they stand in the chain, and by whether they are hardship relief.
#[derive(Debug, Clone, FromRow)]
pub struct RequestRow {
    pub state: String,
    pub relief: bool,
    pub requests: i64,
    pub amount: Decimal,
}

/// Parameters: year, the purpose code of hardship relief.
pub async fn fund_requests(
    conn: &mut PgConnection,
    year: i32,
    relief_purpose: i16,
) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT state, purpose = $2 AS relief, count(*)::int8 AS requests, \
                COALESCE(sum(COALESCE(approved_amount, amount)), 0)::numeric(14, 2) AS amount \
         FROM fund_requests WHERE year = $1 GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(year)
    .bind(relief_purpose)
    .fetch_all(conn)
    .await
}
