//! Visits and letters.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::ListScope;
use crate::scope::Kind;

#[derive(Debug, Clone, FromRow)]
pub struct VisitRow {
    pub id: Uuid,
    pub number: String,
    pub case_id: Uuid,
    pub visited_at: DateTime<Utc>,
    pub level: String,
    pub non_reception_place: bool,
    pub place_name: String,
    pub headcount: i32,
    pub collective: bool,
    pub repeat: bool,
    pub leapfrog: bool,
    pub category_code: String,
    pub problem_org_code: String,
    pub content: String,
    pub demands: String,
    pub registered_by: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub claim_type: i16,
    pub accused_org_code: Option<String>,
    pub not_accepted_again: bool,
    pub large_scale: bool,
}

impl VisitRow {
    /// The unit whose clerks the record is fed to: its problem place, unless it is the unit accused.
    pub fn feed_org(&self) -> Option<&str> {
        feed_org(&self.problem_org_code, self.accused_org_code.as_deref())
    }
}

impl LetterRow {
    pub fn feed_org(&self) -> Option<&str> {
        feed_org(&self.problem_org_code, self.accused_org_code.as_deref())
    }
}

/// The unit whose clerks a visit or letter is fed to: its problem place, unless it is the unit accused.
pub fn feed_org<'a>(problem_org: &'a str, accused: Option<&str>) -> Option<&'a str> {
    (accused != Some(problem_org)).then_some(problem_org)
}

pub(super) const VISIT_COLUMNS: &str = "id, number, case_id, visited_at, level, non_reception_place, place_name, \
    headcount, collective, repeat, leapfrog, category_code, problem_org_code, content, demands, \
    registered_by, recorded_at, claim_type, accused_org_code, not_accepted_again, large_scale";

pub async fn insert_visit(conn: &mut PgConnection, v: &VisitRow) -> Result<VisitRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO visits (id, number, case_id, visited_at, level, non_reception_place, place_name, \
             headcount, collective, repeat, leapfrog, category_code, problem_org_code, content, demands, \
             registered_by, claim_type, accused_org_code, not_accepted_again, large_scale) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
         RETURNING {VISIT_COLUMNS}"
    ))
    .bind(v.id)
    .bind(&v.number)
    .bind(v.case_id)
    .bind(v.visited_at)
    .bind(&v.level)
    .bind(v.non_reception_place)
    .bind(&v.place_name)
    .bind(v.headcount)
    .bind(v.collective)
    .bind(v.repeat)
    .bind(v.leapfrog)
    .bind(&v.category_code)
    .bind(&v.problem_org_code)
    .bind(&v.content)
    .bind(&v.demands)
    .bind(v.registered_by)
    .bind(v.claim_type)
    .bind(&v.accused_org_code)
    .bind(v.not_accepted_again)
    .bind(v.large_scale)
    .fetch_one(conn)
    .await
}

pub async fn get_visit(conn: &mut PgConnection, id: Uuid) -> Result<Option<VisitRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {VISIT_COLUMNS} FROM visits WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The case a visit or letter belongs to now, if the registration exists.
pub async fn case_of(
    conn: &mut PgConnection,
    kind: &str,
    id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    let table = if kind == "visit" { "visits" } else { "letters" };
    sqlx::query_scalar(&format!("SELECT case_id FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

#[derive(Debug, Default, Clone)]
pub struct VisitFilter {
    pub level: Option<String>,
    pub non_reception_place: Option<bool>,
    pub repeat: Option<bool>,
    pub collective: Option<bool>,
    pub leapfrog: Option<bool>,
}

pub async fn list_visits(
    conn: &mut PgConnection,
    scope: &ListScope,
    filter: &VisitFilter,
    limit: i64,
) -> Result<Vec<VisitRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VISIT_COLUMNS} FROM visits \
         WHERE ($1::text IS NULL OR problem_org_code = $1) \
           AND {readable} \
           AND ($3::timestamptz IS NULL OR visited_at >= $3) \
           AND ($4::timestamptz IS NULL OR visited_at < $4) \
           AND ($5::timestamptz IS NULL OR (visited_at, id) < ($5, $6)) \
           AND ($7::text IS NULL OR level = $7) \
           AND ($8::bool IS NULL OR non_reception_place = $8) \
           AND ($9::bool IS NULL OR repeat = $9) \
           AND ($10::bool IS NULL OR collective = $10) \
           AND ($11::bool IS NULL OR leapfrog = $11) \
         ORDER BY visited_at DESC, id DESC LIMIT $12",
        readable = scope.reader.condition(Kind::Visit, "visits", 2)
    ))
    .bind(&scope.org)
    .bind(scope.reader.param())
    .bind(scope.from)
    .bind(scope.until)
    .bind(scope.after.map(|(t, _)| t))
    .bind(scope.after.map(|(_, id)| id))
    .bind(&filter.level)
    .bind(filter.non_reception_place)
    .bind(filter.repeat)
    .bind(filter.collective)
    .bind(filter.leapfrog)
    .bind(limit)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct LetterRow {
    pub id: Uuid,
    pub number: String,
    pub case_id: Uuid,
    pub channel: String,
    pub source_reference: String,
    pub campaign: String,
    pub received_at: DateTime<Utc>,
    pub anonymous: bool,
    pub repeat: bool,
    pub category_code: String,
    pub problem_org_code: String,
    pub content: String,
    pub demands: String,
    pub registered_by: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub claim_type: i16,
    pub accused_org_code: Option<String>,
    pub not_accepted_again: bool,
}

