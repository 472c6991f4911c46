//! Petition matters and their lifecycle.

pub mod service;

pub use service::CaseApi;
