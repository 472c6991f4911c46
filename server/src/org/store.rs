//! SQL of org units.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};

#[derive(Debug, Clone, FromRow)]
pub struct OrgUnitRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent_code: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "code, name, kind, parent_code, version, created_at, updated_at";

pub async fn get(conn: &mut PgConnection, code: &str) -> Result<Option<OrgUnitRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM org_units WHERE code = $1"))
        .bind(code)
        .fetch_optional(conn)
        .await
}

/// The units of `codes` that exist.
pub async fn get_many(
    conn: &mut PgConnection,
    codes: &[&str],
) -> Result<Vec<OrgUnitRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM org_units WHERE code = ANY($1)"
    ))
    .bind(codes)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Default)]
pub struct ListFilter<'a> {
    pub kind: Option<&'a str>,
    pub parent_code: Option<&'a str>,
    pub after_code: Option<&'a str>,
}

/// Units in code order, after `after_code`, at most `limit`.
pub async fn list(
    conn: &mut PgConnection,
    filter: &ListFilter<'_>,
    limit: i64,
) -> Result<Vec<OrgUnitRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM org_units \
         WHERE ($1::text IS NULL OR kind = $1) \
           AND ($2::text IS NULL OR parent_code = $2) \
           AND ($3::text IS NULL OR code > $3) \
         ORDER BY code LIMIT $4"
    ))
    .bind(filter.kind)
    .bind(filter.parent_code)
    .bind(filter.after_code)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub struct Insert<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub parent_code: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

/// Inserts the unit; `None` when the code is taken.
pub async fn insert(
    conn: &mut PgConnection,
    unit: &Insert<'_>,
) -> Result<Option<OrgUnitRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO org_units (code, name, kind, parent_code, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(unit.code)
    .bind(unit.name)
    .bind(unit.kind)
    .bind(unit.parent_code)
    .bind(unit.created_at)
    .fetch_optional(conn)
    .await
}

/// Code of the county, the root of the tree.
pub async fn county_code(conn: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT code FROM org_units WHERE kind = 'county' ORDER BY code LIMIT 1")
        .fetch_optional(conn)
        .await
}

/// Code of the county's petition office, if it has one yet.
pub async fn petition_office(conn: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT code FROM org_units WHERE kind = 'petition_office'")
        .fetch_optional(conn)
        .await
}
