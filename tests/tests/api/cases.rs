//! The case workflow over gRPC: the full path by the right roles, refusals that change nothing, access that
//! follows the responsible unit, etags, deadlines on the holiday calendar, the objection window, bad input,
//! idempotent retries and the backlog track.

use BacklogState::{Resolved, Resolving, StruckOff};
use chrono::{Datelike, TimeZone};
use prost_types::Timestamp;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use xinfang_client::Client;
use xinfang_proto::v1::{
    AcceptCaseRequest, AssignCaseRequest, AssignmentMode, BacklogResolution, BacklogState, Case,
    CaseEvent, CaseState, Date, Deadline, DecideObjectionRequest, DecideReviewRequest,
    ExtendCaseRequest, GetCaseRequest, Level, ListCaseEventsRequest, ListCasesRequest,
    MarkBacklogRequest, MatterInput, ObjectToAssignmentRequest, ObjectionState, Petitioner, Rating,
    RecordEvaluationRequest, RecordHearingRequest, RegisterVisitRequest, ReplyCaseRequest,
    RequestReviewRequest, ResolveBacklogRequest, ReviewKind, ReviewOutcome, SuperviseCaseRequest,
    SupervisionMethod, Timeliness, Visit,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, now_secs, request_id, spawn_app, ts};

const BUREAU: &str = "510422XF";
const TOWN_A: &str = "510422100";
const TOWN_B: &str = "510422101";
/// `occurred_at` left out: the step happens when the server receives it.
const NOW: At = None;
const DENIED: Code = Code::PermissionDenied;

type Reply = Result<Case, Status>;
type At = Option<Timestamp>;

fn days_ago(days: i64) -> At {
    ts(now_secs() - days * 86_400)
}

/// 09:00 in Asia/Shanghai on that day.
fn shanghai(y: i32, m: u32, d: u32) -> At {
    let at = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(y, m, d, 9, 0, 0);
    ts(at.unwrap().timestamp())
}

/// The bureau's calendar day `days` back.
fn local_day(days: i64) -> Option<Date> {
    use chrono::Datelike;
    let day = (chrono::Utc::now() - chrono::Duration::days(days))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    date(day.year(), day.month() as i32, day.day() as i32)
}

