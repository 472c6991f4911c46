//! `xinfang.v1.FundService`.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use prost::Message;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use xinfang_proto::{
    money,
    v1::{
        Appropriation, ApproveFundRequestRequest, Attachment, Budget, CreateBudgetRequest,
        DisburseFundRequestRequest, FundPurpose, FundRequest, FundRequestEvent, FundRequestState,
        GetFundRequestRequest, ListBudgetsRequest, ListBudgetsResponse, ListFundRequestsRequest,
        ListFundRequestsResponse, RecordBureauDecisionRequest, RejectFundRequestRequest,
        SubmitFundRequestRequest, fund_service_server::FundService,
    },
    validate::{self, FieldViolation, Violations},
};

use super::{
    model::{self, Step},
    store::{self, BudgetRow, RequestRow},
};
use crate::{
    auth::{self, Principal, Role},
    db,
    error::AppError,
    idempotency,
    kernel::{Clock, numbers, time},
    org::store as org_store,
    paging,
    scope::{self, Kind, Reader},
};

/// Fund settings.
#[derive(Debug, Clone)]
pub struct FundConfig {
    pub county_code: String,
    /// Relief to one petitioner in one year, at most.
    pub relief_cap_per_year: Decimal,
}

pub struct FundApi {
    pool: PgPool,
    config: FundConfig,
}

impl FundApi {
    pub fn new(pool: PgPool, config: FundConfig) -> Self {
        Self { pool, config }
    }
}

fn reads_all(role: Role) -> bool {
    matches!(
        role,
        Role::Admin | Role::CountyClerk | Role::Leader | Role::Auditor
    )
}

fn year(field: &str, value: i32) -> Result<i32, FieldViolation> {
    if (1990..=2200).contains(&value) {
        Ok(value)
    } else {
        Err(FieldViolation::new(field, "a year between 1990 and 2200"))
    }
}

fn optional_uuid(v: &mut Violations, field: &str, value: &str) -> Option<Option<Uuid>> {
    if value.is_empty() {
        return Some(None);
    }
    v.check(xinfang_proto::input::uuid_field(field, value))
        .map(Some)
}

fn date_from_proto(
    field: &str,
    d: Option<&xinfang_proto::v1::Date>,
) -> Result<NaiveDate, FieldViolation> {
    let d = d.ok_or_else(|| FieldViolation::new(field, "required"))?;
    u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .filter(|date| (1990..=2200).contains(&date.year()))
        .ok_or_else(|| FieldViolation::new(field, "not a calendar date"))
}

fn budget_to_proto(row: &BudgetRow, appropriations: Vec<Appropriation>) -> Budget {
    Budget {
        id: row.id.to_string(),
        year: row.year,
        category: row.category.clone(),
        category_name: row.category_name.clone(),
        appropriated: money::format(row.appropriated),
        committed: money::format(row.committed),
        disbursed: money::format(row.disbursed),
        available: money::format(row.appropriated - row.committed - row.disbursed),
        appropriations,
        etag: row.version.to_string(),
    }
}

async fn budgets_to_proto(
    conn: &mut PgConnection,
    rows: &[BudgetRow],
) -> Result<Vec<Budget>, AppError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut by_budget: HashMap<Uuid, Vec<Appropriation>> = HashMap::new();
    for a in store::appropriations(conn, &ids).await? {
        by_budget
            .entry(a.budget_id)
            .or_default()
            .push(Appropriation {
                document: a.document,
                amount: money::format(a.amount),
                counterpart_category: a.counterpart_category.unwrap_or_default(),
                recorded_at: Some(time::to_proto(a.recorded_at)),
                occurred_at: Some(time::to_proto(a.occurred_at)),
            });
    }
    Ok(rows
        .iter()
        .map(|r| budget_to_proto(r, by_budget.remove(&r.id).unwrap_or_default()))
        .collect())
}

