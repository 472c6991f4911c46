//! SQL of budgets and fund requests. The budget sums only change through the statements here, and the
//! `budgets_not_overspent` constraint decides whether a change fits.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// Whether `err` is the violation of the named constraint (a business rule the database enforces).
pub fn violates(err: &sqlx::Error, constraint: &str) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.constraint() == Some(constraint))
}

pub const NOT_OVERSPENT: &str = "budgets_not_overspent";

pub async fn category_name(
    conn: &mut PgConnection,
    code: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM fund_categories WHERE code = $1")
        .bind(code)
        .fetch_optional(conn)
        .await
}

pub async fn insert_category(
    conn: &mut PgConnection,
    code: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO fund_categories (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(code)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct BudgetRow {
    pub id: Uuid,
    pub year: i32,
    pub category: String,
    pub category_name: String,
    pub appropriated: Decimal,
    pub committed: Decimal,
    pub disbursed: Decimal,
    pub version: i64,
}

const BUDGET_SELECT: &str = "SELECT b.id, b.year, b.category, c.name AS category_name, b.appropriated, \
    b.committed, b.disbursed, b.version FROM budgets b JOIN fund_categories c ON c.code = b.category";

/// The budget of a year and category, created empty when missing.
pub async fn ensure_budget(
    conn: &mut PgConnection,
    year: i32,
    category: &str,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query(
        "INSERT INTO budgets (id, year, category) VALUES ($1, $2, $3) ON CONFLICT (year, category) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(year)
    .bind(category)
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar("SELECT id FROM budgets WHERE year = $1 AND category = $2")
        .bind(year)
        .bind(category)
        .fetch_one(conn)
        .await
}

pub async fn budget_id(
    conn: &mut PgConnection,
    year: i32,
    category: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM budgets WHERE year = $1 AND category = $2")
        .bind(year)
        .bind(category)
        .fetch_optional(conn)
        .await
}

pub async fn get_budget(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<BudgetRow>, sqlx::Error> {
    sqlx::query_as(&format!("{BUDGET_SELECT} WHERE b.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn list_budgets(
    conn: &mut PgConnection,
    year: Option<i32>,
    after: Option<(i32, &str)>,
    limit: i64,
) -> Result<Vec<BudgetRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{BUDGET_SELECT} WHERE ($1::int IS NULL OR b.year = $1) \
           AND ($2::int IS NULL OR (b.year, b.category) > ($2, $3)) \
         ORDER BY b.year, b.category LIMIT $4"
    ))
    .bind(year)
    .bind(after.map(|(y, _)| y))
    .bind(after.map(|(_, c)| c))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Changes a budget's sums by the given deltas in one statement. `Ok(false)` when the result would overspend
/// it (the constraint refused; the transaction is then aborted and must be rolled back).
pub async fn change_budget(
    conn: &mut PgConnection,
    id: Uuid,
    appropriated: Decimal,
    committed: Decimal,
    disbursed: Decimal,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE budgets SET appropriated = appropriated + $2, committed = committed + $3, \
             disbursed = disbursed + $4, version = version + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(appropriated)
    .bind(committed)
    .bind(disbursed)
    .execute(conn)
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(err) if violates(&err, NOT_OVERSPENT) => Ok(false),
        Err(err) => Err(err),
    }
}

pub struct NewAppropriation<'a> {
    pub budget_id: Uuid,
    pub document: &'a str,
    pub amount: Decimal,
    pub counterpart_category: Option<&'a str>,
    pub occurred_at: DateTime<Utc>,
    pub recorded_by: Uuid,
}

/// `Ok(false)` when the budget lists this document already.
pub async fn insert_appropriation(
    conn: &mut PgConnection,
    a: &NewAppropriation<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO budget_appropriations (budget_id, document, amount, counterpart_category, occurred_at, \
             recorded_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (budget_id, document) DO NOTHING",
    )
    .bind(a.budget_id)
    .bind(a.document)
    .bind(a.amount)
    .bind(a.counterpart_category)
    .bind(a.occurred_at)
    .bind(a.recorded_by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, FromRow)]
pub struct AppropriationRow {
    pub budget_id: Uuid,
    pub document: String,
    pub amount: Decimal,
    pub counterpart_category: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

pub async fn appropriations(
    conn: &mut PgConnection,
    budgets: &[Uuid],
) -> Result<Vec<AppropriationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT budget_id, document, amount, counterpart_category, occurred_at, recorded_at \
         FROM budget_appropriations WHERE budget_id = ANY($1) ORDER BY budget_id, id",
    )
    .bind(budgets)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct RequestRow {
    pub id: Uuid,
    pub number: String,
    pub state: String,
    pub year: i32,
    pub category: String,
    pub budget_id: Uuid,
    pub purpose: i16,
    pub unit_code: String,
    pub description: String,
    pub amount: Decimal,
    pub approved_amount: Option<Decimal>,
    pub payee: String,
    pub case_id: Option<Uuid>,
    pub petitioner_id: Option<Uuid>,
    pub trip_id: Option<Uuid>,
    pub attachments: serde_json::Value,
    pub meeting_reference: Option<String>,
    pub meeting_date: Option<NaiveDate>,
    pub decided_by: Option<Uuid>,
    pub payment_method: i16,
    pub voucher_number: Option<String>,
    pub submitted_by: Uuid,
    pub submitted_at: DateTime<Utc>,
    pub version: i64,
}

const REQUEST_COLUMNS: &str = "id, number, state, year, category, budget_id, purpose, unit_code, description, \
    amount, approved_amount, payee, case_id, petitioner_id, trip_id, attachments, meeting_reference, \
    meeting_date, decided_by, payment_method, voucher_number, submitted_by, submitted_at, version";

pub async fn insert_request(
    conn: &mut PgConnection,
    r: &RequestRow,
) -> Result<RequestRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO fund_requests (id, number, state, year, category, budget_id, purpose, unit_code, \
             description, amount, payee, case_id, petitioner_id, trip_id, attachments, submitted_by, submitted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         RETURNING {REQUEST_COLUMNS}"
    ))
    .bind(r.id)
    .bind(&r.number)
    .bind(&r.state)
    .bind(r.year)
    .bind(&r.category)
    .bind(r.budget_id)
    .bind(r.purpose)
    .bind(&r.unit_code)
    .bind(&r.description)
    .bind(r.amount)
    .bind(&r.payee)
    .bind(r.case_id)
    .bind(r.petitioner_id)
    .bind(r.trip_id)
    .bind(&r.attachments)
    .bind(r.submitted_by)
    .bind(r.submitted_at)
    .fetch_one(conn)
    .await
}

