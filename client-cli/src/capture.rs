//! Capturing offline: each operation is checked with the server's input rules (the shared
//! [`xinfang_proto::validate`], [`personal`] and [`money`] functions, field by field under the same proto
//! paths) before it is appended to the outbox, so that most mistakes never leave the laptop.
//!
//! What only the server can know (whether a category or org unit exists, who may do what, the state of a
//! matter now) is judged there; an operation it refuses is kept in the outbox with the reason.

use chrono::{DateTime, Utc};
use xinfang_proto::{
    money, personal,
    v1::{
        AcceptCaseRequest, DeclineCaseRequest, DeclineGround, ExtendCaseRequest, LetterChannel,
        Level, MatterInput, ObjectToAssignmentRequest, Operation, Petitioner, Rating,
        RecordEvaluationRequest, RecordReturnTripRequest, RegisterLetterRequest,
        RegisterVisitRequest, ReplyCaseRequest, ReturnTrip, TripCosts, TripOutcome, operation::Op,
    },
    validate::{self, FieldViolation, Violations},
};

use crate::store::{DraftState, OutboxEntry, Store, StoreError, TripDraft};

/// Representatives a collective visit may name (《信访条例》), petitioners listed by name, officers and
/// matters of one trip: the server's limits.
pub const MAX_REPRESENTATIVES: usize = 5;
pub const MAX_PETITIONERS: usize = 50;
pub const MAX_TRIP_OFFICERS: usize = 20;
pub const MAX_TRIP_CASES: usize = 50;

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

fn timestamp(now: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: 0,
    }
}

