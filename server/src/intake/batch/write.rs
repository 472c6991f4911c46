//! Writing a set: claims, people, numbers, cases, visits, feed and answers, one statement per table.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_proto::v1::Visit;

use super::{Answer, Landing, Member, Parsed, plan::Standing};
use crate::{
    auth::Principal,
    cases::{
        commands as cases,
        store::{self as cases_store, NewEvent},
    },
    error::AppError,
    idempotency,
    intake::{
        IntakeApi, commands,
        matching::{self, Joined},
        people,
        store::{Links, Listed, VisitRow, sets},
        view,
    },
    kernel::{
        feed::{self, FeedEntry},
        numbers,
    },
    scope::{self, Kind, Reader},
};

/// A member of the set being written, with its request.
type Kept<'m, 'p> = (&'m Member, &'p Parsed<'p>);

impl IntakeApi {
    /// The writes of a set: its claims, its people, a check that it is still a set, its numbers, the cases
    /// it joins checked under their locks, its rows, and the answers. `None` when its members turn out to
    /// see each other (`still_a_set`): the caller rolls it back and writes them one by one.
    pub(super) async fn write_members<'p>(
        &self,
        parsed: &'p [Option<Parsed<'p>>],
        members: &[Member],
        tx: &mut PgConnection,
    ) -> Result<Option<Vec<(usize, Answer)>>, AppError> {
        let (kept, mut out) = claim(parsed, members, tx).await?;
        if kept.is_empty() {
            return Ok(Some(out));
        }
        let listed = self.store_people(&kept, tx).await?;
        if !still_a_set(&kept, &listed, tx).await? {
            return Ok(None);
        }
        // The register's counter is held from here to the commit.
        let numbers = self.numbers(&kept, tx).await?;
        self.check_joined(&kept, tx).await?;
        let rows = self.write_rows(&kept, &listed, numbers, tx).await?;
        out.extend(self.answers(&kept, rows, tx).await?);
        Ok(Some(out))
    }

    /// The set's numbers, in its order.
    async fn numbers(
        &self,
        kept: &[Kept<'_, '_>],
        tx: &mut PgConnection,
    ) -> Result<Vec<String>, AppError> {
        let year = kept[0].1.year;
        let count = kept.len() as i64;
        let last = numbers::next_serials(tx, numbers::REGISTER_PREFIX, year, count).await?;
        Ok((0..count)
            .map(|k| {
                numbers::registration_number(
                    numbers::REGISTER_PREFIX,
                    &self.ctx.config.county_code,
                    year,
                    last - count + 1 + k,
                )
            })
            .collect())
    }

    /// The cases joined, locked, must stand as they were read: the same repeat flag and 不再受理 for each
    /// member joining one, and no re-classification.
    async fn check_joined(
        &self,
        kept: &[Kept<'_, '_>],
        tx: &mut PgConnection,
    ) -> Result<(), AppError> {
        let mut joined: Vec<Uuid> = kept.iter().filter_map(|(m, _)| m.landing.case()).collect();
        joined.sort_unstable();
        let standing = Standing::read(tx, &joined, true).await?;
        for (m, p) in kept {
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
        Ok(())
    }

    /// The set's cases, their petitioners and events, its visits and their people, and the feed, one
    /// statement each. Returns the visits as stored, by id.
    async fn write_rows(
        &self,
        kept: &[Kept<'_, '_>],
        listed: &[Vec<Listed>],
        numbers: Vec<String>,
        tx: &mut PgConnection,
    ) -> Result<HashMap<Uuid, VisitRow>, AppError> {
        let workflow = &self.ctx.config.workflow;
        let mut opened = Vec::new();
        let mut joined = Vec::with_capacity(kept.len());
        for ((m, p), number) in kept.iter().zip(&numbers) {
            joined.push(match m.landing {
                Landing::Opens => {
                    let case = cases::opening(
                        workflow,
                        &matching::opening(&p.new.matter, number, p.new.visited_at, p.principal.id),
                    );
                    let case_id = case.id;
                    opened.push(case);
                    Joined {
                        case_id,
                        repeat: false,
                        not_accepted_again: false,
                    }
                }
                Landing::Joins {
                    case_id,
                    repeat,
                    not_accepted_again,
                } => Joined {
                    case_id,
                    repeat,
                    not_accepted_again,
                },
            });
        }
        cases_store::insert_many(tx, &opened).await?;
        let pairs: Vec<(Uuid, Uuid)> = listed
            .iter()
            .zip(&joined)
            .flat_map(|(people, j)| {
                people
                    .iter()
                    .filter(|l| !l.proxy)
                    .map(move |l| (j.case_id, l.petitioner_id))
            })
            .collect();
        sets::link_case_petitioners(tx, &pairs).await?;
        let events: Vec<NewEvent<'_>> = kept
            .iter()
            .zip(&numbers)
            .zip(&joined)
            .map(|(((m, p), number), j)| {
                let (action, after) = match m.landing {
                    Landing::Opens => ("registered", None),
                    Landing::Joins { .. } => matching::joined_event(j.repeat, j.not_accepted_again),
                };
                NewEvent {
                    case_id: j.case_id,
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
        let rows: Vec<VisitRow> = kept
            .iter()
            .zip(numbers)
            .zip(&joined)
            .map(|(((m, p), number), j)| {
                commands::visit_row(
                    &self.ctx,
                    p.principal,
                    &p.new,
                    m.visit_id,
                    number,
                    j,
                    m.competent_rank,
                    &m.claim,
                )
            })
            .collect();
        let stored = sets::insert_visits(tx, &rows).await?;
        let links: Vec<(Uuid, &[Listed])> = kept
            .iter()
            .zip(listed)
            .map(|((m, _), l)| (m.visit_id, l.as_slice()))
            .collect();
        sets::link_visit_petitioners(tx, &links).await?;
        // The case's row first, then the visit's, as one registration alone feeds them.
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
        Ok(stored.into_iter().map(|r| (r.id, r)).collect())
    }

    /// Each member's answer: its people as its principal sees them (a group holds several principals, and
    /// every full showing is audited for its own), the cases it reads; the first answers stored, masked.
    async fn answers(
        &self,
        kept: &[Kept<'_, '_>],
        mut stored: HashMap<Uuid, VisitRow>,
        tx: &mut PgConnection,
    ) -> Result<Vec<(usize, Answer)>, AppError> {
        let owners: Vec<(Uuid, &Principal)> = kept
            .iter()
            .map(|(m, p)| (m.visit_id, p.principal))
            .collect();
        let mut people_of =
            people::written_by(tx, &self.ctx.keys, Links::Visit, &owners, "RegisterVisit").await?;
        let mut cases: Vec<Uuid> = stored.values().map(|v| v.case_id).collect();
        cases.sort_unstable();
        cases.dedup();
        let mut readable_by: Vec<(Reader, HashSet<Uuid>)> = Vec::new();
        for (_, p) in kept {
            let reader = Reader::of(p.principal);
            if readable_by.iter().any(|(r, _)| *r == reader) {
                continue;
            }
            let readable = if reader.reads_everything() {
                cases.iter().copied().collect()
            } else {
                scope::store::readable(tx, &reader, Kind::Case, &cases).await?
            };
            readable_by.push((reader, readable));
        }
        let mut out = Vec::with_capacity(kept.len());
        let mut saved_keys = Vec::with_capacity(kept.len());
        let mut first_answers = Vec::with_capacity(kept.len());
        for (m, p) in kept {
            let row = stored.remove(&m.visit_id).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("a visit of the set not stored"))
            })?;
            let (masked, shown) = people_of.remove(&m.visit_id).unwrap_or_default();
            let reader = Reader::of(p.principal);
            let empty = HashSet::new();
            let readable = readable_by
                .iter()
                .find(|(r, _)| *r == reader)
                .map_or(&empty, |(_, set)| set);
            tracing::info!(visit = %row.id, case = %row.case_id, repeat = row.repeat,
                not_accepted_again = row.not_accepted_again, collective = row.collective,
                leapfrog = row.leapfrog, "visit registered");
            saved_keys.push(&p.key);
            first_answers.push(view::visit(&row, masked, readable));
            out.push((
                m.at,
                Answer {
                    result: Ok(view::visit(&row, shown, readable)),
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
        kept: &[Kept<'_, '_>],
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

/// Claims the members' request ids. One a concurrent transaction applied since it was read is answered
/// from that one's result and left out. Returns the members kept and those answers.
async fn claim<'m, 'p>(
    parsed: &'p [Option<Parsed<'p>>],
    members: &'m [Member],
    tx: &mut PgConnection,
) -> Result<(Vec<Kept<'m, 'p>>, Vec<(usize, Answer)>), AppError> {
    let mut with: Vec<Kept<'m, 'p>> = Vec::with_capacity(members.len());
    for m in members {
        let p = parsed[m.at].as_ref().ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("a set member without its request"))
        })?;
        with.push((m, p));
    }
    let keys: Vec<idempotency::Key> = with.iter().map(|(_, p)| p.key.clone()).collect();
    let claimed = idempotency::claim_all(tx, &keys).await?;
    let taken: Vec<idempotency::Key> = keys
        .into_iter()
        .zip(&claimed)
        .filter(|(_, c)| !**c)
        .map(|(k, _)| k)
        .collect();
    let mut earlier = idempotency::answered::<Visit>(tx, &taken)
        .await?
        .into_iter();
    let mut kept = Vec::with_capacity(with.len());
    let mut out = Vec::new();
    for (member, claimed) in with.into_iter().zip(claimed) {
        if claimed {
            kept.push(member);
            continue;
        }
        let result = earlier.next().flatten().unwrap_or_else(|| {
            Err(AppError::Internal(anyhow::anyhow!(
                "an idempotency key taken but not found"
            )))
        });
        out.push((
            member.0.at,
            Answer {
                result,
                duplicate: true,
            },
        ));
    }
    Ok((kept, out))
}

/// Whether the set, its people now stored, is still one whose members cannot see each other:
/// - the matches were looked for before the people were stored, and storing a person waits for a
///   concurrent registration storing the same one (the unique ID hash) until it commits; the one-by-one
///   path looks for matches after that wait and so finds the case the other opened. Looked for again, a
///   match that changed means another writer registered one of these people meanwhile: a lost race, and
///   the transaction runs again;
/// - one by one, a registration finds the people an earlier one just linked to its case by their stored
///   records, whose name and phone may be other than the earlier request's (a person known before, now
///   with a new phone): the set's requests share no hash, yet the later one would join the earlier one's
///   case. A set cannot see that: it is not a set (`false`), and its members are written one by one.
async fn still_a_set(
    kept: &[Kept<'_, '_>],
    listed: &[Vec<Listed>],
    tx: &mut PgConnection,
) -> Result<bool, AppError> {
    let wanted: Vec<sets::Wanted<'_>> = kept.iter().map(|(_, p)| p.wanted()).collect();
    let found = sets::find_repeat_cases(tx, &wanted).await?;
    for (k, (m, _)) in kept.iter().enumerate() {
        if found.get(&k).map(|c| c.id) != m.landing.case() {
            return Err(AppError::LostRace);
        }
    }
    for (k, person) in sets::people_found(tx, &wanted).await? {
        let matter = &kept[k].1.new.matter;
        let seen = kept[..k].iter().zip(listed).any(|((_, p), people)| {
            p.new.matter.category == matter.category
                && p.new.matter.problem_org_code == matter.problem_org_code
                && people.iter().any(|l| !l.proxy && l.petitioner_id == person)
        });
        if seen {
            return Ok(false);
        }
    }
    Ok(true)
}
