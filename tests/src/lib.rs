//! The test harness: [`spawn_app`] starts the real server on `127.0.0.1:0` with a fresh database of its own
//! and returns typed clients.
//!
//! Databases come from `DATABASE_URL` when it is set, else from one private cluster per test binary (the
//! service's own launcher, durability off, under the temp dir), which dies with the binary. Servers run as the
//! service role (`xinfang_app`, as in production); tests set up and inspect their data as the owner.

pub mod fixture;

use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::{Duration, SystemTime},
};

use sqlx::{Connection, PgConnection, PgPool, postgres::PgConnectOptions};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::{ClientTlsConfig, Endpoint};
use xinfang_client::Client;
use xinfang_server::{
    auth::{self, Role},
    cases::model::Workflow,
    cluster::{Cluster, ClusterOptions, SERVICE_ROLE},
    db,
    pii::PiiKeys,
    seed,
    startup::{self, ServeOptions},
    tls::Tls,
};

/// Connection options of the test database server, for the database `postgres`.
fn server_options() -> &'static PgConnectOptions {
    static SERVER: OnceLock<(PgConnectOptions, Option<Cluster>)> = OnceLock::new();
    &SERVER
        .get_or_init(|| {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                let options =
                    db::options_from_url(&url).expect("DATABASE_URL is not a postgres URL");
                return (options.database("postgres"), None);
            }
            // Each #[tokio::test] has its own runtime, and a cluster must outlive all of them: start it
            // from a runtime of its own on a thread of its own.
            std::thread::spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(async {
                    let cluster = Cluster::start(&ClusterOptions {
                        dir: test_cluster_dir(),
                        bin_dir: std::env::var_os("XINFANG_PG_BIN_DIR").map(PathBuf::from),
                        run_as: None,
                        durable: false,
                    })
                    .await
                    .expect("starting the test postgres cluster");
                    (cluster.connect_options("postgres"), Some(cluster))
                })
            })
            .join()
            .expect("test cluster thread")
        })
        .0
}

