//! SQL of the indicators, statistics, targets, 两降两升 and budget. The counts add up the rollups that
//! triggers keep in the writing transaction (migration `…_rollups.sql`): a county-wide year is a few thousand
//! rows whatever the volume. The indicators' statements are made from the table of indicators
//! ([`indicator_statements`]), so that a new indicator over an existing rollup needs no SQL here. Case ids
//! for drill-through are only fetched when a caller asks for them, from the cases themselves.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection, Row};
use uuid::Uuid;

use super::indicators::{Dated, Deadline, INDICATORS, SOURCES, Source, Term};

/// One statement of the indicators: what a source adds up over a period, one `int8` column per term.
#[derive(Debug)]
pub struct Statement {
    pub source: &'static Source,
    /// The terms of the table of indicators that read the source, in the order of the columns.
    pub terms: Vec<Term>,
    pub sql: String,
}

/// The statements that count every indicator of a period: one per source of the table of indicators
/// (`super::indicators`), made from the terms its rows name, so that a row over an existing rollup needs no
/// SQL of its own. Parameters: [`Bounds`].
pub fn indicator_statements() -> &'static [Statement] {
    static STATEMENTS: LazyLock<Vec<Statement>> = LazyLock::new(|| {
        SOURCES
            .iter()
            .map(|source| {
                let mut terms: Vec<Term> = Vec::new();
                for term in INDICATORS
                    .iter()
                    .flat_map(|i| i.numerator.iter().chain(i.denominator))
                    .filter(|t| t.source == *source)
                {
                    if !terms.iter().any(|t| same_column(t, term)) {
                        terms.push(*term);
                    }
                }
                Statement {
                    source,
                    sql: sums_sql(source, &terms),
                    terms,
                }
            })
            .filter(|s| !s.terms.is_empty())
            .collect()
    });
    &STATEMENTS
}

/// Whether two terms add up the same column of a statement (whatever option they count under).
pub fn same_column(a: &Term, b: &Term) -> bool {
    a.source == b.source && a.sum == b.sum && a.rows == b.rows && a.by_end == b.by_end
}

/// `SELECT` the sums of `terms` over `source` in a period. A source with a stock among its terms (added up
/// to the period's end) is read from its first row and its other terms are filtered to the period; any
/// other is read for the period alone.
fn sums_sql(source: &Source, terms: &[Term]) -> String {
    let (column, from, until) = match source.period {
        Dated::Days(column) => (column, "$1", "$2"),
        Dated::Instants(column) => (column, "$6", "$7"),
    };
    let stock = terms.iter().any(|t| t.by_end);
    let columns: Vec<String> = terms
        .iter()
        .map(|t| {
            let mut conditions = Vec::new();
            if stock && !t.by_end {
                conditions.push(format!("{column} >= {from}"));
            }
            if !t.rows.is_empty() {
                conditions.push(format!("({})", t.rows));
            }
            let filter = if conditions.is_empty() {
                String::new()
            } else {
                format!(" FILTER (WHERE {})", conditions.join(" AND "))
            };
            format!("COALESCE(sum({}){filter}, 0)::int8", t.sum)
        })
        .collect();
    let mut conditions = Vec::new();
    if !stock {
        conditions.push(format!("{column} >= {from}"));
    }
    conditions.push(format!("{column} < {until}"));
    conditions.push(format!("($3::text IS NULL OR {} = $3)", source.org));
    if !source.rows.is_empty() {
        conditions.push(format!("({})", source.rows));
    }
    format!(
        "SELECT {} FROM {} WHERE {}",
        columns.join(", "),
        source.table,
        conditions.join(" AND ")
    )
    .replace("{cutoff}", "$4::date")
    .replace("{today}", "$5::date")
}

/// The parameters of every [`indicator_statements`] statement.
#[derive(Debug, Clone, Copy)]
pub struct Bounds<'a> {
    /// $1, $2: the period's first day and the day after its last.
    pub from: NaiveDate,
    pub until: NaiveDate,
    /// $3: the org unit, or every one.
    pub org: Option<&'a str>,
    /// $4: the day an open clock counts as missed from (`{cutoff}`).
    pub cutoff: NaiveDate,
    /// $5: today (`{today}`).
    pub today: NaiveDate,
    /// $6, $7: the period as instants.
    pub from_instant: DateTime<Utc>,
    pub until_instant: DateTime<Utc>,
}

