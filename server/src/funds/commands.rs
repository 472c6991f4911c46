//! The special fund's commands: one function per mutation and query of `FundService`, run in the caller's
//! transaction (docs/architecture.md).
//!
//! Which role calls which method is decided before any of this runs, by the role table of the auth layer
//! (docs/access.md). What is decided here is what the table cannot know: scope (a township clerk submits and
//! reads its own unit's requests, naming only cases and trips it reads) and the separation of duties between
//! the bureau meeting and the leader's approval.

use std::collections::HashMap;

use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_proto::{
    money,
    v1::{FundPurpose, FundRequestState},
    validate::Violations,
};

use super::{
    input::{BudgetQuery, Decision, NewBudget, NewRequest, Payment, RequestQuery, StepInput},
    model::{self, Step},
    store::{self, AppropriationRow, BudgetRow, EventRow, RequestRow},
};
use crate::{
    auth::Principal,
    error::AppError,
    intake::store as intake_store,
    kernel::numbers::{self, FUND_PREFIX},
    org::store as org_store,
    scope::{self, Kind, Reader},
};

/// Fund settings: the context of every command.
#[derive(Debug, Clone)]
pub struct FundConfig {
    pub county_code: String,
    /// Relief to one petitioner in one year, at most.
    pub relief_cap_per_year: Decimal,
}

/// A budget with its entries.
pub struct BudgetView {
    pub budget: BudgetRow,
    pub appropriations: Vec<AppropriationRow>,
}

/// A request with its events, as its reader sees it: the case, petitioner and trip it names are left out
/// unless the reader reads that case or trip (docs/access.md).
pub struct RequestView {
    pub request: RequestRow,
    pub events: Vec<EventRow>,
}

/// `CreateBudget`: one entry of an approval document, or a reallocation (a pair of entries under one
/// document). The sums change in single statements that the `budgets_not_overspent` constraint guards.
pub async fn create_budget(
    _ctx: &FundConfig,
    p: &Principal,
    new: &NewBudget,
    tx: &mut PgConnection,
) -> Result<BudgetView, AppError> {
    let mut unknown = Violations::new();
    if store::category_name(tx, &new.category).await?.is_none() {
        unknown.add("category", "not in the fund category dictionary");
    }
    if let Some(from) = &new.from
        && store::category_name(tx, from).await?.is_none()
    {
        unknown.add("from_category", "not in the fund category dictionary");
    }
    if !unknown.is_empty() {
        return Err(unknown.into());
    }
    let budget = store::ensure_budget(tx, new.year, &new.category).await?;
    let record = |budget_id, amount, counterpart| store::NewAppropriation {
        budget_id,
        document: &new.document,
        amount,
        counterpart_category: counterpart,
        occurred_at: new.occurred_at,
        recorded_by: p.id,
    };
    if let Some(from) = &new.from {
        let source = store::budget_id(tx, new.year, from).await?.ok_or_else(|| {
            AppError::precondition(
                "NO_BUDGET",
                format!("no {from} budget in {} to move money from", new.year),
            )
        })?;
        let entry = record(source, -new.amount, Some(new.category.as_str()));
        if !store::insert_appropriation(tx, &entry).await? {
            return Err(duplicate_document(&new.document));
        }
        if !store::change_budget(tx, source, -new.amount, Decimal::ZERO, Decimal::ZERO).await? {
            return Err(below_use());
        }
    }
    if !store::insert_appropriation(tx, &record(budget, new.amount, new.from.as_deref())).await? {
        return Err(duplicate_document(&new.document));
    }
    if !store::change_budget(tx, budget, new.amount, Decimal::ZERO, Decimal::ZERO).await? {
        return Err(below_use());
    }
    let row = store::get_budget(tx, budget)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("budget vanished")))?;
    tracing::info!(year = new.year, category = %new.category, "budget document recorded");
    one(budget_views(tx, vec![row]).await?, "budget vanished")
}

/// `ListBudgets`: at most `limit` budgets after `q.after`.
pub async fn list_budgets(
    _ctx: &FundConfig,
    _p: &Principal,
    q: &BudgetQuery,
    limit: i64,
    tx: &mut PgConnection,
) -> Result<Vec<BudgetView>, AppError> {
    let after = q.after.as_ref().map(|(y, c)| (*y, c.as_str()));
    let rows = store::list_budgets(tx, q.year, after, limit).await?;
    budget_views(tx, rows).await
}

