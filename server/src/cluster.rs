//! A private PostgreSQL cluster run from the system's PostgreSQL binaries, for when no `DATABASE_URL` is given.
//!
//! Layout: `<dir>/data` is PGDATA; its unix socket lives in the same folder and TCP is off. The postmaster is
//! a child of a supervisor thread that lives as long as the process, with `PR_SET_PDEATHSIG`, so that even a
//! SIGKILLed service takes its database down with it (fast shutdown, no orphan holding the data folder).
//!
//! PostgreSQL refuses to run as root, so when we are root the binaries run as an unprivileged system user
//! (`postgres` when it exists, else `nobody`) and the data folder is handed to that user.

use std::{
    ffi::OsString,
    fs,
    io::{BufRead, BufReader, Read},
    os::unix::{
        fs::{MetadataExt, PermissionsExt, chown},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use nix::{
    sys::signal::{Signal, kill},
    unistd::{Pid, Uid, User},
};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use tokio::sync::oneshot;

/// The role that owns everything in a private cluster; it runs the migrations.
pub const SUPERUSER: &str = "xinfang";
/// The role the service logs in as in a private cluster: it owns nothing and holds the grants of
/// `xinfang_grant_service_role` (only INSERT and SELECT on the audit trail).
pub const SERVICE_ROLE: &str = "xinfang_app";
/// The port only names the socket file (`.s.PGSQL.5432`); nothing listens on TCP.
const PORT: u16 = 5432;
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// With a WAL archive, a segment that is not full is archived after this long anyway: the most a restore
/// from the archive alone can lose on a quiet day. A synchronous standby loses nothing (docs/operations.md).
const ARCHIVE_TIMEOUT_SECS: u32 = 300;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "postgresql server binaries (initdb, postgres) not found{searched}; install them \
         (Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf install postgresql-server`; \
         macOS: `brew install postgresql`), point --pg-bin-dir at their folder, \
         or set DATABASE_URL to use an existing database"
    )]
    BinariesNotFound { searched: String },
    #[error("no system user {0:?} to run postgresql as (it refuses to run as root); set --pg-user")]
    NoSuchUser(String),
    #[error(
        "postgresql user {user:?} cannot reach {dir}: grant search permission (chmod o+x) \
         or choose a --data-dir elsewhere, e.g. /var/lib/xinfang"
    )]
    Unreachable { user: String, dir: PathBuf },
    #[error(
        "the cluster in {dir} was made by postgresql {data_version} but the binaries in {bin_dir} are \
         version {bin_version}; upgrade it with pg_upgrade or point --pg-bin-dir at version {data_version}"
    )]
    VersionMismatch {
        dir: PathBuf,
        data_version: String,
        bin_dir: PathBuf,
        bin_version: String,
    },
    #[error("unix socket path {0} is too long (over 100 bytes); choose a shorter --data-dir")]
    SocketPathTooLong(PathBuf),
    #[error("{step} failed: {detail}")]
    Failed { step: &'static str, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The cluster's folder; created when missing.
    pub dir: PathBuf,
    /// Folder holding `initdb` and `postgres`; searched for when `None`.
    pub bin_dir: Option<PathBuf>,
    /// System user to run postgres as when we are root; `postgres`, else `nobody`, when `None`.
    pub run_as: Option<String>,
    /// Keep fsync and synchronous commit on. Only throw-away test clusters turn this off.
    pub durable: bool,
}

/// What the operator configures beyond a plain cluster: WAL archiving, a synchronous standby, and the
/// recovery that a restore runs.
#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    /// Copy every completed WAL segment into this folder (`archive_mode`), so that a base backup can be
    /// rolled forward to any later moment; standbys and restores also fetch WAL from it.
    pub wal_archive_dir: Option<PathBuf>,
    /// Application name of the standby every commit waits for (`synchronous_standby_names`): a commit is
    /// acknowledged only once the standby has flushed it, so a failover to it loses no acknowledged write.
    pub synchronous_standby: Option<String>,
    /// Where a restore stops replaying WAL (`recovery_target_time`); `None` replays all of the archive.
    /// Only read when the data folder holds `recovery.signal`.
    pub recovery_target_time: Option<DateTime<Utc>>,
    /// How long to wait for the first connection; a restore replaying much WAL takes longer than a start.
    pub start_timeout: Option<Duration>,
}

