//! `xf target …`: the year's performance targets (绩效目标) and its 两降两升, online. The county office sets
//! them at the start of each year; `xf metrics targets` and the annual report measure the year against them.

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use xinfang_client::{store::Store, text::EnumKind};
use xinfang_proto::v1::{
    GetTwoDownTwoUpRequest, ListTargetsRequest, SetTargetRequest, SetTwoDownTwoUpRequest, Target,
    TargetDirection, TrendDirection, TrendGoal, TwoDownTwoUp,
};

use super::{
    common::{print_json, table},
    online::{client, status_error},
};

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// One target of a year: the indicator, its bound, its weight. Set again to change it: what is not
    /// given again (weight, cap formula, name) stays as it was.
    Set {
        #[arg(long)]
        year: i32,
        /// The indicator's key (docs/indicators.md, "Targets"): county_person_visits, county_batches,
        /// on_time_completion, satisfaction_office, …; a wrong one is answered with the whole list.
        #[arg(long)]
        indicator: String,
        #[command(flatten)]
        bound: Bound,
        /// Share of the 50 output points, in percent (40 is 20 points); `none`: an equal share of what the
        /// set weights leave (the default of a new target).
        #[arg(long)]
        weight: Option<String>,
        /// How a missed cap (--at-most) scores: ratio (比值法, the default) or deviation (偏离度法).
        #[arg(long)]
        cap_formula: Option<String>,
        /// The name the report prints; default the indicator's own Chinese name.
        #[arg(long)]
        name: Option<String>,
    },
    /// The year's targets.
    List {
        #[arg(long)]
        year: i32,
        #[arg(long)]
        json: bool,
    },
    /// The year's 两降两升: its own four indicators, or the default ones.
    Trends {
        #[arg(long)]
        year: i32,
        #[arg(long)]
        json: bool,
    },
    /// Sets the year's 两降两升: two indicators that should fall and two that should rise.
    SetTrends {
        #[arg(long)]
        year: i32,
        /// An indicator that should fall (total_volume, national_batches, …), twice.
        #[arg(long, required = true)]
        down: Vec<String>,
        /// An indicator that should rise (online_share, satisfaction_unit, …), twice.
        #[arg(long, required = true)]
        up: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

/// The target's bound: exactly one.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Bound {
    /// A cap: the actual should stay at or below it (不高于), e.g. 进京访 batches.
    #[arg(long)]
    at_most: Option<String>,
    /// The actual should reach it (不低于); a rate is a percentage, 0 to 100.
    #[arg(long)]
    at_least: Option<String>,
    /// The actual should equal it (等于).
    #[arg(long)]
    exactly: Option<String>,
}

impl Bound {
    fn direction_and_value(self) -> (TargetDirection, String) {
        match (self.at_most, self.at_least, self.exactly) {
            (Some(v), _, _) => (TargetDirection::AtMost, v),
            (_, Some(v), _) => (TargetDirection::AtLeast, v),
            (_, _, v) => (TargetDirection::Exactly, v.unwrap_or_default()),
        }
    }
}

/// `goals` holds the two --down first, then the two --up.
const TRENDS_FLAGS: &[(&str, &str)] = &[
    ("goals[0].indicator", "the first --down"),
    ("goals[1].indicator", "the second --down"),
    ("goals[2].indicator", "the first --up"),
    ("goals[3].indicator", "the second --up"),
    ("goals", "--down/--up"),
];

const SET_FLAGS: &[(&str, &str)] = &[
    ("target.year", "--year"),
    ("target.indicator", "--indicator"),
    ("target.value", "--at-most/--at-least/--exactly"),
    ("target.weight", "--weight"),
    ("target.name", "--name"),
];

