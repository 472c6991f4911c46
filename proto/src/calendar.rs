//! The bureau's calendar: the one definition of its time zone, shared by the server, the offline client and
//! the server's SQL (`bureau_date()` and `bureau_month()` in the migrations add the same eight hours).
//!
//! A fixed UTC+8, not the tz database's `Asia/Shanghai`: the two differ only in the summer times of 1986–1991,
//! and a fixed offset gives every instant one bureau date on every machine, with or without tz data.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};

/// Hours the bureau's clock is ahead of UTC.
pub const BUREAU_OFFSET_HOURS: i32 = 8;

/// The bureau's offset (UTC+8).
pub fn bureau_offset() -> FixedOffset {
    const OFFSET: FixedOffset = match FixedOffset::east_opt(BUREAU_OFFSET_HOURS * 3600) {
        Some(offset) => offset,
        None => panic!("the bureau's offset lies within ±24 hours"),
    };
    OFFSET
}

/// The bureau's calendar date of an instant.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&bureau_offset()).date_naive()
}

/// Today in the bureau's calendar as `yyyymmdd`, the form the ID-number rule takes.
pub fn today_yyyymmdd(now: DateTime<Utc>) -> u32 {
    let local = local_date(now);
    local.year().unsigned_abs() * 10_000 + local.month() * 100 + local.day()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_turns_at_sixteen_utc() {
        let before = DateTime::parse_from_rfc3339("2020-06-30T15:59:59Z").unwrap();
        let after = DateTime::parse_from_rfc3339("2020-06-30T16:00:00Z").unwrap();
        assert_eq!(
            local_date(before.with_timezone(&Utc)),
            NaiveDate::from_ymd_opt(2020, 6, 30).unwrap()
        );
        assert_eq!(
            local_date(after.with_timezone(&Utc)),
            NaiveDate::from_ymd_opt(2020, 7, 1).unwrap()
        );
        assert_eq!(today_yyyymmdd(after.with_timezone(&Utc)), 20200701);
    }
}
