//! Persuade-and-return trips and the cases they name.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::ListScope;
use crate::scope::Kind;

#[derive(Debug, Clone, FromRow)]
pub struct TripRow {
    pub id: Uuid,
    pub number: String,
    pub notified_by: String,
    pub notified_at: DateTime<Utc>,
    pub destination_level: String,
    pub destination_place: String,
    pub non_reception_place: bool,
    pub responsible_org_code: String,
    pub officers: Vec<String>,
    pub departed_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub returned_at: Option<DateTime<Utc>>,
    pub transport_cost: Decimal,
    pub lodging_cost: Decimal,
    pub meal_cost: Decimal,
    pub other_cost: Decimal,
    pub outcome: String,
    pub report: String,
    pub sort_at: DateTime<Utc>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

const TRIP_COLUMNS: &str = "id, number, notified_by, notified_at, destination_level, destination_place, \
    non_reception_place, responsible_org_code, officers, departed_at, arrived_at, returned_at, \
    transport_cost, lodging_cost, meal_cost, other_cost, outcome, report, sort_at, recorded_by, recorded_at";

pub async fn insert_trip(conn: &mut PgConnection, t: &TripRow) -> Result<TripRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO return_trips (id, number, notified_by, notified_at, destination_level, \
             destination_place, non_reception_place, responsible_org_code, officers, departed_at, \
             arrived_at, returned_at, transport_cost, lodging_cost, meal_cost, other_cost, outcome, report, \
             sort_at, recorded_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
         RETURNING {TRIP_COLUMNS}"
    ))
    .bind(t.id)
    .bind(&t.number)
    .bind(&t.notified_by)
    .bind(t.notified_at)
    .bind(&t.destination_level)
    .bind(&t.destination_place)
    .bind(t.non_reception_place)
    .bind(&t.responsible_org_code)
    .bind(&t.officers)
    .bind(t.departed_at)
    .bind(t.arrived_at)
    .bind(t.returned_at)
    .bind(t.transport_cost)
    .bind(t.lodging_cost)
    .bind(t.meal_cost)
    .bind(t.other_cost)
    .bind(&t.outcome)
    .bind(&t.report)
    .bind(t.sort_at)
    .bind(t.recorded_by)
    .fetch_one(conn)
    .await
}

pub async fn link_trip_cases(
    conn: &mut PgConnection,
    trip: Uuid,
    cases: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO return_trip_cases (trip_id, case_id) SELECT $1, cid FROM unnest($2::uuid[]) AS t(cid)",
    )
    .bind(trip)
    .bind(cases)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn trip_cases(
    conn: &mut PgConnection,
    trips: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT trip_id, case_id FROM return_trip_cases WHERE trip_id = ANY($1) ORDER BY trip_id, case_id",
    )
    .bind(trips)
    .fetch_all(conn)
    .await
}

pub async fn get_trip(conn: &mut PgConnection, id: Uuid) -> Result<Option<TripRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TRIP_COLUMNS} FROM return_trips WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct TripFilter {
    pub destination_level: Option<String>,
    pub recorded_by: Option<Uuid>,
    pub outcome: Option<String>,
}

pub async fn list_trips(
    conn: &mut PgConnection,
    scope: &ListScope,
    filter: &TripFilter,
    limit: i64,
) -> Result<Vec<TripRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TRIP_COLUMNS} FROM return_trips \
         WHERE ($1::text IS NULL OR responsible_org_code = $1) \
           AND {readable} \
           AND ($3::timestamptz IS NULL OR sort_at >= $3) \
           AND ($4::timestamptz IS NULL OR sort_at < $4) \
           AND ($5::timestamptz IS NULL OR (sort_at, id) < ($5, $6)) \
           AND ($7::text IS NULL OR destination_level = $7) \
           AND ($8::uuid IS NULL OR recorded_by = $8) \
           AND ($9::text IS NULL OR outcome = $9) \
         ORDER BY sort_at DESC, id DESC LIMIT $10",
        readable = scope.reader.condition(Kind::Trip, "return_trips", 2)
    ))
    .bind(&scope.org)
    .bind(scope.reader.param())
    .bind(scope.from)
    .bind(scope.until)
    .bind(scope.after.map(|(t, _)| t))
    .bind(scope.after.map(|(_, id)| id))
    .bind(&filter.destination_level)
    .bind(filter.recorded_by)
    .bind(&filter.outcome)
    .bind(limit)
    .fetch_all(conn)
    .await
}
