//! `xf metrics …` and `xf report` against the real server: the tables, the CSV and XLSX files, the Markdown
//! report and the chart that the client library functions behind those commands write, on a little data
//! loaded through the API.

use std::path::Path;

use xinfang_client::{
    Client,
    chart::Measure,
    export,
    metrics::{self, ReportOptions},
};
use xinfang_proto::v1::{
    CreateBudgetRequest, GenerateSelfEvaluationReportRequest, GetIndicatorsRequest,
    GetVisitStatisticsRequest, Letter, LetterChannel, Level, MatterInput, Petitioner,
    RegisterLetterRequest, RegisterVisitRequest, SetTargetRequest, Target, TargetDirection, Visit,
    VisitGrouping,
};
use xinfang_tests::{request_id, spawn_app};

/// 10:00 in Shanghai on the given day.
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

fn matter() -> Option<MatterInput> {
    Some(MatterInput {
        content: "拖欠工资".into(),
        demands: "支付工资".into(),
        category: "labor".into(),
        problem_org_code: "510422100".into(),
        ..Default::default()
    })
}

async fn visit(
    client: &mut Client,
    when: Option<prost_types::Timestamp>,
    level: Level,
    headcount: i32,
    non_reception: bool,
) {
    client
        .visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(Visit {
                visited_at: when,
                level: level as i32,
                non_reception_place: non_reception,
                place_name: "接待大厅".into(),
                headcount,
                petitioners: vec![Petitioner {
                    name: "某人".into(),
                    ..Default::default()
                }],
                matter: matter(),
                ..Default::default()
            }),
        })
        .await
        .expect("registering a visit");
}

