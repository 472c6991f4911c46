//! A period of the indicators: whole months of the bureau's calendar (UTC+8, docs/deadlines.md, "The
//! calendar"), as instants and as dates, with the periods it is compared with (docs/indicators.md, "环比").

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use xinfang_proto::{
    v1::{Period, YearMonth},
    validate::FieldViolation,
};

use crate::kernel::time::{self, shanghai};

/// `[from, until)` as instants and as the bureau's dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub from_date: NaiveDate,
    pub until_date: NaiveDate,
}

impl Span {
    /// The months of a request's `period`, which is required.
    pub fn parse(field: &str, period: Option<&Period>) -> Result<Span, FieldViolation> {
        let period = period.ok_or_else(|| FieldViolation::new(field, "required"))?;
        let (from, until) = time::period_bounds(field, period)?;
        Ok(Span::new(from, until))
    }

    fn new(from: DateTime<Utc>, until: DateTime<Utc>) -> Span {
        let local = |t: DateTime<Utc>| t.with_timezone(&shanghai()).date_naive();
        Span {
            from,
            until,
            from_date: local(from),
            until_date: local(until),
        }
    }

    /// January to the end of `through_month` (12: the whole year).
    pub fn year(year: i32, through_month: u32) -> Option<Span> {
        let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let end = if through_month >= 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, through_month + 1, 1)?
        };
        Some(Span::new(
            time::bureau_midnight(start)?,
            time::bureau_midnight(end)?,
        ))
    }

    /// Whole months in the period.
    pub fn months(&self) -> i32 {
        let month_index = |d: NaiveDate| d.year() * 12 + d.month0() as i32;
        month_index(self.until_date) - month_index(self.from_date)
    }

    /// The months immediately before, as many as this span has: the month before a month, the year before
    /// a year (环比; docs/indicators.md, "环比").
    pub fn previous_period(&self) -> Span {
        let months = self.months().max(1) as u32;
        let back = |t: DateTime<Utc>| {
            t.with_timezone(&shanghai())
                .checked_sub_months(chrono::Months::new(months))
                .map_or(t, |l| l.with_timezone(&Utc))
        };
        Span::new(back(self.from), self.from)
    }

    /// The same months a year earlier (同比).
    pub fn previous_year(&self) -> Span {
        let back = |t: DateTime<Utc>| {
            t.with_timezone(&shanghai())
                .checked_sub_months(chrono::Months::new(12))
                .map_or(t, |l| l.with_timezone(&Utc))
        };
        Span::new(back(self.from), back(self.until))
    }

    /// The year of the period's last month: whose 两降两升 judge it.
    pub fn last_year(&self) -> i32 {
        self.until_date
            .pred_opt()
            .map_or(self.until_date.year(), |d| d.year())
    }

    /// The period as the API writes it: its first and last month.
    pub fn to_proto(self) -> Period {
        let last = self.until_date.pred_opt().unwrap_or(self.until_date);
        Period {
            start: Some(YearMonth {
                year: self.from_date.year(),
                month: self.from_date.month() as i32,
            }),
            end: Some(YearMonth {
                year: last.year(),
                month: last.month() as i32,
            }),
        }
    }
}