const LETTER_COLUMNS: &str = "id, number, case_id, channel, source_reference, campaign, received_at, \
    anonymous, repeat, category_code, problem_org_code, content, demands, registered_by, recorded_at, \
    claim_type, accused_org_code, not_accepted_again";

pub async fn insert_letter(
    conn: &mut PgConnection,
    l: &LetterRow,
) -> Result<LetterRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO letters (id, number, case_id, channel, source_reference, campaign, received_at, \
             anonymous, repeat, category_code, problem_org_code, content, demands, registered_by, claim_type, \
             accused_org_code, not_accepted_again) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         RETURNING {LETTER_COLUMNS}"
    ))
    .bind(l.id)
    .bind(&l.number)
    .bind(l.case_id)
    .bind(&l.channel)
    .bind(&l.source_reference)
    .bind(&l.campaign)
    .bind(l.received_at)
    .bind(l.anonymous)
    .bind(l.repeat)
    .bind(&l.category_code)
    .bind(&l.problem_org_code)
    .bind(&l.content)
    .bind(&l.demands)
    .bind(l.registered_by)
    .bind(l.claim_type)
    .bind(&l.accused_org_code)
    .bind(l.not_accepted_again)
    .fetch_one(conn)
    .await
}

/// The registration number of the item from above with this sender's reference, if registered.
pub async fn letter_by_source(
    conn: &mut PgConnection,
    channel: &str,
    source_reference: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT number FROM letters WHERE channel = $1 AND source_reference = $2")
        .bind(channel)
        .bind(source_reference)
        .fetch_optional(conn)
        .await
}

pub async fn get_letter(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<LetterRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LETTER_COLUMNS} FROM letters WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct LetterFilter {
    pub channel: Option<String>,
    pub repeat: Option<bool>,
}

pub async fn list_letters(
    conn: &mut PgConnection,
    scope: &ListScope,
    filter: &LetterFilter,
    limit: i64,
) -> Result<Vec<LetterRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LETTER_COLUMNS} FROM letters \
         WHERE ($1::text IS NULL OR problem_org_code = $1) \
           AND {readable} \
           AND ($3::timestamptz IS NULL OR received_at >= $3) \
           AND ($4::timestamptz IS NULL OR received_at < $4) \
           AND ($5::timestamptz IS NULL OR (received_at, id) < ($5, $6)) \
           AND ($7::text IS NULL OR channel = $7) \
           AND ($8::bool IS NULL OR repeat = $8) \
         ORDER BY received_at DESC, id DESC LIMIT $9",
        readable = scope.reader.condition(Kind::Letter, "letters", 2)
    ))
    .bind(&scope.org)
    .bind(scope.reader.param())
    .bind(scope.from)
    .bind(scope.until)
    .bind(scope.after.map(|(t, _)| t))
    .bind(scope.after.map(|(_, id)| id))
    .bind(&filter.channel)
    .bind(filter.repeat)
    .bind(limit)
    .fetch_all(conn)
    .await
}
