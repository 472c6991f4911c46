//! Personal data at rest: ID numbers, phones and addresses are sealed with XChaCha20-Poly1305 and matched
//! through an HMAC-SHA256 of the ID number (or, for people without one, of their name and phone, under a key
//! derived from the match key: docs/intake.md). The keys live in a key file (never in the repository, never in
//! the database): one match key, which never changes, and one or more sealing keys, each with an id.
//!
//! Sealed values are `version (1) || nonce (24) || ciphertext+tag`, with the column name as associated data so
//! that a value copied into another column does not open. The row says which sealing key sealed it
//! (`petitioners.seal_key`, a foreign key into `pii_keys`), so that `keys rotate` can re-seal row by row while
//! the service reads and writes, and the database itself refuses to forget a key that still seals a row.
//!
//! The key file is either a legacy master key (64 hex characters, from which the match key and one sealing
//! key are derived, as every installation before key rotation had) or a keyring:
//!
//! ```text
//! # xinfang personal-data keyring
//! match <64 hex>
//! seal <16 hex id> <64 hex>      <- the first seals new values
//! seal <16 hex id> <64 hex>      <- the others only open what they sealed, until a rotation retires them
//! ```

mod rotate;

/// How often a running service looks for a key rotation (`keys rotate` waits a few of these before it seals
/// anything with the new key).
pub const KEY_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

pub mod store;

use std::{
    fmt, fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use anyhow::Context;
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use rotate::{RotateOptions, RotateReport, rotate};
pub use store::check_database;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const KEYRING_HEADER: &str = "# xinfang personal-data keyring";

/// The column a sealed value belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    IdNumber,
    Phone,
    Address,
}

impl Field {
    fn label(self) -> &'static [u8] {
        match self {
            Field::IdNumber => b"petitioners.id_number",
            Field::Phone => b"petitioners.phone",
            Field::Address => b"petitioners.address",
        }
    }
}

fn derive(key: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn random_key() -> anyhow::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    Ok(key)
}

fn parse_hex_key(text: &str) -> Option<[u8; 32]> {
    hex::decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
}

/// One sealing key and its id.
#[derive(Clone)]
struct SealKey {
    /// 16 hex characters; what `petitioners.seal_key` and `pii_keys.id` hold.
    id: String,
    secret: [u8; 32],
    cipher: XChaCha20Poly1305,
}

impl SealKey {
    fn new(id: String, secret: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&secret.into()),
            id,
            secret,
        }
    }

    fn generate() -> anyhow::Result<Self> {
        let secret = random_key()?;
        let id = hex::encode(&derive(&secret, b"xinfang pii key id v1")[..8]);
        Ok(Self::new(id, secret))
    }
}

/// The match key and the sealing keys, the first of which seals.
#[derive(Clone)]
pub struct Keyring {
    match_key: [u8; 32],
    /// Derived from the match key, so it never changes either.
    contact_key: [u8; 32],
    match_fingerprint: String,
    seal: Vec<SealKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("match_fingerprint", &self.match_fingerprint)
            .field("seal_keys", &self.ids())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    fn new(match_key: [u8; 32], seal: Vec<SealKey>) -> Self {
        let match_fingerprint =
            hex::encode(&derive(&match_key, b"xinfang pii match fingerprint v1")[..8]);
        Self {
            match_key,
            contact_key: derive(&match_key, b"xinfang pii contact match v1"),
            match_fingerprint,
            seal,
        }
    }

    /// The keys of a legacy master key: separate keys for sealing and for matching, derived from it, so that
    /// neither use can weaken the other. The sealing key's id is the fingerprint such databases recorded.
    pub fn from_master(master: &[u8; 32]) -> Self {
        let seal_key = derive(master, b"xinfang pii seal v1");
        let match_key = derive(master, b"xinfang pii match v1");
        let id = hex::encode(&derive(master, b"xinfang pii fingerprint v1")[..8]);
        Self::new(match_key, vec![SealKey::new(id, seal_key)])
    }