/// Requests as `reader` sees them: the matter, the petitioner of that matter and the trip a request names
/// are shown only to a reader of that matter or trip.
async fn requests_to_proto(
    conn: &mut PgConnection,
    reader: &Reader,
    rows: &[RequestRow],
) -> Result<Vec<FundRequest>, AppError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let cases: Vec<Uuid> = rows.iter().filter_map(|r| r.case_id).collect();
    let trips: Vec<Uuid> = rows.iter().filter_map(|r| r.trip_id).collect();
    let cases = scope::store::keep_readable(conn, reader, Kind::Matter, cases).await?;
    let trips = scope::store::keep_readable(conn, reader, Kind::Trip, trips).await?;
    let mut by_request: HashMap<Uuid, Vec<FundRequestEvent>> = HashMap::new();
    for e in store::events(conn, &ids).await? {
        by_request
            .entry(e.fund_request_id)
            .or_default()
            .push(FundRequestEvent {
                action: e.action,
                actor: e.actor.to_string(),
                occurred_at: Some(time::to_proto(e.occurred_at)),
                recorded_at: Some(time::to_proto(e.recorded_at)),
                comment: e.comment,
                amount: e.amount.map(money::format).unwrap_or_default(),
            });
    }
    Ok(rows
        .iter()
        .map(|r| {
            let mut shown = request_to_proto(r, by_request.remove(&r.id).unwrap_or_default());
            if r.case_id.is_some_and(|c| !cases.contains(&c)) {
                shown.case_id.clear();
                shown.petitioner_id.clear();
            }
            if r.trip_id.is_some_and(|t| !trips.contains(&t)) {
                shown.trip_id.clear();
            }
            shown
        })
        .collect())
}

fn request_to_proto(r: &RequestRow, events: Vec<FundRequestEvent>) -> FundRequest {
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
    FundRequest {
        id: r.id.to_string(),
        number: r.number.clone(),
        state: model::state_from_db(&r.state) as i32,
        year: r.year,
        category: r.category.clone(),
        purpose: i32::from(r.purpose),
        unit_code: r.unit_code.clone(),
        description: r.description.clone(),
        amount: money::format(r.amount),
        approved_amount: r.approved_amount.map(money::format).unwrap_or_default(),
        payee: r.payee.clone(),
        case_id: r.case_id.map(|id| id.to_string()).unwrap_or_default(),
        petitioner_id: r.petitioner_id.map(|id| id.to_string()).unwrap_or_default(),
        trip_id: r.trip_id.map(|id| id.to_string()).unwrap_or_default(),
        attachments,
        meeting_reference: r.meeting_reference.clone().unwrap_or_default(),
        meeting_date: r.meeting_date.map(|d| xinfang_proto::v1::Date {
            year: d.year(),
            month: d.month() as i32,
            day: d.day() as i32,
        }),
        payment_method: i32::from(r.payment_method),
        voucher_number: r.voucher_number.clone().unwrap_or_default(),
        events,
        etag: r.version.to_string(),
        submitted_at: Some(time::to_proto(r.submitted_at)),
    }
}

fn check_read(principal: &Principal, row: &RequestRow) -> Result<(), AppError> {
    if reads_all(principal.role)
        || (principal.role == Role::TownshipClerk && principal.org_code == row.unit_code)
    {
        return Ok(());
    }
    Err(AppError::PermissionDenied(
        "outside the caller's scope".into(),
    ))
}

/// The fields every step request carries.
/// One step of a fund request's chain: the fields every step carries (request id, fund request id, etag,
/// time), the step's own fields from `$build`, which records its violations in `$v` and gives the change and
/// comment, then [`FundApi::step`]. Every violation of the message is reported at once.
macro_rules! fund_step_rpc {
    ($self:ident, $request:ident, $method:literal, |$v:ident, $req:ident| $build:block) => {{
        let principal = auth::principal(&$request)?;
        let $req = $request.get_ref();
        let mut $v = Violations::new();
        let common = common(
            &mut $v,
            &$req.request_id,
            &$req.fund_request_id,
            &$req.etag,
            $req.occurred_at.as_ref(),
            clock(principal),
        );
        let built: Option<(Change, String)> = $build;
        let (common, (change, comment)) = $v
            .finish(|| Some((common?, built?)))
            .map_err(AppError::from)?;
        let fund = db::retry_lost_races(None, || {
            $self.step(
                principal,
                $method,
                $req,
                common.clone(),
                change.clone(),
                comment.clone(),
            )
        })
        .await?;
        Ok(Response::new(fund))
    }};
}

