//! `xinfang.v1.VisitService`: visits, letters and persuade-and-return trips.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use xinfang_proto::{
    money, personal,
    v1::{
        Classification, DetachRegistrationRequest, DetachRegistrationResponse, GetLetterRequest,
        GetReturnTripRequest, GetVisitRequest, Letter, LetterChannel, Level, ListLettersRequest,
        ListLettersResponse, ListReturnTripsRequest, ListReturnTripsResponse, ListVisitsRequest,
        ListVisitsResponse, MatterInput, Petitioner, RecordReturnTripRequest,
        RegisterLetterRequest, RegisterVisitRequest, ReturnTrip, TripCosts, TripOutcome, Visit,
        visit_service_server::VisitService,
    },
    validate::{self, Violations},
};

use super::{
    model::{
        self, Dated, Detach, NewLetter, NewMatter, NewPetitioner, NewTrip, NewVisit,
        RegistrationKind,
    },
    store::{self, Links, ListScope, Listed, MatchKeys, PetitionerRow, Registration},
};
use crate::{
    auth::{self, Principal},
    db::{self, Batch},
    error::AppError,
    idempotency,
    org::store as org_store,
    paging,
    pii::{Field, PiiKeys},
    scope::{self, Kind, Reader},
    time,
};

/// Intake settings.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Code of the county, the middle of every registration number.
    pub county_code: String,
    /// Persons in a batch from which a visit is collective.
    pub collective_threshold: u32,
    /// Persons in a batch from which a visit is a large-scale collective visit (大规模集体访).
    pub large_scale_threshold: u32,
    /// Deadline rules, for the first due date of a matter intake opens.
    pub workflow: Arc<crate::cases::model::Workflow>,
}

pub struct VisitApi {
    pool: PgPool,
    keys: Arc<PiiKeys>,
    config: IntakeConfig,
}

impl VisitApi {
    pub fn new(pool: PgPool, keys: Arc<PiiKeys>, config: IntakeConfig) -> Self {
        Self { pool, keys, config }
    }
}

/// How personal data goes out in one response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reveal {
    Masked,
    Full,
}

impl Reveal {
    fn for_principal(principal: &Principal) -> Self {
        if model::sees_full_pii(principal.role) {
            Reveal::Full
        } else {
            Reveal::Masked
        }
    }
}

/// Seals and stores the people listed; returns them as listed (ids, representative and proxy flags), and the
/// keyed hashes that find the petitioners among them (never the proxies) again for repeat matching: of ID
/// numbers, and of names with phones.
async fn store_petitioners(
    conn: &mut PgConnection,
    keys: &PiiKeys,
    people: &[NewPetitioner],
) -> Result<(Vec<Listed>, MatchKeys), AppError> {
    // One keyring for all of them, so that the key id stored is the key that sealed, whatever a rotation
    // does meanwhile.
    let ring = keys.ring();
    let hashes: Vec<Option<Vec<u8>>> = people
        .iter()
        .map(|p| p.id_number.as_deref().map(|n| ring.match_hash(n).to_vec()))
        .collect();
    let contacts: Vec<Option<Vec<u8>>> = people
        .iter()
        .map(|p| {
            model::contact_key(&p.name, p.phone.as_deref()).map(|k| ring.contact_hash(&k).to_vec())
        })
        .collect();
    // Inserting a new person waits for a concurrent transaction inserting the same one; taking people in one
    // global order (by hash) keeps two registrations that share them from deadlocking each other.
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_by(|a, b| hashes[*a].cmp(&hashes[*b]));
    let mut listed = vec![
        Listed {
            petitioner_id: Uuid::nil(),
            representative: false,
            proxy: false,
        };
        people.len()
    ];
    for i in order {
        let p = &people[i];
        let seal = |field, value: &Option<String>| {
            value.as_deref().map(|v| ring.seal(field, v)).transpose()
        };
        let record = store::PetitionerRecord {
            id: Uuid::now_v7(),
            name: &p.name,
            id_hash: hashes[i].as_deref(),
            contact_hash: contacts[i].as_deref(),
            id_number_enc: seal(Field::IdNumber, &p.id_number)?,
            id_number_masked: p.id_number.as_deref().map(personal::mask_id_number),
            phone_enc: seal(Field::Phone, &p.phone)?,
            phone_masked: p.phone.as_deref().map(personal::mask_phone),
            address_enc: seal(Field::Address, &p.address)?,
            seal_key: ring.current_id(),
        };
        let id = match store::upsert_petitioner(conn, &record).await {
            Ok(id) => id,
            // The key this process seals with was retired by a rotation it has not noticed yet (it checks
            // every second): read the key file again, and let the write run again with the new key.
            Err(err) if crate::pii::store::is_key_in_use(&err) => {
                if let Err(err) = keys.reload() {
                    tracing::warn!(error = %err, "reading the personal-data key file again");
                }
                return Err(AppError::LostRace);
            }
            Err(err) => return Err(err.into()),
        };
        listed[i] = Listed {
            petitioner_id: id,
            representative: p.representative,
            proxy: p.proxy,
        };
    }
    // A proxy is not the petitioner (同人 is the principal's identity): only petitioners are matched.
    let petitioner = |i: &usize| !people[*i].proxy;
    let keys = MatchKeys {
        id_hashes: (0..people.len())
            .filter(petitioner)
            .filter_map(|i| hashes[i].clone())
            .collect(),
        contact_hashes: (0..people.len())
            .filter(petitioner)
            .filter_map(|i| contacts[i].clone())
            .collect(),
    };
    Ok((listed, keys))
}

/// Records a change in the sync feed, in the caller's transaction.
async fn feed(
    conn: &mut PgConnection,
    kind: &str,
    id: Uuid,
    org: Option<&str>,
    owner: Option<Uuid>,
) -> Result<(), AppError> {
    crate::sync::store::append(
        conn,
        &crate::sync::store::FeedEntry {
            kind,
            entity_id: id,
            org_code: org,
            previous_org_code: None,
            owner,
            reason: "",
        },
    )
    .await?;
    Ok(())
}

/// The matter a registration belongs to: the one the clerk linked, the earliest with a shared petitioner and
/// the same category and place, or none (a new one is opened by the caller).
struct MatterLink {
    case_id: Option<Uuid>,
    competent_rank: i32,
    /// What the registration is claimed as, given the matter it repeats.
    claim: model::Claim,
}

