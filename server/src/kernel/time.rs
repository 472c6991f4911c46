//! Conversions between protobuf timestamps and chrono, and the bureau's calendar (one definition, in
//! `xinfang_proto::calendar`, shared with the offline client and mirrored by the SQL `bureau_date()`).

use chrono::{DateTime, Utc};
pub use xinfang_proto::calendar::{BUREAU_OFFSET_HOURS, bureau_offset as shanghai, local_date};

pub fn to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// `None` for timestamps chrono cannot represent; validated input never is.
pub fn from_proto(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// The instant a day begins in the bureau's time zone (Asia/Shanghai, UTC+8); `None` out of chrono's range.
pub fn bureau_midnight(day: chrono::NaiveDate) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    shanghai()
        .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// `[start, end)` of an inclusive month range, in the bureau's time zone (Asia/Shanghai, UTC+8).
pub fn period_bounds(
    field: &str,
    period: &xinfang_proto::v1::Period,
) -> Result<(DateTime<Utc>, DateTime<Utc>), xinfang_proto::validate::FieldViolation> {
    use chrono::NaiveDate;
    use xinfang_proto::validate::FieldViolation;

    let month_start = |ym: Option<&xinfang_proto::v1::YearMonth>, which: &str| {
        let ym = ym.ok_or_else(|| FieldViolation::new(format!("{field}.{which}"), "required"))?;
        let month = u32::try_from(ym.month)
            .ok()
            .filter(|m| (1..=12).contains(m));
        let date = month
            .filter(|_| (1900..=2200).contains(&ym.year))
            .and_then(|m| NaiveDate::from_ymd_opt(ym.year, m, 1))
            .ok_or_else(|| {
                FieldViolation::new(format!("{field}.{which}"), "year 1900–2200 and month 1–12")
            })?;
        Ok::<_, FieldViolation>(date)
    };
    let start = month_start(period.start.as_ref(), "start")?;
    let end = month_start(period.end.as_ref(), "end")?;
    if end < start {
        return Err(FieldViolation::new(
            format!("{field}.end"),
            "before the start",
        ));
    }
    let after_end = end
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| FieldViolation::new(format!("{field}.end"), "out of range"))?;
    let at = |d: NaiveDate| {
        bureau_midnight(d).ok_or_else(|| FieldViolation::new(field.to_owned(), "out of range"))
    };
    Ok((at(start)?, at(after_end)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = DateTime::from_timestamp(1_600_000_000, 123_000).unwrap();
        assert_eq!(from_proto(&to_proto(t)), Some(t));
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(from_proto(&bad), None);
    }

    #[test]
    fn periods_are_shanghai_months() {
        use xinfang_proto::v1::{Period, YearMonth};
        let year_2020 = Period {
            start: Some(YearMonth {
                year: 2020,
                month: 1,
            }),
            end: Some(YearMonth {
                year: 2020,
                month: 12,
            }),
        };
        let (from, until) = period_bounds("period", &year_2020).unwrap();
        assert_eq!(from.to_rfc3339(), "2019-12-31T16:00:00+00:00");
        assert_eq!(until.to_rfc3339(), "2020-12-31T16:00:00+00:00");
        let backwards = Period {
            start: year_2020.end,
            end: year_2020.start,
        };
        assert_eq!(
            period_bounds("period", &backwards).unwrap_err().field,
            "period.end"
        );
        let bad_month = Period {
            start: Some(YearMonth {
                year: 2020,
                month: 13,
            }),
            end: year_2020.end,
        };
        assert_eq!(
            period_bounds("period", &bad_month).unwrap_err().field,
            "period.start"
        );
    }
}