    /// A legacy master key (64 hex characters) or a keyring (see the module's documentation).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if let Some(master) = parse_hex_key(text.trim()) {
            return Ok(Self::from_master(&master));
        }
        let mut match_key = None;
        let mut seal = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Never echo the line: it holds a key.
            let bad =
                || anyhow::anyhow!("line {} is not `match <key>` or `seal <id> <key>`", n + 1);
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["match", key] if match_key.is_none() => {
                    match_key = Some(parse_hex_key(key).ok_or_else(bad)?);
                }
                ["seal", id, key]
                    if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    if seal.iter().any(|k: &SealKey| k.id == *id) {
                        anyhow::bail!("line {}: sealing key {id} is listed twice", n + 1);
                    }
                    seal.push(SealKey::new(
                        id.to_ascii_lowercase(),
                        parse_hex_key(key).ok_or_else(bad)?,
                    ));
                }
                _ => return Err(bad()),
            }
        }
        let match_key = match_key.context("no `match` line")?;
        anyhow::ensure!(!seal.is_empty(), "no `seal` line");
        Ok(Self::new(match_key, seal))
    }

    /// The keyring file's text.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{KEYRING_HEADER}: the match key, then the sealing keys (the first seals, the others only open).\n\
             match {}\n",
            hex::encode(self.match_key)
        );
        for key in &self.seal {
            text.push_str(&format!("seal {} {}\n", key.id, hex::encode(key.secret)));
        }
        text
    }

    /// Reads a key file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| {
            format!(
                "{} must hold a 256-bit key (64 hex characters) or an xinfang keyring",
                path.display()
            )
        })
    }

    /// Replaces the key file atomically (a temporary file, fsynced, renamed over it, the folder fsynced),
    /// mode 0600: a crash leaves the old keyring or the new one, never half of either.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "data-key".into())
        ));
        {
            let mut file = fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
            file.write_all(self.to_text().as_bytes())?;
            file.sync_all()?;
        }
        fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// The id of the key that seals new values.
    pub fn current_id(&self) -> &str {
        &self.seal[0].id
    }

    /// The ids of every sealing key, the current one first.
    pub fn ids(&self) -> Vec<&str> {
        self.seal.iter().map(|k| k.id.as_str()).collect()
    }

    pub fn has(&self, id: &str) -> bool {
        self.seal.iter().any(|k| k.id == id)
    }

    /// Identifies the match key without revealing it; stored in the database to catch a wrong key file.
    pub fn match_fingerprint(&self) -> &str {
        &self.match_fingerprint
    }

    /// The keyed hash that finds the same ID number again.
    pub fn match_hash(&self, id_number: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.match_key)
            .expect("hmac takes any key length");
        mac.update(id_number.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The keyed hash that finds a person without an ID number again by name and phone (同人,
    /// docs/intake.md). `contact` is `visits::model::contact_key`: the normalized name and phone. A key of its
    /// own, so that it can never equal an ID number's hash.
    pub fn contact_hash(&self, contact: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.contact_key)
            .expect("hmac takes any key length");
        mac.update(contact.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Seals with the current key; store [`Keyring::current_id`] with the value.
    pub fn seal(&self, field: Field, plaintext: &str) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
        let sealed = self.seal[0]
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: field.label(),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing {field:?} failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed with key `key_id`; without an id (rows written before ids were recorded),
    /// with whichever key opens it.
    pub fn open(
        &self,
        field: Field,
        key_id: Option<&str>,
        sealed: &[u8],
    ) -> anyhow::Result<String> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            anyhow::bail!("sealed {field:?} has an unknown format");
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        let try_key = |key: &SealKey| {
            key.cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: body,
                        aad: field.label(),
                    },
                )
                .ok()
        };
        let plain = match key_id {
            Some(id) => {
                let key = self.seal.iter().find(|k| k.id == id).with_context(|| {
                    format!("sealed {field:?} needs key {id}, not in the key file")
                })?;
                try_key(key)
            }
            None => self.seal.iter().find_map(try_key),
        }
        .with_context(|| format!("sealed {field:?} does not open with this key"))?;
        String::from_utf8(plain).context("sealed value is not UTF-8")
    }

    /// This keyring with a new sealing key in front: what a rotation starts with.
    fn with_new_current(&self) -> anyhow::Result<Self> {
        let mut seal = vec![SealKey::generate()?];
        seal.extend(self.seal.iter().cloned());
        Ok(Self::new(self.match_key, seal))
    }

    /// Only the current sealing key: what a rotation ends with.
    fn only_current(&self) -> Self {
        Self::new(self.match_key, vec![self.seal[0].clone()])
    }

    /// This keyring's keys, then those of `older` that it lacks: a reload must not forget a key that a read
    /// in flight may still need.
    pub fn merged_with(&self, older: &Keyring) -> Self {
        let mut seal = self.seal.clone();
        for key in &older.seal {
            if !seal.iter().any(|k| k.id == key.id) {
                seal.push(key.clone());
            }
        }
        Self::new(self.match_key, seal)
    }
}