/// A running cluster. Stop it with [`Cluster::stop`]; if the process dies instead, the postmaster gets
/// SIGINT from the kernel and shuts down by itself.
#[derive(Debug)]
pub struct Cluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<RunAs>,
    /// `Some` when this process started the postmaster; `None` when it attached to one that was running.
    postmaster: Option<Postmaster>,
}

#[derive(Debug)]
struct Postmaster {
    pid: Pid,
    exited: oneshot::Receiver<String>,
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

/// Makes `options.dir` a streaming standby of `primary` (`pg_basebackup -R`: the copy, `standby.signal`, and
/// `primary_conninfo` naming the primary's socket and `application_name`), run by the same user as the
/// primary, whose socket only that user may open. The cluster folder must hold no cluster yet.
pub fn create_standby(
    options: &ClusterOptions,
    primary: &Cluster,
    application_name: &str,
) -> Result<(), ClusterError> {
    let data_dir = options.dir.join("data");
    if data_dir.join("PG_VERSION").exists() {
        return Err(ClusterError::Failed {
            step: "standby",
            detail: format!("{} holds a cluster already", data_dir.display()),
        });
    }
    prepare_dirs(&options.dir, &data_dir, primary.run_as.as_ref())?;
    let args: Vec<OsString> = vec![
        "--pgdata".into(),
        data_dir.clone().into(),
        "--dbname".into(),
        primary.conninfo("postgres", application_name).into(),
        "--wal-method=stream".into(),
        "--checkpoint=fast".into(),
        "--write-recovery-conf".into(),
        "--no-password".into(),
        "--label=xinfang standby".into(),
    ];
    if let Err(err) = primary.run_tool("pg_basebackup", &args, true) {
        // A half-copied standby would be started as one; remove it so the next try starts over.
        let _ = fs::remove_dir_all(&data_dir);
        return Err(err);
    }
    remove_socket_locks(&data_dir)?;
    tracing::info!(dir = %data_dir.display(), "standby created");
    Ok(())
}

/// Puts a base backup (`pgdata` of `xinfang-server backup`) in place as `options.dir`'s cluster, owned by the
/// user that runs it, with `recovery.signal` when WAL is to be replayed from an archive. The cluster folder
/// must hold no cluster: a restore never overwrites one.
pub fn restore_base_backup(
    options: &ClusterOptions,
    backup: &Path,
    from_archive: bool,
) -> Result<(), ClusterError> {
    let data_dir = options.dir.join("data");
    let occupied = fs::read_dir(&data_dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(ClusterError::Failed {
            step: "restore",
            detail: format!(
                "{} is not empty; stop the service and move it aside first (mv {0} {0}.old)",
                data_dir.display()
            ),
        });
    }
    let run_as = run_as_user(options.run_as.as_deref(), &options.dir)?;
    prepare_dirs(&options.dir, &data_dir, run_as.as_ref())?;
    fs::create_dir_all(&data_dir).map_err(io_err(format!("creating {}", data_dir.display())))?;
    let mut from = backup.as_os_str().to_owned();
    from.push("/.");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&from)
        .arg(&data_dir)
        .stdin(Stdio::null())
        .output()
        .map_err(io_err("running cp"))?;
    if !copied.status.success() {
        let _ = fs::remove_dir_all(&data_dir);
        return Err(ClusterError::Failed {
            step: "restore",
            detail: format!(
                "copying {}: {}",
                backup.display(),
                String::from_utf8_lossy(&copied.stderr).trim()
            ),
        });
    }
    if let Some(user) = &run_as {
        let owned = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", user.uid, user.gid))
            .arg(&data_dir)
            .status()
            .map_err(io_err("running chown"))?;
        if !owned.success() {
            return Err(ClusterError::Failed {
                step: "restore",
                detail: format!("chown -R {} {}: {owned}", user.name, data_dir.display()),
            });
        }
    }
    fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err(format!("chmod {}", data_dir.display())))?;
    remove_socket_locks(&data_dir)?;
    if from_archive {
        let signal = data_dir.join("recovery.signal");
        fs::File::create(&signal).map_err(io_err(format!("creating {}", signal.display())))?;
        if let Some(user) = &run_as {
            chown(&signal, Some(user.uid), Some(user.gid))
                .map_err(io_err(format!("chown {}", signal.display())))?;
        }
    }
    Ok(())
}

