//! The domain's edges, over gRPC: objections judged per assignment, ratings only of published opinions, the
//! conclusion clock by claim type, 交办 deadlines within the statutory limit, the notice of an extension, the
//! office's confirmation of a completion report, 督办 replies, one time zone in Rust and SQL, and a property
//! test: random workflows through the API leave every rollup bucket equal to a count of the cases' own
//! stored clock outcomes, and those outcomes equal what the API shows for each case.

use std::collections::BTreeMap;

use chrono::{Datelike, TimeZone};
use proptest::prelude::*;
use prost_types::Timestamp;
use tonic::Code;
use xinfang_client::Client;
use xinfang_proto::v1::{
    AcceptCaseRequest, AssignCaseRequest, AssignmentMode, Case, ClaimType, CloseSupervisionRequest,
    ConfirmCompletionRequest, Date, DecideObjectionRequest, DecideReviewRequest,
    DeclineCaseRequest, DeclineGround, ExtendCaseRequest, GetCaseRequest, GetIndicatorsRequest,
    Level, ListCasesRequest, MatterInput, ObjectToAssignmentRequest, Period, Petitioner, Rating,
    RecordEvaluationRequest, RegisterVisitRequest, ReplyCaseRequest, ReplySupervisionRequest,
    RequestReviewRequest, ReviewOutcome, SuperviseCaseRequest, SupervisionMethod, Timeliness,
    Visit, YearMonth,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, fields, now_secs, reason, request_id, spawn_app, ts};

const BUREAU: &str = "510422XF";
const A: &str = "510422100";
const B: &str = "510422101";
const DAY: i64 = 86_400;

type At = Option<Timestamp>;

fn days_ago(days: i64) -> At {
    ts(now_secs() - days * DAY)
}

