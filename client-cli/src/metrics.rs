//! The indicators, statistics, targets, budget execution and annual self-evaluation report of
//! `MetricsService`, read online (they are computed by the server from every record, not from a laptop's
//! copy) and shaped into [`Table`]s for the terminal, CSV, JSON and XLSX.
//!
//! Every function here is what an `xf metrics …` or `xf report` command runs, so that the tests check what
//! the county office gets.

use std::path::{Path, PathBuf};

use xinfang_proto::v1::{
    BudgetExecution, ChannelStatistics, Figure, GenerateSelfEvaluationReportRequest,
    GetBudgetExecutionRequest, GetChannelStatisticsRequest, GetIndicatorsRequest,
    GetTargetCompletionRequest, GetVisitStatisticsRequest, Indicators, Period, Rate,
    SelfEvaluationReport, TargetCompletion, TargetDirection, TrendDirection, VisitFigures,
    VisitGrouping, VisitStatistics, YearMonth,
};

use crate::{
    Client,
    chart::{self, ChartFormat, Measure},
    export::{self, Cell, ExportError, Table},
};

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

// -------------------------------------------------------------------------------------------------------
// Periods

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

// -------------------------------------------------------------------------------------------------------
// Reading them

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

// -------------------------------------------------------------------------------------------------------
// Tables

/// The rates of [`Indicators`], in the report's order, with their Chinese names.
pub fn rates(ind: &Indicators) -> [(&'static str, &'static str, Option<&Rate>); 10] {
    [
        (
            "timely_acceptance_office",
            "信访部门及时受理率",
            ind.timely_acceptance_office.as_ref(),
        ),
        (
            "timely_acceptance_unit",
            "责任单位及时受理率",
            ind.timely_acceptance_unit.as_ref(),
        ),
        (
            "on_time_completion",
            "按期办结率",
            ind.on_time_completion.as_ref(),
        ),
        (
            "participation_office",
            "信访部门参评率",
            ind.participation_office.as_ref(),
        ),
        (
            "satisfaction_office",
            "信访部门满意率",
            ind.satisfaction_office.as_ref(),
        ),
        (
            "participation_unit",
            "责任单位参评率",
            ind.participation_unit.as_ref(),
        ),
        (
            "satisfaction_unit",
            "责任单位满意率",
            ind.satisfaction_unit.as_ref(),
        ),
        (
            "backlog_resolution",
            "积案化解率",
            ind.backlog_resolution.as_ref(),
        ),
        ("repeat_rate", "重复信访率", ind.repeat_rate.as_ref()),
        ("online_share", "网上信访占比", ind.online_share.as_ref()),
    ]
}

/// Indicators: one row per rate (numerator, denominator, percent; no percent on an empty base), with the
/// rate of the preceding period of equal length and the change to it in percentage points (环比), and the
/// same for the same months a year earlier (同比); then the counts (in the numerator column alone).
pub fn indicators_table(ind: &Indicators) -> Table {
    let mut t = Table::new(
        "indicators",
        &[
            ("indicator", "INDICATOR"),
            ("name", "NAME"),
            ("numerator", "NUMERATOR"),
            ("denominator", "DENOMINATOR"),
            ("percent", "PERCENT"),
            ("previous_period_percent", "PREV PERIOD %"),
            ("pop_points", "环比 PTS"),
            ("previous_year_percent", "A YEAR EARLIER %"),
            ("yoy_points", "同比 PTS"),
        ],
    );
    for (key, name, rate) in rates(ind) {
        let r = rate.cloned().unwrap_or_default();
        let pp = r.previous_period.clone().unwrap_or_default();
        let py = r.previous_year.clone().unwrap_or_default();
        t.push(vec![
            key.into(),
            name.into(),
            Cell::Int(r.numerator),
            Cell::Int(r.denominator),
            Cell::decimal(&r.percent),
            Cell::decimal(&pp.percent),
            Cell::decimal(&pp.change_points),
            Cell::decimal(&py.percent),
            Cell::decimal(&py.change_points),
        ]);
    }
    for (key, name, n) in [
        (
            "special_difficult_resolved",
            "化解特殊疑难积案",
            ind.special_difficult_resolved,
        ),
        ("matters_accepted", "受理事项", ind.matters_accepted),
        ("evaluations", "评价事项", ind.evaluations),
        ("evaluations_lapsed", "逾期未参评", ind.evaluations_lapsed),
    ] {
        t.push(vec![key.into(), name.into(), Cell::Int(n)]);
    }
    t
}