/// `SubmitFundRequest`: a request of the caller's unit (a township clerk's own; the county office's for any
/// requesting unit), about cases and trips the caller reads.
pub async fn submit(
    ctx: &FundConfig,
    p: &Principal,
    new: &NewRequest,
    tx: &mut PgConnection,
) -> Result<RequestView, AppError> {
    let reader = Reader::of(p);
    let unit = new.unit.clone().unwrap_or_else(|| p.org_code.clone());
    if let Reader::Unit(own) = &reader
        && unit != *own
    {
        return Err(AppError::invalid(
            "unit_code",
            "a township clerk submits for its own unit",
        ));
    }
    match org_store::get(tx, &unit).await? {
        Some(o) if o.kind != "county" => {}
        _ => {
            return Err(AppError::invalid(
                "unit_code",
                "no requesting unit has this code",
            ));
        }
    }
    if store::category_name(tx, &new.category).await?.is_none() {
        return Err(AppError::invalid(
            "category",
            "not in the fund category dictionary",
        ));
    }
    let budget_id = store::budget_id(tx, new.year, &new.category)
        .await?
        .ok_or_else(|| {
            AppError::precondition(
                "NO_BUDGET",
                format!("no {} budget in {}", new.category, new.year),
            )
        })?;
    // The case and the trip a request names are ones its submitter reads, refused like ones that do not
    // exist; and an accusation's relief is never put under the unit it accuses.
    if let Some(case) = new.case_id {
        if !scope::store::reads(tx, &reader, Kind::Case, case).await? {
            return Err(AppError::invalid(
                "case_id",
                "no case you may read has this id",
            ));
        }
        if intake_store::accused_units(tx, &[case])
            .await?
            .contains(&unit)
        {
            return Err(AppError::precondition(
                "ACCUSED_UNIT",
                "a request about an accusation is not made for the unit it accuses",
            ));
        }
    }
    if let Some(trip) = new.trip_id
        && !scope::store::reads(tx, &reader, Kind::Trip, trip).await?
    {
        return Err(AppError::invalid(
            "trip_id",
            "no return trip you may read has this id",
        ));
    }
    let relief = new.purpose == FundPurpose::HardshipRelief;
    if let (Some(case), Some(petitioner)) = (new.case_id, new.petitioner_id) {
        let (backlog, special, linked) = store::relief_facts(tx, case, petitioner)
            .await?
            .ok_or_else(|| AppError::invalid("case_id", "no case has this id"))?;
        if relief && (backlog == 0 || !special) {
            return Err(AppError::precondition(
                "RELIEF_NEEDS_SPECIAL_DIFFICULT_CASE",
                "relief is paid for a case listed as a special difficult backlog case",
            ));
        }
        if !linked {
            return Err(AppError::invalid(
                "petitioner_id",
                "not a petitioner of this case",
            ));
        }
        if relief {
            let granted = store::relief_total(tx, petitioner, new.year, None).await?;
            model::relief_within_cap(
                granted,
                new.amount,
                ctx.relief_cap_per_year,
                reader.reads_everything(),
            )?;
        }
    }
    let serial = numbers::next_serial(tx, FUND_PREFIX, new.year).await?;
    let row = store::insert_request(
        tx,
        &RequestRow {
            id: Uuid::now_v7(),
            number: numbers::registration_number(FUND_PREFIX, &ctx.county_code, new.year, serial),
            state: model::state_to_db(FundRequestState::Submitted).to_owned(),
            year: new.year,
            category: new.category.clone(),
            budget_id,
            purpose: new.purpose as i16,
            unit_code: unit,
            description: new.description.clone(),
            amount: new.amount,
            approved_amount: None,
            payee: new.payee.clone(),
            case_id: new.case_id,
            petitioner_id: if relief { new.petitioner_id } else { None },
            trip_id: new.trip_id,
            attachments: new.attachments.clone(),
            meeting_reference: None,
            meeting_date: None,
            decided_by: None,
            payment_method: 0,
            voucher_number: None,
            submitted_by: p.id,
            submitted_at: new.occurred_at,
            version: 1,
        },
    )
    .await?;
    store::insert_event(
        tx,
        row.id,
        "submitted",
        p.id,
        new.occurred_at,
        "",
        Some(new.amount),
    )
    .await?;
    tracing::info!(fund_request = %row.id, "fund request submitted");
    one(
        request_views(tx, &reader, vec![row]).await?,
        "request vanished",
    )
}

