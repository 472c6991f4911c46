//! Petition cases and their lifecycle.

pub mod calendar;
pub mod claims;
pub mod commands;
pub mod model;
pub mod service;
pub mod store;
pub mod view;

pub use service::CaseApi;
