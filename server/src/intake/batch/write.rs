//! Writing a set: claims, people, numbers, cases, visits, feed and answers, one statement per table.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_proto::v1::Visit;

use super::{Answer, Landing, Member, Parsed, plan::Standing};
use crate::{
    auth::Principal,
    cases::{
        commands::{self as cases},
        store::{self as cases_store, NewEvent},
    },
    error::AppError,
    idempotency,
    intake::{
        IntakeApi, model, people,
        store::{Links, Listed, VisitRow, sets},
        view,
    },
    kernel::{
        feed::{self, FeedEntry},
        numbers,
    },
    scope::{self, Kind, Reader},
};

impl IntakeApi {
    /// The writes of a set: claims, people, numbers, cases, visits, feed, answers.
    pub(super) async fn write_members(
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
                    let case = cases::opening(
                        workflow,
                        &crate::intake::matching::opening(
                            &p.new.matter,
                            number,
                            p.new.visited_at,
                            p.principal.id,
                        ),
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
