//! The local store of a field laptop: one SQLite file per profile (account) holding the account's settings,
//! the outbox of operations captured offline, the local copies of the records in the account's scope, and
//! the pull cursor.
//!
//! The file is in WAL mode with `synchronous=FULL`: an operation the user was told is queued survives a power
//! cut. Its schema comes from the SQL files under `migrations/`, applied in order and recorded in
//! `schema_version`. Outbox rows are never deleted; every state change is checked against
//! [`OpState::may_become`], so nothing is dropped silently.

use std::{
    collections::BTreeMap,
    fmt, fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use prost::Message;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use uuid::Uuid;
use xinfang_proto::v1::{
    Case, CaseEvent, Change, Letter, ListCaseEventsResponse, OpOutcome, OpResult, Operation,
    ReturnTrip, Visit, change, op_result, operation::Op,
};

/// The migrations of the local schema, in order: (version, SQL).
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_trip_drafts.sql")),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("local store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("local store {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the local store was written by a newer xf (schema {found}; this one knows up to {known}): update xf"
    )]
    TooNew { found: i64, known: i64 },
    #[error("a stored operation or record cannot be decoded: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("no operation {0} in the outbox")]
    NoSuchOp(String),
    #[error("no trip draft {0:?}")]
    NoSuchDraft(String),
    #[error("trip draft {id} is {state}: only an open draft is closed or discarded")]
    DraftNotOpen { id: String, state: DraftState },
    #[error("{0:?} matches more than one {1}; give more characters")]
    Ambiguous(String, &'static str),
    #[error("operation {op_id} is {from}; it cannot become {to}")]
    Transition {
        op_id: String,
        from: OpState,
        to: OpState,
    },
    #[error("invalid profile name {0:?}: use letters, digits, '-' and '_'")]
    ProfileName(String),
    #[error("this user has no data directory; pass the store's path instead")]
    NoDataDir,
    #[error("{0}")]
    Invalid(String),
}

/// Where an outbox operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpState {
    /// Captured, not sent yet (or sent and deferred by a transient server error).
    Pending,
    /// In a push whose answer has not been recorded: sent again on the next sync (the server answers
    /// DUPLICATE if it had applied it).
    Sent,
    Applied,
    /// Applied by an earlier push whose answer was lost.
    Duplicate,
    /// Refused by the server; kept with its reason for the user to fix or discard.
    Rejected,
    /// Dropped by the user.
    Discarded,
    /// Rejected, then edited and queued again under a new op id (`replaced_by`).
    Replaced,
}

impl OpState {
    pub const ALL: [OpState; 7] = [
        OpState::Pending,
        OpState::Sent,
        OpState::Applied,
        OpState::Duplicate,
        OpState::Rejected,
        OpState::Discarded,
        OpState::Replaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Pending => "pending",
            OpState::Sent => "sent",
            OpState::Applied => "applied",
            OpState::Duplicate => "duplicate",
            OpState::Rejected => "rejected",
            OpState::Discarded => "discarded",
            OpState::Replaced => "replaced",
        }
    }

    pub fn parse(s: &str) -> Option<OpState> {
        OpState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Still to be pushed.
    pub fn is_sendable(self) -> bool {
        matches!(self, OpState::Pending | OpState::Sent)
    }

    /// Done with: the server has it, or the user dropped it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OpState::Applied | OpState::Duplicate | OpState::Discarded | OpState::Replaced
        )
    }

    /// The transitions the outbox allows.
    pub fn may_become(self, next: OpState) -> bool {
        use OpState::*;
        match self {
            Pending => matches!(next, Sent | Discarded),
            Sent => matches!(next, Sent | Pending | Applied | Duplicate | Rejected),
            Rejected => matches!(next, Replaced | Discarded),
            Applied | Duplicate | Discarded | Replaced => false,
        }
    }
}

impl fmt::Display for OpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub op_id: String,
    /// Creation order.
    pub seq: i64,
    /// The operation's kind: `register_visit`, `accept_case`, …
    pub kind: String,
    pub subject: String,
    /// The matter a case step acts on; empty for registrations.
    pub target: String,
    pub operation: Operation,
    pub state: OpState,
    /// The gRPC code of the last rejection or deferral.
    pub code: Option<i32>,
    pub reason: String,
    pub message: String,
    pub fields: Vec<String>,
    pub result_id: String,
    pub result_number: String,
    pub replaced_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Pushes that carried it.
    pub attempts: i64,
}

impl OutboxEntry {
    /// The gRPC code of the rejection, when there is one.
    pub fn code(&self) -> Option<tonic::Code> {
        self.code.map(tonic::Code::from_i32)
    }
}

/// The account a profile talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub server: String,
    pub token: String,
    pub ca_path: Option<PathBuf>,
}

/// Where a trip draft stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DraftState {
    /// Under way: kept on the laptop, not in the outbox.
    Open,
    /// Closed: the complete trip is in the outbox (`op_id`).
    Closed,
    /// Dropped by the user before it was closed.
    Discarded,
}

impl DraftState {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftState::Open => "open",
            DraftState::Closed => "closed",
            DraftState::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<DraftState> {
        [DraftState::Open, DraftState::Closed, DraftState::Discarded]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

impl fmt::Display for DraftState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A return trip recorded while under way (`xf trip new --under-way`), waiting for `xf trip close`.
#[derive(Debug, Clone, PartialEq)]
pub struct TripDraft {
    /// A local UUIDv7; the server never sees it.
    pub id: String,
    /// The trip as known so far (outcome UNDER_WAY).
    pub trip: ReturnTrip,
    pub state: DraftState,
    /// Closed: the outbox operation that records the complete trip.
    pub op_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// What recording one push's answers did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultTally {
    pub applied: usize,
    pub duplicates: usize,
    pub rejected: usize,
    /// Refused for a transient reason (UNAVAILABLE, ABORTED, …): pending again.
    pub deferred: usize,
    /// Answers for operations this outbox does not have in flight.
    pub ignored: usize,
}

/// What saving one pulled page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageTally {
    pub pulled: usize,
    pub tombstones: usize,
}

/// Per-op rejections that mean "try again later", not "fix me". ABORTED is a stale etag (read the matter
/// again and decide), unless the server says it only lost a race (`LOST_RACE`; a server that retries its
/// races itself never sends that for one operation, but an older one may).
pub fn is_transient(code: i32, reason: &str) -> bool {
    match tonic::Code::from_i32(code) {
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::ResourceExhausted => true,
        tonic::Code::Aborted => reason == "LOST_RACE",
        _ => false,
    }
}

/// The kind of an operation, as stored in `outbox.kind`.
pub fn op_kind(op: &Op) -> &'static str {
    match op {
        Op::RegisterVisit(_) => "register_visit",
        Op::RegisterLetter(_) => "register_letter",
        Op::RecordReturnTrip(_) => "record_return_trip",
        Op::AcceptCase(_) => "accept_case",
        Op::DeclineCase(_) => "decline_case",
        Op::ObjectToAssignment(_) => "object_to_assignment",
        Op::ExtendCase(_) => "extend_case",
        Op::ReplyCase(_) => "reply_case",
        Op::RecordEvaluation(_) => "record_evaluation",
        Op::ReplySupervision(_) => "reply_supervision",
    }
}

