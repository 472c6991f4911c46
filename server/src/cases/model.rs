//! The lifecycle of a petition matter as pure functions: `apply(record, action, facts)` gives the record after
//! a step or a typed refusal, and `deadlines(record, today)` the due dates and how each step stands.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use xinfang_proto::v1::{
    AssignmentMode, BacklogResolution, BacklogState, CaseState, DeclineGround, Level,
    ObjectionState, Rating, ReviewOutcome, SupervisionMethod, Timeliness as ProtoTimeliness,
};

use super::{
    calendar::{self, DeadlinePolicy, DeadlineRules, HolidayCalendar, Timeliness},
    claims::ClaimRules,
};
use crate::time::shanghai;

/// The stored state of a matter, as the workflow sees it. Enum fields hold `xinfang.v1` values.
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
    /// the matter has a statutory conclusion period ([`ClaimRules`]).
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
    /// 交办 matters: when the office confirmed the completion report (审核认定办结).
    pub completion_confirmed_at: Option<DateTime<Utc>>,
}

/// The regulation new matters are handled under: the 2022 《信访工作条例》.
pub const CURRENT_REGULATION: &str = "2022";

fn ser_state<S: serde::Serializer>(state: &CaseState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state_to_db(*state))
}

impl CaseRecord {
    /// A matter as intake opens it, claimed as `claim_type` (`xinfang.v1.ClaimType`), under the current
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

    /// A 交办 matter, which files a completion report that the office confirms.
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

/// One step of the workflow, with its validated inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Assign {
        mode: AssignmentMode,
        unit: String,
        handling_deadline: Option<NaiveDate>,
        reason: Option<String>,
    },
    Accept,
    Decline {
        ground: DeclineGround,
    },
    Object,
    DecideObjection {
        agree: bool,
    },
    Extend {
        days: u32,
        approved_by: String,
        reason: String,
        notified_on: NaiveDate,
    },
    ConfirmCompletion,
    Reply {
        opinion: String,
        completion_report: Option<String>,
        publish_for_evaluation: bool,
    },
    Evaluate {
        office: Rating,
        unit: Rating,
    },
    RequestReview,
    DecideReview {
        outcome: ReviewOutcome,
    },
    Hearing {
        first_day: NaiveDate,
        last_day: NaiveDate,
    },
    Supervise {
        level: Level,
        method: SupervisionMethod,
    },
    ReplySupervision {
        reply: String,
    },
    CloseSupervision,
    MarkBacklog {
        leader: Option<String>,
        special_difficult: Option<bool>,
    },
    ResolveBacklog {
        step: BacklogState,
        resolution: BacklogResolution,
    },
}

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
/// matters have a statutory conclusion period.
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

/// How a clock of a matter stands, as stored for the indicators: the one definition of "done on time"
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

/// What every write keeps on the matter's row: the due date of the step it waits for (the overdue lists),
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

/// The due date of the step the matter waits for: assignment, acceptance, conclusion or review decision; for
/// a concluded matter, the end of its review window. `None` when declined or final.
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
        // Concluded: the petitioner's review window; after it the matter is final.
        CaseState::Replied | CaseState::Evaluated | CaseState::Reviewed => {
            set.review_request.map(|d| d.due)
        }
        _ => None,
    }
}

/// The bureau's calendar date of an instant.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&shanghai()).date_naive()
}

/// The refusal for a step that needs the matter in a state it has left (or not reached).
fn wrong_state(state: CaseState, wanted: &str) -> Refusal {
    match state {
        CaseState::Registered | CaseState::Returned => refuse(
            "CASE_NOT_ASSIGNED",
            format!("the matter is not assigned; {wanted}"),
        ),
        CaseState::Assigned => refuse(
            "CASE_NOT_ACCEPTED",
            format!("the responsible unit has not accepted the matter; {wanted}"),
        ),
        CaseState::Accepted => refuse(
            "CASE_ALREADY_ACCEPTED",
            format!("the matter is accepted and being handled; {wanted}"),
        ),
        CaseState::Declined => refuse(
            "CASE_DECLINED",
            format!("the matter was not accepted; {wanted}"),
        ),
        CaseState::Replied
        | CaseState::Evaluated
        | CaseState::ReviewRequested
        | CaseState::Reviewed => refuse(
            "CASE_ALREADY_CONCLUDED",
            format!("the matter is concluded by its written opinion; {wanted}"),
        ),
        CaseState::Final | CaseState::Unspecified => {
            refuse("CASE_FINAL", format!("the matter is final; {wanted}"))
        }
    }
}

/// The date from which the current review window runs, and the kind of review it opens.
fn review_window_base(record: &CaseRecord) -> Option<(DateTime<Utc>, i32)> {
    match (record.review_kind, record.state) {
        (0, CaseState::Replied | CaseState::Evaluated) => record.replied_at.map(|t| (t, 1)),
        (1, CaseState::Reviewed) => record.review_decided_at.map(|t| (t, 2)),
        _ => None,
    }
}

/// The state a matter shows on `today`: a concluded matter whose review window passed without a request is
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

/// Whether the matter has a statutory conclusion period ([`ClaimRules`]).
pub fn has_statutory_conclusion(record: &CaseRecord, facts: &Facts<'_>) -> bool {
    facts
        .claims
        .statutory_conclusion(&record.regulation, record.claim_type)
}

/// The conclusion due date of an accepted matter with a statutory conclusion period: 60 days (plus an
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

/// When the latest recorded step of the matter happened: a new step may not be dated before it.
fn last_step_at(r: &CaseRecord) -> Option<DateTime<Utc>> {
    [
        Some(r.registered_at),
        r.assigned_at,
        r.accepted_at,
        r.declined_at,
        r.objected_at,
        r.replied_at,
        r.evaluated_at,
        r.review_requested_at,
        r.review_decided_at,
        r.objection_decided_at,
        r.completion_confirmed_at,
        r.supervised_at,
        r.supervision_replied_at,
        r.supervision_closed_at,
        // A hearing is recorded once held: nothing after it is dated before its last day.
        r.hearing_until.and_then(crate::time::bureau_midnight),
    ]
    .into_iter()
    .flatten()
    .max()
}

