//! The special fund: budgets, fund requests and their approval chain, disbursement without overspending.

pub mod model;
pub mod service;
pub mod store;

pub use service::{FundApi, FundConfig};