/// The matter a case step acts on.
pub fn op_target(op: &Op) -> &str {
    match op {
        Op::RegisterVisit(_) | Op::RegisterLetter(_) | Op::RecordReturnTrip(_) => "",
        Op::AcceptCase(r) => &r.case_id,
        Op::DeclineCase(r) => &r.case_id,
        Op::ObjectToAssignment(r) => &r.case_id,
        Op::ExtendCase(r) => &r.case_id,
        Op::ReplyCase(r) => &r.case_id,
        Op::RecordEvaluation(r) => &r.case_id,
        Op::ReplySupervision(r) => &r.case_id,
    }
}

/// A short description of an operation for lists.
pub fn op_subject(op: &Op) -> String {
    fn first_name(people: &[xinfang_proto::v1::Petitioner]) -> String {
        match people {
            [] => "anonymous".to_owned(),
            [one] => one.name.trim().to_owned(),
            [first, rest @ ..] => format!("{} +{}", first.name.trim(), rest.len()),
        }
    }
    match op {
        Op::RegisterVisit(r) => {
            let v = r.visit.clone().unwrap_or_default();
            format!("visit: {} at {}", first_name(&v.petitioners), v.place_name)
        }
        Op::RegisterLetter(r) => {
            let l = r.letter.clone().unwrap_or_default();
            format!("letter: {}", first_name(&l.petitioners))
        }
        Op::RecordReturnTrip(r) => {
            let t = r.trip.clone().unwrap_or_default();
            let who = if t.petitioners.is_empty() {
                String::new()
            } else {
                format!(" {}", first_name(&t.petitioners))
            };
            format!(
                "trip:{who} to {} ({})",
                t.destination_place, t.responsible_org_code
            )
        }
        Op::AcceptCase(_) => "accept".to_owned(),
        Op::DeclineCase(_) => "decline".to_owned(),
        Op::ObjectToAssignment(_) => "object to the assignment".to_owned(),
        Op::ExtendCase(r) => format!("extend by {} days", r.days),
        Op::ReplyCase(_) => "reply".to_owned(),
        Op::RecordEvaluation(_) => "evaluation".to_owned(),
        Op::ReplySupervision(_) => "reply to the supervision".to_owned(),
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

const ENTRY_COLUMNS: &str = "op_id, seq, kind, subject, target, payload, state, code, reason, message, \
     fields, result_id, result_number, replaced_by, created_at, updated_at, attempts";

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

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
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

    /// Opens (creating it when missing) the store at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            // Private: the WAL next to the database holds the token too.
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(io_err)?;
        }
        let conn = Connection::open(&path)?;
        // The file holds the account's token: readable by its owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io_err)?;
        }
        let mut store = Store { conn, path };
        store.conn.busy_timeout(Duration::from_secs(30))?;
        let mode: String =
            store
                .conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!(
                "the local store could not switch to WAL mode (got {mode})"
            )));
        }
        store.conn.pragma_update(None, "synchronous", "FULL")?;
        store.conn.pragma_update(None, "foreign_keys", "ON")?;
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version INTEGER PRIMARY KEY,
                 applied_at TEXT NOT NULL
             )",
        )?;
        for &(version, sql) in MIGRATIONS {
            // IMMEDIATE: two processes opening a new file at once apply each migration once.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )?;
            if current > SCHEMA_VERSION {
                return Err(StoreError::TooNew {
                    found: current,
                    known: SCHEMA_VERSION,
                });
            }
            if version <= current {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
                params![version, now()],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for diagnostics and tests.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )?)
    }

    // ---------------------------------------------------------------------------------------------------
    // Settings

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

    // ---------------------------------------------------------------------------------------------------
    // Outbox

    /// Appends `op` to the outbox, as it is: no validation (see [`crate::capture`] for that). An empty
    /// `op_id` gets a fresh UUIDv7. The wrapped request's `request_id` is left as given (the server takes the
    /// op id for it when it is empty).
    pub fn enqueue(&mut self, op: Operation) -> Result<OutboxEntry, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let op_id = insert_op(&tx, op)?;
        tx.commit()?;
        self.entry(&op_id)?.ok_or(StoreError::NoSuchOp(op_id))
    }

    /// One outbox row by its op id.
    pub fn entry(&self, op_id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox WHERE op_id = ?1"
        ))?;
        let raw = stmt.query_row([op_id], RawEntry::read).optional()?;
        raw.map(RawEntry::decode).transpose()
    }

    /// The one row whose op id starts or ends with `prefix` (a full id works too).
    pub fn find_entry(&self, prefix: &str) -> Result<OutboxEntry, StoreError> {
        let prefix = prefix.trim();
        if prefix.is_empty() {
            return Err(StoreError::NoSuchOp(String::new()));
        }
        if let Some(entry) = self.entry(prefix)? {
            return Ok(entry);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT op_id FROM outbox
             WHERE substr(op_id, 1, length(?1)) = ?1 OR substr(op_id, -length(?1)) = ?1 LIMIT 2",
        )?;
        let ids: Vec<String> = stmt
            .query_map([prefix], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        match ids.as_slice() {
            [one] => self
                .entry(one)?
                .ok_or_else(|| StoreError::NoSuchOp(one.clone())),
            [] => Err(StoreError::NoSuchOp(prefix.to_owned())),
            _ => Err(StoreError::Ambiguous(prefix.to_owned(), "operation")),
        }
    }

    /// The outbox in creation order, only the given states (all when `states` is empty).
    pub fn outbox(&self, states: &[OpState]) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ENTRY_COLUMNS} FROM outbox ORDER BY seq"))?;
        let raws: Vec<RawEntry> = stmt
            .query_map([], RawEntry::read)?
            .collect::<Result<_, _>>()?;
        raws.into_iter()
            .filter(|raw| {
                states.is_empty() || OpState::parse(&raw.state).is_some_and(|s| states.contains(&s))
            })
            .map(RawEntry::decode)
            .collect()
    }

    /// Operations still to be pushed, in creation order.
    pub fn sendable(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox(&[OpState::Pending, OpState::Sent])
    }

    /// How many rows are in each state.
    pub fn outbox_counts(&self) -> Result<BTreeMap<OpState, usize>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")?;
        let rows: Vec<(String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| Some((OpState::parse(&s)?, usize::try_from(n).ok()?)))
            .collect())
    }

    /// Marks the operations as carried by a push about to be sent (one transaction).
    pub fn mark_sent(&mut self, op_ids: &[String]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let at = now();
        for op_id in op_ids {
            transition(&tx, op_id, OpState::Sent)?;
            tx.execute(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, updated_at = ?2
                 WHERE op_id = ?1",
                params![op_id, at],
            )?;
        }
        tx.execute("UPDATE sync_state SET pushed_at = ?1 WHERE id = 1", [&at])?;
        tx.commit()?;
        Ok(())
    }

    /// Puts sent operations back to pending, as if their push had never happened.
    pub fn mark_pending(&mut self, op_ids: &[String]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let at = now();
        for op_id in op_ids {
            transition(&tx, op_id, OpState::Pending)?;
            tx.execute(
                "UPDATE outbox SET state = 'pending', updated_at = ?2 WHERE op_id = ?1",
                params![op_id, at],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the answers of one push in one transaction: applied and duplicate operations are done and
    /// the records the server returned become local copies; rejected ones are kept with their reason;
    /// transiently refused ones are pending again. Operations of the push without an answer stay `sent`.
    pub fn record_results(&mut self, results: &[OpResult]) -> Result<ResultTally, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let at = now();
        let mut tally = ResultTally::default();
        for r in results {
            let state = current_state(&tx, &r.op_id)?;
            if state != Some(OpState::Sent) {
                tally.ignored += 1;
                continue;
            }
            match OpOutcome::try_from(r.outcome) {
                Ok(outcome @ (OpOutcome::Applied | OpOutcome::Duplicate)) => {
                    let (id, number) = match &r.result {
                        Some(result) => save_result(&tx, result)?,
                        None => (String::new(), String::new()),
                    };
                    let state = if outcome == OpOutcome::Applied {
                        tally.applied += 1;
                        OpState::Applied
                    } else {
                        tally.duplicates += 1;
                        OpState::Duplicate
                    };
                    tx.execute(
                        "UPDATE outbox SET state = ?2, result_id = ?3, result_number = ?4, code = NULL,
                             reason = '', message = '', fields = '[]', updated_at = ?5
                         WHERE op_id = ?1",
                        params![r.op_id, state.as_str(), id, number, at],
                    )?;
                }
                Ok(OpOutcome::Rejected) => {
                    let state = if is_transient(r.code, &r.reason) {
                        tally.deferred += 1;
                        OpState::Pending
                    } else {
                        tally.rejected += 1;
                        OpState::Rejected
                    };
                    let fields = serde_json::to_string(&r.fields)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?;
                    tx.execute(
                        "UPDATE outbox SET state = ?2, code = ?3, reason = ?4, message = ?5,
                             fields = ?6, updated_at = ?7
                         WHERE op_id = ?1",
                        params![
                            r.op_id,
                            state.as_str(),
                            r.code,
                            r.reason,
                            r.message,
                            fields,
                            at
                        ],
                    )?;
                }
                // An answer this client does not understand: leave it `sent`, to be pushed again.
                _ => tally.ignored += 1,
            }
        }
        tx.commit()?;
        Ok(tally)
    }

    /// Drops a pending or rejected operation (the user's decision; the row stays, `discarded`).
    pub fn discard(&mut self, op_id: &str) -> Result<OutboxEntry, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        transition(&tx, op_id, OpState::Discarded)?;
        tx.execute(
            "UPDATE outbox SET state = 'discarded', updated_at = ?2 WHERE op_id = ?1",
            params![op_id, now()],
        )?;
        tx.commit()?;
        self.entry(op_id)?
            .ok_or_else(|| StoreError::NoSuchOp(op_id.to_owned()))
    }

    /// Queues `edited` (the rejected operation after the user's edits) under a fresh op id, and marks the
    /// rejected one `replaced` by it, in one transaction. Returns the new entry.
    pub fn replace(
        &mut self,
        rejected_op_id: &str,
        mut edited: Operation,
    ) -> Result<OutboxEntry, StoreError> {
        edited.op_id = Uuid::now_v7().to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        transition(&tx, rejected_op_id, OpState::Replaced)?;
        let new_id = insert_op(&tx, edited)?;
        tx.execute(
            "UPDATE outbox SET state = 'replaced', replaced_by = ?2, updated_at = ?3 WHERE op_id = ?1",
            params![rejected_op_id, new_id, now()],
        )?;
        tx.commit()?;
        self.entry(&new_id)?.ok_or(StoreError::NoSuchOp(new_id))
    }

    // ---------------------------------------------------------------------------------------------------
    // Pull and local copies

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

    /// Saves one pulled page and the cursor after it, in one transaction: a crash leaves either both or
    /// neither.
    pub fn apply_page(
        &mut self,
        changes: &[Change],
        next_cursor: &str,
    ) -> Result<PageTally, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut tally = PageTally::default();
        for c in changes {
            match &c.item {
                Some(change::Item::Case(cc)) => {
                    if let Some(case) = &cc.case {
                        upsert_case(&tx, case, Some(&cc.history))?;
                        tally.pulled += 1;
                    }
                }
                Some(change::Item::Visit(v)) => {
                    upsert_record(&tx, "visits", &v.id, &v.encode_to_vec())?;
                    tally.pulled += 1;
                }
                Some(change::Item::Letter(l)) => {
                    upsert_record(&tx, "letters", &l.id, &l.encode_to_vec())?;
                    tally.pulled += 1;
                }
                Some(change::Item::Trip(t)) => {
                    upsert_record(&tx, "trips", &t.id, &t.encode_to_vec())?;
                    tally.pulled += 1;
                }
                Some(change::Item::Tombstone(t)) => {
                    if let Some(table) = table_of(&t.kind) {
                        tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [&t.id])?;
                    }
                    tally.tombstones += 1;
                }
                None => {}
            }
        }
        tx.execute(
            "UPDATE sync_state SET cursor = ?1, pulled_at = ?2 WHERE id = 1",
            params![next_cursor, now()],
        )?;
        tx.commit()?;
        Ok(tally)
    }

    /// The local copies of matters, by registration number.
    pub fn cases(&self) -> Result<Vec<Case>, StoreError> {
        let mut cases: Vec<Case> = self.records("cases")?;
        cases.sort_by(|a, b| a.number.cmp(&b.number).then(a.id.cmp(&b.id)));
        Ok(cases)
    }

    pub fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        self.record("cases", id)
    }

    /// The local matter whose id starts or ends with `prefix`, or whose registration number is `prefix`.
    pub fn find_case(&self, prefix: &str) -> Result<Option<Case>, StoreError> {
        let prefix = prefix.trim();
        if prefix.is_empty() {
            return Ok(None);
        }
        if let Some(case) = self.case(prefix)? {
            return Ok(Some(case));
        }
        let found: Vec<Case> = self
            .cases()?
            .into_iter()
            .filter(|c| c.id.starts_with(prefix) || c.id.ends_with(prefix) || c.number == prefix)
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            _ => Err(StoreError::Ambiguous(prefix.to_owned(), "matter")),
        }
    }

    /// A local matter's history, oldest first (empty when the pull has not brought it).
    pub fn case_history(&self, id: &str) -> Result<Vec<CaseEvent>, StoreError> {
        let blob: Option<Option<Vec<u8>>> = self
            .conn
            .query_row("SELECT history FROM cases WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        match blob.flatten() {
            Some(bytes) => Ok(ListCaseEventsResponse::decode(bytes.as_slice())?.events),
            None => Ok(Vec::new()),
        }
    }

    /// Local visits, newest first.
    pub fn visits(&self) -> Result<Vec<Visit>, StoreError> {
        let mut visits: Vec<Visit> = self.records("visits")?;
        visits.sort_by_key(|v| {
            std::cmp::Reverse(
                v.visited_at
                    .map(|t| (t.seconds, t.nanos))
                    .unwrap_or_default(),
            )
        });
        Ok(visits)
    }

    pub fn visit(&self, id: &str) -> Result<Option<Visit>, StoreError> {
        self.record("visits", id)
    }

    /// Local letters, newest first.
    pub fn letters(&self) -> Result<Vec<Letter>, StoreError> {
        let mut letters: Vec<Letter> = self.records("letters")?;
        letters.sort_by_key(|l| {
            std::cmp::Reverse(
                l.received_at
                    .map(|t| (t.seconds, t.nanos))
                    .unwrap_or_default(),
            )
        });
        Ok(letters)
    }

    /// Local trips, newest first.
    pub fn trips(&self) -> Result<Vec<ReturnTrip>, StoreError> {
        let mut trips: Vec<ReturnTrip> = self.records("trips")?;
        trips.sort_by_key(|t| {
            std::cmp::Reverse(
                t.notified_at
                    .map(|t| (t.seconds, t.nanos))
                    .unwrap_or_default(),
            )
        });
        Ok(trips)
    }

    pub fn trip(&self, id: &str) -> Result<Option<ReturnTrip>, StoreError> {
        self.record("trips", id)
    }

    fn records<T: Message + Default>(&self, table: &str) -> Result<Vec<T>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT payload FROM {table}"))?;
        let blobs: Vec<Vec<u8>> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        blobs
            .iter()
            .map(|b| T::decode(b.as_slice()).map_err(StoreError::from))
            .collect()
    }

    fn record<T: Message + Default>(&self, table: &str, id: &str) -> Result<Option<T>, StoreError> {
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row(
                &format!("SELECT payload FROM {table} WHERE id = ?1"),
                [id],
                |r| r.get(0),
            )
            .optional()?;
        blob.map(|b| T::decode(b.as_slice()).map_err(StoreError::from))
            .transpose()
    }

    // ---------------------------------------------------------------------------------------------------
    // Trip drafts

    /// Keeps a trip under way as a draft (not in the outbox) under a fresh local id. No validation here
    /// (see [`crate::capture::draft_trip`]).
    pub fn save_trip_draft(&mut self, trip: &ReturnTrip) -> Result<TripDraft, StoreError> {
        let id = Uuid::now_v7().to_string();
        let at = now();
        self.conn.execute(
            "INSERT INTO trip_drafts (id, payload, state, created_at, updated_at)
             VALUES (?1, ?2, 'open', ?3, ?3)",
            params![id, trip.encode_to_vec(), at],
        )?;
        self.trip_draft(&id)?.ok_or(StoreError::NoSuchDraft(id))
    }

    /// One draft by its id, whatever its state.
    pub fn trip_draft(&self, id: &str) -> Result<Option<TripDraft>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DRAFT_COLUMNS} FROM trip_drafts WHERE id = ?1"
        ))?;
        let raw = stmt.query_row([id], RawDraft::read).optional()?;
        raw.map(RawDraft::decode).transpose()
    }

    /// The open drafts, oldest first.
    pub fn trip_drafts(&self) -> Result<Vec<TripDraft>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DRAFT_COLUMNS} FROM trip_drafts WHERE state = 'open' ORDER BY created_at, id"
        ))?;
        let raws: Vec<RawDraft> = stmt
            .query_map([], RawDraft::read)?
            .collect::<Result<_, _>>()?;
        raws.into_iter().map(RawDraft::decode).collect()
    }

    /// The one draft whose id starts or ends with `prefix` (a full id works too), whatever its state.
    pub fn find_trip_draft(&self, prefix: &str) -> Result<TripDraft, StoreError> {
        let prefix = prefix.trim();
        if prefix.is_empty() {
            return Err(StoreError::NoSuchDraft(String::new()));
        }
        if let Some(draft) = self.trip_draft(prefix)? {
            return Ok(draft);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM trip_drafts
             WHERE substr(id, 1, length(?1)) = ?1 OR substr(id, -length(?1)) = ?1 LIMIT 2",
        )?;
        let ids: Vec<String> = stmt
            .query_map([prefix], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        match ids.as_slice() {
            [one] => self
                .trip_draft(one)?
                .ok_or_else(|| StoreError::NoSuchDraft(one.clone())),
            [] => Err(StoreError::NoSuchDraft(prefix.to_owned())),
            _ => Err(StoreError::Ambiguous(prefix.to_owned(), "trip draft")),
        }
    }

    /// Closes an open draft: queues `op` (the complete trip) and marks the draft closed by it, in one
    /// transaction, so the trip is queued exactly once. Returns the new outbox entry.
    pub fn close_trip_draft(
        &mut self,
        draft_id: &str,
        op: Operation,
    ) -> Result<OutboxEntry, StoreError> {
        if !matches!(op.op, Some(Op::RecordReturnTrip(_))) {
            return Err(StoreError::Invalid(
                "a trip draft is closed by recording the trip".into(),
            ));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        open_draft(&tx, draft_id)?;
        let op_id = insert_op(&tx, op)?;
        tx.execute(
            "UPDATE trip_drafts SET state = 'closed', op_id = ?2, updated_at = ?3 WHERE id = ?1",
            params![draft_id, op_id, now()],
        )?;
        tx.commit()?;
        self.entry(&op_id)?.ok_or(StoreError::NoSuchOp(op_id))
    }

    /// Drops an open draft (the row stays, `discarded`).
    pub fn discard_trip_draft(&mut self, draft_id: &str) -> Result<TripDraft, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        open_draft(&tx, draft_id)?;
        tx.execute(
            "UPDATE trip_drafts SET state = 'discarded', updated_at = ?2 WHERE id = ?1",
            params![draft_id, now()],
        )?;
        tx.commit()?;
        self.trip_draft(draft_id)?
            .ok_or_else(|| StoreError::NoSuchDraft(draft_id.to_owned()))
    }

    // ---------------------------------------------------------------------------------------------------
    // The sync lock

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

/// A row as read, before its payload is decoded.
struct RawEntry {
    op_id: String,
    seq: i64,
    kind: String,
    subject: String,
    target: String,
    payload: Vec<u8>,
    state: String,
    code: Option<i32>,
    reason: String,
    message: String,
    fields: String,
    result_id: String,
    result_number: String,
    replaced_by: Option<String>,
    created_at: String,
    updated_at: String,
    attempts: i64,
}

impl RawEntry {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawEntry {
            op_id: r.get(0)?,
            seq: r.get(1)?,
            kind: r.get(2)?,
            subject: r.get(3)?,
            target: r.get(4)?,
            payload: r.get(5)?,
            state: r.get(6)?,
            code: r.get(7)?,
            reason: r.get(8)?,
            message: r.get(9)?,
            fields: r.get(10)?,
            result_id: r.get(11)?,
            result_number: r.get(12)?,
            replaced_by: r.get(13)?,
            created_at: r.get(14)?,
            updated_at: r.get(15)?,
            attempts: r.get(16)?,
        })
    }

    fn decode(self) -> Result<OutboxEntry, StoreError> {
        let state = OpState::parse(&self.state)
            .ok_or_else(|| StoreError::Invalid(format!("unknown outbox state {:?}", self.state)))?;
        Ok(OutboxEntry {
            operation: Operation::decode(self.payload.as_slice())?,
            fields: serde_json::from_str(&self.fields).unwrap_or_default(),
            op_id: self.op_id,
            seq: self.seq,
            kind: self.kind,
            subject: self.subject,
            target: self.target,
            state,
            code: self.code,
            reason: self.reason,
            message: self.message,
            result_id: self.result_id,
            result_number: self.result_number,
            replaced_by: self.replaced_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            attempts: self.attempts,
        })
    }
}