/// The private cluster keeps its socket in PGDATA, so a base backup copies the socket's lock file, which
/// names the source's postmaster: a copy started next to a running source (a standby) would take it for a
/// postmaster holding its socket. pg_basebackup leaves out postmaster.pid, not this.
fn remove_socket_locks(data_dir: &Path) -> Result<(), ClusterError> {
    let entries =
        fs::read_dir(data_dir).map_err(io_err(format!("reading {}", data_dir.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".s.PGSQL.") && name.ends_with(".lock") {
            fs::remove_file(entry.path())
                .map_err(io_err(format!("removing {}", entry.path().display())))?;
        }
    }
    Ok(())
}

/// Where the binaries are looked for, in order, after an explicit `--pg-bin-dir` and the PATH.
fn candidate_dirs(preferred_version: Option<&str>) -> Vec<PathBuf> {
    let mut versioned: Vec<(u32, PathBuf)> = Vec::new();
    for pattern_root in ["/usr/lib/postgresql", "/usr/local/lib/postgresql"] {
        if let Ok(entries) = fs::read_dir(pattern_root) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Ok(v) = name.parse::<u32>() {
                    versioned.push((v, entry.path().join("bin")));
                }
            }
        }
    }
    if let Ok(entries) = fs::read_dir("/usr") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(v) = name
                .strip_prefix("pgsql-")
                .and_then(|v| v.parse::<u32>().ok())
            {
                versioned.push((v, entry.path().join("bin")));
            }
        }
    }
    // Newest first, but the version that made an existing cluster before all others.
    versioned.sort_by_key(|(v, _)| std::cmp::Reverse(*v));
    if let Some(pref) = preferred_version.and_then(|v| v.parse::<u32>().ok()) {
        versioned.sort_by_key(|(v, _)| *v != pref);
    }
    let mut dirs: Vec<PathBuf> = versioned.into_iter().map(|(_, p)| p).collect();
    dirs.extend(
        [
            "/usr/local/pgsql/bin",
            "/opt/homebrew/opt/postgresql/bin",
            "/usr/local/opt/postgresql/bin",
        ]
        .map(PathBuf::from),
    );
    dirs
}

fn has_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// Finds the folder holding `initdb` and `postgres`: the explicit one, else the PATH, else the usual places.
/// With an existing cluster, the PATH only wins when it has the cluster's version.
pub fn find_binaries(
    explicit: Option<&Path>,
    preferred_version: Option<&str>,
) -> Result<PathBuf, ClusterError> {
    if let Some(dir) = explicit {
        if has_binaries(dir) {
            return Ok(dir.to_owned());
        }
        return Err(ClusterError::BinariesNotFound {
            searched: format!(" in {}", dir.display()),
        });
    }
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let on_path = path_dirs.iter().find(|d| has_binaries(d)).map(|d| {
        // Debian links /usr/local/bin/postgres into /usr/lib/postgresql/N/bin; use the real folder so
        // that its sibling tools are found too.
        fs::canonicalize(d.join("postgres"))
            .ok()
            .and_then(|p| p.parent().map(Path::to_owned))
            .filter(|d| has_binaries(d))
            .unwrap_or_else(|| d.clone())
    });
    let candidates = candidate_dirs(preferred_version);
    if let Some(dir) = &on_path {
        let matches_cluster = match preferred_version {
            None => true,
            Some(v) => major_version(dir).is_ok_and(|b| b == v),
        };
        if matches_cluster {
            return Ok(dir.clone());
        }
    }
    if let Some(dir) = candidates.iter().find(|d| has_binaries(d)) {
        return Ok(dir.clone());
    }
    on_path.ok_or_else(|| ClusterError::BinariesNotFound {
        searched:
            " on PATH or in /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, /usr/local/pgsql/bin"
                .to_owned(),
    })
}

