//! The private cluster launcher, on real PostgreSQL binaries.

use std::path::PathBuf;

use sqlx::{Connection, PgConnection};
use xinfang_server::cluster::{Cluster, ClusterError, ClusterOptions};

fn options(dir: PathBuf) -> ClusterOptions {
    ClusterOptions {
        dir,
        bin_dir: std::env::var_os("XINFANG_PG_BIN_DIR").map(PathBuf::from),
        run_as: None,
        durable: true,
    }
}

async fn connect(cluster: &Cluster) -> PgConnection {
    cluster.ensure_database("xinfang").await.unwrap();
    PgConnection::connect_with(&cluster.connect_options("xinfang"))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_fresh_cluster_is_durable_and_a_restart_keeps_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path().join("pg"));

    let cluster = Cluster::start(&opts).await.expect("first start");
    assert!(cluster.pid().is_some(), "this process started it");
    let mut conn = connect(&cluster).await;
    // The service's cluster holds real records: fsync and synchronous commit stay on.
    for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
        let value: String = sqlx::query_scalar(&format!("SHOW {setting}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(value, "on", "{setting}");
    }
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(listen, "", "no TCP port");
    sqlx::raw_sql("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('盐边')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    cluster.stop().await.expect("stop");
    let data = tmp.path().join("pg/data");
    assert!(!data.join("postmaster.pid").exists(), "clean stop");

    let cluster = Cluster::start(&opts).await.expect("second start");
    let mut conn = connect(&cluster).await;
    let kept: String = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, "盐边");
    conn.close().await.unwrap();
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn a_stale_postmaster_pid_from_a_crash_does_not_block_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path().join("pg"));
    Cluster::start(&opts).await.unwrap().stop().await.unwrap();

    // What a power cut leaves behind: a lock file naming a process that is gone.
    let pid_file = tmp.path().join("pg/data/postmaster.pid");
    std::fs::write(
        &pid_file,
        "4194000\n/nonexistent\n1700000000\n5432\n/nonexistent\n\n  5432001         0\nready   \n",
    )
    .unwrap();
    let cluster = Cluster::start(&opts)
        .await
        .expect("start over a stale pid file");
    let mut conn = connect(&cluster).await;
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    conn.close().await.unwrap();
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_process_attaches_to_the_running_cluster_and_leaves_it_running() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path().join("pg"));
    let owner = Cluster::start(&opts).await.unwrap();
    let attached = Cluster::start(&opts).await.expect("attach");
    assert!(attached.pid().is_none(), "attached, not started");
    attached.stop().await.unwrap();
    // Still up for its owner.
    let mut conn = connect(&owner).await;
    sqlx::query("SELECT 1").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    owner.stop().await.unwrap();
}

#[tokio::test]
async fn missing_binaries_give_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let err = Cluster::start(&ClusterOptions {
        bin_dir: Some(empty.path().to_owned()),
        ..options(tmp.path().join("pg"))
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, ClusterError::BinariesNotFound { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("apt-get install postgresql"), "{message}");
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(!tmp.path().join("pg/data").exists(), "nothing was made");
}
