//! SIGKILL in the middle of a 10,000-operation push (issue #9): the real client sync engine pushes an outbox
//! of 10,000 visits to a server process that is killed outright twice while pushes are being applied, and
//! restarted on the same database each time. The engine's own retries carry the push across the restarts;
//! afterwards every operation exists exactly once on the server, with the registration number the client
//! recorded, and the outbox is empty.

mod child;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use child::{ChildServer, database_url, free_port};
use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;
use xinfang_client::{
    Client, capture,
    store::{OpState, Store},
    sync::{self, SyncOptions},
};
use xinfang_proto::v1::{
    Level, MatterInput, Petitioner, RegisterVisitRequest, Visit, operation::Op,
};
use xinfang_server::auth::{self, Role};
use xinfang_tests::fresh_database;

const OPS: usize = 10_000;
/// Applied-visit counts at which the server is killed: early in the push and late in it, each in the
/// middle of a push of 100, so that part of the push in flight is committed and part is not.
const KILL_AT: [i64; 2] = [2_550, 7_030];

fn visit(n: usize) -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: String::new(),
        visit: Some(Visit {
            visited_at: Some(prost_types::Timestamp {
                seconds: Utc::now().timestamp() - 7_200,
                nanos: 0,
            }),
            level: Level::National as i32,
            non_reception_place: true,
            place_name: "天安门地区".into(),
            headcount: 1,
            petitioners: vec![Petitioner {
                name: "张三".into(),
                ..Default::default()
            }],
            matter: Some(MatterInput {
                content: marker(n),
                demands: "提高补偿".into(),
                category: "land".into(),
                problem_org_code: "510422100".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// What makes each operation's record recognisable on the server.
fn marker(n: usize) -> String {
    format!("土地征收补偿 kill-test #{n:05}")
}

fn content_of(op: &Option<Op>) -> String {
    match op {
        Some(Op::RegisterVisit(r)) => r
            .visit
            .as_ref()
            .and_then(|v| v.matter.as_ref())
            .map(|m| m.content.clone())
            .unwrap_or_default(),
        other => panic!("not a visit: {other:?}"),
    }
}

async fn applied(pool: &PgPool, officer: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM visits WHERE registered_by = $1")
        .bind(officer)
        .fetch_one(pool)
        .await
        .expect("counting visits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_survives_sigkills_of_the_server_and_applies_every_operation_once() {
    let started = Instant::now();
    let pool = fresh_database().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut server = ChildServer::start(&database_url(&pool), tmp.path(), free_port());
    server.wait_serving(Duration::from_secs(60)).await;

    let (officer, token) = {
        let mut conn = pool.acquire().await.expect("connection");
        auth::issue_token(
            &mut conn,
            Role::FieldOfficer,
            "510422XF",
            "kill test officer",
        )
        .await
        .expect("officer token")
    };

    // A laptop back from a long trip: 10,000 visits captured offline.
    let mut store = Store::open(tmp.path().join("field.db")).expect("client store");
    // Setup only: the laptop's own durability is not what this test is about, and 10,000 fsyncs are slow.
    store
        .connection()
        .execute_batch("PRAGMA synchronous = OFF")
        .expect("pragma");
    let now = Utc::now();
    for n in 0..OPS {
        capture::register_visit(&mut store, visit(n), now).expect("capturing a visit");
    }
    let captured = start_capture_check(&store);
    println!("captured {OPS} operations at {:?}", started.elapsed());

    let client = Client::connect_lazy(&server.address, Some(&token)).expect("client");
    let options = SyncOptions {
        batch_size: 100,
        skip_pull: true,
        // Long enough to span a restart: the engine, not the test, carries the push over it.
        max_attempts: 60,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        ..SyncOptions::default()
    };
    let sync_options = options.clone();
    let mut remote = client.clone();
    let syncing = tokio::spawn(async move {
        let mut retries = 0;
        let summary = sync::run(&mut store, &mut remote, &sync_options, &mut |p| {
            if matches!(p, sync::Progress::Retrying { .. }) {
                retries += 1;
            }
        })
        .await;
        (store, summary, retries)
    });

    let mut kills = Vec::new();
    for threshold in KILL_AT {
        let waiting = Instant::now();
        while applied(&pool, officer.id).await < threshold {
            if syncing.is_finished() {
                let (_, summary, _) = syncing.await.expect("sync task");
                panic!("the push ended before the server could be killed: {summary:?}");
            }
            assert!(
                waiting.elapsed() < Duration::from_secs(90),
                "fewer than {threshold} operations applied after 90 s: {}",
                server.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.kill();
        let at_kill = applied(&pool, officer.id).await;
        assert!(
            at_kill > 0 && at_kill < OPS as i64,
            "the kill must land in the middle of the push: {at_kill} applied"
        );
        kills.push(at_kill);
        // Dead for a moment, long enough for the client to see refused connections and back off.
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.restart();
        server.wait_serving(Duration::from_secs(60)).await;
    }
    println!("killed at {kills:?} applied, at {:?}", started.elapsed());

    let (mut store, first, retries) = tokio::time::timeout(Duration::from_secs(150), syncing)
        .await
        .expect("the sync ends within 150 s")
        .expect("sync task");
    let first = first.unwrap_or_else(|e| panic!("sync across the kills failed: {e}"));
    assert!(retries > 0, "the sync engine retried across the kills");
    println!(
        "first sync: {first:?}, {retries} retries, at {:?}",
        started.elapsed()
    );

    // Operations deferred by a transient refusal stay pending for the next sync, as after any outage.
    let mut total = first;
    for _ in 0..3 {
        if store.sendable().expect("outbox").is_empty() {
            break;
        }
        let mut remote = client.clone();
        let again = sync::run(&mut store, &mut remote, &options, &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("the sync after the restart failed: {e}"));
        total.applied += again.applied;
        total.duplicates += again.duplicates;
        total.rejected += again.rejected;
    }

    // The client: nothing left to send, nothing refused, one answer per operation.
    assert!(store.sendable().expect("outbox").is_empty(), "outbox empty");
    let counts = store.outbox_counts().expect("outbox counts");
    let done = counts.get(&OpState::Applied).copied().unwrap_or(0)
        + counts.get(&OpState::Duplicate).copied().unwrap_or(0);
    assert_eq!(done, OPS, "every operation answered: {counts:?}");
    assert_eq!(total.rejected, 0, "{counts:?}");
    assert_eq!(total.applied + total.duplicates, OPS, "{total:?}");
    // Batches are fixed sets of 100 in creation order: a count that is not a multiple of 100 at a kill means
    // a push was half applied, and its committed part must come back as duplicates with their first result.
    let mid_push = kills.iter().filter(|k| *k % 100 != 0).count();
    assert!(
        mid_push > 0,
        "no kill landed in the middle of a push: {kills:?}"
    );
    assert!(
        total.duplicates >= mid_push,
        "each half-applied push was pushed again: {total:?}, kills at {kills:?}"
    );

    // The server: each operation exactly once, under its op id, with the number the client was told.
    assert_eq!(applied(&pool, officer.id).await, OPS as i64);
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT content, number FROM visits WHERE registered_by = $1")
            .bind(officer.id)
            .fetch_all(&pool)
            .await
            .expect("visits");
    let mut on_server: HashMap<String, String> = HashMap::new();
    for (content, number) in rows {
        assert!(
            on_server.insert(content.clone(), number).is_none(),
            "{content} registered twice"
        );
    }
    let numbers: HashSet<&String> = on_server.values().collect();
    assert_eq!(numbers.len(), OPS, "registration numbers are unique");
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&pool)
        .await
        .expect("cases");
    assert_eq!(cases, OPS as i64, "one case per visit, none twice");
    let keys: Vec<Uuid> =
        sqlx::query_scalar("SELECT request_id FROM idempotency_keys WHERE principal_id = $1")
            .bind(officer.id)
            .fetch_all(&pool)
            .await
            .expect("idempotency keys");
    let keys: HashSet<String> = keys.iter().map(Uuid::to_string).collect();

    let entries = store
        .outbox(&[OpState::Applied, OpState::Duplicate])
        .expect("outbox");
    let mut told: BTreeMap<String, String> = BTreeMap::new();
    for entry in &entries {
        assert!(keys.contains(&entry.op_id), "op {} has no key", entry.op_id);
        told.insert(content_of(&entry.operation.op), entry.result_number.clone());
    }
    assert_eq!(keys.len(), OPS, "one idempotency key per operation");
    assert_eq!(told.keys().cloned().collect::<HashSet<_>>(), captured);
    for (content, number) in &told {
        assert_eq!(
            on_server.get(content),
            Some(number),
            "{content}: the client recorded another number than the server holds"
        );
    }
    println!("done at {:?}", started.elapsed());
}

/// The markers of the captured operations, one per operation.
fn start_capture_check(store: &Store) -> HashSet<String> {
    let entries = store.sendable().expect("outbox");
    assert_eq!(entries.len(), OPS);
    let markers: HashSet<String> = entries
        .iter()
        .map(|e| content_of(&e.operation.op))
        .collect();
    assert_eq!(markers.len(), OPS);
    markers
}
