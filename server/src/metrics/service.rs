//! `xinfang.v1.MetricsService`: the tonic adapter (docs/architecture.md). Each method turns its request
//! into a command's input, runs the command — a write in a transaction of its own, once per request id; a
//! read on a connection of the read pool, a replica when one is configured — and its output into the
//! response.

use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use xinfang_proto::{
    money,
    v1::{
        BudgetExecution, CapFormula, ChannelStatistics, GenerateSelfEvaluationReportRequest,
        GetBudgetExecutionRequest, GetChannelStatisticsRequest, GetIndicatorsRequest,
        GetTargetCompletionRequest, GetTwoDownTwoUpRequest, GetVisitStatisticsRequest,
        IndicatorValue, Indicators, ListTargetsRequest, ListTargetsResponse, Rate, RateComparison,
        SelfEvaluationReport, SetTargetRequest, SetTwoDownTwoUpRequest, Target, TargetCompletion,
        TargetDirection, TrendDirection, TrendResult, TwoDownTwoUp, VisitGrouping, VisitStatistics,
        indicator_value, metrics_service_server::MetricsService,
    },
    validate::{self, FieldViolation, Violations},
};

use super::{
    commands::{
        self, Asks, Ctx, Ids, IndicatorQuery, IndicatorSet, StatisticsQuery, TargetRow,
        TrendGoalRow,
    },
    indicators::{self, Indicator},
    model::{self, TrendValue},
    period::Span,
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
    let (request_id, row) = target_input(req)?;
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
    let (request_id, year, goals) = two_down_two_up_input(req)?;
    let key = idempotency::Key::new(p.id, "SetTwoDownTwoUp", request_id, req);
    if let Some(first) = idempotency::claim(tx, &key).await? {
        return Ok(first);
    }
    let saved = commands::set_two_down_two_up(ctx, p, (year, &goals), tx).await?;
    idempotency::save(tx, &key, &saved).await?;
    Ok(saved)
}

fn year_field(value: i32) -> Result<i32, FieldViolation> {
    if (1990..=2200).contains(&value) {
        Ok(value)
    } else {
        Err(FieldViolation::new("year", "a year between 1990 and 2200"))
    }
}

/// A request's `year`.
fn year(value: i32) -> Result<i32, AppError> {
    Ok(year_field(value)?)
}

/// An optional `org_code`: empty for the county.
fn org_field(value: &str) -> Result<Option<String>, FieldViolation> {
    if value.is_empty() {
        Ok(None)
    } else {
        validate::org_code("org_code", value).map(Some)
    }
}

fn indicator_query(req: &GetIndicatorsRequest) -> Result<IndicatorQuery, AppError> {
    Ok(IndicatorQuery {
        org: org_field(&req.org_code)?,
        span: Span::parse("period", req.period.as_ref())?,
        asks: Asks {
            pending: req.include_pending,
            basically_satisfied: req.basically_satisfied_counts,
        },
        include_ids: req.include_ids,
    })
}

fn statistics_query(
    org_code: &str,
    period: Option<&xinfang_proto::v1::Period>,
    group_by: i32,
) -> Result<StatisticsQuery, AppError> {
    let org = org_field(org_code)?;
    let span = Span::parse("period", period)?;
    let group_by =
        validate::optional_enum::<VisitGrouping>("group_by", group_by)?.unwrap_or_default();
    // Month groups are keyed by the month of the year ("03"): a longer period would add up different
    // years' months under one key.
    if group_by == VisitGrouping::Month && span.months() > 12 {
        return Err(AppError::invalid(
            "group_by",
            "by month covers a period of at most 12 months; ask for each year",
        ));
    }
    Ok(StatisticsQuery {
        span,
        org,
        group_by,
    })
}