async fn check_matter(
    conn: &mut PgConnection,
    reader: &Reader,
    field: &str,
    matter: &NewMatter,
    keys: &MatchKeys,
) -> Result<MatterLink, AppError> {
    let mut v = Violations::new();
    if !store::category_exists(conn, &matter.category).await? {
        v.add(
            format!("{field}.category"),
            "not in the category dictionary",
        );
    }
    let org = org_store::get(conn, &matter.problem_org_code).await?;
    let competent_rank = match &org {
        None => {
            v.add(
                format!("{field}.problem_org_code"),
                "no org unit has this code",
            );
            0
        }
        Some(o) if o.kind == "petition_office" => {
            v.add(
                format!("{field}.problem_org_code"),
                "the place of the problem is a township, a department or the county",
            );
            0
        }
        Some(o) => model::competent_rank(&o.kind),
    };
    if let Some(accused) = &matter.accused_org_code
        && org_store::get(conn, accused).await?.is_none()
    {
        v.add(
            format!("{field}.accused_org_code"),
            "no org unit has this code",
        );
    }
    // A link names a matter the caller reads already (it never widens what anyone reads); one it may not
    // read is refused exactly as one that does not exist, so the refusal tells nothing either.
    let linked = match matter.link_case_id {
        Some(id) => {
            let linked = if scope::store::reads(conn, reader, Kind::Matter, id).await? {
                store::linked_matter(conn, id).await?
            } else {
                None
            };
            if linked.is_none() {
                v.add(
                    format!("{field}.link_case_id"),
                    "no matter you may read has this id",
                );
            }
            linked
        }
        None => None,
    };
    if !v.is_empty() {
        return Err(v.into());
    }
    let linked = match linked {
        Some(l) => {
            if !matter.may_join(&model::Claim {
                claim_type: l.claim_type,
                accused_org_code: l.accused_org_code.clone(),
            }) {
                return Err(AppError::precondition(
                    "ACCUSATION_APART",
                    "an accusation joins only an accusation against the same unit; register it as a \
                     matter of its own",
                ));
            }
            Some(l)
        }
        // The desk said this is a new matter although it may match: no matching.
        None if matter.new_matter_reason.is_some() => None,
        None => {
            store::find_repeat_case(
                conn,
                keys,
                &matter.category,
                &matter.problem_org_code,
                matter.accusation_against(),
            )
            .await?
        }
    };
    let claim = matter.claim(
        linked
            .as_ref()
            .map(|l| model::Claim {
                claim_type: l.claim_type,
                accused_org_code: l.accused_org_code.clone(),
            })
            .as_ref(),
    );
    Ok(MatterLink {
        case_id: linked.map(|l| l.id),
        competent_rank,
        claim,
    })
}

/// A visit or letter being registered, as its matter sees it.
struct Arriving<'a> {
    id: Uuid,
    number: &'a str,
    /// When it happened: what initial/repeat and 不再受理 are judged by.
    at: DateTime<Utc>,
}

/// Where a registration landed: its matter, whether it repeats it, and whether it is answered 不再受理.
struct Joined {
    case_id: Uuid,
    repeat: bool,
    not_accepted_again: bool,
}

/// What a new matter is opened from: the registration's description of it, and who registered it.
struct Opening<'a> {
    number: &'a str,
    category: &'a str,
    problem_org: &'a str,
    content: &'a str,
    demands: &'a str,
    claim_type: i16,
    accused_org_code: Option<&'a str>,
    registered_at: DateTime<Utc>,
    opened_by: Uuid,
}

/// Inserts a matter in state registered, with its first due dates. Returns its id.
async fn open_matter(
    conn: &mut PgConnection,
    workflow: &crate::cases::model::Workflow,
    o: &Opening<'_>,
) -> Result<Uuid, AppError> {
    use crate::cases::model as case_model;
    let id = Uuid::now_v7();
    let record = case_model::CaseRecord::registered(o.registered_at, i32::from(o.claim_type));
    let schedule = case_model::schedule(&record, &workflow.facts(o.registered_at));
    store::insert_case(
        conn,
        &store::NewCase {
            id,
            number: o.number,
            category: o.category,
            problem_org: o.problem_org,
            content: o.content,
            demands: o.demands,
            registered_at: o.registered_at,
            assign_due: schedule.assign_due(),
            next_due: schedule.next_due,
            claim_type: o.claim_type,
            accused_org_code: o.accused_org_code,
            opened_by: o.opened_by,
        },
    )
    .await?;
    Ok(id)
}

/// The registrations of a matter whose repeat flag changed, each with its flag now.
type Flips = Vec<(Registration, bool)>;

/// Derives initial/repeat of the matter's registrations from their dates (`model::repeat_flags`), with
/// `arriving` among them when it is about to be inserted, and stores every flag that changed (the rollup
/// triggers move the counts). Returns the arriving registration's flag and the registrations that flipped.
/// Call it with the matter locked, so that two registrations of one matter are derived one after the other.
async fn settle(
    conn: &mut PgConnection,
    case_id: Uuid,
    arriving: Option<Dated>,
) -> Result<(bool, Flips), AppError> {
    let registrations = store::registrations_of(conn, case_id).await?;
    let mut dated: Vec<Dated> = registrations
        .iter()
        .map(|r| Dated {
            at: r.at,
            id: r.id,
            not_accepted_again: r.not_accepted_again,
        })
        .collect();
    dated.extend(arriving);
    let flags = model::repeat_flags(&dated);
    let mut flips = Vec::new();
    for (r, &repeat) in registrations.into_iter().zip(&flags) {
        if r.repeat != repeat {
            store::set_repeat(conn, &r.kind, r.id, repeat).await?;
            flips.push((r, repeat));
        }
    }
    let repeat = arriving.is_none() || flags.last().copied().unwrap_or(true);
    Ok((repeat, flips))
}

/// Records a change of a matter's initial registration: a `reclassified` event with the numbers of the
/// registrations that were and are initial, an audit row, and the changed visits and letters in the sync
/// feed (their owners see the new flag).
async fn record_flips(
    conn: &mut PgConnection,
    case_id: Uuid,
    actor: Uuid,
    flips: &Flips,
    now_initial: Option<&str>,
    why: &str,
) -> Result<(), AppError> {
    if flips.is_empty() {
        return Ok(());
    }
    let was: Vec<&str> = flips
        .iter()
        .filter(|(_, repeat)| *repeat)
        .map(|(r, _)| r.number.as_str())
        .collect();
    let now: Vec<&str> = now_initial
        .into_iter()
        .chain(
            flips
                .iter()
                .filter(|(_, repeat)| !*repeat)
                .map(|(r, _)| r.number.as_str()),
        )
        .collect();
    crate::cases::store::insert_event(
        conn,
        &crate::cases::store::NewEvent {
            case_id,
            action: "reclassified",
            actor,
            occurred_at: Utc::now(),
            reason: why,
            before: Some(serde_json::json!({ "initial": was })),
            after: Some(serde_json::json!({ "initial": now })),
        },
    )
    .await?;
    crate::audit::store::append(
        conn,
        actor,
        "reclassified",
        &case_id.to_string(),
        &format!("initial {} → {}: {why}", was.join(", "), now.join(", ")),
    )
    .await?;
    for (r, _) in flips {
        feed(
            conn,
            &r.kind,
            r.id,
            store::feed_org(&r.problem_org_code, r.accused_org_code.as_deref()),
            Some(r.registered_by),
        )
        .await?;
    }
    Ok(())
}

