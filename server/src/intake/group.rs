//! Group commit of registrations (issue 19).
//!
//! Why: every visit and letter takes the year's gap-free counter row (`kernel::numbers::next_serial`) and
//! holds it through its commit and WAL flush, so concurrent registrations queue at that row one commit at a
//! time, and at 16 callers most of a registration's latency is waiting for the others' fsyncs. This module
//! does what PostgreSQL's own group commit does for WAL flushes: registrations that arrive while a group is
//! being written wait for it and are then written together, in one transaction with one commit, each
//! answered with its own result.
//!
//! How: callers put their registration on a queue. When no writer runs, the caller spawns one; the writer
//! takes everything queued (at most [`MAX_GROUP`]), writes it, answers, and takes the next lot until the
//! queue is empty, then stops. A caller alone is therefore written at once: after a group of one the
//! writer never waits, and a new writer never waits either.
//!
//! After a group of several, the writer first gathers (`Group::gather`): the callers it has just answered
//! are the ones most likely to come back, so it waits for as many registrations as were in flight when the
//! group ended (the group's members and those queued meanwhile), but only while they keep coming ([`QUIET`]
//! without a new one ends the wait) and never longer than [`GATHER`]. Without it, busy callers settle into
//! two groups per cycle: the first ones back are written as a small group while the rest queue behind it,
//! and every caller waits for both groups and both commits (docs/performance.md, "Gathering").
//!
//! Inside the group's transaction each registration is the same adapter as a lone one
//! (`IntakeApi::register_visit` / `register_letter`: request parsing, idempotency claim and save, access,
//! the audit row) in a savepoint of its own, in arrival order, so
//! - a refused or failing registration is rolled back alone and its neighbours commit;
//! - its number is taken inside its savepoint, so a rolled-back one leaves no gap;
//! - later members see earlier ones (repeat linking, a second copy of a `request_id` answered from the
//!   first), exactly as if they had arrived one after another;
//! - a lost race (deadlock, serialization failure) rolls the whole group back and `db::transaction` runs it
//!   again; a group that still fails as a whole (a lost race three times, a failure at commit) is split and
//!   each registration runs alone in a transaction of its own, as before this module.
//!
//! The principal of each registration travels with it: access is decided per registration, as before.
//! One writer serves the register of visits and letters (`XF`) for every year: nearly all registrations
//! are of the current year, and one writer is what keeps them from queueing on its row at all.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::{
    sync::{Notify, oneshot},
    time::Instant,
};
use xinfang_proto::v1::{Letter, RegisterLetterRequest, RegisterVisitRequest, Visit};

use super::{IntakeApi, batch::Item};
use crate::{auth::Principal, db, error::AppError};

/// Registrations written in one transaction at most. Each is a savepoint (a subtransaction); PostgreSQL
/// keeps 64 of them per transaction in shared memory before visibility checks get slower.
pub const MAX_GROUP: usize = 32;

/// The longest a writer gathers after a group of several (see the module doc). The callers of a group of 16
/// come back within about 2.5 ms of their answers on the benchmark machine (docs/performance.md).
pub const GATHER: Duration = Duration::from_millis(4);

/// How long a gathering writer waits for the next registration before it writes what it has. Tokio's timer
/// counts whole milliseconds, so this is 1–2 ms in practice; returning callers come about 0.1 ms apart.
pub const QUIET: Duration = Duration::from_millis(1);

/// How long one group may take before its callers are told to retry: a statement that hangs (a lock held
/// elsewhere, a half-open connection) must not hold every later registration of the process behind it.
/// Longer than any healthy group by two orders of magnitude.
const GROUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A registration as it waits for its group.
pub(crate) enum Registration {
    Visit(RegisterVisitRequest),
    Letter(RegisterLetterRequest),
}

/// What a registration is answered with.
pub(crate) enum Registered {
    Visit(Visit),
    Letter(Letter),
}

struct Job {
    principal: Principal,
    registration: Registration,
    reply: oneshot::Sender<Result<Registered, AppError>>,
}

/// The queue of registrations and whether a writer is working through it.
#[derive(Default)]
pub struct Group {
    state: Mutex<State>,
    /// Told of every registration queued, for a gathering writer.
    queued: Notify,
}

#[derive(Default)]
struct State {
    queue: Vec<Job>,
    writing: bool,
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, and a poisoned queue is still a consistent queue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// Waits until `expected` registrations are queued, no new one came for `quiet`, or `cap` has passed,
    /// whichever is first.
    async fn gather(&self, expected: usize, quiet: Duration, cap: Duration) {
        let deadline = Instant::now() + cap;
        let mut until = (Instant::now() + quiet).min(deadline);
        loop {
            // Taken before the count is read, so that a registration queued in between still wakes it.
            let next = self.queued.notified();
            if self.queued() >= expected || tokio::time::timeout_at(until, next).await.is_err() {
                return;
            }
            until = (Instant::now() + quiet).min(deadline);
        }
    }
}

