//! Two server replicas on one database, one SIGKILLed under load (issue #9, docs/scaling.md): writers
//! spread over both register visits with their own request ids; when a call fails they send the same
//! request, with the same request id, to the surviving replica. Every intended write exists exactly once,
//! each writer got the registration number the database holds, and the survivor never failed a call and
//! kept answering SERVING.

mod child;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use child::{ChildServer, database_url, free_port, health};
use chrono::Utc;
use sqlx::PgPool;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use xinfang_client::Client;
use xinfang_proto::v1::{Level, MatterInput, Petitioner, RegisterVisitRequest, Visit};
use xinfang_server::auth::{self, Role};
use xinfang_tests::fresh_database;

const WRITERS: usize = 8;
const WRITES_PER_WRITER: usize = 150;
/// Visits registered when replica 0 is killed: the rest of the load runs against replica 1 alone.
const KILL_AT: i64 = (WRITERS * WRITES_PER_WRITER * 2 / 5) as i64;

fn marker(writer: usize, n: usize) -> String {
    format!("拖欠工资 replica-test w{writer} #{n:04}")
}

fn request(writer: usize, n: usize, request_id: &str) -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: request_id.to_owned(),
        visit: Some(Visit {
            visited_at: Some(prost_types::Timestamp {
                seconds: Utc::now().timestamp() - 600,
                nanos: 0,
            }),
            level: Level::County as i32,
            place_name: "盐边县信访局接待大厅".into(),
            headcount: 1,
            petitioners: vec![Petitioner {
                name: "李四".into(),
                ..Default::default()
            }],
            matter: Some(MatterInput {
                content: marker(writer, n),
                demands: "支付工资".into(),
                category: "labor".into(),
                problem_org_code: "510422100".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// What one writer saw.
#[derive(Default)]
struct Tally {
    /// Marker → the registration number the service answered.
    numbers: HashMap<String, String>,
    /// Failed calls per replica, with their codes.
    failures: Vec<(usize, Code, String)>,
    /// Calls answered by each replica after the kill.
    answered_after_kill: [usize; 2],
}

async fn write_all(writer: usize, clients: [Client; 2], killed: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    // Writers start spread over both replicas.
    let mut replica = writer % 2;
    for n in 0..WRITES_PER_WRITER {
        let request_id = uuid::Uuid::now_v7().to_string();
        // Built once: a retry is the same request (its visited_at must not move with the clock).
        let write = request(writer, n, &request_id);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut client = clients[replica].clone();
            let mut call = tonic::Request::new(write.clone());
            call.set_timeout(Duration::from_secs(20));
            match client.visits.register_visit(call).await {
                Ok(response) => {
                    let visit = response.into_inner();
                    tally.numbers.insert(marker(writer, n), visit.number);
                    if killed.load(Ordering::SeqCst) {
                        tally.answered_after_kill[replica] += 1;
                    }
                    break;
                }
                Err(status) => {
                    assert!(
                        !matches!(
                            status.code(),
                            Code::InvalidArgument
                                | Code::PermissionDenied
                                | Code::Unauthenticated
                                | Code::AlreadyExists
                        ),
                        "writer {writer}: a retry must never be refused: {status:?}"
                    );
                    tally
                        .failures
                        .push((replica, status.code(), status.message().to_owned()));
                    assert!(
                        attempts < 20,
                        "writer {writer}: write {n} still failing after {attempts} tries: {status:?}"
                    );
                    // The outcome is unknown (it may have committed): the same request, same id, elsewhere.
                    replica = 1 - replica;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    tally
}

async fn registered(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM visits")
        .fetch_one(pool)
        .await
        .expect("counting visits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_fail_over_to_the_surviving_replica_and_every_write_lands_once() {
    let started = Instant::now();
    let pool = fresh_database().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let url = database_url(&pool);
    // One after the other: the first start seeds the database and writes the key both use.
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let mut replica = ChildServer::start(&url, tmp.path(), free_port());
        replica.wait_serving(Duration::from_secs(60)).await;
        replicas.push(replica);
    }

    let killed = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    let mut principals = Vec::new();
    for writer in 0..WRITERS {
        let (principal, token) = {
            let mut conn = pool.acquire().await.expect("connection");
            auth::issue_token(
                &mut conn,
                Role::CountyClerk,
                "510422XF",
                "replica test clerk",
            )
            .await
            .expect("clerk token")
        };
        principals.push(principal.id);
        let clients = [
            Client::connect_lazy(&replicas[0].address, Some(&token)).expect("client"),
            Client::connect_lazy(&replicas[1].address, Some(&token)).expect("client"),
        ];
        writers.push(tokio::spawn(write_all(writer, clients, killed.clone())));
    }

    let waiting = Instant::now();
    while registered(&pool).await < KILL_AT {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "fewer than {KILL_AT} visits after 60 s: {}",
            replicas[0].log_tail()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    replicas[0].kill();
    killed.store(true, Ordering::SeqCst);
    let at_kill = registered(&pool).await;
    let intended = (WRITERS * WRITES_PER_WRITER) as i64;
    assert!(at_kill < intended, "the kill must land under load");

    // The survivor keeps answering health checks while it takes the whole load.
    let mut health_checks = Vec::new();
    while writers.iter().any(|w| !w.is_finished()) {
        health_checks.push(health(&replicas[1].address).await);
        assert!(
            started.elapsed() < Duration::from_secs(100),
            "the writers did not finish within 100 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut numbers = HashMap::new();
    let mut failures = Vec::new();
    let mut answered_after_kill = [0, 0];
    for writer in writers {
        let tally = writer.await.expect("writer");
        numbers.extend(tally.numbers);
        failures.extend(tally.failures);
        answered_after_kill[0] += tally.answered_after_kill[0];
        answered_after_kill[1] += tally.answered_after_kill[1];
    }
    println!(
        "killed at {at_kill} of {intended}; {} failed calls {:?}; after the kill replica 1 answered {}; \
         {:?} in all",
        failures.len(),
        failures.iter().map(|f| f.1).collect::<HashSet<_>>(),
        answered_after_kill[1],
        started.elapsed()
    );

    // Only calls to the killed replica failed, and only as a lost connection does.
    for (replica, code, message) in &failures {
        assert_eq!(
            *replica, 0,
            "the survivor failed a call: {code:?} {message}"
        );
        assert!(
            matches!(code, Code::Unavailable | Code::Unknown | Code::Cancelled),
            "a killed replica fails calls as unavailable, not {code:?}: {message}"
        );
    }
    assert_eq!(answered_after_kill[0], 0, "nothing answered from the dead");
    assert!(answered_after_kill[1] > 0, "the survivor took the load");
    assert!(
        !health_checks.is_empty()
            && health_checks
                .iter()
                .all(|h| *h == Some(ServingStatus::Serving)),
        "the survivor stayed SERVING: {health_checks:?}"
    );
    assert_eq!(
        health(&replicas[1].address).await,
        Some(ServingStatus::Serving)
    );

    // Every intended write exactly once, with the number its writer was told.
    assert_eq!(numbers.len() as i64, intended, "every write answered");
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT content, number FROM visits")
        .fetch_all(&pool)
        .await
        .expect("visits");
    assert_eq!(rows.len() as i64, intended, "no write twice, none missing");
    let mut seen = HashSet::new();
    for (content, number) in &rows {
        assert!(seen.insert(content.clone()), "{content} registered twice");
        assert_eq!(
            numbers.get(content),
            Some(number),
            "{content}: the writer was told another number than the database holds"
        );
    }
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE principal_id = ANY($1)")
            .bind(&principals)
            .fetch_one(&pool)
            .await
            .expect("idempotency keys");
    assert_eq!(keys, intended, "one idempotency key per intended write");
}