/// 2019: two county batches of 2 in March. 2020: three county batches of 3 in March, one national batch
/// met at a non-reception place in March, one city batch in May, one online letter; a cap of 8 county
/// person-visits; 2,000.00 yuan of budget.
async fn load(client: &mut Client) {
    for day in [2, 3] {
        visit(client, at(2019, 3, day), Level::County, 2, false).await;
    }
    for day in [2, 3, 4] {
        visit(client, at(2020, 3, day), Level::County, 3, false).await;
    }
    visit(client, at(2020, 3, 10), Level::National, 1, true).await;
    visit(client, at(2020, 5, 6), Level::City, 1, false).await;
    client
        .visits
        .register_letter(RegisterLetterRequest {
            request_id: request_id(),
            letter: Some(Letter {
                channel: LetterChannel::Online as i32,
                received_at: at(2020, 6, 1),
                petitioners: vec![Petitioner {
                    name: "写信人".into(),
                    ..Default::default()
                }],
                matter: matter(),
                ..Default::default()
            }),
        })
        .await
        .expect("registering a letter");
    client
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
        .expect("setting a target");
    client
        .funds
        .create_budget(CreateBudgetRequest {
            request_id: request_id(),
            year: 2020,
            category: "other".into(),
            document: "盐财资行〔2020〕1号".into(),
            amount: "2000.00".into(),
            ..Default::default()
        })
        .await
        .expect("a budget");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The worksheets of an XLSX file, by the part names its zip directory lists (stored uncompressed).
fn sheet_count(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04"), "an XLSX file is a zip");
    let has = |part: &str| bytes.windows(part.len()).any(|w| w == part.as_bytes());
    assert!(has("xl/workbook.xml") && has("xl/sharedStrings.xml"));
    (1..50)
        .take_while(|n| has(&format!("xl/worksheets/sheet{n}.xml")))
        .count()
}

#[tokio::test]
async fn metrics_tables_exports_and_the_report_come_from_the_server() {
    let app = spawn_app().await;
    let mut client = Client::connect(&app.address, Some(&app.admin_token))
        .await
        .expect("connecting as xf does");
    load(&mut client).await;
    let dir = tempfile::tempdir().unwrap();
    let year = metrics::period(Some(2020), None, None).unwrap();

    // xf metrics visits --year 2020 --group-by month --csv … --xlsx …
    let stats = metrics::visits(
        &mut client,
        GetVisitStatisticsRequest {
            period: Some(year),
            org_code: String::new(),
            group_by: VisitGrouping::Month as i32,
        },
    )
    .await
    .unwrap();
    let table = metrics::visits_table(&stats, VisitGrouping::Month);
    let csv_path = dir.path().join("visits.csv");
    table.write_csv(&csv_path).unwrap();
    let csv = read(&csv_path);
    assert!(
        csv.starts_with(
            "\u{feff}breakdown,key,key_name,figure,name,value,previous,yoy_percent,previous_period,pop_percent\n"
        ),
        "{csv}"
    );
    for line in [
        "total,all,合计,batches,批次,5,2,150.00,2,150.00",
        "total,all,合计,persons,人次,11,4,175.00,4,175.00",
        "level,county,本级,batches,批次,3,2,50.00,2,50.00",
        "level,county,本级,persons,人次,9,4,125.00,4,125.00",
        // No city visit in 2019: no change on a zero base.
        "level,city,赴市,batches,批次,1,0,,0,",
        "level,national,进京,non_reception_batches,非接待场所批次,1,0,,0,",
        "level,province,赴省,batches,批次,0,0,,0,",
    ] {
        assert!(csv.contains(&format!("\n{line}\n")), "{line} in\n{csv}");
    }
    let month_rows = csv
        .lines()
        .filter(|l| l.starts_with("month,") && l.contains(",batches,"))
        .count();
    assert_eq!(month_rows, 2, "March and May: {csv}");
    let xlsx_path = dir.path().join("visits.xlsx");
    export::write_xlsx(&xlsx_path, &[&table]).unwrap();
    assert_eq!(sheet_count(&xlsx_path), 1);

    // xf metrics indicators --year 2020 --json / --csv
    let ind = metrics::indicators(
        &mut client,
        GetIndicatorsRequest {
            period: Some(year),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let csv = metrics::indicators_table(&ind).to_csv();
    assert!(
        csv.contains("\nonline_share,网上信访占比,1,6,16.67,0.00,16.67,0.00,16.67\n"),
        "six registrations, one online: {csv}"
    );
    assert!(
        csv.contains("\nrepeat_rate,重复信访率,0,6,0.00,0.00,0.00,0.00,0.00\n"),
        "{csv}"
    );
    let json = metrics::indicators_json(&ind);
    assert_eq!(json[9]["indicator"], "online_share");
    assert_eq!(json[9]["denominator"], 6);
    assert_eq!(json[9]["percent"], "16.67");

    // xf metrics targets / budget --year 2020
    let done = metrics::targets(&mut client, 2020, 0).await.unwrap();
    let csv = metrics::targets_table(&done).to_csv();
    let line = csv
        .lines()
        .find(|l| l.starts_with("county_person_visits,"))
        .unwrap_or_else(|| panic!("{csv}"));
    assert!(
        line.starts_with("county_person_visits,预计上访人次,≤,8,"),
        "{line}"
    );
    assert!(line.contains(",9,88.89,44.44,"), "8 of 9: {line}");
    assert!(
        csv.contains("\noutput_score,产出指标得分,,,100.00,50,,,44.44,"),
        "{csv}"
    );
    let money = metrics::budget(&mut client, 2020).await.unwrap();
    let csv = metrics::budget_table(&money).to_csv();
    assert!(
        csv.contains("\nother,其他经费,2000.00,0.00,0.00,\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\ntotal,合计,2000.00,0.00,0.00,0.00\n"),
        "{csv}"
    );

    // Visits by level for each month, one call per month, add up to the year.
    let monthly = metrics::monthly_visits(&mut client, 2020, "")
        .await
        .unwrap();
    assert_eq!(monthly.months.len(), 12);
    let persons = |m: usize, level: usize| {
        monthly.months[m].levels[level]
            .persons
            .as_ref()
            .map_or(0, |f| f.value)
    };
    assert_eq!((persons(2, 0), persons(2, 3), persons(4, 1)), (9, 1, 1));
    let county_year: i64 = (0..12).map(|m| persons(m, 0)).sum();
    assert_eq!(county_year, 9);
    let csv = metrics::monthly_visits_table(&monthly).to_csv();
    assert!(csv.contains("\n2020-03,3,9,0,0,0,0,1,1,4,10\n"), "{csv}");

    // xf report 2020 --out report.md --xlsx report.xlsx --chart visits.svg
    let options = ReportOptions {
        year: 2020,
        markdown: Some(dir.path().join("report.md")),
        xlsx: Some(dir.path().join("report.xlsx")),
        chart: Some(dir.path().join("visits.svg")),
        chart_measure: Measure::Persons,
    };
    let out = metrics::report(&mut client, &options).await.unwrap();
    assert_eq!(out.written.len(), 3);
    let markdown = read(options.markdown.as_ref().unwrap());
    let direct = client
        .metrics
        .generate_self_evaluation_report(GenerateSelfEvaluationReportRequest { year: 2020 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(markdown, direct.markdown, "the file is the server's report");
    assert!(markdown.starts_with("# "), "{markdown}");
    assert!(markdown.contains("2020"), "{markdown}");
    assert!(markdown.contains("预计上访人次"), "{markdown}");
    let report = &out.report;
    assert_eq!(report.year, 2020);
    assert!(
        report
            .inconsistencies
            .iter()
            .any(|n| n.contains("预计上访人次")),
        "the missed cap is listed: {:?}",
        report.inconsistencies
    );
    let scores = metrics::scores_table(report).to_csv();
    assert!(
        scores.contains("\noutputs,产出指标,50,44.44,\n"),
        "{scores}"
    );
    assert!(
        scores.contains(&format!(
            "\ntotal,总分,100,{},{}\n",
            report.total_score, report.grade
        )),
        "{scores}"
    );
    assert_eq!(
        sheet_count(options.xlsx.as_ref().unwrap()),
        9,
        "scores, inconsistencies, indicators, 两降两升, visits, visits by month, channels, targets, budget"
    );
    let svg = read(options.chart.as_ref().unwrap());
    assert!(svg.starts_with("<svg"), "{svg}");
    // Chinese labels where a CJK font is installed (the README names the Debian package), English otherwise.
    if xinfang_client::chart::chinese_labels() {
        assert!(
            svg.contains("各层级来访人次（按月）2020-01..2020-12"),
            "{svg}"
        );
        assert!(svg.contains("进京"), "{svg}");
    } else {
        assert!(svg.contains("Visits by level and month, 2020-01..2020-12 (person-visits)"));
        assert!(svg.contains("national"));
    }
    assert!(svg.contains("2020-03") && !svg.contains("2021-01"));
    // March's one national visit is drawn, and carries its number, beside the county's nine.
    assert!(
        svg.contains("\n1\n</text>") && svg.contains("\n9\n</text>"),
        "{svg}"
    );

    // A PNG chart too; any other kind is refused before the server is asked.
    let png = dir.path().join("visits.png");
    let out = metrics::report(
        &mut client,
        &ReportOptions {
            year: 2020,
            chart: Some(png.clone()),
            chart_measure: Measure::Batches,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(out.written, std::slice::from_ref(&png));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let err = metrics::report(
        &mut client,
        &ReportOptions {
            year: 2020,
            chart: Some(dir.path().join("visits.jpg")),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains(".svg or .png"), "{err}");
}
