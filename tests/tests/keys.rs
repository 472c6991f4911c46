//! Key rotation (issue #21): `xinfang-server keys rotate` seals every petitioner's ID number, phone and
//! address again under a new key, in batches, while the service runs. Readers asking for personal data in
//! full (GetVisit, ListVisits as a county clerk) and a writer registering visits never fail meanwhile; the
//! database and the key file then know only the new key; a restart with it alone reads everything; the match
//! key did not change, so a known ID number still finds its person; and the old key no longer opens the
//! database.

#[macro_use]
mod child;
mod ops;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use child::{ChildServer, database_url, free_port, run_command, run_ok};
use ops::{Ack, Acks};
use xinfang_client::Client;
use xinfang_proto::v1::ListVisitsRequest;
use xinfang_server::auth::{self, Role};
use xinfang_tests::fresh_database;

const WRITERS: usize = 3;
const PER_WRITER: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_reseals_everything_while_reads_and_writes_go_on_and_the_old_key_can_go() {
    let started = Instant::now();
    let pool = fresh_database().await;
    let url = database_url(&pool);
    let tmp = ops::temp_dir("xinfang-keys");
    let key_file = tmp.path().join("data-key");
    let mut server = ChildServer::start(&url, tmp.path(), free_port());
    server.wait_serving(Duration::from_secs(60)).await;
    let token = {
        let mut conn = pool.acquire().await.unwrap();
        auth::issue_token(&mut conn, Role::CountyClerk, "510422XF", "keys test clerk")
            .await
            .unwrap()
            .1
    };
    let client = Client::connect_lazy(&server.address, Some(&token)).expect("client");
    let acks: Acks = Arc::new(Mutex::new(Vec::new()));
    ops::write_batch(&client, &acks, WRITERS, 0, PER_WRITER).await;
    let old_key_text = std::fs::read_to_string(&key_file).expect("the key file");
    let old_key_id: String = sqlx::query_scalar("SELECT id FROM pii_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Rows an older binary wrote during a rolling upgrade name no key; they open with whichever fits and
    // are sealed again like the rest.
    let unkeyed = sqlx::query(
        "UPDATE petitioners SET seal_key = NULL WHERE id IN (SELECT id FROM petitioners LIMIT 5)",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(unkeyed, 5);

    // Readers of personal data in full, and a writer, for as long as the rotation runs.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for r in 0..2 {
        let (client, acks, stop, reads) =
            (client.clone(), acks.clone(), stop.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            let mut n = r;
            while !stop.load(Ordering::SeqCst) {
                let ack: Ack = {
                    let acks = acks.lock().unwrap();
                    acks[(n * 7) % acks.len()].clone()
                };
                ops::get_visit(&client, &ack.id, ack.k)
                    .await
                    .unwrap_or_else(|s| {
                        panic!("GetVisit {} failed during the rotation: {s:?}", ack.k)
                    });
                if n % 20 == 0 {
                    ops::assert_personal_data_reads_back(&client).await;
                }
                reads.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
        }));
    }
    let writer = {
        let (client, acks, stop) = (client.clone(), acks.clone(), stop.clone());
        tokio::spawn(async move {
            let mut k = 5_000;
            while !stop.load(Ordering::SeqCst) {
                let ack = ops::register(std::slice::from_ref(&client), k, |a| a > 0)
                    .await
                    .unwrap_or_else(|| panic!("registering visit {k} failed during the rotation"));
                acks.lock().unwrap().push(ack);
                k += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let rotate_args = args![
        "--database-url",
        &url,
        "--data-dir",
        tmp.path(),
        "keys",
        "rotate",
        "--batch-size",
        "10",
        "--pause-ms",
        "50"
    ];
    let reads_before = reads.load(Ordering::SeqCst);
    let rotation_started = Instant::now();
    let printed = tokio::task::spawn_blocking(move || run_ok(&rotate_args))
        .await
        .expect("keys rotate");
    let rotation_took = rotation_started.elapsed();
    let reads_during = reads.load(Ordering::SeqCst) - reads_before;
    stop.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.await.expect("a reader failed during the rotation");
    }
    writer.await.expect("the writer failed during the rotation");
    assert!(
        reads_during >= 20,
        "only {reads_during} reads while the rotation ran"
    );
    let all: Vec<Ack> = acks.lock().unwrap().clone();
    assert!(
        all.len() > WRITERS * PER_WRITER,
        "the writer wrote during the rotation"
    );

    // The database and the key file know the new key only, and every petitioner is sealed with it.
    let keys: Vec<String> = sqlx::query_scalar("SELECT id FROM pii_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let new_key_id = keys[0].clone();
    assert_ne!(new_key_id, old_key_id);
    assert!(printed.contains(&new_key_id), "{printed}");
    let per_key: Vec<(Option<String>, i64)> =
        sqlx::query_as("SELECT seal_key, count(*) FROM petitioners GROUP BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        per_key,
        vec![(Some(new_key_id.clone()), all.len() as i64)],
        "every petitioner sealed with the new key"
    );
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    assert!(key_text.contains(&format!("seal {new_key_id} ")));
    assert_eq!(
        key_text.matches("\nseal ").count(),
        1,
        "the old key left the key file"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'keys.rotate' AND subject = $1",
    )
    .bind(&new_key_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // The match key stayed: a known ID number finds its person, no second one is made.
    let people: i64 = sqlx::query_scalar("SELECT count(*) FROM petitioners")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut request = ops::visit_request(0, &uuid::Uuid::now_v7().to_string());
    if let Some(matter) = request.visit.as_mut().and_then(|v| v.matter.as_mut()) {
        matter.content = "拖欠工资 again, after the rotation".into();
    }
    let again = client
        .visits
        .clone()
        .register_visit(request)
        .await
        .expect("registering a known person")
        .into_inner();
    assert!(
        again.classification.is_some_and(|c| c.repeat),
        "same person, same case: a repeat"
    );
    let people_after: i64 = sqlx::query_scalar("SELECT count(*) FROM petitioners")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        people_after, people,
        "the person was found again, not added"
    );

    // A restart with the new key alone reads everything.
    server.restart();
    server.wait_serving(Duration::from_secs(60)).await;
    let client = Client::connect_lazy(&server.address, Some(&token)).expect("client");
    assert_eq!(
        ops::assert_personal_data_reads_back(&client).await,
        all.len()
    );
    let visits = client
        .visits
        .clone()
        .list_visits(ListVisitsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("a list after the restart");
    assert_eq!(visits.into_inner().visits.len(), 1);
    server.kill();

    // The old key may be destroyed: with it alone, the service refuses the database and says why.
    let old_key_file = tmp.path().join("old-data-key");
    std::fs::write(&old_key_file, &old_key_text).unwrap();
    let (status, _, stderr) = run_command(&args![
        "--database-url",
        &url,
        "--data-key-file",
        &old_key_file,
        "migrate"
    ]);
    assert!(!status.success(), "the old key is refused");
    assert!(
        stderr.contains(&new_key_id) && stderr.contains("lacks"),
        "{stderr}"
    );

    println!(
        "{} visits; rotation {rotation_took:?} with {reads_during} reads meanwhile; {:?} in all",
        all.len(),
        started.elapsed()
    );
}
