//! Indicators, statistics, targets, budget execution and the self-evaluation report (docs/indicators.md).
//!
//! - [`indicators`]: the table of indicators, the one place an indicator is defined;
//! - [`model`]: the arithmetic (rounding, changes, completion, scores, checks) as pure functions;
//! - [`period`]: a period of whole months and the periods it is compared with;
//! - [`store`]: the SQL, the indicators' statements made from the table;
//! - [`figures`], [`trends`], [`targets`], [`budget`], [`report`]: what the answers are made of, shared by
//!   the RPCs and the report;
//! - [`commands`]: one function per RPC, deciding who reads or sets what;
//! - [`input`]: what a well-formed request is;
//! - [`service`]: the tonic adapter.

pub mod budget;
pub mod commands;
pub mod figures;
pub mod indicators;
pub mod input;
pub mod model;
pub mod period;
pub mod report;
pub mod service;
pub mod store;
pub mod targets;
pub mod trends;

pub use service::MetricsApi;
