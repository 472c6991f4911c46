//! The case workflow (`server/src/cases/model.rs`): random sequences of steps at random times. `apply`
//! never panics, is deterministic, never moves a case back in time or out of a terminal state, takes
//! only the transitions of docs/deadlines.md, and every record it returns keeps the invariants the database
//! and the indicators rely on; the deadline functions never panic on what it returns.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use xinfang_proto::v1::{
    AssignmentMode, BacklogResolution, BacklogState, CaseState, Level, ObjectionState, Rating,
    ReviewOutcome, SupervisionMethod,
};
use xinfang_server::cases::model::{
    Action, CaseRecord, Refusal, Workflow, deadlines, effective_state, local_date, next_due,
    schedule,
};

const UNITS: [&str; 3] = ["510422100", "510422101", "510422D01"];

#[derive(Debug, Arbitrary)]
struct Step {
    /// Minutes after the previous step (negative: a step dated before it).
    minutes: i32,
    action: Act,
}

#[derive(Debug, Arbitrary)]
enum Act {
    Assign {
        assign: bool,
        unit: u8,
        deadline_days: Option<i16>,
        reason: bool,
    },
    Accept,
    Decline(u8),
    Object,
    DecideObjection(bool),
    /// Days, and how many days back the notice went out.
    Extend(u8, u8),
    Confirm,
    ReplySupervision,
    CloseSupervision,
    Reply(bool, bool),
    Evaluate(u8, u8),
    RequestReview,
    DecideReview(u8),
    /// 听证: first day this many days back, lasting 1 + n % 5 days.
    Hearing(u8, u8),
    Supervise(u8, u8),
    MarkBacklog(Option<u8>, Option<bool>),
    ResolveBacklog(u8, u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Days after 2019-01-01 of the registration.
    start_days: u16,
    /// The case's claim type (`xinfang.v1.ClaimType`, modulo 4).
    claim: u8,
    steps: Vec<Step>,
}

/// A valid (non-zero) value of a protobuf enum, as the service's validation lets through.
fn pick<T: TryFrom<i32>>(b: u8) -> T {
    let mut n = 1 + i32::from(b % 16);
    loop {
        if let Ok(value) = T::try_from(n) {
            return value;
        }
        n -= 1;
        assert!(n > 0, "an enum without values");
    }
}

fn action(act: &Act, today: NaiveDate) -> Action {
    match *act {
        Act::Assign {
            assign,
            unit,
            deadline_days,
            reason,
        } => Action::Assign {
            mode: if assign {
                AssignmentMode::Assign
            } else {
                AssignmentMode::Forward
            },
            unit: UNITS[usize::from(unit) % UNITS.len()].to_owned(),
            handling_deadline: deadline_days
                .and_then(|d| today.checked_add_signed(Duration::days(i64::from(d)))),
            reason: reason.then(|| "转错单位".to_owned()),
        },
        Act::Accept => Action::Accept,
        Act::Decline(g) => Action::Decline { ground: pick(g) },
        Act::Object => Action::Object,
        Act::DecideObjection(agree) => Action::DecideObjection { agree },
        Act::Extend(days, back) => Action::Extend {
            days: u32::from(days),
            approved_by: "县信访局".into(),
            reason: "情况复杂".into(),
            notified_on: today - Duration::days(i64::from(back % 40)),
        },
        Act::Confirm => Action::ConfirmCompletion,
        Act::ReplySupervision => Action::ReplySupervision {
            reply: "已整改".into(),
        },
        Act::CloseSupervision => Action::CloseSupervision,
        Act::Reply(report, publish) => Action::Reply {
            opinion: "意见书".into(),
            completion_report: report.then(|| "办结报告".to_owned()),
            publish_for_evaluation: publish,
        },
        Act::Evaluate(o, u) => Action::Evaluate {
            office: pick::<Rating>(o),
            unit: pick::<Rating>(u),
        },
        Act::RequestReview => Action::RequestReview,
        Act::DecideReview(o) => Action::DecideReview {
            outcome: pick::<ReviewOutcome>(o),
        },
        Act::Supervise(l, m) => Action::Supervise {
            level: pick::<Level>(l),
            method: pick::<SupervisionMethod>(m),
        },
        Act::MarkBacklog(leader, special) => Action::MarkBacklog {
            leader: leader.map(|n| format!("副县长{n}")),
            special_difficult: special,
        },
        Act::Hearing(back, length) => {
            let first_day = today - Duration::days(i64::from(back));
            Action::Hearing {
                first_day,
                last_day: first_day + Duration::days(i64::from(length % 5)),
            }
        }
        Act::ResolveBacklog(step, resolution) => Action::ResolveBacklog {
            step: match step % 3 {
                0 => BacklogState::Resolving,
                1 => BacklogState::Resolved,
                _ => BacklogState::StruckOff,
            },
            resolution: BacklogResolution::try_from(i32::from(resolution % 4)).unwrap_or_default(),
        },
    }
}

fn workflow() -> &'static Workflow {
    static WORKFLOW: OnceLock<Workflow> = OnceLock::new();
    WORKFLOW.get_or_init(|| Workflow::china().expect("the built-in holiday calendar"))
}

