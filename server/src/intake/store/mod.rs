//! SQL of intake: petitioners and the audit of unmasked reads ([`people`]), the cases registrations join
//! ([`cases`]), visits and letters ([`registrations`]), trips ([`trips`]).

mod cases;
mod people;
mod registrations;
pub mod sets;
mod trips;

pub use cases::*;
pub use people::*;
pub use registrations::*;
pub use trips::*;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::scope::Reader;

pub async fn category_exists(conn: &mut PgConnection, code: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM case_categories WHERE code = $1)")
        .bind(code)
        .fetch_one(conn)
        .await
}

/// The category dictionary, `(code, name)` in code order.
pub async fn categories(conn: &mut PgConnection) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT code, name FROM case_categories ORDER BY code")
        .fetch_all(conn)
        .await
}

pub async fn insert_category(
    conn: &mut PgConnection,
    code: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO case_categories (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(code)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// A petitioner as stored: personal data sealed, masks precomputed so lists never decrypt.
#[derive(Debug, Clone)]
pub struct ListScope {
    pub org: Option<String>,
    pub reader: Reader,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Continue after this (time, id), newest first.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}
