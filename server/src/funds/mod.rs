//! The special fund: budgets, fund requests and their approval chain, disbursement without overspending.
//!
//! The rooms of every domain (docs/architecture.md): `model` (the chain's rules, pure), `store` (SQL),
//! `commands` (one function per method, deciding scope and the separation of duties), `service` (tonic), and
//! `input`, what a well-formed fund message is.

pub mod commands;
pub mod input;
pub mod model;
pub mod service;
pub mod store;

pub use commands::FundConfig;
pub use service::FundApi;