/// Opens the matter of a registration that links to none, or joins the one it links to: initial or repeat by
/// the dates of the matter's registrations (a registration dated before them all becomes the initial one and
/// the one that was initial a repeat), answered 不再受理 when the matter was final on the registration's date.
/// Links its petitioners (not its proxies) to the matter. Returns where it landed.
#[allow(clippy::too_many_arguments)]
async fn join_matter(
    conn: &mut PgConnection,
    workflow: &crate::cases::model::Workflow,
    actor: Uuid,
    link: &MatterLink,
    matter: &NewMatter,
    arriving: &Arriving<'_>,
    petitioners: &[Listed],
) -> Result<Joined, AppError> {
    use crate::cases::{model as case_model, store as case_store};
    let principals: Vec<Uuid> = petitioners
        .iter()
        .filter(|p| !p.proxy)
        .map(|p| p.petitioner_id)
        .collect();
    let Some(case_id) = link.case_id else {
        let case_id = open_matter(
            conn,
            workflow,
            &Opening {
                number: arriving.number,
                category: &matter.category,
                problem_org: &matter.problem_org_code,
                content: &matter.content,
                demands: &matter.demands,
                claim_type: matter.claim_type,
                accused_org_code: matter.accused_org_code.as_deref(),
                registered_at: arriving.at,
                opened_by: actor,
            },
        )
        .await?;
        store::link_case_petitioners(conn, case_id, &principals).await?;
        let after = matter.new_matter_reason.as_ref().map(|reason| {
            serde_json::json!({ "registration": arriving.number, "new_matter_reason": reason })
        });
        case_store::insert_event(
            conn,
            &case_store::NewEvent {
                case_id,
                action: "registered",
                actor,
                occurred_at: arriving.at,
                reason: arriving.number,
                before: None,
                after,
            },
        )
        .await?;
        if let Some(reason) = &matter.new_matter_reason {
            crate::audit::store::append(
                conn,
                actor,
                "new_matter",
                &case_id.to_string(),
                &format!("{}: {reason}", arriving.number),
            )
            .await?;
        }
        feed(conn, "case", case_id, None, None).await?;
        return Ok(Joined {
            case_id,
            repeat: false,
            not_accepted_again: false,
        });
    };
    // Locked after the register's counter, as every registration takes them: one order, no deadlock.
    let case = case_store::lock(conn, case_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("matter {case_id}")))?;
    let not_accepted_again = model::final_on(
        &case.record(),
        &workflow.facts(arriving.at),
        case_model::local_date(arriving.at),
    );
    store::link_case_petitioners(conn, case_id, &principals).await?;
    let (repeat, flips) = settle(
        conn,
        case_id,
        Some(Dated {
            at: arriving.at,
            id: arriving.id,
            not_accepted_again,
        }),
    )
    .await?;
    let (action, after) = match (repeat, not_accepted_again) {
        (_, true) => (
            "repeat_linked",
            Some(serde_json::json!({ "not_accepted_again": true })),
        ),
        (true, false) => ("repeat_linked", None),
        (false, false) => ("initial_linked", None),
    };
    case_store::insert_event(
        conn,
        &case_store::NewEvent {
            case_id,
            action,
            actor,
            occurred_at: arriving.at,
            reason: arriving.number,
            before: None,
            after,
        },
    )
    .await?;
    record_flips(
        conn,
        case_id,
        actor,
        &flips,
        (!repeat).then_some(arriving.number),
        "a registration dated before the initial one arrived late",
    )
    .await?;
    feed(conn, "case", case_id, None, None).await?;
    Ok(Joined {
        case_id,
        repeat,
        not_accepted_again,
    })
}

fn petitioner_to_proto(
    keys: &PiiKeys,
    row: &PetitionerRow,
    reveal: Reveal,
) -> Result<Petitioner, AppError> {
    let open = |field, sealed: &Option<Vec<u8>>| -> Result<String, AppError> {
        match sealed {
            Some(bytes) => Ok(keys.open(field, row.seal_key.as_deref(), bytes)?),
            None => Ok(String::new()),
        }
    };
    let (id_number, phone, address) = match reveal {
        Reveal::Full => (
            open(Field::IdNumber, &row.id_number_enc)?,
            open(Field::Phone, &row.phone_enc)?,
            open(Field::Address, &row.address_enc)?,
        ),
        Reveal::Masked => (
            row.id_number_masked.clone().unwrap_or_default(),
            row.phone_masked.clone().unwrap_or_default(),
            // An address has no useful mask: it is withheld whole.
            if row.address_enc.is_some() {
                "***".to_owned()
            } else {
                String::new()
            },
        ),
    };
    Ok(Petitioner {
        id: row.id.to_string(),
        name: row.name.clone(),
        id_number,
        phone,
        address,
        representative: row.representative,
        masked: reveal == Reveal::Masked,
        proxy: row.proxy,
    })
}

/// Petitioners of each owner, converted; also the ids of the people shown unmasked.
async fn load_petitioners(
    conn: &mut PgConnection,
    keys: &PiiKeys,
    links: Links,
    owners: &[Uuid],
    reveal: Reveal,
) -> Result<(HashMap<Uuid, Vec<Petitioner>>, Vec<Uuid>), AppError> {
    let rows = store::petitioners_of(conn, links, owners).await?;
    let mut by_owner: HashMap<Uuid, Vec<Petitioner>> = HashMap::new();
    let mut revealed = Vec::new();
    for row in &rows {
        by_owner
            .entry(row.owner_id)
            .or_default()
            .push(petitioner_to_proto(keys, row, reveal)?);
        if reveal == Reveal::Full {
            revealed.push(row.id);
        }
    }
    revealed.sort_unstable();
    revealed.dedup();
    Ok((by_owner, revealed))
}

fn matter_to_proto(
    content: &str,
    demands: &str,
    category: &str,
    org: &str,
    claim_type: i16,
    accused: Option<&str>,
) -> MatterInput {
    MatterInput {
        content: content.to_owned(),
        demands: demands.to_owned(),
        category: category.to_owned(),
        problem_org_code: org.to_owned(),
        // The matter is in `classification.case_id`; echoing it here would turn a copied record into a link.
        link_case_id: String::new(),
        claim_type: i32::from(claim_type),
        accused_org_code: accused.unwrap_or_default().to_owned(),
        new_matter_reason: String::new(),
    }
}

/// The matter a registration belongs to, as its reader may see it: its id when the reader reads the matter,
/// else empty (the reader learns only whether the registration is a repeat, and whether it is answered
/// 不再受理).
fn classification(
    case_id: Uuid,
    repeat: bool,
    not_accepted_again: bool,
    readable: &HashSet<Uuid>,
) -> Classification {
    Classification {
        case_id: if readable.contains(&case_id) {
            case_id.to_string()
        } else {
            String::new()
        },
        repeat,
        not_accepted_again,
    }
}

fn visit_to_proto(
    row: &store::VisitRow,
    petitioners: Vec<Petitioner>,
    readable: &HashSet<Uuid>,
) -> Visit {
    Visit {
        id: row.id.to_string(),
        number: row.number.clone(),
        visited_at: Some(time::to_proto(row.visited_at)),
        level: model::level_from_db(&row.level) as i32,
        non_reception_place: row.non_reception_place,
        place_name: row.place_name.clone(),
        headcount: row.headcount,
        petitioners,
        matter: Some(matter_to_proto(
            &row.content,
            &row.demands,
            &row.category_code,
            &row.problem_org_code,
            row.claim_type,
            row.accused_org_code.as_deref(),
        )),
        collective: row.collective,
        leapfrog: row.leapfrog,
        classification: Some(classification(
            row.case_id,
            row.repeat,
            row.not_accepted_again,
            readable,
        )),
        registered_by: row.registered_by.to_string(),
        recorded_at: Some(time::to_proto(row.recorded_at)),
        large_scale: row.large_scale,
    }
}

