//! The steps of a case: what a well-formed step request is, as the workflow takes it ([`Action`]).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::Clock;
use crate::{
    v1::{
        AcceptCaseRequest, AssignCaseRequest, AssignmentMode, BacklogResolution, BacklogState,
        CloseSupervisionRequest, ConfirmCompletionRequest, Date, DecideObjectionRequest,
        DecideReviewRequest, DeclineCaseRequest, DeclineGround, ExtendCaseRequest, Level,
        MarkBacklogRequest, ObjectToAssignmentRequest, Rating, RecordEvaluationRequest,
        RecordHearingRequest, ReplyCaseRequest, ReplySupervisionRequest, RequestReviewRequest,
        ResolveBacklogRequest, ReviewOutcome, SuperviseCaseRequest, SupervisionMethod,
    },
    validate::{self, FieldViolation, Violations},
};

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

/// A step request, checked: the case, the etag it was read at, when the step happened, the step and the
/// text its event records (a reason, a note, an opinion).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub case_id: Uuid,
    pub etag: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub action: Action,
    pub reason: String,
}

/// A request of one step of a case.
pub trait StepRequest: prost::Message + Default {
    /// The method's name, as idempotency keys and the audit trail name it.
    const METHOD: &'static str;
    fn request_id(&self) -> &str;
    /// Checks the request (all but its `request_id`) into `v`; `None` when anything is wrong.
    fn parse(&self, v: &mut Violations, clock: Clock) -> Option<Step>;
}

/// A calendar date of the bureau, 1900–2200.
pub fn date(field: &str, d: &Date) -> Result<NaiveDate, FieldViolation> {
    u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .filter(|date| (1900..=2200).contains(&chrono::Datelike::year(date)))
        .ok_or_else(|| FieldViolation::new(field, "not a calendar date"))
}

fn required_date(v: &mut Violations, field: &str, d: Option<&Date>) -> Option<NaiveDate> {
    match d {
        Some(d) => v.check(date(field, d)),
        None => {
            v.add(field, "required");
            None
        }
    }
}

fn optional_reason(v: &mut Violations, field: &str, value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some(String::new());
    }
    v.check(validate::required_multiline(field, value, 2000))
}

fn required_enum<T: TryFrom<i32>>(v: &mut Violations, field: &str, value: i32) -> Option<T> {
    v.check(validate::required_enum::<T>(field, value))
}

/// The fields every step carries, then the step's own: each violation of the message is reported at once.
fn step(
    v: &mut Violations,
    case_id: &str,
    etag: &str,
    occurred_at: Option<&prost_types::Timestamp>,
    clock: Clock,
    own: impl FnOnce(&mut Violations) -> Option<(Action, String)>,
) -> Option<Step> {
    let case_id = v.check(
        Uuid::parse_str(case_id)
            .map_err(|_| FieldViolation::new("case_id", "must be a case id (UUID)")),
    );
    let occurred_at = clock.occurred(v, "occurred_at", occurred_at);
    let own = own(v);
    let (action, reason) = own?;
    Some(Step {
        case_id: case_id?,
        etag: (!etag.is_empty()).then(|| etag.to_owned()),
        occurred_at: occurred_at?,
        action,
        reason,
    })
}

macro_rules! step_request {
    ($request:ty, $method:literal, |$v:ident, $req:ident| $own:block) => {
        impl StepRequest for $request {
            const METHOD: &'static str = $method;
            fn request_id(&self) -> &str {
                &self.request_id
            }
            fn parse(&self, v: &mut Violations, clock: Clock) -> Option<Step> {
                let $req = self;
                step(
                    v,
                    &$req.case_id,
                    &$req.etag,
                    $req.occurred_at.as_ref(),
                    clock,
                    |$v: &mut Violations| $own,
                )
            }
        }
    };
}

step_request!(AssignCaseRequest, "AssignCase", |v, req| {
    let mode = required_enum::<AssignmentMode>(v, "mode", req.mode);
    let unit = v.check(validate::org_code(
        "responsible_org_code",
        &req.responsible_org_code,
    ));
    let deadline = match &req.handling_deadline {
        Some(d) => v.check(date("handling_deadline", d)).map(Some),
        None => Some(None),
    };
    let reason = optional_reason(v, "reason", &req.reason);
    let reason = reason?;
    Some((
        Action::Assign {
            mode: mode?,
            unit: unit?,
            handling_deadline: deadline?,
            reason: (!reason.is_empty()).then(|| reason.clone()),
        },
        reason,
    ))
});

step_request!(AcceptCaseRequest, "AcceptCase", |v, req| {
    let _ = (&v, req);
    Some((Action::Accept, String::new()))
});

step_request!(DeclineCaseRequest, "DeclineCase", |v, req| {
    let ground = required_enum::<DeclineGround>(v, "ground", req.ground);
    let reason = optional_reason(v, "reason", &req.reason);
    ground
        .zip(reason)
        .map(|(ground, reason)| (Action::Decline { ground }, reason))
});

step_request!(ObjectToAssignmentRequest, "ObjectToAssignment", |v, req| {
    v.check(validate::required_multiline("reason", &req.reason, 2000))
        .map(|reason| (Action::Object, reason))
});

step_request!(DecideObjectionRequest, "DecideObjection", |v, req| {
    optional_reason(v, "reason", &req.reason)
        .map(|reason| (Action::DecideObjection { agree: req.agree }, reason))
});

