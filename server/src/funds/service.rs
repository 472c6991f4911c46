//! `xinfang.v1.FundService`: the tonic adapter of [`super::commands`] (docs/architecture.md). Each method turns
//! the message into its input ([`super::input`]), runs a mutation in a transaction of its own
//! (`db::transaction`, which runs it again when it loses a race) once per request id (`idempotency::claim`,
//! then `save` with the change) and a read on a connection of the pool (`db::connection`), and turns the
//! output into the message. Errors stay `AppError` until the tonic method, which converts them once.

use chrono::Datelike;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use xinfang_proto::{
    money,
    v1::{
        Appropriation, ApproveFundRequestRequest, Attachment, Budget, CreateBudgetRequest,
        DisburseFundRequestRequest, FundRequest, FundRequestEvent, GetFundRequestRequest,
        ListBudgetsRequest, ListBudgetsResponse, ListFundRequestsRequest, ListFundRequestsResponse,
        RecordBureauDecisionRequest, RejectFundRequestRequest, SubmitFundRequestRequest,
        fund_service_server::FundService,
    },
};

use super::{
    commands::{self, BudgetView, FundConfig, RequestView},
    input, model,
};
use crate::{
    auth::{self, Principal},
    db,
    error::AppError,
    idempotency,
    kernel::time,
    paging,
};

pub struct FundApi {
    pool: PgPool,
    config: FundConfig,
}

impl FundApi {
    pub fn new(pool: PgPool, config: FundConfig) -> Self {
        Self { pool, config }
    }
}

