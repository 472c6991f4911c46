//! The acceptance fixture end to end: the 2019 and 2020 records loaded through the API
//! ([`load_seed_years`]) give back every figure of the bureau's 2020 self-evaluation report from
//! MetricsService: indicators, visit and channel statistics with year-over-year changes, budget execution,
//! target completion and the generated report.

use std::{collections::BTreeMap, str::FromStr, time::Instant};

use rust_decimal::Decimal;
use xinfang_client::Client;
use xinfang_proto::v1::{
    Figure, GenerateSelfEvaluationReportRequest, GetBudgetExecutionRequest,
    GetChannelStatisticsRequest, GetIndicatorsRequest, GetTargetCompletionRequest,
    GetVisitStatisticsRequest, Indicators, ListTargetsRequest, Period, Rate, VisitFigures,
    YearMonth,
};
use xinfang_tests::{
    fixture::{YEARS, load_seed_years},
    spawn_app,
};

fn year(year: i32) -> Option<Period> {
    Some(Period {
        start: Some(YearMonth { year, month: 1 }),
        end: Some(YearMonth { year, month: 12 }),
    })
}

fn rate(r: &Option<Rate>) -> (i64, i64, &str) {
    let r = r.as_ref().expect("a rate");
    (r.numerator, r.denominator, r.percent.as_str())
}

fn figure(f: &Option<Figure>) -> (i64, i64, &str) {
    let f = f.as_ref().expect("a figure");
    (f.value, f.previous, f.yoy_percent.as_str())
}

fn value(f: &Option<Figure>) -> i64 {
    f.as_ref().expect("a figure").value
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("{s:?} is not a decimal"))
}

