//! A private PostgreSQL cluster run from the system's PostgreSQL binaries, for when no `DATABASE_URL` is given.
//!
//! Layout: `<dir>/data` is PGDATA; its unix socket lives in the same folder and TCP is off. The postmaster is
//! a child of a supervisor thread that lives as long as the process, with `PR_SET_PDEATHSIG`, so that even a
//! SIGKILLed service takes its database down with it (fast shutdown, no orphan holding the data folder).
//!
//! PostgreSQL refuses to run as root, so when we are root the binaries run as an unprivileged system user
//! (`postgres` when it exists, else `nobody`) and the data folder is handed to that user.
//!
//! The rooms, by job: `binaries` finds the server binaries, `user` runs them as that user and hands it its
//! folders, `launch` makes a cluster (initdb) and starts its postmaster, `running` is the [`Cluster`] a
//! process started or attached to, and `copies` makes a cluster from another (a standby, a restored
//! backup). Backups, restores and standbys are operated as docs/operations.md describes.

mod binaries;
mod copies;
mod launch;
mod running;
mod user;

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, Utc};

pub use binaries::find_binaries;
pub use copies::{create_standby, restore_base_backup};
pub use launch::{archive_command, restore_command, standby_name};
pub use running::Cluster;

/// The role that owns everything in a private cluster; it runs the migrations.
pub const SUPERUSER: &str = "xinfang";
/// The role the service logs in as in a private cluster: it owns nothing and holds the grants of
/// `xinfang_grant_service_role` (only INSERT and SELECT on the audit trail).
pub const SERVICE_ROLE: &str = "xinfang_app";
/// The port only names the socket file (`.s.PGSQL.5432`); nothing listens on TCP.
const PORT: u16 = 5432;

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
    /// Further `name=value` settings for the postmaster (`-c`), after all the others. The service sets none;
    /// the benchmark's statement profile loads `pg_stat_statements` with them, for its run only, without
    /// writing them into the cluster's configuration.
    pub extra: Vec<String>,
}
