//! `suite`: one private durable cluster, the generated county, the server as a child process, every
//! scenario, the echo ceiling and the pgbench baselines; one table, one JSON file.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use chrono::{Datelike, Utc};
use serde::Serialize;
use sqlx::PgPool;
use xinfang_server::{
    cluster::{Cluster, ClusterOptions, ClusterSettings, SUPERUSER, find_binaries},
    db,
    kernel::time::shanghai,
    pii::PiiKeys,
    seed, startup,
};

use crate::{
    baseline::{self, BaselineResult, Explained, Length, Pg},
    generate::{self, GenOptions, GenReport},
    load::{self, Principals, RunOptions, Scenario, ScenarioResult, Target},
    noisy::{Neighbours, NoisyOptions},
    procs::{self, ChildServer, CpuMark},
    statements::{self, StatementProfile},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Profile {
    Full,
    Quick,
    Smoke,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SuiteArgs {
    /// Smaller data and shorter runs (about 3 minutes).
    #[arg(long, conflicts_with = "smoke")]
    pub quick: bool,
    /// Tiny data and one-second runs: that the tools work, not how fast (CI).
    #[arg(long)]
    pub smoke: bool,
    /// Where the JSON goes (default: target/xinfang-load/results.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep the cluster folder, logs and pgbench scripts.
    #[arg(long)]
    pub keep: bool,
    #[arg(long)]
    pub visits: Option<u64>,
    #[arg(long)]
    pub letters: Option<u64>,
    #[arg(long)]
    pub cases: Option<u64>,
    #[arg(long)]
    pub years: Option<u32>,
    #[arg(long, default_value_t = 8)]
    pub seed: u64,
    /// Callers of register-visit and mixed (and echo), and clients of the pgbench baseline.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// HTTP/2 connections the callers share.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Measured seconds of each timed scenario and baseline.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Seconds of the mixed scenario.
    #[arg(long)]
    pub mixed_duration: Option<u64>,
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Operations of the push scenario, in all and per push, and the field officers pushing at once.
    #[arg(long)]
    pub push_ops: Option<u64>,
    #[arg(long)]
    pub push_batch: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub push_concurrency: usize,
    /// Measured rounds of the indicators scenario.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Run this xinfang-server binary instead of this program's built-in copy of the same server.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Folder of the PostgreSQL binaries (initdb, postgres, pgbench).
    #[arg(long, env = "XINFANG_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Skip the pgbench baselines.
    #[arg(long)]
    pub no_baselines: bool,
    /// Profile the server with `perf record` during register-visit (perf-register-visit.txt beside the
    /// JSON). It costs some CPU: leave it off for the figures.
    #[arg(long)]
    pub perf: bool,
    /// Profile the database statements of register-visit, push, mixed and register-visit@1 with
    /// pg_stat_statements (preloaded in the suite's cluster, counting the trigger functions' statements
    /// and BEGIN/SAVEPOINT/COMMIT too): profile-<scenario>.txt beside the JSON, the top 25 statements by
    /// total execution time. It costs the database a little: leave it off for the figures.
    #[arg(long = "profile")]
    pub statement_profile: bool,
    /// Calls the flooding principal of the noisy-neighbour scenario keeps in flight.
    #[arg(long, default_value_t = 64)]
    pub flood_callers: usize,
    /// Generate the county, then run only the noisy-neighbour scenario (both servers).
    #[arg(long)]
    pub noisy_only: bool,
    /// A flag for the measured server, e.g. `--server-arg=--max-in-flight-per-principal --server-arg=2`
    /// (repeat it for each word).
    #[arg(long, allow_hyphen_values = true)]
    pub server_arg: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    pub visits: u64,
    pub letters: u64,
    pub cases: u64,
    pub years: u32,
    pub duration_s: u64,
    pub mixed_duration_s: u64,
    pub warmup_s: u64,
    pub push_ops: u64,
    pub push_batch: usize,
    pub rounds: u32,
}

impl SuiteArgs {
    pub fn profile(&self) -> Profile {
        if self.smoke {
            Profile::Smoke
        } else if self.quick {
            Profile::Quick
        } else {
            Profile::Full
        }
    }

    fn sizes(&self) -> Sizes {
        let d = match self.profile() {
            Profile::Full => Sizes {
                visits: 1_000_000,
                letters: 250_000,
                cases: 125_000,
                years: 3,
                duration_s: 20,
                mixed_duration_s: 30,
                warmup_s: 3,
                push_ops: 10_000,
                push_batch: 100,
                rounds: 10,
            },
            Profile::Quick => Sizes {
                visits: 100_000,
                letters: 25_000,
                cases: 12_500,
                years: 3,
                duration_s: 5,
                mixed_duration_s: 8,
                warmup_s: 1,
                push_ops: 2_000,
                push_batch: 100,
                rounds: 5,
            },
            Profile::Smoke => Sizes {
                visits: 2_000,
                letters: 500,
                cases: 300,
                years: 2,
                duration_s: 1,
                mixed_duration_s: 2,
                warmup_s: 0,
                push_ops: 60,
                push_batch: 20,
                rounds: 1,
            },
        };
        Sizes {
            visits: self.visits.unwrap_or(d.visits),
            letters: self.letters.unwrap_or(d.letters),
            cases: self.cases.unwrap_or(d.cases),
            years: self.years.unwrap_or(d.years),
            duration_s: self.duration.unwrap_or(d.duration_s),
            mixed_duration_s: self.mixed_duration.unwrap_or(d.mixed_duration_s),
            warmup_s: self.warmup.unwrap_or(d.warmup_s),
            push_ops: self.push_ops.unwrap_or(d.push_ops),
            push_batch: self.push_batch.unwrap_or(d.push_batch),
            rounds: self.rounds.unwrap_or(d.rounds),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    /// Server with DATABASE_URL on the running cluster: process start to first SERVING health check.
    pub database_url_ms: f64,
    /// Server starting its own private cluster on the existing data (PostgreSQL start included).
    pub private_cluster_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub goal: String,
    pub target: String,
    pub measured: String,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: String,
    pub profile: Profile,
    pub started_at: chrono::DateTime<Utc>,
    pub total_seconds: f64,
    pub machine: Machine,
    pub sizes: Sizes,
    pub concurrency: usize,
    pub connections: usize,
    pub server: String,
    pub generated: GenReport,
    pub startup: Startup,
    pub scenarios: Vec<ScenarioResult>,
    pub baselines: Vec<BaselineResult>,
    pub explain: Vec<ExplainSummary>,
    pub goals: Vec<Goal>,
    /// Share of county-clerk registrations the service linked as repeats, by the load and by pgbench.
    pub repeat_share: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainSummary {
    pub query: String,
    pub scope: String,
    pub execution_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub postgres: String,
    pub durable: bool,
    pub server_pool: String,
}

/// `<tmp>/xinfang-load/<pid>`, after removing folders of runs that have ended.
fn run_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir().join("xinfang-load");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let alive = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(std::process::id().to_string());
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn default_out() -> PathBuf {
    // target/<profile>/xinfang-load → target/xinfang-load/results.json
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|t| t.join("xinfang-load")))
        .unwrap_or_else(|| PathBuf::from("target/xinfang-load"))
        .join("results.json")
}

pub(crate) fn say(text: impl AsRef<str>) {
    eprintln!("[xinfang-load] {}", text.as_ref());
}

struct Env {
    dir: PathBuf,
    pool: PgPool,
    keys: PiiKeys,
    key_file: PathBuf,
    database_url: String,
    postmaster: Option<u32>,
    server_bin: PathBuf,
    server_is_self: bool,
}

impl Env {
    fn server_args(&self, port: u16, private_cluster: bool) -> Vec<String> {
        let mut args = Vec::new();
        if self.server_is_self {
            args.push("server".to_owned());
        }
        args.extend([
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--data-dir".to_owned(),
            self.dir.display().to_string(),
            "--data-key-file".to_owned(),
            self.key_file.display().to_string(),
        ]);
        if !private_cluster {
            args.extend(["--database-url".to_owned(), self.database_url.clone()]);
        }
        args
    }

    async fn start_server(&self, private_cluster: bool) -> Result<ChildServer> {
        self.start_server_with(private_cluster, &[]).await
    }

    /// The server with flags added to its usual ones.
    async fn start_server_with(
        &self,
        private_cluster: bool,
        extra: &[&str],
    ) -> Result<ChildServer> {
        let port = procs::free_port()?;
        let mut args = self.server_args(port, private_cluster);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let log = self.dir.join(if private_cluster {
            "server-private-cluster.log"
        } else if extra.is_empty() {
            "server.log"
        } else {
            "server-flags.log"
        });
        ChildServer::start(&self.server_bin, &args, &[], port, log).await
    }
}

/// Runs a scenario with the server's peak memory reset before and read after, and the CPU split.
async fn measured<F: Future<Output = Result<ScenarioResult>>>(
    server: u32,
    postmaster: Option<u32>,
    run: F,
) -> Result<ScenarioResult> {
    let reset = procs::reset_peak(server);
    let before = CpuMark::now(Some(server), postmaster);
    let mut result = run.await?;
    let after = CpuMark::now(Some(server), postmaster);
    result.server_rss = procs::rss(server, reset);
    result.cpu = Some(after.share_since(&before));
    Ok(result)
}

/// Runs a scenario under the statement profile when `--profile` asked for one.
async fn profiled<F: Future<Output = Result<ScenarioResult>>>(
    profile: Option<&StatementProfile>,
    name: &str,
    warmup: Duration,
    run: F,
) -> Result<ScenarioResult> {
    match profile {
        Some(p) => p.around(name, warmup, run).await,
        None => run.await,
    }
}

pub async fn run(args: SuiteArgs) -> Result<Report> {
    let started = Instant::now();
    let started_at = Utc::now();
    let profile = args.profile();
    let sizes = args.sizes();
    let dir = run_dir()?;
    say(format!("profile {profile:?}, working in {}", dir.display()));
    let result = suite(&args, &sizes, &dir, started_at).await;
    if args.keep || result.is_err() {
        say(format!("kept {}", dir.display()));
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut report = result?;
    report.total_seconds = started.elapsed().as_secs_f64();
    let out = args.out.clone().unwrap_or_else(default_out);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    print_report(&report);
    say(format!("results written to {}", out.display()));
    Ok(report)
}

async fn suite(
    args: &SuiteArgs,
    sizes: &Sizes,
    dir: &Path,
    started_at: chrono::DateTime<Utc>,
) -> Result<Report> {
    // The cluster: durable, as the service runs its own.
    let t = Instant::now();
    let cluster_dir = dir.join("postgres");
    // The statement profile's module can only be loaded when the postmaster starts.
    let settings = ClusterSettings {
        extra: if args.statement_profile {
            statements::CLUSTER_SETTINGS.map(str::to_owned).to_vec()
        } else {
            Vec::new()
        },
        ..ClusterSettings::default()
    };
    let cluster = Cluster::start_with(
        &ClusterOptions {
            dir: cluster_dir.clone(),
            bin_dir: args.pg_bin_dir.clone(),
            run_as: None,
            durable: true,
        },
        &settings,
    )
    .await
    .context("starting the private cluster")?;
    let postmaster = cluster.pid().map(|p| p as u32);
    cluster
        .ensure_database(startup::DATABASE_NAME)
        .await
        .context("creating the database")?;
    let options = cluster.connect_options(startup::DATABASE_NAME);
    let pool = db::pool(options.clone(), 8).await?;
    db::migrate(&pool).await?;
    let key_file = dir.join("data-key");
    let keys = PiiKeys::load_or_create(&key_file)?;
    startup::check_data_key(&pool, &keys).await?;
    seed::run(&pool).await?;
    say(format!(
        "cluster up, migrated and seeded in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    let pg_version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await?;

    // The county.
    let t = Instant::now();
    say(format!(
        "generating {} visits, {} letters, {} cases over {} years",
        sizes.visits, sizes.letters, sizes.cases, sizes.years
    ));
    let generated = generate::generate(
        &options,
        &keys,
        &GenOptions {
            visits: sizes.visits,
            letters: sizes.letters,
            cases: sizes.cases,
            years: sizes.years,
            seed: args.seed,
            end: Utc::now(),
        },
    )
    .await?;
    say(format!(
        "generated in {:.1} s (load {:.1} s, vacuum analyze {:.1} s): {:?}",
        t.elapsed().as_secs_f64(),
        generated.load_seconds,
        generated.vacuum_seconds,
        generated.rows
    ));
    let world = generated.world.clone();
    load::init_people(Some(&world));

    let socket_dir = cluster_dir.join("data");
    let database_url = format!(
        "postgres://{SUPERUSER}@localhost/{}?host={}",
        startup::DATABASE_NAME,
        socket_dir.display()
    );
    let (server_bin, server_is_self) = match &args.server_bin {
        Some(path) => (path.clone(), false),
        None => (std::env::current_exe()?, true),
    };
    let env = Env {
        dir: dir.to_owned(),
        pool: pool.clone(),
        keys,
        key_file,
        database_url,
        postmaster,
        server_bin,
        server_is_self,
    };

    let workers = args.concurrency.max(args.push_concurrency).max(12);
    let principals = Principals::issue(&env.pool, workers).await?;
    let this_year = Utc::now().with_timezone(&shanghai()).year();
    let year = if sizes.years >= 2 {
        this_year - 1
    } else {
        this_year
    };

    // The server, on the existing database.
    let extra: Vec<&str> = args.server_arg.iter().map(String::as_str).collect();
    let server = env.start_server_with(false, &extra).await?;
    say(format!(
        "server up in {:.0} ms (pid {})",
        server.startup.as_secs_f64() * 1000.0,
        server.pid
    ));
    let startup_ms = server.startup.as_secs_f64() * 1000.0;
    let target = Target {
        channels: load::connect(&server.address, args.connections).await?,
        principals,
        world: Some(world.clone()),
        year,
        seed: args.seed,
    };
    let opts = RunOptions {
        concurrency: args.concurrency,
        warmup: Duration::from_secs(sizes.warmup_s),
        duration: Duration::from_secs(sizes.duration_s),
        push_ops: sizes.push_ops,
        push_batch: sizes.push_batch,
        rounds: sizes.rounds,
    };

    // One caller, nothing to queue behind: the latency floor.
    let single = RunOptions {
        concurrency: 1,
        duration: Duration::from_secs(sizes.duration_s.div_ceil(2)),
        ..opts.clone()
    };
    let mut scenarios = Vec::new();
    let mut explain = Vec::new();
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(default_out)
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    let profile = if args.statement_profile && !args.noisy_only {
        Some(StatementProfile::enable(&env.pool, &out_dir).await?)
    } else {
        None
    };
    let profile = profile.as_ref();
    if !args.noisy_only {
        // Reads first, on the generated data as it is.
        say(format!("indicators for {year}"));
        scenarios.push(measured(server.pid, postmaster, target.run_indicators(&opts)).await?);
        explain = baseline::explain_indicators(&env.pool, year, crate::world::TOWNSHIPS[0].0)
            .await
            .unwrap_or_else(|e| {
                say(format!("EXPLAIN failed: {e:#}"));
                Vec::new()
            });
        write_plans(dir, args, &explain)?;

        say(format!(
            "register-visit: {} callers, {} s",
            opts.concurrency, sizes.duration_s
        ));
        baseline::settle(&env.pool).await;
        let perf = if args.perf {
            procs::perf_record(server.pid, sizes.warmup_s + sizes.duration_s, dir)
        } else {
            None
        };
        scenarios.push(
            profiled(
                profile,
                "register-visit",
                opts.warmup,
                measured(
                    server.pid,
                    postmaster,
                    target.run_timed(Scenario::RegisterVisit, &opts, None),
                ),
            )
            .await?,
        );
        if let Some(perf) = perf {
            let out = args.out.clone().unwrap_or_else(default_out);
            let report = out.with_file_name("perf-register-visit.txt");
            match procs::perf_report(perf, &report).await {
                Ok(()) => say(format!("server profile in {}", report.display())),
                Err(e) => say(format!("perf: {e:#}")),
            }
        }

        say(format!(
            "push: {} operations in pushes of {}",
            sizes.push_ops, sizes.push_batch
        ));
        baseline::settle(&env.pool).await;
        let push_opts = RunOptions {
            concurrency: args.push_concurrency,
            ..opts.clone()
        };
        scenarios.push(
            profiled(
                profile,
                "push",
                Duration::ZERO,
                measured(server.pid, postmaster, target.run_push(&push_opts)),
            )
            .await?,
        );

        say(format!(
            "mixed: {} callers, {} s",
            opts.concurrency, sizes.mixed_duration_s
        ));
        baseline::settle(&env.pool).await;
        let mixed_opts = RunOptions {
            duration: Duration::from_secs(sizes.mixed_duration_s),
            ..opts.clone()
        };
        let mut mixed = profiled(
            profile,
            "mixed",
            mixed_opts.warmup,
            measured(
                server.pid,
                postmaster,
                target.run_timed(Scenario::Mixed, &mixed_opts, None),
            ),
        )
        .await?;
        mixed.note = "a day's mix: 33% RegisterVisit, 10% RegisterLetter (county clerks), 5% Push of 5 \
                      (field officers), 40% ListVisits/ListCases (township clerks), 10% overdue list (county), \
                      2% indicators"
            .to_owned();
        scenarios.push(mixed);
        drop(target);

        // The latency floor: one caller, nothing to queue behind.
        let floor_target = Target {
            channels: load::connect(&server.address, 1).await?,
            principals: Principals::issue(&env.pool, 1).await?,
            world: Some(world.clone()),
            year,
            seed: args.seed ^ 1,
        };
        say("register-visit with one caller");
        baseline::settle(&env.pool).await;
        let mut floor = profiled(
            profile,
            "register-visit@1",
            single.warmup,
            measured(
                server.pid,
                postmaster,
                floor_target.run_timed(Scenario::RegisterVisit, &single, None),
            ),
        )
        .await?;
        floor.name = "register-visit@1".into();
        floor.note = "one caller: the latency of a registration with nothing to wait for".into();
        scenarios.push(floor);
        drop(floor_target);
    }

    // The noisy neighbour: on this server (the default fair share), then on one with the share opened up.
    let noisy = NoisyOptions {
        flood_callers: args.flood_callers,
        warmup: Duration::from_secs(sizes.warmup_s.max(1)),
        duration: Duration::from_secs(sizes.duration_s),
    };
    say(format!(
        "noisy-neighbour: one clerk registering, one principal keeping {} calls in flight",
        noisy.flood_callers
    ));
    baseline::settle(&env.pool).await;
    let neighbours = Neighbours::new(
        &server.address,
        &env.pool,
        Some(world.clone()),
        args.seed,
        args.connections,
    )
    .await?;
    scenarios.push(
        measured(
            server.pid,
            postmaster,
            neighbours.alone(&noisy, "noisy-neighbour: clerk alone"),
        )
        .await?,
    );
    baseline::settle(&env.pool).await;
    let (victim, flood) = neighbours
        .flooded(
            &noisy,
            "noisy-neighbour: clerk, flood, fair share",
            "noisy-neighbour: the flood, fair share",
        )
        .await?;
    scenarios.extend([victim, flood]);
    drop(neighbours);
    server.stop().await?;
    let open = args.flood_callers.max(1).to_string();
    let open_server = env
        .start_server_with(
            false,
            &[
                "--max-in-flight-per-principal",
                &open,
                "--rate-per-principal",
                "1000000",
                "--numbered-writes-per-principal",
                &open,
            ],
        )
        .await?;
    let neighbours = Neighbours::new(
        &open_server.address,
        &env.pool,
        Some(world.clone()),
        args.seed ^ 2,
        args.connections,
    )
    .await?;
    baseline::settle(&env.pool).await;
    let (victim, flood) = neighbours
        .flooded(
            &noisy,
            "noisy-neighbour: clerk, flood, no fair share",
            "noisy-neighbour: the flood, no fair share",
        )
        .await?;
    scenarios.extend([victim, flood]);
    drop(neighbours);
    open_server.stop().await?;

    // The framework ceiling: a tonic server with nothing but the health service, same machine, same load.
    let mut cross_check = None;
    if !args.noisy_only {
        say("echo");
        let port = procs::free_port()?;
        let echo_args = vec![
            "echo-server".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
        ];
        let echo = ChildServer::start(
            &std::env::current_exe()?,
            &echo_args,
            &[],
            port,
            dir.join("echo.log"),
        )
        .await?;
        for (run_opts, name) in [(&opts, "echo"), (&single, "echo@1")] {
            let echo_target = Target {
                channels: load::connect(
                    &echo.address,
                    if run_opts.concurrency == 1 {
                        1
                    } else {
                        args.connections
                    },
                )
                .await?,
                principals: Principals::issue(&env.pool, 1).await?,
                world: None,
                year,
                seed: args.seed,
            };
            let mut r = measured(
                echo.pid,
                None,
                echo_target.run_timed(Scenario::Echo, run_opts, None),
            )
            .await?;
            r.name = name.to_owned();
            r.note = "grpc.health.v1.Health/Check on a tonic server that serves only that".into();
            scenarios.push(r);
        }
        cross_check = baseline::h2load_echo(
            &echo.address,
            sizes.duration_s,
            args.connections,
            args.concurrency,
            dir,
        )
        .await
        .unwrap_or_else(|e| {
            say(format!("h2load skipped: {e:#}"));
            None
        });
        echo.stop().await?;
    }

    // The PostgreSQL limit.
    let mut baselines = Vec::new();
    if !args.no_baselines && !args.noisy_only {
        match run_baselines(args, sizes, &env, &socket_dir, year_now()).await {
            Ok(b) => baselines = b,
            Err(e) => say(format!("baselines skipped: {e:#}")),
        }
    }
    baselines.extend(cross_check);

    // That the baseline took the repeat path as often as the service did.
    let shares: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT CASE WHEN p.name = 'pgbench clerk' THEN 'pgbench' ELSE 'xinfang' END, \
                count(*) FILTER (WHERE v.repeat), count(*) \
         FROM visits v JOIN principals p ON p.id = v.registered_by \
         WHERE p.name LIKE 'load clerk %' OR p.name = 'pgbench clerk' GROUP BY 1",
    )
    .fetch_all(&env.pool)
    .await?;
    let repeat_share = shares
        .into_iter()
        .map(|(who, repeats, all)| (who, repeats as f64 / all.max(1) as f64))
        .collect();

    // Start-up of the server as deployed: its own cluster, on the existing data.
    env.pool.close().await;
    cluster.stop().await?;
    let private = env.start_server(true).await?;
    let private_ms = private.startup.as_secs_f64() * 1000.0;
    say(format!(
        "server with its own cluster up in {private_ms:.0} ms"
    ));
    private.stop().await?;

    let mut report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        profile: args.profile(),
        started_at,
        total_seconds: 0.0,
        machine: Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            postgres: pg_version,
            durable: true,
            server_pool: "16 connections (the --db-max-connections default)".into(),
        },
        sizes: sizes.clone(),
        concurrency: args.concurrency,
        connections: args.connections,
        server: if env.server_is_self {
            "xinfang-load server (the server library's startup::run in a child process, as xinfang-server)"
                .into()
        } else {
            env.server_bin.display().to_string()
        },
        generated,
        startup: Startup {
            database_url_ms: startup_ms,
            private_cluster_ms: Some(private_ms),
        },
        scenarios,
        baselines,
        explain: explain
            .iter()
            .map(|e| ExplainSummary {
                query: e.query.clone(),
                scope: e.scope.clone(),
                execution_ms: e.execution_ms,
            })
            .collect(),
        goals: Vec::new(),
        repeat_share,
    };
    report.goals = goals(&report, args.concurrency);
    Ok(report)
}

fn year_now() -> i32 {
    Utc::now().with_timezone(&shanghai()).year()
}

fn write_plans(dir: &Path, args: &SuiteArgs, explain: &[Explained]) -> Result<()> {
    let mut text = String::new();
    let mut sorted: Vec<&Explained> = explain.iter().collect();
    sorted.sort_by(|a, b| b.execution_ms.total_cmp(&a.execution_ms));
    for e in sorted {
        text.push_str(&format!(
            "== {} ({}) {:.1} ms\n{}\n\n",
            e.query, e.scope, e.execution_ms, e.plan
        ));
    }
    std::fs::write(dir.join("explain.txt"), &text)?;
    let out = args.out.clone().unwrap_or_else(default_out);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
        std::fs::write(parent.join("explain.txt"), &text)?;
    }
    Ok(())
}

async fn run_baselines(
    args: &SuiteArgs,
    sizes: &Sizes,
    env: &Env,
    socket_dir: &Path,
    year: i32,
) -> Result<Vec<BaselineResult>> {
    let bin_dir = find_binaries(args.pg_bin_dir.as_deref(), None)?;
    let pgbench = bin_dir.join("pgbench");
    anyhow::ensure!(pgbench.is_file(), "no pgbench in {}", bin_dir.display());
    let pg = Pg {
        pgbench,
        socket_dir: socket_dir.to_owned(),
        user: SUPERUSER.to_owned(),
        database: startup::DATABASE_NAME.to_owned(),
    };
    let vars = baseline::prepare(&env.pool, &env.keys, year).await?;
    let scripts = env.dir.join("pgbench");
    std::fs::create_dir_all(&scripts)?;
    let rv = scripts.join("register-visit.sql");
    std::fs::write(&rv, baseline::register_visit_script(false))?;
    let rv_own = scripts.join("register-visit-own-counter.sql");
    std::fs::write(&rv_own, baseline::register_visit_script(true))?;
    let push = scripts.join("push-batched.sql");
    std::fs::write(&push, baseline::push_script())?;
    let mut out = Vec::new();
    let warm = sizes.warmup_s;
    let secs = sizes.duration_s;
    for (name, script, note) in [
        (
            "register-visit",
            &rv,
            "the statements of one RegisterVisit by a county clerk, one register (counter row) per year",
        ),
        (
            "register-visit-own-counter",
            &rv_own,
            "the same with a counter row per client: what the shared counter's row lock costs",
        ),
    ] {
        say(format!(
            "pgbench {name}: {} clients, {secs} s",
            args.concurrency
        ));
        baseline::settle(&env.pool).await;
        if warm > 0 {
            pg.run(
                name,
                script,
                args.concurrency,
                Length::Seconds(warm),
                &vars,
                1.0,
                &scripts,
                false,
            )
            .await?;
        }
        let before = CpuMark::now(None, env.postmaster);
        let mut r = pg
            .run(
                name,
                script,
                args.concurrency,
                Length::Seconds(secs),
                &vars,
                1.0,
                &scripts,
                true,
            )
            .await?;
        r.cpu = Some(CpuMark::now(None, env.postmaster).share_since(&before));
        r.note = note.to_owned();
        out.push(r);
    }
    // Fewer clients on the one counter row: the latency with nothing to wait for, and how throughput
    // depends on how many queue for the row.
    for (name, clients, note) in [
        (
            "register-visit@1",
            1,
            "one client: the latency of the same transaction with nothing to wait for",
        ),
        (
            "register-visit@4",
            4,
            "four clients on the one counter row: fewer waiters than 16",
        ),
    ] {
        let secs = secs.div_ceil(2);
        say(format!("pgbench {name}: {clients} clients, {secs} s"));
        baseline::settle(&env.pool).await;
        let before = CpuMark::now(None, env.postmaster);
        let mut r = pg
            .run(
                name,
                &rv,
                clients,
                Length::Seconds(secs),
                &vars,
                1.0,
                &scripts,
                true,
            )
            .await?;
        r.cpu = Some(CpuMark::now(None, env.postmaster).share_since(&before));
        r.note = note.into();
        out.push(r);
    }
    let batch = sizes.push_batch.max(1);
    let clients = args.push_concurrency.max(1);
    let per_client = (sizes.push_ops.div_ceil(batch as u64)).div_ceil(clients as u64);
    let mut push_vars = vars.clone();
    push_vars.push(("batch".into(), batch.to_string()));
    say(format!(
        "pgbench push-batched: {} operations in batches of {batch}",
        per_client * clients as u64 * batch as u64
    ));
    baseline::settle(&env.pool).await;
    let before = CpuMark::now(None, env.postmaster);
    let mut r = pg
        .run(
            "push-batched",
            &push,
            clients,
            Length::Transactions(per_client),
            &push_vars,
            batch as f64,
            &scripts,
            true,
        )
        .await?;
    r.cpu = Some(CpuMark::now(None, env.postmaster).share_since(&before));
    r.note = format!(
        "the rows of {batch} pushed visits per transaction, one set-based INSERT per table"
    );
    out.push(r);
    Ok(out)
}

fn find<'a>(report: &'a Report, name: &str) -> Option<&'a ScenarioResult> {
    report.scenarios.iter().find(|s| s.name == name)
}

