//! `xinfang.v1.CaseService`: every step of a matter goes through [`CaseApi::step`]: lock the row, check the
//! caller and the etag, let the pure workflow decide, write the row and its event in one transaction.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use xinfang_proto::{
    v1::{
        AcceptCaseRequest, AssignCaseRequest, AssignmentMode, BacklogResolution, BacklogState,
        Case, CaseEvent, CaseState, CloseSupervisionRequest, ConfirmCompletionRequest, Deadline,
        Deadlines, DecideObjectionRequest, DecideReviewRequest, DeclineCaseRequest, DeclineGround,
        ExtendCaseRequest, GetCaseRequest, Level, ListCaseEventsRequest, ListCaseEventsResponse,
        ListCasesRequest, ListCasesResponse, MarkBacklogRequest, ObjectToAssignmentRequest, Rating,
        RecordEvaluationRequest, RecordHearingRequest, ReplyCaseRequest, ReplySupervisionRequest,
        RequestReviewRequest, ResolveBacklogRequest, ReviewOutcome, SuperviseCaseRequest,
        SupervisionMethod, case_service_server::CaseService,
    },
    validate::{self, Violations},
};

use super::{
    model::{self, Action, CaseRecord, DeadlineStatus, Refusal, Workflow},
    store::{self, CaseRow},
};
use crate::{
    auth::{self, Principal, Role},
    db::{self, Batch},
    error::AppError,
    idempotency,
    org::store as org_store,
    paging,
    scope::{self, Kind, Reader},
    time,
    visits::model::{Clock, loads_history},
};

pub struct CaseApi {
    pool: PgPool,
    workflow: Arc<Workflow>,
}

impl CaseApi {
    pub fn new(pool: PgPool, workflow: Arc<Workflow>) -> Self {
        Self { pool, workflow }
    }
}

/// Who may take a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    /// The petition office: county clerks and administrators.
    County,
    /// The responsible unit's clerk (or an administrator).
    Unit,
    /// The unit when the matter is assigned, the petition office before that (不予受理 at registration).
    Decliner,
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

/// May `principal` read this matter? The one read rule decides (`crate::scope`).
async fn check_read(
    conn: &mut PgConnection,
    principal: &Principal,
    row: &CaseRow,
) -> Result<(), AppError> {
    if scope::store::reads(conn, &Reader::of(principal), Kind::Matter, row.id).await? {
        Ok(())
    } else {
        Err(AppError::PermissionDenied(
            "outside the caller's scope".into(),
        ))
    }
}

