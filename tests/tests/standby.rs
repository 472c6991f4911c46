//! A real hot standby (issue #21): `xinfang-server standby run` makes a streaming standby of a service's
//! private cluster in another data directory (pg_basebackup -R, its own socket), the service reads its
//! metrics from it (`--read-database-url`) and, once the standby has replayed everything the primary flushed,
//! the figures equal the primary's. The service then commits synchronously (`--synchronous-standby`): the
//! primary's PostgreSQL is killed under load, the standby promoted (`standby promote`) and the service started
//! on it, and every visit a writer was answered for is there once, with its number.

#[macro_use]
mod child;
mod ops;

use std::{
    path::Path,
    process::Child,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use child::{ChildServer, free_port, run_ok, spawn_command};
use chrono::Datelike;
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use ops::{Ack, Acks};
use sqlx::{Connection, PgConnection};
use xinfang_client::Client;
use xinfang_proto::v1::{
    GetIndicatorsRequest, GetVisitStatisticsRequest, Period, VisitGrouping, YearMonth,
};

const WRITERS: usize = 4;
const PER_WRITER: usize = 25;
const STANDBY: &str = "xinfang_standby";

async fn start(args: Vec<std::ffi::OsString>, logs: &Path, port: u16) -> ChildServer {
    let mut server = ChildServer::start_with(args, logs, port);
    server.wait_serving(Duration::from_secs(90)).await;
    server
}

/// Waits until `check` holds, polling; panics with `what` after 60 s.
async fn wait_for<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: not after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn try_connect(data_dir: &Path) -> Option<PgConnection> {
    PgConnection::connect_with(&ops::superuser(data_dir))
        .await
        .ok()
}

/// The state of the primary's replication to the standby, if it is connected.
async fn replication(primary: &Path) -> Option<(String, String)> {
    let mut conn = try_connect(primary).await?;
    sqlx::query_as("SELECT state, sync_state FROM pg_stat_replication WHERE application_name = $1")
        .bind(STANDBY)
        .fetch_optional(&mut conn)
        .await
        .ok()
        .flatten()
}

fn this_year() -> Option<Period> {
    let year = chrono::Utc::now()
        .with_timezone(&xinfang_server::kernel::time::shanghai())
        .year();
    Some(Period {
        start: Some(YearMonth { year, month: 1 }),
        end: Some(YearMonth { year, month: 12 }),
    })
}

async fn figures(
    client: &Client,
) -> (
    xinfang_proto::v1::Indicators,
    xinfang_proto::v1::VisitStatistics,
) {
    let mut metrics = client.metrics.clone();
    let indicators = metrics
        .get_indicators(GetIndicatorsRequest {
            period: this_year(),
            include_ids: true,
            ..Default::default()
        })
        .await
        .expect("indicators")
        .into_inner();
    let statistics = metrics
        .get_visit_statistics(GetVisitStatisticsRequest {
            period: this_year(),
            group_by: VisitGrouping::Township as i32,
            ..Default::default()
        })
        .await
        .expect("visit statistics")
        .into_inner();
    (indicators, statistics)
}

fn terminate(child: &mut Child) {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_standby_serves_the_metrics_and_a_synchronous_failover_keeps_every_answered_visit()
 {
    let started = Instant::now();
    let tmp = ops::temp_dir("xinfang-standby");
    let primary = tmp.path().join("primary");
    let standby = tmp.path().join("standby");

    let mut service = start(args!["--data-dir", &primary], tmp.path(), free_port()).await;
    let token = ops::clerk_token(&primary).await;

    // The standby: a copy of the primary's cluster that follows it over the primary's socket.
    let mut standby_process = spawn_command(
        &args![
            "standby",
            "run",
            "--data-dir",
            &standby,
            "--primary-data-dir",
            &primary,
            "--name",
            STANDBY
        ],
        &tmp.path().join("standby.log"),
    );
    wait_for("the standby streams", async || {
        replication(&primary)
            .await
            .is_some_and(|(state, _)| state == "streaming")
    })
    .await;
    let mut on_standby = ops::connect(&standby).await;
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&mut on_standby)
        .await
        .unwrap();
    assert!(in_recovery, "a hot standby, read-only");

    // The service again, committing synchronously and reading its metrics from the standby.
    service.stop();
    let primary_args = args![
        "--data-dir",
        &primary,
        "--synchronous-standby",
        STANDBY,
        "--read-database-url",
        ops::service_url(&standby)
    ];
    let mut service = start(primary_args, tmp.path(), free_port()).await;
    wait_for("the standby is synchronous", async || {
        replication(&primary)
            .await
            .is_some_and(|(_, sync)| sync == "sync")
    })
    .await;
    // A second service on the same cluster reads the primary: the figures to compare with.
    let mut reference = start(args!["--data-dir", &primary], tmp.path(), free_port()).await;

    let client = Client::connect_lazy(&service.address, Some(&token)).expect("client");
    let reference_client = Client::connect_lazy(&reference.address, Some(&token)).expect("client");
    let acks: Acks = Arc::new(Mutex::new(Vec::new()));
    ops::write_batch(&client, &acks, WRITERS, 0, PER_WRITER).await;
    let written = acks.lock().unwrap().len();

    // Caught up: the standby replayed all that the primary flushed.
    let mut on_primary = ops::connect(&primary).await;
    let flushed: String = sqlx::query_scalar("SELECT pg_current_wal_flush_lsn()::text")
        .fetch_one(&mut on_primary)
        .await
        .unwrap();
    wait_for("the standby catches up", async || {
        sqlx::query_scalar::<_, bool>("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
            .bind(&flushed)
            .fetch_one(&mut on_standby)
            .await
            .unwrap_or(false)
    })
    .await;
    let (indicators, statistics) = figures(&client).await;
    let (primary_indicators, primary_statistics) = figures(&reference_client).await;
    assert_eq!(
        statistics
            .total
            .as_ref()
            .and_then(|t| t.batches.as_ref())
            .map(|b| b.value),
        Some(written as i64),
        "the standby's figures count every visit"
    );
    assert_eq!(
        statistics, primary_statistics,
        "visit statistics: standby vs primary"
    );
    assert_eq!(
        indicators, primary_indicators,
        "indicators: standby vs primary"
    );
    // They really came from the standby: the service's read pool is connected to it.
    let readers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'xinfang_app' AND backend_type = 'client backend'",
    )
    .fetch_one(&mut on_standby)
    .await
    .unwrap();
    assert!(readers > 0, "the metrics pool reads from the standby");
    drop(on_standby);
    drop(on_primary);
    reference.kill();

    // The failover drill: writers write on; the primary's PostgreSQL dies (no shutdown, nothing more
    // sent); the standby is promoted and the service started on it, on a port the writers know; a writer
    // whose call failed sends the same request again, to either.
    let failover_port = free_port();
    let failover_client =
        Client::connect_lazy(&format!("http://127.0.0.1:{failover_port}"), Some(&token))
            .expect("client");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = vec![client.clone(), failover_client.clone()];
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (clients, acks, stop) = (clients.clone(), acks.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..200 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let k = 1_000 + n * WRITERS + w;
                let ack = ops::register(&clients, k, |attempt| attempt > 600)
                    .await
                    .unwrap_or_else(|| panic!("visit {k} never answered"));
                acks.lock().unwrap().push(ack);
            }
        }));
    }
    wait_for("writes before the crash", async || {
        acks.lock().unwrap().len() >= written + 40
    })
    .await;
    // The worst moment to lose the primary: the standby has fallen behind (its WAL receiver stopped) and
    // the writers go on. Asynchronous replication would answer them, and a failover would lose what the
    // standby never got; synchronous commits wait, unanswered.
    let receiver: i32 = {
        let mut conn = ops::connect(&standby).await;
        sqlx::query_scalar("SELECT pid FROM pg_stat_wal_receiver")
            .fetch_one(&mut conn)
            .await
            .expect("the standby's WAL receiver")
    };
    kill(Pid::from_raw(receiver), Signal::SIGSTOP).expect("stopping the WAL receiver");
    // A commit the standby confirmed just before it stopped may still be on its way to its writer; give those
    // answers time to arrive before counting what is answered while the standby is behind.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_stop = acks.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let answered_while_behind = acks.lock().unwrap().len() - at_stop;
    assert_eq!(
        answered_while_behind, 0,
        "a synchronous commit is answered only once the standby has it"
    );
    ops::crash_postgres(&primary).await;
    service.kill();
    let _ = kill(Pid::from_raw(receiver), Signal::SIGCONT);
    let at_crash = acks.lock().unwrap().len();
    assert!(
        writers.iter().all(|w| !w.is_finished()),
        "the crash lands under load"
    );

    let printed = run_ok(&args!["standby", "promote", "--data-dir", &standby]);
    assert!(printed.contains("promoted"), "{printed}");
    terminate(&mut standby_process);
    let mut failover = start(args!["--data-dir", &standby], tmp.path(), failover_port).await;
    wait_for("writes after the failover", async || {
        acks.lock().unwrap().len() >= at_crash + 40
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("writer");
    }
    let all: Vec<Ack> = acks.lock().unwrap().clone();

    let mut conn = ops::connect(&standby).await;
    ops::assert_exactly(&mut conn, &all).await;
    assert_eq!(
        ops::assert_personal_data_reads_back(&failover_client).await,
        all.len()
    );
    failover.stop();
    println!(
        "{written} visits before the comparison, {at_crash} at the crash ({answered_while_behind} answered \
         while the standby was behind), {} in all; {:?}",
        all.len(),
        started.elapsed()
    );
}
