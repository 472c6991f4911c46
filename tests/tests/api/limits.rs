//! Per-principal limits over gRPC: one principal's flood is answered RESOURCE_EXHAUSTED while another's
//! requests go through.

use tonic::Code;
use xinfang_proto::v1::ListOrgUnitsRequest;
use xinfang_server::auth::{Role, limits::Limits};
use xinfang_tests::{spawn_app, with_limits};

#[tokio::test]
async fn a_flooding_principal_is_slowed_alone() {
    let app = with_limits(
        Limits {
            max_in_flight: 100,
            numbered_in_flight: 100,
            rate_per_second: 5.0,
            queue_wait: std::time::Duration::from_millis(200),
        },
        spawn_app(),
    )
    .await;
    let mut flood = app.client.clone();
    let mut ok = 0;
    let mut exhausted = 0;
    let started = std::time::Instant::now();
    for _ in 0..30 {
        match flood
            .org
            .list_org_units(ListOrgUnitsRequest::default())
            .await
        {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                exhausted += 1;
            }
        }
    }
    // A burst of twice the rate, then the rate.
    let refilled = (5.0 * started.elapsed().as_secs_f64()).ceil() as usize;
    assert!(
        ok >= 10 && ok <= 10 + refilled + 1,
        "{ok} passed, {refilled} refilled"
    );
    assert!(exhausted > 0);
    assert_eq!(ok + exhausted, 30);
    let other = app.token(Role::CountyClerk, "510422XF").await;
    app.client_with(Some(&other))
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .expect("another principal is not slowed");
}

/// Finding 7 of the access review: one principal could hold 64 calls in flight against a pool of 16. Now it
/// holds its fair share; the rest wait briefly, then are told when to try again, and another principal's call
/// is let in at once.
#[tokio::test]
async fn a_principal_holds_no_more_than_its_share_in_flight() {
    use sqlx::Connection;
    use tonic_types::StatusExt;
    let app = with_limits(
        Limits {
            max_in_flight: 2,
            numbered_in_flight: 2,
            rate_per_second: 1_000.0,
            queue_wait: std::time::Duration::from_millis(100),
        },
        spawn_app(),
    )
    .await;
    let flooder = app.token(Role::Agency, "510422XF").await;
    let other = app.token(Role::CountyClerk, "510422XF").await;
    // Every ListOrgUnits blocks until the test lets go of the table.
    let mut lock = sqlx::PgConnection::connect_with(&app.pool.connect_options())
        .await
        .unwrap();
    let mut tx = lock.begin().await.unwrap();
    sqlx::query("LOCK TABLE org_units IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let mut client = app.client_with(Some(&flooder));
            tokio::spawn(async move {
                client
                    .org
                    .list_org_units(ListOrgUnitsRequest::default())
                    .await
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // Another principal is admitted while the flood waits (it then waits for the lock like everyone).
    let mut other_client = app.client_with(Some(&other));
    let other_call = tokio::spawn(async move {
        other_client
            .org
            .list_org_units(ListOrgUnitsRequest::default())
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    tx.rollback().await.unwrap();
    let mut ok = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                let retry = status.get_error_details().retry_info().cloned();
                assert!(
                    retry.and_then(|r| r.retry_delay).is_some(),
                    "a refusal says when to try again: {status:?}"
                );
            }
        }
    }
    assert_eq!(
        ok, 2,
        "the share of two ran, the other six were turned away"
    );
    other_call
        .await
        .unwrap()
        .expect("another principal's call is let in");
}

/// Registrations queue at the year's counter row whoever makes them: a principal has one in flight at a time
/// (its second waits, then is turned away), its reads still go through beside it, and another principal's
/// registration is let in at once.
#[tokio::test]
async fn a_principal_has_one_registration_in_flight() {
    let app = with_limits(
        Limits {
            max_in_flight: 4,
            numbered_in_flight: 1,
            rate_per_second: 1_000.0,
            queue_wait: std::time::Duration::from_millis(100),
        },
        spawn_app(),
    )
    .await;
    let flooder = app.token(Role::CountyClerk, "510422XF").await;
    let other = app.token(Role::CountyClerk, "510422XF").await;
    let register = |token: &str, n: usize| register(&app, token, n);
    // Every registration blocks at the counter until the test lets go of it.
    let tx = hold_counters(&app).await;
    let first = register(&flooder, 1);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let second = register(&flooder, 2);
    let refused = second
        .await
        .unwrap()
        .expect_err("the second waits, then is turned away");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // A read of the same principal is let in beside its registration.
    app.client_with(Some(&flooder))
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .expect("a read beside the registration");
    // Another principal's registration is admitted (and then waits at the counter like everyone).
    let others = register(&other, 3);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !others.is_finished(),
        "it is held at the counter, not refused"
    );
    tx.rollback().await.unwrap();
    first.await.unwrap().expect("the first registration");
    others
        .await
        .unwrap()
        .expect("the other principal's registration");
}

/// The share is the principal's, however many credentials it holds: a person signed in on two devices (two
/// sessions) still has one registration in flight.
#[tokio::test]
async fn a_person_signed_in_twice_still_has_one_registration_in_flight() {
    use xinfang_proto::v1::SignInRequest;
    let app = with_limits(
        Limits {
            max_in_flight: 4,
            numbered_in_flight: 1,
            rate_per_second: 1_000.0,
            queue_wait: std::time::Duration::from_millis(100),
        },
        spawn_app(),
    )
    .await;
    xinfang_server::people::add(
        &app.pool,
        "desk",
        Role::CountyClerk,
        "510422XF",
        None,
        "桐子林 correct horse",
    )
    .await
    .expect("adding a person");
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let signed_in = app
            .client_with(None)
            .session
            .sign_in(SignInRequest {
                user_name: "desk".into(),
                password: "桐子林 correct horse".into(),
            })
            .await
            .expect("signing in")
            .into_inner();
        sessions.push(signed_in.session_token);
    }
    assert_ne!(sessions[0], sessions[1], "two sessions");
    let register = |token: &str, n: usize| register(&app, token, n);
    let tx = hold_counters(&app).await;
    let first = register(&sessions[0], 11);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let refused = register(&sessions[1], 12)
        .await
        .unwrap()
        .expect_err("the other session's registration waits, then is turned away");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    tx.rollback().await.unwrap();
    first.await.unwrap().expect("the first registration");
}

/// A registration of a new petitioner `n` with `token`, running in its own task.
fn register(
    app: &xinfang_tests::TestApp,
    token: &str,
    n: usize,
) -> tokio::task::JoinHandle<Result<tonic::Response<xinfang_proto::v1::Visit>, tonic::Status>> {
    use xinfang_proto::v1::{Level, MatterInput, Petitioner, RegisterVisitRequest, Visit};
    let mut client = app.client_with(Some(token));
    let visit = Visit {
        visited_at: Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() - 3_600,
            nanos: 0,
        }),
        level: Level::County as i32,
        place_name: "盐边县信访局接待大厅".into(),
        headcount: 1,
        petitioners: vec![Petitioner {
            name: format!("申{n}"),
            id_number: xinfang_tests::fixture::id_number(n),
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
    };
    tokio::spawn(async move {
        client
            .visits
            .register_visit(RegisterVisitRequest {
                request_id: xinfang_tests::request_id(),
                visit: Some(visit),
            })
            .await
    })
}

/// Every registration blocks at the counter table until the returned transaction ends.
async fn hold_counters(app: &xinfang_tests::TestApp) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE registration_counters IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}
