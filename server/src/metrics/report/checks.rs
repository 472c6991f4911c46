//! What the report finds questionable (`SelfEvaluationReport.findings`): rates on an empty base or above
//! 100 %, targets missed or not measured, weights, the budget, parts that do not add up to their totals, and
//! the figures the bureau published against the records (docs/indicators.md, "Inconsistencies").

use std::str::FromStr;

use rust_decimal::Decimal;
use xinfang_proto::{
    money,
    v1::{PaymentMethod, VisitFigures},
};

use super::{
    text::{amount, change, sign, value, wan},
    year::YearFigures,
};
use crate::metrics::model::{self, Finding, TrendValue};

/// Figures the bureau published before, to reconcile a computed report with (`data/published-figures.csv`).
const PUBLISHED_CSV: &str = include_str!("../../../data/published-figures.csv");

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
                let figures = fig.level(lvl)?;
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

/// Every check the records allow: rates on an empty base or above 100 %, targets not measured or missed,
/// weights, the budget and its documents and payments, visits and channels against their totals, and the
/// published figures. docs/indicators.md, "The report".
pub(super) fn check(fig: &YearFigures, year: i32) -> Vec<Finding> {
    let mut findings = Vec::new();
    // Every rate of the table: one of the report's table on an empty base, any above 100 %.
    for (row, now, _, _) in fig.indicators.rows() {
        let TrendValue::Rate(n, d) = now else {
            continue;
        };
        if row.in_report && d == 0 {
            findings.push(Finding::new(
                "empty_base",
                format!("{}的分母为零，该比率不计。", row.name),
            ));
        }
        findings.extend(model::rate_check(row.name, n, d));
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
    .map(|(name, key)| (*name, fig.level(key).cloned().unwrap_or_default()))
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
