//! SQL of cases and their events.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{self, CaseRecord};
use crate::scope::{Kind, Reader};

#[derive(Debug, Clone, FromRow)]
pub struct CaseRow {
    pub id: Uuid,
    pub number: String,
    pub state: String,
    pub category_code: String,
    pub problem_org_code: String,
    pub content: String,
    pub demands: String,
    pub registered_at: DateTime<Utc>,
    pub responsible_org_code: Option<String>,
    pub assignment_mode: i16,
    pub handling_deadline: Option<NaiveDate>,
    pub first_assigned_at: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub declined_at: Option<DateTime<Utc>>,
    pub objected_at: Option<DateTime<Utc>>,
    pub decline_ground: i16,
    pub extension_days: i32,
    pub extension_approved_by: Option<String>,
    pub extension_reason: Option<String>,
    pub replied_at: Option<DateTime<Utc>>,
    pub reply_opinion: Option<String>,
    pub completion_report: Option<String>,
    pub evaluation_due: Option<NaiveDate>,
    pub office_rating: i16,
    pub unit_rating: i16,
    pub evaluated_at: Option<DateTime<Utc>>,
    pub review_kind: i16,
    pub review_requested_at: Option<DateTime<Utc>>,
    pub review_decided_at: Option<DateTime<Utc>>,
    pub review_outcome: i16,
    pub hearing_days: i32,
    pub hearing_until: Option<NaiveDate>,
    pub supervised: bool,
    pub supervision_level: i16,
    pub supervision_method: i16,
    pub backlog_state: i16,
    pub backlog_leader: Option<String>,
    pub special_difficult: bool,
    pub backlog_resolution: i16,
    pub backlog_listed_at: Option<DateTime<Utc>>,
    pub backlog_resolved_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub claim_type: i16,
    pub accused_org_code: Option<String>,
    pub regulation: String,
    pub objection_state: i16,
    pub objection_decided_at: Option<DateTime<Utc>>,
    pub extension_notified_on: Option<NaiveDate>,
    pub supervised_at: Option<DateTime<Utc>>,
    pub supervision_replied_at: Option<DateTime<Utc>>,
    pub supervision_reply: Option<String>,
    pub supervision_closed_at: Option<DateTime<Utc>>,
    pub completion_confirmed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, number, state, category_code, problem_org_code, content, demands, registered_at, \
    responsible_org_code, assignment_mode, handling_deadline, first_assigned_at, assigned_at, accepted_at, \
    declined_at, objected_at, decline_ground, extension_days, extension_approved_by, extension_reason, \
    replied_at, reply_opinion, completion_report, evaluation_due, office_rating, \
    unit_rating, evaluated_at, review_kind, review_requested_at, review_decided_at, review_outcome, \
    hearing_days, hearing_until, supervised, supervision_level, supervision_method, backlog_state, \
    backlog_leader, special_difficult, backlog_resolution, backlog_listed_at, backlog_resolved_at, version, \
    updated_at, claim_type, accused_org_code, regulation, objection_state, objection_decided_at, \
    extension_notified_on, supervised_at, supervision_replied_at, supervision_reply, supervision_closed_at, \
    completion_confirmed_at";

impl CaseRow {
    pub fn record(&self) -> CaseRecord {
        CaseRecord {
            state: model::state_from_db(&self.state),
            registered_at: self.registered_at,
            responsible_org_code: self.responsible_org_code.clone(),
            assignment_mode: i32::from(self.assignment_mode),
            handling_deadline: self.handling_deadline,
            first_assigned_at: self.first_assigned_at,
            assigned_at: self.assigned_at,
            accepted_at: self.accepted_at,
            declined_at: self.declined_at,
            objected_at: self.objected_at,
            decline_ground: i32::from(self.decline_ground),
            extension_days: self.extension_days,
            extension_approved_by: self.extension_approved_by.clone(),
            extension_reason: self.extension_reason.clone(),
            replied_at: self.replied_at,
            reply_opinion: self.reply_opinion.clone(),
            completion_report: self.completion_report.clone(),
            evaluation_due: self.evaluation_due,
            office_rating: i32::from(self.office_rating),
            unit_rating: i32::from(self.unit_rating),
            evaluated_at: self.evaluated_at,
            review_kind: i32::from(self.review_kind),
            review_requested_at: self.review_requested_at,
            review_decided_at: self.review_decided_at,
            review_outcome: i32::from(self.review_outcome),
            hearing_days: self.hearing_days,
            hearing_until: self.hearing_until,
            supervised: self.supervised,
            supervision_level: i32::from(self.supervision_level),
            supervision_method: i32::from(self.supervision_method),
            backlog_state: i32::from(self.backlog_state),
            backlog_leader: self.backlog_leader.clone(),
            special_difficult: self.special_difficult,
            backlog_resolution: i32::from(self.backlog_resolution),
            backlog_listed_at: self.backlog_listed_at,
            backlog_resolved_at: self.backlog_resolved_at,
            claim_type: i32::from(self.claim_type),
            regulation: self.regulation.clone(),
            objection_state: i32::from(self.objection_state),
            objection_decided_at: self.objection_decided_at,
            extension_notified_on: self.extension_notified_on,
            supervised_at: self.supervised_at,
            supervision_replied_at: self.supervision_replied_at,
            supervision_reply: self.supervision_reply.clone(),
            supervision_closed_at: self.supervision_closed_at,
            completion_confirmed_at: self.completion_confirmed_at,
        }
    }
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<CaseRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM cases WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Those of the cases `ids` that `reader` reads, in no particular order: one query for a whole batch, the read
/// rule's condition in its `WHERE`, so a case outside the reader's scope comes back exactly like one that does
/// not exist (absent).
pub async fn get_readable(
    conn: &mut PgConnection,
    reader: &Reader,
    ids: &[Uuid],
) -> Result<Vec<CaseRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE id = ANY($1) AND {readable}",
        readable = reader.condition(Kind::Case, "cases", 2)
    ))
    .bind(ids)
    .bind(reader.param())
    .fetch_all(conn)
    .await
}