/// The bureau's calendar day of `at` (today when unset): the day an extension's notice goes out.
fn day_of(at: At) -> Option<Date> {
    use chrono::Datelike;
    let at = at.map_or_else(chrono::Utc::now, |t| {
        chrono::DateTime::from_timestamp(t.seconds, 0).unwrap_or_else(chrono::Utc::now)
    });
    let day = xinfang_proto::calendar::local_date(at);
    date(day.year(), day.month() as i32, day.day() as i32)
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

async fn client(app: &TestApp, role: Role, org: &str) -> Client {
    let token = app.token(role, org).await;
    app.client_with(Some(&token))
}

/// Registers a one-person visit about a problem in `org` and returns the case it opened. The person has no
/// ID number, so every visit opens a case of its own.
async fn open_case(clerk: &mut Client, visited_at: At, org: &str) -> String {
    let visit = Visit {
        visited_at,
        level: Level::County as i32,
        place_name: "盐边县信访局接待大厅".into(),
        headcount: 1,
        petitioners: vec![Petitioner {
            name: "某人".into(),
            address: "攀枝花市盐边县桐子林镇".into(),
            ..Default::default()
        }],
        matter: Some(MatterInput {
            content: "拖欠工资三个月".into(),
            demands: "要求支付工资".into(),
            category: "labor".into(),
            problem_org_code: org.into(),
            link_case_id: String::new(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let request = RegisterVisitRequest {
        request_id: request_id(),
        visit: Some(visit),
    };
    let visit = clerk.visits.register_visit(request).await.unwrap();
    let classification = visit.into_inner().classification.unwrap();
    assert!(!classification.repeat);
    classification.case_id
}

async fn try_get(c: &mut Client, id: &str) -> Reply {
    let request = GetCaseRequest { id: id.into() };
    c.cases.get_case(request).await.map(|r| r.into_inner())
}

async fn get(c: &mut Client, id: &str) -> Case {
    try_get(c, id).await.expect("reading the case")
}

/// One step of the workflow with plausible inputs.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// 转送 to a unit; a non-empty reason makes it a reassignment.
    Forward(&'a str, &'a str),
    /// 交办 to a unit with an optional handling deadline.
    Handover(&'a str, Option<Date>),
    Accept,
    Object,
    /// The office agrees with the objection (true) or refuses it.
    DecideObjection(bool),
    Extend(i32),
    Reply,
    Evaluate,
    RequestReview,
    DecideReview,
    /// 听证 from the first to the last of these days back.
    Hearing(i64, i64),
    Supervise(Level),
    MarkBacklog,
    Resolve(BacklogState, BacklogResolution),
}

async fn act(c: &mut Client, id: &str, at: At, step: Step<'_>) -> Reply {
    act_with(c, id, "", at, step).await
}

/// Takes a step that must succeed.
async fn done(c: &mut Client, id: &str, at: At, step: Step<'_>) -> Case {
    act(c, id, at, step).await.expect("the step is taken")
}

/// Takes `step` on case `id` with a fresh request id, the given etag (may be empty) and time.
#[rustfmt::skip]
async fn act_with(c: &mut Client, id: &str, etag: &str, at: At, step: Step<'_>) -> Reply {
    let (request_id, case_id, etag, occurred_at) = (request_id(), id.to_owned(), etag.into(), at);
    let c = &mut c.cases;
    let reply = match step {
        Step::Forward(unit, reason) => c.assign_case(AssignCaseRequest {
            request_id, case_id, etag, occurred_at, mode: AssignmentMode::Forward as i32,
            responsible_org_code: unit.into(), handling_deadline: None, reason: reason.into(),
        }).await,
        Step::Handover(unit, handling_deadline) => c.assign_case(AssignCaseRequest {
            request_id, case_id, etag, occurred_at, mode: AssignmentMode::Assign as i32,
            responsible_org_code: unit.into(), handling_deadline, reason: String::new(),
        }).await,
        Step::Accept => c.accept_case(AcceptCaseRequest {
            request_id, case_id, etag, occurred_at,
        }).await,
        Step::Object => c.object_to_assignment(ObjectToAssignmentRequest {
            request_id, case_id, etag, occurred_at, reason: "不属于本单位职责范围".into(),
        }).await,
        Step::DecideObjection(agree) => c.decide_objection(DecideObjectionRequest {
            request_id, case_id, etag, occurred_at, agree, reason: "经核实确属异议".into(),
        }).await,
        Step::Extend(days) => c.extend_case(ExtendCaseRequest {
            request_id, case_id, etag, occurred_at, days,
            approved_by: "镇长".into(), reason: "需调查取证".into(), notified_on: day_of(occurred_at),
        }).await,
        Step::Reply => c.reply_case(ReplyCaseRequest {
            request_id, case_id, etag, occurred_at, opinion: "经调查，已督促企业支付工资。".into(),
            completion_report: String::new(), publish_for_evaluation: true,
        }).await,
        Step::Evaluate => c.record_evaluation(RecordEvaluationRequest {
            request_id, case_id, etag, occurred_at,
            office_rating: Rating::Satisfied as i32, unit_rating: Rating::BasicallySatisfied as i32,
        }).await,
        Step::RequestReview => c.request_review(RequestReviewRequest {
            request_id, case_id, etag, occurred_at, reason: "对处理意见不服".into(),
        }).await,
        Step::DecideReview => c.decide_review(DecideReviewRequest {
            request_id, case_id, etag, occurred_at,
            outcome: ReviewOutcome::Upheld as i32, opinion: "维持原处理意见".into(),
        }).await,
        Step::Hearing(first, last) => c.record_hearing(RecordHearingRequest {
            request_id, case_id, etag, occurred_at,
            first_day: local_day(first), last_day: local_day(last), note: "县信访局听证室".into(),
        }).await,
        Step::Supervise(level) => c.supervise_case(SuperviseCaseRequest {
            request_id, case_id, etag, occurred_at, level: level as i32,
            method: SupervisionMethod::Document as i32, reason: "群众反映强烈".into(),
        }).await,
        Step::MarkBacklog => c.mark_backlog(MarkBacklogRequest {
            request_id, case_id, etag, occurred_at,
            leader: "副县长".into(), special_difficult: Some(true), reason: "多次重复信访".into(),
        }).await,
        Step::Resolve(step, resolution) => c.resolve_backlog(ResolveBacklogRequest {
            request_id, case_id, etag, occurred_at,
            step: step as i32, resolution: resolution as i32, note: "化解".into(),
        }).await,
    };
    reply.map(|r| r.into_inner())
}

/// The case's history, oldest first, over all pages.
async fn events(c: &mut Client, id: &str) -> Vec<CaseEvent> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListCaseEventsRequest {
            case_id: id.into(),
            page_size: 3,
            page_token,
        };
        let page = c.cases.list_case_events(request).await.unwrap();
        let page = page.into_inner();
        assert!(page.events.iter().all(|e| e.case_id == id));
        all.extend(page.events);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

async fn actions(c: &mut Client, id: &str) -> Vec<String> {
    let events = events(c, id).await;
    events.into_iter().map(|e| e.action).collect()
}

/// The ids of the cases a list shows, over all pages, sorted.
async fn list(c: &mut Client, mut request: ListCasesRequest) -> Vec<String> {
    let mut ids = Vec::new();
    request.page_size = 2;
    loop {
        let page = c.cases.list_cases(request.clone()).await.unwrap();
        let page = page.into_inner();
        ids.extend(page.cases.into_iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            ids.sort();
            return ids;
        }
        request.page_token = page.next_page_token;
    }
}

fn sorted<const N: usize>(ids: [&String; N]) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().cloned().collect();
    ids.sort();
    ids
}

/// The ErrorInfo reason of a FAILED_PRECONDITION.
fn reason(reply: Reply) -> String {
    let status = reply.expect_err("refused");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let info = status.get_error_details().error_info().cloned();
    info.map(|i| i.reason).unwrap_or_default()
}

/// The fields named by an INVALID_ARGUMENT.
fn fields(reply: Reply) -> Vec<String> {
    let status = reply.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations = status.get_error_details().bad_request().cloned();
    let violations = violations.map(|b| b.field_violations).unwrap_or_default();
    violations.into_iter().map(|f| f.field).collect()
}

fn code(reply: Reply) -> Code {
    reply.expect_err("refused").code()
}

/// A deadline's due date and timeliness.
fn due(deadline: Option<Deadline>) -> (Option<Date>, Timeliness) {
    let deadline = deadline.expect("the deadline applies");
    (deadline.due, deadline.timeliness())
}

#[tokio::test]
async fn the_full_path_by_the_right_roles_ends_final() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, TOWN_A).await;
    let (c, t) = (&mut county, &mut town);
    let visited = days_ago(40);
    let id = open_case(c, visited, TOWN_A).await;

    let case = get(c, &id).await;
    assert_eq!(case.state(), CaseState::Registered);
    assert_eq!(case.responsible_org_code, "");
    assert_eq!(case.registered_at, visited);
    let d = case.deadlines.unwrap();
    assert_eq!(due(d.assign).1, Timeliness::Overdue, "40 days unassigned");
    assert!(d.accept.is_none() && d.conclude.is_none());

    let assigned_at = days_ago(39);
    let case = done(c, &id, assigned_at, Step::Forward(TOWN_A, "")).await;
    assert_eq!(case.state(), CaseState::Assigned);
    assert_eq!(case.responsible_org_code, TOWN_A);
    assert_eq!(case.assignment_mode(), AssignmentMode::Forward);
    assert_eq!(case.assigned_at, assigned_at);
    assert_eq!(due(case.deadlines.unwrap().assign).1, Timeliness::OnTime);

    let accepted_at = days_ago(38);
    let case = done(t, &id, accepted_at, Step::Accept).await;
    assert_eq!(case.state(), CaseState::Accepted);
    assert_eq!(case.accepted_at, accepted_at);
    let d = case.deadlines.unwrap();
    assert_eq!(due(d.accept).1, Timeliness::OnTime);
    let before = due(d.conclude).0.unwrap();

    let extend = act_with(t, &id, &case.etag, days_ago(30), Step::Extend(10));
    let case = extend.await.unwrap();
    assert_eq!(case.state(), CaseState::Accepted);
    assert_eq!(case.extension_days, 10);
    assert_eq!(case.extension_approved_by, "镇长");
    let after = due(case.deadlines.unwrap().conclude).0.unwrap();
    let key = |d: &Date| (d.year, d.month, d.day);
    assert!(key(&after) > key(&before), "{before:?} → {after:?}");

    let case = done(t, &id, days_ago(20), Step::Reply).await;
    assert_eq!(case.state(), CaseState::Replied);
    assert!(!case.reply_opinion.is_empty());
    let d = case.deadlines.unwrap();
    assert_eq!(due(d.conclude).1, Timeliness::OnTime);
    assert_eq!(due(d.review_request).1, Timeliness::Pending);

    let case = done(c, &id, days_ago(18), Step::Evaluate).await;
    assert_eq!(case.state(), CaseState::Evaluated);
    assert_eq!(case.office_rating(), Rating::Satisfied);
    assert_eq!(case.unit_rating(), Rating::BasicallySatisfied);

    // 复查 within 30 days of the opinion, then 复核 within 30 days of the 复查 decision.
    let case = done(c, &id, days_ago(15), Step::RequestReview).await;
    assert_eq!(case.state(), CaseState::ReviewRequested);
    assert_eq!(case.review_kind(), ReviewKind::First);
    let refused = act(c, &id, days_ago(12), Step::Hearing(13, 12)).await;
    assert_eq!(reason(refused), "HEARING_NOT_IN_SECOND_REVIEW");
    let case = done(c, &id, days_ago(10), Step::DecideReview).await;
    assert_eq!(case.state(), CaseState::Reviewed);
    assert_eq!(case.review_outcome(), ReviewOutcome::Upheld);
    let case = done(c, &id, days_ago(5), Step::RequestReview).await;
    assert_eq!(case.state(), CaseState::ReviewRequested);
    assert_eq!(case.review_kind(), ReviewKind::Second);
    // A two-day 听证 is not counted in the 复核's 30 days: the deadline is 32 days from the request (a last
    // day on a non-working day still moves to the next working day); a second hearing may not reuse its days.
    let requested = case.review_requested_at.unwrap();
    let requested = chrono::DateTime::from_timestamp(requested.seconds, 0).unwrap();
    let rules = xinfang_server::cases::model::Workflow::china().unwrap();
    let expected = |days: u32| {
        let d = xinfang_server::cases::calendar::due_date(
            &rules.calendar,
            xinfang_server::cases::model::local_date(requested),
            days,
            rules.policy,
        );
        date(d.year(), d.month() as i32, d.day() as i32).unwrap()
    };
    let before = due(case.deadlines.unwrap().review_decision).0.unwrap();
    assert_eq!(before, expected(30));
    let case = done(c, &id, days_ago(2), Step::Hearing(4, 3)).await;
    assert_eq!((case.hearing_days, case.hearing_until), (2, local_day(3)));
    let after = due(case.deadlines.unwrap().review_decision).0.unwrap();
    assert_eq!(after, expected(32));
    // The 复核 is not decided before the hearing it paused for.
    let refused = act(c, &id, days_ago(4), Step::DecideReview).await;
    assert_eq!(fields(refused), ["occurred_at"]);
    let refused = act(c, &id, days_ago(2), Step::Hearing(3, 2)).await;
    assert_eq!(reason(refused), "HEARING_OVERLAPS");
    let refused = act(c, &id, days_ago(2), Step::Hearing(2, 3)).await;
    assert_eq!(fields(refused), ["last_day"]);
    let case = done(c, &id, days_ago(1), Step::DecideReview).await;
    assert_eq!(case.state(), CaseState::Final);
    let refused = act(c, &id, NOW, Step::RequestReview).await;
    assert_eq!(reason(refused), "CASE_FINAL");

    let expected = [
        "registered",
        "assigned",
        "accepted",
        "extended",
        "replied",
        "evaluated",
        "review_requested",
        "review_decided",
        "review_requested",
        "hearing_recorded",
        "review_decided",
    ];
    assert_eq!(actions(c, &id).await, expected);
    let events = events(c, &id).await;
    assert!(events.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert_eq!(events[1].occurred_at, assigned_at, "when it happened");
    assert!(!events[1].actor.is_empty());

    // Leaders and auditors read every case, the unit's clerk its own; an agency system none.
    for role in [Role::Leader, Role::Auditor] {
        let mut reader = client(&app, role, BUREAU).await;
        assert_eq!(get(&mut reader, &id).await.etag, case.etag, "{role}");
    }
    assert_eq!(get(t, &id).await.state(), CaseState::Final);
    let mut agency = client(&app, Role::Agency, BUREAU).await;
    assert_eq!(code(try_get(&mut agency, &id).await), DENIED);
    app.assert_rollups_match_records().await;
}

#[tokio::test]
async fn wrong_steps_and_wrong_roles_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, TOWN_A).await;
    let mut other = client(&app, Role::TownshipClerk, TOWN_B).await;
    let mut admin = app.client.clone();
    let (c, t, o) = (&mut county, &mut town, &mut other);
    let id = open_case(c, days_ago(2), TOWN_A).await;
    let registered = get(c, &id).await;

    // A township clerk does not assign; nobody accepts a case that is not assigned (the
    // administrator may act for any unit).
    assert_eq!(
        code(act(t, &id, NOW, Step::Forward(TOWN_A, "")).await),
        DENIED
    );
    let refused = act(&mut admin, &id, NOW, Step::Accept).await;
    assert_eq!(reason(refused), "CASE_NOT_ASSIGNED");
    assert_eq!(get(c, &id).await.etag, registered.etag);
    assert_eq!(actions(c, &id).await, ["registered"]);

    let assigned = done(c, &id, NOW, Step::Forward(TOWN_A, "")).await;
    assert_ne!(assigned.etag, registered.etag);

    // Another township's clerk neither accepts nor replies, the county clerk does not accept for the
    // unit, and the right clerk neither replies nor extends before accepting.
    assert_eq!(code(act(o, &id, NOW, Step::Accept).await), DENIED);
    assert_eq!(code(act(o, &id, NOW, Step::Reply).await), DENIED);
    assert_eq!(code(act(c, &id, NOW, Step::Accept).await), DENIED);
    let refused = act(t, &id, NOW, Step::Reply).await;
    assert_eq!(reason(refused), "CASE_NOT_ACCEPTED");
    let refused = act(t, &id, NOW, Step::Extend(10)).await;
    assert_eq!(reason(refused), "CASE_NOT_ACCEPTED");

    let now = get(c, &id).await;
    assert_eq!(now.etag, assigned.etag);
    assert_eq!(now.state(), CaseState::Assigned);
    assert_eq!(actions(c, &id).await, ["registered", "assigned"]);
}

#[tokio::test]
async fn reassignment_moves_access_to_the_new_unit() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut first = client(&app, Role::TownshipClerk, TOWN_A).await;
    let mut second = client(&app, Role::TownshipClerk, TOWN_B).await;
    let (c, a, b) = (&mut county, &mut first, &mut second);
    let moved = open_case(c, days_ago(3), TOWN_A).await;
    let stays = open_case(c, days_ago(3), TOWN_A).await;
    let waiting = open_case(c, days_ago(3), TOWN_A).await;
    for id in [&moved, &stays] {
        done(c, id, days_ago(2), Step::Forward(TOWN_A, "")).await;
    }
    assert_eq!(get(a, &moved).await.responsible_org_code, TOWN_A);

    // A reassignment needs a reason and another unit.
    let refused = act(c, &moved, NOW, Step::Forward(TOWN_B, "")).await;
    assert_eq!(fields(refused), ["reason"]);
    let refused = act(c, &moved, NOW, Step::Forward(TOWN_A, "属地错误")).await;
    assert_eq!(reason(refused), "SAME_UNIT");
    let case = done(c, &moved, NOW, Step::Forward(TOWN_B, "属地错误")).await;
    assert_eq!(case.state(), CaseState::Assigned);
    assert_eq!(case.responsible_org_code, TOWN_B);

    // The first unit has lost it, in reads, steps and lists.
    assert_eq!(code(try_get(a, &moved).await), DENIED);
    assert_eq!(code(act(a, &moved, NOW, Step::Accept).await), DENIED);
    let all = ListCasesRequest::default;
    assert_eq!(list(a, all()).await, std::slice::from_ref(&stays));
    assert_eq!(list(b, all()).await, std::slice::from_ref(&moved));
    let asked = ListCasesRequest {
        responsible_org_code: TOWN_B.into(),
        ..all()
    };
    assert!(
        list(a, asked).await.is_empty(),
        "a filter does not widen the scope"
    );

    // The second unit takes it on.
    let case = done(b, &moved, NOW, Step::Accept).await;
    assert_eq!(case.state(), CaseState::Accepted);
    let history = ["registered", "assigned", "reassigned", "accepted"];
    assert_eq!(actions(b, &moved).await, history);

    // County-wide readers see all three; a field officer without trips sees none.
    let every = sorted([&moved, &stays, &waiting]);
    assert_eq!(list(c, all()).await, every);
    let mut leader = client(&app, Role::Leader, BUREAU).await;
    assert_eq!(list(&mut leader, all()).await, every);
    let mut officer = client(&app, Role::FieldOfficer, BUREAU).await;
    assert!(list(&mut officer, all()).await.is_empty());
    assert_eq!(code(try_get(&mut officer, &moved).await), DENIED);
    let registered = ListCasesRequest {
        state: CaseState::Registered as i32,
        ..all()
    };
    assert_eq!(list(c, registered).await, [waiting]);
}

