//! `xf report YEAR`: the annual performance self-evaluation report, read online, as Markdown (stdout or
//! --out), a workbook and a chart.

use std::{io::Write, path::PathBuf};

use anyhow::Result;
use clap::Args;
use xinfang_client::{
    Client,
    chart::Measure,
    metrics::{self, ReportOptions},
    store::Store,
};

use super::common::settings;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The year, e.g. 2020.
    year: i32,
    /// Write the Markdown here instead of to stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// A workbook: scores, inconsistencies and the year's figures, one sheet each.
    #[arg(long, value_name = "FILE")]
    xlsx: Option<PathBuf>,
    /// A bar chart of visits by level for each month: FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// What the chart's bars count: persons (人次) or batches (批次).
    #[arg(long, default_value = "persons", value_parser = parse_measure)]
    chart_measure: Measure,
}

fn parse_measure(s: &str) -> Result<Measure, String> {
    s.parse()
}

pub async fn run(store: &Store, args: ReportArgs) -> Result<()> {
    let mut client = Client::for_settings(&settings(store)?)?;
    let options = ReportOptions {
        year: args.year,
        markdown: args.out.clone(),
        xlsx: args.xlsx,
        chart: args.chart,
        chart_measure: args.chart_measure,
    };
    let out = metrics::report(&mut client, &options).await?;
    let report = &out.report;
    // The Markdown goes to stdout unless --out names a file; the summary then goes to stderr.
    let mut summary = String::new();
    summary.push_str(&format!(
        "self-evaluation {}: {} points, grade {}\n",
        report.year, report.total_score, report.grade
    ));
    summary.push_str(&format!("{}\n", metrics::scores_table(report).to_comfy()));
    if report.inconsistencies.is_empty() {
        summary.push_str("no inconsistencies found\n");
    } else {
        summary.push_str(&format!(
            "{} inconsistencies:\n",
            report.inconsistencies.len()
        ));
        for (i, note) in report.inconsistencies.iter().enumerate() {
            summary.push_str(&format!("  {}. {note}\n", i + 1));
        }
    }
    for path in &out.written {
        summary.push_str(&format!("wrote {}\n", path.display()));
    }
    if args.out.is_some() {
        print!("{summary}");
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(report.markdown.as_bytes())?;
        if !report.markdown.ends_with('\n') {
            writeln!(stdout)?;
        }
        eprint!("{summary}");
    }
    Ok(())
}
