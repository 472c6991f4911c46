//! `xinfang.v1.MetricsService`: the tonic adapter (docs/architecture.md). Each method turns its request
//! into a command's input, runs the command — a write in a transaction of its own, once per request id; a
//! read on a connection of the read pool, a replica when one is configured — and its output into the
//! response.

use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use xinfang_proto::v1::{
    BudgetExecution, ChannelStatistics, GenerateSelfEvaluationReportRequest,
    GetBudgetExecutionRequest, GetChannelStatisticsRequest, GetIndicatorsRequest,
    GetTargetCompletionRequest, GetTwoDownTwoUpRequest, GetVisitStatisticsRequest, IndicatorValue,
    Indicators, ListTargetsRequest, ListTargetsResponse, Rate, RateComparison,
    SelfEvaluationReport, SetTargetRequest, SetTwoDownTwoUpRequest, Target, TargetCompletion,
    TrendResult, TwoDownTwoUp, VisitStatistics, indicator_value,
    metrics_service_server::MetricsService,
};

use super::{
    commands::{self, Ctx, Ids, IndicatorSet},
    indicators::Indicator,
    input,
    model::{self, TrendValue},
};
use crate::{auth, db, error::AppError, idempotency};

pub struct MetricsApi {
    pool: PgPool,
    /// The read-only RPCs' pool: a read replica when configured, else `pool`. A replica trails the primary by
    /// its replication lag, which yearly and monthly figures tolerate (README, "Decisions": a read replica).
    read: PgPool,
}

impl MetricsApi {
    pub fn new(pool: PgPool) -> Self {
        Self {
            read: pool.clone(),
            pool,
        }
    }

    pub fn with_read_pool(self, read: PgPool) -> Self {
        Self { read, ..self }
    }
}

/// `SetTarget` in the caller's transaction, once per request id: the adapter a tonic method runs in a
/// transaction of its own (docs/architecture.md).
pub(crate) async fn set_target(
    ctx: &Ctx,
    p: &auth::Principal,
    req: &SetTargetRequest,
    tx: &mut PgConnection,
) -> Result<Target, AppError> {
    let (request_id, row) = input::target_input(req)?;
    let key = idempotency::Key::new(p.id, "SetTarget", request_id, req);
    if let Some(first) = idempotency::claim(tx, &key).await? {
        return Ok(first);
    }
    let saved = commands::set_target(ctx, p, &row, tx).await?;
    idempotency::save(tx, &key, &saved).await?;
    Ok(saved)
}

/// `SetTwoDownTwoUp` in the caller's transaction, once per request id.
pub(crate) async fn set_two_down_two_up(
    ctx: &Ctx,
    p: &auth::Principal,
    req: &SetTwoDownTwoUpRequest,
    tx: &mut PgConnection,
) -> Result<TwoDownTwoUp, AppError> {
    let (request_id, year, goals) = input::two_down_two_up_input(req)?;
    let key = idempotency::Key::new(p.id, "SetTwoDownTwoUp", request_id, req);
    if let Some(first) = idempotency::claim(tx, &key).await? {
        return Ok(first);
    }
    let saved = commands::set_two_down_two_up(ctx, p, (year, &goals), tx).await?;
    idempotency::save(tx, &key, &saved).await?;
    Ok(saved)
}

/// A rate of another period beside this one's (numerator, denominator): 环比 or 同比.
fn comparison(now: (i64, i64), then: TrendValue) -> RateComparison {
    let TrendValue::Rate(n, d) = then else {
        return RateComparison::default();
    };
    RateComparison {
        numerator: n,
        denominator: d,
        percent: model::percent_text(n, d, 2),
        change_points: model::points_change(now, (n, d), 2)
            .map(|p| model::fixed(p, 2))
            .unwrap_or_default(),
    }
}