/// Runs one of [`indicator_statements`]: its sums, in the order of its terms.
pub async fn sums(
    conn: &mut PgConnection,
    statement: &Statement,
    b: &Bounds<'_>,
) -> Result<Vec<i64>, sqlx::Error> {
    let row = sqlx::query(&statement.sql)
        .bind(b.from)
        .bind(b.until)
        .bind(b.org)
        .bind(b.cutoff)
        .bind(b.today)
        .bind(b.from_instant)
        .bind(b.until_instant)
        .fetch_one(conn)
        .await?;
    (0..statement.terms.len()).map(|i| row.try_get(i)).collect()
}

/// (due date column, outcome column, org column) of a clock on `cases`.
fn clock_columns(deadline: Deadline) -> (&'static str, &'static str, &'static str) {
    match deadline {
        Deadline::Assign => ("assign_due", "assign_outcome", "problem_org_code"),
        Deadline::Accept => ("accept_due", "accept_outcome", "responsible_org_code"),
        Deadline::Conclude => ("conclude_due", "conclude_outcome", "responsible_org_code"),
    }
}

/// Which cases a drill-through lists: those of `org` (or all), with or without the pending ones. Who may
/// see which of them is the read rule's to say (`crate::scope`).
#[derive(Debug, Clone, Copy)]
pub struct IdFilter<'a> {
    pub org: Option<&'a str>,
    pub include_pending: bool,
}

/// The cases of a clock's rate whose deadline falls in `[from, until)`: (id, counted in the numerator).
/// The same cases the rollup counts: done, or open and past due on `cutoff` (or pending, when asked).
pub async fn timeliness_ids(
    conn: &mut PgConnection,
    deadline: Deadline,
    from: NaiveDate,
    until: NaiveDate,
    cutoff: NaiveDate,
    filter: IdFilter<'_>,
) -> Result<Vec<(Uuid, bool)>, sqlx::Error> {
    let (due, outcome, org_column) = clock_columns(deadline);
    sqlx::query_as(&format!(
        "SELECT id, {outcome} = 1 FROM cases \
         WHERE {due} >= $1 AND {due} < $2 AND ($4::text IS NULL OR {org_column} = $4) \
           AND ({outcome} <> 0 OR {due} < $3 OR $5) ORDER BY id"
    ))
    .bind(from)
    .bind(until)
    .bind(cutoff)
    .bind(filter.org)
    .bind(filter.include_pending)
    .fetch_all(conn)
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
/// fields: 1 复查, 2 复核); an event without it falls back to the case's kind now, which is the same
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::indicators::{CASE_MONTHS, CONCLUDE_CLOCK, LAPSED_EVALUATIONS};

    fn sql(source: &Source) -> &'static str {
        &indicator_statements()
            .iter()
            .find(|s| s.source == source)
            .unwrap()
            .sql
    }

    /// Each source is read once, with one column per term its rows name; a source with a stock among its
    /// terms is read from its first row, its other terms filtered to the period.
    #[test]
    fn the_statements_come_from_the_table() {
        assert_eq!(indicator_statements().len(), SOURCES.len());
        let months = sql(&CASE_MONTHS);
        assert!(
            months.contains("COALESCE(sum(backlog_listed), 0)::int8")
                && months.contains("COALESCE(sum(accepted) FILTER (WHERE month >= $1), 0)::int8")
                && months.contains("WHERE month < $2 AND ($3::text IS NULL OR org_code = $3)")
                && !months.contains("case_months WHERE month >= $1"),
            "{months}"
        );
        assert_eq!(
            months.matches("sum(evaluated)").count(),
            1,
            "a term two rows name is one column: {months}"
        );
        let conclude = sql(&CONCLUDE_CLOCK);
        assert!(
            conclude.contains("FILTER (WHERE (due >= $4::date))")
                && conclude.contains("WHERE due >= $1 AND due < $2")
                && conclude.ends_with("AND (deadline = 3)"),
            "{conclude}"
        );
        let lapsed = sql(&LAPSED_EVALUATIONS);
        assert!(
            lapsed.contains("replied_at >= $6 AND replied_at < $7")
                && lapsed.contains("evaluation_due < $5::date"),
            "{lapsed}"
        );
    }
}
