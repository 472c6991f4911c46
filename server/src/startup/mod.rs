//! Building and running the service: the database ([`database`]: given, or a private cluster; migrations
//! and seed data) and the gRPC server ([`serving`]: health, reflection, the six services, a graceful
//! shutdown). `run` is `xinfang-server serve`; the tests start the same `serving::serve`.

mod database;
mod serving;

pub use database::*;
pub use serving::*;

use std::fs;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::{
    config::Config,
    pii::PiiKeys,
    tls::{self, Tls},
};

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
