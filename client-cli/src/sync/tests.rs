use std::collections::HashMap;

use xinfang_proto::v1::{
    AcceptCaseRequest, Case, CaseChange, Change, OpOutcome, OpResult, Tombstone, change, op_result,
    operation::Op,
};

use super::*;
use crate::store::OpState;

fn entry(seq: i64, state: OpState) -> OutboxEntry {
    OutboxEntry {
        op_id: format!("op{seq}"),
        seq,
        kind: "accept_case".into(),
        subject: String::new(),
        target: String::new(),
        operation: Operation::default(),
        state,
        code: None,
        reason: String::new(),
        message: String::new(),
        fields: vec![],
        result_id: String::new(),
        result_number: String::new(),
        replaced_by: None,
        created_at: String::new(),
        updated_at: String::new(),
        attempts: 0,
    }
}

fn seqs(batches: &[Vec<OutboxEntry>]) -> Vec<Vec<i64>> {
    batches
        .iter()
        .map(|b| b.iter().map(|e| e.seq).collect())
        .collect()
}

#[test]
fn plans_batches_in_creation_order_of_what_is_left_to_push() {
    use OpState::*;
    let entries = vec![
        entry(5, Pending),
        entry(1, Sent),
        entry(2, Applied),
        entry(3, Rejected),
        entry(4, Pending),
        entry(6, Discarded),
        entry(7, Pending),
        entry(8, Duplicate),
        entry(9, Replaced),
        entry(10, Sent),
    ];
    assert_eq!(
        seqs(&plan(&entries, 2)),
        vec![vec![1, 4], vec![5, 7], vec![10]]
    );
    assert_eq!(seqs(&plan(&entries, 100)), vec![vec![1, 4, 5, 7, 10]]);
    assert_eq!(
        seqs(&plan(&entries, 0)),
        vec![vec![1], vec![4], vec![5], vec![7], vec![10]]
    );
    assert!(plan(&[], 10).is_empty());
    assert!(plan(&[entry(1, Applied)], 10).is_empty());
    let many: Vec<OutboxEntry> = (1..=1201).map(|i| entry(i, Pending)).collect();
    let sizes: Vec<usize> = plan(&many, 10_000).iter().map(Vec::len).collect();
    assert_eq!(sizes, [500, 500, 201], "the server takes at most 500");
    let mut twice = vec![entry(1, Pending), entry(1, Pending)];
    twice[1].seq = 2;
    assert_eq!(plan(&twice, 10)[0].len(), 1, "an op id is pushed once");
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let ms = Duration::from_millis;
    let waits: Vec<Duration> = (1..=6).map(|a| backoff(a, ms(100), ms(1000))).collect();
    assert_eq!(
        waits,
        [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
    );
    assert_eq!(backoff(200, ms(100), ms(1000)), ms(1000));
}

/// A server in memory: applies each op id once, answers duplicates with the first result, and can be
/// made unavailable for a number of calls or after a number of pushes.
#[derive(Default)]
struct FakeServer {
    applied: HashMap<String, OpResult>,
    apply_count: HashMap<String, usize>,
    unavailable_calls: usize,
    /// Pushes that apply their operations but whose answer is lost.
    lost_answers: usize,
    /// Pushes that apply their operations and then fail with this status (a connection cut).
    cut_answers: Vec<Status>,
    pushes: usize,
    feed: Vec<Change>,
    /// Refuses a whole push that carries an acceptance of this case (as a server refuses a request it
    /// cannot take at all), and every push with this code while `refuse_all` is set.
    refuse_whole: Option<&'static str>,
    refuse_all: Option<Code>,
}

impl Remote for FakeServer {
    async fn push(&mut self, request: PushRequest) -> Result<PushResponse, Status> {
        self.pushes += 1;
        if self.unavailable_calls > 0 {
            self.unavailable_calls -= 1;
            return Err(Status::unavailable("down"));
        }
        if let Some(code) = self.refuse_all {
            return Err(Status::new(code, "refused"));
        }
        if let Some(bad) = self.refuse_whole {
            let carries = request
                .operations
                .iter()
                .any(|op| matches!(&op.op, Some(Op::AcceptCase(r)) if r.case_id == bad));
            if carries {
                return Err(Status::permission_denied(
                    "role leader may not call AcceptCase",
                ));
            }
        }
        let mut results = Vec::new();
        for op in request.operations {
            let case_id = match &op.op {
                Some(Op::AcceptCase(r)) => r.case_id.clone(),
                _ => String::new(),
            };
            if case_id == "bad" {
                results.push(OpResult {
                    op_id: op.op_id,
                    outcome: OpOutcome::Rejected as i32,
                    code: Code::FailedPrecondition as i32,
                    reason: "CASE_NOT_ASSIGNED".into(),
                    ..Default::default()
                });
                continue;
            }
            *self.apply_count.entry(op.op_id.clone()).or_default() += 1;
            if let Some(first) = self.applied.get(&op.op_id) {
                results.push(OpResult {
                    outcome: OpOutcome::Duplicate as i32,
                    ..first.clone()
                });
                continue;
            }
            let result = OpResult {
                op_id: op.op_id.clone(),
                outcome: OpOutcome::Applied as i32,
                result: Some(op_result::Result::Case(Case {
                    id: case_id,
                    etag: "2".into(),
                    ..Default::default()
                })),
                ..Default::default()
            };
            self.applied.insert(op.op_id, result.clone());
            results.push(result);
        }
        if self.lost_answers > 0 {
            self.lost_answers -= 1;
            return Err(Status::internal("connection reset"));
        }
        if let Some(status) = self.cut_answers.pop() {
            return Err(status);
        }
        Ok(PushResponse { results })
    }

    async fn pull(&mut self, request: PullRequest) -> Result<PullResponse, Status> {
        if self.unavailable_calls > 0 {
            self.unavailable_calls -= 1;
            return Err(Status::unavailable("down"));
        }
        let from: usize = if request.cursor.is_empty() {
            0
        } else {
            request.cursor.parse().unwrap()
        };
        let size = request.page_size.max(1) as usize;
        let to = (from + size).min(self.feed.len());
        Ok(PullResponse {
            changes: self.feed[from..to].to_vec(),
            next_cursor: to.to_string(),
            more: to < self.feed.len(),
        })
    }
}

fn fast() -> SyncOptions {
    SyncOptions {
        batch_size: 2,
        page_size: 2,
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        ..SyncOptions::default()
    }
}

fn store_with(cases: &[&str]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("s.db")).unwrap();
    for id in cases {
        store
            .enqueue(Operation {
                op_id: String::new(),
                op: Some(Op::AcceptCase(AcceptCaseRequest {
                    case_id: (*id).to_owned(),
                    ..Default::default()
                })),
            })
            .unwrap();
    }
    (dir, store)
}

