//! The outbox: operations captured offline, in creation order, each under its op id (the idempotency key
//! the server keeps, so a push repeated after a lost answer applies nothing twice). Rows are never deleted:
//! an operation ends applied, duplicate, discarded by the user or replaced by its fixed copy.

use std::collections::BTreeMap;

use prost::Message;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use uuid::Uuid;
use xinfang_proto::v1::{OpOutcome, OpResult, Operation};

use super::{
    OpState, Store, StoreError, is_transient, now, op_kind, op_subject, op_target,
    pulled::save_result,
};

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub op_id: String,
    /// Creation order.
    pub seq: i64,
    /// The operation's kind: `register_visit`, `accept_case`, …
    pub kind: String,
    pub subject: String,
    /// The case a case step acts on; empty for registrations.
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

const ENTRY_COLUMNS: &str = "op_id, seq, kind, subject, target, payload, state, code, reason, message, \
     fields, result_id, result_number, replaced_by, created_at, updated_at, attempts";

impl Store {
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

    /// Rewrites a pending operation in place (same op id): a trip's link to a visit queued with it, resolved
    /// once that visit is applied. Only pending operations: a sent one may already be on the server.
    pub fn rewrite_pending(&mut self, op: &Operation) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if current_state(&tx, &op.op_id)? != Some(OpState::Pending) {
            return Err(StoreError::Invalid(format!(
                "operation {} is no longer pending",
                op.op_id
            )));
        }
        tx.execute(
            "UPDATE outbox SET payload = ?2, updated_at = ?3 WHERE op_id = ?1",
            params![op.op_id, op.encode_to_vec(), now()],
        )?;
        tx.commit()?;
        Ok(())
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

pub(super) fn insert_op(tx: &Transaction<'_>, mut op: Operation) -> Result<String, StoreError> {
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
