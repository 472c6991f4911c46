//! The annual performance self-evaluation report (项目支出绩效自评报告), in the shape of the bureau's filing:
//! its five parts and their sections in the filing's order, the score table with its levels, the fund's
//! management and payment figures, and every inconsistency the records show, with the figures that
//! disagree. Every figure comes from the records; what does not add up is listed instead of papered over.
//! docs/indicators.md, "The report".

use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::PgConnection;
use xinfang_proto::{
    money,
    v1::{
        Figure, FindingFigure, PaymentMethod, Rate, SelfEvaluationReport, TargetDirection,
        TrendDirection, TrendResult, VisitFigures,
    },
};

use super::{
    model::{self, Finding},
    service::{PUBLISHED_CSV, YearFigures, score_line, write_line, year_figures},
};
use crate::error::AppError;

macro_rules! line {
    ($out:expr, $($arg:tt)*) => { write_line($out, format_args!($($arg)*)) };
}

/// "下降37.0%" / "上升12.5%" / "不计（上年同期为零）" with the given decimals, rounded once from the two
/// counts (never from the API's two-place text: docs/indicators.md, "Rounding").
fn change(f: &Figure, places: u32) -> String {
    match model::change_at(f.value, f.previous, places) {
        Some(p) if p.is_sign_negative() => format!("下降{}%", model::fixed(-p, places)),
        Some(p) => format!("上升{}%", model::fixed(p, places)),
        None => "不计（上年同期为零）".to_owned(),
    }
}

fn counts(rate: &Option<Rate>) -> (i64, i64) {
    rate.as_ref()
        .map_or((0, 0), |r| (r.numerator, r.denominator))
}

/// A rate in percent with `places`, rounded once from its counts; a dash on an empty base.
fn pct(rate: &Option<Rate>, places: u32) -> String {
    let (n, d) = counts(rate);
    match model::percent_at(n, d, places) {
        Some(p) => format!("{}%", model::fixed(p, places)),
        None => "—（分母为零）".to_owned(),
    }
}

/// A rate of another period and the change to it: "96.00%（+2.11个百分点）".
fn compared(now: &Option<Rate>, then: Option<&xinfang_proto::v1::RateComparison>) -> String {
    let Some(then) = then else {
        return "—".to_owned();
    };
    let Some(p) = model::percent_at(then.numerator, then.denominator, 2) else {
        return "—".to_owned();
    };
    match model::points_change(counts(now), (then.numerator, then.denominator), 2) {
        Some(c) if c.is_sign_negative() => {
            format!("{}%（{}个百分点）", model::fixed(p, 2), model::fixed(c, 2))
        }
        Some(c) => format!("{}%（+{}个百分点）", model::fixed(p, 2), model::fixed(c, 2)),
        None => format!("{}%", model::fixed(p, 2)),
    }
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

fn amount(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

/// Yuan as 万元 with two places ("795300.00" → "79.53").
fn wan(yuan: Decimal) -> String {
    model::fixed(yuan / Decimal::from(10_000), 2)
}

fn sign(direction: i32) -> &'static str {
    match TargetDirection::try_from(direction) {
        Ok(TargetDirection::AtMost) => "≤",
        Ok(TargetDirection::AtLeast) => "≥",
        _ => "=",
    }
}

/// The unit a target's value is counted in.
fn unit(indicator: &str) -> &'static str {
    match indicator {
        "county_person_visits" | "all_person_visits" => "人次",
        "county_batches" | "all_batches" => "批",
        "letters_and_online" | "special_difficult_resolved" => "件",
        _ => "%",
    }
}

/// The 二级指标 of an output target: timeliness, quality (satisfaction) or quantity.
fn output_kind(indicator: &str) -> &'static str {
    match indicator {
        "timely_acceptance_office" | "timely_acceptance_unit" | "on_time_completion" => "时效指标",
        "satisfaction_office" | "satisfaction_unit" => "质量指标",
        _ => "数量指标",
    }
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

