//! Set-based registration of visits (issue 19): a run of `RegisterVisit`s (a push's operations, or a group
//! of concurrent desk registrations) written with one statement per table instead of ~24 statements and a
//! savepoint each.
//!
//! Why: with the commit shared (group commit) and the counter row no longer queued on, what is left of a
//! registration's cost is PostgreSQL executing its statements one after another on one connection
//! (docs/performance.md, "Where the time goes now"). The same rows inserted by one statement per table go
//! several times faster.
//!
//! The rules are exactly those of one registration alone (`IntakeApi::register_visit`, `commands`,
//! `matching`), applied to a *set* of registrations that cannot see each other: no two of a set share a
//! petitioner (by ID-number or name+phone hash), a `request_id`, or the case they join, and all are of one
//! register year. A set is therefore written as if its members came one after another, but with every read
//! and write for all of them at once. What a set cannot do, a registration does alone, in its turn, through
//! the one-by-one adapter in a savepoint:
//! - a desk's link to a case or its new-case override (`link_case_id`, `new_case_reason`);
//! - a registration that changes which registration of its case is the initial one (a late one, dated
//!   before the case's first: re-classification with its event, audit and feed rows);
//! - every member of a set whose set-based write fails for any reason but a lost race (the savepoint
//!   fallback: the set is rolled back and its members run one by one, each judged alone).
//!
//! Order is kept: a set ends before the first registration that would see one of its members (a shared
//! petitioner, the same case), which then starts the next set, after the first is written. The numbers are
//! taken for the whole set at once, in the set's order, after every refusal is known, so they stay
//! gap-free. Locks are taken in the order the one-by-one path takes them (idempotency claims, people by
//! hash, the register's counter, then the cases joined, by id). What was read before the writes is checked
//! again once they are under way (`write.rs`): the matches after the people are stored (storing a person
//! waits for a concurrent registration of the same one), and the joined cases' registrations under the
//! case locks. If another writer changed them meanwhile, the set loses the race and the caller's
//! transaction runs again; a member that would find an earlier member's person by its stored record (a
//! person known before, with other contacts) means the set is not one: it is rolled back and its members
//! are written one by one.

use std::collections::HashSet;

use sqlx::{Connection, PgConnection};
use uuid::Uuid;
use xinfang_proto::{
    input::intake::NewVisit,
    v1::{RegisterVisitRequest, Visit},
};

use super::{
    IntakeApi,
    model::{CaseClaim, Claim, parse},
    people::{self, Hashed},
    store::{MatchKeys, sets},
};
use crate::{auth::Principal, error::AppError, idempotency, kernel::numbers};

/// Registrations written by one set at most (a push commits 50 operations per transaction).
const MAX_SET: usize = 64;

/// A registration of the run: who registers it, and the request as it came.
pub(crate) struct Item<'a> {
    pub principal: &'a Principal,
    pub request: &'a RegisterVisitRequest,
}

/// How one registration of a run ended: its answer (or refusal), and whether it had been applied before
/// (answered from its first result).
pub(crate) struct Answer {
    pub result: Result<Visit, AppError>,
    pub duplicate: bool,
}

/// A registration of the run, checked.
struct Parsed<'a> {
    principal: &'a Principal,
    request: &'a RegisterVisitRequest,
    key: idempotency::Key,
    new: NewVisit,
    hashed: Vec<Hashed>,
    keys: MatchKeys,
    year: i32,
}

impl Parsed<'_> {
    /// What only the one-by-one path does.
    fn goes_alone(&self) -> bool {
        self.new.matter.link_case_id.is_some() || self.new.matter.new_case_reason.is_some()
    }

    /// What it looks for a repeat of.
    fn wanted(&self) -> sets::Wanted<'_> {
        sets::Wanted {
            id_hashes: &self.keys.id_hashes,
            contact_hashes: &self.keys.contact_hashes,
            category: &self.new.matter.category,
            problem_org: &self.new.matter.problem_org_code,
            accusation_against: self.new.matter.accusation_against(),
        }
    }

    fn match_hashes(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.keys.id_hashes.iter().chain(&self.keys.contact_hashes)
    }
}

/// Where a member of a set lands.
enum Landing {
    /// It opens a new case.
    Opens,
    /// It joins an existing case (no re-classification).
    Joins {
        case_id: Uuid,
        repeat: bool,
        not_accepted_again: bool,
    },
}

impl Landing {
    /// The existing case it joins.
    fn case(&self) -> Option<Uuid> {
        match self {
            Landing::Opens => None,
            Landing::Joins { case_id, .. } => Some(*case_id),
        }
    }
}

/// A registration a set writes.
struct Member {
    /// Its position in the run.
    at: usize,
    visit_id: Uuid,
    landing: Landing,
    claim: Claim,
    competent_rank: i32,
}

/// How far a set got in its candidates.
struct Reach {
    /// Candidates answered or written.
    taken: usize,
    /// The next candidate must be registered alone (it re-classifies its case).
    alone: bool,
}

mod plan;
mod write;

