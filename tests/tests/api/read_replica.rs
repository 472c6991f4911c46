//! `--read-database-url`: the read-heavy metrics RPCs query the read pool (a replica), everything else the
//! main pool; health takes only MetricsService out when the replica is gone.

use std::time::{Duration, Instant};

use sqlx::{PgPool, postgres::PgConnectOptions};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use xinfang_proto::v1::{
    GenerateSelfEvaluationReportRequest, GetBudgetExecutionRequest, GetChannelStatisticsRequest,
    GetIndicatorsRequest, GetTargetCompletionRequest, GetVisitStatisticsRequest, Level,
    MatterInput, Period, Petitioner, RegisterVisitRequest, SetTargetRequest, Target,
    TargetDirection, Visit, YearMonth,
};
use xinfang_server::db;
use xinfang_tests::{TestApp, fresh_database, owner_options, request_id, spawn_app_reading_from};

fn year(y: i32) -> Option<Period> {
    Some(Period {
        start: Some(YearMonth { year: y, month: 1 }),
        end: Some(YearMonth { year: y, month: 12 }),
    })
}

fn database_of(pool: &PgPool) -> String {
    pool.connect_options().get_database().unwrap().to_owned()
}

/// A login role of its own that may only read `database`, connecting in read-only transactions as on a hot
/// standby. Its name.
async fn reader_role(owner: &PgPool) -> String {
    let reader = format!("reader_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(&format!(
        "CREATE ROLE {reader} LOGIN PASSWORD '{reader}'; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};"
    ))
    .execute(owner)
    .await
    .unwrap();
    reader
}

fn reader_options(database: &str, reader: &str) -> PgConnectOptions {
    owner_options(database)
        .username(reader)
        .password(reader)
        .application_name("xinfang-read")
        .options([("default_transaction_read_only", "on")])
}

async fn register_visit_2020(app: &TestApp) {
    app.client
        .clone()
        .visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(Visit {
                visited_at: Some(prost_types::Timestamp {
                    // 2020-03-02 10:00 in Shanghai.
                    seconds: 1_583_114_400,
                    nanos: 0,
                }),
                level: Level::County as i32,
                place_name: "接待大厅".into(),
                headcount: 2,
                petitioners: vec![Petitioner {
                    name: "某人".into(),
                    ..Default::default()
                }],
                matter: Some(MatterInput {
                    content: "工资".into(),
                    demands: "支付".into(),
                    category: "labor".into(),
                    problem_org_code: "510422100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
}

async fn county_batches_2020(app: &TestApp) -> i64 {
    let stats = app
        .client
        .clone()
        .metrics
        .get_visit_statistics(GetVisitStatisticsRequest {
            period: year(2020),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    stats.total.and_then(|t| t.batches).map_or(0, |b| b.value)
}

#[tokio::test]
async fn the_metrics_rpcs_run_on_a_read_only_replica_of_the_same_database() {
    let owner = fresh_database().await;
    let reader = reader_role(&owner).await;
    let read = db::pool(reader_options(&database_of(&owner), &reader), 4)
        .await
        .unwrap();
    let app = spawn_app_reading_from(owner, Some(read.clone())).await;
    register_visit_2020(&app).await;
    assert_eq!(county_batches_2020(&app).await, 1);

    // Every read-heavy RPC works where writes are impossible, so none of them writes.
    let mut metrics = app.client.clone().metrics;
    metrics
        .get_indicators(GetIndicatorsRequest {
            period: year(2020),
            include_ids: true,
            ..Default::default()
        })
        .await
        .unwrap();
    metrics
        .get_channel_statistics(GetChannelStatisticsRequest {
            period: year(2020),
            ..Default::default()
        })
        .await
        .unwrap();
    metrics
        .get_target_completion(GetTargetCompletionRequest {
            year: 2020,
            through_month: 0,
        })
        .await
        .unwrap();
    metrics
        .get_budget_execution(GetBudgetExecutionRequest { year: 2020 })
        .await
        .unwrap();
    let report = metrics
        .generate_self_evaluation_report(GenerateSelfEvaluationReportRequest { year: 2020 })
        .await
        .unwrap()
        .into_inner();
    assert!(!report.markdown.is_empty());
    // A write goes to the main pool.
    metrics
        .set_target(SetTargetRequest {
            request_id: request_id(),
            target: Some(Target {
                year: 2020,
                indicator: "county_batches".into(),
                direction: TargetDirection::AtMost as i32,
                value: "10".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    // And the read pool really is read-only.
    let err = sqlx::query("DELETE FROM targets")
        .execute(&read)
        .await
        .unwrap_err();
    assert!(err.as_database_error().is_some(), "{err}");
}

#[tokio::test]
async fn the_metrics_rpcs_read_from_the_read_pool_and_health_follows_it() {
    // A "replica" that never receives the primary's changes: what the metrics RPCs answer shows where they
    // read.
    let owner = fresh_database().await;
    let replica = fresh_database().await;
    let reader = reader_role(&replica).await;
    let read = db::pool(reader_options(&database_of(&replica), &reader), 4)
        .await
        .unwrap();
    let app = spawn_app_reading_from(owner, Some(read)).await;
    register_visit_2020(&app).await;
    let on_primary: i64 = sqlx::query_scalar("SELECT count(*) FROM visits")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(on_primary, 1);
    assert_eq!(county_batches_2020(&app).await, 0, "read from the replica");

    // The replica goes away: MetricsService is NOT_SERVING, the rest of the service is not.
    sqlx::raw_sql(&format!(
        "ALTER ROLE {reader} NOLOGIN; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{reader}';"
    ))
    .execute(&replica)
    .await
    .unwrap();
    wait_for(&app, "xinfang.v1.MetricsService", ServingStatus::NotServing).await;
    assert_eq!(health(&app, "").await, ServingStatus::Serving);
    assert_eq!(
        health(&app, "xinfang.v1.VisitService").await,
        ServingStatus::Serving
    );
    sqlx::query(&format!("ALTER ROLE {reader} LOGIN"))
        .execute(&replica)
        .await
        .unwrap();
    wait_for(&app, "xinfang.v1.MetricsService", ServingStatus::Serving).await;
    assert_eq!(county_batches_2020(&app).await, 0);
}

async fn health(app: &TestApp, service: &str) -> ServingStatus {
    HealthClient::new(app.client.channel())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

async fn wait_for(app: &TestApp, service: &str, wanted: ServingStatus) {
    let started = Instant::now();
    while health(app, service).await != wanted {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{service} never became {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
