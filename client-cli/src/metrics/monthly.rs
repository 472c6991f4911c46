//! Visits by level for each month of a year: the chart's bars and the workbook's monthly sheet.

use xinfang_proto::v1::{
    GetVisitStatisticsRequest, Period, VisitFigures, VisitGrouping, YearMonth,
};

use super::read::{MetricsError, visits};
use crate::Client;

/// The levels of visits, in the order the bureau reports them, with their Chinese names.
pub const LEVELS: [(&str, &str); 4] = [
    ("county", "本级"),
    ("city", "赴市"),
    ("province", "赴省"),
    ("national", "进京"),
];

/// One month's visits by level.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthVisits {
    pub month: YearMonth,
    /// One per [`LEVELS`] entry, in that order.
    pub levels: Vec<VisitFigures>,
    pub total: VisitFigures,
}

/// A year's visits by level for each month.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyVisits {
    pub year: i32,
    pub org_code: String,
    pub months: Vec<MonthVisits>,
}

/// Visits by level for each month of `year` that has begun: a year still running stops at this month, so
/// the chart shows the period asked for rather than months that have not come.
pub async fn monthly_visits(
    client: &mut Client,
    year: i32,
    org_code: &str,
) -> Result<MonthlyVisits, MetricsError> {
    let today = xinfang_proto::calendar::local_date(chrono::Utc::now());
    let last = if year == chrono::Datelike::year(&today) {
        i32::try_from(chrono::Datelike::month(&today)).unwrap_or(12)
    } else {
        12
    };
    monthly_visits_in(
        client,
        YearMonth { year, month: 1 },
        YearMonth { year, month: last },
        org_code,
    )
    .await
}

/// Visits by level for each month from `first` to `last`: one `GetVisitStatistics` per month (its level
/// breakdown), since the month grouping does not break down by level.
pub async fn monthly_visits_in(
    client: &mut Client,
    first: YearMonth,
    last: YearMonth,
    org_code: &str,
) -> Result<MonthlyVisits, MetricsError> {
    let year = first.year;
    let mut wanted = Vec::new();
    let mut m = first;
    while (m.year, m.month) <= (last.year, last.month) && wanted.len() < 120 {
        wanted.push(m);
        m = if m.month == 12 {
            YearMonth {
                year: m.year + 1,
                month: 1,
            }
        } else {
            YearMonth {
                year: m.year,
                month: m.month + 1,
            }
        };
    }
    let mut months = Vec::with_capacity(wanted.len());
    for m in wanted {
        let stats = visits(
            client,
            GetVisitStatisticsRequest {
                period: Some(Period {
                    start: Some(m),
                    end: Some(m),
                }),
                org_code: org_code.to_owned(),
                group_by: VisitGrouping::Level as i32,
            },
        )
        .await?;
        let levels = LEVELS
            .iter()
            .map(|(key, _)| {
                stats
                    .levels
                    .iter()
                    .find(|g| g.key == *key)
                    .and_then(|g| g.figures.clone())
                    .unwrap_or_default()
            })
            .collect();
        months.push(MonthVisits {
            month: m,
            levels,
            total: stats.total.unwrap_or_default(),
        });
    }
    Ok(MonthlyVisits {
        year,
        org_code: org_code.to_owned(),
        months,
    })
}
