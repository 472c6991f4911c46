//! PostgreSQL stopped and started under load: health goes NOT_SERVING and back, calls fail with
//! UNAVAILABLE meanwhile (not INTERNAL, not a hang), the service recovers without a restart, and writers
//! that retry with the same request id lose nothing and double nothing.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use xinfang_client::Client;
use xinfang_proto::v1::{
    Level, ListOrgUnitsRequest, MatterInput, Petitioner, RegisterVisitRequest, Visit,
};
use xinfang_server::{
    auth::Role,
    cluster::{Cluster, ClusterOptions},
    db,
};
use xinfang_tests::{TestApp, now_secs, request_id, spawn_app_with_pool};

const WRITERS: usize = 4;

/// Registers visits until `stop`, each retried with its request id until it is answered; returns the
/// markers written and every failure code seen.
async fn writer(mut client: Client, n: usize, stop: Arc<AtomicBool>) -> (Vec<String>, Vec<Code>) {
    let (mut written, mut codes) = (Vec::new(), Vec::new());
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let marker = format!("停电测试 writer {n} visit {i}");
        let request = RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(Visit {
                visited_at: Some(prost_types::Timestamp {
                    seconds: now_secs() - 600,
                    nanos: 0,
                }),
                level: Level::County as i32,
                place_name: "县信访局接待大厅".into(),
                headcount: 1,
                petitioners: vec![Petitioner {
                    name: "王五".into(),
                    ..Default::default()
                }],
                matter: Some(MatterInput {
                    content: marker.clone(),
                    demands: "解决".into(),
                    category: "labor".into(),
                    problem_org_code: "510422100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        let started = Instant::now();
        loop {
            match client.visits.register_visit(request.clone()).await {
                Ok(_) => break,
                Err(status) => {
                    codes.push(status.code());
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "writer {n}: never answered: {status:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        written.push(marker);
        i += 1;
    }
    (written, codes)
}

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
    let clerk = app.token(Role::CountyClerk, "510422XF").await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| tokio::spawn(writer(app.client_with(Some(&clerk)), n, Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

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
    // The writers go on a little after the recovery, then every visit they were answered for is there once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = Vec::new();
    let mut codes = Vec::new();
    for w in writers {
        let (w, c) = w.await.unwrap();
        written.extend(w);
        codes.extend(c);
    }
    assert!(
        codes.iter().all(|c| *c == Code::Unavailable),
        "writers saw {codes:?}"
    );
    assert!(!codes.is_empty(), "the outage reached the writers");
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT content, count(*) FROM visits WHERE content LIKE '停电测试%' GROUP BY content",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        stored.len(),
        written.len(),
        "every answered visit is stored"
    );
    assert!(
        stored.iter().all(|(_, n)| *n == 1),
        "none twice: {stored:?}"
    );
    drop(app);
    cluster.stop().await.unwrap();
}
