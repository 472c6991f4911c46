//! `xf trip new|close|discard` and `xf trips`: persuade-and-return trips. A trip still under way stays a
//! draft on this laptop (not in the outbox) and is queued once, complete, when it is closed, because the
//! server records a trip once.

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::json;
use xinfang_client::{
    capture::{self, TripClosing},
    store::{Store, TripDraft},
    text::{self, EnumKind},
};
use xinfang_proto::{
    money,
    v1::{RecordReturnTripRequest, ReturnTrip, TripCosts, TripOutcome},
};

use super::{
    common::{Ask, names, print_json, queued, read_text_arg, short, table, waiting_note},
    registration::{PersonArgs, petitioners},
};

#[derive(Debug, Args)]
pub struct TripArgs {
    /// Who notified the bureau, e.g. 驻京工作组.
    #[arg(long)]
    notified_by: Option<String>,
    #[arg(long)]
    notified_at: Option<String>,
    /// city, province or national.
    #[arg(long)]
    level: Option<String>,
    /// Destination, e.g. 北京.
    #[arg(long)]
    place: Option<String>,
    #[arg(long)]
    non_reception: bool,
    /// Township or department responsible for the petitioners.
    #[arg(long)]
    responsible_org: Option<String>,
    /// Officer on the trip (repeatable).
    #[arg(long = "officer")]
    officers: Vec<String>,
    /// Case the trip concerns (repeatable).
    #[arg(long = "case")]
    cases: Vec<String>,
    /// A visit the trip concerns (repeatable): its number or id, or the short id of its registration still
    /// in the outbox (`xf outbox`), linked to the visit's case at the sync that pushes both.
    #[arg(long = "visit")]
    visits: Vec<String>,
    #[arg(long)]
    departed_at: Option<String>,
    #[arg(long)]
    arrived_at: Option<String>,
    #[arg(long)]
    returned_at: Option<String>,
    /// Costs in yuan, e.g. 1280.50.
    #[arg(long)]
    transport: Option<String>,
    #[arg(long)]
    lodging: Option<String>,
    #[arg(long)]
    meals: Option<String>,
    #[arg(long)]
    other_cost: Option<String>,
    /// under-way (default), returned, not-returned, handed-over.
    #[arg(long)]
    outcome: Option<String>,
    #[arg(long)]
    report: Option<String>,
    /// Still under way: keep it on this laptop as a draft (not in the outbox) until `xf trip close`.
    #[arg(long, conflicts_with_all = ["outcome", "returned_at"])]
    under_way: bool,
    #[command(flatten)]
    person: PersonArgs,
}

#[derive(Debug, Subcommand)]
pub enum TripCommand {
    /// Capture a trip (works offline). With --under-way it stays a local draft until it is closed.
    New(Box<TripArgs>),
    /// Close a draft: add the return, the outcome and the final costs, and queue the complete trip.
    Close(Box<TripCloseArgs>),
    /// Drop a draft that is not closed (it is kept, marked discarded).
    Discard {
        /// The draft's id (or the first or last characters of it), as `xf trips` shows it.
        draft: String,
    },
}

#[derive(Debug, Args)]
pub struct TripCloseArgs {
    /// The draft's id (or the first or last characters of it), as `xf trips` shows it.
    draft: String,
    /// When the officers were back.
    #[arg(long)]
    returned_at: Option<String>,
    /// returned, not-returned or handed-over.
    #[arg(long)]
    outcome: Option<String>,
    /// Only if not given when the draft was made (or to correct it).
    #[arg(long)]
    departed_at: Option<String>,
    #[arg(long)]
    arrived_at: Option<String>,
    /// Costs in yuan; each replaces the draft's.
    #[arg(long)]
    transport: Option<String>,
    #[arg(long)]
    lodging: Option<String>,
    #[arg(long)]
    meals: Option<String>,
    #[arg(long)]
    other_cost: Option<String>,
    /// The trip report; `@FILE` reads it from a file.
    #[arg(long)]
    report: Option<String>,
}

pub fn run(store: &mut Store, ask: &Ask, command: TripCommand, now: DateTime<Utc>) -> Result<()> {
    match command {
        TripCommand::New(args) => {
            let under_way = args.under_way;
            let request = trip_request(store, ask, *args)?;
            if under_way {
                drafted(&capture::draft_trip(store, request, now)?);
            } else {
                super::checks::check(
                    store,
                    &xinfang_proto::v1::operation::Op::RecordReturnTrip(request.clone()),
                    now,
                )?;
                queued(&capture::record_trip(store, request, now)?);
            }
        }
        TripCommand::Close(args) => {
            let closing = trip_closing(ask, store, *args)?;
            let (draft, closing) = closing;
            queued(&capture::close_trip(store, &draft, &closing, now)?);
        }
        TripCommand::Discard { draft } => {
            let found = store.find_trip_draft(&draft)?;
            let d = store.discard_trip_draft(&found.id)?;
            println!("discarded draft {} ({})", short(&d.id), draft_subject(&d));
        }
    }
    Ok(())
}