impl IntakeApi {
    /// Writes `registration` of `principal` in the next group and waits for its own answer.
    pub(crate) async fn register_grouped(
        &self,
        principal: Principal,
        registration: Registration,
    ) -> Result<Registered, AppError> {
        let (reply, answer) = oneshot::channel();
        let start_writer = {
            let mut state = self.group.lock();
            state.queue.push(Job {
                principal,
                registration,
                reply,
            });
            !std::mem::replace(&mut state.writing, true)
        };
        // A permit is kept when nobody waits, so a gathering writer that has not started waiting yet
        // still sees it.
        self.group.queued.notify_one();
        if start_writer {
            // A task of its own, not this caller's future: a caller that hangs up must not roll back the
            // registrations of the others in its group.
            tokio::spawn(self.clone().write_groups());
        }
        // No answer: the group timed out or its writer panicked. It may or may not have committed; the
        // same request_id tells on a retry, so the caller is told to retry.
        answer
            .await
            .map_err(|_| AppError::Unavailable(sqlx::Error::PoolTimedOut))?
    }

    /// The writer: groups until the queue is empty.
    async fn write_groups(self) {
        let mut guard = Writing {
            group: &self.group,
            done: false,
        };
        let mut expected = None;
        loop {
            if let Some(expected) = expected {
                self.group.gather(expected, QUIET, GATHER).await;
            }
            let jobs: Vec<Job> = {
                let mut state = self.group.lock();
                // A caller that hung up before its turn was never answered and nothing of it is written:
                // it is dropped here rather than written for nobody (its retry writes it), so cancelled
                // calls cannot pile up work after their fair-share slot is given back.
                state.queue.retain(|job| !job.reply.is_closed());
                if state.queue.is_empty() {
                    state.writing = false;
                    guard.done = true;
                    return;
                }
                let n = state.queue.len().min(MAX_GROUP);
                state.queue.drain(..n).collect()
            };
            let size = jobs.len();
            let timed_out = tokio::time::timeout(GROUP_TIMEOUT, self.write_group(jobs))
                .await
                .is_err();
            expected = to_gather(size, self.group.queued());
            if timed_out {
                // The group's transaction is dropped (rolled back unless its COMMIT had gone through) and
                // its callers' answers with it: they get UNAVAILABLE and retry with their request_id.
                tracing::error!(
                    timeout_s = GROUP_TIMEOUT.as_secs(),
                    "a registration group timed out"
                );
            }
        }
    }

    /// One group: its transaction, then every member's answer.
    async fn write_group(&self, jobs: Vec<Job>) {
        let together = db::transaction(&self.pool, |mut tx| {
            let jobs = &jobs;
            async move {
                if let [job] = jobs.as_slice() {
                    // Alone: no savepoint, the transaction is the registration's, as it always was.
                    let registered = self.register_one(job, &mut tx).await?;
                    return Ok((vec![Ok(registered)], tx));
                }
                let mut answers = Vec::with_capacity(jobs.len());
                let mut rest = jobs.as_slice();
                while let Some(job) = rest.first() {
                    // Visits that follow each other are written set-based (`batch.rs`).
                    let run = rest
                        .iter()
                        .take_while(|j| matches!(j.registration, Registration::Visit(_)))
                        .count();
                    if run > 1 {
                        let items: Vec<Item<'_>> = rest[..run]
                            .iter()
                            .filter_map(|j| match &j.registration {
                                Registration::Visit(request) => Some(Item {
                                    principal: &j.principal,
                                    request,
                                }),
                                Registration::Letter(_) => None,
                            })
                            .collect();
                        let written = self.register_visits(&items, &mut tx).await?;
                        answers
                            .extend(written.into_iter().map(|a| a.result.map(Registered::Visit)));
                        rest = &rest[run..];
                        continue;
                    }
                    rest = &rest[1..];
                    let mut sp = sqlx::Connection::begin(&mut *tx).await?;
                    match self.register_one(job, &mut sp).await {
                        Ok(registered) => {
                            sp.commit().await?;
                            answers.push(Ok(registered));
                        }
                        // The group's locks were part of the race: the whole group runs again.
                        Err(AppError::LostRace) => return Err(AppError::LostRace),
                        Err(refused) => {
                            sp.rollback().await?;
                            answers.push(Err(refused));
                        }
                    }
                }
                Ok((answers, tx))
            }
        })
        .await;
        match together {
            Ok(answers) => {
                for (job, answer) in jobs.into_iter().zip(answers) {
                    // A caller that hung up is not waiting; its registration stands, and its request_id
                    // answers a retry.
                    let _ = job.reply.send(answer);
                }
            }
            Err(err) if jobs.len() == 1 => {
                if let Some(job) = jobs.into_iter().next() {
                    let _ = job.reply.send(Err(err));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, size = jobs.len(), "group failed whole, writing its registrations one by one");
                for job in jobs {
                    let alone = db::transaction(&self.pool, |mut tx| {
                        let job = &job;
                        async move {
                            let registered = self.register_one(job, &mut tx).await?;
                            Ok((registered, tx))
                        }
                    })
                    .await;
                    let _ = job.reply.send(alone);
                }
            }
        }
    }

