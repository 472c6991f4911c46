//! The workflow's steps: `apply(record, action, facts)` gives the record after a step, or why not.

use chrono::{DateTime, Utc};
use xinfang_proto::v1::{
    AssignmentMode, BacklogResolution, BacklogState, CaseState, ObjectionState, Rating,
};

use super::{
    Action, CaseRecord, Facts, Refusal, calendar, conclude_due, deadlines::review_window_base,
    effective_state, has_statutory_conclusion, local_date, refuse, review_decision_due,
};

/// The refusal for a step that needs the case in a state it has left (or not reached).
fn wrong_state(state: CaseState, wanted: &str) -> Refusal {
    match state {
        CaseState::Registered | CaseState::Returned => refuse(
            "CASE_NOT_ASSIGNED",
            format!("the case is not assigned; {wanted}"),
        ),
        CaseState::Assigned => refuse(
            "CASE_NOT_ACCEPTED",
            format!("the responsible unit has not accepted the case; {wanted}"),
        ),
        CaseState::Accepted => refuse(
            "CASE_ALREADY_ACCEPTED",
            format!("the case is accepted and being handled; {wanted}"),
        ),
        CaseState::Declined => refuse(
            "CASE_DECLINED",
            format!("the case was not accepted; {wanted}"),
        ),
        CaseState::Replied
        | CaseState::Evaluated
        | CaseState::ReviewRequested
        | CaseState::Reviewed => refuse(
            "CASE_ALREADY_CONCLUDED",
            format!("the case is concluded by its written opinion; {wanted}"),
        ),
        CaseState::Final | CaseState::Unspecified => {
            refuse("CASE_FINAL", format!("the case is final; {wanted}"))
        }
    }
}

/// When the latest recorded step of the case happened: a new step may not be dated before it.
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
        r.hearing_until
            .and_then(crate::kernel::time::bureau_midnight),
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
            message: format!("before the case's previous step ({})", local_date(last)),
        });
    }
    // The backlog track keeps its own order too: a backlog case is not worked on or resolved before it was
    // listed (or again before it was resolved). Its instants stay out of `last_step_at`, so that the
    // case's own steps may still be recorded for days before a listing.
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
                        "only a case not yet accepted is assigned",
                    ));
                }
            };
            if reassign {
                if record.responsible_org_code.as_deref() == Some(unit.as_str()) {
                    return Err(refuse(
                        "SAME_UNIT",
                        "the case is assigned to this unit already",
                    ));
                }
                if reason.is_none() {
                    return Err(Refusal::Input {
                        field: "reason",
                        message: "required when reassigning a case".into(),
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
            // cannot accept before it receives the case, so no statutory limit ends earlier.
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
                return Err(wrong_state(state, "only an assigned case is accepted"));
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
                    "only a case not yet accepted is declined",
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
                return Err(wrong_state(state, "only an assigned case is objected to"));
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
            // The case stays with the unit until the office decides: an objection is not an answer to
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
                // The case comes back for a new assignment; the objecting unit's clocks are void.
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
                return Err(wrong_state(state, "only a case being handled is extended"));
            }
            if !has_statutory_conclusion(record, facts) {
                return Err(refuse(
                    "NO_STATUTORY_DEADLINE",
                    "this kind of case follows its own procedure: it has no statutory conclusion period \
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
                    "a case is extended once",
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
                    "only a 交办 case files a completion report to confirm",
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
                    "only a case being handled is replied to",
                ));
            }
            let assigned = record.assignment_mode == AssignmentMode::Assign as i32;
            if assigned && completion_report.is_none() {
                return Err(Refusal::Input {
                    field: "completion_report",
                    message: "required for a 交办 case: the 办结报告 to the petition office".into(),
                });
            }
            if !assigned && completion_report.is_some() {
                return Err(Refusal::Input {
                    field: "completion_report",
                    message: "only 交办 cases file a completion report".into(),
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
                    "the ratings of this case are recorded already",
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
            // After the window a published case counts as 未参评 already; saying so explicitly is all that
            // may still be recorded.
            let lapsed = [*office, *unit] != [Rating::NotParticipated; 2];
            if let Some(due) = record.evaluation_due
                && lapsed
                && local_date(facts.at) > due
            {
                return Err(refuse(
                    "EVALUATION_WINDOW_CLOSED",
                    format!(
                        "the evaluation window closed on {due}; the case counts as 未参评 (not evaluated)"
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
                    CaseState::Final => refuse("CASE_FINAL", "after 复核 the case is final"),
                    CaseState::Declined => refuse("CASE_DECLINED", "the case was not accepted"),
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
                    format!("the review had to be requested by {due}; the case is final"),
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
                    return Err(refuse("CASE_FINAL", "a final case is not supervised"));
                }
                CaseState::Declined => {
                    return Err(refuse("CASE_DECLINED", "the case was not accepted"));
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
                    "the case is not under supervision",
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
                    "the case is not under supervision",
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
                    "the case is not a backlog case",
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
