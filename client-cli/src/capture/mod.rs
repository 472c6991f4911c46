//! Capturing offline: each operation is checked with the server's own input rules
//! ([`xinfang_proto::input`], the one implementation the server applies to every call and to every pushed
//! operation) before it is appended to the outbox, so that an operation is refused here for the reasons the
//! server would refuse it and most mistakes never leave the laptop (docs/architecture.md, "Input rules live
//! with the contract").
//!
//! What only the server can know (whether a category or org unit exists, who may do what, the state of a
//! case now, the deployment's deadline rules such as how long an extension may be) is judged there; an
//! operation it refuses is kept in the outbox with the reason.

use chrono::{DateTime, Utc};
use xinfang_proto::{
    input::{
        Clock,
        intake::{NewLetter, NewTrip, NewVisit},
        steps::StepRequest,
    },
    v1::{
        AcceptCaseRequest, DeclineCaseRequest, ExtendCaseRequest, ObjectToAssignmentRequest,
        Operation, RecordEvaluationRequest, RecordReturnTripRequest, RegisterLetterRequest,
        RegisterVisitRequest, ReplyCaseRequest, ReturnTrip, TripCosts, TripOutcome, operation::Op,
    },
    validate::{FieldViolation, Violations},
};

use crate::store::{DraftState, OutboxEntry, Store, StoreError, TripDraft};

pub use xinfang_proto::input::{
    MAX_PETITIONERS, MAX_REPRESENTATIVES, MAX_TRIP_CASES, MAX_TRIP_OFFICERS,
};

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{0}")]
    Invalid(Violations),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Violations> for CaptureError {
    fn from(v: Violations) -> Self {
        CaptureError::Invalid(v)
    }
}

pub use xinfang_proto::calendar::today_yyyymmdd;

/// Checks an operation as the server checks it when it is pushed, with the same rules, field paths and
/// messages. `now` is the laptop's clock. The laptop does not know the account's role, so it dates events as
/// a role that loads history would: only the server refuses an event more than a year back to the roles that
/// record the present.
pub fn validate(op: &Op, now: DateTime<Utc>) -> Result<(), Violations> {
    let clock = Clock { now, history: true };
    let mut v = Violations::new();
    // The checked values are the server's to use; here only whether the operation passed counts.
    let passed = match op {
        Op::RegisterVisit(r) => NewVisit::parse(&mut v, r, clock).is_some(),
        Op::RegisterLetter(r) => NewLetter::parse(&mut v, r, clock).is_some(),
        Op::RecordReturnTrip(r) => NewTrip::parse(&mut v, r, clock).is_some(),
        Op::AcceptCase(r) => r.parse(&mut v, clock).is_some(),
        Op::DeclineCase(r) => r.parse(&mut v, clock).is_some(),
        Op::ObjectToAssignment(r) => r.parse(&mut v, clock).is_some(),
        Op::ExtendCase(r) => r.parse(&mut v, clock).is_some(),
        Op::ReplyCase(r) => r.parse(&mut v, clock).is_some(),
        Op::RecordEvaluation(r) => r.parse(&mut v, clock).is_some(),
        Op::ReplySupervision(r) => r.parse(&mut v, clock).is_some(),
    };
    v.finish(|| passed.then_some(()))
}

fn timestamp(now: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: 0,
    }
}

/// Validates `op`, dates a case step that has no `occurred_at` now (deadlines are judged by when the step
/// happened, not by when the laptop next sees a network), and appends it to the outbox under a fresh UUIDv7
/// op id with an empty `request_id`.
pub fn capture(store: &mut Store, op: Op, now: DateTime<Utc>) -> Result<OutboxEntry, CaptureError> {
    let op = prepare(op, now)?;
    Ok(store.enqueue(Operation {
        op_id: String::new(),
        op: Some(op),
    })?)
}

/// What [`capture`] does before queueing: dates the step, clears `request_id`, validates.
pub fn prepare(mut op: Op, now: DateTime<Utc>) -> Result<Op, Violations> {
    let at = Some(timestamp(now));
    match &mut op {
        Op::RegisterVisit(r) => r.request_id.clear(),
        Op::RegisterLetter(r) => r.request_id.clear(),
        Op::RecordReturnTrip(r) => r.request_id.clear(),
        Op::AcceptCase(r) => {
            r.request_id.clear();
            r.occurred_at = r.occurred_at.or(at);
        }
        Op::DeclineCase(r) => {
            r.request_id.clear();
            r.occurred_at = r.occurred_at.or(at);
        }
        Op::ObjectToAssignment(r) => {
            r.request_id.clear();
            r.occurred_at = r.occurred_at.or(at);
        }
        Op::ExtendCase(r) => {
            r.request_id.clear();
            r.occurred_at = r.occurred_at.or(at);
        }
        Op::ReplyCase(r) => {
            r.request_id.clear();
            r.occurred_at = r.occurred_at.or(at);
        }
        Op::RecordEvaluation(r) => {
            r.request_id.clear();
            r.occurred_at = r.occurred_at.or(at);
        }
        Op::ReplySupervision(r) => {
            r.request_id.clear();
            r.occurred_at = r.occurred_at.or(at);
        }
    }
    validate(&op, now)?;
    Ok(op)
}

/// Re-queues a rejected operation after the user's edits: validated again, under a new op id.
pub fn requeue(
    store: &mut Store,
    rejected_op_id: &str,
    edited: Op,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    validate(&edited, now)?;
    Ok(store.replace(
        rejected_op_id,
        Operation {
            op_id: String::new(),
            op: Some(edited),
        },
    )?)
}

pub fn register_visit(
    store: &mut Store,
    request: RegisterVisitRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::RegisterVisit(request), now)
}

