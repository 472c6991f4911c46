//! Command line and environment. Every flag is also an environment variable, so the same binary runs from a
//! terminal, a systemd unit or a container.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "xinfang-server",
    version,
    about = "xinfang: the county petition bureau's gRPC service"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Issue, revoke and list API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// People who sign in to the workbench with a name and password.
    #[command(subcommand)]
    User(UserCommand),
    /// Apply database migrations and seed data, then exit.
    Migrate,
    /// The tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Take a base backup of the private cluster (pg_basebackup) with the personal-data key sealed under
    /// --backup-key-file, and check it (pg_verifybackup). With --wal-archive-dir set on the service, it can
    /// be rolled forward to any later moment.
    Backup {
        /// Folder to write the backup to; must be empty or missing. Keep it off the data directory's disk.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Restore the private cluster from a backup, rolled forward with the WAL archive (--wal-archive-dir) to
    /// its end or to --to; the service must be stopped and its cluster folder empty or gone.
    Restore {
        /// A folder written by `backup`.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Replay only what committed before this moment (RFC 3339, e.g. 2026-12-06T09:30:00+08:00).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        to: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The personal-data keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// A streaming standby of another data directory's private cluster, on this machine.
    #[command(subcommand)]
    Standby(StandbyCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Seal all personal data under a new key, in batches, while the service runs; then drop the old key
    /// from the key file and the database. Run again to resume an interrupted rotation.
    Rotate {
        /// Petitioners re-sealed per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: u32,
        /// Pause between batches, in milliseconds, to leave the database to the service.
        #[arg(long, default_value_t = 100)]
        pause_ms: u64,
    },
    /// The keys in the key file and in the database, and how many petitioners each one seals.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum StandbyCommand {
    /// Make this data directory a standby of --primary-data-dir's cluster (pg_basebackup) when it holds
    /// none, then run it until SIGTERM or Ctrl-C, streaming from the primary.
    Run {
        /// The data directory of the service whose cluster to follow.
        #[arg(long, value_name = "DIR")]
        primary_data_dir: PathBuf,
        /// The standby's application name, as the primary's --synchronous-standby names it.
        #[arg(long, default_value = "xinfang_standby")]
        name: String,
    },
    /// Promote this data directory's standby: it stops following and takes writes. Start the service on this
    /// data directory next.
    Promote,
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{e}; expected RFC 3339, e.g. 2026-12-06T09:30:00+08:00"))
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Seal what is final, then walk the whole chain; exits non-zero when a row was changed or removed.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a principal and print its bearer token (shown once; only its hash is kept).
    Issue {
        /// admin, county_clerk, field_officer, township_clerk, leader, agency or auditor.
        #[arg(long)]
        role: String,
        /// Code of the principal's org unit, e.g. 510422100 for 桐子林镇.
        #[arg(long)]
        org: String,
        /// Who holds it: a person, a laptop, an agency system.
        #[arg(long)]
        name: String,
        /// Also let the holder of a client certificate with this subject (SAN DNS name or common name) in.
        #[arg(long)]
        cert_subject: Option<String>,
    },
    /// Revoke a principal's token by principal id.
    Revoke { id: uuid::Uuid },
    /// List principals.
    List,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a person; the password is read from standard input (one line) or asked for on a terminal, never
    /// taken from the command line, where `ps` and the shell history would show it.
    Add {
        /// The name the person signs in with, e.g. zhang.wei (1-64 characters, no spaces at either end).
        name: String,
        /// admin, county_clerk, field_officer, township_clerk, leader or auditor (agency is for systems).
        #[arg(long)]
        role: String,
        /// Code of the person's org unit, e.g. 510422100 for 桐子林镇.
        #[arg(long)]
        org_unit: String,
        /// The name shown in the workbench and the audit trail; defaults to NAME.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Set a new password (read like `add`'s), unlock the account and end the person's sessions.
    Passwd { name: String },
    /// Disable a person: their sessions end now and they can no longer sign in.
    Disable { name: String },
    /// List people: name, role, org unit, state.
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(
        long,
        env = "XINFANG_LISTEN",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    pub listen: SocketAddr,

    /// Server certificate chain (PEM). With --tls-key, the service speaks TLS only.
    #[arg(long, env = "XINFANG_TLS_CERT", global = true, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key of the server certificate (PEM). The pair is reloaded on SIGHUP.
    #[arg(long, env = "XINFANG_TLS_KEY", global = true, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// CA of the client certificates that agency systems present (mTLS); a certificate's subject (SAN DNS name
    /// or common name) names its principal (`token issue --cert-subject`).
    #[arg(
        long,
        env = "XINFANG_TLS_CLIENT_CA",
        global = true,
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,

    /// Serve plain TCP on a non-loopback address (only behind a proxy that terminates TLS).
    #[arg(long, env = "XINFANG_ALLOW_PLAINTEXT", global = true)]
    pub allow_plaintext: bool,

    /// PostgreSQL to use. When unset, xinfang runs its own private cluster under the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// PostgreSQL as the role that owns the tables, for migrations: with it, DATABASE_URL names the service's
    /// own role, which gets the service's privileges after each migration and cannot change the audit trail.
    /// Unset: DATABASE_URL does both (a warning says so when that role can change the audit trail).
    #[arg(
        long,
        env = "XINFANG_MIGRATE_DATABASE_URL",
        hide_env_values = true,
        global = true,
        requires = "database_url"
    )]
    pub migrate_database_url: Option<String>,

    /// A read replica for the read-heavy metrics queries (indicators, statistics, target completion, budget
    /// execution, the self-evaluation report): a standby of DATABASE_URL, or of the private cluster
    /// (`standby run`). Unset: they use the main database.
    #[arg(
        long,
        env = "XINFANG_READ_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub read_database_url: Option<String>,

    /// Archive the private cluster's WAL into this folder (archive_mode), so that `backup` can be rolled
    /// forward to any moment after it; put it on another disk. Unset: no archive, and a backup restores
    /// only to its own end.
    #[arg(long, env = "XINFANG_WAL_ARCHIVE_DIR", global = true)]
    pub wal_archive_dir: Option<PathBuf>,

    /// Application name of a standby of the private cluster that every commit waits for
    /// (synchronous_standby_names), so that a failover loses no acknowledged write. While it is not
    /// connected, writes wait.
    #[arg(long, env = "XINFANG_SYNCHRONOUS_STANDBY", global = true)]
    pub synchronous_standby: Option<String>,

    /// File with the key (64 hex characters) that seals the personal-data key inside backups; `backup`
    /// creates it when missing. Keep it apart from the backups: with both, anyone can read the ID numbers.
    #[arg(long, env = "XINFANG_BACKUP_KEY_FILE", global = true)]
    pub backup_key_file: Option<PathBuf>,

    /// Where xinfang keeps its state (private cluster, admin token). Default: `xinfang` under the user's data
    /// directory; /var/lib/xinfang when running as root.
    #[arg(long, env = "XINFANG_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Log format; the filter comes from RUST_LOG (default `info`).
    #[arg(long, env = "XINFANG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "XINFANG_MAX_MESSAGE_SIZE", default_value_t = 4 * 1024 * 1024, global = true)]
    pub max_message_size: usize,

    /// Folder with the PostgreSQL server binaries (initdb, postgres) for the private cluster.
    #[arg(long, env = "XINFANG_PG_BIN_DIR", global = true)]
    pub pg_bin_dir: Option<PathBuf>,

    /// System user that runs the private cluster when xinfang runs as root (default: postgres, else nobody).
    #[arg(long, env = "XINFANG_PG_USER", global = true)]
    pub pg_user: Option<String>,

    /// File holding the 256-bit key that seals petitioners' personal data (64 hex characters). Created with a
    /// new key when missing. Default: `data-key` in the data directory. Back it up: without it, sealed ID
    /// numbers, phones and addresses cannot be read.
    #[arg(long, env = "XINFANG_DATA_KEY_FILE", global = true)]
    pub data_key_file: Option<PathBuf>,

    /// Persons in a visit batch from which it counts as collective (集体访).
    #[arg(
        long,
        env = "XINFANG_COLLECTIVE_THRESHOLD",
        default_value_t = 5,
        global = true
    )]
    pub collective_threshold: u32,

    /// Persons in a visit batch from which it counts as a large-scale collective visit (大规模集体访), counted
    /// on its own in the visit statistics.
    #[arg(
        long,
        env = "XINFANG_LARGE_SCALE_THRESHOLD",
        default_value_t = 50,
        global = true
    )]
    pub large_scale_threshold: u32,

    /// Holiday calendar (CSV: date,name,is_off_day) replacing the built-in one (China, 2018–2026). Add each
    /// year's State Council notice here, or to server/data/cn-holidays.csv.
    #[arg(long, env = "XINFANG_HOLIDAY_CALENDAR", global = true)]
    pub holiday_calendar: Option<PathBuf>,

    /// Deadline day counts as JSON, e.g. `{"assign_days": 15, "accept_days": 15, "conclude_days": 60,
    /// "max_extension_days": 30, "review_request_days": 30, "review_decision_days": 30,
    /// "objection_working_days": 5, "evaluation_days": 30}`; missing keys keep these defaults (《信访工作条例》
    /// 2022; the evaluation window is the bureau's choice).
    #[arg(long, env = "XINFANG_DEADLINE_RULES", global = true)]
    pub deadline_rules: Option<String>,

    /// Hardship relief to one petitioner in one year, at most (yuan).
    #[arg(
        long,
        env = "XINFANG_RELIEF_CAP_PER_YEAR",
        default_value = "30000.00",
        global = true
    )]
    pub relief_cap_per_year: String,

    /// Requests one principal may have in flight: its fair share (default: a quarter of
    /// --db-max-connections, at most half the machine's cores, at least 1). A request beyond it waits up to
    /// --fair-share-wait-ms for a slot, then gets RESOURCE_EXHAUSTED with a retry delay.
    #[arg(long, env = "XINFANG_MAX_IN_FLIGHT_PER_PRINCIPAL", global = true)]
    pub max_in_flight_per_principal: Option<u32>,

    /// Numbered writes (registrations, trips, fund requests, pushes) one principal may have in flight. They
    /// queue at the year's counter row whoever makes them, so a second one in flight gains its principal
    /// nothing and makes everyone else wait behind it.
    #[arg(
        long,
        env = "XINFANG_NUMBERED_WRITES_PER_PRINCIPAL",
        default_value_t = 1,
        global = true
    )]
    pub numbered_writes_per_principal: u32,

    /// How long a request waits for one of its principal's in-flight slots.
    #[arg(
        long,
        env = "XINFANG_FAIR_SHARE_WAIT_MS",
        default_value_t = 200,
        global = true
    )]
    pub fair_share_wait_ms: u64,

    /// Sustained requests per second per principal (bursts up to twice that).
    #[arg(
        long,
        env = "XINFANG_RATE_PER_PRINCIPAL",
        default_value_t = 500.0,
        global = true
    )]
    pub rate_per_principal: f64,

    /// Serve Prometheus metrics (requests by method and code, latencies, pool use) over HTTP on this address,
    /// e.g. 127.0.0.1:9464. Unset: no metrics endpoint.
    #[arg(long, env = "XINFANG_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

    /// Size of the database connection pool.
    #[arg(
        long,
        env = "XINFANG_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: u32,

    /// A workbench session ends after this many seconds without a call.
    #[arg(
        long,
        env = "XINFANG_SESSION_IDLE_TIMEOUT_SECS",
        default_value_t = 1800,
        global = true
    )]
    pub session_idle_timeout_secs: u64,

    /// A workbench session ends this many seconds after sign-in, however busy.
    #[arg(
        long,
        env = "XINFANG_SESSION_MAX_AGE_SECS",
        default_value_t = 43_200,
        global = true
    )]
    pub session_max_age_secs: u64,
}