fn letter_to_proto(
    row: &store::LetterRow,
    petitioners: Vec<Petitioner>,
    readable: &HashSet<Uuid>,
) -> Letter {
    Letter {
        id: row.id.to_string(),
        number: row.number.clone(),
        channel: model::channel_from_db(&row.channel) as i32,
        source_reference: row.source_reference.clone(),
        campaign: row.campaign.clone(),
        received_at: Some(time::to_proto(row.received_at)),
        petitioners,
        matter: Some(matter_to_proto(
            &row.content,
            &row.demands,
            &row.category_code,
            &row.problem_org_code,
            row.claim_type,
            row.accused_org_code.as_deref(),
        )),
        anonymous: row.anonymous,
        classification: Some(classification(
            row.case_id,
            row.repeat,
            row.not_accepted_again,
            readable,
        )),
        registered_by: row.registered_by.to_string(),
        recorded_at: Some(time::to_proto(row.recorded_at)),
    }
}

fn trip_to_proto(
    row: &store::TripRow,
    petitioners: Vec<Petitioner>,
    cases: Vec<String>,
) -> ReturnTrip {
    let costs = model::Costs {
        transport: row.transport_cost,
        lodging: row.lodging_cost,
        meals: row.meal_cost,
        other: row.other_cost,
    };
    ReturnTrip {
        id: row.id.to_string(),
        number: row.number.clone(),
        notified_by: row.notified_by.clone(),
        notified_at: Some(time::to_proto(row.notified_at)),
        destination_level: model::level_from_db(&row.destination_level) as i32,
        destination_place: row.destination_place.clone(),
        non_reception_place: row.non_reception_place,
        responsible_org_code: row.responsible_org_code.clone(),
        officers: row.officers.clone(),
        petitioners,
        case_ids: cases,
        departed_at: row.departed_at.map(time::to_proto),
        arrived_at: row.arrived_at.map(time::to_proto),
        returned_at: row.returned_at.map(time::to_proto),
        costs: Some(TripCosts {
            transport: money::format(costs.transport),
            lodging: money::format(costs.lodging),
            meals: money::format(costs.meals),
            other: money::format(costs.other),
            total: money::format(costs.total()),
        }),
        outcome: model::outcome_from_db(&row.outcome) as i32,
        report: row.report.clone(),
        recorded_by: row.recorded_by.to_string(),
        recorded_at: Some(time::to_proto(row.recorded_at)),
    }
}

/// Refuses a record `principal` may not read, by the read rule (`crate::scope`).
async fn check_read(
    conn: &mut PgConnection,
    principal: &Principal,
    kind: Kind,
    id: Uuid,
) -> Result<Reader, AppError> {
    let reader = Reader::of(principal);
    if scope::store::reads(conn, &reader, kind, id).await? {
        Ok(reader)
    } else {
        Err(AppError::PermissionDenied(
            "outside the caller's scope".into(),
        ))
    }
}