/// Major version of the binaries in `bin_dir` ("15" from "postgres (PostgreSQL) 15.18 (Debian …)").
fn major_version(bin_dir: &Path) -> Result<String, ClusterError> {
    let out = Command::new(bin_dir.join("postgres"))
        .arg("--version")
        .output()
        .map_err(io_err(format!("running {}/postgres", bin_dir.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .and_then(|word| word.split('.').next())
        .map(str::to_owned)
        .ok_or_else(|| ClusterError::Failed {
            step: "postgres --version",
            detail: format!("unexpected output {text:?}"),
        })
}

#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

/// The user to run postgres as when we are root: the one asked for; else the owner of an existing cluster
/// folder, so that an operator running `backup` or `token issue` as root next to a service that runs as
/// its own user (the systemd unit's `xinfang`) never hands that service's files to someone else; else
/// `postgres`, else `nobody`.
fn run_as_user(requested: Option<&str>, dir: &Path) -> Result<Option<RunAs>, ClusterError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    if requested.is_none()
        && let Ok(meta) = fs::metadata(dir)
        && meta.uid() != 0
        && let Ok(Some(user)) = User::from_uid(Uid::from_raw(meta.uid()))
    {
        return Ok(Some(RunAs {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }));
    }
    let names: Vec<&str> = match requested {
        Some(name) => vec![name],
        None => vec!["postgres", "nobody"],
    };
    for name in &names {
        if let Ok(Some(user)) = User::from_name(name) {
            if user.uid.is_root() {
                continue;
            }
            return Ok(Some(RunAs {
                name: user.name,
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            }));
        }
    }
    Err(ClusterError::NoSuchUser(names.join(" or ")))
}

fn prepare_dirs(dir: &Path, data_dir: &Path, run_as: Option<&RunAs>) -> Result<(), ClusterError> {
    fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let Some(user) = run_as else {
        return Ok(());
    };
    // The cluster folder belongs to the postgres user; the folders above it only need to let it pass.
    chown(dir, Some(user.uid), Some(user.gid)).map_err(io_err(format!(
        "handing {} to {}",
        dir.display(),
        user.name
    )))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err(format!("chmod {}", dir.display())))?;
    if data_dir.exists() {
        chown(data_dir, Some(user.uid), Some(user.gid)).map_err(io_err(format!(
            "handing {} to {}",
            data_dir.display(),
            user.name
        )))?;
    }
    // The service's own data folder (the cluster's parent) may be private to us; let postgres pass through
    // it without reading it.
    if let Some(parent) = dir.parent() {
        let meta = fs::metadata(parent).map_err(io_err(format!("reading {}", parent.display())))?;
        if meta.uid() == nix::unistd::geteuid().as_raw() {
            let mode = meta.permissions().mode() | 0o011;
            fs::set_permissions(parent, fs::Permissions::from_mode(mode))
                .map_err(io_err(format!("chmod {}", parent.display())))?;
        }
    }
    let mut ancestor = dir.parent();
    while let Some(a) = ancestor {
        let meta = fs::metadata(a).map_err(io_err(format!("reading {}", a.display())))?;
        let mode = meta.permissions().mode();
        let passable = mode & 0o001 != 0
            || (meta.uid() == user.uid && mode & 0o100 != 0)
            || (meta.gid() == user.gid && mode & 0o010 != 0);
        if !passable {
            return Err(ClusterError::Unreachable {
                user: user.name.clone(),
                dir: a.to_owned(),
            });
        }
        ancestor = a.parent();
    }
    Ok(())
}

/// The WAL archive folder: created when missing, and, when we are root, handed to the user that runs
/// postgres, whose `archive_command` writes into it. A folder postgres cannot write to would make every
/// segment wait in `pg_wal` until the disk fills, so that is refused at the start.
fn prepare_archive_dir(dir: &Path, run_as: Option<&RunAs>) -> Result<(), ClusterError> {
    archive_dir_text(dir)?;
    fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    match run_as {
        Some(user) => {
            chown(dir, Some(user.uid), Some(user.gid)).map_err(io_err(format!(
                "handing {} to {}",
                dir.display(),
                user.name
            )))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err(format!("chmod {}", dir.display())))?;
            let mut ancestor = dir.parent();
            while let Some(a) = ancestor {
                let meta = fs::metadata(a).map_err(io_err(format!("reading {}", a.display())))?;
                let mode = meta.permissions().mode();
                let passable = mode & 0o001 != 0
                    || (meta.uid() == user.uid && mode & 0o100 != 0)
                    || (meta.gid() == user.gid && mode & 0o010 != 0);
                if !passable {
                    return Err(ClusterError::Unreachable {
                        user: user.name.clone(),
                        dir: a.to_owned(),
                    });
                }
                ancestor = a.parent();
            }
        }
        None => {
            nix::unistd::access(
                dir,
                nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
            )
            .map_err(|e| ClusterError::Io {
                context: format!("the WAL archive {} is not writable", dir.display()),
                source: e.into(),
            })?;
        }
    }
    Ok(())
}

