//! Intake rules: validation of visits, letters and trips, the derived flags (collective, large-scale,
//! leapfrog), initial and repeat within a matter, 不再受理, levels, registration numbers, and who sees what.
//! docs/intake.md tells the rules in the bureau's words.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;
use xinfang_proto::{
    money, personal,
    v1::{
        ClaimType, DetachRegistrationRequest, LetterChannel, Level, MatterInput, Petitioner,
        RecordReturnTripRequest, RegisterLetterRequest, RegisterVisitRequest, TripOutcome,
    },
    validate::{self, FieldViolation, Violations},
};

use crate::{
    auth::Role,
    cases::model::{CaseRecord, Facts, effective_state, local_date},
};
use xinfang_proto::v1::CaseState;

pub use xinfang_proto::calendar::today_yyyymmdd;

use crate::time::shanghai;

/// Persons in a batch from which it counts as a collective visit (集体访), by default.
pub const DEFAULT_COLLECTIVE_THRESHOLD: u32 = 5;
/// Persons in a batch from which it counts as a large-scale collective visit (大规模集体访), by default.
pub const DEFAULT_LARGE_SCALE_THRESHOLD: u32 = 50;
/// Representatives a collective visit may register (《信访条例》: at most five).
pub const MAX_REPRESENTATIVES: usize = 5;
/// Petitioners one registration or trip lists by name; a larger group is counted in the headcount.
pub const MAX_PETITIONERS: usize = 50;
/// Officers on one trip, and matters one trip concerns.
pub const MAX_TRIP_OFFICERS: usize = 20;
pub const MAX_TRIP_CASES: usize = 50;
/// How far back a role that does not load history may date an event.
pub const RECENT_DAYS: i64 = 366;

pub fn is_collective(headcount: u32, threshold: u32) -> bool {
    headcount >= threshold
}

/// 大规模集体访: counted on its own in the visit statistics (and among the collective visits too).
pub fn is_large_scale(headcount: u32, threshold: u32) -> bool {
    headcount >= threshold
}

/// What the name+phone match hash of a person without an ID number is taken of (同人 by name and phone): the
/// name without any white space (ideographic spaces included) and in lower case, then the phone in its
/// normal form (`personal::phone`), so that "张 三", "+86 138-1234-5678" and "张三", "13812345678" are one
/// person. `None` without a phone: a name alone identifies nobody.
pub fn contact_key(name: &str, phone: Option<&str>) -> Option<String> {
    let phone = phone?;
    let name: String = name
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    Some(format!("{name}\u{1f}{phone}"))
}

/// Roles that may say "this is a new matter" against a repeat match, and detach a registration from the
/// matter it was matched to: the county desk, which also links registrations by hand.
pub fn overrides_matches(role: Role) -> bool {
    matches!(role, Role::Admin | Role::CountyClerk)
}

/// A registration (visit or letter) of a matter, as initial/repeat is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dated {
    /// When it happened (visited_at, received_at).
    pub at: DateTime<Utc>,
    /// Breaks ties between registrations of the same instant.
    pub id: Uuid,
    /// Answered 不再受理: a repeat of a matter final by then, never the initial one.
    pub not_accepted_again: bool,
}

/// The initial registration (初访/初信) of a matter: its earliest registration by event time (ties by id) that
/// was not answered 不再受理. Derived from dates, never from arrival, so that the same registrations give
/// the same initial one whatever order they reach the server in (field laptops sync days late).
pub fn initial_of(registrations: &[Dated]) -> Option<usize> {
    registrations
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.not_accepted_again)
        .min_by_key(|(_, r)| (r.at, r.id))
        .map(|(i, _)| i)
}

/// The repeat flag of each registration of a matter: all but the initial one are repeats.
pub fn repeat_flags(registrations: &[Dated]) -> Vec<bool> {
    let initial = initial_of(registrations);
    (0..registrations.len())
        .map(|i| Some(i) != initial)
        .collect()
}

