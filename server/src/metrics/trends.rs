//! 两降两升 (two down, two up): a year's four indicators, its own or the default ones, and how each moved
//! against the same months a year earlier (docs/indicators.md, "两降两升").

use sqlx::PgConnection;
use xinfang_proto::v1::{TrendDirection, TrendGoal};

use super::{
    indicators::{self, DEFAULT_TWO_DOWN_TWO_UP},
    model::{self, TrendValue},
    store,
};
use crate::error::AppError;

/// A year's 两降两升: its own four, or the default ones (`true`).
pub async fn goals(conn: &mut PgConnection, year: i32) -> Result<(Vec<TrendGoal>, bool), AppError> {
    let rows = store::trend_goals(conn, year).await?;
    if rows.is_empty() {
        let goals = DEFAULT_TWO_DOWN_TWO_UP
            .iter()
            .map(|(indicator, direction)| TrendGoal {
                indicator: (*indicator).to_owned(),
                direction: *direction as i32,
                name: indicators::trend_indicator(indicator)
                    .map(|(name, _)| name.to_owned())
                    .unwrap_or_default(),
            })
            .collect();
        return Ok((goals, true));
    }
    let goals = rows
        .into_iter()
        .map(|r| TrendGoal {
            indicator: r.indicator,
            direction: i32::from(r.direction),
            name: r.name,
        })
        .collect();
    Ok((goals, false))
}

/// How one of 两降两升 moved from the same months a year earlier (`then`) to `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub goal: TrendGoal,
    pub now: TrendValue,
    pub then: TrendValue,
    /// DOWN: fell, or is zero; UP: rose, or is a rate of 100 %.
    pub met: bool,
    /// A rate without a base in either period: nothing to compare, so not met.
    pub undetermined: bool,
}

impl Trend {
    /// Judges `goal` on the values of every indicator of the table now and a year earlier.
    pub fn judge(goal: TrendGoal, now: &[TrendValue], then: &[TrendValue]) -> Trend {
        let (now, then) = match indicators::trend(&goal.indicator) {
            Some((i, _)) => (now[i], then[i]),
            None => (TrendValue::Rate(0, 0), TrendValue::Rate(0, 0)),
        };
        let direction = TrendDirection::try_from(goal.direction).unwrap_or_default();
        let (met, undetermined) = model::trend_met(direction, now, then);
        Trend {
            goal,
            now,
            then,
            met,
            undetermined,
        }
    }

    /// A count ("305"), or a rate in percent with two places ("97.65"; empty without a base).
    pub fn value_text(&self) -> String {
        text(self.now)
    }

    /// The same a year earlier.
    pub fn previous_text(&self) -> String {
        text(self.then)
    }

    /// A count's change in percent, a rate's in percentage points; two places, empty without a base.
    pub fn change_text(&self) -> String {
        let change = match (self.now, self.then) {
            (TrendValue::Count(n), TrendValue::Count(t)) => model::change_at(n, t, 2),
            (TrendValue::Rate(n, d), TrendValue::Rate(tn, td)) => {
                model::points_change((n, d), (tn, td), 2)
            }
            _ => None,
        };
        change.map(|c| model::fixed(c, 2)).unwrap_or_default()
    }
}

fn text(v: TrendValue) -> String {
    match v {
        TrendValue::Count(n) => n.to_string(),
        TrendValue::Rate(n, d) => model::percent_text(n, d, 2),
    }
}