#[tokio::test]
async fn a_stale_etag_is_aborted() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let c = &mut county;
    let id = open_case(c, days_ago(1), TOWN_A).await;
    let etag = get(c, &id).await.etag;
    assert!(!etag.is_empty());

    // Two clerks supervise at once from the same read: one wins, the other must re-read.
    let calls = [Level::City, Level::Province].map(|level| {
        let (mut c, id, etag) = (c.clone(), id.clone(), etag.clone());
        async move { act_with(&mut c, &id, &etag, NOW, Step::Supervise(level)).await }
    });
    let results = futures::future::join_all(calls).await;
    let (won, lost): (Vec<Reply>, Vec<Reply>) = results.into_iter().partition(|r| r.is_ok());
    assert_eq!((won.len(), lost.len()), (1, 1), "{won:?} {lost:?}");
    assert_eq!(code(lost.into_iter().next().unwrap()), Code::Aborted);
    let won = won.into_iter().next().unwrap().unwrap();
    assert!(won.supervised);
    assert_ne!(won.etag, etag);
    let current = get(c, &id).await;
    assert_eq!(current.etag, won.etag);
    assert_eq!(current.supervision_level(), won.supervision_level());

    // After the change, the old etag is stale for every method.
    let step = Step::Supervise(Level::National);
    assert_eq!(
        code(act_with(c, &id, &etag, NOW, step).await),
        Code::Aborted
    );
    let step = Step::Forward(TOWN_A, "");
    assert_eq!(
        code(act_with(c, &id, &etag, NOW, step).await),
        Code::Aborted
    );
    let current = get(c, &id).await;
    assert_eq!(current.etag, won.etag);
    assert_eq!(current.state(), CaseState::Registered);

    // The current etag works.
    let step = Step::Supervise(Level::National);
    let case = act_with(c, &id, &won.etag, NOW, step).await.unwrap();
    assert_eq!(case.supervision_level(), Level::National);
    assert_ne!(case.etag, won.etag);
    let history = ["registered", "supervised", "supervised"];
    assert_eq!(actions(c, &id).await, history);
}