/// 两降两升 of the period: each indicator with its direction (down / up), now and the same months a year
/// earlier, the change (a count's in percent, a rate's in percentage points) and whether it was met.
pub fn two_down_two_up_table(ind: &Indicators) -> Table {
    let mut t = Table::new(
        "two_down_two_up",
        &[
            ("indicator", "INDICATOR"),
            ("name", "NAME"),
            ("direction", "DIR"),
            ("value", "NOW"),
            ("previous", "A YEAR EARLIER"),
            ("change", "CHANGE"),
            ("met", "MET"),
        ],
    );
    for r in &ind.two_down_two_up {
        let goal = r.goal.clone().unwrap_or_default();
        let direction = match TrendDirection::try_from(goal.direction) {
            Ok(TrendDirection::Down) => "down",
            Ok(TrendDirection::Up) => "up",
            _ => "",
        };
        t.push(vec![
            goal.indicator.into(),
            goal.name.into(),
            direction.into(),
            Cell::decimal(&r.value),
            Cell::decimal(&r.previous),
            Cell::decimal(&r.change),
            if r.undetermined {
                "no base".into()
            } else if r.met {
                "yes".into()
            } else {
                "no".into()
            },
        ]);
    }
    t
}

/// The JSON of `xf metrics indicators`: the table's rows, with the matter ids behind each rate when they
/// were asked for.
pub fn indicators_json(ind: &Indicators) -> serde_json::Value {
    let mut json = indicators_table(ind).to_json();
    let ids: Vec<_> = rates(ind)
        .iter()
        .map(|(_, _, r)| r.cloned().unwrap_or_default())
        .collect();
    if ids
        .iter()
        .any(|r| !r.numerator_case_ids.is_empty() || !r.other_case_ids.is_empty())
        && let Some(rows) = json.as_array_mut()
    {
        for (row, r) in rows.iter_mut().zip(ids) {
            row["numerator_case_ids"] = r.numerator_case_ids.into();
            row["other_case_ids"] = r.other_case_ids.into();
        }
    }
    json
}

/// The figures of [`VisitFigures`], in order: (key, Chinese name).
pub const VISIT_FIGURES: [(&str, &str); 12] = [
    ("batches", "批次"),
    ("persons", "人次"),
    ("initial_batches", "初访批次"),
    ("initial_persons", "初访人次"),
    ("repeat_batches", "重复访批次"),
    ("repeat_persons", "重复访人次"),
    ("collective_batches", "集体访批次"),
    ("collective_persons", "集体访人次"),
    ("leapfrog_batches", "越级访批次"),
    ("non_reception_batches", "非接待场所批次"),
    ("large_scale_batches", "大规模集体访批次"),
    ("large_scale_persons", "大规模集体访人次"),
];

fn visit_figures(f: &VisitFigures) -> [&Option<Figure>; 12] {
    [
        &f.batches,
        &f.persons,
        &f.initial_batches,
        &f.initial_persons,
        &f.repeat_batches,
        &f.repeat_persons,
        &f.collective_batches,
        &f.collective_persons,
        &f.leapfrog_batches,
        &f.non_reception_batches,
        &f.large_scale_batches,
        &f.large_scale_persons,
    ]
}

/// A figure's cells: value, the same months a year earlier and the change in percent (同比), the preceding
/// period and the change to it (环比); no change on a zero base.
fn figure_cells(f: &Option<Figure>) -> [Cell; 5] {
    let f = f.clone().unwrap_or_default();
    [
        Cell::Int(f.value),
        Cell::Int(f.previous),
        Cell::decimal(&f.yoy_percent),
        Cell::Int(f.previous_period),
        Cell::decimal(&f.pop_percent),
    ]
}