step_request!(ExtendCaseRequest, "ExtendCase", |v, req| {
    // The most an extension may add is the deployment's deadline rule, judged by the server's model.
    let days = match u32::try_from(req.days) {
        Ok(d) if d >= 1 => Some(d),
        _ => {
            v.add("days", "at least 1 day");
            None
        }
    };
    let approved_by = v.check(validate::required_text("approved_by", &req.approved_by, 50));
    let reason = v.check(validate::required_multiline("reason", &req.reason, 2000));
    // 延期告知: the petitioner is told in writing; the extension records when.
    let notified_on = match &req.notified_on {
        Some(d) => v.check(date("notified_on", d)),
        None => {
            v.add(
                "notified_on",
                "required: the day the written notice went out",
            );
            None
        }
    };
    let reason = reason?;
    Some((
        Action::Extend {
            days: days?,
            approved_by: approved_by?,
            reason: reason.clone(),
            notified_on: notified_on?,
        },
        reason,
    ))
});

step_request!(ConfirmCompletionRequest, "ConfirmCompletion", |v, req| {
    optional_reason(v, "note", &req.note).map(|note| (Action::ConfirmCompletion, note))
});

step_request!(ReplyCaseRequest, "ReplyCase", |v, req| {
    let opinion = v.check(validate::required_multiline(
        "opinion",
        &req.opinion,
        20_000,
    ));
    let report = if req.completion_report.trim().is_empty() {
        Some(None)
    } else {
        v.check(validate::required_multiline(
            "completion_report",
            &req.completion_report,
            20_000,
        ))
        .map(Some)
    };
    opinion.zip(report).map(|(opinion, completion_report)| {
        (
            Action::Reply {
                opinion,
                completion_report,
                publish_for_evaluation: req.publish_for_evaluation,
            },
            String::new(),
        )
    })
});

step_request!(RecordEvaluationRequest, "RecordEvaluation", |v, req| {
    let office = required_enum::<Rating>(v, "office_rating", req.office_rating);
    let unit = required_enum::<Rating>(v, "unit_rating", req.unit_rating);
    office
        .zip(unit)
        .map(|(office, unit)| (Action::Evaluate { office, unit }, String::new()))
});

step_request!(RequestReviewRequest, "RequestReview", |v, req| {
    optional_reason(v, "reason", &req.reason).map(|r| (Action::RequestReview, r))
});

step_request!(DecideReviewRequest, "DecideReview", |v, req| {
    let outcome = required_enum::<ReviewOutcome>(v, "outcome", req.outcome);
    let opinion = v.check(validate::required_multiline(
        "opinion",
        &req.opinion,
        20_000,
    ));
    outcome
        .zip(opinion)
        .map(|(outcome, opinion)| (Action::DecideReview { outcome }, opinion))
});

step_request!(RecordHearingRequest, "RecordHearing", |v, req| {
    let first_day = required_date(v, "first_day", req.first_day.as_ref());
    let last_day = required_date(v, "last_day", req.last_day.as_ref());
    let note = optional_reason(v, "note", &req.note);
    first_day
        .zip(last_day)
        .zip(note)
        .map(|((first_day, last_day), note)| {
            (
                Action::Hearing {
                    first_day,
                    last_day,
                },
                note,
            )
        })
});

step_request!(SuperviseCaseRequest, "SuperviseCase", |v, req| {
    let level = required_enum::<Level>(v, "level", req.level);
    if level == Some(Level::Township) {
        v.add(
            "level",
            "supervision comes from the county, city, province or centre",
        );
    }
    let method = required_enum::<SupervisionMethod>(v, "method", req.method);
    let reason = optional_reason(v, "reason", &req.reason);
    Some((
        Action::Supervise {
            level: level.filter(|l| *l != Level::Township)?,
            method: method?,
        },
        reason?,
    ))
});

step_request!(ReplySupervisionRequest, "ReplySupervision", |v, req| {
    v.check(validate::required_multiline("reply", &req.reply, 20_000))
        .map(|reply| (Action::ReplySupervision { reply }, String::new()))
});

step_request!(CloseSupervisionRequest, "CloseSupervision", |v, req| {
    optional_reason(v, "note", &req.note).map(|note| (Action::CloseSupervision, note))
});

step_request!(MarkBacklogRequest, "MarkBacklog", |v, req| {
    let leader = if req.leader.trim().is_empty() {
        Some(None)
    } else {
        v.check(validate::required_text("leader", &req.leader, 50))
            .map(Some)
    };
    let reason = optional_reason(v, "reason", &req.reason);
    Some((
        Action::MarkBacklog {
            leader: leader?,
            special_difficult: req.special_difficult,
        },
        reason?,
    ))
});

step_request!(ResolveBacklogRequest, "ResolveBacklog", |v, req| {
    let step = required_enum::<BacklogState>(v, "step", req.step);
    if matches!(
        step,
        Some(BacklogState::Listed | BacklogState::LeaderAssigned)
    ) {
        v.add(
            "step",
            "RESOLVING, RESOLVED or STRUCK_OFF; listing is MarkBacklog",
        );
    }
    let resolution = match BacklogResolution::try_from(req.resolution) {
        Ok(r) => Some(r),
        Err(_) => {
            v.add("resolution", format!("unknown value {}", req.resolution));
            None
        }
    };
    let note = optional_reason(v, "note", &req.note);
    Some((
        Action::ResolveBacklog {
            step: step
                .filter(|s| !matches!(s, BacklogState::Listed | BacklogState::LeaderAssigned))?,
            resolution: resolution?,
        },
        note?,
    ))
});
