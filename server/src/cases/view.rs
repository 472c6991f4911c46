//! Cases and their events as the API shows them.

use chrono::{DateTime, NaiveDate, Utc};
use xinfang_proto::v1::{Case, CaseEvent, Date, Deadline, Deadlines};

use super::{
    model::{self, DeadlineStatus, Workflow},
    store::{CaseRow, EventRow},
};
use crate::kernel::time;

pub fn date(d: NaiveDate) -> Date {
    use chrono::Datelike;
    Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

fn deadline(d: Option<DeadlineStatus>) -> Option<Deadline> {
    d.map(|d| Deadline {
        due: Some(date(d.due)),
        timeliness: model::timeliness_to_proto(d.timeliness) as i32,
        done_at: d.done_at.map(time::to_proto),
    })
}

/// A case as the API shows it on `now`: its state (final once its review window passed) and its clocks.
pub fn case(workflow: &Workflow, row: &CaseRow, now: DateTime<Utc>) -> Case {
    let record = row.record();
    let facts = workflow.facts(now);
    let today = model::local_date(now);
    let set = model::deadlines(&record, &facts, today);
    let ts = |t: Option<DateTime<Utc>>| t.map(time::to_proto);
    Case {
        id: row.id.to_string(),
        number: row.number.clone(),
        state: model::effective_state(&record, &facts, today) as i32,
        category: row.category_code.clone(),
        problem_org_code: row.problem_org_code.clone(),
        content: row.content.clone(),
        demands: row.demands.clone(),
        registered_at: ts(Some(row.registered_at)),
        responsible_org_code: row.responsible_org_code.clone().unwrap_or_default(),
        assignment_mode: record.assignment_mode,
        handling_deadline: row.handling_deadline.map(date),
        assigned_at: ts(row.assigned_at),
        accepted_at: ts(row.accepted_at),
        declined_at: ts(row.declined_at),
        decline_ground: record.decline_ground,
        extension_days: row.extension_days,
        extension_approved_by: row.extension_approved_by.clone().unwrap_or_default(),
        extension_reason: row.extension_reason.clone().unwrap_or_default(),
        replied_at: ts(row.replied_at),
        reply_opinion: row.reply_opinion.clone().unwrap_or_default(),
        completion_report: row.completion_report.clone().unwrap_or_default(),
        office_rating: record.office_rating,
        unit_rating: record.unit_rating,
        evaluated_at: ts(row.evaluated_at),
        review_kind: record.review_kind,
        review_requested_at: ts(row.review_requested_at),
        review_decided_at: ts(row.review_decided_at),
        review_outcome: record.review_outcome,
        hearing_days: record.hearing_days,
        hearing_until: record.hearing_until.map(date),
        supervised: row.supervised,
        supervision_level: record.supervision_level,
        supervision_method: record.supervision_method,
        backlog_state: record.backlog_state,
        backlog_leader: row.backlog_leader.clone().unwrap_or_default(),
        special_difficult: row.special_difficult,
        backlog_resolution: record.backlog_resolution,
        deadlines: Some(Deadlines {
            assign: deadline(set.assign),
            accept: deadline(set.accept),
            conclude: deadline(set.conclude),
            review_request: deadline(set.review_request),
            review_decision: deadline(set.review_decision),
            evaluation: deadline(set.evaluation),
            supervision_reply: deadline(set.supervision_reply),
        }),
        etag: row.version.to_string(),
        update_time: ts(Some(row.updated_at)),
        claim_type: i32::from(row.claim_type),
        accused_org_code: row.accused_org_code.clone().unwrap_or_default(),
        objection_state: record.objection_state,
        objected_at: ts(row.objected_at),
        objection_decided_at: ts(row.objection_decided_at),
        extension_notified_on: row.extension_notified_on.map(date),
        supervised_at: ts(row.supervised_at),
        supervision_replied_at: ts(row.supervision_replied_at),
        supervision_reply: row.supervision_reply.clone().unwrap_or_default(),
        supervision_closed_at: ts(row.supervision_closed_at),
        completion_confirmed_at: ts(row.completion_confirmed_at),
        regulation: row.regulation.clone(),
    }
}

pub fn event(e: EventRow) -> CaseEvent {
    CaseEvent {
        sequence: e.id,
        case_id: e.case_id.to_string(),
        action: e.action,
        actor: e.actor.to_string(),
        occurred_at: Some(time::to_proto(e.occurred_at)),
        recorded_at: Some(time::to_proto(e.recorded_at)),
        reason: e.reason,
        before_json: e.before.map(|j| j.to_string()).unwrap_or_default(),
        after_json: e.after.map(|j| j.to_string()).unwrap_or_default(),
    }
}
