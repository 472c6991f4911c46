//! The months a command asks for: `--year`, `--from`, `--to`.

use xinfang_proto::v1::{Period, YearMonth};

/// `2020-03` (or `2020-3`, `202003`) as a month.
pub fn parse_year_month(input: &str) -> Result<YearMonth, String> {
    let s = input.trim();
    let (y, m) = match s.split_once('-') {
        Some(parts) => parts,
        None if s.len() == 6 => s.split_at(4),
        None => ("", ""),
    };
    let year: i32 = y.parse().map_err(|_| bad_month(s))?;
    let month: i32 = m.parse().map_err(|_| bad_month(s))?;
    if !(1900..=9999).contains(&year) || !(1..=12).contains(&month) {
        return Err(bad_month(s));
    }
    Ok(YearMonth { year, month })
}

fn bad_month(s: &str) -> String {
    format!("{s:?} is not a month: use 2020-03")
}

/// The months asked for: `--from`/`--to` (either may be missing: the other's year, or `year`, fills it) or
/// the whole `year`.
pub fn period(year: Option<i32>, from: Option<&str>, to: Option<&str>) -> Result<Period, String> {
    let from = from.map(parse_year_month).transpose()?;
    let to = to.map(parse_year_month).transpose()?;
    let year = year
        .or(from.as_ref().map(|m| m.year))
        .or(to.as_ref().map(|m| m.year))
        .ok_or("give --year, or --from and --to")?;
    let start = from.unwrap_or(YearMonth { year, month: 1 });
    let end = to.unwrap_or(YearMonth {
        year: if from.is_some() { start.year } else { year },
        month: 12,
    });
    if (end.year, end.month) < (start.year, start.month) {
        return Err(format!(
            "the period ends ({}) before it starts ({})",
            month_key(&end),
            month_key(&start)
        ));
    }
    Ok(Period {
        start: Some(start),
        end: Some(end),
    })
}

/// The whole of `year`.
pub fn year_period(year: i32) -> Period {
    Period {
        start: Some(YearMonth { year, month: 1 }),
        end: Some(YearMonth { year, month: 12 }),
    }
}

/// `2020-03`.
pub fn month_key(m: &YearMonth) -> String {
    format!("{:04}-{:02}", m.year, m.month)
}

/// `2020-01..2020-12`.
pub fn period_label(p: &Period) -> String {
    let key = |m: &Option<YearMonth>| m.as_ref().map(month_key).unwrap_or_default();
    format!("{}..{}", key(&p.start), key(&p.end))
}
