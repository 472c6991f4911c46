//! Review of the set-based registration path (`server/src/intake/batch.rs`): cases where a Push of visits,
//! written as a set, must give exactly what the same visits registered one by one give.

use uuid::Uuid;
use xinfang_client::Client;
use xinfang_proto::v1::{
    Letter, LetterChannel, Level, MatterInput, Operation, Petitioner, PushRequest,
    RegisterLetterRequest, RegisterVisitRequest, Visit, op_result, operation,
};
use xinfang_server::{
    auth::Role,
    intake::{
        matching,
        model::Dated,
        store::{self, Registration, sets},
    },
};
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

/// A set reads of each case it joins only the registrations that decide its flags
/// (`store::sets::deciders_of_cases`, the argument at `matching::flags`). On a real case of visits and
/// letters, with its stored flags as registered and scrambled every way, the arrival's flag and the changes
/// they give must be those all of the case's registrations give, for arrivals before, between and after them.
#[tokio::test]
async fn the_registrations_a_set_reads_of_a_case_decide_its_flags_as_all_of_them_do() {
    let app = spawn_app().await;
    let mut c = client(&app, Role::CountyClerk).await;
    let day = 86_400;
    let zhang = || vec![person("张三", &id_number(41), "")];
    // Out of date order, visits and letters interleaved: days 9, 3, 7 (a letter), 8, 1 and 5 (a letter)
    // before now.
    for (k, ago) in [9, 3, 7, 8, 1, 5].into_iter().enumerate() {
        if k % 3 == 2 {
            c.visits
                .register_letter(RegisterLetterRequest {
                    request_id: request_id(),
                    letter: Some(Letter {
                        channel: LetterChannel::Letter as i32,
                        received_at: ts(now_secs() - ago * day),
                        petitioners: zhang(),
                        matter: visit(0, vec![], "labor", "来信反映拖欠工资").matter,
                        ..Default::default()
                    }),
                })
                .await
                .expect("a letter");
        } else {
            register(
                &app,
                Role::CountyClerk,
                vec![visit(now_secs() - ago * day, zhang(), "labor", "拖欠工资")],
                false,
            )
            .await;
        }
    }
    assert_eq!(scalar(&app, "SELECT count(*) FROM cases").await, 1);
    let case_id: Uuid = sqlx::query_scalar("SELECT id FROM cases")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut conn = app.pool.acquire().await.unwrap();
    let all = store::registrations_of(&mut conn, case_id).await.unwrap();
    assert_eq!(all.len(), 6);
    let arrivals: Vec<Option<Dated>> = std::iter::once(None)
        .chain([10, 9, 6, 4, 0].into_iter().flat_map(|ago| {
            [false, true].map(|refused| {
                Some(Dated {
                    at: all[0].at + chrono::Duration::days(9 - ago) + chrono::Duration::hours(1),
                    id: Uuid::now_v7(),
                    not_accepted_again: refused,
                })
            })
        }))
        .collect();
    let outcome = |of: &[Registration], arriving: Option<Dated>| {
        let (repeat, changed) = matching::flags(of, arriving);
        let mut changed: Vec<(Uuid, bool)> =
            changed.into_iter().map(|(i, f)| (of[i].id, f)).collect();
        changed.sort_unstable();
        (repeat, changed)
    };
    // Stored flags: every pattern of repeat with none refused, then every pattern of refused with the
    // flags as registered.
    let patterns = (0..64u32)
        .map(|mask| (mask, 0))
        .chain((0..64u32).map(|refused| (u32::MAX, refused)));
    let mut compared = 0;
    for (mask, refused) in patterns {
        for (k, r) in all.iter().enumerate() {
            let table = if r.kind == "visit" {
                "visits"
            } else {
                "letters"
            };
            // A registration answered 不再受理 is a repeat (a CHECK of the table).
            let repeat = if mask == u32::MAX {
                r.repeat || refused & (1 << k) != 0
            } else {
                mask & (1 << k) != 0
            };
            sqlx::query(&format!(
                "UPDATE {table} SET repeat = $2, not_accepted_again = $3 WHERE id = $1"
            ))
            .bind(r.id)
            .bind(repeat)
            .bind(refused & (1 << k) != 0)
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        let now = store::registrations_of(&mut conn, case_id).await.unwrap();
        let mut deciders = sets::deciders_of_cases(&mut conn, &[case_id])
            .await
            .unwrap();
        let deciders = deciders.remove(&case_id).unwrap();
        if mask == u32::MAX {
            // Flags as derived: the one initial, and the earliest visit and letter.
            assert!(deciders.len() <= 3, "{deciders:?}");
        }
        for &arriving in &arrivals {
            assert_eq!(
                outcome(&deciders, arriving),
                outcome(&now, arriving),
                "stored repeat {mask:b}, refused {refused:b}, arriving {arriving:?}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 128 * 11);
}
