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

mod links;

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
    /// Trips held back because a visit they link is not applied (refused, or still to be pushed).
    pub held: usize,
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
        // The principal's fair share of the server is used up for the moment; it says when to come back.
        Code::ResourceExhausted => true,
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
    // Trips linking a visit queued with them go after that visit is applied: a second round pushes them.
    let held = links::resolve(store)?;
    push(store, remote, options, progress, &mut summary, &held).await?;
    if !held.is_empty() {
        let still = links::resolve(store)?;
        push(store, remote, options, progress, &mut summary, &still).await?;
        summary.held = still.len();
    }
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
    held: &std::collections::HashSet<String>,
) -> Result<(), SyncError> {
    let mut sendable = store.sendable()?;
    sendable.retain(|e| !held.contains(&e.op_id));
    let batches = plan(&sendable, options.batch_size);
    let total: usize = batches.iter().map(Vec::len).sum();
    if total == 0 {
        return Ok(());
    }
    progress(Progress::PushStarted { total });
    let mut done = 0;
    for batch in batches {
        let n = batch.len();
        match push_batch(store, remote, options, progress, summary, &batch).await? {
            Answer::Recorded => {}
            // A refusal of the whole push says nothing about which operation the server objects to (a role
            // that may not push at all, a request it cannot read): each is sent alone, so the ones it
            // refuses on their own go to the rejected list and the others apply. Without this, one such
            // operation stayed `sent` forever and every later sync stopped at it, pulls included.
            Answer::Refused(_) if n > 1 => {
                for entry in batch {
                    let single = [entry];
                    if let Answer::Refused(status) =
                        push_batch(store, remote, options, progress, summary, &single).await?
                    {
                        reject(store, summary, &single[0].op_id, &status)?;
                    }
                }
            }
            Answer::Refused(status) => {
                for entry in &batch {
                    reject(store, summary, &entry.op_id, &status)?;
                }
            }
        }
        done += n;
        progress(Progress::Pushed { done, total });
    }
    Ok(())
}

/// What became of one push.
enum Answer {
    /// The server answered per operation; the answers are recorded.
    Recorded,
    /// The server refused the whole push for a reason that sending it again will not change.
    Refused(Status),
}

/// Sends one push (retrying what is transient) and records its answers.
async fn push_batch<R: Remote>(
    store: &mut Store,
    remote: &mut R,
    options: &SyncOptions,
    progress: &mut Report<'_>,
    summary: &mut SyncSummary,
    batch: &[OutboxEntry],
) -> Result<Answer, SyncError> {
    let ids: Vec<String> = batch.iter().map(|e| e.op_id.clone()).collect();
    let operations: Vec<Operation> = batch.iter().map(|e| e.operation.clone()).collect();
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
            // A refused token or account: nothing was applied and nothing the user can fix in an
            // operation, so they go back to pending (where they can still be discarded) and the sync
            // stops, since the pull would be refused the same way.
            Err(status) if status.code() == Code::Unauthenticated => {
                store.mark_pending(&ids)?;
                return Err(SyncError::Remote {
                    stage: Stage::Push,
                    status,
                    done: *summary,
                });
            }
            Err(status) if is_refusal(&status) => return Ok(Answer::Refused(status)),
            // Unavailable past every retry, or an answer lost on the way: the operations stay `sent`
            // and the next sync pushes them again (the server answers DUPLICATE if it applied them).
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
    Ok(Answer::Recorded)
}

/// Codes by which a server refuses a request it read and judged: sending the same again gets the same.
fn is_refusal(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::PermissionDenied
            | Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::NotFound
            | Code::AlreadyExists
            | Code::OutOfRange
            | Code::Unimplemented
    )
}

/// Records a whole-push refusal against one operation, as if the server had refused it alone.
fn reject(
    store: &mut Store,
    summary: &mut SyncSummary,
    op_id: &str,
    status: &Status,
) -> Result<(), SyncError> {
    let result = xinfang_proto::push::rejected(op_id, status);
    let tally = store.record_results(std::slice::from_ref(&result))?;
    summary.rejected += tally.rejected;
    summary.deferred += tally.deferred;
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
mod tests;
