//! The cluster a process started or attached to: connecting to it, running PostgreSQL's client tools on it,
//! waiting for it to take writes, stopping it.

use std::{
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use nix::sys::signal::{Signal, kill};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};

use super::{
    ClusterError, ClusterOptions, ClusterSettings, PORT, SERVICE_ROLE, SUPERUSER,
    binaries::{find_binaries, major_version},
    io_err,
    launch::{Postmaster, init_db, last_lines, live_postmaster, log_tail, spawn_postmaster},
    user::{RunAs, command_as, prepare_archive_dir, prepare_dirs, run_as_user},
};

const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running cluster. Stop it with [`Cluster::stop`]; if the process dies instead, the postmaster gets
/// SIGINT from the kernel and shuts down by itself.
#[derive(Debug)]
pub struct Cluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    /// The user the cluster runs as when we are root; copies of it run as the same user.
    pub(super) run_as: Option<RunAs>,
    /// `Some` when this process started the postmaster; `None` when it attached to one that was running.
    postmaster: Option<Postmaster>,
}

impl Cluster {
    /// Starts the cluster, running `initdb` first when the folder holds none. When a postmaster from another
    /// process of ours is already serving this folder (a `token issue` next to the running service), attaches
    /// to it instead and leaves it running on stop.
    pub async fn start(options: &ClusterOptions) -> Result<Cluster, ClusterError> {
        Self::start_with(options, &ClusterSettings::default()).await
    }

