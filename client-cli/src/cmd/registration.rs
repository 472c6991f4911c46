//! What registering a visit or a letter asks for: the persons (also those a trip brings back) and the
//! case, as flags or, at the terminal, as questions; an ID number or phone typed at a prompt is checked
//! as it is typed.

use anyhow::{Result, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use xinfang_client::capture;
use xinfang_proto::{
    personal,
    v1::{ClaimType, MatterInput, Petitioner},
};

use super::common::Ask;

#[derive(Debug, Subcommand)]
pub enum RegistrationCommand<T: Args> {
    /// Capture a new one (works offline).
    New(T),
    /// Take one out of the case it was matched to, into a case of its own (the county desk, online).
    Detach(super::detach::DetachArgs),
}

#[derive(Debug, Args)]
pub struct PersonArgs {
    /// The person met or writing (first petitioner).
    #[arg(long)]
    name: Option<String>,
    /// Their citizen ID number (GB 11643).
    #[arg(long)]
    id_number: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    address: Option<String>,
    /// More petitioners: `name=张三,id=…,phone=…,address=…,rep` (repeatable).
    #[arg(long = "petitioner", value_name = "FIELDS")]
    petitioners: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MatterArgs {
    /// The complaint or request (诉求内容).
    #[arg(long)]
    content: Option<String>,
    /// What the petitioner asks for (主要诉求).
    #[arg(long)]
    demands: Option<String>,
    /// Category code, e.g. land, labor.
    #[arg(long)]
    category: Option<String>,
    /// Org unit where the problem lies, e.g. 510422100.
    #[arg(long)]
    problem_org: Option<String>,
    /// Link to this existing case (同人+同事 confirmed).
    #[arg(long)]
    link_case: Option<String>,
    /// An accusation (检举控告) against this org unit: it never handles or sees the case.
    #[arg(long, value_name = "ORG")]
    accuses: Option<String>,
}

fn petitioner_from_fields(spec: &str) -> Result<Petitioner> {
    let mut p = Petitioner::default();
    for part in spec.split(',') {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let value = value.trim().to_owned();
        match key.trim() {
            "name" => p.name = value,
            "id" | "id_number" => p.id_number = value,
            "phone" => p.phone = value,
            "address" => p.address = value,
            "rep" | "representative" => p.representative = true,
            "" => {}
            other => bail!("--petitioner: unknown field {other:?} (name, id, phone, address, rep)"),
        }
    }
    Ok(p)
}

pub fn petitioners(ask: &Ask, args: PersonArgs, required: bool) -> Result<Vec<Petitioner>> {
    let mut list = Vec::new();
    let name = if args.name.is_none() && args.petitioners.is_empty() && required {
        Some(ask.text(None, "Petitioner's name", true)?)
    } else {
        args.name
    };
    if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
        let asked = args.id_number.is_none() && ask.interactive;
        list.push(Petitioner {
            name,
            id_number: ask.checked(args.id_number, "ID number (empty if unknown)", |s| {
                personal::id_number("id_number", s, capture::today_yyyymmdd(Utc::now()))
                    .map(|_| ())
                    .map_err(|v| v.description)
            })?,
            phone: if asked {
                ask.checked(args.phone, "Phone (optional)", |s| {
                    personal::phone("phone", s)
                        .map(|_| ())
                        .map_err(|v| v.description)
                })?
            } else {
                args.phone.unwrap_or_default()
            },
            address: args.address.unwrap_or_default(),
            ..Default::default()
        });
    }
    for spec in &args.petitioners {
        list.push(petitioner_from_fields(spec)?);
    }
    // At the terminal, the others of a group are asked for one by one, as `--petitioner` would give them.
    if ask.interactive && args.petitioners.is_empty() && !list.is_empty() {
        loop {
            let name = ask.text(None, "Another petitioner's name (empty: no more)", false)?;
            if name.trim().is_empty() {
                break;
            }
            let id_number = ask.checked(None, "Their ID number (empty if unknown)", |s| {
                personal::id_number("id_number", s, capture::today_yyyymmdd(Utc::now()))
                    .map(|_| ())
                    .map_err(|v| v.description)
            })?;
            list.push(Petitioner {
                name,
                id_number,
                ..Default::default()
            });
        }
    }
    Ok(list)
}

/// A pick list of `(code, Chinese name)` when a person is at the terminal and the dictionaries are cached;
/// otherwise the typed code (checked against the cache before queueing).
fn pick(
    ask: &Ask,
    given: Option<String>,
    prompt: &str,
    items: Vec<(String, String)>,
) -> Result<String> {
    if given.is_some() || !ask.interactive || items.is_empty() {
        return ask.text(given, prompt, true);
    }
    let shown: Vec<String> = items.iter().map(|(c, n)| format!("{c} {n}")).collect();
    let i = dialoguer::Select::new()
        .with_prompt(prompt)
        .items(&shown)
        .default(0)
        .interact()?;
    Ok(items[i].0.clone())
}

pub fn matter(
    ask: &Ask,
    dictionaries: Option<&xinfang_proto::v1::Dictionaries>,
    args: MatterArgs,
) -> Result<MatterInput> {
    let categories = dictionaries
        .map(|d| {
            d.categories
                .iter()
                .map(|c| (c.code.clone(), c.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let units = dictionaries
        .map(|d| {
            d.org_units
                .iter()
                .map(|o| (o.code.clone(), o.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(MatterInput {
        content: ask.text(args.content, "Complaint (诉求内容)", true)?,
        demands: ask.text(args.demands, "Demands (主要诉求)", true)?,
        category: pick(ask, args.category, "Category (问题类别)", categories)?,
        problem_org_code: pick(
            ask,
            args.problem_org,
            "Where the problem lies (问题属地)",
            units,
        )?,
        link_case_id: args.link_case.unwrap_or_default(),
        claim_type: if args.accuses.is_some() {
            ClaimType::Accusation as i32
        } else {
            ClaimType::Unspecified as i32
        },
        accused_org_code: args.accuses.unwrap_or_default(),
        ..MatterInput::default()
    })
}
