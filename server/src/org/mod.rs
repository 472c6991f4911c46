//! The county's organisation: county, petition office, townships and departments.

pub mod model;
pub mod service;
pub mod store;

pub use service::OrgApi;