/// Compares what the bureau published for the year with what the records give, and the published figures
/// with each other (the seed's budget total is 2,000.00 more than its two named parts).
fn reconcile(fig: &YearFigures, year: i32, findings: &mut Vec<Finding>) {
    let mut reader = csv::Reader::from_reader(PUBLISHED_CSV.as_bytes());
    let mut budget: Vec<(String, String, Decimal)> = Vec::new();
    for row in reader.deserialize::<Published>().flatten() {
        if row.year != year {
            continue;
        }
        if let Some(category) = row.measure.strip_prefix("budget_") {
            budget.push((
                category.to_owned(),
                row.label,
                Decimal::new(row.value * 100, 2),
            ));
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
        let printed_text = model::fixed(printed, row.places);
        if let Some(why) = model::impossible_yoy(row.value, printed, row.places) {
            findings.push(
                Finding::new(
                    "published",
                    format!(
                        "已发布的“{}{}，同比{}%”无法由任何数据得出：{}；按记录计算为{}，上年同期{}，同比{}。",
                        row.label,
                        row.value,
                        printed_text,
                        why,
                        computed.value,
                        computed.previous,
                        change(&computed, row.places)
                    ),
                )
                .with(format!("已发布的{}", row.label), row.value)
                .with("已发布的同比（%）", &printed_text)
                .with(format!("记录的{}", row.label), computed.value)
                .with("记录的上年同期", computed.previous),
            );
            continue;
        }
        if computed.value != row.value {
            findings.push(
                Finding::new(
                    "published",
                    format!(
                        "已发布的{}为{}，按记录计算为{}。",
                        row.label, row.value, computed.value
                    ),
                )
                .with(format!("已发布的{}", row.label), row.value)
                .with(format!("记录的{}", row.label), computed.value),
            );
        }
        let computed_pct = model::change_at(computed.value, computed.previous, row.places)
            .map(|p| model::fixed(p, row.places));
        if computed_pct.as_deref() != Some(printed_text.as_str()) {
            findings.push(
                Finding::new(
                    "published",
                    format!(
                        "已发布的{}同比为{}%，按记录计算为{}。",
                        row.label,
                        printed_text,
                        change(&computed, row.places)
                    ),
                )
                .with("已发布的同比（%）", &printed_text)
                .with("记录的同比（%）", computed_pct.unwrap_or_default()),
            );
        }
    }
    // The published budget: its parts against its own total, then against the records.
    let Some(total) = budget.iter().find(|(c, _, _)| c == "total").cloned() else {
        return;
    };
    let parts: Vec<(&str, Decimal)> = budget
        .iter()
        .filter(|(c, _, _)| c != "total")
        .map(|(_, label, a)| (label.as_str(), *a))
        .collect();
    if let Some(mut f) = model::sum_check("已发布的资金", &parts, &total.1, total.2) {
        f.kind = "published";
        let named: Decimal = parts.iter().map(|(_, a)| *a).sum();
        let unnamed: Vec<String> = fig
            .budget
            .categories
            .iter()
            .filter(|c| !budget.iter().any(|(b, _, _)| *b == c.category))
            .map(|c| format!("{}{}元", c.name, c.appropriated))
            .collect();
        f.message = format!(
            "已发布的{}{}万元，而所列各项（{}）合计{}万元，相差{}万元{}。",
            total.1,
            wan(total.2),
            parts
                .iter()
                .map(|(l, a)| format!("{l}{}万元", wan(*a)))
                .collect::<Vec<_>>()
                .join("、"),
            wan(named),
            wan(total.2 - named),
            if unnamed.is_empty() {
                String::new()
            } else {
                format!("；记录中未列出的为{}", unnamed.join("、"))
            }
        );
        findings.push(f);
    }
    for (category, label, printed) in &budget {
        let recorded = if category == "total" {
            Some(amount(&fig.budget.appropriated))
        } else {
            fig.budget
                .categories
                .iter()
                .find(|c| c.category == *category)
                .map(|c| amount(&c.appropriated))
        };
        if recorded != Some(*printed) {
            let recorded = recorded.map_or("无记录".to_owned(), money::format);
            findings.push(
                Finding::new(
                    "published",
                    format!(
                        "已发布的{label}为{}元，按记录为{recorded}。",
                        money::format(*printed)
                    ),
                )
                .with(format!("已发布的{label}"), money::format(*printed))
                .with(format!("记录的{label}"), recorded),
            );
        }
    }
}

/// The named rates of the year, as the report names them.
fn named_rates(fig: &YearFigures) -> [(&'static str, &Option<Rate>); 8] {
    let ind = &fig.indicators;
    [
        ("信访部门及时受理率", &ind.timely_acceptance_office),
        ("责任单位及时受理率", &ind.timely_acceptance_unit),
        ("按期办结率", &ind.on_time_completion),
        ("信访部门参评率", &ind.participation_office),
        ("信访部门群众满意率", &ind.satisfaction_office),
        ("责任单位参评率", &ind.participation_unit),
        ("责任单位群众满意率", &ind.satisfaction_unit),
        ("积案化解率", &ind.backlog_resolution),
    ]
}

/// Every check the records allow: rates on an empty base or above 100 %, targets not measured or missed,
/// weights, the budget and its documents and payments, visits and channels against their totals, and the
/// published figures. docs/indicators.md, "The report".
fn check(fig: &YearFigures, year: i32) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (name, rate) in named_rates(fig) {
        let (n, d) = counts(rate);
        if d == 0 {
            findings.push(Finding::new(
                "empty_base",
                format!("{name}的分母为零，该比率不计。"),
            ));
        }
        findings.extend(model::rate_check(name, n, d));
    }
    for (name, rate) in [
        ("重复信访率", &fig.indicators.repeat_rate),
        ("网上信访占比", &fig.indicators.online_share),
    ] {
        let (n, d) = counts(rate);
        findings.extend(model::rate_check(name, n, d));
    }

    let targets = &fig.targets.completion;
    if targets.results.is_empty() {
        findings.push(Finding::new(
            "no_targets",
            "未设定年度绩效目标，产出指标不得分。",
        ));
    }
    for (r, completion) in targets.results.iter().zip(&fig.targets.fractions) {
        let Some(t) = &r.target else { continue };
        let Some(completion) = completion else {
            findings.push(Finding::new(
                "target_unmeasured",
                format!("目标“{}”无法计算实际值。", t.name),
            ));
            continue;
        };
        // Judged on the unrounded completion: 99.996 % prints as 100.00 but is not met.
        if *completion < Decimal::ONE {
            findings.push(
                Finding::new(
                    "target_missed",
                    format!(
                        "目标“{}”未完成：目标值{}{}，实际{}，完成率{}%。",
                        t.name,
                        sign(t.direction),
                        t.value,
                        r.actual,
                        r.completion_percent
                    ),
                )
                .with("目标值", &t.value)
                .with("实际完成值", &r.actual)
                .with("完成率（%）", &r.completion_percent),
            );
        }
    }
    findings.extend(model::weights_finding(&fig.targets.weights));

    // The budget: categories against the totals, documents against what they appropriated, payments
    // against what was spent.
    let budget = &fig.budget;
    if budget.categories.is_empty() {
        findings.push(Finding::new(
            "no_budget",
            format!("{year}年无预算记录，预算执行率不计。"),
        ));
    }
    let appropriated: Vec<(&str, Decimal)> = budget
        .categories
        .iter()
        .map(|c| (c.name.as_str(), amount(&c.appropriated)))
        .collect();
    findings.extend(model::sum_check(
        "各类资金的预算数",
        &appropriated,
        "全年预算数",
        amount(&budget.appropriated),
    ));
    let disbursed: Vec<(&str, Decimal)> = budget
        .categories
        .iter()
        .map(|c| (c.name.as_str(), amount(&c.disbursed)))
        .collect();
    findings.extend(model::sum_check(
        "各类资金的执行数",
        &disbursed,
        "全年执行数",
        amount(&budget.disbursed),
    ));
    for c in &budget.categories {
        let documents: Vec<(&str, Decimal)> = fig
            .documents
            .iter()
            .filter(|(category, _, _)| *category == c.category)
            .map(|(_, document, a)| (document.as_str(), *a))
            .collect();
        findings.extend(model::sum_check(
            &format!("{}的批复文件", c.name),
            &documents,
            "预算数",
            amount(&c.appropriated),
        ));
        if amount(&c.disbursed) > amount(&c.appropriated) {
            findings.push(
                Finding::new(
                    "budget",
                    format!(
                        "{}执行数{}元超过预算数{}元。",
                        c.name, c.disbursed, c.appropriated
                    ),
                )
                .with("执行数", &c.disbursed)
                .with("预算数", &c.appropriated),
            );
        }
    }
    let paid: Vec<(&str, Decimal)> = budget
        .payments
        .iter()
        .map(|p| (method_name(p.method), amount(&p.amount)))
        .collect();
    findings.extend(model::sum_check(
        "已支付的资金申请",
        &paid,
        "全年执行数",
        amount(&budget.disbursed),
    ));
    for p in &budget.payments {
        if p.method == PaymentMethod::Cash as i32 {
            findings.push(
                Finding::new(
                    "budget",
                    format!(
                        "有{}笔{}元以现金支出，资金严禁现金支出。",
                        p.requests, p.amount
                    ),
                )
                .with("现金支出", &p.amount),
            );
        }
    }

    // Visits: the levels against all levels, initial and repeat against each level's total.
    let all = fig.visits.total.clone().unwrap_or_default();
    let levels: Vec<(&str, VisitFigures)> = [
        ("本级", "county"),
        ("到市", "city"),
        ("到省", "province"),
        ("进京", "national"),
    ]
    .iter()
    .map(|(name, key)| (*name, level(fig, key).cloned().unwrap_or_default()))
    .collect();
    for (what, pick) in [
        (
            "批次",
            (|f: &VisitFigures| value(&f.batches).value) as fn(&VisitFigures) -> i64,
        ),
        ("人次", |f: &VisitFigures| value(&f.persons).value),
    ] {
        let parts: Vec<(&str, i64)> = levels.iter().map(|(n, f)| (*n, pick(f))).collect();
        findings.extend(model::sum_check(
            &format!("各级来访{what}"),
            &parts,
            &format!("来访总{what}"),
            pick(&all),
        ));
    }
    for (name, f) in &levels {
        for (what, initial, repeat, total) in [
            ("批次", &f.initial_batches, &f.repeat_batches, &f.batches),
            ("人次", &f.initial_persons, &f.repeat_persons, &f.persons),
        ] {
            findings.extend(model::sum_check(
                &format!("{name}来访{what}"),
                &[
                    ("初访", value(initial).value),
                    ("重复访", value(repeat).value),
                ],
                &format!("{name}来访{what}"),
                value(total).value,
            ));
        }
    }
    // Channels: every channel but campaign transfers against letters and online items.
    let channels: Vec<(&str, i64)> = fig
        .channels
        .channels
        .iter()
        .filter(|c| c.channel != "campaign_transfer")
        .map(|c| (c.channel.as_str(), value(&c.items).value))
        .collect();
    findings.extend(model::sum_check(
        "各渠道来信及网上信访件数",
        &channels,
        "来信及网上信访",
        value(&fig.channels.letters_and_online).value,
    ));
    reconcile(fig, year, &mut findings);
    findings
}

fn method_name(method: i32) -> &'static str {
    match PaymentMethod::try_from(method) {
        Ok(PaymentMethod::Direct) => "直接支付",
        Ok(PaymentMethod::Authorized) => "授权支付",
        Ok(PaymentMethod::Cash) => "现金",
        _ => "未记录支付方式",
    }
}