fn baseline_of<'a>(report: &'a Report, name: &str) -> Option<&'a BaselineResult> {
    report
        .baselines
        .iter()
        .find(|b| b.tool == "pgbench" && b.name == name)
}

fn goals(report: &Report, concurrency: usize) -> Vec<Goal> {
    let mut g = Vec::new();
    let rv = find(report, "register-visit");
    let rv_base = baseline_of(report, "register-visit");
    if let Some(rv) = rv {
        let ratio = rv_base.map(|b| rv.rate / b.tps);
        g.push(Goal {
            goal: format!("RegisterVisit throughput at {concurrency} callers"),
            target: "≥ 1.0 × pgbench of the same statements (issue 19)".into(),
            measured: match (ratio, rv_base) {
                (Some(r), Some(b)) => format!("{:.0}/s vs {:.0}/s = {r:.2}", rv.rate, b.tps),
                _ => format!("{:.0}/s, no baseline", rv.rate),
            },
            met: ratio.map(|r| r >= 1.0),
        });
        g.push(Goal {
            goal: format!("RegisterVisit p99 at {concurrency} callers"),
            target: "≤ 20 ms".into(),
            measured: format!("{:.1} ms", rv.latency.p99_ms),
            met: Some(rv.latency.p99_ms <= 20.0),
        });
        g.push(Goal {
            goal: "RegisterVisit errors".into(),
            target: "none".into(),
            measured: format!("{} ({:?})", rv.error_count(), rv.errors),
            met: Some(rv.error_count() == 0),
        });
    }
    if let (Some(alone), Some(flooded)) = (
        find(report, "noisy-neighbour: clerk alone"),
        find(report, "noisy-neighbour: clerk, flood, fair share"),
    ) {
        let ratio = flooded.latency.p50_ms / alone.latency.p50_ms.max(1e-9);
        g.push(Goal {
            goal: "RegisterVisit median of a clerk while another principal floods".into(),
            target: "≤ 2 × its median on an idle server".into(),
            measured: format!(
                "{:.1} ms vs {:.1} ms = {ratio:.2}×",
                flooded.latency.p50_ms, alone.latency.p50_ms
            ),
            met: Some(ratio <= 2.0 && flooded.error_count() == 0),
        });
    }
    if let Some(push) = find(report, "push") {
        let base = baseline_of(report, "push-batched");
        let ratio = base.map(|b| push.item_rate / b.item_rate);
        g.push(Goal {
            goal: format!("Push of {} operations", report.sizes.push_ops),
            target: "≥ 0.5 × the operations/s of the batched insert (issue 19)".into(),
            measured: match (ratio, base) {
                (Some(r), Some(b)) => format!(
                    "{:.0} ops/s ({:.1} s) vs {:.0} ops/s = {r:.3}",
                    push.item_rate, push.seconds, b.item_rate
                ),
                _ => format!("{:.0} ops/s", push.item_rate),
            },
            met: ratio.map(|r| r >= 0.5),
        });
    }
    if let Some(ind) = find(report, "indicators") {
        let sizes = format!(
            "{} visits / {} cases",
            report.generated.rows.get("visits").copied().unwrap_or(0),
            report.generated.rows.get("cases").copied().unwrap_or(0)
        );
        for (call, limit) in [
            ("GetIndicators.county", 200.0),
            ("GetVisitStatistics.county", 200.0),
            ("GetIndicators.township", 50.0),
            ("GetVisitStatistics.township", 50.0),
        ] {
            if let Some(s) = ind.calls.get(call) {
                g.push(Goal {
                    goal: format!("{call} p50 over a year ({sizes}; the goal is for 10M / 1M)"),
                    target: format!("< {limit:.0} ms"),
                    measured: format!("{:.1} ms", s.p50_ms),
                    met: Some(s.p50_ms < limit),
                });
            }
        }
    }
    if let Some(m) = find(report, "mixed")
        && let Some(rss) = m.server_rss
    {
        g.push(Goal {
            goal: "server RSS under the mixed load".into(),
            target: "< 150 MB".into(),
            measured: format!("peak {:.1} MB", rss.peak_mb),
            met: Some(rss.peak_mb < 150.0),
        });
    }
    g.push(Goal {
        goal: "start-up on an existing database".into(),
        target: "< 2 s".into(),
        measured: format!(
            "{:.0} ms with DATABASE_URL, {} with its own cluster",
            report.startup.database_url_ms,
            report
                .startup
                .private_cluster_ms
                .map_or("-".to_owned(), |ms| format!("{ms:.0} ms"))
        ),
        met: Some(
            report.startup.database_url_ms < 2000.0
                && report
                    .startup
                    .private_cluster_ms
                    .is_none_or(|ms| ms < 2000.0),
        ),
    });
    g
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

pub fn table(report: &Report) -> String {
    let mut t = String::new();
    t.push_str(
        "| scenario | callers | ok | req/s | items/s | p50 ms | p90 ms | p99 ms | max ms | errors | server RSS peak | CPU server/pg/load |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n",
    );
    for s in &report.scenarios {
        let rss = s
            .server_rss
            .map_or("-".to_owned(), |r| format!("{:.1} MB", r.peak_mb));
        let cpu = s.cpu.map_or("-".to_owned(), |c| {
            format!("{:.2}/{:.2}/{:.2}", c.server, c.postgres, c.load_generator)
        });
        let errors = if s.errors.is_empty() {
            "0".to_owned()
        } else {
            s.errors
                .iter()
                .map(|(k, v)| format!("{k}×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if s.name == "indicators" {
            for (call, st) in &s.calls {
                t.push_str(&format!(
                    "| indicators: {call} | 1 | {} | {:.1} | | {} | {} | {} | {} | {errors} | {rss} | {cpu} |\n",
                    st.count,
                    if st.mean_ms > 0.0 { 1000.0 / st.mean_ms } else { 0.0 },
                    ms(st.p50_ms),
                    ms(st.p90_ms),
                    ms(st.p99_ms),
                    ms(st.max_ms),
                ));
            }
            continue;
        }
        t.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {errors} | {rss} | {cpu} |\n",
            s.name,
            s.concurrency,
            s.ok,
            s.rate,
            s.item_rate,
            ms(s.latency.p50_ms),
            ms(s.latency.p90_ms),
            ms(s.latency.p99_ms),
            ms(s.latency.max_ms),
        ));
    }
    for b in &report.baselines {
        let cpu = b.cpu.map_or("-".to_owned(), |c| {
            format!("-/{:.2}/{:.2}", c.postgres, c.load_generator)
        });
        t.push_str(&format!(
            "| {} {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | - | {cpu} |\n",
            b.tool,
            b.name,
            b.clients,
            b.transactions,
            b.tps,
            b.item_rate,
            ms(b.latency.p50_ms),
            ms(b.latency.p90_ms),
            ms(b.latency.p99_ms),
            ms(b.latency.max_ms),
            b.failed
        ));
    }
    t
}

pub fn ratios(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    let rv = find(report, "register-visit");
    let echo = find(report, "echo");
    if let (Some(rv), Some(b)) = (rv, baseline_of(report, "register-visit")) {
        lines.push(format!(
            "RegisterVisit: xinfang / PostgreSQL = {:.0} / {:.0} = {:.2}",
            rv.rate,
            b.tps,
            rv.rate / b.tps
        ));
    }
    if let (Some(a), Some(b)) = (
        baseline_of(report, "register-visit"),
        baseline_of(report, "register-visit-own-counter"),
    ) {
        lines.push(format!(
            "PostgreSQL with one counter row / a counter row per client = {:.0} / {:.0} = {:.2}",
            a.tps,
            b.tps,
            a.tps / b.tps
        ));
    }
    if let (Some(x), Some(b)) = (
        find(report, "register-visit@1"),
        baseline_of(report, "register-visit@1"),
    ) {
        lines.push(format!(
            "RegisterVisit with one caller: xinfang p50 {:.1} ms / PostgreSQL p50 {:.1} ms",
            x.latency.p50_ms, b.latency.p50_ms
        ));
    }
    if let (Some(p), Some(b)) = (find(report, "push"), baseline_of(report, "push-batched")) {
        lines.push(format!(
            "Push: xinfang / batched insert = {:.0} / {:.0} operations/s = {:.3}",
            p.item_rate,
            b.item_rate,
            p.item_rate / b.item_rate
        ));
    }
    if let (Some(rv), Some(e)) = (rv, echo) {
        lines.push(format!(
            "RegisterVisit / echo ceiling = {:.0} / {:.0} = {:.3}",
            rv.rate,
            e.rate,
            rv.rate / e.rate
        ));
    }
    if let (Some(e), Some(h)) = (
        echo,
        report
            .baselines
            .iter()
            .find(|b| b.tool == "h2load" && b.name == "echo"),
    ) {
        lines.push(format!(
            "echo: xinfang-load / h2load (the generator's own ceiling) = {:.0} / {:.0} = {:.2}",
            e.rate,
            h.tps,
            e.rate / h.tps
        ));
    }
    if let (Some(m), Some(e)) = (find(report, "mixed"), echo) {
        lines.push(format!(
            "mixed / echo ceiling = {:.0} / {:.0} = {:.3}",
            m.rate,
            e.rate,
            m.rate / e.rate
        ));
    }
    lines
}

fn print_report(report: &Report) {
    println!();
    println!(
        "xinfang-load suite ({:?}): {} visits, {} letters, {} cases over {} years; {} callers on {} connections; PostgreSQL {} (durable); {} CPUs",
        report.profile,
        report.sizes.visits,
        report.sizes.letters,
        report.sizes.cases,
        report.sizes.years,
        report.concurrency,
        report.connections,
        report.machine.postgres,
        report.machine.cpus
    );
    println!();
    print!("{}", table(report));
    println!();
    for line in ratios(report) {
        println!("{line}");
    }
    println!(
        "start-up on the existing database: {:.0} ms with DATABASE_URL, {} with its own cluster",
        report.startup.database_url_ms,
        report
            .startup
            .private_cluster_ms
            .map_or("-".to_owned(), |m| format!("{m:.0} ms"))
    );
    if !report.repeat_share.is_empty() {
        println!(
            "repeat share of county-clerk registrations: {}",
            report
                .repeat_share
                .iter()
                .map(|(k, v)| format!("{k} {:.0}%", v * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut slow: Vec<&ExplainSummary> = report.explain.iter().collect();
    slow.sort_by(|a, b| b.execution_ms.total_cmp(&a.execution_ms));
    if !slow.is_empty() {
        println!();
        println!("slowest indicator statements (EXPLAIN ANALYZE execution time):");
        for e in slow.iter().take(5) {
            println!("  {:.1} ms  {} ({})", e.execution_ms, e.query, e.scope);
        }
    }
    println!();
    println!("goals:");
    for goal in &report.goals {
        let mark = match goal.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        println!(
            "  [{mark}] {}: {} (target {})",
            goal.goal, goal.measured, goal.target
        );
    }
    println!("total {:.0} s", report.total_seconds);
}
