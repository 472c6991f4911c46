//! Running PostgreSQL as root: it refuses to, so its binaries run as an unprivileged system user, which then
//! owns the cluster's folders and must be able to pass through the folders above them.

use std::{
    fs,
    os::unix::{
        fs::{MetadataExt, PermissionsExt, chown},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::Command,
};

use nix::unistd::{Uid, User};

use super::{ClusterError, io_err, launch::archive_dir_text};

#[derive(Debug, Clone)]
pub(super) struct RunAs {
    pub(super) name: String,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// The user to run postgres as when we are root: the one asked for; else the owner of an existing cluster
/// folder, so that an operator running `backup` or `token issue` as root next to a service that runs as
/// its own user (the systemd unit's `xinfang`) never hands that service's files to someone else; else
/// `postgres`, else `nobody`.
pub(super) fn run_as_user(
    requested: Option<&str>,
    dir: &Path,
) -> Result<Option<RunAs>, ClusterError> {
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

pub(super) fn prepare_dirs(
    dir: &Path,
    data_dir: &Path,
    run_as: Option<&RunAs>,
) -> Result<(), ClusterError> {
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
    reachable(dir, user)
}

/// The WAL archive folder: created when missing, and, when we are root, handed to the user that runs
/// postgres, whose `archive_command` writes into it. A folder postgres cannot write to would make every
/// segment wait in `pg_wal` until the disk fills, so that is refused at the start.
pub(super) fn prepare_archive_dir(dir: &Path, run_as: Option<&RunAs>) -> Result<(), ClusterError> {
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
            reachable(dir, user)?;
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

/// Whether `user` may pass through every folder above `dir` (search permission), which it needs to reach its
/// own folder.
fn reachable(dir: &Path, user: &RunAs) -> Result<(), ClusterError> {
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

/// A command of PostgreSQL's, run as `run_as` when we are root, in `cwd`, in the C locale.
pub(super) fn command_as(program: PathBuf, run_as: Option<&RunAs>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).env_remove("PGDATA").env("LC_ALL", "C");
    if let Some(user) = run_as {
        cmd.uid(user.uid).gid(user.gid);
    }
    cmd
}
