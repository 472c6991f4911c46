//! What the operations drills share (issue #21: `backup.rs`, `standby.rs`, `keys.rs`): writers that register
//! visits with personal data through the API and keep what they were answered, and the look into a private
//! cluster that a test needs to check the outcome.

// Each test binary uses part of it.
#![allow(dead_code)]

use std::{
    collections::{HashMap, HashSet},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use sqlx::{
    Connection, PgConnection,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tonic::Code;
use xinfang_client::Client;
use xinfang_proto::v1::{
    GetVisitRequest, Level, ListVisitsRequest, MatterInput, Petitioner, RegisterVisitRequest, Visit,
};
use xinfang_server::auth::{self, Role};

/// A temporary folder that the unprivileged user running PostgreSQL (when the tests run as root) may pass
/// through.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
        .expect("chmod temp dir");
    dir
}

/// The private cluster of a data directory as its superuser, over its socket.
pub fn superuser(data_dir: &Path) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(data_dir.join("postgres/data"))
        .port(5432)
        .username("xinfang")
        .database("xinfang")
}

pub async fn connect(data_dir: &Path) -> PgConnection {
    PgConnection::connect_with(&superuser(data_dir))
        .await
        .expect("connecting to the private cluster")
}

/// A `--read-database-url` (or any URL) for the service role on a data directory's cluster.
pub fn service_url(data_dir: &Path) -> String {
    format!(
        "postgres://xinfang_app@localhost:5432/xinfang?host={}",
        data_dir.join("postgres/data").display()
    )
}

/// A county clerk's token, issued in the database of `data_dir`: clerks see ID numbers in full.
pub async fn clerk_token(data_dir: &Path) -> String {
    let mut conn = connect(data_dir).await;
    let (_, token) = auth::issue_token(&mut conn, Role::CountyClerk, "510422XF", "ops drill clerk")
        .await
        .expect("issuing a clerk token");
    token
}

/// The pid of the postmaster serving `data_dir`'s cluster.
pub fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = std::fs::read_to_string(data_dir.join("postgres/data/postmaster.pid"))
        .expect("postmaster.pid");
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a pid")
}

/// SIGKILLs the postmaster of `data_dir` (a crash or a dead disk: no shutdown checkpoint, nothing more sent
/// to a standby) and waits until it is gone.
pub async fn crash_postgres(data_dir: &Path) {
    let pid = postmaster_pid(data_dir);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    wait_gone(pid).await;
}

