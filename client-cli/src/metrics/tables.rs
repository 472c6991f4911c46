//! The answers of `MetricsService` as [`Table`]s for the terminal, CSV, JSON and XLSX: one function per
//! `xf metrics …` table and per sheet of `xf report --xlsx`.

use xinfang_proto::v1::{
    BudgetExecution, ChannelStatistics, Figure, IndicatorValue, Indicators, Rate,
    SelfEvaluationReport, TargetCompletion, TargetDirection, TrendDirection, VisitFigures,
    VisitGrouping, VisitStatistics, indicator_value::Value,
};

use super::{
    monthly::{LEVELS, MonthlyVisits},
    periods::month_key,
    visits_view::row_name,
};
use crate::{
    export::{Cell, Table},
    text::EnumKind,
};

/// The indicators of an answer: `Indicators.values`, every indicator of the server's table in its order
/// (docs/indicators.md), so that an indicator the server adds shows here without a change of the client.
/// A server that predates `values` (field 19) sends the named fields alone; [`named_values`] lists those.
pub fn indicator_values(ind: &Indicators) -> Vec<IndicatorValue> {
    if ind.values.is_empty() {
        named_values(ind)
    } else {
        ind.values.clone()
    }
}

/// `values` made of the named fields, as a server that predates `values` answers: its ten rates and four
/// counts, in their order, named as the server's table names them. No indicator is ever added here.
pub fn named_values(ind: &Indicators) -> Vec<IndicatorValue> {
    let rate = |key: &str, name: &str, r: &Option<Rate>| IndicatorValue {
        key: key.into(),
        name: name.into(),
        value: Some(Value::Rate(r.clone().unwrap_or_default())),
        ..Default::default()
    };
    let count = |key: &str, name: &str, n: i64| IndicatorValue {
        key: key.into(),
        name: name.into(),
        value: Some(Value::Figure(Figure {
            value: n,
            ..Default::default()
        })),
        ..Default::default()
    };
    vec![
        rate(
            "timely_acceptance_office",
            "信访部门及时受理率",
            &ind.timely_acceptance_office,
        ),
        rate(
            "timely_acceptance_unit",
            "责任单位及时受理率",
            &ind.timely_acceptance_unit,
        ),
        rate("on_time_completion", "按期办结率", &ind.on_time_completion),
        rate(
            "participation_office",
            "信访部门参评率",
            &ind.participation_office,
        ),
        rate(
            "satisfaction_office",
            "信访部门群众满意率",
            &ind.satisfaction_office,
        ),
        rate(
            "participation_unit",
            "责任单位参评率",
            &ind.participation_unit,
        ),
        rate(
            "satisfaction_unit",
            "责任单位群众满意率",
            &ind.satisfaction_unit,
        ),
        rate("backlog_resolution", "积案化解率", &ind.backlog_resolution),
        rate("repeat_rate", "重复信访率", &ind.repeat_rate),
        rate("online_share", "网上信访占比", &ind.online_share),
        count(
            "special_difficult_resolved",
            "化解特殊疑难积案",
            ind.special_difficult_resolved,
        ),
        count("matters_accepted", "受理事项", ind.matters_accepted),
        count("evaluations", "评价事项", ind.evaluations),
        count("evaluations_lapsed", "逾期未参评", ind.evaluations_lapsed),
    ]
}

/// Indicators: one row per rate (numerator, denominator, percent; no percent on an empty base), with the
/// rate of the preceding period of equal length and the change to it in percentage points (环比), and the
/// same for the same months a year earlier (同比); one row per count (in the numerator column alone).
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
    for v in indicator_values(ind) {
        match v.value {
            Some(Value::Rate(r)) => {
                let pp = r.previous_period.clone().unwrap_or_default();
                let py = r.previous_year.clone().unwrap_or_default();
                t.push(vec![
                    v.key.into(),
                    v.name.into(),
                    Cell::Int(r.numerator),
                    Cell::Int(r.denominator),
                    Cell::decimal(&r.percent),
                    Cell::decimal(&pp.percent),
                    Cell::decimal(&pp.change_points),
                    Cell::decimal(&py.percent),
                    Cell::decimal(&py.change_points),
                ]);
            }
            Some(Value::Figure(f)) => t.push(vec![v.key.into(), v.name.into(), Cell::Int(f.value)]),
            None => t.push(vec![v.key.into(), v.name.into()]),
        }
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

/// The JSON of `xf metrics indicators`: the table's rows, with the case ids behind each rate when they
/// were asked for.
pub fn indicators_json(ind: &Indicators) -> serde_json::Value {
    let mut json = indicators_table(ind).to_json();
    let rates: Vec<Option<Rate>> = indicator_values(ind)
        .into_iter()
        .map(|v| match v.value {
            Some(Value::Rate(r)) => Some(r),
            _ => None,
        })
        .collect();
    if rates
        .iter()
        .flatten()
        .any(|r| !r.numerator_case_ids.is_empty() || !r.other_case_ids.is_empty())
        && let Some(rows) = json.as_array_mut()
    {
        for (row, r) in rows.iter_mut().zip(rates) {
            if let Some(r) = r {
                row["numerator_case_ids"] = r.numerator_case_ids.into();
                row["other_case_ids"] = r.other_case_ids.into();
            }
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
        // The key's Chinese name beside it (本级, a township's name, 2020年03月), for a person reading the
        // file in Excel; the key stays for programs.
        ("key_name", "KEY NAME"),
        ("figure", "FIGURE"),
        ("name", "NAME"),
    ];
    columns.extend(FIGURE_COLUMNS);
    let mut t = Table::new("visits", &columns);
    let mut add = |breakdown: &str, key: &str, figures: &VisitFigures| {
        let key_name = if breakdown == "total" {
            "合计".to_owned()
        } else {
            row_name(group_by, key)
        };
        for ((figure, name), f) in VISIT_FIGURES.iter().zip(visit_figures(figures)) {
            let mut row = vec![
                breakdown.into(),
                key.into(),
                key_name.clone().into(),
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
    let mut columns = vec![
        ("kind", "KIND"),
        ("item", "ITEM"),
        ("item_name", "ITEM NAME"),
    ];
    columns.extend(FIGURE_COLUMNS);
    let mut t = Table::new("channels", &columns);
    let mut add = |kind: &str, item: &str, f: &Option<Figure>| {
        let mut row = vec![kind.into(), item.into(), channel_item_name(item).into()];
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

/// The Chinese name of a row of [`channels_table`]: a channel's label (the server's, cached), or a total's.
fn channel_item_name(item: &str) -> &'static str {
    match item {
        "letters_and_online" => "来信和网上信访合计",
        "reviews" => "复查",
        "second_reviews" => "复核",
        "campaign_transfers" => "专项行动转办",
        channel => EnumKind::LetterChannel
            .parse(channel)
            .map(|v| EnumKind::LetterChannel.label(v))
            .unwrap_or(""),
    }
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
        // The method's name is its label (the server's, cached), like every enum value xf prints.
        let (key, name) = match xinfang_proto::v1::PaymentMethod::try_from(p.method) {
            Ok(xinfang_proto::v1::PaymentMethod::Direct) => ("paid_direct", p.method),
            Ok(xinfang_proto::v1::PaymentMethod::Authorized) => ("paid_authorized", p.method),
            Ok(xinfang_proto::v1::PaymentMethod::Cash) => ("paid_cash", p.method),
            _ => ("paid_unrecorded", 0),
        };
        let name = match EnumKind::PaymentMethod.label(name) {
            "" => "未记录支付方式",
            label => label,
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
