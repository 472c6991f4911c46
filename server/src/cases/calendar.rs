//! Legal deadlines of petition cases (docs/deadlines.md): the holiday calendar, day counting and on-time
//! classification. Pure: the calendar is built from CSV text and every function takes its inputs explicitly,
//! so the rules can be tested without a clock or a database.
//!
//! Day counting follows the practice of 《民事诉讼法》-style 期间, which petition bureaus apply by analogy:
//! - the day of the event is not counted, counting starts on the next day;
//! - periods in 日 are calendar days, holidays in between count;
//! - a last day that is not a working day moves to the next working day (see [`DeadlinePolicy`]);
//! - only the 5-工作日 objection window counts working days ([`add_working_days`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// The State Council's holiday arrangements, 2018–2026, compiled from the yearly notices. Later years are
/// added as rows, not code.
pub const CN_HOLIDAYS_CSV: &str = include_str!("../../data/cn-holidays.csv");

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("holiday calendar CSV has no `{0}` column")]
    MissingColumn(&'static str),
    #[error("holiday calendar CSV{}: {source}", at_line(*.line))]
    Csv {
        /// `None` when the reader could not tell where it was, e.g. on an I/O-level failure.
        line: Option<u64>,
        #[source]
        source: csv::Error,
    },
    #[error("holiday calendar CSV line {line}: `{value}` is not a date (expected YYYY-MM-DD)")]
    BadDate { line: u64, value: String },
    #[error(
        "holiday calendar CSV line {line}: is_off_day is `{value}`, expected `true` or `false`"
    )]
    BadFlag { line: u64, value: String },
    #[error("holiday calendar CSV line {line}: {date} is already listed on line {first_line}")]
    Duplicate {
        line: u64,
        first_line: u64,
        date: NaiveDate,
    },
}

fn csv_error(source: csv::Error) -> CalendarError {
    CalendarError::Csv {
        line: source.position().map(csv::Position::line),
        source,
    }
}

fn at_line(line: Option<u64>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

/// Working days and holidays: Monday to Friday work, Saturday and Sunday are off, except for the listed days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidayCalendar {
    /// Listed days: `true` for a statutory holiday (放假), `false` for a working day. `false` is normally a
    /// weekend day made a working day (调休), but the data also lists weekdays (2020-02-03, the return to work
    /// after the extended Spring Festival), so it is not checked to be a weekend.
    days: BTreeMap<NaiveDate, bool>,
    years: BTreeSet<i32>,
}