/// The keys the service uses: a [`Keyring`] that a rotation may replace while the service runs, and the file
/// it came from, read again when the database names a key the service does not have yet.
pub struct PiiKeys {
    file: Option<PathBuf>,
    ring: RwLock<Arc<Keyring>>,
}

impl fmt::Debug for PiiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PiiKeys")
            .field("file", &self.file)
            .field("ring", &self.ring())
            .finish()
    }
}

impl Clone for PiiKeys {
    fn clone(&self) -> Self {
        Self {
            file: self.file.clone(),
            ring: RwLock::new(self.ring()),
        }
    }
}

impl PiiKeys {
    fn with_ring(ring: Keyring, file: Option<PathBuf>) -> Self {
        Self {
            file,
            ring: RwLock::new(Arc::new(ring)),
        }
    }

    pub fn from_master(master: &[u8; 32]) -> Self {
        Self::with_ring(Keyring::from_master(master), None)
    }

    /// A fresh random key, for tests and first starts.
    pub fn generate() -> anyhow::Result<([u8; 32], Self)> {
        let master = random_key()?;
        let keys = Self::from_master(&master);
        Ok((master, keys))
    }

    /// Reads the key file, creating it with a new random master key (mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match fs::metadata(path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), "data key file is readable by others; chmod 600 it");
                }
                Ok(Self::with_ring(Keyring::read(path)?, Some(path.to_owned())))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let (master, keys) = Self::generate()?;
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                let mut file = fs::OpenOptions::new()
                    .create_new(true)
                    .write(true)
                    .mode(0o600)
                    .open(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                writeln!(file, "{}", hex::encode(master))?;
                file.sync_all()?;
                tracing::info!(path = %path.display(), "created a new personal-data key; back it up");
                Ok(Self {
                    file: Some(path.to_owned()),
                    ..keys
                })
            }
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The keyring as it is now.
    pub fn ring(&self) -> Arc<Keyring> {
        match self.ring.read() {
            Ok(ring) => ring.clone(),
            // A writer panicked mid-swap; the Arc it left is whole either way.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The id of the key that seals new values.
    pub fn current_key_id(&self) -> String {
        self.ring().current_id().to_owned()
    }

    /// The keyed hash that finds the same ID number again.
    pub fn match_hash(&self, id_number: &str) -> [u8; 32] {
        self.ring().match_hash(id_number)
    }

    /// The keyed hash that finds the same name and phone again ([`Keyring::contact_hash`]).
    pub fn contact_hash(&self, contact: &str) -> [u8; 32] {
        self.ring().contact_hash(contact)
    }

    /// Seals with the current key; store [`PiiKeys::current_key_id`] with it (or use [`PiiKeys::ring`] to
    /// keep the two together across a reload).
    pub fn seal(&self, field: Field, plaintext: &str) -> anyhow::Result<Vec<u8>> {
        self.ring().seal(field, plaintext)
    }

    /// Opens a value sealed with `key_id`. A key this process has not seen yet was added to the key file by a
    /// rotation that has begun: the file is read again first.
    pub fn open(
        &self,
        field: Field,
        key_id: Option<&str>,
        sealed: &[u8],
    ) -> anyhow::Result<String> {
        let ring = self.ring();
        if let Some(id) = key_id
            && !ring.has(id)
            && self.file.is_some()
        {
            if let Err(err) = self.reload() {
                tracing::warn!(error = %err, "reading the personal-data key file again");
            }
            return self.ring().open(field, key_id, sealed);
        }
        ring.open(field, key_id, sealed)
    }

    /// Reads the key file again. Its first sealing key seals from now on; keys this process knew and the file
    /// no longer lists stay usable for reading until the process ends. Returns whether anything changed.
    /// A file with another match key is refused: every ID-number hash would stop matching.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let read = Keyring::read(path)?;
        let old = self.ring();
        anyhow::ensure!(
            read.match_fingerprint() == old.match_fingerprint(),
            "{} now holds another match key ({} instead of {}); keeping the keys in use",
            path.display(),
            read.match_fingerprint(),
            old.match_fingerprint()
        );
        let merged = read.merged_with(&old);
        if merged.ids() == old.ids() {
            return Ok(false);
        }
        tracing::info!(
            current = merged.current_id(),
            keys = ?merged.ids(),
            "personal-data keys reloaded"
        );
        let merged = Arc::new(merged);
        match self.ring.write() {
            Ok(mut ring) => *ring = merged,
            Err(poisoned) => *poisoned.into_inner() = merged,
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let (_, keys) = PiiKeys::generate().unwrap();
        let id = keys.current_key_id();
        let sealed = keys.seal(Field::IdNumber, "11010519491231002X").unwrap();
        assert!(
            !sealed.windows(18).any(|w| w == b"11010519491231002X"),
            "no plaintext in the sealed bytes"
        );
        assert_eq!(
            keys.open(Field::IdNumber, Some(&id), &sealed).unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            keys.open(Field::IdNumber, None, &sealed).unwrap(),
            "11010519491231002X",
            "rows without a key id open with whichever key fits"
        );
        // Same plaintext, new nonce: equal values do not show as equal ciphertexts.
        assert_ne!(
            sealed,
            keys.seal(Field::IdNumber, "11010519491231002X").unwrap()
        );
    }

    #[test]
    fn a_value_moved_to_another_column_or_key_does_not_open() {
        let (_, keys) = PiiKeys::generate().unwrap();
        let (_, other) = PiiKeys::generate().unwrap();
        let sealed = keys.seal(Field::Phone, "13812345678").unwrap();
        assert!(keys.open(Field::Address, None, &sealed).is_err());
        assert!(other.open(Field::Phone, None, &sealed).is_err());
        assert!(
            other
                .open(Field::Phone, Some(&keys.current_key_id()), &sealed)
                .is_err()
        );
        assert!(keys.open(Field::Phone, None, &sealed[..10]).is_err());
    }

    #[test]
    fn match_hashes_are_stable_per_key() {
        let master = [7u8; 32];
        let a = PiiKeys::from_master(&master);
        let b = PiiKeys::from_master(&master);
        assert_eq!(
            a.match_hash("11010519491231002X"),
            b.match_hash("11010519491231002X")
        );
        assert_ne!(
            a.match_hash("11010519491231002X"),
            a.match_hash("440524188001010014")
        );
        assert_eq!(a.current_key_id(), b.current_key_id());
        let (_, c) = PiiKeys::generate().unwrap();
        assert_ne!(
            a.match_hash("11010519491231002X"),
            c.match_hash("11010519491231002X")
        );
        assert_ne!(a.current_key_id(), c.current_key_id());
        // The name+phone hash is stable per key and never the ID-number hash of the same text.
        assert_eq!(
            a.contact_hash("张三\u{1f}13812345678"),
            b.contact_hash("张三\u{1f}13812345678")
        );
        assert_ne!(
            a.contact_hash("11010519491231002X"),
            a.match_hash("11010519491231002X")
        );
        assert_ne!(
            a.contact_hash("张三\u{1f}13812345678"),
            c.contact_hash("张三\u{1f}13812345678")
        );
    }

    #[test]
    fn a_legacy_key_keeps_its_fingerprint_as_its_key_id() {
        // What databases of the single-key era stored as `pii_key_fingerprint`.
        let master = [7u8; 32];
        let ring = Keyring::from_master(&master);
        assert_eq!(
            ring.current_id(),
            hex::encode(&derive(&master, b"xinfang pii fingerprint v1")[..8])
        );
    }

    #[test]
    fn a_rotation_keeps_the_match_key_and_opens_old_values_until_the_end() {
        let old = Keyring::from_master(&[9u8; 32]);
        let sealed_old = old.seal(Field::IdNumber, "11010519491231002X").unwrap();
        let rotating = old.with_new_current().unwrap();
        assert_ne!(rotating.current_id(), old.current_id());
        assert_eq!(rotating.ids()[1], old.current_id());
        assert_eq!(rotating.match_fingerprint(), old.match_fingerprint());
        assert_eq!(
            rotating.match_hash("11010519491231002X"),
            old.match_hash("11010519491231002X"),
            "repeat matching does not notice a rotation"
        );
        // Through the text form, as the key file carries it.
        let rotating = Keyring::parse(&rotating.to_text()).unwrap();
        assert_eq!(
            rotating
                .open(Field::IdNumber, Some(old.current_id()), &sealed_old)
                .unwrap(),
            "11010519491231002X"
        );
        let sealed_new = rotating
            .seal(Field::IdNumber, "11010519491231002X")
            .unwrap();
        assert!(old.open(Field::IdNumber, None, &sealed_new).is_err());
        let done = Keyring::parse(&rotating.only_current().to_text()).unwrap();
        assert_eq!(done.ids(), vec![rotating.current_id()]);
        assert!(
            done.open(Field::IdNumber, Some(old.current_id()), &sealed_old)
                .is_err()
        );
        assert_eq!(
            done.open(Field::IdNumber, Some(rotating.current_id()), &sealed_new)
                .unwrap(),
            "11010519491231002X"
        );
    }

    #[test]
    fn a_reload_switches_the_sealing_key_and_forgets_nothing_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data-key");
        let keys = PiiKeys::load_or_create(&path).unwrap();
        let old_id = keys.current_key_id();
        let sealed_old = keys.seal(Field::Phone, "13812345678").unwrap();
        assert!(!keys.reload().unwrap(), "nothing changed");

        let rotating = keys.ring().with_new_current().unwrap();
        rotating.write(&path).unwrap();
        let new_id = rotating.current_id().to_owned();
        // A value sealed by another process with the new key: opening it reads the file again.
        let sealed_new = rotating.seal(Field::Phone, "13900001111").unwrap();
        assert_eq!(
            keys.open(Field::Phone, Some(&new_id), &sealed_new).unwrap(),
            "13900001111"
        );
        assert_eq!(
            keys.current_key_id(),
            new_id,
            "and seals with it from then on"
        );

        rotating.only_current().write(&path).unwrap();
        keys.reload().unwrap();
        assert_eq!(
            keys.open(Field::Phone, Some(&old_id), &sealed_old).unwrap(),
            "13812345678",
            "a running process keeps the old key for reads in flight"
        );
        let fresh = PiiKeys::load_or_create(&path).unwrap();
        assert!(
            fresh
                .open(Field::Phone, Some(&old_id), &sealed_old)
                .is_err()
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        // Another match key is never taken.
        Keyring::from_master(&[1u8; 32]).write(&path).unwrap();
        assert!(keys.reload().is_err());
        assert_eq!(keys.current_key_id(), new_id);
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data-key");
        let first = PiiKeys::load_or_create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = PiiKeys::load_or_create(&path).unwrap();
        assert_eq!(first.current_key_id(), again.current_key_id());
        fs::write(&path, "not hex").unwrap();
        let err = PiiKeys::load_or_create(&path).unwrap_err();
        assert!(format!("{err:#}").contains("64 hex"), "{err:#}");
    }

    #[test]
    fn keyring_errors_never_show_a_key() {
        let key = "ab".repeat(32);
        for text in [
            format!("match {key}\nseal nothex {key}\n"),
            format!("match {key}\n"),
            format!("match {key}x\nseal 0011223344556677 {key}\n"),
        ] {
            let err = format!("{:#}", Keyring::parse(&text).unwrap_err());
            assert!(!err.contains(&key), "{err}");
        }
    }
}