/// The columns of [`figure_cells`].
const FIGURE_COLUMNS: [(&str, &str); 5] = [
    ("value", "VALUE"),
    ("previous", "PREVIOUS"),
    ("yoy_percent", "YOY %"),
    ("previous_period", "PREV PERIOD"),
    ("pop_percent", "环比 %"),
];

/// Visit statistics, one row per breakdown, key and figure: the total, each level, then the groups asked
/// for (`group_by`: `township` or `month`).
pub fn visits_table(stats: &VisitStatistics, group_by: VisitGrouping) -> Table {
    let mut columns = vec![
        ("breakdown", "BREAKDOWN"),
        ("key", "KEY"),
        ("figure", "FIGURE"),
        ("name", "NAME"),
    ];
    columns.extend(FIGURE_COLUMNS);
    let mut t = Table::new("visits", &columns);
    let mut add = |breakdown: &str, key: &str, figures: &VisitFigures| {
        for ((figure, name), f) in VISIT_FIGURES.iter().zip(visit_figures(figures)) {
            let mut row = vec![
                breakdown.into(),
                key.into(),
                (*figure).into(),
                (*name).into(),
            ];
            row.extend(figure_cells(f));
            t.push(row);
        }
    };
    add("total", "all", &stats.total.clone().unwrap_or_default());
    for g in &stats.levels {
        add("level", &g.key, &g.figures.clone().unwrap_or_default());
    }
    let breakdown = match group_by {
        VisitGrouping::Township => "township",
        VisitGrouping::Month => "month",
        VisitGrouping::Level | VisitGrouping::Unspecified => "group",
    };
    for g in &stats.groups {
        add(breakdown, &g.key, &g.figures.clone().unwrap_or_default());
    }
    t
}

/// Letters and online items by channel, then the totals the report uses.
pub fn channels_table(stats: &ChannelStatistics) -> Table {
    let mut columns = vec![("kind", "KIND"), ("item", "ITEM")];
    columns.extend(FIGURE_COLUMNS);
    let mut t = Table::new("channels", &columns);
    let mut add = |kind: &str, item: &str, f: &Option<Figure>| {
        let mut row = vec![kind.into(), item.into()];
        row.extend(figure_cells(f));
        t.push(row);
    };
    for c in &stats.channels {
        add("channel", &c.channel, &c.items);
    }
    add("total", "letters_and_online", &stats.letters_and_online);
    add("total", "reviews", &stats.reviews);
    add("total", "second_reviews", &stats.second_reviews);
    add("total", "campaign_transfers", &stats.campaign_transfers);
    t
}

fn direction(d: i32) -> &'static str {
    match TargetDirection::try_from(d) {
        Ok(TargetDirection::AtMost) => "≤",
        Ok(TargetDirection::AtLeast) => "≥",
        Ok(TargetDirection::Exactly) => "=",
        _ => "",
    }
}

/// Targets with the weight they score by (their own, or an equal share of what the set weights leave) and
/// the points it is worth, their actual value, completion, score and (for a month's check) pace; then the
/// output score, beside the weights' total.
pub fn targets_table(done: &TargetCompletion) -> Table {
    let mut t = Table::new(
        "targets",
        &[
            ("indicator", "INDICATOR"),
            ("name", "NAME"),
            ("direction", "DIR"),
            ("target", "TARGET"),
            ("weight", "WEIGHT %"),
            ("points", "POINTS"),
            ("actual", "ACTUAL"),
            ("completion_percent", "COMPLETION %"),
            ("score", "SCORE"),
            ("pace_percent", "PACE %"),
            ("on_pace", "ON PACE"),
        ],
    );
    let mid_year = (1..12).contains(&done.through_month);
    for r in &done.results {
        let target = r.target.clone().unwrap_or_default();
        t.push(vec![
            target.indicator.into(),
            target.name.into(),
            direction(target.direction).into(),
            Cell::decimal(&target.value),
            Cell::decimal(&r.effective_weight),
            Cell::decimal(&r.points),
            Cell::decimal(&r.actual),
            Cell::decimal(&r.completion_percent),
            Cell::decimal(&r.score),
            Cell::decimal(&r.pace_percent),
            if mid_year {
                (if r.on_pace { "yes" } else { "no" }).into()
            } else {
                Cell::Empty
            },
        ]);
    }
    t.push(vec![
        "output_score".into(),
        "产出指标得分".into(),
        Cell::Empty,
        Cell::Empty,
        Cell::decimal(&done.weight_total),
        Cell::decimal("50"),
        Cell::Empty,
        Cell::Empty,
        Cell::decimal(&done.output_score),
    ]);
    t
}

