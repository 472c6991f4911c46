//! A profile is an account on one laptop: its own store file, and the server and token it talks to.

use std::path::PathBuf;

use prost::Message;
use rusqlite::{OptionalExtension, params};
use xinfang_proto::v1::Dictionaries;

use super::{Store, StoreError, now};

/// The account a profile talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub server: String,
    pub token: String,
    pub ca_path: Option<PathBuf>,
}

/// Who the profile's token belongs to, as the server said at login.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub principal_id: String,
    pub name: String,
    /// The role table's name of the role: `leader`, `township_clerk`, …
    pub role: String,
    pub org_code: String,
    pub org_name: String,
    /// Full gRPC method names (`/xinfang.v1.CaseService/AcceptCase`) the role may call.
    pub methods: Vec<String>,
}

impl Account {
    /// Whether the role may call `method` (its last segment, `AcceptCase`, or the full name).
    pub fn may(&self, method: &str) -> bool {
        self.methods
            .iter()
            .any(|m| m == method || m.rsplit('/').next() == Some(method))
    }
}

impl Store {
    /// The account saved at the last `xf login`; `None` for a profile logged in by an older `xf`, whose
    /// commands the server alone judges.
    pub fn account(&self) -> Result<Option<Account>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT principal_id, name, role, org_code, org_name, methods FROM account WHERE id = 1",
                [],
                |r| {
                    let methods: String = r.get(5)?;
                    Ok(Account {
                        principal_id: r.get(0)?,
                        name: r.get(1)?,
                        role: r.get(2)?,
                        org_code: r.get(3)?,
                        org_name: r.get(4)?,
                        methods: methods.lines().map(str::to_owned).collect(),
                    })
                },
            )
            .optional()?)
    }

    pub fn save_account(&mut self, account: &Account) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO account (id, principal_id, name, role, org_code, org_name, methods, checked_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET principal_id = excluded.principal_id, name = excluded.name,
                 role = excluded.role, org_code = excluded.org_code, org_name = excluded.org_name,
                 methods = excluded.methods, checked_at = excluded.checked_at",
            params![
                account.principal_id,
                account.name,
                account.role,
                account.org_code,
                account.org_name,
                account.methods.join("\n"),
                now()
            ],
        )?;
        Ok(())
    }

    /// The default file of a profile: `<data dir>/xinfang/profiles/<name>.db`.
    pub fn profile_path(name: &str) -> Result<PathBuf, StoreError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(StoreError::ProfileName(name.to_owned()));
        }
        let base = dirs::data_dir().ok_or(StoreError::NoDataDir)?;
        Ok(base
            .join("xinfang")
            .join("profiles")
            .join(format!("{name}.db")))
    }

    pub fn settings(&self) -> Result<Option<Settings>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT server, token, ca_path FROM settings WHERE id = 1",
                [],
                |r| {
                    Ok(Settings {
                        server: r.get(0)?,
                        token: r.get(1)?,
                        ca_path: r.get::<_, Option<String>>(2)?.map(PathBuf::from),
                    })
                },
            )
            .optional()?)
    }

    pub fn save_settings(&mut self, settings: &Settings) -> Result<(), StoreError> {
        let ca = settings
            .ca_path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        self.conn.execute(
            "INSERT INTO settings (id, server, token, ca_path) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET server = excluded.server, token = excluded.token,
                 ca_path = excluded.ca_path",
            params![settings.server, settings.token, ca],
        )?;
        Ok(())
    }

    /// The dictionaries the last sync or login fetched; `None` before the first.
    pub fn dictionaries(&self) -> Result<Option<Dictionaries>, StoreError> {
        let payload: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT payload FROM dictionaries WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        payload
            .map(|p| {
                Dictionaries::decode(p.as_slice())
                    .map_err(|e| StoreError::Invalid(format!("cached dictionaries: {e}")))
            })
            .transpose()
    }

    /// Caches `dictionaries` unless the cached copy has the same etag, in which case only the time it was
    /// confirmed moves: `GetDictionariesRequest` has no field to send the etag in (changing the contract for
    /// that is not worth a few kilobytes), so the client compares it after the answer and keeps its copy, whose
    /// `fetched_at` then still says when the dictionaries last changed. Returns whether the copy was rewritten.
    pub fn save_dictionaries(&mut self, dictionaries: &Dictionaries) -> Result<bool, StoreError> {
        let at = now();
        // An empty etag (a server that sends none) can't show that nothing changed: always rewrite then.
        if !dictionaries.etag.is_empty() {
            let kept = self.conn.execute(
                "UPDATE dictionaries SET checked_at = ?2 WHERE id = 1 AND etag = ?1",
                params![dictionaries.etag, at],
            )?;
            if kept == 1 {
                return Ok(false);
            }
        }
        self.conn.execute(
            "INSERT INTO dictionaries (id, etag, payload, fetched_at, checked_at) VALUES (1, ?1, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET etag = excluded.etag, payload = excluded.payload,
                 fetched_at = excluded.fetched_at, checked_at = excluded.checked_at",
            params![dictionaries.etag, dictionaries.encode_to_vec(), at],
        )?;
        Ok(true)
    }

    /// The etag of the cached dictionaries and when they were written and last confirmed; `None` before the
    /// first fetch.
    pub fn dictionaries_state(&self) -> Result<Option<DictionariesState>, StoreError> {
        let row: Option<(String, String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT etag, fetched_at, checked_at FROM dictionaries WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let time = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| StoreError::Invalid(format!("cached dictionaries' time {s:?}: {e}")))
        };
        row.map(|(etag, fetched, checked)| {
            let fetched_at = time(&fetched)?;
            let checked_at = match checked {
                Some(c) => time(&c)?,
                None => fetched_at,
            };
            Ok(DictionariesState {
                etag,
                fetched_at,
                checked_at,
            })
        })
        .transpose()
    }
}

/// What the profile knows of its cached dictionaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionariesState {
    pub etag: String,
    /// When the copy was written: the last time the server's dictionaries changed, as far as this laptop saw.
    pub fetched_at: chrono::DateTime<chrono::Utc>,
    /// When the server last answered with this etag.
    pub checked_at: chrono::DateTime<chrono::Utc>,
}

impl DictionariesState {
    /// How long ago the copy was written (the dictionaries' age), e.g. `3 day(s)`.
    pub fn age(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        age(now - self.fetched_at)
    }
}

/// A duration in the largest whole unit (days, hours, minutes).
pub fn age(d: chrono::Duration) -> String {
    if d.num_days() >= 1 {
        format!("{} day(s)", d.num_days())
    } else if d.num_hours() >= 1 {
        format!("{} hour(s)", d.num_hours())
    } else {
        format!("{} minute(s)", d.num_minutes().max(0))
    }
}