impl HolidayCalendar {
    /// Parses `date,name,is_off_day` rows (header required, columns found by name; `name` is not used).
    /// Line numbers in errors count the header as line 1, as an editor shows them.
    pub fn from_csv(text: &str) -> Result<Self, CalendarError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader.headers().map_err(csv_error)?.clone();
        let column = |name: &'static str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or(CalendarError::MissingColumn(name))
        };
        let (date_col, off_col) = (column("date")?, column("is_off_day")?);

        let mut days = BTreeMap::new();
        let mut first_seen = BTreeMap::new();
        let mut years = BTreeSet::new();
        for record in reader.records() {
            let record = record.map_err(csv_error)?;
            // The reader rejects rows whose field count differs from the header's, so both columns exist.
            let line = record.position().map_or(0, csv::Position::line);
            let field = |col: usize| record.get(col).unwrap_or_default();

            let raw_date = field(date_col);
            let date = NaiveDate::parse_from_str(raw_date, "%Y-%m-%d").map_err(|_| {
                CalendarError::BadDate {
                    line,
                    value: raw_date.to_owned(),
                }
            })?;
            let raw_off = field(off_col);
            let off = match raw_off.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(CalendarError::BadFlag {
                        line,
                        value: raw_off.to_owned(),
                    });
                }
            };
            // Even an identical repeat is refused: it usually means two yearly notices were merged by hand,
            // and a conflicting repeat would silently pick one arrangement.
            if let Some(&first_line) = first_seen.get(&date) {
                return Err(CalendarError::Duplicate {
                    line,
                    first_line,
                    date,
                });
            }
            first_seen.insert(date, line);
            days.insert(date, off);
            years.insert(date.year());
        }
        Ok(Self { days, years })
    }

    /// The bundled national calendar ([`CN_HOLIDAYS_CSV`]).
    pub fn default_china() -> Result<Self, CalendarError> {
        Self::from_csv(CN_HOLIDAYS_CSV)
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.days.get(&date) {
            Some(&off) => !off,
            None => !is_weekend(date),
        }
    }

    /// A listed statutory holiday. Ordinary weekends are not holidays in this sense.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.days.get(&date).copied().unwrap_or(false)
    }

    /// Whether the data lists any day of `year`. For a year it does not cover, the calendar still answers
    /// with plain weekends, which misses that year's holidays; callers should warn so the data gets added.
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    /// The last year the data lists any day of: the one after it needs the State Council's notice added.
    pub fn last_year(&self) -> Option<i32> {
        self.years.last().copied()
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// How a deadline's last day is moved when nobody works on it.
///
/// The regulations say only "statutory holiday" (docs/deadlines.md). Practice (《民事诉讼法》 Art 85: 期间届满的最后一日是
/// 法定休假日的，以法定休假日后的第一日为期间届满的日期) treats ordinary weekends as 法定休假日 too, so by default
/// a last day on a Saturday or Sunday moves as well, unless that day is a listed make-up working day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlinePolicy {
    /// `true` (default): a last day on any non-working day, listed holiday or ordinary weekend, moves to the
    /// next working day. `false`: only a listed holiday moves, to the first day that is not a listed holiday,
    /// which may be a weekend.
    pub move_off_weekend: bool,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        Self {
            move_off_weekend: true,
        }
    }
}

/// The last day of a period of `days` calendar days after the event on `start`.
///
/// An approved extension is part of the same period (`conclude_days + extension`, as docs/deadlines.md defines
/// the 按期办结 due date), not a second period counted from the first one's moved last day. Time that does not
/// count (e.g. 复核 hearings) is the caller's to add to `days`.
///
/// Saturates at [`NaiveDate::MAX`] rather than panicking for periods beyond chrono's range.
pub fn due_date(
    cal: &HolidayCalendar,
    start: NaiveDate,
    days: u32,
    policy: DeadlinePolicy,
) -> NaiveDate {
    let mut last = start
        .checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX);
    let must_move = |d: NaiveDate| {
        if policy.move_off_weekend {
            !cal.is_working_day(d)
        } else {
            cal.is_holiday(d)
        }
    };
    while must_move(last) {
        match last.succ_opt() {
            Some(next) => last = next,
            None => break,
        }
    }
    last
}

/// The `n`th working day after `start` (`start` itself is not counted; `n == 0` gives `start`).
///
/// Saturates at [`NaiveDate::MAX`] rather than panicking.
pub fn add_working_days(cal: &HolidayCalendar, start: NaiveDate, n: u32) -> NaiveDate {
    let mut date = start;
    let mut left = n;
    while left > 0 {
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
        if cal.is_working_day(date) {
            left -= 1;
        }
    }
    date
}

/// Where a step stands against its due date; the buckets of the rates in docs/indicators.md (及时 / 超期办理 /
/// 超期未办 / 未到期).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeliness {
    /// Done on or before the due date.
    OnTime,
    /// Done after the due date.
    Late,
    /// Not done, and the due date has passed.
    Overdue,
    /// Not done, and the due date has not passed yet.
    Pending,
}

/// The due date itself is still on time: a step done on it is [`Timeliness::OnTime`], and a step still open on
/// it is [`Timeliness::Pending`] until the day ends.
pub fn classify(due: NaiveDate, done: Option<NaiveDate>, today: NaiveDate) -> Timeliness {
    match done {
        Some(d) if d <= due => Timeliness::OnTime,
        Some(_) => Timeliness::Late,
        None if today > due => Timeliness::Overdue,
        None => Timeliness::Pending,
    }
}

