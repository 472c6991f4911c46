//! The sync engine: push the outbox in batches, then pull the changes of the account's scope.
//!
//! - Only one sync runs per store at a time: it holds an exclusive lock on `<store>.lock` (a second one
//!   waits for it, then finds nothing left to push).
//! - Operations are marked `sent` before their push and marked by their per-op answer after it, in one
//!   transaction per batch. A push whose answer is lost (connection cut, laptop dies) leaves them `sent`;
//!   the next sync pushes them again and the server answers DUPLICATE with the first result, so every
//!   operation applies exactly once.
//! - UNAVAILABLE, DEADLINE_EXCEEDED and a connection cut mid-call are retried with exponential backoff, a
//!   bounded number of times.
//! - The pull goes from the stored cursor until the server says there is no more; each page and the cursor
//!   after it are saved in one transaction, so a resumed pull sees every change once.

use std::{future::Future, time::Duration};

use tonic::{Code, Status};
use xinfang_proto::v1::{Operation, PullRequest, PullResponse, PushRequest, PushResponse};

use crate::{
    Client,
    store::{OutboxEntry, Store, StoreError},
};

/// Most operations the server takes in one push.
pub const MAX_BATCH: usize = 500;

/// The server side of a sync: [`Client`] over gRPC, or a fake in tests.
pub trait Remote: Send {
    fn push(
        &mut self,
        request: PushRequest,
    ) -> impl Future<Output = Result<PushResponse, Status>> + Send;
    fn pull(
        &mut self,
        request: PullRequest,
    ) -> impl Future<Output = Result<PullResponse, Status>> + Send;
}

/// How long one push or pull may take before it counts as lost.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

impl Remote for Client {
    async fn push(&mut self, request: PushRequest) -> Result<PushResponse, Status> {
        let mut request = tonic::Request::new(request);
        request.set_timeout(CALL_TIMEOUT);
        Ok(self.sync.push(request).await?.into_inner())
    }

    async fn pull(&mut self, request: PullRequest) -> Result<PullResponse, Status> {
        let mut request = tonic::Request::new(request);
        request.set_timeout(CALL_TIMEOUT);
        Ok(self.sync.pull(request).await?.into_inner())
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Operations per push (1 to [`MAX_BATCH`]).
    pub batch_size: usize,
    /// Changes per pull page (the server caps it at 500).
    pub page_size: i32,
    /// Tries of one call before the sync gives up on an unavailable server.
    pub max_attempts: u32,
    /// The first wait after an unavailable server; doubled on each further try.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How long to wait for another sync of the same store to finish.
    pub lock_timeout: Duration,
    /// Push only (no pull).
    pub skip_pull: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            batch_size: 100,
            page_size: 100,
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(15),
            lock_timeout: Duration::from_secs(600),
            skip_pull: false,
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Operations the server applied now.
    pub applied: usize,
    /// Operations it had applied before (an earlier push's answer was lost).
    pub duplicates: usize,
    /// Operations it refused: kept in the outbox with the reason.
    pub rejected: usize,
    /// Operations refused for a transient reason: still pending.
    pub deferred: usize,
    /// Records pulled (new or changed).
    pub pulled: usize,
    /// Local records removed because they left the account's scope.
    pub tombstones: usize,
    /// Pushes and pull pages made.
    pub batches: usize,
    pub pages: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Push,
    Pull,
}

/// What a sync reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Another sync of this store is running; this one waits for it.
    WaitingForLock,
    /// `total` operations to push.
    PushStarted {
        total: usize,
    },
    /// `done` of `total` operations pushed and recorded.
    Pushed {
        done: usize,
        total: usize,
    },
    /// The server is unavailable; trying again after `wait`.
    Retrying {
        stage: Stage,
        attempt: u32,
        wait: Duration,
        message: String,
    },
    PullStarted,
    /// One page saved; `changes` records and tombstones so far.
    Pulled {
        pages: usize,
        changes: usize,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another sync of this store is still running (waited {0:?})")]
    Busy(Duration),
    #[error("{stage:?} failed: {}: {}", .status.code(), .status.message())]
    Remote {
        stage: Stage,
        status: Status,
        /// What had been done before it failed (and is saved).
        done: SyncSummary,
    },
}

/// Splits the operations to push into batches of at most `batch_size` (1 to [`MAX_BATCH`]), in creation
/// order. Only pending and sent operations are pushed; any op id appears once.
pub fn plan(entries: &[OutboxEntry], batch_size: usize) -> Vec<Vec<OutboxEntry>> {
    let size = batch_size.clamp(1, MAX_BATCH);
    let mut todo: Vec<&OutboxEntry> = entries.iter().filter(|e| e.state.is_sendable()).collect();
    todo.sort_by_key(|e| e.seq);
    let mut seen = std::collections::HashSet::new();
    todo.retain(|e| seen.insert(e.op_id.as_str()));
    todo.chunks(size)
        .map(|chunk| chunk.iter().map(|e| (*e).clone()).collect())
        .collect()
}

/// The wait before try `attempt + 1` (after `attempt` failures): `initial · 2^(attempt−1)`, at most `max`.
pub fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    initial.saturating_mul(factor).min(max)
}

