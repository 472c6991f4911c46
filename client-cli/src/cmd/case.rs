//! `xf case …` (steps on a case of the local copy, queued for the next sync, and `xf case show`) and
//! `xf cases` (the local copy of cases).

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use xinfang_client::{
    capture,
    store::{OpState, OutboxEntry, Store},
    text::{self, EnumKind},
};
use xinfang_proto::v1::{
    AcceptCaseRequest, AssignmentMode, Case, CaseState, DeclineCaseRequest, ExtendCaseRequest,
    ObjectToAssignmentRequest, RecordEvaluationRequest, ReplyCaseRequest, ReplySupervisionRequest,
};

use super::common::{Ask, queued, read_text_arg, short};

#[derive(Debug, Args)]
pub struct StepArgs {
    /// The case: its id (or the first or last characters of it) or registration number.
    case: String,
    /// When it happened (default: now).
    #[arg(long)]
    at: Option<String>,
    /// Only if the case is still at this version (etag); without it the workflow alone judges.
    #[arg(long)]
    etag: Option<String>,
    /// Queue it even if the case is not in the local copy.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// A case of the local copy, with its history.
    Show { case: String },
    /// 受理: take the case on.
    Accept(StepArgs),
    /// 不予受理: decline on one of the six grounds.
    Decline {
        #[command(flatten)]
        step: StepArgs,
        /// other-branch, leapfrog, already-handling, review-skipped, review-window-passed, already-concluded.
        #[arg(long)]
        ground: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// 异议: send the assignment back as outside the unit's remit.
    Object {
        #[command(flatten)]
        step: StepArgs,
        #[arg(long)]
        reason: Option<String>,
    },
    /// 延期: extend the handling by up to 30 days.
    Extend {
        #[command(flatten)]
        step: StepArgs,
        #[arg(long)]
        days: Option<i32>,
        /// The unit head who approved it.
        #[arg(long)]
        approved_by: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        /// The day the written notice (延期告知书) went to the petitioner: 2025-06-01 or today.
        #[arg(long)]
        notified_on: Option<String>,
    },
    /// 答复: the written opinion that concludes the case.
    Reply {
        #[command(flatten)]
        step: StepArgs,
        /// The opinion (意见书); `@FILE` reads it from a file.
        #[arg(long)]
        opinion: Option<String>,
        /// 交办 cases: the completion report (办结报告); `@FILE` reads it from a file.
        #[arg(long)]
        report: Option<String>,
        /// Publish the opinion for the petitioner's evaluation: unrated when the window closes, the case
        /// counts as 未参评.
        #[arg(long)]
        publish: bool,
    },
    /// 督办回复: the unit's written reply to a supervision (queued offline).
    ReplySupervision {
        #[command(flatten)]
        step: StepArgs,
        /// The reply; `@FILE` reads it from a file.
        #[arg(long)]
        reply: Option<String>,
    },
    #[command(flatten)]
    Office(super::case_office::OfficeCommand),
    /// 评价: the petitioner's ratings.
    Evaluate {
        #[command(flatten)]
        step: StepArgs,
        /// satisfied, basically-satisfied, unsatisfied, not-participated.
        #[arg(long)]
        office: Option<String>,
        #[arg(long)]
        unit: Option<String>,
    },
}

pub fn run(store: &mut Store, ask: &Ask, command: CaseCommand) -> Result<()> {
    let now = Utc::now();
    let entry = match command {
        CaseCommand::Show { case } => return show_case(store, &case),
        CaseCommand::Office(_) => bail!("an online step: run through `case_office::run`"),
        CaseCommand::ReplySupervision { step, reply } => {
            let (case_id, _) = step_target(store, &step, "reply-supervision")?;
            let (occurred_at, etag) = step_common(&step)?;
            let reply = read_text_arg(ask.text(
                reply,
                "Reply to the supervision (督办回复), or @FILE",
                true,
            )?)?;
            capture::reply_supervision(
                store,
                ReplySupervisionRequest {
                    request_id: String::new(),
                    case_id,
                    etag,
                    occurred_at,
                    reply,
                },
                now,
            )?
        }
        CaseCommand::Accept(step) => {
            let (case_id, _) = step_target(store, &step, "accept")?;
            let (occurred_at, etag) = step_common(&step)?;
            capture::accept_case(
                store,
                AcceptCaseRequest {
                    request_id: String::new(),
                    case_id,
                    etag,
                    occurred_at,
                },
                now,
            )?
        }
        CaseCommand::Decline {
            step,
            ground,
            reason,
        } => {
            let (case_id, _) = step_target(store, &step, "decline")?;
            let (occurred_at, etag) = step_common(&step)?;
            let ground = ask.choice(ground, "Ground", EnumKind::DeclineGround, &[])?;
            let reason = ask.optional(reason, "Reason")?;
            capture::decline_case(
                store,
                DeclineCaseRequest {
                    request_id: String::new(),
                    case_id,
                    etag,
                    occurred_at,
                    ground,
                    reason,
                },
                now,
            )?
        }
        CaseCommand::Object { step, reason } => {
            let (case_id, _) = step_target(store, &step, "object")?;
            let (occurred_at, etag) = step_common(&step)?;
            let reason = ask.text(reason, "Why it is outside the unit's remit", true)?;
            capture::object_to_assignment(
                store,
                ObjectToAssignmentRequest {
                    request_id: String::new(),
                    case_id,
                    etag,
                    occurred_at,
                    reason,
                },
                now,
            )?
        }
        CaseCommand::Extend {
            step,
            days,
            approved_by,
            reason,
            notified_on,
        } => {
            let (case_id, _) = step_target(store, &step, "extend")?;
            let (occurred_at, etag) = step_common(&step)?;
            let days = match days {
                Some(d) => d,
                None if ask.interactive => dialoguer::Input::<i32>::new()
                    .with_prompt("Days (1 to 30)")
                    .interact_text()?,
                None => 0,
            };
            let approved_by = ask.text(approved_by, "Approved by (unit head)", true)?;
            let reason = ask.text(reason, "Reason", true)?;
            let notified_on = ask.text(
                notified_on,
                "Written notice to the petitioner sent on (2025-06-01, today)",
                true,
            )?;
            let notified_on = if notified_on.trim().is_empty() {
                None
            } else {
                Some(text::parse_date(&notified_on, now).map_err(|e| anyhow::anyhow!(e))?)
            };
            capture::extend_case(
                store,
                ExtendCaseRequest {
                    request_id: String::new(),
                    case_id,
                    etag,
                    occurred_at,
                    days,
                    approved_by,
                    reason,
                    notified_on,
                },
                now,
            )?
        }
        CaseCommand::Reply {
            step,
            opinion,
            report,
            publish,
        } => {
            let (case_id, case) = step_target(store, &step, "reply")?;
            let (occurred_at, etag) = step_common(&step)?;
            let opinion = read_text_arg(ask.text(opinion, "Opinion (意见书), or @FILE", true)?)?;
            let assigned = case.is_some_and(|c| c.assignment_mode() == AssignmentMode::Assign);
            let completion_report = match report {
                Some(r) => read_text_arg(r)?,
                None if assigned => read_text_arg(ask.text(
                    None,
                    "Completion report (办结报告), or @FILE",
                    true,
                )?)?,
                None => String::new(),
            };
            // The server refuses a 交办 reply without its report (办结报告); the local copy knows the mode,
            // so it is refused here instead of coming back rejected after the next sync.
            if assigned && completion_report.trim().is_empty() {
                let mut v = xinfang_proto::validate::Violations::new();
                v.add(
                    "completion_report",
                    "a 交办 case is replied with its completion report (办结报告)",
                );
                return Err(capture::CaptureError::Invalid(v).into());
            }
            capture::reply_case(
                store,
                ReplyCaseRequest {
                    request_id: String::new(),
                    case_id,
                    etag,
                    occurred_at,
                    opinion,
                    completion_report,
                    publish_for_evaluation: publish,
                },
                now,
            )?
        }
        CaseCommand::Evaluate { step, office, unit } => {
            let (case_id, _) = step_target(store, &step, "evaluate")?;
            let (occurred_at, etag) = step_common(&step)?;
            let office_rating = ask.choice(
                office,
                "Rating of the petition office",
                EnumKind::Rating,
                &[],
            )?;
            let unit_rating = ask.choice(
                unit,
                "Rating of the responsible unit",
                EnumKind::Rating,
                &[],
            )?;
            capture::record_evaluation(
                store,
                RecordEvaluationRequest {
                    request_id: String::new(),
                    case_id,
                    etag,
                    occurred_at,
                    office_rating,
                    unit_rating,
                },
                now,
            )?
        }
    };
    queued(&entry);
    Ok(())
}

/// The case a step acts on: found in the local copy (by id, part of it, or number), or, with `--force`,
/// taken as given.
fn step_target(store: &Store, step: &StepArgs, action: &str) -> Result<(String, Option<Case>)> {
    match store.find_case(&step.case)? {
        Some(case) => {
            let state = case.state();
            let plausible = match action {
                "accept" | "object" => matches!(state, CaseState::Assigned),
                "decline" => matches!(state, CaseState::Assigned | CaseState::Registered),
                "extend" | "reply" => matches!(state, CaseState::Accepted),
                "evaluate" => matches!(
                    state,
                    CaseState::Replied | CaseState::ReviewRequested | CaseState::Reviewed
                ),
                _ => true,
            };
            if !plausible {
                eprintln!(
                    "xf: note: the local copy of {} is {}; the server will judge the step when it syncs",
                    case.number,
                    EnumKind::CaseState.format(state as i32)
                );
            }
            Ok((case.id.clone(), Some(case)))
        }
        None if step.force => Ok((step.case.clone(), None)),
        None => bail!(
            "no case {:?} in the local copy: run `xf sync`, or pass --force with its full id",
            step.case
        ),
    }
}

fn step_common(step: &StepArgs) -> Result<(Option<prost_types::Timestamp>, String)> {
    let at = match &step.at {
        Some(t) => Some(text::parse_time(t, Utc::now()).map_err(|e| anyhow!("--at: {e}"))?),
        None => None,
    };
    Ok((at, step.etag.clone().unwrap_or_default()))
}

fn show_case(store: &Store, id: &str) -> Result<()> {
    let case = store
        .find_case(id)?
        .ok_or_else(|| anyhow!("no case {id:?} in the local copy"))?;
    super::cases_view::print_case(&case, Utc::now());
    println!("history:");
    for e in store.case_history(&case.id)? {
        let reason = if e.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", e.reason)
        };
        println!(
            "  {}  {}{}",
            text::format_time(e.occurred_at.as_ref()),
            e.action,
            reason
        );
    }
    let waiting: Vec<OutboxEntry> = store
        .outbox(&[OpState::Pending, OpState::Sent, OpState::Rejected])?
        .into_iter()
        .filter(|e| e.target == case.id)
        .collect();
    for e in waiting {
        println!("outbox: {} {} {}", short(&e.op_id), e.state, e.subject);
    }
    Ok(())
}
