//! The table of indicators ([`table`]): one row per indicator says what it is called, what it counts and where the
//! counts come from, which way is better, and where it is used (targets, 两降两升, the report's tables and
//! score). Everything that computes or lists indicators reads [`INDICATORS`]:
//!
//! - the SQL: `store::indicator_statements` makes one statement per [`Source`] from the rows' terms;
//! - the API: `GetIndicators` returns every row in `Indicators.values` (and fills the older named fields);
//! - the targets and 两降两升 a caller may set are the rows that allow them;
//! - the report's table of rates, its checks and its effects and satisfaction scores iterate the rows;
//! - `xf metrics indicators` lists `Indicators.values`, so it shows a new row without a change of its own.
//!
//! Adding an indicator is a row of `table.rs`, and a migration when its counts need a rollup (or a rollup
//! column) that does not exist yet: docs/indicators.md, "Adding an indicator". This file holds what a row
//! is made of and how the code finds one.

use xinfang_proto::v1::TrendDirection;

mod table;

pub use table::*;

/// Which clock a timeliness rate counts. Each is stored on the case by the workflow at every step (its due
/// date and its outcome: open, on time, late; `cases::model::Outcome`), so that the indicators, the rollups
/// and the drill-through only count what the workflow decided (docs/deadlines.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// The petition office's: registration + 15 days, met by the first assignment (or a refusal at
    /// registration). Counted for the case's problem place (问题属地).
    Assign,
    /// The current assignment's: its receipt + 15 days, met by accepting or declining (an objection does not
    /// meet it). Counted for the responsible unit.
    Accept,
    /// The current assignment's conclusion, for cases with a statutory period: met by the reply, a 交办 by
    /// the office's confirmation of its completion report. Counted for the responsible unit.
    Conclude,
}

impl Deadline {
    /// The `deadline` column of `case_deadline_days`.
    pub fn rollup_key(self) -> i16 {
        match self {
            Deadline::Assign => 1,
            Deadline::Accept => 2,
            Deadline::Conclude => 3,
        }
    }

    /// The rows of `case_deadline_days` that count this clock.
    pub fn source(self) -> &'static Source {
        match self {
            Deadline::Assign => &ASSIGN_CLOCK,
            Deadline::Accept => &ACCEPT_CLOCK,
            Deadline::Conclude => &CONCLUDE_CLOCK,
        }
    }
}

/// The column a period narrows a source by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dated {
    /// A date (a month's first day, or a due date): the period's first day to the day after its last.
    Days(&'static str),
    /// An instant: the period's first midnight to the midnight after it, in the bureau's calendar.
    Instants(&'static str),
}

/// Where counts come from: a rollup the triggers keep in the writing transaction (migration `…_rollups.sql`,
/// docs/performance.md, "Indicators: met, by rollups"), or for the one figure counted from the records, the
/// cases under the condition of their partial index. A new rollup is a migration and a `Source` here.
#[derive(Debug, PartialEq, Eq)]
pub struct Source {
    /// What the statement is called where its plan is shown (`xinfang-load`'s EXPLAIN).
    pub name: &'static str,
    pub table: &'static str,
    pub period: Dated,
    /// The org-unit column a scope narrows it by.
    pub org: &'static str,
    /// What every counted row meets besides the period and the org (SQL, "" for nothing); `{today}` is the
    /// day of the request in the bureau's calendar.
    pub rows: &'static str,
}

/// An option of `GetIndicatorsRequest` a term counts under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// `include_pending`: cases pending and not yet due.
    Pending,
    /// `basically_satisfied_counts`: "basically satisfied" as satisfied.
    BasicallySatisfied,
}

/// One part of a numerator or denominator: what a source's rows add up to over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub source: &'static Source,
    /// What is added up, an SQL expression of the source's columns ("1" counts rows).
    pub sum: &'static str,
    /// Which rows (SQL, "" for all); `{cutoff}` is the day an open clock counts as missed from: the period's
    /// end, or today for a period still running.
    pub rows: &'static str,
    /// Added up to the end of the period rather than within it: a stock, such as the backlog listed by then.
    pub by_end: bool,
    /// Counted only when the request asks for it.
    pub only_if: Option<Ask>,
}

/// `expression` added up over the rows of `source` in the period.
pub const fn sum(source: &'static Source, expression: &'static str) -> Term {
    Term {
        source,
        sum: expression,
        rows: "",
        by_end: false,
        only_if: None,
    }
}

impl Term {
    /// Only the rows that meet `condition`.
    pub const fn rows(self, condition: &'static str) -> Term {
        Term {
            rows: condition,
            ..self
        }
    }