#[tokio::test]
async fn deadlines_follow_the_holiday_calendar() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let c = &mut county;
    let registered = shanghai(2020, 1, 16);
    let on_time = open_case(c, registered, TOWN_A).await;
    let late = open_case(c, registered, TOWN_A).await;

    // 2020-01-16 + 15 days is 01-31, inside the extended Spring Festival off days: due 02-03.
    let case = get(c, &on_time).await;
    assert_eq!(case.registered_at, registered);
    let d = case.deadlines.unwrap();
    assert_eq!(due(d.assign), (date(2020, 2, 3), Timeliness::Overdue));
    assert!(d.accept.is_none() && d.conclude.is_none());

    let step = Step::Forward(TOWN_A, "");
    let case = done(c, &on_time, shanghai(2020, 2, 3), step).await;
    let d = case.deadlines.unwrap();
    assert_eq!(d.assign.unwrap().done_at, shanghai(2020, 2, 3));
    assert_eq!(due(d.assign), (date(2020, 2, 3), Timeliness::OnTime));
    assert_eq!(due(d.accept), (date(2020, 2, 18), Timeliness::Overdue));

    let case = done(c, &late, shanghai(2020, 2, 4), step).await;
    let late_assign = (date(2020, 2, 3), Timeliness::Late);
    assert_eq!(due(case.deadlines.unwrap().assign), late_assign);
    // A read shows what the step's answer showed.
    let read = get(c, &late).await.deadlines.unwrap();
    assert_eq!(due(read.assign), late_assign);

    // Both have waited for acceptance since 2020.
    let overdue = ListCasesRequest {
        overdue: true,
        ..Default::default()
    };
    assert_eq!(list(c, overdue).await, sorted([&on_time, &late]));
    app.assert_rollups_match_records().await;
}

