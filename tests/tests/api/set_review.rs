//! Review of the set-based registration path (`server/src/intake/batch.rs`): cases where a Push of visits,
//! written as a set, must give exactly what the same visits registered one by one give.

use xinfang_client::Client;
use xinfang_proto::v1::{
    Level, MatterInput, Operation, Petitioner, PushRequest, RegisterVisitRequest, Visit, op_result,
    operation,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, fixture::id_number, now_secs, person, request_id, spawn_app, ts};

const TOWN: &str = "510422100";

fn visit(at: i64, people: Vec<Petitioner>, category: &str, content: &str) -> Visit {
    Visit {
        visited_at: ts(at),
        level: Level::County as i32,
        place_name: "盐边县信访局接待大厅".into(),
        headcount: 1,
        petitioners: people,
        matter: Some(MatterInput {
            content: content.into(),
            demands: "要求依法处理".into(),
            category: category.into(),
            problem_org_code: TOWN.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn client(app: &TestApp, role: Role) -> Client {
    let token = app.token(role, "510422XF").await;
    app.client_with(Some(&token))
}

fn op(v: Visit) -> Operation {
    Operation {
        op_id: request_id(),
        op: Some(operation::Op::RegisterVisit(RegisterVisitRequest {
            request_id: String::new(),
            visit: Some(v),
        })),
    }
}

/// Registers `visits` as `role`, online one by one (`together == false`) or in one Push; returns each
/// answer's (repeat, case id).
async fn register(
    app: &TestApp,
    role: Role,
    visits: Vec<Visit>,
    together: bool,
) -> Vec<(bool, String)> {
    let mut c = client(app, role).await;
    let mut out = Vec::new();
    if together {
        let results = c
            .sync
            .push(PushRequest {
                operations: visits.into_iter().map(op).collect(),
            })
            .await
            .expect("the push")
            .into_inner()
            .results;
        for r in results {
            match r.result {
                Some(op_result::Result::Visit(v)) => {
                    let class = v.classification.unwrap();
                    out.push((class.repeat, class.case_id));
                }
                _ => panic!("not a visit: {} {}", r.code, r.message),
            }
        }
    } else {
        for v in visits {
            let v = c
                .visits
                .register_visit(RegisterVisitRequest {
                    request_id: request_id(),
                    visit: Some(v),
                })
                .await
                .expect("a registration")
                .into_inner();
            let class = v.classification.unwrap();
            out.push((class.repeat, class.case_id));
        }
    }
    out
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

/// A person known before (ID number and the phone of then) comes back twice about a new matter: once with
/// the ID number and a new phone, once with name and the old phone only. One by one, the second finds the
/// person's stored record by the old phone and so the case the first just opened (a repeat). The two share
/// no hash in their requests, so they form one set; the set must still find that case.
#[tokio::test]
async fn a_set_member_found_by_the_stored_contact_of_an_earlier_members_person_repeats_its_case() {
    let now = now_secs();
    let id = id_number(810);
    let before = || {
        vec![visit(
            now - 40 * 86_400,
            vec![person("王五", &id, "13800000810")],
            "labor",
            "欠薪",
        )]
    };
    let trip = || {
        vec![
            visit(
                now - 2 * 86_400,
                vec![person("王五", &id, "13900000999")],
                "land",
                "征地补偿",
            ),
            visit(
                now - 86_400,
                vec![person("王五", "", "13800000810")],
                "land",
                "征地补偿未到位",
            ),
        ]
    };
    let mut outcomes = Vec::new();
    for together in [false, true] {
        let app = spawn_app().await;
        register(&app, Role::CountyClerk, before(), false).await;
        let answers = register(&app, Role::CountyClerk, trip(), together).await;
        let cases = scalar(&app, "SELECT count(*) FROM cases").await;
        outcomes.push((answers[1].0, answers[0].1 == answers[1].1, cases));
    }
    assert_eq!(
        outcomes[0],
        (true, true, 2),
        "one by one: the second repeats the first's case"
    );
    assert_eq!(
        outcomes[1], outcomes[0],
        "a push must do as one by one does"
    );
}
