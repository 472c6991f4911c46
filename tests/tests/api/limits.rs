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
