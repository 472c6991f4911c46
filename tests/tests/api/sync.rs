//! Sync over gRPC: pushed outbox operations apply exactly once and one bad one blocks nothing; pulls deliver
//! each change of the caller's scope once, with tombstones for cases that leave it.

use std::collections::HashSet;

use tonic::Code;
use xinfang_client::Client;
use xinfang_proto::v1::{
    AcceptCaseRequest, AssignCaseRequest, AssignmentMode, Change, Level, MatterInput, OpOutcome,
    Operation, Petitioner, PullRequest, PushRequest, RecordReturnTripRequest, RegisterVisitRequest,
    ReturnTrip, TripCosts, Visit, change, op_result, operation,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, now_secs, spawn_app, ts};

fn op_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn visit(org: &str, id_number: &str) -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: String::new(),
        visit: Some(Visit {
            visited_at: ts(now_secs() - 7_200),
            level: Level::National as i32,
            non_reception_place: true,
            place_name: "天安门地区".into(),
            headcount: 1,
            petitioners: vec![Petitioner {
                name: "张三".into(),
                id_number: id_number.into(),
                ..Default::default()
            }],
            matter: Some(MatterInput {
                content: "土地征收补偿".into(),
                demands: "提高补偿".into(),
                category: "land".into(),
                problem_org_code: org.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

async fn client(app: &TestApp, role: Role, org: &str) -> Client {
    let token = app.token(role, org).await;
    app.client_with(Some(&token))
}

async fn pull_all(c: &mut Client, cursor: &mut String, page_size: i32) -> Vec<Change> {
    let mut out = Vec::new();
    loop {
        let page = c
            .sync
            .pull(PullRequest {
                cursor: cursor.clone(),
                page_size,
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.changes);
        *cursor = page.next_cursor;
        if !page.more {
            return out;
        }
    }
}

/// Pulls until `done` holds of everything pulled so far (or 30 s have passed). A pull delivers only changes
/// older than every transaction still running in the cluster, and these tests share theirs with busy
/// neighbours: what was just committed may take a moment to come.
async fn pull_until(
    c: &mut Client,
    cursor: &mut String,
    page_size: i32,
    done: impl Fn(&[Change]) -> bool,
) -> Vec<Change> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut out = Vec::new();
    loop {
        out.extend(pull_all(c, cursor, page_size).await);
        if done(&out) || std::time::Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_pushed_outbox_applies_once_and_a_bad_operation_blocks_nothing() {
    let app = spawn_app().await;
    let mut officer = client(&app, Role::FieldOfficer, "510422XF").await;
    let ops = vec![
        Operation {
            op_id: op_id(),
            op: Some(operation::Op::RegisterVisit(visit(
                "510422100",
                "11010519491231002X",
            ))),
        },
        Operation {
            op_id: op_id(),
            op: Some(operation::Op::RegisterVisit(visit(
                "510422100",
                "110101199003077777",
            ))),
        },
        Operation {
            op_id: op_id(),
            op: Some(operation::Op::RecordReturnTrip(RecordReturnTripRequest {
                request_id: String::new(),
                trip: Some(ReturnTrip {
                    notified_by: "驻京工作组".into(),
                    notified_at: ts(now_secs() - 86_400),
                    destination_level: Level::National as i32,
                    destination_place: "北京".into(),
                    responsible_org_code: "510422100".into(),
                    officers: vec!["赵六".into()],
                    departed_at: ts(now_secs() - 80_000),
                    costs: Some(TripCosts {
                        transport: "1500.00".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            })),
        },
    ];
    let first = officer
        .sync
        .push(PushRequest {
            operations: ops.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<OpOutcome> = first.results.iter().map(|r| r.outcome()).collect();
    assert_eq!(
        outcomes,
        [OpOutcome::Applied, OpOutcome::Rejected, OpOutcome::Applied]
    );
    let bad = &first.results[1];
    assert_eq!(bad.code, Code::InvalidArgument as i32);
    assert_eq!(bad.fields, ["visit.petitioners[0].id_number"]);
    let Some(op_result::Result::Visit(v)) = &first.results[0].result else {
        panic!("a visit result");
    };
    assert!(v.number.starts_with("XF510422-"));

    // The same outbox again, as after a cut connection: nothing new, the first results again.
    let again = officer
        .sync
        .push(PushRequest { operations: ops })
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<OpOutcome> = again.results.iter().map(|r| r.outcome()).collect();
    assert_eq!(
        outcomes,
        [
            OpOutcome::Duplicate,
            OpOutcome::Rejected,
            OpOutcome::Duplicate
        ]
    );
    assert_eq!(again.results[0].result, first.results[0].result);
    assert_eq!(count(&app, "visits").await, 1);
    assert_eq!(count(&app, "return_trips").await, 1);

    // The officer's own records come back in its pull.
    let mut cursor = String::new();
    let changes = pull_until(&mut officer, &mut cursor, 100, |c| c.len() >= 2).await;
    let kinds: HashSet<&str> = changes
        .iter()
        .map(|c| match &c.item {
            Some(change::Item::Visit(_)) => "visit",
            Some(change::Item::Trip(_)) => "trip",
            Some(change::Item::Case(_)) => "case",
            _ => "other",
        })
        .collect();
    assert!(
        kinds.contains("visit") && kinds.contains("trip"),
        "{kinds:?}"
    );
    let status = officer
        .sync
        .push(PushRequest {
            operations: vec![Operation::default(); 501],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn townships_pull_their_cases_and_tombstones_when_they_leave() {
    let app = spawn_app().await;
    let mut county = client(&app, Role::CountyClerk, "510422XF").await;
    let mut a = client(&app, Role::TownshipClerk, "510422100").await;
    let mut b = client(&app, Role::TownshipClerk, "510422101").await;
    let reg = |org: &'static str| {
        let mut c = county.clone();
        async move {
            let mut req = visit(org, "");
            req.request_id = op_id();
            c.visits
                .register_visit(req)
                .await
                .unwrap()
                .into_inner()
                .classification
                .unwrap()
                .case_id
        }
    };
    let case_a = reg("510422100").await;
    let case_b = reg("510422101").await;
    let assign = |case: String, org: &'static str, reason: &'static str| {
        let mut c = county.clone();
        async move {
            c.cases
                .assign_case(AssignCaseRequest {
                    request_id: op_id(),
                    case_id: case,
                    mode: AssignmentMode::Forward as i32,
                    responsible_org_code: org.into(),
                    reason: reason.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
        }
    };
    assign(case_a.clone(), "510422100", "").await;
    assign(case_b.clone(), "510422101", "").await;

    let mut cursor_a = String::new();
    let first = pull_until(&mut a, &mut cursor_a, 1, |c| c.len() >= 2).await;
    let cases: Vec<String> = first
        .iter()
        .filter_map(|c| match &c.item {
            Some(change::Item::Case(cc)) => cc.case.as_ref().map(|c| c.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cases, std::slice::from_ref(&case_a), "only its own case");
    let visits = first
        .iter()
        .filter(|c| matches!(c.item, Some(change::Item::Visit(_))))
        .count();
    assert_eq!(visits, 1, "and the visit about its township");
    // Nothing new: the cursor holds.
    assert!(pull_all(&mut a, &mut cursor_a, 10).await.is_empty());

    // The county moves case A to township B.
    assign(case_a.clone(), "510422101", "属地错误，应由红格镇办理").await;
    let after = pull_until(&mut a, &mut cursor_a, 10, |c| !c.is_empty()).await;
    assert_eq!(after.len(), 1);
    let Some(change::Item::Tombstone(t)) = &after[0].item else {
        panic!("a tombstone, got {after:?}");
    };
    assert_eq!(
        (t.id.as_str(), t.reason.as_str()),
        (case_a.as_str(), "属地错误，应由红格镇办理")
    );

    let mut cursor_b = String::new();
    let has_a = |changes: &[Change]| {
        changes.iter().any(|c| {
            matches!(&c.item, Some(change::Item::Case(cc)) if cc.case.as_ref().is_some_and(|x| x.id == case_a))
        })
    };
    let at_b = pull_until(&mut b, &mut cursor_b, 100, has_a).await;
    let arrived = at_b
        .iter()
        .find_map(|c| match &c.item {
            Some(change::Item::Case(cc)) if cc.case.as_ref().is_some_and(|x| x.id == case_a) => {
                Some(cc)
            }
            _ => None,
        })
        .expect("case A arrives at B");
    let actions: Vec<&str> = arrived.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["registered", "assigned", "reassigned"],
        "whole, with its history"
    );

    // A's offline acceptance of the case it lost is rejected with the reason, not applied.
    let pushed = a
        .sync
        .push(PushRequest {
            operations: vec![Operation {
                op_id: op_id(),
                op: Some(operation::Op::AcceptCase(AcceptCaseRequest {
                    case_id: case_a.clone(),
                    ..Default::default()
                })),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pushed.results[0].outcome(), OpOutcome::Rejected);
    assert_eq!(pushed.results[0].code, Code::PermissionDenied as i32);
    // B's acceptance applies.
    let pushed = b
        .sync
        .push(PushRequest {
            operations: vec![Operation {
                op_id: op_id(),
                op: Some(operation::Op::AcceptCase(AcceptCaseRequest {
                    case_id: case_a.clone(),
                    ..Default::default()
                })),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pushed.results[0].outcome(), OpOutcome::Applied);

    // The county sees every change, once per page walk, whatever the page size.
    let ids = |changes: &[Change]| -> HashSet<String> {
        changes
            .iter()
            .filter_map(|c| match &c.item {
                Some(change::Item::Case(cc)) => cc.case.as_ref().map(|c| format!("case {}", c.id)),
                Some(change::Item::Visit(v)) => Some(format!("visit {}", v.id)),
                _ => None,
            })
            .collect()
    };
    // B's acceptance is the last change: both walks wait for it.
    let accepted_by_b = |changes: &[Change]| {
        changes.iter().any(|c| {
            matches!(&c.item, Some(change::Item::Case(cc))
                if cc.case.as_ref().is_some_and(|x| x.id == case_a)
                    && cc.history.last().is_some_and(|e| e.action == "accepted"))
        })
    };
    let mut c1 = String::new();
    let small = pull_until(&mut county, &mut c1, 1, accepted_by_b).await;
    let mut c2 = String::new();
    let big = pull_until(&mut county, &mut c2, 500, accepted_by_b).await;
    assert_eq!(ids(&small), ids(&big));
    assert_eq!(ids(&big).len(), 4, "two cases and two visits");
    let status = county
        .sync
        .pull(PullRequest {
            cursor: "forged".into(),
            page_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}
