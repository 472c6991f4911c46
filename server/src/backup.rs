//! `backup` and `restore` of the private cluster (docs/operations.md).
//!
//! A backup folder holds `pgdata/` (PostgreSQL's own base backup, `pg_basebackup -X stream`, checked with
//! `pg_verifybackup`), `data-key.sealed` (the personal-data key file, sealed with XChaCha20-Poly1305 under a
//! key derived from the operator's backup key file, which is kept apart) and `backup.json` (what it is, which
//! keys it carries, by fingerprint only). The folder alone lets nobody read an ID number: the database holds
//! them sealed, and the key that opens them is sealed too.
//!
//! A restore copies `pgdata/` into an empty cluster folder and, with a WAL archive, replays the archive to
//! its end or to a moment (`recovery_target_time`), then promotes; the service starts on it as on any
//! other day.

use std::{
    ffi::OsString,
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{
    cluster::{self, Cluster, ClusterSettings},
    config::Config,
    db,
    pii::{Keyring, PiiKeys},
    startup::{self, DATABASE_NAME},
};

/// What `backup` says when the service runs on a database it does not own.
pub const MANAGED_DATABASE: &str = "backup and restore work on the private cluster; with DATABASE_URL, back up \
     that database with its provider's point-in-time recovery or snapshots, or `pg_dump -Fc` as the owner \
     role, together with the personal-data key file kept apart, and check a restore into a scratch database \
     (docs/operations.md)";

const SEALED_KEY_FILE: &str = "data-key.sealed";
const MANIFEST_FILE: &str = "backup.json";
const PGDATA: &str = "pgdata";
const SEALED_MAGIC: &[u8] = b"xinfang-sealed-key-v1\n";
const SEALED_AAD: &[u8] = b"xinfang backup: personal-data key file";
/// How long a restore may take to replay WAL before it is given up on.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// `backup.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: DateTime<Utc>,
    pub xinfang_version: String,
    pub postgres_version: String,
    /// Fingerprint of the backup key that sealed `data-key.sealed`.
    pub backup_key: String,
    /// Ids of the sealing keys in the sealed key file, the current one first.
    pub data_keys: Vec<String>,
    pub match_fingerprint: String,
    /// The WAL archive the service wrote when the backup was taken, if any.
    pub wal_archive_dir: Option<PathBuf>,
    /// The first WAL segment this backup needs (from its `backup_label`): older segments of the archive can
    /// go once no older backup is kept (`pg_archivecleanup ARCHIVE <start_wal>`).
    pub start_wal: String,
}

/// The segment named in `backup_label`'s `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)`.
fn start_wal(backup_label: &str) -> Option<String> {
    let line = backup_label
        .lines()
        .find(|l| l.starts_with("START WAL LOCATION:"))?;
    let file = line.split("(file ").nth(1)?.strip_suffix(')')?;
    (file.len() == 24 && file.bytes().all(|b| b.is_ascii_hexdigit())).then(|| file.to_owned())
}

/// The operator's backup key: 256 random bits in a file (64 hex characters).
pub struct BackupKey {
    cipher: XChaCha20Poly1305,
    fingerprint: String,
}

fn derive(key: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl BackupKey {
    fn from_secret(secret: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&derive(secret, b"xinfang backup seal v1").into()),
            fingerprint: hex::encode(&derive(secret, b"xinfang backup fingerprint v1")[..8]),
        }
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let secret = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .with_context(|| {
                format!("{} must hold 64 hex characters (256 bits)", path.display())
            })?;
        Ok(Self::from_secret(&secret))
    }

    /// Reads the key file, or creates it (mode 0600) with a new random key.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            return Self::read(path);
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        writeln!(file, "{}", hex::encode(secret))?;
        file.sync_all()?;
        tracing::warn!(
            path = %path.display(),
            "created a new backup key: keep a copy apart from the backups (without it they cannot be \
             restored, and anyone holding both can read them)"
        );
        Ok(Self::from_secret(&secret))
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn seal(&self, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: SEALED_AAD,
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing the key file failed"))?;
        Ok([SEALED_MAGIC, &nonce, &sealed].concat())
    }

    fn open(&self, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        let body = sealed
            .strip_prefix(SEALED_MAGIC)
            .filter(|b| b.len() > 24)
            .context("not a sealed xinfang key file")?;
        let (nonce, body) = body.split_at(24);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: SEALED_AAD,
                },
            )
            .map_err(|_| anyhow::anyhow!("the sealed key file does not open with this backup key"))
    }
}

