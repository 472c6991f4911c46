//! `xf fund …`: the special fund's chain, online: submit (提交申请), the bureau meeting's decision (局务会),
//! the leader's approval or rejection (领导审批), payment (支付), and the list. Online only: each step commits
//! or spends budget under the server's guard against overspending, which no offline copy can judge.

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use serde_json::json;
use xinfang_client::{
    store::Store,
    text::{self, EnumKind},
};
use xinfang_proto::v1::{
    ApproveFundRequestRequest, DisburseFundRequestRequest, FundRequest, GetFundRequestRequest,
    ListFundRequestsRequest, RecordBureauDecisionRequest, RejectFundRequestRequest,
    SubmitFundRequestRequest,
};

use super::{
    common::{Ask, print_json, short, table},
    online::{client, status_error},
};

#[derive(Debug, Args)]
pub struct FundStep {
    /// The request: its number (ZJ510422-2026-000001) or id.
    request: String,
    /// When it happened (default: now).
    #[arg(long)]
    at: Option<String>,
    #[arg(long)]
    comment: Option<String>,
    /// The version of the request the step is for (`etag` in `xf fund list --json` and `xf fund show`):
    /// refused if the request changed since. Default: the version shown just before the step.
    #[arg(long)]
    etag: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum FundCommand {
    /// 提交申请: a request for money from the year's budget.
    Submit {
        #[arg(long)]
        year: Option<i32>,
        /// Budget category: special_difficult (特殊疑难信访问题专项), other_key_work, other.
        #[arg(long)]
        category: Option<String>,
        /// hardship-relief (困难帮扶救助), lawyer, security, platform, training, workstation, return-trip, other.
        #[arg(long)]
        purpose: Option<String>,
        /// The requesting unit's code.
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Yuan, at most two decimals: 1200.50.
        #[arg(long)]
        amount: Option<String>,
        #[arg(long)]
        payee: Option<String>,
        /// The case (hardship relief: a special-difficult backlog case).
        #[arg(long)]
        case: Option<String>,
        /// Hardship relief: the petitioner's id.
        #[arg(long)]
        petitioner: Option<String>,
        /// A return trip's id (劝返 costs).
        #[arg(long)]
        trip: Option<String>,
    },
    /// 局务会: the bureau meeting's decision (--approve or --reject, with the meeting's reference).
    Decide {
        #[command(flatten)]
        step: FundStep,
        #[arg(long, conflicts_with = "reject")]
        approve: bool,
        #[arg(long)]
        reject: bool,
        /// An adjusted amount (yuan), when the meeting approved less.
        #[arg(long)]
        amount: Option<String>,
        /// The meeting's minutes reference, e.g. 局务会〔2026〕3号.
        #[arg(long)]
        meeting: Option<String>,
        /// The meeting's day, e.g. 2026-06-01.
        #[arg(long)]
        meeting_date: Option<String>,
    },
    /// 领导审批: approve (commits the budget).
    Approve(FundStep),
    /// 领导审批: reject.
    Reject(FundStep),
    /// 支付: pay an approved request (direct 直接支付 or authorized 授权支付; cash is refused).
    Disburse {
        #[command(flatten)]
        step: FundStep,
        #[arg(long)]
        method: Option<String>,
        #[arg(long)]
        voucher: Option<String>,
    },
    /// The requests of a year or a state.
    List {
        #[arg(long)]
        year: Option<i32>,
        /// submitted, bureau-approved, bureau-rejected, approved, rejected, disbursed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One request with its history.
    Show { request: String },
    /// The year's budgets that requests draw on: `add` an approval document, `list` what is left.
    #[command(subcommand)]
    Budget(super::budget::BudgetCommand),
}

const SUBMIT_FLAGS: &[(&str, &str)] = &[
    ("unit_code", "--unit"),
    ("case_id", "--case"),
    ("petitioner_id", "--petitioner"),
    ("trip_id", "--trip"),
];
const DECIDE_FLAGS: &[(&str, &str)] = &[
    ("adjusted_amount", "--amount"),
    ("meeting_reference", "--meeting"),
    ("meeting_date", "--meeting-date"),
];
const DISBURSE_FLAGS: &[(&str, &str)] = &[("method", "--method"), ("voucher_number", "--voucher")];

fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn at(step: &FundStep) -> Result<Option<prost_types::Timestamp>> {
    step.at
        .as_deref()
        .map(|t| text::parse_time(t, Utc::now()).map_err(|e| anyhow!("--at: {e}")))
        .transpose()
}

pub(super) type Funds =
    xinfang_proto::v1::fund_service_client::FundServiceClient<xinfang_client::AuthedChannel>;

/// The bureau's year now (UTC+8): the default of a request's or a budget's year.
pub(super) fn this_year() -> i32 {
    chrono::Datelike::year(&xinfang_proto::calendar::local_date(Utc::now()))
}

/// A request, named by its number or id, as it stands.
async fn resolve(funds: &mut Funds, given: &str) -> Result<FundRequest> {
    let given = given.trim();
    if uuid::Uuid::parse_str(given).is_ok() {
        return Ok(funds
            .get_fund_request(GetFundRequestRequest {
                id: given.to_owned(),
            })
            .await
            .map_err(|s| status_error(s, &[]))?
            .into_inner());
    }
    // ZJ510422-2026-000012: the year is the second part.
    let year = given
        .split('-')
        .nth(1)
        .and_then(|y| y.parse::<i32>().ok())
        .ok_or_else(|| {
            anyhow!("{given:?} is neither a request number (ZJ510422-2026-000012) nor an id")
        })?;
    let all = list(funds, year, 0).await?;
    all.into_iter()
        .find(|r| r.number == given)
        .ok_or_else(|| anyhow!("no fund request {given} that this account may read"))
}

async fn list(funds: &mut Funds, year: i32, state: i32) -> Result<Vec<FundRequest>> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = funds
            .list_fund_requests(ListFundRequestsRequest {
                page_size: 500,
                page_token,
                state,
                year,
                ..Default::default()
            })
            .await
            .map_err(|s| status_error(s, &[]))?
            .into_inner();
        out.extend(page.fund_requests);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

fn line(r: &FundRequest) -> String {
    let approved = if r.approved_amount.is_empty() {
        String::new()
    } else {
        format!(", 核定 {}", r.approved_amount)
    };
    format!(
        "{} {} {} 元{approved} ({})",
        r.number,
        EnumKind::FundRequestState.label(r.state),
        r.amount,
        EnumKind::FundPurpose.label(r.purpose)
    )
}

/// Shows the request a step is about to act on (money moves on what the person saw, not on a number
/// typed) and, at a terminal, asks before acting. Returns the request's id and the version the step is
/// for: the one given with `--etag`, or the one shown; the server refuses the step if the request changed
/// since.
async fn confirm(
    funds: &mut Funds,
    ask: &Ask,
    step: &FundStep,
    what: &str,
) -> Result<(String, String)> {
    let r = resolve(funds, &step.request).await?;
    println!("{}", line(&r));
    println!("单位 unit: {}   收款人 payee: {}", r.unit_code, r.payee);
    if ask.interactive
        && !dialoguer::Confirm::new()
            .with_prompt(format!("{what} {}?", r.number))
            .default(false)
            .interact()?
    {
        bail!("nothing sent: {what} {} was not confirmed", r.number);
    }
    let etag = step.etag.clone().unwrap_or(r.etag);
    Ok((r.id, etag))
}

pub async fn run(store: &Store, ask: &Ask, command: FundCommand) -> Result<()> {
    let mut client = client(store)?;
    let funds = &mut client.funds;
    let done: FundRequest = match command {
        FundCommand::Budget(command) => return super::budget::run(funds, ask, command).await,
        FundCommand::Submit {
            year,
            category,
            purpose,
            unit,
            description,
            amount,
            payee,
            case,
            petitioner,
            trip,
        } => {
            let year = year.unwrap_or_else(this_year);
            let purpose = ask.choice(purpose, "Purpose (用途)", EnumKind::FundPurpose, &[])?;
            let request = SubmitFundRequestRequest {
                request_id: request_id(),
                year,
                category: ask.text(
                    category,
                    "Budget category (special_difficult, other_key_work, other)",
                    true,
                )?,
                purpose,
                unit_code: ask.text(unit, "Requesting unit (code)", true)?,
                description: ask.text(description, "What it is for", true)?,
                amount: ask.text(amount, "Amount (yuan)", true)?,
                payee: ask.optional(payee, "Payee")?,
                case_id: match case {
                    Some(c) => super::online::case_id(store, &c)?,
                    None => String::new(),
                },
                petitioner_id: petitioner.unwrap_or_default(),
                trip_id: trip.unwrap_or_default(),
                attachments: vec![],
                occurred_at: None,
            };
            funds
                .submit_fund_request(request)
                .await
                .map_err(|s| status_error(s, SUBMIT_FLAGS))?
                .into_inner()
        }
        FundCommand::Decide {
            step,
            approve,
            reject,
            amount,
            meeting,
            meeting_date,
        } => {
            if approve == reject {
                bail!("say --approve or --reject (the bureau meeting's decision)");
            }
            let meeting_date = meeting_date
                .map(|d| {
                    text::parse_date(&d, Utc::now()).map_err(|e| anyhow!("--meeting-date: {e}"))
                })
                .transpose()?;
            let what = if approve {
                "局务会通过 record the meeting's approval of"
            } else {
                "局务会否决 record the meeting's rejection of"
            };
            let occurred_at = at(&step)?;
            let (fund_request_id, etag) = confirm(funds, ask, &step, what).await?;
            let request = RecordBureauDecisionRequest {
                request_id: request_id(),
                fund_request_id,
                etag,
                occurred_at,
                approve,
                adjusted_amount: amount.unwrap_or_default(),
                meeting_reference: ask.text(meeting, "Meeting reference (局务会纪要)", true)?,
                meeting_date,
                comment: step.comment.clone().unwrap_or_default(),
            };
            funds
                .record_bureau_decision(request)
                .await
                .map_err(|s| status_error(s, DECIDE_FLAGS))?
                .into_inner()
        }
        FundCommand::Approve(step) => {
            let occurred_at = at(&step)?;
            let (fund_request_id, etag) = confirm(funds, ask, &step, "领导批准 approve").await?;
            let request = ApproveFundRequestRequest {
                request_id: request_id(),
                fund_request_id,
                etag,
                occurred_at,
                comment: step.comment.clone().unwrap_or_default(),
            };
            funds
                .approve_fund_request(request)
                .await
                .map_err(|s| status_error(s, &[]))?
                .into_inner()
        }
        FundCommand::Reject(step) => {
            let occurred_at = at(&step)?;
            let (fund_request_id, etag) = confirm(funds, ask, &step, "领导驳回 reject").await?;
            let request = RejectFundRequestRequest {
                request_id: request_id(),
                fund_request_id,
                etag,
                occurred_at,
                comment: step.comment.clone().unwrap_or_default(),
            };
            funds
                .reject_fund_request(request)
                .await
                .map_err(|s| status_error(s, &[]))?
                .into_inner()
        }
        FundCommand::Disburse {
            step,
            method,
            voucher,
        } => {
            let occurred_at = at(&step)?;
            // A method given is checked before anything is asked; one not given is asked after the showing.
            let pick = |given| {
                ask.choice(
                    given,
                    "Payment method (支付方式)",
                    EnumKind::PaymentMethod,
                    &["cash"],
                )
            };
            let given = method.map(|m| pick(Some(m))).transpose()?;
            let (fund_request_id, etag) = confirm(funds, ask, &step, "支付 pay").await?;
            let method = match given {
                Some(m) => m,
                None => pick(None)?,
            };
            let request = DisburseFundRequestRequest {
                request_id: request_id(),
                fund_request_id,
                etag,
                occurred_at,
                method,
                voucher_number: ask.text(voucher, "Voucher number (凭证号)", true)?,
                comment: step.comment.clone().unwrap_or_default(),
            };
            funds
                .disburse_fund_request(request)
                .await
                .map_err(|s| status_error(s, DISBURSE_FLAGS))?
                .into_inner()
        }
        FundCommand::List { year, state, json } => {
            let state = match state {
                Some(s) => EnumKind::FundRequestState
                    .parse(&s)
                    .map_err(|e| anyhow!("--state: {e}"))?,
                None => 0,
            };
            let all = list(funds, year.unwrap_or(0), state).await?;
            if json {
                let items: Vec<_> = all
                    .iter()
                    .map(|r| {
                        json!({
                            "id": r.id, "number": r.number,
                            "state": EnumKind::FundRequestState.format(r.state),
                            "state_label": EnumKind::FundRequestState.label(r.state),
                            "year": r.year, "category": r.category,
                            "purpose": EnumKind::FundPurpose.format(r.purpose),
                            "purpose_label": EnumKind::FundPurpose.label(r.purpose),
                            "unit_code": r.unit_code, "amount": r.amount,
                            "approved_amount": r.approved_amount, "payee": r.payee,
                            "etag": r.etag,
                        })
                    })
                    .collect();
                return print_json(&json!(items));
            }
            let mut t = table(&[
                "ID",
                "编号 NUMBER",
                "状态 STATE",
                "年度",
                "类别",
                "用途 PURPOSE",
                "申请金额",
                "核定金额",
                "单位",
                "收款人",
            ]);
            for r in &all {
                t.add_row(vec![
                    short(&r.id).to_owned(),
                    r.number.clone(),
                    EnumKind::FundRequestState.label(r.state).to_owned(),
                    r.year.to_string(),
                    r.category.clone(),
                    EnumKind::FundPurpose.label(r.purpose).to_owned(),
                    r.amount.clone(),
                    r.approved_amount.clone(),
                    r.unit_code.clone(),
                    r.payee.clone(),
                ]);
            }
            println!("{t}");
            println!("{} request(s)", all.len());
            return Ok(());
        }
        FundCommand::Show { request } => {
            let r = resolve(funds, &request).await?;
            println!("{}", line(&r));
            println!(
                "单位 unit: {}   收款人 payee: {}   版本 etag: {}",
                r.unit_code, r.payee, r.etag
            );
            println!("说明: {}", r.description);
            for e in &r.events {
                println!(
                    "  {}  {} {} {}",
                    text::format_time(e.occurred_at.as_ref()),
                    e.action,
                    e.amount,
                    e.comment
                );
            }
            return Ok(());
        }
    };
    println!("done (online): {}", line(&done));
    Ok(())
}
