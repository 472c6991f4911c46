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