/// Budget execution per category, then the total with its score (10 × min(execution, 1)), then what the
/// disbursed requests were paid by (直接支付, 授权支付), in the disbursed column.
pub fn budget_table(b: &BudgetExecution) -> Table {
    let mut t = Table::new(
        "budget",
        &[
            ("category", "CATEGORY"),
            ("name", "NAME"),
            ("appropriated", "APPROPRIATED"),
            ("disbursed", "DISBURSED"),
            ("execution_percent", "EXECUTION %"),
            ("score", "SCORE"),
        ],
    );
    for c in &b.categories {
        t.push(vec![
            c.category.clone().into(),
            c.name.clone().into(),
            Cell::decimal(&c.appropriated),
            Cell::decimal(&c.disbursed),
            Cell::decimal(&c.execution_percent),
        ]);
    }
    t.push(vec![
        "total".into(),
        "合计".into(),
        Cell::decimal(&b.appropriated),
        Cell::decimal(&b.disbursed),
        Cell::decimal(&b.execution_percent),
        Cell::decimal(&b.score),
    ]);
    for p in &b.payments {
        let (key, name) = match xinfang_proto::v1::PaymentMethod::try_from(p.method) {
            Ok(xinfang_proto::v1::PaymentMethod::Direct) => ("paid_direct", "直接支付"),
            Ok(xinfang_proto::v1::PaymentMethod::Authorized) => ("paid_authorized", "授权支付"),
            Ok(xinfang_proto::v1::PaymentMethod::Cash) => ("paid_cash", "现金"),
            _ => ("paid_unrecorded", "未记录支付方式"),
        };
        t.push(vec![
            key.into(),
            format!("{name} {}笔", p.requests).into(),
            Cell::Empty,
            Cell::decimal(&p.amount),
        ]);
    }
    t
}

fn score_part_name(part: &str) -> &'static str {
    match part {
        "budget_execution" => "预算执行率",
        "outputs" => "产出指标",
        "effects" => "效益指标",
        "satisfaction" => "满意度指标",
        _ => "",
    }
}

/// The self-evaluation score table (10 / 50 / 30 / 10), then the total and grade.
pub fn scores_table(report: &SelfEvaluationReport) -> Table {
    let mut t = Table::new(
        "scores",
        &[
            ("part", "PART"),
            ("name", "NAME"),
            ("weight", "WEIGHT"),
            ("score", "SCORE"),
            ("grade", "GRADE"),
        ],
    );
    for s in &report.scores {
        t.push(vec![
            s.part.clone().into(),
            score_part_name(&s.part).into(),
            Cell::decimal(&s.weight),
            Cell::decimal(&s.score),
        ]);
    }
    t.push(vec![
        "total".into(),
        "总分".into(),
        Cell::decimal("100"),
        Cell::decimal(&report.total_score),
        report.grade.clone().into(),
    ]);
    t
}

/// What the server found questionable, one per row.
pub fn inconsistencies_table(report: &SelfEvaluationReport) -> Table {
    let mut t = Table::new("inconsistencies", &[("n", "#"), ("note", "NOTE")]);
    for (i, note) in report.inconsistencies.iter().enumerate() {
        t.push(vec![Cell::Int(i as i64 + 1), note.clone().into()]);
    }
    t
}

/// Visits by level for each month: batches and persons per level, and all levels together.
pub fn monthly_visits_table(data: &MonthlyVisits) -> Table {
    let mut columns: Vec<(String, String)> = vec![("month".into(), "MONTH".into())];
    for (key, _) in LEVELS.iter().chain([("total", "")].iter()) {
        for what in ["batches", "persons"] {
            columns.push((
                format!("{key}_{what}"),
                format!("{} {}", key.to_uppercase(), what.to_uppercase()),
            ));
        }
    }
    let refs: Vec<(&str, &str)> = columns
        .iter()
        .map(|(k, t)| (k.as_str(), t.as_str()))
        .collect();
    let mut t = Table::new("visits_by_month", &refs);
    let value = |f: &Option<Figure>| Cell::Int(f.as_ref().map_or(0, |f| f.value));
    for m in &data.months {
        let mut row = vec![Cell::text(month_key(&m.month))];
        for f in m.levels.iter().chain(std::iter::once(&m.total)) {
            row.push(value(&f.batches));
            row.push(value(&f.persons));
        }
        t.push(row);
    }
    t
}