/// Checks an operation as the server would check its fields. `now` is the laptop's clock.
pub fn validate(op: &Op, now: DateTime<Utc>) -> Result<(), Violations> {
    let mut v = Violations::new();
    match op {
        Op::RegisterVisit(r) => visit(&mut v, r, now),
        Op::RegisterLetter(r) => letter(&mut v, r, now),
        Op::RecordReturnTrip(r) => trip(&mut v, r, now),
        Op::AcceptCase(r) => {
            common(&mut v, &r.case_id, r.occurred_at.as_ref(), now);
        }
        Op::DeclineCase(r) => {
            common(&mut v, &r.case_id, r.occurred_at.as_ref(), now);
            v.check(validate::required_enum::<DeclineGround>("ground", r.ground));
            if !r.reason.trim().is_empty() {
                v.check(validate::required_multiline("reason", &r.reason, 2000));
            }
        }
        Op::ObjectToAssignment(r) => {
            common(&mut v, &r.case_id, r.occurred_at.as_ref(), now);
            v.check(validate::required_multiline("reason", &r.reason, 2000));
        }
        Op::ExtendCase(r) => {
            common(&mut v, &r.case_id, r.occurred_at.as_ref(), now);
            if !(1..=30).contains(&r.days) {
                v.add("days", "1 to 30 days");
            }
            v.check(validate::required_text("approved_by", &r.approved_by, 50));
            v.check(validate::required_multiline("reason", &r.reason, 2000));
            if r.notified_on.is_none() {
                v.add(
                    "notified_on",
                    "required: the day the written notice went out",
                );
            }
        }
        Op::ReplyCase(r) => {
            common(&mut v, &r.case_id, r.occurred_at.as_ref(), now);
            v.check(validate::required_multiline("opinion", &r.opinion, 20_000));
            if !r.completion_report.trim().is_empty() {
                v.check(validate::required_multiline(
                    "completion_report",
                    &r.completion_report,
                    20_000,
                ));
            }
        }
        Op::RecordEvaluation(r) => {
            common(&mut v, &r.case_id, r.occurred_at.as_ref(), now);
            v.check(validate::required_enum::<Rating>(
                "office_rating",
                r.office_rating,
            ));
            v.check(validate::required_enum::<Rating>(
                "unit_rating",
                r.unit_rating,
            ));
        }
        Op::ReplySupervision(r) => {
            common(&mut v, &r.case_id, r.occurred_at.as_ref(), now);
            v.check(validate::required_multiline("reply", &r.reply, 20_000));
        }
    }
    v.finish(|| Some(()))
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
    match (trip.returned_at, trip.arrived_at, trip.departed_at) {
        (None, ..) => v.add("trip.returned_at", "required to close a trip"),
        // Times run notified ≤ departed ≤ arrived ≤ returned; the trip rules compare each time with the one
        // before it, so with no arrival the return is compared with the departure here.
        (Some(r), None, Some(d)) if (r.seconds, r.nanos) < (d.seconds, d.nanos) => {
            v.add("trip.returned_at", "before the departure")
        }
        _ => {}
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

// -------------------------------------------------------------------------------------------------------
// The rules, field by field, under the server's field paths

fn common(
    v: &mut Violations,
    case_id: &str,
    at: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) {
    v.check(uuid_field("case_id", case_id));
    v.check(validate::occurred_at("occurred_at", at, now.timestamp()));
}

fn uuid_field(field: &str, value: &str) -> Result<uuid::Uuid, FieldViolation> {
    uuid::Uuid::parse_str(value).map_err(|_| FieldViolation::new(field, "must be an id (UUID)"))
}

fn optional_text(v: &mut Violations, field: &str, value: &str, max: usize) -> bool {
    value.trim().is_empty()
        || v.check(validate::required_text(field, value, max))
            .is_some()
}

fn time(
    v: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
    required: bool,
) -> Option<i64> {
    match value {
        None => {
            if required {
                v.add(field, "required");
            }
            None
        }
        Some(ts) => v
            .check(validate::occurred_at(field, Some(ts), now.timestamp()))
            .map(|t| t.seconds),
    }
}

fn petitioners(v: &mut Violations, field: &str, list: &[Petitioner], today: u32) {
    if list.len() > MAX_PETITIONERS {
        v.add(
            field,
            format!("at most {MAX_PETITIONERS} petitioners are registered"),
        );
        return;
    }
    let mut seen = std::collections::HashSet::new();
    for (i, p) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        v.check(validate::required_text(&format!("{f}.name"), &p.name, 50));
        if !p.id_number.trim().is_empty()
            && let Some(id) = v.check(personal::id_number(
                &format!("{f}.id_number"),
                &p.id_number,
                today,
            ))
            && !seen.insert(id)
        {
            v.add(format!("{f}.id_number"), "the same person is listed twice");
        }
        if !p.phone.trim().is_empty() {
            v.check(personal::phone(&format!("{f}.phone"), &p.phone));
        }
        optional_text(v, &format!("{f}.address"), &p.address, 200);
    }
}

fn matter(v: &mut Violations, field: &str, m: Option<&MatterInput>) {
    let Some(m) = m else {
        v.add(field, "required");
        return;
    };
    v.check(validate::required_multiline(
        &format!("{field}.content"),
        &m.content,
        4000,
    ));
    v.check(validate::required_multiline(
        &format!("{field}.demands"),
        &m.demands,
        2000,
    ));
    v.check(validate::dictionary_code(
        &format!("{field}.category"),
        &m.category,
    ));
    v.check(validate::org_code(
        &format!("{field}.problem_org_code"),
        &m.problem_org_code,
    ));
    if !m.link_case_id.is_empty() {
        v.check(uuid_field(
            &format!("{field}.link_case_id"),
            &m.link_case_id,
        ));
    }
}

fn visit(v: &mut Violations, request: &RegisterVisitRequest, now: DateTime<Utc>) {
    let Some(visit) = &request.visit else {
        v.add("visit", "required");
        return;
    };
    time(v, "visit.visited_at", visit.visited_at.as_ref(), now, true);
    let level = v.check(validate::required_enum::<Level>("visit.level", visit.level));
    if level == Some(Level::Township) {
        v.add(
            "visit.level",
            "visits are registered at county, city, province or national level",
        );
    }
    v.check(validate::required_text(
        "visit.place_name",
        &visit.place_name,
        100,
    ));
    let headcount = u32::try_from(visit.headcount)
        .ok()
        .filter(|n| (1..=10_000).contains(n));
    if headcount.is_none() {
        v.add("visit.headcount", "must be between 1 and 10000 persons");
    }
    petitioners(
        v,
        "visit.petitioners",
        &visit.petitioners,
        today_yyyymmdd(now),
    );
    if visit.petitioners.is_empty() {
        v.add("visit.petitioners", "at least the person met is required");
    }
    if let Some(n) = headcount
        && visit.petitioners.len() > n as usize
    {
        v.add(
            "visit.petitioners",
            format!(
                "more petitioners ({}) than persons in the batch ({n})",
                visit.petitioners.len()
            ),
        );
    }
    let representatives = visit
        .petitioners
        .iter()
        .filter(|p| p.representative)
        .count();
    if representatives > MAX_REPRESENTATIVES {
        v.add(
            "visit.petitioners",
            format!("at most {MAX_REPRESENTATIVES} representatives, got {representatives}"),
        );
    }
    matter(v, "visit.matter", visit.matter.as_ref());
}

fn letter(v: &mut Violations, request: &RegisterLetterRequest, now: DateTime<Utc>) {
    let Some(letter) = &request.letter else {
        v.add("letter", "required");
        return;
    };
    let channel = v.check(validate::required_enum::<LetterChannel>(
        "letter.channel",
        letter.channel,
    ));
    let reference_ok = optional_text(v, "letter.source_reference", &letter.source_reference, 100);
    let campaign_ok = optional_text(v, "letter.campaign", &letter.campaign, 50);
    let from_above = matches!(
        channel,
        Some(
            LetterChannel::Transferred | LetterChannel::Assigned | LetterChannel::CampaignTransfer
        )
    );
    if from_above && reference_ok && letter.source_reference.trim().is_empty() {
        v.add(
            "letter.source_reference",
            "required for items transferred or assigned from above: the sender's reference",
        );
    }
    let has_campaign = !letter.campaign.trim().is_empty();
    match channel {
        Some(LetterChannel::CampaignTransfer) if campaign_ok && !has_campaign => v.add(
            "letter.campaign",
            "required for campaign transfers, e.g. 扫黑除恶",
        ),
        Some(c) if c != LetterChannel::CampaignTransfer && campaign_ok && has_campaign => {
            v.add("letter.campaign", "only campaign transfers name a campaign")
        }
        _ => {}
    }
    time(
        v,
        "letter.received_at",
        letter.received_at.as_ref(),
        now,
        true,
    );
    petitioners(
        v,
        "letter.petitioners",
        &letter.petitioners,
        today_yyyymmdd(now),
    );
    matter(v, "letter.matter", letter.matter.as_ref());
}

fn trip(v: &mut Violations, request: &RecordReturnTripRequest, now: DateTime<Utc>) {
    let Some(trip) = &request.trip else {
        v.add("trip", "required");
        return;
    };
    v.check(validate::required_text(
        "trip.notified_by",
        &trip.notified_by,
        100,
    ));
    let notified = time(v, "trip.notified_at", trip.notified_at.as_ref(), now, true);
    let level = v.check(validate::required_enum::<Level>(
        "trip.destination_level",
        trip.destination_level,
    ));
    if matches!(level, Some(Level::Township | Level::County)) {
        v.add(
            "trip.destination_level",
            "trips go to the city, the province or Beijing",
        );
    }
    v.check(validate::required_text(
        "trip.destination_place",
        &trip.destination_place,
        100,
    ));
    v.check(validate::org_code(
        "trip.responsible_org_code",
        &trip.responsible_org_code,
    ));
    if trip.officers.len() > MAX_TRIP_OFFICERS {
        v.add(
            "trip.officers",
            format!("at most {MAX_TRIP_OFFICERS} officers"),
        );
    }
    if trip.case_ids.len() > MAX_TRIP_CASES {
        v.add("trip.case_ids", format!("at most {MAX_TRIP_CASES} matters"));
    }
    for (i, name) in trip.officers.iter().enumerate() {
        v.check(validate::required_text(
            &format!("trip.officers[{i}]"),
            name,
            50,
        ));
    }
    if trip.officers.is_empty() {
        v.add("trip.officers", "at least one officer");
    }
    petitioners(
        v,
        "trip.petitioners",
        &trip.petitioners,
        today_yyyymmdd(now),
    );
    let mut case_ids = Vec::new();
    for (i, id) in trip.case_ids.iter().enumerate() {
        if let Some(id) = v.check(uuid_field(&format!("trip.case_ids[{i}]"), id)) {
            if case_ids.contains(&id) {
                v.add(format!("trip.case_ids[{i}]"), "listed twice");
            }
            case_ids.push(id);
        }
    }
    let departed = time(v, "trip.departed_at", trip.departed_at.as_ref(), now, false);
    let arrived = time(v, "trip.arrived_at", trip.arrived_at.as_ref(), now, false);
    let returned = time(v, "trip.returned_at", trip.returned_at.as_ref(), now, false);
    if let (Some(n), Some(d)) = (notified, departed)
        && d < n
    {
        v.add("trip.departed_at", "before the notification");
    }
    if let (Some(d), Some(a)) = (departed, arrived)
        && a < d
    {
        v.add("trip.arrived_at", "before the departure");
    }
    if let (Some(a), Some(r)) = (arrived, returned)
        && r < a
    {
        v.add("trip.returned_at", "before the arrival");
    }
    if trip.departed_at.is_none() && trip.arrived_at.is_some() {
        v.add("trip.departed_at", "required once the trip has arrived");
    }
    if trip.departed_at.is_none() && trip.returned_at.is_some() {
        v.add("trip.departed_at", "required once the trip has returned");
    }
    match TripOutcome::try_from(trip.outcome) {
        Ok(TripOutcome::Unspecified | TripOutcome::UnderWay) => {}
        Ok(_) => {
            if trip.departed_at.is_none() {
                v.add("trip.departed_at", "required when the trip has an outcome");
            }
        }
        Err(_) => v.add("trip.outcome", format!("unknown value {}", trip.outcome)),
    }
    let costs = trip.costs.clone().unwrap_or_default();
    for (field, value) in [
        ("transport", &costs.transport),
        ("lodging", &costs.lodging),
        ("meals", &costs.meals),
        ("other", &costs.other),
    ] {
        v.check(money::optional_amount(
            &format!("trip.costs.{field}"),
            value,
        ));
    }
    if !trip.report.trim().is_empty() {
        v.check(validate::required_multiline(
            "trip.report",
            &trip.report,
            4000,
        ));
    }
}

#[cfg(test)]
mod tests {
    use xinfang_proto::v1::{ReturnTrip, TripCosts, Visit};

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn good_visit() -> RegisterVisitRequest {
        RegisterVisitRequest {
            request_id: String::new(),
            visit: Some(Visit {
                visited_at: ts(now().timestamp() - 3600),
                level: Level::National as i32,
                place_name: "国家信访局".into(),
                headcount: 1,
                petitioners: vec![Petitioner {
                    name: "张三".into(),
                    id_number: "11010519491231002X".into(),
                    phone: "13812345678".into(),
                    ..Default::default()
                }],
                matter: Some(MatterInput {
                    content: "土地征收补偿".into(),
                    demands: "提高补偿".into(),
                    category: "land".into(),
                    problem_org_code: "510422100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }

    fn fields(op: &Op) -> Vec<String> {
        match validate(op, now()) {
            Ok(()) => vec![],
            Err(v) => v.into_vec().into_iter().map(|f| f.field).collect(),
        }
    }

    #[test]
    fn a_good_visit_passes_and_a_mistyped_id_number_is_caught_here() {
        assert_eq!(
            fields(&Op::RegisterVisit(good_visit())),
            Vec::<String>::new()
        );
        let mut bad = good_visit();
        let visit = bad.visit.as_mut().unwrap();
        // One digit off: the check character no longer matches.
        visit.petitioners[0].id_number = "110101199003077777".into();
        visit.petitioners[0].phone = "12345".into();
        visit.headcount = 0;
        visit.level = Level::Township as i32;
        visit.matter.as_mut().unwrap().category = "Land".into();
        assert_eq!(
            fields(&Op::RegisterVisit(bad)),
            [
                "visit.level",
                "visit.headcount",
                "visit.petitioners[0].id_number",
                "visit.petitioners[0].phone",
                "visit.matter.category"
            ]
        );
        let mut empty = good_visit();
        empty.visit.as_mut().unwrap().petitioners.clear();
        empty.visit.as_mut().unwrap().visited_at = ts(now().timestamp() + 3600);
        assert_eq!(
            fields(&Op::RegisterVisit(empty)),
            ["visit.visited_at", "visit.petitioners"]
        );
    }

    #[test]
    fn trips_check_decimals_order_and_officers() {
        let base = now().timestamp();
        let mut trip = ReturnTrip {
            notified_by: "驻京工作组".into(),
            notified_at: ts(base - 86_400),
            destination_level: Level::National as i32,
            destination_place: "北京".into(),
            responsible_org_code: "510422100".into(),
            officers: vec!["赵六".into()],
            departed_at: ts(base - 80_000),
            costs: Some(TripCosts {
                transport: "1500.00".into(),
                ..Default::default()
            }),
            outcome: TripOutcome::Returned as i32,
            ..Default::default()
        };
        let op = |t: &ReturnTrip| {
            Op::RecordReturnTrip(RecordReturnTripRequest {
                request_id: String::new(),
                trip: Some(t.clone()),
            })
        };
        assert!(fields(&op(&trip)).is_empty());
        trip.costs.as_mut().unwrap().lodging = "12.345".into();
        trip.costs.as_mut().unwrap().meals = "1e3".into();
        trip.arrived_at = ts(base - 90_000);
        trip.officers.clear();
        assert_eq!(
            fields(&op(&trip)),
            [
                "trip.officers",
                "trip.arrived_at",
                "trip.costs.lodging",
                "trip.costs.meals"
            ]
        );
        trip.departed_at = None;
        trip.arrived_at = None;
        trip.officers = vec!["赵六".into()];
        trip.costs = None;
        assert_eq!(
            fields(&op(&trip)),
            ["trip.departed_at"],
            "an outcome needs a departure"
        );
    }

    fn under_way() -> RecordReturnTripRequest {
        let base = now().timestamp();
        RecordReturnTripRequest {
            request_id: String::new(),
            trip: Some(ReturnTrip {
                notified_by: "驻京工作组".into(),
                notified_at: ts(base - 86_400),
                destination_level: Level::National as i32,
                destination_place: "北京".into(),
                responsible_org_code: "510422100".into(),
                officers: vec!["赵六".into()],
                departed_at: ts(base - 80_000),
                costs: Some(TripCosts {
                    transport: "1500.00".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }

    fn violated(err: CaptureError) -> Vec<String> {
        match err {
            CaptureError::Invalid(v) => v.into_vec().into_iter().map(|f| f.field).collect(),
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn a_trip_under_way_is_drafted_then_closed_complete() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("t.db")).unwrap();
        let base = now().timestamp();

        // A draft is checked like a trip, and has not returned.
        let mut returned = under_way();
        returned.trip.as_mut().unwrap().returned_at = ts(base - 3_600);
        returned
            .trip
            .as_mut()
            .unwrap()
            .costs
            .as_mut()
            .unwrap()
            .meals = "1.234".into();
        assert_eq!(
            violated(draft_trip(&mut store, returned, now()).unwrap_err()),
            ["trip.costs.meals", "trip.returned_at"]
        );
        let mut said_returned = under_way();
        said_returned.trip.as_mut().unwrap().outcome = TripOutcome::Returned as i32;
        let draft = draft_trip(&mut store, said_returned, now()).unwrap();
        assert_eq!(
            draft.trip.outcome(),
            TripOutcome::UnderWay,
            "a draft is under way"
        );
        assert!(store.outbox(&[]).unwrap().is_empty());

        // Closing needs the return and a final outcome; a refused close leaves the draft open.
        let err = close_trip(&mut store, &draft.id, &TripClosing::default(), now()).unwrap_err();
        assert_eq!(violated(err), ["trip.outcome", "trip.returned_at"]);
        let err = close_trip(
            &mut store,
            &draft.id,
            &TripClosing {
                returned_at: ts(base - 90_000),
                outcome: TripOutcome::Returned as i32,
                ..Default::default()
            },
            now(),
        )
        .unwrap_err();
        assert_eq!(violated(err), ["trip.returned_at"], "before the departure");
        assert_eq!(store.trip_drafts().unwrap().len(), 1);
        assert!(store.outbox(&[]).unwrap().is_empty());

        let closing = TripClosing {
            returned_at: ts(base - 3_600),
            arrived_at: ts(base - 40_000),
            outcome: TripOutcome::HandedOver as i32,
            lodging: Some(" 320.00 ".into()),
            report: Some("已移交属地".into()),
            ..Default::default()
        };
        let short = &draft.id[draft.id.len() - 8..];
        let entry = close_trip(&mut store, short, &closing, now()).unwrap();
        assert_eq!(entry.kind, "record_return_trip");
        let Some(Op::RecordReturnTrip(r)) = &entry.operation.op else {
            panic!("{entry:?}")
        };
        let trip = r.trip.clone().unwrap();
        assert_eq!(trip.outcome(), TripOutcome::HandedOver);
        assert_eq!(trip.returned_at, ts(base - 3_600));
        assert_eq!(trip.arrived_at, ts(base - 40_000));
        assert_eq!(trip.departed_at, ts(base - 80_000), "kept from the draft");
        let costs = trip.costs.unwrap();
        assert_eq!(
            (costs.transport.as_str(), costs.lodging.as_str()),
            ("1500.00", "320.00")
        );
        assert_eq!(trip.report, "已移交属地");
        assert!(store.trip_drafts().unwrap().is_empty());
        let err = close_trip(&mut store, &draft.id, &closing, now()).unwrap_err();
        assert!(
            matches!(err, CaptureError::Store(StoreError::DraftNotOpen { .. })),
            "{err}"
        );
        assert_eq!(store.outbox(&[]).unwrap().len(), 1, "queued once");
    }

    #[test]
    fn letters_from_above_need_their_reference() {
        let letter = xinfang_proto::v1::Letter {
            channel: LetterChannel::CampaignTransfer as i32,
            received_at: ts(now().timestamp() - 60),
            matter: good_visit().visit.unwrap().matter,
            ..Default::default()
        };
        let op = Op::RegisterLetter(RegisterLetterRequest {
            request_id: String::new(),
            letter: Some(letter),
        });
        assert_eq!(fields(&op), ["letter.source_reference", "letter.campaign"]);
    }

    #[test]
    fn case_steps_are_dated_now_and_checked() {
        let id = uuid::Uuid::now_v7().to_string();
        let prepared = prepare(
            Op::AcceptCase(AcceptCaseRequest {
                request_id: "x".into(),
                case_id: id.clone(),
                ..Default::default()
            }),
            now(),
        )
        .unwrap();
        let Op::AcceptCase(r) = prepared else {
            panic!()
        };
        assert_eq!(r.occurred_at, ts(now().timestamp()));
        assert!(r.request_id.is_empty());
        assert_eq!(
            fields(&Op::DeclineCase(DeclineCaseRequest {
                case_id: "nope".into(),
                ..Default::default()
            })),
            ["case_id", "ground"]
        );
        assert_eq!(
            fields(&Op::ExtendCase(ExtendCaseRequest {
                case_id: id.clone(),
                days: 31,
                ..Default::default()
            })),
            ["days", "approved_by", "reason", "notified_on"]
        );
        assert_eq!(
            fields(&Op::RecordEvaluation(RecordEvaluationRequest {
                case_id: id,
                office_rating: Rating::Satisfied as i32,
                ..Default::default()
            })),
            ["unit_rating"]
        );
    }

    #[test]
    fn captured_operations_land_in_the_outbox_and_invalid_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("c.db")).unwrap();
        let entry = register_visit(&mut store, good_visit(), now()).unwrap();
        assert_eq!(entry.kind, "register_visit");
        assert_eq!(entry.subject, "visit: 张三 at 国家信访局");
        let mut bad = good_visit();
        bad.visit.as_mut().unwrap().place_name.clear();
        let err = register_visit(&mut store, bad, now()).unwrap_err();
        assert!(matches!(err, CaptureError::Invalid(_)));
        assert!(err.to_string().contains("visit.place_name: required"));
        assert_eq!(store.outbox(&[]).unwrap().len(), 1);
    }

    #[test]
    fn today_is_read_in_shanghai() {
        // 2025-06-30T17:00:00Z is already 1 July in Shanghai.
        let t = DateTime::parse_from_rfc3339("2025-06-30T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(today_yyyymmdd(t), 20250701);
    }
}