impl Config {
    /// The TLS files, when the service is to speak TLS.
    pub fn tls_files(&self) -> Option<crate::tls::TlsFiles> {
        Some(crate::tls::TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.tls_client_ca.clone(),
        })
    }

    pub fn data_key_file(&self) -> PathBuf {
        self.data_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir().join("data-key"))
    }

    /// The data directory: the explicit one, else `/var/lib/xinfang` for root (the private cluster runs as
    /// an unprivileged user, which cannot enter /root), else `xinfang` under the user's data directory.
    /// Always absolute: the cluster's launcher checks every folder above it, and PostgreSQL runs in its own.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/xinfang");
        }
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("xinfang")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags_after_the_subcommand() {
        let cli = Cli::try_parse_from(["xinfang-server"]).unwrap();
        assert_eq!(cli.config.listen.to_string(), "127.0.0.1:50051");
        assert!(cli.command.is_none());

        let cli = Cli::try_parse_from([
            "xinfang-server",
            "token",
            "issue",
            "--role",
            "township_clerk",
            "--org",
            "510422100",
            "--name",
            "clerk",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(cli.config.data_dir(), PathBuf::from("/tmp/x"));
        assert!(matches!(
            cli.command,
            Some(Command::Token(TokenCommand::Issue { .. }))
        ));
    }

    /// `--data-dir data` as typed in a folder: as root, the cluster's launcher walked up from
    /// `data/postgres` to an empty parent and stopped with "reading : No such file or directory".
    #[test]
    fn a_relative_data_dir_is_taken_from_the_current_folder() {
        let cli = Cli::try_parse_from(["xinfang-server", "--data-dir", "data"]).unwrap();
        let dir = cli.config.data_dir();
        assert!(dir.is_absolute(), "{}", dir.display());
        assert_eq!(dir, std::env::current_dir().unwrap().join("data"));
    }

    #[test]
    fn the_migrate_url_needs_a_database_url_and_the_read_url_does_not() {
        let cli = Cli::try_parse_from([
            "xinfang-server",
            "--database-url",
            "postgres://app@h/db",
            "--migrate-database-url",
            "postgres://owner@h/db",
            "--read-database-url",
            "postgres://app@replica/db",
            "migrate",
        ])
        .unwrap();
        assert_eq!(
            cli.config.migrate_database_url.as_deref(),
            Some("postgres://owner@h/db")
        );
        assert_eq!(
            cli.config.read_database_url.as_deref(),
            Some("postgres://app@replica/db")
        );
        // A DATABASE_URL in the environment counts as given.
        if std::env::var_os("DATABASE_URL").is_none() {
            let err = Cli::try_parse_from([
                "xinfang-server",
                "--migrate-database-url",
                "postgres://x@h/db",
            ])
            .unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
            // A standby of the private cluster serves the metrics queries.
            let cli = Cli::try_parse_from([
                "xinfang-server",
                "--read-database-url",
                "postgres://xinfang_app@localhost/xinfang?host=/srv/standby/postgres/data",
            ])
            .unwrap();
            assert!(cli.config.database_url.is_none());
        }
    }

    #[test]
    fn restore_takes_a_moment_with_its_offset() {
        let cli = Cli::try_parse_from([
            "xinfang-server",
            "restore",
            "--from",
            "/backups/b1",
            "--to",
            "2026-12-06T09:30:00+08:00",
        ])
        .unwrap();
        let Some(Command::Restore { from, to }) = cli.command else {
            panic!("not a restore");
        };
        assert_eq!(from, PathBuf::from("/backups/b1"));
        assert_eq!(
            to.unwrap().to_rfc3339(),
            "2026-12-06T01:30:00+00:00",
            "Shanghai time is UTC+8"
        );
        let err = Cli::try_parse_from([
            "xinfang-server",
            "restore",
            "--from",
            "/b",
            "--to",
            "2026-12-06 09:30",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }
}