/// The matters among `ids` that `reader` reads.
async fn readable_matters(
    conn: &mut PgConnection,
    reader: &Reader,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<HashSet<Uuid>, AppError> {
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(scope::store::readable(conn, reader, Kind::Matter, &ids).await?)
}

/// Common list arguments: page size, period, org filter, and the page position for `filter_key`.
struct ListArgs {
    page_size: u32,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    org: Option<String>,
    after: Option<(DateTime<Utc>, Uuid)>,
}

fn list_args(
    v: &mut Violations,
    page_size: i32,
    page_token: &str,
    period: Option<&xinfang_proto::v1::Period>,
    org_field: &str,
    org: &str,
    filter_key: &str,
) -> Option<ListArgs> {
    let page_size = v.check(validate::page_size("page_size", page_size));
    let bounds = match period {
        Some(p) => v.check(time::period_bounds("period", p)).map(Some),
        None => Some(None),
    };
    let org = if org.is_empty() {
        Some(None)
    } else {
        v.check(validate::org_code(org_field, org)).map(Some)
    };
    let after = match v.check(paging::decode(page_token, filter_key)) {
        Some(Some(key)) => match paging::parse_time_key(&key) {
            Some(pos) => Some(Some(pos)),
            None => {
                v.add("page_token", "not a page token of this list");
                None
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    let bounds = bounds?;
    Some(ListArgs {
        page_size: page_size?,
        from: bounds.map(|b| b.0),
        until: bounds.map(|b| b.1),
        org: org?,
        after: after?,
    })
}

fn clock(principal: &Principal) -> model::Clock {
    model::Clock {
        now: Utc::now(),
        history: model::loads_history(principal.role),
    }
}

/// Registering a new matter against a repeat match is the county desk's judgment (like linking by hand).
fn check_override(principal: &Principal, matter: &NewMatter) -> Result<(), AppError> {
    if matter.new_matter_reason.is_some() && !model::overrides_matches(principal.role) {
        return Err(AppError::PermissionDenied(
            "only the county desk registers a new matter against a repeat match \
             (matter.new_matter_reason)"
                .into(),
        ));
    }
    Ok(())
}

fn parse_id(field: &str, value: &str) -> Result<Uuid, AppError> {
    Ok(model::uuid_field(field, value)?)
}

#[tonic::async_trait]
impl VisitService for VisitApi {
    async fn register_visit(
        &self,
        request: Request<RegisterVisitRequest>,
    ) -> Result<Response<Visit>, Status> {
        let principal = auth::principal(&request)?;
        let new = NewVisit::parse(request.get_ref(), clock(principal)).map_err(AppError::from)?;
        check_override(principal, &new.matter)?;
        let key = idempotency::Key::new(
            principal.id,
            "RegisterVisit",
            new.request_id,
            request.get_ref(),
        );
        let batch = request.extensions().get();
        let stored =
            db::retry_lost_races(batch, || self.apply_visit(batch, principal, &key, &new)).await?;
        Ok(Response::new(stored))
    }

    async fn get_visit(
        &self,
        request: Request<GetVisitRequest>,
    ) -> Result<Response<Visit>, Status> {
        let principal = auth::principal(&request)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let row = store::get_visit(&mut conn, id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::NotFound(format!("visit {id}")))?;
        let reader = check_read(&mut conn, principal, Kind::Visit, id).await?;
        let readable = readable_matters(&mut conn, &reader, [row.case_id]).await?;
        let reveal = Reveal::for_principal(principal);
        let (mut people, revealed) =
            load_petitioners(&mut conn, &self.keys, Links::Visit, &[id], reveal).await?;
        store::record_pii_reads(&mut conn, principal.id, &revealed, "GetVisit")
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(visit_to_proto(
            &row,
            people.remove(&id).unwrap_or_default(),
            &readable,
        )))
    }

    async fn list_visits(
        &self,
        request: Request<ListVisitsRequest>,
    ) -> Result<Response<ListVisitsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let level = v
            .check(validate::optional_enum::<Level>("level", req.level))
            .flatten()
            .map(|l| model::level_to_db(l).to_owned());
        let filter = store::VisitFilter {
            level,
            non_reception_place: req.non_reception_place,
            repeat: req.repeat,
            collective: req.collective,
            leapfrog: req.leapfrog,
        };
        let filter_key = format!("{:?}|{:?}|{}", filter, req.period, req.problem_org_code);
        let args = list_args(
            &mut v,
            req.page_size,
            &req.page_token,
            req.period.as_ref(),
            "problem_org_code",
            &req.problem_org_code,
            &filter_key,
        );
        let args = v.finish(|| args).map_err(AppError::from)?;
        let scope = ListScope {
            org: args.org.clone(),
            reader: Reader::of(principal),
            from: args.from,
            until: args.until,
            after: args.after,
        };
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let mut rows =
            store::list_visits(&mut conn, &scope, &filter, i64::from(args.page_size) + 1)
                .await
                .map_err(AppError::from)?;
        let next_page_token = paging::next_page(&mut rows, args.page_size, &filter_key, |r| {
            paging::time_key(r.visited_at, r.id)
        });
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let reveal = Reveal::for_principal(principal);
        let (mut people, revealed) =
            load_petitioners(&mut conn, &self.keys, Links::Visit, &ids, reveal).await?;
        store::record_pii_reads(&mut conn, principal.id, &revealed, "ListVisits")
            .await
            .map_err(AppError::from)?;
        let readable =
            readable_matters(&mut conn, &scope.reader, rows.iter().map(|r| r.case_id)).await?;
        let visits = rows
            .iter()
            .map(|r| visit_to_proto(r, people.remove(&r.id).unwrap_or_default(), &readable))
            .collect();
        Ok(Response::new(ListVisitsResponse {
            visits,
            next_page_token,
        }))
    }

    async fn register_letter(
        &self,
        request: Request<RegisterLetterRequest>,
    ) -> Result<Response<Letter>, Status> {
        let principal = auth::principal(&request)?;
        let new = NewLetter::parse(request.get_ref(), clock(principal)).map_err(AppError::from)?;
        check_override(principal, &new.matter)?;
        let key = idempotency::Key::new(
            principal.id,
            "RegisterLetter",
            new.request_id,
            request.get_ref(),
        );
        let batch = request.extensions().get();
        let stored =
            db::retry_lost_races(batch, || self.apply_letter(batch, principal, &key, &new)).await?;
        Ok(Response::new(stored))
    }

    async fn get_letter(
        &self,
        request: Request<GetLetterRequest>,
    ) -> Result<Response<Letter>, Status> {
        let principal = auth::principal(&request)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let row = store::get_letter(&mut conn, id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::NotFound(format!("letter {id}")))?;
        let reader = check_read(&mut conn, principal, Kind::Letter, id).await?;
        let readable = readable_matters(&mut conn, &reader, [row.case_id]).await?;
        let reveal = Reveal::for_principal(principal);
        let (mut people, revealed) =
            load_petitioners(&mut conn, &self.keys, Links::Letter, &[id], reveal).await?;
        store::record_pii_reads(&mut conn, principal.id, &revealed, "GetLetter")
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(letter_to_proto(
            &row,
            people.remove(&id).unwrap_or_default(),
            &readable,
        )))
    }

    async fn list_letters(
        &self,
        request: Request<ListLettersRequest>,
    ) -> Result<Response<ListLettersResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let channel = v
            .check(validate::optional_enum::<LetterChannel>(
                "channel",
                req.channel,
            ))
            .flatten()
            .map(|c| model::channel_to_db(c).to_owned());
        let filter = store::LetterFilter {
            channel,
            repeat: req.repeat,
        };
        let filter_key = format!("{:?}|{:?}|{}", filter, req.period, req.problem_org_code);
        let args = list_args(
            &mut v,
            req.page_size,
            &req.page_token,
            req.period.as_ref(),
            "problem_org_code",
            &req.problem_org_code,
            &filter_key,
        );
        let args = v.finish(|| args).map_err(AppError::from)?;
        let scope = ListScope {
            org: args.org.clone(),
            reader: Reader::of(principal),
            from: args.from,
            until: args.until,
            after: args.after,
        };
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let mut rows =
            store::list_letters(&mut conn, &scope, &filter, i64::from(args.page_size) + 1)
                .await
                .map_err(AppError::from)?;
        let next_page_token = paging::next_page(&mut rows, args.page_size, &filter_key, |r| {
            paging::time_key(r.received_at, r.id)
        });
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let reveal = Reveal::for_principal(principal);
        let (mut people, revealed) =
            load_petitioners(&mut conn, &self.keys, Links::Letter, &ids, reveal).await?;
        store::record_pii_reads(&mut conn, principal.id, &revealed, "ListLetters")
            .await
            .map_err(AppError::from)?;
        let readable =
            readable_matters(&mut conn, &scope.reader, rows.iter().map(|r| r.case_id)).await?;
        let letters = rows
            .iter()
            .map(|r| letter_to_proto(r, people.remove(&r.id).unwrap_or_default(), &readable))
            .collect();
        Ok(Response::new(ListLettersResponse {
            letters,
            next_page_token,
        }))
    }

    async fn detach_registration(
        &self,
        request: Request<DetachRegistrationRequest>,
    ) -> Result<Response<DetachRegistrationResponse>, Status> {
        let principal = auth::principal(&request)?;
        let detach = Detach::parse(request.get_ref()).map_err(AppError::from)?;
        let key = idempotency::Key::new(
            principal.id,
            "DetachRegistration",
            detach.request_id,
            request.get_ref(),
        );
        let batch = request.extensions().get();
        let stored =
            db::retry_lost_races(batch, || self.apply_detach(batch, principal, &key, &detach))
                .await?;
        Ok(Response::new(stored))
    }

    async fn record_return_trip(
        &self,
        request: Request<RecordReturnTripRequest>,
    ) -> Result<Response<ReturnTrip>, Status> {
        let principal = auth::principal(&request)?;
        let new = NewTrip::parse(request.get_ref(), clock(principal)).map_err(AppError::from)?;
        let key = idempotency::Key::new(
            principal.id,
            "RecordReturnTrip",
            new.request_id,
            request.get_ref(),
        );
        let batch = request.extensions().get();
        let stored =
            db::retry_lost_races(batch, || self.apply_trip(batch, principal, &key, &new)).await?;
        Ok(Response::new(stored))
    }

    async fn get_return_trip(
        &self,
        request: Request<GetReturnTripRequest>,
    ) -> Result<Response<ReturnTrip>, Status> {
        let principal = auth::principal(&request)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let row = store::get_trip(&mut conn, id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::NotFound(format!("return trip {id}")))?;
        check_read(&mut conn, principal, Kind::Trip, id).await?;
        let trips = self
            .trips_to_proto(&mut conn, principal, vec![row], "GetReturnTrip")
            .await?;
        trips
            .into_iter()
            .next()
            .map(Response::new)
            .ok_or_else(|| AppError::NotFound(format!("return trip {id}")).into())
    }

    async fn list_return_trips(
        &self,
        request: Request<ListReturnTripsRequest>,
    ) -> Result<Response<ListReturnTripsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let level = v
            .check(validate::optional_enum::<Level>(
                "destination_level",
                req.destination_level,
            ))
            .flatten()
            .map(|l| model::level_to_db(l).to_owned());
        let recorded_by = if req.recorded_by.is_empty() {
            None
        } else {
            v.check(model::uuid_field("recorded_by", &req.recorded_by))
        };
        let outcome = match TripOutcome::try_from(req.outcome) {
            Ok(TripOutcome::Unspecified) => None,
            Ok(o) => Some(model::outcome_to_db(o).to_owned()),
            Err(_) => {
                v.add("outcome", format!("unknown value {}", req.outcome));
                None
            }
        };
        let filter = store::TripFilter {
            destination_level: level,
            recorded_by,
            outcome,
        };
        let filter_key = format!("{:?}|{:?}|{}", filter, req.period, req.responsible_org_code);
        let args = list_args(
            &mut v,
            req.page_size,
            &req.page_token,
            req.period.as_ref(),
            "responsible_org_code",
            &req.responsible_org_code,
            &filter_key,
        );
        let args = v.finish(|| args).map_err(AppError::from)?;
        let scope = ListScope {
            org: args.org.clone(),
            reader: Reader::of(principal),
            from: args.from,
            until: args.until,
            after: args.after,
        };
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let mut rows = store::list_trips(&mut conn, &scope, &filter, i64::from(args.page_size) + 1)
            .await
            .map_err(AppError::from)?;
        let next_page_token = paging::next_page(&mut rows, args.page_size, &filter_key, |r| {
            paging::time_key(r.sort_at, r.id)
        });
        let trips = self
            .trips_to_proto(&mut conn, principal, rows, "ListReturnTrips")
            .await?;
        Ok(Response::new(ListReturnTripsResponse {
            trips,
            next_page_token,
        }))
    }
}

