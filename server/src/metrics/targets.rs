//! Targets (绩效目标): setting one under the year's weights, and how far each is met, with its share of the
//! 50 output points (docs/indicators.md, "Targets").

use rust_decimal::Decimal;
use sqlx::PgConnection;
use xinfang_proto::v1::{CapFormula, Target, TargetCompletion, TargetDirection, TargetResult};

use super::{
    figures::{self, Asks},
    indicators,
    model::{self, TrendValue},
    period::Span,
    store::{self, TargetRow},
};
use crate::error::AppError;

/// Saves a target (validated by the caller: a target key of the table, a value, a weight of 0–100). Targets
/// are set one at a time, so the year's weights are checked together under a lock of the year: two
/// concurrent SetTargets cannot each see room for their weight and add up past 100.
pub async fn set(conn: &mut PgConnection, row: &TargetRow) -> Result<TargetRow, AppError> {
    if let Some(weight) = row.weight {
        store::lock_target_year(conn, row.year).await?;
        let others = store::other_weights(conn, row.year, &row.indicator).await?;
        if let Some(why) = model::weight_refusal(weight, others) {
            return Err(AppError::invalid("target.weight", why));
        }
    }
    Ok(store::upsert_target(conn, row).await?)
}

/// Whether a target key names a rate (a percentage) rather than a count.
fn is_rate(indicator: &str) -> bool {
    indicators::target(indicator).is_some_and(|(_, row)| row.is_rate())
}

pub fn to_proto(t: &TargetRow) -> Target {
    Target {
        year: t.year,
        indicator: t.indicator.clone(),
        direction: i32::from(t.direction),
        value: t.value.normalize().to_string(),
        weight: t
            .weight
            .map(|w| w.normalize().to_string())
            .unwrap_or_default(),
        cap_formula: i32::from(t.cap_formula),
        name: t.name.clone(),
    }
}

/// The actual value of the indicator a target names, from the county's values of the table: a count, or
/// a rate's exact percentage (completion and score start from the counts, not from the rate's two-place
/// text: docs/indicators.md, "Rounding"). `None` for a key no target may name.
fn actual(indicator: &str, values: &[TrendValue]) -> Option<Decimal> {
    let (i, _) = indicators::target(indicator)?;
    match values[i] {
        TrendValue::Count(n) => Some(Decimal::from(n)),
        TrendValue::Rate(n, d) => model::fraction(n, d).map(|f| f * Decimal::ONE_HUNDRED),
    }
}

/// The completion of a year's targets: the response, and the unrounded figures the report checks and adds
/// up (a completion of 99.996 % prints as "100.00" but is not met).
pub struct TargetScores {
    pub completion: TargetCompletion,
    /// Per result, in order: the completion as a fraction (1 = met), `None` without an actual value.
    pub fractions: Vec<Option<Decimal>>,
    /// The weights as set, in order (`None`: an equal share of the rest).
    pub weights: Vec<Option<Decimal>>,
    pub total: Decimal,
}

/// Completion of every target of a year through a month (12: the whole year), the county's figures as of
/// `today`.
pub async fn completion(
    conn: &mut PgConnection,
    year: i32,
    through_month: u32,
    today: chrono::NaiveDate,
) -> Result<TargetScores, AppError> {
    let span =
        Span::year(year, through_month).ok_or_else(|| AppError::invalid("year", "out of range"))?;
    let targets = store::targets(conn, year).await?;
    let values = if targets.is_empty() {
        Vec::new()
    } else {
        figures::values(conn, span, None, Asks::default(), today).await?
    };
    let weights: Vec<Option<Decimal>> = targets.iter().map(|t| t.weight).collect();
    let effective = model::effective_weights(&weights);
    let weight_total: Decimal = effective.iter().sum();
    let elapsed = model::elapsed_share(year, through_month);
    let mut results = Vec::new();
    let mut fractions = Vec::new();
    let mut total = Decimal::ZERO;
    for (t, &weight) in targets.iter().zip(&effective) {
        let points = model::target_points(weight);
        let direction = TargetDirection::try_from(i32::from(t.direction)).unwrap_or_default();
        let formula = CapFormula::try_from(i32::from(t.cap_formula)).unwrap_or_default();
        let Some(actual) = actual(&t.indicator, &values) else {
            results.push(TargetResult {
                target: Some(to_proto(t)),
                effective_weight: model::fixed(weight, 2),
                points: model::fixed(points, 2),
                ..TargetResult::default()
            });
            fractions.push(None);
            continue;
        };
        let completion = model::completion(direction, t.value, actual, formula);
        let score = model::target_score(points, completion);
        total += score;
        fractions.push(Some(completion));
        let rate = is_rate(&t.indicator);
        results.push(TargetResult {
            target: Some(to_proto(t)),
            actual: if rate {
                model::fixed(actual, 2)
            } else {
                actual.normalize().to_string()
            },
            completion_percent: model::fixed(completion * Decimal::ONE_HUNDRED, 2),
            score: model::fixed(score, 2),
            pace_percent: model::fixed(elapsed * Decimal::ONE_HUNDRED, 2),
            on_pace: model::on_pace(direction, t.value, actual, elapsed, rate),
            effective_weight: model::fixed(weight, 2),
            points: model::fixed(points, 2),
        });
    }
    Ok(TargetScores {
        completion: TargetCompletion {
            year,
            through_month: through_month as i32,
            results,
            output_score: model::fixed(total, 2),
            weight_total: model::fixed(weight_total, 2),
            weights_balanced: model::weights_problem(&weights).is_none(),
        },
        fractions,
        weights,
        total,
    })
}