// -------------------------------------------------------------------------------------------------------
// The annual report

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

#[cfg(test)]
mod tests {
    use xinfang_proto::v1::{
        CategoryExecution, ChannelFigure, ScoreLine, Target, TargetResult, VisitGroup,
    };

    use super::*;

    fn fig(value: i64, previous: i64, yoy: &str) -> Option<Figure> {
        Some(Figure {
            value,
            previous,
            yoy_percent: yoy.into(),
            ..Default::default()
        })
    }

    fn rate(n: i64, d: i64, p: &str) -> Option<Rate> {
        Some(Rate {
            numerator: n,
            denominator: d,
            percent: p.into(),
            ..Default::default()
        })
    }

    #[test]
    fn periods_from_a_year_or_months() {
        let p = period(Some(2020), None, None).unwrap();
        assert_eq!(period_label(&p), "2020-01..2020-12");
        let p = period(None, Some("2020-03"), Some("2020-9")).unwrap();
        assert_eq!(period_label(&p), "2020-03..2020-09");
        let p = period(None, Some("202004"), None).unwrap();
        assert_eq!(period_label(&p), "2020-04..2020-12");
        let p = period(Some(2020), None, Some("2020-06")).unwrap();
        assert_eq!(period_label(&p), "2020-01..2020-06");
        assert!(period(None, None, None).is_err());
        assert!(period(None, Some("2020-13"), None).is_err());
        assert!(
            period(None, Some("2020-05"), Some("2020-04"))
                .unwrap_err()
                .contains("before it starts")
        );
    }

