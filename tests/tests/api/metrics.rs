//! Indicators over gRPC on a small hand-made data set; the full 2019/2020 acceptance fixture is in
//! `fixture.rs`.

use tonic::Code;
use xinfang_proto::v1::{
    GenerateSelfEvaluationReportRequest, GetIndicatorsRequest, GetTargetCompletionRequest,
    GetVisitStatisticsRequest, Level, MatterInput, Period, Petitioner, RegisterVisitRequest,
    SetTargetRequest, Target, TargetDirection, Visit, YearMonth,
};
use xinfang_server::auth::Role;
use xinfang_tests::{request_id, spawn_app};

fn year(y: i32) -> Option<Period> {
    Some(Period {
        start: Some(YearMonth { year: y, month: 1 }),
        end: Some(YearMonth { year: y, month: 12 }),
    })
}

/// 10:00 in Shanghai on the given day of `year`.
fn at(year: i32, month: u32, day: u32) -> Option<prost_types::Timestamp> {
    use chrono::TimeZone;
    let t = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(year, month, day, 10, 0, 0)
        .unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// Registers one visit about unpaid wages in 510422100 and returns it.
async fn register(
    admin: &mut xinfang_client::Client,
    visited_at: Option<prost_types::Timestamp>,
    level: Level,
    headcount: i32,
    id_number: &str,
) -> Visit {
    admin
        .visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(Visit {
                visited_at,
                level: level as i32,
                place_name: "接待大厅".into(),
                headcount,
                petitioners: vec![Petitioner {
                    name: "某人".into(),
                    id_number: id_number.into(),
                    ..Default::default()
                }],
                matter: Some(MatterInput {
                    content: "工资".into(),
                    demands: "支付".into(),
                    category: "labor".into(),
                    problem_org_code: "510422100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn visit_statistics_by_level_with_year_over_year() {
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    // 2019: 4 county batches of 2; 2020: 3 county batches of 3 (one of them a repeat) and 1 to the city.
    let plan = [
        (2019, Level::County, 2, "110105194912310001"),
        (2019, Level::County, 2, ""),
        (2019, Level::County, 2, ""),
        (2019, Level::County, 2, ""),
        (2020, Level::County, 3, ""),
        (2020, Level::County, 3, ""),
        (2020, Level::County, 3, "110105194912310001"),
        (2020, Level::City, 1, ""),
    ];
    for (i, (y, level, headcount, id_number)) in plan.iter().enumerate() {
        let id_number = if id_number.is_empty() {
            ""
        } else {
            "11010519491231002X"
        };
        register(
            &mut admin,
            at(*y, 3, 1 + i as u32),
            *level,
            *headcount,
            id_number,
        )
        .await;
    }
    let stats = admin
        .metrics
        .get_visit_statistics(GetVisitStatisticsRequest {
            period: year(2020),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let county = stats.levels.iter().find(|l| l.key == "county").unwrap();
    let f = county.figures.clone().unwrap();
    let batches = f.batches.unwrap();
    assert_eq!(
        (
            batches.value,
            batches.previous,
            batches.yoy_percent.as_str()
        ),
        (3, 4, "-25.00")
    );
    let persons = f.persons.unwrap();
    assert_eq!(
        (
            persons.value,
            persons.previous,
            persons.yoy_percent.as_str()
        ),
        (9, 8, "12.50")
    );
    assert_eq!(
        f.repeat_batches.unwrap().value,
        1,
        "the 2020 visit repeats the 2019 case"
    );
    assert_eq!(f.initial_persons.unwrap().value, 6);
    let city = stats.levels.iter().find(|l| l.key == "city").unwrap();
    let c = city.figures.clone().unwrap().batches.unwrap();
    assert_eq!(
        (c.value, c.previous, c.yoy_percent.as_str()),
        (1, 0, ""),
        "no change on a zero base"
    );
    assert_eq!(stats.total.unwrap().batches.unwrap().value, 4);

    // A cap target on county person-visits and its mid-year check.
    admin
        .metrics
        .set_target(SetTargetRequest {
            request_id: request_id(),
            target: Some(Target {
                year: 2020,
                indicator: "county_person_visits".into(),
                direction: TargetDirection::AtMost as i32,
                value: "8".into(),
                name: "预计上访人次".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let done = admin
        .metrics
        .get_target_completion(GetTargetCompletionRequest {
            year: 2020,
            through_month: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let r = &done.results[0];
    assert_eq!(
        (r.actual.as_str(), r.completion_percent.as_str()),
        ("9", "88.89")
    );
    assert_eq!(r.score, "44.44", "50 points × 8/9");
}

#[tokio::test]
async fn indicators_answer_by_scope_and_refuse_bad_periods() {
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    let empty = admin
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: year(2020),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let on_time = empty.on_time_completion.unwrap();
    assert_eq!(
        (on_time.denominator, on_time.percent.as_str()),
        (0, ""),
        "no rate on an empty base"
    );

    let status = admin
        .metrics
        .get_indicators(GetIndicatorsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = admin
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: Some(Period {
                start: Some(YearMonth {
                    year: 2020,
                    month: 12,
                }),
                end: Some(YearMonth {
                    year: 2020,
                    month: 1,
                }),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    // Month groups are months of the year: 12 months, across a year's end, are fine; 13 would merge two
    // Julys under one key.
    let months = |end_year, end_month| GetVisitStatisticsRequest {
        period: Some(Period {
            start: Some(YearMonth {
                year: 2019,
                month: 7,
            }),
            end: Some(YearMonth {
                year: end_year,
                month: end_month,
            }),
        }),
        group_by: xinfang_proto::v1::VisitGrouping::Month as i32,
        ..Default::default()
    };
    let twelve = admin
        .metrics
        .get_visit_statistics(months(2020, 6))
        .await
        .expect("twelve months by month")
        .into_inner();
    let keys: Vec<&str> = twelve.groups.iter().map(|g| g.key.as_str()).collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "one group per month: {keys:?}"
    );
    let status = admin
        .metrics
        .get_visit_statistics(months(2020, 7))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("12 months"), "{status:?}");

    let clerk = app.token(Role::TownshipClerk, "510422100").await;
    let mut township = app.client_with(Some(&clerk));
    let status = township
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: year(2020),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "county-wide figures are not a township's"
    );
    township
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: year(2020),
            org_code: "510422100".into(),
            ..Default::default()
        })
        .await
        .expect("its own unit's figures");
}

#[tokio::test]
async fn a_published_case_left_unrated_counts_as_not_evaluated() {
    use tonic_types::StatusExt;
    use xinfang_proto::v1::{
        AcceptCaseRequest, AssignCaseRequest, AssignmentMode, GetCaseRequest, Rating,
        RecordEvaluationRequest, ReplyCaseRequest, Timeliness,
    };
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    // Three cases replied on 2024-04-10: one published and rated within its window, one published and
    // never rated (its window closed on 2024-05-10), one outside the scope of evaluation.
    let mut ids = Vec::new();
    for (i, publish) in [true, true, false].into_iter().enumerate() {
        let visit = register(&mut admin, at(2024, 3, 1 + i as u32), Level::County, 1, "").await;
        let case_id = visit.classification.unwrap().case_id;
        admin
            .cases
            .assign_case(AssignCaseRequest {
                request_id: request_id(),
                case_id: case_id.clone(),
                occurred_at: at(2024, 3, 5),
                mode: AssignmentMode::Forward as i32,
                responsible_org_code: "510422100".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        admin
            .cases
            .accept_case(AcceptCaseRequest {
                request_id: request_id(),
                case_id: case_id.clone(),
                occurred_at: at(2024, 3, 6),
                ..Default::default()
            })
            .await
            .unwrap();
        admin
            .cases
            .reply_case(ReplyCaseRequest {
                request_id: request_id(),
                case_id: case_id.clone(),
                occurred_at: at(2024, 4, 10),
                opinion: "已督促企业支付工资。".into(),
                publish_for_evaluation: publish,
                ..Default::default()
            })
            .await
            .unwrap();
        ids.push(case_id);
    }
    let evaluate = |case_id: &str, rating: Rating, on| RecordEvaluationRequest {
        request_id: request_id(),
        case_id: case_id.to_owned(),
        occurred_at: on,
        office_rating: rating as i32,
        unit_rating: rating as i32,
        ..Default::default()
    };
    admin
        .cases
        .record_evaluation(evaluate(&ids[0], Rating::Satisfied, at(2024, 4, 20)))
        .await
        .unwrap();

    let lapsed = admin
        .cases
        .get_case(GetCaseRequest { id: ids[1].clone() })
        .await
        .unwrap()
        .into_inner();
    let window = lapsed.deadlines.unwrap().evaluation.unwrap();
    assert_eq!(window.timeliness(), Timeliness::Overdue);
    let indicators = |admin: &mut xinfang_client::Client| {
        let mut admin = admin.clone();
        async move {
            admin
                .metrics
                .get_indicators(GetIndicatorsRequest {
                    period: year(2024),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let before = indicators(&mut admin).await;
    let participation = before.participation_office.clone().unwrap();
    assert_eq!(
        (
            before.evaluations,
            before.evaluations_lapsed,
            participation.numerator,
            participation.denominator
        ),
        (1, 1, 1, 2),
        "the unrated published case is 未参评; the unpublished one is out of scope"
    );
    assert_eq!(participation.percent, "50.00");

    // A rating that comes after the window is refused, and changes nothing; saying 未参评 is taken.
    let status = admin
        .cases
        .record_evaluation(evaluate(&ids[1], Rating::Satisfied, None))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "EVALUATION_WINDOW_CLOSED"
    );
    assert_eq!(indicators(&mut admin).await, before);
    admin
        .cases
        .record_evaluation(evaluate(&ids[1], Rating::NotParticipated, None))
        .await
        .unwrap();
    let after = indicators(&mut admin).await;
    let participation = after.participation_office.unwrap();
    assert_eq!(
        (
            after.evaluations,
            after.evaluations_lapsed,
            participation.numerator,
            participation.denominator
        ),
        (2, 0, 1, 2)
    );
    app.assert_rollups_match_records().await;
}

/// Every percentage is rounded once, half up, from its own numerator and denominator: 11 county batches in
/// 2019 and 5 in 2020 are a change of −54.5454…%, "-54.55" with two places and "下降54.5%" with one, never
/// "54.6" (which is −54.55 rounded again).
#[tokio::test]
async fn the_report_rounds_each_percentage_once() {
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    for (y, n) in [(2019, 11), (2020, 5)] {
        for i in 0..n {
            register(&mut admin, at(y, 4, 1 + i), Level::County, 1, "").await;
        }
    }
    let stats = admin
        .metrics
        .get_visit_statistics(GetVisitStatisticsRequest {
            period: year(2020),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let county = stats.levels.iter().find(|l| l.key == "county").unwrap();
    let batches = county.figures.clone().unwrap().batches.unwrap();
    assert_eq!(
        (
            batches.value,
            batches.previous,
            batches.yoy_percent.as_str()
        ),
        (5, 11, "-54.55")
    );
    let report = admin
        .metrics
        .generate_self_evaluation_report(GenerateSelfEvaluationReportRequest { year: 2020 })
        .await
        .unwrap()
        .into_inner();
    let md = &report.markdown;
    assert!(
        md.contains("同比批次下降54.5%、人次下降54.5%"),
        "one rounding from 5/11:\n{md}"
    );
    assert!(!md.contains("54.6"), "no second rounding:\n{md}");
}

/// A case registered on `on` (a 2024 day), forwarded to 510422100 four days later, accepted the day after
/// and replied on 10 April 2024 (published for evaluation or not).
async fn replied_case(
    admin: &mut xinfang_client::Client,
    on: Option<prost_types::Timestamp>,
    publish: bool,
) -> String {
    use xinfang_proto::v1::{
        AcceptCaseRequest, AssignCaseRequest, AssignmentMode, ReplyCaseRequest,
    };
    let visit = register(admin, on, Level::County, 1, "").await;
    let case_id = visit.classification.unwrap().case_id;
    admin
        .cases
        .assign_case(AssignCaseRequest {
            request_id: request_id(),
            case_id: case_id.clone(),
            occurred_at: at(2024, 3, 5),
            mode: AssignmentMode::Forward as i32,
            responsible_org_code: "510422100".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: case_id.clone(),
            occurred_at: at(2024, 3, 6),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .cases
        .reply_case(ReplyCaseRequest {
            request_id: request_id(),
            case_id: case_id.clone(),
            occurred_at: at(2024, 4, 10),
            opinion: "已督促企业支付工资。".into(),
            publish_for_evaluation: publish,
            ..Default::default()
        })
        .await
        .unwrap();
    case_id
}

/// A review requested on `requested` and decided (upheld) on `decided`: the first is a 复查, the one after
/// it a 复核.
async fn review(
    admin: &mut xinfang_client::Client,
    case_id: &str,
    requested: Option<prost_types::Timestamp>,
    decided: Option<prost_types::Timestamp>,
) {
    use xinfang_proto::v1::{DecideReviewRequest, RequestReviewRequest, ReviewOutcome};
    admin
        .cases
        .request_review(RequestReviewRequest {
            request_id: request_id(),
            case_id: case_id.to_owned(),
            occurred_at: requested,
            reason: "不服".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .cases
        .decide_review(DecideReviewRequest {
            request_id: request_id(),
            case_id: case_id.to_owned(),
            occurred_at: decided,
            outcome: ReviewOutcome::Upheld as i32,
            opinion: "维持原处理意见。".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// 复查 (first review) and 复核 (second review) are counted apart: one case with both, one with a 复查
/// only, gives two 复查 and one 复核, in the API and in the report.
#[tokio::test]
async fn first_and_second_reviews_are_counted_apart() {
    use xinfang_proto::v1::GetChannelStatisticsRequest;
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    let both = replied_case(&mut admin, at(2024, 3, 1), false).await;
    let first_only = replied_case(&mut admin, at(2024, 3, 2), false).await;
    review(&mut admin, &both, at(2024, 4, 20), at(2024, 5, 10)).await;
    review(&mut admin, &both, at(2024, 5, 20), at(2024, 6, 10)).await;
    review(&mut admin, &first_only, at(2024, 4, 21), at(2024, 5, 11)).await;

    let channels = admin
        .metrics
        .get_channel_statistics(GetChannelStatisticsRequest {
            period: year(2024),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        channels.reviews.as_ref().map(|f| f.value),
        Some(2),
        "reviews are the 复查 alone"
    );
    assert_eq!(
        channels.second_reviews.as_ref().map(|f| f.value),
        Some(1),
        "复核 on its own"
    );
    let report = admin
        .metrics
        .generate_self_evaluation_report(GenerateSelfEvaluationReportRequest { year: 2024 })
        .await
        .unwrap()
        .into_inner();
    let md = &report.markdown;
    assert!(md.contains("复查2件"), "{md}");
    assert!(md.contains("复核1件"), "{md}");
}

fn target(indicator: &str, direction: TargetDirection, value: &str, weight: &str) -> Target {
    Target {
        year: 2024,
        indicator: indicator.into(),
        direction: direction as i32,
        value: value.into(),
        weight: weight.into(),
        name: indicator.into(),
        ..Default::default()
    }
}

async fn set_target(
    admin: &mut xinfang_client::Client,
    t: Target,
) -> Result<xinfang_proto::v1::Target, tonic::Status> {
    admin
        .metrics
        .set_target(SetTargetRequest {
            request_id: request_id(),
            target: Some(t),
        })
        .await
        .map(|r| r.into_inner())
}

fn bad_field(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations[0].field.clone())
        .unwrap_or_default()
}

/// Weights are shares (0–100) of the 50 output points and a year's may add up to at most 100; a target of
/// zero is met by nothing (≤) or anything (≥); a negative target is refused.
#[tokio::test]
async fn target_weights_and_zero_targets() {
    use xinfang_proto::v1::{CapFormula, ListTargetsRequest};
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    // 2024: two county batches of one person each.
    for day in [1, 2] {
        register(&mut admin, at(2024, 3, day), Level::County, 1, "").await;
    }
    let at_most = TargetDirection::AtMost;
    let at_least = TargetDirection::AtLeast;
    for (t, field) in [
        (
            target("county_batches", at_most, "10", "101"),
            "target.weight",
        ),
        (target("county_batches", at_most, "-1", ""), "target.value"),
        (
            target("satisfaction_office", at_least, "101", ""),
            "target.value",
        ),
    ] {
        let status = set_target(&mut admin, t).await.unwrap_err();
        assert_eq!(bad_field(&status), field);
    }
    set_target(&mut admin, target("county_batches", at_most, "10", "60"))
        .await
        .unwrap();
    // 60 + 50 would be 110 points in a hundred: refused, and nothing changes.
    let status = set_target(
        &mut admin,
        target("county_person_visits", at_most, "0", "50"),
    )
    .await
    .unwrap_err();
    assert_eq!(bad_field(&status), "target.weight");
    assert!(status.message().contains("110"), "{status:?}");
    let listed = admin
        .metrics
        .list_targets(ListTargetsRequest { year: 2024 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.targets.len(), 1);
    // Setting a target again replaces its own weight: 60 → 50 leaves room for 50.
    set_target(&mut admin, target("county_batches", at_most, "10", "50"))
        .await
        .unwrap();
    // A cap of zero with two batches is missed, also by the deviation formula (which divides by the target).
    set_target(
        &mut admin,
        Target {
            cap_formula: CapFormula::Deviation as i32,
            ..target("county_person_visits", at_most, "0", "30")
        },
    )
    .await
    .unwrap();
    // At least zero resolved cases is met by none.
    set_target(
        &mut admin,
        target("special_difficult_resolved", at_least, "0", "20"),
    )
    .await
    .unwrap();
    let done = admin
        .metrics
        .get_target_completion(GetTargetCompletionRequest {
            year: 2024,
            through_month: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let by: std::collections::BTreeMap<&str, (&str, &str, &str)> = done
        .results
        .iter()
        .map(|r| {
            (
                r.target.as_ref().unwrap().indicator.as_str(),
                (
                    r.actual.as_str(),
                    r.completion_percent.as_str(),
                    r.score.as_str(),
                ),
            )
        })
        .collect();
    assert_eq!(
        by["county_batches"],
        ("2", "100.00", "25.00"),
        "weight 50: half of the 50 points"
    );
    assert_eq!(by["county_person_visits"], ("2", "0.00", "0.00"));
    assert_eq!(by["special_difficult_resolved"], ("0", "100.00", "10.00"));
    assert_eq!(done.output_score, "35.00");
    // 50 + 30 + 20: the year's weights are complete.
    assert_eq!(
        (done.weight_total.as_str(), done.weights_balanced),
        ("100.00", true)
    );
    let points: Vec<&str> = done.results.iter().map(|r| r.points.as_str()).collect();
    assert_eq!(points, ["25.00", "15.00", "10.00"]);

    // A year whose weights stop at 90 is flagged, with the weights, by GetTargetCompletion and the report.
    set_target(
        &mut admin,
        target("special_difficult_resolved", at_least, "0", "10"),
    )
    .await
    .unwrap();
    let done = admin
        .metrics
        .get_target_completion(GetTargetCompletionRequest {
            year: 2024,
            through_month: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (done.weight_total.as_str(), done.weights_balanced),
        ("90.00", false)
    );
    let report = admin
        .metrics
        .generate_self_evaluation_report(GenerateSelfEvaluationReportRequest { year: 2024 })
        .await
        .unwrap()
        .into_inner();
    assert!(
        report
            .inconsistencies
            .iter()
            .any(|n| n.contains("权重合计为90.00") && n.contains("50、30、10")),
        "{:?}",
        report.inconsistencies
    );
}

/// The mid-year check prorates counts by the days of the year gone (182 of 366 by the end of June 2024) and
/// compares rates as rates: a timely-acceptance rate of 50 % is not on pace for a target of 95 %.
#[tokio::test]
async fn the_mid_year_check_prorates_counts_by_days_and_not_rates() {
    use xinfang_proto::v1::{AssignCaseRequest, AssignmentMode};
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    // Two county batches in March 2024: one assigned in time, one a month late.
    for (day, assigned) in [(1, at(2024, 3, 5)), (2, at(2024, 4, 10))] {
        let visit = register(&mut admin, at(2024, 3, day), Level::County, 1, "").await;
        admin
            .cases
            .assign_case(AssignCaseRequest {
                request_id: request_id(),
                case_id: visit.classification.unwrap().case_id,
                occurred_at: assigned,
                mode: AssignmentMode::Forward as i32,
                responsible_org_code: "510422100".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    set_target(
        &mut admin,
        target(
            "timely_acceptance_office",
            TargetDirection::AtLeast,
            "95",
            "",
        ),
    )
    .await
    .unwrap();
    // Four batches a year is 1.99 by the end of June: two are past the pace.
    set_target(
        &mut admin,
        target("county_batches", TargetDirection::AtMost, "4", ""),
    )
    .await
    .unwrap();
    let done = admin
        .metrics
        .get_target_completion(GetTargetCompletionRequest {
            year: 2024,
            through_month: 6,
        })
        .await
        .unwrap()
        .into_inner();
    let by: std::collections::BTreeMap<&str, (&str, &str, bool)> = done
        .results
        .iter()
        .map(|r| {
            (
                r.target.as_ref().unwrap().indicator.as_str(),
                (r.actual.as_str(), r.pace_percent.as_str(), r.on_pace),
            )
        })
        .collect();
    assert_eq!(by["timely_acceptance_office"], ("50.00", "49.73", false));
    assert_eq!(by["county_batches"], ("2", "49.73", false));
}

/// 环比: every figure and rate also compares with the preceding period of the same length, the month before
/// for a month (February for March 2024), beside 同比 (March 2023).
#[tokio::test]
async fn every_figure_and_rate_has_its_period_on_period_change() {
    use xinfang_proto::v1::{GetChannelStatisticsRequest, VisitGrouping};
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    // March 2023: 1 batch; February 2024: 2; March 2024: 3.
    register(&mut admin, at(2023, 3, 1), Level::County, 1, "").await;
    for day in [1, 2] {
        register(&mut admin, at(2024, 2, day), Level::County, 1, "").await;
    }
    for day in [1, 2, 3] {
        register(&mut admin, at(2024, 3, day), Level::County, 1, "").await;
    }
    let march = Some(Period {
        start: Some(YearMonth {
            year: 2024,
            month: 3,
        }),
        end: Some(YearMonth {
            year: 2024,
            month: 3,
        }),
    });
    let stats = admin
        .metrics
        .get_visit_statistics(GetVisitStatisticsRequest {
            period: march,
            group_by: VisitGrouping::Month as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let february = Some(Period {
        start: Some(YearMonth {
            year: 2024,
            month: 2,
        }),
        end: Some(YearMonth {
            year: 2024,
            month: 2,
        }),
    });
    assert_eq!(stats.previous_period, february);
    let batches = stats.total.unwrap().batches.unwrap();
    assert_eq!(
        (
            batches.value,
            batches.previous,
            batches.yoy_percent.as_str(),
            batches.previous_period,
            batches.pop_percent.as_str()
        ),
        (3, 1, "200.00", 2, "50.00")
    );
    // The month group "03" compares with February too.
    let group = stats.groups[0].figures.clone().unwrap().batches.unwrap();
    assert_eq!(
        (group.previous_period, group.pop_percent.as_str()),
        (2, "50.00")
    );
    let channels = admin
        .metrics
        .get_channel_statistics(GetChannelStatisticsRequest {
            period: march,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(channels.previous_period, february);

    // Rates: the repeat rate is 0 of 3 in March and 0 of 2 in February (a change of 0 points), the
    // assignment rate has no base in either month.
    let ind = admin
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: march,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ind.previous_period, february);
    let repeat = ind.repeat_rate.unwrap();
    let pop = repeat.previous_period.unwrap();
    assert_eq!(
        (
            pop.numerator,
            pop.denominator,
            pop.percent.as_str(),
            pop.change_points.as_str()
        ),
        (0, 2, "0.00", "0.00")
    );
    let yoy = repeat.previous_year.unwrap();
    assert_eq!((yoy.denominator, yoy.change_points.as_str()), (1, "0.00"));
    let none = ind.on_time_completion.unwrap().previous_period.unwrap();
    assert_eq!((none.denominator, none.change_points.as_str()), (0, ""));
}

/// 两降两升 per year: the default four until the county office sets its own (two down, two up, different
/// indicators), each shown in the indicators and the report with its direction, both years and whether it
/// was met.
#[tokio::test]
async fn two_down_two_up_is_set_per_year_and_judged() {
    use xinfang_proto::v1::{
        GetTwoDownTwoUpRequest, Letter, LetterChannel, RegisterLetterRequest,
        SetTwoDownTwoUpRequest, TrendDirection, TrendGoal,
    };
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    // 2023: two county batches and one to Beijing (three registrations, none online). 2024: one county
    // batch and one online complaint.
    register(&mut admin, at(2023, 3, 1), Level::County, 1, "").await;
    register(&mut admin, at(2023, 3, 2), Level::County, 1, "").await;
    register(&mut admin, at(2023, 3, 3), Level::National, 2, "").await;
    register(&mut admin, at(2024, 3, 1), Level::County, 1, "").await;
    admin
        .visits
        .register_letter(RegisterLetterRequest {
            request_id: request_id(),
            letter: Some(Letter {
                channel: LetterChannel::Online as i32,
                received_at: at(2024, 6, 1),
                petitioners: vec![Petitioner {
                    name: "写信人".into(),
                    ..Default::default()
                }],
                matter: Some(MatterInput {
                    content: "工资".into(),
                    demands: "支付".into(),
                    category: "labor".into(),
                    problem_org_code: "510422100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap();

    let defined = admin
        .metrics
        .get_two_down_two_up(GetTwoDownTwoUpRequest { year: 2024 })
        .await
        .unwrap()
        .into_inner();
    assert!(defined.is_default);
    let goals: Vec<(&str, TrendDirection)> = defined
        .goals
        .iter()
        .map(|g| (g.indicator.as_str(), g.direction()))
        .collect();
    assert_eq!(
        goals,
        [
            ("total_volume", TrendDirection::Down),
            ("national_batches", TrendDirection::Down),
            ("online_share", TrendDirection::Up),
            ("satisfaction_unit", TrendDirection::Up),
        ]
    );
    let judged =
        |ind: &xinfang_proto::v1::Indicators| -> Vec<(String, String, String, String, bool, bool)> {
            ind.two_down_two_up
                .iter()
                .map(|r| {
                    (
                        r.goal.as_ref().unwrap().indicator.clone(),
                        r.value.clone(),
                        r.previous.clone(),
                        r.change.clone(),
                        r.met,
                        r.undetermined,
                    )
                })
                .collect()
        };
    let s = |x: &str| x.to_owned();
    let ind = admin
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: year(2024),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        judged(&ind),
        [
            (s("total_volume"), s("2"), s("3"), s("-33.33"), true, false),
            (
                s("national_batches"),
                s("0"),
                s("1"),
                s("-100.00"),
                true,
                false
            ),
            (
                s("online_share"),
                s("50.00"),
                s("0.00"),
                s("50.00"),
                true,
                false
            ),
            (s("satisfaction_unit"), s(""), s(""), s(""), false, true),
        ]
    );

    // The county office sets its own four for 2024; 2023 keeps the default.
    let goal = |indicator: &str, direction: TrendDirection| TrendGoal {
        indicator: indicator.into(),
        direction: direction as i32,
        ..Default::default()
    };
    let (down, up) = (TrendDirection::Down, TrendDirection::Up);
    let set = |goals: Vec<TrendGoal>| SetTwoDownTwoUpRequest {
        request_id: request_id(),
        year: 2024,
        goals,
    };
    for (goals, field) in [
        (
            vec![goal("visit_persons", down), goal("online_share", up)],
            "goals",
        ),
        (
            vec![
                goal("visit_persons", down),
                goal("leapfrog_batches", down),
                goal("repeat_batches", down),
                goal("online_share", up),
            ],
            "goals",
        ),
        (
            vec![
                goal("weather", down),
                goal("leapfrog_batches", down),
                goal("online_share", up),
                goal("repeat_rate", up),
            ],
            "goals[0].indicator",
        ),
        (
            vec![
                goal("visit_persons", down),
                goal("visit_persons", down),
                goal("online_share", up),
                goal("repeat_rate", up),
            ],
            "goals[1].indicator",
        ),
    ] {
        let status = admin
            .metrics
            .set_two_down_two_up(set(goals))
            .await
            .unwrap_err();
        assert_eq!(bad_field(&status), field, "{status:?}");
    }
    let unchanged = admin
        .metrics
        .get_two_down_two_up(GetTwoDownTwoUpRequest { year: 2024 })
        .await
        .unwrap()
        .into_inner();
    assert!(unchanged.is_default, "refusals change nothing");
    let request = set(vec![
        goal("visit_persons", down),
        TrendGoal {
            name: "集体访".into(),
            ..goal("collective_batches", down)
        },
        goal("online_share", up),
        goal("repeat_rate", up),
    ]);
    let saved = admin
        .metrics
        .set_two_down_two_up(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = admin
        .metrics
        .set_two_down_two_up(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, saved, "the same request_id gives the first answer");
    assert!(!saved.is_default);
    assert_eq!(saved.goals[1].name, "集体访");
    assert_eq!(saved.goals[0].name, "来访人次", "the indicator's own name");
    let ind = admin
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: year(2024),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        judged(&ind),
        [
            (s("visit_persons"), s("1"), s("4"), s("-75.00"), true, false),
            // Nothing to reduce: zero both years is met.
            (s("collective_batches"), s("0"), s("0"), s(""), true, false),
            (
                s("online_share"),
                s("50.00"),
                s("0.00"),
                s("50.00"),
                true,
                false
            ),
            // No repeats either year: 0 % is not a rise.
            (
                s("repeat_rate"),
                s("0.00"),
                s("0.00"),
                s("0.00"),
                false,
                false
            ),
        ]
    );
    let older = admin
        .metrics
        .get_two_down_two_up(GetTwoDownTwoUpRequest { year: 2023 })
        .await
        .unwrap()
        .into_inner();
    assert!(older.is_default);

    let report = admin
        .metrics
        .generate_self_evaluation_report(GenerateSelfEvaluationReportRequest { year: 2024 })
        .await
        .unwrap()
        .into_inner();
    let md = &report.markdown;
    assert!(md.contains("两降两升"), "{md}");
    assert!(
        md.contains("| 来访人次 | 降 | 1 | 4 | 下降75.00% | 达成 |"),
        "{md}"
    );
    assert!(
        md.contains("| 重复信访率 | 升 | 0.00% | 0.00% | 持平 | 未达成 |"),
        "{md}"
    );
}

/// A fund request of 2024 taken through the chain: submitted by the clerk, decided by the bureau's meeting,
/// approved by a leader and paid by `method` (or left at `stop`).
async fn spend(
    clerk: &mut xinfang_client::Client,
    leader: &mut xinfang_client::Client,
    category: &str,
    amount: &str,
    method: Option<xinfang_proto::v1::PaymentMethod>,
) {
    use xinfang_proto::v1::{
        ApproveFundRequestRequest, Date, DisburseFundRequestRequest, FundPurpose,
        RecordBureauDecisionRequest, SubmitFundRequestRequest,
    };
    let request = clerk
        .funds
        .submit_fund_request(SubmitFundRequestRequest {
            request_id: request_id(),
            year: 2024,
            category: category.into(),
            purpose: FundPurpose::Lawyer as i32,
            unit_code: "510422XF".into(),
            description: "法律顾问服务费".into(),
            amount: amount.into(),
            payee: "某律师事务所".into(),
            occurred_at: at(2024, 5, 6),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let Some(method) = method else { return };
    clerk
        .funds
        .record_bureau_decision(RecordBureauDecisionRequest {
            request_id: request_id(),
            fund_request_id: request.id.clone(),
            occurred_at: at(2024, 5, 10),
            approve: true,
            meeting_reference: "2024年第5次局务会".into(),
            meeting_date: Some(Date {
                year: 2024,
                month: 5,
                day: 10,
            }),
            comment: "同意".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    leader
        .funds
        .approve_fund_request(ApproveFundRequestRequest {
            request_id: request_id(),
            fund_request_id: request.id.clone(),
            comment: "同意".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    clerk
        .funds
        .disburse_fund_request(DisburseFundRequestRequest {
            request_id: request_id(),
            fund_request_id: request.id.clone(),
            method: method as i32,
            voucher_number: "盐国库支〔2024〕1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// The generated self-evaluation has the sections of the bureau's filing in its order, the score table with
/// its levels and columns, the fund's management and payment figures, and every inconsistency it can
/// compute with the figures that disagree.
#[tokio::test]
async fn the_report_follows_the_bureau_filing() {
    use xinfang_proto::v1::{CreateBudgetRequest, PaymentMethod};
    let app = spawn_app().await;
    let mut clerk = app.client_with(Some(&app.token(Role::CountyClerk, "510422XF").await));
    let mut leader = app.client_with(Some(&app.token(Role::Leader, "510422XF").await));
    for (category, document, amount) in [
        ("special_difficult", "盐财资行〔2024〕1号", "10000.00"),
        ("other_key_work", "盐财资行〔2024〕2号", "5000.00"),
    ] {
        clerk
            .funds
            .create_budget(CreateBudgetRequest {
                request_id: request_id(),
                year: 2024,
                category: category.into(),
                document: document.into(),
                amount: amount.into(),
                occurred_at: at(2024, 2, 1),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    spend(
        &mut clerk,
        &mut leader,
        "other_key_work",
        "3000.00",
        Some(PaymentMethod::Direct),
    )
    .await;
    spend(
        &mut clerk,
        &mut leader,
        "other_key_work",
        "1000.00",
        Some(PaymentMethod::Authorized),
    )
    .await;
    spend(&mut clerk, &mut leader, "special_difficult", "500.00", None).await;
    for day in [1, 2] {
        register(&mut clerk, at(2024, 3, day), Level::County, 1, "").await;
    }
    // Weights of 60 and 30: ten points of a hundred are nobody's.
    set_target(
        &mut clerk,
        target("county_batches", TargetDirection::AtMost, "10", "60"),
    )
    .await
    .unwrap();
    set_target(
        &mut clerk,
        target("county_person_visits", TargetDirection::AtMost, "1", "30"),
    )
    .await
    .unwrap();

    let report = clerk
        .metrics
        .generate_self_evaluation_report(GenerateSelfEvaluationReportRequest { year: 2024 })
        .await
        .unwrap()
        .into_inner();
    let md = &report.markdown;
    // The filing's sections, in its order.
    let mut from = 0;
    for heading in [
        "2024年度专项（项目）资金绩效自评报告",
        "## 一、项目概况",
        "### （一）项目基本情况",
        "### （二）项目绩效目标",
        "### （三）项目自评步骤及方法",
        "## 二、项目资金申报及使用情况",
        "### （一）项目资金申报及批复情况",
        "### （二）资金计划、到位及使用情况",
        "### （三）项目财务管理情况",
        "## 三、项目实施及管理情况",
        "### （一）项目组织架构及实施流程",
        "### （二）项目管理情况",
        "### （三）项目监管情况",
        "## 四、项目绩效情况",
        "### （一）项目完成情况",
        "### （二）项目效益情况",
        "### （三）绩效指标完成情况",
        "## 五、评价结论及建议",
        "### （一）评价结论",
        "### （二）存在的问题",
        "### （三）相关建议",
    ] {
        let Some(at) = md[from..].find(heading) else {
            panic!("{heading} after byte {from}:\n{md}");
        };
        from += at + heading.len();
    }
    // The score table: levels, nature, target and actual values, points and score.
    assert!(
        md.contains(
            "| 一级指标 | 二级指标 | 三级指标 | 指标性质 | 指标值 | 实际完成值 | 分值 | 得分 |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| 产出指标 | 数量指标 | county_batches | ≤ | 10 | 2 | 30.00 | 30.00 |"),
        "{md}"
    );
    assert!(md.contains("| 效益指标 | 社会效益指标 |"), "{md}");
    assert!(md.contains("| 满意度指标 | 服务对象满意度指标 |"), "{md}");
    // The fund: budget, executed, execution rate, and payments by method from the disbursed requests.
    assert!(md.contains("全年预算数15000.00元"), "{md}");
    assert!(md.contains("全年执行数4000.00元"), "{md}");
    assert!(md.contains("执行率26.67%"), "{md}");
    assert!(md.contains("直接支付1笔3000.00元"), "{md}");
    assert!(md.contains("授权支付1笔1000.00元"), "{md}");
    assert!(md.contains("现金支出0元"), "{md}");
    // The weights that do not reach 100, with the weights.
    assert!(
        report
            .inconsistencies
            .iter()
            .any(|n| n.contains("90.00") && n.contains("60、30")),
        "{:?}",
        report.inconsistencies
    );
    // The missed cap (2 person-visits against at most 1) is a problem found, with a suggestion.
    let problems = &md[md.find("### （二）存在的问题").unwrap()..];
    assert!(problems.contains("county_person_visits"), "{problems}");
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == "weights" && f.figures.iter().any(|x| x.value == "90.00")),
        "{:?}",
        report.findings
    );
}
