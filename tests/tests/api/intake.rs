//! Intake over gRPC: a realistic day of visits, letters and a trip, the derived flags, numbers, masks,
//! scopes, the audit of unmasked reads, and encryption at rest.

use std::collections::BTreeSet;

use tonic::Code;
use tonic_types::StatusExt;
use xinfang_proto::v1::{
    GetVisitRequest, Letter, LetterChannel, Level, ListReturnTripsRequest, ListVisitsRequest,
    MatterInput, Petitioner, RecordReturnTripRequest, RegisterLetterRequest, RegisterVisitRequest,
    ReturnTrip, TripCosts, TripOutcome, Visit,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, now_secs, request_id, spawn_app, ts};

const ZHANG: &str = "11010519491231002X";
const LI: &str = "440524188001010014";
const WANG: &str = "34052419800101001X";

fn person(name: &str, id_number: &str, phone: &str, representative: bool) -> Petitioner {
    Petitioner {
        name: name.into(),
        id_number: id_number.into(),
        phone: phone.into(),
        address: "攀枝花市盐边县桐子林镇".into(),
        representative,
        ..Default::default()
    }
}

fn matter(category: &str, org: &str) -> MatterInput {
    MatterInput {
        content: "拖欠工资三个月".into(),
        demands: "要求支付工资".into(),
        category: category.into(),
        problem_org_code: org.into(),
        ..MatterInput::default()
    }
}

fn visit(level: Level, headcount: i32, petitioners: Vec<Petitioner>, matter: MatterInput) -> Visit {
    Visit {
        visited_at: ts(now_secs() - 3_600),
        level: level as i32,
        place_name: "盐边县信访局接待大厅".into(),
        headcount,
        petitioners,
        matter: Some(matter),
        ..Default::default()
    }
}

async fn register(client: &mut xinfang_client::Client, v: Visit) -> Result<Visit, tonic::Status> {
    client
        .visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(v),
        })
        .await
        .map(|r| r.into_inner())
}

async fn register_letter(
    client: &mut xinfang_client::Client,
    l: Letter,
) -> Result<Letter, tonic::Status> {
    client
        .visits
        .register_letter(RegisterLetterRequest {
            request_id: request_id(),
            letter: Some(l),
        })
        .await
        .map(|r| r.into_inner())
}

async fn clerk(app: &TestApp) -> xinfang_client::Client {
    let token = app.token(Role::CountyClerk, "510422XF").await;
    app.client_with(Some(&token))
}

fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_realistic_day_classifies_numbers_and_links_everything() {
    let app = spawn_app().await;
    let mut clerk = clerk(&app).await;
    let year = xinfang_server::kernel::numbers::register_year(chrono::Utc::now());

    // An individual first visit about unpaid wages in 桐子林镇.
    let first = register(
        &mut clerk,
        visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "13812345678", false)],
            matter("labor", "510422100"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(first.number, format!("XF510422-{year}-000001"));
    assert!(!first.collective && !first.leapfrog);
    let first_case = first.classification.clone().unwrap();
    assert!(!first_case.repeat);
    // The county clerk sees what was typed, in full.
    assert_eq!(first.petitioners[0].id_number, ZHANG);
    assert!(!first.petitioners[0].masked);

    // Six villagers go to the city about land: collective, and leapfrog for a township case.
    let collective = register(
        &mut clerk,
        visit(
            Level::City,
            6,
            vec![
                person("李四", LI, "", true),
                person("王五", WANG, "0812-3456789", true),
            ],
            matter("land", "510422101"),
        ),
    )
    .await
    .unwrap();
    assert!(collective.collective && collective.leapfrog);
    assert!(!collective.classification.as_ref().unwrap().repeat);
    assert_eq!(collective.number, format!("XF510422-{year}-000002"));

    // 张三 comes back about the same case: a repeat, linked to the first case.
    let again = register(
        &mut clerk,
        visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "", false)],
            matter("labor", "510422100"),
        ),
    )
    .await
    .unwrap();
    let again_case = again.classification.unwrap();
    assert!(again_case.repeat);
    assert_eq!(again_case.case_id, first_case.case_id);

    // Same person, another case: initial.
    let other = register(
        &mut clerk,
        visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "", false)],
            matter("education", "510422100"),
        ),
    )
    .await
    .unwrap();
    assert!(!other.classification.as_ref().unwrap().repeat);
    assert_ne!(other.classification.unwrap().case_id, first_case.case_id);

    // An anonymous online complaint opens its own case.
    let anonymous = register_letter(
        &mut clerk,
        Letter {
            channel: LetterChannel::Online as i32,
            received_at: ts(now_secs() - 600),
            matter: Some(matter("environment", "510422102")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(anonymous.anonymous);
    assert!(!anonymous.classification.unwrap().repeat);

    // A 扫黑除恶 campaign transfer naming 张三 about the wages: a repeat across visits and letters.
    let agency = app.token(Role::Agency, "510422XF").await;
    let transfer = register_letter(
        &mut app.client_with(Some(&agency)),
        Letter {
            channel: LetterChannel::CampaignTransfer as i32,
            source_reference: "攀扫黑办转〔2020〕17号".into(),
            campaign: "扫黑除恶".into(),
            received_at: ts(now_secs() - 60),
            petitioners: vec![person("张三", ZHANG, "", false)],
            matter: Some(matter("labor", "510422100")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(!transfer.anonymous);
    // The agency learns that its letter repeats a case, not which one: it reads only the cases its own
    // letters opened. The county sees the link.
    let transfer_case = transfer.classification.clone().unwrap();
    assert!(transfer_case.repeat);
    assert_eq!(transfer_case.case_id, "");
    let seen_by_county = clerk
        .visits
        .get_letter(xinfang_proto::v1::GetLetterRequest {
            id: transfer.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seen_by_county.classification.unwrap().case_id,
        first_case.case_id
    );
    // The agency's role does not see personal data in full.
    assert!(transfer.petitioners[0].masked);
    assert_eq!(transfer.petitioners[0].id_number, "110105********002X");

    // One person, one petitioner record, however often they come.
    let zhang: i64 = sqlx::query_scalar("SELECT count(*) FROM petitioners WHERE name = '张三'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(zhang, 1);
    assert_eq!(count(&app, "cases").await, 4);

    // A trip to Beijing about the wage case. A field officer may not name a case it does not read (it
    // reads the cases its own registrations opened); the county office records the trip.
    let officer = app.token(Role::FieldOfficer, "510422XF").await;
    let status = app
        .client_with(Some(&officer))
        .visits
        .record_return_trip(RecordReturnTripRequest {
            request_id: request_id(),
            trip: Some(ReturnTrip {
                notified_by: "驻京工作组".into(),
                notified_at: ts(now_secs() - 3_600),
                destination_level: Level::National as i32,
                destination_place: "国家信访局来访接待司".into(),
                responsible_org_code: "510422100".into(),
                officers: vec!["赵六".into()],
                case_ids: vec![first_case.case_id.clone()],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["trip.case_ids[0]"]);
    let mut officer_client = clerk.clone();
    let start = now_secs() - 3 * 86_400;
    let trip = officer_client
        .visits
        .record_return_trip(RecordReturnTripRequest {
            request_id: request_id(),
            trip: Some(ReturnTrip {
                notified_by: "驻京工作组".into(),
                notified_at: ts(start),
                destination_level: Level::National as i32,
                destination_place: "国家信访局来访接待司".into(),
                responsible_org_code: "510422100".into(),
                officers: vec!["赵六".into(), "钱七".into()],
                petitioners: vec![person("张三", ZHANG, "", false)],
                case_ids: vec![first_case.case_id.clone()],
                departed_at: ts(start + 3_600),
                arrived_at: ts(start + 30_000),
                returned_at: ts(start + 200_000),
                costs: Some(TripCosts {
                    transport: "2356.00".into(),
                    lodging: "780.5".into(),
                    meals: "240".into(),
                    ..Default::default()
                }),
                outcome: TripOutcome::Returned as i32,
                report: "经耐心劝导，当事人自愿返回".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(trip.number, format!("QF510422-{year}-000001"));
    let costs = trip.costs.unwrap();
    assert_eq!(costs.lodging, "780.50");
    assert_eq!(costs.other, "0.00");
    assert_eq!(costs.total, "3376.50");
    assert_eq!(trip.case_ids, vec![first_case.case_id.clone()]);
    // The county lists the trip; a clerk of another township sees none.
    let mine = officer_client
        .visits
        .list_return_trips(ListReturnTripsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.trips.len(), 1);
    let responsible = app.token(Role::TownshipClerk, "510422100").await;
    let ours = app
        .client_with(Some(&responsible))
        .visits
        .list_return_trips(ListReturnTripsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ours.trips.len(),
        1,
        "the responsible township sees the trip"
    );
    assert!(ours.trips[0].petitioners[0].masked);
    let under_way = officer_client
        .visits
        .list_return_trips(ListReturnTripsRequest {
            outcome: TripOutcome::UnderWay as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(under_way.trips.is_empty(), "the trip has returned");
    let other_township = app.token(Role::TownshipClerk, "510422101").await;
    let theirs = app
        .client_with(Some(&other_township))
        .visits
        .list_return_trips(ListReturnTripsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.trips.is_empty());
    app.assert_rollups_match_records().await;
}

#[tokio::test]
async fn collective_starts_at_five_persons() {
    let app = spawn_app().await;
    let mut clerk = clerk(&app).await;
    for (headcount, expected) in [(4, false), (5, true), (6, true)] {
        let v = register(
            &mut clerk,
            visit(
                Level::County,
                headcount,
                vec![person("代表", "", "", true)],
                matter("labor", "510422103"),
            ),
        )
        .await
        .unwrap();
        assert_eq!(v.collective, expected, "headcount {headcount}");
    }
}

#[tokio::test]
async fn leapfrog_depends_on_the_competent_level() {
    let app = spawn_app().await;
    let mut clerk = clerk(&app).await;
    // A township case (competent level 0) and a county department's case (competent level 1).
    let cases = [
        (Level::County, "510422104", false),
        (Level::City, "510422104", true),
        (Level::Province, "510422104", true),
        (Level::National, "510422104", true),
        (Level::County, "510422D01", false),
        (Level::City, "510422D01", false),
        (Level::Province, "510422D01", true),
        (Level::National, "510422D01", true),
    ];
    for (level, org, expected) in cases {
        let v = register(
            &mut clerk,
            visit(
                level,
                1,
                vec![person("某人", "", "", false)],
                matter("politics_law", org),
            ),
        )
        .await
        .unwrap();
        assert_eq!(v.leapfrog, expected, "{level:?} for {org}");
    }
}

#[tokio::test]
async fn masks_scopes_audit_and_encryption_at_rest() {
    let app = spawn_app().await;
    let mut clerk = clerk(&app).await;
    let v = register(
        &mut clerk,
        visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "13812345678", false)],
            matter("labor", "510422100"),
        ),
    )
    .await
    .unwrap();

    // Nothing personal is stored in clear: not in the petitioner row, not in the stored first response.
    let sealed: Vec<Option<Vec<u8>>> = sqlx::query_scalar("SELECT id_number_enc FROM petitioners")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let contains =
        |bytes: &[u8], needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    for bytes in sealed.iter().flatten() {
        assert!(!contains(bytes, ZHANG));
    }
    let dump: Vec<u8> =
        sqlx::query_scalar("SELECT convert_to(string_agg(p::text, ''), 'UTF8') FROM petitioners p")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!contains(&dump, ZHANG) && !contains(&dump, "13812345678"));
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT response FROM idempotency_keys")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|r| !contains(r, ZHANG) && !contains(r, "13812345678"))
    );

    let reads = || async { count(&app, "pii_reads").await };
    let before = reads().await;

    // The own township's clerk reads it masked, and that is not an unmasked read.
    let own = app.token(Role::TownshipClerk, "510422100").await;
    let masked = app
        .client_with(Some(&own))
        .visits
        .get_visit(GetVisitRequest { id: v.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let p = &masked.petitioners[0];
    assert!(p.masked);
    assert_eq!(p.id_number, "110105********002X");
    assert_eq!(p.phone, "138****5678");
    assert_ne!(p.address, "攀枝花市盐边县桐子林镇");
    assert_eq!(reads().await, before);

    // A county clerk reads it in full, and the read is audited.
    let full = clerk
        .visits
        .get_visit(GetVisitRequest { id: v.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.petitioners[0].id_number, ZHANG);
    assert_eq!(full.petitioners[0].phone, "13812345678");
    assert_eq!(reads().await, before + 1);
    let audited: (String, String) = sqlx::query_as(
        "SELECT pr.method, p.role FROM pii_reads pr JOIN principals p ON p.id = pr.principal_id \
         ORDER BY pr.id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(audited, ("GetVisit".to_owned(), "county_clerk".to_owned()));

    // Another township's clerk may not read it, and does not find it in lists.
    let other = app.token(Role::TownshipClerk, "510422101").await;
    let mut other_client = app.client_with(Some(&other));
    let status = other_client
        .visits
        .get_visit(GetVisitRequest { id: v.id.clone() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let listed = other_client
        .visits
        .list_visits(ListVisitsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.visits.is_empty());
    let listed = other_client
        .visits
        .list_visits(ListVisitsRequest {
            problem_org_code: "510422100".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.visits.is_empty(),
        "asking for another township is no way around the scope"
    );
}

#[tokio::test]
async fn lists_filter_and_page() {
    let app = spawn_app().await;
    let mut clerk = clerk(&app).await;
    for i in 0..7 {
        let level = if i % 2 == 0 {
            Level::County
        } else {
            Level::Province
        };
        register(
            &mut clerk,
            visit(
                level,
                1 + i,
                vec![person("某人", "", "", false)],
                matter("labor", "510422105"),
            ),
        )
        .await
        .unwrap();
    }
    let mut seen = BTreeSet::new();
    let mut token = String::new();
    loop {
        let page = clerk
            .visits
            .list_visits(ListVisitsRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for v in page.visits {
            assert!(seen.insert(v.id));
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 7);
    let province = clerk
        .visits
        .list_visits(ListVisitsRequest {
            level: Level::Province as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(province.visits.len(), 3);
    let collective = clerk
        .visits
        .list_visits(ListVisitsRequest {
            collective: Some(true),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(collective.visits.len(), 3, "headcounts 5, 6 and 7");
}

#[tokio::test]
async fn registration_numbers_stay_unique_under_concurrency() {
    let app = spawn_app().await;
    let clerk = clerk(&app).await;
    let calls = (0..12).map(|_| {
        let mut client = clerk.clone();
        async move {
            register(
                &mut client,
                visit(
                    Level::County,
                    1,
                    vec![person("某人", "", "", false)],
                    matter("labor", "510422100"),
                ),
            )
            .await
            .map(|v| v.number)
        }
    });
    let numbers: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let distinct: BTreeSet<&String> = numbers.iter().collect();
    assert_eq!(distinct.len(), 12);
    assert_eq!(count(&app, "visits").await, 12);
}

#[tokio::test]
async fn a_retried_registration_is_applied_once() {
    let app = spawn_app().await;
    let mut clerk = clerk(&app).await;
    let request = RegisterVisitRequest {
        request_id: request_id(),
        visit: Some(visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "", false)],
            matter("labor", "510422100"),
        )),
    };
    let first = clerk
        .visits
        .register_visit(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = clerk
        .visits
        .register_visit(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, again.id);
    assert_eq!(first.number, again.number);
    assert_eq!(count(&app, "visits").await, 1);
    assert_eq!(count(&app, "cases").await, 1);
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_written() {
    let app = spawn_app().await;
    let mut clerk = clerk(&app).await;
    let mut bad = visit(
        Level::Unspecified,
        0,
        vec![
            person("张三", "110101199003077777", "12345", false),
            person("", "", "", false),
        ],
        matter("", "bad"),
    );
    bad.visited_at = ts(now_secs() + 86_400);
    let status = register(&mut clerk, bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let f = fields(&status);
    for expected in [
        "visit.visited_at",
        "visit.level",
        "visit.headcount",
        "visit.petitioners[0].id_number",
        "visit.petitioners[0].phone",
        "visit.petitioners[1].name",
        "visit.matter.category",
        "visit.matter.problem_org_code",
    ] {
        assert!(f.iter().any(|x| x == expected), "{expected} in {f:?}");
    }
    assert!(
        status.message().contains("check character should be 4"),
        "{}",
        status.message()
    );
    assert!(
        !status.message().contains("110101199003077777"),
        "no ID number in errors"
    );

    // Known only to the database: an unknown category and an unknown place.
    let status = register(
        &mut clerk,
        visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "", false)],
            matter("astrology", "510422999"),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        fields(&status),
        ["visit.matter.category", "visit.matter.problem_org_code"]
    );

    // Six representatives are one too many.
    let reps = (0..6)
        .map(|i| person(&format!("代表{i}"), "", "", true))
        .collect();
    let status = register(
        &mut clerk,
        visit(Level::County, 30, reps, matter("labor", "510422100")),
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&status), ["visit.petitioners"]);

    for table in [
        "visits",
        "cases",
        "petitioners",
        "letters",
        "idempotency_keys",
    ] {
        assert_eq!(count(&app, table).await, 0, "{table}");
    }

    // A campaign transfer must name its campaign and reference.
    let status = register_letter(
        &mut clerk,
        Letter {
            channel: LetterChannel::CampaignTransfer as i32,
            received_at: ts(now_secs()),
            matter: Some(matter("labor", "510422100")),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        fields(&status),
        ["letter.source_reference", "letter.campaign"]
    );

    // A trip with a negative cost and times out of order.
    let status = clerk
        .visits
        .record_return_trip(RecordReturnTripRequest {
            request_id: request_id(),
            trip: Some(ReturnTrip {
                notified_by: "市信访局".into(),
                notified_at: ts(now_secs() - 100),
                destination_level: Level::City as i32,
                destination_place: "攀枝花市信访局".into(),
                responsible_org_code: "510422100".into(),
                officers: vec!["赵六".into()],
                departed_at: ts(now_secs() - 50),
                arrived_at: ts(now_secs() - 80),
                costs: Some(TripCosts {
                    transport: "-5".into(),
                    meals: "1e3".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "trip.arrived_at",
            "trip.costs.transport",
            "trip.costs.meals"
        ]
    );
    assert_eq!(count(&app, "return_trips").await, 0);
}

#[tokio::test]
async fn who_may_register_what() {
    let app = spawn_app().await;
    let township = app.token(Role::TownshipClerk, "510422100").await;
    let status = register(
        &mut app.client_with(Some(&township)),
        visit(
            Level::County,
            1,
            vec![person("某人", "", "", false)],
            matter("labor", "510422100"),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let agency = app.token(Role::Agency, "510422XF").await;
    let status = register(
        &mut app.client_with(Some(&agency)),
        visit(
            Level::County,
            1,
            vec![person("某人", "", "", false)],
            matter("labor", "510422100"),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // A field officer registers visits met in the field and sees only their own.
    let officer = app.token(Role::FieldOfficer, "510422XF").await;
    let mut officer = app.client_with(Some(&officer));
    register(
        &mut officer,
        visit(
            Level::National,
            2,
            vec![person("某人", "", "", false)],
            matter("labor", "510422100"),
        ),
    )
    .await
    .unwrap();
    register(
        &mut clerk(&app).await,
        visit(
            Level::County,
            1,
            vec![person("某人", "", "", false)],
            matter("labor", "510422100"),
        ),
    )
    .await
    .unwrap();
    let own = officer
        .visits
        .list_visits(ListVisitsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.visits.len(), 1);
    assert_eq!(own.visits[0].level(), Level::National);
}

#[tokio::test]
async fn letters_keep_their_paragraphs_and_only_county_clerks_load_history() {
    let app = spawn_app().await;
    let mut clerk = clerk(&app).await;
    let mut m = matter("labor", "510422100");
    m.content = "一、基本情况\n\t拖欠工资。\n二、诉求\n\t支付工资。".into();
    let two_years_ago = now_secs() - 2 * 365 * 86_400;
    let letter = register_letter(
        &mut clerk,
        Letter {
            channel: LetterChannel::Transferred as i32,
            source_reference: "攀信转〔2020〕5号".into(),
            received_at: ts(two_years_ago),
            matter: Some(m.clone()),
            ..Default::default()
        },
    )
    .await
    .expect("a county clerk loads a historical, multi-paragraph letter");
    assert_eq!(letter.matter.unwrap().content, m.content);

    let agency = app.token(Role::Agency, "510422XF").await;
    let status = register_letter(
        &mut app.client_with(Some(&agency)),
        Letter {
            channel: LetterChannel::Transferred as i32,
            source_reference: "攀信转〔2020〕6号".into(),
            received_at: ts(two_years_ago),
            matter: Some(m),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&status), ["letter.received_at"]);

    // The same transfer registered again (a resend from another system) is refused, not copied.
    let status = register_letter(
        &mut clerk,
        Letter {
            channel: LetterChannel::Transferred as i32,
            source_reference: "攀信转〔2020〕5号".into(),
            received_at: ts(now_secs()),
            matter: Some(matter("labor", "510422100")),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        status.message().contains(&letter.number),
        "{}",
        status.message()
    );
    assert_eq!(count(&app, "letters").await, 1);
}

#[tokio::test]
async fn county_wide_roles_cannot_be_issued_for_a_township() {
    let app = spawn_app().await;
    let mut conn = app.pool.acquire().await.unwrap();
    for role in [
        Role::CountyClerk,
        Role::Leader,
        Role::Auditor,
        Role::Admin,
        Role::FieldOfficer,
    ] {
        let err = xinfang_server::auth::issue_token(&mut conn, role, "510422100", "x")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("org"), "{role}: {err}");
    }
}

/// 检举控告: the unit an accusation accuses never sees it (the visit, the letter, their lists, the sync feed)
/// and is never assigned it; the county and another unit work it as usual.
#[tokio::test]
async fn an_accusation_is_kept_from_the_unit_it_accuses() {
    use xinfang_proto::v1::{
        AssignCaseRequest, AssignmentMode, ClaimType, GetCaseRequest, GetIndicatorsRequest,
        GetLetterRequest, Indicators, ListLettersRequest, Period, PullRequest, YearMonth,
    };
    const ACCUSED: &str = "510422100";
    const OTHER: &str = "510422101";
    let app = spawn_app().await;
    let mut county = clerk(&app).await;
    let accusation = MatterInput {
        claim_type: ClaimType::Accusation as i32,
        accused_org_code: ACCUSED.into(),
        ..matter("politics_law", ACCUSED)
    };

    // Bad input is named: an accusation needs its accused unit; nothing else may name one.
    let status = register(
        &mut county,
        visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "", false)],
            MatterInput {
                accused_org_code: String::new(),
                ..accusation.clone()
            },
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["visit.matter.accused_org_code"]);
    let status = register(
        &mut county,
        visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "", false)],
            MatterInput {
                accused_org_code: ACCUSED.into(),
                ..matter("labor", ACCUSED)
            },
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&status), ["visit.matter.accused_org_code"]);

    let v = register(
        &mut county,
        visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "", false)],
            accusation.clone(),
        ),
    )
    .await
    .unwrap();
    let m = v.matter.clone().unwrap();
    assert_eq!(
        (m.claim_type(), m.accused_org_code.as_str()),
        (ClaimType::Accusation, ACCUSED)
    );
    let letter = register_letter(
        &mut county,
        Letter {
            channel: LetterChannel::Letter as i32,
            received_at: ts(now_secs() - 600),
            petitioners: vec![person("张三", ZHANG, "", false)],
            matter: Some(accusation.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // An ordinary visit about the same township, for contrast.
    let plain = register(
        &mut county,
        visit(
            Level::County,
            1,
            vec![person("李四", LI, "", false)],
            matter("labor", ACCUSED),
        ),
    )
    .await
    .unwrap();

    // The same person back about the same thing, registered without saying so: the service links it to the
    // accusation, and it is an accusation against the same unit.
    let repeat = register(
        &mut county,
        visit(
            Level::County,
            1,
            vec![person("张三", ZHANG, "", false)],
            matter("politics_law", ACCUSED),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        repeat.classification.clone().unwrap().case_id,
        v.classification.clone().unwrap().case_id
    );
    let m = repeat.matter.clone().unwrap();
    assert_eq!(
        (m.claim_type(), m.accused_org_code.as_str()),
        (ClaimType::Accusation, ACCUSED)
    );

    let accused_token = app.token(Role::TownshipClerk, ACCUSED).await;
    let mut accused = app.client_with(Some(&accused_token));
    for id in [&v.id, &repeat.id] {
        let status = accused
            .visits
            .get_visit(GetVisitRequest { id: id.clone() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    let status = accused
        .visits
        .get_letter(GetLetterRequest {
            id: letter.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let listed: Vec<String> = accused
        .visits
        .list_visits(ListVisitsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .visits
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(
        listed,
        std::slice::from_ref(&plain.id),
        "only the ordinary visit"
    );
    let letters = accused
        .visits
        .list_letters(ListLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .letters;
    assert!(letters.is_empty());
    // The feed never names the accusation's records to the accused unit.
    let fed: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, entity_id::text FROM feed WHERE org_code = $1")
            .bind(ACCUSED)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(
        fed.iter()
            .all(|(_, id)| *id != v.id && *id != repeat.id && *id != letter.id),
        "{fed:?}"
    );
    let pulled = accused
        .sync
        .pull(PullRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(pulled.changes.iter().all(|c| {
        !format!("{:?}", c.item).contains(&v.id) && !format!("{:?}", c.item).contains(&letter.id)
    }));

    // It is never assigned to the accused unit; another unit takes it and sees it.
    let case_id = v.classification.unwrap().case_id;
    let assign = |unit: &str| AssignCaseRequest {
        request_id: request_id(),
        case_id: case_id.clone(),
        mode: AssignmentMode::Forward as i32,
        responsible_org_code: unit.into(),
        ..Default::default()
    };
    let status = county.cases.assign_case(assign(ACCUSED)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "ACCUSED_UNIT"
    );
    let case = county
        .cases
        .assign_case(assign(OTHER))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (case.claim_type(), case.accused_org_code.as_str()),
        (ClaimType::Accusation, ACCUSED)
    );
    let other_token = app.token(Role::TownshipClerk, OTHER).await;
    let mut other = app.client_with(Some(&other_token));
    other
        .cases
        .get_case(GetCaseRequest {
            id: case_id.clone(),
        })
        .await
        .expect("the assigned unit reads the accusation");
    let status = accused
        .cases
        .get_case(GetCaseRequest {
            id: case_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // The office's timely assignment, drilled through for the accused township: the county sees the
    // accusation's id among the cases about that township; the township's own clerk does not. The
    // period is the year of the assignment deadline (late in December it is next year's).
    let this_year = case
        .deadlines
        .and_then(|d| d.assign)
        .and_then(|a| a.due)
        .expect("an assignment deadline")
        .year;
    let drill = GetIndicatorsRequest {
        period: Some(Period {
            start: Some(YearMonth {
                year: this_year,
                month: 1,
            }),
            end: Some(YearMonth {
                year: this_year,
                month: 12,
            }),
        }),
        org_code: ACCUSED.into(),
        include_ids: true,
        ..Default::default()
    };
    let assigned_ids = |ind: Indicators| {
        let r = ind.timely_acceptance_office.unwrap();
        [r.numerator_case_ids, r.other_case_ids].concat()
    };
    let county_ids = assigned_ids(
        county
            .metrics
            .get_indicators(drill.clone())
            .await
            .unwrap()
            .into_inner(),
    );
    assert!(county_ids.contains(&case_id), "{county_ids:?}");
    let township_ids = assigned_ids(
        accused
            .metrics
            .get_indicators(drill)
            .await
            .unwrap()
            .into_inner(),
    );
    assert!(!township_ids.contains(&case_id), "{township_ids:?}");
}
