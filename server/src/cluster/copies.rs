//! Clusters made from another: a streaming standby of a running cluster, and a restored base backup.

use std::{
    ffi::OsString,
    fs,
    os::unix::fs::{PermissionsExt, chown},
    path::Path,
    process::{Command, Stdio},
};

use super::{
    Cluster, ClusterError, ClusterOptions, io_err,
    user::{prepare_dirs, run_as_user},
};

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
