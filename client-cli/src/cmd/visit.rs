//! `xf visit new` (a visit met in the field, captured offline) and `xf visits` (the local copy).

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::json;
use xinfang_client::{
    capture,
    store::Store,
    text::{self, EnumKind},
};
use xinfang_proto::v1::{RegisterVisitRequest, Visit};

use super::{
    common::{Ask, names, print_json, queued, table, waiting_note},
    registration::{MatterArgs, NewCommand, PersonArgs, matter, petitioners},
};

#[derive(Debug, Args)]
pub struct VisitArgs {
    /// When: `2025-06-01 09:30` (Beijing time), RFC 3339, or now.
    #[arg(long)]
    at: Option<String>,
    /// county, city, province or national.
    #[arg(long)]
    level: Option<String>,
    /// Reception office or place.
    #[arg(long)]
    place: Option<String>,
    /// Met at a non-reception place (非接待场所).
    #[arg(long)]
    non_reception: bool,
    /// Persons in the batch.
    #[arg(long, default_value_t = 1)]
    headcount: i32,
    #[command(flatten)]
    person: PersonArgs,
    #[command(flatten)]
    matter: MatterArgs,
}

pub fn run(
    store: &mut Store,
    ask: &Ask,
    command: NewCommand<VisitArgs>,
    now: DateTime<Utc>,
) -> Result<()> {
    let NewCommand::New(args) = command;
    let request = visit_request(ask, args)?;
    queued(&capture::register_visit(store, request, now)?);
    Ok(())
}

fn visit_request(ask: &Ask, args: VisitArgs) -> Result<RegisterVisitRequest> {
    let visited_at = ask.time(args.at, "Visited at", true)?;
    let level = ask.choice(args.level, "Level", EnumKind::Level, &["township"])?;
    let place_name = ask.text(args.place, "Place", true)?;
    let petitioners = petitioners(ask, args.person, true)?;
    let matter = matter(ask, args.matter)?;
    Ok(RegisterVisitRequest {
        request_id: String::new(),
        visit: Some(Visit {
            visited_at,
            level,
            non_reception_place: args.non_reception,
            place_name,
            headcount: args.headcount,
            petitioners,
            matter: Some(matter),
            ..Default::default()
        }),
    })
}

pub fn list(store: &Store, json: bool) -> Result<()> {
    let visits = store.visits()?;
    if json {
        let items: Vec<_> = visits
            .iter()
            .map(|v| {
                let m = v.matter.clone().unwrap_or_default();
                json!({
                    "id": v.id, "number": v.number, "visited_at": text::format_time(v.visited_at.as_ref()),
                    "level": EnumKind::Level.format(v.level), "place_name": v.place_name,
                    "non_reception_place": v.non_reception_place, "headcount": v.headcount,
                    "petitioners": v.petitioners.iter().map(|p| json!({
                        "name": p.name, "id_number": p.id_number, "phone": p.phone,
                    })).collect::<Vec<_>>(),
                    "category": m.category, "problem_org_code": m.problem_org_code,
                    "case_id": v.classification.as_ref().map(|c| c.case_id.clone()).unwrap_or_default(),
                    "collective": v.collective, "leapfrog": v.leapfrog,
                })
            })
            .collect();
        return print_json(&json!(items));
    }
    let mut t = table(&[
        "NUMBER",
        "VISITED",
        "LEVEL",
        "PLACE",
        "PERSONS",
        "PETITIONERS",
        "CATEGORY",
        "PROBLEM AT",
    ]);
    for v in &visits {
        let m = v.matter.clone().unwrap_or_default();
        t.add_row(vec![
            v.number.clone(),
            text::format_time(v.visited_at.as_ref()),
            EnumKind::Level.format(v.level),
            v.place_name.clone(),
            v.headcount.to_string(),
            names(&v.petitioners),
            m.category,
            m.problem_org_code,
        ]);
    }
    println!("{t}");
    waiting_note(store, &["register_visit"], "visits")?;
    Ok(())
}
