//! The indicators, statistics, targets, budget execution and annual self-evaluation report of
//! `MetricsService`, read online (they are computed by the server from every record, not from a laptop's
//! copy) and shaped into [`Table`](crate::export::Table)s for the terminal, CSV, JSON and XLSX.
//!
//! Every function here is what an `xf metrics …` or `xf report` command runs, so that the tests check what
//! the county office gets:
//!
//! - [`periods`]: the months asked for;
//! - [`read`]: the RPCs;
//! - [`monthly`]: visits by level for each month;
//! - [`tables`]: the answers as tables;
//! - [`visits_view`]: visit statistics as the terminal shows them, in Chinese;
//! - [`chart`]: the bar chart of visits by level and month;
//! - [`report`]: `xf report`, the report and its files.

pub mod chart;
pub mod monthly;
pub mod periods;
pub mod read;
pub mod report;
pub mod tables;
pub mod visits_view;

pub use monthly::{LEVELS, MonthVisits, MonthlyVisits, monthly_visits};
pub use periods::{month_key, parse_year_month, period, period_label, year_period};
pub use read::{MetricsError, budget, channels, indicators, targets, visits};
pub use report::{ReportOptions, ReportOutput, report, report_tables};
pub use tables::*;
pub use visits_view::visits_view;

#[cfg(test)]
mod tests;