#[derive(Clone)]
struct Common {
    request_id: Uuid,
    id: Uuid,
    etag: Option<String>,
    occurred_at: DateTime<Utc>,
}

fn common(
    v: &mut Violations,
    request_id: &str,
    id: &str,
    etag: &str,
    occurred_at: Option<&prost_types::Timestamp>,
    clock: Clock,
) -> Option<Common> {
    let request_id = v.check(validate::request_id("request_id", request_id));
    let id = v.check(xinfang_proto::input::uuid_field("fund_request_id", id));
    let occurred_at = clock.occurred(v, "occurred_at", occurred_at);
    Some(Common {
        request_id: request_id?,
        id: id?,
        etag: (!etag.is_empty()).then(|| etag.to_owned()),
        occurred_at: occurred_at?,
    })
}

fn clock(principal: &Principal) -> Clock {
    Clock {
        now: Utc::now(),
        history: principal.role.loads_history(),
    }
}

/// What a step changes besides the state.
#[derive(Clone)]
enum Change {
    Decision {
        approve: bool,
        adjusted: Option<Decimal>,
        meeting_reference: String,
        meeting_date: NaiveDate,
    },
    Approve,
    Reject,
    Disburse {
        method: i16,
        voucher: String,
    },
}

impl Change {
    fn step(&self) -> Step {
        match self {
            Change::Decision { approve, .. } => Step::BureauDecision { approve: *approve },
            Change::Approve => Step::Approve,
            Change::Reject => Step::Reject,
            Change::Disburse { .. } => Step::Disburse,
        }
    }
}

impl FundApi {
    /// One step of a request's chain, exactly once per request id, with its budget effect and event in the
    /// same transaction.
    async fn step<M: Message>(
        &self,
        principal: &Principal,
        method: &'static str,
        request: &M,
        common: Common,
        change: Change,
        comment: String,
    ) -> Result<FundRequest, AppError> {
        let key = idempotency::Key::new(principal.id, method, common.request_id, request);
        let mut tx = self.pool.begin().await?;
        if let Some(first) = idempotency::claim::<FundRequest>(&mut tx, &key).await? {
            return Ok(first);
        }
        let mut row = store::lock_request(&mut tx, common.id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("fund request {}", common.id)))?;
        let step = change.step();
        model::check_actor(principal, step, row.decided_by)?;
        if let Some(etag) = &common.etag
            && *etag != row.version.to_string()
        {
            return Err(AppError::Aborted(format!(
                "the request changed since it was read (etag {etag}, now {}); read it again",
                row.version
            )));
        }
        let next = model::transition(model::state_from_db(&row.state), step)?;
        let mut amount = row.approved_amount.unwrap_or(row.amount);
        match change {
            Change::Decision {
                adjusted,
                meeting_reference,
                meeting_date,
                ..
            } => {
                if let Some(adjusted) = adjusted {
                    if adjusted > row.amount {
                        return Err(AppError::invalid(
                            "adjusted_amount",
                            "the plan may lower the requested amount, not raise it",
                        ));
                    }
                    amount = adjusted;
                }
                row.approved_amount = Some(amount);
                row.meeting_reference = Some(meeting_reference);
                row.meeting_date = Some(meeting_date);
                row.decided_by = Some(principal.id);
            }
            Change::Approve => {
                if let Some(petitioner) = row.petitioner_id {
                    let granted =
                        store::relief_total(&mut tx, petitioner, row.year, Some(row.id)).await?;
                    model::relief_within_cap(
                        granted,
                        amount,
                        self.config.relief_cap_per_year,
                        Reader::of(principal).reads_everything(),
                    )?;
                }
                if !store::change_budget(
                    &mut tx,
                    row.budget_id,
                    Decimal::ZERO,
                    amount,
                    Decimal::ZERO,
                )
                .await?
                {
                    return Err(budget_exceeded(amount));
                }
            }
            Change::Reject => {}
            Change::Disburse { method, voucher } => {
                // Spending what approval committed cannot overspend, but the constraint checks it anyway.
                if !store::change_budget(&mut tx, row.budget_id, Decimal::ZERO, -amount, amount)
                    .await?
                {
                    return Err(budget_exceeded(amount));
                }
                row.payment_method = method;
                row.voucher_number = Some(voucher);
            }
        }
        row.state = model::state_to_db(next).to_owned();
        let updated = store::update_request(&mut tx, &row).await?;
        store::insert_event(
            &mut tx,
            row.id,
            step.action(),
            principal.id,
            common.occurred_at,
            &comment,
            Some(amount),
        )
        .await?;
        let response = requests_to_proto(
            &mut tx,
            &Reader::of(principal),
            std::slice::from_ref(&updated),
        )
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("request vanished")))?;
        idempotency::save(&mut tx, &key, &response).await?;
        tx.commit().await?;
        tracing::info!(fund_request = %row.id, action = step.action(), "fund request changed");
        Ok(response)
    }
}

