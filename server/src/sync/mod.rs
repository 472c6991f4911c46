//! Offline clients: push and pull.

pub mod service;

pub use service::SyncApi;