/// One row of the score table.
struct ScoreRow {
    level1: &'static str,
    level2: &'static str,
    level3: String,
    nature: &'static str,
    target: String,
    actual: String,
    points: String,
    score: Decimal,
}

/// The score table's rows and the four parts' scores, unrounded: budget execution 10 × min(B/A, 1);
/// outputs from the targets; effects 30 and satisfaction 10 shared by their rates that have a base, each
/// rate scoring its share × min(rate, 1).
fn score_rows(fig: &YearFigures) -> (Vec<ScoreRow>, [Decimal; 4]) {
    let budget = &fig.budget;
    let budget_score =
        model::execution_score(amount(&budget.appropriated), amount(&budget.disbursed));
    let mut rows = vec![ScoreRow {
        level1: "预算执行率",
        level2: "—",
        level3: "预算执行率（B/A）".into(),
        nature: "≥",
        target: "100%".into(),
        actual: if budget.execution_percent.is_empty() {
            "—".into()
        } else {
            format!("{}%", budget.execution_percent)
        },
        points: "10.00".into(),
        score: budget_score,
    }];
    let targets = &fig.targets.completion;
    if targets.results.is_empty() {
        rows.push(ScoreRow {
            level1: "产出指标",
            level2: "—",
            level3: "未设定绩效目标".into(),
            nature: "—",
            target: "—".into(),
            actual: "—".into(),
            points: "50.00".into(),
            score: Decimal::ZERO,
        });
    }
    for r in &targets.results {
        let Some(t) = &r.target else { continue };
        let rate_unit = if unit(&t.indicator) == "%" { "%" } else { "" };
        rows.push(ScoreRow {
            level1: "产出指标",
            level2: output_kind(&t.indicator),
            level3: t.name.clone(),
            nature: sign(t.direction),
            target: format!("{}{rate_unit}", t.value),
            actual: if r.actual.is_empty() {
                "—".into()
            } else {
                format!("{}{rate_unit}", r.actual)
            },
            points: r.points.clone(),
            score: Decimal::from_str(&r.score).unwrap_or_default(),
        });
    }
    let ind = &fig.indicators;
    let mut part = |level1: &'static str,
                    level2: &'static str,
                    weight: Decimal,
                    rates: &[(&str, &Option<Rate>)]| {
        let based = rates.iter().filter(|(_, r)| counts(r).1 != 0).count();
        let share = if based == 0 {
            Decimal::ZERO
        } else {
            weight / Decimal::from(based as i64)
        };
        let mut sum = Decimal::ZERO;
        for (name, rate) in rates {
            let (n, d) = counts(rate);
            let fraction = model::fraction(n, d);
            let score = fraction.map_or(Decimal::ZERO, |f| share * f.min(Decimal::ONE));
            sum += score;
            rows.push(ScoreRow {
                level1,
                level2,
                level3: (*name).to_owned(),
                nature: "≥",
                target: "100%".into(),
                actual: pct(rate, 2),
                points: if fraction.is_some() {
                    model::fixed(share, 2)
                } else {
                    "—".into()
                },
                score,
            });
        }
        sum
    };
    let effects = part(
        "效益指标",
        "社会效益指标",
        Decimal::from(30),
        &[
            ("信访部门及时受理率", &ind.timely_acceptance_office),
            ("责任单位及时受理率", &ind.timely_acceptance_unit),
            ("按期办结率", &ind.on_time_completion),
        ],
    );
    let satisfaction = part(
        "满意度指标",
        "服务对象满意度指标",
        Decimal::TEN,
        &[
            ("信访部门群众满意率", &ind.satisfaction_office),
            ("责任单位群众满意率", &ind.satisfaction_unit),
        ],
    );
    (
        rows,
        [budget_score, fig.targets.total, effects, satisfaction],
    )
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
        line!(
            out,
            "| {} | {} | {} | {} | {change} | {} |",
            goal.name,
            direction_word(goal.direction),
            shown(&r.value),
            shown(&r.previous),
            verdict(r)
        );
    }
}