    async fn register_one(
        &self,
        job: &Job,
        tx: &mut sqlx::PgConnection,
    ) -> Result<Registered, AppError> {
        Ok(match &job.registration {
            Registration::Visit(req) => {
                Registered::Visit(self.register_visit(&job.principal, req, tx).await?)
            }
            Registration::Letter(req) => {
                Registered::Letter(self.register_letter(&job.principal, req, tx).await?)
            }
        })
    }
}

/// How many registrations a writer gathers after a group of `size` that left `queued` behind: those in
/// flight when it ended, its members and those queued meanwhile. None after a group of one, so that a caller
/// alone is never delayed.
fn to_gather(size: usize, queued: usize) -> Option<usize> {
    (size > 1).then(|| (size + queued).min(MAX_GROUP))
}

/// Leaves the queue to the next caller if the writer ends without emptying it (a panic): the registrations
/// it held are answered with an error (their senders drop) and the next registration starts a new writer.
struct Writing<'a> {
    group: &'a Arc<Group>,
    done: bool,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut state = self.group.lock();
            state.queue.clear();
            state.writing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    // Tokio's timer counts whole milliseconds: the tests scale the production values up by ten.
    const QUIET: Duration = Duration::from_millis(10);
    const CAP: Duration = Duration::from_millis(40);
    const MS: Duration = Duration::from_millis(1);

    fn push(group: &Group) {
        let (reply, _answer) = oneshot::channel();
        group.lock().queue.push(Job {
            principal: Principal {
                id: uuid::Uuid::nil(),
                name: "clerk".into(),
                role: Role::CountyClerk,
                org_code: "510422".into(),
            },
            registration: Registration::Visit(RegisterVisitRequest::default()),
            reply,
        });
        group.queued.notify_one();
    }

    /// Queues one registration after each of `gaps`, from now.
    fn arrivals(group: &Arc<Group>, gaps: Vec<Duration>) {
        let group = group.clone();
        tokio::spawn(async move {
            for gap in gaps {
                tokio::time::sleep(gap).await;
                push(&group);
            }
        });
    }

    #[test]
    fn a_writer_gathers_only_after_a_group_of_several() {
        assert_eq!(to_gather(1, 0), None);
        assert_eq!(to_gather(1, 5), None);
        assert_eq!(to_gather(2, 0), Some(2));
        assert_eq!(to_gather(14, 2), Some(16));
        assert_eq!(to_gather(MAX_GROUP, 10), Some(MAX_GROUP));
    }

    #[tokio::test(start_paused = true)]
    async fn gathering_ends_at_once_when_the_expected_registrations_are_already_queued() {
        let group = Group::default();
        push(&group);
        push(&group);
        let start = Instant::now();
        group.gather(2, QUIET, CAP).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn gathering_ends_with_the_last_expected_registration() {
        let group = Arc::new(Group::default());
        push(&group);
        arrivals(&group, vec![3 * MS; 3]);
        let start = Instant::now();
        group.gather(4, QUIET, CAP).await;
        assert_eq!(start.elapsed(), 9 * MS);
        assert_eq!(group.queued(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn gathering_ends_when_nobody_comes_for_a_quiet_millisecond() {
        let group = Arc::new(Group::default());
        // Two come back quickly, the third much later.
        arrivals(&group, vec![2 * MS, 2 * MS, 30 * MS]);
        let start = Instant::now();
        group.gather(3, QUIET, CAP).await;
        assert_eq!(start.elapsed(), 4 * MS + QUIET);
        assert_eq!(group.queued(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn gathering_never_outlasts_its_cap_however_steadily_they_come() {
        let group = Arc::new(Group::default());
        arrivals(&group, vec![5 * MS; 20]);
        let start = Instant::now();
        group.gather(MAX_GROUP, QUIET, CAP).await;
        assert_eq!(start.elapsed(), CAP);
        assert!(group.queued() < MAX_GROUP);
    }
}