/// Lengths of the legal periods (docs/deadlines.md), configurable because local rules and the 2005/2022
/// regulations can differ. Calendar days unless the name says working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineRules {
    /// 信访部门 registers, then 转送/交办, counted from receipt.
    pub assign_days: u32,
    /// Receiving unit issues the 受理告知, counted from receipt of the 转送/交办.
    pub accept_days: u32,
    /// 办结, counted from 受理.
    pub conclude_days: u32,
    /// Longest approved extension of `conclude_days`.
    pub max_extension_days: u32,
    /// Petitioner requests 复查 or 复核, counted from receiving the written opinion.
    pub review_request_days: u32,
    /// Reviewing body decides a 复查 or 复核, counted from receiving the request.
    pub review_decision_days: u32,
    /// Receiving unit objects that the case is outside its remit; working days.
    pub objection_working_days: u32,
    /// Petitioner rates an opinion published for evaluation, counted from the reply. The length is not
    /// fixed by any text we found; 30 days matches the review window (docs/deadlines.md).
    pub evaluation_days: u32,
    /// The supervised unit replies in writing to a 督办, counted from the supervision.
    pub supervision_reply_days: u32,
}

impl Default for DeadlineRules {
    fn default() -> Self {
        Self {
            assign_days: 15,
            accept_days: 15,
            conclude_days: 60,
            max_extension_days: 30,
            review_request_days: 30,
            review_decision_days: 30,
            objection_working_days: 5,
            evaluation_days: 30,
            supervision_reply_days: 30,
        }
    }
}

