//! End-to-end tests: one binary (one private cluster), one database and one server per test.

mod access;
mod auth;
mod cases;
mod funds;
mod health;
mod idempotency;
mod intake;
mod launcher;
mod metrics;
mod org;
mod sync;
mod tls;
