//! The lifecycle of a petition case as pure functions: `apply(record, action, facts)` gives the record after
//! a step or a typed refusal, and `deadlines(record, today)` the due dates and how each step stands.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use xinfang_proto::v1::{AssignmentMode, CaseState, ObjectionState};

use super::{
    calendar::{self, DeadlinePolicy, DeadlineRules, HolidayCalendar},
    claims::ClaimRules,
};
use crate::kernel::time::shanghai;

/// The stored state of a case, as the workflow sees it. Enum fields hold `xinfang.v1` values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRecord {
    #[serde(serialize_with = "ser_state")]
    pub state: CaseState,
    pub registered_at: DateTime<Utc>,
    pub responsible_org_code: Option<String>,
    pub assignment_mode: i32,
    pub handling_deadline: Option<NaiveDate>,
    pub first_assigned_at: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub declined_at: Option<DateTime<Utc>>,
    pub objected_at: Option<DateTime<Utc>>,
    pub decline_ground: i32,
    pub extension_days: i32,
    pub extension_approved_by: Option<String>,
    pub extension_reason: Option<String>,
    pub replied_at: Option<DateTime<Utc>>,
    pub reply_opinion: Option<String>,
    pub completion_report: Option<String>,
    /// Set when the reply published the opinion for the petitioner's evaluation: the window's last day,
    /// fixed then, so a later change of `evaluation_days` or of the holiday calendar does not move it and the
    /// indicators and the refusal agree.
    pub evaluation_due: Option<NaiveDate>,
    pub office_rating: i32,
    pub unit_rating: i32,
    pub evaluated_at: Option<DateTime<Utc>>,
    pub review_kind: i32,
    pub review_requested_at: Option<DateTime<Utc>>,
    pub review_decided_at: Option<DateTime<Utc>>,
    pub review_outcome: i32,
    /// Days of 听证 during the 复核 under way, not counted in its decision deadline, and the latest one's
    /// last day.
    pub hearing_days: i32,
    pub hearing_until: Option<NaiveDate>,
    pub supervised: bool,
    pub supervision_level: i32,
    pub supervision_method: i32,
    pub backlog_state: i32,
    pub backlog_leader: Option<String>,
    pub special_difficult: bool,
    pub backlog_resolution: i32,
    pub backlog_listed_at: Option<DateTime<Utc>>,
    pub backlog_resolved_at: Option<DateTime<Utc>>,
    /// `xinfang.v1.ClaimType` number and the regulation, fixed at registration: together they say whether
    /// the case has a statutory conclusion period ([`ClaimRules`]).
    pub claim_type: i32,
    pub regulation: String,
    /// The current assignment's objection (`xinfang.v1.ObjectionState`), raised at `objected_at`.
    pub objection_state: i32,
    pub objection_decided_at: Option<DateTime<Utc>>,
    /// The day the petitioner was told in writing of the extension (延期告知).
    pub extension_notified_on: Option<NaiveDate>,
    /// The latest 督办: when it began, the unit's written reply, and when the office closed it.
    pub supervised_at: Option<DateTime<Utc>>,
    pub supervision_replied_at: Option<DateTime<Utc>>,
    pub supervision_reply: Option<String>,
    pub supervision_closed_at: Option<DateTime<Utc>>,
    /// 交办 cases: when the office confirmed the completion report (审核认定办结).
    pub completion_confirmed_at: Option<DateTime<Utc>>,
}

/// The regulation new cases are handled under: the 2022 《信访工作条例》.
pub const CURRENT_REGULATION: &str = "2022";

fn ser_state<S: serde::Serializer>(state: &CaseState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state_to_db(*state))
}

impl CaseRecord {
    /// A case as intake opens it, claimed as `claim_type` (`xinfang.v1.ClaimType`), under the current
    /// regulation.
    pub fn registered(at: DateTime<Utc>, claim_type: i32) -> Self {
        Self {
            state: CaseState::Registered,
            registered_at: at,
            responsible_org_code: None,
            assignment_mode: 0,
            handling_deadline: None,
            first_assigned_at: None,
            assigned_at: None,
            accepted_at: None,
            declined_at: None,
            objected_at: None,
            decline_ground: 0,
            extension_days: 0,
            extension_approved_by: None,
            extension_reason: None,
            replied_at: None,
            reply_opinion: None,
            completion_report: None,
            evaluation_due: None,
            office_rating: 0,
            unit_rating: 0,
            evaluated_at: None,
            review_kind: 0,
            review_requested_at: None,
            review_decided_at: None,
            review_outcome: 0,
            hearing_days: 0,
            hearing_until: None,
            supervised: false,
            supervision_level: 0,
            supervision_method: 0,
            backlog_state: 0,
            backlog_leader: None,
            special_difficult: false,
            backlog_resolution: 0,
            backlog_listed_at: None,
            backlog_resolved_at: None,
            claim_type,
            regulation: CURRENT_REGULATION.to_owned(),
            objection_state: 0,
            objection_decided_at: None,
            extension_notified_on: None,
            supervised_at: None,
            supervision_replied_at: None,
            supervision_reply: None,
            supervision_closed_at: None,
            completion_confirmed_at: None,
        }
    }