/// The archive folder as it goes into a shell command: absolute, and free of what would need quoting
/// beyond single quotes (`'`) or that postgres would expand (`%`).
fn archive_dir_text(dir: &Path) -> Result<String, ClusterError> {
    let text = dir.to_string_lossy().into_owned();
    if !dir.is_absolute() || text.contains(['\'', '%', '\n', '\\']) || dir.to_str().is_none() {
        return Err(ClusterError::Failed {
            step: "wal archive",
            detail: format!(
                "{text:?} must be an absolute path without quotes, percent signs or backslashes"
            ),
        });
    }
    Ok(text)
}

/// `archive_command`: copy the segment under a temporary name, fsync it, rename it into place and fsync the
/// folder, never overwriting a segment that is there already; a segment that is there with the same content
/// (archived before a crash, before postgres learnt of it) counts as archived, as PostgreSQL's documentation
/// asks. The archive thus never holds a half-written segment under its real name.
pub fn archive_command(dir: &Path) -> Result<String, ClusterError> {
    let d = archive_dir_text(dir)?;
    Ok(format!(
        "test ! -f '{d}/%f' && cp %p '{d}/%f.tmp' && sync '{d}/%f.tmp' && mv '{d}/%f.tmp' '{d}/%f' \
         && sync '{d}' || cmp -s %p '{d}/%f'"
    ))
}

/// `restore_command`: fetch a segment from the archive (restores, and standbys that fell behind).
pub fn restore_command(dir: &Path) -> Result<String, ClusterError> {
    let d = archive_dir_text(dir)?;
    Ok(format!("cp '{d}/%f' %p"))
}

/// A standby's application name as it goes into `synchronous_standby_names`: a plain identifier, so that it
/// needs no quoting there or in the standby's connection string.
pub fn standby_name(name: &str) -> Result<&str, ClusterError> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        return Err(ClusterError::Failed {
            step: "synchronous standby",
            detail: format!("{name:?} must be 1-63 lower-case letters, digits or underscores"),
        });
    }
    Ok(name)
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

fn command_as(program: PathBuf, run_as: Option<&RunAs>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).env_remove("PGDATA").env("LC_ALL", "C");
    if let Some(user) = run_as {
        cmd.uid(user.uid).gid(user.gid);
    }
    cmd
}

fn init_db(
    bin_dir: &Path,
    dir: &Path,
    data_dir: &Path,
    run_as: Option<&RunAs>,
) -> Result<(), ClusterError> {
    let log_path = dir.join("initdb.log");
    let log = fs::File::create(&log_path).map_err(io_err("creating initdb.log"))?;
    let log_err = log.try_clone().map_err(io_err("opening initdb.log"))?;
    let status = command_as(bin_dir.join("initdb"), run_as, dir)
        .arg("--pgdata")
        .arg(data_dir)
        .args([
            "--username",
            SUPERUSER,
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            // Only the unix socket exists and its folder is private to the cluster's owner.
            "--auth-local",
            "trust",
            "--auth-host",
            "reject",
        ])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(io_err(format!("running {}/initdb", bin_dir.display())))?;
    if !status.success() {
        // A half-made PGDATA would block every later start; remove it so the next one starts over.
        let _ = fs::remove_dir_all(data_dir);
        let mut text = String::new();
        let _ = fs::File::open(&log_path).and_then(|mut f| f.read_to_string(&mut text));
        return Err(ClusterError::Failed {
            step: "initdb",
            detail: format!("{status}: {}", last_lines(&text, 5)),
        });
    }
    tracing::info!(dir = %data_dir.display(), "initialized postgres cluster");
    Ok(())
}

/// The pid in `postmaster.pid` when that process is alive and is a postgres.
fn live_postmaster(data_dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let is_postgres = cmdline
        .split(|b| *b == 0)
        .next()
        .is_some_and(|argv0| String::from_utf8_lossy(argv0).contains("postgres"));
    is_postgres.then_some(pid)
}

