//! Building and running the service: the database (given, or a private cluster), migrations and seed data,
//! the gRPC server with health, reflection and the six services, and a graceful shutdown.

use std::{fs, io::Write, os::unix::fs::OpenOptionsExt, path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use xinfang_proto::v1::{
    case_service_server::CaseServiceServer, fund_service_server::FundServiceServer,
    metrics_service_server::MetricsServiceServer, org_service_server::OrgServiceServer,
    sync_service_server::SyncServiceServer, visit_service_server::VisitServiceServer,
};

use crate::{
    auth::AuthLayer,
    auth::limits::Limits,
    cases::{CaseApi, model::Workflow},
    cluster::{Cluster, ClusterOptions, ClusterSettings, SERVICE_ROLE},
    config::Config,
    db,
    funds::{FundApi, FundConfig},
    intake::{IntakeApi, IntakeConfig},
    metrics::MetricsApi,
    org::{OrgApi, store as org_store},
    pii::PiiKeys,
    seed,
    sync::SyncApi,
    tls::{self, Tls},
};

/// Name of the service's database in its private cluster.
pub const DATABASE_NAME: &str = "xinfang";

/// The service's database: a pool, and the private cluster behind it when there is one.
pub struct Database {
    /// Logged in as the service's own role when migrations ran as the tables' owner.
    pub pool: PgPool,
    /// The read replica for the metrics queries, when one is configured.
    pub read_pool: Option<PgPool>,
    cluster: Option<Cluster>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the private cluster under the data directory; then migrates as
    /// the tables' owner (the private cluster's superuser, or `--migrate-database-url`) and grants the
    /// service's role what it needs, or, given one URL only, migrates with it as before.
    pub async fn open(config: &Config) -> anyhow::Result<Database> {
        let mut cluster = None;
        match Self::connect(config, &mut cluster).await {
            Ok((pool, read_pool)) => Ok(Database {
                pool,
                read_pool,
                cluster,
            }),
            Err(err) => {
                if let Some(cluster) = cluster {
                    let _ = cluster.stop().await;
                }
                Err(err)
            }
        }
    }

    async fn connect(
        config: &Config,
        cluster: &mut Option<Cluster>,
    ) -> anyhow::Result<(PgPool, Option<PgPool>)> {
        let (service_options, mut owner) = match &config.database_url {
            Some(_) if config.wal_archive_dir.is_some() || config.synchronous_standby.is_some() => {
                anyhow::bail!(
                    "--wal-archive-dir and --synchronous-standby configure the private cluster; with \
                     DATABASE_URL, set archiving and replication on that PostgreSQL (docs/operations.md)"
                )
            }
            Some(url) => {
                let service = db::options_from_url(url)
                    .context("DATABASE_URL is not a valid postgres URL")?;
                let owner = match &config.migrate_database_url {
                    Some(url) => {
                        let options = db::options_from_url(url)
                            .context("--migrate-database-url is not a valid postgres URL")?;
                        Some(
                            PgConnection::connect_with(&options)
                                .await
                                .context("connecting to the database as --migrate-database-url")?,
                        )
                    }
                    None => None,
                };
                (service, owner)
            }
            None => {
                let (options, settings) = cluster_options(config);
                let started = cluster.insert(Cluster::start_with(&options, &settings).await?);
                started
                    .ensure_database(DATABASE_NAME)
                    .await
                    .context("creating the database")?;
                let mut owner = PgConnection::connect_with(&started.connect_options(DATABASE_NAME))
                    .await
                    .context("connecting to the database")?;
                if let Some(standby) = &config.synchronous_standby {
                    warn_when_standby_missing(&mut owner, standby).await;
                }
                db::ensure_service_role(&mut owner, SERVICE_ROLE)
                    .await
                    .context("creating the service's database role")?;
                (started.service_connect_options(DATABASE_NAME), Some(owner))
            }
        };
        if let Some(owner) = owner.as_mut() {
            db::MIGRATOR
                .run(&mut *owner)
                .await
                .context("applying migrations")?;
        }
        let pool = db::pool(service_options, config.db_max_connections)
            .await
            .context("connecting to the database")?;
        let mut conn = pool.acquire().await?;
        let role = db::current_role(&mut conn).await?;
        match owner {
            Some(mut owner) => {
                // One URL given twice is the single-URL case; the grants would revoke the owner's own rights.
                if db::current_role(&mut owner).await? != role {
                    db::grant_service_role(&mut owner, &role)
                        .await
                        .with_context(|| {
                            format!("granting the service role {role} its privileges")
                        })?;
                }
                let _ = owner.close().await;
            }
            None => {
                if db::needs_migration(&mut conn).await? {
                    db::MIGRATOR.run(&mut *conn).await.context(
                        "applying migrations (as the DATABASE_URL role; when it does not own the tables, \
                         give the owner's URL as --migrate-database-url)",
                    )?;
                }
            }
        }
        if db::can_alter_audit_trail(&mut conn).await? {
            tracing::warn!(
                %role,
                "the service's database role can change the audit trail; give --migrate-database-url \
                 for the tables' owner and a DATABASE_URL role that owns nothing"
            );
        }
        drop(conn);
        let read_pool = match &config.read_database_url {
            Some(url) => {
                let options = db::options_from_url(url)
                    .context("--read-database-url is not a valid postgres URL")?;
                Some(
                    db::pool(options, config.db_max_connections)
                        .await
                        .context("connecting to the read database")?,
                )
            }
            None => None,
        };
        Ok((pool, read_pool))
    }

    /// Closes the pool and stops the private cluster, if this process started it.
    pub async fn close(self) {
        self.pool.close().await;
        if let Some(read_pool) = &self.read_pool {
            read_pool.close().await;
        }
        if let Some(cluster) = self.cluster
            && let Err(err) = cluster.stop().await
        {
            tracing::warn!(error = %err, "stopping postgres");
        }
    }
}

/// Every commit waits for a synchronous standby, the migrations and the seed included: a start that hangs
/// must say why.
async fn warn_when_standby_missing(conn: &mut PgConnection, standby: &str) {
    let connected: Result<bool, _> = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_replication WHERE application_name = $1)",
    )
    .bind(standby)
    .fetch_one(conn)
    .await;
    if !matches!(connected, Ok(true)) {
        tracing::warn!(
            standby,
            "the synchronous standby is not connected: every write waits until it is (start it, or \
             restart without --synchronous-standby)"
        );
    }
}

