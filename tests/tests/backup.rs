//! The restore drill (issue #21): writers register visits with personal data through the API of a service
//! on its private cluster, which archives its WAL; `xinfang-server backup` takes a base backup while they
//! write; they go on; the data directory is destroyed, key file included. `restore` to the end of the
//! archive brings back every visit a writer was answered for, once, with its number, the numbers going on
//! without a gap and the sealed ID numbers opening again with the key restored from the backup. A second
//! `restore --to T`, T taken while the writers paused, brings back exactly the visits answered before T,
//! also after the personal-data key was rotated: the restore gives the key file the backup's older key.

#[macro_use]
mod child;
mod ops;

use std::{
    ffi::OsString,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use child::{ChildServer, free_port, run_command, run_ok};
use chrono::Utc;
use ops::{Ack, Acks};
use xinfang_client::Client;

const WRITERS: usize = 4;
/// Visits per writer before the backup and after the pause; during the backup they write as long as it
/// takes.
const PER_PHASE: usize = 30;

fn server_args(data: &Path, wal: &Path, backup_key: &Path) -> Vec<OsString> {
    args![
        "--data-dir",
        data,
        "--wal-archive-dir",
        wal,
        "--backup-key-file",
        backup_key
    ]
}

async fn start(args: Vec<OsString>, logs: &Path) -> ChildServer {
    let mut server = ChildServer::start_with(args, logs, free_port());
    server.wait_serving(Duration::from_secs(90)).await;
    server
}

/// The service dies with its disk: no clean shutdown of anything, and nothing of the data directory left.
async fn lose_the_disk(server: &mut ChildServer, data: &Path) {
    ops::crash_postgres(data).await;
    server.kill();
    std::fs::remove_dir_all(data).expect("destroying the data directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_backup_and_the_wal_archive_restore_every_acknowledged_visit_to_the_end_or_a_moment()
{
    let started = Instant::now();
    let tmp = ops::temp_dir("xinfang-backup");
    let data = tmp.path().join("data");
    let wal = tmp.path().join("wal");
    let backup = tmp.path().join("backups/b1");
    // The backup key lives apart from the backups.
    let backup_key = tmp.path().join("keys/backup.key");
    let args = server_args(&data, &wal, &backup_key);

    let mut server = start(args.clone(), tmp.path()).await;
    let token = ops::clerk_token(&data).await;
    let client = Client::connect_lazy(&server.address, Some(&token)).expect("client");
    let acks: Acks = Arc::new(Mutex::new(Vec::new()));

    // Phase 1, then phase 2, which writes for as long as the base backup takes.
    ops::write_batch(&client, &acks, WRITERS, 0, PER_PHASE).await;
    let stop = Arc::new(AtomicBool::new(false));
    let phase2 = {
        let (client, acks, stop) = (client.clone(), acks.clone(), stop.clone());
        tokio::spawn(async move {
            ops::write_until(&client, &acks, WRITERS, 1_000, 999 / WRITERS, stop).await;
        })
    };
    // Some answers of phase 2 before the backup starts, more while it runs.
    while acks.lock().unwrap().len() < WRITERS * PER_PHASE + WRITERS {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let backup_args = [args.clone(), args!["backup", "--to", &backup]].concat();
    let backup_started = Instant::now();
    let at_backup_start = acks.lock().unwrap().len();
    let printed = tokio::task::spawn_blocking(move || run_ok(&backup_args))
        .await
        .expect("backup");
    let backup_took = backup_started.elapsed();
    let during_backup = acks.lock().unwrap().len() - at_backup_start;
    assert!(
        !phase2.is_finished(),
        "the writers wrote all through the backup"
    );
    // And a little after it, so that the restore must take them from the archive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    phase2.await.expect("phase 2");
    assert!(
        during_backup > 0,
        "no visit was answered while the backup ran"
    );
    assert!(printed.contains("backup"), "{printed}");

    // The moment T: every writer has its answer, none has sent its next request.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let target = Utc::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before_target: Vec<Ack> = acks.lock().unwrap().clone();
    assert!(before_target.iter().all(|a| a.acked_at < target));

    ops::write_batch(&client, &acks, WRITERS, 2_000, PER_PHASE).await;
    let all: Vec<Ack> = acks.lock().unwrap().clone();
    // What archive_timeout would do within five minutes; a restore has only what the archive has.
    ops::archive_now(&data).await;

    // Nothing in the backup folder holds the key that opens the ID numbers.
    let data_key = std::fs::read_to_string(data.join("data-key")).expect("data key");
    for file in ops::files_below(&backup) {
        let bytes = std::fs::read(&file).expect("backup file");
        assert!(
            !bytes
                .windows(data_key.trim().len())
                .any(|w| w == data_key.trim().as_bytes()),
            "{} holds the personal-data key in the clear",
            file.display()
        );
    }
    assert!(backup.join("data-key.sealed").exists());

    lose_the_disk(&mut server, &data).await;

    // Without the right backup key the backup does not open.
    let wrong_key = tmp.path().join("keys/other.key");
    std::fs::write(&wrong_key, format!("{}\n", "ab".repeat(32))).unwrap();
    let (status, _, stderr) = run_command(
        &[
            server_args(&data, &wal, &wrong_key),
            args!["restore", "--from", &backup],
        ]
        .concat(),
    );
    assert!(!status.success());
    assert!(stderr.contains("backup key"), "{stderr}");
    assert!(
        !data.join("postgres/data").exists(),
        "a refused restore leaves nothing behind"
    );

    // Restore to the end of the archive.
    let restore_started = Instant::now();
    let printed = run_ok(&[args.clone(), args!["restore", "--from", &backup]].concat());
    let restore_took = restore_started.elapsed();
    assert!(printed.contains("timeline 2"), "{printed}");
    assert!(
        data.join("data-key").exists(),
        "the key came back from the backup"
    );
    let mut server = start(args.clone(), tmp.path()).await;
    let client = Client::connect_lazy(&server.address, Some(&token)).expect("client");
    let mut conn = ops::connect(&data).await;
    ops::assert_exactly(&mut conn, &all).await;
    assert_eq!(
        ops::assert_personal_data_reads_back(&client).await,
        all.len()
    );
    let next = ops::register(std::slice::from_ref(&client), 9_000, |a| a > 20)
        .await
        .expect("a registration after the restore");
    assert_eq!(
        ops::serial(&next.number),
        all.len() as u32 + 1,
        "numbers go on"
    );
    drop(conn);
    // The restored service rotates its personal-data key: its key file now holds the new key only.
    run_ok(&[args.clone(), args!["keys", "rotate", "--pause-ms", "0"]].concat());
    server.stop();

    // Restore to T: exactly what was answered before it. The database's disk dies again, the key file
    // (kept apart) survives; the backup, older than the rotation, needs its old key, which the restore
    // adds to the key file.
    std::fs::remove_dir_all(data.join("postgres")).expect("destroying the cluster again");
    let printed = run_ok(
        &[
            args.clone(),
            args!["restore", "--from", &backup, "--to", target.to_rfc3339()],
        ]
        .concat(),
    );
    assert!(printed.contains("timeline 3"), "{printed}");
    assert!(
        printed.contains("given the backup's older keys"),
        "{printed}"
    );
    let mut server = start(args, tmp.path()).await;
    let client = Client::connect_lazy(&server.address, Some(&token)).expect("client");
    let mut conn = ops::connect(&data).await;
    ops::assert_exactly(&mut conn, &before_target).await;
    assert_eq!(
        ops::assert_personal_data_reads_back(&client).await,
        before_target.len()
    );
    let next = ops::register(std::slice::from_ref(&client), 9_001, |a| a > 20)
        .await
        .expect("a registration after the second restore");
    assert_eq!(ops::serial(&next.number), before_target.len() as u32 + 1);
    server.stop();

    println!(
        "{} visits, {during_backup} answered while the backup ran ({backup_took:?}); restore to the end \
         {restore_took:?}; {} before T; {:?} in all",
        all.len(),
        before_target.len(),
        started.elapsed()
    );
}
