//! The figures of a year the report is made of, computed by the same functions the RPCs use.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use xinfang_proto::v1::{
    BudgetExecution, ChannelStatistics, FundPurpose, VisitFigures, VisitGrouping, VisitStatistics,
};

use crate::{
    error::AppError,
    metrics::{
        budget,
        figures::{self, IndicatorQuery, IndicatorSet},
        period::Span,
        store,
        targets::{self, TargetScores},
    },
    scope::Reader,
};

/// What the report is made of, computed by the same functions the RPCs use, for the county and the whole
/// year.
pub(super) struct YearFigures {
    pub indicators: IndicatorSet,
    pub visits: VisitStatistics,
    pub channels: ChannelStatistics,
    pub targets: TargetScores,
    pub budget: BudgetExecution,
    /// The documents behind the year's budgets: (category, document, amount).
    pub documents: Vec<(String, String, Decimal)>,
    /// The year's fund requests by state and whether they are hardship relief.
    pub requests: Vec<store::RequestRow>,
}

pub(super) async fn figures(
    conn: &mut PgConnection,
    year: i32,
    today: NaiveDate,
) -> Result<YearFigures, AppError> {
    let span = Span::year(year, 12).ok_or_else(|| AppError::invalid("year", "out of range"))?;
    let county = IndicatorQuery {
        span,
        org: None,
        asks: figures::Asks::default(),
        include_ids: false,
    };
    Ok(YearFigures {
        indicators: figures::indicators(conn, &county, &Reader::County, today).await?,
        visits: figures::visit_statistics(conn, span, None, VisitGrouping::Level).await?,
        channels: figures::channel_statistics(conn, span, None).await?,
        targets: targets::completion(conn, year, 12, today).await?,
        budget: budget::execution(conn, year).await?,
        documents: store::documents(conn, year).await?,
        requests: store::fund_requests(conn, year, FundPurpose::HardshipRelief as i16).await?,
    })
}

impl YearFigures {
    /// The visits of a level ("county", "city", "province", "national").
    pub fn level(&self, key: &str) -> Option<&VisitFigures> {
        self.visits
            .levels
            .iter()
            .find(|g| g.key == key)
            .and_then(|g| g.figures.as_ref())
    }
}