/// One indicator of the table as the API writes it.
fn indicator_value(
    row: &Indicator,
    (now, previous_period, previous_year): (TrendValue, TrendValue, TrendValue),
    ids: Option<&Ids>,
) -> IndicatorValue {
    let value = match now {
        TrendValue::Count(n) => {
            let count = |v: TrendValue| match v {
                TrendValue::Count(n) => n,
                TrendValue::Rate(..) => 0,
            };
            indicator_value::Value::Figure(model::figure(
                n,
                count(previous_year),
                count(previous_period),
            ))
        }
        TrendValue::Rate(n, d) => {
            let text = |ids: &[Uuid]| ids.iter().map(Uuid::to_string).collect();
            indicator_value::Value::Rate(Rate {
                numerator: n,
                denominator: d,
                percent: model::percent_text(n, d, 2),
                numerator_case_ids: ids.map(|i| text(&i.numerator)).unwrap_or_default(),
                other_case_ids: ids.map(|i| text(&i.other)).unwrap_or_default(),
                previous_period: Some(comparison((n, d), previous_period)),
                previous_year: Some(comparison((n, d), previous_year)),
            })
        }
    };
    IndicatorValue {
        key: row.key.to_owned(),
        name: row.name.to_owned(),
        better: row.better as i32,
        value: Some(value),
    }
}