    /// [`Cluster::start`] with WAL archiving, a synchronous standby or a recovery target.
    pub async fn start_with(
        options: &ClusterOptions,
        settings: &ClusterSettings,
    ) -> Result<Cluster, ClusterError> {
        let data_dir = options.dir.join("data");
        let socket_file = data_dir.join(format!(".s.PGSQL.{PORT}"));
        if socket_file.as_os_str().len() > 100 {
            return Err(ClusterError::SocketPathTooLong(socket_file));
        }
        let existing_version = fs::read_to_string(data_dir.join("PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_owned());
        let bin_dir = find_binaries(options.bin_dir.as_deref(), existing_version.as_deref())?;
        let run_as = run_as_user(options.run_as.as_deref(), &options.dir)?;

        prepare_dirs(&options.dir, &data_dir, run_as.as_ref())?;
        if let Some(archive) = &settings.wal_archive_dir {
            prepare_archive_dir(archive, run_as.as_ref())?;
        }

        match &existing_version {
            None => init_db(&bin_dir, &options.dir, &data_dir, run_as.as_ref())?,
            Some(data_version) => {
                let bin_version = major_version(&bin_dir)?;
                if &bin_version != data_version {
                    return Err(ClusterError::VersionMismatch {
                        dir: data_dir,
                        data_version: data_version.clone(),
                        bin_dir,
                        bin_version,
                    });
                }
            }
        }

        let cluster = Cluster {
            data_dir: data_dir.clone(),
            bin_dir: bin_dir.clone(),
            run_as: run_as.clone(),
            postmaster: None,
        };
        if let Some(pid) = live_postmaster(&data_dir) {
            if cluster.ping().await.is_ok() {
                tracing::info!(pid, dir = %data_dir.display(), "attached to running postgres");
                return Ok(cluster);
            }
            return Err(ClusterError::Failed {
                step: "postgres start",
                detail: format!(
                    "a postmaster (pid {pid}) holds {} but does not answer; stop it first",
                    data_dir.display()
                ),
            });
        }
        // The postmaster that wrote this is gone (crash, power loss): postgres would refuse to start if the
        // pid had been reused by an unrelated process, so clear it ourselves.
        let _ = fs::remove_file(data_dir.join("postmaster.pid"));

        let postmaster = spawn_postmaster(&bin_dir, options, settings, &data_dir, run_as.as_ref())?;
        let mut cluster = Cluster {
            postmaster: Some(postmaster),
            ..cluster
        };
        cluster
            .wait_ready(
                &options.dir,
                settings.start_timeout.unwrap_or(START_TIMEOUT),
            )
            .await?;
        tracing::info!(dir = %data_dir.display(), durable = options.durable, "postgres started");
        Ok(cluster)
    }

    /// Connection options for `database` over the cluster's unix socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.data_dir)
            .port(PORT)
            .username(SUPERUSER)
            .database(database)
            .application_name("xinfang")
    }

    /// Connection options for `database` as the service's own role.
    pub fn service_connect_options(&self, database: &str) -> PgConnectOptions {
        self.connect_options(database).username(SERVICE_ROLE)
    }

    /// Creates `database` when it does not exist yet.
    pub async fn ensure_database(&self, database: &str) -> Result<(), sqlx::Error> {
        let mut conn = PgConnection::connect_with(&self.connect_options("postgres")).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(database)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            // Identifiers cannot be bound as parameters; quote it.
            let quoted = format!("\"{}\"", database.replace('"', "\"\""));
            sqlx::query(&format!("CREATE DATABASE {quoted}"))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await
    }

    /// Pid of the postmaster this process started, if it started one.
    pub fn pid(&self) -> Option<i32> {
        self.postmaster.as_ref().map(|p| p.pid.as_raw())
    }

    /// Fast shutdown (SIGINT): open sessions are ended, a checkpoint is written, the socket is removed.
    /// A cluster this process only attached to is left running.
    pub async fn stop(mut self) -> Result<(), ClusterError> {
        let Some(postmaster) = self.postmaster.take() else {
            return Ok(());
        };
        let _ = kill(postmaster.pid, Signal::SIGINT);
        match tokio::time::timeout(STOP_TIMEOUT, postmaster.exited).await {
            Ok(_) => {
                tracing::info!(dir = %self.data_dir.display(), "postgres stopped");
                Ok(())
            }
            Err(_) => {
                // Immediate shutdown: recovery runs at the next start, nothing committed is lost.
                let _ = kill(postmaster.pid, Signal::SIGQUIT);
                Err(ClusterError::Failed {
                    step: "postgres stop",
                    detail: format!("no exit within {}s; sent SIGQUIT", STOP_TIMEOUT.as_secs()),
                })
            }
        }
    }

    /// Resolves when the postmaster this process started exits, with how it ended; never for a cluster this
    /// process only attached to.
    pub async fn wait_exit(&mut self) -> String {
        match self.postmaster.as_mut() {
            Some(postmaster) => (&mut postmaster.exited)
                .await
                .unwrap_or_else(|_| "supervisor thread ended".to_owned()),
            None => std::future::pending().await,
        }
    }

    /// PGDATA; also the folder of its unix socket.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The folder of the PostgreSQL binaries this cluster runs.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A libpq connection string for this cluster's socket, as its superuser.
    pub fn conninfo(&self, database: &str, application_name: &str) -> String {
        format!(
            "host={} port={PORT} user={SUPERUSER} dbname={} application_name={}",
            conninfo_value(&self.data_dir.to_string_lossy()),
            conninfo_value(database),
            conninfo_value(application_name)
        )
    }

    /// Runs one of PostgreSQL's client programs (pg_basebackup, pg_verifybackup, …) of the cluster's version,
    /// as the user that runs the cluster when `as_cluster_user` (files it writes must then belong to that
    /// user), else as ourselves; root reaches the cluster's socket either way. Fails with its stderr.
    pub fn run_tool(
        &self,
        program: &str,
        args: &[OsString],
        as_cluster_user: bool,
    ) -> Result<String, ClusterError> {
        let run_as = if as_cluster_user {
            self.run_as.as_ref()
        } else {
            None
        };
        let cwd = match run_as {
            // The cluster's user may not be allowed into our working directory.
            Some(_) => self.data_dir.clone(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        };
        let output = command_as(self.bin_dir.join(program), run_as, &cwd)
            .args(args)
            .env("PGAPPNAME", "xinfang")
            .stdin(Stdio::null())
            .output()
            .map_err(io_err(format!(
                "running {}/{program}",
                self.bin_dir.display()
            )))?;
        if !output.status.success() {
            return Err(ClusterError::Failed {
                step: tool_step(program),
                detail: format!(
                    "{}: {}",
                    output.status,
                    last_lines(String::from_utf8_lossy(&output.stderr).trim(), 8)
                ),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Waits until recovery has ended and the cluster takes writes: a restore reaching its target, or a
    /// promoted standby. Fails when the postmaster exits instead (a recovery target past the end of the
    /// archive, a missing WAL segment), with the end of its log.
    pub async fn wait_writable(&mut self, within: Duration) -> Result<(), ClusterError> {
        let started = Instant::now();
        let log_dir = self
            .data_dir
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default();
        loop {
            if let Ok(mut conn) =
                PgConnection::connect_with(&self.connect_options("postgres")).await
            {
                let in_recovery: Result<bool, _> = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                    .fetch_one(&mut conn)
                    .await;
                let _ = conn.close().await;
                if matches!(in_recovery, Ok(false)) {
                    return Ok(());
                }
            }
            if let Some(postmaster) = self.postmaster.as_mut()
                && let Ok(status) = postmaster.exited.try_recv()
            {
                return Err(ClusterError::Failed {
                    step: "recovery",
                    detail: format!("postgres exited ({status}); {}", log_tail(&log_dir)),
                });
            }
            if started.elapsed() > within {
                return Err(ClusterError::Failed {
                    step: "recovery",
                    detail: format!(
                        "still recovering after {}s; {}",
                        within.as_secs(),
                        log_tail(&log_dir)
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn ping(&self) -> Result<(), sqlx::Error> {
        let conn = PgConnection::connect_with(&self.connect_options("postgres")).await?;
        conn.close().await
    }

    async fn wait_ready(&mut self, dir: &Path, within: Duration) -> Result<(), ClusterError> {
        let started = Instant::now();
        loop {
            if self.ping().await.is_ok() {
                return Ok(());
            }
            if let Some(postmaster) = self.postmaster.as_mut()
                && let Ok(status) = postmaster.exited.try_recv()
            {
                return Err(ClusterError::Failed {
                    step: "postgres start",
                    detail: format!("{status}; {}", log_tail(dir)),
                });
            }
            if started.elapsed() > within {
                return Err(ClusterError::Failed {
                    step: "postgres start",
                    detail: format!("not ready after {}s; {}", within.as_secs(), log_tail(dir)),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A value in a libpq connection string, quoted.
fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn tool_step(program: &str) -> &'static str {
    match program {
        "pg_basebackup" => "pg_basebackup",
        "pg_verifybackup" => "pg_verifybackup",
        "pg_ctl" => "pg_ctl",
        _ => "postgres tool",
    }
}
