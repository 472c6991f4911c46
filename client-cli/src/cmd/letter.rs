//! `xf letter new` (a letter or online item, captured offline) and `xf letters` (the local copy).

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::json;
use xinfang_client::{
    capture,
    store::Store,
    text::{self, EnumKind},
};
use xinfang_proto::v1::{Letter, RegisterLetterRequest};

use super::{
    common::{Ask, names, print_json, queued, table, waiting_note},
    registration::{MatterArgs, PersonArgs, matter, petitioners},
};

#[derive(Debug, Args)]
pub struct LetterArgs {
    /// letter, phone, online, leader-mailbox, peoples-daily-board, transferred, assigned, campaign-transfer.
    #[arg(long)]
    channel: Option<String>,
    /// The sender's reference (required for items from above).
    #[arg(long)]
    source_ref: Option<String>,
    /// The campaign of a campaign transfer, e.g. 扫黑除恶.
    #[arg(long)]
    campaign: Option<String>,
    /// When it was received.
    #[arg(long)]
    received_at: Option<String>,
    /// No petitioner: an anonymous letter.
    #[arg(long)]
    anonymous: bool,
    #[command(flatten)]
    person: PersonArgs,
    #[command(flatten)]
    matter: MatterArgs,
}

pub fn run(store: &mut Store, ask: &Ask, args: LetterArgs, now: DateTime<Utc>) -> Result<()> {
    let dictionaries = store.dictionaries()?;
    let request = letter_request(ask, dictionaries.as_ref(), args)?;
    super::checks::check(
        store,
        &xinfang_proto::v1::operation::Op::RegisterLetter(request.clone()),
        now,
    )?;
    queued(&capture::register_letter(store, request, now)?);
    Ok(())
}

fn letter_request(
    ask: &Ask,
    dictionaries: Option<&xinfang_proto::v1::Dictionaries>,
    args: LetterArgs,
) -> Result<RegisterLetterRequest> {
    let channel = ask.choice(args.channel, "Channel", EnumKind::LetterChannel, &[])?;
    let received_at = ask.time(args.received_at, "Received at", true)?;
    let petitioners = if args.anonymous {
        Vec::new()
    } else {
        petitioners(ask, args.person, true)?
    };
    Ok(RegisterLetterRequest {
        request_id: String::new(),
        letter: Some(Letter {
            channel,
            source_reference: args.source_ref.unwrap_or_default(),
            campaign: args.campaign.unwrap_or_default(),
            received_at,
            petitioners,
            matter: Some(matter(ask, dictionaries, args.matter)?),
            ..Default::default()
        }),
    })
}

pub fn list(store: &Store, json: bool) -> Result<()> {
    let letters = store.letters()?;
    if json {
        let items: Vec<_> = letters
            .iter()
            .map(|l| {
                let m = l.matter.clone().unwrap_or_default();
                json!({
                    "id": l.id, "number": l.number, "received_at": text::format_time(l.received_at.as_ref()),
                    "channel": EnumKind::LetterChannel.format(l.channel), "petitioners": names(&l.petitioners),
                    "category": m.category, "problem_org_code": m.problem_org_code,
                    "case_id": l.classification.as_ref().map(|c| c.case_id.clone()).unwrap_or_default(),
                    "repeat": l.classification.as_ref().is_some_and(|c| c.repeat),
                })
            })
            .collect();
        return print_json(&json!(items));
    }
    let mut t = table(&[
        "NUMBER",
        "RECEIVED",
        "CHANNEL",
        "PETITIONERS",
        "CATEGORY",
        "PROBLEM AT",
    ]);
    for l in &letters {
        let m = l.matter.clone().unwrap_or_default();
        t.add_row(vec![
            l.number.clone(),
            text::format_time(l.received_at.as_ref()),
            EnumKind::LetterChannel.describe(l.channel),
            names(&l.petitioners),
            m.category,
            m.problem_org_code,
        ]);
    }
    println!("{t}");
    waiting_note(store, &["register_letter"], "letters")?;
    Ok(())
}