fn direction_word(direction: i32) -> &'static str {
    if direction == TrendDirection::Down as i32 {
        "降"
    } else {
        "升"
    }
}

fn verdict(r: &TrendResult) -> &'static str {
    if r.met {
        "达成"
    } else if r.undetermined {
        "无法比较"
    } else {
        "未达成"
    }
}

pub async fn generate(
    conn: &mut PgConnection,
    year: i32,
) -> Result<SelfEvaluationReport, AppError> {
    let fig = year_figures(conn, year).await?;
    let findings = check(&fig, year);
    let (rows, parts) = score_rows(&fig);
    let total: Decimal = parts.iter().sum();
    let grade = model::grade(total);
    let mut md = String::new();
    let out = &mut md;
    line!(out, "# {year}年度专项（项目）资金绩效自评报告");
    line!(out, "");
    line!(out, "（盐边县信访局信访业务经费项目）");
    line!(out, "");
    overview(out, &fig, year);
    funds(out, &fig, year);
    management(out, &fig);
    performance(out, &fig, year, &rows, total);
    conclusions(out, &fig, year, &findings, (parts, total, grade));
    Ok(SelfEvaluationReport {
        year,
        markdown: md,
        scores: vec![
            score_line("budget_execution", 10, parts[0]),
            score_line("outputs", 50, parts[1]),
            score_line("effects", 30, parts[2]),
            score_line("satisfaction", 10, parts[3]),
        ],
        total_score: model::fixed(total, 2),
        grade: grade.to_owned(),
        inconsistencies: findings.iter().map(|f| f.message.clone()).collect(),
        findings: findings
            .into_iter()
            .map(|f| xinfang_proto::v1::Finding {
                kind: f.kind.to_owned(),
                message: f.message,
                figures: f
                    .figures
                    .into_iter()
                    .map(|(label, value)| FindingFigure { label, value })
                    .collect(),
            })
            .collect(),
    })
}

