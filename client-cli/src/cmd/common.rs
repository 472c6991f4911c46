//! What the subcommands share: asking for what is missing when a person is at the terminal ([`Ask`]), the
//! account of the profile, and printing (short ids, tables, JSON, the line that says an operation is queued).

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use chrono::Utc;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use xinfang_client::{
    store::{OpState, OutboxEntry, Settings, Store},
    text::{self, EnumKind},
};
use xinfang_proto::v1::Petitioner;

/// Asks for what is missing when a person is at the terminal. Otherwise (a script, `--no-input`) a missing
/// value stays empty, so that the capture's checks name every missing field at once, under the server's
/// field paths, instead of stopping at the first.
pub struct Ask {
    pub interactive: bool,
}

impl Ask {
    pub fn text(&self, given: Option<String>, prompt: &str, required: bool) -> Result<String> {
        match given {
            Some(v) => Ok(v),
            None if self.interactive => Ok(dialoguer::Input::<String>::new()
                .with_prompt(prompt)
                .allow_empty(!required)
                .interact_text()?),
            None => Ok(String::new()),
        }
    }

    pub fn optional(&self, given: Option<String>, prompt: &str) -> Result<String> {
        self.text(given, prompt, false)
    }

    /// An optional field checked as it is typed (flags are checked with the whole operation).
    pub fn checked(
        &self,
        given: Option<String>,
        prompt: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<String> {
        match given {
            Some(v) => Ok(v),
            None if self.interactive => Ok(dialoguer::Input::<String>::new()
                .with_prompt(prompt)
                .allow_empty(true)
                .validate_with(|s: &String| {
                    if s.trim().is_empty() {
                        Ok(())
                    } else {
                        check(s)
                    }
                })
                .interact_text()?),
            None => Ok(String::new()),
        }
    }

    pub fn time(
        &self,
        given: Option<String>,
        prompt: &str,
        required: bool,
    ) -> Result<Option<prost_types::Timestamp>> {
        let value = match given {
            Some(v) => v,
            None if self.interactive => {
                let mut input = dialoguer::Input::<String>::new()
                    .with_prompt(format!("{prompt} (2025-06-01 09:30, now)"))
                    .allow_empty(!required);
                if required {
                    input = input.default("now".into());
                }
                input.interact_text()?
            }
            None => String::new(),
        };
        if value.trim().is_empty() {
            return Ok(None);
        }
        text::parse_time(&value, Utc::now())
            .map(Some)
            .map_err(|e| anyhow!("{prompt}: {e}"))
    }

    pub fn choice(
        &self,
        given: Option<String>,
        prompt: &str,
        kind: EnumKind,
        skip: &[&str],
    ) -> Result<i32> {
        match given {
            Some(v) => kind.parse(&v).map_err(|e| anyhow!("{prompt}: {e}")),
            None if self.interactive => {
                let names: Vec<String> = kind
                    .names()
                    .into_iter()
                    .filter(|n| !skip.contains(&n.as_str()))
                    .collect();
                // The pick list shows the Chinese name beside the short name the flag takes.
                let items: Vec<String> = names
                    .iter()
                    .map(|n| match kind.parse(n) {
                        Ok(v) => kind.describe(v),
                        Err(_) => n.clone(),
                    })
                    .collect();
                let i = dialoguer::Select::new()
                    .with_prompt(prompt)
                    .items(&items)
                    .default(0)
                    .interact()?;
                Ok(kind.parse(&names[i]).map_err(|e| anyhow!(e))?)
            }
            None => Ok(0),
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn settings(store: &Store) -> Result<Settings> {
    store.settings()?.ok_or_else(|| {
        anyhow!("this profile is not logged in: run `xf login --server URL --token TOKEN`")
    })
}

/// The last 8 characters of an id: enough to name it (`xf outbox fix 3f9c2a1b`).
pub fn short(id: &str) -> &str {
    &id[id.len().saturating_sub(8)..]
}

pub fn queued(entry: &OutboxEntry) {
    println!(
        "queued {} {} ({}): run `xf sync` when online",
        short(&entry.op_id),
        entry.kind,
        entry.subject
    );
}

pub fn read_text_arg(value: String) -> Result<String> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(value),
    }
}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

pub fn names(people: &[Petitioner]) -> String {
    people
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

pub fn waiting_note(store: &Store, kinds: &[&str], what: &str) -> Result<()> {
    let n = store
        .outbox(&[OpState::Pending, OpState::Sent])?
        .iter()
        .filter(|e| kinds.contains(&e.kind.as_str()))
        .count();
    if n > 0 {
        println!("{n} {what} waiting in the outbox (`xf sync`)");
    }
    Ok(())
}