#[tokio::test]
async fn pushes_in_batches_retries_when_unavailable_and_keeps_rejections() {
    let (_dir, mut store) = store_with(&["c1", "bad", "c3", "c4", "c5"]);
    let mut server = FakeServer {
        unavailable_calls: 2,
        ..FakeServer::default()
    };
    let mut events = Vec::new();
    let summary = run(&mut store, &mut server, &fast(), &mut |p| events.push(p))
        .await
        .unwrap();
    assert_eq!(
        (summary.applied, summary.rejected, summary.batches),
        (4, 1, 3)
    );
    assert_eq!(server.pushes, 5, "two refused, three batches");
    let retries = events
        .iter()
        .filter(|e| matches!(e, Progress::Retrying { .. }))
        .count();
    assert_eq!(retries, 2);
    assert!(events.contains(&Progress::Pushed { done: 5, total: 5 }));
    let rejected = store.outbox(&[OpState::Rejected]).unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].reason, "CASE_NOT_ASSIGNED");
    assert!(store.sendable().unwrap().is_empty());

    // Nothing left: a second sync pushes nothing.
    let again = run(&mut store, &mut server, &fast(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!((again.applied, again.duplicates, again.batches), (0, 0, 0));
    assert!(server.apply_count.values().all(|n| *n == 1));
}

#[tokio::test]
async fn a_lost_answer_or_a_dead_server_loses_and_duplicates_nothing() {
    let (_dir, mut store) = store_with(&["c1", "c2", "c3", "c4", "c5"]);
    // The first push applies but its answer is lost; the sync stops there.
    let mut server = FakeServer {
        lost_answers: 1,
        ..FakeServer::default()
    };
    let err = run(&mut store, &mut server, &fast(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SyncError::Remote {
            stage: Stage::Push,
            ..
        }
    ));
    assert_eq!(store.outbox(&[OpState::Sent]).unwrap().len(), 2);
    assert_eq!(store.outbox(&[OpState::Pending]).unwrap().len(), 3);

    // Then the server stays unavailable past every retry.
    server.unavailable_calls = 10;
    let err = run(&mut store, &mut server, &fast(), &mut |_| {})
        .await
        .unwrap_err();
    let SyncError::Remote { status, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(status.code(), Code::Unavailable);

    server.unavailable_calls = 0;
    let summary = run(&mut store, &mut server, &fast(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!((summary.applied, summary.duplicates), (3, 2));
    assert_eq!(server.applied.len(), 5);
    let states: Vec<OpState> = store.outbox(&[]).unwrap().iter().map(|e| e.state).collect();
    use OpState::*;
    assert_eq!(states, [Duplicate, Duplicate, Applied, Applied, Applied]);
}

/// What a push gets from a server that dies in the middle of the call: it takes the connection, reads
/// the request and closes the socket without an answer.
async fn transport_error() -> Status {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.readable().await;
            let _ = socket.try_read(&mut buf);
        }
    });
    let mut client = Client::connect_lazy(&address, None).unwrap();
    Remote::push(&mut client, PushRequest::default())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_connection_cut_in_the_middle_of_a_push_is_retried() {
    let cut = transport_error().await;
    assert!(
        matches!(cut.code(), Code::Unknown | Code::Cancelled),
        "{cut:?}"
    );
    assert!(retryable(&cut), "{cut:?}");
    assert!(!retryable(&Status::unknown("a handler's own error")));
    assert!(!retryable(&Status::cancelled("cancelled by the server")));
    assert!(!retryable(&Status::internal("connection reset")));
    assert!(retryable(&Status::aborted("concurrent update, retry")));

    let (_dir, mut store) = store_with(&["c1", "c2", "c3"]);
    let mut server = FakeServer {
        cut_answers: vec![cut.clone(), cut],
        ..FakeServer::default()
    };
    let mut options = fast();
    options.max_attempts = 4;
    let summary = run(&mut store, &mut server, &options, &mut |_| {})
        .await
        .unwrap();
    // The first batch applied twice on the server before its answers got through: duplicates.
    assert_eq!((summary.applied, summary.duplicates), (1, 2));
    assert!(store.sendable().unwrap().is_empty());
    assert!(server.apply_count.values().all(|n| *n >= 1));
    assert_eq!(server.applied.len(), 3);
}

#[tokio::test]
async fn pulls_every_page_and_resumes_from_the_saved_cursor() {
    let (_dir, mut store) = store_with(&[]);
    let case = |id: &str| Change {
        item: Some(change::Item::Case(CaseChange {
            case: Some(Case {
                id: id.into(),
                etag: "1".into(),
                ..Default::default()
            }),
            history: vec![],
        })),
    };
    let mut server = FakeServer {
        feed: vec![case("a"), case("b"), case("c")],
        ..FakeServer::default()
    };
    let summary = run(&mut store, &mut server, &fast(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!((summary.pulled, summary.pages), (3, 2));
    assert_eq!(store.cursor().unwrap(), "3");

    // New changes: only they come, and a page that fails leaves the cursor after the last saved one.
    server.feed.push(Change {
        item: Some(change::Item::Tombstone(Tombstone {
            kind: "case".into(),
            id: "a".into(),
            reason: "reassigned".into(),
        })),
    });
    server.feed.push(case("d"));
    server.feed.push(case("e"));
    let mut options = fast();
    options.page_size = 1;
    options.max_attempts = 1;
    server.unavailable_calls = 0;
    let mut pages = 0;
    let result = {
        let mut server_once = LimitedPulls {
            inner: &mut server,
            left: 2,
        };
        run(&mut store, &mut server_once, &options, &mut |p| {
            if matches!(p, Progress::Pulled { .. }) {
                pages += 1;
            }
        })
        .await
    };
    assert!(result.is_err());
    assert_eq!(pages, 2);
    assert_eq!(store.cursor().unwrap(), "5");
    let summary = run(&mut store, &mut server, &options, &mut |_| {})
        .await
        .unwrap();
    assert_eq!((summary.pulled, summary.tombstones), (1, 0));
    let ids: Vec<String> = store.cases().unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["b", "c", "d", "e"]);
}

/// Answers `left` pulls, then is unavailable.
struct LimitedPulls<'a> {
    inner: &'a mut FakeServer,
    left: usize,
}

impl Remote for LimitedPulls<'_> {
    async fn push(&mut self, request: PushRequest) -> Result<PushResponse, Status> {
        self.inner.push(request).await
    }

    async fn pull(&mut self, request: PullRequest) -> Result<PullResponse, Status> {
        if self.left == 0 {
            return Err(Status::unavailable("cut"));
        }
        self.left -= 1;
        self.inner.pull(request).await
    }
}

#[test]
fn a_sync_can_run_on_any_thread() {
    fn send<T: Send>(_: &T) {}
    let (_dir, mut store) = store_with(&[]);
    let mut server = FakeServer::default();
    let mut report = |_: Progress| {};
    let options = fast();
    let future = run(&mut store, &mut server, &options, &mut report);
    send(&future);
}

#[tokio::test]
async fn a_second_sync_waits_for_the_first() {
    let (_dir, store) = store_with(&[]);
    let held = store.try_sync_lock().unwrap().unwrap();
    let mut other = Store::open(store.path()).unwrap();
    let mut options = fast();
    options.lock_timeout = Duration::from_millis(200);
    let mut waited = false;
    let err = run(&mut other, &mut FakeServer::default(), &options, &mut |p| {
        waited |= p == Progress::WaitingForLock;
    })
    .await
    .unwrap_err();
    assert!(matches!(err, SyncError::Busy(_)));
    assert!(waited);
    drop(held);
    run(
        &mut other,
        &mut FakeServer::default(),
        &options,
        &mut |_| {},
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_push_refused_whole_never_wedges_the_outbox_and_the_pull_goes_on() {
    let (_dir, mut store) = store_with(&["c1", "forbidden", "c3"]);
    let mut server = FakeServer {
        refuse_whole: Some("forbidden"),
        feed: vec![Change {
            item: Some(change::Item::Case(CaseChange {
                case: Some(Case {
                    id: "pulled".into(),
                    etag: "1".into(),
                    ..Default::default()
                }),
                history: vec![],
            })),
        }],
        ..FakeServer::default()
    };
    let summary = run(&mut store, &mut server, &fast(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        (summary.applied, summary.rejected, summary.pulled),
        (2, 1, 1)
    );
    let rejected = store.outbox(&[OpState::Rejected]).unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].code(), Some(Code::PermissionDenied));
    assert!(rejected[0].message.contains("AcceptCase"));
    store.discard(&rejected[0].op_id).unwrap();
    assert!(store.sendable().unwrap().is_empty());
    let again = run(&mut store, &mut server, &fast(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!((again.applied, again.rejected, again.batches), (0, 0, 0));
}

#[tokio::test]
async fn a_refused_token_leaves_the_operations_pending_and_discardable() {
    let (_dir, mut store) = store_with(&["c1", "c2"]);
    let mut server = FakeServer {
        refuse_all: Some(Code::Unauthenticated),
        ..FakeServer::default()
    };
    let err = run(&mut store, &mut server, &fast(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Remote { .. }));
    let pending = store.outbox(&[OpState::Pending]).unwrap();
    assert_eq!(pending.len(), 2);
    store.discard(&pending[0].op_id).unwrap();
}