/// Whether the matter was final (终结) on `day`, so that a registration of that day repeating it is answered
/// 不再受理 (ground 6). The workflow's effective state says whether it is final at all (a concluded matter
/// whose review window passed unused, or one decided after 复核); a matter final by its 复核 decision was so
/// only from the day of the decision.
pub fn final_on(record: &CaseRecord, facts: &Facts<'_>, day: NaiveDate) -> bool {
    if effective_state(record, facts, day) != CaseState::Final {
        return false;
    }
    record.state != CaseState::Final
        || record
            .review_decided_at
            .is_none_or(|decided| local_date(decided) <= day)
}

/// The domain's ranks: township 0, county 1, city 2, province 3, national 4.
pub fn level_rank(level: Level) -> Option<i32> {
    match level {
        Level::Unspecified => None,
        Level::Township => Some(0),
        Level::County => Some(1),
        Level::City => Some(2),
        Level::Province => Some(3),
        Level::National => Some(4),
    }
}

pub fn level_to_db(level: Level) -> &'static str {
    match level {
        Level::Unspecified => "",
        Level::Township => "township",
        Level::County => "county",
        Level::City => "city",
        Level::Province => "province",
        Level::National => "national",
    }
}

pub fn level_from_db(level: &str) -> Level {
    match level {
        "township" => Level::Township,
        "county" => Level::County,
        "city" => Level::City,
        "province" => Level::Province,
        "national" => Level::National,
        _ => Level::Unspecified,
    }
}

/// Level of the organ competent for a matter whose problem lies in an org unit of this kind: a township's own
/// matters are township matters; a county department's or the county's are county matters.
pub fn competent_rank(problem_org_kind: &str) -> i32 {
    if problem_org_kind == "township" { 0 } else { 1 }
}

/// 越级: the visit skipped the competent level and the one above it.
pub fn is_leapfrog(visit_level: Level, competent_rank: i32) -> bool {
    level_rank(visit_level).is_some_and(|rank| rank - competent_rank >= 2)
}

pub fn channel_to_db(channel: LetterChannel) -> &'static str {
    match channel {
        LetterChannel::Unspecified => "",
        LetterChannel::Letter => "letter",
        LetterChannel::Phone => "phone",
        LetterChannel::Online => "online",
        LetterChannel::LeaderMailbox => "leader_mailbox",
        LetterChannel::PeoplesDailyBoard => "peoples_daily_board",
        LetterChannel::Transferred => "transferred",
        LetterChannel::Assigned => "assigned",
        LetterChannel::CampaignTransfer => "campaign_transfer",
    }
}

pub fn channel_from_db(channel: &str) -> LetterChannel {
    match channel {
        "letter" => LetterChannel::Letter,
        "phone" => LetterChannel::Phone,
        "online" => LetterChannel::Online,
        "leader_mailbox" => LetterChannel::LeaderMailbox,
        "peoples_daily_board" => LetterChannel::PeoplesDailyBoard,
        "transferred" => LetterChannel::Transferred,
        "assigned" => LetterChannel::Assigned,
        "campaign_transfer" => LetterChannel::CampaignTransfer,
        _ => LetterChannel::Unspecified,
    }
}

pub fn outcome_to_db(outcome: TripOutcome) -> &'static str {
    match outcome {
        TripOutcome::Unspecified | TripOutcome::UnderWay => "under_way",
        TripOutcome::Returned => "returned",
        TripOutcome::NotReturned => "not_returned",
        TripOutcome::HandedOver => "handed_over",
    }
}

pub fn outcome_from_db(outcome: &str) -> TripOutcome {
    match outcome {
        "returned" => TripOutcome::Returned,
        "not_returned" => TripOutcome::NotReturned,
        "handed_over" => TripOutcome::HandedOver,
        "under_way" => TripOutcome::UnderWay,
        _ => TripOutcome::Unspecified,
    }
}

/// Registration numbers: `XF510422-2020-000123` (visits and letters share the register), `QF…` for trips.
pub const REGISTER_PREFIX: &str = "XF";
pub const TRIP_PREFIX: &str = "QF";