/// `Indicators` of a set: every row of the table in `values`, and the named fields that clients predating
/// `values` read. No new indicator gets a named field.
fn indicators_to_proto(set: IndicatorSet) -> Indicators {
    let mut out = Indicators {
        period: Some(set.span.to_proto()),
        org_code: set.org.clone().unwrap_or_default(),
        previous_period: Some(set.span.previous_period().to_proto()),
        two_down_two_up: set
            .trends
            .iter()
            .map(|t| TrendResult {
                goal: Some(t.goal.clone()),
                value: t.value_text(),
                previous: t.previous_text(),
                change: t.change_text(),
                met: t.met,
                undetermined: t.undetermined,
            })
            .collect(),
        ..Indicators::default()
    };
    for (i, (row, now, previous_period, previous_year)) in set.rows().enumerate() {
        let value = indicator_value(
            row,
            (now, previous_period, previous_year),
            set.ids[i].as_ref(),
        );
        let rate = || match &value.value {
            Some(indicator_value::Value::Rate(r)) => Some(r.clone()),
            _ => None,
        };
        let count = match now {
            TrendValue::Count(n) => n,
            TrendValue::Rate(..) => 0,
        };
        match row.key {
            "timely_acceptance_office" => out.timely_acceptance_office = rate(),
            "timely_acceptance_unit" => out.timely_acceptance_unit = rate(),
            "on_time_completion" => out.on_time_completion = rate(),
            "participation_office" => out.participation_office = rate(),
            "satisfaction_office" => out.satisfaction_office = rate(),
            "participation_unit" => out.participation_unit = rate(),
            "satisfaction_unit" => out.satisfaction_unit = rate(),
            "backlog_resolution" => out.backlog_resolution = rate(),
            "repeat_rate" => out.repeat_rate = rate(),
            "online_share" => out.online_share = rate(),
            "special_difficult_resolved" => out.special_difficult_resolved = count,
            "matters_accepted" => out.matters_accepted = count,
            "evaluations" => out.evaluations = count,
            "evaluations_lapsed" => out.evaluations_lapsed = count,
            _ => {}
        }
        out.values.push(value);
    }
    out
}

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn get_indicators(
        &self,
        request: Request<GetIndicatorsRequest>,
    ) -> Result<Response<Indicators>, Status> {
        let p = auth::principal(&request)?;
        let q = input::indicator_query(request.get_ref())?;
        let ctx = Ctx::now();
        let mut conn = db::connection(&self.read).await?;
        let set = commands::indicators(&ctx, p, &q, &mut conn).await?;
        Ok(Response::new(indicators_to_proto(set)))
    }

    async fn get_visit_statistics(
        &self,
        request: Request<GetVisitStatisticsRequest>,
    ) -> Result<Response<VisitStatistics>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let q = input::statistics_query(&req.org_code, req.period.as_ref(), req.group_by)?;
        let ctx = Ctx::now();
        let mut conn = db::connection(&self.read).await?;
        let stats = commands::visit_statistics(&ctx, p, &q, &mut conn).await?;
        Ok(Response::new(stats))
    }

    async fn get_channel_statistics(
        &self,
        request: Request<GetChannelStatisticsRequest>,
    ) -> Result<Response<ChannelStatistics>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let q = input::statistics_query(&req.org_code, req.period.as_ref(), 0)?;
        let ctx = Ctx::now();
        let mut conn = db::connection(&self.read).await?;
        let stats = commands::channel_statistics(&ctx, p, &q, &mut conn).await?;
        Ok(Response::new(stats))
    }

    async fn set_target(
        &self,
        request: Request<SetTargetRequest>,
    ) -> Result<Response<Target>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let ctx = &Ctx::now();
        let saved = db::transaction(&self.pool, |mut tx| async move {
            let saved = set_target(ctx, p, req, &mut tx).await?;
            Ok((saved, tx))
        })
        .await?;
        Ok(Response::new(saved))
    }

    async fn list_targets(
        &self,
        request: Request<ListTargetsRequest>,
    ) -> Result<Response<ListTargetsResponse>, Status> {
        let p = auth::principal(&request)?;
        let year = input::year(request.get_ref().year)?;
        let ctx = Ctx::now();
        let mut conn = db::connection(&self.pool).await?;
        let targets = commands::list_targets(&ctx, p, year, &mut conn).await?;
        Ok(Response::new(ListTargetsResponse { targets }))
    }

    async fn get_target_completion(
        &self,
        request: Request<GetTargetCompletionRequest>,
    ) -> Result<Response<TargetCompletion>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let year = input::year(req.year)?;
        let through = input::through_month_field(req.through_month)?;
        let ctx = Ctx::now();
        let mut conn = db::connection(&self.read).await?;
        let done = commands::target_completion(&ctx, p, (year, through), &mut conn).await?;
        Ok(Response::new(done))
    }

    async fn get_budget_execution(
        &self,
        request: Request<GetBudgetExecutionRequest>,
    ) -> Result<Response<BudgetExecution>, Status> {
        let p = auth::principal(&request)?;
        let year = input::year(request.get_ref().year)?;
        let ctx = Ctx::now();
        let mut conn = db::connection(&self.read).await?;
        let budget = commands::budget_execution(&ctx, p, year, &mut conn).await?;
        Ok(Response::new(budget))
    }

    async fn generate_self_evaluation_report(
        &self,
        request: Request<GenerateSelfEvaluationReportRequest>,
    ) -> Result<Response<SelfEvaluationReport>, Status> {
        let p = auth::principal(&request)?;
        let year = input::year(request.get_ref().year)?;
        let ctx = Ctx::now();
        let mut conn = db::connection(&self.read).await?;
        let report = commands::self_evaluation_report(&ctx, p, year, &mut conn).await?;
        Ok(Response::new(report))
    }

    async fn set_two_down_two_up(
        &self,
        request: Request<SetTwoDownTwoUpRequest>,
    ) -> Result<Response<TwoDownTwoUp>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let ctx = &Ctx::now();
        let saved = db::transaction(&self.pool, |mut tx| async move {
            let saved = set_two_down_two_up(ctx, p, req, &mut tx).await?;
            Ok((saved, tx))
        })
        .await?;
        Ok(Response::new(saved))
    }

    async fn get_two_down_two_up(
        &self,
        request: Request<GetTwoDownTwoUpRequest>,
    ) -> Result<Response<TwoDownTwoUp>, Status> {
        let p = auth::principal(&request)?;
        let year = input::year(request.get_ref().year)?;
        let ctx = Ctx::now();
        let mut conn = db::connection(&self.pool).await?;
        let goals = commands::get_two_down_two_up(&ctx, p, year, &mut conn).await?;
        Ok(Response::new(goals))
    }
}