/// `RecordBureauDecision`: the bureau meeting approves the plan, perhaps for less, or refuses it.
pub async fn record_bureau_decision(
    ctx: &FundConfig,
    p: &Principal,
    input: &StepInput<Decision>,
    tx: &mut PgConnection,
) -> Result<RequestView, AppError> {
    let step = Step::BureauDecision {
        approve: input.change.approve,
    };
    take_step(ctx, p, input, step, Effect::Decision(&input.change), tx).await
}

/// `ApproveFundRequest`: the leader approves; the approved amount is committed from the budget.
pub async fn approve(
    ctx: &FundConfig,
    p: &Principal,
    input: &StepInput<()>,
    tx: &mut PgConnection,
) -> Result<RequestView, AppError> {
    take_step(ctx, p, input, Step::Approve, Effect::Commit, tx).await
}

/// `RejectFundRequest`: the leader refuses the plan.
pub async fn reject(
    ctx: &FundConfig,
    p: &Principal,
    input: &StepInput<()>,
    tx: &mut PgConnection,
) -> Result<RequestView, AppError> {
    take_step(ctx, p, input, Step::Reject, Effect::None, tx).await
}

/// `DisburseFundRequest`: the payment spends what approval committed.
pub async fn disburse(
    ctx: &FundConfig,
    p: &Principal,
    input: &StepInput<Payment>,
    tx: &mut PgConnection,
) -> Result<RequestView, AppError> {
    take_step(
        ctx,
        p,
        input,
        Step::Disburse,
        Effect::Pay(&input.change),
        tx,
    )
    .await
}

/// `GetFundRequest`.
pub async fn get_request(
    _ctx: &FundConfig,
    p: &Principal,
    id: Uuid,
    tx: &mut PgConnection,
) -> Result<RequestView, AppError> {
    let row = store::get_request(tx, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("fund request {id}")))?;
    let reader = Reader::of(p);
    if !reads_unit(&reader, &row.unit_code) {
        return Err(outside_scope());
    }
    one(
        request_views(tx, &reader, vec![row]).await?,
        "request vanished",
    )
}

/// `ListFundRequests`: at most `limit` requests of the query that the caller reads, newest first.
pub async fn list_requests(
    _ctx: &FundConfig,
    p: &Principal,
    q: &RequestQuery,
    limit: i64,
    tx: &mut PgConnection,
) -> Result<Vec<RequestView>, AppError> {
    let reader = Reader::of(p);
    let mut filter = store::RequestFilter {
        state: q.state.clone(),
        unit: q.unit.clone(),
        category: q.category.clone(),
        case_id: q.case_id,
        year: q.year,
        from: q.period.map(|b| b.0),
        until: q.period.map(|b| b.1),
        after: q.after,
    };
    match &reader {
        Reader::County => {}
        Reader::Unit(own) => {
            if q.unit.as_ref().is_some_and(|u| u != own) {
                return Ok(Vec::new());
            }
            filter.unit = Some(own.clone());
        }
        Reader::Officer(_) | Reader::Agency(_) => return Err(outside_scope()),
    }
    let rows = store::list_requests(tx, &filter, limit).await?;
    request_views(tx, &reader, rows).await
}

/// Which fund requests a reader reads: the county all, a township or department its own unit's, nobody else
/// any (docs/access.md).
fn reads_unit(reader: &Reader, unit_code: &str) -> bool {
    match reader {
        Reader::County => true,
        Reader::Unit(own) => own == unit_code,
        Reader::Officer(_) | Reader::Agency(_) => false,
    }
}

fn outside_scope() -> AppError {
    AppError::PermissionDenied("outside the caller's scope".into())
}

