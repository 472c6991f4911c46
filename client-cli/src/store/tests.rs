use std::{
    fs,
    path::{Path, PathBuf},
};

use uuid::Uuid;
use xinfang_proto::v1::{
    AcceptCaseRequest, Case, CaseEvent, CaseState, Change, OpOutcome, OpResult, Operation,
    ReturnTrip, Tombstone, Visit, change, op_result, operation::Op,
};

use super::*;

#[test]
fn a_stale_etag_waits_for_the_user_and_a_lost_race_for_the_next_sync() {
    let aborted = tonic::Code::Aborted as i32;
    assert!(
        !is_transient(aborted, ""),
        "a stale etag needs the case read again"
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

#[test]
fn dictionaries_with_an_unchanged_etag_keep_the_cached_copy() {
    use xinfang_proto::v1::{Category, Dictionaries};
    let (_dir, mut store) = temp_store();
    assert_eq!(store.dictionaries_state().unwrap(), None);
    let with = |etag: &str, code: &str| Dictionaries {
        categories: vec![Category {
            code: code.into(),
            name: "名".into(),
        }],
        etag: etag.into(),
        ..Default::default()
    };
    assert!(store.save_dictionaries(&with("e1", "land")).unwrap());
    let first = store.dictionaries_state().unwrap().unwrap();
    assert_eq!(first.etag, "e1");

    // The same etag: the copy is not rewritten (even if the answer differed), only confirmed.
    assert!(!store.save_dictionaries(&with("e1", "other")).unwrap());
    assert_eq!(
        store.dictionaries().unwrap().unwrap().categories[0].code,
        "land"
    );
    let again = store.dictionaries_state().unwrap().unwrap();
    assert_eq!(again.fetched_at, first.fetched_at);
    assert!(again.checked_at >= first.checked_at);

    // A new etag replaces it; so does an empty one, which cannot show that nothing changed.
    assert!(store.save_dictionaries(&with("e2", "labour")).unwrap());
    assert_eq!(
        store.dictionaries().unwrap().unwrap().categories[0].code,
        "labour"
    );
    assert!(store.save_dictionaries(&with("", "x")).unwrap());
    assert!(store.save_dictionaries(&with("", "y")).unwrap());
    assert_eq!(
        store.dictionaries().unwrap().unwrap().categories[0].code,
        "y"
    );
}

#[test]
fn ages_read_in_the_largest_whole_unit() {
    assert_eq!(age(chrono::Duration::days(3)), "3 day(s)");
    assert_eq!(age(chrono::Duration::minutes(130)), "2 hour(s)");
    assert_eq!(age(chrono::Duration::seconds(30)), "0 minute(s)");
}
