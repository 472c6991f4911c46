//! Trips under way (`xf trip new --under-way`): kept on the laptop as drafts, outside the outbox, because the
//! server records a trip once, complete; closing a draft queues the trip in the same transaction.

use std::fmt;

use prost::Message;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use uuid::Uuid;
use xinfang_proto::v1::{Operation, ReturnTrip, operation::Op};

use super::{OutboxEntry, Store, StoreError, now, outbox::insert_op};

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

impl Store {
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
