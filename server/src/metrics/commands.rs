//! What each `MetricsService` RPC does, as a plain function of the caller, its validated input and a
//! connection (docs/architecture.md, "Layers of a domain module"): each decides who may read or set what,
//! then computes the answer with [`figures`], [`targets`], [`trends`], [`budget`] and [`report`].

use chrono::{NaiveDate, Utc};
use sqlx::PgConnection;
use xinfang_proto::v1::{
    BudgetExecution, ChannelStatistics, SelfEvaluationReport, Target, TargetCompletion,
    TwoDownTwoUp, VisitGrouping, VisitStatistics,
};

use super::{budget, figures, period::Span, report, store, targets, trends};
/// The inputs and outputs of the commands that are not messages of the API.
pub use super::{
    figures::{Asks, Ids, IndicatorQuery, IndicatorSet},
    store::{TargetRow, TrendGoalRow},
};
use crate::{
    auth::{Principal, Role},
    error::AppError,
    kernel::time::shanghai,
    scope::Reader,
};

/// What a command needs besides its caller, input and connection: the day it runs on, in the bureau's
/// calendar. An open clock is missed or still pending, and an evaluation window lapsed or not, as of this
/// day (docs/deadlines.md).
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub today: NaiveDate,
}

impl Ctx {
    pub fn now() -> Ctx {
        Ctx {
            today: Utc::now().with_timezone(&shanghai()).date_naive(),
        }
    }
}

/// The org scope a principal reads figures of: county roles and agency systems the county's (`None`) or
/// any unit's, a township clerk only its own unit's; field officers read no figures (docs/access.md).
pub fn readable_org(
    principal: &Principal,
    requested: Option<String>,
) -> Result<Option<String>, AppError> {
    match principal.role {
        Role::Admin | Role::CountyClerk | Role::Leader | Role::Auditor | Role::Agency => {
            Ok(requested)
        }
        Role::TownshipClerk => match requested {
            Some(code) if code == principal.org_code => Ok(Some(code)),
            _ => Err(AppError::PermissionDenied(
                "a township clerk reads its own unit's figures: set org_code".into(),
            )),
        },
        Role::FieldOfficer => Err(AppError::PermissionDenied(
            "field officers do not read indicators".into(),
        )),
    }
}

/// The county's figures: targets, the budget, the report, 两降两升.
fn county_wide(principal: &Principal) -> Result<(), AppError> {
    readable_org(principal, None).map(|_| ())
}

/// Targets and 两降两升 are the county office's to set.
fn sets_goals(principal: &Principal, action: &str) -> Result<(), AppError> {
    principal.require(&[Role::Admin, Role::CountyClerk], action)
}

/// `GetIndicators`: every indicator of the period for the scope asked, the drill-through ids as far as the
/// caller reads the cases.
pub async fn indicators(
    ctx: &Ctx,
    principal: &Principal,
    q: &IndicatorQuery,
    conn: &mut PgConnection,
) -> Result<IndicatorSet, AppError> {
    let q = IndicatorQuery {
        org: readable_org(principal, q.org.clone())?,
        ..q.clone()
    };
    figures::indicators(conn, &q, &Reader::of(principal), ctx.today).await
}

/// What the statistics RPCs ask for.
#[derive(Debug, Clone)]
pub struct StatisticsQuery {
    pub span: Span,
    pub org: Option<String>,
    pub group_by: VisitGrouping,
}

/// `GetVisitStatistics`.
pub async fn visit_statistics(
    _ctx: &Ctx,
    principal: &Principal,
    q: &StatisticsQuery,
    conn: &mut PgConnection,
) -> Result<VisitStatistics, AppError> {
    let org = readable_org(principal, q.org.clone())?;
    figures::visit_statistics(conn, q.span, org.as_deref(), q.group_by).await
}

/// `GetChannelStatistics`.
pub async fn channel_statistics(
    _ctx: &Ctx,
    principal: &Principal,
    q: &StatisticsQuery,
    conn: &mut PgConnection,
) -> Result<ChannelStatistics, AppError> {
    let org = readable_org(principal, q.org.clone())?;
    figures::channel_statistics(conn, q.span, org.as_deref()).await
}

/// `SetTarget`: the target as saved.
pub async fn set_target(
    _ctx: &Ctx,
    principal: &Principal,
    target: &TargetRow,
    conn: &mut PgConnection,
) -> Result<Target, AppError> {
    sets_goals(principal, "set targets")?;
    Ok(targets::to_proto(&targets::set(conn, target).await?))
}

/// `ListTargets`.
pub async fn list_targets(
    _ctx: &Ctx,
    principal: &Principal,
    year: i32,
    conn: &mut PgConnection,
) -> Result<Vec<Target>, AppError> {
    county_wide(principal)?;
    Ok(store::targets(conn, year)
        .await?
        .iter()
        .map(targets::to_proto)
        .collect())
}

/// `GetTargetCompletion`: the year's targets through a month (12: the whole year).
pub async fn target_completion(
    ctx: &Ctx,
    principal: &Principal,
    (year, through_month): (i32, u32),
    conn: &mut PgConnection,
) -> Result<TargetCompletion, AppError> {
    county_wide(principal)?;
    Ok(targets::completion(conn, year, through_month, ctx.today)
        .await?
        .completion)
}

/// `GetBudgetExecution`.
pub async fn budget_execution(
    _ctx: &Ctx,
    principal: &Principal,
    year: i32,
    conn: &mut PgConnection,
) -> Result<BudgetExecution, AppError> {
    county_wide(principal)?;
    budget::execution(conn, year).await
}

/// `GenerateSelfEvaluationReport`.
pub async fn self_evaluation_report(
    ctx: &Ctx,
    principal: &Principal,
    year: i32,
    conn: &mut PgConnection,
) -> Result<SelfEvaluationReport, AppError> {
    county_wide(principal)?;
    report::generate(conn, year, ctx.today).await
}

/// `SetTwoDownTwoUp`: replaces the year's four (validated by the caller) and reads them back.
pub async fn set_two_down_two_up(
    _ctx: &Ctx,
    principal: &Principal,
    (year, goals): (i32, &[TrendGoalRow]),
    conn: &mut PgConnection,
) -> Result<TwoDownTwoUp, AppError> {
    sets_goals(principal, "set 两降两升")?;
    store::replace_trend_goals(conn, year, goals).await?;
    two_down_two_up(conn, year).await
}

/// `GetTwoDownTwoUp`.
pub async fn get_two_down_two_up(
    _ctx: &Ctx,
    principal: &Principal,
    year: i32,
    conn: &mut PgConnection,
) -> Result<TwoDownTwoUp, AppError> {
    county_wide(principal)?;
    two_down_two_up(conn, year).await
}

async fn two_down_two_up(conn: &mut PgConnection, year: i32) -> Result<TwoDownTwoUp, AppError> {
    let (goals, is_default) = trends::goals(conn, year).await?;
    Ok(TwoDownTwoUp {
        year,
        goals,
        is_default,
    })
}
