//! PostgreSQL stopped and started under the service: health goes NOT_SERVING and back, calls fail with
//! UNAVAILABLE meanwhile (not INTERNAL, not a hang), and the service recovers without a restart.

use std::time::{Duration, Instant};

use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use xinfang_proto::v1::ListOrgUnitsRequest;
use xinfang_server::{
    cluster::{Cluster, ClusterOptions},
    db,
};
use xinfang_tests::{TestApp, spawn_app_with_pool};

async fn health(app: &TestApp) -> ServingStatus {
    HealthClient::new(app.client.channel())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

async fn wait_for(app: &TestApp, wanted: ServingStatus) {
    let started = Instant::now();
    while health(app).await != wanted {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "health never became {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_database_outage_is_unavailable_and_recovers_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let options = ClusterOptions {
        dir: tmp.path().join("pg"),
        bin_dir: std::env::var_os("XINFANG_PG_BIN_DIR").map(Into::into),
        run_as: None,
        durable: false,
    };
    let cluster = Cluster::start(&options).await.unwrap();
    cluster.ensure_database("xinfang").await.unwrap();
    let pool = db::pool(cluster.connect_options("xinfang"), 4)
        .await
        .unwrap();
    db::migrate(&pool).await.unwrap();
    let app = spawn_app_with_pool(pool).await;
    let mut client = app.client.clone();
    client
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .unwrap();
    assert_eq!(health(&app).await, ServingStatus::Serving);

    cluster.stop().await.unwrap();
    wait_for(&app, ServingStatus::NotServing).await;
    let started = Instant::now();
    let status = client
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(15), "no hang");

    let cluster = Cluster::start(&options).await.unwrap();
    wait_for(&app, ServingStatus::Serving).await;
    let started = Instant::now();
    loop {
        match client
            .org
            .list_org_units(ListOrgUnitsRequest::default())
            .await
        {
            Ok(page) => {
                assert!(!page.into_inner().org_units.is_empty());
                break;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "never recovered"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    drop(app);
    cluster.stop().await.unwrap();
}
