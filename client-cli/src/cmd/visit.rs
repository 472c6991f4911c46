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
    registration::{MatterArgs, PersonArgs, matter, petitioners},
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
    /// Persons in the batch (default 1).
    #[arg(long)]
    headcount: Option<i32>,
    #[command(flatten)]
    person: PersonArgs,
    #[command(flatten)]
    matter: MatterArgs,
}

pub fn run(store: &mut Store, ask: &Ask, args: VisitArgs, now: DateTime<Utc>) -> Result<()> {
    let dictionaries = store.dictionaries()?;
    let request = visit_request(ask, dictionaries.as_ref(), args)?;
    super::checks::check(
        store,
        &xinfang_proto::v1::operation::Op::RegisterVisit(request.clone()),
        now,
    )?;
    queued(&capture::register_visit(store, request, now)?);
    Ok(())
}

fn visit_request(
    ask: &Ask,
    dictionaries: Option<&xinfang_proto::v1::Dictionaries>,
    args: VisitArgs,
) -> Result<RegisterVisitRequest> {
    let visited_at = ask.time(args.at, "Visited at (来访时间)", true)?;
    let level = ask.choice(
        args.level,
        "Level (来访层级)",
        EnumKind::Level,
        &["township"],
    )?;
    let place_name = ask.text(args.place, "Place (来访地点)", true)?;
    // A person at the terminal is asked what the flags would say; a script gives the flags.
    let non_reception = args.non_reception
        || (ask.interactive
            && dialoguer::Confirm::new()
                .with_prompt("At a non-reception place (非接待场所)?")
                .default(false)
                .interact()?);
    let headcount = match args.headcount {
        Some(n) => n,
        None if ask.interactive => dialoguer::Input::<i32>::new()
            .with_prompt("Headcount (人数)")
            .default(1)
            .interact_text()?,
        None => 1,
    };
    let petitioners = petitioners(ask, args.person, true)?;
    let matter = matter(ask, dictionaries, args.matter)?;
    Ok(RegisterVisitRequest {
        request_id: String::new(),
        visit: Some(Visit {
            visited_at,
            level,
            non_reception_place: non_reception,
            place_name,
            headcount,
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
                    "repeat": v.classification.as_ref().is_some_and(|c| c.repeat),
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
            EnumKind::Level.describe(v.level),
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