/// 一、项目概况: what the fund is for, the year's targets and 两降两升, and how the evaluation is made.
fn overview(out: &mut String, fig: &YearFigures, year: i32) {
    line!(out, "## 一、项目概况");
    line!(out, "");
    line!(out, "### （一）项目基本情况");
    line!(out, "");
    line!(
        out,
        "1.县信访局项目管理职能。县信访局承担县信访工作联席会议办公室日常工作，负责办理网上投诉信访事项，\
         承担全县信访信息系统、各级党政领导信箱、人民网地方领导留言板等应用系统的运行维护，办理上级转办交办的\
         来信来访事项，负责接待群众到县委、县政府来访，组织协调进京赴省到市到县非接待场所有关人员接访劝返工作。"
    );
    line!(
        out,
        "2.立项、资金申报依据。根据信访工作需要，做好群众来信来访、网络投诉等基础信访业务工作，按规定及时办理\
         各类信访案件，提高信访事项“三率”，巩固“两降两升”，开展矛盾纠纷排查和信访积案化解。"
    );
    line!(
        out,
        "3.资金管理办法制定、支持具体项目条件、范围、支持方式。重点用于无责任主体信访案件等诉求合理但无相应\
         政策规定、生活确有困难的信访人的帮扶救助，将特殊疑难信访积案及时主动化解，信访人息诉罢访、案结事了。"
    );
    line!(
        out,
        "4.资金分配原则及考虑因素。资金使用坚持责任部门提出申请，信访局经局务会研究提出具体方案后报请上级\
         分管领导审批再支出的管理方式，重点关注长期未化解的特殊疑难信访案件和中央、省市督查督办信访案件。"
    );
    line!(out, "");
    line!(out, "### （二）项目绩效目标");
    line!(out, "");
    line!(
        out,
        "1.项目主要内容是做好群众来信来访、网络投诉等基础信访业务工作，按规定及时办理各类信访案件，提高信访\
         事项“三率”（及时受理率、按期办结率、群众满意率），巩固“两降两升”，开展信访积案化解。"
    );
    let targets = &fig.targets.completion;
    let listed: Vec<String> = targets
        .results
        .iter()
        .filter_map(|r| r.target.as_ref())
        .map(|t| {
            format!(
                "{}{}{}{}",
                t.name,
                sign(t.direction),
                t.value,
                unit(&t.indicator)
            )
        })
        .collect();
    if listed.is_empty() {
        line!(out, "2.{year}年未设定具体绩效目标。");
    } else {
        line!(out, "2.项目应实现的具体绩效目标为：{}。", listed.join("，"));
        let weights: Vec<String> = targets
            .results
            .iter()
            .filter_map(|r| {
                r.target
                    .as_ref()
                    .map(|t| format!("{}{}%（{}分）", t.name, r.effective_weight, r.points))
            })
            .collect();
        line!(
            out,
            "各项目标在产出指标50分中的权重：{}，合计{}%。",
            weights.join("、"),
            targets.weight_total
        );
    }
    let trends = &fig.indicators.two_down_two_up;
    let named = |down: bool| -> Vec<String> {
        trends
            .iter()
            .filter_map(|r| r.goal.as_ref())
            .filter(|g| (g.direction == TrendDirection::Down as i32) == down)
            .map(|g| g.name.clone())
            .collect()
    };
    line!(
        out,
        "3.巩固“两降两升”：{}下降，{}上升（与上年同期相比）。",
        named(true).join("、"),
        named(false).join("、")
    );
    line!(out, "");
    line!(out, "### （三）项目自评步骤及方法");
    line!(out, "");
    line!(
        out,
        "由项目负责人根据项目绩效申报指标逐个核对、比对，是否完成申报指标，计算完成率。本报告的数字均由信访\
         信息系统的记录计算得出：预算执行率10分（执行率×10，最高10分），产出指标50分（各项目标按权重和完成率\
         计分），效益指标30分（信访部门及时受理率、责任单位及时受理率、按期办结率），满意度指标10分（信访部门\
         和责任单位群众满意率）；90分以上为优，80至89分为良，60至79分为中，60分以下为差。百分比均由分子、分母\
         一次四舍五入得出。"
    );
    line!(out, "");
}