/// The due lists hold what waits for a step due before today (overdue) or within the next days, and
/// nothing due later. (A holiday can move a due date by a week at most: the margins allow for it.)
#[tokio::test]
async fn the_due_lists_hold_the_cases_whose_step_falls_due() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let c = &mut county;
    // Assignment is due 15 days after registration.
    let late = open_case(c, days_ago(40), TOWN_A).await;
    let soon = open_case(c, days_ago(12), TOWN_A).await;
    let later = open_case(c, ts(now_secs() - 3_600), TOWN_A).await;
    let overdue = ListCasesRequest {
        overdue: true,
        ..Default::default()
    };
    assert_eq!(list(c, overdue).await, sorted([&late]));
    let within = |days| ListCasesRequest {
        due_within_days: days,
        ..Default::default()
    };
    assert_eq!(list(c, within(14)).await, sorted([&soon]));
    assert_eq!(list(c, within(40)).await, sorted([&soon, &later]));
    // Both at once: overdue and due within, which nothing is.
    let both = ListCasesRequest {
        overdue: true,
        due_within_days: 40,
        ..Default::default()
    };
    assert!(list(c, both).await.is_empty());
}

#[tokio::test]
async fn objections_only_within_five_working_days() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, TOWN_A).await;
    let (c, t) = (&mut county, &mut town);
    let step = Step::Forward(TOWN_A, "");

    let old = open_case(c, days_ago(41), TOWN_A).await;
    let assigned = done(c, &old, days_ago(40), step).await;
    let refused = act(t, &old, NOW, Step::Object).await;
    assert_eq!(reason(refused), "OBJECTION_WINDOW_CLOSED");
    let unchanged = get(t, &old).await;
    assert_eq!(unchanged.state(), CaseState::Assigned);
    assert_eq!(unchanged.etag, assigned.etag);

    let fresh = open_case(c, ts(now_secs() - 3_600), TOWN_A).await;
    done(c, &fresh, NOW, step).await;
    // The objection waits for the office: the case stays with the unit until then.
    let case = done(t, &fresh, NOW, Step::Object).await;
    assert_eq!(case.state(), CaseState::Assigned);
    assert_eq!(case.objection_state(), ObjectionState::Pending);
    assert_eq!(case.responsible_org_code, TOWN_A);
    let refused = act(t, &fresh, NOW, Step::DecideObjection(true)).await;
    assert_eq!(code(refused), Code::PermissionDenied, "the office decides");
    let case = done(c, &fresh, NOW, Step::DecideObjection(true)).await;
    assert_eq!(case.state(), CaseState::Returned);
    assert_eq!(case.responsible_org_code, "");
    let history = ["registered", "assigned", "objected", "objection_agreed"];
    assert_eq!(actions(c, &fresh).await, history);

    // Back at the office, it is assigned anew to another unit, which accepts it.
    let case = done(c, &fresh, NOW, Step::Forward(TOWN_B, "")).await;
    assert_eq!(case.responsible_org_code, TOWN_B);
    let mut second = client(&app, Role::TownshipClerk, TOWN_B).await;
    let case = done(&mut second, &fresh, NOW, Step::Accept).await;
    assert_eq!(case.state(), CaseState::Accepted);
}