    fn objection(&self) -> ObjectionState {
        ObjectionState::try_from(self.objection_state).unwrap_or_default()
    }

    /// A 交办 case, which files a completion report that the office confirms.
    fn is_jiaoban(&self) -> bool {
        self.assignment_mode == AssignmentMode::Assign as i32
    }
}

pub fn state_to_db(state: CaseState) -> &'static str {
    match state {
        CaseState::Unspecified => "",
        CaseState::Registered => "registered",
        CaseState::Assigned => "assigned",
        CaseState::Accepted => "accepted",
        CaseState::Declined => "declined",
        CaseState::Returned => "returned",
        CaseState::Replied => "replied",
        CaseState::Evaluated => "evaluated",
        CaseState::ReviewRequested => "review_requested",
        CaseState::Reviewed => "reviewed",
        CaseState::Final => "final",
    }
}

pub fn state_from_db(state: &str) -> CaseState {
    match state {
        "registered" => CaseState::Registered,
        "assigned" => CaseState::Assigned,
        "accepted" => CaseState::Accepted,
        "declined" => CaseState::Declined,
        "returned" => CaseState::Returned,
        "replied" => CaseState::Replied,
        "evaluated" => CaseState::Evaluated,
        "review_requested" => CaseState::ReviewRequested,
        "reviewed" => CaseState::Reviewed,
        "final" => CaseState::Final,
        _ => CaseState::Unspecified,
    }
}

pub use xinfang_proto::input::steps::Action;

mod apply;
mod deadlines;

pub use apply::apply;
pub use deadlines::{
    Clock, DeadlineSet, DeadlineStatus, Outcome, Schedule, conclude_due, deadlines,
    effective_state, has_statutory_conclusion, next_due, outcome_code, review_decision_due,
    schedule, timeliness_to_proto,
};

/// Why a step is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The state does not allow it: FAILED_PRECONDITION with this stable reason.
    #[error("{reason}: {message}")]
    State {
        reason: &'static str,
        message: String,
    },
    /// An input that this state makes wrong: INVALID_ARGUMENT on this field.
    #[error("{field}: {message}")]
    Input {
        field: &'static str,
        message: String,
    },
}

fn refuse(reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::State {
        reason,
        message: message.into(),
    }
}

/// What the workflow judges a step by: when it happened, and the rules of the calendar.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub at: DateTime<Utc>,
    pub calendar: &'a HolidayCalendar,
    pub rules: &'a DeadlineRules,
    pub policy: DeadlinePolicy,
    pub claims: &'a ClaimRules,
}

/// The deadline rules in force: the holiday calendar, the day counts, how a last day moves, and which
/// cases have a statutory conclusion period.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub calendar: HolidayCalendar,
    pub rules: DeadlineRules,
    pub policy: DeadlinePolicy,
    pub claims: ClaimRules,
}

/// The built-in claim-type table; it is compiled in and tested, so failing to read it is a bug.
fn builtin_claims() -> ClaimRules {
    ClaimRules::builtin().unwrap_or_else(|e| panic!("data/claim-types.csv: {e}"))
}

impl Workflow {
    /// China's holiday calendar shipped with xinfang and the default day counts.
    pub fn china() -> Result<Self, calendar::CalendarError> {
        Ok(Self::with_calendar(HolidayCalendar::default_china()?))
    }

    /// The default rules with another holiday calendar.
    pub fn with_calendar(calendar: HolidayCalendar) -> Self {
        Self {
            calendar,
            rules: DeadlineRules::default(),
            policy: DeadlinePolicy::default(),
            claims: builtin_claims(),
        }
    }

    /// Day counts from a JSON object (`{"conclude_days": 60, …}`; missing keys keep the defaults), for a
    /// regulation that changes them.
    pub fn with_rules_json(mut self, json: &str) -> Result<Self, serde_json::Error> {
        self.rules = serde_json::from_str(json)?;
        Ok(self)
    }

    pub fn facts(&self, at: DateTime<Utc>) -> Facts<'_> {
        Facts {
            at,
            calendar: &self.calendar,
            rules: &self.rules,
            policy: self.policy,
            claims: &self.claims,
        }
    }
}

/// The bureau's calendar date of an instant.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&shanghai()).date_naive()
}

#[cfg(test)]
mod tests;