/// 二、项目资金申报及使用情况: the documents, the budget and its execution, the requests and payments.
fn funds(out: &mut String, fig: &YearFigures, year: i32) {
    let budget = &fig.budget;
    line!(out, "## 二、项目资金申报及使用情况");
    line!(out, "");
    line!(out, "### （一）项目资金申报及批复情况");
    line!(out, "");
    if fig.documents.is_empty() {
        line!(out, "{year}年无预算批复记录。");
    } else {
        let docs: Vec<String> = fig
            .documents
            .iter()
            .map(|(category, document, a)| {
                let name = budget
                    .categories
                    .iter()
                    .find(|c| c.category == *category)
                    .map_or(category.as_str(), |c| c.name.as_str());
                format!("{document}（{name}{}元）", money::format(*a))
            })
            .collect();
        line!(out, "该项目资金纳入预算申报，由{}批复。", docs.join("、"));
    }
    line!(out, "");
    line!(out, "### （二）资金计划、到位及使用情况");
    line!(out, "");
    let appropriated = amount(&budget.appropriated);
    line!(
        out,
        "{year}年县级财政下达盐边县信访局重点信访工作经费{}万元：全年预算数{}元，全年执行数{}元，执行率{}。",
        wan(appropriated),
        budget.appropriated,
        budget.disbursed,
        if budget.execution_percent.is_empty() {
            "—".to_owned()
        } else {
            format!("{}%", budget.execution_percent)
        }
    );
    line!(out, "");
    line!(
        out,
        "| 资金类别 | 全年预算数（元） | 全年执行数（元） | 执行率 |"
    );
    line!(out, "|---|---:|---:|---:|");
    for c in &budget.categories {
        line!(
            out,
            "| {} | {} | {} | {}% |",
            c.name,
            c.appropriated,
            c.disbursed,
            c.execution_percent
        );
    }
    line!(
        out,
        "| 合计 | {} | {} | {} |",
        budget.appropriated,
        budget.disbursed,
        if budget.execution_percent.is_empty() {
            "—".to_owned()
        } else {
            format!("{}%", budget.execution_percent)
        }
    );
    line!(out, "");
    let by_state = |states: &[&str]| -> (i64, Decimal) {
        fig.requests
            .iter()
            .filter(|r| states.contains(&r.state.as_str()))
            .fold((0, Decimal::ZERO), |(n, a), r| {
                (n + r.requests, a + r.amount)
            })
    };
    let (all, all_amount) = by_state(&[
        "submitted",
        "bureau_approved",
        "bureau_rejected",
        "approved",
        "rejected",
        "disbursed",
    ]);
    let (paid, paid_amount) = by_state(&["disbursed"]);
    let (waiting, waiting_amount) = by_state(&["submitted", "bureau_approved", "approved"]);
    let (refused, _) = by_state(&["bureau_rejected", "rejected"]);
    line!(
        out,
        "全年责任部门提出资金申请{all}件{}元，已支付{paid}件{}元，审批或支付中{waiting}件{}元，未获批准{refused}件。",
        money::format(all_amount),
        money::format(paid_amount),
        money::format(waiting_amount)
    );
    line!(out, "");
    line!(out, "### （三）项目财务管理情况");
    line!(out, "");
    let paid_by = |method: PaymentMethod| -> (i64, Decimal) {
        budget
            .payments
            .iter()
            .filter(|p| p.method == method as i32)
            .fold((0, Decimal::ZERO), |(n, a), p| {
                (n + p.requests, a + amount(&p.amount))
            })
    };
    let (direct, direct_amount) = paid_by(PaymentMethod::Direct);
    let (authorized, authorized_amount) = paid_by(PaymentMethod::Authorized);
    let (cash, cash_amount) = paid_by(PaymentMethod::Cash);
    line!(
        out,
        "项目实施单位财务管理制度健全，资金支付形式为直接支付和授权支付，严禁现金支出：直接支付{direct}笔{}元，\
         授权支付{authorized}笔{}元，现金支出{}。",
        money::format(direct_amount),
        money::format(authorized_amount),
        if cash == 0 {
            "0元".to_owned()
        } else {
            format!("{cash}笔{}元", money::format(cash_amount))
        }
    );
    line!(out, "");
}

