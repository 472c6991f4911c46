//! The server's input rules for each operation, field by field, under the server's field paths, built from
//! the shared [`xinfang_proto::validate`], [`personal`] and [`money`] functions.
//!
//! This is the client's copy of what the server checks; it goes once `xinfang_proto::input` holds the one
//! implementation both call (docs/architecture.md, "Input rules live with the contract").

use chrono::{DateTime, Utc};
use xinfang_proto::{
    money, personal,
    v1::{
        DeclineGround, LetterChannel, Level, MatterInput, Petitioner, Rating,
        RecordReturnTripRequest, RegisterLetterRequest, RegisterVisitRequest, TripOutcome,
        operation::Op,
    },
    validate::{self, FieldViolation, Violations},
};

use super::today_yyyymmdd;

/// Representatives a collective visit may name (《信访条例》), petitioners listed by name, officers and
/// matters of one trip: the server's limits.
pub const MAX_REPRESENTATIVES: usize = 5;
pub const MAX_PETITIONERS: usize = 50;
pub const MAX_TRIP_OFFICERS: usize = 20;
pub const MAX_TRIP_CASES: usize = 50;

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
