//! The local copies of the records in the account's scope (cases with their history, visits, letters,
//! trips), as the pull and the answers of pushes bring them. A page and the cursor after it are saved in one
//! transaction; an older copy of a case never overwrites a newer one.

use prost::Message;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use xinfang_proto::v1::{
    Case, CaseEvent, Change, Letter, ListCaseEventsResponse, ReturnTrip, Visit, change, op_result,
};

use super::{Store, StoreError, now};

/// What saving one pulled page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageTally {
    pub pulled: usize,
    pub tombstones: usize,
}

impl Store {
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

    /// Saves a case an online step returned into the local copy (unless the copy is newer), so `xf cases`
    /// shows the step before the next sync.
    pub fn save_case(&mut self, case: &Case) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        upsert_case(&tx, case, None)?;
        tx.commit()?;
        Ok(())
    }

    /// The local copies of cases, by registration number.
    pub fn cases(&self) -> Result<Vec<Case>, StoreError> {
        let mut cases: Vec<Case> = self.records("cases")?;
        cases.sort_by(|a, b| a.number.cmp(&b.number).then(a.id.cmp(&b.id)));
        Ok(cases)
    }

    pub fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        self.record("cases", id)
    }

    /// The local case whose id starts or ends with `prefix`, or whose registration number is `prefix`.
    pub fn find_case(&self, prefix: &str) -> Result<Option<Case>, StoreError> {
        if let Some(case) = self.case(prefix.trim())? {
            return Ok(Some(case));
        }
        find(self.cases()?, prefix, "case", |c| (&c.id, &c.number))
    }

    /// The local visit whose id starts or ends with `prefix`, or whose registration number is `prefix`.
    pub fn find_visit(&self, prefix: &str) -> Result<Option<Visit>, StoreError> {
        find(self.visits()?, prefix, "visit", |v| (&v.id, &v.number))
    }

    /// The local letter whose id starts or ends with `prefix`, or whose registration number is `prefix`.
    pub fn find_letter(&self, prefix: &str) -> Result<Option<Letter>, StoreError> {
        find(self.letters()?, prefix, "letter", |l| (&l.id, &l.number))
    }

    /// A local case's history, oldest first (empty when the pull has not brought it).
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

/// Saves a case unless the local copy is newer (a DUPLICATE answers with the case as it was then).
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
pub(super) fn save_result(
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

/// The one of `records` whose id starts or ends with `prefix` or whose number is `prefix`; more than one is
/// ambiguous (`what` names the kind in the error).
fn find<T>(
    records: Vec<T>,
    prefix: &str,
    what: &'static str,
    keys: impl Fn(&T) -> (&String, &String),
) -> Result<Option<T>, StoreError> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Ok(None);
    }
    let mut found: Vec<T> = records
        .into_iter()
        .filter(|r| {
            let (id, number) = keys(r);
            id.starts_with(prefix) || id.ends_with(prefix) || number == prefix
        })
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(StoreError::Ambiguous(prefix.to_owned(), what)),
    }
}
