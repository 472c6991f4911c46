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

/// Visits by level for each month of `year`: one `GetVisitStatistics` per month (its level breakdown), since
/// the month grouping does not break down by level.
pub async fn monthly_visits(
    client: &mut Client,
    year: i32,
    org_code: &str,
) -> Result<MonthlyVisits, MetricsError> {
    let mut months = Vec::with_capacity(12);
    for month in 1..=12 {
        let m = YearMonth { year, month };
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
