//! What a sync keeps besides the outbox: the pull cursor, and the file lock that lets only one sync of a
//! store run at a time (a second `xf sync` waits for it, then finds nothing left to push).

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use super::{Store, StoreError};

/// The lock a sync holds on `<store>.lock`; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct SyncLock {
    _file: fs::File,
    path: PathBuf,
}

impl SyncLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store {
    /// The cursor of the last saved page (empty: from the beginning).
    pub fn cursor(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT cursor FROM sync_state WHERE id = 1", [], |r| {
                r.get(0)
            })?)
    }

    /// Forgets the cursor: the next pull starts from the beginning again (the local copies stay and are
    /// overwritten by what comes).
    pub fn reset_cursor(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE sync_state SET cursor = '' WHERE id = 1", [])?;
        Ok(())
    }

    /// The file whose exclusive lock a sync holds: `<store>.lock` next to the database.
    pub fn lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the sync lock if no other sync (in this or another process) holds it.
    pub fn try_sync_lock(&self) -> Result<Option<SyncLock>, StoreError> {
        SyncLock::try_take(&self.lock_path())
    }
}

impl SyncLock {
    /// Takes the exclusive lock of the file at `path` (created when missing) unless someone holds it.
    pub fn try_take(path: &Path) -> Result<Option<SyncLock>, StoreError> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| StoreError::Io {
                path: path.to_owned(),
                source,
            })?;
        match fs4::fs_std::FileExt::try_lock_exclusive(&file) {
            Ok(true) => Ok(Some(SyncLock {
                _file: file,
                path: path.to_owned(),
            })),
            Ok(false) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(source) => Err(StoreError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }
}