fn backup_key_file(config: &Config) -> anyhow::Result<&Path> {
    config.backup_key_file.as_deref().context(
        "give --backup-key-file (XINFANG_BACKUP_KEY_FILE): the key that seals the personal-data key in \
         backups, kept apart from them",
    )
}

/// An absolute form of `path` for comparisons, also when it does not exist yet.
fn absolute(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => fs::canonicalize(parent)
            .map(|p| p.join(name))
            .unwrap_or(path),
        _ => path,
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Takes a base backup of the private cluster into `to` (empty or missing), with the key file sealed.
pub async fn backup(config: &Config, to: &Path) -> anyhow::Result<Manifest> {
    if config.database_url.is_some() {
        anyhow::bail!("{MANAGED_DATABASE}");
    }
    let key_path = backup_key_file(config)?;
    let to_abs = absolute(to);
    if absolute(key_path).starts_with(&to_abs) {
        anyhow::bail!(
            "the backup key {} must not be kept in the backup {}: with both, anyone can read the ID numbers",
            key_path.display(),
            to.display()
        );
    }
    if fs::read_dir(to).is_ok_and(|mut entries| entries.next().is_some()) {
        anyhow::bail!(
            "{} is not empty; give a new folder for each backup",
            to.display()
        );
    }
    let data_key_path = config.data_key_file();
    let key_text = fs::read(&data_key_path).with_context(|| {
        format!(
            "reading the personal-data key {}: a backup without it could not be read",
            data_key_path.display()
        )
    })?;
    let keys = PiiKeys::load_or_create(&data_key_path)?;
    let backup_key = BackupKey::load_or_create(key_path)?;
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o700))?;

    let (options, settings) = startup::cluster_options(config);
    if settings.wal_archive_dir.is_none() {
        tracing::warn!(
            "no --wal-archive-dir: this backup restores to the moment it ends, and to no later one"
        );
    }
    let cluster = Cluster::start_with(&options, &settings).await?;
    let result = take(&cluster, &keys, &backup_key, &key_text, to, &settings).await;
    if let Err(err) = cluster.stop().await {
        tracing::warn!(error = %err, "stopping postgres");
    }
    result
}

