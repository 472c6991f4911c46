//! Serving: the gRPC server with health, reflection and the six services behind the authentication layer,
//! gRPC-Web and the workbench's files on the same address,
//! health that follows the database, key rotations followed, and a graceful shutdown.

use std::{fs, path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use xinfang_proto::v1::{
    case_service_server::CaseServiceServer, dictionary_service_server::DictionaryServiceServer,
    fund_service_server::FundServiceServer, metrics_service_server::MetricsServiceServer,
    org_service_server::OrgServiceServer, session_service_server::SessionServiceServer,
    sync_service_server::SyncServiceServer, visit_service_server::VisitServiceServer,
};

use crate::{
    auth::limits::Limits,
    auth::{AuthLayer, SessionPolicy},
    cases::{CaseApi, model::Workflow},
    config::Config,
    dictionary::DictionaryApi,
    funds::{FundApi, FundConfig},
    intake::{IntakeApi, IntakeConfig},
    metrics::MetricsApi,
    org::{OrgApi, store as org_store},
    pii::PiiKeys,
    session::SessionApi,
    sync::SyncApi,
    tls::{self, Tls},
    web::WebLayer,
};

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub max_message_size: usize,
    /// Keys of petitioners' personal data.
    pub keys: Arc<PiiKeys>,
    pub collective_threshold: u32,
    pub large_scale_threshold: u32,
    /// Holiday calendar and deadline rules of the case workflow.
    pub workflow: Arc<Workflow>,
    pub relief_cap_per_year: rust_decimal::Decimal,
    /// Per-principal request limits.
    pub limits: crate::auth::limits::Limits,
    /// Where the read-heavy metrics queries go (a read replica); `None`: the main pool.
    pub read_pool: Option<PgPool>,
    /// How long people's workbench sessions live.
    pub sessions: SessionPolicy,
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
                    .unwrap_or(Limits::fair_share(
                        config.db_max_connections,
                        Limits::cpus(),
                    ))
                    .max(1),
                numbered_in_flight: config.numbered_writes_per_principal.max(1),
                rate_per_second: config.rate_per_principal.max(0.1),
                queue_wait: std::time::Duration::from_millis(config.fair_share_wait_ms),
            },
            read_pool: None,
            sessions: SessionPolicy {
                idle: Duration::from_secs(config.session_idle_timeout_secs.max(1)),
                max_age: Duration::from_secs(config.session_max_age_secs.max(1)),
            },
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
    // For an alert that outlives the start-up warning: the next year's notice comes each November.
    metrics::gauge!("xinfang_holiday_calendar_last_year").set(f64::from(
        options.workflow.calendar.last_year().unwrap_or(0),
    ));
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
        // Browsers speak HTTP/1.1 to a plain-TCP address (and gRPC-Web needs nothing more); gRPC clients
        // still get HTTP/2 on the same port.
        .accept_http1(true)
        // Outermost: gRPC-Web becomes gRPC before authentication sees it, and requests for the
        // workbench's files never reach it (`crate::web`).
        .layer(WebLayer)
        .layer(AuthLayer::new(pool.clone(), options.limits).with_sessions(options.sessions))
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
        ))
        .add_service(service!(
            SessionServiceServer,
            SessionApi::new(pool.clone())
                .with_sessions(options.sessions)
                .with_max_in_flight(options.limits.max_in_flight)
        ))
        .add_service(service!(
            DictionaryServiceServer,
            DictionaryApi::new(pool.clone(), options.workflow.claims.clone())
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

pub use crate::pii::KEY_CHECK_INTERVAL;

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
