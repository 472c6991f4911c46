//! The service's database: given by `DATABASE_URL`, or a private cluster of its own; migrated, granted and
//! seeded, with the personal-data key checked against it.

use std::{fs, io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use anyhow::Context;
use sqlx::{Connection, PgConnection, PgPool};

use crate::{
    cluster::{Cluster, ClusterOptions, ClusterSettings, SERVICE_ROLE},
    config::Config,
    db,
    pii::PiiKeys,
    seed,
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
