//! `xf`, the field client: captures visits, letters, return trips and steps on matters with no network into
//! a local store (one per profile), and syncs it with the server when there is a link.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use clap::{Args, CommandFactory, Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;
use xinfang_client::{
    Client,
    capture::{self, CaptureError, TripClosing},
    chart::Measure,
    edit,
    export::{self, Table as DataTable},
    metrics::{self, ReportOptions},
    store::{OpState, OutboxEntry, Settings, Store, TripDraft},
    sync::{self, Progress, Stage, SyncError, SyncOptions, SyncSummary},
    text::{self, EnumKind},
};
use xinfang_proto::{
    money, personal,
    v1::{
        AcceptCaseRequest, AssignmentMode, Case, CaseState, ClaimType, DeclineCaseRequest,
        ExtendCaseRequest, GetChannelStatisticsRequest, GetIndicatorsRequest,
        GetVisitStatisticsRequest, Letter, ListOrgUnitsRequest, MatterInput,
        ObjectToAssignmentRequest, Petitioner, RecordEvaluationRequest, RecordReturnTripRequest,
        RegisterLetterRequest, RegisterVisitRequest, ReplyCaseRequest, ReturnTrip, TripCosts,
        TripOutcome, Visit, VisitGrouping,
    },
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
        global = true
    )]
    profile: String,
    /// Use this store file instead of the profile's.
    #[arg(long, env = "XF_STORE", global = true)]
    store: Option<PathBuf>,
    /// Never ask: missing fields are errors (the default when stdin is not a terminal).
    #[arg(long, global = true)]
    no_input: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Save the server address and token of this profile.
    Login(LoginArgs),
    /// Visits met in the field (来访).
    #[command(subcommand)]
    Visit(NewCommand<VisitArgs>),
    /// Letters and online items (来信).
    #[command(subcommand)]
    Letter(NewCommand<LetterArgs>),
    /// Persuade-and-return trips (劝返).
    #[command(subcommand)]
    Trip(TripCommand),
    /// Steps on a matter of the local copy, queued for the next sync.
    #[command(subcommand)]
    Case(CaseCommand),
    /// The local copy of matters.
    Cases(ListArgs),
    /// The local copy of visits.
    Visits(ListArgs),
    /// The local copy of letters.
    Letters(ListArgs),
    /// The local copy of return trips.
    Trips(ListArgs),
    /// Operations waiting to be synced, and those the server rejected.
    Outbox {
        #[command(subcommand)]
        command: Option<OutboxCommand>,
    },
    /// Push the outbox, then pull the changes of this account's scope.
    Sync(SyncArgs),
    /// The county's org units (online).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Indicators, statistics, targets and budget execution, computed by the server (online).
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// The annual performance self-evaluation report (online): Markdown, score table, inconsistencies.
    Report(ReportArgs),
    /// Print a shell completion script, e.g. `xf completions bash > /etc/bash_completion.d/xf`.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// Server address, e.g. https://xinfang.example:50051.
    #[arg(long)]
    server: Option<String>,
    /// Bearer token (from `xinfang-server token issue`).
    #[arg(long, env = "XF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA certificate (PEM) that signed the server's certificate.
    #[arg(long)]
    ca: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum NewCommand<T: Args> {
    /// Capture a new one (works offline).
    New(T),
}

