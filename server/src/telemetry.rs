//! Logging: `RUST_LOG` filter, human or JSON lines on stderr. Messages are short and lowercase, facts go in
//! fields, and personal data never goes in at all.

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,h2=warn,tower=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    // try_init: tests and embedders may have installed a subscriber already.
    let _ = match format {
        // Colour only for a person at a terminal: a journal or a redirected log file would keep the escape
        // codes as text.
        LogFormat::Human => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// Starts the Prometheus endpoint; the request layer and the database watchdog feed it.
pub fn serve_metrics(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| anyhow::anyhow!("starting the metrics endpoint on {addr}: {e}"))?;
    tracing::info!(%addr, "serving prometheus metrics");
    Ok(())
}

/// Records one finished request.
pub fn record_request(method: &str, code: tonic::Code, seconds: f64) {
    let method = method.rsplit('/').next().unwrap_or_default().to_owned();
    metrics::counter!("xinfang_requests_total", "method" => method.clone(), "code" => format!("{code:?}"))
        .increment(1);
    metrics::histogram!("xinfang_request_duration_seconds", "method" => method).record(seconds);
}