fn drafted(draft: &TripDraft) {
    let id = short(&draft.id);
    println!(
        "kept draft {id} ({}) on this laptop; it is not in the outbox until \
         `xf trip close {id} --returned-at … --outcome …`",
        draft_subject(draft)
    );
}

fn draft_subject(draft: &TripDraft) -> String {
    xinfang_client::store::op_subject(&xinfang_proto::v1::operation::Op::RecordReturnTrip(
        RecordReturnTripRequest {
            request_id: String::new(),
            trip: Some(draft.trip.clone()),
        },
    ))
}

/// The local sum of a draft's costs (the server adds the total when it records the trip).
fn draft_costs_total(trip: &ReturnTrip) -> String {
    let Some(c) = &trip.costs else {
        return String::new();
    };
    let mut total = None;
    for value in [&c.transport, &c.lodging, &c.meals, &c.other] {
        if let Ok(Some(amount)) = money::optional_amount("cost", value) {
            total = Some(total.map_or(amount, |t| t + amount));
        }
    }
    total.map(money::format).unwrap_or_default()
}

/// What `xf trip close` adds to the draft: flags, or questions for what a person at the terminal left out.
fn trip_closing(ask: &Ask, store: &Store, args: TripCloseArgs) -> Result<(String, TripClosing)> {
    let draft = store.find_trip_draft(&args.draft)?;
    if ask.interactive {
        println!(
            "closing draft {} ({})",
            short(&draft.id),
            draft_subject(&draft)
        );
    }
    let given_time =
        |value: Option<String>, flag: &str| -> Result<Option<prost_types::Timestamp>> {
            value
                .map(|v| text::parse_time(&v, Utc::now()).map_err(|e| anyhow!("--{flag}: {e}")))
                .transpose()
        };
    let returned_at = ask.time(args.returned_at, "Returned at", true)?;
    let outcome = match args.outcome {
        Some(o) => EnumKind::TripOutcome
            .parse(&o)
            .map_err(|e| anyhow!("--outcome: {e}"))?,
        None => ask.choice(None, "Outcome", EnumKind::TripOutcome, &["under-way"])?,
    };
    let departed_at = if args.departed_at.is_none() && draft.trip.departed_at.is_none() {
        ask.time(None, "Departed at", true)?
    } else {
        given_time(args.departed_at, "departed-at")?
    };
    let report = match args.report {
        Some(r) => Some(read_text_arg(r)?),
        None if ask.interactive && draft.trip.report.trim().is_empty() => {
            let r = read_text_arg(ask.optional(None, "Trip report (optional), or @FILE")?)?;
            (!r.trim().is_empty()).then_some(r)
        }
        None => None,
    };
    Ok((
        draft.id.clone(),
        TripClosing {
            returned_at,
            outcome,
            departed_at,
            arrived_at: given_time(args.arrived_at, "arrived-at")?,
            transport: args.transport,
            lodging: args.lodging,
            meals: args.meals,
            other: args.other_cost,
            report,
        },
    ))
}

