//! The score table of the self-evaluation (10 / 50 / 30 / 10; docs/indicators.md, "The score table"): its
//! rows and the four parts' scores, unrounded, so that the total is rounded once.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::{
    text::{amount, output_kind, pct, sign, unit},
    year::YearFigures,
};
use crate::metrics::{
    indicators::Part,
    model::{self, TrendValue},
};

/// One row of the score table.
pub(super) struct ScoreRow {
    pub level1: &'static str,
    pub level2: &'static str,
    pub level3: String,
    pub nature: &'static str,
    pub target: String,
    pub actual: String,
    pub points: String,
    pub score: Decimal,
}

/// The score table's rows and the four parts' scores, unrounded: budget execution 10 × min(B/A, 1);
/// outputs from the targets; effects 30 and satisfaction 10 shared by their rates that have a base, each
/// rate scoring its share × min(rate, 1).
pub(super) fn rows(fig: &YearFigures) -> (Vec<ScoreRow>, [Decimal; 4]) {
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
    // Effects and satisfaction: the rates the table puts in each part, in its order.
    let mut part = |part: Part, level1: &'static str, level2: &'static str, weight: Decimal| {
        let rates: Vec<(&str, (i64, i64))> = fig
            .indicators
            .rows()
            .filter(|(row, ..)| row.score == Some(part))
            .map(|(row, now, ..)| match now {
                TrendValue::Rate(n, d) => (row.name, (n, d)),
                TrendValue::Count(_) => (row.name, (0, 0)),
            })
            .collect();
        let based = rates.iter().filter(|(_, (_, d))| *d != 0).count();
        let share = if based == 0 {
            Decimal::ZERO
        } else {
            weight / Decimal::from(based as i64)
        };
        let mut sum = Decimal::ZERO;
        for (name, (n, d)) in rates {
            let fraction = model::fraction(n, d);
            let score = fraction.map_or(Decimal::ZERO, |f| share * f.min(Decimal::ONE));
            sum += score;
            rows.push(ScoreRow {
                level1,
                level2,
                level3: name.to_owned(),
                nature: "≥",
                target: "100%".into(),
                actual: pct((n, d), 2),
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
    let effects = part(Part::Effects, "效益指标", "社会效益指标", Decimal::from(30));
    let satisfaction = part(
        Part::Satisfaction,
        "满意度指标",
        "服务对象满意度指标",
        Decimal::TEN,
    );
    (
        rows,
        [budget_score, fig.targets.total, effects, satisfaction],
    )
}