/// `<tmp>/xinfang-tests/<pid>`, after removing the folders of test runs that have ended.
fn test_cluster_dir() -> PathBuf {
    let base = std::env::temp_dir().join("xinfang-tests");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let alive = name
                .parse::<u32>()
                .is_ok_and(|pid| PathBuf::from(format!("/proc/{pid}")).exists());
            if !alive {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    base.join(std::process::id().to_string())
}

/// Connection options of the test database server for `database`, as the role that creates databases and
/// owns their tables.
pub fn owner_options(database: &str) -> PgConnectOptions {
    server_options().clone().database(database)
}

/// The password of the service role when the tests run on a `DATABASE_URL` server, which may not trust local
/// connections as the private cluster does.
const SERVICE_ROLE_PASSWORD: &str = "xinfang_app";

/// Connection options for `database` as the service's own role (`xinfang_app`), which owns nothing.
pub fn service_options(database: &str) -> PgConnectOptions {
    let options = owner_options(database).username(SERVICE_ROLE);
    if std::env::var_os("DATABASE_URL").is_some() {
        return options.password(SERVICE_ROLE_PASSWORD);
    }
    options
}

/// A fresh, migrated database of its own, as its owner; the service role holds its grants on it.
pub async fn fresh_database() -> PgPool {
    let name = empty_database().await;
    let pool = db::pool(owner_options(&name), 8)
        .await
        .expect("connecting to the test database");
    db::migrate(&pool)
        .await
        .expect("migrating the test database");
    let mut conn = pool.acquire().await.expect("connection");
    db::grant_service_role(&mut conn, SERVICE_ROLE)
        .await
        .expect("granting the service role");
    drop(conn);
    pool
}

/// A new database with nothing in it, and the service role (which exists in the whole cluster); its name.
pub async fn empty_database() -> String {
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(server_options())
        .await
        .expect("connecting to the test postgres");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("creating a test database");
    // Roles belong to the cluster, not to the database: made once per test binary (and idempotently, for
    // binaries sharing a DATABASE_URL server).
    static SERVICE_ROLE_READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let conn = &mut admin;
    SERVICE_ROLE_READY
        .get_or_init(|| async move {
            db::ensure_service_role(conn, SERVICE_ROLE)
                .await
                .expect("creating the service role");
            if std::env::var_os("DATABASE_URL").is_some() {
                sqlx::query(&format!(
                    "ALTER ROLE {SERVICE_ROLE} PASSWORD '{SERVICE_ROLE_PASSWORD}'"
                ))
                .execute(conn)
                .await
                .expect("setting the service role's password");
            }
        })
        .await;
    let _ = admin.close().await;
    name
}

/// A pool on `owner`'s database as the service role.
pub async fn service_pool(owner: &PgPool) -> PgPool {
    let database = owner
        .connect_options()
        .get_database()
        .expect("test pools name their database")
        .to_owned();
    db::pool(service_options(&database), 8)
        .await
        .expect("connecting as the service role")
}

/// A running server on its own database.
pub struct TestApp {
    pub address: String,
    /// The database as its owner, for the tests' own setup and inspection.
    pub pool: PgPool,
    /// The pool the server runs on: the service role, which cannot change the audit trail.
    pub service_pool: PgPool,
    pub admin_token: String,
    /// The keys sealing personal data in this app's database.
    pub keys: Arc<PiiKeys>,
    /// Connected with the administrator's token.
    pub client: Client,
    read_pool: Option<PgPool>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The pools of a test server.
#[derive(Clone)]
struct Pools {
    owner: PgPool,
    service: PgPool,
    read: Option<PgPool>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_reading_from(fresh_database().await, None).await
}

/// A server on `owner`'s database (from [`fresh_database`]) that sends the read-heavy metrics queries to
/// `read`, as it would to a read replica.
pub async fn spawn_app_reading_from(owner: PgPool, read: Option<PgPool>) -> TestApp {
    let admin_token = seed::run(&owner)
        .await
        .expect("seeding")
        .expect("a fresh database gets an administrator");
    let (_, keys) = PiiKeys::generate().expect("personal-data keys");
    startup::check_data_key(&owner, &keys)
        .await
        .expect("recording the key fingerprint");
    let pools = Pools {
        service: service_pool(&owner).await,
        owner,
        read,
    };
    start(pools, admin_token, Arc::new(keys), None).await
}

/// Limits of test servers: generous, so that loaders and concurrency tests measure the service, not the
/// limiter; `XINFANG_TEST_LIMITS=in_flight,rate` overrides them for the limits test's own app.
fn test_limits() -> xinfang_server::auth::limits::Limits {
    TEST_LIMITS.with(|l| *l.borrow())
}

thread_local! {
    static TEST_LIMITS: std::cell::RefCell<xinfang_server::auth::limits::Limits> =
        const {
            std::cell::RefCell::new(xinfang_server::auth::limits::Limits {
                max_in_flight: 1_000,
                numbered_in_flight: 1_000,
                rate_per_second: 100_000.0,
                queue_wait: Duration::from_millis(200),
            })
        };
}

/// Runs `spawn` with other per-principal limits for the servers it starts on this thread.
pub async fn with_limits<F: Future<Output = TestApp>>(
    limits: xinfang_server::auth::limits::Limits,
    spawn: F,
) -> TestApp {
    let old = TEST_LIMITS.with(|l| l.replace(limits));
    let app = spawn.await;
    TEST_LIMITS.with(|l| l.replace(old));
    app
}

thread_local! {
    static TEST_SESSIONS: std::cell::RefCell<xinfang_server::auth::SessionPolicy> =
        std::cell::RefCell::new(xinfang_server::auth::SessionPolicy::default());
}

/// Runs `spawn` with another session policy (a short idle timeout) for the servers it starts on this thread.
pub async fn with_sessions<F: Future<Output = TestApp>>(
    sessions: xinfang_server::auth::SessionPolicy,
    spawn: F,
) -> TestApp {
    let old = TEST_SESSIONS.with(|s| s.replace(sessions));
    let app = spawn.await;
    TEST_SESSIONS.with(|s| s.replace(old));
    app
}

/// A server on a database of the caller's (already migrated), seeded here; the server uses `pool` as it is.
pub async fn spawn_app_with_pool(pool: PgPool) -> TestApp {
    let admin_token = seed::run(&pool)
        .await
        .expect("seeding")
        .expect("a fresh database gets an administrator");
    let (_, keys) = PiiKeys::generate().expect("personal-data keys");
    let pools = Pools {
        owner: pool.clone(),
        service: pool,
        read: None,
    };
    start(pools, admin_token, Arc::new(keys), None).await
}

/// A server speaking TLS with `tls`, and a client trusting `client` (server CA, and a client certificate for
/// mTLS) connected with the administrator's token.
pub async fn spawn_tls_app(tls: Tls, client: ClientTlsConfig) -> TestApp {
    let owner = fresh_database().await;
    let admin_token = seed::run(&owner)
        .await
        .expect("seeding")
        .expect("a fresh database gets an administrator");
    let (_, keys) = PiiKeys::generate().expect("personal-data keys");
    let pools = Pools {
        service: service_pool(&owner).await,
        owner,
        read: None,
    };
    start(pools, admin_token, Arc::new(keys), Some((tls, client))).await
}

async fn start(
    pools: Pools,
    admin_token: String,
    keys: Arc<PiiKeys>,
    tls: Option<(Tls, ClientTlsConfig)>,
) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding");
    let port = listener.local_addr().expect("local address").port();
    let address = match tls {
        Some(_) => format!("https://localhost:{port}"),
        None => format!("http://127.0.0.1:{port}"),
    };
    let (server_tls, client_tls) = match tls {
        Some((s, c)) => (Some(s), Some(c)),
        None => (None, None),
    };
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(startup::serve(
        listener,
        pools.service.clone(),
        ServeOptions {
            max_message_size: 4 * 1024 * 1024,
            keys: keys.clone(),
            collective_threshold: 5,
            large_scale_threshold: 50,
            workflow: Arc::new(Workflow::china().expect("holiday calendar")),
            relief_cap_per_year: rust_decimal::Decimal::from(30_000),
            limits: test_limits(),
            read_pool: pools.read.clone(),
            sessions: TEST_SESSIONS.with(|s| *s.borrow()),
        },
        server_tls,
        async {
            let _ = stop.await;
        },
    ));
    let mut endpoint = Endpoint::from_shared(address.clone()).expect("endpoint");
    if let Some(config) = client_tls {
        endpoint = endpoint.tls_config(config).expect("client tls");
    }
    let channel = endpoint
        .connect()
        .await
        .expect("connecting to the test server");
    let client = Client::from_channel(channel, Some(&admin_token)).expect("client");
    TestApp {
        address,
        pool: pools.owner,
        service_pool: pools.service,
        admin_token,
        keys,
        client,
        read_pool: pools.read,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

/// The rollup tables the indicators read, each as text rows in key order, without rows that fell to zero.
const ROLLUPS: [(&str, &str); 4] = [
    ("visit_months", "batches <> 0"),
    ("letter_months", "letters <> 0"),
    (
        "case_deadline_days",
        "on_time <> 0 OR late <> 0 OR open <> 0",
    ),
    (
        "case_months",
        "accepted <> 0 OR evaluated <> 0 OR backlog_listed <> 0 OR backlog_resolved <> 0 \
         OR special_difficult_resolved <> 0",
    ),
];

async fn rollup_rows(conn: &mut PgConnection) -> Vec<(String, Vec<String>)> {
    let mut tables = Vec::new();
    for (table, nonzero) in ROLLUPS {
        let rows: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT r::text FROM {table} r WHERE {nonzero} ORDER BY 1"
        ))
        .fetch_all(&mut *conn)
        .await
        .expect("reading a rollup");
        tables.push((table.to_owned(), rows.into_iter().map(|(r,)| r).collect()));
    }
    tables
}

impl TestApp {
    /// Asserts that the rollups the triggers kept through every write equal the rollups recomputed from the
    /// records (`rollups_rebuild()`), and that they are not all empty.
    pub async fn assert_rollups_match_records(&self) {
        let mut conn = self.pool.acquire().await.expect("connection");
        let kept = rollup_rows(&mut conn).await;
        let mut tx = conn.begin().await.expect("transaction");
        sqlx::query("SELECT rollups_rebuild()")
            .execute(&mut *tx)
            .await
            .expect("rebuilding the rollups");
        let rebuilt = rollup_rows(&mut tx).await;
        // Leave the database as the triggers made it.
        tx.rollback().await.expect("rollback");
        assert!(
            kept.iter().any(|(_, rows)| !rows.is_empty()),
            "the records left no rollup rows"
        );
        for ((table, kept), (_, rebuilt)) in kept.iter().zip(&rebuilt) {
            assert_eq!(kept, rebuilt, "{table}: kept by triggers vs recomputed");
        }
    }

    /// A token for a new principal of `role` in org unit `org`.
    pub async fn token(&self, role: Role, org: &str) -> String {
        let mut conn = self.pool.acquire().await.expect("connection");
        let (_, token) = auth::issue_token(&mut conn, role, org, &format!("test {role}"))
            .await
            .expect("issuing a token");
        token
    }

    /// A client on the same connection with another token (or none).
    pub fn client_with(&self, token: Option<&str>) -> Client {
        self.client.with_token(token).expect("client")
    }

    /// Stops the server gracefully and starts a new one on the same database, as a restart would.
    pub async fn restart(mut self) -> TestApp {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(30), server)
                .await
                .expect("server drains within 30s")
                .expect("server task")
                .expect("server result");
        }
        let pools = Pools {
            owner: self.pool.clone(),
            service: self.service_pool.clone(),
            read: self.read_pool.clone(),
        };
        start(pools, self.admin_token.clone(), self.keys.clone(), None).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A fresh UUIDv7 request id.
pub fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A request's timestamp of whole seconds since the epoch.
pub fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// A petitioner with a name, an ID number and a phone, and nothing else.
pub fn person(name: &str, id_number: &str, phone: &str) -> xinfang_proto::v1::Petitioner {
    xinfang_proto::v1::Petitioner {
        name: name.into(),
        id_number: id_number.into(),
        phone: phone.into(),
        ..Default::default()
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The `ErrorInfo.reason` of a refusal, empty when it has none.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// The fields a refusal's `BadRequest` names, in order.
pub fn fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}