impl VisitApi {
    async fn apply_visit(
        &self,
        batch: Option<&Batch>,
        principal: &Principal,
        key: &idempotency::Key,
        new: &NewVisit,
    ) -> Result<Visit, AppError> {
        let mut hold = Batch::hold(batch).await;
        let mut tx = db::begin(&self.pool, &mut hold).await?;
        if let Some(first) = idempotency::claim::<Visit>(&mut tx, key).await? {
            return Ok(first);
        }
        let (petitioners, keys) = store_petitioners(&mut tx, &self.keys, &new.petitioners).await?;
        let reader = Reader::of(principal);
        let link = check_matter(&mut tx, &reader, "visit.matter", &new.matter, &keys).await?;
        let serial = store::next_serial(
            &mut tx,
            model::REGISTER_PREFIX,
            model::register_year(new.visited_at),
        )
        .await?;
        let number = model::registration_number(
            model::REGISTER_PREFIX,
            &self.config.county_code,
            model::register_year(new.visited_at),
            serial,
        );
        let id = Uuid::now_v7();
        let joined = join_matter(
            &mut tx,
            &self.config.workflow,
            principal.id,
            &link,
            &new.matter,
            &Arriving {
                id,
                number: &number,
                at: new.visited_at,
            },
            &petitioners,
        )
        .await?;
        let case_id = joined.case_id;
        let row = store::insert_visit(
            &mut tx,
            &store::VisitRow {
                id,
                number,
                case_id,
                visited_at: new.visited_at,
                level: model::level_to_db(new.level).to_owned(),
                non_reception_place: new.non_reception_place,
                place_name: new.place_name.clone(),
                headcount: new.headcount as i32,
                collective: model::is_collective(new.headcount, self.config.collective_threshold),
                large_scale: model::is_large_scale(
                    new.headcount,
                    self.config.large_scale_threshold,
                ),
                repeat: joined.repeat,
                not_accepted_again: joined.not_accepted_again,
                leapfrog: model::is_leapfrog(new.level, link.competent_rank),
                category_code: new.matter.category.clone(),
                problem_org_code: new.matter.problem_org_code.clone(),
                content: new.matter.content.clone(),
                demands: new.matter.demands.clone(),
                registered_by: principal.id,
                recorded_at: Utc::now(),
                claim_type: link.claim.claim_type,
                accused_org_code: link.claim.accused_org_code.clone(),
            },
        )
        .await?;
        store::link_petitioners(&mut tx, Links::Visit, row.id, &petitioners).await?;
        feed(&mut tx, "visit", row.id, row.feed_org(), Some(principal.id)).await?;
        let (masked, shown) = self
            .written_petitioners(&mut tx, principal, Links::Visit, row.id, "RegisterVisit")
            .await?;
        let readable = readable_matters(&mut tx, &reader, [case_id]).await?;
        idempotency::save(&mut tx, key, &visit_to_proto(&row, masked, &readable)).await?;
        let response = visit_to_proto(&row, shown, &readable);
        tx.commit().await?;
        tracing::info!(visit = %row.id, case = %case_id, repeat = row.repeat,
            not_accepted_again = row.not_accepted_again, collective = row.collective,
            leapfrog = row.leapfrog, "visit registered");
        Ok(response)
    }

    /// The petitioners of a record just written, read once: masked, for the stored first result (a retry
    /// never gets personal data in clear from it), and as the principal's role sees them, audited when in
    /// full.
    async fn written_petitioners(
        &self,
        conn: &mut PgConnection,
        principal: &Principal,
        links: Links,
        owner: Uuid,
        method: &str,
    ) -> Result<(Vec<Petitioner>, Vec<Petitioner>), AppError> {
        let rows = store::petitioners_of(conn, links, &[owner]).await?;
        let convert = |reveal| -> Result<Vec<Petitioner>, AppError> {
            rows.iter()
                .map(|r| petitioner_to_proto(&self.keys, r, reveal))
                .collect()
        };
        let masked = convert(Reveal::Masked)?;
        if Reveal::for_principal(principal) == Reveal::Masked {
            return Ok((masked.clone(), masked));
        }
        let mut revealed: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        revealed.sort_unstable();
        revealed.dedup();
        store::record_pii_reads(conn, principal.id, &revealed, method).await?;
        Ok((masked, convert(Reveal::Full)?))
    }

