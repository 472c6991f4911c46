//! Indicator arithmetic as pure functions: rates, year-over-year changes, target completion and scores, the
//! self-evaluation grade, and the reconciliation of published figures (docs/indicators.md). Which
//! indicators there are is the table's to say (`super::indicators`).

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use xinfang_proto::v1::{CapFormula, Figure, TargetDirection, TrendDirection};

use super::indicators;

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// Half up (四舍五入, away from zero for a negative change), the way the bureau's reports round.
fn round_at(d: Decimal, places: u32) -> Decimal {
    d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
}

/// `numerator / denominator` as an exact fraction (1 = 100 %); `None` on an empty base. Means and target
/// completions start from this, never from a rounded percentage.
pub fn fraction(numerator: i64, denominator: i64) -> Option<Decimal> {
    if denominator == 0 {
        return None;
    }
    Some(Decimal::from(numerator) / Decimal::from(denominator))
}

/// `numerator / denominator` in percent, rounded once to `places` from the two counts; `None` on an empty
/// base. The API (two places) and the report (one or two) both print through this, so they agree digit
/// for digit: 83/85 is 97.65 at two places and 97.6 at one, never 97.7 (97.65 rounded again).
/// `docs/indicators.md`, "Rounding".
pub fn percent_at(numerator: i64, denominator: i64, places: u32) -> Option<Decimal> {
    if denominator == 0 {
        return None;
    }
    Some(round_at(
        Decimal::from(numerator) * HUNDRED / Decimal::from(denominator),
        places,
    ))
}

/// `numerator / denominator` in percent with two places; `None` on an empty base.
pub fn percent(numerator: i64, denominator: i64) -> Option<Decimal> {
    percent_at(numerator, denominator, 2)
}

/// [`percent_at`] as text with exactly `places` decimals; empty on an empty base.
pub fn percent_text(numerator: i64, denominator: i64, places: u32) -> String {
    percent_at(numerator, denominator, places)
        .map(|p| fixed(p, places))
        .unwrap_or_default()
}

/// The change from `previous` to `current` in percent (同比 or 环比), rounded once to `places` from the two
/// counts; `None` when the base is zero.
pub fn change_at(current: i64, previous: i64, places: u32) -> Option<Decimal> {
    if previous == 0 {
        return None;
    }
    Some(round_at(
        Decimal::from(current - previous) * HUNDRED / Decimal::from(previous),
        places,
    ))
}

/// How far the rate `now` (numerator, denominator) is from the rate `then`, in percentage points, rounded
/// once to `places` from the four counts; `None` when either has an empty base. 90/100 against 8/10 is
/// +10.00 points. docs/indicators.md, "环比".
pub fn points_change(now: (i64, i64), then: (i64, i64), places: u32) -> Option<Decimal> {
    if now.1 == 0 || then.1 == 0 {
        return None;
    }
    let cross =
        Decimal::from(now.0) * Decimal::from(then.1) - Decimal::from(then.0) * Decimal::from(now.1);
    Some(round_at(
        cross * HUNDRED / (Decimal::from(now.1) * Decimal::from(then.1)),
        places,
    ))
}

/// Year-over-year change in percent with two places; `None` when the base is zero.
pub fn yoy(current: i64, previous: i64) -> Option<Decimal> {
    change_at(current, previous, 2)
}

/// A count with the same months a year earlier (同比) and the preceding period of equal length (环比), each
/// change in percent with two places, empty on a zero base.
pub fn figure(value: i64, previous: i64, previous_period: i64) -> Figure {
    let text = |change: Option<Decimal>| change.map(|c| fixed(c, 2)).unwrap_or_default();
    Figure {
        value,
        previous,
        yoy_percent: text(yoy(value, previous)),
        previous_period,
        pop_percent: text(change_at(value, previous_period, 2)),
    }
}

/// A decimal printed with `places` decimals, as the bureau's reports print them.
pub fn fixed(d: Decimal, places: u32) -> String {
    let rounded = d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    format!("{rounded:.prec$}", prec = places as usize)
}