    /// Up to the end of the period, from the first row on.
    pub const fn by_end(self) -> Term {
        Term {
            by_end: true,
            ..self
        }
    }

    /// Only when the request asks for `ask`.
    pub const fn only_if(self, ask: Ask) -> Term {
        Term {
            only_if: Some(ask),
            ..self
        }
    }
}

/// What an indicator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A rate of a clock the workflow stores on each case; its drill-through lists the cases
    /// (`include_ids`).
    Clock(Deadline),
    /// A rate of two counts.
    Rate,
    /// A count.
    Count,
}

/// The 二级指标 an output target (产出指标) scores under in the report's score table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// 数量指标.
    Quantity,
    /// 时效指标.
    Timeliness,
    /// 质量指标.
    Quality,
}

/// The part of the self-evaluation a rate shares the points of, each rate with a base scoring an equal share
/// × min(rate, 1) (docs/indicators.md, "The score table").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// 效益指标 (社会效益指标), 30 points.
    Effects,
    /// 满意度指标 (服务对象满意度指标), 10 points.
    Satisfaction,
}

/// One indicator.
#[derive(Debug, Clone, Copy)]
pub struct Indicator {
    /// The key the API, targets and 两降两升 name it by.
    pub key: &'static str,
    /// Its Chinese name, as the report prints it and `xf` shows it.
    pub name: &'static str,
    pub kind: Kind,
    /// A rate's numerator, a count's count: the terms added up.
    pub numerator: &'static [Term],
    /// A rate's denominator; empty for a count.
    pub denominator: &'static [Term],
    /// Which cases or registrations a period counts, in words (the terms say it in SQL).
    pub counts: &'static str,
    /// Which way is better: the direction 两降两升 gives it by default.
    pub better: TrendDirection,
    /// What a count is counted in (件, 批, 人次); "%" for a rate.
    pub unit: &'static str,
    /// Whether a target (绩效目标) may name it, and the 二级指标 the target scores under.
    pub target: Option<Output>,
    /// The key a target names it by when not [`Indicator::key`] (targets named visits so before 两降两升).
    pub target_key: &'static str,
    /// Whether 两降两升 may name it.
    pub trend: bool,
    /// Listed in the report's table of rates, with 环比 and 同比; an empty base is a finding.
    pub in_report: bool,
    /// The part of the self-evaluation it scores in.
    pub score: Option<Part>,
}

impl Indicator {
    pub fn is_rate(&self) -> bool {
        self.kind != Kind::Count
    }

    /// The key a target names it by, when a target may.
    pub fn target_key(&self) -> Option<&'static str> {
        self.target.map(|_| {
            if self.target_key.is_empty() {
                self.key
            } else {
                self.target_key
            }
        })
    }

    /// Whether a term counts only when the request asks for `ask`.
    pub fn asks(&self, ask: Ask) -> bool {
        self.numerator
            .iter()
            .chain(self.denominator)
            .any(|t| t.only_if == Some(ask))
    }
}

/// The position of `key` in [`INDICATORS`]. A key the code names must be in the table: a debug build stops
/// at a misspelt one.
pub fn position(key: &str) -> Option<usize> {
    let found = INDICATORS.iter().position(|i| i.key == key);
    debug_assert!(found.is_some(), "{key} is not in the table of indicators");
    found
}

/// The indicator a target names, by its target key.
pub fn target(key: &str) -> Option<(usize, &'static Indicator)> {
    INDICATORS
        .iter()
        .enumerate()
        .find(|(_, i)| i.target_key() == Some(key))
}

/// The keys a target may name, in the table's order.
pub fn target_keys() -> Vec<&'static str> {
    INDICATORS
        .iter()
        .filter_map(Indicator::target_key)
        .collect()
}

/// The indicator 两降两升 names by `key`.
pub fn trend(key: &str) -> Option<(usize, &'static Indicator)> {
    INDICATORS
        .iter()
        .enumerate()
        .find(|(_, i)| i.trend && i.key == key)
}

/// The keys 两降两升 may name, in the table's order.
pub fn trend_keys() -> Vec<&'static str> {
    INDICATORS
        .iter()
        .filter(|i| i.trend)
        .map(|i| i.key)
        .collect()
}

/// The Chinese name of a 两降两升 indicator and whether it is a rate; `None` for one it may not name.
pub fn trend_indicator(key: &str) -> Option<(&'static str, bool)> {
    trend(key).map(|(_, i)| (i.name, i.is_rate()))
}

#[cfg(test)]
mod tests;