pub async fn wait_gone(pid: i32) {
    let started = std::time::Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie its parent has not reaped yet.
        if stat.is_empty() || stat.contains(") Z ") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "process {pid} still running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The personal data of the `k`-th registration of a drill; distinct for distinct `k` (< 18,000).
pub fn person(k: usize) -> Petitioner {
    Petitioner {
        name: format!("测试{k}"),
        id_number: xinfang_tests::fixture::id_number(k),
        phone: format!("139{:08}", 10_000_000 + k),
        address: format!("攀枝花市盐边县桐子林镇{k}号"),
        ..Default::default()
    }
}

pub fn marker(k: usize) -> String {
    format!("拖欠工资 ops-drill #{k:05}")
}

pub fn visit_request(k: usize, request_id: &str) -> RegisterVisitRequest {
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
            petitioners: vec![person(k)],
            matter: Some(MatterInput {
                content: marker(k),
                demands: "支付工资".into(),
                category: "labor".into(),
                problem_org_code: "510422100".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// A registration the service answered.
#[derive(Debug, Clone)]
pub struct Ack {
    pub k: usize,
    /// The visit's id.
    pub id: String,
    pub number: String,
    /// Taken after the answer arrived, so the commit happened before it.
    pub acked_at: DateTime<Utc>,
}

/// Registrations answered so far, from every writer.
pub type Acks = Arc<Mutex<Vec<Ack>>>;

/// Registers visit `k`, sending the same request (same request id) again when a call fails, to `clients` in
/// turn (a replica, a failover target): the outcome of a failed call is unknown, and only an answer counts.
/// Returns the answer, or `None` when `give_up` says so between tries.
pub async fn register(
    clients: &[Client],
    k: usize,
    give_up: impl Fn(usize) -> bool,
) -> Option<Ack> {
    // Built once: a retry is the same request, visit time included, or the service refuses the request id.
    let request = visit_request(k, &uuid::Uuid::now_v7().to_string());
    let mut attempt = 0;
    loop {
        let mut client = clients[attempt % clients.len()].clone();
        let mut call = tonic::Request::new(request.clone());
        call.set_timeout(Duration::from_secs(20));
        match client.visits.register_visit(call).await {
            Ok(response) => {
                let visit = response.into_inner();
                return Some(Ack {
                    k,
                    id: visit.id,
                    number: visit.number,
                    acked_at: Utc::now(),
                });
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
                    "visit {k}: a retry must never be refused: {status:?}"
                );
                attempt += 1;
                if give_up(attempt) {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `writers` writers register visits `first..first + per_writer * writers` (writer w takes every w-th),
/// each waiting for its answer before the next; panics when a visit is still failing after 200 tries.
pub async fn write_batch(
    client: &Client,
    acks: &Acks,
    writers: usize,
    first: usize,
    per_writer: usize,
) {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let client = client.clone();
        let acks = acks.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_writer {
                let k = first + n * writers + w;
                let ack = register(std::slice::from_ref(&client), k, |a| a >= 200)
                    .await
                    .unwrap_or_else(|| panic!("visit {k} never answered"));
                acks.lock().expect("acks").push(ack);
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
}

/// Like [`write_batch`], but each writer goes on until `stop` is set (and at most `max_per_writer`): load
/// that is certain to run while something else happens.
pub async fn write_until(
    client: &Client,
    acks: &Acks,
    writers: usize,
    first: usize,
    max_per_writer: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let client = client.clone();
        let acks = acks.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..max_per_writer {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let k = first + n * writers + w;
                let ack = register(std::slice::from_ref(&client), k, |a| a >= 200)
                    .await
                    .unwrap_or_else(|| panic!("visit {k} never answered"));
                acks.lock().expect("acks").push(ack);
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
}

/// Every visit of the drill in the database of `data_dir`: marker → registration number.
pub async fn stored_visits(conn: &mut PgConnection) -> HashMap<String, String> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT content, number FROM visits WHERE content LIKE '%ops-drill%'")
            .fetch_all(&mut *conn)
            .await
            .expect("visits");
    let mut seen = HashMap::new();
    for (content, number) in rows {
        assert!(
            seen.insert(content.clone(), number).is_none(),
            "{content} is stored twice"
        );
    }
    seen
}

/// Asserts that the database holds exactly `expected` (each with the number its writer was told), and that
/// the numbers of the year are 1…n without a gap.
pub async fn assert_exactly(conn: &mut PgConnection, expected: &[Ack]) {
    let stored = stored_visits(conn).await;
    let want: HashMap<String, String> = expected
        .iter()
        .map(|a| (marker(a.k), a.number.clone()))
        .collect();
    let missing: Vec<&String> = want.keys().filter(|m| !stored.contains_key(*m)).collect();
    let extra: Vec<&String> = stored.keys().filter(|m| !want.contains_key(*m)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} acknowledged visits missing (e.g. {:?}), {} not expected (e.g. {:?})",
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first()
    );
    for (marker, number) in &want {
        assert_eq!(
            stored.get(marker),
            Some(number),
            "{marker}: the writer was told another number than the database holds"
        );
    }
    assert_gap_free(stored.values());
}

/// The serials of registration numbers (`XF510422-2026-000123`) are 1…n.
pub fn assert_gap_free<'a>(numbers: impl Iterator<Item = &'a String>) {
    let mut serials: Vec<u32> = numbers
        .map(|n| {
            n.rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("not a registration number: {n}"))
        })
        .collect();
    serials.sort_unstable();
    let expected: Vec<u32> = (1..=serials.len() as u32).collect();
    assert_eq!(
        serials, expected,
        "registration numbers with a gap or a repeat"
    );
}

/// The serial of a registration number.
pub fn serial(number: &str) -> u32 {
    number
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a registration number: {number}"))
}

/// Reads every drill visit through the API as `client` (a county clerk) and checks that each petitioner's
/// ID number, phone and address open to what was registered. Returns how many were read.
pub async fn assert_personal_data_reads_back(client: &Client) -> usize {
    let mut visits = client.visits.clone();
    let mut page_token = String::new();
    let mut read = 0;
    let mut seen = HashSet::new();
    loop {
        let page = visits
            .list_visits(ListVisitsRequest {
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("listing visits with personal data")
            .into_inner();
        for visit in &page.visits {
            let content = visit
                .matter
                .as_ref()
                .map(|m| m.content.clone())
                .unwrap_or_default();
            let Some(k) = content
                .strip_prefix("拖欠工资 ops-drill #")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            assert!(seen.insert(k), "visit {k} listed twice");
            assert_person(&visit.petitioners, k);
            read += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    read
}

/// GetVisit of `id` as `client`, checking the petitioner of registration `k`.
pub async fn get_visit(client: &Client, id: &str, k: usize) -> Result<(), tonic::Status> {
    let visit = client
        .visits
        .clone()
        .get_visit(GetVisitRequest { id: id.to_owned() })
        .await?
        .into_inner();
    assert_person(&visit.petitioners, k);
    Ok(())
}

fn assert_person(petitioners: &[Petitioner], k: usize) {
    let expected = person(k);
    let got = petitioners
        .first()
        .unwrap_or_else(|| panic!("visit {k} without its petitioner"));
    assert!(
        !got.masked,
        "visit {k}: a county clerk sees personal data in full"
    );
    assert_eq!(got.id_number, expected.id_number, "visit {k}: ID number");
    assert_eq!(got.phone, expected.phone, "visit {k}: phone");
    assert_eq!(got.address, expected.address, "visit {k}: address");
}

/// Forces the current WAL segment into the archive and waits until the archiver has copied it: what
/// `archive_timeout` does by itself within five minutes.
pub async fn archive_now(data_dir: &Path) {
    let mut conn = connect(data_dir).await;
    let segment: String = sqlx::query_scalar("SELECT pg_walfile_name(pg_switch_wal())")
        .fetch_one(&mut conn)
        .await
        .expect("switching WAL");
    let started = std::time::Instant::now();
    loop {
        let (archived, failed): (Option<String>, i64) =
            sqlx::query_as("SELECT last_archived_wal, failed_count FROM pg_stat_archiver")
                .fetch_one(&mut conn)
                .await
                .expect("archiver status");
        assert_eq!(failed, 0, "the archiver failed");
        if archived.is_some_and(|a| a >= segment) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{segment} not archived after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every file below `dir`.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// A small pool on a data directory's cluster as its superuser.
pub async fn pool(data_dir: &Path) -> sqlx::PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(superuser(data_dir))
        .await
        .expect("pool on the private cluster")
}