/// A target as SetTarget may save it: an indicator of the table a target may name, a value that is never
/// negative (a rate's a percentage), a weight of 0–100 (docs/indicators.md, "Targets").
fn target_input(req: &SetTargetRequest) -> Result<(Uuid, TargetRow), AppError> {
    let mut v = Violations::new();
    let request_id = v.check(validate::request_id("request_id", &req.request_id));
    let Some(t) = &req.target else {
        return Err(AppError::invalid("target", "required"));
    };
    let year =
        v.check(year_field(t.year).map_err(|f| FieldViolation::new("target.year", f.description)));
    let indicator = if indicators::target(&t.indicator).is_some() {
        Some(t.indicator.clone())
    } else {
        v.add(
            "target.indicator",
            format!("one of {}", indicators::target_keys().join(", ")),
        );
        None
    };
    let direction = v.check(validate::required_enum::<TargetDirection>(
        "target.direction",
        t.direction,
    ));
    // Never negative (money::amount refuses a sign); a rate is a percentage.
    let value = v
        .check(money::amount("target.value", &t.value))
        .and_then(|value| {
            let rate = indicators::target(&t.indicator).is_some_and(|(_, row)| row.is_rate());
            if rate && value > Decimal::ONE_HUNDRED {
                v.add("target.value", "a rate target is a percentage, 0 to 100");
                None
            } else {
                Some(value)
            }
        });
    let weight = if t.weight.is_empty() {
        Some(None)
    } else {
        v.check(money::amount("target.weight", &t.weight)).and_then(
            |w| match model::weight_refusal(w, Decimal::ZERO) {
                Some(why) => {
                    v.add("target.weight", why);
                    None
                }
                None => Some(Some(w)),
            },
        )
    };
    let formula = match CapFormula::try_from(t.cap_formula) {
        Ok(CapFormula::Unspecified) => Some(CapFormula::Ratio),
        Ok(f) => Some(f),
        Err(_) => {
            v.add(
                "target.cap_formula",
                format!("unknown value {}", t.cap_formula),
            );
            None
        }
    };
    let name = if t.name.trim().is_empty() {
        Some(t.indicator.clone())
    } else {
        v.check(validate::required_text("target.name", &t.name, 100))
    };
    Ok(v.finish(|| {
        Some((
            request_id?,
            TargetRow {
                year: year?,
                indicator: indicator?,
                direction: direction? as i16,
                value: value?,
                weight: weight?,
                cap_formula: formula? as i16,
                name: name?,
            },
        ))
    })?)
}

/// A year's 两降两升 as SetTwoDownTwoUp may save it: four different indicators the table lets 两降两升 name,
/// two DOWN and two UP, each with the name the report prints (by default the indicator's own).
fn two_down_two_up_input(
    req: &SetTwoDownTwoUpRequest,
) -> Result<(Uuid, i32, Vec<TrendGoalRow>), AppError> {
    let mut v = Violations::new();
    let request_id = v.check(validate::request_id("request_id", &req.request_id));
    let year = v.check(year_field(req.year));
    let mut goals = Vec::new();
    for (i, g) in req.goals.iter().enumerate() {
        let direction = match TrendDirection::try_from(g.direction) {
            Ok(d) => d,
            Err(_) => {
                v.add(
                    format!("goals[{i}].direction"),
                    format!("unknown value {}", g.direction),
                );
                TrendDirection::Unspecified
            }
        };
        let name = if g.name.trim().is_empty() {
            indicators::trend_indicator(&g.indicator)
                .map(|(name, _)| name.to_owned())
                .unwrap_or_default()
        } else {
            v.check(validate::required_text(
                &format!("goals[{i}].name"),
                &g.name,
                100,
            ))
            .unwrap_or_default()
        };
        goals.push(TrendGoalRow {
            indicator: g.indicator.clone(),
            direction: direction as i16,
            name,
        });
    }
    let pairs: Vec<(&str, TrendDirection)> = req
        .goals
        .iter()
        .map(|g| {
            (
                g.indicator.as_str(),
                TrendDirection::try_from(g.direction).unwrap_or_default(),
            )
        })
        .collect();
    if let Err((field, why)) = model::two_down_two_up_refusal(&pairs) {
        v.add(field, why);
    }
    let (request_id, year) = v.finish(|| Some((request_id?, year?)))?;
    Ok((request_id, year, goals))
}

fn through_month_field(value: i32) -> Result<u32, AppError> {
    match value {
        0 => Ok(12),
        m @ 1..=12 => Ok(m as u32),
        _ => Err(AppError::invalid(
            "through_month",
            "1 to 12 (0: the whole year)",
        )),
    }
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
        let q = indicator_query(request.get_ref())?;
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
        let q = statistics_query(&req.org_code, req.period.as_ref(), req.group_by)?;
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
        let q = statistics_query(&req.org_code, req.period.as_ref(), 0)?;
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
        let year = year(request.get_ref().year)?;
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
        let year = year(req.year)?;
        let through = through_month_field(req.through_month)?;
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
        let year = year(request.get_ref().year)?;
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
        let year = year(request.get_ref().year)?;
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
        let year = year(request.get_ref().year)?;
        let ctx = Ctx::now();
        let mut conn = db::connection(&self.pool).await?;
        let goals = commands::get_two_down_two_up(&ctx, p, year, &mut conn).await?;
        Ok(Response::new(goals))
    }
}
