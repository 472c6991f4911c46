//! Indicators, statistics, targets, budget execution and the self-evaluation report.

pub mod model;
pub mod report;
pub mod service;
pub mod store;

pub use service::MetricsApi;
