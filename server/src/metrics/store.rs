//! SQL of the indicators. Each count is one aggregate over an index range; matter ids are only fetched when a
//! caller asks for them.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// The bureau's calendar date of a timestamp column, in SQL.
const LOCAL: &str = "AT TIME ZONE 'Asia/Shanghai')::date";

/// Which deadline a timeliness rate is counted by.
#[derive(Debug, Clone, Copy)]
pub enum Deadline {
    /// Petition office: registration + 15 days; done when first assigned (or declined at registration).
    Assign,
    /// Responsible unit: assignment + 15 days; done when accepted, declined or objected to.
    Accept,
    /// Conclusion due; done when replied.
    Conclude,
}

impl Deadline {
    fn columns(self) -> (&'static str, String, &'static str) {
        match self {
            Deadline::Assign => (
                "assign_due",
                format!("(COALESCE(first_assigned_at, declined_at) {LOCAL}"),
                "problem_org_code",
            ),
            Deadline::Accept => (
                "accept_due",
                format!("(COALESCE(accepted_at, declined_at, objected_at) {LOCAL}"),
                "responsible_org_code",
            ),
            Deadline::Conclude => (
                "conclude_due",
                format!("(replied_at {LOCAL}"),
                "responsible_org_code",
            ),
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

pub async fn timeliness(
    conn: &mut PgConnection,
    deadline: Deadline,
    from: NaiveDate,
    until: NaiveDate,
    today: NaiveDate,
    org: Option<&str>,
) -> Result<Buckets, sqlx::Error> {
    let (due, done, org_column) = deadline.columns();
    sqlx::query_as(&format!(
        "SELECT count(*) FILTER (WHERE done <= due) AS on_time, \
                count(*) FILTER (WHERE done > due) AS late, \
                count(*) FILTER (WHERE done IS NULL AND due < $3) AS overdue, \
                count(*) FILTER (WHERE done IS NULL AND due >= $3) AS pending \
         FROM (SELECT {due} AS due, {done} AS done FROM cases \
               WHERE {due} >= $1 AND {due} < $2 AND ($4::text IS NULL OR {org_column} = $4)) t"
    ))
    .bind(from)
    .bind(until)
    .bind(today)
    .bind(org)
    .fetch_one(conn)
    .await
}

/// The matters of a timeliness rate: (id, counted in the numerator).
pub async fn timeliness_ids(
    conn: &mut PgConnection,
    deadline: Deadline,
    from: NaiveDate,
    until: NaiveDate,
    today: NaiveDate,
    org: Option<&str>,
    include_pending: bool,
) -> Result<Vec<(Uuid, bool)>, sqlx::Error> {
    let (due, done, org_column) = deadline.columns();
    sqlx::query_as(&format!(
        "SELECT id, COALESCE(done <= due, false) FROM \
           (SELECT id, {due} AS due, {done} AS done FROM cases \
            WHERE {due} >= $1 AND {due} < $2 AND ($4::text IS NULL OR {org_column} = $4)) t \
         WHERE done IS NOT NULL OR due < $3 OR $5 ORDER BY id"
    ))
    .bind(from)
    .bind(until)
    .bind(today)
    .bind(org)
    .bind(include_pending)
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

// Ratings are xinfang.v1.Rating numbers: 1 satisfied, 2 basically satisfied, 3 unsatisfied, 4 not participated.
pub async fn ratings(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    org: Option<&str>,
) -> Result<Ratings, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS evaluated, \
                count(*) FILTER (WHERE office_rating IN (1, 2, 3)) AS office_rated, \
                count(*) FILTER (WHERE office_rating = 1) AS office_satisfied, \
                count(*) FILTER (WHERE office_rating = 2) AS office_basically, \
                count(*) FILTER (WHERE unit_rating IN (1, 2, 3)) AS unit_rated, \
                count(*) FILTER (WHERE unit_rating = 1) AS unit_satisfied, \
                count(*) FILTER (WHERE unit_rating = 2) AS unit_basically \
         FROM cases WHERE evaluated_at IS NOT NULL AND replied_at >= $1 AND replied_at < $2 \
           AND ($3::text IS NULL OR responsible_org_code = $3)",
    )
    .bind(from)
    .bind(until)
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

pub async fn matter_counts(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    org: Option<&str>,
) -> Result<MatterCounts, sqlx::Error> {
    // Backlog states (xinfang.v1.BacklogState): 4 resolved, 5 struck off.
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE accepted_at >= $1 AND accepted_at < $2) AS accepted, \
                count(*) FILTER (WHERE backlog_listed_at < $2) AS backlog_listed, \
                count(*) FILTER (WHERE backlog_listed_at < $2 AND backlog_resolved_at < $2) AS backlog_resolved, \
                count(*) FILTER (WHERE special_difficult AND backlog_resolved_at >= $1 \
                                   AND backlog_resolved_at < $2) AS special_difficult_resolved \
         FROM cases WHERE ($3::text IS NULL OR responsible_org_code = $3) \
           AND (accepted_at >= $1 OR backlog_listed_at IS NOT NULL)",
    )
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

pub async fn registrations(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    org: Option<&str>,
) -> Result<Registrations, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS total, count(*) FILTER (WHERE repeat) AS repeat, \
                count(*) FILTER (WHERE online) AS online \
         FROM (SELECT repeat, false AS online FROM visits \
                 WHERE visited_at >= $1 AND visited_at < $2 AND ($3::text IS NULL OR problem_org_code = $3) \
               UNION ALL \
               SELECT repeat, channel IN ('online', 'leader_mailbox', 'peoples_daily_board') FROM letters \
                 WHERE received_at >= $1 AND received_at < $2 AND ($3::text IS NULL OR problem_org_code = $3)) r",
    )
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
}