const DRAFT_COLUMNS: &str = "id, payload, state, op_id, created_at, updated_at";

/// A draft row as read, before its payload is decoded.
struct RawDraft {
    id: String,
    payload: Vec<u8>,
    state: String,
    op_id: Option<String>,
    created_at: String,
    updated_at: String,
}

impl RawDraft {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawDraft {
            id: r.get(0)?,
            payload: r.get(1)?,
            state: r.get(2)?,
            op_id: r.get(3)?,
            created_at: r.get(4)?,
            updated_at: r.get(5)?,
        })
    }

    fn decode(self) -> Result<TripDraft, StoreError> {
        let state = DraftState::parse(&self.state)
            .ok_or_else(|| StoreError::Invalid(format!("unknown draft state {:?}", self.state)))?;
        Ok(TripDraft {
            trip: ReturnTrip::decode(self.payload.as_slice())?,
            id: self.id,
            state,
            op_id: self.op_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Checks that the draft exists and is open.
fn open_draft(tx: &Transaction<'_>, id: &str) -> Result<(), StoreError> {
    let state: Option<String> = tx
        .query_row("SELECT state FROM trip_drafts WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    let state = state.ok_or_else(|| StoreError::NoSuchDraft(id.to_owned()))?;
    match DraftState::parse(&state) {
        Some(DraftState::Open) => Ok(()),
        Some(state) => Err(StoreError::DraftNotOpen {
            id: id.to_owned(),
            state,
        }),
        None => Err(StoreError::Invalid(format!(
            "unknown draft state {state:?}"
        ))),
    }
}

fn insert_op(tx: &Transaction<'_>, mut op: Operation) -> Result<String, StoreError> {
    let Some(inner) = &op.op else {
        return Err(StoreError::Invalid(
            "an operation without a request cannot be queued".into(),
        ));
    };
    if op.op_id.is_empty() {
        op.op_id = Uuid::now_v7().to_string();
    } else if Uuid::parse_str(&op.op_id).is_err() {
        return Err(StoreError::Invalid(format!(
            "op_id {:?} is not a UUID",
            op.op_id
        )));
    }
    let (kind, subject, target) = (op_kind(inner), op_subject(inner), op_target(inner));
    let seq: i64 = tx.query_row("SELECT coalesce(max(seq), 0) + 1 FROM outbox", [], |r| {
        r.get(0)
    })?;
    let at = now();
    tx.execute(
        "INSERT INTO outbox (op_id, seq, kind, subject, target, payload, state, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)",
        params![op.op_id, seq, kind, subject, target, op.encode_to_vec(), at],
    )?;
    Ok(op.op_id)
}

fn current_state(tx: &Transaction<'_>, op_id: &str) -> Result<Option<OpState>, StoreError> {
    let state: Option<String> = tx
        .query_row("SELECT state FROM outbox WHERE op_id = ?1", [op_id], |r| {
            r.get(0)
        })
        .optional()?;
    state
        .map(|s| {
            OpState::parse(&s)
                .ok_or_else(|| StoreError::Invalid(format!("unknown outbox state {s:?}")))
        })
        .transpose()
}

/// Checks that `op_id` exists and may move to `to`.
fn transition(tx: &Transaction<'_>, op_id: &str, to: OpState) -> Result<(), StoreError> {
    let from = current_state(tx, op_id)?.ok_or_else(|| StoreError::NoSuchOp(op_id.to_owned()))?;
    if from.may_become(to) {
        Ok(())
    } else {
        Err(StoreError::Transition {
            op_id: op_id.to_owned(),
            from,
            to,
        })
    }
}

fn table_of(kind: &str) -> Option<&'static str> {
    match kind {
        "case" => Some("cases"),
        "visit" => Some("visits"),
        "letter" => Some("letters"),
        "trip" | "return_trip" => Some("trips"),
        _ => None,
    }
}

fn upsert_record(
    tx: &Transaction<'_>,
    table: &str,
    id: &str,
    payload: &[u8],
) -> Result<(), StoreError> {
    if id.is_empty() {
        return Ok(());
    }
    tx.execute(
        &format!(
            "INSERT INTO {table} (id, payload, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at"
        ),
        params![id, payload, now()],
    )?;
    Ok(())
}

/// Saves a matter unless the local copy is newer (a DUPLICATE answers with the matter as it was then).
/// `history` replaces the stored one when given.
fn upsert_case(
    tx: &Transaction<'_>,
    case: &Case,
    history: Option<&[CaseEvent]>,
) -> Result<(), StoreError> {
    if case.id.is_empty() {
        return Ok(());
    }
    let version: i64 = case.etag.parse().unwrap_or(0);
    let history = history.map(|events| {
        ListCaseEventsResponse {
            events: events.to_vec(),
            next_page_token: String::new(),
        }
        .encode_to_vec()
    });
    tx.execute(
        "INSERT INTO cases (id, payload, version, history, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, version = excluded.version,
             history = coalesce(excluded.history, cases.history), updated_at = excluded.updated_at
         WHERE excluded.version >= cases.version",
        params![case.id, case.encode_to_vec(), version, history, now()],
    )?;
    Ok(())
}

/// Stores the record an applied operation returned; returns its id and number.
fn save_result(
    tx: &Transaction<'_>,
    result: &op_result::Result,
) -> Result<(String, String), StoreError> {
    Ok(match result {
        op_result::Result::Visit(v) => {
            upsert_record(tx, "visits", &v.id, &v.encode_to_vec())?;
            (v.id.clone(), v.number.clone())
        }
        op_result::Result::Letter(l) => {
            upsert_record(tx, "letters", &l.id, &l.encode_to_vec())?;
            (l.id.clone(), l.number.clone())
        }
        op_result::Result::Trip(t) => {
            upsert_record(tx, "trips", &t.id, &t.encode_to_vec())?;
            (t.id.clone(), t.number.clone())
        }
        op_result::Result::Case(c) => {
            upsert_case(tx, c, None)?;
            (c.id.clone(), c.number.clone())
        }
    })
}

#[cfg(test)]
mod tests {
    use xinfang_proto::v1::{AcceptCaseRequest, CaseState, Tombstone};

    use super::*;

    #[test]
    fn a_stale_etag_waits_for_the_user_and_a_lost_race_for_the_next_sync() {
        let aborted = tonic::Code::Aborted as i32;
        assert!(
            !is_transient(aborted, ""),
            "a stale etag needs the matter read again"
        );
        assert!(is_transient(aborted, "LOST_RACE"));
        assert!(is_transient(tonic::Code::Unavailable as i32, ""));
        assert!(!is_transient(
            tonic::Code::FailedPrecondition as i32,
            "CASE_FINAL"
        ));
    }

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("profiles").join("t.db")).unwrap();
        (dir, store)
    }

    fn accept(case_id: &str) -> Operation {
        Operation {
            op_id: String::new(),
            op: Some(Op::AcceptCase(AcceptCaseRequest {
                case_id: case_id.to_owned(),
                ..Default::default()
            })),
        }
    }

    fn applied(op_id: &str, case: Case) -> OpResult {
        OpResult {
            op_id: op_id.to_owned(),
            outcome: OpOutcome::Applied as i32,
            result: Some(op_result::Result::Case(case)),
            ..Default::default()
        }
    }

    fn case(id: &str, version: u32, state: CaseState) -> Case {
        Case {
            id: id.to_owned(),
            number: format!("XF510422-2025-{id}"),
            etag: version.to_string(),
            state: state as i32,
            ..Default::default()
        }
    }

    #[test]
    fn migrations_apply_once_and_a_newer_schema_is_refused() {
        let (dir, store) = temp_store();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(store.path()), 0o600);
            assert_eq!(mode(store.path().parent().unwrap()), 0o700);
        }
        let mode: String = store
            .connection()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let path = store.path().to_owned();
        drop(store);
        // Reopening applies nothing again.
        let store = Store::open(&path).unwrap();
        let rows: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, MIGRATIONS.len() as i64);
        store
            .connection()
            .execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?1, 'later')",
                [SCHEMA_VERSION + 1],
            )
            .unwrap();
        drop(store);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found, .. }) if found == SCHEMA_VERSION + 1
        ));
        drop(dir);
    }

    #[test]
    fn profiles_live_under_the_data_directory() {
        if let Ok(path) = Store::profile_path("work-2") {
            assert!(path.ends_with("xinfang/profiles/work-2.db"), "{path:?}");
        }
        assert!(matches!(
            Store::profile_path("../x"),
            Err(StoreError::ProfileName(_))
        ));
        assert!(Store::profile_path("").is_err());
    }

    #[test]
    fn settings_round_trip() {
        let (_dir, mut store) = temp_store();
        assert_eq!(store.settings().unwrap(), None);
        let mut s = Settings {
            server: "http://127.0.0.1:50051".into(),
            token: "xft_abc".into(),
            ca_path: None,
        };
        store.save_settings(&s).unwrap();
        assert_eq!(store.settings().unwrap().as_ref(), Some(&s));
        s.ca_path = Some(PathBuf::from("/etc/xinfang/ca.pem"));
        store.save_settings(&s).unwrap();
        assert_eq!(store.settings().unwrap(), Some(s));
    }

    #[test]
    fn the_state_machine_of_an_operation() {
        use OpState::*;
        assert!(Pending.may_become(Sent) && Pending.may_become(Discarded));
        assert!(!Pending.may_become(Applied) && !Pending.may_become(Replaced));
        assert!(Sent.may_become(Applied) && Sent.may_become(Rejected) && Sent.may_become(Pending));
        assert!(!Sent.may_become(Discarded), "it may have been applied");
        assert!(Rejected.may_become(Replaced) && Rejected.may_become(Discarded));
        assert!(!Rejected.may_become(Sent));
        for done in [Applied, Duplicate, Discarded, Replaced] {
            assert!(OpState::ALL.iter().all(|s| !done.may_become(*s)));
            assert!(done.is_final());
        }
        for s in OpState::ALL {
            assert_eq!(OpState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn the_outbox_keeps_order_and_every_answer() {
        let (_dir, mut store) = temp_store();
        let ids: Vec<String> = (0..4)
            .map(|i| {
                store
                    .enqueue(accept(&format!("0000000{i}-0000-7000-8000-000000000000")))
                    .unwrap()
                    .op_id
            })
            .collect();
        let entries = store.sendable().unwrap();
        assert_eq!(
            entries.iter().map(|e| &e.op_id).collect::<Vec<_>>(),
            ids.iter().collect::<Vec<_>>()
        );
        assert!(entries.iter().all(|e| e.state == OpState::Pending
            && e.kind == "accept_case"
            && Uuid::parse_str(&e.op_id).unwrap().get_version_num() == 7));
        assert_eq!(entries[2].target, "00000002-0000-7000-8000-000000000000");

        // Answers for operations not in flight are ignored.
        let early = store
            .record_results(&[applied(&ids[0], case("a", 1, CaseState::Accepted))])
            .unwrap();
        assert_eq!(early.ignored, 1);
        assert_eq!(
            store.entry(&ids[0]).unwrap().unwrap().state,
            OpState::Pending
        );

        store.mark_sent(&ids).unwrap();
        let tally = store
            .record_results(&[
                applied(&ids[0], case("a", 2, CaseState::Accepted)),
                OpResult {
                    op_id: ids[1].clone(),
                    outcome: OpOutcome::Duplicate as i32,
                    result: Some(op_result::Result::Case(case("b", 3, CaseState::Accepted))),
                    ..Default::default()
                },
                OpResult {
                    op_id: ids[2].clone(),
                    outcome: OpOutcome::Rejected as i32,
                    code: tonic::Code::FailedPrecondition as i32,
                    reason: "CASE_ALREADY_ACCEPTED".into(),
                    message: "already accepted".into(),
                    fields: vec!["case_id".into()],
                    ..Default::default()
                },
                OpResult {
                    op_id: ids[3].clone(),
                    outcome: OpOutcome::Rejected as i32,
                    code: tonic::Code::Unavailable as i32,
                    message: "database down".into(),
                    ..Default::default()
                },
            ])
            .unwrap();
        assert_eq!(
            tally,
            ResultTally {
                applied: 1,
                duplicates: 1,
                rejected: 1,
                deferred: 1,
                ignored: 0
            }
        );
        let e = |store: &Store, i: usize| store.entry(&ids[i]).unwrap().unwrap();
        assert_eq!(
            (e(&store, 0).state, e(&store, 0).result_id.as_str()),
            (OpState::Applied, "a")
        );
        assert_eq!(e(&store, 1).state, OpState::Duplicate);
        let rejected = e(&store, 2);
        assert_eq!(rejected.state, OpState::Rejected);
        assert_eq!(rejected.code(), Some(tonic::Code::FailedPrecondition));
        assert_eq!(rejected.reason, "CASE_ALREADY_ACCEPTED");
        assert_eq!(rejected.fields, ["case_id"]);
        assert_eq!(rejected.attempts, 1);
        assert_eq!(
            e(&store, 3).state,
            OpState::Pending,
            "transient: tried again later"
        );
        assert_eq!(e(&store, 3).message, "database down");
        assert_eq!(
            store.case("a").unwrap().unwrap().state(),
            CaseState::Accepted
        );

        // Done operations are final; a rejected one is fixed or discarded, never silently dropped.
        assert!(matches!(
            store.discard(&ids[0]),
            Err(StoreError::Transition { .. })
        ));
        assert!(matches!(
            store.mark_sent(std::slice::from_ref(&ids[2])),
            Err(StoreError::Transition { .. })
        ));
        let mut edited = rejected.operation.clone();
        if let Some(Op::AcceptCase(r)) = &mut edited.op {
            r.etag = "7".into();
        }
        let new = store.replace(&ids[2], edited).unwrap();
        assert_ne!(new.op_id, ids[2]);
        assert_eq!(new.state, OpState::Pending);
        assert_eq!(new.seq, 5);
        let old = e(&store, 2);
        assert_eq!(old.state, OpState::Replaced);
        assert_eq!(old.replaced_by.as_deref(), Some(new.op_id.as_str()));
        assert_eq!(old.reason, "CASE_ALREADY_ACCEPTED", "the reason stays");
        assert!(matches!(
            store.replace(&ids[2], accept("x")),
            Err(StoreError::Transition { .. })
        ));
        assert_eq!(store.discard(&ids[3]).unwrap().state, OpState::Discarded);
        let counts = store.outbox_counts().unwrap();
        assert_eq!(counts.get(&OpState::Pending), Some(&1));
        assert_eq!(counts.get(&OpState::Discarded), Some(&1));
        assert_eq!(store.outbox(&[]).unwrap().len(), 5, "no row is deleted");
        assert_eq!(store.find_entry(&new.op_id[..30]).unwrap().op_id, new.op_id);
        assert_eq!(store.find_entry(&new.op_id[28..]).unwrap().op_id, new.op_id);
        assert!(matches!(
            store.find_entry("nope"),
            Err(StoreError::NoSuchOp(_))
        ));
    }

    #[test]
    fn an_older_answer_never_overwrites_a_newer_copy() {
        let (_dir, mut store) = temp_store();
        let newer = Change {
            item: Some(change::Item::Case(xinfang_proto::v1::CaseChange {
                case: Some(case("c", 5, CaseState::Replied)),
                history: vec![CaseEvent {
                    action: "registered".into(),
                    ..Default::default()
                }],
            })),
        };
        store.apply_page(&[newer], "cur1").unwrap();
        let op = store.enqueue(accept("c")).unwrap().op_id;
        store.mark_sent(std::slice::from_ref(&op)).unwrap();
        store
            .record_results(&[OpResult {
                op_id: op,
                outcome: OpOutcome::Duplicate as i32,
                result: Some(op_result::Result::Case(case("c", 2, CaseState::Accepted))),
                ..Default::default()
            }])
            .unwrap();
        let local = store.case("c").unwrap().unwrap();
        assert_eq!(local.state(), CaseState::Replied);
        assert_eq!(store.case_history("c").unwrap().len(), 1);
        assert_eq!(store.cursor().unwrap(), "cur1");
    }

    #[test]
    fn pages_save_records_tombstones_and_the_cursor_together() {
        let (_dir, mut store) = temp_store();
        assert_eq!(store.cursor().unwrap(), "");
        let page = vec![
            Change {
                item: Some(change::Item::Case(xinfang_proto::v1::CaseChange {
                    case: Some(case("c1", 1, CaseState::Assigned)),
                    history: vec![],
                })),
            },
            Change {
                item: Some(change::Item::Visit(Visit {
                    id: "v1".into(),
                    ..Default::default()
                })),
            },
        ];
        let t = store.apply_page(&page, "p1").unwrap();
        assert_eq!((t.pulled, t.tombstones), (2, 0));
        assert_eq!(store.cases().unwrap().len(), 1);
        assert_eq!(store.visits().unwrap().len(), 1);
        let t = store
            .apply_page(
                &[Change {
                    item: Some(change::Item::Tombstone(Tombstone {
                        kind: "case".into(),
                        id: "c1".into(),
                        reason: "属地错误".into(),
                    })),
                }],
                "p2",
            )
            .unwrap();
        assert_eq!((t.pulled, t.tombstones), (0, 1));
        assert!(store.cases().unwrap().is_empty());
        assert_eq!(store.cursor().unwrap(), "p2");
    }

    #[test]
    fn a_trip_draft_stays_out_of_the_outbox_until_it_is_closed_once() {
        let (_dir, mut store) = temp_store();
        let trip = ReturnTrip {
            destination_place: "北京".into(),
            responsible_org_code: "510422100".into(),
            outcome: xinfang_proto::v1::TripOutcome::UnderWay as i32,
            ..Default::default()
        };
        let draft = store.save_trip_draft(&trip).unwrap();
        let other = store.save_trip_draft(&trip).unwrap();
        assert_eq!(draft.state, DraftState::Open);
        assert_eq!(draft.trip, trip);
        assert!(draft.op_id.is_none());
        assert!(
            store.outbox(&[]).unwrap().is_empty(),
            "a draft is not queued"
        );
        assert_eq!(
            store
                .trip_drafts()
                .unwrap()
                .iter()
                .map(|d| d.id.as_str())
                .collect::<Vec<_>>(),
            [draft.id.as_str(), other.id.as_str()]
        );
        assert_eq!(
            store
                .find_trip_draft(&draft.id[draft.id.len() - 8..])
                .unwrap()
                .id,
            draft.id
        );
        assert!(matches!(
            store.find_trip_draft("nope"),
            Err(StoreError::NoSuchDraft(_))
        ));

        // Only a trip closes a draft.
        assert!(matches!(
            store.close_trip_draft(&draft.id, accept("c")),
            Err(StoreError::Invalid(_))
        ));
        let mut done = trip.clone();
        done.outcome = xinfang_proto::v1::TripOutcome::Returned as i32;
        let record = |t: &ReturnTrip| Operation {
            op_id: String::new(),
            op: Some(Op::RecordReturnTrip(
                xinfang_proto::v1::RecordReturnTripRequest {
                    request_id: String::new(),
                    trip: Some(t.clone()),
                },
            )),
        };
        let entry = store.close_trip_draft(&draft.id, record(&done)).unwrap();
        assert_eq!(entry.kind, "record_return_trip");
        assert_eq!(entry.state, OpState::Pending);
        let closed = store.trip_draft(&draft.id).unwrap().unwrap();
        assert_eq!(closed.state, DraftState::Closed);
        assert_eq!(closed.op_id.as_deref(), Some(entry.op_id.as_str()));
        // Closed once: a second close queues nothing.
        assert!(matches!(
            store.close_trip_draft(&draft.id, record(&done)),
            Err(StoreError::DraftNotOpen {
                state: DraftState::Closed,
                ..
            })
        ));
        assert_eq!(store.outbox(&[]).unwrap().len(), 1);
        assert_eq!(
            store.trip_drafts().unwrap().len(),
            1,
            "only the open one is listed"
        );

        let dropped = store.discard_trip_draft(&other.id).unwrap();
        assert_eq!(dropped.state, DraftState::Discarded);
        assert!(store.trip_drafts().unwrap().is_empty());
        assert!(matches!(
            store.close_trip_draft(&other.id, record(&done)),
            Err(StoreError::DraftNotOpen {
                state: DraftState::Discarded,
                ..
            })
        ));
        assert_eq!(store.outbox(&[]).unwrap().len(), 1);
        let rows: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM trip_drafts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "no draft row is deleted");
    }

    #[test]
    fn the_sync_lock_is_exclusive_across_handles() {
        let (_dir, store) = temp_store();
        let other = Store::open(store.path()).unwrap();
        let held = store.try_sync_lock().unwrap().expect("free at first");
        assert!(other.try_sync_lock().unwrap().is_none(), "held elsewhere");
        assert!(held.path().ends_with("t.db.lock"));
        drop(held);
        assert!(other.try_sync_lock().unwrap().is_some(), "released on drop");
    }
}