#[derive(Debug, Args)]
struct PersonArgs {
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
struct MatterArgs {
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
    /// Link to this existing matter (同人+同事 confirmed).
    #[arg(long)]
    link_case: Option<String>,
    /// An accusation (检举控告) against this org unit: it never handles or sees the matter.
    #[arg(long, value_name = "ORG")]
    accuses: Option<String>,
}

#[derive(Debug, Args)]
struct VisitArgs {
    /// When: `2025-06-01 09:30` (Beijing time), RFC 3339, or now.
    #[arg(long)]
    at: Option<String>,
    /// county, city, province or national.
    #[arg(long)]
    level: Option<String>,
    /// Reception office or place.
    #[arg(long)]
    place: Option<String>,
    /// Met at a non-reception place (非接待场所).
    #[arg(long)]
    non_reception: bool,
    /// Persons in the batch.
    #[arg(long, default_value_t = 1)]
    headcount: i32,
    #[command(flatten)]
    person: PersonArgs,
    #[command(flatten)]
    matter: MatterArgs,
}

#[derive(Debug, Args)]
struct LetterArgs {
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

#[derive(Debug, Args)]
struct TripArgs {
    /// Who notified the bureau, e.g. 驻京工作组.
    #[arg(long)]
    notified_by: Option<String>,
    #[arg(long)]
    notified_at: Option<String>,
    /// city, province or national.
    #[arg(long)]
    level: Option<String>,
    /// Destination, e.g. 北京.
    #[arg(long)]
    place: Option<String>,
    #[arg(long)]
    non_reception: bool,
    /// Township or department responsible for the petitioners.
    #[arg(long)]
    responsible_org: Option<String>,
    /// Officer on the trip (repeatable).
    #[arg(long = "officer")]
    officers: Vec<String>,
    /// Matter the trip concerns (repeatable).
    #[arg(long = "case")]
    cases: Vec<String>,
    #[arg(long)]
    departed_at: Option<String>,
    #[arg(long)]
    arrived_at: Option<String>,
    #[arg(long)]
    returned_at: Option<String>,
    /// Costs in yuan, e.g. 1280.50.
    #[arg(long)]
    transport: Option<String>,
    #[arg(long)]
    lodging: Option<String>,
    #[arg(long)]
    meals: Option<String>,
    #[arg(long)]
    other_cost: Option<String>,
    /// under-way (default), returned, not-returned, handed-over.
    #[arg(long)]
    outcome: Option<String>,
    #[arg(long)]
    report: Option<String>,
    /// Still under way: keep it on this laptop as a draft (not in the outbox) until `xf trip close`.
    #[arg(long, conflicts_with_all = ["outcome", "returned_at"])]
    under_way: bool,
    #[command(flatten)]
    person: PersonArgs,
}

#[derive(Debug, Subcommand)]
enum TripCommand {
    /// Capture a trip (works offline). With --under-way it stays a local draft until it is closed.
    New(Box<TripArgs>),
    /// Close a draft: add the return, the outcome and the final costs, and queue the complete trip.
    Close(Box<TripCloseArgs>),
    /// Drop a draft that is not closed (it is kept, marked discarded).
    Discard {
        /// The draft's id (or the first or last characters of it), as `xf trips` shows it.
        draft: String,
    },
}

#[derive(Debug, Args)]
struct TripCloseArgs {
    /// The draft's id (or the first or last characters of it), as `xf trips` shows it.
    draft: String,
    /// When the officers were back.
    #[arg(long)]
    returned_at: Option<String>,
    /// returned, not-returned or handed-over.
    #[arg(long)]
    outcome: Option<String>,
    /// Only if not given when the draft was made (or to correct it).
    #[arg(long)]
    departed_at: Option<String>,
    #[arg(long)]
    arrived_at: Option<String>,
    /// Costs in yuan; each replaces the draft's.
    #[arg(long)]
    transport: Option<String>,
    #[arg(long)]
    lodging: Option<String>,
    #[arg(long)]
    meals: Option<String>,
    #[arg(long)]
    other_cost: Option<String>,
    /// The trip report; `@FILE` reads it from a file.
    #[arg(long)]
    report: Option<String>,
}

#[derive(Debug, Args)]
struct PeriodArgs {
    /// The year (all of it unless --from / --to narrow it).
    #[arg(long)]
    year: Option<i32>,
    /// First month, e.g. 2020-01.
    #[arg(long)]
    from: Option<String>,
    /// Last month, e.g. 2020-12.
    #[arg(long)]
    to: Option<String>,
}

impl PeriodArgs {
    fn period(&self) -> Result<xinfang_proto::v1::Period> {
        metrics::period(self.year, self.from.as_deref(), self.to.as_deref())
            .map_err(|e| anyhow!("{e}"))
    }
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the table as CSV (UTF-8; use --xlsx for Excel).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Also write the table as an XLSX workbook.
    #[arg(long, value_name = "FILE")]
    xlsx: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum GroupBy {
    Level,
    Township,
    Month,
}

#[derive(Debug, Subcommand)]
enum MetricsCommand {
    /// Timeliness, participation, satisfaction, backlog, repeat and online rates, with what they are made of.
    Indicators {
        #[command(flatten)]
        period: PeriodArgs,
        /// An org unit's figures: the petition office's timely acceptance of the matters whose problem lies there
        /// (问题属地), the other rates of the matters it is responsible for; default the county.
        #[arg(long)]
        org: Option<String>,
        /// Count matters still pending and not yet due in the on-time completion denominator.
        #[arg(long)]
        include_pending: bool,
        /// Count "basically satisfied" as satisfied.
        #[arg(long)]
        basically_satisfied: bool,
        /// With --json: the matter ids behind each rate.
        #[arg(long, requires = "json")]
        ids: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Visit batches and person-visits by level (and township or month), with year over year.
    Visits {
        #[command(flatten)]
        period: PeriodArgs,
        /// An org unit's figures (the problem place); default the county.
        #[arg(long)]
        org: Option<String>,
        /// A breakdown besides the levels.
        #[arg(long, value_enum)]
        group_by: Option<GroupBy>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Letters and online items by channel, reviews and campaign transfers, with year over year.
    Channels {
        #[command(flatten)]
        period: PeriodArgs,
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The year's performance targets: actual, completion and score; --through-month 9 for the mid-year check.
    Targets {
        #[arg(long)]
        year: i32,
        /// The check's month (9: the September check); default the whole year.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=12))]
        through_month: Option<i32>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Budget execution per category and its score.
    Budget {
        #[arg(long)]
        year: i32,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// The year, e.g. 2020.
    year: i32,
    /// Write the Markdown here instead of to stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// A workbook: scores, inconsistencies and the year's figures, one sheet each.
    #[arg(long, value_name = "FILE")]
    xlsx: Option<PathBuf>,
    /// A bar chart of visits by level for each month: FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// What the chart's bars count: persons (人次) or batches (批次).
    #[arg(long, default_value = "persons", value_parser = parse_measure)]
    chart_measure: Measure,
}

fn parse_measure(s: &str) -> Result<Measure, String> {
    s.parse()
}

#[derive(Debug, Args)]
struct StepArgs {
    /// The matter: its id (or the first or last characters of it) or registration number.
    case: String,
    /// When it happened (default: now).
    #[arg(long)]
    at: Option<String>,
    /// Only if the matter is still at this version (etag); without it the workflow alone judges.
    #[arg(long)]
    etag: Option<String>,
    /// Queue it even if the matter is not in the local copy.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum CaseCommand {
    /// A matter of the local copy, with its history.
    Show { case: String },
    /// 受理: take the matter on.
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
    /// 答复: the written opinion that concludes the matter.
    Reply {
        #[command(flatten)]
        step: StepArgs,
        /// The opinion (意见书); `@FILE` reads it from a file.
        #[arg(long)]
        opinion: Option<String>,
        /// 交办 matters: the completion report (办结报告); `@FILE` reads it from a file.
        #[arg(long)]
        report: Option<String>,
        /// Publish the opinion for the petitioner's evaluation: unrated when the window closes, the matter
        /// counts as 未参评.
        #[arg(long)]
        publish: bool,
    },
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

#[derive(Debug, Args)]
struct ListArgs {
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
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
        /// Queue it again unchanged (e.g. after the county put the matter right).
        #[arg(long)]
        as_is: bool,
    },
    /// Drop a pending or rejected operation (it stays listed as discarded).
    Discard { id: String },
}

#[derive(Debug, Args)]
struct SyncArgs {
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

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// List every org unit.
    List,
}

/// Asks for what is missing when a person is at the terminal.
struct Ask {
    interactive: bool,
}

impl Ask {
    fn text(&self, given: Option<String>, prompt: &str, required: bool) -> Result<String> {
        match given {
            Some(v) => Ok(v),
            None if self.interactive => Ok(dialoguer::Input::<String>::new()
                .with_prompt(prompt)
                .allow_empty(!required)
                .interact_text()?),
            None => Ok(String::new()),
        }
    }

    fn optional(&self, given: Option<String>, prompt: &str) -> Result<String> {
        self.text(given, prompt, false)
    }

    /// An optional field checked as it is typed (flags are checked with the whole operation).
    fn checked(
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

    fn time(
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

    fn choice(
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
                let i = dialoguer::Select::new()
                    .with_prompt(prompt)
                    .items(&names)
                    .default(0)
                    .interact()?;
                Ok(kind.parse(&names[i]).map_err(|e| anyhow!(e))?)
            }
            None => Ok(0),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if let Some(CaptureError::Invalid(v)) = e.downcast_ref::<CaptureError>() {
                eprintln!("xf: not queued; fix these fields:");
                for f in v.clone().into_vec() {
                    eprintln!("  {}: {}", f.field, f.description);
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

fn settings(store: &Store) -> Result<Settings> {
    store.settings()?.ok_or_else(|| {
        anyhow!("this profile is not logged in: run `xf login --server URL --token TOKEN`")
    })
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let ask = Ask {
        interactive: !cli.no_input && std::io::stdin().is_terminal(),
    };
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(*shell, &mut Cli::command(), "xf", &mut std::io::stdout());
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = open_store(&cli)?;
    let now = Utc::now();
    match cli.command {
        Command::Completions { .. } => unreachable!("handled above"),
        Command::Login(args) => login(&mut store, &ask, args)?,
        Command::Visit(NewCommand::New(args)) => {
            let request = visit_request(&ask, args)?;
            queued(&capture::register_visit(&mut store, request, now)?);
        }
        Command::Letter(NewCommand::New(args)) => {
            let request = letter_request(&ask, args)?;
            queued(&capture::register_letter(&mut store, request, now)?);
        }
        Command::Trip(TripCommand::New(args)) => {
            let under_way = args.under_way;
            let request = trip_request(&ask, *args)?;
            if under_way {
                drafted(&capture::draft_trip(&mut store, request, now)?);
            } else {
                queued(&capture::record_trip(&mut store, request, now)?);
            }
        }
        Command::Trip(TripCommand::Close(args)) => {
            let closing = trip_closing(&ask, &store, *args)?;
            let (draft, closing) = closing;
            queued(&capture::close_trip(&mut store, &draft, &closing, now)?);
        }
        Command::Trip(TripCommand::Discard { draft }) => {
            let found = store.find_trip_draft(&draft)?;
            let d = store.discard_trip_draft(&found.id)?;
            println!("discarded draft {} ({})", short(&d.id), draft_subject(&d));
        }
        Command::Case(command) => case_command(&mut store, &ask, command)?,
        Command::Cases(args) => list_cases(&store, args.json)?,
        Command::Visits(args) => list_visits(&store, args.json)?,
        Command::Letters(args) => list_letters(&store, args.json)?,
        Command::Trips(args) => list_trips(&store, args.json)?,
        Command::Outbox { command } => outbox(
            &mut store,
            &ask,
            command.unwrap_or(OutboxCommand::List {
                all: false,
                json: false,
            }),
        )?,
        Command::Sync(args) => return sync_command(&mut store, args).await,
        Command::Metrics(command) => metrics_command(&store, command).await?,
        Command::Report(args) => report_command(&store, args).await?,
        Command::Org(OrgCommand::List) => {
            let mut client = Client::for_settings(&settings(&store)?)?;
            let mut page_token = String::new();
            loop {
                let page = client
                    .org
                    .list_org_units(ListOrgUnitsRequest {
                        page_size: 500,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                for unit in page.org_units {
                    println!("{}\t{}\t{}", unit.code, unit.name, unit.parent_code);
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn login(store: &mut Store, ask: &Ask, args: LoginArgs) -> Result<()> {
    let server = ask.text(args.server, "Server address", true)?;
    if server.trim().is_empty() {
        bail!("--server is required");
    }
    tonic::transport::Endpoint::from_shared(server.trim().to_owned())
        .map_err(|_| anyhow!("{server:?} is not a server address (e.g. https://host:50051)"))?;
    let token = match args.token {
        Some(t) => t,
        None if ask.interactive => dialoguer::Password::new().with_prompt("Token").interact()?,
        None => bail!("--token is required"),
    };
    if token.trim().is_empty() {
        bail!("the token is empty");
    }
    if server.trim().starts_with("https://") && args.ca.is_none() {
        bail!(
            "an https server needs --ca FILE: the CA certificate (PEM) that signed its certificate"
        );
    }
    let ca_path = match args.ca {
        Some(p) => {
            let p =
                std::fs::canonicalize(&p).with_context(|| format!("CA file {}", p.display()))?;
            Some(p)
        }
        None => None,
    };
    store.save_settings(&Settings {
        server: server.trim().to_owned(),
        token: token.trim().to_owned(),
        ca_path,
    })?;
    println!(
        "logged in to {} (store {})",
        server.trim(),
        store.path().display()
    );
    Ok(())
}

fn queued(entry: &OutboxEntry) {
    println!(
        "queued {} {} ({}): run `xf sync` when online",
        short(&entry.op_id),
        entry.kind,
        entry.subject
    );
}

fn drafted(draft: &TripDraft) {
    let id = short(&draft.id);
    println!(
        "kept draft {id} ({}) on this laptop; it is not in the outbox until \
         `xf trip close {id} --returned-at … --outcome …`",
        draft_subject(draft)
    );
}

fn draft_subject(draft: &TripDraft) -> String {
    xinfang_client::store::op_subject(&xinfang_proto::v1::operation::Op::RecordReturnTrip(
        RecordReturnTripRequest {
            request_id: String::new(),
            trip: Some(draft.trip.clone()),
        },
    ))
}

/// The local sum of a draft's costs (the server adds the total when it records the trip).
fn draft_costs_total(trip: &ReturnTrip) -> String {
    let Some(c) = &trip.costs else {
        return String::new();
    };
    let mut total = None;
    for value in [&c.transport, &c.lodging, &c.meals, &c.other] {
        if let Ok(Some(amount)) = money::optional_amount("cost", value) {
            total = Some(total.map_or(amount, |t| t + amount));
        }
    }
    total.map(money::format).unwrap_or_default()
}

/// What `xf trip close` adds to the draft: flags, or questions for what a person at the terminal left out.
fn trip_closing(ask: &Ask, store: &Store, args: TripCloseArgs) -> Result<(String, TripClosing)> {
    let draft = store.find_trip_draft(&args.draft)?;
    if ask.interactive {
        println!(
            "closing draft {} ({})",
            short(&draft.id),
            draft_subject(&draft)
        );
    }
    let given_time =
        |value: Option<String>, flag: &str| -> Result<Option<prost_types::Timestamp>> {
            value
                .map(|v| text::parse_time(&v, Utc::now()).map_err(|e| anyhow!("--{flag}: {e}")))
                .transpose()
        };
    let returned_at = ask.time(args.returned_at, "Returned at", true)?;
    let outcome = match args.outcome {
        Some(o) => EnumKind::TripOutcome
            .parse(&o)
            .map_err(|e| anyhow!("--outcome: {e}"))?,
        None => ask.choice(None, "Outcome", EnumKind::TripOutcome, &["under-way"])?,
    };
    let departed_at = if args.departed_at.is_none() && draft.trip.departed_at.is_none() {
        ask.time(None, "Departed at", true)?
    } else {
        given_time(args.departed_at, "departed-at")?
    };
    let report = match args.report {
        Some(r) => Some(read_text_arg(r)?),
        None if ask.interactive && draft.trip.report.trim().is_empty() => {
            let r = read_text_arg(ask.optional(None, "Trip report (optional), or @FILE")?)?;
            (!r.trim().is_empty()).then_some(r)
        }
        None => None,
    };
    Ok((
        draft.id.clone(),
        TripClosing {
            returned_at,
            outcome,
            departed_at,
            arrived_at: given_time(args.arrived_at, "arrived-at")?,
            transport: args.transport,
            lodging: args.lodging,
            meals: args.meals,
            other: args.other_cost,
            report,
        },
    ))
}

/// The table, or its JSON; and the files asked for.
fn emit(
    heading: &str,
    table: &DataTable,
    json: Option<serde_json::Value>,
    output: &OutputArgs,
) -> Result<()> {
    if let Some(path) = &output.csv {
        table.write_csv(path)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &output.xlsx {
        export::write_xlsx(path, &[table])?;
        eprintln!("wrote {}", path.display());
    }
    if output.json {
        print_json(&json.unwrap_or_else(|| table.to_json()))
    } else {
        println!("{heading}");
        println!("{}", table.to_comfy());
        Ok(())
    }
}

fn scope_label(org: &str) -> String {
    if org.is_empty() {
        "the county".to_owned()
    } else {
        org.to_owned()
    }
}

async fn metrics_command(store: &Store, command: MetricsCommand) -> Result<()> {
    let mut client = Client::for_settings(&settings(store)?)?;
    match command {
        MetricsCommand::Indicators {
            period,
            org,
            include_pending,
            basically_satisfied,
            ids,
            output,
        } => {
            let period = period.period()?;
            let org = org.unwrap_or_default();
            let ind = metrics::indicators(
                &mut client,
                GetIndicatorsRequest {
                    period: Some(period),
                    org_code: org.clone(),
                    include_pending,
                    basically_satisfied_counts: basically_satisfied,
                    include_ids: ids,
                },
            )
            .await?;
            let heading = format!(
                "indicators, {}, {} (环比 against {}; changes in percentage points)",
                metrics::period_label(&ind.period.unwrap_or(period)),
                scope_label(&org),
                ind.previous_period
                    .as_ref()
                    .map(metrics::period_label)
                    .unwrap_or_default()
            );
            emit(
                &heading,
                &metrics::indicators_table(&ind),
                Some(metrics::indicators_json(&ind)),
                &output,
            )?;
            if !output.json {
                println!("两降两升 (against the same months a year earlier)");
                println!("{}", metrics::two_down_two_up_table(&ind).to_comfy());
            }
            Ok(())
        }
        MetricsCommand::Visits {
            period,
            org,
            group_by,
            output,
        } => {
            let period = period.period()?;
            let org = org.unwrap_or_default();
            let grouping = match group_by {
                None | Some(GroupBy::Level) => VisitGrouping::Level,
                Some(GroupBy::Township) => VisitGrouping::Township,
                Some(GroupBy::Month) => VisitGrouping::Month,
            };
            let stats = metrics::visits(
                &mut client,
                GetVisitStatisticsRequest {
                    period: Some(period),
                    org_code: org.clone(),
                    group_by: grouping as i32,
                },
            )
            .await?;
            let heading = format!(
                "visits, {}, {} (previous: the same months a year earlier; previous period, 环比: {})",
                metrics::period_label(&stats.period.unwrap_or(period)),
                scope_label(&org),
                stats
                    .previous_period
                    .as_ref()
                    .map(metrics::period_label)
                    .unwrap_or_default()
            );
            emit(
                &heading,
                &metrics::visits_table(&stats, grouping),
                None,
                &output,
            )
        }
        MetricsCommand::Channels {
            period,
            org,
            output,
        } => {
            let period = period.period()?;
            let org = org.unwrap_or_default();
            let stats = metrics::channels(
                &mut client,
                GetChannelStatisticsRequest {
                    period: Some(period),
                    org_code: org.clone(),
                },
            )
            .await?;
            let heading = format!(
                "letters and online items, {}, {} (环比 against {})",
                metrics::period_label(&stats.period.unwrap_or(period)),
                scope_label(&org),
                stats
                    .previous_period
                    .as_ref()
                    .map(metrics::period_label)
                    .unwrap_or_default()
            );
            emit(&heading, &metrics::channels_table(&stats), None, &output)
        }
        MetricsCommand::Targets {
            year,
            through_month,
            output,
        } => {
            let done = metrics::targets(&mut client, year, through_month.unwrap_or(0)).await?;
            let mut heading = match done.through_month {
                m @ 1..=11 => format!("targets {year}, checked through {year}-{m:02}"),
                _ => format!("targets {year}"),
            };
            if !done.weights_balanced && !done.results.is_empty() {
                heading.push_str(&if done.weight_total == "100.00" {
                    " (the set weights leave nothing for the targets without one)".to_owned()
                } else {
                    format!(" (the weights add up to {}, not 100)", done.weight_total)
                });
            }
            emit(&heading, &metrics::targets_table(&done), None, &output)
        }
        MetricsCommand::Budget { year, output } => {
            let money = metrics::budget(&mut client, year).await?;
            emit(
                &format!("budget execution {year}"),
                &metrics::budget_table(&money),
                None,
                &output,
            )
        }
    }
}

async fn report_command(store: &Store, args: ReportArgs) -> Result<()> {
    let mut client = Client::for_settings(&settings(store)?)?;
    let options = ReportOptions {
        year: args.year,
        markdown: args.out.clone(),
        xlsx: args.xlsx,
        chart: args.chart,
        chart_measure: args.chart_measure,
    };
    let out = metrics::report(&mut client, &options).await?;
    let report = &out.report;
    // The Markdown goes to stdout unless --out names a file; the summary then goes to stderr.
    let mut summary = String::new();
    summary.push_str(&format!(
        "self-evaluation {}: {} points, grade {}\n",
        report.year, report.total_score, report.grade
    ));
    summary.push_str(&format!("{}\n", metrics::scores_table(report).to_comfy()));
    if report.inconsistencies.is_empty() {
        summary.push_str("no inconsistencies found\n");
    } else {
        summary.push_str(&format!(
            "{} inconsistencies:\n",
            report.inconsistencies.len()
        ));
        for (i, note) in report.inconsistencies.iter().enumerate() {
            summary.push_str(&format!("  {}. {note}\n", i + 1));
        }
    }
    for path in &out.written {
        summary.push_str(&format!("wrote {}\n", path.display()));
    }
    if args.out.is_some() {
        print!("{summary}");
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(report.markdown.as_bytes())?;
        if !report.markdown.ends_with('\n') {
            writeln!(stdout)?;
        }
        eprint!("{summary}");
    }
    Ok(())
}

/// The last 8 characters of an id: enough to name it (`xf outbox fix 3f9c2a1b`).
fn short(id: &str) -> &str {
    &id[id.len().saturating_sub(8)..]
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

fn petitioners(ask: &Ask, args: PersonArgs, required: bool) -> Result<Vec<Petitioner>> {
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
    Ok(list)
}

fn matter(ask: &Ask, args: MatterArgs) -> Result<MatterInput> {
    Ok(MatterInput {
        content: ask.text(args.content, "Complaint (诉求内容)", true)?,
        demands: ask.text(args.demands, "Demands (主要诉求)", true)?,
        category: ask.text(args.category, "Category code (e.g. land, labor)", true)?,
        problem_org_code: ask.text(args.problem_org, "Problem org unit (e.g. 510422100)", true)?,
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

fn visit_request(ask: &Ask, args: VisitArgs) -> Result<RegisterVisitRequest> {
    let visited_at = ask.time(args.at, "Visited at", true)?;
    let level = ask.choice(args.level, "Level", EnumKind::Level, &["township"])?;
    let place_name = ask.text(args.place, "Place", true)?;
    let petitioners = petitioners(ask, args.person, true)?;
    let matter = matter(ask, args.matter)?;
    Ok(RegisterVisitRequest {
        request_id: String::new(),
        visit: Some(Visit {
            visited_at,
            level,
            non_reception_place: args.non_reception,
            place_name,
            headcount: args.headcount,
            petitioners,
            matter: Some(matter),
            ..Default::default()
        }),
    })
}

fn letter_request(ask: &Ask, args: LetterArgs) -> Result<RegisterLetterRequest> {
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
            matter: Some(matter(ask, args.matter)?),
            ..Default::default()
        }),
    })
}

fn trip_request(ask: &Ask, args: TripArgs) -> Result<RecordReturnTripRequest> {
    let notified_by = ask.text(args.notified_by, "Notified by (e.g. 驻京工作组)", true)?;
    let notified_at = ask.time(args.notified_at, "Notified at", true)?;
    let destination_level = ask.choice(
        args.level,
        "Destination level",
        EnumKind::Level,
        &["township", "county"],
    )?;
    let destination_place = ask.text(args.place, "Destination", true)?;
    let responsible_org_code = ask.text(args.responsible_org, "Responsible org unit", true)?;
    let mut officers = args.officers;
    if officers.is_empty() && ask.interactive {
        officers.push(ask.text(None, "Officer", true)?);
    }
    let departed_at = ask.time(args.departed_at, "Departed at (empty: not yet)", false)?;
    let outcome = match args.outcome {
        Some(o) => EnumKind::TripOutcome
            .parse(&o)
            .map_err(|e| anyhow!("--outcome: {e}"))?,
        None => 0,
    };
    Ok(RecordReturnTripRequest {
        request_id: String::new(),
        trip: Some(ReturnTrip {
            notified_by,
            notified_at,
            destination_level,
            destination_place,
            non_reception_place: args.non_reception,
            responsible_org_code,
            officers,
            petitioners: petitioners(ask, args.person, false)?,
            case_ids: args.cases,
            departed_at,
            arrived_at: ask.time(args.arrived_at, "Arrived at", false)?,
            returned_at: if args.under_way {
                None
            } else {
                ask.time(args.returned_at, "Returned at", false)?
            },
            costs: Some(TripCosts {
                transport: args.transport.unwrap_or_default(),
                lodging: args.lodging.unwrap_or_default(),
                meals: args.meals.unwrap_or_default(),
                other: args.other_cost.unwrap_or_default(),
                total: String::new(),
            }),
            outcome,
            report: args.report.unwrap_or_default(),
            ..Default::default()
        }),
    })
}

/// The matter a step acts on: found in the local copy (by id, part of it, or number), or, with `--force`,
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
            "no matter {:?} in the local copy: run `xf sync`, or pass --force with its full id",
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

fn read_text_arg(value: String) -> Result<String> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(value),
    }
}

fn case_command(store: &mut Store, ask: &Ask, command: CaseCommand) -> Result<()> {
    let now = Utc::now();
    let entry = match command {
        CaseCommand::Show { case } => return show_case(store, &case),
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

fn show_case(store: &Store, id: &str) -> Result<()> {
    let case = store
        .find_case(id)?
        .ok_or_else(|| anyhow!("no matter {id:?} in the local copy"))?;
    println!("{} {}", case.number, case.id);
    println!("state:       {}", EnumKind::CaseState.format(case.state));
    println!(
        "category:    {}   problem at: {}",
        case.category, case.problem_org_code
    );
    println!("responsible: {}", case.responsible_org_code);
    println!(
        "registered:  {}",
        text::format_time(case.registered_at.as_ref())
    );
    println!("content:     {}", case.content);
    println!("demands:     {}", case.demands);
    if !case.reply_opinion.is_empty() {
        println!("opinion:     {}", case.reply_opinion);
    }
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

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

fn names(people: &[Petitioner]) -> String {
    people
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn waiting_note(store: &Store, kinds: &[&str], what: &str) -> Result<()> {
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

fn list_cases(store: &Store, json: bool) -> Result<()> {
    let cases = store.cases()?;
    let outbox = store.outbox(&[OpState::Pending, OpState::Sent, OpState::Rejected])?;
    let waiting = |id: &str| outbox.iter().filter(|e| e.target == id).count();
    if json {
        let items: Vec<_> = cases
            .iter()
            .map(|c| {
                json!({
                    "id": c.id, "number": c.number, "state": EnumKind::CaseState.format(c.state),
                    "category": c.category, "problem_org_code": c.problem_org_code,
                    "responsible_org_code": c.responsible_org_code, "content": c.content,
                    "demands": c.demands, "registered_at": text::format_time(c.registered_at.as_ref()),
                    "etag": c.etag, "outbox": waiting(&c.id),
                })
            })
            .collect();
        return print_json(&json!(items));
    }
    let mut t = table(&[
        "ID",
        "NUMBER",
        "STATE",
        "CATEGORY",
        "PROBLEM AT",
        "RESPONSIBLE",
        "REGISTERED",
        "OUTBOX",
    ]);
    for c in &cases {
        t.add_row(vec![
            short(&c.id).to_owned(),
            c.number.clone(),
            EnumKind::CaseState.format(c.state),
            c.category.clone(),
            c.problem_org_code.clone(),
            c.responsible_org_code.clone(),
            text::format_time(c.registered_at.as_ref()),
            match waiting(&c.id) {
                0 => String::new(),
                n => n.to_string(),
            },
        ]);
    }
    println!("{t}");
    match cases.len() {
        1 => println!("1 matter in the local copy"),
        n => println!("{n} matters in the local copy"),
    }
    Ok(())
}

fn list_visits(store: &Store, json: bool) -> Result<()> {
    let visits = store.visits()?;
    if json {
        let items: Vec<_> = visits
            .iter()
            .map(|v| {
                let m = v.matter.clone().unwrap_or_default();
                json!({
                    "id": v.id, "number": v.number, "visited_at": text::format_time(v.visited_at.as_ref()),
                    "level": EnumKind::Level.format(v.level), "place_name": v.place_name,
                    "non_reception_place": v.non_reception_place, "headcount": v.headcount,
                    "petitioners": v.petitioners.iter().map(|p| json!({
                        "name": p.name, "id_number": p.id_number, "phone": p.phone,
                    })).collect::<Vec<_>>(),
                    "category": m.category, "problem_org_code": m.problem_org_code,
                    "case_id": v.classification.as_ref().map(|c| c.case_id.clone()).unwrap_or_default(),
                    "collective": v.collective, "leapfrog": v.leapfrog,
                })
            })
            .collect();
        return print_json(&json!(items));
    }
    let mut t = table(&[
        "NUMBER",
        "VISITED",
        "LEVEL",
        "PLACE",
        "PERSONS",
        "PETITIONERS",
        "CATEGORY",
        "PROBLEM AT",
    ]);
    for v in &visits {
        let m = v.matter.clone().unwrap_or_default();
        t.add_row(vec![
            v.number.clone(),
            text::format_time(v.visited_at.as_ref()),
            EnumKind::Level.format(v.level),
            v.place_name.clone(),
            v.headcount.to_string(),
            names(&v.petitioners),
            m.category,
            m.problem_org_code,
        ]);
    }
    println!("{t}");
    waiting_note(store, &["register_visit"], "visits")?;
    Ok(())
}

fn list_letters(store: &Store, json: bool) -> Result<()> {
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
            EnumKind::LetterChannel.format(l.channel),
            names(&l.petitioners),
            m.category,
            m.problem_org_code,
        ]);
    }
    println!("{t}");
    waiting_note(store, &["register_letter"], "letters")?;
    Ok(())
}

fn list_trips(store: &Store, json: bool) -> Result<()> {
    let trips = store.trips()?;
    let drafts = store.trip_drafts()?;
    if json {
        let mut items: Vec<_> = drafts
            .iter()
            .map(|d| {
                let t = &d.trip;
                json!({
                    "draft": true, "draft_id": d.id, "id": "", "number": "", "notified_by": t.notified_by,
                    "notified_at": text::format_time(t.notified_at.as_ref()),
                    "destination_level": EnumKind::Level.format(t.destination_level),
                    "destination_place": t.destination_place, "responsible_org_code": t.responsible_org_code,
                    "officers": t.officers, "petitioners": names(&t.petitioners), "case_ids": t.case_ids,
                    "departed_at": text::format_time(t.departed_at.as_ref()),
                    "returned_at": "",
                    "outcome": EnumKind::TripOutcome.format(TripOutcome::UnderWay as i32),
                    "costs_total": draft_costs_total(t),
                })
            })
            .collect();
        items.extend(trips
            .iter()
            .map(|t| {
                json!({
                    "draft": false, "id": t.id, "number": t.number, "notified_by": t.notified_by,
                    "notified_at": text::format_time(t.notified_at.as_ref()),
                    "destination_level": EnumKind::Level.format(t.destination_level),
                    "destination_place": t.destination_place, "responsible_org_code": t.responsible_org_code,
                    "officers": t.officers, "petitioners": names(&t.petitioners), "case_ids": t.case_ids,
                    "departed_at": text::format_time(t.departed_at.as_ref()),
                    "returned_at": text::format_time(t.returned_at.as_ref()),
                    "outcome": EnumKind::TripOutcome.format(t.outcome),
                    "costs_total": t.costs.as_ref().map(|c| c.total.clone()).unwrap_or_default(),
                })
            }));
        return print_json(&json!(items));
    }
    let mut table = table(&[
        "NUMBER",
        "NOTIFIED",
        "TO",
        "RESPONSIBLE",
        "OFFICERS",
        "OUTCOME",
        "COSTS",
    ]);
    for d in &drafts {
        let t = &d.trip;
        table.add_row(vec![
            format!("draft {}", short(&d.id)),
            text::format_time(t.notified_at.as_ref()),
            t.destination_place.clone(),
            t.responsible_org_code.clone(),
            t.officers.join(", "),
            "under-way (draft)".to_owned(),
            draft_costs_total(t),
        ]);
    }
    for t in &trips {
        table.add_row(vec![
            t.number.clone(),
            text::format_time(t.notified_at.as_ref()),
            t.destination_place.clone(),
            t.responsible_org_code.clone(),
            t.officers.join(", "),
            EnumKind::TripOutcome.format(t.outcome),
            t.costs
                .as_ref()
                .map(|c| c.total.clone())
                .unwrap_or_default(),
        ]);
    }
    println!("{table}");
    waiting_note(store, &["record_return_trip"], "trips")?;
    match drafts.len() {
        0 => {}
        1 => {
            println!("1 draft under way: `xf trip close ID --returned-at … --outcome …` queues it")
        }
        n => println!(
            "{n} drafts under way: `xf trip close ID --returned-at … --outcome …` queues each"
        ),
    }
    Ok(())
}

fn outbox(store: &mut Store, ask: &Ask, command: OutboxCommand) -> Result<()> {
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
}

async fn sync_command(store: &mut Store, args: SyncArgs) -> Result<ExitCode> {
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