fn date_to_proto(d: NaiveDate) -> xinfang_proto::v1::Date {
    use chrono::Datelike;
    xinfang_proto::v1::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

fn date_from_proto(
    field: &str,
    d: &xinfang_proto::v1::Date,
) -> Result<NaiveDate, validate::FieldViolation> {
    u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .filter(|date| (1900..=2200).contains(&chrono::Datelike::year(date)))
        .ok_or_else(|| validate::FieldViolation::new(field, "not a calendar date"))
}

fn deadline_to_proto(d: Option<DeadlineStatus>) -> Option<Deadline> {
    d.map(|d| Deadline {
        due: Some(date_to_proto(d.due)),
        timeliness: model::timeliness_to_proto(d.timeliness) as i32,
        done_at: d.done_at.map(time::to_proto),
    })
}

impl CaseApi {
    fn to_proto(&self, row: &CaseRow, now: DateTime<Utc>) -> Case {
        let record = row.record();
        let facts = self.workflow.facts(now);
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
            handling_deadline: row.handling_deadline.map(date_to_proto),
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
            hearing_until: record.hearing_until.map(date_to_proto),
            supervised: row.supervised,
            supervision_level: record.supervision_level,
            supervision_method: record.supervision_method,
            backlog_state: record.backlog_state,
            backlog_leader: row.backlog_leader.clone().unwrap_or_default(),
            special_difficult: row.special_difficult,
            backlog_resolution: record.backlog_resolution,
            deadlines: Some(Deadlines {
                assign: deadline_to_proto(set.assign),
                accept: deadline_to_proto(set.accept),
                conclude: deadline_to_proto(set.conclude),
                review_request: deadline_to_proto(set.review_request),
                review_decision: deadline_to_proto(set.review_decision),
                evaluation: deadline_to_proto(set.evaluation),
                supervision_reply: deadline_to_proto(set.supervision_reply),
            }),
            etag: row.version.to_string(),
            update_time: ts(Some(row.updated_at)),
            claim_type: i32::from(row.claim_type),
            accused_org_code: row.accused_org_code.clone().unwrap_or_default(),
            objection_state: record.objection_state,
            objected_at: ts(row.objected_at),
            objection_decided_at: ts(row.objection_decided_at),
            extension_notified_on: row.extension_notified_on.map(date_to_proto),
            supervised_at: ts(row.supervised_at),
            supervision_replied_at: ts(row.supervision_replied_at),
            supervision_reply: row.supervision_reply.clone().unwrap_or_default(),
            supervision_closed_at: ts(row.supervision_closed_at),
            completion_confirmed_at: ts(row.completion_confirmed_at),
            regulation: row.regulation.clone(),
        }
    }

    /// One workflow step, exactly once per request id.
    #[allow(clippy::too_many_arguments)]
    async fn step<M: Message>(
        &self,
        batch: Option<&Batch>,
        principal: &Principal,
        method: &'static str,
        request: &M,
        common: Common,
        actor: Actor,
        action: Action,
        reason: String,
    ) -> Result<Case, AppError> {
        let key = idempotency::Key::new(principal.id, method, common.request_id, request);
        let mut hold = Batch::hold(batch).await;
        let mut tx = db::begin(&self.pool, &mut hold).await?;
        if let Some(first) = idempotency::claim::<Case>(&mut tx, &key).await? {
            return Ok(first);
        }
        let row = store::lock(&mut tx, common.case_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("matter {}", common.case_id)))?;
        check_actor(principal, actor, &row)?;
        if let Some(etag) = &common.etag
            && *etag != row.version.to_string()
        {
            return Err(AppError::Aborted(format!(
                "the matter changed since it was read (etag {etag}, now {}); read it again",
                row.version
            )));
        }
        if let Action::Assign { unit, .. } = &action {
            check_unit(&mut tx, unit).await?;
            // Informants' materials are never passed to those they report on (2022 Regulations, Art 30).
            if row.accused_org_code.as_deref() == Some(unit.as_str()) {
                return Err(AppError::precondition(
                    "ACCUSED_UNIT",
                    "an accusation is never assigned to the unit it accuses",
                ));
            }
        }
        let before = row.record();
        let facts = self.workflow.facts(common.occurred_at);
        let (after, name) =
            model::apply(&before, &action, &facts).map_err(|refusal| match refusal {
                Refusal::State { reason, message } => AppError::precondition(reason, message),
                Refusal::Input { field, message } => AppError::invalid(field, message),
            })?;
        let schedule = model::schedule(&after, &facts);
        let updated = store::update(&mut tx, row.id, &after, &schedule).await?;
        let (before_json, after_json) = changed_fields(&before, &after)?;
        store::insert_event(
            &mut tx,
            &store::NewEvent {
                case_id: row.id,
                action: name,
                actor: principal.id,
                occurred_at: common.occurred_at,
                reason: &reason,
                before: Some(before_json),
                after: Some(after_json),
            },
        )
        .await?;
        crate::sync::store::append(
            &mut tx,
            &crate::sync::store::FeedEntry {
                kind: "case",
                entity_id: row.id,
                org_code: after.responsible_org_code.as_deref(),
                previous_org_code: before.responsible_org_code.as_deref(),
                owner: None,
                reason: &reason,
            },
        )
        .await?;
        let case = self.to_proto(&updated, Utc::now());
        idempotency::save(&mut tx, &key, &case).await?;
        tx.commit().await?;
        tracing::info!(case = %row.id, action = name, state = %updated.state, "matter changed");
        Ok(case)
    }

    fn clock(&self, principal: &Principal) -> Clock {
        Clock {
            now: Utc::now(),
            history: loads_history(principal.role),
        }
    }
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

