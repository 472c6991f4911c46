//! Personal data at rest: ID numbers, phones and addresses are sealed with XChaCha20-Poly1305 and matched
//! through an HMAC-SHA256 of the ID number (or, for people without one, of their name and phone), all keyed
//! from one 256-bit master key that lives in a key file (never in the repository, never in the database).
//!
//! Sealed values are `version (1) || nonce (24) || ciphertext+tag`, with the column name as associated data so
//! that a value copied into another column does not open.

use std::{
    fmt, fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use anyhow::Context;
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

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

#[derive(Clone)]
pub struct PiiKeys {
    cipher: XChaCha20Poly1305,
    match_key: [u8; 32],
    contact_key: [u8; 32],
    fingerprint: String,
}

impl fmt::Debug for PiiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PiiKeys")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("hmac takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl PiiKeys {
    /// Separate keys for sealing and for matching, derived from the master key, so that neither use can
    /// weaken the other.
    pub fn from_master(master: &[u8; 32]) -> Self {
        let seal_key = derive(master, b"xinfang pii seal v1");
        let match_key = derive(master, b"xinfang pii match v1");
        let contact_key = derive(master, b"xinfang pii contact match v1");
        let fingerprint = hex::encode(&derive(master, b"xinfang pii fingerprint v1")[..8]);
        Self {
            cipher: XChaCha20Poly1305::new(&seal_key.into()),
            match_key,
            contact_key,
            fingerprint,
        }
    }

    /// A fresh random key, for tests and first starts.
    pub fn generate() -> anyhow::Result<([u8; 32], Self)> {
        let mut master = [0u8; 32];
        getrandom::fill(&mut master).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
        let keys = Self::from_master(&master);
        Ok((master, keys))
    }

    /// Reads the key file (64 hex characters), creating it with a new random key (mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .with_context(|| {
                        format!("{} must hold 64 hex characters (256 bits)", path.display())
                    })?;
                let mode = fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), "data key file is readable by others; chmod 600 it");
                }
                Ok(Self::from_master(&bytes))
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
                tracing::info!(path = %path.display(), "created a new personal-data key; back it up");
                Ok(keys)
            }
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Identifies the key without revealing it; stored in the database to catch a wrong key file.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
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

    pub fn seal(&self, field: Field, plaintext: &str) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
        let sealed = self
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

    pub fn open(&self, field: Field, sealed: &[u8]) -> anyhow::Result<String> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            anyhow::bail!("sealed {field:?} has an unknown format");
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: field.label(),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealed {field:?} does not open with this key"))?;
        String::from_utf8(plain).context("sealed value is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let (_, keys) = PiiKeys::generate().unwrap();
        let sealed = keys.seal(Field::IdNumber, "11010519491231002X").unwrap();
        assert!(
            !sealed.windows(18).any(|w| w == b"11010519491231002X"),
            "no plaintext in the sealed bytes"
        );
        assert_eq!(
            keys.open(Field::IdNumber, &sealed).unwrap(),
            "11010519491231002X"
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
        assert!(keys.open(Field::Address, &sealed).is_err());
        assert!(other.open(Field::Phone, &sealed).is_err());
        assert!(keys.open(Field::Phone, &sealed[..10]).is_err());
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
        assert_eq!(a.fingerprint(), b.fingerprint());
        let (_, c) = PiiKeys::generate().unwrap();
        assert_ne!(
            a.match_hash("11010519491231002X"),
            c.match_hash("11010519491231002X")
        );
        assert_ne!(a.fingerprint(), c.fingerprint());
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
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data-key");
        let first = PiiKeys::load_or_create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = PiiKeys::load_or_create(&path).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        fs::write(&path, "not hex").unwrap();
        assert!(PiiKeys::load_or_create(&path).is_err());
    }
}
