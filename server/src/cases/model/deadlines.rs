//! The clocks of a case: its deadlines and how each step stands against them, and what every write
//! stores of them (docs/deadlines.md).

use chrono::{DateTime, NaiveDate, Utc};
use xinfang_proto::v1::{CaseState, Timeliness as ProtoTimeliness};

use super::{CaseRecord, Facts, calendar, local_date};
use crate::cases::calendar::Timeliness;

/// How a clock of a case stands, as stored for the indicators: the one definition of "done on time"
/// (docs/deadlines.md). The workflow decides it at every step; SQL only counts it. Whether an open clock is
/// overdue or still pending depends on the day it is asked about, so that stays a comparison of `due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Open = 0,
    OnTime = 1,
    Late = 2,
}

impl Outcome {
    /// Done by the due date (the due date itself counts), done after it, or not done.
    pub fn of(due: NaiveDate, done: Option<DateTime<Utc>>) -> Outcome {
        match done.map(local_date) {
            Some(d) if d <= due => Outcome::OnTime,
            Some(_) => Outcome::Late,
            None => Outcome::Open,
        }
    }
}

/// A clock the indicators count: its due date and how it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub due: NaiveDate,
    pub outcome: Outcome,
}

impl From<DeadlineStatus> for Clock {
    fn from(d: DeadlineStatus) -> Clock {
        Clock {
            due: d.due,
            outcome: Outcome::of(d.due, d.done_at),
        }
    }
}

/// What every write keeps on the case's row: the due date of the step it waits for (the overdue lists),
/// the three clocks the timeliness indicators count (the office's assignment; the current assignment's
/// acceptance and conclusion), and the 督办 reply's due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Schedule {
    pub next_due: Option<NaiveDate>,
    pub assign: Option<Clock>,
    pub accept: Option<Clock>,
    pub conclude: Option<Clock>,
    pub supervision_due: Option<NaiveDate>,
}

impl Schedule {
    pub fn assign_due(&self) -> Option<NaiveDate> {
        self.assign.map(|c| c.due)
    }
    pub fn accept_due(&self) -> Option<NaiveDate> {
        self.accept.map(|c| c.due)
    }
    pub fn conclude_due(&self) -> Option<NaiveDate> {
        self.conclude.map(|c| c.due)
    }
}

/// The stored outcome of a clock, `xinfang`'s own code (0 open, 1 on time, 2 late); 0 when there is none.
pub fn outcome_code(clock: Option<Clock>) -> i16 {
    clock.map_or(0, |c| c.outcome as i16)
}

pub fn schedule(record: &CaseRecord, facts: &Facts<'_>) -> Schedule {
    let set = deadlines(record, facts, local_date(facts.at));
    Schedule {
        next_due: next_due(record, facts),
        assign: set.assign.map(Clock::from),
        accept: set.accept.map(Clock::from),
        conclude: set.conclude.map(Clock::from),
        supervision_due: set
            .supervision_reply
            .filter(|_| record.supervised)
            .map(|d| d.due),
    }
}

/// The due date of the step the case waits for: assignment, acceptance, conclusion or review decision; for
/// a concluded case, the end of its review window. `None` when declined or final.
pub fn next_due(record: &CaseRecord, facts: &Facts<'_>) -> Option<NaiveDate> {
    let set = deadlines(record, facts, local_date(facts.at));
    match record.state {
        CaseState::Registered => set.assign.map(|d| d.due),
        // Back from an objection it agreed with, the office has the assignment period again to find the
        // right unit.
        CaseState::Returned => record.objection_decided_at.or(record.objected_at).map(|o| {
            calendar::due_date(
                facts.calendar,
                local_date(o),
                facts.rules.assign_days,
                facts.policy,
            )
        }),
        CaseState::Assigned => set.accept.map(|d| d.due),
        CaseState::Accepted => set.conclude.map(|d| d.due),
        CaseState::ReviewRequested => set.review_decision.map(|d| d.due),
        // Concluded: the petitioner's review window; after it the case is final.
        CaseState::Replied | CaseState::Evaluated | CaseState::Reviewed => {
            set.review_request.map(|d| d.due)
        }
        _ => None,
    }
}

/// The date from which the current review window runs, and the kind of review it opens.
pub(super) fn review_window_base(record: &CaseRecord) -> Option<(DateTime<Utc>, i32)> {
    match (record.review_kind, record.state) {
        (0, CaseState::Replied | CaseState::Evaluated) => record.replied_at.map(|t| (t, 1)),
        (1, CaseState::Reviewed) => record.review_decided_at.map(|t| (t, 2)),
        _ => None,
    }
}

/// The state a case shows on `today`: a concluded case whose review window passed without a request is
/// final (终结) without anybody having to say so.
pub fn effective_state(record: &CaseRecord, facts: &Facts<'_>, today: NaiveDate) -> CaseState {
    if let Some((base, _)) = review_window_base(record) {
        let due = calendar::due_date(
            facts.calendar,
            local_date(base),
            facts.rules.review_request_days,
            facts.policy,
        );
        if today > due {
            return CaseState::Final;
        }
    }
    record.state
}

/// Whether the case has a statutory conclusion period ([`ClaimRules`]).
pub fn has_statutory_conclusion(record: &CaseRecord, facts: &Facts<'_>) -> bool {
    facts
        .claims
        .statutory_conclusion(&record.regulation, record.claim_type)
}