fn trip_request(store: &Store, ask: &Ask, args: TripArgs) -> Result<RecordReturnTripRequest> {
    let notified_by = ask.text(args.notified_by, "Notified by (e.g. 驻京工作组)", true)?;
    let notified_at = ask.time(args.notified_at, "Notified at", true)?;
    let destination_level = ask.choice(
        args.level,
        "Destination level",
        EnumKind::Level,
        &["township", "county"],
    )?;
    let destination_place = ask.text(args.place, "Destination", true)?;
    let responsible_org_code = ask.text(args.responsible_org, "Responsible org unit", true)?;
    let mut officers = args.officers;
    if officers.is_empty() && ask.interactive {
        officers.push(ask.text(None, "Officer", true)?);
    }
    let departed_at = ask.time(args.departed_at, "Departed at (empty: not yet)", false)?;
    let outcome = match args.outcome {
        Some(o) => EnumKind::TripOutcome
            .parse(&o)
            .map_err(|e| anyhow!("--outcome: {e}"))?,
        None => 0,
    };
    Ok(RecordReturnTripRequest {
        request_id: String::new(),
        trip: Some(ReturnTrip {
            notified_by,
            notified_at,
            destination_level,
            destination_place,
            non_reception_place: args.non_reception,
            responsible_org_code,
            officers,
            petitioners: petitioners(ask, args.person, false)?,
            case_ids: {
                let mut ids = args.cases;
                for v in &args.visits {
                    let id = visit_link(store, v)?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids
            },
            departed_at,
            arrived_at: ask.time(args.arrived_at, "Arrived at", false)?,
            returned_at: if args.under_way {
                None
            } else {
                ask.time(args.returned_at, "Returned at", false)?
            },
            costs: Some(TripCosts {
                transport: args.transport.unwrap_or_default(),
                lodging: args.lodging.unwrap_or_default(),
                meals: args.meals.unwrap_or_default(),
                other: args.other_cost.unwrap_or_default(),
                total: String::new(),
            }),
            outcome,
            report: args.report.unwrap_or_default(),
            ..Default::default()
        }),
    })
}

pub fn list(store: &Store, json: bool) -> Result<()> {
    let trips = store.trips()?;
    let drafts = store.trip_drafts()?;
    if json {
        let mut items: Vec<_> = drafts
            .iter()
            .map(|d| {
                let t = &d.trip;
                json!({
                    "draft": true, "draft_id": d.id, "id": "", "number": "", "notified_by": t.notified_by,
                    "notified_at": text::format_time(t.notified_at.as_ref()),
                    "destination_level": EnumKind::Level.format(t.destination_level),
                    "destination_place": t.destination_place, "responsible_org_code": t.responsible_org_code,
                    "officers": t.officers, "petitioners": names(&t.petitioners), "case_ids": t.case_ids,
                    "departed_at": text::format_time(t.departed_at.as_ref()),
                    "returned_at": "",
                    "outcome": EnumKind::TripOutcome.format(TripOutcome::UnderWay as i32),
                    "costs_total": draft_costs_total(t),
                })
            })
            .collect();
        items.extend(trips
            .iter()
            .map(|t| {
                json!({
                    "draft": false, "id": t.id, "number": t.number, "notified_by": t.notified_by,
                    "notified_at": text::format_time(t.notified_at.as_ref()),
                    "destination_level": EnumKind::Level.format(t.destination_level),
                    "destination_place": t.destination_place, "responsible_org_code": t.responsible_org_code,
                    "officers": t.officers, "petitioners": names(&t.petitioners), "case_ids": t.case_ids,
                    "departed_at": text::format_time(t.departed_at.as_ref()),
                    "returned_at": text::format_time(t.returned_at.as_ref()),
                    "outcome": EnumKind::TripOutcome.format(t.outcome),
                    "costs_total": t.costs.as_ref().map(|c| c.total.clone()).unwrap_or_default(),
                })
            }));
        return print_json(&json!(items));
    }
    let mut table = table(&[
        "NUMBER",
        "NOTIFIED",
        "TO",
        "RESPONSIBLE",
        "OFFICERS",
        "OUTCOME",
        "COSTS",
    ]);
    for d in &drafts {
        let t = &d.trip;
        table.add_row(vec![
            format!("draft {}", short(&d.id)),
            text::format_time(t.notified_at.as_ref()),
            t.destination_place.clone(),
            t.responsible_org_code.clone(),
            t.officers.join(", "),
            format!(
                "{} (draft)",
                EnumKind::TripOutcome.describe(TripOutcome::UnderWay as i32)
            ),
            draft_costs_total(t),
        ]);
    }
    for t in &trips {
        table.add_row(vec![
            t.number.clone(),
            text::format_time(t.notified_at.as_ref()),
            t.destination_place.clone(),
            t.responsible_org_code.clone(),
            t.officers.join(", "),
            EnumKind::TripOutcome.describe(t.outcome),
            t.costs
                .as_ref()
                .map(|c| c.total.clone())
                .unwrap_or_default(),
        ]);
    }
    println!("{table}");
    waiting_note(store, &["record_return_trip"], "trips")?;
    match drafts.len() {
        0 => {}
        1 => {
            println!("1 draft under way: `xf trip close ID --returned-at … --outcome …` queues it")
        }
        n => println!(
            "{n} drafts under way: `xf trip close ID --returned-at … --outcome …` queues each"
        ),
    }
    Ok(())
}

/// What a trip's `--visit` puts into its case ids: the case of a synced visit, or the op id of a queued
/// registration (resolved at push, `xinfang_client::sync`).
fn visit_link(store: &Store, given: &str) -> Result<String> {
    let given = given.trim();
    if let Some(v) = store
        .visits()?
        .into_iter()
        .find(|v| v.number == given || v.id == given || (given.len() >= 8 && v.id.ends_with(given)))
    {
        return v
            .classification
            .map(|c| c.case_id)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| anyhow!("--visit {given}: that visit opened no case to link"));
    }
    let entry = store
        .find_entry(given)
        .map_err(|e| anyhow!("--visit {given}: no such visit, nor a queued registration ({e})"))?;
    if entry.kind != "register_visit" {
        return Err(anyhow!(
            "--visit {given}: that outbox entry is a {}, not a visit",
            entry.kind
        ));
    }
    if entry.state.is_final() && entry.result_id.is_empty() {
        return Err(anyhow!(
            "--visit {given}: that registration was {}",
            entry.state
        ));
    }
    if !entry.result_id.is_empty() {
        if let Some(case) = store
            .visit(&entry.result_id)?
            .and_then(|v| v.classification)
            .map(|c| c.case_id)
            .filter(|c| !c.is_empty())
        {
            return Ok(case);
        }
    }
    Ok(entry.op_id)
}