async fn check_unit(conn: &mut PgConnection, code: &str) -> Result<(), AppError> {
    match org_store::get(conn, code).await? {
        Some(o) if o.kind == "township" || o.kind == "department" => Ok(()),
        Some(_) => Err(AppError::invalid(
            "responsible_org_code",
            "a matter is assigned to a township or a county department",
        )),
        None => Err(AppError::invalid(
            "responsible_org_code",
            "no org unit has this code",
        )),
    }
}

/// The fields every step request carries.
#[derive(Clone)]
struct Common {
    request_id: Uuid,
    case_id: Uuid,
    etag: Option<String>,
    occurred_at: DateTime<Utc>,
}

fn common(
    v: &mut Violations,
    request_id: &str,
    case_id: &str,
    etag: &str,
    occurred_at: Option<&prost_types::Timestamp>,
    clock: Clock,
) -> Option<Common> {
    let request_id = v.check(validate::request_id("request_id", request_id));
    let case_id = v.check(
        uuid::Uuid::parse_str(case_id)
            .map_err(|_| validate::FieldViolation::new("case_id", "must be a matter id (UUID)")),
    );
    let occurred_at = clock.occurred(v, "occurred_at", occurred_at);
    Some(Common {
        request_id: request_id?,
        case_id: case_id?,
        etag: (!etag.is_empty()).then(|| etag.to_owned()),
        occurred_at: occurred_at?,
    })
}

fn optional_reason(v: &mut Violations, field: &str, value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some(String::new());
    }
    v.check(validate::required_multiline(field, value, 2000))
}

fn required_enum<T: TryFrom<i32>>(v: &mut Violations, field: &str, value: i32) -> Option<T> {
    v.check(validate::required_enum::<T>(field, value))
}

macro_rules! step_rpc {
    ($self:ident, $request:ident, $method:literal, $actor:expr, |$v:ident, $req:ident| $build:block) => {{
        let principal = auth::principal(&$request)?;
        let $req = $request.get_ref();
        let mut $v = Violations::new();
        let common = common(
            &mut $v,
            &$req.request_id,
            &$req.case_id,
            &$req.etag,
            $req.occurred_at.as_ref(),
            $self.clock(principal),
        );
        let built: Option<(Action, String)> = $build;
        let (common, (action, reason)) = $v
            .finish(|| Some((common?, built?)))
            .map_err(AppError::from)?;
        let batch = $request.extensions().get();
        let case = db::retry_lost_races(batch, || {
            $self.step(
                batch,
                principal,
                $method,
                $req,
                common.clone(),
                $actor,
                action.clone(),
                reason.clone(),
            )
        })
        .await?;
        Ok(Response::new(case))
    }};
}