/// When the recorded steps of the case's workflow happened (the model's own list).
fn steps_at(r: &CaseRecord) -> Vec<DateTime<Utc>> {
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
        r.hearing_until
            .and_then(xinfang_server::kernel::time::bureau_midnight),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Every instant on the record, the backlog track's included.
fn all_times(r: &CaseRecord) -> Vec<DateTime<Utc>> {
    let mut times = steps_at(r);
    times.extend(r.first_assigned_at);
    times.extend(r.backlog_listed_at);
    times.extend(r.backlog_resolved_at);
    times
}

/// What every stored case satisfies, whatever steps led to it.
fn invariants(r: &CaseRecord) {
    use CaseState::*;
    let max_extension = workflow().rules.max_extension_days as i32;
    assert!((0..=max_extension).contains(&r.extension_days), "{r:?}");
    assert!(matches!(r.review_kind, 0..=2), "{r:?}");
    match r.state {
        Unspecified => panic!("no state: {r:?}"),
        Registered => assert!(r.responsible_org_code.is_none() && r.accepted_at.is_none()),
        Assigned => assert!(r.responsible_org_code.is_some() && r.assigned_at.is_some()),
        Returned => assert!(
            r.responsible_org_code.is_none()
                && r.objected_at.is_some()
                && r.objection_state == ObjectionState::Agreed as i32,
            "{r:?}"
        ),
        Declined => assert!(r.declined_at.is_some() && r.decline_ground != 0),
        Accepted => assert!(r.responsible_org_code.is_some() && r.accepted_at.is_some()),
        Replied | Evaluated | ReviewRequested | Reviewed | Final => {
            assert!(r.accepted_at.is_some() && r.replied_at.is_some(), "{r:?}");
            assert!(r.reply_opinion.is_some(), "{r:?}");
        }
    }
    if r.state == Evaluated {
        assert!(r.evaluated_at.is_some(), "{r:?}");
    }
    if r.state == ReviewRequested {
        assert!(
            r.review_requested_at.is_some() && r.review_kind >= 1,
            "{r:?}"
        );
    }
    if r.state == Reviewed {
        assert!(r.review_decided_at.is_some() && r.review_kind == 1, "{r:?}");
    }
    if r.state == Final {
        assert!(r.review_decided_at.is_some() && r.review_kind == 2, "{r:?}");
    }
    if r.evaluated_at.is_some() {
        assert!(r.replied_at.is_some() && r.office_rating != 0 && r.unit_rating != 0);
        // Only a published opinion is rated.
        assert!(r.evaluation_due.is_some(), "{r:?}");
    }
    if r.objection_state == ObjectionState::Pending as i32 {
        assert!(r.state == Assigned && r.objected_at.is_some(), "{r:?}");
    }
    if r.completion_confirmed_at.is_some() {
        assert!(
            r.completion_report.is_some() && r.replied_at.is_some(),
            "{r:?}"
        );
    }
    if r.supervision_replied_at.is_some() || r.supervision_closed_at.is_some() {
        assert!(r.supervised_at.is_some(), "{r:?}");
    }
    if r.extension_days > 0 {
        assert!(r.extension_notified_on.is_some(), "{r:?}");
    }
    if r.evaluation_due.is_some() {
        assert!(r.replied_at.is_some(), "{r:?}");
    }
    assert!(r.hearing_days >= 0, "{r:?}");
    assert_eq!(r.hearing_days > 0, r.hearing_until.is_some(), "{r:?}");
    if r.hearing_days > 0 {
        assert!(r.review_kind == 2, "{r:?}");
    }
    if let (Some(first), Some(last)) = (r.first_assigned_at, r.assigned_at) {
        assert!(first <= last, "{r:?}");
    }
    if r.assigned_at.is_some() {
        assert!(r.first_assigned_at.is_some(), "{r:?}");
    }
    if matches!(r.state, Assigned | Accepted) {
        let assign = r.assignment_mode == AssignmentMode::Assign as i32;
        assert_eq!(assign, r.handling_deadline.is_some(), "{r:?}");
    }
    if r.replied_at.is_some() {
        let assign = r.assignment_mode == AssignmentMode::Assign as i32;
        assert_eq!(assign, r.completion_report.is_some(), "{r:?}");
    }
    let backlog = BacklogState::try_from(r.backlog_state).expect("a backlog state");
    if backlog != BacklogState::Unspecified {
        assert!(r.backlog_listed_at.is_some(), "{r:?}");
    }
    if matches!(backlog, BacklogState::Resolved | BacklogState::StruckOff) {
        assert!(
            r.backlog_resolved_at.is_some() && r.backlog_resolution != 0,
            "{r:?}"
        );
    }
    if backlog == BacklogState::LeaderAssigned {
        assert!(r.backlog_leader.is_some(), "{r:?}");
    }
    for at in all_times(r) {
        assert!(at >= r.registered_at, "a step before registration: {r:?}");
    }
    if let (Some(listed), Some(resolved)) = (r.backlog_listed_at, r.backlog_resolved_at) {
        assert!(
            resolved >= listed,
            "a backlog case resolved before it was listed: {r:?}"
        );
    }
}

/// Stored states a step may lead to from each stored state.
fn allowed(from: CaseState, to: CaseState) -> bool {
    use CaseState::*;
    from == to
        || matches!(
            (from, to),
            (Registered | Returned, Assigned | Declined)
                | (Assigned, Accepted | Declined | Returned | Assigned)
                | (Accepted, Replied)
                | (Replied, Evaluated | ReviewRequested)
                | (Evaluated, ReviewRequested)
                | (ReviewRequested, Reviewed | Final)
                | (Reviewed, ReviewRequested)
        )
}

fn event_of(action: &Action, name: &str) -> bool {
    match action {
        Action::Assign { .. } => matches!(name, "assigned" | "reassigned"),
        Action::Accept => name == "accepted",
        Action::Decline { .. } => name == "declined",
        Action::Object => name == "objected",
        Action::DecideObjection { .. } => matches!(name, "objection_agreed" | "objection_refused"),
        Action::Extend { .. } => name == "extended",
        Action::ConfirmCompletion => name == "completion_confirmed",
        Action::ReplySupervision { .. } => name == "supervision_replied",
        Action::CloseSupervision => name == "supervision_closed",
        Action::Reply { .. } => name == "replied",
        Action::Evaluate { .. } => name == "evaluated",
        Action::RequestReview => name == "review_requested",
        Action::DecideReview { .. } => name == "review_decided",
        Action::Hearing { .. } => name == "hearing_recorded",
        Action::Supervise { .. } => name == "supervised",
        Action::MarkBacklog { .. } => matches!(name, "backlog_listed" | "backlog_updated"),
        Action::ResolveBacklog { .. } => {
            matches!(
                name,
                "backlog_resolving" | "backlog_resolved" | "backlog_struck_off"
            )
        }
    }
}

fuzz_target!(|input: Input| {
    let workflow = workflow();
    let start = Utc.with_ymd_and_hms(2019, 1, 1, 1, 0, 0).unwrap()
        + Duration::days(i64::from(input.start_days % 3650));
    let mut record = CaseRecord::registered(start, i32::from(input.claim % 4));
    let mut at = start;
    invariants(&record);
    for step in input.steps.iter().take(64) {
        // At most about 45 days per step, so that windows are sometimes met and sometimes missed.
        let minutes = i64::from(step.minutes) % (45 * 24 * 60);
        let when = at + Duration::minutes(minutes);
        let facts = workflow.facts(when);
        let today = local_date(when);
        let action = action(&step.action, today);
        let before_state = effective_state(&record, &facts, today);
        let result = xinfang_server::cases::model::apply(&record, &action, &facts);
        assert_eq!(
            result,
            xinfang_server::cases::model::apply(&record, &action, &facts),
            "deterministic"
        );
        let latest = steps_at(&record).into_iter().max().expect("registered_at");
        match result {
            Ok((next, name)) => {
                assert!(
                    when >= latest,
                    "a step dated before the previous one was taken"
                );
                assert!(event_of(&action, name), "{action:?} recorded as {name}");
                assert!(
                    allowed(record.state, next.state),
                    "{:?} → {:?} by {action:?}",
                    record.state,
                    next.state
                );
                if record.state == CaseState::Declined {
                    assert_eq!(next.state, CaseState::Declined, "declined is terminal");
                }
                if before_state == CaseState::Final {
                    assert_eq!(
                        effective_state(&next, &facts, today),
                        CaseState::Final,
                        "final stays final: {action:?}"
                    );
                }
                for t in steps_at(&next) {
                    assert!(t <= when, "a step dated after it happened: {next:?}");
                }
                // The backlog track has its own order; the case's steps may predate a listing.
                if matches!(
                    action,
                    Action::MarkBacklog { .. } | Action::ResolveBacklog { .. }
                ) {
                    for t in all_times(&next) {
                        assert!(
                            t <= when,
                            "a backlog step dated before the listing: {next:?}"
                        );
                    }
                }
                invariants(&next);
                let _ = deadlines(&next, &facts, today);
                let _ = schedule(&next, &facts);
                let _ = next_due(&next, &facts);
                record = next;
                at = when;
            }
            Err(Refusal::Input { field, .. }) => {
                if when < latest {
                    assert_eq!(field, "occurred_at");
                } else if field == "occurred_at" {
                    let any_later = all_times(&record).into_iter().any(|t| t > when);
                    assert!(any_later, "refused for its date, but nothing lies after it");
                } else {
                    assert!(
                        matches!(
                            field,
                            "reason"
                                | "handling_deadline"
                                | "days"
                                | "completion_report"
                                | "resolution"
                                | "first_day"
                                | "last_day"
                                | "notified_on"
                        ),
                        "{field}"
                    );
                }
            }
            Err(Refusal::State { reason, .. }) => {
                assert!(
                    when >= latest,
                    "a dated-back step is refused for its date first"
                );
                assert!(
                    reason.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                    "{reason}"
                );
            }
        }
    }
});
