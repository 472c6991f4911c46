//! Registrations: what a well-formed visit, letter, return trip and detach request is.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{
    Clock, MAX_PETITIONERS, MAX_REPRESENTATIVES, MAX_TRIP_CASES, MAX_TRIP_OFFICERS, optional_text,
    timestamp, uuid_field,
};
use crate::{
    calendar::today_yyyymmdd,
    money, personal,
    v1::{
        ClaimType, DetachRegistrationRequest, LetterChannel, Level, MatterInput, Petitioner,
        RecordReturnTripRequest, RegisterLetterRequest, RegisterVisitRequest, TripOutcome,
    },
    validate::{self, Violations},
};

/// A validated petitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPetitioner {
    pub name: String,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub representative: bool,
    /// 代理人: listed with the registration, not a petitioner of its case, never matched.
    pub proxy: bool,
}

fn petitioner(
    v: &mut Violations,
    field: &str,
    p: &Petitioner,
    today: u32,
) -> Option<NewPetitioner> {
    let name = v.check(validate::required_text(
        &format!("{field}.name"),
        &p.name,
        50,
    ));
    let id_number = if p.id_number.trim().is_empty() {
        Some(None)
    } else {
        v.check(personal::id_number(
            &format!("{field}.id_number"),
            &p.id_number,
            today,
        ))
        .map(Some)
    };
    let phone = if p.phone.trim().is_empty() {
        Some(None)
    } else {
        v.check(personal::phone(&format!("{field}.phone"), &p.phone))
            .map(Some)
    };
    let address = optional_text(v, &format!("{field}.address"), &p.address, 200);
    if p.proxy && p.representative {
        v.add(
            format!("{field}.proxy"),
            "a proxy (代理人) acts for the petitioners and is not their representative",
        );
        return None;
    }
    Some(NewPetitioner {
        name: name?,
        id_number: id_number?,
        phone: phone?,
        address: address?,
        representative: p.representative,
        proxy: p.proxy,
    })
}

fn petitioners(
    v: &mut Violations,
    field: &str,
    list: &[Petitioner],
    today: u32,
) -> Option<Vec<NewPetitioner>> {
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    if list.len() > MAX_PETITIONERS {
        v.add(
            field,
            format!("at most {MAX_PETITIONERS} petitioners are registered"),
        );
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    for (i, p) in list.iter().enumerate() {
        let Some(p) = petitioner(v, &format!("{field}[{i}]"), p, today) else {
            ok = false;
            continue;
        };
        if let Some(id) = &p.id_number
            && !seen.insert(id.clone())
        {
            v.add(
                format!("{field}[{i}].id_number"),
                "the same person is listed twice",
            );
            ok = false;
        }
        out.push(p);
    }
    if list.iter().any(|p| p.proxy) && list.iter().all(|p| p.proxy) {
        v.add(
            field,
            "a proxy (代理人) acts for a petitioner: list the petitioner with the proxy",
        );
        ok = false;
    }
    ok.then_some(out)
}

/// A validated case description. Category and org are checked against the database by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMatter {
    pub content: String,
    pub demands: String,
    pub category: String,
    pub problem_org_code: String,
    pub link_case_id: Option<Uuid>,
    /// `xinfang.v1.ClaimType` number.
    pub claim_type: i16,
    /// Accusations only: the unit accused.
    pub accused_org_code: Option<String>,
    /// The desk's reason for registering a new case against a repeat match (no matching takes place).
    pub new_case_reason: Option<String>,
}

