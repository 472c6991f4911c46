//! The commands of cases: a step of the workflow, reading one case, a list and its events, and opening a
//! case for intake. Each runs in the caller's transaction and decides access itself: who takes which step
//! here, who reads which case by the read rule (docs/access.md).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_proto::{input::steps::Step, v1::CaseState};

use super::{
    model::{self, Action, CaseRecord, Refusal, Workflow},
    store::{self, CaseRow, EventRow, ListFilter},
};
use crate::{
    auth::{Principal, Role},
    error::AppError,
    org::store as org_store,
    scope::{self, Kind, Reader},
};

/// Who may take a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    /// The petition office: county clerks and administrators.
    County,
    /// The responsible unit's clerk (or an administrator).
    Unit,
    /// The unit when the case is assigned, the petition office before that (不予受理 at registration).
    Decliner,
}

/// Who takes each step: the office assigns, decides objections, confirms reports, records ratings and
/// reviews, supervises and keeps the backlog; the responsible unit answers the assignment, extends, replies
/// and answers supervision.
fn actor(action: &Action) -> Actor {
    match action {
        Action::Accept
        | Action::Object
        | Action::Extend { .. }
        | Action::Reply { .. }
        | Action::ReplySupervision { .. } => Actor::Unit,
        Action::Decline { .. } => Actor::Decliner,
        Action::Assign { .. }
        | Action::DecideObjection { .. }
        | Action::ConfirmCompletion
        | Action::Evaluate { .. }
        | Action::RequestReview
        | Action::DecideReview { .. }
        | Action::Hearing { .. }
        | Action::Supervise { .. }
        | Action::CloseSupervision
        | Action::MarkBacklog { .. }
        | Action::ResolveBacklog { .. } => Actor::County,
    }
}

fn is_county(role: Role) -> bool {
    matches!(role, Role::Admin | Role::CountyClerk)
}

fn check_actor(principal: &Principal, actor: Actor, row: &CaseRow) -> Result<(), AppError> {
    let unit_clerk = principal.role == Role::TownshipClerk
        && row.responsible_org_code.as_deref() == Some(principal.org_code.as_str());
    let allowed = match actor {
        Actor::County => is_county(principal.role),
        Actor::Unit => unit_clerk || principal.role == Role::Admin,
        // The unit's clerk may always try (the workflow then says why not); the office declines at
        // registration or after an objection.
        Actor::Decliner => {
            unit_clerk
                || principal.role == Role::Admin
                || (is_county(principal.role)
                    && model::state_from_db(&row.state) != CaseState::Assigned)
        }
    };
    if allowed {
        return Ok(());
    }
    let who = match actor {
        Actor::County => "the petition office (county clerk)",
        Actor::Unit => "the clerk of the responsible unit",
        Actor::Decliner => "the responsible unit, or the petition office before assignment",
    };
    Err(AppError::PermissionDenied(format!(
        "only {who} takes this step"
    )))
}

/// Refuses a case `principal` may not read (the read rule, `crate::scope`).
async fn check_read(
    conn: &mut PgConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<(), AppError> {
    if scope::store::reads(conn, &Reader::of(principal), Kind::Case, id).await? {
        Ok(())
    } else {
        Err(AppError::PermissionDenied(
            "outside the caller's scope".into(),
        ))
    }
}

async fn check_unit(conn: &mut PgConnection, code: &str) -> Result<(), AppError> {
    match org_store::get(conn, code).await? {
        Some(o) if o.kind == "township" || o.kind == "department" => Ok(()),
        Some(_) => Err(AppError::invalid(
            "responsible_org_code",
            "a case is assigned to a township or a county department",
        )),
        None => Err(AppError::invalid(
            "responsible_org_code",
            "no org unit has this code",
        )),
    }
}

/// Takes a step of the workflow on the case: locks it, checks the caller and the etag, lets the pure
/// workflow decide, and writes the row, its event and the sync feed. Returns the case after the step.
pub async fn take_step(
    workflow: &Workflow,
    principal: &Principal,
    step: &Step,
    conn: &mut PgConnection,
) -> Result<CaseRow, AppError> {
    let row = store::lock(conn, step.case_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("case {}", step.case_id)))?;
    check_actor(principal, actor(&step.action), &row)?;
    if let Some(etag) = &step.etag
        && *etag != row.version.to_string()
    {
        return Err(AppError::Aborted(format!(
            "the case changed since it was read (etag {etag}, now {}); read it again",
            row.version
        )));
    }
    if let Action::Assign { unit, .. } = &step.action {
        check_unit(conn, unit).await?;
        // Informants' materials are never passed to those they report on (docs/access.md).
        if row.accused_org_code.as_deref() == Some(unit.as_str()) {
            return Err(AppError::precondition(
                "ACCUSED_UNIT",
                "an accusation is never assigned to the unit it accuses",
            ));
        }
    }
    let before = row.record();
    let facts = workflow.facts(step.occurred_at);
    let (after, name) =
        model::apply(&before, &step.action, &facts).map_err(|refusal| match refusal {
            Refusal::State { reason, message } => AppError::precondition(reason, message),
            Refusal::Input { field, message } => AppError::invalid(field, message),
        })?;
    let schedule = model::schedule(&after, &facts);
    let updated = store::update(conn, row.id, &after, &schedule).await?;
    let (before_json, after_json) = changed_fields(&before, &after)?;
    store::insert_event(
        conn,
        &store::NewEvent {
            case_id: row.id,
            action: name,
            actor: principal.id,
            occurred_at: step.occurred_at,
            reason: &step.reason,
            before: Some(before_json),
            after: Some(after_json),
        },
    )
    .await?;
    crate::kernel::feed::append(
        conn,
        &crate::kernel::feed::FeedEntry {
            kind: "case",
            entity_id: row.id,
            org_code: after.responsible_org_code.as_deref(),
            previous_org_code: before.responsible_org_code.as_deref(),
            owner: None,
            reason: &step.reason,
        },
    )
    .await?;
    tracing::info!(case = %row.id, action = name, state = %updated.state, "case changed");
    Ok(updated)
}

