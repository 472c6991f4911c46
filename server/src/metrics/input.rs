//! What a well-formed `MetricsService` request is, as the input of its command: the period and scope of the
//! figures, a target and a year's 两降两升 with the rules of the table of indicators (docs/indicators.md).
//! Every refusal names its field; a message with several faults names them all.

use rust_decimal::Decimal;
use uuid::Uuid;
use xinfang_proto::{
    money,
    v1::{
        CapFormula, GetIndicatorsRequest, Period, SetTargetRequest, SetTwoDownTwoUpRequest,
        TargetDirection, TrendDirection, VisitGrouping,
    },
    validate::{self, FieldViolation, Violations},
};

use super::{
    commands::{Asks, IndicatorQuery, StatisticsQuery, TargetRow, TrendGoalRow},
    indicators, model,
    period::Span,
};
use crate::error::AppError;

pub(super) fn year_field(value: i32) -> Result<i32, FieldViolation> {
    if (1990..=2200).contains(&value) {
        Ok(value)
    } else {
        Err(FieldViolation::new("year", "a year between 1990 and 2200"))
    }
}

/// A request's `year`.
pub(super) fn year(value: i32) -> Result<i32, AppError> {
    Ok(year_field(value)?)
}

/// An optional `org_code`: empty for the county.
pub(super) fn org_field(value: &str) -> Result<Option<String>, FieldViolation> {
    if value.is_empty() {
        Ok(None)
    } else {
        validate::org_code("org_code", value).map(Some)
    }
}

pub(super) fn indicator_query(req: &GetIndicatorsRequest) -> Result<IndicatorQuery, AppError> {
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

pub(super) fn statistics_query(
    org_code: &str,
    period: Option<&Period>,
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
pub(super) fn target_input(req: &SetTargetRequest) -> Result<(Uuid, TargetRow), AppError> {
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
    // Without a name the report prints the indicator's own Chinese one, as 两降两升 does.
    let name = if t.name.trim().is_empty() {
        Some(
            indicators::target(&t.indicator)
                .map_or_else(|| t.indicator.clone(), |(_, i)| i.name.to_owned()),
        )
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
pub(super) fn two_down_two_up_input(
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

pub(super) fn through_month_field(value: i32) -> Result<u32, AppError> {
    match value {
        0 => Ok(12),
        m @ 1..=12 => Ok(m as u32),
        _ => Err(AppError::invalid(
            "through_month",
            "1 to 12 (0: the whole year)",
        )),
    }
}
