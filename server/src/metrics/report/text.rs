//! How the report prints its figures: changes and rates rounded once from their counts (docs/indicators.md,
//! "Rounding"), amounts in 万元, a target's sign, unit and 二级指标.

use std::{fmt::Write as _, str::FromStr};

use rust_decimal::Decimal;
use xinfang_proto::v1::{Figure, TargetDirection};

use crate::metrics::{
    indicators::{self, Output},
    model::{self, TrendValue},
};

/// Appends a line to the Markdown (the `line!` of the report's sections).
pub(super) fn write_line(out: &mut String, line: std::fmt::Arguments<'_>) {
    let _ = out.write_fmt(line);
    out.push('\n');
}

/// "下降37.0%" / "上升12.5%" / "不计（上年同期为零）" with the given decimals, rounded once from the two
/// counts (never from the API's two-place text: docs/indicators.md, "Rounding").
pub(super) fn change(f: &Figure, places: u32) -> String {
    match model::change_at(f.value, f.previous, places) {
        Some(p) if p.is_sign_negative() => format!("下降{}%", model::fixed(-p, places)),
        Some(p) => format!("上升{}%", model::fixed(p, places)),
        None => "不计（上年同期为零）".to_owned(),
    }
}

/// A rate in percent with `places`, rounded once from its counts; a dash on an empty base.
pub(super) fn pct((n, d): (i64, i64), places: u32) -> String {
    match model::percent_at(n, d, places) {
        Some(p) => format!("{}%", model::fixed(p, places)),
        None => "—（分母为零）".to_owned(),
    }
}

/// A rate of another period and the change to it: "96.00%（+2.11个百分点）".
pub(super) fn compared(now: (i64, i64), then: TrendValue) -> String {
    let TrendValue::Rate(n, d) = then else {
        return "—".to_owned();
    };
    let Some(p) = model::percent_at(n, d, 2) else {
        return "—".to_owned();
    };
    match model::points_change(now, (n, d), 2) {
        Some(c) if c.is_sign_negative() => {
            format!("{}%（{}个百分点）", model::fixed(p, 2), model::fixed(c, 2))
        }
        Some(c) => format!("{}%（+{}个百分点）", model::fixed(p, 2), model::fixed(c, 2)),
        None => format!("{}%", model::fixed(p, 2)),
    }
}

pub(super) fn value(f: &Option<Figure>) -> Figure {
    f.clone().unwrap_or_default()
}

pub(super) fn amount(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

/// Yuan as 万元 with two places ("795300.00" → "79.53").
pub(super) fn wan(yuan: Decimal) -> String {
    model::fixed(yuan / Decimal::from(10_000), 2)
}

pub(super) fn sign(direction: i32) -> &'static str {
    match TargetDirection::try_from(direction) {
        Ok(TargetDirection::AtMost) => "≤",
        Ok(TargetDirection::AtLeast) => "≥",
        _ => "=",
    }
}

/// The unit a target's value is counted in: its row's (a key no target may name reads as a rate).
pub(super) fn unit(indicator: &str) -> &'static str {
    indicators::target(indicator).map_or("%", |(_, row)| row.unit)
}

/// The 二级指标 of an output target: its row's (quantity for a key no target may name).
pub(super) fn output_kind(indicator: &str) -> &'static str {
    match indicators::target(indicator).and_then(|(_, row)| row.target) {
        Some(Output::Timeliness) => "时效指标",
        Some(Output::Quality) => "质量指标",
        Some(Output::Quantity) | None => "数量指标",
    }
}