/// What a step changes besides the state.
enum Effect<'a> {
    Decision(&'a Decision),
    /// Approval commits the approved amount from the budget.
    Commit,
    None,
    Pay(&'a Payment),
}

/// One step of a request's chain, with its budget effect and its event.
async fn take_step<C>(
    ctx: &FundConfig,
    p: &Principal,
    input: &StepInput<C>,
    step: Step,
    effect: Effect<'_>,
    tx: &mut PgConnection,
) -> Result<RequestView, AppError> {
    let id = input.fund_request_id;
    let mut row = store::lock_request(tx, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("fund request {id}")))?;
    model::segregation_of_duties(p.id, step, row.decided_by)?;
    if let Some(etag) = &input.etag
        && *etag != row.version.to_string()
    {
        return Err(AppError::Aborted(format!(
            "the request changed since it was read (etag {etag}, now {}); read it again",
            row.version
        )));
    }
    let next = model::transition(model::state_from_db(&row.state), step)?;
    let mut amount = row.approved_amount.unwrap_or(row.amount);
    match effect {
        Effect::Decision(decision) => {
            if let Some(adjusted) = decision.adjusted {
                if adjusted > row.amount {
                    return Err(AppError::invalid(
                        "adjusted_amount",
                        "the plan may lower the requested amount, not raise it",
                    ));
                }
                amount = adjusted;
            }
            row.approved_amount = Some(amount);
            row.meeting_reference = Some(decision.meeting_reference.clone());
            row.meeting_date = Some(decision.meeting_date);
            row.decided_by = Some(p.id);
        }
        Effect::Commit => {
            if let Some(petitioner) = row.petitioner_id {
                let granted = store::relief_total(tx, petitioner, row.year, Some(row.id)).await?;
                model::relief_within_cap(
                    granted,
                    amount,
                    ctx.relief_cap_per_year,
                    Reader::of(p).reads_everything(),
                )?;
            }
            if !store::change_budget(tx, row.budget_id, Decimal::ZERO, amount, Decimal::ZERO)
                .await?
            {
                return Err(budget_exceeded(amount));
            }
        }
        Effect::None => {}
        Effect::Pay(payment) => {
            // Spending what approval committed cannot overspend, but the constraint checks it anyway.
            if !store::change_budget(tx, row.budget_id, Decimal::ZERO, -amount, amount).await? {
                return Err(budget_exceeded(amount));
            }
            row.payment_method = payment.method;
            row.voucher_number = Some(payment.voucher.clone());
        }
    }
    row.state = model::state_to_db(next).to_owned();
    let updated = store::update_request(tx, &row).await?;
    store::insert_event(
        tx,
        row.id,
        step.action(),
        p.id,
        input.occurred_at,
        &input.comment,
        Some(amount),
    )
    .await?;
    tracing::info!(fund_request = %row.id, action = step.action(), "fund request changed");
    one(
        request_views(tx, &Reader::of(p), vec![updated]).await?,
        "request vanished",
    )
}

async fn budget_views(
    tx: &mut PgConnection,
    rows: Vec<BudgetRow>,
) -> Result<Vec<BudgetView>, AppError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut by_budget: HashMap<Uuid, Vec<AppropriationRow>> = HashMap::new();
    for a in store::appropriations(tx, &ids).await? {
        by_budget.entry(a.budget_id).or_default().push(a);
    }
    Ok(rows
        .into_iter()
        .map(|budget| BudgetView {
            appropriations: by_budget.remove(&budget.id).unwrap_or_default(),
            budget,
        })
        .collect())
}

/// Requests as `reader` sees them: the case, the petitioner of that case and the trip a request names
/// are shown only to a reader of that case or trip.
async fn request_views(
    tx: &mut PgConnection,
    reader: &Reader,
    rows: Vec<RequestRow>,
) -> Result<Vec<RequestView>, AppError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let cases: Vec<Uuid> = rows.iter().filter_map(|r| r.case_id).collect();
    let trips: Vec<Uuid> = rows.iter().filter_map(|r| r.trip_id).collect();
    let cases = scope::store::keep_readable(tx, reader, Kind::Case, cases).await?;
    let trips = scope::store::keep_readable(tx, reader, Kind::Trip, trips).await?;
    let mut by_request: HashMap<Uuid, Vec<EventRow>> = HashMap::new();
    for e in store::events(tx, &ids).await? {
        by_request.entry(e.fund_request_id).or_default().push(e);
    }
    Ok(rows
        .into_iter()
        .map(|mut request| {
            let events = by_request.remove(&request.id).unwrap_or_default();
            if request.case_id.is_some_and(|c| !cases.contains(&c)) {
                request.case_id = None;
                request.petitioner_id = None;
            }
            if request.trip_id.is_some_and(|t| !trips.contains(&t)) {
                request.trip_id = None;
            }
            RequestView { request, events }
        })
        .collect())
}

/// The one view a write or a single read produced.
fn one<T>(mut views: Vec<T>, what: &'static str) -> Result<T, AppError> {
    views
        .pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!(what)))
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
