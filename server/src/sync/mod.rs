//! Offline clients: push outbox operations, pull the change feed of their scope.

pub mod service;
pub mod store;

pub use service::SyncApi;
