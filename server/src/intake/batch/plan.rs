//! Reading a set: what the candidates' reads decide (duplicates, refusals, the cases they repeat) and how
//! far a set reaches before a member would see another.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_proto::{input::intake::NewVisit, v1::Visit};

use super::{Answer, Landing, Member, Parsed, Reach};
use crate::{
    cases::store::{self as cases_store, CaseRow},
    error::AppError,
    idempotency,
    intake::{
        IntakeApi, matching,
        model::{self, CaseClaim, Claim, Dated},
        store::{Registration, sets},
    },
    kernel::time,
    org::store as org_store,
};

impl IntakeApi {
    /// Answers what the candidates' reads decide (duplicates, refusals), then writes the longest prefix of
    /// the rest that forms a set; returns how far it got and the answers of what it wrote, or `None` when
    /// that prefix turned out not to be a set (`write_members`).
    pub(super) async fn set(
        &self,
        parsed: &[Option<Parsed<'_>>],
        candidates: &[usize],
        answers: &mut [Option<Answer>],
        tx: &mut PgConnection,
    ) -> Result<Option<(Reach, Vec<(usize, Answer)>)>, AppError> {
        let get = |at: usize| parsed[at].as_ref();
        let live: Vec<(usize, &Parsed<'_>)> = candidates
            .iter()
            .filter_map(|&at| get(at).map(|p| (at, p)))
            .collect();
        // Applied before: answered from the first result, as the one-by-one claim answers.
        let keys: Vec<idempotency::Key> = live.iter().map(|(_, p)| p.key.clone()).collect();
        let stored = idempotency::answered::<Visit>(tx, &keys).await?;
        let mut open: Vec<usize> = Vec::new();
        for (&(at, _), answered) in live.iter().zip(stored) {
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
            return Ok(Some((reach, Vec::new())));
        }
        let written = self.write_members(parsed, &members, tx).await?;
        Ok(written.map(|written| (reach, written)))
    }
}

/// The cases a set joins as they stand: their rows and the registrations that decide their flags.
pub(super) struct Standing {
    cases: HashMap<Uuid, CaseRow>,
    /// Of each case, not all its registrations: those [`matching::flags`] needs (its "deciders").
    deciders: HashMap<Uuid, Vec<Registration>>,
}

impl Standing {
    pub(super) async fn read(
        tx: &mut PgConnection,
        ids: &[Uuid],
        lock: bool,
    ) -> Result<Self, AppError> {
        let cases = cases_store::get_many(tx, ids, lock)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let deciders = sets::deciders_of_cases(tx, ids).await?;
        Ok(Self { cases, deciders })
    }

    /// How `new` (to be the visit `visit_id`) joins the case `case_id`: repeat or initial, 不再受理 when the
    /// case was final on its date (`matching::join_case`). `None` when it would re-classify the case's
    /// registrations (it goes alone) or the case is gone.
    pub(super) fn landing(
        &self,
        ctx: &crate::intake::Ctx,
        case_id: Uuid,
        visit_id: Uuid,
        new: &NewVisit,
    ) -> Option<Landing> {
        let case = self.cases.get(&case_id)?;
        let deciders = self.deciders.get(&case_id)?;
        let not_accepted_again = model::final_on(
            &case.record(),
            &ctx.config.workflow.facts(new.visited_at),
            time::local_date(new.visited_at),
        );
        let (repeat, changed) = matching::flags(
            deciders,
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
