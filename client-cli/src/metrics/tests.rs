//! The tables `xf metrics …` prints and exports, on answers made up here.

use xinfang_proto::v1::{
    BudgetExecution, CategoryExecution, ChannelFigure, ChannelStatistics, Figure, Indicators, Rate,
    ScoreLine, SelfEvaluationReport, Target, TargetCompletion, TargetDirection, TargetResult,
    TrendDirection, VisitFigures, VisitGroup, VisitGrouping, VisitStatistics, YearMonth,
};

use super::*;
use crate::export::Cell;

fn fig(value: i64, previous: i64, yoy: &str) -> Option<Figure> {
    Some(Figure {
        value,
        previous,
        yoy_percent: yoy.into(),
        ..Default::default()
    })
}

fn rate(n: i64, d: i64, p: &str) -> Option<Rate> {
    Some(Rate {
        numerator: n,
        denominator: d,
        percent: p.into(),
        ..Default::default()
    })
}

#[test]
fn periods_from_a_year_or_months() {
    let p = period(Some(2020), None, None).unwrap();
    assert_eq!(period_label(&p), "2020-01..2020-12");
    let p = period(None, Some("2020-03"), Some("2020-9")).unwrap();
    assert_eq!(period_label(&p), "2020-03..2020-09");
    let p = period(None, Some("202004"), None).unwrap();
    assert_eq!(period_label(&p), "2020-04..2020-12");
    let p = period(Some(2020), None, Some("2020-06")).unwrap();
    assert_eq!(period_label(&p), "2020-01..2020-06");
    assert!(period(None, None, None).is_err());
    assert!(period(None, Some("2020-13"), None).is_err());
    assert!(
        period(None, Some("2020-05"), Some("2020-04"))
            .unwrap_err()
            .contains("before it starts")
    );
}

#[test]
fn indicators_show_numerator_denominator_and_percent() {
    let ind = Indicators {
        timely_acceptance_office: Some(Rate {
            previous_period: Some(xinfang_proto::v1::RateComparison {
                numerator: 9,
                denominator: 10,
                percent: "90.00".into(),
                change_points: "8.11".into(),
            }),
            ..rate(52, 53, "98.11").unwrap()
        }),
        on_time_completion: rate(0, 0, ""),
        special_difficult_resolved: 4,
        matters_accepted: 120,
        ..Default::default()
    };
    let t = indicators_table(&ind);
    assert_eq!(t.rows.len(), 14);
    assert_eq!(
        t.row("timely_acceptance_office").unwrap(),
        [
            Cell::text("timely_acceptance_office"),
            Cell::text("信访部门及时受理率"),
            Cell::Int(52),
            Cell::Int(53),
            Cell::Decimal("98.11".into()),
            Cell::Decimal("90.00".into()),
            Cell::Decimal("8.11".into()),
            Cell::Empty,
            Cell::Empty,
        ]
    );
    let csv = t.to_csv();
    assert!(csv.starts_with(
        "indicator,name,numerator,denominator,percent,previous_period_percent,pop_points,\
         previous_year_percent,yoy_points\n"
    ));
    assert!(
        csv.contains("\non_time_completion,按期办结率,0,0,,,,,\n"),
        "{csv}"
    );
    assert!(csv.contains("\nspecial_difficult_resolved,化解特殊疑难积案,4,,,,,,\n"));
    // Missing rates show as zero over zero, with no percent.
    assert!(csv.contains("\nonline_share,网上信访占比,0,0,,,,,\n"));
    let json = indicators_json(&ind);
    assert_eq!(json[0]["percent"], "98.11");
    assert!(json[0].get("numerator_case_ids").is_none());
    let with_ids = Indicators {
        timely_acceptance_office: Some(Rate {
            numerator_case_ids: vec!["a".into()],
            other_case_ids: vec!["b".into()],
            ..rate(1, 2, "50.00").unwrap()
        }),
        ..Default::default()
    };
    let json = indicators_json(&with_ids);
    assert_eq!(json[0]["numerator_case_ids"][0], "a");
    assert_eq!(json[0]["other_case_ids"][0], "b");
    assert_eq!(json[1]["numerator_case_ids"].as_array().unwrap().len(), 0);
}

