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

/// The targets a caller may set and the indicators 两降两升 may name, as they were before the table.
#[test]
fn targets_and_trends_name_the_same_indicators_as_before() {
    let mut targets = target_keys();
    targets.sort_unstable();
    assert_eq!(
        targets,
        [
            "all_batches",
            "all_person_visits",
            "county_batches",
            "county_person_visits",
            "letters_and_online",
            "on_time_completion",
            "satisfaction_office",
            "satisfaction_unit",
            "special_difficult_resolved",
            "timely_acceptance_office",
            "timely_acceptance_unit",
        ]
    );
    assert_eq!(trend_keys().len(), 18);
    for (key, direction) in DEFAULT_TWO_DOWN_TWO_UP {
        let (_, row) = trend(key).unwrap();
        assert_eq!(row.better, direction, "{key} goes the way its row says");
    }
}
