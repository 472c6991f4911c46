//! `xf report YEAR`: the server's self-evaluation report, and the files asked for beside it (the Markdown,
//! a workbook of the year's tables, the chart of visits by month).

use std::path::{Path, PathBuf};

use xinfang_proto::v1::{
    GenerateSelfEvaluationReportRequest, GetChannelStatisticsRequest, GetIndicatorsRequest,
    GetVisitStatisticsRequest, SelfEvaluationReport, VisitGrouping,
};

use super::{
    chart::{self, ChartFormat, Measure},
    monthly::{MonthlyVisits, monthly_visits},
    periods::year_period,
    read::{MetricsError, budget, channels, indicators, targets, visits},
    tables::{
        budget_table, channels_table, inconsistencies_table, indicators_table,
        monthly_visits_table, scores_table, targets_table, two_down_two_up_table, visits_table,
    },
};
use crate::{
    Client,
    export::{self, Table},
};

/// What `xf report YEAR` writes besides printing.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub year: i32,
    /// The Markdown report.
    pub markdown: Option<PathBuf>,
    /// A workbook: the score table, the inconsistencies, and the year's indicators, 两降两升, visits (also by
    /// month), channels, targets and budget execution, one sheet each.
    pub xlsx: Option<PathBuf>,
    /// A bar chart of visits by level for each month (`.svg` or `.png`).
    pub chart: Option<PathBuf>,
    pub chart_measure: Measure,
}

/// What [`report`] got and wrote.
#[derive(Debug, Clone)]
pub struct ReportOutput {
    pub report: SelfEvaluationReport,
    pub written: Vec<PathBuf>,
}

/// The workbook of a report: its own tables, then the year's figures.
pub async fn report_tables(
    client: &mut Client,
    report: &SelfEvaluationReport,
    monthly: &MonthlyVisits,
) -> Result<Vec<Table>, MetricsError> {
    let year = report.year;
    let ind = indicators(
        client,
        GetIndicatorsRequest {
            period: Some(year_period(year)),
            ..Default::default()
        },
    )
    .await?;
    let stats = visits(
        client,
        GetVisitStatisticsRequest {
            period: Some(year_period(year)),
            org_code: String::new(),
            group_by: VisitGrouping::Township as i32,
        },
    )
    .await?;
    let chan = channels(
        client,
        GetChannelStatisticsRequest {
            period: Some(year_period(year)),
            org_code: String::new(),
        },
    )
    .await?;
    let done = targets(client, year, 12).await?;
    let money = budget(client, year).await?;
    Ok(vec![
        scores_table(report),
        inconsistencies_table(report),
        indicators_table(&ind),
        two_down_two_up_table(&ind),
        visits_table(&stats, VisitGrouping::Township),
        monthly_visits_table(monthly),
        channels_table(&chan),
        targets_table(&done),
        budget_table(&money),
    ])
}

fn write_text(path: &Path, text: &str) -> Result<(), MetricsError> {
    std::fs::write(path, text).map_err(|source| MetricsError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// `GenerateSelfEvaluationReport` for the year, then the files asked for: the Markdown, the workbook and
/// the chart. A chart file of a kind that cannot be drawn is refused before anything is asked of the server.
pub async fn report(
    client: &mut Client,
    options: &ReportOptions,
) -> Result<ReportOutput, MetricsError> {
    let chart_format = options
        .chart
        .as_deref()
        .map(ChartFormat::from_path)
        .transpose()
        .map_err(MetricsError::Chart)?;
    let report = client
        .metrics
        .generate_self_evaluation_report(GenerateSelfEvaluationReportRequest { year: options.year })
        .await?
        .into_inner();
    let mut written = Vec::new();
    if let Some(path) = &options.markdown {
        write_text(path, &report.markdown)?;
        written.push(path.clone());
    }
    if options.xlsx.is_some() || options.chart.is_some() {
        let monthly = monthly_visits(client, options.year, "").await?;
        if let (Some(path), Some(format)) = (&options.chart, chart_format) {
            chart::draw_monthly_visits(path, format, &monthly, options.chart_measure)
                .map_err(MetricsError::Chart)?;
            written.push(path.clone());
        }
        if let Some(path) = &options.xlsx {
            let tables = report_tables(client, &report, &monthly).await?;
            let refs: Vec<&Table> = tables.iter().collect();
            export::write_xlsx(path, &refs)?;
            written.push(path.clone());
        }
    }
    Ok(ReportOutput { report, written })
}