/// The conclusion due date of an accepted case with a statutory conclusion period: 60 days (plus an
/// approved extension) from acceptance; for a 交办, its handling deadline (plus the extension) when that is
/// earlier. Never past the statutory limit: a 交办 deadline and an extension together reach at most 60 + 30
/// days from acceptance.
pub fn conclude_due(record: &CaseRecord, facts: &Facts<'_>) -> Option<NaiveDate> {
    if !has_statutory_conclusion(record, facts) {
        return None;
    }
    let accepted = record.accepted_at?;
    let extension = record
        .extension_days
        .clamp(0, facts.rules.max_extension_days as i32) as u32;
    let statutory = calendar::due_date(
        facts.calendar,
        local_date(accepted),
        facts.rules.conclude_days + extension,
        facts.policy,
    );
    Some(match record.handling_deadline {
        Some(deadline) => statutory.min(deadline + chrono::Days::new(u64::from(extension))),
        None => statutory,
    })
}

/// The decision due date of the review under way: 30 days from the request, plus the days of any 听证.
pub fn review_decision_due(record: &CaseRecord, facts: &Facts<'_>) -> Option<NaiveDate> {
    let requested = record.review_requested_at?;
    let paused = u32::try_from(record.hearing_days).unwrap_or(0);
    Some(calendar::due_date(
        facts.calendar,
        local_date(requested),
        facts.rules.review_decision_days.saturating_add(paused),
        facts.policy,
    ))
}

/// A deadline's due date and how its step stands on `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineStatus {
    pub due: NaiveDate,
    pub timeliness: Timeliness,
    pub done_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeadlineSet {
    pub assign: Option<DeadlineStatus>,
    pub accept: Option<DeadlineStatus>,
    pub conclude: Option<DeadlineStatus>,
    pub review_request: Option<DeadlineStatus>,
    pub review_decision: Option<DeadlineStatus>,
    /// The petitioner's, not the bureau's: it never makes a case overdue.
    pub evaluation: Option<DeadlineStatus>,
    /// The supervised unit's written reply to the latest 督办.
    pub supervision_reply: Option<DeadlineStatus>,
}

fn status(due: NaiveDate, done_at: Option<DateTime<Utc>>, today: NaiveDate) -> DeadlineStatus {
    DeadlineStatus {
        due,
        timeliness: calendar::classify(due, done_at.map(local_date), today),
        done_at,
    }
}

pub fn timeliness_to_proto(t: Timeliness) -> ProtoTimeliness {
    match t {
        Timeliness::OnTime => ProtoTimeliness::OnTime,
        Timeliness::Late => ProtoTimeliness::Late,
        Timeliness::Overdue => ProtoTimeliness::Overdue,
        Timeliness::Pending => ProtoTimeliness::Pending,
    }
}

/// The deadlines of a case and how each step stands on `today`.
pub fn deadlines(record: &CaseRecord, facts: &Facts<'_>, today: NaiveDate) -> DeadlineSet {
    let due = |from: DateTime<Utc>, days: u32| {
        calendar::due_date(facts.calendar, local_date(from), days, facts.policy)
    };
    let mut set = DeadlineSet {
        // The petition office is judged by its first assignment (or its own refusal at registration).
        assign: Some(status(
            due(record.registered_at, facts.rules.assign_days),
            record.first_assigned_at.or(record.declined_at),
            today,
        )),
        ..DeadlineSet::default()
    };
    // The current assignment's clocks. A case back from an objection the office agreed with has none: the
    // objecting unit's are void, and the next unit's start with its assignment.
    if let (Some(assigned), Some(_)) = (record.assigned_at, &record.responsible_org_code) {
        // Accepting or declining answers the assignment; an objection does not.
        let done = record
            .accepted_at
            .or(record.declined_at.filter(|d| *d >= assigned));
        set.accept = Some(status(due(assigned, facts.rules.accept_days), done, today));
    }
    if let Some(conclude) = conclude_due(record, facts) {
        // A 交办 case counts as concluded when the office confirms its completion report (审核认定办结).
        let done = if record.is_jiaoban() {
            record.completion_confirmed_at
        } else {
            record.replied_at
        };
        set.conclude = Some(status(conclude, done, today));
    }
    if let Some(supervised) = record.supervised_at {
        set.supervision_reply = Some(status(
            due(supervised, facts.rules.supervision_reply_days),
            record.supervision_replied_at,
            today,
        ));
    }
    if let Some(evaluation) = record.evaluation_due {
        set.evaluation = Some(status(evaluation, record.evaluated_at, today));
    }
    let requested_after = |base: DateTime<Utc>| record.review_requested_at.filter(|r| *r >= base);
    match (record.review_kind, record.state) {
        (0, _) => {
            if let Some(replied) = record.replied_at {
                set.review_request = Some(status(
                    due(replied, facts.rules.review_request_days),
                    None,
                    today,
                ));
            }
        }
        (1, CaseState::Reviewed) => {
            if let Some(decided) = record.review_decided_at {
                set.review_request = Some(status(
                    due(decided, facts.rules.review_request_days),
                    requested_after(decided),
                    today,
                ));
            }
        }
        _ => {}
    }
    if let (Some(requested), Some(due)) = (
        record.review_requested_at,
        review_decision_due(record, facts),
    ) {
        let decided = record.review_decided_at.filter(|d| *d >= requested);
        set.review_decision = Some(status(due, decided, today));
    }
    set
}
