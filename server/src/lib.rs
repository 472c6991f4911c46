//! xinfang server: the county petition bureau's gRPC service over PostgreSQL.
//!
//! Cut by domain (`org`, `visits`, `cases`, `funds`, `metrics`, `sync`, `auth`), each with `service.rs` (the
//! tonic trait: decode, validate, authorize, map errors), `store.rs` (SQL only) and `model.rs` (domain types
//! and pure rules). [`error`] is the one place where errors become gRPC statuses.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod cases;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod db;
pub mod dictionary;
pub mod error;
pub mod funds;
pub mod idempotency;
pub mod intake;
pub mod kernel;
pub mod metrics;
pub mod org;
pub mod paging;
pub mod people;
pub mod pii;
pub mod scope;
pub mod seed;
pub mod session;
pub mod standby;
pub mod startup;
pub mod sync;
pub mod telemetry;
pub mod tls;
pub mod web;