/// Applies `action` to `record` at `facts.at`. Returns the new record and the event's action name.
pub fn apply(
    record: &CaseRecord,
    action: &Action,
    facts: &Facts<'_>,
) -> Result<(CaseRecord, &'static str), Refusal> {
    let today = local_date(facts.at);
    if let Some(last) = last_step_at(record)
        && facts.at < last
    {
        return Err(Refusal::Input {
            field: "occurred_at",
            message: format!("before the matter's previous step ({})", local_date(last)),
        });
    }
    // The backlog track keeps its own order too: a backlog case is not worked on or resolved before it was
    // listed (or again before it was resolved). Its instants stay out of `last_step_at`, so that the
    // matter's own steps may still be recorded for days before a listing.
    if matches!(
        action,
        Action::MarkBacklog { .. } | Action::ResolveBacklog { .. }
    ) && let Some(last) = [record.backlog_listed_at, record.backlog_resolved_at]
        .into_iter()
        .flatten()
        .max()
        && facts.at < last
    {
        return Err(Refusal::Input {
            field: "occurred_at",
            message: format!(
                "before the backlog case's previous step ({})",
                local_date(last)
            ),
        });
    }
    let state = effective_state(record, facts, today);
    let mut next = record.clone();
    let name = match action {
        Action::Assign {
            mode,
            unit,
            handling_deadline,
            reason,
        } => {
            let reassign = match state {
                CaseState::Registered | CaseState::Returned => false,
                CaseState::Assigned => true,
                other => {
                    return Err(wrong_state(
                        other,
                        "only a matter not yet accepted is assigned",
                    ));
                }
            };
            if reassign {
                if record.responsible_org_code.as_deref() == Some(unit.as_str()) {
                    return Err(refuse(
                        "SAME_UNIT",
                        "the matter is assigned to this unit already",
                    ));
                }
                if reason.is_none() {
                    return Err(Refusal::Input {
                        field: "reason",
                        message: "required when reassigning a matter".into(),
                    });
                }
            }
            if *mode == AssignmentMode::Assign && handling_deadline.is_none() {
                return Err(Refusal::Input {
                    field: "handling_deadline",
                    message: "required for 交办 (assign)".into(),
                });
            }
            // The office's deadline lies within the statutory conclusion period counted from today: the unit
            // cannot accept before it receives the matter, so no statutory limit ends earlier.
            let limit = calendar::due_date(
                facts.calendar,
                today,
                facts.rules.conclude_days,
                facts.policy,
            );
            if let Some(deadline) = handling_deadline
                && (*deadline <= today || *deadline > limit)
            {
                return Err(Refusal::Input {
                    field: "handling_deadline",
                    message: format!(
                        "must lie after the assignment date and by {limit}, within the statutory {} days",
                        facts.rules.conclude_days
                    ),
                });
            }
            if *mode == AssignmentMode::Forward && handling_deadline.is_some() {
                return Err(Refusal::Input {
                    field: "handling_deadline",
                    message: "only 交办 (assign) sets a handling deadline".into(),
                });
            }
            next.state = CaseState::Assigned;
            next.responsible_org_code = Some(unit.clone());
            next.assignment_mode = *mode as i32;
            next.handling_deadline = if *mode == AssignmentMode::Assign {
                *handling_deadline
            } else {
                None
            };
            next.assigned_at = Some(facts.at);
            next.first_assigned_at = record.first_assigned_at.or(Some(facts.at));
            // A new assignment starts with no objection; reassigning while the unit's objection waits is
            // the office agreeing with it (the event says so with the reason).
            next.objection_state = ObjectionState::Unspecified as i32;
            next.objected_at = None;
            next.objection_decided_at = None;
            if reassign { "reassigned" } else { "assigned" }
        }
        Action::Accept => {
            if state != CaseState::Assigned {
                return Err(wrong_state(state, "only an assigned matter is accepted"));
            }
            next.state = CaseState::Accepted;
            next.accepted_at = Some(facts.at);
            // Accepting is the unit taking its objection back.
            if record.objection() == ObjectionState::Pending {
                next.objection_state = ObjectionState::Withdrawn as i32;
            }
            "accepted"
        }
        Action::Decline { ground } => {
            if !matches!(
                state,
                CaseState::Assigned | CaseState::Registered | CaseState::Returned
            ) {
                return Err(wrong_state(
                    state,
                    "only a matter not yet accepted is declined",
                ));
            }
            if record.objection() == ObjectionState::Pending {
                return Err(refuse(
                    "OBJECTION_PENDING",
                    "the unit's objection waits for the petition office's decision",
                ));
            }
            next.state = CaseState::Declined;
            next.declined_at = Some(facts.at);
            next.decline_ground = *ground as i32;
            "declined"
        }
        Action::Object => {
            if state != CaseState::Assigned {
                return Err(wrong_state(state, "only an assigned matter is objected to"));
            }
            if record.objection() != ObjectionState::Unspecified {
                return Err(refuse(
                    "OBJECTION_ALREADY_RAISED",
                    "the unit has objected to this assignment already",
                ));
            }
            let assigned = record.assigned_at.unwrap_or(facts.at);
            let last_day = calendar::add_working_days(
                facts.calendar,
                local_date(assigned),
                facts.rules.objection_working_days,
            );
            if today > last_day {
                return Err(refuse(
                    "OBJECTION_WINDOW_CLOSED",
                    format!("objections are raised within 5 working days, by {last_day}"),
                ));
            }
            // The matter stays with the unit until the office decides: an objection is not an answer to
            // the assignment, and the unit's clocks run on.
            next.objection_state = ObjectionState::Pending as i32;
            next.objected_at = Some(facts.at);
            "objected"
        }
        Action::DecideObjection { agree } => {
            if state != CaseState::Assigned || record.objection() != ObjectionState::Pending {
                return Err(refuse(
                    "NO_OBJECTION_PENDING",
                    "no objection of the responsible unit waits for a decision",
                ));
            }
            next.objection_decided_at = Some(facts.at);
            if *agree {
                // The matter comes back for a new assignment; the objecting unit's clocks are void.
                next.state = CaseState::Returned;
                next.objection_state = ObjectionState::Agreed as i32;
                next.responsible_org_code = None;
                next.assignment_mode = 0;
                next.handling_deadline = None;
                "objection_agreed"
            } else {
                next.objection_state = ObjectionState::Refused as i32;
                "objection_refused"
            }
        }
        Action::Extend {
            days,
            approved_by,
            reason,
            notified_on,
        } => {
            if state != CaseState::Accepted {
                return Err(wrong_state(
                    state,
                    "only a matter being handled is extended",
                ));
            }
            if !has_statutory_conclusion(record, facts) {
                return Err(refuse(
                    "NO_STATUTORY_DEADLINE",
                    "this kind of matter follows its own procedure: it has no statutory conclusion period \
                     to extend",
                ));
            }
            let accepted = record.accepted_at.map_or(today, local_date);
            if *notified_on < accepted || *notified_on > today {
                return Err(Refusal::Input {
                    field: "notified_on",
                    message: format!(
                        "the notice goes out between the acceptance ({accepted}) and the extension ({today})"
                    ),
                });
            }
            if record.extension_days > 0 {
                return Err(refuse(
                    "EXTENSION_ALREADY_GRANTED",
                    "a matter is extended once",
                ));
            }
            if *days == 0 || *days > facts.rules.max_extension_days {
                return Err(Refusal::Input {
                    field: "days",
                    message: format!("1 to {} days", facts.rules.max_extension_days),
                });
            }
            if let Some(due) = conclude_due(record, facts)
                && today > due
            {
                return Err(refuse(
                    "EXTENSION_TOO_LATE",
                    format!("the conclusion was due on {due}; extend before it"),
                ));
            }
            next.extension_days = *days as i32;
            next.extension_approved_by = Some(approved_by.clone());
            next.extension_reason = Some(reason.clone());
            next.extension_notified_on = Some(*notified_on);
            "extended"
        }
        Action::ConfirmCompletion => {
            if !record.is_jiaoban() {
                return Err(refuse(
                    "NOT_A_COMPLETION_REPORT",
                    "only a 交办 matter files a completion report to confirm",
                ));
            }
            if record.replied_at.is_none() || record.completion_report.is_none() {
                return Err(refuse(
                    "CASE_NOT_REPLIED",
                    "the unit has not filed its reply and completion report",
                ));
            }
            if record.completion_confirmed_at.is_some() {
                return Err(refuse(
                    "COMPLETION_ALREADY_CONFIRMED",
                    "the completion report is confirmed already",
                ));
            }
            next.completion_confirmed_at = Some(facts.at);
            "completion_confirmed"
        }
        Action::Reply {
            opinion,
            completion_report,
            publish_for_evaluation,
        } => {
            if state != CaseState::Accepted {
                return Err(wrong_state(
                    state,
                    "only a matter being handled is replied to",
                ));
            }
            let assigned = record.assignment_mode == AssignmentMode::Assign as i32;
            if assigned && completion_report.is_none() {
                return Err(Refusal::Input {
                    field: "completion_report",
                    message: "required for a 交办 matter: the 办结报告 to the petition office"
                        .into(),
                });
            }
            if !assigned && completion_report.is_some() {
                return Err(Refusal::Input {
                    field: "completion_report",
                    message: "only 交办 matters file a completion report".into(),
                });
            }
            next.completion_report = completion_report.clone();
            next.evaluation_due = publish_for_evaluation.then(|| {
                calendar::due_date(
                    facts.calendar,
                    local_date(facts.at),
                    facts.rules.evaluation_days,
                    facts.policy,
                )
            });
            next.state = CaseState::Replied;
            next.replied_at = Some(facts.at);
            next.reply_opinion = Some(opinion.clone());
            "replied"
        }
        Action::Evaluate { office, unit } => {
            if record.replied_at.is_none() {
                return Err(refuse(
                    "CASE_NOT_REPLIED",
                    "ratings are recorded once the written opinion is out",
                ));
            }
            if record.evaluated_at.is_some() {
                return Err(refuse(
                    "EVALUATION_ALREADY_RECORDED",
                    "the ratings of this matter are recorded already",
                ));
            }
            // Only an opinion published for evaluation is rated (谁初次办理、谁负责公开): one kept out of the
            // scope of evaluation is not counted, so no rating of it may be.
            if record.evaluation_due.is_none() {
                return Err(refuse(
                    "CASE_NOT_PUBLISHED",
                    "the opinion was not published for evaluation; it is outside the scope of evaluation",
                ));
            }
            // After the window a published matter counts as 未参评 already; saying so explicitly is all that
            // may still be recorded.
            let lapsed = [*office, *unit] != [Rating::NotParticipated; 2];
            if let Some(due) = record.evaluation_due
                && lapsed
                && local_date(facts.at) > due
            {
                return Err(refuse(
                    "EVALUATION_WINDOW_CLOSED",
                    format!(
                        "the evaluation window closed on {due}; the matter counts as 未参评 (not evaluated)"
                    ),
                ));
            }
            next.office_rating = *office as i32;
            next.unit_rating = *unit as i32;
            next.evaluated_at = Some(facts.at);
            if record.state == CaseState::Replied {
                next.state = CaseState::Evaluated;
            }
            "evaluated"
        }
        Action::RequestReview => {
            let Some((base, kind)) = review_window_base(record) else {
                return Err(match record.state {
                    CaseState::ReviewRequested => {
                        refuse("REVIEW_ALREADY_REQUESTED", "a review is under way")
                    }
                    CaseState::Final => refuse("CASE_FINAL", "after 复核 the matter is final"),
                    CaseState::Declined => refuse("CASE_DECLINED", "the matter was not accepted"),
                    _ => refuse(
                        "CASE_NOT_REPLIED",
                        "a review is requested against a written opinion",
                    ),
                });
            };
            let due = calendar::due_date(
                facts.calendar,
                local_date(base),
                facts.rules.review_request_days,
                facts.policy,
            );
            if today > due {
                return Err(refuse(
                    "REVIEW_WINDOW_CLOSED",
                    format!("the review had to be requested by {due}; the matter is final"),
                ));
            }
            next.state = CaseState::ReviewRequested;
            next.review_kind = kind;
            next.review_requested_at = Some(facts.at);
            next.review_decided_at = None;
            next.review_outcome = 0;
            next.hearing_days = 0;
            next.hearing_until = None;
            "review_requested"
        }
        Action::DecideReview { outcome } => {
            if record.state != CaseState::ReviewRequested {
                return Err(refuse("REVIEW_NOT_REQUESTED", "no review is under way"));
            }
            next.review_decided_at = Some(facts.at);
            next.review_outcome = *outcome as i32;
            next.state = if record.review_kind >= 2 {
                CaseState::Final
            } else {
                CaseState::Reviewed
            };
            "review_decided"
        }
        Action::Hearing {
            first_day,
            last_day,
        } => {
            if record.state != CaseState::ReviewRequested || record.review_kind < 2 {
                return Err(refuse(
                    "HEARING_NOT_IN_SECOND_REVIEW",
                    "a hearing pauses a 复核 under way, nothing else",
                ));
            }
            // The 30 days count from the day after the request; a hearing on the request day would pause
            // a day that is not counted.
            let requested = record.review_requested_at.map(local_date);
            if requested.is_some_and(|r| *first_day <= r) {
                return Err(Refusal::Input {
                    field: "first_day",
                    message: "the hearing starts after the day the 复核 was requested".into(),
                });
            }
            if last_day < first_day {
                return Err(Refusal::Input {
                    field: "last_day",
                    message: "the hearing ends on or after its first day".into(),
                });
            }
            if *last_day > local_date(facts.at) {
                return Err(Refusal::Input {
                    field: "last_day",
                    message:
                        "a hearing is recorded once held: its last day is not after occurred_at"
                            .into(),
                });
            }
            if let Some(until) = record.hearing_until
                && *first_day <= until
            {
                return Err(refuse(
                    "HEARING_OVERLAPS",
                    format!("the previous hearing ran until {until}; its days are paused already"),
                ));
            }
            if let Some(due) = review_decision_due(record, facts)
                && *first_day > due
            {
                return Err(refuse(
                    "HEARING_TOO_LATE",
                    format!("the 复核 decision was due on {due}; a later hearing pauses nothing"),
                ));
            }
            let days = (*last_day - *first_day).num_days() + 1;
            next.hearing_days = record
                .hearing_days
                .saturating_add(i32::try_from(days).unwrap_or(i32::MAX));
            next.hearing_until = Some(*last_day);
            "hearing_recorded"
        }
        Action::Supervise { level, method } => {
            match state {
                CaseState::Final => {
                    return Err(refuse("CASE_FINAL", "a final matter is not supervised"));
                }
                CaseState::Declined => {
                    return Err(refuse("CASE_DECLINED", "the matter was not accepted"));
                }
                _ => {}
            }
            next.supervised = true;
            next.supervision_level = *level as i32;
            next.supervision_method = *method as i32;
            // Each 督办 waits for a reply of its own.
            next.supervised_at = Some(facts.at);
            next.supervision_replied_at = None;
            next.supervision_reply = None;
            next.supervision_closed_at = None;
            "supervised"
        }
        Action::ReplySupervision { reply } => {
            if !record.supervised {
                return Err(refuse(
                    "NOT_SUPERVISED",
                    "the matter is not under supervision",
                ));
            }
            if record.supervision_replied_at.is_some() {
                return Err(refuse(
                    "SUPERVISION_ALREADY_REPLIED",
                    "the unit has replied to this supervision already",
                ));
            }
            next.supervision_replied_at = Some(facts.at);
            next.supervision_reply = Some(reply.clone());
            "supervision_replied"
        }
        Action::CloseSupervision => {
            if !record.supervised {
                return Err(refuse(
                    "NOT_SUPERVISED",
                    "the matter is not under supervision",
                ));
            }
            next.supervised = false;
            next.supervision_closed_at = Some(facts.at);
            "supervision_closed"
        }
        Action::MarkBacklog {
            leader,
            special_difficult,
        } => {
            let current = BacklogState::try_from(record.backlog_state).unwrap_or_default();
            let listing = current == BacklogState::Unspecified;
            match current {
                BacklogState::Unspecified
                | BacklogState::Listed
                | BacklogState::LeaderAssigned
                | BacklogState::Resolving => {}
                BacklogState::Resolved | BacklogState::StruckOff => {
                    return Err(refuse(
                        "BACKLOG_STEP_NOT_ALLOWED",
                        "the backlog case is resolved already",
                    ));
                }
            }
            if let Some(flag) = special_difficult {
                next.special_difficult = *flag;
            }
            if let Some(leader) = leader {
                next.backlog_leader = Some(leader.clone());
            }
            next.backlog_state = match current {
                BacklogState::Unspecified | BacklogState::Listed
                    if next.backlog_leader.is_some() =>
                {
                    BacklogState::LeaderAssigned as i32
                }
                BacklogState::Unspecified => BacklogState::Listed as i32,
                other => other as i32,
            };
            if listing {
                next.backlog_listed_at = Some(facts.at);
                "backlog_listed"
            } else {
                "backlog_updated"
            }
        }
        Action::ResolveBacklog { step, resolution } => {
            let current = BacklogState::try_from(record.backlog_state).unwrap_or_default();
            if current == BacklogState::Unspecified {
                return Err(refuse(
                    "BACKLOG_NOT_LISTED",
                    "the matter is not a backlog case",
                ));
            }
            let allowed = match step {
                BacklogState::Resolving => {
                    matches!(current, BacklogState::Listed | BacklogState::LeaderAssigned)
                }
                BacklogState::Resolved => matches!(
                    current,
                    BacklogState::Listed | BacklogState::LeaderAssigned | BacklogState::Resolving
                ),
                BacklogState::StruckOff => current == BacklogState::Resolved,
                _ => false,
            };
            if !allowed {
                return Err(refuse(
                    "BACKLOG_STEP_NOT_ALLOWED",
                    format!("a backlog case {current:?} does not move to {step:?}"),
                ));
            }
            if *step == BacklogState::Resolved && *resolution == BacklogResolution::Unspecified {
                return Err(Refusal::Input {
                    field: "resolution",
                    message: "required: 息诉罢访 agreement or 案结事了".into(),
                });
            }
            next.backlog_state = *step as i32;
            if *step == BacklogState::Resolved {
                next.backlog_resolution = *resolution as i32;
                next.backlog_resolved_at = Some(facts.at);
            }
            match step {
                BacklogState::Resolving => "backlog_resolving",
                BacklogState::Resolved => "backlog_resolved",
                _ => "backlog_struck_off",
            }
        }
    };
    Ok((next, name))
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
    /// The petitioner's, not the bureau's: it never makes a matter overdue.
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

/// The deadlines of a matter and how each step stands on `today`.
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
    // The current assignment's clocks. A matter back from an objection the office agreed with has none: the
    // objecting unit's are void, and the next unit's start with its assignment.
    if let (Some(assigned), Some(_)) = (record.assigned_at, &record.responsible_org_code) {
        // Accepting or declining answers the assignment; an objection does not.
        let done = record
            .accepted_at
            .or(record.declined_at.filter(|d| *d >= assigned));
        set.accept = Some(status(due(assigned, facts.rules.accept_days), done, today));
    }
    if let Some(conclude) = conclude_due(record, facts) {
        // A 交办 matter counts as concluded when the office confirms its completion report (审核认定办结).
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    static CLAIMS: std::sync::LazyLock<ClaimRules> =
        std::sync::LazyLock::new(|| ClaimRules::builtin().unwrap());

    fn cal() -> HolidayCalendar {
        HolidayCalendar::default_china().unwrap()
    }

    /// 09:00 in Shanghai on that day.
    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        shanghai()
            .with_ymd_and_hms(y, m, d, 9, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn facts<'a>(
        cal: &'a HolidayCalendar,
        rules: &'a DeadlineRules,
        when: DateTime<Utc>,
    ) -> Facts<'a> {
        Facts {
            at: when,
            calendar: cal,
            rules,
            policy: DeadlinePolicy::default(),
            claims: &CLAIMS,
        }
    }

    fn step(
        record: &CaseRecord,
        action: Action,
        when: DateTime<Utc>,
    ) -> Result<CaseRecord, Refusal> {
        let cal = cal();
        let rules = DeadlineRules::default();
        apply(record, &action, &facts(&cal, &rules, when)).map(|(r, _)| r)
    }

    fn reason(err: Refusal) -> &'static str {
        match err {
            Refusal::State { reason, .. } => reason,
            Refusal::Input { field, .. } => field,
        }
    }

    /// The day the notice of an extension went out in these tests: after every acceptance they extend.
    const NOTICE_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2020, 6, 20) {
        Some(d) => d,
        None => panic!("a date"),
    };

    impl CaseRecord {
        fn registered_petition(at: DateTime<Utc>) -> Self {
            Self::registered(at, 1)
        }
    }

    fn assign(unit: &str) -> Action {
        Action::Assign {
            mode: AssignmentMode::Forward,
            unit: unit.into(),
            handling_deadline: None,
            reason: None,
        }
    }

    /// A matter registered on 2020-06-01 and driven to `state`.
    fn at_state(state: CaseState) -> CaseRecord {
        let mut r = CaseRecord::registered_petition(at(2020, 6, 1));
        let path = [
            (CaseState::Assigned, assign("510422100"), at(2020, 6, 2)),
            (CaseState::Accepted, Action::Accept, at(2020, 6, 5)),
            (
                CaseState::Replied,
                Action::Reply {
                    opinion: "意见书".into(),
                    completion_report: None,
                    publish_for_evaluation: true,
                },
                at(2020, 7, 1),
            ),
            (
                CaseState::Evaluated,
                Action::Evaluate {
                    office: Rating::Satisfied,
                    unit: Rating::Satisfied,
                },
                at(2020, 7, 3),
            ),
            (
                CaseState::ReviewRequested,
                Action::RequestReview,
                at(2020, 7, 10),
            ),
            (
                CaseState::Reviewed,
                Action::DecideReview {
                    outcome: ReviewOutcome::Upheld,
                },
                at(2020, 7, 20),
            ),
        ];
        if state == CaseState::Registered {
            return r;
        }
        for (reached, action, when) in path {
            r = step(&r, action, when).unwrap();
            if reached == state {
                return r;
            }
        }
        panic!("no path to {state:?}");
    }

    #[test]
    fn the_main_path_and_the_second_review_make_it_final() {
        let r = at_state(CaseState::Reviewed);
        assert_eq!(r.review_kind, 1);
        let r = step(&r, Action::RequestReview, at(2020, 8, 1)).unwrap();
        assert_eq!((r.state, r.review_kind), (CaseState::ReviewRequested, 2));
        let r = step(
            &r,
            Action::DecideReview {
                outcome: ReviewOutcome::Upheld,
            },
            at(2020, 8, 20),
        )
        .unwrap();
        assert_eq!(r.state, CaseState::Final);
        let err = step(&r, Action::RequestReview, at(2020, 8, 21)).unwrap_err();
        assert_eq!(reason(err), "CASE_FINAL");
    }

    #[test]
    fn forbidden_steps_per_state_carry_their_reasons() {
        let registered = at_state(CaseState::Registered);
        assert_eq!(
            reason(step(&registered, Action::Accept, at(2020, 6, 2)).unwrap_err()),
            "CASE_NOT_ASSIGNED"
        );
        assert_eq!(
            reason(
                step(
                    &registered,
                    Action::Reply {
                        opinion: "x".into(),
                        completion_report: None,
                        publish_for_evaluation: false,
                    },
                    at(2020, 6, 2)
                )
                .unwrap_err()
            ),
            "CASE_NOT_ASSIGNED"
        );
        let assigned = at_state(CaseState::Assigned);
        assert_eq!(
            reason(
                step(
                    &assigned,
                    Action::Reply {
                        opinion: "x".into(),
                        completion_report: None,
                        publish_for_evaluation: false,
                    },
                    at(2020, 6, 3)
                )
                .unwrap_err()
            ),
            "CASE_NOT_ACCEPTED"
        );
        assert_eq!(
            reason(
                step(
                    &assigned,
                    Action::Extend {
                        days: 10,
                        approved_by: "x".into(),
                        reason: "x".into(),
                        notified_on: NOTICE_DAY,
                    },
                    at(2020, 6, 3)
                )
                .unwrap_err()
            ),
            "CASE_NOT_ACCEPTED"
        );
        let accepted = at_state(CaseState::Accepted);
        assert_eq!(
            reason(step(&accepted, Action::Accept, at(2020, 6, 6)).unwrap_err()),
            "CASE_ALREADY_ACCEPTED"
        );
        assert_eq!(
            reason(step(&accepted, assign("510422101"), at(2020, 6, 6)).unwrap_err()),
            "CASE_ALREADY_ACCEPTED"
        );
        assert_eq!(
            reason(step(&accepted, Action::RequestReview, at(2020, 6, 6)).unwrap_err()),
            "CASE_NOT_REPLIED"
        );
        let replied = at_state(CaseState::Replied);
        assert_eq!(
            reason(step(&replied, Action::Accept, at(2020, 7, 2)).unwrap_err()),
            "CASE_ALREADY_CONCLUDED"
        );
        assert_eq!(
            reason(
                step(
                    &replied,
                    Action::DecideReview {
                        outcome: ReviewOutcome::Upheld
                    },
                    at(2020, 7, 2)
                )
                .unwrap_err()
            ),
            "REVIEW_NOT_REQUESTED"
        );
        let evaluated = at_state(CaseState::Evaluated);
        assert_eq!(
            reason(
                step(
                    &evaluated,
                    Action::Evaluate {
                        office: Rating::Satisfied,
                        unit: Rating::Satisfied
                    },
                    at(2020, 7, 4)
                )
                .unwrap_err()
            ),
            "EVALUATION_ALREADY_RECORDED"
        );
        let requested = at_state(CaseState::ReviewRequested);
        assert_eq!(
            reason(step(&requested, Action::RequestReview, at(2020, 7, 11)).unwrap_err()),
            "REVIEW_ALREADY_REQUESTED"
        );
        let declined = step(
            &assigned,
            Action::Decline {
                ground: DeclineGround::OtherBranch,
            },
            at(2020, 6, 3),
        )
        .unwrap();
        assert_eq!(
            reason(step(&declined, Action::Accept, at(2020, 6, 4)).unwrap_err()),
            "CASE_DECLINED"
        );
        assert_eq!(
            reason(
                step(
                    &declined,
                    Action::Supervise {
                        level: Level::City,
                        method: SupervisionMethod::Document
                    },
                    at(2020, 6, 4)
                )
                .unwrap_err()
            ),
            "CASE_DECLINED"
        );
    }

    #[test]
    fn reassignment_needs_a_reason_and_another_unit() {
        let assigned = at_state(CaseState::Assigned);
        assert_eq!(
            reason(step(&assigned, assign("510422101"), at(2020, 6, 3)).unwrap_err()),
            "reason"
        );
        let again = Action::Assign {
            mode: AssignmentMode::Forward,
            unit: "510422100".into(),
            handling_deadline: None,
            reason: Some("x".into()),
        };
        assert_eq!(
            reason(step(&assigned, again, at(2020, 6, 3)).unwrap_err()),
            "SAME_UNIT"
        );
        let moved = step(
            &assigned,
            Action::Assign {
                mode: AssignmentMode::Assign,
                unit: "510422101".into(),
                handling_deadline: NaiveDate::from_ymd_opt(2020, 7, 31),
                reason: Some("属地错误".into()),
            },
            at(2020, 6, 3),
        )
        .unwrap();
        assert_eq!(moved.responsible_org_code.as_deref(), Some("510422101"));
        assert_eq!(
            moved.first_assigned_at,
            Some(at(2020, 6, 2)),
            "the first assignment is kept"
        );
        assert_eq!(moved.assigned_at, Some(at(2020, 6, 3)));
    }

    #[test]
    fn objections_within_five_working_days() {
        // Assigned Friday 2020-09-25; the window spans a weekend and the National Day holiday (10-01..10-08),
        // with 09-27 a make-up working Sunday: working days 09-27, 09-28, 09-29, 09-30, 10-09.
        let mut r = CaseRecord::registered_petition(at(2020, 9, 20));
        r = step(&r, assign("510422100"), at(2020, 9, 25)).unwrap();
        let objected = step(&r, Action::Object, at(2020, 10, 9)).unwrap();
        // The matter stays with the unit until the office decides.
        assert_eq!(objected.state, CaseState::Assigned);
        assert_eq!(objected.objection_state, ObjectionState::Pending as i32);
        let back = step(
            &objected,
            Action::DecideObjection { agree: true },
            at(2020, 10, 10),
        )
        .unwrap();
        assert_eq!(back.state, CaseState::Returned);
        assert_eq!(back.responsible_org_code, None);
        let late = step(&r, Action::Object, at(2020, 10, 10)).unwrap_err();
        assert_eq!(reason(late), "OBJECTION_WINDOW_CLOSED");
        // Back at the office, it is assigned anew.
        let again = step(&back, assign("510422103"), at(2020, 10, 12)).unwrap();
        assert_eq!(again.state, CaseState::Assigned);
    }

    fn clocks(r: &CaseRecord, when: DateTime<Utc>) -> Schedule {
        let cal = cal();
        let rules = DeadlineRules::default();
        schedule(r, &facts(&cal, &rules, when))
    }

    #[test]
    fn an_objection_waits_for_the_office_and_never_answers_the_assignment() {
        let assigned = at_state(CaseState::Assigned); // assigned 2020-06-02 to 510422100: accept by 06-17
        let objected = step(&assigned, Action::Object, at(2020, 6, 4)).unwrap();
        assert_eq!(
            reason(step(&objected, Action::Object, at(2020, 6, 5)).unwrap_err()),
            "OBJECTION_ALREADY_RAISED"
        );
        assert_eq!(
            reason(
                step(
                    &objected,
                    Action::Decline {
                        ground: DeclineGround::OtherBranch
                    },
                    at(2020, 6, 5)
                )
                .unwrap_err()
            ),
            "OBJECTION_PENDING"
        );
        // Objecting is not accepting: the unit's acceptance clock is still open.
        let s = clocks(&objected, at(2020, 6, 4));
        assert_eq!(s.accept.unwrap().outcome, Outcome::Open);

        // Refused: the unit handles it, judged from the original receipt; accepting on 06-20 is late.
        let refused = step(
            &objected,
            Action::DecideObjection { agree: false },
            at(2020, 6, 8),
        )
        .unwrap();
        assert_eq!(refused.state, CaseState::Assigned);
        assert_eq!(refused.responsible_org_code.as_deref(), Some("510422100"));
        let accepted = step(&refused, Action::Accept, at(2020, 6, 20)).unwrap();
        let s = clocks(&accepted, at(2020, 6, 20));
        assert_eq!(
            s.accept,
            Some(Clock {
                due: NaiveDate::from_ymd_opt(2020, 6, 17).unwrap(),
                outcome: Outcome::Late
            })
        );

        // Agreed: the matter comes back and the objecting unit has no clocks for it.
        let back = step(
            &objected,
            Action::DecideObjection { agree: true },
            at(2020, 6, 8),
        )
        .unwrap();
        let s = clocks(&back, at(2020, 6, 8));
        assert_eq!((s.accept, s.conclude), (None, None));
        assert_eq!(
            reason(
                step(
                    &back,
                    Action::DecideObjection { agree: true },
                    at(2020, 6, 9)
                )
                .unwrap_err()
            ),
            "NO_OBJECTION_PENDING"
        );
        // The next unit is judged on its own clock, from its own receipt, with no objection of the first.
        let next = step(&back, assign("510422101"), at(2020, 6, 10)).unwrap();
        assert_eq!(next.objected_at, None);
        let accepted = step(&next, Action::Accept, at(2020, 6, 24)).unwrap();
        let s = clocks(&accepted, at(2020, 6, 24));
        assert_eq!(
            s.accept,
            Some(Clock {
                due: NaiveDate::from_ymd_opt(2020, 6, 28).unwrap(),
                outcome: Outcome::OnTime
            })
        );
        // Reassigning while an objection waits agrees with it.
        let moved = step(
            &objected,
            Action::Assign {
                mode: AssignmentMode::Forward,
                unit: "510422102".into(),
                handling_deadline: None,
                reason: Some("属地调整".into()),
            },
            at(2020, 6, 9),
        )
        .unwrap();
        assert_eq!(moved.objection_state, ObjectionState::Unspecified as i32);
        assert_eq!(moved.responsible_org_code.as_deref(), Some("510422102"));
        // Accepting instead withdraws the objection.
        let withdrawn = step(&objected, Action::Accept, at(2020, 6, 9)).unwrap();
        assert_eq!(withdrawn.objection_state, ObjectionState::Withdrawn as i32);
    }

    #[test]
    fn only_a_published_opinion_is_rated() {
        let mut r = CaseRecord::registered_petition(at(2020, 6, 1));
        r = step(&r, assign("510422100"), at(2020, 6, 2)).unwrap();
        r = step(&r, Action::Accept, at(2020, 6, 5)).unwrap();
        let unpublished = step(
            &r,
            Action::Reply {
                opinion: "意见书".into(),
                completion_report: None,
                publish_for_evaluation: false,
            },
            at(2020, 7, 1),
        )
        .unwrap();
        let rate = |office, unit| Action::Evaluate { office, unit };
        for ratings in [
            rate(Rating::Satisfied, Rating::Satisfied),
            rate(Rating::NotParticipated, Rating::NotParticipated),
        ] {
            assert_eq!(
                reason(step(&unpublished, ratings, at(2020, 7, 3)).unwrap_err()),
                "CASE_NOT_PUBLISHED"
            );
        }
    }

    #[test]
    fn only_matters_with_a_statutory_period_have_a_conclusion_clock() {
        let cal = cal();
        let rules = DeadlineRules::default();
        let run = |claim: i32, regulation: &str| {
            let mut r = CaseRecord::registered(at(2020, 6, 1), claim);
            r.regulation = regulation.into();
            let r = step(&r, assign("510422100"), at(2020, 6, 2)).unwrap();
            let r = step(&r, Action::Accept, at(2020, 6, 5)).unwrap();
            conclude_due(&r, &facts(&cal, &rules, at(2020, 6, 5)))
        };
        let sixty = NaiveDate::from_ymd_opt(2020, 8, 4);
        assert_eq!(run(0, "2022"), sixty, "unspecified is read as 申诉求决");
        assert_eq!(run(1, "2022"), sixty);
        assert_eq!(run(2, "2022"), None, "建议意见");
        assert_eq!(run(3, "2022"), None, "检举控告");
        assert_eq!(
            run(2, "2005"),
            sixty,
            "the 2005 regulation gives every matter 60 days"
        );
        // Nothing to extend without the period.
        let mut r = CaseRecord::registered(at(2020, 6, 1), 2);
        r = step(&r, assign("510422100"), at(2020, 6, 2)).unwrap();
        r = step(&r, Action::Accept, at(2020, 6, 5)).unwrap();
        let extend = Action::Extend {
            days: 10,
            approved_by: "局长".into(),
            reason: "调查".into(),
            notified_on: NOTICE_DAY,
        };
        assert_eq!(
            reason(step(&r, extend, at(2020, 6, 25)).unwrap_err()),
            "NO_STATUTORY_DEADLINE"
        );
    }

    #[test]
    fn a_jiaoban_deadline_and_its_extension_stay_within_the_statutory_limit() {
        let jiaoban = |deadline: NaiveDate| Action::Assign {
            mode: AssignmentMode::Assign,
            unit: "510422100".into(),
            handling_deadline: Some(deadline),
            reason: None,
        };
        let r = CaseRecord::registered_petition(at(2020, 6, 1));
        // Assigned 2020-06-02: the statutory 60 days end 2020-08-01, a Saturday, so 2020-08-03.
        assert_eq!(
            reason(
                step(
                    &r,
                    jiaoban(NaiveDate::from_ymd_opt(2020, 8, 31).unwrap()),
                    at(2020, 6, 2)
                )
                .unwrap_err()
            ),
            "handling_deadline"
        );
        let r = step(
            &r,
            jiaoban(NaiveDate::from_ymd_opt(2020, 8, 3).unwrap()),
            at(2020, 6, 2),
        )
        .unwrap();
        let r = step(&r, Action::Accept, at(2020, 6, 16)).unwrap();
        let extended = step(
            &r,
            Action::Extend {
                days: 30,
                approved_by: "局长".into(),
                reason: "需鉴定".into(),
                notified_on: NOTICE_DAY,
            },
            at(2020, 7, 20),
        )
        .unwrap();
        let cal = cal();
        let rules = DeadlineRules::default();
        let due = conclude_due(&extended, &facts(&cal, &rules, at(2020, 7, 20))).unwrap();
        // 08-03 + 30 = 09-02; the statutory limit with the longest extension is 90 days from acceptance
        // (06-16 → 09-14), which is later, so the 交办 deadline binds.
        assert_eq!(due, NaiveDate::from_ymd_opt(2020, 9, 2).unwrap());
        assert!(due <= NaiveDate::from_ymd_opt(2020, 9, 14).unwrap());
    }

    #[test]
    fn an_extension_records_its_written_notice() {
        let accepted = at_state(CaseState::Accepted); // accepted 2020-06-05
        let extend = |notified_on| Action::Extend {
            days: 10,
            approved_by: "局长".into(),
            reason: "调查".into(),
            notified_on,
        };
        for bad in [
            NaiveDate::from_ymd_opt(2020, 6, 4).unwrap(),
            NaiveDate::from_ymd_opt(2020, 7, 2).unwrap(),
        ] {
            assert_eq!(
                reason(step(&accepted, extend(bad), at(2020, 7, 1)).unwrap_err()),
                "notified_on"
            );
        }
        let r = step(&accepted, extend(NOTICE_DAY), at(2020, 7, 1)).unwrap();
        assert_eq!(r.extension_notified_on, Some(NOTICE_DAY));
    }

    #[test]
    fn supervision_waits_for_a_reply_in_thirty_days_and_the_office_closes_it() {
        let accepted = at_state(CaseState::Accepted);
        assert_eq!(
            reason(
                step(
                    &accepted,
                    Action::ReplySupervision { reply: "x".into() },
                    at(2020, 6, 6)
                )
                .unwrap_err()
            ),
            "NOT_SUPERVISED"
        );
        let supervised = step(
            &accepted,
            Action::Supervise {
                level: Level::County,
                method: SupervisionMethod::Document,
            },
            at(2020, 6, 10),
        )
        .unwrap();
        let cal = cal();
        let rules = DeadlineRules::default();
        let set = deadlines(
            &supervised,
            &facts(&cal, &rules, at(2020, 7, 13)),
            local_date(at(2020, 7, 13)),
        );
        let reply = set.supervision_reply.unwrap();
        assert_eq!(reply.due, NaiveDate::from_ymd_opt(2020, 7, 10).unwrap());
        assert_eq!(reply.timeliness, Timeliness::Overdue);
        assert_eq!(
            clocks(&supervised, at(2020, 6, 10)).supervision_due,
            NaiveDate::from_ymd_opt(2020, 7, 10)
        );
        let replied = step(
            &supervised,
            Action::ReplySupervision {
                reply: "已整改".into(),
            },
            at(2020, 7, 1),
        )
        .unwrap();
        assert_eq!(
            reason(
                step(
                    &replied,
                    Action::ReplySupervision { reply: "x".into() },
                    at(2020, 7, 2)
                )
                .unwrap_err()
            ),
            "SUPERVISION_ALREADY_REPLIED"
        );
        let closed = step(&replied, Action::CloseSupervision, at(2020, 7, 3)).unwrap();
        assert!(!closed.supervised);
        assert_eq!(clocks(&closed, at(2020, 7, 3)).supervision_due, None);
    }

    #[test]
    fn a_jiaoban_matter_is_concluded_when_the_office_confirms_its_report() {
        let r = CaseRecord::registered_petition(at(2020, 6, 1));
        let r = step(
            &r,
            Action::Assign {
                mode: AssignmentMode::Assign,
                unit: "510422100".into(),
                handling_deadline: NaiveDate::from_ymd_opt(2020, 7, 15),
                reason: None,
            },
            at(2020, 6, 2),
        )
        .unwrap();
        let r = step(&r, Action::Accept, at(2020, 6, 3)).unwrap();
        let replied = step(
            &r,
            Action::Reply {
                opinion: "意见".into(),
                completion_report: Some("办结报告".into()),
                publish_for_evaluation: false,
            },
            at(2020, 7, 10),
        )
        .unwrap();
        assert_eq!(
            clocks(&replied, at(2020, 7, 10)).conclude.unwrap().outcome,
            Outcome::Open,
            "the reply alone does not conclude a 交办 matter"
        );
        let confirmed = step(&replied, Action::ConfirmCompletion, at(2020, 7, 20)).unwrap();
        assert_eq!(
            clocks(&confirmed, at(2020, 7, 20))
                .conclude
                .unwrap()
                .outcome,
            Outcome::Late,
            "confirmed after the handling deadline of 07-15"
        );
        assert_eq!(
            reason(step(&confirmed, Action::ConfirmCompletion, at(2020, 7, 21)).unwrap_err()),
            "COMPLETION_ALREADY_CONFIRMED"
        );
        let forwarded = at_state(CaseState::Replied);
        assert_eq!(
            reason(step(&forwarded, Action::ConfirmCompletion, at(2020, 7, 2)).unwrap_err()),
            "NOT_A_COMPLETION_REPORT"
        );
    }

    #[test]
    fn one_extension_of_at_most_thirty_days_before_the_due_date() {
        let accepted = at_state(CaseState::Accepted); // accepted 2020-06-05: due 2020-08-04
        let extend = |days| Action::Extend {
            days,
            approved_by: "局长".into(),
            reason: "需调查取证".into(),
            notified_on: NOTICE_DAY,
        };
        assert_eq!(
            reason(step(&accepted, extend(31), at(2020, 7, 1)).unwrap_err()),
            "days"
        );
        assert_eq!(
            reason(step(&accepted, extend(0), at(2020, 7, 1)).unwrap_err()),
            "days"
        );
        assert_eq!(
            reason(step(&accepted, extend(30), at(2020, 8, 5)).unwrap_err()),
            "EXTENSION_TOO_LATE"
        );
        let extended = step(&accepted, extend(30), at(2020, 8, 4)).unwrap();
        assert_eq!(
            reason(step(&extended, extend(5), at(2020, 8, 5)).unwrap_err()),
            "EXTENSION_ALREADY_GRANTED"
        );
        let cal = cal();
        let rules = DeadlineRules::default();
        let f = facts(&cal, &rules, at(2020, 8, 5));
        assert_eq!(
            conclude_due(&accepted, &f),
            NaiveDate::from_ymd_opt(2020, 8, 4)
        );
        assert_eq!(
            conclude_due(&extended, &f),
            NaiveDate::from_ymd_opt(2020, 9, 3)
        );
    }

    #[test]
    fn review_windows_close_after_thirty_days_and_the_matter_is_final() {
        let replied = at_state(CaseState::Replied); // replied 2020-07-01: window to 2020-07-31 (Friday)
        assert!(step(&replied, Action::RequestReview, at(2020, 7, 31)).is_ok());
        let closed = step(&replied, Action::RequestReview, at(2020, 8, 1)).unwrap_err();
        assert_eq!(reason(closed), "REVIEW_WINDOW_CLOSED");
        let cal = cal();
        let rules = DeadlineRules::default();
        let f = facts(&cal, &rules, at(2020, 8, 1));
        assert_eq!(
            effective_state(&replied, &f, local_date(at(2020, 7, 31))),
            CaseState::Replied
        );
        assert_eq!(
            effective_state(&replied, &f, local_date(at(2020, 8, 1))),
            CaseState::Final
        );
        // After 复查 the 复核 window runs from the 复查 decision.
        let reviewed = at_state(CaseState::Reviewed); // decided 2020-07-20: window to 2020-08-19
        assert!(step(&reviewed, Action::RequestReview, at(2020, 8, 19)).is_ok());
        assert_eq!(
            reason(step(&reviewed, Action::RequestReview, at(2020, 8, 20)).unwrap_err()),
            "REVIEW_WINDOW_CLOSED"
        );
    }

    #[test]
    fn a_published_matter_is_rated_within_its_window_or_counts_as_not_evaluated() {
        let accepted = at_state(CaseState::Accepted);
        let reply = |publish| Action::Reply {
            opinion: "意见书".into(),
            completion_report: None,
            publish_for_evaluation: publish,
        };
        let rate = |office, unit| Action::Evaluate { office, unit };
        // Replied 2020-09-04 (Friday): 30 days end on 2020-10-04, inside the National Day holiday
        // (10-01..10-08), so the window runs to Friday 2020-10-09.
        let published = step(&accepted, reply(true), at(2020, 9, 4)).unwrap();
        let cal = cal();
        let rules = DeadlineRules::default();
        let f = facts(&cal, &rules, at(2020, 9, 4));
        let window = deadlines(&published, &f, local_date(at(2020, 10, 10)))
            .evaluation
            .unwrap();
        assert_eq!(
            (window.due, window.timeliness),
            (
                NaiveDate::from_ymd_opt(2020, 10, 9).unwrap(),
                Timeliness::Overdue
            )
        );
        assert_eq!(published.evaluation_due, Some(window.due));
        // Fixed at publication: a longer window configured later does not reopen it.
        let longer = DeadlineRules {
            evaluation_days: 60,
            ..DeadlineRules::default()
        };
        let later = facts(&cal, &longer, at(2020, 10, 10));
        assert_eq!(
            deadlines(&published, &later, local_date(at(2020, 10, 10)))
                .evaluation
                .map(|w| w.due),
            Some(window.due)
        );

        let satisfied = rate(Rating::Satisfied, Rating::Satisfied);
        let rated = step(&published, satisfied.clone(), at(2020, 10, 9)).unwrap();
        assert_eq!(rated.state, CaseState::Evaluated);
        let late = step(&published, satisfied.clone(), at(2020, 10, 10)).unwrap_err();
        assert_eq!(reason(late), "EVALUATION_WINDOW_CLOSED");
        // Recording what the closed window means is still allowed.
        let lapsed = step(
            &published,
            rate(Rating::NotParticipated, Rating::NotParticipated),
            at(2020, 10, 12),
        )
        .unwrap();
        assert_eq!(lapsed.office_rating, Rating::NotParticipated as i32);

        // Outside the scope of evaluation there is no window, and no rating is taken.
        let unpublished = step(&accepted, reply(false), at(2020, 9, 4)).unwrap();
        assert_eq!(
            deadlines(&unpublished, &f, local_date(at(2021, 1, 1))).evaluation,
            None
        );
        assert_eq!(
            reason(step(&unpublished, satisfied, at(2020, 12, 1)).unwrap_err()),
            "CASE_NOT_PUBLISHED"
        );
    }

    #[test]
    fn a_hearing_pauses_the_second_review_deadline() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let hearing = |first, last| Action::Hearing {
            first_day: first,
            last_day: last,
        };
        let cal = cal();
        let rules = DeadlineRules::default();
        let decision_due = |r: &CaseRecord| {
            deadlines(r, &facts(&cal, &rules, at(2020, 8, 1)), d(2020, 8, 1))
                .review_decision
                .unwrap()
                .due
        };
        // 复核 requested 2020-08-01: the decision is due 2020-08-31 (Monday).
        let second = step(
            &at_state(CaseState::Reviewed),
            Action::RequestReview,
            at(2020, 8, 1),
        )
        .unwrap();
        assert_eq!(decision_due(&second), d(2020, 8, 31));
        let heard = step(
            &second,
            hearing(d(2020, 8, 10), d(2020, 8, 12)),
            at(2020, 8, 13),
        )
        .unwrap();
        assert_eq!(
            (heard.hearing_days, heard.hearing_until),
            (3, Some(d(2020, 8, 12)))
        );
        assert_eq!(decision_due(&heard), d(2020, 9, 3));

        let refused = |r: &CaseRecord, action, when| reason(step(r, action, when).unwrap_err());
        assert_eq!(
            refused(
                &second,
                hearing(d(2020, 7, 31), d(2020, 8, 2)),
                at(2020, 8, 3)
            ),
            "first_day"
        );
        // The request day itself is not one of the 30 counted days: nothing to pause.
        assert_eq!(
            refused(
                &second,
                hearing(d(2020, 8, 1), d(2020, 8, 1)),
                at(2020, 8, 3)
            ),
            "first_day"
        );
        assert_eq!(
            refused(
                &second,
                hearing(d(2020, 8, 10), d(2020, 8, 20)),
                at(2020, 8, 13)
            ),
            "last_day"
        );
        // Nor is the 复核 decided during the hearing that paused it.
        let decide = Action::DecideReview {
            outcome: ReviewOutcome::Upheld,
        };
        assert_eq!(
            refused(&heard, decide.clone(), at(2020, 8, 11)),
            "occurred_at"
        );
        assert!(step(&heard, decide, at(2020, 8, 12)).is_ok());
        assert_eq!(
            refused(
                &heard,
                hearing(d(2020, 8, 12), d(2020, 8, 14)),
                at(2020, 8, 15)
            ),
            "HEARING_OVERLAPS"
        );
        assert_eq!(
            refused(
                &heard,
                hearing(d(2020, 9, 4), d(2020, 9, 4)),
                at(2020, 9, 5)
            ),
            "HEARING_TOO_LATE"
        );
        // A 复查 is decided in its 30 days; only the 复核 holds hearings.
        let first = at_state(CaseState::ReviewRequested);
        assert_eq!(
            refused(
                &first,
                hearing(d(2020, 7, 12), d(2020, 7, 12)),
                at(2020, 7, 13)
            ),
            "HEARING_NOT_IN_SECOND_REVIEW"
        );
    }

    #[test]
    fn a_step_is_not_dated_before_the_previous_one() {
        let assigned = at_state(CaseState::Assigned); // assigned 2020-06-02
        assert_eq!(
            reason(step(&assigned, Action::Accept, at(2020, 6, 1)).unwrap_err()),
            "occurred_at"
        );
        let objected = step(&assigned, Action::Object, at(2020, 6, 3)).unwrap();
        assert_eq!(
            reason(
                step(
                    &objected,
                    Action::DecideObjection { agree: true },
                    at(2020, 6, 2)
                )
                .unwrap_err()
            ),
            "occurred_at"
        );
        let back = step(
            &objected,
            Action::DecideObjection { agree: true },
            at(2020, 6, 3),
        )
        .unwrap();
        let cal = cal();
        let rules = DeadlineRules::default();
        let f = facts(&cal, &rules, at(2020, 6, 3));
        // The objecting unit's clock is void, and the office has a new period to reassign from its decision.
        let d = deadlines(&back, &f, local_date(at(2020, 7, 1)));
        assert_eq!(d.accept, None);
        assert_eq!(next_due(&back, &f), NaiveDate::from_ymd_opt(2020, 6, 18));
    }

    #[test]
    fn a_handed_over_matter_files_its_completion_report() {
        let registered = at_state(CaseState::Registered);
        let handed = step(
            &registered,
            Action::Assign {
                mode: AssignmentMode::Assign,
                unit: "510422100".into(),
                handling_deadline: NaiveDate::from_ymd_opt(2020, 7, 31),
                reason: None,
            },
            at(2020, 6, 2),
        )
        .unwrap();
        let accepted = step(&handed, Action::Accept, at(2020, 6, 3)).unwrap();
        let reply = |report: Option<&str>| Action::Reply {
            opinion: "意见书".into(),
            completion_report: report.map(str::to_owned),
            publish_for_evaluation: false,
        };
        assert_eq!(
            reason(step(&accepted, reply(None), at(2020, 7, 1)).unwrap_err()),
            "completion_report"
        );
        let done = step(&accepted, reply(Some("办结报告")), at(2020, 7, 1)).unwrap();
        assert_eq!(done.completion_report.as_deref(), Some("办结报告"));
        // A forwarded matter files none.
        let forwarded = at_state(CaseState::Accepted);
        assert_eq!(
            reason(step(&forwarded, reply(Some("x")), at(2020, 7, 1)).unwrap_err()),
            "completion_report"
        );
    }

    #[test]
    fn rules_come_from_json_with_defaults() {
        let w = Workflow::china()
            .unwrap()
            .with_rules_json(r#"{"conclude_days": 90}"#)
            .unwrap();
        assert_eq!((w.rules.conclude_days, w.rules.assign_days), (90, 15));
        assert!(
            Workflow::china()
                .unwrap()
                .with_rules_json(r#"{"conclude": 90}"#)
                .is_err()
        );
    }

    #[test]
    fn handling_deadlines_are_bounded() {
        let registered = at_state(CaseState::Registered);
        let with = |mode, deadline| Action::Assign {
            mode,
            unit: "510422100".into(),
            handling_deadline: deadline,
            reason: None,
        };
        let far = NaiveDate::from_ymd_opt(2021, 6, 1);
        let near = NaiveDate::from_ymd_opt(2020, 7, 1);
        assert_eq!(
            reason(
                step(
                    &registered,
                    with(AssignmentMode::Assign, far),
                    at(2020, 6, 2)
                )
                .unwrap_err()
            ),
            "handling_deadline"
        );
        assert_eq!(
            reason(
                step(
                    &registered,
                    with(AssignmentMode::Forward, near),
                    at(2020, 6, 2)
                )
                .unwrap_err()
            ),
            "handling_deadline"
        );
        assert!(
            step(
                &registered,
                with(AssignmentMode::Assign, near),
                at(2020, 6, 2)
            )
            .is_ok()
        );
    }

    #[test]
    fn the_six_refusal_grounds_each_decline() {
        for ground in [
            DeclineGround::OtherBranch,
            DeclineGround::Leapfrog,
            DeclineGround::AlreadyHandling,
            DeclineGround::ReviewSkipped,
            DeclineGround::ReviewWindowPassed,
            DeclineGround::AlreadyConcluded,
        ] {
            let r = step(
                &at_state(CaseState::Assigned),
                Action::Decline { ground },
                at(2020, 6, 3),
            )
            .unwrap();
            assert_eq!(
                (r.state, r.decline_ground),
                (CaseState::Declined, ground as i32)
            );
        }
    }

    /// Found by the `case_workflow` fuzz target: a backlog step dated before the listing was taken, leaving
    /// a case resolving (or resolved) before it was a backlog case.
    #[test]
    fn backlog_steps_are_not_dated_before_the_listing() {
        let r = at_state(CaseState::Accepted);
        let listed = step(
            &r,
            Action::MarkBacklog {
                leader: Some("副县长".into()),
                special_difficult: Some(true),
            },
            at(2020, 6, 10),
        )
        .unwrap();
        let resolve = |step_: BacklogState, resolution| Action::ResolveBacklog {
            step: step_,
            resolution,
        };
        let early = step(
            &listed,
            resolve(BacklogState::Resolved, BacklogResolution::Agreement),
            at(2020, 6, 9),
        )
        .unwrap_err();
        assert_eq!(reason(early), "occurred_at");
        let relisted = Action::MarkBacklog {
            leader: None,
            special_difficult: None,
        };
        assert_eq!(
            reason(step(&listed, relisted.clone(), at(2020, 6, 9)).unwrap_err()),
            "occurred_at"
        );
        let resolved = step(
            &listed,
            resolve(BacklogState::Resolved, BacklogResolution::Agreement),
            at(2020, 6, 12),
        )
        .unwrap();
        assert_eq!(
            reason(
                step(
                    &resolved,
                    resolve(BacklogState::StruckOff, BacklogResolution::Unspecified),
                    at(2020, 6, 11)
                )
                .unwrap_err()
            ),
            "occurred_at"
        );
        step(
            &resolved,
            resolve(BacklogState::StruckOff, BacklogResolution::Unspecified),
            at(2020, 6, 12),
        )
        .unwrap();
        // The matter's own steps are judged by the matter's steps only.
        let replied = step(
            &listed,
            Action::Reply {
                opinion: "意见书".into(),
                completion_report: None,
                publish_for_evaluation: false,
            },
            at(2020, 6, 9),
        );
        assert!(replied.is_ok(), "{replied:?}");
    }

    #[test]
    fn the_backlog_track() {
        let r = at_state(CaseState::Accepted);
        assert_eq!(
            reason(
                step(
                    &r,
                    Action::ResolveBacklog {
                        step: BacklogState::Resolving,
                        resolution: BacklogResolution::Unspecified
                    },
                    at(2020, 6, 6)
                )
                .unwrap_err()
            ),
            "BACKLOG_NOT_LISTED"
        );
        let listed = step(
            &r,
            Action::MarkBacklog {
                leader: None,
                special_difficult: Some(true),
            },
            at(2020, 6, 6),
        )
        .unwrap();
        assert_eq!(listed.backlog_state, BacklogState::Listed as i32);
        assert!(listed.special_difficult);
        assert_eq!(
            listed.backlog_listed_at,
            Some(at(2020, 6, 6)),
            "when it entered the backlog"
        );
        let led = step(
            &listed,
            Action::MarkBacklog {
                leader: Some("副县长".into()),
                special_difficult: None,
            },
            at(2020, 6, 7),
        )
        .unwrap();
        assert_eq!(led.backlog_state, BacklogState::LeaderAssigned as i32);
        assert!(led.special_difficult, "a leader change keeps the flag");
        let resolving = step(
            &led,
            Action::ResolveBacklog {
                step: BacklogState::Resolving,
                resolution: BacklogResolution::Unspecified,
            },
            at(2020, 6, 8),
        )
        .unwrap();
        assert_eq!(
            reason(
                step(
                    &resolving,
                    Action::ResolveBacklog {
                        step: BacklogState::StruckOff,
                        resolution: BacklogResolution::Unspecified
                    },
                    at(2020, 6, 9)
                )
                .unwrap_err()
            ),
            "BACKLOG_STEP_NOT_ALLOWED"
        );
        assert_eq!(
            reason(
                step(
                    &resolving,
                    Action::ResolveBacklog {
                        step: BacklogState::Resolved,
                        resolution: BacklogResolution::Unspecified
                    },
                    at(2020, 6, 9)
                )
                .unwrap_err()
            ),
            "resolution"
        );
        let resolved = step(
            &resolving,
            Action::ResolveBacklog {
                step: BacklogState::Resolved,
                resolution: BacklogResolution::Agreement,
            },
            at(2020, 6, 9),
        )
        .unwrap();
        let struck = step(
            &resolved,
            Action::ResolveBacklog {
                step: BacklogState::StruckOff,
                resolution: BacklogResolution::Unspecified,
            },
            at(2020, 6, 10),
        )
        .unwrap();
        assert_eq!(struck.backlog_state, BacklogState::StruckOff as i32);
        assert_eq!(
            struck.backlog_resolution,
            BacklogResolution::Agreement as i32
        );
    }

    #[test]
    fn deadlines_across_month_ends_holidays_and_at_the_boundary() {
        let cal = cal();
        let rules = DeadlineRules::default();
        // Registered 2020-01-16: +15 = 01-31 (inside the extended Spring Festival off days to 02-02),
        // so the last day moves to Monday 02-03.
        let r = CaseRecord::registered_petition(at(2020, 1, 16));
        let f = facts(&cal, &rules, at(2020, 1, 16));
        let due = deadlines(&r, &f, local_date(at(2020, 2, 3)))
            .assign
            .unwrap();
        assert_eq!(due.due, NaiveDate::from_ymd_opt(2020, 2, 3).unwrap());
        assert_eq!(
            due.timeliness,
            Timeliness::Pending,
            "the due day itself is still in time"
        );
        let over = deadlines(&r, &f, local_date(at(2020, 2, 4)))
            .assign
            .unwrap();
        assert_eq!(over.timeliness, Timeliness::Overdue);
        // Assigned on the due day: on time; a day later: late.
        let on_time = step(&r, assign("510422100"), at(2020, 2, 3)).unwrap();
        assert_eq!(
            deadlines(&on_time, &f, local_date(at(2020, 3, 1)))
                .assign
                .unwrap()
                .timeliness,
            Timeliness::OnTime
        );
        let late = step(&r, assign("510422100"), at(2020, 2, 4)).unwrap();
        assert_eq!(
            deadlines(&late, &f, local_date(at(2020, 3, 1)))
                .assign
                .unwrap()
                .timeliness,
            Timeliness::Late
        );
        // Accepted 2020-01-31 (a month end): 60 days is 2020-03-31 in a leap year.
        let mut acc = CaseRecord::registered_petition(at(2020, 1, 2));
        acc = step(&acc, assign("510422100"), at(2020, 1, 20)).unwrap();
        acc = step(&acc, Action::Accept, at(2020, 1, 31)).unwrap();
        let d = deadlines(&acc, &f, local_date(at(2020, 2, 10)));
        assert_eq!(d.accept.unwrap().timeliness, Timeliness::OnTime);
        assert_eq!(
            d.conclude.unwrap().due,
            NaiveDate::from_ymd_opt(2020, 3, 31).unwrap()
        );
    }
}