pub async fn run(store: &Store, command: TargetCommand) -> Result<()> {
    let mut client = client(store)?;
    let metrics = &mut client.metrics;
    match command {
        TargetCommand::Set {
            year,
            indicator,
            bound,
            weight,
            cap_formula,
            name,
        } => {
            let (direction, value) = bound.direction_and_value();
            // SetTarget writes every field: what is not given again is sent as it stands.
            let before = metrics
                .list_targets(ListTargetsRequest { year })
                .await
                .map_err(|s| status_error(s, &[]))?
                .into_inner()
                .targets
                .into_iter()
                .find(|t| t.year == year && t.indicator == indicator)
                .unwrap_or_default();
            let weight = match weight.as_deref() {
                Some("none") => String::new(),
                Some(w) => w.to_owned(),
                None => before.weight,
            };
            let cap_formula = match cap_formula {
                Some(f) => EnumKind::CapFormula
                    .parse(&f)
                    .map_err(|e| anyhow!("--cap-formula: {e}"))?,
                None => before.cap_formula,
            };
            let target = metrics
                .set_target(SetTargetRequest {
                    request_id: uuid::Uuid::now_v7().to_string(),
                    target: Some(Target {
                        year,
                        indicator,
                        direction: direction as i32,
                        value,
                        weight,
                        cap_formula,
                        name: name.unwrap_or(before.name),
                    }),
                })
                .await
                .map_err(|s| status_error(s, SET_FLAGS))?
                .into_inner();
            println!("done (online): {}", line(&target));
        }
        TargetCommand::List { year, json } => {
            let targets = metrics
                .list_targets(ListTargetsRequest { year })
                .await
                .map_err(|s| status_error(s, &[]))?
                .into_inner()
                .targets;
            if json {
                let items: Vec<_> = targets
                    .iter()
                    .map(|t| {
                        json!({
                            "year": t.year, "indicator": t.indicator, "name": t.name,
                            "direction": EnumKind::TargetDirection.format(t.direction), "value": t.value,
                            "weight": t.weight,
                            "cap_formula": EnumKind::CapFormula.format(t.cap_formula),
                        })
                    })
                    .collect();
                return print_json(&json!(items));
            }
            let mut t = table(&[
                "指标 INDICATOR",
                "名称 NAME",
                "目标 TARGET",
                "权重 WEIGHT %",
            ]);
            for target in &targets {
                t.add_row(vec![
                    target.indicator.clone(),
                    target.name.clone(),
                    format!(
                        "{} {}",
                        EnumKind::TargetDirection.label(target.direction),
                        target.value
                    ),
                    target.weight.clone(),
                ]);
            }
            println!("{t}");
            println!("{} target(s) for {year}", targets.len());
        }
        TargetCommand::Trends { year, json } => {
            let set = metrics
                .get_two_down_two_up(GetTwoDownTwoUpRequest { year })
                .await
                .map_err(|s| status_error(s, &[]))?
                .into_inner();
            print_trends(&set, json)?;
        }
        TargetCommand::SetTrends {
            year,
            down,
            up,
            json,
        } => {
            if down.len() != 2 || up.len() != 2 {
                bail!("两降两升 is two --down and two --up, four different indicators");
            }
            let goals: Vec<TrendGoal> = down
                .into_iter()
                .map(|i| (i, TrendDirection::Down))
                .chain(up.into_iter().map(|i| (i, TrendDirection::Up)))
                .map(|(indicator, direction)| TrendGoal {
                    indicator,
                    direction: direction as i32,
                    name: String::new(),
                })
                .collect();
            let set = metrics
                .set_two_down_two_up(SetTwoDownTwoUpRequest {
                    request_id: uuid::Uuid::now_v7().to_string(),
                    year,
                    goals,
                })
                .await
                .map_err(|s| status_error(s, TRENDS_FLAGS))?
                .into_inner();
            print_trends(&set, json)?;
        }
    }
    Ok(())
}

fn print_trends(set: &TwoDownTwoUp, json: bool) -> Result<()> {
    if json {
        let goals: Vec<_> = set
            .goals
            .iter()
            .map(|g| {
                json!({
                    "indicator": g.indicator, "name": g.name,
                    "direction": EnumKind::TrendDirection.format(g.direction),
                })
            })
            .collect();
        return print_json(&json!({
            "year": set.year, "goals": goals, "is_default": set.is_default,
        }));
    }
    let default = if set.is_default {
        " (not set for the year: the default four)"
    } else {
        ""
    };
    println!("{} 两降两升{default}:", set.year);
    for g in &set.goals {
        println!(
            "  {} {} ({})",
            EnumKind::TrendDirection.label(g.direction),
            g.name,
            g.indicator
        );
    }
    Ok(())
}

fn line(t: &Target) -> String {
    let weight = if t.weight.is_empty() {
        String::new()
    } else {
        format!(", 权重 {} %", t.weight)
    };
    format!(
        "{} {} ({}): {} {}{weight}",
        t.year,
        t.name,
        t.indicator,
        EnumKind::TargetDirection.label(t.direction),
        t.value
    )
}