impl IntakeApi {
    /// Registers `items` in order, as many as possible in sets; one answer per item. Only a lost race fails
    /// the whole run (its transaction runs again).
    pub(crate) async fn register_visits(
        &self,
        items: &[Item<'_>],
        tx: &mut PgConnection,
    ) -> Result<Vec<Answer>, AppError> {
        let mut answers: Vec<Option<Answer>> = items.iter().map(|_| None).collect();
        let ring = self.ctx.keys.ring();
        let parsed: Vec<Option<Parsed<'_>>> = items
            .iter()
            .zip(answers.iter_mut())
            .map(|(item, answer)| {
                let clock = item.principal.role.clock();
                let req = item.request;
                match parse(&req.request_id, |v| NewVisit::parse(v, req, clock)) {
                    Ok((request_id, new)) => {
                        let hashed = people::hash(&ring, &new.petitioners);
                        let keys = people::match_keys(&new.petitioners, &hashed);
                        Some(Parsed {
                            principal: item.principal,
                            request: req,
                            key: idempotency::Key::new(
                                item.principal.id,
                                "RegisterVisit",
                                request_id,
                                req,
                            ),
                            year: numbers::register_year(new.visited_at),
                            new,
                            hashed,
                            keys,
                        })
                    }
                    Err(refused) => {
                        *answer = Some(Answer {
                            result: Err(refused.into()),
                            duplicate: false,
                        });
                        None
                    }
                }
            })
            .collect();
        let mut i = 0;
        while i < items.len() {
            let Some(first) = parsed[i].as_ref().filter(|_| answers[i].is_none()) else {
                i += 1;
                continue;
            };
            if first.goes_alone() {
                answers[i] = Some(self.alone(first, tx).await?);
                i += 1;
                continue;
            }
            let candidates = candidates(&parsed, &answers, i);
            let reach = self
                .write_set(&parsed, &candidates, &mut answers, tx)
                .await?;
            match candidates.get(reach.taken) {
                Some(&next) if reach.alone => {
                    if let Some(p) = &parsed[next] {
                        answers[next] = Some(self.alone(p, tx).await?);
                    }
                    i = next + 1;
                }
                Some(&next) => i = next,
                None => i = candidates.last().map_or(i, |last| last + 1),
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| Answer {
                    result: Err(AppError::Internal(anyhow::anyhow!(
                        "a registration of a set was left unanswered"
                    ))),
                    duplicate: false,
                })
            })
            .collect())
    }

    /// One registration by the one-by-one adapter, in a savepoint: kept when applied, undone alone when
    /// refused.
    async fn alone(&self, p: &Parsed<'_>, tx: &mut PgConnection) -> Result<Answer, AppError> {
        let duplicate = idempotency::answered::<Visit>(tx, std::slice::from_ref(&p.key))
            .await?
            .into_iter()
            .any(|a| a.is_some());
        let mut sp = tx.begin().await?;
        match self.register_visit(p.principal, p.request, &mut sp).await {
            Ok(visit) => {
                sp.commit().await?;
                Ok(Answer {
                    result: Ok(visit),
                    duplicate,
                })
            }
            Err(AppError::LostRace) => Err(AppError::LostRace),
            Err(refused) => {
                sp.rollback().await?;
                Ok(Answer {
                    result: Err(refused),
                    duplicate,
                })
            }
        }
    }

    /// Writes the longest prefix of the candidates that forms a set, in a savepoint. A prefix that turns out
    /// not to be a set, or a set that fails whole for any reason but a lost race (the savepoint fallback),
    /// is rolled back, and its candidates are registered one by one.
    async fn write_set(
        &self,
        parsed: &[Option<Parsed<'_>>],
        candidates: &[usize],
        answers: &mut [Option<Answer>],
        tx: &mut PgConnection,
    ) -> Result<Reach, AppError> {
        let mut sp = tx.begin().await?;
        match self.set(parsed, candidates, answers, &mut sp).await {
            Ok(Some((reach, written))) => {
                sp.commit().await?;
                for (at, answer) in written {
                    answers[at] = Some(answer);
                }
                return Ok(reach);
            }
            Err(AppError::LostRace) => return Err(AppError::LostRace),
            Ok(None) => {
                sp.rollback().await?;
                tracing::debug!(
                    size = candidates.len(),
                    "not a set (a member finds an earlier one's person); writing them one by one"
                );
            }
            Err(err) => {
                sp.rollback().await?;
                tracing::warn!(error = %err, size = candidates.len(),
                    "a set of registrations failed whole; writing them one by one");
            }
        }
        for &at in candidates {
            if let Some(p) = parsed[at].as_ref().filter(|_| answers[at].is_none()) {
                answers[at] = Some(self.alone(p, tx).await?);
            }
        }
        Ok(Reach {
            taken: candidates.len(),
            alone: false,
        })
    }
}

/// The next registrations from `from` that can form one set: up to the first that goes alone, is of
/// another year, or shares a petitioner or a request with an earlier one. Items already answered (refused
/// by their parse) are passed over.
fn candidates(
    parsed: &[Option<Parsed<'_>>],
    answers: &[Option<Answer>],
    from: usize,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut hashes: HashSet<&[u8]> = HashSet::new();
    let mut requests = HashSet::new();
    let mut year = None;
    for (at, p) in parsed.iter().enumerate().skip(from) {
        if out.len() == MAX_SET {
            break;
        }
        let Some(p) = p.as_ref().filter(|_| answers[at].is_none()) else {
            continue;
        };
        let shares = p.match_hashes().any(|h| hashes.contains(h.as_slice()));
        if p.goes_alone()
            || *year.get_or_insert(p.year) != p.year
            || shares
            || !requests.insert((p.key.principal_id, p.key.request_id))
        {
            break;
        }
        hashes.extend(p.match_hashes().map(Vec::as_slice));
        out.push(at);
    }
    out
}
