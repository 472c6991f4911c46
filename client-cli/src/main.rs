//! `xf`, the field client: captures visits, letters, return trips and steps on cases with no network into
//! a local store (one per profile), and syncs it with the server when there is a link.
//!
//! This file parses the command line, opens the profile's store and hands each subcommand to its module
//! under `cmd/`: one file per subcommand (a record's `xf visit new` and its list `xf visits` share one), each
//! with its flags and its `run`.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use chrono::Utc;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use xinfang_client::{capture::CaptureError, store::Store};

mod cmd;

use cmd::{
    access, case, case_office, cases,
    common::{Ask, ListArgs},
    detach, fund, letter, login, metrics, org, outbox,
    registration::RegistrationCommand,
    report, sync, target, trip, visit,
};

#[derive(Debug, Parser)]
#[command(
    name = "xf",
    version,
    about = "xinfang field client: capture offline, sync when online"
)]
struct Cli {
    /// Profile (account) to use; each has its own local store.
    #[arg(
        long,
        short = 'p',
        env = "XF_PROFILE",
        default_value = "default",
        global = true,
        help_heading = "Profile"
    )]
    profile: String,
    /// Use this store file instead of the profile's.
    #[arg(long, env = "XF_STORE", global = true, help_heading = "Profile")]
    store: Option<PathBuf>,
    /// Never ask: missing fields are errors (the default when stdin is not a terminal).
    #[arg(long, global = true, help_heading = "Profile")]
    no_input: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Save the server address and token of this profile.
    Login(login::LoginArgs),
    /// Visits met in the field (来访).
    #[command(subcommand)]
    Visit(RegistrationCommand<visit::VisitArgs>),
    /// Letters and online items (来信).
    #[command(subcommand)]
    Letter(RegistrationCommand<letter::LetterArgs>),
    /// Persuade-and-return trips (劝返).
    #[command(subcommand)]
    Trip(trip::TripCommand),
    /// Steps on a case: a unit's steps are queued for the next sync, the office's are online.
    #[command(subcommand)]
    Case(case::CaseCommand),
    /// Cases with their clocks: the local copy, or `--online` the server's list.
    Cases(cases::CasesArgs),
    /// The special fund's requests: submit, bureau decision, approval, payment (online).
    #[command(subcommand)]
    Fund(fund::FundCommand),
    /// The year's performance targets and 两降两升, set by the county office (online).
    #[command(subcommand)]
    Target(target::TargetCommand),
    /// The local copy of visits.
    Visits(ListArgs),
    /// The local copy of letters.
    Letters(ListArgs),
    /// The local copy of return trips.
    Trips(ListArgs),
    /// Operations waiting to be synced, and those the server rejected.
    Outbox {
        #[command(subcommand)]
        command: Option<outbox::OutboxCommand>,
    },
    /// Push the outbox, then pull the changes of this account's scope.
    Sync(sync::SyncArgs),
    /// The county's org units (online).
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Indicators, statistics, targets and budget execution, computed by the server (online).
    #[command(subcommand)]
    Metrics(metrics::MetricsCommand),
    /// The annual performance self-evaluation report (online): Markdown, score table, inconsistencies.
    Report(report::ReportArgs),
    /// Print a shell completion script, e.g. `xf completions bash > /etc/bash_completion.d/xf`.
    Completions { shell: clap_complete::Shell },
}

