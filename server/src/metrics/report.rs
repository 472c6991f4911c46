//! The annual performance self-evaluation report (项目支出绩效自评报告), in the shape of the bureau's filing:
//! every figure comes from the records, and what does not add up is listed instead of papered over.

use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::PgConnection;
use xinfang_proto::{
    money,
    v1::{Figure, Rate, SelfEvaluationReport, TrendDirection, TrendResult, VisitFigures},
};

use super::{
    model,
    service::{PUBLISHED_CSV, YearFigures, score_line, write_line, year_figures},
};
use crate::error::AppError;

macro_rules! line {
    ($out:expr, $($arg:tt)*) => { write_line($out, format_args!($($arg)*)) };
}

/// "下降37.0%" / "上升12.5%" / "上年同期为零，不计同比" with the given decimals, rounded once from the two
/// counts (never from the API's two-place text: docs/indicators.md, "Rounding").
fn change(f: &Figure, places: u32) -> String {
    match model::change_at(f.value, f.previous, places) {
        Some(p) if p.is_sign_negative() => format!("下降{}%", model::fixed(-p, places)),
        Some(p) => format!("上升{}%", model::fixed(p, places)),
        None => "上年同期为零，不计同比".to_owned(),
    }
}

fn pct(rate: &Option<Rate>, places: u32) -> String {
    match rate
        .as_ref()
        .and_then(|r| model::percent_at(r.numerator, r.denominator, places))
    {
        Some(p) => format!("{}%", model::fixed(p, places)),
        None => "—（分母为零）".to_owned(),
    }
}

fn fraction(rate: &Option<Rate>) -> String {
    rate.as_ref()
        .map(|r| format!("{}/{}", r.numerator, r.denominator))
        .unwrap_or_default()
}

fn level<'a>(fig: &'a YearFigures, key: &str) -> Option<&'a VisitFigures> {
    fig.visits
        .levels
        .iter()
        .find(|g| g.key == key)
        .and_then(|g| g.figures.as_ref())
}

fn value(f: &Option<Figure>) -> Figure {
    f.clone().unwrap_or_default()
}

#[derive(Debug, serde::Deserialize)]
struct Published {
    year: i32,
    measure: String,
    label: String,
    value: i64,
    yoy_percent: String,
    places: u32,
}

/// Compares what the bureau published for the year with what the records give.
fn reconcile(fig: &YearFigures, year: i32, notes: &mut Vec<String>) {
    let mut reader = csv::Reader::from_reader(PUBLISHED_CSV.as_bytes());
    for row in reader.deserialize::<Published>().flatten() {
        if row.year != year {
            continue;
        }
        let computed = match row.measure.as_str() {
            "letters" => fig.channels.letters_and_online.clone(),
            "reviews" => fig.channels.reviews.clone(),
            measure => measure.split_once('_').and_then(|(lvl, what)| {
                let figures = level(fig, lvl)?;
                match what {
                    "batches" => figures.batches.clone(),
                    "persons" => figures.persons.clone(),
                    _ => None,
                }
            }),
        };
        let Some(computed) = computed else { continue };
        let Ok(printed) = Decimal::from_str(&row.yoy_percent) else {
            continue;
        };
        if let Some(why) = model::impossible_yoy(row.value, printed, row.places) {
            notes.push(format!(
                "已发布的“{}{}，同比{}%”无法由任何数据得出：{}；按记录计算为{}，上年同期{}，同比{}。",
                row.label,
                row.value,
                model::fixed(printed, row.places),
                why,
                computed.value,
                computed.previous,
                change(&computed, row.places)
            ));
            continue;
        }
        if computed.value != row.value {
            notes.push(format!(
                "已发布的{}为{}，按记录计算为{}。",
                row.label, row.value, computed.value
            ));
        }
        let computed_pct = model::change_at(computed.value, computed.previous, row.places)
            .map(|p| model::fixed(p, row.places));
        if computed_pct.as_deref() != Some(model::fixed(printed, row.places).as_str()) {
            notes.push(format!(
                "已发布的{}同比为{}%，按记录计算为{}。",
                row.label,
                model::fixed(printed, row.places),
                change(&computed, row.places)
            ));
        }
    }
}