fn date_of(at: At) -> Option<Date> {
    let t = chrono::DateTime::from_timestamp(at.map_or(now_secs(), |t| t.seconds), 0)?;
    let d = xinfang_proto::calendar::local_date(t);
    Some(Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

async fn client(app: &TestApp, role: Role, org: &str) -> Client {
    let token = app.token(role, org).await;
    app.client_with(Some(&token))
}

/// Registers a one-person visit (no ID number, so a case of its own) at `at` about `org`, claimed as
/// `claim`, and returns the case's id.
async fn open(c: &mut Client, at: At, org: &str, claim: ClaimType) -> String {
    let accused = if claim == ClaimType::Accusation {
        B
    } else {
        ""
    };
    let visit = c
        .visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(Visit {
                visited_at: at,
                level: Level::County as i32,
                place_name: "县信访局".into(),
                headcount: 1,
                petitioners: vec![Petitioner {
                    name: "某人".into(),
                    ..Default::default()
                }],
                matter: Some(MatterInput {
                    content: "反映问题".into(),
                    demands: "要求处理".into(),
                    category: "labor".into(),
                    problem_org_code: org.into(),
                    claim_type: claim as i32,
                    accused_org_code: accused.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    visit.classification.unwrap().case_id
}

async fn assign(
    c: &mut Client,
    id: &str,
    at: At,
    unit: &str,
    deadline: Option<Date>,
) -> Result<Case, tonic::Status> {
    let mode = if deadline.is_some() {
        AssignmentMode::Assign
    } else {
        AssignmentMode::Forward
    };
    let case = get(c, id).await;
    let reason = if case.responsible_org_code.is_empty() {
        String::new()
    } else {
        "改派".into()
    };
    c.cases
        .assign_case(AssignCaseRequest {
            request_id: request_id(),
            case_id: id.into(),
            occurred_at: at,
            mode: mode as i32,
            responsible_org_code: unit.into(),
            handling_deadline: deadline,
            reason,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn get(c: &mut Client, id: &str) -> Case {
    c.cases
        .get_case(GetCaseRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

fn year_period(year: i32) -> Period {
    Period {
        start: Some(YearMonth { year, month: 1 }),
        end: Some(YearMonth { year, month: 12 }),
    }
}

/// Item 1: a unit's timeliness is judged on its own assignment's clocks. An objection is not an answer; the
/// office agrees (the unit's clocks are void) or refuses (the unit's clocks run from the original receipt);
/// an objection to an earlier assignment never counts for a later one, and the rollups keep the unit's row.
#[tokio::test]
async fn each_assignment_is_judged_on_its_own_clocks() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town_a = client(&app, Role::TownshipClerk, A).await;
    let mut town_b = client(&app, Role::TownshipClerk, B).await;

    // Objected to by A on day 2, agreed; B gets it and accepts late (day 20 of its 15).
    let m1 = open(&mut county, days_ago(60), A, ClaimType::Petition).await;
    assign(&mut county, &m1, days_ago(58), A, None)
        .await
        .unwrap();
    let objected = town_a
        .cases
        .object_to_assignment(ObjectToAssignmentRequest {
            request_id: request_id(),
            case_id: m1.clone(),
            occurred_at: days_ago(56),
            reason: "不属本镇职责".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        objected.responsible_org_code, A,
        "it waits with A for the office"
    );
    county
        .cases
        .decide_objection(DecideObjectionRequest {
            request_id: request_id(),
            case_id: m1.clone(),
            occurred_at: days_ago(55),
            agree: true,
            reason: "属地有误".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assign(&mut county, &m1, days_ago(50), B, None)
        .await
        .unwrap();
    town_b
        .cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: m1.clone(),
            occurred_at: days_ago(30),
            ..Default::default()
        })
        .await
        .unwrap();
    let case = get(&mut county, &m1).await;
    let accept = case.deadlines.unwrap().accept.unwrap();
    assert_eq!(
        accept.timeliness(),
        Timeliness::Late,
        "B's own clock, from its own receipt"
    );

    // Objected to by A and refused: A accepts on day 20 of its 15, late — the objection answered nothing.
    let m2 = open(&mut county, days_ago(60), A, ClaimType::Petition).await;
    assign(&mut county, &m2, days_ago(58), A, None)
        .await
        .unwrap();
    town_a
        .cases
        .object_to_assignment(ObjectToAssignmentRequest {
            request_id: request_id(),
            case_id: m2.clone(),
            occurred_at: days_ago(56),
            reason: "不属本镇职责".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    county
        .cases
        .decide_objection(DecideObjectionRequest {
            request_id: request_id(),
            case_id: m2.clone(),
            occurred_at: days_ago(54),
            agree: false,
            reason: "属本镇".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    town_a
        .cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: m2.clone(),
            occurred_at: days_ago(38),
            ..Default::default()
        })
        .await
        .unwrap();
    let case = get(&mut county, &m2).await;
    assert_eq!(
        case.deadlines.unwrap().accept.unwrap().timeliness(),
        Timeliness::Late
    );

    // The units' figures: A has one clock (m2, late), none for m1; B has m1, late. No row lands on no unit.
    let year = chrono::Utc::now().year();
    let unit_rate = |org: &str| GetIndicatorsRequest {
        period: Some(Period {
            start: Some(YearMonth {
                year: year - 1,
                month: 1,
            }),
            end: Some(YearMonth { year, month: 12 }),
        }),
        org_code: org.into(),
        ..Default::default()
    };
    let a = county
        .metrics
        .get_indicators(unit_rate(A))
        .await
        .unwrap()
        .into_inner()
        .timely_acceptance_unit
        .unwrap();
    assert_eq!(
        (a.numerator, a.denominator),
        (0, 1),
        "A: m2 late; m1's voided clock not counted"
    );
    let b = county
        .metrics
        .get_indicators(unit_rate(B))
        .await
        .unwrap()
        .into_inner()
        .timely_acceptance_unit
        .unwrap();
    assert_eq!((b.numerator, b.denominator), (0, 1));
    let empty_org: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM case_deadline_days WHERE org_code = '' AND (on_time <> 0 OR late <> 0 OR open <> 0)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(empty_org, 0, "no clock is counted for no unit");
    app.assert_rollups_match_records().await;
}

/// Item 3: a rating is taken only for an opinion published for evaluation, and only inside its window.
#[tokio::test]
async fn only_a_published_opinion_is_rated() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, A).await;
    let id = open(&mut county, days_ago(20), A, ClaimType::Petition).await;
    assign(&mut county, &id, days_ago(19), A, None)
        .await
        .unwrap();
    town.cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: id.clone(),
            occurred_at: days_ago(18),
            ..Default::default()
        })
        .await
        .unwrap();
    town.cases
        .reply_case(ReplyCaseRequest {
            request_id: request_id(),
            case_id: id.clone(),
            occurred_at: days_ago(10),
            opinion: "处理意见".into(),
            publish_for_evaluation: false,
            ..Default::default()
        })
        .await
        .unwrap();
    let status = county
        .cases
        .record_evaluation(RecordEvaluationRequest {
            request_id: request_id(),
            case_id: id.clone(),
            occurred_at: days_ago(5),
            office_rating: Rating::Satisfied as i32,
            unit_rating: Rating::Satisfied as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "CASE_NOT_PUBLISHED");
    let evaluations = county
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: Some(year_period(chrono::Utc::now().year())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .evaluations;
    assert_eq!(evaluations, 0);
}

/// Items 6 and 7: the conclusion clock comes from the claim type (申诉求决 has the statutory 60 days; a
/// suggestion has none and is not counted), and a 交办 deadline may not go past the statutory period.
#[tokio::test]
async fn the_claim_type_decides_the_conclusion_clock_and_jiaoban_stays_within_it() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, A).await;
    let mut accepted = BTreeMap::new();
    for claim in [ClaimType::Petition, ClaimType::Suggestion] {
        let id = open(&mut county, days_ago(100), A, claim).await;
        assign(&mut county, &id, days_ago(99), A, None)
            .await
            .unwrap();
        let case = town
            .cases
            .accept_case(AcceptCaseRequest {
                request_id: request_id(),
                case_id: id.clone(),
                occurred_at: days_ago(98),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        accepted.insert(claim as i32, (id, case));
    }
    let petition = &accepted[&(ClaimType::Petition as i32)].1;
    assert!(petition.deadlines.as_ref().unwrap().conclude.is_some());
    let (suggestion_id, suggestion) = &accepted[&(ClaimType::Suggestion as i32)];
    assert!(
        suggestion.deadlines.as_ref().unwrap().conclude.is_none(),
        "建议意见 follows its own procedure"
    );
    let status = town
        .cases
        .extend_case(ExtendCaseRequest {
            request_id: request_id(),
            case_id: suggestion_id.clone(),
            occurred_at: days_ago(60),
            days: 10,
            approved_by: "镇长".into(),
            reason: "调查".into(),
            notified_on: date_of(days_ago(60)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "NO_STATUTORY_DEADLINE");
    // Both are overdue (accepted 98 days ago, never replied): only the petition is counted.
    let year_ago = chrono::Utc::now() - chrono::Duration::days(400);
    let done = county
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period: Some(Period {
                start: Some(YearMonth {
                    year: year_ago.year(),
                    month: year_ago.month() as i32,
                }),
                end: Some(YearMonth {
                    year: chrono::Utc::now().year(),
                    month: 12,
                }),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .on_time_completion
        .unwrap();
    assert_eq!((done.numerator, done.denominator), (0, 1));

    // 交办 with a deadline 80 days on: beyond the statutory 60, refused.
    let id = open(&mut county, days_ago(2), A, ClaimType::Petition).await;
    let status = assign(
        &mut county,
        &id,
        days_ago(1),
        A,
        date_of(ts(now_secs() + 79 * DAY)),
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&status), ["handling_deadline"]);
    assign(
        &mut county,
        &id,
        days_ago(1),
        A,
        date_of(ts(now_secs() + 40 * DAY)),
    )
    .await
    .unwrap();
}

/// 延期告知: an extension records the day the petitioner was told in writing.
#[tokio::test]
async fn an_extension_records_its_notice() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, A).await;
    let id = open(&mut county, days_ago(30), A, ClaimType::Petition).await;
    assign(&mut county, &id, days_ago(29), A, None)
        .await
        .unwrap();
    town.cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: id.clone(),
            occurred_at: days_ago(28),
            ..Default::default()
        })
        .await
        .unwrap();
    let extend = |notified_on| ExtendCaseRequest {
        request_id: request_id(),
        case_id: id.clone(),
        days: 20,
        approved_by: "镇长".into(),
        reason: "需调查取证".into(),
        notified_on,
        ..Default::default()
    };
    let status = town.cases.extend_case(extend(None)).await.unwrap_err();
    assert_eq!(fields(&status), ["notified_on"]);
    let case = town
        .cases
        .extend_case(extend(date_of(days_ago(1))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.extension_notified_on, date_of(days_ago(1)));
}

/// 审核认定办结: a 交办 case counts as concluded when the office confirms its completion report.
#[tokio::test]
async fn a_jiaoban_case_concludes_when_its_report_is_confirmed() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, A).await;
    let id = open(&mut county, days_ago(30), A, ClaimType::Petition).await;
    assign(&mut county, &id, days_ago(29), A, date_of(days_ago(1)))
        .await
        .unwrap();
    town.cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: id.clone(),
            occurred_at: days_ago(28),
            ..Default::default()
        })
        .await
        .unwrap();
    let replied = town
        .cases
        .reply_case(ReplyCaseRequest {
            request_id: request_id(),
            case_id: id.clone(),
            occurred_at: days_ago(5),
            opinion: "意见书".into(),
            completion_report: "办结报告".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let conclude = replied.deadlines.unwrap().conclude.unwrap();
    assert_eq!(
        conclude.timeliness(),
        Timeliness::Overdue,
        "the reply alone does not conclude it"
    );
    let status = town
        .cases
        .confirm_completion(ConfirmCompletionRequest {
            request_id: request_id(),
            case_id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "the office confirms");
    let confirmed = county
        .cases
        .confirm_completion(ConfirmCompletionRequest {
            request_id: request_id(),
            case_id: id.clone(),
            note: "审核认定办结".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(confirmed.completion_confirmed_at.is_some());
    assert_eq!(
        confirmed.deadlines.unwrap().conclude.unwrap().timeliness(),
        Timeliness::Late
    );
}

/// 督办: the unit replies within 30 days; an unanswered supervision shows in the overdue list; the office
/// closes it.
#[tokio::test]
async fn supervision_is_answered_within_thirty_days_and_closed_by_the_office() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, A).await;
    let id = open(&mut county, days_ago(50), A, ClaimType::Petition).await;
    assign(&mut county, &id, days_ago(49), A, None)
        .await
        .unwrap();
    town.cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: id.clone(),
            occurred_at: days_ago(48),
            ..Default::default()
        })
        .await
        .unwrap();
    let supervised = county
        .cases
        .supervise_case(SuperviseCaseRequest {
            request_id: request_id(),
            case_id: id.clone(),
            occurred_at: days_ago(40),
            level: Level::County as i32,
            method: SupervisionMethod::Document as i32,
            reason: "推诿拖延".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let reply = supervised.deadlines.unwrap().supervision_reply.unwrap();
    assert_eq!(reply.timeliness(), Timeliness::Overdue);
    // Its conclusion is not due yet (60 days from acceptance); the late reply puts it on the overdue list.
    let overdue = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            c.cases
                .list_cases(ListCasesRequest {
                    overdue: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .cases
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(overdue(&mut town).await, std::slice::from_ref(&id));
    town.cases
        .reply_supervision(ReplySupervisionRequest {
            request_id: request_id(),
            case_id: id.clone(),
            reply: "已整改到位".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(overdue(&mut town).await.is_empty());
    let closed = county
        .cases
        .close_supervision(CloseSupervisionRequest {
            request_id: request_id(),
            case_id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!closed.supervised && closed.supervision_closed_at.is_some());
}

/// Item 9: one time zone. SQL's `bureau_date` and Rust's calendar agree on every instant, including the summer
/// times of 1986–1991 where `Asia/Shanghai` differs from UTC+8.
#[tokio::test]
async fn rust_and_sql_agree_on_the_bureau_date() {
    let app = spawn_app().await;
    let mut instants = Vec::new();
    for year in [1986, 1988, 1991, 2020] {
        for (m, d, h) in [
            (4, 14, 15),
            (6, 30, 15),
            (7, 15, 16),
            (9, 10, 15),
            (12, 31, 16),
        ] {
            let t = chrono::Utc.with_ymd_and_hms(year, m, d, h, 30, 0).unwrap();
            instants.push(t);
        }
    }
    for t in instants {
        let sql: chrono::NaiveDate = sqlx::query_scalar("SELECT bureau_date($1)")
            .bind(t)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(sql, xinfang_proto::calendar::local_date(t), "{t}");
        let month: chrono::NaiveDate = sqlx::query_scalar("SELECT bureau_month($1)")
            .bind(t)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(
            month,
            xinfang_proto::calendar::local_date(t).with_day(1).unwrap()
        );
    }
}

/// One step of a random workflow.
#[derive(Debug, Clone, Copy)]
enum Step {
    Assign { unit_b: bool, jiaoban: bool },
    Accept,
    Decline,
    Object,
    DecideObjection(bool),
    Extend,
    Reply(bool),
    Confirm,
    Evaluate,
    Supervise,
    ReplySupervision,
    CloseSupervision,
    RequestReview,
    DecideReview,
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (any::<bool>(), prop::bool::weighted(0.3))
            .prop_map(|(unit_b, jiaoban)| Step::Assign { unit_b, jiaoban }),
        3 => Just(Step::Accept),
        1 => Just(Step::Decline),
        1 => Just(Step::Object),
        1 => any::<bool>().prop_map(Step::DecideObjection),
        1 => Just(Step::Extend),
        2 => any::<bool>().prop_map(Step::Reply),
        1 => Just(Step::Confirm),
        1 => Just(Step::Evaluate),
        1 => Just(Step::Supervise),
        1 => Just(Step::ReplySupervision),
        1 => Just(Step::CloseSupervision),
        1 => Just(Step::RequestReview),
        1 => Just(Step::DecideReview),
    ]
}

/// A case's life: when it is registered (days ago), its claim type, and its steps with the days between.
fn any_life() -> impl Strategy<Value = (i64, i32, Vec<(i64, Step)>)> {
    (
        60i64..250,
        prop_oneof![Just(0), Just(1), Just(2)],
        prop::collection::vec((0i64..25, any_step()), 0..10),
    )
}

struct Actors {
    county: Client,
    a: Client,
    b: Client,
}

/// Takes `step` on case `id` at `at` as whoever takes it; refusals are part of the game.
async fn take(actors: &mut Actors, id: &str, at: At, step: Step) {
    let case = get(&mut actors.county, id).await;
    let unit = if case.responsible_org_code == B {
        &mut actors.b
    } else {
        &mut actors.a
    };
    let c = |cid: &str| cid.to_owned();
    let r = match step {
        Step::Assign { unit_b, jiaoban } => {
            let deadline = jiaoban
                .then(|| date_of(ts(at.map_or(now_secs(), |t| t.seconds) + 30 * DAY)))
                .flatten();
            assign(
                &mut actors.county,
                id,
                at,
                if unit_b { B } else { A },
                deadline,
            )
            .await
            .map(|_| ())
        }
        Step::Accept => unit
            .cases
            .accept_case(AcceptCaseRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::Decline => unit
            .cases
            .decline_case(DeclineCaseRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                ground: DeclineGround::AlreadyHandling as i32,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::Object => unit
            .cases
            .object_to_assignment(ObjectToAssignmentRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                reason: "不属本单位".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::DecideObjection(agree) => actors
            .county
            .cases
            .decide_objection(DecideObjectionRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                agree,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::Extend => unit
            .cases
            .extend_case(ExtendCaseRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                days: 15,
                approved_by: "负责人".into(),
                reason: "调查".into(),
                notified_on: date_of(at),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::Reply(publish) => unit
            .cases
            .reply_case(ReplyCaseRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                opinion: "意见".into(),
                completion_report: if case.assignment_mode() == AssignmentMode::Assign {
                    "报告".into()
                } else {
                    String::new()
                },
                publish_for_evaluation: publish,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::Confirm => actors
            .county
            .cases
            .confirm_completion(ConfirmCompletionRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::Evaluate => actors
            .county
            .cases
            .record_evaluation(RecordEvaluationRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                office_rating: Rating::Satisfied as i32,
                unit_rating: Rating::Unsatisfied as i32,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::Supervise => actors
            .county
            .cases
            .supervise_case(SuperviseCaseRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                level: Level::County as i32,
                method: SupervisionMethod::Summons as i32,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::ReplySupervision => unit
            .cases
            .reply_supervision(ReplySupervisionRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                reply: "已办理".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::CloseSupervision => actors
            .county
            .cases
            .close_supervision(CloseSupervisionRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::RequestReview => actors
            .county
            .cases
            .request_review(RequestReviewRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Step::DecideReview => actors
            .county
            .cases
            .decide_review(DecideReviewRequest {
                request_id: request_id(),
                case_id: c(id),
                occurred_at: at,
                outcome: ReviewOutcome::Upheld as i32,
                opinion: "维持".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    };
    if let Err(status) = r {
        // Refused steps are expected; a refusal is never an internal error.
        assert!(
            matches!(
                status.code(),
                Code::FailedPrecondition | Code::InvalidArgument | Code::PermissionDenied
            ),
            "{step:?}: {status:?}"
        );
    }
}

/// What a clock of the API's `Deadline` is stored as: 1 on time, 2 late, 0 not done.
fn stored_outcome(d: &xinfang_proto::v1::Deadline) -> i16 {
    match d.timeliness() {
        Timeliness::OnTime => 1,
        Timeliness::Late => 2,
        _ => 0,
    }
}

fn to_naive(d: Option<&Date>) -> Option<chrono::NaiveDate> {
    d.and_then(|d| chrono::NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32))
}

#[test]
fn random_workflows_count_only_their_stored_outcomes() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 3,
        ..ProptestConfig::default()
    });
    runner
        .run(&prop::collection::vec(any_life(), 12..20), |lives| {
            runtime.block_on(async {
                let app = spawn_app().await;
                let mut actors = Actors {
                    county: client(&app, Role::CountyClerk, BUREAU).await,
                    a: client(&app, Role::TownshipClerk, A).await,
                    b: client(&app, Role::TownshipClerk, B).await,
                };
                let mut ids = Vec::new();
                for (ago, claim, steps) in &lives {
                    let claim = ClaimType::try_from(*claim).unwrap_or_default();
                    let id = open(&mut actors.county, days_ago(*ago), A, claim).await;
                    let mut t = now_secs() - ago * DAY;
                    for (gap, step) in steps {
                        t = (t + gap * DAY + 3_600).min(now_secs() - 60);
                        take(&mut actors, &id, ts(t), *step).await;
                    }
                    ids.push(id);
                }
                // Each case's stored clocks are what the API shows for it.
                for id in &ids {
                    let case = get(&mut actors.county, id).await;
                    let d = case.deadlines.unwrap_or_default();
                    let row: (Option<chrono::NaiveDate>, i16, Option<chrono::NaiveDate>, i16, Option<chrono::NaiveDate>, i16) =
                        sqlx::query_as(
                            "SELECT assign_due, assign_outcome, accept_due, accept_outcome, conclude_due, \
                                    conclude_outcome FROM cases WHERE id = $1::uuid",
                        )
                        .bind(id)
                        .fetch_one(&app.pool)
                        .await
                        .unwrap();
                    let api = |x: &Option<xinfang_proto::v1::Deadline>| {
                        x.as_ref()
                            .map_or((None, 0), |d| (to_naive(d.due.as_ref()), stored_outcome(d)))
                    };
                    prop_assert_eq!((row.0, row.1), api(&d.assign), "assign of {}", id);
                    prop_assert_eq!((row.2, row.3), api(&d.accept), "accept of {}", id);
                    prop_assert_eq!((row.4, row.5), api(&d.conclude), "conclude of {}", id);
                }
                // Every rollup bucket is a count of those stored outcomes.
                let mismatches: i64 = sqlx::query_scalar(
                    "WITH counted AS ( \
                        SELECT f.deadline, f.due, f.org_code, sum(f.on_time) AS on_time, sum(f.late) AS late, \
                               sum(f.open) AS open \
                        FROM cases c CROSS JOIN LATERAL case_deadline_facts(c) f GROUP BY 1, 2, 3) \
                     SELECT count(*) FROM case_deadline_days d \
                     FULL JOIN counted c USING (deadline, due, org_code) \
                     WHERE COALESCE(d.on_time, 0) <> COALESCE(c.on_time, 0) \
                        OR COALESCE(d.late, 0) <> COALESCE(c.late, 0) \
                        OR COALESCE(d.open, 0) <> COALESCE(c.open, 0)",
                )
                .fetch_one(&app.pool)
                .await
                .unwrap();
                prop_assert_eq!(mismatches, 0);
                // And the indicators over the whole span agree with a count made from the API's own clocks.
                let start = chrono::Utc::now() - chrono::Duration::days(400);
                let end = chrono::Utc::now() + chrono::Duration::days(200);
                let indicators = actors
                    .county
                    .metrics
                    .get_indicators(GetIndicatorsRequest {
                        period: Some(Period {
                            start: Some(YearMonth {
                                year: start.year(),
                                month: start.month() as i32,
                            }),
                            end: Some(YearMonth {
                                year: end.year(),
                                month: end.month() as i32,
                            }),
                        }),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let mut counts = [(0i64, 0i64); 3];
                for id in &ids {
                    let case = get(&mut actors.county, id).await;
                    let d = case.deadlines.unwrap_or_default();
                    for (i, clock) in [d.assign, d.accept, d.conclude].iter().enumerate() {
                        if let Some(clock) = clock {
                            match clock.timeliness() {
                                Timeliness::OnTime => {
                                    counts[i].0 += 1;
                                    counts[i].1 += 1;
                                }
                                Timeliness::Late | Timeliness::Overdue => counts[i].1 += 1,
                                _ => {}
                            }
                        }
                    }
                }
                // Every case's office clock is due by now, whatever happened to it.
                prop_assert_eq!(counts[0].1, ids.len() as i64);
                let rates = [
                    indicators.timely_acceptance_office.unwrap(),
                    indicators.timely_acceptance_unit.unwrap(),
                    indicators.on_time_completion.unwrap(),
                ];
                for (i, rate) in rates.iter().enumerate() {
                    prop_assert_eq!(
                        (rate.numerator, rate.denominator),
                        counts[i],
                        "clock {} over {:?}",
                        i,
                        lives
                    );
                }
                app.assert_rollups_match_records().await;
                Ok(())
            })
        })
        .unwrap();
}
