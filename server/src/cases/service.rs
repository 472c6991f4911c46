//! `xinfang.v1.CaseService`: proto in, a command of `cases::commands` in a transaction, proto out. Every step
//! of a case goes through [`CaseApi::step`], which `SyncService.Push` also calls for a pushed step, in the
//! push's own transaction.

use std::sync::Arc;

use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use xinfang_proto::{
    input::steps::StepRequest,
    v1::{
        AcceptCaseRequest, AssignCaseRequest, BatchGetCasesRequest, BatchGetCasesResponse, Case,
        CaseState, CloseSupervisionRequest, ConfirmCompletionRequest, DecideObjectionRequest,
        DecideReviewRequest, DeclineCaseRequest, ExtendCaseRequest, GetCaseRequest,
        ListCaseEventsRequest, ListCaseEventsResponse, ListCasesRequest, ListCasesResponse,
        MarkBacklogRequest, ObjectToAssignmentRequest, RecordEvaluationRequest,
        RecordHearingRequest, ReplyCaseRequest, ReplySupervisionRequest, RequestReviewRequest,
        ResolveBacklogRequest, SuperviseCaseRequest, case_service_server::CaseService,
    },
    validate::{self, Violations},
};

use super::{
    commands,
    model::{self, Workflow},
    store, view,
};
use crate::{
    auth::{self, Principal},
    db,
    error::AppError,
    idempotency,
    kernel::time,
    paging,
};

/// The most ids one BatchGetCases may ask for: a thousand of the generated county's cases are 483 KB of answer
/// (docs/performance.md), inside the 4 MB message limit with room for longer contents, and one index probe
/// each. A thousand of the longest contents allowed would not fit (`OUT_OF_RANGE`); the workbench then asks
/// in halves (README, Decisions) rather than every client paying for a smaller limit.
const MAX_BATCH_GET: usize = 1_000;

pub struct CaseApi {
    pool: PgPool,
    workflow: Arc<Workflow>,
}

impl CaseApi {
    pub fn new(pool: PgPool, workflow: Arc<Workflow>) -> Self {
        Self { pool, workflow }
    }

    /// One step of a case, exactly once per request id, in the caller's transaction.
    pub(crate) async fn step<R: StepRequest>(
        &self,
        principal: &Principal,
        request: &R,
        tx: &mut PgConnection,
    ) -> Result<Case, AppError> {
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", request.request_id()));
        let step = request.parse(&mut v, principal.role.clock());
        let (request_id, step) = v.finish(|| Some((request_id?, step?)))?;
        let key = idempotency::Key::new(principal.id, R::METHOD, request_id, request);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let row = commands::take_step(&self.workflow, principal, &step, tx).await?;
        let case = view::case(&self.workflow, &row, Utc::now());
        idempotency::save(tx, &key, &case).await?;
        Ok(case)
    }

