//! The arithmetic of the indicators on the seed's figures and at its edges.

use std::str::FromStr;

use super::*;
use crate::metrics::indicators::{DEFAULT_TWO_DOWN_TWO_UP, trend_indicator};

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
    let field = |goals: &[(&str, TrendDirection)]| two_down_two_up_refusal(goals).unwrap_err().0;
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
