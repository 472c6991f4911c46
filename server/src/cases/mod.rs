//! Petition matters and their lifecycle.

pub mod calendar;
pub mod claims;
pub mod model;
pub mod service;
pub mod store;

pub use service::CaseApi;