/// Completion of a target as a fraction (1 = met), by the rules of 财预〔2020〕10号 (full points when met,
/// in proportion when missed). Targets are never negative (SetTarget refuses them). A target of zero:
/// "at most 0" is met by 0 only and anything above scores 0, the limit of both cap formulas as the target
/// goes to zero; "at least 0" is met by anything. docs/indicators.md, "Targets".
pub fn completion(
    direction: TargetDirection,
    target: Decimal,
    actual: Decimal,
    cap_formula: CapFormula,
) -> Decimal {
    let ratio = |a: Decimal, b: Decimal| if b.is_zero() { Decimal::ZERO } else { a / b };
    match direction {
        TargetDirection::AtLeast if target <= Decimal::ZERO => Decimal::ONE,
        TargetDirection::AtLeast => ratio(actual, target),
        TargetDirection::AtMost => {
            if actual <= target {
                Decimal::ONE
            } else if target <= Decimal::ZERO {
                Decimal::ZERO
            } else {
                match cap_formula {
                    CapFormula::Deviation => {
                        (Decimal::ONE - (actual - target) / target).max(Decimal::ZERO)
                    }
                    _ => target / actual,
                }
            }
        }
        TargetDirection::Exactly => {
            if actual == target {
                Decimal::ONE
            } else {
                ratio(actual.min(target), actual.max(target))
            }
        }
        TargetDirection::Unspecified => Decimal::ZERO,
    }
}

/// The points the targets share: the output part (产出指标) of the self-evaluation.
pub const OUTPUT_POINTS: Decimal = Decimal::from_parts(50, 0, 0, false, 0);

/// The weights the targets of a year score by, in percent of [`OUTPUT_POINTS`]: a target's own weight when
/// set, and for the others an equal share of what the set weights leave of 100 (none when they leave
/// nothing). docs/indicators.md, "Targets".
pub fn effective_weights(weights: &[Option<Decimal>]) -> Vec<Decimal> {
    let set: Decimal = weights.iter().flatten().sum();
    let unset = weights.iter().filter(|w| w.is_none()).count();
    let share = if unset == 0 {
        Decimal::ZERO
    } else {
        (HUNDRED - set).max(Decimal::ZERO) / Decimal::from(unset as i64)
    };
    weights.iter().map(|w| w.unwrap_or(share)).collect()
}

/// The points a target of `weight` percent is worth: 50 × weight ÷ 100.
pub fn target_points(weight: Decimal) -> Decimal {
    OUTPUT_POINTS * weight / HUNDRED
}

/// Why a target may not take `weight` when the year's other targets have set `others` between them: each
/// weight is 0–100, and targets are set one at a time, so a year's set weights may add up to at most 100
/// (GetTargetCompletion and the report flag a year that does not reach exactly 100).
pub fn weight_refusal(weight: Decimal, others: Decimal) -> Option<String> {
    if weight < Decimal::ZERO || weight > HUNDRED {
        return Some("a share of the output points in percent, 0 to 100".into());
    }
    let total = weight + others;
    (total > HUNDRED).then(|| {
        format!(
            "the year's weights would add up to {} (the other targets have {}); at most 100",
            total.normalize(),
            others.normalize()
        )
    })
}

/// What is wrong with a year's weights, in Chinese for the report; `None` when the weights the targets
/// score by add up to exactly 100 and every target has some.
pub fn weights_problem(weights: &[Option<Decimal>]) -> Option<String> {
    if weights.is_empty() {
        return None;
    }
    let effective = effective_weights(weights);
    let total: Decimal = effective.iter().sum();
    let set: Vec<String> = weights
        .iter()
        .flatten()
        .map(|w| w.normalize().to_string())
        .collect();
    if total != HUNDRED {
        return Some(format!(
            "各项绩效目标的权重合计为{}，应为100（已设定的权重：{}）。",
            fixed(total, 2),
            if set.is_empty() {
                "无".to_owned()
            } else {
                set.join("、")
            }
        ));
    }
    let starved = weights
        .iter()
        .zip(&effective)
        .filter(|(w, e)| w.is_none() && e.is_zero())
        .count();
    (starved > 0).then(|| {
        format!(
            "已设定的权重（{}）合计已达100，{starved}项未设权重的目标分值为零。",
            set.join("、")
        )
    })
}

/// The score of a target: its points times its completion, never more than its points. Unrounded, so that
/// shares of the 50 points (50 ÷ 3 each) add up to exactly 50; round the total for display.
pub fn target_score(points: Decimal, completion: Decimal) -> Decimal {
    points * completion.min(Decimal::ONE)
}

/// The share of `year` gone by the end of `through_month`, by days: 182 of 366 by the end of June 2024.
pub fn elapsed_share(year: i32, through_month: u32) -> Decimal {
    let start = NaiveDate::from_ymd_opt(year, 1, 1);
    let next_year = NaiveDate::from_ymd_opt(year + 1, 1, 1);
    let through = if through_month >= 12 {
        next_year
    } else {
        NaiveDate::from_ymd_opt(year, through_month.max(1) + 1, 1)
    };
    match (start, through, next_year) {
        (Some(start), Some(through), Some(end)) => {
            let gone = (through - start).num_days();
            let days = (end - start).num_days();
            Decimal::from(gone) / Decimal::from(days)
        }
        _ => Decimal::ONE,
    }
}