/// The adapters of the mutations: each runs in the transaction it is given, once per request id.
impl FundApi {
    pub(crate) async fn record_budget(
        &self,
        p: &Principal,
        req: &CreateBudgetRequest,
        tx: &mut PgConnection,
    ) -> Result<Budget, AppError> {
        let new = input::new_budget(req, input::clock(p))?;
        let key = idempotency::Key::new(p.id, "CreateBudget", new.request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let out = budget_to_proto(commands::create_budget(&self.config, p, &new, tx).await?);
        idempotency::save(tx, &key, &out).await?;
        Ok(out)
    }

    pub(crate) async fn submit(
        &self,
        p: &Principal,
        req: &SubmitFundRequestRequest,
        tx: &mut PgConnection,
    ) -> Result<FundRequest, AppError> {
        let new = input::new_request(req, input::clock(p))?;
        let key = idempotency::Key::new(p.id, "SubmitFundRequest", new.request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let out = request_to_proto(commands::submit(&self.config, p, &new, tx).await?);
        idempotency::save(tx, &key, &out).await?;
        Ok(out)
    }

    pub(crate) async fn decide(
        &self,
        p: &Principal,
        req: &RecordBureauDecisionRequest,
        tx: &mut PgConnection,
    ) -> Result<FundRequest, AppError> {
        let step = input::decision(req, input::clock(p))?;
        let key = idempotency::Key::new(p.id, "RecordBureauDecision", step.request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let out =
            request_to_proto(commands::record_bureau_decision(&self.config, p, &step, tx).await?);
        idempotency::save(tx, &key, &out).await?;
        Ok(out)
    }

    pub(crate) async fn approve(
        &self,
        p: &Principal,
        req: &ApproveFundRequestRequest,
        tx: &mut PgConnection,
    ) -> Result<FundRequest, AppError> {
        let step = input::approval(req, input::clock(p))?;
        let key = idempotency::Key::new(p.id, "ApproveFundRequest", step.request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let out = request_to_proto(commands::approve(&self.config, p, &step, tx).await?);
        idempotency::save(tx, &key, &out).await?;
        Ok(out)
    }

    pub(crate) async fn reject(
        &self,
        p: &Principal,
        req: &RejectFundRequestRequest,
        tx: &mut PgConnection,
    ) -> Result<FundRequest, AppError> {
        let step = input::rejection(req, input::clock(p))?;
        let key = idempotency::Key::new(p.id, "RejectFundRequest", step.request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let out = request_to_proto(commands::reject(&self.config, p, &step, tx).await?);
        idempotency::save(tx, &key, &out).await?;
        Ok(out)
    }

    pub(crate) async fn disburse(
        &self,
        p: &Principal,
        req: &DisburseFundRequestRequest,
        tx: &mut PgConnection,
    ) -> Result<FundRequest, AppError> {
        let step = input::payment(req, input::clock(p))?;
        let key = idempotency::Key::new(p.id, "DisburseFundRequest", step.request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let out = request_to_proto(commands::disburse(&self.config, p, &step, tx).await?);
        idempotency::save(tx, &key, &out).await?;
        Ok(out)
    }
}

#[tonic::async_trait]
impl FundService for FundApi {
    async fn create_budget(
        &self,
        request: Request<CreateBudgetRequest>,
    ) -> Result<Response<Budget>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let budget = db::transaction(&self.pool, |mut tx| async move {
            let out = self.record_budget(p, req, &mut tx).await?;
            Ok((out, tx))
        })
        .await?;
        Ok(Response::new(budget))
    }

    async fn list_budgets(
        &self,
        request: Request<ListBudgetsRequest>,
    ) -> Result<Response<ListBudgetsResponse>, Status> {
        let p = auth::principal(&request)?;
        let (query, page) = input::budget_query(request.get_ref())?;
        let mut conn = db::connection(&self.pool).await?;
        let mut views =
            commands::list_budgets(&self.config, p, &query, page.limit(), &mut conn).await?;
        let next_page_token = paging::next_page(&mut views, page.size, &page.filter, |v| {
            format!("{}|{}", v.budget.year, v.budget.category)
        });
        Ok(Response::new(ListBudgetsResponse {
            budgets: views.into_iter().map(budget_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn submit_fund_request(
        &self,
        request: Request<SubmitFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let fund = db::transaction(&self.pool, |mut tx| async move {
            let out = self.submit(p, req, &mut tx).await?;
            Ok((out, tx))
        })
        .await?;
        Ok(Response::new(fund))
    }

    async fn record_bureau_decision(
        &self,
        request: Request<RecordBureauDecisionRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let fund = db::transaction(&self.pool, |mut tx| async move {
            let out = self.decide(p, req, &mut tx).await?;
            Ok((out, tx))
        })
        .await?;
        Ok(Response::new(fund))
    }

    async fn approve_fund_request(
        &self,
        request: Request<ApproveFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let fund = db::transaction(&self.pool, |mut tx| async move {
            let out = self.approve(p, req, &mut tx).await?;
            Ok((out, tx))
        })
        .await?;
        Ok(Response::new(fund))
    }

    async fn reject_fund_request(
        &self,
        request: Request<RejectFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let fund = db::transaction(&self.pool, |mut tx| async move {
            let out = self.reject(p, req, &mut tx).await?;
            Ok((out, tx))
        })
        .await?;
        Ok(Response::new(fund))
    }

    async fn disburse_fund_request(
        &self,
        request: Request<DisburseFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let fund = db::transaction(&self.pool, |mut tx| async move {
            let out = self.disburse(p, req, &mut tx).await?;
            Ok((out, tx))
        })
        .await?;
        Ok(Response::new(fund))
    }

    async fn get_fund_request(
        &self,
        request: Request<GetFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        let p = auth::principal(&request)?;
        let id = input::fund_request_id(request.get_ref())?;
        let mut conn = db::connection(&self.pool).await?;
        let view = commands::get_request(&self.config, p, id, &mut conn).await?;
        Ok(Response::new(request_to_proto(view)))
    }

    async fn list_fund_requests(
        &self,
        request: Request<ListFundRequestsRequest>,
    ) -> Result<Response<ListFundRequestsResponse>, Status> {
        let p = auth::principal(&request)?;
        let (query, page) = input::request_query(request.get_ref())?;
        let mut conn = db::connection(&self.pool).await?;
        let mut views =
            commands::list_requests(&self.config, p, &query, page.limit(), &mut conn).await?;
        let next_page_token = paging::next_page(&mut views, page.size, &page.filter, |v| {
            paging::time_key(v.request.submitted_at, v.request.id)
        });
        Ok(Response::new(ListFundRequestsResponse {
            fund_requests: views.into_iter().map(request_to_proto).collect(),
            next_page_token,
        }))
    }
}

fn budget_to_proto(view: BudgetView) -> Budget {
    let b = view.budget;
    Budget {
        id: b.id.to_string(),
        year: b.year,
        available: money::format(b.appropriated - b.committed - b.disbursed),
        appropriated: money::format(b.appropriated),
        committed: money::format(b.committed),
        disbursed: money::format(b.disbursed),
        appropriations: view
            .appropriations
            .into_iter()
            .map(|a| Appropriation {
                document: a.document,
                amount: money::format(a.amount),
                counterpart_category: a.counterpart_category.unwrap_or_default(),
                recorded_at: Some(time::to_proto(a.recorded_at)),
                occurred_at: Some(time::to_proto(a.occurred_at)),
            })
            .collect(),
        etag: b.version.to_string(),
        category: b.category,
        category_name: b.category_name,
    }
}

fn request_to_proto(view: RequestView) -> FundRequest {
    let r = view.request;
    let attachments: Vec<Attachment> = r
        .attachments
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|a| Attachment {
                    name: a["name"].as_str().unwrap_or_default().to_owned(),
                    sha256: a["sha256"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let events = view
        .events
        .into_iter()
        .map(|e| FundRequestEvent {
            action: e.action,
            actor: e.actor.to_string(),
            occurred_at: Some(time::to_proto(e.occurred_at)),
            recorded_at: Some(time::to_proto(e.recorded_at)),
            comment: e.comment,
            amount: e.amount.map(money::format).unwrap_or_default(),
        })
        .collect();
    FundRequest {
        id: r.id.to_string(),
        number: r.number,
        state: model::state_from_db(&r.state) as i32,
        year: r.year,
        category: r.category,
        purpose: i32::from(r.purpose),
        unit_code: r.unit_code,
        description: r.description,
        amount: money::format(r.amount),
        approved_amount: r.approved_amount.map(money::format).unwrap_or_default(),
        payee: r.payee,
        case_id: r.case_id.map(|id| id.to_string()).unwrap_or_default(),
        petitioner_id: r.petitioner_id.map(|id| id.to_string()).unwrap_or_default(),
        trip_id: r.trip_id.map(|id| id.to_string()).unwrap_or_default(),
        attachments,
        meeting_reference: r.meeting_reference.unwrap_or_default(),
        meeting_date: r.meeting_date.map(|d| xinfang_proto::v1::Date {
            year: d.year(),
            month: d.month() as i32,
            day: d.day() as i32,
        }),
        payment_method: i32::from(r.payment_method),
        voucher_number: r.voucher_number.unwrap_or_default(),
        events,
        etag: r.version.to_string(),
        submitted_at: Some(time::to_proto(r.submitted_at)),
    }
}
