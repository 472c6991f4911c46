//! Finding PostgreSQL's server binaries: an explicit folder, the PATH, the places distributions put them;
//! and the version they are, which must be the version of an existing cluster.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use super::{ClusterError, io_err};

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
pub(super) fn major_version(bin_dir: &Path) -> Result<String, ClusterError> {
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
}
