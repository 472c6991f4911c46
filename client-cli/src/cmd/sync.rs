//! `xf sync`: push the outbox, then pull the changes of this account's scope, with a progress bar on a
//! terminal and a summary. A sync stopped by the server exits 1 and loses nothing: the next one goes on.

use std::{io::IsTerminal, process::ExitCode};

use anyhow::Result;
use clap::Args;
use xinfang_client::{
    Client,
    store::Store,
    sync::{self, Progress, Stage, SyncError, SyncOptions, SyncSummary},
};

use super::common::settings;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Operations per push.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Tries of each call while the server is unavailable (with growing waits between them).
    #[arg(long, default_value_t = 6)]
    attempts: u32,
    /// Push only.
    #[arg(long)]
    push_only: bool,
    /// Pull everything in scope again, from the beginning (repairs a local copy).
    #[arg(long, conflicts_with = "push_only")]
    full: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn print_summary(s: &SyncSummary) {
    let mut pushed = format!("pushed: {} applied, {} duplicate", s.applied, s.duplicates);
    if s.rejected > 0 {
        pushed.push_str(&format!(", {} rejected", s.rejected));
    }
    if s.deferred > 0 {
        pushed.push_str(&format!(", {} deferred", s.deferred));
    }
    println!("{pushed}");
    println!(
        "pulled: {} records, {} removed from the local copy",
        s.pulled, s.tombstones
    );
    if s.rejected > 0 {
        println!("see `xf outbox` for the rejected ones and their reasons");
    }
    if s.held > 0 {
        println!(
            "{} trip(s) wait for a visit they link that is not applied yet (see `xf outbox`)",
            s.held
        );
    }
}

pub async fn run(store: &mut Store, args: SyncArgs) -> Result<ExitCode> {
    let mut client = Client::for_settings(&settings(store)?)?;
    if args.full {
        store.reset_cursor()?;
    }
    let options = SyncOptions {
        batch_size: args.batch,
        max_attempts: args.attempts.max(1),
        skip_pull: args.push_only,
        ..SyncOptions::default()
    };
    let show = !args.quiet && std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut report = |p: Progress| {
        if !show {
            return;
        }
        match p {
            Progress::WaitingForLock => {
                eprintln!("waiting for another sync of this profile to finish…")
            }
            Progress::PushStarted { total } => {
                let b = indicatif::ProgressBar::new(total as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template("push {bar:30} {pos}/{len} {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar = Some(b);
            }
            Progress::Pushed { done, .. } => {
                if let Some(b) = &bar {
                    b.set_position(done as u64);
                }
            }
            Progress::Retrying {
                stage,
                attempt,
                wait,
                message,
            } => {
                let what = if stage == Stage::Push { "push" } else { "pull" };
                let line = format!(
                    "{what}: server unavailable ({message}); try {} in {wait:?}",
                    attempt + 1
                );
                match &bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Progress::PullStarted => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                let b = indicatif::ProgressBar::new_spinner();
                b.set_message("pull");
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                bar = Some(b);
            }
            Progress::Pulled { pages, changes } => {
                if let Some(b) = &bar {
                    b.set_message(format!("pull: {changes} changes, {pages} pages"));
                }
            }
        }
    };
    let result = sync::run(store, &mut client, &options, &mut report).await;
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    match result {
        Ok(summary) => {
            print_summary(&summary);
            // The dictionaries ride along with every sync; without them the capture checks keep the last copy.
            if !args.push_only {
                match super::checks::refresh_dictionaries(store, &mut client).await {
                    Ok(true) => println!("dictionaries: updated"),
                    Ok(false) => {
                        println!("dictionaries: unchanged (same etag), the cached copy kept")
                    }
                    Err(e) => eprintln!(
                        "xf: note: the dictionaries were not refreshed ({e:#}); the cached ones stay"
                    ),
                }
                println!(
                    "{}",
                    super::checks::dictionaries_line(store, chrono::Utc::now())?
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(SyncError::Remote {
            stage,
            status,
            done,
        }) => {
            print_summary(&done);
            eprintln!(
                "xf: {} stopped: {:?}: {}",
                if stage == Stage::Push { "push" } else { "pull" },
                status.code(),
                status.message()
            );
            eprintln!("xf: nothing is lost: run `xf sync` again to go on where it stopped");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
