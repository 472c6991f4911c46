//! Making a cluster (initdb) and starting its postmaster, with the settings the operator chose: WAL
//! archiving, a synchronous standby, a recovery target.

use std::{
    ffi::OsString,
    fs,
    io::{BufRead, BufReader, Read},
    os::unix::{fs::chown, process::CommandExt},
    path::Path,
    process::Stdio,
};

use nix::{sys::signal::Signal, unistd::Pid};
use tokio::sync::oneshot;

use super::{
    ClusterError, ClusterOptions, ClusterSettings, PORT, SUPERUSER, io_err,
    user::{RunAs, command_as},
};

/// With a WAL archive, a segment that is not full is archived after this long anyway: the most a restore
/// from the archive alone can lose on a quiet day. A synchronous standby loses nothing (docs/operations.md).
const ARCHIVE_TIMEOUT_SECS: u32 = 300;

/// The postmaster this process started, and how its supervisor thread reports its exit.
#[derive(Debug)]
pub(super) struct Postmaster {
    pub(super) pid: Pid,
    pub(super) exited: oneshot::Receiver<String>,
}

pub(super) fn init_db(
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
pub(super) fn live_postmaster(data_dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let is_postgres = cmdline
        .split(|b| *b == 0)
        .next()
        .is_some_and(|argv0| String::from_utf8_lossy(argv0).contains("postgres"));
    is_postgres.then_some(pid)
}

pub(super) fn spawn_postmaster(
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
    for setting in &settings.extra {
        args.push("-c".into());
        args.push(setting.into());
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

/// The archive folder as it goes into a shell command: absolute, and free of what would need quoting
/// beyond single quotes (`'`) or that postgres would expand (`%`).
pub(super) fn archive_dir_text(dir: &Path) -> Result<String, ClusterError> {
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

pub(super) fn log_tail(dir: &Path) -> String {
    let Ok(file) = fs::File::open(dir.join("postgres.log")) else {
        return "no postgres.log".into();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    format!(
        "postgres.log: {}",
        last_lines(&lines.join("\n"), 5).replace('\n', " | ")
    )
}

pub(super) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }
}
