//! The commands of intake: registering a visit or a letter, recording a return trip, detaching a
//! registration into a case of its own, and reading them. Each runs in the caller's transaction and decides
//! access itself (the read rule, docs/access.md; the desk's override, docs/intake.md).

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_proto::{
    input::intake::{Detach, NewLetter, NewMatter, NewTrip, NewVisit, RegistrationKind},
    v1::{LetterChannel, Petitioner},
    validate::Violations,
};

use super::{
    Ctx, feed,
    matching::{self, Arriving},
    model, people,
    store::{self, LetterRow, Links, ListScope, TripRow, VisitRow},
};
use crate::{
    auth::Principal,
    cases::{commands as cases, store::NewEvent},
    error::AppError,
    kernel::numbers,
    org::store as org_store,
    scope::{self, Kind, Reader},
};

/// A record just written: its row, its people masked (for the stored first answer) and as the caller sees
/// them, and which of its cases the caller reads.
pub struct Written<R> {
    pub row: R,
    pub masked: Vec<Petitioner>,
    pub shown: Vec<Petitioner>,
    pub readable: HashSet<Uuid>,
}

/// Records as a reader sees them: the rows, the people of each, and which of their cases the reader reads.
pub struct Shown<R> {
    pub rows: Vec<R>,
    pub people: HashMap<Uuid, Vec<Petitioner>>,
    pub readable: HashSet<Uuid>,
}

/// Trips as a reader sees them: the rows, the people of each, and the cases each names that the reader
/// reads.
pub struct ShownTrips {
    pub rows: Vec<TripRow>,
    pub people: HashMap<Uuid, Vec<Petitioner>>,
    pub cases: HashMap<Uuid, Vec<Uuid>>,
}