/// What visits are grouped by.
#[derive(Debug, Clone, Copy)]
pub enum VisitKey {
    All,
    Level,
    Township,
    Month,
}

pub async fn visits(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    org: Option<&str>,
    key: VisitKey,
) -> Result<Vec<VisitRow>, sqlx::Error> {
    let key = match key {
        VisitKey::All => "''".to_owned(),
        VisitKey::Level => "level".to_owned(),
        VisitKey::Township => "problem_org_code".to_owned(),
        VisitKey::Month => "to_char(visited_at AT TIME ZONE 'Asia/Shanghai', 'MM')".to_owned(),
    };
    sqlx::query_as(&format!(
        "SELECT {key} AS key, count(*) AS batches, COALESCE(sum(headcount), 0)::int8 AS persons, \
                count(*) FILTER (WHERE NOT repeat) AS initial_batches, \
                COALESCE(sum(headcount) FILTER (WHERE NOT repeat), 0)::int8 AS initial_persons, \
                count(*) FILTER (WHERE repeat) AS repeat_batches, \
                COALESCE(sum(headcount) FILTER (WHERE repeat), 0)::int8 AS repeat_persons, \
                count(*) FILTER (WHERE collective) AS collective_batches, \
                COALESCE(sum(headcount) FILTER (WHERE collective), 0)::int8 AS collective_persons, \
                count(*) FILTER (WHERE leapfrog) AS leapfrog_batches, \
                count(*) FILTER (WHERE non_reception_place) AS non_reception_batches \
         FROM visits WHERE visited_at >= $1 AND visited_at < $2 AND ($3::text IS NULL OR problem_org_code = $3) \
         GROUP BY 1 ORDER BY 1"
    ))
    .bind(from)
    .bind(until)
    .bind(org)
    .fetch_all(conn)
    .await
}

pub async fn letters_by_channel(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    org: Option<&str>,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT channel, count(*) FROM letters \
         WHERE received_at >= $1 AND received_at < $2 AND ($3::text IS NULL OR problem_org_code = $3) \
         GROUP BY channel ORDER BY channel",
    )
    .bind(from)
    .bind(until)
    .bind(org)
    .fetch_all(conn)
    .await
}

/// Review requests (复查 and 复核) made in the period, from the history.
pub async fn reviews(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    org: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id \
         WHERE e.action = 'review_requested' AND e.occurred_at >= $1 AND e.occurred_at < $2 \
           AND ($3::text IS NULL OR c.problem_org_code = $3)",
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

pub async fn targets(conn: &mut PgConnection, year: i32) -> Result<Vec<TargetRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT year, indicator, direction, value, weight, cap_formula, name FROM targets \
         WHERE year = $1 ORDER BY indicator",
    )
    .bind(year)
    .fetch_all(conn)
    .await
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
