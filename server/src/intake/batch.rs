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
//! hash, the register's counter, then the cases joined, by id), and the cases' registrations read before
//! the counter are read again under the case locks: if another writer changed them meanwhile, the set loses
//! the race and the caller's transaction runs again.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;
use xinfang_proto::{
    input::intake::NewVisit,
    v1::{RegisterVisitRequest, Visit},
};

use super::{
    IntakeApi, matching,
    model::{self, CaseClaim, Claim, Dated},
    people::{self, Hashed},
    service::parse,
    store::{Links, Listed, MatchKeys, Registration, VisitRow, sets},
    view,
};
use crate::{
    auth::Principal,
    cases::{
        commands::{self as cases, Opening},
        store::{self as cases_store, CaseRow, NewEvent},
    },
    error::AppError,
    idempotency,
    kernel::{
        feed::{self, FeedEntry},
        numbers, time,
    },
    org::store as org_store,
    scope::{self, Kind, Reader},
};

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
                            result: Err(refused),
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

    /// Writes the longest prefix of the candidates that forms a set, in a savepoint. A set that fails
    /// whole for any reason but a lost race (the savepoint fallback) is rolled back, and its candidates are
    /// registered one by one.
    async fn write_set(
        &self,
        parsed: &[Option<Parsed<'_>>],
        candidates: &[usize],
        answers: &mut [Option<Answer>],
        tx: &mut PgConnection,
    ) -> Result<Reach, AppError> {
        let mut sp = tx.begin().await?;
        match self.set(parsed, candidates, answers, &mut sp).await {
            Ok((reach, written)) => {
                sp.commit().await?;
                for (at, answer) in written {
                    answers[at] = Some(answer);
                }
                Ok(reach)
            }
            Err(AppError::LostRace) => Err(AppError::LostRace),
            Err(err) => {
                sp.rollback().await?;
                tracing::warn!(error = %err, size = candidates.len(),
                    "a set of registrations failed whole; writing them one by one");
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
    }

    /// Answers what the candidates' reads decide (duplicates, refusals), then writes the longest prefix of
    /// the rest that forms a set; returns how far it got and the answers of what it wrote.
    async fn set(
        &self,
        parsed: &[Option<Parsed<'_>>],
        candidates: &[usize],
        answers: &mut [Option<Answer>],
        tx: &mut PgConnection,
    ) -> Result<(Reach, Vec<(usize, Answer)>), AppError> {
        let get = |at: usize| parsed[at].as_ref();
        let live: Vec<&Parsed<'_>> = candidates.iter().filter_map(|&at| get(at)).collect();
        // Applied before: answered from the first result, as the one-by-one claim answers.
        let keys: Vec<idempotency::Key> = live.iter().map(|p| p.key.clone()).collect();
        let stored = idempotency::answered::<Visit>(tx, &keys).await?;
        let mut open: Vec<usize> = Vec::new();
        for (&at, answered) in candidates.iter().zip(stored) {
            match answered {
                Some(result) => {
                    answers[at] = Some(Answer {
                        result,
                        duplicate: true,
                    })
                }
                None => open.push(at),
            }
        }
        // The references, for all at once.
        let mut categories: Vec<&str> = Vec::new();
        let mut codes: Vec<&str> = Vec::new();
        for p in open.iter().filter_map(|&at| get(at)) {
            categories.push(&p.new.matter.category);
            codes.push(&p.new.matter.problem_org_code);
            codes.extend(p.new.matter.accused_org_code.as_deref());
        }
        categories.sort_unstable();
        categories.dedup();
        codes.sort_unstable();
        codes.dedup();
        let known = sets::categories_in(tx, &categories).await?;
        let orgs: HashMap<String, org_store::OrgUnitRow> = org_store::get_many(tx, &codes)
            .await?
            .into_iter()
            .map(|o| (o.code.clone(), o))
            .collect();
        let mut valid: Vec<(usize, i32)> = Vec::new();
        for &at in &open {
            let Some(p) = get(at) else { continue };
            let m = &p.new.matter;
            let (v, rank) = matching::check_refs(
                "visit.matter",
                known.contains(&m.category),
                orgs.get(&m.problem_org_code),
                m.accused_org_code.as_ref().map(|a| orgs.get(a)),
            );
            if v.is_empty() {
                valid.push((at, rank));
            } else {
                answers[at] = Some(Answer {
                    result: Err(v.into()),
                    duplicate: false,
                });
            }
        }
        // The cases they repeat, and those cases as they stand (read without locks: checked again under
        // them).
        let wanted: Vec<sets::Wanted<'_>> = valid
            .iter()
            .filter_map(|&(at, _)| get(at))
            .map(Parsed::wanted)
            .collect();
        let found = sets::find_repeat_cases(tx, &wanted).await?;
        let mut case_ids: Vec<Uuid> = found.values().map(|c| c.id).collect();
        case_ids.sort_unstable();
        case_ids.dedup();
        let standing = Standing::read(tx, &case_ids, false).await?;
        let mut members = Vec::new();
        let mut joined = HashSet::new();
        let mut reach = Reach {
            taken: candidates.len(),
            alone: false,
        };
        for (k, &(at, competent_rank)) in valid.iter().enumerate() {
            let Some(p) = get(at) else { continue };
            let visit_id = Uuid::now_v7();
            let (landing, claim) = match found.get(&k) {
                None => (Landing::Opens, p.new.matter.claim(None)),
                Some(case) => {
                    let stop = |alone| Reach {
                        taken: candidates.iter().position(|&c| c == at).unwrap_or(0),
                        alone,
                    };
                    if !joined.insert(case.id) {
                        // It would see the member joining before it: the next set.
                        reach = stop(false);
                        break;
                    }
                    let Some(landing) = standing.landing(&self.ctx, case.id, visit_id, &p.new)
                    else {
                        reach = stop(true);
                        break;
                    };
                    let existing = Claim {
                        claim_type: case.claim_type,
                        accused_org_code: case.accused_org_code.clone(),
                    };
                    (landing, p.new.matter.claim(Some(&existing)))
                }
            };
            members.push(Member {
                at,
                visit_id,
                landing,
                claim,
                competent_rank,
            });
        }
        // Candidates after the stop were answered early only if the reads decided them (a duplicate or a
        // refusal), which nothing before them can change.
        if members.is_empty() {
            return Ok((reach, Vec::new()));
        }
        let written = self.write_members(parsed, &members, tx).await?;
        Ok((reach, written))
    }

    /// The writes of a set: claims, people, numbers, cases, visits, feed, answers.
    async fn write_members(
        &self,
        parsed: &[Option<Parsed<'_>>],
        members: &[Member],
        tx: &mut PgConnection,
    ) -> Result<Vec<(usize, Answer)>, AppError> {
        let of = |m: &Member| {
            parsed[m.at].as_ref().ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("a set member without its request"))
            })
        };
        let mut out = Vec::new();
        // Claimed by a concurrent transaction since it was read: answered from that one's result.
        let keys: Vec<idempotency::Key> = members
            .iter()
            .map(|m| of(m).map(|p| p.key.clone()))
            .collect::<Result<_, _>>()?;
        let claimed = idempotency::claim_all(tx, &keys).await?;
        let taken: Vec<idempotency::Key> = keys
            .iter()
            .zip(&claimed)
            .filter(|(_, c)| !**c)
            .map(|(k, _)| k.clone())
            .collect();
        let mut earlier = idempotency::answered::<Visit>(tx, &taken)
            .await?
            .into_iter();
        let mut kept: Vec<(&Member, &Parsed<'_>)> = Vec::new();
        for (m, claimed) in members.iter().zip(claimed) {
            if claimed {
                kept.push((m, of(m)?));
            } else if let Some(Some(result)) = earlier.next() {
                out.push((
                    m.at,
                    Answer {
                        result,
                        duplicate: true,
                    },
                ));
            }
        }
        if kept.is_empty() {
            return Ok(out);
        }
        let listed = self.store_people(&kept, tx).await?;
        // One by one, a registration finds the people an earlier one just linked to its case by their
        // stored records, whose name and phone may be other than the earlier request's (a person known
        // before, now with a new phone): the set's requests share no hash, yet the later one would join
        // the earlier one's case. A set cannot see that; it is written one by one instead.
        let wanted: Vec<sets::Wanted<'_>> = kept.iter().map(|(_, p)| p.wanted()).collect();
        for (k, person) in sets::people_found(tx, &wanted).await? {
            let matter = &kept[k].1.new.matter;
            let seen = kept[..k].iter().zip(&listed).any(|((_, p), people)| {
                p.new.matter.category == matter.category
                    && p.new.matter.problem_org_code == matter.problem_org_code
                    && people.iter().any(|l| !l.proxy && l.petitioner_id == person)
            });
            if seen {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "a member of the set finds the person of an earlier one by the stored record"
                )));
            }
        }
        // The numbers of the set, in its order; the register's counter is held from here to the commit.
        let year = kept[0].1.year;
        let count = kept.len() as i64;
        let last = numbers::next_serials(tx, numbers::REGISTER_PREFIX, year, count).await?;
        let number = |k: usize| {
            numbers::registration_number(
                numbers::REGISTER_PREFIX,
                &self.ctx.config.county_code,
                year,
                last - count + 1 + k as i64,
            )
        };
        // The cases joined, locked, must stand as they were read.
        let mut joined: Vec<Uuid> = kept
            .iter()
            .filter_map(|(m, _)| match m.landing {
                Landing::Joins { case_id, .. } => Some(case_id),
                Landing::Opens => None,
            })
            .collect();
        joined.sort_unstable();
        // The matches were looked for before the people were stored. Storing a person waits for a concurrent
        // registration storing the same one (the unique ID hash) until it commits; the one-by-one path looks
        // for matches after that wait and so finds the case the other opened. Looked for again here, after
        // it, a match that changed means another writer registered one of these people meanwhile.
        let found = sets::find_repeat_cases(tx, &wanted).await?;
        for (k, (m, _)) in kept.iter().enumerate() {
            let now = found.get(&k).map(|c| c.id);
            let planned = match m.landing {
                Landing::Opens => None,
                Landing::Joins { case_id, .. } => Some(case_id),
            };
            if now != planned {
                return Err(AppError::LostRace);
            }
        }
        let standing = Standing::read(tx, &joined, true).await?;
        for (m, p) in &kept {
            if let Landing::Joins {
                case_id,
                repeat,
                not_accepted_again,
            } = m.landing
            {
                match standing.landing(&self.ctx, case_id, m.visit_id, &p.new) {
                    Some(Landing::Joins {
                        repeat: r,
                        not_accepted_again: n,
                        ..
                    }) if r == repeat && n == not_accepted_again => {}
                    _ => return Err(AppError::LostRace),
                }
            }
        }
        let numbers: Vec<String> = (0..kept.len()).map(number).collect();
        let workflow = &self.ctx.config.workflow;
        let mut opened = Vec::new();
        let mut case_of = Vec::with_capacity(kept.len());
        for ((m, p), number) in kept.iter().zip(&numbers) {
            match m.landing {
                Landing::Opens => {
                    let matter = &p.new.matter;
                    let case = cases::opening(
                        workflow,
                        &Opening {
                            number,
                            category: &matter.category,
                            problem_org: &matter.problem_org_code,
                            content: &matter.content,
                            demands: &matter.demands,
                            claim_type: matter.claim_type,
                            accused_org_code: matter.accused_org_code.as_deref(),
                            registered_at: p.new.visited_at,
                            opened_by: p.principal.id,
                        },
                    );
                    case_of.push(case.id);
                    opened.push(case);
                }
                Landing::Joins { case_id, .. } => case_of.push(case_id),
            }
        }
        cases_store::insert_many(tx, &opened).await?;
        let pairs: Vec<(Uuid, Uuid)> = kept
            .iter()
            .zip(&listed)
            .zip(&case_of)
            .flat_map(|((_, people), case)| {
                people
                    .iter()
                    .filter(|l| !l.proxy)
                    .map(move |l| (*case, l.petitioner_id))
            })
            .collect();
        sets::link_case_petitioners(tx, &pairs).await?;
        let events: Vec<NewEvent<'_>> = kept
            .iter()
            .zip(&numbers)
            .zip(&case_of)
            .map(|(((m, p), number), case_id)| {
                let (action, after) = match m.landing {
                    Landing::Opens => ("registered", None),
                    Landing::Joins {
                        not_accepted_again: true,
                        ..
                    } => (
                        "repeat_linked",
                        Some(serde_json::json!({ "not_accepted_again": true })),
                    ),
                    Landing::Joins { repeat: true, .. } => ("repeat_linked", None),
                    Landing::Joins { .. } => ("initial_linked", None),
                };
                NewEvent {
                    case_id: *case_id,
                    action,
                    actor: p.principal.id,
                    occurred_at: p.new.visited_at,
                    reason: number,
                    before: None,
                    after,
                }
            })
            .collect();
        cases_store::insert_events(tx, &events).await?;
        let config = &self.ctx.config;
        let rows: Vec<VisitRow> = kept
            .iter()
            .zip(numbers)
            .zip(&case_of)
            .map(|(((m, p), number), case_id)| {
                let new = &p.new;
                let (repeat, not_accepted_again) = match m.landing {
                    Landing::Opens => (false, false),
                    Landing::Joins {
                        repeat,
                        not_accepted_again,
                        ..
                    } => (repeat, not_accepted_again),
                };
                VisitRow {
                    id: m.visit_id,
                    number,
                    case_id: *case_id,
                    visited_at: new.visited_at,
                    level: model::level_to_db(new.level).to_owned(),
                    non_reception_place: new.non_reception_place,
                    place_name: new.place_name.clone(),
                    headcount: new.headcount as i32,
                    collective: model::is_collective(new.headcount, config.collective_threshold),
                    large_scale: model::is_large_scale(new.headcount, config.large_scale_threshold),
                    repeat,
                    not_accepted_again,
                    leapfrog: model::is_leapfrog(new.level, m.competent_rank),
                    category_code: new.matter.category.clone(),
                    problem_org_code: new.matter.problem_org_code.clone(),
                    content: new.matter.content.clone(),
                    demands: new.matter.demands.clone(),
                    registered_by: p.principal.id,
                    recorded_at: Utc::now(),
                    claim_type: m.claim.claim_type,
                    accused_org_code: m.claim.accused_org_code.clone(),
                }
            })
            .collect();
        let mut stored: HashMap<Uuid, VisitRow> = sets::insert_visits(tx, &rows)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let links: Vec<(Uuid, &[Listed])> = kept
            .iter()
            .zip(&listed)
            .map(|((m, _), l)| (m.visit_id, l.as_slice()))
            .collect();
        sets::link_visit_petitioners(tx, &links).await?;
        let entries: Vec<FeedEntry<'_>> = kept
            .iter()
            .zip(&rows)
            .flat_map(|((_, p), row)| {
                [
                    FeedEntry {
                        kind: "case",
                        entity_id: row.case_id,
                        org_code: None,
                        previous_org_code: None,
                        owner: None,
                        reason: "",
                    },
                    FeedEntry {
                        kind: "visit",
                        entity_id: row.id,
                        org_code: row.feed_org(),
                        previous_org_code: None,
                        owner: Some(p.principal.id),
                        reason: "",
                    },
                ]
            })
            .collect();
        feed::append_many(tx, &entries).await?;
        // The answers: people as each principal sees them (a group holds several), the cases each reads.
        let owners: Vec<(Uuid, &Principal)> = kept
            .iter()
            .map(|(m, p)| (m.visit_id, p.principal))
            .collect();
        let mut people_of =
            people::written_by(tx, &self.ctx.keys, Links::Visit, &owners, "RegisterVisit").await?;
        let mut readers: Vec<Reader> = Vec::new();
        for (_, p) in &kept {
            let reader = Reader::of(p.principal);
            if !readers.contains(&reader) {
                readers.push(reader);
            }
        }
        let mut every_case: Vec<Uuid> = case_of.clone();
        every_case.sort_unstable();
        every_case.dedup();
        let mut readable_by: Vec<(Reader, HashSet<Uuid>)> = Vec::new();
        for reader in readers {
            let readable = if reader.reads_everything() {
                every_case.iter().copied().collect()
            } else {
                scope::store::readable(tx, &reader, Kind::Case, &every_case).await?
            };
            readable_by.push((reader, readable));
        }
        let mut saved_keys = Vec::with_capacity(kept.len());
        let mut first_answers = Vec::with_capacity(kept.len());
        for (m, p) in &kept {
            let row = stored.remove(&m.visit_id).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("a visit of the set not stored"))
            })?;
            let (masked, shown) = people_of.remove(&m.visit_id).unwrap_or_default();
            let reader = Reader::of(p.principal);
            let readable = readable_by
                .iter()
                .find(|(r, _)| *r == reader)
                .map(|(_, set)| set.clone())
                .unwrap_or_default();
            tracing::info!(visit = %row.id, case = %row.case_id, repeat = row.repeat,
                not_accepted_again = row.not_accepted_again, collective = row.collective,
                leapfrog = row.leapfrog, "visit registered");
            saved_keys.push(&p.key);
            first_answers.push(view::visit(&row, masked, &readable));
            out.push((
                m.at,
                Answer {
                    result: Ok(view::visit(&row, shown, &readable)),
                    duplicate: false,
                },
            ));
        }
        idempotency::save_all(tx, &saved_keys, &first_answers).await?;
        Ok(out)
    }

    /// Seals and stores the people of a set in one statement, in one global order (by ID hash, as every
    /// registration takes them); returns each member's people as listed.
    async fn store_people(
        &self,
        kept: &[(&Member, &Parsed<'_>)],
        tx: &mut PgConnection,
    ) -> Result<Vec<Vec<Listed>>, AppError> {
        let ring = self.ctx.keys.ring();
        // (member, person) in the order they are inserted; one row per distinct ID hash.
        let mut order: Vec<(usize, usize)> = kept
            .iter()
            .enumerate()
            .flat_map(|(k, (_, p))| (0..p.new.petitioners.len()).map(move |i| (k, i)))
            .collect();
        let hash = |&(k, i): &(usize, usize)| kept[k].1.hashed[i].id.as_deref();
        order.sort_by(|a, b| hash(a).cmp(&hash(b)));
        let mut rows = Vec::new();
        let mut row_of: HashMap<(usize, usize), usize> = HashMap::new();
        let mut by_hash: HashMap<&[u8], usize> = HashMap::new();
        for &(k, i) in &order {
            let p = kept[k].1;
            let h = &p.hashed[i];
            if let Some(existing) = h.id.as_deref().and_then(|id| by_hash.get(id)) {
                row_of.insert((k, i), *existing);
                continue;
            }
            if let Some(id) = h.id.as_deref() {
                by_hash.insert(id, rows.len());
            }
            row_of.insert((k, i), rows.len());
            rows.push(people::sealed(&ring, &p.new.petitioners[i], h)?);
        }
        let ids =
            people::stored_or_retry(&self.ctx.keys, sets::upsert_petitioners(tx, &rows).await)?;
        kept.iter()
            .enumerate()
            .map(|(k, (_, p))| {
                p.new
                    .petitioners
                    .iter()
                    .enumerate()
                    .map(|(i, person)| {
                        let id =
                            row_of
                                .get(&(k, i))
                                .and_then(|r| ids.get(*r))
                                .ok_or_else(|| {
                                    AppError::Internal(anyhow::anyhow!(
                                        "a person of the set not stored"
                                    ))
                                })?;
                        Ok(Listed {
                            petitioner_id: *id,
                            representative: person.representative,
                            proxy: person.proxy,
                        })
                    })
                    .collect()
            })
            .collect()
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

/// The cases a set joins as they stand: their rows and registrations.
struct Standing {
    cases: HashMap<Uuid, CaseRow>,
    registrations: HashMap<Uuid, Vec<Registration>>,
}

impl Standing {
    async fn read(tx: &mut PgConnection, ids: &[Uuid], lock: bool) -> Result<Self, AppError> {
        let cases = cases_store::get_many(tx, ids, lock)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let registrations = sets::registrations_of_cases(tx, ids).await?;
        Ok(Self {
            cases,
            registrations,
        })
    }

    /// How `new` (to be the visit `visit_id`) joins the case `case_id`: repeat or initial, 不再受理 when the
    /// case was final on its date (`matching::join_case`). `None` when it would re-classify the case's
    /// registrations (it goes alone) or the case is gone.
    fn landing(
        &self,
        ctx: &super::Ctx,
        case_id: Uuid,
        visit_id: Uuid,
        new: &NewVisit,
    ) -> Option<Landing> {
        let case = self.cases.get(&case_id)?;
        let registrations = self.registrations.get(&case_id)?;
        let not_accepted_again = model::final_on(
            &case.record(),
            &ctx.config.workflow.facts(new.visited_at),
            time::local_date(new.visited_at),
        );
        let (repeat, changed) = matching::flags(
            registrations,
            Some(Dated {
                at: new.visited_at,
                id: visit_id,
                not_accepted_again,
            }),
        );
        changed.is_empty().then_some(Landing::Joins {
            case_id,
            repeat,
            not_accepted_again,
        })
    }
}
