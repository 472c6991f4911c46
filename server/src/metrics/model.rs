//! Indicator arithmetic as pure functions: rates, year-over-year changes, target completion and scores, the
//! self-evaluation grade, and the reconciliation of published figures.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use xinfang_proto::v1::{CapFormula, TargetDirection, TrendDirection};

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

/// The indicators 两降两升 may name: (key, Chinese name, is a rate). No official definition fixes the four,
/// so a year's four are configuration. docs/indicators.md, "两降两升".
pub const TREND_INDICATORS: [(&str, &str, bool); 18] = [
    ("total_volume", "信访总量", false),
    ("visit_batches", "来访批次", false),
    ("visit_persons", "来访人次", false),
    ("national_batches", "进京访批次", false),
    ("province_batches", "赴省访批次", false),
    ("leapfrog_batches", "越级访批次", false),
    ("collective_batches", "集体访批次", false),
    ("repeat_batches", "重复访批次", false),
    ("letters_and_online", "来信及网上信访件数", false),
    ("online_share", "网上信访占比", true),
    ("satisfaction_office", "信访部门群众满意率", true),
    ("satisfaction_unit", "责任单位群众满意率", true),
    ("participation_office", "信访部门参评率", true),
    ("participation_unit", "责任单位参评率", true),
    ("timely_acceptance_office", "信访部门及时受理率", true),
    ("timely_acceptance_unit", "责任单位及时受理率", true),
    ("on_time_completion", "按期办结率", true),
    ("repeat_rate", "重复信访率", true),
];

/// The common reading of 两降两升 when a year has none of its own: 信访总量↓, 进京访↓, 网上信访占比↑ and
/// 群众满意率↑ (the responsible units' satisfaction: the outcome the petitioners rate).
pub const DEFAULT_TWO_DOWN_TWO_UP: [(&str, TrendDirection); 4] = [
    ("total_volume", TrendDirection::Down),
    ("national_batches", TrendDirection::Down),
    ("online_share", TrendDirection::Up),
    ("satisfaction_unit", TrendDirection::Up),
];

/// The Chinese name of a trend indicator and whether it is a rate; `None` for an unknown one.
pub fn trend_indicator(key: &str) -> Option<(&'static str, bool)> {
    TREND_INDICATORS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, name, rate)| (*name, *rate))
}

