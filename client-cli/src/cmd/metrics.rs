//! `xf metrics …`: indicators, statistics, targets and budget execution, computed by the server and read
//! online; the queries and tables are the library's `metrics`, the files `export`.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use xinfang_client::{
    Client,
    export::{self, Table as DataTable},
    metrics,
    store::Store,
};
use xinfang_proto::v1::{
    GetChannelStatisticsRequest, GetIndicatorsRequest, GetVisitStatisticsRequest, VisitGrouping,
};

use super::common::{print_json, settings};

#[derive(Debug, Args)]
pub struct PeriodArgs {
    /// The year (all of it unless --from / --to narrow it).
    #[arg(long)]
    year: Option<i32>,
    /// First month, e.g. 2020-01.
    #[arg(long)]
    from: Option<String>,
    /// Last month, e.g. 2020-12.
    #[arg(long)]
    to: Option<String>,
}

impl PeriodArgs {
    fn period(&self) -> Result<xinfang_proto::v1::Period> {
        metrics::period(self.year, self.from.as_deref(), self.to.as_deref())
            .map_err(|e| anyhow!("{e}"))
    }
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the table as CSV (UTF-8; use --xlsx for Excel).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Also write the table as an XLSX workbook.
    #[arg(long, value_name = "FILE")]
    xlsx: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GroupBy {
    Level,
    Township,
    Month,
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Timeliness, participation, satisfaction, backlog, repeat and online rates, with what they are made of.
    Indicators {
        #[command(flatten)]
        period: PeriodArgs,
        /// An org unit's figures: the petition office's timely acceptance of the cases whose problem lies there
        /// (问题属地), the other rates of the cases it is responsible for; default the county.
        #[arg(long)]
        org: Option<String>,
        /// Count cases still pending and not yet due in the on-time completion denominator.
        #[arg(long)]
        include_pending: bool,
        /// Count "basically satisfied" as satisfied.
        #[arg(long)]
        basically_satisfied: bool,
        /// With --json: the case ids behind each rate.
        #[arg(long, requires = "json")]
        ids: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Visit batches and person-visits by level (and township or month), with year over year.
    Visits {
        #[command(flatten)]
        period: PeriodArgs,
        /// An org unit's figures (the problem place); default the county.
        #[arg(long)]
        org: Option<String>,
        /// A breakdown besides the levels.
        #[arg(long, value_enum)]
        group_by: Option<GroupBy>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Letters and online items by channel, reviews and campaign transfers, with year over year.
    Channels {
        #[command(flatten)]
        period: PeriodArgs,
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The year's performance targets: actual, completion and score; --through-month 9 for the mid-year check.
    Targets {
        #[arg(long)]
        year: i32,
        /// The check's month (9: the September check); default the whole year.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=12))]
        through_month: Option<i32>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Budget execution per category and its score.
    Budget {
        #[arg(long)]
        year: i32,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// The table, or its JSON; and the files asked for.
fn emit(
    heading: &str,
    table: &DataTable,
    json: Option<serde_json::Value>,
    output: &OutputArgs,
) -> Result<()> {
    if let Some(path) = &output.csv {
        table.write_csv(path)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &output.xlsx {
        export::write_xlsx(path, &[table])?;
        eprintln!("wrote {}", path.display());
    }
    if output.json {
        print_json(&json.unwrap_or_else(|| table.to_json()))
    } else {
        println!("{heading}");
        println!("{}", table.to_comfy());
        Ok(())
    }
}

fn scope_label(org: &str) -> String {
    if org.is_empty() {
        "the county".to_owned()
    } else {
        org.to_owned()
    }
}

pub async fn run(store: &Store, command: MetricsCommand) -> Result<()> {
    let mut client = Client::for_settings(&settings(store)?)?;
    match command {
        MetricsCommand::Indicators {
            period,
            org,
            include_pending,
            basically_satisfied,
            ids,
            output,
        } => {
            let period = period.period()?;
            let org = org.unwrap_or_default();
            let ind = metrics::indicators(
                &mut client,
                GetIndicatorsRequest {
                    period: Some(period),
                    org_code: org.clone(),
                    include_pending,
                    basically_satisfied_counts: basically_satisfied,
                    include_ids: ids,
                },
            )
            .await?;
            let heading = format!(
                "indicators, {}, {} (环比 against {}; changes in percentage points)",
                metrics::period_label(&ind.period.unwrap_or(period)),
                scope_label(&org),
                ind.previous_period
                    .as_ref()
                    .map(metrics::period_label)
                    .unwrap_or_default()
            );
            emit(
                &heading,
                &metrics::indicators_table(&ind),
                Some(metrics::indicators_json(&ind)),
                &output,
            )?;
            if !output.json {
                println!("两降两升 (against the same months a year earlier)");
                println!("{}", metrics::two_down_two_up_table(&ind).to_comfy());
            }
            Ok(())
        }
        MetricsCommand::Visits {
            period,
            org,
            group_by,
            output,
        } => {
            let period = period.period()?;
            let org = org.unwrap_or_default();
            let grouping = match group_by {
                None | Some(GroupBy::Level) => VisitGrouping::Level,
                Some(GroupBy::Township) => VisitGrouping::Township,
                Some(GroupBy::Month) => VisitGrouping::Month,
            };
            let stats = metrics::visits(
                &mut client,
                GetVisitStatisticsRequest {
                    period: Some(period),
                    org_code: org.clone(),
                    group_by: grouping as i32,
                },
            )
            .await?;
            let heading = format!(
                "visits, {}, {} (previous: the same months a year earlier; previous period, 环比: {})",
                metrics::period_label(&stats.period.unwrap_or(period)),
                scope_label(&org),
                stats
                    .previous_period
                    .as_ref()
                    .map(metrics::period_label)
                    .unwrap_or_default()
            );
            let table = metrics::visits_table(&stats, grouping);
            // Files and JSON keep the long table (one figure per row, stable keys); a person reads the
            // levels and groups as rows, in Chinese, with 同比.
            if output.json || output.csv.is_some() || output.xlsx.is_some() {
                return emit(&heading, &table, None, &output);
            }
            println!("{heading}");
            println!("{}", metrics::visits_view(&stats, grouping).to_comfy());
            Ok(())
        }
        MetricsCommand::Channels {
            period,
            org,
            output,
        } => {
            let period = period.period()?;
            let org = org.unwrap_or_default();
            let stats = metrics::channels(
                &mut client,
                GetChannelStatisticsRequest {
                    period: Some(period),
                    org_code: org.clone(),
                },
            )
            .await?;
            let heading = format!(
                "letters and online items, {}, {} (环比 against {})",
                metrics::period_label(&stats.period.unwrap_or(period)),
                scope_label(&org),
                stats
                    .previous_period
                    .as_ref()
                    .map(metrics::period_label)
                    .unwrap_or_default()
            );
            emit(&heading, &metrics::channels_table(&stats), None, &output)
        }
        MetricsCommand::Targets {
            year,
            through_month,
            output,
        } => {
            let done = metrics::targets(&mut client, year, through_month.unwrap_or(0)).await?;
            let mut heading = match done.through_month {
                m @ 1..=11 => format!("targets {year}, checked through {year}-{m:02}"),
                _ => format!("targets {year}"),
            };
            if !done.weights_balanced && !done.results.is_empty() {
                heading.push_str(&if done.weight_total == "100.00" {
                    " (the set weights leave nothing for the targets without one)".to_owned()
                } else {
                    format!(" (the weights add up to {}, not 100)", done.weight_total)
                });
            }
            emit(&heading, &metrics::targets_table(&done), None, &output)
        }
        MetricsCommand::Budget { year, output } => {
            let money = metrics::budget(&mut client, year).await?;
            emit(
                &format!("budget execution {year}"),
                &metrics::budget_table(&money),
                None,
                &output,
            )
        }
    }
}