#[tokio::test]
async fn bad_input_is_named() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, TOWN_A).await;
    let (c, t) = (&mut county, &mut town);
    let id = open_case(c, days_ago(1), TOWN_A).await;

    // 交办 needs a handling deadline.
    let named = fields(act(c, &id, NOW, Step::Handover(TOWN_A, None)).await);
    assert!(named.iter().any(|f| f == "handling_deadline"), "{named:?}");
    assert_eq!(actions(c, &id).await, ["registered"]);

    // Unknown and malformed ids.
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(code(try_get(c, &unknown).await), Code::NotFound);
    let refused = act(c, &unknown, NOW, Step::Forward(TOWN_A, "")).await;
    assert_eq!(code(refused), Code::NotFound);
    let refused = act(c, "not-a-case", NOW, Step::Forward(TOWN_A, "")).await;
    assert_eq!(fields(refused), ["case_id"]);

    // With its handling deadline, 交办 sets the conclusion date.
    let day = chrono::Utc::now().date_naive() + chrono::Days::new(60);
    let deadline = date(day.year(), day.month() as i32, day.day() as i32);
    let case = done(c, &id, NOW, Step::Handover(TOWN_A, deadline)).await;
    assert_eq!(case.assignment_mode(), AssignmentMode::Assign);
    assert_eq!(case.handling_deadline, deadline);
    let case = done(t, &id, NOW, Step::Accept).await;
    assert_eq!(due(case.deadlines.unwrap().conclude).0, deadline);

    // An extension is 1 to 30 days.
    assert_eq!(fields(act(t, &id, NOW, Step::Extend(31)).await), ["days"]);
    assert_eq!(get(c, &id).await.extension_days, 0);
    let history = ["registered", "assigned", "accepted"];
    assert_eq!(actions(c, &id).await, history);
}