    /// A step as an RPC: a transaction of its own, run again when it loses a race.
    async fn step_rpc<R: StepRequest>(
        &self,
        request: Request<R>,
    ) -> Result<Response<Case>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let case = db::transaction(&self.pool, |mut tx| async move {
            let case = self.step(principal, req, &mut tx).await?;
            Ok((case, tx))
        })
        .await?;
        Ok(Response::new(case))
    }

    pub(crate) async fn get(
        &self,
        principal: &Principal,
        req: &GetCaseRequest,
        conn: &mut PgConnection,
    ) -> Result<Case, AppError> {
        let id = Uuid::parse_str(&req.id)
            .map_err(|_| AppError::invalid("id", "must be a case id (UUID)"))?;
        let row = commands::get(principal, id, conn).await?;
        Ok(view::case(&self.workflow, &row, Utc::now()))
    }

    /// BatchGetCases (AIP-231): the ids checked here, the read rule and the order in `commands::get_many`.
    async fn get_many(
        &self,
        principal: &Principal,
        req: &BatchGetCasesRequest,
        conn: &mut PgConnection,
    ) -> Result<BatchGetCasesResponse, AppError> {
        if req.ids.len() > MAX_BATCH_GET {
            return Err(AppError::invalid(
                "ids",
                format!("at most {MAX_BATCH_GET} ids in one call"),
            ));
        }
        let mut v = Violations::new();
        let ids: Vec<Option<Uuid>> = req
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                v.check(Uuid::parse_str(id).map_err(|_| {
                    validate::FieldViolation::new(format!("ids[{i}]"), "must be a case id (UUID)")
                }))
            })
            .collect();
        let ids = v.finish(|| ids.into_iter().collect::<Option<Vec<_>>>())?;
        let rows = commands::get_many(principal, &ids, conn).await?;
        let now = Utc::now();
        Ok(BatchGetCasesResponse {
            cases: rows
                .iter()
                .map(|r| view::case(&self.workflow, r, now))
                .collect(),
        })
    }

    pub(crate) async fn events(
        &self,
        principal: &Principal,
        req: &ListCaseEventsRequest,
        conn: &mut PgConnection,
    ) -> Result<ListCaseEventsResponse, AppError> {
        let mut v = Violations::new();
        let case_id = v.check(
            Uuid::parse_str(&req.case_id)
                .map_err(|_| validate::FieldViolation::new("case_id", "must be a case id (UUID)")),
        );
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
        let (case_id, page_size, after) = v.finish(|| Some((case_id?, page_size?, after?)))?;
        let mut rows =
            commands::events(principal, case_id, after, i64::from(page_size) + 1, conn).await?;
        let next_page_token =
            paging::next_page(&mut rows, page_size, &filter_key, |r| r.id.to_string());
        Ok(ListCaseEventsResponse {
            events: rows.into_iter().map(view::event).collect(),
            next_page_token,
        })
    }

    async fn list(
        &self,
        principal: &Principal,
        req: &ListCasesRequest,
        conn: &mut PgConnection,
    ) -> Result<ListCasesResponse, AppError> {
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
        let (page_size, bounds) = v.finish(|| Some((page_size?, bounds?)))?;
        let today = model::local_date(Utc::now());
        let filter = store::ListFilter {
            state,
            today: Some(today),
            responsible_org: requested_org,
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
        let mut rows = commands::list(principal, &filter, i64::from(page_size) + 1, conn).await?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filter_key, |r| {
            paging::time_key(r.registered_at, r.id)
        });
        let now = Utc::now();
        Ok(ListCasesResponse {
            cases: rows
                .iter()
                .map(|r| view::case(&self.workflow, r, now))
                .collect(),
            next_page_token,
        })
    }
}

#[tonic::async_trait]
impl CaseService for CaseApi {
    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        let principal = auth::principal(&request)?;
        let mut conn = db::connection(&self.pool).await?;
        let case = self.get(principal, request.get_ref(), &mut conn).await?;
        Ok(Response::new(case))
    }

    async fn batch_get_cases(
        &self,
        request: Request<BatchGetCasesRequest>,
    ) -> Result<Response<BatchGetCasesResponse>, Status> {
        let principal = auth::principal(&request)?;
        let mut conn = db::connection(&self.pool).await?;
        let cases = self
            .get_many(principal, request.get_ref(), &mut conn)
            .await?;
        Ok(Response::new(cases))
    }

    async fn list_cases(
        &self,
        request: Request<ListCasesRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let principal = auth::principal(&request)?;
        let mut conn = db::connection(&self.pool).await?;
        let list = self.list(principal, request.get_ref(), &mut conn).await?;
        Ok(Response::new(list))
    }

    async fn list_case_events(
        &self,
        request: Request<ListCaseEventsRequest>,
    ) -> Result<Response<ListCaseEventsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let mut conn = db::connection(&self.pool).await?;
        let events = self.events(principal, request.get_ref(), &mut conn).await?;
        Ok(Response::new(events))
    }

    async fn assign_case(&self, r: Request<AssignCaseRequest>) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn accept_case(&self, r: Request<AcceptCaseRequest>) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn decline_case(&self, r: Request<DeclineCaseRequest>) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn object_to_assignment(
        &self,
        r: Request<ObjectToAssignmentRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn decide_objection(
        &self,
        r: Request<DecideObjectionRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn extend_case(&self, r: Request<ExtendCaseRequest>) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn confirm_completion(
        &self,
        r: Request<ConfirmCompletionRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn reply_case(&self, r: Request<ReplyCaseRequest>) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn record_evaluation(
        &self,
        r: Request<RecordEvaluationRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn request_review(
        &self,
        r: Request<RequestReviewRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn decide_review(
        &self,
        r: Request<DecideReviewRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn record_hearing(
        &self,
        r: Request<RecordHearingRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn supervise_case(
        &self,
        r: Request<SuperviseCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn reply_supervision(
        &self,
        r: Request<ReplySupervisionRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn close_supervision(
        &self,
        r: Request<CloseSupervisionRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn mark_backlog(&self, r: Request<MarkBacklogRequest>) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }

    async fn resolve_backlog(
        &self,
        r: Request<ResolveBacklogRequest>,
    ) -> Result<Response<Case>, Status> {
        self.step_rpc(r).await
    }
}
