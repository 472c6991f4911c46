//! A write that loses a race to a concurrent transaction (a deadlock, which PostgreSQL breaks by aborting
//! one side) is run again by the service: the caller gets its answer, and exactly one copy is stored, not
//! ABORTED. The race is built by hand with a transaction of the test's own, so it happens every time.

use std::time::{Duration, Instant};

use chrono::Utc;
use xinfang_client::Client;
use xinfang_proto::v1::{
    Level, MatterInput, OpOutcome, Operation, Petitioner, PushRequest, RegisterVisitRequest, Visit,
    operation,
};
use xinfang_server::{auth::Role, kernel::numbers as model};
use xinfang_tests::{TestApp, fixture::id_number, request_id, spawn_app};

fn visit(id_number: &str, at: chrono::DateTime<Utc>) -> Visit {
    Visit {
        visited_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        level: Level::County as i32,
        place_name: "盐边县信访局接待大厅".into(),
        headcount: 1,
        petitioners: vec![Petitioner {
            name: "张三".into(),
            id_number: id_number.into(),
            ..Default::default()
        }],
        matter: Some(MatterInput {
            content: "拖欠工资三个月".into(),
            demands: "要求支付工资".into(),
            category: "labor".into(),
            problem_org_code: "510422100".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn client(app: &TestApp, role: Role) -> Client {
    let token = app.token(role, "510422XF").await;
    app.client_with(Some(&token))
}

/// Runs `write` (a registration of the new person it is given, visiting at `at`) into a deadlock with a
/// transaction of the test: the test holds the year's register counter, the registration inserts the person
/// and queues on the counter, then the test inserts the same person and so waits on the registration. The
/// registration, first to wait, finds the cycle and is aborted; the test's insert then goes through, which
/// proves the abort. The test rolls back, and `write`, run again by the service, must succeed.
///
/// PostgreSQL looks for a cycle once, `deadlock_timeout` (1 s) after a wait begins. On a busy machine the
/// test may start waiting later than that; the registration then finds no cycle, the test's own wait is the
/// one aborted, and the race did not happen as planned: it is set up again with another person.
async fn deadlock<T, F, Fut>(app: &TestApp, at: chrono::DateTime<Utc>, write: F) -> (String, T)
where
    T: Send + 'static,
    F: Fn(String) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    for n in 0..5 {
        let person = id_number(n);
        let mut blocker = app.pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO registration_counters (prefix, year, last) VALUES ($1, $2, 0) \
             ON CONFLICT (prefix, year) DO UPDATE SET last = registration_counters.last",
        )
        .bind(model::REGISTER_PREFIX)
        .bind(model::register_year(at))
        .execute(&mut *blocker)
        .await
        .unwrap();

        let written = tokio::spawn(write(person.clone()));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let queued: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE '%registration_counters%'",
            )
            .fetch_one(&app.pool)
            .await
            .unwrap();
            if queued > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the registration never queued on the counter"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let inserted = sqlx::query(
            "INSERT INTO petitioners (id, name, id_hash) VALUES (gen_random_uuid(), '张三', $1) \
             ON CONFLICT (id_hash) DO NOTHING",
        )
        .bind(app.keys.match_hash(&person).to_vec())
        .execute(&mut *blocker)
        .await;
        let planned = match inserted {
            Ok(done) => {
                assert_eq!(
                    done.rows_affected(),
                    1,
                    "the registration's first attempt should have been aborted and its insert undone"
                );
                true
            }
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("40P01") => false,
            Err(e) => panic!("the test's insert: {e}"),
        };
        blocker.rollback().await.unwrap();
        let result = tokio::time::timeout(Duration::from_secs(30), written)
            .await
            .expect("the write finished after the race")
            .unwrap();
        if planned {
            return (person, result);
        }
        eprintln!(
            "attempt {n}: the test's own wait was the one aborted; setting the race up again"
        );
    }
    panic!("the race never went as planned in five attempts");
}

async fn visits_of(app: &TestApp, id_number: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT v.number FROM visits v JOIN visit_petitioners l ON l.visit_id = v.id \
         JOIN petitioners p ON p.id = l.petitioner_id WHERE p.id_hash = $1",
    )
    .bind(app.keys.match_hash(id_number).to_vec())
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_registration_that_loses_a_deadlock_is_run_again() {
    let app = spawn_app().await;
    let at = Utc::now() - chrono::Duration::hours(2);
    let clerk = client(&app, Role::CountyClerk).await;
    let (person, stored) = deadlock(&app, at, |person| {
        let mut clerk = clerk.clone();
        async move {
            clerk
                .visits
                .register_visit(RegisterVisitRequest {
                    request_id: request_id(),
                    visit: Some(visit(&person, at)),
                })
                .await
        }
    })
    .await;
    let stored = stored
        .expect("the registration succeeds once the race is over")
        .into_inner();
    assert_eq!(visits_of(&app, &person).await, vec![stored.number.clone()]);
    // The aborted attempt's serial went back with it: the register has no gap.
    let registered: i64 = sqlx::query_scalar("SELECT count(*) FROM visits")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        stored.number.ends_with(&format!("{registered:06}")),
        "{} is not number {registered}",
        stored.number
    );
    app.assert_rollups_match_records().await;
}

#[tokio::test]
async fn a_pushed_operation_that_loses_a_deadlock_is_applied_once() {
    let app = spawn_app().await;
    let at = Utc::now() - chrono::Duration::hours(3);
    let officer = client(&app, Role::FieldOfficer).await;
    let (person, answer) = deadlock(&app, at, |person| {
        let mut officer = officer.clone();
        let push = PushRequest {
            operations: vec![Operation {
                op_id: request_id(),
                op: Some(operation::Op::RegisterVisit(RegisterVisitRequest {
                    request_id: String::new(),
                    visit: Some(visit(&person, at)),
                })),
            }],
        };
        async move { officer.sync.push(push).await }
    })
    .await;
    let answer = answer
        .expect("the push succeeds once the race is over")
        .into_inner();
    let outcomes: Vec<OpOutcome> = answer.results.iter().map(|r| r.outcome()).collect();
    assert_eq!(outcomes, [OpOutcome::Applied], "{answer:?}");
    assert_eq!(visits_of(&app, &person).await.len(), 1);
    app.assert_rollups_match_records().await;
}
