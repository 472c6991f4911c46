//! `standby run` and `standby promote`: a hot standby of another data directory's private cluster on the
//! same machine (another disk), streaming over the primary's unix socket. It serves the metrics queries
//! (`--read-database-url`) and takes over when the primary is lost: promote it, then start the service on its
//! data directory. Which commit settings make that lose nothing is in docs/operations.md.

use std::path::Path;

use anyhow::Context;
use sqlx::{Connection, PgConnection};

use crate::{
    cluster::{self, Cluster, ClusterSettings},
    config::Config,
    startup,
};

/// Creates the standby when this data directory holds no cluster, then runs it until SIGTERM or Ctrl-C.
pub async fn run(config: &Config, primary_data_dir: &Path, name: &str) -> anyhow::Result<()> {
    if config.database_url.is_some() {
        anyhow::bail!(
            "standby follows a private cluster; with DATABASE_URL, set up replication on that PostgreSQL"
        );
    }
    cluster::standby_name(name)?;
    let mut primary_config = config.clone();
    primary_config.data_dir = Some(primary_data_dir.to_owned());
    primary_config.data_key_file = None;
    let (primary_options, _) = startup::cluster_options(&primary_config);
    let (options, mut settings) = startup::cluster_options(config);
    // A standby waits for no one; the setting is for the primary (and for this one only once promoted, when
    // the service is started on it with its own flags).
    settings.synchronous_standby = None;
    if !options.dir.join("data/PG_VERSION").exists() {
        anyhow::ensure!(
            primary_options.dir.join("data/PG_VERSION").exists(),
            "{} holds no cluster to follow",
            primary_options.dir.display()
        );
        // Attaches to the primary's running cluster (or starts it for the copy).
        let primary = Cluster::start_with(&primary_options, &ClusterSettings::default()).await?;
        // The standby is made by, and then runs as, the primary's user: the only one allowed to open the
        // primary's socket.
        let created = cluster::create_standby(&options, &primary, name);
        if let Err(err) = primary.stop().await {
            tracing::warn!(error = %err, "stopping the primary's postgres");
        }
        created?;
        // After a failover the service starts on this data directory and needs the same key.
        let key = primary_config.data_key_file();
        let own_key = config.data_key_file();
        if key.exists() && !own_key.exists() {
            std::fs::copy(&key, &own_key)
                .with_context(|| format!("copying {} to {}", key.display(), own_key.display()))?;
        }
    }
    let mut standby = Cluster::start_with(&options, &settings).await?;
    tracing::info!(
        name,
        primary = %primary_options.dir.display(),
        data = %standby.data_dir().display(),
        "standby running"
    );
    let ended = tokio::select! {
        () = startup::shutdown_signal() => None,
        status = standby.wait_exit() => Some(status),
    };
    if let Some(status) = ended {
        anyhow::bail!("the standby's postgres exited: {status}");
    }
    standby.stop().await?;
    Ok(())
}

/// Promotes the standby of this data directory (running, or started here for the purpose).
pub async fn promote(config: &Config) -> anyhow::Result<()> {
    let (options, mut settings) = startup::cluster_options(config);
    settings.synchronous_standby = None;
    anyhow::ensure!(
        options.dir.join("data/standby.signal").exists(),
        "{} is not a standby",
        options.dir.join("data").display()
    );
    let cluster = Cluster::start_with(&options, &settings).await?;
    let promoted = async {
        let mut conn = PgConnection::connect_with(&cluster.connect_options("postgres")).await?;
        let promoted: bool = sqlx::query_scalar("SELECT pg_promote(true, 60)")
            .fetch_one(&mut conn)
            .await?;
        let _ = conn.close().await;
        anyhow::Ok(promoted)
    }
    .await;
    if let Err(err) = cluster.stop().await {
        tracing::warn!(error = %err, "stopping postgres");
    }
    anyhow::ensure!(
        promoted?,
        "the standby did not finish promotion within 60 s"
    );
    Ok(())
}
