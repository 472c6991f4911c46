//! Intake: visits, letters and persuade-and-return trips.

pub mod service;

pub use service::VisitApi;
