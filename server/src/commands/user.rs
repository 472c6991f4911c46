//! `xinfang-server user add|passwd|disable|list`: the administrator manages the people who sign in to the
//! workbench. A password is read from standard input (one line; for scripts) or asked for twice on a
//! terminal without echo, never taken from the command line, where `ps` and the shell history would keep it.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use sqlx::PgPool;

use crate::{auth::Role, config::UserCommand, people};

pub async fn run(pool: &PgPool, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            org_unit,
            display_name,
        } => {
            let role: Role = role.parse()?;
            let password = read_password(&format!("password for {name}"))?;
            let (id, principal) = people::add(
                pool,
                &name,
                role,
                &org_unit,
                display_name.as_deref(),
                &password,
            )
            .await?;
            eprintln!(
                "added {name}: {} of {} (person {id}, principal {})",
                principal.role, principal.org_code, principal.id
            );
        }
        UserCommand::Passwd { name } => {
            let password = read_password(&format!("new password for {name}"))?;
            people::reset_password(pool, &name, &password).await?;
            eprintln!("password of {name} set; the account is unlocked and its sessions ended");
        }
        UserCommand::Disable { name } => {
            people::disable(pool, &name).await?;
            eprintln!("{name} disabled; their sessions ended");
        }
        UserCommand::List => {
            for person in people::list(pool).await? {
                let state = if person.disabled {
                    "disabled".to_owned()
                } else {
                    match person.locked_until.filter(|until| *until > person.now) {
                        Some(until) => format!("locked until {}", until.to_rfc3339()),
                        None => "active".to_owned(),
                    }
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    person.user_name,
                    person.principal.role,
                    person.principal.org_code,
                    person.principal.name,
                    person.created_at.format("%Y-%m-%d %H:%M"),
                    state
                );
            }
        }
    }
    Ok(())
}

/// A password from a terminal (asked twice, not echoed) or one line of standard input.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return dialoguer::Password::new()
            .with_prompt(prompt)
            .with_confirmation("again", "the two passwords differ")
            .interact()
            .context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "no password on standard input (one line), and it is not a terminal to ask on"
    );
    Ok(password)
}
