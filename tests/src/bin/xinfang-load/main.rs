//! `xinfang-load`: load generator, data generator and benchmark suite of xinfang (issue #8).
//!
//! ```text
//! cargo run --release -p xinfang-tests --bin xinfang-load -- suite [--quick] [--profile]
//! xinfang-load generate --database-url URL --data-key-file FILE [--visits N --letters N --cases N --years N]
//! xinfang-load run register-visit|push|indicators|mixed|echo --address URL --database-url URL [--profile] [...]
//! ```
//!
//! `suite` starts a private durable PostgreSQL cluster, generates a county, starts the server as a child
//! process (this program's `server` subcommand: the server library's own `startup::run`, or
//! `--server-bin target/release/xinfang-server`), runs every scenario, the echo ceiling and the pgbench
//! baselines, prints one table and writes JSON.
//!
//! `--profile` adds where the database time of the service's scenarios goes: the suite's cluster loads
//! `pg_stat_statements`, and each of register-visit, push, mixed and register-visit@1 leaves
//! `profile-<scenario>.txt` beside the JSON with its top statements by total execution time (see
//! `statements`). Off by default, as the module costs the database a little. `run --profile` does the same
//! for its one scenario against a server whose PostgreSQL already preloads the module, into the current
//! folder.

mod baseline;
mod generate;
mod load;
mod noisy;
mod procs;
mod statements;
mod suite;
mod world;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, Result};
use chrono::{Datelike, Utc};
use clap::{Parser, Subcommand};
use xinfang_server::{db, pii::PiiKeys};

#[derive(Debug, Parser)]
#[command(
    name = "xinfang-load",
    about = "Load generator and benchmarks of xinfang"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Everything against a private cluster: one table, JSON in target/xinfang-load/results.json.
    Suite(suite::SuiteArgs),
    /// Fill a migrated, seeded database with a generated county (COPY).
    Generate(GenerateArgs),
    /// One scenario against a running server.
    Run(RunArgs),
    /// The xinfang server itself (what `suite` runs as its child process).
    #[command(hide = true)]
    Server {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// A tonic server with only the health service: the framework ceiling.
    #[command(hide = true)]
    EchoServer {
        #[arg(long)]
        listen: SocketAddr,
    },
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The server's personal-data key file: petitioners are sealed and hashed with it.
    #[arg(long)]
    data_key_file: PathBuf,
    #[arg(long, default_value_t = 1_000_000)]
    visits: u64,
    #[arg(long, default_value_t = 250_000)]
    letters: u64,
    #[arg(long, default_value_t = 125_000)]
    cases: u64,
    #[arg(long, default_value_t = 3)]
    years: u32,
    #[arg(long, default_value_t = 8)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[arg(value_enum)]
    scenario: load::Scenario,
    /// The server (for echo: ignored, an echo server is started here).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    address: String,
    /// The server's database: principals for the callers are issued there, and the generated county read.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    #[arg(long, default_value_t = 20)]
    duration: u64,
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    #[arg(long, default_value_t = 10_000)]
    push_ops: u64,
    #[arg(long, default_value_t = 100)]
    push_batch: usize,
    #[arg(long, default_value_t = 10)]
    rounds: u32,
    /// Year of the indicators (default: last year).
    #[arg(long)]
    year: Option<i32>,
    /// Pid of the server, for its peak memory (VmHWM).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Profile the scenario's database statements with pg_stat_statements into profile-<scenario>.txt in
    /// the current folder. The database must preload the module (shared_preload_libraries) and the URL's
    /// role may reset its statistics (a superuser).
    #[arg(long)]
    profile: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Server { args } => serve(args).await,
        Cmd::EchoServer { listen } => procs::echo_server(listen).await,
        Cmd::Suite(args) => suite::run(args).await.map(|_| ()),
        Cmd::Generate(args) => generate_command(args).await,
        Cmd::Run(args) => run_command(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Exactly what `xinfang-server` does: its flags, its logging, its subcommands (`serve` by default).
async fn serve(args: Vec<String>) -> Result<()> {
    use clap::Parser as _;
    let cli = xinfang_server::config::Cli::parse_from(
        std::iter::once("xinfang-server".to_owned()).chain(args),
    );
    xinfang_server::telemetry::init(cli.config.log_format);
    xinfang_server::commands::run(cli).await
}

async fn generate_command(args: GenerateArgs) -> Result<()> {
    let options = db::options_from_url(&args.database_url)?;
    let keys = PiiKeys::load_or_create(&args.data_key_file)?;
    let report = generate::generate(
        &options,
        &keys,
        &generate::GenOptions {
            visits: args.visits,
            letters: args.letters,
            cases: args.cases,
            years: args.years,
            seed: args.seed,
            end: Utc::now(),
        },
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn run_command(args: RunArgs) -> Result<()> {
    let pool = db::pool(db::options_from_url(&args.database_url)?, 4)
        .await
        .context("connecting to the database")?;
    let world = generate::world_of(&pool).await?;
    load::init_people(world.as_ref());
    let year = args.year.unwrap_or_else(|| {
        Utc::now()
            .with_timezone(&xinfang_server::kernel::time::shanghai())
            .year()
            - 1
    });
    let opts = load::RunOptions {
        concurrency: args.concurrency,
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
        push_ops: args.push_ops,
        push_batch: args.push_batch,
        rounds: args.rounds,
    };
    let principals = load::Principals::issue(&pool, args.concurrency.max(12)).await?;
    let mut echo = None;
    let address = if args.scenario == load::Scenario::Echo {
        let port = procs::free_port()?;
        let server = procs::ChildServer::start(
            &std::env::current_exe()?,
            &[
                "echo-server".to_owned(),
                "--listen".to_owned(),
                format!("127.0.0.1:{port}"),
            ],
            &[],
            port,
            std::env::temp_dir().join(format!("xinfang-echo-{}.log", std::process::id())),
        )
        .await?;
        let address = server.address.clone();
        echo = Some(server);
        address
    } else {
        args.address.clone()
    };
    let server_pid = echo.as_ref().map(|e| e.pid).or(args.server_pid);
    let reset = server_pid.is_some_and(procs::reset_peak);
    let target = load::Target {
        channels: load::connect(&address, args.connections).await?,
        principals,
        world,
        year,
        seed: 8,
    };
    let profile = if args.profile {
        Some(statements::StatementProfile::enable(&pool, std::path::Path::new(".")).await?)
    } else {
        None
    };
    let run = async {
        match args.scenario {
            load::Scenario::Push => target.run_push(&opts).await,
            load::Scenario::Indicators => target.run_indicators(&opts).await,
            s => target.run_timed(s, &opts, None).await,
        }
    };
    let mut result = match &profile {
        // Push has no warm-up, and that of indicators is a round, not a time: their statistics cover the
        // whole run (for indicators, the calls per operation then count the warm-up round's too).
        Some(p) => {
            let warmup = match args.scenario {
                load::Scenario::Push | load::Scenario::Indicators => Duration::ZERO,
                _ => opts.warmup,
            };
            p.around(args.scenario.name(), warmup, run).await?
        }
        None => run.await?,
    };
    result.server_rss = server_pid.and_then(|pid| procs::rss(pid, reset));
    if let Some(echo) = echo {
        echo.stop().await?;
    }
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