    async fn apply_letter(
        &self,
        batch: Option<&Batch>,
        principal: &Principal,
        key: &idempotency::Key,
        new: &NewLetter,
    ) -> Result<Letter, AppError> {
        let mut hold = Batch::hold(batch).await;
        let mut tx = db::begin(&self.pool, &mut hold).await?;
        if let Some(first) = idempotency::claim::<Letter>(&mut tx, key).await? {
            return Ok(first);
        }
        let (petitioners, keys) = store_petitioners(&mut tx, &self.keys, &new.petitioners).await?;
        let reader = Reader::of(principal);
        let link = check_matter(&mut tx, &reader, "letter.matter", &new.matter, &keys).await?;
        let year = model::register_year(new.received_at);
        let serial = store::next_serial(&mut tx, model::REGISTER_PREFIX, year).await?;
        let number = model::registration_number(
            model::REGISTER_PREFIX,
            &self.config.county_code,
            year,
            serial,
        );
        let id = Uuid::now_v7();
        let joined = join_matter(
            &mut tx,
            &self.config.workflow,
            principal.id,
            &link,
            &new.matter,
            &Arriving {
                id,
                number: &number,
                at: new.received_at,
            },
            &petitioners,
        )
        .await?;
        let case_id = joined.case_id;
        let from_above = matches!(
            new.channel,
            LetterChannel::Transferred | LetterChannel::Assigned | LetterChannel::CampaignTransfer
        );
        if from_above
            && let Some(number) = store::letter_by_source(
                &mut tx,
                model::channel_to_db(new.channel),
                &new.source_reference,
            )
            .await?
        {
            return Err(AppError::AlreadyExists(format!(
                "this transfer ({}) is registered already as {number}",
                new.source_reference
            )));
        }
        let row = store::insert_letter(
            &mut tx,
            &store::LetterRow {
                id,
                number,
                case_id,
                channel: model::channel_to_db(new.channel).to_owned(),
                source_reference: new.source_reference.clone(),
                campaign: new.campaign.clone(),
                received_at: new.received_at,
                anonymous: new.petitioners.is_empty(),
                repeat: joined.repeat,
                not_accepted_again: joined.not_accepted_again,
                category_code: new.matter.category.clone(),
                problem_org_code: new.matter.problem_org_code.clone(),
                content: new.matter.content.clone(),
                demands: new.matter.demands.clone(),
                registered_by: principal.id,
                recorded_at: Utc::now(),
                claim_type: link.claim.claim_type,
                accused_org_code: link.claim.accused_org_code.clone(),
            },
        )
        .await?;
        store::link_petitioners(&mut tx, Links::Letter, row.id, &petitioners).await?;
        feed(
            &mut tx,
            "letter",
            row.id,
            row.feed_org(),
            Some(principal.id),
        )
        .await?;
        let (masked, shown) = self
            .written_petitioners(&mut tx, principal, Links::Letter, row.id, "RegisterLetter")
            .await?;
        let readable = readable_matters(&mut tx, &reader, [case_id]).await?;
        idempotency::save(&mut tx, key, &letter_to_proto(&row, masked, &readable)).await?;
        let response = letter_to_proto(&row, shown, &readable);
        tx.commit().await?;
        tracing::info!(letter = %row.id, case = %case_id, repeat = row.repeat, channel = %row.channel,
            "letter registered");
        Ok(response)
    }