#[test]
fn visits_show_value_previous_and_year_over_year_per_level_and_group() {
    let county = VisitFigures {
        batches: fig(3, 4, "-25.00"),
        persons: fig(9, 8, "12.50"),
        ..Default::default()
    };
    let stats = VisitStatistics {
        total: Some(VisitFigures {
            batches: Some(Figure {
                previous_period: 2,
                pop_percent: "100.00".into(),
                ..fig(4, 4, "0.00").unwrap()
            }),
            ..Default::default()
        }),
        levels: vec![VisitGroup {
            key: "county".into(),
            figures: Some(county.clone()),
        }],
        groups: vec![VisitGroup {
            key: "2020-03".into(),
            figures: Some(county),
        }],
        ..Default::default()
    };
    let t = visits_table(&stats, VisitGrouping::Month);
    assert_eq!(t.rows.len(), 36, "12 figures × (total, county, March)");
    let csv = t.to_csv();
    assert!(
        csv.starts_with(
            "breakdown,key,key_name,figure,name,value,previous,yoy_percent,previous_period,pop_percent\n"
        ),
        "{csv}"
    );
    assert!(
        csv.contains("\ntotal,all,合计,batches,批次,4,4,0.00,2,100.00\n"),
        "{csv}"
    );
    assert!(csv.contains("\nlevel,county,本级,batches,批次,3,4,-25.00,0,\n"));
    assert!(csv.contains("\nlevel,county,本级,persons,人次,9,8,12.50,0,\n"));
    assert!(csv.contains("\nmonth,2020-03,2020年03月,persons,人次,9,8,12.50,0,\n"));
    // A figure the server left out is zero with no change.
    assert!(csv.contains("\nlevel,county,本级,leapfrog_batches,越级访批次,0,0,,0,\n"));
    let text = t.to_comfy().to_string();
    assert!(text.contains("YOY %") && text.contains("-25.00"), "{text}");
}

#[test]
fn channels_targets_budget_and_scores() {
    let chan = ChannelStatistics {
        channels: vec![ChannelFigure {
            channel: "online".into(),
            items: fig(7, 0, ""),
        }],
        letters_and_online: fig(7, 5, "40.00"),
        ..Default::default()
    };
    let csv = channels_table(&chan).to_csv();
    assert!(csv.contains("\nchannel,online,网上投诉,7,0,,0,\n"), "{csv}");
    assert!(
        csv.contains("\ntotal,letters_and_online,来信和网上信访合计,7,5,40.00,0,\n"),
        "{csv}"
    );
    assert!(csv.contains("\ntotal,reviews,复查,0,0,,0,\n"), "{csv}");
    assert!(
        csv.contains("\ntotal,second_reviews,复核,0,0,,0,\n"),
        "{csv}"
    );

    let done = TargetCompletion {
        year: 2020,
        through_month: 9,
        results: vec![TargetResult {
            target: Some(Target {
                indicator: "county_person_visits".into(),
                direction: TargetDirection::AtMost as i32,
                value: "2000".into(),
                name: "预计上访人次".into(),
                ..Default::default()
            }),
            actual: "1500".into(),
            completion_percent: "100.00".into(),
            score: "50.00".into(),
            pace_percent: "75.00".into(),
            on_pace: true,
            effective_weight: "100.00".into(),
            points: "50.00".into(),
        }],
        output_score: "50.00".into(),
        weight_total: "100.00".into(),
        weights_balanced: true,
    };
    let csv = targets_table(&done).to_csv();
    assert!(
        csv.contains(
            "\ncounty_person_visits,预计上访人次,≤,2000,100.00,50.00,1500,100.00,50.00,75.00,yes\n"
        ),
        "{csv}"
    );
    assert!(
        csv.contains("\noutput_score,产出指标得分,,,100.00,50,,,50.00,,\n"),
        "{csv}"
    );

    let money = BudgetExecution {
        year: 2020,
        categories: vec![CategoryExecution {
            category: "other".into(),
            name: "其他经费".into(),
            appropriated: "2000.00".into(),
            disbursed: "0.00".into(),
            execution_percent: "0.00".into(),
        }],
        appropriated: "2000.00".into(),
        disbursed: "0.00".into(),
        execution_percent: "0.00".into(),
        score: "0.00".into(),
        payments: vec![xinfang_proto::v1::PaymentTotal {
            method: xinfang_proto::v1::PaymentMethod::Authorized as i32,
            requests: 2,
            amount: "150.00".into(),
        }],
    };
    let csv = budget_table(&money).to_csv();
    assert!(
        csv.contains("\nother,其他经费,2000.00,0.00,0.00,\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\ntotal,合计,2000.00,0.00,0.00,0.00\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\npaid_authorized,授权支付 2笔,,150.00,,\n"),
        "{csv}"
    );

    let report = SelfEvaluationReport {
        year: 2020,
        scores: vec![ScoreLine {
            part: "outputs".into(),
            weight: "50".into(),
            score: "44.44".into(),
        }],
        total_score: "44.44".into(),
        grade: "差".into(),
        inconsistencies: vec!["一".into(), "二".into()],
        ..Default::default()
    };
    let csv = scores_table(&report).to_csv();
    assert!(csv.contains("\noutputs,产出指标,50,44.44,\n"), "{csv}");
    assert!(csv.contains("\ntotal,总分,100,44.44,差\n"), "{csv}");
    assert_eq!(
        inconsistencies_table(&report).to_csv(),
        "n,note\n1,一\n2,二\n"
    );
}

