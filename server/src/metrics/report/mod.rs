//! The annual performance self-evaluation report (项目支出绩效自评报告), in the shape of the bureau's filing:
//! its five parts and their sections in the filing's order, the score table with its levels, the fund's
//! management and payment figures, and every inconsistency the records show, with the figures that
//! disagree. Every figure comes from the records, computed by the same functions as the RPCs; what does not
//! add up is listed instead of papered over. docs/indicators.md, "The report".
//!
//! - [`plan`]: 一 (the project and its targets), 二 (the funds), 三 (the management);
//! - [`results`]: 四 (what was done, its effects, the score table) and 五 (conclusions and advice);
//! - [`score`]: the score table's rows and the four parts' scores;
//! - [`checks`]: the inconsistencies, including the published figures;
//! - [`year`]: the figures of the year the report is made of; [`text`]: how it prints them.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use xinfang_proto::v1::{FindingFigure, ScoreLine, SelfEvaluationReport};

use super::model;
use crate::error::AppError;

macro_rules! line {
    ($out:expr, $($arg:tt)*) => { $crate::metrics::report::text::write_line($out, format_args!($($arg)*)) };
}

mod checks;
mod plan;
mod results;
mod score;
mod text;
mod year;

fn score_line(part: &str, weight: u32, score: Decimal) -> ScoreLine {
    ScoreLine {
        part: part.to_owned(),
        weight: weight.to_string(),
        score: model::fixed(score, 2),
    }
}

/// The year's report, with the figures as of `today`.
pub async fn generate(
    conn: &mut PgConnection,
    year: i32,
    today: NaiveDate,
) -> Result<SelfEvaluationReport, AppError> {
    let fig = year::figures(conn, year, today).await?;
    let findings = checks::check(&fig, year);
    let (rows, parts) = score::rows(&fig);
    let total: Decimal = parts.iter().sum();
    let grade = model::grade(total);
    let mut md = String::new();
    let out = &mut md;
    line!(out, "# {year}年度专项（项目）资金绩效自评报告");
    line!(out, "");
    line!(out, "（盐边县信访局信访业务经费项目）");
    line!(out, "");
    plan::overview(out, &fig, year);
    plan::funds(out, &fig, year);
    plan::management(out, &fig);
    results::performance(out, &fig, year, &rows, total);
    results::conclusions(out, &fig, year, &findings, (parts, total, grade));
    Ok(SelfEvaluationReport {
        year,
        markdown: md,
        scores: vec![
            score_line("budget_execution", 10, parts[0]),
            score_line("outputs", 50, parts[1]),
            score_line("effects", 30, parts[2]),
            score_line("satisfaction", 10, parts[3]),
        ],
        total_score: model::fixed(total, 2),
        grade: grade.to_owned(),
        inconsistencies: findings.iter().map(|f| f.message.clone()).collect(),
        findings: findings
            .into_iter()
            .map(|f| xinfang_proto::v1::Finding {
                kind: f.kind.to_owned(),
                message: f.message,
                figures: f
                    .figures
                    .into_iter()
                    .map(|(label, value)| FindingFigure { label, value })
                    .collect(),
            })
            .collect(),
    })
}