/// 三、项目实施及管理情况: the request chain, backlog work and relief, supervision.
fn management(out: &mut String, fig: &YearFigures) {
    let ind = &fig.indicators;
    line!(out, "## 三、项目实施及管理情况");
    line!(out, "");
    line!(out, "### （一）项目组织架构及实施流程");
    line!(out, "");
    let count = |states: &[&str]| -> i64 {
        fig.requests
            .iter()
            .filter(|r| states.contains(&r.state.as_str()))
            .map(|r| r.requests)
            .sum()
    };
    let decided = count(&[
        "bureau_approved",
        "bureau_rejected",
        "approved",
        "rejected",
        "disbursed",
    ]);
    let approved = count(&["approved", "rejected", "disbursed"]);
    line!(
        out,
        "资金使用坚持责任部门提出申请，信访局经局务会研究提出具体方案后报请上级分管领导审批再支出：全年经局务会\
         研究{decided}件，报请分管领导审批{approved}件，已支付{}件。",
        count(&["disbursed"])
    );
    line!(out, "");
    line!(out, "### （二）项目管理情况");
    line!(out, "");
    let (resolved, listed) = counts(&ind.backlog_resolution);
    let (relief, relief_amount) = fig
        .requests
        .iter()
        .filter(|r| r.relief && r.state == "disbursed")
        .fold((0, Decimal::ZERO), |(n, a), r| {
            (n + r.requests, a + r.amount)
        });
    line!(
        out,
        "列入台账的信访积案{listed}件，已化解{resolved}件（化解率{}），其中特殊疑难信访积案全年化解{}件；\
         支付困难帮扶救助{relief}笔{}元。",
        pct(&ind.backlog_resolution, 2),
        ind.special_difficult_resolved,
        money::format(relief_amount)
    );
    line!(out, "");
    line!(out, "### （三）项目监管情况");
    line!(out, "");
    line!(
        out,
        "项目资金支出时，对责任部门进行资金使用规范提醒，明确管理责任；研究决定资金方案的人员不得审批同一申请，\
         申请、研究、审批和支付各环节均有记录，业务部门对化解信访案件进行资料收集，了解项目实施的绩效情况。"
    );
    line!(out, "");
}

/// 四、项目绩效情况: what was done (visits, letters, reviews, funds), its effects (the rates, 环比 and 同比,
/// 两降两升) and the score table.
fn performance(out: &mut String, fig: &YearFigures, year: i32, rows: &[ScoreRow], total: Decimal) {
    let ind = &fig.indicators;
    line!(out, "## 四、项目绩效情况");
    line!(out, "");
    line!(out, "### （一）项目完成情况");
    line!(out, "");
    let county = level(fig, "county").cloned().unwrap_or_default();
    let city = level(fig, "city").cloned().unwrap_or_default();
    let province = level(fig, "province").cloned().unwrap_or_default();
    let national = level(fig, "national").cloned().unwrap_or_default();
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
    line!(out, "办理扫黑除恶转办{}件；", campaign.value);
    let budget = &fig.budget;
    let parts: Vec<String> = budget
        .categories
        .iter()
        .map(|c| format!("{}{}万元", c.name, wan(amount(&c.appropriated))))
        .collect();
    line!(
        out,
        "{year}年县级财政下达盐边县信访局重点信访工作经费{}万元{}；确定特殊疑难信访积案{}件及时主动化解，案结事了。",
        wan(amount(&budget.appropriated)),
        if parts.is_empty() {
            String::new()
        } else {
            format!("，其中{}", parts.join("、"))
        },
        ind.special_difficult_resolved
    );
    line!(out, "");
    line!(out, "### （二）项目效益情况");
    line!(out, "");
    line!(
        out,
        "受理信访件{}件，信访部门及时受理率{}，责任单位及时受理率{}和按期办结率{}。参评满意度评价{}件，其中：\
         对信访部门参评率达{}，群众满意率达{}，对责任部门群众参评率达{}，群众满意率达{}。",
        ind.matters_accepted,
        pct(&ind.timely_acceptance_office, 2),
        pct(&ind.timely_acceptance_unit, 2),
        pct(&ind.on_time_completion, 2),
        ind.evaluations,
        pct(&ind.participation_office, 1),
        pct(&ind.satisfaction_office, 1),
        pct(&ind.participation_unit, 1),
        pct(&ind.satisfaction_unit, 1)
    );
    if ind.evaluations_lapsed > 0 {
        line!(
            out,
            "另有{}件评价期满未参评，计入参评率的分母。",
            ind.evaluations_lapsed
        );
    }
    line!(out, "");
    line!(
        out,
        "| 指标 | 分子/分母 | 比率 | 上期（环比） | 上年同期（同比） |"
    );
    line!(out, "|---|---:|---:|---:|---:|");
    for (name, rate) in named_rates(fig) {
        let (n, d) = counts(rate);
        let r = rate.as_ref();
        line!(
            out,
            "| {name} | {n}/{d} | {} | {} | {} |",
            pct(rate, 2),
            compared(rate, r.and_then(|r| r.previous_period.as_ref())),
            compared(rate, r.and_then(|r| r.previous_year.as_ref()))
        );
    }
    line!(out, "");
    line!(
        out,
        "全年报告的上期即上年，环比与同比相同；比率的变化以百分点计。"
    );
    line!(out, "");
    line!(out, "“两降两升”完成情况（与上年同期相比）：");
    line!(out, "");
    two_down_two_up(out, &ind.two_down_two_up, year);
    line!(out, "");
    line!(out, "### （三）绩效指标完成情况");
    line!(out, "");
    line!(
        out,
        "| 一级指标 | 二级指标 | 三级指标 | 指标性质 | 指标值 | 实际完成值 | 分值 | 得分 |"
    );
    line!(out, "|---|---|---|---|---:|---:|---:|---:|");
    for r in rows {
        line!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.level1,
            r.level2,
            r.level3,
            r.nature,
            r.target,
            r.actual,
            r.points,
            model::fixed(r.score, 2)
        );
    }
    line!(out, "| 合计 | | | | | | 100 | {} |", model::fixed(total, 2));
    line!(out, "");
}