/// Mean of the rates that have a base, as a fraction from their counts; `None` when none has.
fn mean_rate(rates: &[&Option<Rate>]) -> Option<Decimal> {
    let counts: Vec<(i64, i64)> = rates
        .iter()
        .map(|r| r.as_ref().map_or((0, 0), |r| (r.numerator, r.denominator)))
        .collect();
    model::mean_fraction(&counts)
}

pub async fn generate(
    conn: &mut PgConnection,
    year: i32,
) -> Result<SelfEvaluationReport, AppError> {
    let fig = year_figures(conn, year).await?;
    let ind = &fig.indicators;
    let mut notes = Vec::new();

    let effects_rates = [
        &ind.timely_acceptance_office,
        &ind.timely_acceptance_unit,
        &ind.on_time_completion,
    ];
    let satisfaction_rates = [&ind.satisfaction_office, &ind.satisfaction_unit];
    for (name, rate) in [
        ("信访部门及时受理率", &ind.timely_acceptance_office),
        ("责任单位及时受理率", &ind.timely_acceptance_unit),
        ("按期办结率", &ind.on_time_completion),
        ("信访部门参评率", &ind.participation_office),
        ("信访部门满意率", &ind.satisfaction_office),
        ("责任单位参评率", &ind.participation_unit),
        ("责任单位满意率", &ind.satisfaction_unit),
    ] {
        if rate.as_ref().is_none_or(|r| r.denominator == 0) {
            notes.push(format!("{name}的分母为零，该比率不计。"));
        }
    }
    // Scores from the amounts and completions themselves; only the printed figures are rounded.
    let amount = |s: &str| Decimal::from_str(s).unwrap_or_default();
    let budget_score = model::execution_score(
        amount(&fig.budget.appropriated),
        amount(&fig.budget.disbursed),
    );
    let output_score = fig.targets.total;
    let targets = &fig.targets.completion;
    if targets.results.is_empty() {
        notes.push("未设定年度绩效目标，产出指标不得分。".into());
    }
    if let Some(why) = model::weights_problem(&fig.targets.weights) {
        notes.push(why);
    }
    for (r, completion) in targets.results.iter().zip(&fig.targets.fractions) {
        let Some(t) = &r.target else { continue };
        let Some(completion) = completion else {
            notes.push(format!("目标“{}”无法计算实际值。", t.name));
            continue;
        };
        if *completion < Decimal::ONE {
            notes.push(format!(
                "目标“{}”未完成：目标值{}，实际{}，完成率{}%。",
                t.name, t.value, r.actual, r.completion_percent
            ));
        }
    }
    if fig.budget.categories.is_empty() {
        notes.push(format!("{year}年无预算记录，预算执行率不计。"));
    }
    let effects_score = mean_rate(&effects_rates)
        .map_or(Decimal::ZERO, |m| Decimal::from(30) * m.min(Decimal::ONE));
    let satisfaction_score = mean_rate(&satisfaction_rates)
        .map_or(Decimal::ZERO, |m| Decimal::TEN * m.min(Decimal::ONE));
    let total = budget_score + output_score + effects_score + satisfaction_score;
    let grade = model::grade(total);
    reconcile(&fig, year, &mut notes);

    let mut md = String::new();
    let out = &mut md;
    line!(
        out,
        "# 盐边县信访局信访业务经费项目{year}年度专项资金绩效自评报告"
    );
    line!(out, "");
    line!(out, "## 一、项目概况");
    line!(out, "");
    line!(
        out,
        "信访业务经费用于特殊疑难信访问题化解救助、聘请律师参与信访接待和积案化解、聘请保安维持接访秩序、\
         信访信息平台运行、业务培训、驻外工作站以及群众到各级非接待场所上访的劝返工作。"
    );
    line!(out, "");
    line!(out, "## 二、项目资金情况");
    line!(out, "");
    line!(
        out,
        "{year}年县级财政下达盐边县信访局重点信访工作经费{}元（{}万元），已支出{}元，预算执行率{}%。",
        fig.budget.appropriated,
        wan(&fig.budget.appropriated),
        fig.budget.disbursed,
        if fig.budget.execution_percent.is_empty() {
            "—".to_owned()
        } else {
            fig.budget.execution_percent.clone()
        }
    );
    line!(out, "");
    line!(
        out,
        "| 资金类别 | 下达金额（元） | 支出金额（元） | 执行率 |"
    );
    line!(out, "|---|---:|---:|---:|");
    for c in &fig.budget.categories {
        line!(
            out,
            "| {} | {} | {} | {}% |",
            c.name,
            c.appropriated,
            c.disbursed,
            c.execution_percent
        );
    }
    line!(out, "");
    if !fig.documents.is_empty() {
        let docs: Vec<String> = fig
            .documents
            .iter()
            .map(|(_, d, a)| format!("{d}（{}元）", money::format(*a)))
            .collect();
        line!(out, "资金依据：{}。", docs.join("、"));
        line!(out, "");
    }
    line!(out, "## 三、项目实施情况");
    line!(out, "");
    let county = level(&fig, "county").cloned().unwrap_or_default();
    let city = level(&fig, "city").cloned().unwrap_or_default();
    let province = level(&fig, "province").cloned().unwrap_or_default();
    let national = level(&fig, "national").cloned().unwrap_or_default();
    let (cb, cp) = (value(&county.batches), value(&county.persons));
    line!(
        out,
        "全年群众本级来访{}批{}人次，同比批次{}、人次{}（其中：初访{}批{}人次、重复访{}批{}人次）；",
        cb.value,
        cp.value,
        change(&cb, 1),
        change(&cp, 1),
        value(&county.initial_batches).value,
        value(&county.initial_persons).value,
        value(&county.repeat_batches).value,
        value(&county.repeat_persons).value
    );
    let (tb, tp) = (value(&city.batches), value(&city.persons));
    line!(
        out,
        "到市上访{}批{}人次，同比批次{}、人次{}；",
        tb.value,
        tp.value,
        change(&tb, 1),
        change(&tp, 1)
    );
    let (pb, pp) = (value(&province.batches), value(&province.persons));
    line!(
        out,
        "到省上访{}批{}人次（其中：重复访{}批{}人次），同比批次{}、人次{}；",
        pb.value,
        pp.value,
        value(&province.repeat_batches).value,
        value(&province.repeat_persons).value,
        change(&pb, 1),
        change(&pp, 1)
    );
    let (nb, np) = (value(&national.batches), value(&national.persons));
    if nb.value > 0 || nb.previous > 0 {
        line!(
            out,
            "进京上访{}批{}人次，同比批次{}；",
            nb.value,
            np.value,
            change(&nb, 1)
        );
    }
    let letters = value(&fig.channels.letters_and_online);
    line!(
        out,
        "受理各级领导信箱、人民网地方领导留言板、网上投诉、各级转办来信等{}件，同比{}；",
        letters.value,
        change(&letters, 2)
    );
    // 复查 and 复核 are separate counts (docs/indicators.md, "复查 and 复核").
    let reviews = value(&fig.channels.reviews);
    let second = value(&fig.channels.second_reviews);
    line!(
        out,
        "复查{}件，同比{}；复核{}件，同比{}；",
        reviews.value,
        change(&reviews, 0),
        second.value,
        change(&second, 0)
    );
    let campaign = value(&fig.channels.campaign_transfers);
    line!(
        out,
        "办理扫黑除恶转办{}件；受理信访事项{}件。",
        campaign.value,
        ind.matters_accepted
    );
    line!(
        out,
        "确定特殊疑难信访积案{}件及时主动化解，案结事了。",
        ind.special_difficult_resolved
    );
    line!(out, "");
    line!(out, "## 四、项目绩效情况");
    line!(out, "");
    line!(out, "| 指标 | 分子/分母 | 比率 |");
    line!(out, "|---|---:|---:|");
    for (name, rate, places) in [
        ("信访部门及时受理率", &ind.timely_acceptance_office, 2),
        ("责任单位及时受理率", &ind.timely_acceptance_unit, 2),
        ("按期办结率", &ind.on_time_completion, 2),
        ("信访部门参评率", &ind.participation_office, 1),
        ("信访部门群众满意率", &ind.satisfaction_office, 1),
        ("责任单位参评率", &ind.participation_unit, 1),
        ("责任单位群众满意率", &ind.satisfaction_unit, 1),
        ("积案化解率", &ind.backlog_resolution, 2),
    ] {
        line!(
            out,
            "| {name} | {} | {} |",
            fraction(rate),
            pct(rate, places)
        );
    }
    line!(out, "");
    if ind.evaluations_lapsed > 0 {
        line!(
            out,
            "参与满意度评价{}件，另有{}件评价期满未参评。",
            ind.evaluations,
            ind.evaluations_lapsed
        );
    } else {
        line!(out, "参与满意度评价{}件。", ind.evaluations);
    }
    line!(out, "");
    if !targets.results.is_empty() {
        line!(
            out,
            "| 绩效目标 | 指标性质 | 目标值 | 实际完成值 | 完成率 | 得分 |"
        );
        line!(out, "|---|---|---:|---:|---:|---:|");
        for r in &targets.results {
            let Some(t) = &r.target else { continue };
            let sign = match t.direction {
                1 => "≤",
                2 => "≥",
                _ => "=",
            };
            line!(
                out,
                "| {} | {sign} | {} | {} | {}% | {} |",
                t.name,
                t.value,
                r.actual,
                r.completion_percent,
                r.score
            );
        }
        line!(out, "");
    }
    line!(out, "“两降两升”完成情况（与上年同期相比）：");
    line!(out, "");
    two_down_two_up(out, &ind.two_down_two_up, year);
    line!(out, "");
    line!(out, "## 五、自评结论");
    line!(out, "");
    line!(out, "| 一级指标 | 分值 | 得分 |");
    line!(out, "|---|---:|---:|");
    let scores = vec![
        score_line("budget_execution", 10, budget_score),
        score_line("outputs", 50, output_score),
        score_line("effects", 30, effects_score),
        score_line("satisfaction", 10, satisfaction_score),
    ];
    for (label, s) in ["预算执行率", "产出指标", "效益指标", "满意度指标"]
        .iter()
        .zip(&scores)
    {
        line!(out, "| {label} | {} | {} |", s.weight, s.score);
    }
    line!(out, "| 合计 | 100 | {} |", model::fixed(total, 2));
    line!(out, "");
    line!(
        out,
        "自评得分{}分，等级为“{grade}”。",
        model::fixed(total, 2)
    );
    if !notes.is_empty() {
        line!(out, "");
        line!(out, "## 附：数据核对");
        line!(out, "");
        for n in &notes {
            line!(out, "- {n}");
        }
    }
    Ok(SelfEvaluationReport {
        year,
        markdown: md,
        scores,
        total_score: model::fixed(total, 2),
        grade: grade.to_owned(),
        inconsistencies: notes,
        findings: Vec::new(),
    })
}