fn budget_exceeded(amount: Decimal) -> AppError {
    AppError::precondition(
        "BUDGET_EXCEEDED",
        format!(
            "{} does not fit in what is left of the budget",
            money::format(amount)
        ),
    )
}

fn optional_comment(v: &mut Violations, value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some(String::new());
    }
    v.check(validate::required_multiline("comment", value, 2000))
}

#[tonic::async_trait]
impl FundService for FundApi {
    async fn create_budget(
        &self,
        request: Request<CreateBudgetRequest>,
    ) -> Result<Response<Budget>, Status> {
        let principal = auth::principal(&request)?;
        principal.require(&[Role::Admin, Role::CountyClerk], "record budget documents")?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", &req.request_id));
        let year = v.check(year("year", req.year));
        let category = v.check(validate::dictionary_code("category", &req.category));
        let document = v.check(validate::required_text("document", &req.document, 100));
        let amount = v.check(model::signed_amount("amount", &req.amount));
        let from = if req.from_category.is_empty() {
            Some(None)
        } else {
            v.check(validate::dictionary_code(
                "from_category",
                &req.from_category,
            ))
            .map(Some)
        };
        if let (Some(Some(from)), Some(to)) = (&from, &category)
            && from == to
        {
            v.add(
                "from_category",
                "a reallocation moves money between two categories",
            );
        }
        if matches!(from, Some(Some(_))) && amount.is_some_and(|a| a.is_sign_negative()) {
            v.add("amount", "a reallocation moves a positive amount");
        }
        let occurred_at =
            clock(principal).occurred(&mut v, "occurred_at", req.occurred_at.as_ref());
        let (request_id, year, category, document, amount, from, occurred_at) = v
            .finish(|| {
                Some((
                    request_id?,
                    year?,
                    category?,
                    document?,
                    amount?,
                    from?,
                    occurred_at?,
                ))
            })
            .map_err(AppError::from)?;
        let key = idempotency::Key::new(principal.id, "CreateBudget", request_id, req);

        let mut tx = self.pool.begin().await.map_err(AppError::from)?;
        if let Some(first) = idempotency::claim::<Budget>(&mut tx, &key).await? {
            return Ok(Response::new(first));
        }
        let mut unknown = Violations::new();
        if store::category_name(&mut tx, &category)
            .await
            .map_err(AppError::from)?
            .is_none()
        {
            unknown.add("category", "not in the fund category dictionary");
        }
        if let Some(from) = &from
            && store::category_name(&mut tx, from)
                .await
                .map_err(AppError::from)?
                .is_none()
        {
            unknown.add("from_category", "not in the fund category dictionary");
        }
        if !unknown.is_empty() {
            return Err(AppError::from(unknown).into());
        }
        let budget = store::ensure_budget(&mut tx, year, &category)
            .await
            .map_err(AppError::from)?;
        let record = |budget_id, amount, counterpart| store::NewAppropriation {
            budget_id,
            document: &document,
            amount,
            counterpart_category: counterpart,
            occurred_at,
            recorded_by: principal.id,
        };
        if let Some(from) = &from {
            let source = store::budget_id(&mut tx, year, from)
                .await
                .map_err(AppError::from)?
                .ok_or_else(|| {
                    AppError::precondition(
                        "NO_BUDGET",
                        format!("no {from} budget in {year} to move money from"),
                    )
                })?;
            if !store::insert_appropriation(
                &mut tx,
                &record(source, -amount, Some(category.as_str())),
            )
            .await
            .map_err(AppError::from)?
            {
                return Err(duplicate_document(&document).into());
            }
            if !store::change_budget(&mut tx, source, -amount, Decimal::ZERO, Decimal::ZERO)
                .await
                .map_err(AppError::from)?
            {
                return Err(below_use().into());
            }
        }
        if !store::insert_appropriation(&mut tx, &record(budget, amount, from.as_deref()))
            .await
            .map_err(AppError::from)?
        {
            return Err(duplicate_document(&document).into());
        }
        if !store::change_budget(&mut tx, budget, amount, Decimal::ZERO, Decimal::ZERO)
            .await
            .map_err(AppError::from)?
        {
            return Err(below_use().into());
        }
        let row = store::get_budget(&mut tx, budget)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("budget vanished")))?;
        let response = budgets_to_proto(&mut tx, std::slice::from_ref(&row))
            .await?
            .pop()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("budget vanished")))?;
        idempotency::save(&mut tx, &key, &response).await?;
        tx.commit().await.map_err(AppError::from)?;
        tracing::info!(year, category = %category, "budget document recorded");
        Ok(Response::new(response))
    }

    async fn list_budgets(
        &self,
        request: Request<ListBudgetsRequest>,
    ) -> Result<Response<ListBudgetsResponse>, Status> {
        let principal = auth::principal(&request)?;
        if !reads_all(principal.role) {
            return Err(AppError::PermissionDenied(
                "budgets are read by the bureau and leaders".into(),
            )
            .into());
        }
        let req = request.get_ref();
        let mut v = Violations::new();
        let year_filter = if req.year == 0 {
            Some(None)
        } else {
            v.check(year("year", req.year)).map(Some)
        };
        let page_size = v.check(validate::page_size("page_size", req.page_size));
        let filter_key = req.year.to_string();
        let after = v
            .check(paging::decode(&req.page_token, &filter_key))
            .map(|key| {
                key.and_then(|k| {
                    let (y, c) = k.split_once('|')?;
                    Some((y.parse::<i32>().ok()?, c.to_owned()))
                })
            });
        let (year_filter, page_size, after) = v
            .finish(|| Some((year_filter?, page_size?, after?)))
            .map_err(AppError::from)?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let mut rows = store::list_budgets(
            &mut conn,
            year_filter,
            after.as_ref().map(|(y, c)| (*y, c.as_str())),
            i64::from(page_size) + 1,
        )
        .await
        .map_err(AppError::from)?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filter_key, |r| {
            format!("{}|{}", r.year, r.category)
        });
        Ok(Response::new(ListBudgetsResponse {
            budgets: budgets_to_proto(&mut conn, &rows).await?,
            next_page_token,
        }))
    }

    async fn submit_fund_request(
        &self,
        request: Request<SubmitFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        let principal = auth::principal(&request)?;
        principal.require(
            &[Role::Admin, Role::CountyClerk, Role::TownshipClerk],
            "submit fund requests",
        )?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", &req.request_id));
        let year = v.check(year("year", req.year));
        let category = v.check(validate::dictionary_code("category", &req.category));
        let purpose = v.check(validate::required_enum::<FundPurpose>(
            "purpose",
            req.purpose,
        ));
        let unit = if req.unit_code.is_empty() {
            Some(principal.org_code.clone())
        } else {
            v.check(validate::org_code("unit_code", &req.unit_code))
        };
        if principal.role == Role::TownshipClerk
            && unit.as_ref().is_some_and(|u| *u != principal.org_code)
        {
            v.add("unit_code", "a township clerk submits for its own unit");
        }
        let description = v.check(validate::required_multiline(
            "description",
            &req.description,
            2000,
        ));
        let amount = v.check(money::positive_amount("amount", &req.amount));
        let payee = v.check(validate::required_text("payee", &req.payee, 100));
        let case_id = optional_uuid(&mut v, "case_id", &req.case_id);
        let petitioner_id = optional_uuid(&mut v, "petitioner_id", &req.petitioner_id);
        let trip_id = optional_uuid(&mut v, "trip_id", &req.trip_id);
        if let Some(p) = purpose {
            let (needs_case, needs_trip) = model::purpose_needs(p);
            if needs_case && matches!(case_id, Some(None)) {
                v.add(
                    "case_id",
                    "relief names the special difficult backlog matter",
                );
            }
            if needs_case && matches!(petitioner_id, Some(None)) {
                v.add("petitioner_id", "relief names the petitioner it is paid to");
            }
            if needs_trip && matches!(trip_id, Some(None)) {
                v.add("trip_id", "return-trip costs name the trip");
            }
        }
        if req.attachments.len() > 20 {
            v.add("attachments", "at most 20");
        }
        let mut attachments = Vec::new();
        for (i, a) in req.attachments.iter().enumerate() {
            let name = v.check(validate::required_text(
                &format!("attachments[{i}].name"),
                &a.name,
                200,
            ));
            let hash = v.check(model::sha256_hex(
                &format!("attachments[{i}].sha256"),
                &a.sha256,
            ));
            if let (Some(name), Some(hash)) = (name, hash) {
                attachments.push(serde_json::json!({ "name": name, "sha256": hash }));
            }
        }
        let occurred_at =
            clock(principal).occurred(&mut v, "occurred_at", req.occurred_at.as_ref());
        let parsed = v
            .finish(|| {
                Some((
                    request_id?,
                    year?,
                    category?,
                    purpose?,
                    unit?,
                    description?,
                    amount?,
                    payee?,
                    (case_id?, petitioner_id?, trip_id?),
                    occurred_at?,
                ))
            })
            .map_err(AppError::from)?;
        let (
            request_id,
            year,
            category,
            purpose,
            unit,
            description,
            amount,
            payee,
            links,
            occurred_at,
        ) = parsed;
        let (case_id, petitioner_id, trip_id) = links;
        let key = idempotency::Key::new(principal.id, "SubmitFundRequest", request_id, req);

        let mut tx = self.pool.begin().await.map_err(AppError::from)?;
        if let Some(first) = idempotency::claim::<FundRequest>(&mut tx, &key).await? {
            return Ok(Response::new(first));
        }
        match org_store::get(&mut tx, &unit)
            .await
            .map_err(AppError::from)?
        {
            Some(o) if o.kind != "county" => {}
            _ => {
                return Err(
                    AppError::invalid("unit_code", "no requesting unit has this code").into(),
                );
            }
        }
        if store::category_name(&mut tx, &category)
            .await
            .map_err(AppError::from)?
            .is_none()
        {
            return Err(
                AppError::invalid("category", "not in the fund category dictionary").into(),
            );
        }
        let budget_id = store::budget_id(&mut tx, year, &category)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| {
                AppError::precondition("NO_BUDGET", format!("no {category} budget in {year}"))
            })?;
        // The matter and the trip a request names are ones its submitter reads (a township clerk: the matters
        // assigned to its unit), refused like ones that do not exist; and an accusation's relief is never put
        // under the unit it accuses.
        let reader = Reader::of(principal);
        if let Some(case) = case_id {
            if !scope::store::reads(&mut tx, &reader, Kind::Matter, case)
                .await
                .map_err(AppError::from)?
            {
                return Err(
                    AppError::invalid("case_id", "no matter you may read has this id").into(),
                );
            }
            if crate::intake::store::accused_units(&mut tx, &[case])
                .await
                .map_err(AppError::from)?
                .contains(&unit)
            {
                return Err(AppError::precondition(
                    "ACCUSED_UNIT",
                    "a request about an accusation is not made for the unit it accuses",
                )
                .into());
            }
        }
        if let Some(trip) = trip_id
            && !scope::store::reads(&mut tx, &reader, Kind::Trip, trip)
                .await
                .map_err(AppError::from)?
        {
            return Err(
                AppError::invalid("trip_id", "no return trip you may read has this id").into(),
            );
        }
        if let (Some(case), Some(petitioner)) = (case_id, petitioner_id) {
            let (backlog, special, linked) = store::relief_facts(&mut tx, case, petitioner)
                .await
                .map_err(AppError::from)?
                .ok_or_else(|| AppError::invalid("case_id", "no matter has this id"))?;
            if purpose == FundPurpose::HardshipRelief && (backlog == 0 || !special) {
                return Err(AppError::precondition(
                    "RELIEF_NEEDS_SPECIAL_DIFFICULT_CASE",
                    "relief is paid for a matter listed as a special difficult backlog case",
                )
                .into());
            }
            if !linked {
                return Err(
                    AppError::invalid("petitioner_id", "not a petitioner of this matter").into(),
                );
            }
            if purpose == FundPurpose::HardshipRelief {
                let granted = store::relief_total(&mut tx, petitioner, year, None)
                    .await
                    .map_err(AppError::from)?;
                model::relief_within_cap(
                    granted,
                    amount,
                    self.config.relief_cap_per_year,
                    Reader::of(principal).reads_everything(),
                )?;
            }
        }
        let serial = numbers::next_serial(&mut tx, numbers::FUND_PREFIX, year)
            .await
            .map_err(AppError::from)?;
        let row = store::insert_request(
            &mut tx,
            &RequestRow {
                id: Uuid::now_v7(),
                number: numbers::registration_number(
                    numbers::FUND_PREFIX,
                    &self.config.county_code,
                    year,
                    serial,
                ),
                state: model::state_to_db(FundRequestState::Submitted).to_owned(),
                year,
                category,
                budget_id,
                purpose: purpose as i16,
                unit_code: unit,
                description,
                amount,
                approved_amount: None,
                payee,
                case_id,
                petitioner_id: if purpose == FundPurpose::HardshipRelief {
                    petitioner_id
                } else {
                    None
                },
                trip_id,
                attachments: serde_json::Value::Array(attachments),
                meeting_reference: None,
                meeting_date: None,
                decided_by: None,
                payment_method: 0,
                voucher_number: None,
                submitted_by: principal.id,
                submitted_at: occurred_at,
                version: 1,
            },
        )
        .await
        .map_err(AppError::from)?;
        store::insert_event(
            &mut tx,
            row.id,
            "submitted",
            principal.id,
            occurred_at,
            "",
            Some(amount),
        )
        .await
        .map_err(AppError::from)?;
        let response =
            requests_to_proto(&mut tx, &Reader::of(principal), std::slice::from_ref(&row))
                .await?
                .pop()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("request vanished")))?;
        idempotency::save(&mut tx, &key, &response).await?;
        tx.commit().await.map_err(AppError::from)?;
        tracing::info!(fund_request = %row.id, "fund request submitted");
        Ok(Response::new(response))
    }

    async fn record_bureau_decision(
        &self,
        request: Request<RecordBureauDecisionRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        fund_step_rpc!(self, request, "RecordBureauDecision", |v, req| {
            let adjusted = if req.adjusted_amount.is_empty() {
                Some(None)
            } else {
                v.check(money::positive_amount(
                    "adjusted_amount",
                    &req.adjusted_amount,
                ))
                .map(Some)
            };
            let reference = v.check(validate::required_text(
                "meeting_reference",
                &req.meeting_reference,
                100,
            ));
            let date = v.check(date_from_proto("meeting_date", req.meeting_date.as_ref()));
            let comment = optional_comment(&mut v, &req.comment);
            (|| {
                let change = Change::Decision {
                    approve: req.approve,
                    adjusted: adjusted?,
                    meeting_reference: reference?,
                    meeting_date: date?,
                };
                Some((change, comment?))
            })()
        })
    }

    async fn approve_fund_request(
        &self,
        request: Request<ApproveFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        fund_step_rpc!(self, request, "ApproveFundRequest", |v, req| {
            optional_comment(&mut v, &req.comment).map(|comment| (Change::Approve, comment))
        })
    }

    async fn reject_fund_request(
        &self,
        request: Request<RejectFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        fund_step_rpc!(self, request, "RejectFundRequest", |v, req| {
            v.check(validate::required_multiline("comment", &req.comment, 2000))
                .map(|comment| (Change::Reject, comment))
        })
    }

    async fn disburse_fund_request(
        &self,
        request: Request<DisburseFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        fund_step_rpc!(self, request, "DisburseFundRequest", |v, req| {
            let method = v.check(model::payment_method(req.method));
            let voucher = v.check(validate::required_text(
                "voucher_number",
                &req.voucher_number,
                100,
            ));
            let comment = optional_comment(&mut v, &req.comment);
            (|| {
                let change = Change::Disburse {
                    method: method? as i16,
                    voucher: voucher?,
                };
                Some((change, comment?))
            })()
        })
    }

    async fn get_fund_request(
        &self,
        request: Request<GetFundRequestRequest>,
    ) -> Result<Response<FundRequest>, Status> {
        let principal = auth::principal(&request)?;
        let id = xinfang_proto::input::uuid_field("id", &request.get_ref().id)
            .map_err(AppError::from)?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let row = store::get_request(&mut conn, id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::NotFound(format!("fund request {id}")))?;
        check_read(principal, &row)?;
        let response = requests_to_proto(
            &mut conn,
            &Reader::of(principal),
            std::slice::from_ref(&row),
        )
        .await?
        .pop()
        .ok_or_else(|| AppError::NotFound(format!("fund request {id}")))?;
        Ok(Response::new(response))
    }

    async fn list_fund_requests(
        &self,
        request: Request<ListFundRequestsRequest>,
    ) -> Result<Response<ListFundRequestsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check(validate::page_size("page_size", req.page_size));
        let state = v
            .check(validate::optional_enum::<FundRequestState>(
                "state", req.state,
            ))
            .flatten()
            .map(|s| model::state_to_db(s).to_owned());
        let unit = if req.unit_code.is_empty() {
            Some(None)
        } else {
            v.check(validate::org_code("unit_code", &req.unit_code))
                .map(Some)
        };
        let category = if req.category.is_empty() {
            Some(None)
        } else {
            v.check(validate::dictionary_code("category", &req.category))
                .map(Some)
        };
        let case_id = optional_uuid(&mut v, "case_id", &req.case_id);
        let year_filter = if req.year == 0 {
            Some(None)
        } else {
            v.check(year("year", req.year)).map(Some)
        };
        let bounds = match &req.period {
            Some(p) => v.check(time::period_bounds("period", p)).map(Some),
            None => Some(None),
        };
        let filter_key = format!(
            "{state:?}|{}|{}|{}|{}|{:?}",
            req.unit_code, req.category, req.case_id, req.year, req.period
        );
        let after = match v.check(paging::decode(&req.page_token, &filter_key)) {
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
        let (page_size, unit, category, case_id, year_filter, bounds, after) = v
            .finish(|| {
                Some((
                    page_size?,
                    unit?,
                    category?,
                    case_id?,
                    year_filter?,
                    bounds?,
                    after?,
                ))
            })
            .map_err(AppError::from)?;
        let mut filter = store::RequestFilter {
            state,
            unit: unit.clone(),
            category,
            case_id,
            year: year_filter,
            from: bounds.map(|b| b.0),
            until: bounds.map(|b| b.1),
            after,
        };
        if !reads_all(principal.role) {
            if principal.role != Role::TownshipClerk {
                return Err(AppError::PermissionDenied("outside the caller's scope".into()).into());
            }
            if unit.is_some_and(|u| u != principal.org_code) {
                return Ok(Response::new(ListFundRequestsResponse::default()));
            }
            filter.unit = Some(principal.org_code.clone());
        }
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let mut rows = store::list_requests(&mut conn, &filter, i64::from(page_size) + 1)
            .await
            .map_err(AppError::from)?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filter_key, |r| {
            paging::time_key(r.submitted_at, r.id)
        });
        Ok(Response::new(ListFundRequestsResponse {
            fund_requests: requests_to_proto(&mut conn, &Reader::of(principal), &rows).await?,
            next_page_token,
        }))
    }
}

fn duplicate_document(document: &str) -> AppError {
    AppError::AlreadyExists(format!(
        "document {document} is recorded for this budget already"
    ))
}

fn below_use() -> AppError {
    AppError::precondition(
        "BUDGET_BELOW_USE",
        "the budget would fall below what is committed and paid from it",
    )
}