/// Mid-year check: is the actual on pace to meet the target by year end, given the share of the year gone
/// ([`elapsed_share`])? A count grows through the year, so its target is prorated; a rate is a rate of the
/// months so far and is compared with the target as it is. An exact count is on pace while it has not
/// passed the target. docs/indicators.md, "Targets".
pub fn on_pace(
    direction: TargetDirection,
    target: Decimal,
    actual: Decimal,
    elapsed: Decimal,
    is_rate: bool,
) -> bool {
    let pace = if is_rate { target } else { target * elapsed };
    match direction {
        TargetDirection::AtMost => actual <= pace,
        TargetDirection::AtLeast => actual >= pace,
        TargetDirection::Exactly if is_rate => actual == target,
        TargetDirection::Exactly => actual <= target,
        TargetDirection::Unspecified => true,
    }
}

/// Why four goals are not a 两降两升: exactly four different known indicators, two to fall and two to rise.
/// `Err((field, why))` names the first goal at fault, or `goals` for the set as a whole.
pub fn two_down_two_up_refusal(goals: &[(&str, TrendDirection)]) -> Result<(), (String, String)> {
    for (i, (indicator, direction)) in goals.iter().enumerate() {
        if indicators::trend(indicator).is_none() {
            return Err((
                format!("goals[{i}].indicator"),
                format!("one of {}", indicators::trend_keys().join(", ")),
            ));
        }
        if goals[..i].iter().any(|(other, _)| other == indicator) {
            return Err((
                format!("goals[{i}].indicator"),
                format!("{indicator} is listed twice"),
            ));
        }
        if *direction == TrendDirection::Unspecified {
            return Err((format!("goals[{i}].direction"), "DOWN or UP".into()));
        }
    }
    let down = goals
        .iter()
        .filter(|(_, d)| *d == TrendDirection::Down)
        .count();
    let up = goals
        .iter()
        .filter(|(_, d)| *d == TrendDirection::Up)
        .count();
    if goals.len() != 4 || down != 2 || up != 2 {
        return Err((
            "goals".into(),
            format!(
                "two down and two up (两降两升): {} given, {down} down and {up} up",
                goals.len()
            ),
        ));
    }
    Ok(())
}

/// The value of an indicator over a period, before anything is divided or rounded: a count, or a rate as
/// (numerator, denominator). 两降两升 compares two of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendValue {
    Count(i64),
    Rate(i64, i64),
}

/// Whether an indicator moved the way its goal says from `then` (the same months a year earlier) to `now`:
/// (met, undetermined). A fall is met by a lower value or by zero (nothing left to reduce); a rise by a
/// higher value or by a rate of 100 % (nothing left to gain). A rate without a base in either period cannot
/// be compared (undetermined, not met) unless it is already at its best. Rates are compared exactly, from
/// their counts.
pub fn trend_met(direction: TrendDirection, now: TrendValue, then: TrendValue) -> (bool, bool) {
    let down = match direction {
        TrendDirection::Down => true,
        TrendDirection::Up => false,
        TrendDirection::Unspecified => return (false, true),
    };
    match (now, then) {
        (TrendValue::Count(n), TrendValue::Count(t)) => {
            (if down { n < t || n == 0 } else { n > t }, false)
        }
        (TrendValue::Rate(n, d), then) => {
            let at_best = d != 0 && if down { n == 0 } else { n == d };
            if at_best {
                return (true, false);
            }
            let TrendValue::Rate(tn, td) = then else {
                return (false, true);
            };
            if d == 0 || td == 0 {
                return (false, true);
            }
            // n/d against tn/td without dividing: both denominators are positive.
            let (a, b) = (
                i128::from(n) * i128::from(td),
                i128::from(tn) * i128::from(d),
            );
            (if down { a < b } else { a > b }, false)
        }
        (TrendValue::Count(_), TrendValue::Rate(..)) => (false, true),
    }
}

/// Budget execution score: 10 × min(disbursed ÷ appropriated, 1), unrounded: the report adds it to the
/// other parts and rounds the total once.
pub fn execution_score(appropriated: Decimal, disbursed: Decimal) -> Decimal {
    if appropriated.is_zero() {
        return Decimal::ZERO;
    }
    Decimal::TEN * (disbursed / appropriated).min(Decimal::ONE)
}

/// `part / whole` of two amounts in percent, rounded once to `places`; `None` when `whole` is zero.
pub fn share_at(part: Decimal, whole: Decimal, places: u32) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    Some(round_at(part * HUNDRED / whole, places))
}