/// Failures of a whole call worth trying again.
fn retryable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded => true,
        // A whole push or pull is ABORTED only when it kept losing races to concurrent writers (a stale etag
        // rejects one operation, never the call); the server rolled it back, so it can be sent again.
        Code::Aborted => true,
        // A connection cut in the middle of a call (the server killed, a proxy restarted) reaches tonic as
        // a transport error that it reports as UNKNOWN (broken pipe) or CANCELLED (connection closed), not
        // UNAVAILABLE. Push and pull are idempotent, so sending the call again is safe; the same codes
        // answered by the server itself are not retried.
        Code::Unknown | Code::Cancelled => is_transport_error(status),
        _ => false,
    }
}

fn is_transport_error(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::transport::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

type Report<'a> = dyn FnMut(Progress) + Send + 'a;

/// Runs one sync of `store` against `remote`: push, then pull. Reports progress through `progress`.
pub async fn run<R: Remote>(
    store: &mut Store,
    remote: &mut R,
    options: &SyncOptions,
    progress: &mut Report<'_>,
) -> Result<SyncSummary, SyncError> {
    let _lock = lock(&store.lock_path(), options, progress).await?;
    let mut summary = SyncSummary::default();
    push(store, remote, options, progress, &mut summary).await?;
    if !options.skip_pull {
        pull(store, remote, options, progress, &mut summary).await?;
    }
    Ok(summary)
}

async fn lock(
    path: &std::path::Path,
    options: &SyncOptions,
    progress: &mut Report<'_>,
) -> Result<crate::store::SyncLock, SyncError> {
    let started = tokio::time::Instant::now();
    let mut told = false;
    loop {
        if let Some(lock) = crate::store::SyncLock::try_take(path)? {
            return Ok(lock);
        }
        if started.elapsed() >= options.lock_timeout {
            return Err(SyncError::Busy(options.lock_timeout));
        }
        if !told {
            progress(Progress::WaitingForLock);
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn push<R: Remote>(
    store: &mut Store,
    remote: &mut R,
    options: &SyncOptions,
    progress: &mut Report<'_>,
    summary: &mut SyncSummary,
) -> Result<(), SyncError> {
    let batches = plan(&store.sendable()?, options.batch_size);
    let total: usize = batches.iter().map(Vec::len).sum();
    if total == 0 {
        return Ok(());
    }
    progress(Progress::PushStarted { total });
    let mut done = 0;
    for batch in batches {
        let ids: Vec<String> = batch.iter().map(|e| e.op_id.clone()).collect();
        let operations: Vec<Operation> = batch.into_iter().map(|e| e.operation).collect();
        store.mark_sent(&ids)?;
        let request = PushRequest { operations };
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            match remote.push(request.clone()).await {
                Ok(response) => break response,
                Err(status) if retryable(&status) && attempt < options.max_attempts => {
                    let wait = backoff(attempt, options.initial_backoff, options.max_backoff);
                    progress(Progress::Retrying {
                        stage: Stage::Push,
                        attempt,
                        wait,
                        message: status.message().to_owned(),
                    });
                    tokio::time::sleep(wait).await;
                }
                // The operations stay `sent`: the next sync pushes them again.
                Err(status) => {
                    return Err(SyncError::Remote {
                        stage: Stage::Push,
                        status,
                        done: *summary,
                    });
                }
            }
        };
        let tally = store.record_results(&response.results)?;
        summary.applied += tally.applied;
        summary.duplicates += tally.duplicates;
        summary.rejected += tally.rejected;
        summary.deferred += tally.deferred;
        summary.batches += 1;
        done += ids.len();
        progress(Progress::Pushed { done, total });
    }
    Ok(())
}

async fn pull<R: Remote>(
    store: &mut Store,
    remote: &mut R,
    options: &SyncOptions,
    progress: &mut Report<'_>,
    summary: &mut SyncSummary,
) -> Result<(), SyncError> {
    progress(Progress::PullStarted);
    let mut cursor = store.cursor()?;
    loop {
        let request = PullRequest {
            cursor: cursor.clone(),
            page_size: options.page_size,
        };
        let mut attempt = 0;
        let page = loop {
            attempt += 1;
            match remote.pull(request.clone()).await {
                Ok(page) => break page,
                Err(status) if retryable(&status) && attempt < options.max_attempts => {
                    let wait = backoff(attempt, options.initial_backoff, options.max_backoff);
                    progress(Progress::Retrying {
                        stage: Stage::Pull,
                        attempt,
                        wait,
                        message: status.message().to_owned(),
                    });
                    tokio::time::sleep(wait).await;
                }
                Err(status) => {
                    return Err(SyncError::Remote {
                        stage: Stage::Pull,
                        status,
                        done: *summary,
                    });
                }
            }
        };
        let tally = store.apply_page(&page.changes, &page.next_cursor)?;
        summary.pulled += tally.pulled;
        summary.tombstones += tally.tombstones;
        summary.pages += 1;
        progress(Progress::Pulled {
            pages: summary.pages,
            changes: summary.pulled + summary.tombstones,
        });
        // A server that says "more" without moving on would loop forever.
        if !page.more || page.next_cursor == cursor {
            return Ok(());
        }
        cursor = page.next_cursor;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use xinfang_proto::v1::{
        AcceptCaseRequest, Case, CaseChange, Change, OpOutcome, OpResult, Tombstone, change,
        op_result, operation::Op,
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
    }

    impl Remote for FakeServer {
        async fn push(&mut self, request: PushRequest) -> Result<PushResponse, Status> {
            self.pushes += 1;
            if self.unavailable_calls > 0 {
                self.unavailable_calls -= 1;
                return Err(Status::unavailable("down"));
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
}
