//! A profile is an account on one laptop: its own store file, and the server and token it talks to.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// The account a profile talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub server: String,
    pub token: String,
    pub ca_path: Option<PathBuf>,
}

impl Store {
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
}
