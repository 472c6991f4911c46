//! Budgets, fund requests and their approval chain.

pub mod service;

pub use service::FundApi;