fn matter(v: &mut Violations, field: &str, m: Option<&MatterInput>) -> Option<NewMatter> {
    let Some(m) = m else {
        v.add(field, "required");
        return None;
    };
    let content = v.check(validate::required_multiline(
        &format!("{field}.content"),
        &m.content,
        4000,
    ));
    let demands = v.check(validate::required_multiline(
        &format!("{field}.demands"),
        &m.demands,
        2000,
    ));
    let category = v.check(validate::dictionary_code(
        &format!("{field}.category"),
        &m.category,
    ));
    let problem_org_code = v.check(validate::org_code(
        &format!("{field}.problem_org_code"),
        &m.problem_org_code,
    ));
    let link_case_id = if m.link_case_id.is_empty() {
        Some(None)
    } else {
        v.check(uuid_field(
            &format!("{field}.link_case_id"),
            &m.link_case_id,
        ))
        .map(Some)
    };
    let new_case_reason = if m.new_case_reason.trim().is_empty() {
        Some(None)
    } else if !m.link_case_id.is_empty() {
        v.add(
            format!("{field}.new_case_reason"),
            "not together with link_case_id: a registration either joins the case it names or opens a \
             new one",
        );
        None
    } else {
        v.check(validate::required_multiline(
            &format!("{field}.new_case_reason"),
            &m.new_case_reason,
            500,
        ))
        .map(Some)
    };
    let claim_type = v
        .check(validate::optional_enum::<ClaimType>(
            &format!("{field}.claim_type"),
            m.claim_type,
        ))
        .map(|c| c.unwrap_or_default());
    let accused_field = format!("{field}.accused_org_code");
    let accused_org_code = match (claim_type, m.accused_org_code.is_empty()) {
        (Some(ClaimType::Accusation), true) => {
            v.add(
                accused_field,
                "required for an accusation: the unit accused",
            );
            None
        }
        (Some(ClaimType::Accusation), false) => v
            .check(validate::org_code(&accused_field, &m.accused_org_code))
            .map(Some),
        (_, true) => Some(None),
        (_, false) => {
            v.add(accused_field, "only an accusation names an accused unit");
            None
        }
    };
    Some(NewMatter {
        claim_type: claim_type? as i16,
        accused_org_code: accused_org_code?,
        content: content?,
        demands: demands?,
        category: category?,
        problem_org_code: problem_org_code?,
        link_case_id: link_case_id?,
        new_case_reason: new_case_reason?,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewVisit {
    pub visited_at: DateTime<Utc>,
    pub level: Level,
    pub non_reception_place: bool,
    pub place_name: String,
    pub headcount: u32,
    pub petitioners: Vec<NewPetitioner>,
    pub matter: NewMatter,
}

impl NewVisit {
    /// Checks `request` (all but its `request_id`) into `v`; `None` when anything is wrong.
    pub fn parse(v: &mut Violations, request: &RegisterVisitRequest, clock: Clock) -> Option<Self> {
        let now = clock.now;
        let today = today_yyyymmdd(now);
        let Some(visit) = &request.visit else {
            v.add("visit", "required");
            return None;
        };
        let visited_at = timestamp(
            v,
            "visit.visited_at",
            visit.visited_at.as_ref(),
            clock,
            true,
        );
        let level = v.check(validate::required_enum::<Level>("visit.level", visit.level));
        if level == Some(Level::Township) {
            v.add(
                "visit.level",
                "visits are registered at county, city, province or national level",
            );
        }
        let place_name = v.check(validate::required_text(
            "visit.place_name",
            &visit.place_name,
            100,
        ));
        let headcount = match u32::try_from(visit.headcount) {
            Ok(n) if (1..=10_000).contains(&n) => Some(n),
            _ => {
                v.add("visit.headcount", "must be between 1 and 10000 persons");
                None
            }
        };
        let people = petitioners(v, "visit.petitioners", &visit.petitioners, today);
        if visit.petitioners.is_empty() {
            v.add("visit.petitioners", "at least the person met is required");
        }
        // A proxy may come in the petitioner's stead: the persons of the batch are counted without proxies.
        let listed = visit.petitioners.iter().filter(|p| !p.proxy).count();
        if let Some(n) = headcount
            && listed > n as usize
        {
            v.add(
                "visit.petitioners",
                format!("more petitioners ({listed}) than persons in the batch ({n})"),
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
        let matter = matter(v, "visit.matter", visit.matter.as_ref());
        (|| {
            Some(NewVisit {
                visited_at: visited_at??,
                level: level?,
                non_reception_place: visit.non_reception_place,
                place_name: place_name?,
                headcount: headcount?,
                petitioners: people?,
                matter: matter?,
            })
        })()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewLetter {
    pub channel: LetterChannel,
    pub source_reference: String,
    pub campaign: String,
    pub received_at: DateTime<Utc>,
    pub petitioners: Vec<NewPetitioner>,
    pub matter: NewMatter,
}

impl NewLetter {
    /// Checks `request` (all but its `request_id`) into `v`; `None` when anything is wrong.
    pub fn parse(
        v: &mut Violations,
        request: &RegisterLetterRequest,
        clock: Clock,
    ) -> Option<Self> {
        let now = clock.now;
        let today = today_yyyymmdd(now);
        let Some(letter) = &request.letter else {
            v.add("letter", "required");
            return None;
        };
        let channel = v.check(validate::required_enum::<LetterChannel>(
            "letter.channel",
            letter.channel,
        ));
        let source_reference =
            optional_text(v, "letter.source_reference", &letter.source_reference, 100);
        let campaign = optional_text(v, "letter.campaign", &letter.campaign, 50);
        let from_above = matches!(
            channel,
            Some(
                LetterChannel::Transferred
                    | LetterChannel::Assigned
                    | LetterChannel::CampaignTransfer
            )
        );
        if from_above && matches!(source_reference, Some(None)) {
            v.add(
                "letter.source_reference",
                "required for items transferred or assigned from above: the sender's reference",
            );
        }
        match (channel, &campaign) {
            (Some(LetterChannel::CampaignTransfer), Some(None)) => v.add(
                "letter.campaign",
                "required for campaign transfers, e.g. 扫黑除恶",
            ),
            (Some(c), Some(Some(_))) if c != LetterChannel::CampaignTransfer => {
                v.add("letter.campaign", "only campaign transfers name a campaign")
            }
            _ => {}
        }
        let received_at = timestamp(
            v,
            "letter.received_at",
            letter.received_at.as_ref(),
            clock,
            true,
        );
        let people = petitioners(v, "letter.petitioners", &letter.petitioners, today);
        let matter = matter(v, "letter.matter", letter.matter.as_ref());
        (|| {
            Some(NewLetter {
                channel: channel?,
                source_reference: source_reference?.unwrap_or_default(),
                campaign: campaign?.unwrap_or_default(),
                received_at: received_at??,
                petitioners: people?,
                matter: matter?,
            })
        })()
    }
}

/// Which registration a detach names: a visit or a letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationKind {
    Visit,
    Letter,
}

impl RegistrationKind {
    /// As `store::Registration::kind` and the sync feed name it.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationKind::Visit => "visit",
            RegistrationKind::Letter => "letter",
        }
    }
}

/// A validated DetachRegistration: the registration to take out of its case, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detach {
    pub kind: RegistrationKind,
    pub id: Uuid,
    pub reason: String,
}

impl Detach {
    /// Checks `request` (all but its `request_id`) into `v`; `None` when anything is wrong.
    pub fn parse(v: &mut Violations, request: &DetachRegistrationRequest) -> Option<Self> {
        let target = match (request.visit_id.is_empty(), request.letter_id.is_empty()) {
            (false, true) => v
                .check(uuid_field("visit_id", &request.visit_id))
                .map(|id| (RegistrationKind::Visit, id)),
            (true, false) => v
                .check(uuid_field("letter_id", &request.letter_id))
                .map(|id| (RegistrationKind::Letter, id)),
            (true, true) => {
                v.add("visit_id", "required: the visit, or a letter_id");
                None
            }
            (false, false) => {
                v.add(
                    "letter_id",
                    "a visit_id is given: one registration is detached at a time",
                );
                None
            }
        };
        let reason = v.check(validate::required_multiline("reason", &request.reason, 500));
        (|| {
            let (kind, id) = target?;
            Some(Detach {
                kind,
                id,
                reason: reason?,
            })
        })()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Costs {
    pub transport: Decimal,
    pub lodging: Decimal,
    pub meals: Decimal,
    pub other: Decimal,
}

impl Costs {
    pub fn total(&self) -> Decimal {
        self.transport + self.lodging + self.meals + self.other
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTrip {
    pub notified_by: String,
    pub notified_at: DateTime<Utc>,
    pub destination_level: Level,
    pub destination_place: String,
    pub non_reception_place: bool,
    pub responsible_org_code: String,
    pub officers: Vec<String>,
    pub petitioners: Vec<NewPetitioner>,
    pub case_ids: Vec<Uuid>,
    pub departed_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub returned_at: Option<DateTime<Utc>>,
    pub costs: Costs,
    pub outcome: TripOutcome,
    pub report: String,
}

impl NewTrip {
    /// Checks `request` (all but its `request_id`) into `v`; `None` when anything is wrong.
    pub fn parse(
        v: &mut Violations,
        request: &RecordReturnTripRequest,
        clock: Clock,
    ) -> Option<Self> {
        let now = clock.now;
        let today = today_yyyymmdd(now);
        let Some(trip) = &request.trip else {
            v.add("trip", "required");
            return None;
        };
        let notified_by = v.check(validate::required_text(
            "trip.notified_by",
            &trip.notified_by,
            100,
        ));
        let notified_at = timestamp(
            v,
            "trip.notified_at",
            trip.notified_at.as_ref(),
            clock,
            true,
        );
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
        let destination_place = v.check(validate::required_text(
            "trip.destination_place",
            &trip.destination_place,
            100,
        ));
        let responsible = v.check(validate::org_code(
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
            v.add("trip.case_ids", format!("at most {MAX_TRIP_CASES} cases"));
        }
        let mut officers = Vec::new();
        for (i, name) in trip.officers.iter().enumerate() {
            if let Some(name) = v.check(validate::required_text(
                &format!("trip.officers[{i}]"),
                name,
                50,
            )) {
                officers.push(name);
            }
        }
        if trip.officers.is_empty() {
            v.add("trip.officers", "at least one officer");
        }
        let people = petitioners(v, "trip.petitioners", &trip.petitioners, today);
        for (i, p) in trip.petitioners.iter().enumerate() {
            if p.proxy {
                v.add(
                    format!("trip.petitioners[{i}].proxy"),
                    "a trip lists the petitioners met; proxies are recorded with registrations",
                );
            }
        }
        let mut case_ids = Vec::new();
        for (i, id) in trip.case_ids.iter().enumerate() {
            if let Some(id) = v.check(uuid_field(&format!("trip.case_ids[{i}]"), id)) {
                if case_ids.contains(&id) {
                    v.add(format!("trip.case_ids[{i}]"), "listed twice");
                }
                case_ids.push(id);
            }
        }
        let departed = timestamp(
            v,
            "trip.departed_at",
            trip.departed_at.as_ref(),
            clock,
            false,
        );
        let arrived = timestamp(v, "trip.arrived_at", trip.arrived_at.as_ref(), clock, false);
        let returned = timestamp(
            v,
            "trip.returned_at",
            trip.returned_at.as_ref(),
            clock,
            false,
        );
        if let (Some(Some(n)), Some(Some(d))) = (notified_at, departed)
            && d < n
        {
            v.add("trip.departed_at", "before the notification");
        }
        if let (Some(Some(d)), Some(Some(a))) = (departed, arrived)
            && a < d
        {
            v.add("trip.arrived_at", "before the departure");
        }
        if let (Some(Some(a)), Some(Some(r))) = (arrived, returned)
            && r < a
        {
            v.add("trip.returned_at", "before the arrival");
        }
        if let (Some(Some(d)), Some(Some(r))) = (departed, returned)
            && r < d
        {
            v.add("trip.returned_at", "before the departure");
        }
        if matches!(arrived, Some(Some(_))) && matches!(departed, Some(None)) {
            v.add("trip.departed_at", "required once the trip has arrived");
        }
        if matches!(returned, Some(Some(_))) && matches!(departed, Some(None)) {
            v.add("trip.departed_at", "required once the trip has returned");
        }
        let outcome = match TripOutcome::try_from(trip.outcome) {
            Ok(o) => Some(o),
            Err(_) => {
                v.add("trip.outcome", format!("unknown value {}", trip.outcome));
                None
            }
        };
        let finished =
            outcome.is_some_and(|o| !matches!(o, TripOutcome::Unspecified | TripOutcome::UnderWay));
        if finished && matches!(departed, Some(None)) {
            v.add("trip.departed_at", "required when the trip has an outcome");
        }
        let costs = trip.costs.clone().unwrap_or_default();
        let mut cost = |field: &str, value: &str| {
            v.check(money::optional_amount(
                &format!("trip.costs.{field}"),
                value,
            ))
            .map(Option::unwrap_or_default)
        };
        let transport = cost("transport", &costs.transport);
        let lodging = cost("lodging", &costs.lodging);
        let meals = cost("meals", &costs.meals);
        let other = cost("other", &costs.other);
        let report = if trip.report.trim().is_empty() {
            Some(None)
        } else {
            v.check(validate::required_multiline(
                "trip.report",
                &trip.report,
                4000,
            ))
            .map(Some)
        };
        (|| {
            Some(NewTrip {
                notified_by: notified_by?,
                notified_at: notified_at??,
                destination_level: level?,
                destination_place: destination_place?,
                non_reception_place: trip.non_reception_place,
                responsible_org_code: responsible?,
                officers,
                petitioners: people?,
                case_ids,
                departed_at: departed?,
                arrived_at: arrived?,
                returned_at: returned?,
                costs: Costs {
                    transport: transport?,
                    lodging: lodging?,
                    meals: meals?,
                    other: other?,
                },
                outcome: outcome?,
                report: report?.unwrap_or_default(),
            })
        })()
    }
}