/// The private cluster of `config`: its folder, binaries and user, and what the operator configured for it.
pub fn cluster_options(config: &Config) -> (ClusterOptions, ClusterSettings) {
    (
        ClusterOptions {
            dir: config.data_dir().join("postgres"),
            bin_dir: config.pg_bin_dir.clone(),
            run_as: config.pg_user.clone(),
            durable: true,
        },
        ClusterSettings {
            wal_archive_dir: config.wal_archive_dir.clone(),
            synchronous_standby: config.synchronous_standby.clone(),
            ..ClusterSettings::default()
        },
    )
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub max_message_size: usize,
    /// Keys of petitioners' personal data.
    pub keys: Arc<PiiKeys>,
    pub collective_threshold: u32,
    pub large_scale_threshold: u32,
    /// Holiday calendar and deadline rules of the matter workflow.
    pub workflow: Arc<Workflow>,
    pub relief_cap_per_year: rust_decimal::Decimal,
    /// Per-principal request limits.
    pub limits: crate::auth::limits::Limits,
    /// Where the read-heavy metrics queries go (a read replica); `None`: the main pool.
    pub read_pool: Option<PgPool>,
}

impl ServeOptions {
    pub fn new(config: &Config, keys: PiiKeys) -> anyhow::Result<Self> {
        Ok(Self {
            max_message_size: config.max_message_size,
            keys: Arc::new(keys),
            collective_threshold: config.collective_threshold,
            large_scale_threshold: config.large_scale_threshold,
            workflow: Arc::new(load_workflow(
                config.holiday_calendar.as_deref(),
                config.deadline_rules.as_deref(),
            )?),
            relief_cap_per_year: xinfang_proto::money::positive_amount(
                "relief-cap-per-year",
                &config.relief_cap_per_year,
            )
            .map_err(|v| anyhow::anyhow!("--{v}"))?,
            limits: crate::auth::limits::Limits {
                max_in_flight: config
                    .max_in_flight_per_principal
                    .unwrap_or(Limits::fair_share(config.db_max_connections))
                    .max(1),
                rate_per_second: config.rate_per_principal.max(0.1),
                queue_wait: std::time::Duration::from_millis(config.fair_share_wait_ms),
            },
            read_pool: None,
        })
    }
}

/// The workflow rules with the configured holiday calendar; warns when the calendar does not cover this year
/// and the next, since deadlines would then ignore their holidays.
fn load_workflow(calendar: Option<&Path>, rules: Option<&str>) -> anyhow::Result<Workflow> {
    let workflow = match calendar {
        None => Workflow::china().context("loading the built-in holiday calendar")?,
        Some(path) => {
            let text = fs::read_to_string(path)
                .with_context(|| format!("reading holiday calendar {}", path.display()))?;
            let calendar = crate::cases::calendar::HolidayCalendar::from_csv(&text)
                .with_context(|| format!("holiday calendar {}", path.display()))?;
            Workflow::with_calendar(calendar)
        }
    };
    let workflow = match rules {
        Some(json) => workflow
            .with_rules_json(json)
            .context("--deadline-rules is not a JSON object of day counts")?,
        None => workflow,
    };
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    for year in [this_year, this_year + 1] {
        if !workflow.calendar.covers(year) {
            tracing::warn!(
                year,
                "holiday calendar has no data for this year; deadlines skip only weekends"
            );
        }
    }
    Ok(workflow)
}