/// The registration a detach moved, and the case it left.
pub enum Detached {
    Visit(Written<VisitRow>, Uuid),
    Letter(Written<LetterRow>, Uuid),
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

/// The cases among `ids` that `reader` reads.
async fn readable_cases(
    conn: &mut PgConnection,
    reader: &Reader,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<HashSet<Uuid>, AppError> {
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(scope::store::readable(conn, reader, Kind::Case, &ids).await?)
}

/// Registering a new case against a repeat match is the county desk's judgment (like linking by hand).
fn check_override(principal: &Principal, matter: &NewMatter) -> Result<(), AppError> {
    if matter.new_case_reason.is_some() && !model::overrides_matches(principal.role) {
        return Err(AppError::PermissionDenied(
            "only the county desk registers a new case against a repeat match \
             (matter.new_case_reason)"
                .into(),
        ));
    }
    Ok(())
}

/// The next number of a register, for an event of `at`'s year.
async fn number(
    ctx: &Ctx,
    prefix: &str,
    at: chrono::DateTime<Utc>,
    conn: &mut PgConnection,
) -> Result<String, AppError> {
    let year = numbers::register_year(at);
    let serial = numbers::next_serial(conn, prefix, year).await?;
    Ok(numbers::registration_number(
        prefix,
        &ctx.config.county_code,
        year,
        serial,
    ))
}

/// The row of a visit `principal` registers as `new`, numbered `number`, landed in its case as `joined`:
/// its derived flags (collective, large-scale, leapfrog by the rank of the problem place) and the claim
/// its case makes of it.
#[allow(clippy::too_many_arguments)]
pub fn visit_row(
    ctx: &Ctx,
    principal: &Principal,
    new: &NewVisit,
    id: Uuid,
    number: String,
    joined: &matching::Joined,
    competent_rank: i32,
    claim: &model::Claim,
) -> VisitRow {
    VisitRow {
        id,
        number,
        case_id: joined.case_id,
        visited_at: new.visited_at,
        level: model::level_to_db(new.level).to_owned(),
        non_reception_place: new.non_reception_place,
        place_name: new.place_name.clone(),
        headcount: new.headcount as i32,
        collective: model::is_collective(new.headcount, ctx.config.collective_threshold),
        large_scale: model::is_large_scale(new.headcount, ctx.config.large_scale_threshold),
        repeat: joined.repeat,
        not_accepted_again: joined.not_accepted_again,
        leapfrog: model::is_leapfrog(new.level, competent_rank),
        category_code: new.matter.category.clone(),
        problem_org_code: new.matter.problem_org_code.clone(),
        content: new.matter.content.clone(),
        demands: new.matter.demands.clone(),
        registered_by: principal.id,
        recorded_at: Utc::now(),
        claim_type: claim.claim_type,
        accused_org_code: claim.accused_org_code.clone(),
    }
}

/// Registers a visit: its people, the case it opens or joins, its flags (collective, large-scale,
/// leapfrog, repeat, 不再受理).
pub async fn register_visit(
    ctx: &Ctx,
    principal: &Principal,
    new: &NewVisit,
    tx: &mut PgConnection,
) -> Result<Written<VisitRow>, AppError> {
    check_override(principal, &new.matter)?;
    let (petitioners, keys) = people::store_petitioners(tx, &ctx.keys, &new.petitioners).await?;
    let reader = Reader::of(principal);
    let link = matching::check_case(tx, &reader, "visit.matter", &new.matter, &keys).await?;
    // The register's counter is taken late: its row lock is held to the commit.
    let number = number(ctx, numbers::REGISTER_PREFIX, new.visited_at, tx).await?;
    let id = Uuid::now_v7();
    let joined = matching::join_case(
        tx,
        &ctx.config.workflow,
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
    let row = store::insert_visit(
        tx,
        &visit_row(
            ctx,
            principal,
            new,
            id,
            number,
            &joined,
            link.competent_rank,
            &link.claim,
        ),
    )
    .await?;
    store::link_petitioners(tx, Links::Visit, row.id, &petitioners).await?;
    feed(tx, "visit", row.id, row.feed_org(), Some(principal.id)).await?;
    let (masked, shown) = people::written(
        tx,
        &ctx.keys,
        principal,
        Links::Visit,
        row.id,
        "RegisterVisit",
    )
    .await?;
    let readable = readable_cases(tx, &reader, [joined.case_id]).await?;
    tracing::info!(visit = %row.id, case = %row.case_id, repeat = row.repeat,
        not_accepted_again = row.not_accepted_again, collective = row.collective,
        leapfrog = row.leapfrog, "visit registered");
    Ok(Written {
        row,
        masked,
        shown,
        readable,
    })
}

/// Registers a letter (or a call, an online complaint, a transfer from above): its people and the case it
/// opens or joins. A transfer from above with a sender's reference already registered is refused.
pub async fn register_letter(
    ctx: &Ctx,
    principal: &Principal,
    new: &NewLetter,
    tx: &mut PgConnection,
) -> Result<Written<LetterRow>, AppError> {
    check_override(principal, &new.matter)?;
    let (petitioners, keys) = people::store_petitioners(tx, &ctx.keys, &new.petitioners).await?;
    let reader = Reader::of(principal);
    let link = matching::check_case(tx, &reader, "letter.matter", &new.matter, &keys).await?;
    let number = number(ctx, numbers::REGISTER_PREFIX, new.received_at, tx).await?;
    let id = Uuid::now_v7();
    let joined = matching::join_case(
        tx,
        &ctx.config.workflow,
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
    let from_above = matches!(
        new.channel,
        LetterChannel::Transferred | LetterChannel::Assigned | LetterChannel::CampaignTransfer
    );
    if from_above
        && let Some(number) =
            store::letter_by_source(tx, model::channel_to_db(new.channel), &new.source_reference)
                .await?
    {
        return Err(AppError::AlreadyExists(format!(
            "this transfer ({}) is registered already as {number}",
            new.source_reference
        )));
    }
    let row = store::insert_letter(
        tx,
        &LetterRow {
            id,
            number,
            case_id: joined.case_id,
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
    store::link_petitioners(tx, Links::Letter, row.id, &petitioners).await?;
    feed(tx, "letter", row.id, row.feed_org(), Some(principal.id)).await?;
    let (masked, shown) = people::written(
        tx,
        &ctx.keys,
        principal,
        Links::Letter,
        row.id,
        "RegisterLetter",
    )
    .await?;
    let readable = readable_cases(tx, &reader, [joined.case_id]).await?;
    tracing::info!(letter = %row.id, case = %row.case_id, repeat = row.repeat, channel = %row.channel,
        "letter registered");
    Ok(Written {
        row,
        masked,
        shown,
        readable,
    })
}

/// Takes a visit or letter out of its case into a new one, as if it had been registered with a new-case
/// reason: the new case is numbered after it (with a suffix when the case it leaves carries its number),
/// dated by it, opened by its registrar, and holds its petitioners; the case it leaves keeps the rest and
/// derives its initial registration again.
pub async fn detach(
    ctx: &Ctx,
    principal: &Principal,
    detach: &Detach,
    tx: &mut PgConnection,
) -> Result<Detached, AppError> {
    let kind = detach.kind.as_str();
    let what = |id| format!("{kind} {id}");
    let Some(old_case) = store::case_of(tx, kind, detach.id).await? else {
        return Err(AppError::NotFound(what(detach.id)));
    };
    let scope_kind = match detach.kind {
        RegistrationKind::Visit => Kind::Visit,
        RegistrationKind::Letter => Kind::Letter,
    };
    let reader = check_read(tx, principal, scope_kind, detach.id).await?;
    // The case first, then its registrations: the order every registration takes them in.
    let old = cases::lock(old_case, tx).await?;
    let registrations = store::registrations_of(tx, old_case).await?;
    let Some(leaving) = registrations.iter().find(|r| r.id == detach.id).cloned() else {
        // Moved by a concurrent detach between the two reads: the caller sees the registration anew.
        return Err(AppError::LostRace);
    };
    if registrations.len() < 2 {
        return Err(AppError::precondition(
            "ONLY_REGISTRATION",
            "the registration is its case's only one: it is a case of its own already",
        ));
    }
    // Its description, as registered.
    let description = store::description_of(tx, kind, detach.id)
        .await?
        .ok_or_else(|| AppError::NotFound(what(detach.id)))?;
    let number = store::free_case_number(tx, &leaving.number).await?;
    let new_case = cases::open(
        &ctx.config.workflow,
        &cases::Opening {
            number: &number,
            category: &description.category_code,
            problem_org: &description.problem_org_code,
            content: &description.content,
            demands: &description.demands,
            claim_type: description.claim_type,
            accused_org_code: description.accused_org_code.as_deref(),
            registered_at: leaving.at,
            opened_by: leaving.registered_by,
        },
        tx,
    )
    .await?;
    store::move_registration(tx, kind, detach.id, new_case).await?;
    let principals = store::principals_of(tx, kind, detach.id).await?;
    store::link_case_petitioners(tx, new_case, &principals).await?;
    store::prune_case_petitioners(tx, old_case).await?;
    cases::note(
        &NewEvent {
            case_id: new_case,
            action: "registered",
            actor: principal.id,
            occurred_at: leaving.at,
            reason: &leaving.number,
            before: None,
            after: Some(serde_json::json!({
                "registration": leaving.number,
                "detached_from": old.number,
                "new_case_reason": detach.reason,
            })),
        },
        tx,
    )
    .await?;
    cases::note(
        &NewEvent {
            case_id: old_case,
            action: "registration_detached",
            actor: principal.id,
            occurred_at: Utc::now(),
            reason: &detach.reason,
            before: Some(serde_json::json!({ "registration": leaving.number })),
            after: Some(serde_json::json!({ "matter": number })),
        },
        tx,
    )
    .await?;
    let (_, flips) = matching::settle(tx, old_case, None).await?;
    matching::record_flips(
        tx,
        old_case,
        principal.id,
        &flips,
        None,
        "the initial registration was detached into a case of its own",
    )
    .await?;
    crate::audit::store::append(
        tx,
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
        tx,
        kind,
        detach.id,
        store::feed_org(
            &leaving.problem_org_code,
            leaving.accused_org_code.as_deref(),
        ),
        Some(leaving.registered_by),
    )
    .await?;
    feed(tx, "case", old_case, None, None).await?;
    feed(tx, "case", new_case, None, None).await?;
    let readable = readable_cases(tx, &reader, [new_case]).await?;
    let method = "DetachRegistration";
    tracing::info!(registration = %detach.id, from = %old_case, to = %new_case, "registration detached");
    Ok(match detach.kind {
        RegistrationKind::Visit => {
            let row = store::get_visit(tx, detach.id)
                .await?
                .ok_or_else(|| AppError::NotFound(what(detach.id)))?;
            let (masked, shown) =
                people::written(tx, &ctx.keys, principal, Links::Visit, row.id, method).await?;
            Detached::Visit(
                Written {
                    row,
                    masked,
                    shown,
                    readable,
                },
                old_case,
            )
        }
        RegistrationKind::Letter => {
            let row = store::get_letter(tx, detach.id)
                .await?
                .ok_or_else(|| AppError::NotFound(what(detach.id)))?;
            let (masked, shown) =
                people::written(tx, &ctx.keys, principal, Links::Letter, row.id, method).await?;
            Detached::Letter(
                Written {
                    row,
                    masked,
                    shown,
                    readable,
                },
                old_case,
            )
        }
    })
}

/// Records a persuade-and-return trip: its people and the cases it names, which its recorder must read
/// already (a link never widens what anyone reads) and which are never put under a unit they accuse.
pub async fn record_trip(
    ctx: &Ctx,
    principal: &Principal,
    new: &NewTrip,
    tx: &mut PgConnection,
) -> Result<(Written<TripRow>, Vec<Uuid>), AppError> {
    let mut v = Violations::new();
    match org_store::get(tx, &new.responsible_org_code).await? {
        Some(o) if o.kind == "township" || o.kind == "department" => {}
        Some(_) => v.add(
            "trip.responsible_org_code",
            "the responsible unit is a township or a department",
        ),
        None => v.add("trip.responsible_org_code", "no org unit has this code"),
    }
    // A trip names only cases its recorder reads already: the link then vouches for the officer's reading
    // them, and never widens it. Unreadable and missing ids are refused alike.
    let readable =
        scope::store::readable(tx, &Reader::of(principal), Kind::Case, &new.case_ids).await?;
    for (i, id) in new.case_ids.iter().enumerate() {
        if !readable.contains(id) {
            v.add(
                format!("trip.case_ids[{i}]"),
                "no case you may read has this id",
            );
        }
    }
    if !v.is_empty() {
        return Err(v.into());
    }
    // Informants' materials are never passed to those they report on: the accused unit is never made
    // responsible for a trip about the accusation.
    if store::accused_units(tx, &new.case_ids)
        .await?
        .contains(&new.responsible_org_code)
    {
        return Err(AppError::precondition(
            "ACCUSED_UNIT",
            "a trip about an accusation is not put under the unit it accuses",
        ));
    }
    let (petitioners, _) = people::store_petitioners(tx, &ctx.keys, &new.petitioners).await?;
    let sort_at = new.departed_at.unwrap_or(new.notified_at);
    let number = number(ctx, numbers::TRIP_PREFIX, sort_at, tx).await?;
    let row = store::insert_trip(
        tx,
        &TripRow {
            id: Uuid::now_v7(),
            number,
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
    store::link_petitioners(tx, Links::Trip, row.id, &petitioners).await?;
    store::link_trip_cases(tx, row.id, &new.case_ids).await?;
    feed(
        tx,
        "trip",
        row.id,
        Some(&row.responsible_org_code),
        Some(principal.id),
    )
    .await?;
    // The cases a trip names enter its officer's scope now: feed them to the officer.
    for case in &new.case_ids {
        feed(tx, "case", *case, None, Some(principal.id)).await?;
    }
    let (masked, shown) = people::written(
        tx,
        &ctx.keys,
        principal,
        Links::Trip,
        row.id,
        "RecordReturnTrip",
    )
    .await?;
    tracing::info!(trip = %row.id, outcome = %row.outcome, "return trip recorded");
    Ok((
        Written {
            row,
            masked,
            shown,
            readable: HashSet::new(),
        },
        new.case_ids.clone(),
    ))
}

/// The visits `principal` reads: one by id (`NOT_FOUND`, or `PERMISSION_DENIED` outside its scope), or a page
/// of a list.
pub async fn visits(
    ctx: &Ctx,
    principal: &Principal,
    which: Which<'_, store::VisitFilter>,
    conn: &mut PgConnection,
) -> Result<Shown<VisitRow>, AppError> {
    let (rows, reader, method) = match which {
        Which::One(id) => {
            let row = store::get_visit(conn, id)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("visit {id}")))?;
            let reader = check_read(conn, principal, Kind::Visit, id).await?;
            (vec![row], reader, "GetVisit")
        }
        Which::Page(scope, filter, limit) => {
            let rows = store::list_visits(conn, scope, filter, limit).await?;
            (rows, scope.reader.clone(), "ListVisits")
        }
    };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let people = people::shown(conn, &ctx.keys, principal, Links::Visit, &ids, method).await?;
    let readable = readable_cases(conn, &reader, rows.iter().map(|r| r.case_id)).await?;
    Ok(Shown {
        rows,
        people,
        readable,
    })
}

/// The letters `principal` reads: one by id, or a page of a list.
pub async fn letters(
    ctx: &Ctx,
    principal: &Principal,
    which: Which<'_, store::LetterFilter>,
    conn: &mut PgConnection,
) -> Result<Shown<LetterRow>, AppError> {
    let (rows, reader, method) = match which {
        Which::One(id) => {
            let row = store::get_letter(conn, id)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("letter {id}")))?;
            let reader = check_read(conn, principal, Kind::Letter, id).await?;
            (vec![row], reader, "GetLetter")
        }
        Which::Page(scope, filter, limit) => {
            let rows = store::list_letters(conn, scope, filter, limit).await?;
            (rows, scope.reader.clone(), "ListLetters")
        }
    };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let people = people::shown(conn, &ctx.keys, principal, Links::Letter, &ids, method).await?;
    let readable = readable_cases(conn, &reader, rows.iter().map(|r| r.case_id)).await?;
    Ok(Shown {
        rows,
        people,
        readable,
    })
}

/// The trips `principal` reads: one by id, or a page of a list; each with the cases it names that the
/// reader reads.
pub async fn trips(
    ctx: &Ctx,
    principal: &Principal,
    which: Which<'_, store::TripFilter>,
    conn: &mut PgConnection,
) -> Result<ShownTrips, AppError> {
    let (rows, method) = match which {
        Which::One(id) => {
            let row = store::get_trip(conn, id)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("return trip {id}")))?;
            check_read(conn, principal, Kind::Trip, id).await?;
            (vec![row], "GetReturnTrip")
        }
        Which::Page(scope, filter, limit) => (
            store::list_trips(conn, scope, filter, limit).await?,
            "ListReturnTrips",
        ),
    };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let people = people::shown(conn, &ctx.keys, principal, Links::Trip, &ids, method).await?;
    let links = store::trip_cases(conn, &ids).await?;
    let readable =
        readable_cases(conn, &Reader::of(principal), links.iter().map(|(_, c)| *c)).await?;
    let mut cases: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (trip, case) in links {
        if readable.contains(&case) {
            cases.entry(trip).or_default().push(case);
        }
    }
    Ok(ShownTrips {
        rows,
        people,
        cases,
    })
}

/// One record by id, or a page: the list's scope and filters, and how many rows at most.
pub enum Which<'a, F> {
    One(Uuid),
    Page(&'a ListScope, &'a F, i64),
}
