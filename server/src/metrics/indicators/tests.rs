//! The table of indicators is whole, and names what it did before it was a table.

use super::*;

/// The first rows are `Indicators`' named fields, in the order clients that predate
/// `Indicators.values` list them.
#[test]
fn the_named_fields_come_first() {
    let keys: Vec<&str> = INDICATORS.iter().take(14).map(|i| i.key).collect();
    assert_eq!(
        keys,
        [
            "timely_acceptance_office",
            "timely_acceptance_unit",
            "on_time_completion",
            "participation_office",
            "satisfaction_office",
            "participation_unit",
            "satisfaction_unit",
            "backlog_resolution",
            "repeat_rate",
            "online_share",
            "special_difficult_resolved",
            "matters_accepted",
            "evaluations",
            "evaluations_lapsed",
        ]
    );
}

#[test]
fn every_row_is_whole() {
    let mut keys: Vec<&str> = INDICATORS.iter().map(|i| i.key).collect();
    keys.extend(
        INDICATORS
            .iter()
            .filter_map(|i| (!i.target_key.is_empty()).then_some(i.target_key)),
    );
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "keys are unique: {keys:?}");
    for i in INDICATORS {
        assert!(!i.name.is_empty() && !i.counts.is_empty(), "{}", i.key);
        assert!(!i.numerator.is_empty(), "{}", i.key);
        assert_eq!(i.denominator.is_empty(), !i.is_rate(), "{}", i.key);
        assert_eq!(i.unit == "%", i.is_rate(), "{}", i.key);
        assert!(i.target_key.is_empty() || i.target.is_some(), "{}", i.key);
        assert!(!i.in_report || i.is_rate(), "{}", i.key);
        assert!(i.score.is_none() || i.in_report, "{}", i.key);
        for t in i.numerator.iter().chain(i.denominator) {
            assert!(SOURCES.contains(&t.source), "{}: {}", i.key, t.source.name);
        }
        if let Kind::Clock(deadline) = i.kind {
            assert_eq!(
                deadline.source().rows,
                format!("deadline = {}", deadline.rollup_key())
            );
            assert!(
                i.numerator
                    .iter()
                    .chain(i.denominator)
                    .all(|t| t.source == deadline.source()),
                "{}",
                i.key
            );
        }
    }
}

/// Every key a target or 两降两升 could name before the table still names the same kind of indicator, so
/// that stored targets and goals keep their meaning; the table may add more.
#[test]
fn targets_and_trends_name_what_they_named_before() {
    for (key, rate) in [
        ("county_batches", false),
        ("county_person_visits", false),
        ("all_batches", false),
        ("all_person_visits", false),
        ("letters_and_online", false),
        ("special_difficult_resolved", false),
        ("timely_acceptance_office", true),
        ("timely_acceptance_unit", true),
        ("on_time_completion", true),
        ("satisfaction_office", true),
        ("satisfaction_unit", true),
    ] {
        let (_, row) = target(key).unwrap_or_else(|| panic!("target {key}"));
        assert_eq!(row.is_rate(), rate, "{key}");
    }
    for (key, rate) in [
        ("total_volume", false),
        ("visit_batches", false),
        ("visit_persons", false),
        ("national_batches", false),
        ("province_batches", false),
        ("leapfrog_batches", false),
        ("collective_batches", false),
        ("repeat_batches", false),
        ("letters_and_online", false),
        ("online_share", true),
        ("satisfaction_office", true),
        ("satisfaction_unit", true),
        ("participation_office", true),
        ("participation_unit", true),
        ("timely_acceptance_office", true),
        ("timely_acceptance_unit", true),
        ("on_time_completion", true),
        ("repeat_rate", true),
    ] {
        assert_eq!(trend_indicator(key).map(|(_, r)| r), Some(rate), "{key}");
    }
    for (key, direction) in DEFAULT_TWO_DOWN_TWO_UP {
        let (_, row) = trend(key).unwrap();
        assert_eq!(row.better, direction, "{key} goes the way its row says");
    }
}