#[tokio::test]
async fn a_retried_acceptance_is_applied_once() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut town = client(&app, Role::TownshipClerk, TOWN_A).await;
    let (c, t) = (&mut county, &mut town);
    let id = open_case(c, days_ago(1), TOWN_A).await;
    let assigned = done(c, &id, NOW, Step::Forward(TOWN_A, "")).await;

    let request = AcceptCaseRequest {
        request_id: request_id(),
        case_id: id.clone(),
        etag: assigned.etag,
        occurred_at: NOW,
    };
    let first = t.cases.accept_case(request.clone()).await.unwrap();
    let again = t.cases.accept_case(request).await;
    let again = again.expect("a retry is not an error").into_inner();
    let first = first.into_inner();
    assert_eq!(first, again);
    assert_eq!(first.state(), CaseState::Accepted);
    assert_eq!(get(c, &id).await.etag, first.etag);
    let history = ["registered", "assigned", "accepted"];
    assert_eq!(actions(c, &id).await, history);
}

#[tokio::test]
async fn the_backlog_track() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let c = &mut county;
    let id = open_case(c, days_ago(5), TOWN_A).await;
    let plain = open_case(c, days_ago(5), TOWN_A).await;
    let (none, agreement) = (BacklogResolution::Unspecified, BacklogResolution::Agreement);

    let refused = act(c, &id, NOW, Step::Resolve(Resolving, none)).await;
    assert_eq!(reason(refused), "BACKLOG_NOT_LISTED");

    // Listed with its leader (包案) and as special-difficult.
    let case = done(c, &id, NOW, Step::MarkBacklog).await;
    assert_eq!(case.backlog_state(), BacklogState::LeaderAssigned);
    assert_eq!(case.backlog_leader, "副县长");
    assert!(case.special_difficult);

    let refused = act(c, &id, NOW, Step::Resolve(Resolved, none)).await;
    assert_eq!(fields(refused), ["resolution"]);
    let refused = act(c, &id, NOW, Step::Resolve(StruckOff, none)).await;
    assert_eq!(reason(refused), "BACKLOG_STEP_NOT_ALLOWED");

    let case = done(c, &id, NOW, Step::Resolve(Resolved, agreement)).await;
    assert_eq!(case.backlog_state(), Resolved);
    assert_eq!(case.backlog_resolution(), agreement);
    let case = done(c, &id, NOW, Step::Resolve(StruckOff, none)).await;
    assert_eq!(case.backlog_state(), StruckOff);
    assert_eq!(case.backlog_resolution(), agreement, "kept");

    let difficult = |flag| ListCasesRequest {
        special_difficult: Some(flag),
        ..Default::default()
    };
    assert_eq!(list(c, difficult(true)).await, std::slice::from_ref(&id));
    assert_eq!(list(c, difficult(false)).await, [plain]);
    let history = [
        "registered",
        "backlog_listed",
        "backlog_resolved",
        "backlog_struck_off",
    ];
    assert_eq!(actions(c, &id).await, history);

    // The backlog is the petition office's: a township clerk does not manage it.
    let mut t = client(&app, Role::TownshipClerk, TOWN_A).await;
    assert_eq!(code(act(&mut t, &id, NOW, Step::MarkBacklog).await), DENIED);
    app.assert_rollups_match_records().await;
}

