//! Petition matters and their lifecycle.

pub mod calendar;
pub mod service;

pub use service::CaseApi;