pub fn registration_number(prefix: &str, county_code: &str, year: i32, serial: i64) -> String {
    format!("{prefix}{county_code}-{year}-{serial:06}")
}

/// The register year of an event: its calendar year in Asia/Shanghai.
pub fn register_year(at: DateTime<Utc>) -> i32 {
    at.with_timezone(&shanghai()).year()
}

/// Roles that see ID numbers, phones and addresses in full; everyone else gets masks.
pub fn sees_full_pii(role: Role) -> bool {
    matches!(role, Role::Admin | Role::CountyClerk)
}

/// A validated petitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPetitioner {
    pub name: String,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub representative: bool,
    /// 代理人: listed with the registration, not a petitioner of its matter, never matched.
    pub proxy: bool,
}

fn optional_text(
    v: &mut Violations,
    field: &str,
    value: &str,
    max: usize,
) -> Option<Option<String>> {
    if value.trim().is_empty() {
        return Some(None);
    }
    v.check(validate::required_text(field, value, max))
        .map(Some)
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

/// A validated matter description. Category and org are checked against the database by the service.
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
    /// The desk's reason for registering a new matter against a repeat match (no matching takes place).
    pub new_matter_reason: Option<String>,
}

/// What a matter is claimed as: `xinfang.v1.ClaimType` number and, for an accusation, the unit accused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub claim_type: i16,
    pub accused_org_code: Option<String>,
}

impl NewMatter {
    /// Whether this registration may join the matter claimed as `existing`. Accusations stand apart
    /// (docs/access.md): an accusation joins only an accusation against the same unit, so it is never merged
    /// into a matter the accused unit handles or reads. Any other registration may join any matter; joining
    /// an accusation makes it one ([`NewMatter::claim`]).
    pub fn may_join(&self, existing: &Claim) -> bool {
        let accusation = ClaimType::Accusation as i16;
        self.claim_type != accusation
            || (existing.claim_type == accusation
                && existing.accused_org_code == self.accused_org_code)
    }

    /// The unit an accusation accuses, when this registration is one: a repeat is looked for only among
    /// accusations against the same unit.
    pub fn accusation_against(&self) -> Option<&str> {
        (self.claim_type == ClaimType::Accusation as i16)
            .then_some(self.accused_org_code.as_deref())
            .flatten()
    }

    /// The claim a registration records. One that repeats an accusation is about the same thing (同人同事),
    /// so it stays an accusation against the same unit, kept from that unit like the first, unless the desk
    /// registered it as an accusation of its own.
    pub fn claim(&self, linked: Option<&Claim>) -> Claim {
        let accusation = ClaimType::Accusation as i16;
        match linked {
            Some(first) if self.claim_type != accusation && first.claim_type == accusation => {
                first.clone()
            }
            _ => Claim {
                claim_type: self.claim_type,
                accused_org_code: self.accused_org_code.clone(),
            },
        }
    }
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
    let new_matter_reason = if m.new_matter_reason.trim().is_empty() {
        Some(None)
    } else if !m.link_case_id.is_empty() {
        v.add(
            format!("{field}.new_matter_reason"),
            "not together with link_case_id: a registration either joins the matter it names or opens a \
             new one",
        );
        None
    } else {
        v.check(validate::required_multiline(
            &format!("{field}.new_matter_reason"),
            &m.new_matter_reason,
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
        new_matter_reason: new_matter_reason?,
    })
}

pub fn uuid_field(field: &str, value: &str) -> Result<Uuid, FieldViolation> {
    Uuid::parse_str(value).map_err(|_| FieldViolation::new(field, "must be an id (UUID)"))
}

/// Roles that load historical records (dates far in the past); others record what happens now.
pub fn loads_history(role: Role) -> bool {
    matches!(role, Role::Admin | Role::CountyClerk)
}

/// When the event of a record happened, as the caller may date it: not in the future (beyond the clock-skew
/// allowance) and, unless `history`, not more than [`RECENT_DAYS`] ago.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: DateTime<Utc>,
    pub history: bool,
}

