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
        LogFormat::Human => registry
            .with(fmt::layer().with_writer(std::io::stderr))
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
