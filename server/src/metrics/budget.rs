//! Budget execution (预算执行率): a year's budgets against what the disbursed fund requests spent, by
//! category, with the payments by method (docs/indicators.md, "The score table").

use rust_decimal::Decimal;
use sqlx::PgConnection;
use xinfang_proto::{
    money,
    v1::{BudgetExecution, CategoryExecution, PaymentTotal},
};

use super::{model, store};
use crate::error::AppError;

/// A year's budget execution, each percentage rounded once from its two amounts.
pub async fn execution(conn: &mut PgConnection, year: i32) -> Result<BudgetExecution, AppError> {
    let rows = store::execution(conn, year).await?;
    let appropriated: Decimal = rows.iter().map(|r| r.appropriated).sum();
    let disbursed: Decimal = rows.iter().map(|r| r.disbursed).sum();
    let pct = |a: Decimal, d: Decimal| {
        model::share_at(d, a, 2)
            .map(|p| model::fixed(p, 2))
            .unwrap_or_default()
    };
    Ok(BudgetExecution {
        year,
        categories: rows
            .iter()
            .map(|r| CategoryExecution {
                category: r.category.clone(),
                name: r.name.clone(),
                appropriated: money::format(r.appropriated),
                disbursed: money::format(r.disbursed),
                execution_percent: pct(r.appropriated, r.disbursed),
            })
            .collect(),
        appropriated: money::format(appropriated),
        disbursed: money::format(disbursed),
        execution_percent: pct(appropriated, disbursed),
        score: model::fixed(model::execution_score(appropriated, disbursed), 2),
        payments: store::payments(conn, year)
            .await?
            .into_iter()
            .map(|p| PaymentTotal {
                method: i32::from(p.method),
                requests: p.requests,
                amount: money::format(p.amount),
            })
            .collect(),
    })
}