#[test]
fn two_down_two_up_shows_direction_both_years_and_verdict() {
    use xinfang_proto::v1::{TrendGoal, TrendResult};
    let result =
        |indicator: &str, direction: TrendDirection, v: &str, p: &str, c: &str| TrendResult {
            goal: Some(TrendGoal {
                indicator: indicator.into(),
                direction: direction as i32,
                name: indicator.into(),
            }),
            value: v.into(),
            previous: p.into(),
            change: c.into(),
            met: c.starts_with('-') == (direction == TrendDirection::Down),
            undetermined: v.is_empty(),
        };
    let ind = Indicators {
        two_down_two_up: vec![
            result("total_volume", TrendDirection::Down, "2", "3", "-33.33"),
            result("satisfaction_unit", TrendDirection::Up, "", "", ""),
        ],
        ..Default::default()
    };
    let csv = two_down_two_up_table(&ind).to_csv();
    assert!(
        csv.starts_with("indicator,name,direction,value,previous,change,met\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\ntotal_volume,total_volume,down,2,3,-33.33,yes\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\nsatisfaction_unit,satisfaction_unit,up,,,,no base\n"),
        "{csv}"
    );
}

#[test]
fn monthly_visits_are_a_row_per_month() {
    let month = |m: i32, county: i64| MonthVisits {
        month: YearMonth {
            year: 2020,
            month: m,
        },
        levels: (0..4)
            .map(|i| VisitFigures {
                batches: fig(if i == 0 { county } else { 0 }, 0, ""),
                persons: fig(if i == 0 { 2 * county } else { 0 }, 0, ""),
                ..Default::default()
            })
            .collect(),
        total: VisitFigures {
            batches: fig(county, 0, ""),
            persons: fig(2 * county, 0, ""),
            ..Default::default()
        },
    };
    let data = MonthlyVisits {
        year: 2020,
        org_code: String::new(),
        months: vec![month(1, 3), month(2, 0)],
    };
    let csv = monthly_visits_table(&data).to_csv();
    assert_eq!(
        csv,
        "month,county_batches,county_persons,city_batches,city_persons,province_batches,\
         province_persons,national_batches,national_persons,total_batches,total_persons\n\
         2020-01,3,6,0,0,0,0,0,0,3,6\n\
         2020-02,0,0,0,0,0,0,0,0,0,0\n"
    );
}

/// A server that lists `Indicators.values` decides the rows: one it adds to its table shows here, in its
/// order, rates and counts alike, whatever the named fields say.
#[test]
fn indicators_list_what_the_server_lists() {
    use xinfang_proto::v1::{IndicatorValue, indicator_value::Value};
    let ind = Indicators {
        values: vec![
            IndicatorValue {
                key: "on_time_completion".into(),
                name: "按期办结率".into(),
                value: rate(416, 424, "98.11").map(Value::Rate),
                ..Default::default()
            },
            IndicatorValue {
                key: "hearings_held".into(),
                name: "听证件数".into(),
                value: fig(7, 5, "40.00").map(Value::Figure),
                ..Default::default()
            },
        ],
        special_difficult_resolved: 4,
        ..Default::default()
    };
    let csv = indicators_table(&ind).to_csv();
    assert_eq!(
        csv.lines().skip(1).collect::<Vec<_>>(),
        [
            "on_time_completion,按期办结率,416,424,98.11,,,,",
            "hearings_held,听证件数,7,,,,,,"
        ],
        "{csv}"
    );
}

#[test]
fn a_townships_code_has_its_cached_name_beside_it_in_the_csv() {
    crate::labels::install_for_tests();
    let stats = VisitStatistics {
        groups: vec![
            VisitGroup {
                key: "510422100".into(),
                figures: Some(VisitFigures::default()),
            },
            VisitGroup {
                key: "510422999".into(),
                figures: Some(VisitFigures::default()),
            },
        ],
        ..Default::default()
    };
    let csv = visits_table(&stats, VisitGrouping::Township).to_csv();
    assert!(
        csv.contains("\ntownship,510422100,测试镇,batches,批次,"),
        "{csv}"
    );
    // A unit the cache does not know keeps its code as the name rather than an empty cell.
    assert!(
        csv.contains("\ntownship,510422999,510422999,batches,"),
        "{csv}"
    );
}
