//! The service's settings kept in the database (`settings`: name → text), such as the personal-data match
//! key's fingerprint and the load tool's generated world.

use sqlx::PgConnection;

pub async fn setting(conn: &mut PgConnection, name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
}

pub async fn insert_setting(
    conn: &mut PgConnection,
    name: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(name)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}
