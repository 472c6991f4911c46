//! `xf outbox`: what waits to be synced and what the server rejected, with its reasons; `fix` edits a
//! rejected operation and queues it again under a new op id, `discard` drops one (it stays listed).

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use clap::Subcommand;
use serde_json::json;
use xinfang_client::{
    capture, edit,
    store::{OpState, OutboxEntry, Store},
    text,
};

use super::common::{Ask, print_json, queued, short, table};

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Pending, sent and rejected operations (`--all`: every one).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// One operation with its fields and the server's answer.
    Show { id: String },
    /// Edit a rejected operation and queue it again (under a new op id).
    Fix {
        id: String,
        /// PATH=VALUE, with the field paths the server named (e.g. visit.petitioners[0].id_number=…).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Queue it again unchanged (e.g. after the county put the case right).
        #[arg(long)]
        as_is: bool,
    },
    /// Drop a pending or rejected operation (it stays listed as discarded).
    Discard { id: String },
}

pub fn run(store: &mut Store, ask: &Ask, command: OutboxCommand) -> Result<()> {
    match command {
        OutboxCommand::List { all, json } => {
            let states: &[OpState] = if all {
                &[]
            } else {
                &[OpState::Pending, OpState::Sent, OpState::Rejected]
            };
            let entries = store.outbox(states)?;
            if json {
                let items: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        json!({
                            "op_id": e.op_id, "kind": e.kind, "subject": e.subject, "target": e.target,
                            "state": e.state.as_str(), "code": e.code().map(|c| format!("{c:?}")),
                            "reason": e.reason, "message": e.message, "fields": e.fields,
                            "result_id": e.result_id, "result_number": e.result_number,
                            "replaced_by": e.replaced_by, "created_at": e.created_at, "attempts": e.attempts,
                        })
                    })
                    .collect();
                return print_json(&json!(items));
            }
            let mut t = table(&[
                "ID",
                "STATE",
                "WHAT",
                "MATTER",
                "CREATED",
                "RESULT / REASON",
            ]);
            for e in &entries {
                let outcome = match e.state {
                    OpState::Rejected | OpState::Pending if e.code.is_some() => {
                        let mut s = rejection(e);
                        if !e.fields.is_empty() {
                            s.push_str(&format!(" [{}]", e.fields.join(", ")));
                        }
                        s
                    }
                    OpState::Replaced => format!(
                        "replaced by {}",
                        short(e.replaced_by.as_deref().unwrap_or(""))
                    ),
                    _ => e.result_number.clone(),
                };
                t.add_row(vec![
                    short(&e.op_id).to_owned(),
                    e.state.to_string(),
                    e.subject.clone(),
                    short(&e.target).to_owned(),
                    local_time(&e.created_at),
                    outcome,
                ]);
            }
            println!("{t}");
            let counts = store.outbox_counts()?;
            let line: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
            println!(
                "{}",
                if line.is_empty() {
                    "the outbox is empty".to_owned()
                } else {
                    line.join(", ")
                }
            );
            if counts.get(&OpState::Rejected).is_some_and(|n| *n > 0) {
                println!(
                    "rejected operations wait for `xf outbox fix ID` or `xf outbox discard ID`"
                );
            }
        }
        OutboxCommand::Show { id } => {
            let e = store.find_entry(&id)?;
            println!("{} {} ({})", e.op_id, e.kind, e.state);
            println!("subject: {}", e.subject);
            println!(
                "created: {}   pushes: {}",
                local_time(&e.created_at),
                e.attempts
            );
            if e.code.is_some() {
                println!("server:  {}", rejection(&e));
            }
            if let Some(by) = &e.replaced_by {
                println!("replaced by {by}");
            }
            if !e.result_number.is_empty() || !e.result_id.is_empty() {
                println!("result:  {} {}", e.result_number, e.result_id);
            }
            if let Some(op) = &e.operation.op {
                for f in &e.fields {
                    println!("  {f} = {:?}", edit::get(op, f).unwrap_or_default());
                }
            }
        }
        OutboxCommand::Fix { id, set, as_is } => {
            let e = store.find_entry(&id)?;
            if e.state != OpState::Rejected {
                bail!(
                    "{} is {}: only rejected operations are fixed",
                    short(&e.op_id),
                    e.state
                );
            }
            let mut op = e
                .operation
                .op
                .clone()
                .ok_or_else(|| anyhow!("the stored operation is empty"))?;
            let now = Utc::now();
            for assignment in &set {
                let (path, value) = assignment
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--set {assignment:?}: expected PATH=VALUE"))?;
                edit::set(&mut op, path, value, now)?;
            }
            if set.is_empty() && !as_is {
                if !ask.interactive {
                    bail!("give --set PATH=VALUE for the fields to change, or --as-is");
                }
                println!("{}: {}", short(&e.op_id), rejection(&e));
                if e.fields.is_empty() {
                    let again = dialoguer::Confirm::new()
                        .with_prompt("The server named no field. Queue it again unchanged?")
                        .default(false)
                        .interact()?;
                    if !again {
                        return Ok(());
                    }
                }
                for f in &e.fields {
                    let current = edit::get(&op, f).unwrap_or_default();
                    let value = dialoguer::Input::<String>::new()
                        .with_prompt(f.as_str())
                        .with_initial_text(current)
                        .allow_empty(true)
                        .interact_text()?;
                    edit::set(&mut op, f, &value, now)?;
                }
            }
            let new = capture::requeue(store, &e.op_id, op, now)?;
            println!("{} replaced by {}", short(&e.op_id), short(&new.op_id));
            queued(&new);
        }
        OutboxCommand::Discard { id } => {
            let e = store.find_entry(&id)?;
            let e = store.discard(&e.op_id)?;
            println!("discarded {} ({})", short(&e.op_id), e.subject);
        }
    }
    Ok(())
}

/// `InvalidArgument CASE_X: message` of a rejection (or deferral).
fn rejection(e: &OutboxEntry) -> String {
    let code = e.code().map(|c| format!("{c:?}")).unwrap_or_default();
    let reason = if e.reason.is_empty() {
        String::new()
    } else {
        format!(" {}", e.reason)
    };
    format!("{code}{reason}: {}", e.message)
}

/// A stored RFC 3339 time as Beijing time.
fn local_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            text::format_time(Some(&prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: 0,
            }))
        })
        .unwrap_or_else(|_| rfc3339.to_owned())
}
