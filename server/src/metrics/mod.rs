//! Indicators, statistics and the self-evaluation report.

pub mod service;

pub use service::MetricsApi;