impl Clock {
    /// The time of `field` (absent: now): a valid timestamp, not in the future, and not more than a year
    /// back unless the caller loads history. Every dated write (intake, matter steps, fund steps) judges it
    /// here.
    pub fn occurred(
        self,
        v: &mut Violations,
        field: &str,
        value: Option<&prost_types::Timestamp>,
    ) -> Option<DateTime<Utc>> {
        let checked = v.check(validate::occurred_at(field, value, self.now.timestamp()))?;
        match crate::time::from_proto(&checked) {
            Some(t) if !self.history && t < self.now - chrono::Duration::days(RECENT_DAYS) => {
                v.add(
                    field,
                    "more than a year ago: loading history is for county clerks",
                );
                None
            }
            Some(t) => Some(t),
            None => {
                v.add(field, "out of range");
                None
            }
        }
    }
}

fn timestamp(
    v: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
    clock: Clock,
    required: bool,
) -> Option<Option<DateTime<Utc>>> {
    match value {
        None if required => {
            v.add(field, "required");
            None
        }
        None => Some(None),
        Some(ts) => clock.occurred(v, field, Some(ts)).map(Some),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewVisit {
    pub request_id: Uuid,
    pub visited_at: DateTime<Utc>,
    pub level: Level,
    pub non_reception_place: bool,
    pub place_name: String,
    pub headcount: u32,
    pub petitioners: Vec<NewPetitioner>,
    pub matter: NewMatter,
}

impl NewVisit {
    pub fn parse(request: &RegisterVisitRequest, clock: Clock) -> Result<Self, Violations> {
        let now = clock.now;
        let today = today_yyyymmdd(now);
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", &request.request_id));
        let Some(visit) = &request.visit else {
            v.add("visit", "required");
            return Err(v);
        };
        let visited_at = timestamp(
            &mut v,
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
        let people = petitioners(&mut v, "visit.petitioners", &visit.petitioners, today);
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
        let matter = matter(&mut v, "visit.matter", visit.matter.as_ref());
        v.finish(|| {
            Some(NewVisit {
                request_id: request_id?,
                visited_at: visited_at??,
                level: level?,
                non_reception_place: visit.non_reception_place,
                place_name: place_name?,
                headcount: headcount?,
                petitioners: people?,
                matter: matter?,
            })
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewLetter {
    pub request_id: Uuid,
    pub channel: LetterChannel,
    pub source_reference: String,
    pub campaign: String,
    pub received_at: DateTime<Utc>,
    pub petitioners: Vec<NewPetitioner>,
    pub matter: NewMatter,
}

impl NewLetter {
    pub fn parse(request: &RegisterLetterRequest, clock: Clock) -> Result<Self, Violations> {
        let now = clock.now;
        let today = today_yyyymmdd(now);
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", &request.request_id));
        let Some(letter) = &request.letter else {
            v.add("letter", "required");
            return Err(v);
        };
        let channel = v.check(validate::required_enum::<LetterChannel>(
            "letter.channel",
            letter.channel,
        ));
        let source_reference = optional_text(
            &mut v,
            "letter.source_reference",
            &letter.source_reference,
            100,
        );
        let campaign = optional_text(&mut v, "letter.campaign", &letter.campaign, 50);
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
            &mut v,
            "letter.received_at",
            letter.received_at.as_ref(),
            clock,
            true,
        );
        let people = petitioners(&mut v, "letter.petitioners", &letter.petitioners, today);
        let matter = matter(&mut v, "letter.matter", letter.matter.as_ref());
        v.finish(|| {
            Some(NewLetter {
                request_id: request_id?,
                channel: channel?,
                source_reference: source_reference?.unwrap_or_default(),
                campaign: campaign?.unwrap_or_default(),
                received_at: received_at??,
                petitioners: people?,
                matter: matter?,
            })
        })
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

/// A validated DetachRegistration: the registration to take out of its matter, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detach {
    pub request_id: Uuid,
    pub kind: RegistrationKind,
    pub id: Uuid,
    pub reason: String,
}

impl Detach {
    pub fn parse(request: &DetachRegistrationRequest) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", &request.request_id));
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
        v.finish(|| {
            let (kind, id) = target?;
            Some(Detach {
                request_id: request_id?,
                kind,
                id,
                reason: reason?,
            })
        })
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
    pub request_id: Uuid,
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
    pub fn parse(request: &RecordReturnTripRequest, clock: Clock) -> Result<Self, Violations> {
        let now = clock.now;
        let today = today_yyyymmdd(now);
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", &request.request_id));
        let Some(trip) = &request.trip else {
            v.add("trip", "required");
            return Err(v);
        };
        let notified_by = v.check(validate::required_text(
            "trip.notified_by",
            &trip.notified_by,
            100,
        ));
        let notified_at = timestamp(
            &mut v,
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
            v.add("trip.case_ids", format!("at most {MAX_TRIP_CASES} matters"));
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
        let people = petitioners(&mut v, "trip.petitioners", &trip.petitioners, today);
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
            &mut v,
            "trip.departed_at",
            trip.departed_at.as_ref(),
            clock,
            false,
        );
        let arrived = timestamp(
            &mut v,
            "trip.arrived_at",
            trip.arrived_at.as_ref(),
            clock,
            false,
        );
        let returned = timestamp(
            &mut v,
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
        v.finish(|| {
            Some(NewTrip {
                request_id: request_id?,
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::model::{Action, Workflow, apply};
    use xinfang_proto::v1::{AssignmentMode, ReviewOutcome, Visit};

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        shanghai()
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Calls `f` with every order of `items` (Heap's algorithm).
    fn each_order<T: Clone>(items: &[T], f: &mut impl FnMut(&[T])) {
        fn heap<T: Clone>(k: usize, items: &mut Vec<T>, f: &mut impl FnMut(&[T])) {
            if k <= 1 {
                f(items);
                return;
            }
            for i in 0..k {
                heap(k - 1, items, f);
                let j = if k % 2 == 0 { i } else { 0 };
                items.swap(j, k - 1);
            }
        }
        heap(items.len(), &mut items.to_vec(), f);
    }

    #[test]
    fn the_initial_registration_is_the_earliest_whatever_the_arrival_order() {
        let id = |n: u128| Uuid::from_u128(n);
        let regs = [
            Dated {
                at: at(2024, 3, 5, 9),
                id: id(9),
                not_accepted_again: false,
            },
            // The same instant as the first: the smaller id is the earlier.
            Dated {
                at: at(2024, 3, 5, 9),
                id: id(3),
                not_accepted_again: false,
            },
            Dated {
                at: at(2024, 3, 1, 9),
                id: id(7),
                not_accepted_again: true,
            },
            Dated {
                at: at(2024, 4, 1, 9),
                id: id(1),
                not_accepted_again: false,
            },
            Dated {
                at: at(2024, 5, 1, 9),
                id: id(2),
                not_accepted_again: false,
            },
        ];
        // By date, the one of id 3 is initial; the earlier 不再受理 one never is.
        let by_date = repeat_flags(&regs);
        assert_eq!(by_date, [true, false, true, true, true]);
        let mut orders = 0;
        each_order(&regs, &mut |order| {
            orders += 1;
            // Arriving one by one, with the flags derived again at every arrival, ends where the dates say.
            let mut arrived: Vec<Dated> = Vec::new();
            let mut flags = Vec::new();
            for r in order {
                arrived.push(*r);
                flags = repeat_flags(&arrived);
                // One initial registration at most (none while only a 不再受理 one has arrived).
                assert!(flags.iter().filter(|repeat| !**repeat).count() <= 1);
            }
            for (r, repeat) in arrived.iter().zip(&flags) {
                let i = regs.iter().position(|x| x == r).unwrap();
                assert_eq!(*repeat, by_date[i], "{r:?} in order {order:?}");
            }
        });
        assert_eq!(orders, 120);
        // Only 不再受理 registrations: none is initial.
        assert_eq!(repeat_flags(&regs[2..3]), [true]);
        assert_eq!(initial_of(&[]), None);
    }

    #[test]
    fn a_matter_is_final_on_a_day_by_its_review_window_or_its_second_review() {
        let workflow = Workflow::china().unwrap();
        let step = |record: &CaseRecord, action: Action, when: DateTime<Utc>| {
            apply(record, &action, &workflow.facts(when)).unwrap().0
        };
        let registered = CaseRecord::registered(at(2024, 3, 1, 9), ClaimType::Petition as i32);
        let assigned = step(
            &registered,
            Action::Assign {
                mode: AssignmentMode::Forward,
                unit: "510422100".into(),
                handling_deadline: None,
                reason: None,
            },
            at(2024, 3, 2, 9),
        );
        let accepted = step(&assigned, Action::Accept, at(2024, 3, 4, 9));
        let replied = step(
            &accepted,
            Action::Reply {
                opinion: "已处理".into(),
                completion_report: None,
                publish_for_evaluation: false,
            },
            at(2024, 4, 1, 9),
        );
        let facts = workflow.facts(at(2024, 12, 31, 9));
        let day = |m, d| NaiveDate::from_ymd_opt(2024, m, d).unwrap();
        // Concluded on 1 April; 30 days to ask for 复查, to 1 May, which is a holiday: the window runs to the
        // first working day after the May Day break.
        assert!(!final_on(&replied, &facts, day(3, 20)));
        assert!(!final_on(&replied, &facts, day(5, 1)));
        assert!(final_on(&replied, &facts, day(6, 1)));
        // 复查 and then 复核: final from the day of the 复核 decision on, not before.
        let first = step(&replied, Action::RequestReview, at(2024, 4, 10, 9));
        let first = step(
            &first,
            Action::DecideReview {
                outcome: ReviewOutcome::Upheld,
            },
            at(2024, 5, 10, 9),
        );
        let second = step(&first, Action::RequestReview, at(2024, 5, 20, 9));
        assert!(!final_on(&second, &facts, day(12, 1)), "a 复核 under way");
        let decided = step(
            &second,
            Action::DecideReview {
                outcome: ReviewOutcome::Upheld,
            },
            at(2024, 6, 10, 9),
        );
        assert_eq!(decided.state, CaseState::Final);
        assert!(!final_on(&decided, &facts, day(6, 1)));
        assert!(final_on(&decided, &facts, day(6, 10)));
        assert!(final_on(&decided, &facts, day(12, 1)));
        // Never final before it is concluded.
        assert!(!final_on(&accepted, &facts, day(12, 31)));
    }

    #[test]
    fn name_and_phone_identify_a_person_however_they_are_written() {
        assert_eq!(
            contact_key(" 张 三\u{3000}", Some("13812345678")),
            contact_key("张三", Some("13812345678"))
        );
        assert_eq!(
            contact_key("Zhang San", Some("13812345678")),
            contact_key("zhangsan", Some("13812345678"))
        );
        assert_ne!(
            contact_key("张三", Some("13812345678")),
            contact_key("张三", Some("13812345679"))
        );
        assert_ne!(
            contact_key("张三", Some("13812345678")),
            contact_key("张四", Some("13812345678"))
        );
        assert_eq!(contact_key("张三", None), None);
    }

    fn visit_request(people: Vec<Petitioner>, headcount: i32) -> RegisterVisitRequest {
        RegisterVisitRequest {
            request_id: Uuid::now_v7().to_string(),
            visit: Some(Visit {
                visited_at: Some(prost_types::Timestamp {
                    seconds: Utc::now().timestamp() - 60,
                    nanos: 0,
                }),
                level: Level::County as i32,
                place_name: "接待大厅".into(),
                headcount,
                petitioners: people,
                matter: Some(MatterInput {
                    content: "拖欠工资".into(),
                    demands: "支付工资".into(),
                    category: "labor".into(),
                    problem_org_code: "510422100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }

    fn named(name: &str, proxy: bool, representative: bool) -> Petitioner {
        Petitioner {
            name: name.into(),
            proxy,
            representative,
            ..Default::default()
        }
    }

    fn refused_fields(request: &RegisterVisitRequest) -> Vec<String> {
        let clock = Clock {
            now: Utc::now(),
            history: false,
        };
        match NewVisit::parse(request, clock) {
            Ok(_) => Vec::new(),
            Err(v) => v.into_vec().into_iter().map(|f| f.field).collect(),
        }
    }

    #[test]
    fn proxies_act_for_someone_and_are_not_counted_or_representatives() {
        let clock = Clock {
            now: Utc::now(),
            history: false,
        };
        // The principal and the lawyer acting for them; the lawyer alone came: one person in the batch.
        let ok = visit_request(
            vec![named("张三", false, false), named("李律师", true, false)],
            1,
        );
        let visit = NewVisit::parse(&ok, clock).unwrap();
        assert!(!visit.petitioners[0].proxy && visit.petitioners[1].proxy);
        let both = visit_request(
            vec![named("张三", false, false), named("李律师", true, true)],
            2,
        );
        assert_eq!(refused_fields(&both), ["visit.petitioners[1].proxy"]);
        let alone = visit_request(vec![named("李律师", true, false)], 1);
        assert_eq!(refused_fields(&alone), ["visit.petitioners"]);
    }

    #[test]
    fn a_new_matter_against_a_match_is_no_link() {
        let mut request = visit_request(vec![named("张三", false, false)], 1);
        let matter = request
            .visit
            .as_mut()
            .and_then(|v| v.matter.as_mut())
            .unwrap();
        matter.new_matter_reason = "另一家企业".into();
        let clock = Clock {
            now: Utc::now(),
            history: false,
        };
        let parsed = NewVisit::parse(&request, clock).unwrap();
        assert_eq!(
            parsed.matter.new_matter_reason.as_deref(),
            Some("另一家企业")
        );
        let matter = request
            .visit
            .as_mut()
            .and_then(|v| v.matter.as_mut())
            .unwrap();
        matter.link_case_id = Uuid::now_v7().to_string();
        assert_eq!(refused_fields(&request), ["visit.matter.new_matter_reason"]);
    }

    #[test]
    fn a_detach_names_one_registration_and_a_reason() {
        let id = Uuid::now_v7().to_string();
        let ok = DetachRegistrationRequest {
            request_id: Uuid::now_v7().to_string(),
            letter_id: id.clone(),
            reason: "另一家企业".into(),
            ..Default::default()
        };
        let parsed = Detach::parse(&ok).unwrap();
        assert_eq!(parsed.kind, RegistrationKind::Letter);
        assert_eq!(parsed.id.to_string(), id);
        let named = |r: &DetachRegistrationRequest| -> Vec<String> {
            Detach::parse(r)
                .unwrap_err()
                .into_vec()
                .into_iter()
                .map(|f| f.field)
                .collect()
        };
        let both = DetachRegistrationRequest {
            visit_id: id.clone(),
            reason: String::new(),
            ..ok.clone()
        };
        assert_eq!(named(&both), ["letter_id", "reason"]);
        let none = DetachRegistrationRequest {
            letter_id: String::new(),
            ..ok.clone()
        };
        assert_eq!(named(&none), ["visit_id"]);
        let bad = DetachRegistrationRequest {
            letter_id: "x".into(),
            ..ok
        };
        assert_eq!(named(&bad), ["letter_id"]);
    }

    #[test]
    fn large_scale_at_the_threshold() {
        assert!(!is_large_scale(49, DEFAULT_LARGE_SCALE_THRESHOLD));
        assert!(is_large_scale(50, DEFAULT_LARGE_SCALE_THRESHOLD));
        assert!(is_large_scale(500, DEFAULT_LARGE_SCALE_THRESHOLD));
        assert!(!is_large_scale(50, 60));
    }

    #[test]
    fn a_repeat_of_an_accusation_stays_one() {
        let accusation = ClaimType::Accusation as i16;
        let plain = NewMatter {
            content: "又来反映".into(),
            demands: "查处".into(),
            category: "politics_law".into(),
            problem_org_code: "510422100".into(),
            link_case_id: None,
            claim_type: ClaimType::Petition as i16,
            accused_org_code: None,
            new_matter_reason: None,
        };
        let first = Claim {
            claim_type: accusation,
            accused_org_code: Some("510422100".into()),
        };
        assert_eq!(plain.claim(Some(&first)), first);
        // Initial, or repeating a matter that is no accusation: the registration's own claim.
        let own = Claim {
            claim_type: plain.claim_type,
            accused_org_code: None,
        };
        assert_eq!(plain.claim(None), own);
        let complaint = Claim {
            claim_type: ClaimType::Suggestion as i16,
            accused_org_code: None,
        };
        assert_eq!(plain.claim(Some(&complaint)), own);
        // An accusation of its own keeps the unit the desk named.
        let other = NewMatter {
            claim_type: accusation,
            accused_org_code: Some("510422101".into()),
            ..plain.clone()
        };
        assert_eq!(
            other.claim(Some(&first)).accused_org_code.as_deref(),
            Some("510422101")
        );
    }

    #[test]
    fn dated_writes_are_judged_by_the_clock() {
        let now = Utc::now();
        let at = |days_ago: i64| prost_types::Timestamp {
            seconds: (now - chrono::Duration::days(days_ago)).timestamp(),
            nanos: 0,
        };
        let desk = Clock {
            now,
            history: false,
        };
        let loader = Clock { now, history: true };
        let mut v = Violations::new();
        assert!(desk.occurred(&mut v, "t", Some(&at(3))).is_some());
        assert!(v.is_empty());
        assert!(desk.occurred(&mut v, "t", Some(&at(400))).is_none());
        assert!(desk.occurred(&mut v, "t", Some(&at(-2))).is_none());
        assert_eq!(
            desk.occurred(&mut v, "t", None),
            Some(chrono::SubsecRound::trunc_subsecs(now, 0))
        );
        assert_eq!(
            v.into_vec().len(),
            2,
            "a year back and tomorrow are each named"
        );
        let mut v = Violations::new();
        assert!(loader.occurred(&mut v, "t", Some(&at(400))).is_some());
        assert!(v.is_empty());
    }

    #[test]
    fn collective_at_the_threshold() {
        assert!(!is_collective(4, 5));
        assert!(is_collective(5, 5));
        assert!(is_collective(6, 5));
        assert!(!is_collective(5, 6));
    }

    #[test]
    fn leapfrog_for_every_level_pair() {
        let township = competent_rank("township");
        let county = competent_rank("department");
        assert_eq!((township, county), (0, 1));
        assert!(!is_leapfrog(Level::County, township));
        assert!(is_leapfrog(Level::City, township));
        assert!(is_leapfrog(Level::Province, township));
        assert!(is_leapfrog(Level::National, township));
        assert!(!is_leapfrog(Level::County, county));
        assert!(!is_leapfrog(Level::City, county));
        assert!(is_leapfrog(Level::Province, county));
        assert!(is_leapfrog(Level::National, county));
        assert!(!is_leapfrog(Level::Unspecified, township));
    }

    #[test]
    fn registration_numbers_and_years_follow_shanghai() {
        assert_eq!(
            registration_number("XF", "510422", 2020, 123),
            "XF510422-2020-000123"
        );
        // 2020-12-31T16:30Z is already 2021-01-01 00:30 in Shanghai.
        let t = DateTime::parse_from_rfc3339("2020-12-31T16:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(register_year(t), 2021);
        assert_eq!(today_yyyymmdd(t), 20210101);
    }
}
