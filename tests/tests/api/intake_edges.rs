//! Intake's domain edges (issue #15): initial and repeat come out the same whatever order the registrations
//! arrive in; a repeat of a concluded case is answered 不再受理; a clerk overrides a false match or detaches
//! a registration into a case of its own; 同人 by name and phone; proxies; large-scale collective visits.

use std::collections::BTreeMap;

use chrono::TimeZone;
use prost_types::Timestamp;
use tonic::Code;
use tonic_types::StatusExt;
use xinfang_client::Client;
use xinfang_proto::v1::{
    AcceptCaseRequest, AssignCaseRequest, AssignmentMode, CaseState, ChannelStatistics,
    Classification, DecideReviewRequest, DetachRegistrationRequest, GetCaseRequest,
    GetChannelStatisticsRequest, GetVisitRequest, GetVisitStatisticsRequest, Letter, LetterChannel,
    Level, ListCaseEventsRequest, ListLettersRequest, ListVisitsRequest, MatterInput, Period,
    Petitioner, RegisterLetterRequest, RegisterVisitRequest, ReplyCaseRequest,
    RequestReviewRequest, ReviewOutcome, Visit, VisitGrouping, VisitStatistics, YearMonth,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, now_secs, person, request_id, spawn_app, ts};

const ZHANG: &str = "11010519491231002X";
const LI: &str = "440524188001010014";
const WANG: &str = "34052419800101001X";
const TOWN: &str = "510422100";
const OTHER_TOWN: &str = "510422101";

fn days_ago(days: i64) -> Option<Timestamp> {
    ts(now_secs() - days * 86_400)
}

/// That hour of the day in Asia/Shanghai.
fn shanghai(y: i32, m: u32, d: u32, h: u32) -> Option<Timestamp> {
    let at = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap();
    ts(at.timestamp())
}

fn matter(content: &str, category: &str, org: &str) -> MatterInput {
    MatterInput {
        content: content.into(),
        demands: "要求依法处理".into(),
        category: category.into(),
        problem_org_code: org.into(),
        ..Default::default()
    }
}

fn visit(at: Option<Timestamp>, people: Vec<Petitioner>, m: MatterInput) -> Visit {
    Visit {
        visited_at: at,
        level: Level::County as i32,
        place_name: "盐边县信访局接待大厅".into(),
        headcount: people.len().max(1) as i32,
        petitioners: people,
        matter: Some(m),
        ..Default::default()
    }
}

fn letter(at: Option<Timestamp>, people: Vec<Petitioner>, m: MatterInput) -> Letter {
    Letter {
        channel: LetterChannel::Online as i32,
        received_at: at,
        petitioners: people,
        matter: Some(m),
        ..Default::default()
    }
}

async fn try_register(c: &mut Client, v: Visit) -> Result<Visit, tonic::Status> {
    c.visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(v),
        })
        .await
        .map(|r| r.into_inner())
}

async fn register(c: &mut Client, v: Visit) -> Visit {
    try_register(c, v).await.expect("registering a visit")
}

async fn register_letter(c: &mut Client, l: Letter) -> Letter {
    c.visits
        .register_letter(RegisterLetterRequest {
            request_id: request_id(),
            letter: Some(l),
        })
        .await
        .expect("registering a letter")
        .into_inner()
}

async fn client(app: &TestApp, role: Role) -> Client {
    let org = if role == Role::TownshipClerk {
        TOWN
    } else {
        "510422XF"
    };
    let token = app.token(role, org).await;
    app.client_with(Some(&token))
}

fn class(c: &Option<Classification>) -> Classification {
    c.clone().expect("a classification")
}

fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