/// The case, locked for update until the transaction ends: concurrent steps on one case queue here.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<CaseRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Writes the workflow fields of `record`, bumps the version, and returns the row.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    r: &CaseRecord,
    schedule: &model::Schedule,
) -> Result<CaseRow, sqlx::Error> {
    let small = |v: i32| i16::try_from(v).unwrap_or(0);
    sqlx::query_as(&format!(
        "UPDATE cases SET state = $2, responsible_org_code = $3, assignment_mode = $4, \
             handling_deadline = $5, first_assigned_at = $6, assigned_at = $7, accepted_at = $8, \
             declined_at = $9, decline_ground = $10, extension_days = $11, extension_approved_by = $12, \
             extension_reason = $13, replied_at = $14, reply_opinion = $15, office_rating = $16, \
             unit_rating = $17, evaluated_at = $18, review_kind = $19, review_requested_at = $20, \
             review_decided_at = $21, review_outcome = $22, supervised = $23, supervision_level = $24, \
             supervision_method = $25, backlog_state = $26, backlog_leader = $27, special_difficult = $28, \
             backlog_resolution = $29, next_due = $30, objected_at = $31, backlog_listed_at = $32, \
             backlog_resolved_at = $33, assign_due = $34, accept_due = $35, conclude_due = $36, \
             completion_report = $37, evaluation_due = $38, hearing_days = $39, \
             hearing_until = $40, assign_outcome = $41, accept_outcome = $42, conclude_outcome = $43, \
             objection_state = $44, objection_decided_at = $45, extension_notified_on = $46, \
             supervised_at = $47, supervision_due = $48, supervision_replied_at = $49, \
             supervision_reply = $50, supervision_closed_at = $51, completion_confirmed_at = $52, \
             version = version + 1, updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(model::state_to_db(r.state))
    .bind(&r.responsible_org_code)
    .bind(small(r.assignment_mode))
    .bind(r.handling_deadline)
    .bind(r.first_assigned_at)
    .bind(r.assigned_at)
    .bind(r.accepted_at)
    .bind(r.declined_at)
    .bind(small(r.decline_ground))
    .bind(r.extension_days)
    .bind(&r.extension_approved_by)
    .bind(&r.extension_reason)
    .bind(r.replied_at)
    .bind(&r.reply_opinion)
    .bind(small(r.office_rating))
    .bind(small(r.unit_rating))
    .bind(r.evaluated_at)
    .bind(small(r.review_kind))
    .bind(r.review_requested_at)
    .bind(r.review_decided_at)
    .bind(small(r.review_outcome))
    .bind(r.supervised)
    .bind(small(r.supervision_level))
    .bind(small(r.supervision_method))
    .bind(small(r.backlog_state))
    .bind(&r.backlog_leader)
    .bind(r.special_difficult)
    .bind(small(r.backlog_resolution))
    .bind(schedule.next_due)
    .bind(r.objected_at)
    .bind(r.backlog_listed_at)
    .bind(r.backlog_resolved_at)
    .bind(schedule.assign_due())
    .bind(schedule.accept_due())
    .bind(schedule.conclude_due())
    .bind(&r.completion_report)
    .bind(r.evaluation_due)
    .bind(r.hearing_days)
    .bind(r.hearing_until)
    .bind(model::outcome_code(schedule.assign))
    .bind(model::outcome_code(schedule.accept))
    .bind(model::outcome_code(schedule.conclude))
    .bind(small(r.objection_state))
    .bind(r.objection_decided_at)
    .bind(r.extension_notified_on)
    .bind(r.supervised_at)
    .bind(schedule.supervision_due)
    .bind(r.supervision_replied_at)
    .bind(&r.supervision_reply)
    .bind(r.supervision_closed_at)
    .bind(r.completion_confirmed_at)
    .fetch_one(conn)
    .await
}

pub struct NewCase<'a> {
    pub id: Uuid,
    pub number: &'a str,
    pub category: &'a str,
    pub problem_org: &'a str,
    pub content: &'a str,
    pub demands: &'a str,
    pub registered_at: DateTime<Utc>,
    /// Due dates from `cases::model::schedule`, written with the row so that it is inserted once.
    pub assign_due: Option<NaiveDate>,
    pub next_due: Option<NaiveDate>,
    pub claim_type: i16,
    pub accused_org_code: Option<&'a str>,
    /// Whose registration opened it.
    pub opened_by: Uuid,
}

/// Inserts a case that intake opens; `cases::commands::open` computes its first due dates.
pub async fn insert(conn: &mut PgConnection, c: &NewCase<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cases (id, number, category_code, problem_org_code, content, demands, registered_at, \
                            assign_due, next_due, claim_type, accused_org_code, opened_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(c.id)
    .bind(c.number)
    .bind(c.category)
    .bind(c.problem_org)
    .bind(c.content)
    .bind(c.demands)
    .bind(c.registered_at)
    .bind(c.assign_due)
    .bind(c.next_due)
    .bind(c.claim_type)
    .bind(c.accused_org_code)
    .bind(c.opened_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// [`insert`] for the cases a set of registrations opens, in one statement.
pub async fn insert_many(
    conn: &mut PgConnection,
    cases: &[NewCase<'_>],
) -> Result<(), sqlx::Error> {
    if cases.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO cases (id, number, category_code, problem_org_code, content, demands, registered_at, \
                            assign_due, next_due, claim_type, accused_org_code, opened_by) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                              $7::timestamptz[], $8::date[], $9::date[], $10::int2[], $11::text[], $12::uuid[])",
    )
    .bind(cases.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.number).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.category).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.problem_org).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.content).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.demands).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.registered_at).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.assign_due).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.next_due).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.claim_type).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.accused_org_code).collect::<Vec<_>>())
    .bind(cases.iter().map(|c| c.opened_by).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The cases `ids` that exist, by id; with `lock`, locked for update until the transaction ends, taken in
/// the order of their ids (one order for every writer that locks several).
pub async fn get_many(
    conn: &mut PgConnection,
    ids: &[Uuid],
    lock: bool,
) -> Result<Vec<CaseRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE id = ANY($1) ORDER BY id{lock}"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await
}

