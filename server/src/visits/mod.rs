//! Intake: visits, letters and persuade-and-return trips, and the petitioners' personal data.

pub mod model;
pub mod service;
pub mod store;

pub use service::{IntakeConfig, VisitApi};