pub fn register_letter(
    store: &mut Store,
    request: RegisterLetterRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::RegisterLetter(request), now)
}

pub fn record_trip(
    store: &mut Store,
    request: RecordReturnTripRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::RecordReturnTrip(request), now)
}

/// Keeps a trip under way on the laptop, as a draft outside the outbox: the server records a trip once, when
/// it is closed ([`close_trip`]). Checked with the server's rules now (outcome `UNDER_WAY`), so that the close
/// only has to add what happened at the end.
pub fn draft_trip(
    store: &mut Store,
    request: RecordReturnTripRequest,
    now: DateTime<Utc>,
) -> Result<TripDraft, CaptureError> {
    let Some(mut trip) = request.trip else {
        return Err(Violations::from(FieldViolation::new("trip", "required")).into());
    };
    trip.outcome = TripOutcome::UnderWay as i32;
    let mut v = trip_violations(&trip, now);
    if trip.returned_at.is_some() {
        v.add(
            "trip.returned_at",
            "a trip under way has not returned: give the return to `xf trip close`",
        );
    }
    v.finish(|| Some(()))?;
    Ok(store.save_trip_draft(&trip)?)
}

/// What closing a trip adds to its draft. `None` keeps what the draft has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TripClosing {
    /// When the officers (and the petitioners they brought) were back. Required.
    pub returned_at: Option<prost_types::Timestamp>,
    /// `TripOutcome`: returned, not returned or handed over. Required.
    pub outcome: i32,
    /// Only when they were not known when the draft was made, or were wrong.
    pub departed_at: Option<prost_types::Timestamp>,
    pub arrived_at: Option<prost_types::Timestamp>,
    /// Costs in yuan, field by field.
    pub transport: Option<String>,
    pub lodging: Option<String>,
    pub meals: Option<String>,
    pub other: Option<String>,
    pub report: Option<String>,
}

/// The complete trip: the draft with what the close adds.
pub fn closed_trip(draft: &ReturnTrip, closing: &TripClosing) -> ReturnTrip {
    let mut trip = draft.clone();
    trip.returned_at = closing.returned_at.or(trip.returned_at);
    trip.departed_at = closing.departed_at.or(trip.departed_at);
    trip.arrived_at = closing.arrived_at.or(trip.arrived_at);
    trip.outcome = closing.outcome;
    let mut costs = trip.costs.take().unwrap_or_default();
    for (field, given) in [
        (&mut costs.transport, &closing.transport),
        (&mut costs.lodging, &closing.lodging),
        (&mut costs.meals, &closing.meals),
        (&mut costs.other, &closing.other),
    ] {
        if let Some(value) = given {
            *field = value.trim().to_owned();
        }
    }
    // The server adds the total.
    costs.total.clear();
    trip.costs = (costs != TripCosts::default()).then_some(costs);
    if let Some(report) = &closing.report {
        trip.report = report.clone();
    }
    trip
}

/// Closes an open draft (its id, or the first or last characters of it): the complete trip is checked, with
/// what a closed trip needs (a return time and a final outcome), and queued in the same transaction that
/// marks the draft closed.
pub fn close_trip(
    store: &mut Store,
    draft_id: &str,
    closing: &TripClosing,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    let draft = store.find_trip_draft(draft_id)?;
    if draft.state != DraftState::Open {
        return Err(StoreError::DraftNotOpen {
            id: draft.id,
            state: draft.state,
        }
        .into());
    }
    let trip = closed_trip(&draft.trip, closing);
    let mut v = trip_violations(&trip, now);
    match TripOutcome::try_from(trip.outcome) {
        Ok(TripOutcome::Returned | TripOutcome::NotReturned | TripOutcome::HandedOver) => {}
        _ => v.add(
            "trip.outcome",
            "a closed trip ends returned, not-returned or handed-over",
        ),
    }
    if trip.returned_at.is_none() {
        v.add("trip.returned_at", "required to close a trip");
    }
    v.finish(|| Some(()))?;
    let op = prepare(
        Op::RecordReturnTrip(RecordReturnTripRequest {
            request_id: String::new(),
            trip: Some(trip),
        }),
        now,
    )?;
    Ok(store.close_trip_draft(
        &draft.id,
        Operation {
            op_id: String::new(),
            op: Some(op),
        },
    )?)
}

/// The server's rules for a trip, as a list (empty when it passes).
fn trip_violations(trip: &ReturnTrip, now: DateTime<Utc>) -> Violations {
    let op = Op::RecordReturnTrip(RecordReturnTripRequest {
        request_id: String::new(),
        trip: Some(trip.clone()),
    });
    validate(&op, now).err().unwrap_or_default()
}

pub fn accept_case(
    store: &mut Store,
    request: AcceptCaseRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::AcceptCase(request), now)
}

pub fn decline_case(
    store: &mut Store,
    request: DeclineCaseRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::DeclineCase(request), now)
}

pub fn object_to_assignment(
    store: &mut Store,
    request: ObjectToAssignmentRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::ObjectToAssignment(request), now)
}

pub fn extend_case(
    store: &mut Store,
    request: ExtendCaseRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::ExtendCase(request), now)
}

pub fn reply_case(
    store: &mut Store,
    request: ReplyCaseRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::ReplyCase(request), now)
}

pub fn record_evaluation(
    store: &mut Store,
    request: RecordEvaluationRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::RecordEvaluation(request), now)
}

pub fn reply_supervision(
    store: &mut Store,
    request: xinfang_proto::v1::ReplySupervisionRequest,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, CaptureError> {
    capture(store, Op::ReplySupervision(request), now)
}

#[cfg(test)]
mod tests;