/// Serves every service on `listener` until `shutdown` resolves, then stops accepting connections and
/// waits for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    pool: PgPool,
    options: ServeOptions,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    for name in xinfang_proto::SERVICE_NAMES.iter().chain(&[""]) {
        health
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(xinfang_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    // grpcurl and older tools still ask v1alpha.
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(xinfang_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let county_code = {
        let mut conn = pool.acquire().await?;
        org_store::county_code(&mut conn)
            .await?
            .context("no county org unit: the database was not seeded")?
    };
    let funds = FundConfig {
        county_code: county_code.clone(),
        relief_cap_per_year: options.relief_cap_per_year,
    };
    let intake = IntakeConfig {
        county_code,
        collective_threshold: options.collective_threshold,
        large_scale_threshold: options.large_scale_threshold,
        workflow: options.workflow.clone(),
    };
    let limit = options.max_message_size;
    // Sync applies pushed operations through the same service objects that serve them online.
    let visits = Arc::new(IntakeApi::new(pool.clone(), options.keys.clone(), intake));
    let cases = Arc::new(CaseApi::new(pool.clone(), options.workflow.clone()));
    macro_rules! service {
        ($server:ident :: $ctor:ident, $api:expr) => {
            $server::$ctor($api)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit)
        };
        ($server:ident, $api:expr) => {
            service!($server::new, $api)
        };
    }

    let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sealer = crate::audit::spawn_sealer(pool.clone());
    let key_watcher = tokio::spawn(watch_keys(pool.clone(), options.keys.clone()));
    let watchdog = tokio::spawn(watch_database(
        pool.clone(),
        options.read_pool.clone(),
        health.clone(),
        draining.clone(),
    ));
    let drain = {
        let health = health.clone();
        async move {
            shutdown.await;
            draining.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!("shutting down: draining requests");
            for name in xinfang_proto::SERVICE_NAMES.iter().chain(&[""]) {
                health
                    .set_service_status(*name, ServingStatus::NotServing)
                    .await;
            }
        }
    };

    let addr = listener.local_addr()?;
    tracing::info!(%addr, tls = tls.is_some(), "serving");
    let router = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(AuthLayer::new(pool.clone(), options.limits))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service!(OrgServiceServer, OrgApi::new(pool.clone())))
        .add_service(service!(VisitServiceServer::from_arc, visits.clone()))
        .add_service(service!(CaseServiceServer::from_arc, cases.clone()))
        .add_service(service!(
            FundServiceServer,
            FundApi::new(pool.clone(), funds)
        ))
        .add_service(service!(
            MetricsServiceServer,
            MetricsApi::new(pool.clone())
                .with_read_pool(options.read_pool.clone().unwrap_or_else(|| pool.clone()))
        ))
        .add_service(service!(
            SyncServiceServer::new,
            SyncApi::new(pool.clone(), visits, cases)
        ));
    let served = match tls {
        Some(tls) => {
            tls::reload_on_sighup(tls.clone());
            router
                .serve_with_incoming_shutdown(tls.incoming(listener), drain)
                .await
        }
        None => {
            router
                // Without TCP_NODELAY the last small frame of each response waits ~40 ms for the
                // client's delayed ACK.
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    drain,
                )
                .await
        }
    };
    watchdog.abort();
    sealer.abort();
    key_watcher.abort();
    served?;
    Ok(())
}