async fn indicators(client: &mut Client, request: GetIndicatorsRequest) -> Indicators {
    client
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: year(2020),
            ..request
        })
        .await
        .expect("indicators")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_reproduces_the_2020_report() {
    let app = spawn_app().await;
    let started = Instant::now();
    load_seed_years(&app)
        .await
        .unwrap_or_else(|e| panic!("loading the seed years: {e:#}"));
    eprintln!("seed years loaded in {:?}", started.elapsed());
    let mut client = app.client.clone();

    // The rates of the report's 项目效益情况, with what they are made of.
    let i = indicators(&mut client, GetIndicatorsRequest::default()).await;
    assert_eq!(i.matters_accepted, 437, "受理信访件437件");
    assert_eq!(rate(&i.timely_acceptance_office), (437, 437, "100.00"));
    assert_eq!(rate(&i.timely_acceptance_unit), (437, 437, "100.00"));
    assert_eq!(rate(&i.on_time_completion), (416, 424, "98.11"));
    assert_eq!(i.evaluations, 87, "参评满意度评价87件");
    assert_eq!(rate(&i.participation_office), (86, 87, "98.85"));
    assert_eq!(rate(&i.satisfaction_office), (84, 86, "97.67"));
    assert_eq!(rate(&i.participation_unit), (85, 87, "97.70"));
    assert_eq!(rate(&i.satisfaction_unit), (81, 85, "95.29"));
    assert_eq!(rate(&i.backlog_resolution), (4, 4, "100.00"));
    assert_eq!(i.special_difficult_resolved, 4);

    // The variants: "basically satisfied" counted (two such unit ratings, none for the office); pending
    // cases added (none of 2020 is still pending); the cases behind the on-time rate.
    let variant = indicators(
        &mut client,
        GetIndicatorsRequest {
            basically_satisfied_counts: true,
            include_pending: true,
            include_ids: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(rate(&variant.satisfaction_unit), (83, 85, "97.65"));
    assert_eq!(rate(&variant.satisfaction_office), (84, 86, "97.67"));
    assert_eq!(rate(&variant.on_time_completion), (416, 424, "98.11"));
    let on_time = variant.on_time_completion.as_ref().expect("a rate");
    assert_eq!(
        (
            on_time.numerator_case_ids.len(),
            on_time.other_case_ids.len()
        ),
        (416, 8)
    );

    // Visits by level, with the 2019 bases. The province line is the true one (the seed's +33.3% / −100%
    // cannot come from any records).
    let visits = client
        .metrics
        .get_visit_statistics(GetVisitStatisticsRequest {
            period: year(2020),
            ..Default::default()
        })
        .await
        .expect("visit statistics")
        .into_inner();
    let levels: BTreeMap<&str, &VisitFigures> = visits
        .levels
        .iter()
        .map(|g| (g.key.as_str(), g.figures.as_ref().expect("figures")))
        .collect();
    let county = levels["county"];
    assert_eq!(figure(&county.batches), (305, 484, "-36.98"));
    // For a whole year the preceding period of equal length (环比) is the year before.
    let batches = county.batches.as_ref().expect("a figure");
    assert_eq!(
        (batches.previous_period, batches.pop_percent.as_str()),
        (484, "-36.98")
    );
    assert_eq!(figure(&county.persons), (1137, 1357, "-16.21"));
    assert_eq!(
        (
            value(&county.initial_batches),
            value(&county.initial_persons)
        ),
        (182, 692)
    );
    assert_eq!(
        (value(&county.repeat_batches), value(&county.repeat_persons)),
        (123, 445)
    );
    let city = levels["city"];
    assert_eq!(figure(&city.batches), (46, 74, "-37.84"));
    assert_eq!(figure(&city.persons), (158, 231, "-31.60"));
    let province = levels["province"];
    assert_eq!(figure(&province.batches), (9, 6, "50.00"));
    assert_eq!(figure(&province.persons), (13, 11, "18.18"));
    assert_eq!(
        (
            value(&province.repeat_batches),
            value(&province.repeat_persons)
        ),
        (6, 8)
    );
    let total = visits.total.as_ref().expect("all levels");
    assert_eq!(figure(&total.batches), (360, 564, "-36.17"));
    assert_eq!(figure(&total.persons), (1308, 1599, "-18.20"));

    // Letters and online items, reviews and campaign transfers.
    let channels = client
        .metrics
        .get_channel_statistics(GetChannelStatisticsRequest {
            period: year(2020),
            ..Default::default()
        })
        .await
        .expect("channel statistics")
        .into_inner();
    assert_eq!(figure(&channels.letters_and_online), (343, 389, "-11.83"));
    assert_eq!(
        figure(&channels.reviews),
        (3, 4, "-25.00"),
        "复查3件，同比下降25%"
    );
    assert_eq!(figure(&channels.second_reviews), (0, 0, ""), "no 复核");
    assert_eq!(figure(&channels.campaign_transfers), (17, 0, ""));
    let by_channel: BTreeMap<&str, (i64, i64)> = channels
        .channels
        .iter()
        .map(|c| {
            let items = c.items.as_ref().expect("items");
            (c.channel.as_str(), (items.value, items.previous))
        })
        .collect();
    for ((channel, now), (_, before)) in YEARS[1].letters.iter().zip(&YEARS[0].letters) {
        let name = channel.as_str_name().trim_start_matches("LETTER_CHANNEL_");
        let name = name.to_lowercase();
        assert_eq!(
            by_channel.get(name.as_str()),
            Some(&(*now as i64, *before as i64)),
            "{name}"
        );
    }
    assert_eq!(by_channel.get("campaign_transfer"), Some(&(17, 0)));

    // The budget: both named parts of the report, the 2,000.00 that makes up its total, all spent.
    let budget = client
        .metrics
        .get_budget_execution(GetBudgetExecutionRequest { year: 2020 })
        .await
        .expect("budget execution")
        .into_inner();
    let categories: BTreeMap<&str, (&str, &str)> = budget
        .categories
        .iter()
        .map(|c| {
            assert_eq!(dec(&c.execution_percent), dec("100"), "{}", c.category);
            (
                c.category.as_str(),
                (c.appropriated.as_str(), c.disbursed.as_str()),
            )
        })
        .collect();
    assert_eq!(
        categories,
        BTreeMap::from([
            ("other", ("2000.00", "2000.00")),
            ("other_key_work", ("517400.00", "517400.00")),
            ("special_difficult", ("275900.00", "275900.00")),
        ])
    );
    assert_eq!(
        (budget.appropriated.as_str(), budget.disbursed.as_str()),
        ("795300.00", "795300.00")
    );
    assert_eq!(dec(&budget.execution_percent), dec("100"));
    assert_eq!(dec(&budget.score), dec("10"));
    let payments: Vec<(i32, i64, &str)> = budget
        .payments
        .iter()
        .map(|p| (p.method, p.requests, p.amount.as_str()))
        .collect();
    assert_eq!(
        payments,
        [(
            xinfang_proto::v1::PaymentMethod::Direct as i32,
            12,
            "795300.00"
        )],
        "every request paid by 直接支付"
    );

    // The targets: 1137 person-visits ≤ 2000, 305 batches ≤ 400, 4 ≥ 4 special difficult cases: all met.
    let targets = client
        .metrics
        .list_targets(ListTargetsRequest { year: 2020 })
        .await
        .expect("targets")
        .into_inner();
    assert_eq!(targets.targets.len(), 3);
    let completion = client
        .metrics
        .get_target_completion(GetTargetCompletionRequest {
            year: 2020,
            through_month: 12,
        })
        .await
        .expect("target completion")
        .into_inner();
    let actuals: BTreeMap<&str, (Decimal, Decimal)> = completion
        .results
        .iter()
        .map(|r| {
            let target = r.target.as_ref().expect("the target");
            (
                target.indicator.as_str(),
                (dec(&r.actual), dec(&r.completion_percent)),
            )
        })
        .collect();
    let hundred = dec("100");
    assert_eq!(
        actuals,
        BTreeMap::from([
            ("county_batches", (dec("305"), hundred)),
            ("county_person_visits", (dec("1137"), hundred)),
            ("special_difficult_resolved", (dec("4"), hundred)),
        ])
    );
    // Full output points, up to the rounding of three equal shares of 50.
    let output = dec(&completion.output_score);
    assert!((dec("49.99")..=dec("50.01")).contains(&output), "{output}");

    // The report the bureau files, computed from the records.
    let report = client
        .metrics
        .generate_self_evaluation_report(GenerateSelfEvaluationReportRequest { year: 2020 })
        .await
        .expect("the report")
        .into_inner();
    let md = &report.markdown;
    std::fs::write("/tmp/report-2020.md", md).ok();
    std::fs::write(
        "/tmp/report-2020-findings.txt",
        format!("{:#?}", report.findings),
    )
    .ok();
    for figure in ["305", "1137", "343", "98.11", "437"] {
        assert!(md.contains(figure), "the report shows {figure}:\n{md}");
    }
    assert!(
        md.contains("795300.00") || md.contains("79.53"),
        "the report shows the budget:\n{md}"
    );
    assert!(
        report
            .inconsistencies
            .iter()
            .any(|s| s.contains("province") || s.contains("到省")),
        "the seed's province line is reported as irreproducible: {:?}",
        report.inconsistencies
    );
    // The filing's figures, each rounded once from its counts, and the fund's payments.
    for line in [
        "复查3件，同比下降25%；复核0件",
        "对信访部门参评率达98.9%，群众满意率达97.7%，对责任部门群众参评率达97.7%，群众满意率达95.3%",
        "直接支付12笔795300.00元，授权支付0笔0.00元，现金支出0元",
        "| 按期办结率 | 416/424 | 98.11% |",
    ] {
        assert!(md.contains(line), "{line} in\n{md}");
    }
    // What no records can give: the province line (batches and persons) and the published budget, whose
    // total is 0.20万 more than its two named parts.
    let published: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.kind == "published")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(published.len(), 3, "{published:?}");
    assert!(
        published
            .iter()
            .any(|m| m.contains("79.53") && m.contains("79.33")),
        "{published:?}"
    );
    assert_eq!(
        report.findings.len(),
        3,
        "nothing else disagrees: {:?}",
        report.findings
    );
    app.assert_rollups_match_records().await;
}