/// Why four goals are not a 两降两升: exactly four different known indicators, two to fall and two to rise.
/// `Err((field, why))` names the first goal at fault, or `goals` for the set as a whole.
pub fn two_down_two_up_refusal(goals: &[(&str, TrendDirection)]) -> Result<(), (String, String)> {
    for (i, (indicator, direction)) in goals.iter().enumerate() {
        if trend_indicator(indicator).is_none() {
            let known: Vec<&str> = TREND_INDICATORS.iter().map(|(k, _, _)| *k).collect();
            return Err((
                format!("goals[{i}].indicator"),
                format!("one of {}", known.join(", ")),
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

/// The value of a trend indicator over a period: a count, or a rate as (numerator, denominator).
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

/// A rate whose numerator exceeds its denominator (or is negative) cannot come from counted matters.
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
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn round2(x: Decimal) -> Decimal {
        round_at(x, 2)
    }

    #[test]
    fn rates_of_the_seed() {
        assert_eq!(percent(416, 424), Some(d("98.11")));
        assert_eq!(percent(86, 87), Some(d("98.85")));
        assert_eq!(percent(84, 86), Some(d("97.67")));
        assert_eq!(percent(81, 85), Some(d("95.29")));
        assert_eq!(percent(1, 0), None);
        assert_eq!(fixed(d("98.85"), 1), "98.9");
        assert_eq!(fixed(d("97.67"), 1), "97.7");
    }

    #[test]
    fn every_percentage_is_rounded_once_from_its_counts() {
        // 83/85 = 97.647…: two places 97.65, one place 97.6 (97.65 rounded again would be 97.7).
        assert_eq!(percent_at(83, 85, 2), Some(d("97.65")));
        assert_eq!(percent_at(83, 85, 1), Some(d("97.6")));
        assert_eq!(percent_text(83, 85, 1), "97.6");
        assert_eq!(percent_text(83, 85, 2), "97.65");
        assert_eq!(percent_text(86, 87, 1), "98.9");
        assert_eq!(percent_text(1, 0, 1), "");
        // Half up: 1/8 = 12.5 % → 13 at no places; a fall is rounded away from zero like a rise.
        assert_eq!(percent_at(1, 8, 0), Some(d("13")));
        assert_eq!(change_at(5, 11, 1), Some(d("-54.5")));
        assert_eq!(change_at(5, 11, 2), Some(d("-54.55")));
        assert_eq!(change_at(17, 11, 1), Some(d("54.5")));
        assert_eq!(change_at(7, 8, 1), Some(d("-12.5")));
        assert_eq!(change_at(7, 8, 0), Some(d("-13")));
        assert_eq!(change_at(3, 0, 1), None);
        assert_eq!(share_at(d("83"), d("85"), 1), Some(d("97.6")));
        // A mean starts from the fractions: (83/85 + 1) / 2, not from 97.65 and 100.
        assert_eq!(
            mean_fraction(&[(83, 85), (1, 1), (0, 0)]).map(|m| round_at(m * HUNDRED, 3)),
            Some(d("98.824"))
        );
        assert_eq!(mean_fraction(&[(0, 0)]), None);
        // Rates change by percentage points, rounded once: 83/85 against 1/3 is 97.647… − 33.333….
        assert_eq!(points_change((83, 85), (1, 3), 2), Some(d("64.31")));
        assert_eq!(points_change((90, 100), (8, 10), 2), Some(d("10.00")));
        assert_eq!(points_change((1, 3), (2, 3), 1), Some(d("-33.3")));
        assert_eq!(points_change((1, 3), (0, 0), 2), None);
        assert_eq!(points_change((0, 0), (1, 3), 2), None);
    }

    #[test]
    fn year_over_year_of_the_seed() {
        assert_eq!(yoy(305, 484), Some(d("-36.98")));
        assert_eq!(fixed(yoy(305, 484).unwrap(), 1), "-37.0");
        assert_eq!(yoy(1137, 1357), Some(d("-16.21")));
        assert_eq!(yoy(46, 74), Some(d("-37.84")));
        assert_eq!(yoy(158, 231), Some(d("-31.60")));
        assert_eq!(yoy(343, 389), Some(d("-11.83")));
        assert_eq!(yoy(3, 4), Some(d("-25.00")));
        assert_eq!(yoy(3, 0), None);
    }

    #[test]
    fn the_province_line_cannot_come_from_records() {
        assert!(impossible_yoy(13, d("-100"), 0).is_some());
        let why = impossible_yoy(9, d("33.3"), 1).unwrap();
        assert!(why.contains("6.75"), "{why}");
        // Consistent lines pass.
        assert!(impossible_yoy(305, d("-37.0"), 1).is_none());
        assert!(impossible_yoy(1137, d("-16.2"), 1).is_none());
        assert!(impossible_yoy(343, d("-11.83"), 2).is_none());
        assert!(impossible_yoy(3, d("-25"), 0).is_none());
    }

    #[test]
    fn target_completion_and_scores() {
        let at_most = TargetDirection::AtMost;
        assert_eq!(
            completion(at_most, d("2000"), d("1137"), CapFormula::Ratio),
            Decimal::ONE
        );
        assert_eq!(
            round2(completion(at_most, d("2000"), d("2300"), CapFormula::Ratio) * HUNDRED),
            d("86.96")
        );
        assert_eq!(
            completion(at_most, d("2000"), d("2300"), CapFormula::Deviation),
            d("0.85")
        );
        assert_eq!(
            completion(TargetDirection::AtLeast, d("4"), d("4"), CapFormula::Ratio),
            Decimal::ONE
        );
        assert_eq!(
            completion(TargetDirection::AtLeast, d("4"), d("3"), CapFormula::Ratio),
            d("0.75")
        );
        assert_eq!(target_score(d("16.67"), d("1.2")), d("16.67"));
        assert_eq!(
            completion(at_most, d("2000"), d("2300"), CapFormula::Unspecified),
            completion(at_most, d("2000"), d("2300"), CapFormula::Ratio)
        );
        let third = Decimal::from(50) / Decimal::from(3);
        assert_eq!(
            round2(target_score(third, Decimal::ONE) * Decimal::from(3)),
            d("50")
        );
        assert!(on_pace(at_most, d("2000"), d("1400"), d("0.75"), false));
        assert!(!on_pace(at_most, d("2000"), d("1600"), d("0.75"), false));
    }

    #[test]
    fn the_mid_year_check() {
        // Days, not months: 182 of 366 days by the end of June 2024, 273 of 365 by September 2021.
        assert_eq!(round2(elapsed_share(2024, 6) * HUNDRED), d("49.73"));
        assert_eq!(round2(elapsed_share(2021, 9) * HUNDRED), d("74.79"));
        assert_eq!(elapsed_share(2020, 12), Decimal::ONE);
        let half = elapsed_share(2024, 6);
        let (at_most, at_least) = (TargetDirection::AtMost, TargetDirection::AtLeast);
        // Counts are prorated: 4 a year is 1.99 by June.
        assert!(!on_pace(at_most, d("4"), d("2"), half, false));
        assert!(on_pace(at_most, d("4"), d("1"), half, false));
        assert!(on_pace(at_least, d("4"), d("2"), half, false));
        // Rates are not: 50 % is behind a target of 95 % whatever the month, 96 % is ahead.
        assert!(!on_pace(at_least, d("95"), d("50"), half, true));
        assert!(on_pace(at_least, d("95"), d("96"), half, true));
        assert!(!on_pace(at_most, d("5"), d("6"), half, true));
        // Exactly: a rate must be it, a count must not have passed it.
        let exactly = TargetDirection::Exactly;
        assert!(on_pace(exactly, d("10"), d("3"), half, false));
        assert!(!on_pace(exactly, d("10"), d("11"), half, false));
        assert!(!on_pace(exactly, d("100"), d("99"), half, true));
    }

    #[test]
    fn weights_share_the_output_points() {
        let w = |s: &str| Some(d(s));
        // Unweighted targets share what the set weights leave.
        assert_eq!(
            effective_weights(&[w("40"), None, None]),
            vec![d("40"), d("30"), d("30")]
        );
        assert_eq!(effective_weights(&[w("100"), None]), vec![d("100"), d("0")]);
        assert_eq!(target_points(d("60")), d("30"));
        let third = effective_weights(&[None, None, None]);
        assert_eq!(
            round2(third.iter().map(|w| target_points(*w)).sum::<Decimal>()),
            d("50")
        );
        // 0–100 each, at most 100 together.
        assert!(weight_refusal(d("101"), Decimal::ZERO).is_some());
        assert!(weight_refusal(d("-1"), Decimal::ZERO).is_some());
        assert!(weight_refusal(d("50"), d("50")).is_none());
        let why = weight_refusal(d("50"), d("60")).unwrap();
        assert!(why.contains("110") && why.contains("60"), "{why}");
        // A year whose weights do not reach 100, or leave unweighted targets nothing, is flagged.
        assert_eq!(weights_problem(&[]), None);
        assert_eq!(weights_problem(&[None, None]), None);
        assert_eq!(weights_problem(&[w("40"), None]), None);
        assert_eq!(weights_problem(&[w("40"), w("60")]), None);
        let short = weights_problem(&[w("60"), w("30")]).unwrap();
        assert!(
            short.contains("90.00") && short.contains("60、30"),
            "{short}"
        );
        let starved = weights_problem(&[w("100"), None]).unwrap();
        assert!(starved.contains("1项"), "{starved}");
    }

    #[test]
    fn targets_of_zero() {
        let (at_most, at_least) = (TargetDirection::AtMost, TargetDirection::AtLeast);
        for formula in [CapFormula::Ratio, CapFormula::Deviation] {
            // A cap of zero is met by zero only; anything above it is the formula's limit as the target
            // goes to zero: target ÷ actual → 0, 1 − (actual − target) ÷ target → −∞, floored at 0.
            assert_eq!(completion(at_most, d("0"), d("0"), formula), Decimal::ONE);
            assert_eq!(completion(at_most, d("0"), d("3"), formula), Decimal::ZERO);
        }
        // At least zero is met by anything.
        assert_eq!(
            completion(at_least, d("0"), d("0"), CapFormula::Ratio),
            Decimal::ONE
        );
        assert_eq!(
            completion(at_least, d("0"), d("5"), CapFormula::Ratio),
            Decimal::ONE
        );
        let exactly = TargetDirection::Exactly;
        assert_eq!(
            completion(exactly, d("0"), d("0"), CapFormula::Ratio),
            Decimal::ONE
        );
        assert_eq!(
            completion(exactly, d("0"), d("2"), CapFormula::Ratio),
            Decimal::ZERO
        );
    }

    #[test]
    fn two_down_two_up() {
        use TrendDirection::{Down, Up};
        use TrendValue::{Count, Rate};
        let defaults: Vec<(&str, TrendDirection)> = DEFAULT_TWO_DOWN_TWO_UP.to_vec();
        assert_eq!(two_down_two_up_refusal(&defaults), Ok(()));
        for (i, (key, _)) in defaults.iter().enumerate() {
            assert!(trend_indicator(key).is_some(), "default {i}");
        }
        let field =
            |goals: &[(&str, TrendDirection)]| two_down_two_up_refusal(goals).unwrap_err().0;
        assert_eq!(field(&defaults[..3]), "goals");
        assert_eq!(
            field(&[
                ("total_volume", Down),
                ("visit_batches", Down),
                ("national_batches", Down),
                ("online_share", Up)
            ]),
            "goals"
        );
        assert_eq!(
            field(&[
                ("total_volume", Down),
                ("rain", Down),
                ("online_share", Up),
                ("repeat_rate", Up)
            ]),
            "goals[1].indicator"
        );
        assert_eq!(
            field(&[
                ("total_volume", Down),
                ("total_volume", Down),
                ("online_share", Up),
                ("repeat_rate", Up)
            ]),
            "goals[1].indicator"
        );
        assert_eq!(
            field(&[
                ("total_volume", Down),
                ("visit_batches", TrendDirection::Unspecified),
                ("online_share", Up),
                ("repeat_rate", Up)
            ]),
            "goals[1].direction"
        );
        // Counts: a fall, or nothing left to reduce; a rise.
        assert_eq!(trend_met(Down, Count(2), Count(3)), (true, false));
        assert_eq!(trend_met(Down, Count(3), Count(3)), (false, false));
        assert_eq!(trend_met(Down, Count(0), Count(0)), (true, false));
        assert_eq!(trend_met(Up, Count(4), Count(3)), (true, false));
        assert_eq!(trend_met(Up, Count(0), Count(0)), (false, false));
        // Rates, exactly: 2/3 is more than 66/100.
        assert_eq!(trend_met(Up, Rate(2, 3), Rate(66, 100)), (true, false));
        assert_eq!(trend_met(Down, Rate(2, 3), Rate(66, 100)), (false, false));
        assert_eq!(trend_met(Up, Rate(0, 2), Rate(0, 3)), (false, false));
        assert_eq!(
            trend_met(Up, Rate(5, 5), Rate(3, 3)),
            (true, false),
            "100 %"
        );
        assert_eq!(
            trend_met(Down, Rate(0, 4), Rate(0, 0)),
            (true, false),
            "0 %"
        );
        assert_eq!(trend_met(Up, Rate(0, 0), Rate(0, 0)), (false, true));
        assert_eq!(trend_met(Up, Rate(1, 2), Rate(0, 0)), (false, true));
    }

    #[test]
    fn consistency_checks_name_the_figures_that_disagree() {
        assert_eq!(
            sum_check("来信", &[("来信", 3_i64), ("网上", 4)], "合计", 7),
            None
        );
        let f = sum_check(
            "各渠道",
            &[("来信", 3_i64), ("网上", 4)],
            "来信及网上信访",
            8,
        )
        .unwrap();
        assert_eq!(f.kind, "sum");
        assert!(
            f.message.contains("来信3、网上4合计7") && f.message.contains("来信及网上信访8"),
            "{}",
            f.message
        );
        assert_eq!(
            f.figures.last(),
            Some(&("来信及网上信访".to_owned(), "8".to_owned()))
        );
        // The seed's budget: 275900.00 + 517400.00 is 793300.00, not the 795300.00 printed.
        let f = sum_check(
            "资金",
            &[("特殊疑难", d("275900.00")), ("其他重点", d("517400.00"))],
            "总额",
            d("795300.00"),
        )
        .unwrap();
        assert!(f.message.contains("793300.00"), "{}", f.message);
        assert_eq!(rate_check("按期办结率", 416, 424), None);
        let f = rate_check("按期办结率", 425, 424).unwrap();
        assert_eq!(f.kind, "rate_over_base");
        assert!(f.message.contains("425") && f.message.contains("424"));
        assert_eq!(weights_finding(&[Some(d("40")), None]), None);
        let f = weights_finding(&[Some(d("60")), Some(d("30"))]).unwrap();
        assert_eq!(f.kind, "weights");
        assert!(
            f.figures
                .contains(&("权重合计".to_owned(), "90.00".to_owned()))
        );
    }

    #[test]
    fn execution_and_grades() {
        assert_eq!(execution_score(d("795300"), d("795300")), d("10"));
        assert_eq!(execution_score(d("100"), d("50")), d("5"));
        assert_eq!(round2(execution_score(d("3"), d("1"))), d("3.33"));
        assert_eq!(execution_score(Decimal::ZERO, Decimal::ZERO), Decimal::ZERO);
        assert_eq!(grade(d("95")), "优");
        assert_eq!(grade(d("89.99")), "良");
        assert_eq!(grade(d("60")), "中");
        assert_eq!(grade(d("59.99")), "差");
    }
}