/// 五、评价结论及建议: the score and grade, the problems found (missed targets, 两降两升 not met, the
/// inconsistencies with their figures) and what to do about them.
fn conclusions(
    out: &mut String,
    fig: &YearFigures,
    year: i32,
    findings: &[Finding],
    (parts, total, grade): ([Decimal; 4], Decimal, &str),
) {
    line!(out, "## 五、评价结论及建议");
    line!(out, "");
    line!(out, "### （一）评价结论");
    line!(out, "");
    line!(
        out,
        "经自评，本项目绩效自评得分{}分，等级为“{grade}”：预算执行率{}分（满分10分），产出指标{}分（满分50分），\
         效益指标{}分（满分30分），满意度指标{}分（满分10分）。",
        model::fixed(total, 2),
        model::fixed(parts[0], 2),
        model::fixed(parts[1], 2),
        model::fixed(parts[2], 2),
        model::fixed(parts[3], 2)
    );
    line!(out, "");
    line!(out, "| 一级指标 | 分值 | 得分 |");
    line!(out, "|---|---:|---:|");
    for (label, (weight, score)) in ["预算执行率", "产出指标", "效益指标", "满意度指标"]
        .iter()
        .zip([10, 50, 30, 10].iter().zip(parts))
    {
        line!(out, "| {label} | {weight} | {} |", model::fixed(score, 2));
    }
    line!(out, "| 合计 | 100 | {} |", model::fixed(total, 2));
    line!(out, "");
    line!(out, "### （二）存在的问题");
    line!(out, "");
    let not_met: Vec<&TrendResult> = fig
        .indicators
        .two_down_two_up
        .iter()
        .filter(|r| !r.met)
        .collect();
    let performance: Vec<&Finding> = findings
        .iter()
        .filter(|f| matches!(f.kind, "target_missed" | "target_unmeasured" | "no_targets"))
        .collect();
    let data: Vec<&Finding> = findings
        .iter()
        .filter(|f| !matches!(f.kind, "target_missed" | "target_unmeasured" | "no_targets"))
        .collect();
    let mut n = 0;
    for f in &performance {
        n += 1;
        line!(out, "{n}. {}", f.message);
    }
    for r in &not_met {
        let Some(goal) = &r.goal else { continue };
        let is_rate = model::trend_indicator(&goal.indicator).is_some_and(|(_, rate)| rate);
        let shown = |v: &str| match (v.is_empty(), is_rate) {
            (true, _) => "无数据".to_owned(),
            (false, true) => format!("{v}%"),
            (false, false) => v.to_owned(),
        };
        let why = match (r.undetermined, r.value.is_empty(), r.previous.is_empty()) {
            (false, _, _) => "未达成",
            (true, false, true) => "上年无可比数据，无法比较",
            (true, true, false) => "本年无可比数据，无法比较",
            (true, _, _) => "两年均无可比数据",
        };
        n += 1;
        line!(
            out,
            "{n}. “两降两升”中{}应{}，{why}（{year}年{}，上年同期{}）。",
            goal.name,
            if goal.direction == TrendDirection::Down as i32 {
                "下降"
            } else {
                "上升"
            },
            shown(&r.value),
            shown(&r.previous)
        );
    }
    if !data.is_empty() {
        n += 1;
        line!(out, "{n}. 数据核对发现以下不一致：");
        for f in &data {
            line!(out, "   - {}", f.message);
        }
    }
    if n == 0 {
        line!(
            out,
            "各项绩效目标均已完成，“两降两升”均已达成，数据核对未发现不一致。"
        );
    }
    line!(out, "");
    line!(out, "### （三）相关建议");
    line!(out, "");
    let mut advice = Vec::new();
    if performance.iter().any(|f| f.kind != "no_targets") {
        advice.push(
            "对未完成的绩效目标分析原因，在九月年度计划执行情况汇总时及时调整资金安排，下一年度申报时合理设定目标值。",
        );
    }
    if performance.iter().any(|f| f.kind == "no_targets") {
        advice.push("按项目绩效申报要求设定年度绩效目标及其权重。");
    }
    if !not_met.is_empty() {
        advice.push(
            "针对“两降两升”未达成的指标，加强矛盾纠纷源头化解和网上信访引导，减少重复访、越级访。",
        );
    }
    if data.iter().any(|f| f.kind == "weights") {
        advice.push("重新分配各项绩效目标的权重，使其合计为100%。");
    }
    if data
        .iter()
        .any(|f| matches!(f.kind, "sum" | "rate_over_base" | "published" | "budget"))
    {
        advice.push("核对数据来源，更正报表中不一致的数字，确保上报数据与信访信息系统的记录一致。");
    }
    advice.push(
        "加强资金绩效管理相关制度、文件的学习，强化绩效目标管理，结合单位实际情况做好绩效管理工作。",
    );
    for (i, a) in advice.iter().enumerate() {
        line!(out, "{}. {a}", i + 1);
    }
}