fn spawn_postmaster(
    bin_dir: &Path,
    options: &ClusterOptions,
    settings: &ClusterSettings,
    data_dir: &Path,
    run_as: Option<&RunAs>,
) -> Result<Postmaster, ClusterError> {
    let log_path = options.dir.join("postgres.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io_err("opening postgres.log"))?;
    if let Some(user) = run_as {
        let _ = chown(&log_path, Some(user.uid), Some(user.gid));
    }
    let log_err = log.try_clone().map_err(io_err("opening postgres.log"))?;

    let mut args: Vec<OsString> = vec![
        "-D".into(),
        data_dir.into(),
        "-c".into(),
        "listen_addresses=".into(),
        "-c".into(),
        format!("port={PORT}").into(),
        "-c".into(),
        {
            let mut s = OsString::from("unix_socket_directories=");
            s.push(data_dir);
            s
        },
        "-c".into(),
        "unix_socket_permissions=0700".into(),
        // LLVM's JIT needs memory that is writable and executable, which the hardened unit refuses
        // (MemoryDenyWriteExecute=); the service's queries are short and gain nothing from it.
        "-c".into(),
        "jit=off".into(),
    ];
    let mut extra: Vec<String> = Vec::new();
    if let Some(archive) = &settings.wal_archive_dir {
        extra.extend([
            "archive_mode=on".to_owned(),
            format!("archive_command={}", archive_command(archive)?),
            format!("archive_timeout={ARCHIVE_TIMEOUT_SECS}"),
            // Only read in recovery: a restore, or a standby catching up on what streaming no longer has.
            format!("restore_command={}", restore_command(archive)?),
        ]);
    }
    if let Some(name) = &settings.synchronous_standby {
        extra.push(format!("synchronous_standby_names={}", standby_name(name)?));
    }
    if let Some(target) = settings.recovery_target_time {
        extra.extend([
            format!(
                "recovery_target_time={}",
                target.format("%Y-%m-%d %H:%M:%S%.6f+00")
            ),
            // Stop before a transaction that committed exactly at the target: the restore holds what was
            // committed before it.
            "recovery_target_inclusive=off".to_owned(),
            "recovery_target_action=promote".to_owned(),
        ]);
    }
    for setting in extra {
        args.push("-c".into());
        args.push(setting.into());
    }
    if !options.durable {
        for setting in [
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=300",
        ] {
            args.push("-c".into());
            args.push(setting.into());
        }
    }

    let mut cmd = command_as(bin_dir.join("postgres"), run_as, data_dir);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own process group: a Ctrl-C in the terminal reaches the service, which drains its requests
        // before stopping the database, instead of reaching both at once.
        .process_group(0);
    // SAFETY: the closure only makes async-signal-safe system calls (prctl, getppid).
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGINT)?;
            Ok(())
        });
    }

    let (spawned_tx, spawned_rx) = std::sync::mpsc::channel();
    let (exited_tx, exited_rx) = oneshot::channel();
    // The parent-death signal fires when the *thread* that forked the child ends, so the child is forked by a
    // thread that lives exactly as long as the postmaster does, waiting for it.
    std::thread::Builder::new()
        .name("postgres".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = spawned_tx.send(Ok(child.id()));
                let status = match child.wait() {
                    Ok(status) => status.to_string(),
                    Err(err) => err.to_string(),
                };
                let _ = exited_tx.send(status);
            }
            Err(err) => {
                let _ = spawned_tx.send(Err(err));
            }
        })
        .map_err(io_err("starting the postgres supervisor thread"))?;
    let pid = spawned_rx
        .recv()
        .map_err(|_| ClusterError::Failed {
            step: "postgres start",
            detail: "supervisor thread ended".into(),
        })?
        .map_err(io_err(format!("running {}/postgres", bin_dir.display())))?;
    Ok(Postmaster {
        pid: Pid::from_raw(pid as i32),
        exited: exited_rx,
    })
}

fn log_tail(dir: &Path) -> String {
    let Ok(file) = fs::File::open(dir.join("postgres.log")) else {
        return "no postgres.log".into();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    format!(
        "postgres.log: {}",
        last_lines(&lines.join("\n"), 5).replace('\n', " | ")
    )
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_folder_without_binaries_says_how_to_fix_it() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_binaries(Some(empty.path()), None).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ClusterError::BinariesNotFound { .. }));
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert!(message.contains(&empty.path().display().to_string()));
    }

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }
}