async fn decline(
    c: &mut Client,
    id: &str,
    at: At,
    ground: xinfang_proto::v1::DeclineGround,
) -> Reply {
    c.cases
        .decline_case(xinfang_proto::v1::DeclineCaseRequest {
            request_id: request_id(),
            case_id: id.into(),
            occurred_at: at,
            ground: ground as i32,
            reason: "属于法院受理范围".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn declining_by_the_unit_or_by_the_office_at_registration() {
    use xinfang_proto::v1::DeclineGround;
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut unit = client(&app, Role::TownshipClerk, TOWN_A).await;

    // The petition office declines at registration; a township clerk may not.
    let at_office = open_case(&mut county, days_ago(3), TOWN_A).await;
    assert_eq!(
        code(decline(&mut unit, &at_office, NOW, DeclineGround::OtherBranch).await),
        DENIED
    );
    let declined = decline(&mut county, &at_office, NOW, DeclineGround::OtherBranch)
        .await
        .unwrap();
    assert_eq!(declined.state(), CaseState::Declined);
    assert_eq!(declined.decline_ground(), DeclineGround::OtherBranch);
    assert_eq!(
        reason(act(&mut county, &at_office, NOW, Step::Forward(TOWN_A, "")).await),
        "CASE_DECLINED"
    );

    // Once assigned, the unit declines, and the office no longer may.
    let assigned = open_case(&mut county, days_ago(3), TOWN_A).await;
    done(
        &mut county,
        &assigned,
        days_ago(2),
        Step::Forward(TOWN_A, ""),
    )
    .await;
    assert_eq!(
        code(decline(&mut county, &assigned, NOW, DeclineGround::Leapfrog).await),
        DENIED
    );
    let by_unit = decline(&mut unit, &assigned, NOW, DeclineGround::AlreadyHandling)
        .await
        .unwrap();
    assert_eq!(by_unit.state(), CaseState::Declined);
    // Declining in time answers the assignment.
    assert_eq!(due(by_unit.deadlines.unwrap().accept).1, Timeliness::OnTime);

    // The unit's clerk declining an accepted case is told why not, not that it lacks the right.
    let accepted = open_case(&mut county, days_ago(3), TOWN_A).await;
    done(
        &mut county,
        &accepted,
        days_ago(2),
        Step::Forward(TOWN_A, ""),
    )
    .await;
    done(&mut unit, &accepted, days_ago(1), Step::Accept).await;
    assert_eq!(
        reason(decline(&mut unit, &accepted, NOW, DeclineGround::OtherBranch).await),
        "CASE_ALREADY_ACCEPTED"
    );
    // A step dated before the previous one is refused by name.
    assert_eq!(
        fields(act(&mut unit, &accepted, days_ago(2), Step::Reply).await),
        ["occurred_at"]
    );
    app.assert_rollups_match_records().await;
}

#[tokio::test]
async fn a_lapsed_review_window_makes_the_case_final_and_listable_as_such() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, BUREAU).await;
    let mut admin = app.client.clone();
    let id = open_case(&mut county, shanghai(2020, 3, 2), TOWN_A).await;
    done(
        &mut county,
        &id,
        shanghai(2020, 3, 3),
        Step::Forward(TOWN_A, ""),
    )
    .await;
    done(&mut admin, &id, shanghai(2020, 3, 4), Step::Accept).await;
    let replied = done(&mut admin, &id, shanghai(2020, 4, 1), Step::Reply).await;
    // Replied 2020-04-01, long ago: nobody requested a review in the 30 days, so the case is final.
    assert_eq!(replied.state(), CaseState::Final);
    assert_eq!(
        reason(act(&mut county, &id, shanghai(2020, 6, 1), Step::RequestReview).await),
        "REVIEW_WINDOW_CLOSED"
    );
    let finals = list(
        &mut county,
        ListCasesRequest {
            state: CaseState::Final as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(finals, std::slice::from_ref(&id));
    let replied = list(
        &mut county,
        ListCasesRequest {
            state: CaseState::Replied as i32,
            ..Default::default()
        },
    )
    .await;
    assert!(replied.is_empty(), "it shows as final, not replied");
    let overdue = list(
        &mut county,
        ListCasesRequest {
            overdue: true,
            ..Default::default()
        },
    )
    .await;
    assert!(
        overdue.is_empty(),
        "a closed review window is nobody's overdue step"
    );
}