/// The mean of the fractions that have a base (1 = 100 %), from the counts; `None` when none has.
pub fn mean_fraction(rates: &[(i64, i64)]) -> Option<Decimal> {
    let values: Vec<Decimal> = rates.iter().filter_map(|&(n, d)| fraction(n, d)).collect();
    if values.is_empty() {
        return None;
    }
    let sum: Decimal = values.iter().sum();
    Some(sum / Decimal::from(values.len() as i64))
}

/// 优 90–100, 良 80–89, 中 60–79, 差 below 60.
pub fn grade(total: Decimal) -> &'static str {
    if total >= Decimal::from(90) {
        "优"
    } else if total >= Decimal::from(80) {
        "良"
    } else if total >= Decimal::from(60) {
        "中"
    } else {
        "差"
    }
}

/// Something the report found that does not add up or was not met, with the figures involved: what
/// `SelfEvaluationReport.findings` carries and its `inconsistencies` print. docs/indicators.md, "The
/// report".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: &'static str,
    pub message: String,
    pub figures: Vec<(String, String)>,
}

impl Finding {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            kind,
            message: message.into(),
            figures: Vec::new(),
        }
    }

    pub fn with(mut self, label: impl Into<String>, value: impl ToString) -> Finding {
        self.figures.push((label.into(), value.to_string()));
        self
    }
}

/// Parts that should add up to their total (counts or amounts): `None` when they do, otherwise a `sum`
/// finding naming every part, their sum and the total. An empty set of parts adds up to zero.
pub fn sum_check<T>(what: &str, parts: &[(&str, T)], total_label: &str, total: T) -> Option<Finding>
where
    T: Copy + PartialEq + std::iter::Sum<T> + std::fmt::Display,
{
    let sum: T = parts.iter().map(|(_, v)| *v).sum();
    if sum == total {
        return None;
    }
    let listed: Vec<String> = parts.iter().map(|(l, v)| format!("{l}{v}")).collect();
    let mut f = Finding::new(
        "sum",
        format!(
            "{what}：{}合计{sum}，与{total_label}{total}不符。",
            listed.join("、")
        ),
    );
    for (l, v) in parts {
        f = f.with(*l, v);
    }
    Some(f.with("合计", sum).with(total_label, total))
}

/// A rate whose numerator exceeds its denominator (or is negative) cannot come from counted cases.
pub fn rate_check(name: &str, numerator: i64, denominator: i64) -> Option<Finding> {
    (numerator > denominator || numerator < 0).then(|| {
        Finding::new(
            "rate_over_base",
            format!("{name}的分子{numerator}大于分母{denominator}，比率超过100%。"),
        )
        .with("分子", numerator)
        .with("分母", denominator)
    })
}

/// [`weights_problem`] as a finding with the weights set and their effective total.
pub fn weights_finding(weights: &[Option<Decimal>]) -> Option<Finding> {
    let message = weights_problem(weights)?;
    let total: Decimal = effective_weights(weights).iter().sum();
    let mut f = Finding::new("weights", message).with("权重合计", fixed(total, 2));
    for w in weights.iter().flatten() {
        f = f.with("已设定权重", w.normalize());
    }
    Some(f)
}

/// Why a published year-over-year percentage on a published current value cannot have come from records:
/// the base it implies is not a whole number (beyond the rounding of the printed percentage), or a fall of
/// 100% is printed next to a non-zero current value. `None` when some whole base fits.
pub fn impossible_yoy(
    current: i64,
    printed_percent: Decimal,
    printed_places: u32,
) -> Option<String> {
    if printed_percent == -HUNDRED {
        return (current != 0).then(|| format!("下降100%意味着本年为零，但报告为{current}"));
    }
    // Any whole base b with yoy(current, b) rounding to the printed percentage fits.
    let half_step = Decimal::new(5, printed_places + 1);
    let low = printed_percent - half_step;
    let high = printed_percent + half_step;
    let factor = |p: Decimal| Decimal::ONE + p / HUNDRED;
    // b = current / (1 + p/100), decreasing in p.
    let (fl, fh) = (factor(low), factor(high));
    if fl <= Decimal::ZERO || fh <= Decimal::ZERO {
        return Some("该百分比意味着上年为负数".into());
    }
    let b_max = Decimal::from(current) / fl;
    let b_min = Decimal::from(current) / fh;
    let first = b_min.ceil();
    if first <= b_max && first > Decimal::ZERO {
        return None;
    }
    Some(format!(
        "本年{current}、同比{}%意味着上年为{}，不是整数",
        fixed(printed_percent, printed_places),
        fixed(Decimal::from(current) / factor(printed_percent), 2)
    ))
}

#[cfg(test)]
mod tests;
