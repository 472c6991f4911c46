//! `xf case assign | decide-objection | confirm-completion | supervise | close-supervision | review … |
//! backlog … | get`: the petition office's steps on a case, and reading one case from the server. These are
//! online only: the sync protocol carries the steps a unit or a field laptop takes offline (accept, decline,
//! object, extend, reply, evaluation, supervision reply), and the office's desk steps are taken where the
//! network is. Each is checked with the server's own rules first and saved into the local copy after.

use anyhow::Result;
use chrono::Utc;
use clap::{Args, Subcommand};
use xinfang_client::{
    store::Store,
    text::{self, EnumKind},
};
use xinfang_proto::v1::{
    AssignCaseRequest, BacklogState, Case, CloseSupervisionRequest, ConfirmCompletionRequest,
    DecideObjectionRequest, DecideReviewRequest, GetCaseRequest, MarkBacklogRequest,
    RecordHearingRequest, RequestReviewRequest, ResolveBacklogRequest, SuperviseCaseRequest,
};

use super::{
    cases_view,
    common::{Ask, print_json, read_text_arg},
    online::{case_id, client, precheck, status_error},
};

#[derive(Debug, Args)]
pub struct OnlineStep {
    /// The case: its registration number, id, or the first or last characters of the id.
    case: String,
    /// When it happened (default: now), e.g. 2026-06-01 09:30.
    #[arg(long)]
    at: Option<String>,
    /// Only if the case is still at this version (etag).
    #[arg(long)]
    etag: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OfficeCommand {
    /// 转送/交办: send the case to a township or department (online).
    Assign {
        #[command(flatten)]
        step: OnlineStep,
        /// The responsible unit's code, e.g. 510422100 (`xf org list`).
        #[arg(long)]
        to: Option<String>,
        /// forward (转送) or assign (交办, with --deadline and a completion report).
        #[arg(long)]
        mode: Option<String>,
        /// 交办 only: the handling deadline (办理期限), at most 60 days on, e.g. 2026-07-01.
        #[arg(long)]
        deadline: Option<String>,
        /// Why (needed when the case is reassigned).
        #[arg(long)]
        reason: Option<String>,
    },
    /// 异议处理: agree to a unit's objection (the case comes back) or refuse it (online).
    DecideObjection {
        #[command(flatten)]
        step: OnlineStep,
        #[arg(long, conflicts_with = "refuse")]
        agree: bool,
        #[arg(long)]
        refuse: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// 审核认定办结: confirm a 交办 case's completion report (online).
    ConfirmCompletion {
        #[command(flatten)]
        step: OnlineStep,
        #[arg(long)]
        note: Option<String>,
    },
    /// 督办: supervise the case; the unit replies within 30 days (online).
    Supervise {
        #[command(flatten)]
        step: OnlineStep,
        /// Who supervises: county, city, province, national.
        #[arg(long)]
        level: Option<String>,
        /// document (文书督办), summons (约谈督办), on-site (实地督办), joint (联合督办).
        #[arg(long)]
        method: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// 督办办结: close the supervision (online).
    CloseSupervision {
        #[command(flatten)]
        step: OnlineStep,
        #[arg(long)]
        note: Option<String>,
    },
    /// 复查/复核: request, decision, hearing (online).
    #[command(subcommand)]
    Review(ReviewCommand),
    /// 积案: list a case as backlog, and its resolution (online).
    #[command(subcommand)]
    Backlog(BacklogCommand),
    /// Read one case from the server (online): state, clocks, reply date and opinion. Agencies read the
    /// cases their letters opened this way.
    Get {
        case: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// 复查/复核申请: the petitioner asks for a review.
    Request {
        #[command(flatten)]
        step: OnlineStep,
        #[arg(long)]
        reason: Option<String>,
    },
    /// 复查/复核意见: the decision.
    Decide {
        #[command(flatten)]
        step: OnlineStep,
        /// upheld (维持) or revised (变更).
        #[arg(long)]
        outcome: Option<String>,
        /// The decision's text; `@FILE` reads it from a file.
        #[arg(long)]
        opinion: Option<String>,
    },
    /// 听证: a hearing during a 复核, first and last day.
    Hearing {
        #[command(flatten)]
        step: OnlineStep,
        #[arg(long)]
        first_day: Option<String>,
        #[arg(long)]
        last_day: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BacklogCommand {
    /// 列入积案台账, optionally with the leader in charge (领导包案) and as special-difficult (特殊疑难).
    Mark {
        #[command(flatten)]
        step: OnlineStep,
        #[arg(long)]
        leader: Option<String>,
        #[arg(long)]
        special_difficult: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// 化解: resolving (化解中), resolved (已化解) or struck-off (已销号).
    Resolve {
        #[command(flatten)]
        step: OnlineStep,
        #[arg(long)]
        step_to: Option<String>,
        /// agreement (签订息诉罢访协议) or case-closed (案结事了), when resolved.
        #[arg(long)]
        resolution: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
}

struct Common {
    case_id: String,
    etag: String,
    occurred_at: Option<prost_types::Timestamp>,
}

fn common(store: &Store, step: &OnlineStep) -> Result<Common> {
    let occurred_at = match &step.at {
        Some(t) => Some(text::parse_time(t, Utc::now()).map_err(|e| anyhow::anyhow!("--at: {e}"))?),
        None => None,
    };
    Ok(Common {
        case_id: case_id(store, &step.case)?,
        etag: step.etag.clone().unwrap_or_default(),
        occurred_at,
    })
}

fn date(flag: &str, value: Option<String>) -> Result<Option<xinfang_proto::v1::Date>> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| text::parse_date(&v, Utc::now()).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
        .transpose()
}

fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

const ASSIGN_FLAGS: &[(&str, &str)] = &[
    ("responsible_org_code", "--to"),
    ("mode", "--mode"),
    ("handling_deadline", "--deadline"),
    ("reason", "--reason"),
];

/// Checks `request` with the shared input rules, then sends it; a refusal names the flags typed.
macro_rules! send {
    ($cases:ident . $method:ident, $request:expr, $flags:expr) => {{
        let request = $request;
        let flags: &[(&str, &str)] = $flags;
        precheck(&request, flags)?;
        $cases
            .$method(request)
            .await
            .map_err(|s| status_error(s, flags))?
            .into_inner()
    }};
}

pub async fn run(store: &mut Store, ask: &Ask, command: OfficeCommand) -> Result<()> {
    let mut client = client(store)?;
    let cases = &mut client.cases;
    let case: Case = match command {
        OfficeCommand::Get { case, json } => {
            let id = case_id(store, &case)?;
            let case = cases
                .get_case(GetCaseRequest { id })
                .await
                .map_err(|s| status_error(s, &[]))?
                .into_inner();
            if json {
                return print_json(&cases_view::case_json(&case, Utc::now()));
            }
            cases_view::print_case(&case, Utc::now());
            return Ok(());
        }
        OfficeCommand::Assign {
            step,
            to,
            mode,
            deadline,
            reason,
        } => {
            let c = common(store, &step)?;
            let to = ask.text(to, "Responsible unit (code, e.g. 510422100)", true)?;
            let mode = ask.choice(
                mode,
                "转送 (forward) or 交办 (assign)",
                EnumKind::AssignmentMode,
                &[],
            )?;
            let deadline = if mode == xinfang_proto::v1::AssignmentMode::Assign as i32 {
                ask.text(deadline, "交办 handling deadline (2026-07-01)", true)
                    .map(Some)?
            } else {
                deadline
            };
            let request = AssignCaseRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                mode,
                responsible_org_code: to.trim().to_owned(),
                handling_deadline: date("--deadline", deadline)?,
                reason: reason.unwrap_or_default(),
            };
            send!(cases.assign_case, request, ASSIGN_FLAGS)
        }
        OfficeCommand::DecideObjection {
            step,
            agree,
            refuse,
            reason,
        } => {
            let c = common(store, &step)?;
            if agree == refuse {
                anyhow::bail!("say --agree (the case comes back to the office) or --refuse");
            }
            let request = DecideObjectionRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                agree,
                reason: reason.unwrap_or_default(),
            };
            send!(cases.decide_objection, request, &[])
        }
        OfficeCommand::ConfirmCompletion { step, note } => {
            let c = common(store, &step)?;
            let request = ConfirmCompletionRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                note: note.unwrap_or_default(),
            };
            send!(cases.confirm_completion, request, &[])
        }
        OfficeCommand::Supervise {
            step,
            level,
            method,
            reason,
        } => {
            let c = common(store, &step)?;
            let level = ask.choice(level, "督办 by (level)", EnumKind::Level, &["township"])?;
            let method = ask.choice(method, "督办 method", EnumKind::SupervisionMethod, &[])?;
            let request = SuperviseCaseRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                level,
                method,
                reason: reason.unwrap_or_default(),
            };
            send!(cases.supervise_case, request, &[])
        }
        OfficeCommand::CloseSupervision { step, note } => {
            let c = common(store, &step)?;
            let request = CloseSupervisionRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                note: note.unwrap_or_default(),
            };
            send!(cases.close_supervision, request, &[])
        }
        OfficeCommand::Review(ReviewCommand::Request { step, reason }) => {
            let c = common(store, &step)?;
            let request = RequestReviewRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                reason: reason.unwrap_or_default(),
            };
            send!(cases.request_review, request, &[])
        }
        OfficeCommand::Review(ReviewCommand::Decide {
            step,
            outcome,
            opinion,
        }) => {
            let c = common(store, &step)?;
            let outcome = ask.choice(outcome, "Outcome", EnumKind::ReviewOutcome, &[])?;
            let opinion =
                read_text_arg(ask.text(opinion, "Decision (复查/复核意见), or @FILE", true)?)?;
            let request = DecideReviewRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                outcome,
                opinion,
            };
            send!(cases.decide_review, request, &[])
        }
        OfficeCommand::Review(ReviewCommand::Hearing {
            step,
            first_day,
            last_day,
            note,
        }) => {
            let c = common(store, &step)?;
            let first = ask.text(first_day, "First day of the hearing (2026-06-01)", true)?;
            let last = ask.text(last_day, "Last day of the hearing", true)?;
            let flags = [("first_day", "--first-day"), ("last_day", "--last-day")];
            let request = RecordHearingRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                first_day: date("--first-day", Some(first))?,
                last_day: date("--last-day", Some(last))?,
                note: note.unwrap_or_default(),
            };
            send!(cases.record_hearing, request, &flags)
        }
        OfficeCommand::Backlog(BacklogCommand::Mark {
            step,
            leader,
            special_difficult,
            reason,
        }) => {
            let c = common(store, &step)?;
            let request = MarkBacklogRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                leader: leader.unwrap_or_default(),
                special_difficult: special_difficult.then_some(true),
                reason: reason.unwrap_or_default(),
            };
            send!(cases.mark_backlog, request, &[])
        }
        OfficeCommand::Backlog(BacklogCommand::Resolve {
            step,
            step_to,
            resolution,
            note,
        }) => {
            let c = common(store, &step)?;
            let to = ask.choice(
                step_to,
                "Backlog step",
                EnumKind::BacklogState,
                &["listed", "leader-assigned"],
            )?;
            let resolution = if to == BacklogState::Resolved as i32 {
                ask.choice(resolution, "Resolution", EnumKind::BacklogResolution, &[])?
            } else {
                match resolution {
                    Some(r) => EnumKind::BacklogResolution
                        .parse(&r)
                        .map_err(|e| anyhow::anyhow!("--resolution: {e}"))?,
                    None => 0,
                }
            };
            let flags = [("step", "--step-to"), ("resolution", "--resolution")];
            let request = ResolveBacklogRequest {
                request_id: request_id(),
                case_id: c.case_id,
                etag: c.etag,
                occurred_at: c.occurred_at,
                step: to,
                resolution,
                note: note.unwrap_or_default(),
            };
            send!(cases.resolve_backlog, request, &flags)
        }
    };
    store.save_case(&case)?;
    println!("done (online): {}", cases_view::one_line(&case, Utc::now()));
    Ok(())
}
