//! The county's organisation: county, petition office, townships and departments. The rooms of every domain
//! (docs/architecture.md): `model` (kinds and the rules of the tree), `store` (SQL), `commands` (one function
//! per method) and `service` (tonic).

pub mod commands;
pub mod model;
pub mod service;
pub mod store;

pub use service::OrgApi;