    #[test]
    fn indicators_show_numerator_denominator_and_percent() {
        let ind = Indicators {
            timely_acceptance_office: Some(Rate {
                previous_period: Some(xinfang_proto::v1::RateComparison {
                    numerator: 9,
                    denominator: 10,
                    percent: "90.00".into(),
                    change_points: "8.11".into(),
                }),
                ..rate(52, 53, "98.11").unwrap()
            }),
            on_time_completion: rate(0, 0, ""),
            special_difficult_resolved: 4,
            matters_accepted: 120,
            ..Default::default()
        };
        let t = indicators_table(&ind);
        assert_eq!(t.rows.len(), 14);
        assert_eq!(
            t.row("timely_acceptance_office").unwrap(),
            [
                Cell::text("timely_acceptance_office"),
                Cell::text("信访部门及时受理率"),
                Cell::Int(52),
                Cell::Int(53),
                Cell::Decimal("98.11".into()),
                Cell::Decimal("90.00".into()),
                Cell::Decimal("8.11".into()),
                Cell::Empty,
                Cell::Empty,
            ]
        );
        let csv = t.to_csv();
        assert!(csv.starts_with(
            "indicator,name,numerator,denominator,percent,previous_period_percent,pop_points,\
             previous_year_percent,yoy_points\n"
        ));
        assert!(
            csv.contains("\non_time_completion,按期办结率,0,0,,,,,\n"),
            "{csv}"
        );
        assert!(csv.contains("\nspecial_difficult_resolved,化解特殊疑难积案,4,,,,,,\n"));
        // Missing rates show as zero over zero, with no percent.
        assert!(csv.contains("\nonline_share,网上信访占比,0,0,,,,,\n"));
        let json = indicators_json(&ind);
        assert_eq!(json[0]["percent"], "98.11");
        assert!(json[0].get("numerator_case_ids").is_none());
        let with_ids = Indicators {
            timely_acceptance_office: Some(Rate {
                numerator_case_ids: vec!["a".into()],
                other_case_ids: vec!["b".into()],
                ..rate(1, 2, "50.00").unwrap()
            }),
            ..Default::default()
        };
        let json = indicators_json(&with_ids);
        assert_eq!(json[0]["numerator_case_ids"][0], "a");
        assert_eq!(json[0]["other_case_ids"][0], "b");
        assert_eq!(json[1]["numerator_case_ids"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn visits_show_value_previous_and_year_over_year_per_level_and_group() {
        let county = VisitFigures {
            batches: fig(3, 4, "-25.00"),
            persons: fig(9, 8, "12.50"),
            ..Default::default()
        };
        let stats = VisitStatistics {
            total: Some(VisitFigures {
                batches: Some(Figure {
                    previous_period: 2,
                    pop_percent: "100.00".into(),
                    ..fig(4, 4, "0.00").unwrap()
                }),
                ..Default::default()
            }),
            levels: vec![VisitGroup {
                key: "county".into(),
                figures: Some(county.clone()),
            }],
            groups: vec![VisitGroup {
                key: "2020-03".into(),
                figures: Some(county),
            }],
            ..Default::default()
        };
        let t = visits_table(&stats, VisitGrouping::Month);
        assert_eq!(t.rows.len(), 36, "12 figures × (total, county, March)");
        let csv = t.to_csv();
        assert!(
            csv.starts_with(
                "breakdown,key,figure,name,value,previous,yoy_percent,previous_period,pop_percent\n"
            ),
            "{csv}"
        );
        assert!(
            csv.contains("\ntotal,all,batches,批次,4,4,0.00,2,100.00\n"),
            "{csv}"
        );
        assert!(csv.contains("\nlevel,county,batches,批次,3,4,-25.00,0,\n"));
        assert!(csv.contains("\nlevel,county,persons,人次,9,8,12.50,0,\n"));
        assert!(csv.contains("\nmonth,2020-03,persons,人次,9,8,12.50,0,\n"));
        // A figure the server left out is zero with no change.
        assert!(csv.contains("\nlevel,county,leapfrog_batches,越级访批次,0,0,,0,\n"));
        let text = t.to_comfy().to_string();
        assert!(text.contains("YOY %") && text.contains("-25.00"), "{text}");
    }

    #[test]
    fn channels_targets_budget_and_scores() {
        let chan = ChannelStatistics {
            channels: vec![ChannelFigure {
                channel: "online".into(),
                items: fig(7, 0, ""),
            }],
            letters_and_online: fig(7, 5, "40.00"),
            ..Default::default()
        };
        let csv = channels_table(&chan).to_csv();
        assert!(csv.contains("\nchannel,online,7,0,,0,\n"), "{csv}");
        assert!(
            csv.contains("\ntotal,letters_and_online,7,5,40.00,0,\n"),
            "{csv}"
        );
        assert!(csv.contains("\ntotal,reviews,0,0,,0,\n"), "{csv}");
        assert!(csv.contains("\ntotal,second_reviews,0,0,,0,\n"), "{csv}");

        let done = TargetCompletion {
            year: 2020,
            through_month: 9,
            results: vec![TargetResult {
                target: Some(Target {
                    indicator: "county_person_visits".into(),
                    direction: TargetDirection::AtMost as i32,
                    value: "2000".into(),
                    name: "预计上访人次".into(),
                    ..Default::default()
                }),
                actual: "1500".into(),
                completion_percent: "100.00".into(),
                score: "50.00".into(),
                pace_percent: "75.00".into(),
                on_pace: true,
                effective_weight: "100.00".into(),
                points: "50.00".into(),
            }],
            output_score: "50.00".into(),
            weight_total: "100.00".into(),
            weights_balanced: true,
        };
        let csv = targets_table(&done).to_csv();
        assert!(
            csv.contains(
                "\ncounty_person_visits,预计上访人次,≤,2000,100.00,50.00,1500,100.00,50.00,75.00,yes\n"
            ),
            "{csv}"
        );
        assert!(
            csv.contains("\noutput_score,产出指标得分,,,100.00,50,,,50.00,,\n"),
            "{csv}"
        );

        let money = BudgetExecution {
            year: 2020,
            categories: vec![CategoryExecution {
                category: "other".into(),
                name: "其他经费".into(),
                appropriated: "2000.00".into(),
                disbursed: "0.00".into(),
                execution_percent: "0.00".into(),
            }],
            appropriated: "2000.00".into(),
            disbursed: "0.00".into(),
            execution_percent: "0.00".into(),
            score: "0.00".into(),
            payments: vec![xinfang_proto::v1::PaymentTotal {
                method: xinfang_proto::v1::PaymentMethod::Authorized as i32,
                requests: 2,
                amount: "150.00".into(),
            }],
        };
        let csv = budget_table(&money).to_csv();
        assert!(
            csv.contains("\nother,其他经费,2000.00,0.00,0.00,\n"),
            "{csv}"
        );
        assert!(
            csv.contains("\ntotal,合计,2000.00,0.00,0.00,0.00\n"),
            "{csv}"
        );
        assert!(
            csv.contains("\npaid_authorized,授权支付 2笔,,150.00,,\n"),
            "{csv}"
        );

        let report = SelfEvaluationReport {
            year: 2020,
            scores: vec![ScoreLine {
                part: "outputs".into(),
                weight: "50".into(),
                score: "44.44".into(),
            }],
            total_score: "44.44".into(),
            grade: "差".into(),
            inconsistencies: vec!["一".into(), "二".into()],
            ..Default::default()
        };
        let csv = scores_table(&report).to_csv();
        assert!(csv.contains("\noutputs,产出指标,50,44.44,\n"), "{csv}");
        assert!(csv.contains("\ntotal,总分,100,44.44,差\n"), "{csv}");
        assert_eq!(
            inconsistencies_table(&report).to_csv(),
            "n,note\n1,一\n2,二\n"
        );
    }

    #[test]
    fn two_down_two_up_shows_direction_both_years_and_verdict() {
        use xinfang_proto::v1::{TrendGoal, TrendResult};
        let result =
            |indicator: &str, direction: TrendDirection, v: &str, p: &str, c: &str| TrendResult {
                goal: Some(TrendGoal {
                    indicator: indicator.into(),
                    direction: direction as i32,
                    name: indicator.into(),
                }),
                value: v.into(),
                previous: p.into(),
                change: c.into(),
                met: c.starts_with('-') == (direction == TrendDirection::Down),
                undetermined: v.is_empty(),
            };
        let ind = Indicators {
            two_down_two_up: vec![
                result("total_volume", TrendDirection::Down, "2", "3", "-33.33"),
                result("satisfaction_unit", TrendDirection::Up, "", "", ""),
            ],
            ..Default::default()
        };
        let csv = two_down_two_up_table(&ind).to_csv();
        assert!(
            csv.starts_with("indicator,name,direction,value,previous,change,met\n"),
            "{csv}"
        );
        assert!(
            csv.contains("\ntotal_volume,total_volume,down,2,3,-33.33,yes\n"),
            "{csv}"
        );
        assert!(
            csv.contains("\nsatisfaction_unit,satisfaction_unit,up,,,,no base\n"),
            "{csv}"
        );
    }

    #[test]
    fn monthly_visits_are_a_row_per_month() {
        let month = |m: i32, county: i64| MonthVisits {
            month: YearMonth {
                year: 2020,
                month: m,
            },
            levels: (0..4)
                .map(|i| VisitFigures {
                    batches: fig(if i == 0 { county } else { 0 }, 0, ""),
                    persons: fig(if i == 0 { 2 * county } else { 0 }, 0, ""),
                    ..Default::default()
                })
                .collect(),
            total: VisitFigures {
                batches: fig(county, 0, ""),
                persons: fig(2 * county, 0, ""),
                ..Default::default()
            },
        };
        let data = MonthlyVisits {
            year: 2020,
            org_code: String::new(),
            months: vec![month(1, 3), month(2, 0)],
        };
        let csv = monthly_visits_table(&data).to_csv();
        assert_eq!(
            csv,
            "month,county_batches,county_persons,city_batches,city_persons,province_batches,\
             province_persons,national_batches,national_persons,total_batches,total_persons\n\
             2020-01,3,6,0,0,0,0,0,0,3,6\n\
             2020-02,0,0,0,0,0,0,0,0,0,0\n"
        );
    }
}