async fn take(
    cluster: &Cluster,
    keys: &PiiKeys,
    backup_key: &BackupKey,
    key_text: &[u8],
    to: &Path,
    settings: &ClusterSettings,
) -> anyhow::Result<Manifest> {
    // The key file must open this database, or the backup would pair records with a key that cannot read
    // them.
    let pool = db::pool(cluster.connect_options(DATABASE_NAME), 2)
        .await
        .context("connecting to the service's database (has the service ever started?)")?;
    crate::pii::check_database(&pool, keys).await?;
    pool.close().await;

    let created_at = Utc::now();
    let pgdata = to.join(PGDATA);
    let label = format!("xinfang {}", created_at.format("%Y-%m-%dT%H:%M:%SZ"));
    let args: Vec<OsString> = vec![
        "--pgdata".into(),
        pgdata.clone().into(),
        "--dbname".into(),
        cluster.conninfo("postgres", "xinfang_backup").into(),
        // The WAL written during the copy travels with it: the backup restores on its own.
        "--wal-method=stream".into(),
        "--checkpoint=fast".into(),
        "--no-password".into(),
        format!("--label={label}").into(),
    ];
    tracing::info!(to = %pgdata.display(), "base backup started");
    cluster.run_tool("pg_basebackup", &args, false)?;
    cluster.run_tool(
        "pg_verifybackup",
        &["--quiet".into(), pgdata.clone().into()],
        false,
    )?;
    tracing::info!("base backup verified");

    let ring = keys.ring();
    write_private(&to.join(SEALED_KEY_FILE), &backup_key.seal(key_text)?)?;
    let manifest = Manifest {
        format: 1,
        created_at,
        xinfang_version: env!("CARGO_PKG_VERSION").to_owned(),
        postgres_version: fs::read_to_string(pgdata.join("PG_VERSION"))
            .context("reading PG_VERSION of the backup")?
            .trim()
            .to_owned(),
        backup_key: backup_key.fingerprint().to_owned(),
        data_keys: ring.ids().into_iter().map(str::to_owned).collect(),
        match_fingerprint: ring.match_fingerprint().to_owned(),
        wal_archive_dir: settings.wal_archive_dir.clone(),
        start_wal: fs::read_to_string(pgdata.join("backup_label"))
            .ok()
            .as_deref()
            .and_then(start_wal)
            .context("no start WAL segment in the backup's backup_label")?,
    };
    write_private(
        &to.join(MANIFEST_FILE),
        format!("{}\n", serde_json::to_string_pretty(&manifest)?).as_bytes(),
    )?;
    fs::File::open(to)?.sync_all()?;
    Ok(manifest)
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    /// The timeline the restored cluster continues on (a new one when WAL was replayed).
    pub timeline: i64,
    /// What became of the personal-data key file: kept, written from the backup, or given its keys.
    pub key_file: &'static str,
}