/// How often health checks the database.
const DATABASE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Health follows the database: NOT_SERVING while it cannot be reached (requests then fail with UNAVAILABLE),
/// SERVING again once it answers, without a restart. A read replica that cannot be reached takes only
/// `MetricsService` out: every replica of the service shares it, so taking whole instances out of a balancer
/// would not help, and the other services do not use it. Draining wins over all.
async fn watch_database(
    pool: PgPool,
    read_pool: Option<PgPool>,
    health: tonic_health::server::HealthReporter,
    draining: Arc<std::sync::atomic::AtomicBool>,
) {
    let metrics_service = <MetricsServiceServer<MetricsApi> as tonic::server::NamedService>::NAME;
    // (main, read replica) reachable.
    let mut serving = (true, true);
    loop {
        tokio::time::sleep(DATABASE_CHECK_INTERVAL).await;
        let reachable = is_reachable(&pool).await;
        let read_reachable = match &read_pool {
            Some(read_pool) => is_reachable(read_pool).await,
            None => reachable,
        };
        if draining.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        metrics::gauge!("xinfang_db_pool_connections").set(f64::from(pool.size()));
        metrics::gauge!("xinfang_db_pool_idle").set(pool.num_idle() as f64);
        metrics::gauge!("xinfang_db_reachable").set(if reachable { 1.0 } else { 0.0 });
        if let Some(read_pool) = &read_pool {
            metrics::gauge!("xinfang_db_read_pool_connections").set(f64::from(read_pool.size()));
            metrics::gauge!("xinfang_db_read_reachable").set(if read_reachable {
                1.0
            } else {
                0.0
            });
        }
        if (reachable, read_reachable) == serving {
            continue;
        }
        if reachable != serving.0 {
            if reachable {
                tracing::info!("database reachable again");
            } else {
                tracing::warn!("database unreachable");
            }
        }
        if read_pool.is_some() && read_reachable != serving.1 {
            if read_reachable {
                tracing::info!("read database reachable again");
            } else {
                tracing::warn!("read database unreachable");
            }
        }
        serving = (reachable, read_reachable);
        for name in xinfang_proto::SERVICE_NAMES.iter().chain(&[""]) {
            let up = reachable && (*name != metrics_service || read_reachable);
            let status = if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(*name, status).await;
        }
    }
}

/// How often the service looks for a key rotation (`keys rotate` waits a few of these before it seals
/// anything with the new key).
pub const KEY_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Follows key rotations: when the database lists a sealing key this process does not have, or no longer
/// lists one it has, the key file is read again (`PiiKeys::reload`). A rotation writes the file before it
/// tells the database, so the new key is there to be found.
async fn watch_keys(pool: PgPool, keys: Arc<PiiKeys>) {
    if keys.file().is_none() {
        return;
    }
    let mut seen: Vec<String> = Vec::new();
    loop {
        tokio::time::sleep(KEY_CHECK_INTERVAL).await;
        let listed = match pool.acquire().await {
            Ok(mut conn) => match crate::pii::store::key_ids(&mut conn).await {
                Ok(ids) => ids,
                Err(_) => continue,
            },
            Err(_) => continue,
        };
        if listed == seen {
            continue;
        }
        let ring = keys.ring();
        let newest = listed.last().map(String::as_str);
        let behind = listed.iter().any(|id| !ring.has(id)) || newest != Some(ring.current_id());
        if behind && let Err(err) = keys.reload() {
            tracing::error!(error = %err, "a key rotation began but the key file cannot be read");
            continue;
        }
        seen = listed;
    }
}

async fn is_reachable(pool: &PgPool) -> bool {
    tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(pool),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

/// Seeds the database and, when an administrator was just created, hands its token to the operator in
/// `<data-dir>/admin-token` (mode 0600). The output only names the file: under systemd stdout goes to the
/// journal, which keeps it for as long as its retention says and shows it to anyone in `adm`.
pub async fn prepare(pool: &PgPool, data_dir: &Path, keys: &PiiKeys) -> anyhow::Result<()> {
    check_data_key(pool, keys).await?;
    let Some(token) = seed::run(pool).await? else {
        return Ok(());
    };
    let path = data_dir.join("admin-token");
    write_secret(&path, &token).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "created the administrator; its token is in {} (mode 0600)",
        path.display()
    );
    Ok(())
}

/// The database remembers the fingerprint of the match key and the ids of the sealing keys its personal data
/// was sealed with; a service started with another key file refuses to run instead of writing records that
/// nobody can read together (`pii::check_database`).
pub async fn check_data_key(pool: &PgPool, keys: &PiiKeys) -> anyhow::Result<()> {
    crate::pii::check_database(pool, keys).await
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its old mode under open(); make sure.
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    writeln!(file, "{secret}")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The whole service: database, seed, serve until a signal, drain, stop the database.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let data_dir = config.data_dir();
    fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let tls = match config.tls_files() {
        Some(files) => Some(Tls::load(files)?),
        None if tls::is_loopback(&config.listen) || config.allow_plaintext => None,
        None => anyhow::bail!(
            "refusing to serve plain TCP on {}: give --tls-cert and --tls-key, or --allow-plaintext \
             behind a proxy that terminates TLS",
            config.listen
        ),
    };
    if let Some(addr) = config.metrics_listen {
        crate::telemetry::serve_metrics(addr)?;
    }
    let keys = PiiKeys::load_or_create(&config.data_key_file())?;
    let database = Database::open(&config).await?;
    let result = async {
        prepare(&database.pool, &data_dir, &keys).await?;
        serve(
            listener,
            database.pool.clone(),
            ServeOptions {
                read_pool: database.read_pool.clone(),
                ..ServeOptions::new(&config, keys)?
            },
            tls,
            shutdown_signal(),
        )
        .await
    }
    .await;
    database.close().await;
    tracing::info!("stopped");
    result
}
