//! Petition matters and their lifecycle.

pub mod calendar;
pub mod model;
pub mod service;

pub use service::CaseApi;
