//! SQL of intake: petitioners and the audit of unmasked reads ([`people`]), the matters registrations join
//! ([`matters`]), visits and letters ([`registrations`]), trips ([`trips`]).

mod matters;
mod people;
mod registrations;
mod trips;

pub use matters::*;
pub use people::*;
pub use registrations::*;
pub use trips::*;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::scope::Reader;

pub async fn category_exists(conn: &mut PgConnection, code: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM matter_categories WHERE code = $1)")
        .bind(code)
        .fetch_one(conn)
        .await
}

pub async fn insert_category(
    conn: &mut PgConnection,
    code: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO matter_categories (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
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
