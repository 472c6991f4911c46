//! The `MetricsService` RPCs `xf metrics …` reads, and what can go wrong reading them or writing what they
//! give.

use xinfang_proto::v1::{
    BudgetExecution, ChannelStatistics, GetBudgetExecutionRequest, GetChannelStatisticsRequest,
    GetIndicatorsRequest, GetTargetCompletionRequest, GetVisitStatisticsRequest, Indicators,
    TargetCompletion, VisitStatistics,
};

use crate::{Client, export::ExportError};

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("{0}")]
    Invalid(String),
    #[error("the server answered {:?}: {}", .0.code(), .0.message())]
    Rpc(#[from] tonic::Status),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("{0}")]
    Chart(String),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// `GetIndicators`.
pub async fn indicators(
    client: &mut Client,
    request: GetIndicatorsRequest,
) -> Result<Indicators, MetricsError> {
    Ok(client.metrics.get_indicators(request).await?.into_inner())
}

/// `GetVisitStatistics`.
pub async fn visits(
    client: &mut Client,
    request: GetVisitStatisticsRequest,
) -> Result<VisitStatistics, MetricsError> {
    Ok(client
        .metrics
        .get_visit_statistics(request)
        .await?
        .into_inner())
}

/// `GetChannelStatistics`.
pub async fn channels(
    client: &mut Client,
    request: GetChannelStatisticsRequest,
) -> Result<ChannelStatistics, MetricsError> {
    Ok(client
        .metrics
        .get_channel_statistics(request)
        .await?
        .into_inner())
}

/// `GetTargetCompletion`: the whole year (`through_month` 0 or 12) or the check of a month (9: September).
pub async fn targets(
    client: &mut Client,
    year: i32,
    through_month: i32,
) -> Result<TargetCompletion, MetricsError> {
    Ok(client
        .metrics
        .get_target_completion(GetTargetCompletionRequest {
            year,
            through_month,
        })
        .await?
        .into_inner())
}

/// `GetBudgetExecution`.
pub async fn budget(client: &mut Client, year: i32) -> Result<BudgetExecution, MetricsError> {
    Ok(client
        .metrics
        .get_budget_execution(GetBudgetExecutionRequest { year })
        .await?
        .into_inner())
}
