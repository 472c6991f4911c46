//! End-to-end tests: one binary (one private cluster), one database and one server per test.

mod access;
mod audit;
mod auth;
mod cases;
mod client;
mod client_day;
mod db_roles;
mod edges;
mod fixture;
mod funds;
mod health;
mod hostile;
mod idempotency;
mod intake;
mod intake_edges;
mod launcher;
mod limits;
mod metrics;
mod org;
mod outage;
mod races;
mod read_replica;
mod side_doors;
mod sync;
mod tls;
mod xf_metrics;