    /// Takes a visit or letter out of its matter into a new one, as if it had been registered with a
    /// new-matter reason: the new matter is numbered after it (with a suffix when the matter it leaves
    /// carries its number), dated by it, opened by its registrar, and holds its petitioners; the matter it
    /// leaves keeps the rest and derives its initial registration again.
    async fn apply_detach(
        &self,
        batch: Option<&Batch>,
        principal: &Principal,
        key: &idempotency::Key,
        detach: &Detach,
    ) -> Result<DetachRegistrationResponse, AppError> {
        use crate::cases::store as case_store;
        let mut hold = Batch::hold(batch).await;
        let mut tx = db::begin(&self.pool, &mut hold).await?;
        if let Some(first) = idempotency::claim::<DetachRegistrationResponse>(&mut tx, key).await? {
            return Ok(first);
        }
        let kind = detach.kind.as_str();
        let what = |id| format!("{kind} {id}");
        let Some(old_case) = store::case_of(&mut tx, kind, detach.id).await? else {
            return Err(AppError::NotFound(what(detach.id)));
        };
        let scope_kind = match detach.kind {
            RegistrationKind::Visit => Kind::Visit,
            RegistrationKind::Letter => Kind::Letter,
        };
        let reader = check_read(&mut tx, principal, scope_kind, detach.id).await?;
        // The matter first, then its registrations: the order every registration takes them in.
        let old = case_store::lock(&mut tx, old_case)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("matter {old_case}")))?;
        let registrations = store::registrations_of(&mut tx, old_case).await?;
        let Some(leaving) = registrations.iter().find(|r| r.id == detach.id).cloned() else {
            // Moved by a concurrent detach between the two reads: the caller sees the registration anew.
            return Err(AppError::LostRace);
        };
        if registrations.len() < 2 {
            return Err(AppError::precondition(
                "ONLY_REGISTRATION",
                "the registration is its matter's only one: it is a matter of its own already",
            ));
        }
        // Its description, as registered.
        let (category, problem_org, content, demands, claim_type, accused) = match detach.kind {
            RegistrationKind::Visit => {
                let v = store::get_visit(&mut tx, detach.id)
                    .await?
                    .ok_or_else(|| AppError::NotFound(what(detach.id)))?;
                (
                    v.category_code,
                    v.problem_org_code,
                    v.content,
                    v.demands,
                    v.claim_type,
                    v.accused_org_code,
                )
            }
            RegistrationKind::Letter => {
                let l = store::get_letter(&mut tx, detach.id)
                    .await?
                    .ok_or_else(|| AppError::NotFound(what(detach.id)))?;
                (
                    l.category_code,
                    l.problem_org_code,
                    l.content,
                    l.demands,
                    l.claim_type,
                    l.accused_org_code,
                )
            }
        };
        let number = store::free_case_number(&mut tx, &leaving.number).await?;
        let new_case = open_matter(
            &mut tx,
            &self.config.workflow,
            &Opening {
                number: &number,
                category: &category,
                problem_org: &problem_org,
                content: &content,
                demands: &demands,
                claim_type,
                accused_org_code: accused.as_deref(),
                registered_at: leaving.at,
                opened_by: leaving.registered_by,
            },
        )
        .await?;
        store::move_registration(&mut tx, kind, detach.id, new_case).await?;
        let principals = store::principals_of(&mut tx, kind, detach.id).await?;
        store::link_case_petitioners(&mut tx, new_case, &principals).await?;
        store::prune_case_petitioners(&mut tx, old_case).await?;
        case_store::insert_event(
            &mut tx,
            &case_store::NewEvent {
                case_id: new_case,
                action: "registered",
                actor: principal.id,
                occurred_at: leaving.at,
                reason: &leaving.number,
                before: None,
                after: Some(serde_json::json!({
                    "registration": leaving.number,
                    "detached_from": old.number,
                    "new_matter_reason": detach.reason,
                })),
            },
        )
        .await?;
        case_store::insert_event(
            &mut tx,
            &case_store::NewEvent {
                case_id: old_case,
                action: "registration_detached",
                actor: principal.id,
                occurred_at: Utc::now(),
                reason: &detach.reason,
                before: Some(serde_json::json!({ "registration": leaving.number })),
                after: Some(serde_json::json!({ "matter": number })),
            },
        )
        .await?;
        let (_, flips) = settle(&mut tx, old_case, None).await?;
        record_flips(
            &mut tx,
            old_case,
            principal.id,
            &flips,
            None,
            "the initial registration was detached into a matter of its own",
        )
        .await?;
        crate::audit::store::append(
            &mut tx,
            principal.id,
            "registration_detached",
            &detach.id.to_string(),
            &format!(
                "{} from {} to {number}: {}",
                leaving.number, old.number, detach.reason
            ),
        )
        .await?;
        feed(
            &mut tx,
            kind,
            detach.id,
            store::feed_org(
                &leaving.problem_org_code,
                leaving.accused_org_code.as_deref(),
            ),
            Some(leaving.registered_by),
        )
        .await?;
        feed(&mut tx, "case", old_case, None, None).await?;
        feed(&mut tx, "case", new_case, None, None).await?;
        let readable = readable_matters(&mut tx, &reader, [new_case]).await?;
        let method = "DetachRegistration";
        let (stored, response) = match detach.kind {
            RegistrationKind::Visit => {
                let row = store::get_visit(&mut tx, detach.id)
                    .await?
                    .ok_or_else(|| AppError::NotFound(what(detach.id)))?;
                let (masked, shown) = self
                    .written_petitioners(&mut tx, principal, Links::Visit, row.id, method)
                    .await?;
                (
                    DetachRegistrationResponse {
                        visit: Some(visit_to_proto(&row, masked, &readable)),
                        letter: None,
                        previous_case_id: old_case.to_string(),
                    },
                    DetachRegistrationResponse {
                        visit: Some(visit_to_proto(&row, shown, &readable)),
                        letter: None,
                        previous_case_id: old_case.to_string(),
                    },
                )
            }
            RegistrationKind::Letter => {
                let row = store::get_letter(&mut tx, detach.id)
                    .await?
                    .ok_or_else(|| AppError::NotFound(what(detach.id)))?;
                let (masked, shown) = self
                    .written_petitioners(&mut tx, principal, Links::Letter, row.id, method)
                    .await?;
                (
                    DetachRegistrationResponse {
                        visit: None,
                        letter: Some(letter_to_proto(&row, masked, &readable)),
                        previous_case_id: old_case.to_string(),
                    },
                    DetachRegistrationResponse {
                        visit: None,
                        letter: Some(letter_to_proto(&row, shown, &readable)),
                        previous_case_id: old_case.to_string(),
                    },
                )
            }
        };
        idempotency::save(&mut tx, key, &stored).await?;
        tx.commit().await?;
        tracing::info!(registration = %detach.id, from = %old_case, to = %new_case, "registration detached");
        Ok(response)
    }

    async fn apply_trip(
        &self,
        batch: Option<&Batch>,
        principal: &Principal,
        key: &idempotency::Key,
        new: &NewTrip,
    ) -> Result<ReturnTrip, AppError> {
        let mut hold = Batch::hold(batch).await;
        let mut tx = db::begin(&self.pool, &mut hold).await?;
        if let Some(first) = idempotency::claim::<ReturnTrip>(&mut tx, key).await? {
            return Ok(first);
        }
        let mut v = Violations::new();
        match org_store::get(&mut tx, &new.responsible_org_code).await? {
            Some(o) if o.kind == "township" || o.kind == "department" => {}
            Some(_) => v.add(
                "trip.responsible_org_code",
                "the responsible unit is a township or a department",
            ),
            None => v.add("trip.responsible_org_code", "no org unit has this code"),
        }
        // A trip names only matters its recorder reads already: the link then vouches for the officer's
        // reading them, and never widens it. Unreadable and missing ids are refused alike.
        let readable =
            scope::store::readable(&mut tx, &Reader::of(principal), Kind::Matter, &new.case_ids)
                .await?;
        for (i, id) in new.case_ids.iter().enumerate() {
            if !readable.contains(id) {
                v.add(
                    format!("trip.case_ids[{i}]"),
                    "no matter you may read has this id",
                );
            }
        }
        if !v.is_empty() {
            return Err(v.into());
        }
        // Informants' materials are never passed to those they report on: the accused unit is never made
        // responsible for a trip about the accusation.
        if store::accused_units(&mut tx, &new.case_ids)
            .await?
            .contains(&new.responsible_org_code)
        {
            return Err(AppError::precondition(
                "ACCUSED_UNIT",
                "a trip about an accusation is not put under the unit it accuses",
            ));
        }
        let (petitioners, _) = store_petitioners(&mut tx, &self.keys, &new.petitioners).await?;
        let sort_at = new.departed_at.unwrap_or(new.notified_at);
        let year = model::register_year(sort_at);
        let serial = store::next_serial(&mut tx, model::TRIP_PREFIX, year).await?;
        let row = store::insert_trip(
            &mut tx,
            &store::TripRow {
                id: Uuid::now_v7(),
                number: model::registration_number(
                    model::TRIP_PREFIX,
                    &self.config.county_code,
                    year,
                    serial,
                ),
                notified_by: new.notified_by.clone(),
                notified_at: new.notified_at,
                destination_level: model::level_to_db(new.destination_level).to_owned(),
                destination_place: new.destination_place.clone(),
                non_reception_place: new.non_reception_place,
                responsible_org_code: new.responsible_org_code.clone(),
                officers: new.officers.clone(),
                departed_at: new.departed_at,
                arrived_at: new.arrived_at,
                returned_at: new.returned_at,
                transport_cost: new.costs.transport,
                lodging_cost: new.costs.lodging,
                meal_cost: new.costs.meals,
                other_cost: new.costs.other,
                outcome: model::outcome_to_db(new.outcome).to_owned(),
                report: new.report.clone(),
                sort_at,
                recorded_by: principal.id,
                recorded_at: Utc::now(),
            },
        )
        .await?;
        store::link_petitioners(&mut tx, Links::Trip, row.id, &petitioners).await?;
        store::link_trip_cases(&mut tx, row.id, &new.case_ids).await?;
        feed(
            &mut tx,
            "trip",
            row.id,
            Some(&row.responsible_org_code),
            Some(principal.id),
        )
        .await?;
        // The matters a trip names enter its officer's scope now: feed them to the officer.
        for case in &new.case_ids {
            feed(&mut tx, "case", *case, None, Some(principal.id)).await?;
        }
        let cases: Vec<String> = new.case_ids.iter().map(Uuid::to_string).collect();
        let (masked, shown) = self
            .written_petitioners(&mut tx, principal, Links::Trip, row.id, "RecordReturnTrip")
            .await?;
        idempotency::save(&mut tx, key, &trip_to_proto(&row, masked, cases.clone())).await?;
        let response = trip_to_proto(&row, shown, cases);
        tx.commit().await?;
        tracing::info!(trip = %row.id, outcome = %row.outcome, "return trip recorded");
        Ok(response)
    }

    async fn trips_to_proto(
        &self,
        conn: &mut PgConnection,
        principal: &Principal,
        rows: Vec<store::TripRow>,
        method: &str,
    ) -> Result<Vec<ReturnTrip>, AppError> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let reveal = Reveal::for_principal(principal);
        let (mut people, revealed) =
            load_petitioners(conn, &self.keys, Links::Trip, &ids, reveal).await?;
        store::record_pii_reads(conn, principal.id, &revealed, method).await?;
        let links = store::trip_cases(conn, &ids).await?;
        let readable =
            readable_matters(conn, &Reader::of(principal), links.iter().map(|(_, c)| *c)).await?;
        let mut cases: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (trip, case) in links {
            if readable.contains(&case) {
                cases.entry(trip).or_default().push(case.to_string());
            }
        }
        Ok(rows
            .iter()
            .map(|r| {
                trip_to_proto(
                    r,
                    people.remove(&r.id).unwrap_or_default(),
                    cases.remove(&r.id).unwrap_or_default(),
                )
            })
            .collect())
    }
}
