//! The subcommands of `xf`, one file each with its clap flags and its `run`; `common` holds what they share
//! (asking at the terminal, the profile's account, printing).

pub mod access;
pub mod budget;
pub mod case;
pub mod case_office;
pub mod cases;
pub mod cases_view;
pub mod checks;
pub mod common;
pub mod completions;
pub mod detach;
pub mod fund;
pub mod letter;
pub mod login;
pub mod metrics;
pub mod online;
pub mod org;
pub mod outbox;
pub mod registration;
pub mod report;
pub mod sync;
pub mod target;
pub mod trip;
pub mod visit;