/// Only the fields a step changed, before and after: a readable event instead of two whole records.
fn changed_fields(
    before: &CaseRecord,
    after: &CaseRecord,
) -> Result<(serde_json::Value, serde_json::Value), AppError> {
    let to_map = |r: &CaseRecord| match serde_json::to_value(r) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(AppError::Internal(anyhow::anyhow!(
            "record is not an object"
        ))),
        Err(e) => Err(AppError::Internal(e.into())),
    };
    let (b, a) = (to_map(before)?, to_map(after)?);
    let mut old = serde_json::Map::new();
    let mut new = serde_json::Map::new();
    for (key, value) in &a {
        if b.get(key) != Some(value) {
            old.insert(
                key.clone(),
                b.get(key).cloned().unwrap_or(serde_json::Value::Null),
            );
            new.insert(key.clone(), value.clone());
        }
    }
    Ok((
        serde_json::Value::Object(old),
        serde_json::Value::Object(new),
    ))
}

/// The case `id`, when `principal` reads it.
pub async fn get(
    principal: &Principal,
    id: Uuid,
    conn: &mut PgConnection,
) -> Result<CaseRow, AppError> {
    let row = store::get(conn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("case {id}")))?;
    check_read(conn, principal, row.id).await?;
    Ok(row)
}

/// The cases `ids` in their order (an id repeated is answered at each place), all or nothing (AIP-231): when
/// any id names no case `principal` reads, whether none exists or the read rule keeps it from the caller, the
/// whole batch is `NOT_FOUND` naming no id, so the answer discloses neither which id it was nor whether it
/// exists (README, Decisions).
pub async fn get_many(
    principal: &Principal,
    ids: &[Uuid],
    conn: &mut PgConnection,
) -> Result<Vec<CaseRow>, AppError> {
    let found: HashMap<Uuid, CaseRow> = store::get_readable(conn, &Reader::of(principal), ids)
        .await?
        .into_iter()
        .map(|row| (row.id, row))
        .collect();
    let rows = ids
        .iter()
        .map(|id| found.get(id).cloned())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| AppError::NotFound("one of the cases asked for".into()))?;
    Ok(rows)
}

/// The cases of `filter` that `principal` reads, newest first, at most `limit`.
pub async fn list(
    principal: &Principal,
    filter: &ListFilter,
    limit: i64,
    conn: &mut PgConnection,
) -> Result<Vec<CaseRow>, AppError> {
    Ok(store::list(conn, filter, &Reader::of(principal), limit).await?)
}

/// The history of a case `principal` reads, oldest first, after event `after`.
pub async fn events(
    principal: &Principal,
    case_id: Uuid,
    after: i64,
    limit: i64,
    conn: &mut PgConnection,
) -> Result<Vec<EventRow>, AppError> {
    store::get(conn, case_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("case {case_id}")))?;
    check_read(conn, principal, case_id).await?;
    Ok(store::events(conn, case_id, after, limit).await?)
}

/// What intake opens a case from: the registration's description of it, and who registered it.
pub struct Opening<'a> {
    pub number: &'a str,
    pub category: &'a str,
    pub problem_org: &'a str,
    pub content: &'a str,
    pub demands: &'a str,
    pub claim_type: i16,
    pub accused_org_code: Option<&'a str>,
    pub registered_at: DateTime<Utc>,
    pub opened_by: Uuid,
}

/// Opens a case in state registered, with its first clocks (the office's 15 days to assign). Returns its
/// id. Intake calls it for a registration that repeats no case.
pub async fn open(
    workflow: &Workflow,
    o: &Opening<'_>,
    conn: &mut PgConnection,
) -> Result<Uuid, AppError> {
    let case = opening(workflow, o);
    store::insert(conn, &case).await?;
    Ok(case.id)
}

/// The row of a case `o` opens, with a new id and its first due dates; [`open`] inserts one, intake's
/// set-based registration many at once.
pub fn opening<'a>(workflow: &Workflow, o: &Opening<'a>) -> store::NewCase<'a> {
    let record = CaseRecord::registered(o.registered_at, i32::from(o.claim_type));
    let schedule = model::schedule(&record, &workflow.facts(o.registered_at));
    store::NewCase {
        id: Uuid::now_v7(),
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
    }
}

/// The case `id`, locked until the transaction ends, for intake joining a registration to it.
pub async fn lock(id: Uuid, conn: &mut PgConnection) -> Result<CaseRow, AppError> {
    store::lock(conn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("case {id}")))
}

/// Records an event of the case that no workflow step makes (a registration joining or leaving it).
pub async fn note(event: &store::NewEvent<'_>, conn: &mut PgConnection) -> Result<(), AppError> {
    Ok(store::insert_event(conn, event).await?)
}
