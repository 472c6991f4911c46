//! A trip may name a visit captured on the same laptop and not synced yet (`xf trip new --visit`): the
//! trip's `case_ids` then holds the op id of that visit's registration, and the case is only known once the
//! server has applied it. Before each push, links whose visit is applied are replaced by the case the visit
//! joined (from the answer saved in the local copy); trips whose visit is not applied yet are held back, and
//! the sync pushes them after the visits (see `run`).

use std::collections::HashSet;

use xinfang_proto::v1::operation::Op;

use crate::store::{OpState, OutboxEntry, Store, StoreError};

/// What an op id in a trip's `case_ids` stands for now.
enum Link {
    /// Not an op id of this outbox: a case id.
    Case,
    /// The registration is applied; the visit joined this case.
    Resolved(String),
    /// The registration is still to be pushed (or was refused: then the trip waits for the user).
    Waiting,
}

fn link(store: &Store, id: &str) -> Result<Link, StoreError> {
    let Some(entry) = store.entry(id)? else {
        return Ok(Link::Case);
    };
    if entry.kind != "register_visit" {
        return Ok(Link::Case);
    }
    match entry.state {
        OpState::Applied | OpState::Duplicate => {
            let case = store
                .visit(&entry.result_id)?
                .and_then(|v| v.classification)
                .map(|c| c.case_id)
                .unwrap_or_default();
            // A visit that opened no case (不再受理) links none.
            Ok(if case.is_empty() {
                Link::Resolved(String::new())
            } else {
                Link::Resolved(case)
            })
        }
        _ => Ok(Link::Waiting),
    }
}

/// Replaces the resolved links of pending trips and returns the op ids of trips still waiting for a visit.
pub fn resolve(store: &mut Store) -> Result<HashSet<String>, StoreError> {
    let mut waiting = HashSet::new();
    let pending: Vec<OutboxEntry> = store
        .outbox(&[OpState::Pending])?
        .into_iter()
        .filter(|e| e.kind == "record_return_trip")
        .collect();
    for entry in pending {
        let mut op = entry.operation.clone();
        let Some(Op::RecordReturnTrip(request)) = &mut op.op else {
            continue;
        };
        let Some(trip) = &mut request.trip else {
            continue;
        };
        let mut changed = false;
        let mut held = false;
        let mut ids = Vec::with_capacity(trip.case_ids.len());
        for id in &trip.case_ids {
            match link(store, id)? {
                Link::Case => ids.push(id.clone()),
                Link::Resolved(case) => {
                    changed = true;
                    if !case.is_empty() && !ids.contains(&case) {
                        ids.push(case);
                    }
                }
                Link::Waiting => {
                    held = true;
                    ids.push(id.clone());
                }
            }
        }
        if held {
            waiting.insert(entry.op_id.clone());
        }
        if changed {
            trip.case_ids = ids;
            store.rewrite_pending(&op)?;
        }
    }
    Ok(waiting)
}
