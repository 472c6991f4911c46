//! Registration numbers: `XF510422-2020-000123` for visits and letters (one register), `QF…` for return
//! trips, `ZJ…` for fund requests; gap-free per register and year, the year being the bureau's calendar year
//! of the event.

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgConnection;

/// The register of visits and letters.
pub const REGISTER_PREFIX: &str = "XF";
/// The register of return trips.
pub const TRIP_PREFIX: &str = "QF";
/// The register of fund requests.
pub const FUND_PREFIX: &str = "ZJ";

pub fn registration_number(prefix: &str, county_code: &str, year: i32, serial: i64) -> String {
    format!("{prefix}{county_code}-{year}-{serial:06}")
}

/// The register year of an event: its calendar year in the bureau's time zone.
pub fn register_year(at: DateTime<Utc>) -> i32 {
    super::time::local_date(at).year()
}

/// The next serial of the register `prefix` in `year`. The row lock it takes is held until commit, so take
/// it as late as possible in the transaction.
pub async fn next_serial(
    conn: &mut PgConnection,
    prefix: &str,
    year: i32,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO registration_counters (prefix, year, last) VALUES ($1, $2, 1) \
         ON CONFLICT (prefix, year) DO UPDATE SET last = registration_counters.last + 1 \
         RETURNING last",
    )
    .bind(prefix)
    .bind(year)
    .fetch_one(conn)
    .await
}

/// Takes `count` numbers of a register at once (a set of registrations written together); returns the last
/// of them, so the set's serials are `last - count + 1 ..= last`. The row stays locked to the commit, as
/// with [`next_serial`].
pub async fn next_serials(
    conn: &mut PgConnection,
    prefix: &str,
    year: i32,
    count: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO registration_counters (prefix, year, last) VALUES ($1, $2, $3) \
         ON CONFLICT (prefix, year) DO UPDATE SET last = registration_counters.last + $3 \
         RETURNING last",
    )
    .bind(prefix)
    .bind(year)
    .bind(count)
    .fetch_one(conn)
    .await
}

#[cfg(test)]
mod tests {
    use xinfang_proto::calendar::today_yyyymmdd;

    use super::*;

    #[test]
    fn registration_numbers_and_years_follow_shanghai() {
        assert_eq!(
            registration_number("XF", "510422", 2020, 123),
            "XF510422-2020-000123"
        );
        // 2020-12-31T16:30Z is already 2021-01-01 00:30 in Shanghai.
        let t = DateTime::parse_from_rfc3339("2020-12-31T16:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(register_year(t), 2021);
        assert_eq!(today_yyyymmdd(t), 20210101);
    }
}