/// Exit codes: 0 done; 2 an operation the local checks refused (nothing queued; the fields are listed);
/// 1 anything else, also a sync the server stopped (nothing is lost: the next one goes on).
fn main() -> ExitCode {
    restore_sigpipe();
    // The role decides which commands help shows; the profile has to be known before the parse for that.
    let account = peek_account();
    let mut command = Cli::command();
    if let Some(account) = &account {
        command = access::hide(command, account);
    }
    let matches = command.get_matches();
    let path = access::path(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xf: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, path)) {
        Ok(code) => code,
        Err(e) => {
            if let Some(CaptureError::Invalid(v)) = e.downcast_ref::<CaptureError>() {
                eprintln!("xf: not queued; fix these fields:");
                for f in v.clone().into_vec() {
                    eprintln!(
                        "  {}: {}",
                        cmd::online::capture_flag(&f.field),
                        f.description
                    );
                }
                return ExitCode::from(2);
            }
            eprintln!("xf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn open_store(cli: &Cli) -> Result<Store> {
    let path = match &cli.store {
        Some(p) => p.clone(),
        None => Store::profile_path(&cli.profile)?,
    };
    Store::open(&path).with_context(|| format!("opening {}", path.display()))
}

/// Rust ignores SIGPIPE, so a print to a closed pipe (`xf cases | head`) panics; a command-line tool should
/// end quietly instead, as `cat` does.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL installs no handler code.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
}

/// The account of the profile named on the command line (or by `XF_PROFILE`/`XF_STORE`), when its store
/// exists: read before the parse, so help can leave out what the role may not use. Any failure here only
/// means help shows everything; the parse and the store then report the real problem.
fn peek_account() -> Option<xinfang_client::store::Account> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |long: &str, short: Option<&str>| -> Option<String> {
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                return None;
            }
            if a == long || Some(a.as_str()) == short {
                return it.next().cloned();
            }
            if let Some(v) = a.strip_prefix(&format!("{long}=")) {
                return Some(v.to_owned());
            }
        }
        None
    };
    let path = match flag("--store", None).or_else(|| std::env::var("XF_STORE").ok()) {
        Some(p) => PathBuf::from(p),
        None => {
            let profile = flag("--profile", Some("-p"))
                .or_else(|| std::env::var("XF_PROFILE").ok())
                .unwrap_or_else(|| "default".into());
            Store::profile_path(&profile).ok()?
        }
    };
    if !path.exists() {
        return None;
    }
    Store::open(&path).ok()?.account().ok().flatten()
}

async fn run(cli: Cli, path: Vec<String>) -> Result<ExitCode> {
    let ask = Ask {
        interactive: !cli.no_input && std::io::stdin().is_terminal(),
    };
    if let Command::Completions { shell } = &cli.command {
        cmd::completions::run(*shell);
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = open_store(&cli)?;
    // The server's names for codes, cached by the last sync; an unreadable cache only means the built-in
    // names, which the capture checks would report on their own.
    if let Ok(Some(d)) = store.dictionaries() {
        xinfang_client::labels::install(xinfang_client::labels::Labels::from_dictionaries(&d));
    }
    access::check(&store, &path)?;
    let now = Utc::now();
    match cli.command {
        Command::Completions { .. } => unreachable!("handled above"),
        Command::Login(args) => login::run(&mut store, &ask, args).await?,
        Command::Visit(RegistrationCommand::New(args)) => visit::run(&mut store, &ask, args, now)?,
        Command::Letter(RegistrationCommand::New(args)) => {
            letter::run(&mut store, &ask, args, now)?
        }
        Command::Visit(RegistrationCommand::Detach(args)) => {
            detach::run(&store, &ask, detach::Kind::Visit, args).await?
        }
        Command::Letter(RegistrationCommand::Detach(args)) => {
            detach::run(&store, &ask, detach::Kind::Letter, args).await?
        }
        Command::Trip(command) => trip::run(&mut store, &ask, command, now)?,
        Command::Case(case::CaseCommand::Office(command)) => {
            case_office::run(&mut store, &ask, command).await?
        }
        Command::Case(command) => case::run(&mut store, &ask, command)?,
        Command::Cases(args) => cases::run(&store, args).await?,
        Command::Fund(command) => fund::run(&store, &ask, command).await?,
        Command::Target(command) => target::run(&store, command).await?,
        Command::Visits(args) => visit::list(&store, args.json)?,
        Command::Letters(args) => letter::list(&store, args.json)?,
        Command::Trips(args) => trip::list(&store, args.json)?,
        Command::Outbox { command } => outbox::run(
            &mut store,
            &ask,
            command.unwrap_or(outbox::OutboxCommand::List {
                all: false,
                json: false,
            }),
        )?,
        Command::Sync(args) => return sync::run(&mut store, args).await,
        Command::Metrics(command) => metrics::run(&store, command).await?,
        Command::Report(args) => report::run(&store, args).await?,
        Command::Org(command) => org::run(&store, command).await?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path of the access table that names no command would leave that command unguarded and unhidden.
    #[test]
    fn every_path_of_the_access_table_is_a_command() {
        let root = Cli::command();
        for (path, method) in access::COMMANDS {
            let mut command = &root;
            for name in *path {
                command = command
                    .find_subcommand(name)
                    .unwrap_or_else(|| panic!("`xf {}` ({method}) is no command", path.join(" ")));
            }
            assert!(
                command.get_subcommands().next().is_none(),
                "`xf {}` is a group, not a command",
                path.join(" ")
            );
        }
    }
}