#[tonic::async_trait]
impl CaseService for CaseApi {
    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = auth::principal(&request)?;
        let id = Uuid::parse_str(&request.get_ref().id)
            .map_err(|_| AppError::invalid("id", "must be a matter id (UUID)"))?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let row = store::get(&mut conn, id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::NotFound(format!("matter {id}")))?;
        check_read(&mut conn, principal, &row).await?;
        Ok(Response::new(self.to_proto(&row, Utc::now())))
    }

    async fn list_cases(
        &self,
        request: Request<ListCasesRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check(validate::page_size("page_size", req.page_size));
        let state = v
            .check(validate::optional_enum::<CaseState>("state", req.state))
            .flatten()
            .map(|s| model::state_to_db(s).to_owned());
        let requested_org = if req.responsible_org_code.is_empty() {
            None
        } else {
            v.check(validate::org_code(
                "responsible_org_code",
                &req.responsible_org_code,
            ))
        };
        if !(0..=366).contains(&req.due_within_days) {
            v.add("due_within_days", "0 to 366 days");
        }
        let bounds = match &req.period {
            Some(p) => v.check(time::period_bounds("period", p)).map(Some),
            None => Some(None),
        };
        let filter_key = format!(
            "{state:?}|{requested_org:?}|{}|{}|{:?}|{:?}|{:?}|{:?}",
            req.overdue,
            req.due_within_days,
            req.backlog,
            req.special_difficult,
            req.supervised,
            req.period
        );
        let after = match v.check(paging::decode(&req.page_token, &filter_key)) {
            Some(Some(key)) => match paging::parse_time_key(&key) {
                Some(pos) => Some(pos),
                None => {
                    v.add("page_token", "not a page token of this list");
                    None
                }
            },
            _ => None,
        };
        let (page_size, bounds) = v
            .finish(|| Some((page_size?, bounds?)))
            .map_err(AppError::from)?;

        let today = model::local_date(Utc::now());
        let filter = store::ListFilter {
            state,
            today: Some(today),
            responsible_org: requested_org.clone(),
            due_before: req.overdue.then_some(today),
            due_by: (req.due_within_days > 0)
                .then(|| today + chrono::Days::new(req.due_within_days as u64)),
            backlog: req.backlog,
            special_difficult: req.special_difficult,
            supervised: req.supervised,
            from: bounds.map(|b| b.0),
            until: bounds.map(|b| b.1),
            after,
        };
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let mut rows = store::list(
            &mut conn,
            &filter,
            &Reader::of(principal),
            i64::from(page_size) + 1,
        )
        .await
        .map_err(AppError::from)?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filter_key, |r| {
            paging::time_key(r.registered_at, r.id)
        });
        let now = Utc::now();
        Ok(Response::new(ListCasesResponse {
            cases: rows.iter().map(|r| self.to_proto(r, now)).collect(),
            next_page_token,
        }))
    }

    async fn assign_case(
        &self,
        request: Request<AssignCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "AssignCase", Actor::County, |v, req| {
            let mode = required_enum::<AssignmentMode>(&mut v, "mode", req.mode);
            let unit = v.check(validate::org_code(
                "responsible_org_code",
                &req.responsible_org_code,
            ));
            let deadline = match &req.handling_deadline {
                Some(d) => v.check(date_from_proto("handling_deadline", d)).map(Some),
                None => Some(None),
            };
            let reason = optional_reason(&mut v, "reason", &req.reason);
            (|| {
                let reason = reason?;
                Some((
                    Action::Assign {
                        mode: mode?,
                        unit: unit?,
                        handling_deadline: deadline?,
                        reason: (!reason.is_empty()).then(|| reason.clone()),
                    },
                    reason,
                ))
            })()
        })
    }

    async fn accept_case(
        &self,
        request: Request<AcceptCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "AcceptCase", Actor::Unit, |v, req| {
            Some((Action::Accept, String::new()))
        })
    }

    async fn decline_case(
        &self,
        request: Request<DeclineCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "DeclineCase", Actor::Decliner, |v, req| {
            let ground = required_enum::<DeclineGround>(&mut v, "ground", req.ground);
            let reason = optional_reason(&mut v, "reason", &req.reason);
            ground
                .zip(reason)
                .map(|(ground, reason)| (Action::Decline { ground }, reason))
        })
    }

    async fn object_to_assignment(
        &self,
        request: Request<ObjectToAssignmentRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(
            self,
            request,
            "ObjectToAssignment",
            Actor::Unit,
            |v, req| {
                v.check(validate::required_multiline("reason", &req.reason, 2000))
                    .map(|reason| (Action::Object, reason))
            }
        )
    }

    async fn extend_case(
        &self,
        request: Request<ExtendCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "ExtendCase", Actor::Unit, |v, req| {
            let days = match u32::try_from(req.days) {
                Ok(d) => Some(d),
                Err(_) => {
                    v.add("days", "1 to 30 days");
                    None
                }
            };
            let approved_by = v.check(validate::required_text("approved_by", &req.approved_by, 50));
            let reason = v.check(validate::required_multiline("reason", &req.reason, 2000));
            // 延期告知: the petitioner is told in writing; the extension records when.
            let notified_on = match &req.notified_on {
                Some(d) => v.check(date_from_proto("notified_on", d)),
                None => {
                    v.add(
                        "notified_on",
                        "required: the day the written notice went out",
                    );
                    None
                }
            };
            (|| {
                let reason = reason?;
                Some((
                    Action::Extend {
                        days: days?,
                        approved_by: approved_by?,
                        reason: reason.clone(),
                        notified_on: notified_on?,
                    },
                    reason,
                ))
            })()
        })
    }

    async fn decide_objection(
        &self,
        request: Request<DecideObjectionRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "DecideObjection", Actor::County, |v, req| {
            optional_reason(&mut v, "reason", &req.reason)
                .map(|reason| (Action::DecideObjection { agree: req.agree }, reason))
        })
    }

    async fn confirm_completion(
        &self,
        request: Request<ConfirmCompletionRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(
            self,
            request,
            "ConfirmCompletion",
            Actor::County,
            |v, req| {
                optional_reason(&mut v, "note", &req.note)
                    .map(|note| (Action::ConfirmCompletion, note))
            }
        )
    }

    async fn reply_supervision(
        &self,
        request: Request<ReplySupervisionRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "ReplySupervision", Actor::Unit, |v, req| {
            v.check(validate::required_multiline("reply", &req.reply, 20_000))
                .map(|reply| (Action::ReplySupervision { reply }, String::new()))
        })
    }

    async fn close_supervision(
        &self,
        request: Request<CloseSupervisionRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(
            self,
            request,
            "CloseSupervision",
            Actor::County,
            |v, req| {
                optional_reason(&mut v, "note", &req.note)
                    .map(|note| (Action::CloseSupervision, note))
            }
        )
    }

    async fn reply_case(
        &self,
        request: Request<ReplyCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "ReplyCase", Actor::Unit, |v, req| {
            let opinion = v.check(validate::required_multiline(
                "opinion",
                &req.opinion,
                20_000,
            ));
            let report = if req.completion_report.trim().is_empty() {
                Some(None)
            } else {
                v.check(validate::required_multiline(
                    "completion_report",
                    &req.completion_report,
                    20_000,
                ))
                .map(Some)
            };
            opinion.zip(report).map(|(opinion, completion_report)| {
                (
                    Action::Reply {
                        opinion,
                        completion_report,
                        publish_for_evaluation: req.publish_for_evaluation,
                    },
                    String::new(),
                )
            })
        })
    }

    async fn record_evaluation(
        &self,
        request: Request<RecordEvaluationRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(
            self,
            request,
            "RecordEvaluation",
            Actor::County,
            |v, req| {
                let office = required_enum::<Rating>(&mut v, "office_rating", req.office_rating);
                let unit = required_enum::<Rating>(&mut v, "unit_rating", req.unit_rating);
                office
                    .zip(unit)
                    .map(|(office, unit)| (Action::Evaluate { office, unit }, String::new()))
            }
        )
    }

    async fn request_review(
        &self,
        request: Request<RequestReviewRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "RequestReview", Actor::County, |v, req| {
            optional_reason(&mut v, "reason", &req.reason).map(|r| (Action::RequestReview, r))
        })
    }

    async fn decide_review(
        &self,
        request: Request<DecideReviewRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "DecideReview", Actor::County, |v, req| {
            let outcome = required_enum::<ReviewOutcome>(&mut v, "outcome", req.outcome);
            let opinion = v.check(validate::required_multiline(
                "opinion",
                &req.opinion,
                20_000,
            ));
            outcome
                .zip(opinion)
                .map(|(outcome, opinion)| (Action::DecideReview { outcome }, opinion))
        })
    }

    async fn record_hearing(
        &self,
        request: Request<RecordHearingRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "RecordHearing", Actor::County, |v, req| {
            let mut day = |field, d: &Option<xinfang_proto::v1::Date>| match d {
                Some(d) => v.check(date_from_proto(field, d)),
                None => {
                    v.add(field, "required");
                    None
                }
            };
            let first_day = day("first_day", &req.first_day);
            let last_day = day("last_day", &req.last_day);
            let note = optional_reason(&mut v, "note", &req.note);
            first_day
                .zip(last_day)
                .zip(note)
                .map(|((first_day, last_day), note)| {
                    (
                        Action::Hearing {
                            first_day,
                            last_day,
                        },
                        note,
                    )
                })
        })
    }

    async fn supervise_case(
        &self,
        request: Request<SuperviseCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "SuperviseCase", Actor::County, |v, req| {
            let level = required_enum::<Level>(&mut v, "level", req.level);
            if level == Some(Level::Township) {
                v.add(
                    "level",
                    "supervision comes from the county, city, province or centre",
                );
            }
            let method = required_enum::<SupervisionMethod>(&mut v, "method", req.method);
            let reason = optional_reason(&mut v, "reason", &req.reason);
            (|| {
                Some((
                    Action::Supervise {
                        level: level?,
                        method: method?,
                    },
                    reason?,
                ))
            })()
        })
    }

    async fn mark_backlog(
        &self,
        request: Request<MarkBacklogRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "MarkBacklog", Actor::County, |v, req| {
            let leader = if req.leader.trim().is_empty() {
                Some(None)
            } else {
                v.check(validate::required_text("leader", &req.leader, 50))
                    .map(Some)
            };
            let reason = optional_reason(&mut v, "reason", &req.reason);
            (|| {
                Some((
                    Action::MarkBacklog {
                        leader: leader?,
                        special_difficult: req.special_difficult,
                    },
                    reason?,
                ))
            })()
        })
    }

    async fn resolve_backlog(
        &self,
        request: Request<ResolveBacklogRequest>,
    ) -> Result<Response<Case>, Status> {
        step_rpc!(self, request, "ResolveBacklog", Actor::County, |v, req| {
            let step = required_enum::<BacklogState>(&mut v, "step", req.step);
            if matches!(
                step,
                Some(BacklogState::Listed | BacklogState::LeaderAssigned)
            ) {
                v.add(
                    "step",
                    "RESOLVING, RESOLVED or STRUCK_OFF; listing is MarkBacklog",
                );
            }
            let resolution = match BacklogResolution::try_from(req.resolution) {
                Ok(r) => Some(r),
                Err(_) => {
                    v.add("resolution", format!("unknown value {}", req.resolution));
                    None
                }
            };
            let note = optional_reason(&mut v, "note", &req.note);
            (|| {
                Some((
                    Action::ResolveBacklog {
                        step: step?,
                        resolution: resolution?,
                    },
                    note?,
                ))
            })()
        })
    }

    async fn list_case_events(
        &self,
        request: Request<ListCaseEventsRequest>,
    ) -> Result<Response<ListCaseEventsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let case_id =
            v.check(Uuid::parse_str(&req.case_id).map_err(|_| {
                validate::FieldViolation::new("case_id", "must be a matter id (UUID)")
            }));
        let page_size = v.check(validate::page_size("page_size", req.page_size));
        let filter_key = req.case_id.clone();
        let after = match v.check(paging::decode(&req.page_token, &filter_key)) {
            Some(Some(key)) => match key.parse::<i64>() {
                Ok(id) => Some(id),
                Err(_) => {
                    v.add("page_token", "not a page token of this list");
                    None
                }
            },
            _ => Some(0),
        };
        let (case_id, page_size, after) = v
            .finish(|| Some((case_id?, page_size?, after?)))
            .map_err(AppError::from)?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let row = store::get(&mut conn, case_id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::NotFound(format!("matter {case_id}")))?;
        check_read(&mut conn, principal, &row).await?;
        let mut rows = store::events(&mut conn, case_id, after, i64::from(page_size) + 1)
            .await
            .map_err(AppError::from)?;
        let next_page_token =
            paging::next_page(&mut rows, page_size, &filter_key, |r| r.id.to_string());
        let events = rows
            .into_iter()
            .map(|e| CaseEvent {
                sequence: e.id,
                case_id: e.case_id.to_string(),
                action: e.action,
                actor: e.actor.to_string(),
                occurred_at: Some(time::to_proto(e.occurred_at)),
                recorded_at: Some(time::to_proto(e.recorded_at)),
                reason: e.reason,
                before_json: e.before.map(|j| j.to_string()).unwrap_or_default(),
                after_json: e.after.map(|j| j.to_string()).unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(ListCaseEventsResponse {
            events,
            next_page_token,
        }))
    }
}