async fn events(c: &mut Client, case_id: &str) -> Vec<(String, String, String)> {
    c.cases
        .list_case_events(ListCaseEventsRequest {
            case_id: case_id.into(),
            ..Default::default()
        })
        .await
        .expect("listing events")
        .into_inner()
        .events
        .into_iter()
        .map(|e| {
            (
                e.action,
                e.reason,
                format!("{} {}", e.before_json, e.after_json),
            )
        })
        .collect()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

// ---------------------------------------------------------------------------------------------------------
// Order independence

/// One planned registration, found again by the key written into its content.
#[derive(Clone)]
struct Planned {
    key: &'static str,
    letter: bool,
    at: Option<Timestamp>,
    people: Vec<Petitioner>,
    category: &'static str,
    org: &'static str,
    level: Level,
    headcount: i32,
}

fn plan() -> Vec<Planned> {
    let p = |key, letter, (m, d, h), people: Vec<Petitioner>, category, org, level, headcount| {
        Planned {
            key,
            letter,
            at: shanghai(2024, m, d, h),
            people,
            category,
            org,
            level,
            headcount,
        }
    };
    let zhang = || vec![person("张三", ZHANG, "13812345678")];
    let li = || vec![person("李四", LI, "")];
    let wang = || vec![person("王五", WANG, "")];
    let li_group = || {
        let mut lead = person("李四", LI, "");
        lead.representative = true;
        vec![lead]
    };
    use Level::{City, County};
    vec![
        // 张三 about wages in 桐子林镇: one case over three months, visits and a letter.
        p("A1", false, (3, 5, 9), zhang(), "labor", TOWN, County, 1),
        p("A2", true, (3, 12, 10), zhang(), "labor", TOWN, County, 0),
        p("A3", false, (4, 2, 9), zhang(), "labor", TOWN, City, 2),
        p("A4", false, (5, 20, 15), zhang(), "labor", TOWN, County, 1),
        // 张三 about a school: another case.
        p(
            "A5",
            false,
            (4, 18, 11),
            zhang(),
            "education",
            TOWN,
            County,
            1,
        ),
        // 李四 about land elsewhere: a collective visit, an earlier individual one, a later letter.
        p(
            "B1",
            false,
            (4, 10, 9),
            li_group(),
            "land",
            OTHER_TOWN,
            County,
            6,
        ),
        p(
            "B2",
            false,
            (3, 28, 16),
            li(),
            "land",
            OTHER_TOWN,
            County,
            1,
        ),
        p("B3", true, (5, 3, 10), li(), "land", OTHER_TOWN, County, 0),
        // 王五 about wages in the same town as 张三: a case of his own.
        p("C1", false, (3, 20, 9), wang(), "labor", TOWN, County, 1),
        p("C2", false, (4, 25, 9), wang(), "labor", TOWN, County, 1),
        // An anonymous online complaint.
        p(
            "X1",
            true,
            (4, 15, 20),
            vec![],
            "environment",
            "510422102",
            County,
            0,
        ),
        // 赵六 has no ID number: the same name and phone, written differently, is the same person.
        p(
            "D1",
            false,
            (3, 15, 10),
            vec![person("赵六", "", "13812345670")],
            "urban_construction",
            TOWN,
            County,
            1,
        ),
        p(
            "D2",
            true,
            (4, 8, 10),
            vec![person(" 赵 六", "", "+86 138 1234 5670")],
            "urban_construction",
            TOWN,
            County,
            0,
        ),
    ]
}

/// The initial registrations of [`plan`]: the earliest of each case.
const INITIAL: [&str; 6] = ["A1", "A5", "B2", "C1", "D1", "X1"];

async fn register_planned(c: &mut Client, p: &Planned) {
    let m = matter(&format!("[{}] 反映问题", p.key), p.category, p.org);
    if p.letter {
        register_letter(c, letter(p.at, p.people.clone(), m)).await;
    } else {
        let mut v = visit(p.at, p.people.clone(), m);
        v.level = p.level as i32;
        v.headcount = p.headcount;
        register(c, v).await;
    }
}

fn key_of(content: &str) -> String {
    content
        .strip_prefix('[')
        .and_then(|c| c.split(']').next())
        .unwrap_or_default()
        .to_owned()
}

/// Each registration's key → repeat flag, as the county reads them.
async fn flags(app: &TestApp) -> BTreeMap<String, bool> {
    let mut c = app.client.clone();
    let mut out = BTreeMap::new();
    let visits = c
        .visits
        .list_visits(ListVisitsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .visits;
    for v in visits {
        out.insert(
            key_of(&v.matter.unwrap().content),
            class(&v.classification).repeat,
        );
    }
    let letters = c
        .visits
        .list_letters(ListLettersRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .letters;
    for l in letters {
        out.insert(
            key_of(&l.matter.unwrap().content),
            class(&l.classification).repeat,
        );
    }
    out
}

fn month(m: i32) -> Option<Period> {
    let ym = Some(YearMonth {
        year: 2024,
        month: m,
    });
    Some(Period { start: ym, end: ym })
}

/// The visit and channel statistics of every month of the plan (and of the quarter).
async fn statistics(app: &TestApp) -> Vec<(VisitStatistics, ChannelStatistics)> {
    let mut c = app.client.clone();
    let mut periods: Vec<Option<Period>> = (3..=5).map(month).collect();
    periods.push(Some(Period {
        start: Some(YearMonth {
            year: 2024,
            month: 3,
        }),
        end: Some(YearMonth {
            year: 2024,
            month: 5,
        }),
    }));
    let mut out = Vec::new();
    for period in periods {
        let visits = c
            .metrics
            .get_visit_statistics(GetVisitStatisticsRequest {
                period,
                group_by: VisitGrouping::Township as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let channels = c
            .metrics
            .get_channel_statistics(GetChannelStatisticsRequest {
                period,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.push((visits, channels));
    }
    out
}

/// A deterministic shuffle (xorshift), so that a failing order can be run again.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    let mut x = seed.max(1);
    for i in (1..out.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.swap(i, (x % (i as u64 + 1)) as usize);
    }
    out
}

#[tokio::test]
async fn initial_and_repeat_come_out_the_same_in_any_arrival_order() {
    let plan = plan();
    let mut by_date = plan.clone();
    by_date.sort_by_key(|p| p.at.map(|t| t.seconds));
    let mut reversed = by_date.clone();
    reversed.reverse();
    let orders = vec![
        ("date order", by_date.clone()),
        ("reverse date order", reversed),
        ("shuffle 1", shuffled(&plan, 1)),
        ("shuffle 2", shuffled(&plan, 0x9e37_79b9)),
        ("shuffle 3", shuffled(&plan, 20_241_206)),
    ];
    let expected: BTreeMap<String, bool> = plan
        .iter()
        .map(|p| (p.key.to_owned(), !INITIAL.contains(&p.key)))
        .collect();
    let mut reference: Option<Vec<(VisitStatistics, ChannelStatistics)>> = None;
    for (name, order) in orders {
        let app = spawn_app().await;
        let mut clerk = client(&app, Role::CountyClerk).await;
        for p in &order {
            register_planned(&mut clerk, p).await;
        }
        assert_eq!(flags(&app).await, expected, "{name}: initial/repeat flags");
        // Six cases, whatever the order.
        assert_eq!(count(&app, "SELECT count(*) FROM cases").await, 6, "{name}");
        let stats = statistics(&app).await;
        match &reference {
            None => reference = Some(stats),
            Some(first) => {
                for (i, (a, b)) in first.iter().zip(&stats).enumerate() {
                    assert_eq!(a.0, b.0, "{name}: visit statistics of period {i}");
                    assert_eq!(a.1, b.1, "{name}: channel statistics of period {i}");
                }
            }
        }
        // Every flip of an initial registration is on the case's history and in the audit log.
        let flips = count(
            &app,
            "SELECT count(*) FROM case_events WHERE action = 'reclassified'",
        )
        .await;
        let audited = count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'reclassified'",
        )
        .await;
        assert_eq!(flips, audited, "{name}");
        if name == "date order" {
            assert_eq!(flips, 0, "in date order nothing is reclassified");
        }
        if name == "reverse date order" {
            assert!(flips >= 4, "{name}: {flips} reclassified");
        }
        app.assert_rollups_match_records().await;
    }
    // The quarter's figures, computed by hand: 9 visits, of which A1 A5 B2 C1 D1 initial.
    let quarter = &reference.unwrap()[3].0;
    let total = quarter.total.clone().unwrap();
    assert_eq!(total.batches.unwrap().value, 9);
    assert_eq!(total.initial_batches.unwrap().value, 5);
    assert_eq!(total.repeat_batches.unwrap().value, 4);
}

#[tokio::test]
async fn a_late_registration_dated_first_becomes_the_initial_one() {
    let app = spawn_app().await;
    let mut clerk = client(&app, Role::CountyClerk).await;
    let later = register(
        &mut clerk,
        visit(
            days_ago(3),
            vec![person("张三", ZHANG, "")],
            matter("拖欠工资", "labor", TOWN),
        ),
    )
    .await;
    let case_id = class(&later.classification).case_id;
    assert!(!class(&later.classification).repeat);
    // A field laptop syncs a visit of ten days ago.
    let officer_token = app.token(Role::FieldOfficer, "510422XF").await;
    let mut officer = app.client_with(Some(&officer_token));
    let early = register(
        &mut officer,
        visit(
            days_ago(10),
            vec![person("张三", ZHANG, "")],
            matter("拖欠工资", "labor", TOWN),
        ),
    )
    .await;
    let early_class = class(&early.classification);
    assert!(!early_class.repeat, "dated first: the initial one");
    // The officer may not read the case (the clerk's visit opened it): it learns nothing of its id.
    assert!(early_class.case_id.is_empty());
    let now = clerk
        .visits
        .get_visit(GetVisitRequest {
            id: later.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(class(&now.classification).repeat, "the later one repeats");
    assert_eq!(class(&now.classification).case_id, case_id);
    // The case keeps its number and registration time.
    let case = clerk
        .cases
        .get_case(GetCaseRequest {
            id: case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.number, later.number);
    let history = events(&mut clerk, &case_id).await;
    let reclassified: Vec<_> = history
        .iter()
        .filter(|(action, _, _)| action == "reclassified")
        .collect();
    assert_eq!(reclassified.len(), 1, "{history:?}");
    assert!(reclassified[0].2.contains(&early.number), "{history:?}");
    assert!(reclassified[0].2.contains(&later.number), "{history:?}");
    app.assert_rollups_match_records().await;
}

// ---------------------------------------------------------------------------------------------------------
// 不再受理

async fn assign_accept_reply(app: &TestApp, case_id: &str, days: [i64; 3]) {
    let mut clerk = client(app, Role::CountyClerk).await;
    let mut admin = app.client.clone();
    clerk
        .cases
        .assign_case(AssignCaseRequest {
            request_id: request_id(),
            case_id: case_id.into(),
            occurred_at: days_ago(days[0]),
            mode: AssignmentMode::Forward as i32,
            responsible_org_code: TOWN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: case_id.into(),
            occurred_at: days_ago(days[1]),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .cases
        .reply_case(ReplyCaseRequest {
            request_id: request_id(),
            case_id: case_id.into(),
            occurred_at: days_ago(days[2]),
            opinion: "已依法处理".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn review(app: &TestApp, case_id: &str, requested: i64, decided: i64) {
    let mut clerk = client(app, Role::CountyClerk).await;
    clerk
        .cases
        .request_review(RequestReviewRequest {
            request_id: request_id(),
            case_id: case_id.into(),
            occurred_at: days_ago(requested),
            reason: "不服处理意见".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    clerk
        .cases
        .decide_review(DecideReviewRequest {
            request_id: request_id(),
            case_id: case_id.into(),
            occurred_at: days_ago(decided),
            outcome: ReviewOutcome::Upheld as i32,
            opinion: "维持原处理意见".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_repeat_of_a_concluded_case_is_not_accepted_again() {
    let app = spawn_app().await;
    let mut clerk = client(&app, Role::CountyClerk).await;
    let wages = || matter("拖欠工资", "labor", TOWN);
    let zhang = || vec![person("张三", ZHANG, "")];
    let first = register(&mut clerk, visit(days_ago(200), zhang(), wages())).await;
    let case_id = class(&first.classification).case_id;
    assign_accept_reply(&app, &case_id, [199, 198, 190]).await;
    // Within the review window the case is concluded but not final: an ordinary repeat.
    let within = register(&mut clerk, visit(days_ago(185), zhang(), wages())).await;
    let c = class(&within.classification);
    assert!(c.repeat && !c.not_accepted_again, "{c:?}");
    // The window passed unused: the case is final (终结).
    let final_state = clerk
        .cases
        .get_case(GetCaseRequest {
            id: case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .state;
    assert_eq!(final_state, CaseState::Final as i32);
    let cases_before = count(&app, "SELECT count(*) FROM cases").await;
    // A field officer meets 张三 again: a repeat, answered 不再受理, and the officer learns no case id.
    let officer_token = app.token(Role::FieldOfficer, "510422XF").await;
    let mut officer = app.client_with(Some(&officer_token));
    let again = register(&mut officer, visit(days_ago(10), zhang(), wages())).await;
    let c = class(&again.classification);
    assert!(c.repeat && c.not_accepted_again, "{c:?}");
    assert!(c.case_id.is_empty());
    // A letter too; the county sees which case it repeats.
    let written = register_letter(&mut clerk, letter(days_ago(5), zhang(), wages())).await;
    let c = class(&written.classification);
    assert!(c.repeat && c.not_accepted_again, "{c:?}");
    assert_eq!(c.case_id, case_id);
    // Recorded and counted as repeats, stored with their answer, and no case or assignment is opened.
    assert_eq!(
        count(&app, "SELECT count(*) FROM cases").await,
        cases_before
    );
    let stored = clerk
        .visits
        .get_visit(GetVisitRequest {
            id: again.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(class(&stored.classification).not_accepted_again);
    let case = clerk
        .cases
        .get_case(GetCaseRequest {
            id: case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.state, CaseState::Final as i32);
    assert!(case.responsible_org_code == TOWN);
    app.assert_rollups_match_records().await;
}

#[tokio::test]
async fn after_a_second_review_the_case_is_not_accepted_again_from_the_decision_on() {
    let app = spawn_app().await;
    let mut clerk = client(&app, Role::CountyClerk).await;
    let land = || matter("征地补偿", "land", TOWN);
    let li = || vec![person("李四", LI, "")];
    let first = register(&mut clerk, visit(days_ago(200), li(), land())).await;
    let case_id = class(&first.classification).case_id;
    assign_accept_reply(&app, &case_id, [199, 198, 190]).await;
    review(&app, &case_id, 185, 175).await; // 复查
    review(&app, &case_id, 170, 160).await; // 复核: final
    let after = register(&mut clerk, visit(days_ago(150), li(), land())).await;
    let c = class(&after.classification);
    assert!(c.repeat && c.not_accepted_again, "{c:?}");
    // A visit of the time the 复查 ran, synced late, was no repeat of a final case then.
    let during = register(&mut clerk, visit(days_ago(180), li(), land())).await;
    let c = class(&during.classification);
    assert!(c.repeat && !c.not_accepted_again, "{c:?}");
    app.assert_rollups_match_records().await;
}

// ---------------------------------------------------------------------------------------------------------
// Override and detach

#[tokio::test]
async fn a_clerk_registers_a_new_case_against_a_match() {
    let app = spawn_app().await;
    let mut clerk = client(&app, Role::CountyClerk).await;
    let zhang = || vec![person("张三", ZHANG, "")];
    let first = register(
        &mut clerk,
        visit(
            days_ago(20),
            zhang(),
            matter("甲公司拖欠工资", "labor", TOWN),
        ),
    )
    .await;
    let mut other = matter("乙公司拖欠工资", "labor", TOWN);
    other.new_case_reason = "另一家企业欠薪，不是同一事项".into();
    let second = register(&mut clerk, visit(days_ago(5), zhang(), other.clone())).await;
    let c = class(&second.classification);
    assert!(!c.repeat, "{c:?}");
    assert_ne!(c.case_id, class(&first.classification).case_id);
    // The reason is on the new case's registration and in the audit log.
    let history = events(&mut clerk, &c.case_id).await;
    assert_eq!(history[0].0, "registered");
    assert!(history[0].2.contains("另一家企业欠薪"), "{history:?}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'new_case' AND detail LIKE '%另一家企业欠薪%'"
        )
        .await,
        1
    );
    // Only the county desk overrides a match.
    let officer_token = app.token(Role::FieldOfficer, "510422XF").await;
    let mut officer = app.client_with(Some(&officer_token));
    let status = try_register(&mut officer, visit(days_ago(1), zhang(), other.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Not together with a link.
    let mut both = other.clone();
    both.link_case_id = c.case_id.clone();
    let status = try_register(&mut clerk, visit(days_ago(1), zhang(), both))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["visit.matter.new_case_reason"]);
    app.assert_rollups_match_records().await;
}

#[tokio::test]
async fn a_registration_is_detached_into_a_case_of_its_own() {
    let app = spawn_app().await;
    let mut clerk = client(&app, Role::CountyClerk).await;
    let zhang = || vec![person("张三", ZHANG, "")];
    let wages = || matter("拖欠工资", "labor", TOWN);
    let first = register(&mut clerk, visit(days_ago(30), zhang(), wages())).await;
    let case_id = class(&first.classification).case_id;
    let second = register(&mut clerk, visit(days_ago(20), zhang(), wages())).await;
    let third = register_letter(&mut clerk, letter(days_ago(10), zhang(), wages())).await;
    assert!(class(&second.classification).repeat && class(&third.classification).repeat);

    // A repeat that was a false match: a case of its own, initial there.
    let detached = clerk
        .visits
        .detach_registration(DetachRegistrationRequest {
            request_id: request_id(),
            visit_id: second.id.clone(),
            reason: "另一家企业，不是同一事项".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(detached.previous_case_id, case_id);
    let moved = detached.visit.expect("the visit");
    let c = class(&moved.classification);
    assert!(!c.repeat);
    assert_ne!(c.case_id, case_id);
    let new_case = c.case_id.clone();
    let history = events(&mut clerk, &case_id).await;
    assert!(
        history
            .iter()
            .any(|(a, r, _)| a == "registration_detached" && r.contains("另一家企业")),
        "{history:?}"
    );
    let new_history = events(&mut clerk, &new_case).await;
    assert_eq!(new_history[0].0, "registered", "{new_history:?}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'registration_detached' \
             AND detail LIKE '%另一家企业%'"
        )
        .await,
        1
    );

    // The initial registration detached: the next earliest (the letter) becomes initial.
    clerk
        .visits
        .detach_registration(DetachRegistrationRequest {
            request_id: request_id(),
            visit_id: first.id.clone(),
            reason: "登记错误".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let letter_now = clerk
        .visits
        .get_letter(xinfang_proto::v1::GetLetterRequest {
            id: third.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let c = class(&letter_now.classification);
    assert!(!c.repeat, "the letter is the case's initial one now");
    assert_eq!(c.case_id, case_id);

    // The letter is the case's only registration now: there is nothing to detach it from.
    let status = clerk
        .visits
        .detach_registration(DetachRegistrationRequest {
            request_id: request_id(),
            letter_id: third.id.clone(),
            reason: "登记错误".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "ONLY_REGISTRATION");

    // Bad input names its field; an unknown registration is not found; other roles may not detach.
    let status = clerk
        .visits
        .detach_registration(DetachRegistrationRequest {
            request_id: request_id(),
            visit_id: first.id.clone(),
            letter_id: third.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let named = fields(&status);
    assert!(named.contains(&"letter_id".to_owned()), "{named:?}");
    assert!(named.contains(&"reason".to_owned()), "{named:?}");
    let status = clerk
        .visits
        .detach_registration(DetachRegistrationRequest {
            request_id: request_id(),
            visit_id: uuid::Uuid::now_v7().to_string(),
            reason: "登记错误".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let officer_token = app.token(Role::FieldOfficer, "510422XF").await;
    let status = app
        .client_with(Some(&officer_token))
        .visits
        .detach_registration(DetachRegistrationRequest {
            request_id: request_id(),
            visit_id: first.id.clone(),
            reason: "登记错误".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    app.assert_rollups_match_records().await;
}

// ---------------------------------------------------------------------------------------------------------
// 同人 without an ID number; proxies

#[tokio::test]
async fn the_same_name_and_phone_is_the_same_person() {
    let app = spawn_app().await;
    let mut clerk = client(&app, Role::CountyClerk).await;
    let wages = || matter("拖欠工资", "labor", TOWN);
    let first = register(
        &mut clerk,
        visit(
            days_ago(10),
            vec![person("赵六", "", "13812345678")],
            wages(),
        ),
    )
    .await;
    let case_id = class(&first.classification).case_id;
    // The same name and number, written differently.
    let again = register_letter(
        &mut clerk,
        letter(
            days_ago(5),
            vec![person(" 赵 六 ", "", "+86 138-1234-5678")],
            wages(),
        ),
    )
    .await;
    let c = class(&again.classification);
    assert!(c.repeat, "{c:?}");
    assert_eq!(c.case_id, case_id);
    // Another name on the same phone (a relative) is another person.
    let relative = register(
        &mut clerk,
        visit(
            days_ago(4),
            vec![person("赵七", "", "13812345678")],
            wages(),
        ),
    )
    .await;
    assert!(!class(&relative.classification).repeat);
    // The name without a phone matches nobody.
    let unknown = register(
        &mut clerk,
        visit(days_ago(3), vec![person("赵六", "", "")], wages()),
    )
    .await;
    assert!(!class(&unknown.classification).repeat);
    // The match key is a keyed hash; the phone is never stored in clear.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM petitioners WHERE length(contact_hash) = 32"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM petitioners WHERE contact_hash IS NULL"
        )
        .await,
        1
    );
    app.assert_rollups_match_records().await;
}

#[tokio::test]
async fn a_proxy_is_recorded_but_is_no_petitioner_of_the_case() {
    let app = spawn_app().await;
    let mut clerk = client(&app, Role::CountyClerk).await;
    let land = || matter("征地补偿", "land", TOWN);
    let mut lawyer = person("李律师", LI, "13900001111");
    lawyer.proxy = true;
    let first = register(
        &mut clerk,
        visit(
            days_ago(10),
            vec![person("张三", ZHANG, ""), lawyer.clone()],
            land(),
        ),
    )
    .await;
    assert_eq!(first.petitioners.len(), 2);
    assert!(!first.petitioners[0].proxy && first.petitioners[1].proxy);
    let case_id = class(&first.classification).case_id;
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM case_petitioners WHERE case_id = '{case_id}'")
        )
        .await,
        1,
        "only the principal is a petitioner of the case"
    );
    // The lawyer petitioning on his own about the same kind of problem is no repeat of his client's case.
    let own = register(
        &mut clerk,
        visit(
            days_ago(5),
            vec![person("李律师", LI, "13900001111")],
            land(),
        ),
    )
    .await;
    assert!(!class(&own.classification).repeat);
    // A proxy is never a representative, and acts for someone named with it.
    let mut both = lawyer.clone();
    both.representative = true;
    let status = try_register(
        &mut clerk,
        visit(days_ago(1), vec![person("张三", ZHANG, ""), both], land()),
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&status), ["visit.petitioners[1].proxy"]);
    let status = try_register(&mut clerk, visit(days_ago(1), vec![lawyer], land()))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["visit.petitioners"]);
}

// ---------------------------------------------------------------------------------------------------------
// 大规模集体访

#[tokio::test]
async fn large_scale_visits_are_flagged_and_counted_on_their_own() {
    let app = spawn_app().await;
    let mut clerk = client(&app, Role::CountyClerk).await;
    let mut lead = person("李四", LI, "");
    lead.representative = true;
    let mut big = visit(
        shanghai(2024, 6, 3, 9),
        vec![lead.clone()],
        matter("征地补偿", "land", TOWN),
    );
    big.headcount = 60;
    let big = register(&mut clerk, big).await;
    assert!(big.large_scale && big.collective);
    let mut below = visit(
        shanghai(2024, 6, 4, 9),
        vec![person("王五", WANG, "")],
        matter("拖欠工资", "labor", TOWN),
    );
    below.headcount = 49;
    let below = register(&mut clerk, below).await;
    assert!(!below.large_scale && below.collective);
    let stats = clerk
        .metrics
        .get_visit_statistics(GetVisitStatisticsRequest {
            period: month(6),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let total = stats.total.unwrap();
    assert_eq!(total.large_scale_batches.unwrap().value, 1);
    assert_eq!(total.large_scale_persons.unwrap().value, 60);
    assert_eq!(total.collective_batches.unwrap().value, 2);
    app.assert_rollups_match_records().await;
}