/// The 两降两升 table: each indicator with its direction, this year and last, the change and the verdict.
fn two_down_two_up(out: &mut String, results: &[TrendResult], year: i32) {
    line!(
        out,
        "| 指标 | 方向 | {year}年 | {}年 | 变化 | 结果 |",
        year - 1
    );
    line!(out, "|---|---|---:|---:|---|---|");
    for r in results {
        let Some(goal) = &r.goal else { continue };
        let is_rate = model::trend_indicator(&goal.indicator).is_some_and(|(_, rate)| rate);
        let shown = |v: &str| match (v.is_empty(), is_rate) {
            (true, _) => "—".to_owned(),
            (false, true) => format!("{v}%"),
            (false, false) => v.to_owned(),
        };
        let change = match Decimal::from_str(&r.change) {
            Ok(c) if c.is_zero() => "持平".to_owned(),
            Ok(c) => {
                let (word, size) = if c.is_sign_negative() {
                    ("下降", -c)
                } else {
                    ("上升", c)
                };
                if is_rate {
                    format!("{word}{}个百分点", model::fixed(size, 2))
                } else {
                    format!("{word}{}%", model::fixed(size, 2))
                }
            }
            Err(_) if is_rate => "—".to_owned(),
            Err(_) => "上年为零".to_owned(),
        };
        let direction = if goal.direction == TrendDirection::Down as i32 {
            "降"
        } else {
            "升"
        };
        let verdict = if r.met {
            "达成"
        } else if r.undetermined {
            "无法比较"
        } else {
            "未达成"
        };
        line!(
            out,
            "| {} | {direction} | {} | {} | {change} | {verdict} |",
            goal.name,
            shown(&r.value),
            shown(&r.previous)
        );
    }
}

/// Yuan as 万元 with two places ("795300.00" → "79.53").
fn wan(yuan: &str) -> String {
    Decimal::from_str(yuan)
        .map(|d| model::fixed(d / Decimal::from(10_000), 2))
        .unwrap_or_default()
}