/// Restores the private cluster from `from` (a folder written by [`backup`]), rolled forward with the WAL
/// archive to its end or to `target`, and leaves it stopped for the service to start.
pub async fn restore(
    config: &Config,
    from: &Path,
    target: Option<DateTime<Utc>>,
) -> anyhow::Result<Restored> {
    if config.database_url.is_some() {
        anyhow::bail!("{MANAGED_DATABASE}");
    }
    let manifest: Manifest = serde_json::from_slice(
        &fs::read(from.join(MANIFEST_FILE))
            .with_context(|| format!("{} is not a backup folder", from.display()))?,
    )
    .with_context(|| format!("reading {}", from.join(MANIFEST_FILE).display()))?;
    anyhow::ensure!(
        manifest.format == 1,
        "backup format {} is newer than this xinfang",
        manifest.format
    );
    let backup_key = BackupKey::read(backup_key_file(config)?)?;
    if backup_key.fingerprint() != manifest.backup_key {
        anyhow::bail!(
            "this backup was sealed with backup key {}, and {} is key {}",
            manifest.backup_key,
            backup_key_file(config)?.display(),
            backup_key.fingerprint()
        );
    }
    let key_text = backup_key.open(
        &fs::read(from.join(SEALED_KEY_FILE))
            .with_context(|| format!("reading {}", from.join(SEALED_KEY_FILE).display()))?,
    )?;
    let ring = Keyring::parse(&String::from_utf8_lossy(&key_text))
        .context("the key file in the backup is damaged")?;
    if target.is_some() && config.wal_archive_dir.is_none() {
        anyhow::bail!("--to needs the WAL archive (--wal-archive-dir) to replay up to that moment");
    }
    if let Some(target) = target
        && target <= manifest.created_at
    {
        anyhow::bail!(
            "--to {target} is before the backup was taken ({}); restore an older backup",
            manifest.created_at
        );
    }

    // The key file: the backup's when there is none. One in place (kept apart, as it should be) is kept,
    // and given the backup's keys it lacks: after a rotation it holds only the new key, and a backup from
    // before the rotation, rolled forward past it, needs both. One with another match key belongs to
    // another database and is refused.
    let key_path = config.data_key_file();
    let key_file = match Keyring::read(&key_path) {
        Ok(existing) => {
            if existing.match_fingerprint() != ring.match_fingerprint() {
                anyhow::bail!(
                    "{} holds the keys of another database (match key {}, the backup's is {}); move it aside \
                     to use the backup's",
                    key_path.display(),
                    existing.match_fingerprint(),
                    ring.match_fingerprint()
                );
            }
            if ring.ids().iter().all(|id| existing.has(id)) {
                KeyFile::Kept
            } else {
                KeyFile::Merged(existing.merged_with(&ring))
            }
        }
        Err(_) if !key_path.exists() => KeyFile::FromBackup,
        Err(err) => return Err(err),
    };

    let (options, mut settings) = startup::cluster_options(config);
    cluster::restore_base_backup(
        &options,
        &from.join(PGDATA),
        settings.wal_archive_dir.is_some(),
    )?;
    match &key_file {
        KeyFile::Kept => {}
        KeyFile::FromBackup => {
            if let Some(dir) = key_path.parent() {
                fs::create_dir_all(dir)?;
            }
            write_private(&key_path, &key_text)?;
        }
        KeyFile::Merged(ring) => ring.write(&key_path)?,
    }
    // No synchronous standby follows a restored cluster yet: its writes must not wait for one.
    settings.synchronous_standby = None;
    settings.recovery_target_time = target;
    settings.start_timeout = Some(RECOVERY_TIMEOUT);
    tracing::info!(
        from = %from.display(),
        to = %target.map_or_else(|| "the end of the WAL archive".to_owned(), |t| t.to_rfc3339()),
        "restoring"
    );
    let mut cluster = Cluster::start_with(&options, &settings).await?;
    let result = async {
        cluster.wait_writable(RECOVERY_TIMEOUT).await?;
        let pool = db::pool(cluster.connect_options(DATABASE_NAME), 2).await?;
        let keys = PiiKeys::load_or_create(&key_path)?;
        crate::pii::check_database(&pool, &keys)
            .await
            .context("the restored database and the key file disagree")?;
        let timeline: i64 =
            sqlx::query_scalar("SELECT timeline_id::bigint FROM pg_control_checkpoint()")
                .fetch_one(&pool)
                .await?;
        pool.close().await;
        anyhow::Ok(timeline)
    }
    .await;
    if let Err(err) = cluster.stop().await {
        tracing::warn!(error = %err, "stopping postgres");
    }
    Ok(Restored {
        manifest,
        timeline: result?,
        key_file: match key_file {
            KeyFile::Kept => "kept",
            KeyFile::FromBackup => "written from the backup",
            KeyFile::Merged(_) => "given the backup's older keys",
        },
    })
}

enum KeyFile {
    /// The key file in place holds every key of the backup.
    Kept,
    /// There was none: the backup's.
    FromBackup,
    /// The one in place, with the backup's keys it lacked.
    Merged(Keyring),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_file_opens_only_with_its_backup_key() {
        let a = BackupKey::from_secret(&[1u8; 32]);
        let b = BackupKey::from_secret(&[2u8; 32]);
        let text = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
        let sealed = a.seal(text).unwrap();
        assert!(
            !sealed.windows(16).any(|w| w == &text[..16]),
            "no key in the clear"
        );
        assert_eq!(a.open(&sealed).unwrap(), text);
        assert!(b.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(a.open(&tampered).is_err());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn the_start_segment_comes_from_the_backup_label() {
        let label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
                     CHECKPOINT LOCATION: 0/2000060\n";
        assert_eq!(
            start_wal(label).as_deref(),
            Some("000000010000000000000002")
        );
        assert_eq!(start_wal("LABEL: x\n"), None);
    }

    #[test]
    fn the_backup_key_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup-key");
        let first = BackupKey::load_or_create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            BackupKey::read(&path).unwrap().fingerprint(),
            first.fingerprint()
        );
    }
}