impl DeadlineRules {
    /// The 办结 period with an approved extension, or `None` when the extension exceeds the maximum, so an
    /// over-long extension is refused rather than silently shortened.
    pub fn conclude_days_with_extension(&self, extension_days: u32) -> Option<u32> {
        (extension_days <= self.max_extension_days)
            .then(|| self.conclude_days.checked_add(extension_days))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn china() -> HolidayCalendar {
        HolidayCalendar::default_china().unwrap()
    }

    const KEEP_WEEKEND: DeadlinePolicy = DeadlinePolicy {
        move_off_weekend: false,
    };

    #[test]
    fn bundled_csv_parses_and_covers_2018_to_2026() {
        let cal = china();
        for year in 2018..=2026 {
            assert!(cal.covers(year), "{year} missing");
        }
        assert!(!cal.covers(2017));
        assert!(!cal.covers(2027));
        assert_eq!(cal.last_year(), Some(2026));
        assert_eq!(cal.days.len(), CN_HOLIDAYS_CSV.lines().count() - 1);
    }

    #[test]
    fn working_days_follow_weekends_holidays_and_makeup_days() {
        let cal = china();
        // Ordinary Wednesday and Saturday.
        assert!(cal.is_working_day(d("2020-01-08")));
        assert!(!cal.is_working_day(d("2020-01-11")));
        assert!(!cal.is_holiday(d("2020-01-11")));
        // Spring Festival 2020 on a Friday and on a Saturday.
        assert!(!cal.is_working_day(d("2020-01-24")) && cal.is_holiday(d("2020-01-24")));
        assert!(!cal.is_working_day(d("2020-01-25")) && cal.is_holiday(d("2020-01-25")));
        // Make-up working days: Sunday 2020-01-19, Saturdays 2020-05-09 and 2020-10-10.
        for day in ["2020-01-19", "2020-05-09", "2020-10-10"] {
            assert!(cal.is_working_day(d(day)), "{day}");
            assert!(!cal.is_holiday(d(day)), "{day}");
        }
        // The Saturday before the make-up Sunday stays off.
        assert!(!cal.is_working_day(d("2020-01-18")));
    }

    #[test]
    fn counting_starts_the_day_after_and_crosses_month_ends() {
        let cal = china();
        let p = DeadlinePolicy::default();
        assert_eq!(due_date(&cal, d("2019-01-31"), 15, p), d("2019-02-15"));
        assert_eq!(due_date(&cal, d("2023-01-31"), 15, p), d("2023-02-15"));
        // Leap February: 29 days, so 2020 lands one day earlier than 2019.
        assert_eq!(due_date(&cal, d("2020-02-20"), 15, p), d("2020-03-06"));
        assert_eq!(due_date(&cal, d("2019-02-20"), 15, p), d("2019-03-07"));
        // 60-day 办结 through leap February, and with the maximum 30-day extension.
        let rules = DeadlineRules::default();
        assert_eq!(
            due_date(&cal, d("2020-01-02"), rules.conclude_days, p),
            d("2020-03-02")
        );
        let extended = rules.conclude_days_with_extension(30).unwrap();
        assert_eq!(
            due_date(&cal, d("2020-01-02"), extended, p),
            d("2020-04-01")
        );
        assert_eq!(due_date(&cal, d("2020-01-02"), 0, p), d("2020-01-02"));
    }

    #[test]
    fn leap_day_on_a_saturday_moves_only_under_the_weekend_policy() {
        let cal = china();
        assert_eq!(
            due_date(&cal, d("2020-02-14"), 15, DeadlinePolicy::default()),
            d("2020-03-02")
        );
        assert_eq!(
            due_date(&cal, d("2020-02-14"), 15, KEEP_WEEKEND),
            d("2020-02-29")
        );
    }

    #[test]
    fn last_day_in_spring_festival_2020_moves_past_the_whole_holiday() {
        let cal = china();
        // The CSV has the State Council's extension: off 2020-01-24..=2020-02-02, back to work 2020-02-03.
        for start in ["2020-01-09", "2020-01-10", "2020-01-17", "2020-01-18"] {
            for policy in [DeadlinePolicy::default(), KEEP_WEEKEND] {
                assert_eq!(
                    due_date(&cal, d(start), 15, policy),
                    d("2020-02-03"),
                    "{start} {policy:?}"
                );
            }
        }
        // Spring Festival 2021 (02-11..=02-17) after a month end.
        assert_eq!(
            due_date(&cal, d("2021-01-31"), 15, DeadlinePolicy::default()),
            d("2021-02-18")
        );
    }

    #[test]
    fn holiday_followed_by_an_ordinary_weekend() {
        let cal = china();
        // 端午 2019-06-07 is a Friday; the weekend after it is not listed.
        assert_eq!(
            due_date(&cal, d("2019-05-23"), 15, DeadlinePolicy::default()),
            d("2019-06-10")
        );
        assert_eq!(
            due_date(&cal, d("2019-05-23"), 15, KEEP_WEEKEND),
            d("2019-06-08")
        );
    }

    #[test]
    fn makeup_working_day_is_a_valid_last_day() {
        let cal = china();
        for policy in [DeadlinePolicy::default(), KEEP_WEEKEND] {
            // Last day on the make-up Sunday 2020-01-19 stays.
            assert_eq!(due_date(&cal, d("2020-01-04"), 15, policy), d("2020-01-19"));
            // 国庆 2023 ends Friday 10-06; Saturday 10-07 is a make-up working day.
            assert_eq!(due_date(&cal, d("2023-09-21"), 15, policy), d("2023-10-07"));
        }
        // An ordinary Saturday moves to the next working day, which here is the make-up Sunday.
        assert_eq!(
            due_date(&cal, d("2020-01-03"), 15, DeadlinePolicy::default()),
            d("2020-01-19")
        );
        assert_eq!(
            due_date(&cal, d("2020-01-03"), 15, KEEP_WEEKEND),
            d("2020-01-18")
        );
    }

    #[test]
    fn working_day_window_skips_weekends_and_holidays() {
        let cal = china();
        let n = DeadlineRules::default().objection_working_days;
        // Plain week: Thursday + 5 → next Thursday.
        assert_eq!(add_working_days(&cal, d("2021-03-04"), n), d("2021-03-11"));
        // Tue 09-29: Wed 09-30 (1), 国庆 10-01..=10-08 off, Fri 10-09 (2), make-up Sat 10-10 (3),
        // Sun 10-11 off, Mon 10-12 (4), Tue 10-13 (5).
        assert_eq!(add_working_days(&cal, d("2020-09-29"), n), d("2020-10-13"));
        // Starting on the eve of Spring Festival 2020.
        assert_eq!(add_working_days(&cal, d("2020-01-23"), n), d("2020-02-07"));
        // Starting on a holiday: the holiday itself never counts.
        assert_eq!(add_working_days(&cal, d("2020-01-25"), 1), d("2020-02-03"));
        // Friday + 1 is the make-up Sunday, not Monday.
        assert_eq!(add_working_days(&cal, d("2020-01-17"), 1), d("2020-01-19"));
        assert_eq!(add_working_days(&cal, d("2020-01-17"), 0), d("2020-01-17"));
    }

    #[test]
    fn classification_at_the_boundary_day() {
        let due = d("2020-03-02");
        let before = d("2020-03-01");
        let after = d("2020-03-03");
        assert_eq!(classify(due, Some(due), after), Timeliness::OnTime);
        assert_eq!(classify(due, Some(before), after), Timeliness::OnTime);
        assert_eq!(classify(due, Some(after), after), Timeliness::Late);
        assert_eq!(classify(due, None, due), Timeliness::Pending);
        assert_eq!(classify(due, None, before), Timeliness::Pending);
        assert_eq!(classify(due, None, after), Timeliness::Overdue);
    }

    #[test]
    fn extension_beyond_the_maximum_is_refused() {
        let rules = DeadlineRules::default();
        assert_eq!(rules.conclude_days_with_extension(0), Some(60));
        assert_eq!(rules.conclude_days_with_extension(30), Some(90));
        assert_eq!(rules.conclude_days_with_extension(31), None);
        assert_eq!(
            rules,
            DeadlineRules {
                assign_days: 15,
                accept_days: 15,
                conclude_days: 60,
                max_extension_days: 30,
                review_request_days: 30,
                review_decision_days: 30,
                objection_working_days: 5,
                evaluation_days: 30,
                supervision_reply_days: 30,
            }
        );
    }

    #[test]
    fn csv_columns_are_found_by_name_and_trimmed() {
        let cal = HolidayCalendar::from_csv(
            "is_off_day, date ,name\n TRUE ,2030-01-01,元旦\nfalse,2030-01-05,x\n",
        )
        .unwrap();
        assert!(cal.is_holiday(d("2030-01-01")));
        assert!(cal.is_working_day(d("2030-01-05")));
        assert!(cal.covers(2030));
        let empty = HolidayCalendar::from_csv("date,name,is_off_day\n").unwrap();
        assert!(!empty.covers(2020));
        // Without data, weekends still are not working days.
        assert!(!empty.is_working_day(d("2020-01-18")));
    }

    #[test]
    fn bad_rows_report_their_line() {
        let header = "date,name,is_off_day\n2020-01-01,元旦,true\n";
        let err = HolidayCalendar::from_csv(&format!("{header}2020-02-30,x,true\n")).unwrap_err();
        assert!(matches!(&err, CalendarError::BadDate { line: 3, value } if value == "2020-02-30"));
        assert!(err.to_string().contains("line 3"), "{err}");

        let err =
            HolidayCalendar::from_csv(&format!("{header}2020-02-01,x,true\n2020-02-02,x,yes\n"))
                .unwrap_err();
        assert!(matches!(&err, CalendarError::BadFlag { line: 4, value } if value == "yes"));

        let err = HolidayCalendar::from_csv(&format!("{header}2020-02-01,x\n")).unwrap_err();
        assert!(
            matches!(err, CalendarError::Csv { line: Some(3), .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("line 3"), "{err}");

        let err =
            HolidayCalendar::from_csv(&format!("{header}2020-02-01,x,true\n2020-01-01,y,false\n"))
                .unwrap_err();
        assert!(matches!(
            err,
            CalendarError::Duplicate {
                line: 4,
                first_line: 2,
                ..
            }
        ));

        let err =
            HolidayCalendar::from_csv("day,name,is_off_day\n2020-01-01,元旦,true\n").unwrap_err();
        assert!(matches!(err, CalendarError::MissingColumn("date")));
    }
}