pub struct NewEvent<'a> {
    pub case_id: Uuid,
    pub action: &'a str,
    pub actor: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub reason: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub async fn insert_event(conn: &mut PgConnection, e: &NewEvent<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO case_events (case_id, action, actor, occurred_at, reason, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.case_id)
    .bind(e.action)
    .bind(e.actor)
    .bind(e.occurred_at)
    .bind(e.reason)
    .bind(&e.before)
    .bind(&e.after)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub case_id: Uuid,
    pub action: String,
    pub actor: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub reason: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub async fn events(
    conn: &mut PgConnection,
    case_id: Uuid,
    after_id: i64,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, case_id, action, actor, occurred_at, recorded_at, reason, before, after \
         FROM case_events WHERE case_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(case_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// States whose `next_due` is someone's deadline (not a review window).
const WAITING: &str = "('registered', 'returned', 'assigned', 'accepted', 'review_requested')";
/// Concluded states that turn final by themselves when their review window (`next_due`) passes.
const CONCLUDED: &str = "('replied', 'evaluated', 'reviewed')";

#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// The state as cases show it on `today`: a concluded case past its review window is final.
    pub state: Option<String>,
    pub today: Option<NaiveDate>,
    /// The scope's unit or the requested one.
    pub responsible_org: Option<String>,
    /// Only cases whose open step is due before this date.
    pub due_before: Option<NaiveDate>,
    /// Only cases whose open step is due on or before this date.
    pub due_by: Option<NaiveDate>,
    pub backlog: Option<bool>,
    pub special_difficult: Option<bool>,
    pub supervised: Option<bool>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

impl ListFilter {
    /// The latest due date a due filter admits (`due_before` excludes its day, `due_by` includes it), or
    /// `None` when the list is not limited to steps falling due.
    fn due_bound(&self) -> Option<NaiveDate> {
        let before = self.due_before.and_then(|d| d.pred_opt());
        match (before, self.due_by) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The cases of `f` that `reader` reads, newest first.
///
/// A due list (overdue, due within) starts from the cases waiting for a step due by its bound, found by
/// their due dates (`cases_waiting_due_idx`, `cases_supervision_due_idx`): a few hundred of a county's
/// hundred thousand. Left to choose, the planner walks every case newest first looking for late ones,
/// which are old; that grows with the years of history kept. The candidates are a superset: the filters
/// below still decide exactly.
pub async fn list(
    conn: &mut PgConnection,
    f: &ListFilter,
    reader: &Reader,
    limit: i64,
) -> Result<Vec<CaseRow>, sqlx::Error> {
    let due_bound = f.due_bound();
    let (due, falling_due) = match due_bound {
        Some(_) => (
            format!(
                "WITH due AS MATERIALIZED ( \
                     SELECT id FROM cases WHERE state IN {WAITING} AND next_due <= $15 \
                     UNION \
                     SELECT id FROM cases \
                     WHERE supervised AND supervision_replied_at IS NULL AND supervision_due <= $15) "
            ),
            "AND id IN (SELECT id FROM due)",
        ),
        None => (String::new(), ""),
    };
    let sql = format!(
        "{due}SELECT {COLUMNS} FROM cases \
         WHERE ($1::text IS NULL \
                OR ($1 = 'final' AND (state = 'final' OR (state IN {CONCLUDED} AND next_due < $14))) \
                OR ($1 <> 'final' AND state = $1 AND (state NOT IN {CONCLUDED} OR next_due >= $14))) \
           AND ($2::text IS NULL OR responsible_org_code = $2) \
           AND {readable} \
           AND ($4::date IS NULL OR (next_due < $4 AND state IN {WAITING}) \
                OR (supervised AND supervision_replied_at IS NULL AND supervision_due < $4)) \
           AND ($5::date IS NULL OR (next_due <= $5 AND next_due >= $14 AND state IN {WAITING}) \
                OR (supervised AND supervision_replied_at IS NULL AND supervision_due <= $5 \
                    AND supervision_due >= $14)) \
           AND ($6::bool IS NULL OR (backlog_state <> 0) = $6) \
           AND ($7::bool IS NULL OR special_difficult = $7) \
           AND ($8::bool IS NULL OR supervised = $8) \
           AND ($9::timestamptz IS NULL OR registered_at >= $9) \
           AND ($10::timestamptz IS NULL OR registered_at < $10) \
           AND ($11::timestamptz IS NULL OR (registered_at, id) < ($11, $12)) \
           {falling_due} \
         ORDER BY registered_at DESC, id DESC LIMIT $13",
        readable = reader.condition(Kind::Case, "cases", 3)
    );
    let query = sqlx::query_as(&sql)
        .bind(&f.state)
        .bind(&f.responsible_org)
        .bind(reader.param())
        .bind(f.due_before)
        .bind(f.due_by)
        .bind(f.backlog)
        .bind(f.special_difficult)
        .bind(f.supervised)
        .bind(f.from)
        .bind(f.until)
        .bind(f.after.map(|(t, _)| t))
        .bind(f.after.map(|(_, id)| id))
        .bind(limit)
        .bind(f.today);
    match due_bound {
        Some(bound) => query.bind(bound).fetch_all(conn).await,
        None => query.fetch_all(conn).await,
    }
}

/// [`insert_event`] for several events in one statement, in their order.
pub async fn insert_events(
    conn: &mut PgConnection,
    events: &[NewEvent<'_>],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO case_events (case_id, action, actor, occurred_at, reason, before, after) \
         SELECT c, a, w, o, r, b, f \
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[], $5::text[], $6::jsonb[], \
                     $7::jsonb[]) WITH ORDINALITY AS t(c, a, w, o, r, b, f, ord) ORDER BY ord",
    )
    .bind(events.iter().map(|e| e.case_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.action).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.actor).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.reason).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.before.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.after.clone()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    #[test]
    fn a_due_lists_bound_is_the_latest_day_any_of_its_filters_admits() {
        let filter = |due_before, due_by| ListFilter {
            due_before,
            due_by,
            ..Default::default()
        };
        assert_eq!(filter(None, None).due_bound(), None);
        // Overdue on the 7th: due on the 6th at the latest.
        assert_eq!(filter(Some(day(7)), None).due_bound(), Some(day(6)));
        assert_eq!(filter(None, Some(day(21))).due_bound(), Some(day(21)));
        assert_eq!(
            filter(Some(day(7)), Some(day(21))).due_bound(),
            Some(day(21))
        );
        assert_eq!(filter(Some(day(7)), Some(day(3))).due_bound(), Some(day(6)));
    }
}