pub async fn get_request(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {REQUEST_COLUMNS} FROM fund_requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn lock_request(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {REQUEST_COLUMNS} FROM fund_requests WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Writes the fields a step changes.
pub async fn update_request(
    conn: &mut PgConnection,
    r: &RequestRow,
) -> Result<RequestRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE fund_requests SET state = $2, approved_amount = $3, meeting_reference = $4, meeting_date = $5, \
             decided_by = $6, payment_method = $7, voucher_number = $8, version = version + 1 \
         WHERE id = $1 RETURNING {REQUEST_COLUMNS}"
    ))
    .bind(r.id)
    .bind(&r.state)
    .bind(r.approved_amount)
    .bind(&r.meeting_reference)
    .bind(r.meeting_date)
    .bind(r.decided_by)
    .bind(r.payment_method)
    .bind(&r.voucher_number)
    .fetch_one(conn)
    .await
}

pub async fn insert_event(
    conn: &mut PgConnection,
    request: Uuid,
    action: &str,
    actor: Uuid,
    occurred_at: DateTime<Utc>,
    comment: &str,
    amount: Option<Decimal>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO fund_request_events (fund_request_id, action, actor, occurred_at, comment, amount) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(request)
    .bind(action)
    .bind(actor)
    .bind(occurred_at)
    .bind(comment)
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub fund_request_id: Uuid,
    pub action: String,
    pub actor: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub comment: String,
    pub amount: Option<Decimal>,
}

pub async fn events(
    conn: &mut PgConnection,
    requests: &[Uuid],
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT fund_request_id, action, actor, occurred_at, recorded_at, comment, amount \
         FROM fund_request_events WHERE fund_request_id = ANY($1) ORDER BY fund_request_id, id",
    )
    .bind(requests)
    .fetch_all(conn)
    .await
}

/// Relief granted or pending (not refused) for a petitioner in a year, after locking the petitioner so that
/// two requests for one person are checked one after the other.
pub async fn relief_total(
    conn: &mut PgConnection,
    petitioner: Uuid,
    year: i32,
    except: Option<Uuid>,
) -> Result<Decimal, sqlx::Error> {
    sqlx::query("SELECT 1 FROM petitioners WHERE id = $1 FOR UPDATE")
        .bind(petitioner)
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar(
        "SELECT COALESCE(sum(COALESCE(approved_amount, amount)), 0) FROM fund_requests \
         WHERE petitioner_id = $1 AND year = $2 AND state NOT IN ('bureau_rejected', 'rejected') \
           AND ($3::uuid IS NULL OR id <> $3)",
    )
    .bind(petitioner)
    .bind(year)
    .bind(except)
    .fetch_one(conn)
    .await
}

/// (backlog state, special difficult) of a case, and whether the petitioner belongs to it.
pub async fn relief_facts(
    conn: &mut PgConnection,
    case_id: Uuid,
    petitioner: Uuid,
) -> Result<Option<(i16, bool, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.backlog_state, c.special_difficult, \
                EXISTS (SELECT 1 FROM case_petitioners cp WHERE cp.case_id = c.id AND cp.petitioner_id = $2) \
         FROM cases c WHERE c.id = $1",
    )
    .bind(case_id)
    .bind(petitioner)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct RequestFilter {
    pub state: Option<String>,
    pub unit: Option<String>,
    pub category: Option<String>,
    pub case_id: Option<Uuid>,
    pub year: Option<i32>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

pub async fn list_requests(
    conn: &mut PgConnection,
    f: &RequestFilter,
    limit: i64,
) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {REQUEST_COLUMNS} FROM fund_requests \
         WHERE ($1::text IS NULL OR state = $1) \
           AND ($2::text IS NULL OR unit_code = $2) \
           AND ($3::text IS NULL OR category = $3) \
           AND ($4::uuid IS NULL OR case_id = $4) \
           AND ($5::int IS NULL OR year = $5) \
           AND ($6::timestamptz IS NULL OR submitted_at >= $6) \
           AND ($7::timestamptz IS NULL OR submitted_at < $7) \
           AND ($8::timestamptz IS NULL OR (submitted_at, id) < ($8, $9)) \
         ORDER BY submitted_at DESC, id DESC LIMIT $10"
    ))
    .bind(&f.state)
    .bind(&f.unit)
    .bind(&f.category)
    .bind(f.case_id)
    .bind(f.year)
    .bind(f.from)
    .bind(f.until)
    .bind(f.after.map(|(t, _)| t))
    .bind(f.after.map(|(_, id)| id))
    .bind(limit)
    .fetch_all(conn)
    .await
}
