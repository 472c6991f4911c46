//! Which case a registration joins (docs/intake.md): the one the desk linked, the earliest that shares a
//! petitioner (同人) and has the same category and place (同事), or a new one; initial or repeat by the dates of
//! the case's registrations; 不再受理 when the case was final on the registration's date.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_proto::{input::intake::NewMatter, validate::Violations};

use super::{
    feed,
    model::{self, CaseClaim, Claim, Dated},
    store::{self, Listed, MatchKeys, Registration},
};
use crate::{
    cases::{commands as cases, model::Workflow, store::NewEvent},
    error::AppError,
    org::store::{self as org_store, OrgUnitRow},
    scope::{self, Kind, Reader},
};

/// The case a registration belongs to: the one the clerk linked, the earliest with a shared petitioner and
/// the same category and place, or none (a new one is opened by the caller).
pub struct CaseLink {
    pub case_id: Option<Uuid>,
    pub competent_rank: i32,
    /// What the registration is claimed as, given the case it repeats.
    pub claim: Claim,
}

pub async fn check_case(
    conn: &mut PgConnection,
    reader: &Reader,
    field: &str,
    matter: &NewMatter,
    keys: &MatchKeys,
) -> Result<CaseLink, AppError> {
    let category_known = store::category_exists(conn, &matter.category).await?;
    let org = org_store::get(conn, &matter.problem_org_code).await?;
    let accused = match &matter.accused_org_code {
        Some(accused) => Some(org_store::get(conn, accused).await?),
        None => None,
    };
    let (mut v, competent_rank) = check_refs(
        field,
        category_known,
        org.as_ref(),
        accused.as_ref().map(Option::as_ref),
    );
    // A link names a case the caller reads already (it never widens what anyone reads); one it may not
    // read is refused exactly as one that does not exist, so the refusal tells nothing either.
    let linked = match matter.link_case_id {
        Some(id) => {
            let linked = if scope::store::reads(conn, reader, Kind::Case, id).await? {
                store::linked_case(conn, id).await?
            } else {
                None
            };
            if linked.is_none() {
                v.add(
                    format!("{field}.link_case_id"),
                    "no case you may read has this id",
                );
            }
            linked
        }
        None => None,
    };
    if !v.is_empty() {
        return Err(v.into());
    }
    let linked = match linked {
        Some(l) => {
            if !matter.may_join(&Claim {
                claim_type: l.claim_type,
                accused_org_code: l.accused_org_code.clone(),
            }) {
                return Err(AppError::precondition(
                    "ACCUSATION_APART",
                    "an accusation joins only an accusation against the same unit; register it as a \
                     case of its own",
                ));
            }
            Some(l)
        }
        // The desk said this is a new case although it may match: no matching.
        None if matter.new_case_reason.is_some() => None,
        None => {
            store::find_repeat_case(
                conn,
                keys,
                &matter.category,
                &matter.problem_org_code,
                matter.accusation_against(),
            )
            .await?
        }
    };
    let claim = matter.claim(
        linked
            .as_ref()
            .map(|l| Claim {
                claim_type: l.claim_type,
                accused_org_code: l.accused_org_code.clone(),
            })
            .as_ref(),
    );
    Ok(CaseLink {
        case_id: linked.map(|l| l.id),
        competent_rank,
        claim,
    })
}

/// The matter's references judged: whether its category is in the dictionary (`category_known`), its
/// problem place (`org`: the unit of that code, if any) and, for an accusation, the unit accused
/// (`accused`: `Some(None)` when no unit has the code). Returns the violations and the competent rank.
pub fn check_refs(
    field: &str,
    category_known: bool,
    org: Option<&OrgUnitRow>,
    accused: Option<Option<&OrgUnitRow>>,
) -> (Violations, i32) {
    let mut v = Violations::new();
    if !category_known {
        v.add(
            format!("{field}.category"),
            "not in the category dictionary",
        );
    }
    let competent_rank = match org {
        None => {
            v.add(
                format!("{field}.problem_org_code"),
                "no org unit has this code",
            );
            0
        }
        Some(o) if o.kind == "petition_office" => {
            v.add(
                format!("{field}.problem_org_code"),
                "the place of the problem is a township, a department or the county",
            );
            0
        }
        Some(o) => model::competent_rank(&o.kind),
    };
    if let Some(None) = accused {
        v.add(
            format!("{field}.accused_org_code"),
            "no org unit has this code",
        );
    }
    (v, competent_rank)
}

/// A visit or letter being registered, as its case sees it.
pub struct Arriving<'a> {
    pub id: Uuid,
    pub number: &'a str,
    /// When it happened: what initial/repeat and 不再受理 are judged by.
    pub at: DateTime<Utc>,
}

/// Where a registration landed: its case, whether it repeats it, and whether it is answered 不再受理.
pub struct Joined {
    pub case_id: Uuid,
    pub repeat: bool,
    pub not_accepted_again: bool,
}

/// The registrations of a case whose repeat flag changed, each with its flag now.
pub type Flips = Vec<(Registration, bool)>;

/// Derives initial/repeat of the case's registrations from their dates (`model::repeat_flags`), with
/// `arriving` among them when it is about to be inserted, and stores every flag that changed (the rollup
/// triggers move the counts). Returns the arriving registration's flag and the registrations that flipped.
/// Call it with the case locked, so that two registrations of one case are derived one after the other.
pub async fn settle(
    conn: &mut PgConnection,
    case_id: Uuid,
    arriving: Option<Dated>,
) -> Result<(bool, Flips), AppError> {
    let registrations = store::registrations_of(conn, case_id).await?;
    let (repeat, changed) = flags(&registrations, arriving);
    let mut flips = Vec::new();
    for (i, repeat) in changed {
        let r = registrations[i].clone();
        store::set_repeat(conn, &r.kind, r.id, repeat).await?;
        flips.push((r, repeat));
    }
    Ok((repeat, flips))
}

/// The arriving registration's repeat flag among a case's `registrations` (earliest first), and which of
/// those change their flag (by position, with the new flag): [`settle`] without the database.
///
/// The answer needs only the case's *deciders*: the registrations stored as initial, and the true initial
/// (the earliest not answered 不再受理). Every registration but the initial (the true one, or the arriving
/// one when it is earlier) is derived a repeat. So a registration changes only if it is stored as initial
/// and is not the initial, or it is the true initial stored as a repeat; and the earliest among the
/// deciders is the earliest among all. Any superset of the deciders gives the same answer, whatever the
/// stored flags are. A set reads only those (`store::sets::deciders_of_cases`); the one-by-one path, which
/// stores the changes, reads all.
pub fn flags(
    registrations: &[Registration],
    arriving: Option<Dated>,
) -> (bool, Vec<(usize, bool)>) {
    let mut dated: Vec<Dated> = registrations
        .iter()
        .map(|r| Dated {
            at: r.at,
            id: r.id,
            not_accepted_again: r.not_accepted_again,
        })
        .collect();
    dated.extend(arriving);
    let flags = model::repeat_flags(&dated);
    let changed = registrations
        .iter()
        .zip(&flags)
        .enumerate()
        .filter(|(_, (r, repeat))| r.repeat != **repeat)
        .map(|(i, (_, repeat))| (i, *repeat))
        .collect();
    let repeat = arriving.is_none() || flags.last().copied().unwrap_or(true);
    (repeat, changed)
}

/// Records a change of a case's initial registration: a `reclassified` event with the numbers of the
/// registrations that were and are initial, an audit row, and the changed visits and letters in the sync
/// feed (their owners see the new flag).
pub async fn record_flips(
    conn: &mut PgConnection,
    case_id: Uuid,
    actor: Uuid,
    flips: &Flips,
    now_initial: Option<&str>,
    why: &str,
) -> Result<(), AppError> {
    if flips.is_empty() {
        return Ok(());
    }
    let was: Vec<&str> = flips
        .iter()
        .filter(|(_, repeat)| *repeat)
        .map(|(r, _)| r.number.as_str())
        .collect();
    let now: Vec<&str> = now_initial
        .into_iter()
        .chain(
            flips
                .iter()
                .filter(|(_, repeat)| !*repeat)
                .map(|(r, _)| r.number.as_str()),
        )
        .collect();
    cases::note(
        &NewEvent {
            case_id,
            action: "reclassified",
            actor,
            occurred_at: Utc::now(),
            reason: why,
            before: Some(serde_json::json!({ "initial": was })),
            after: Some(serde_json::json!({ "initial": now })),
        },
        conn,
    )
    .await?;
    crate::audit::store::append(
        conn,
        actor,
        "reclassified",
        &case_id.to_string(),
        &format!("initial {} → {}: {why}", was.join(", "), now.join(", ")),
    )
    .await?;
    for (r, _) in flips {
        feed(
            conn,
            &r.kind,
            r.id,
            store::feed_org(&r.problem_org_code, r.accused_org_code.as_deref()),
            Some(r.registered_by),
        )
        .await?;
    }
    Ok(())
}

/// What a registration of `matter` numbered `number` at `at` opens its new case from.
pub fn opening<'a>(
    matter: &'a NewMatter,
    number: &'a str,
    at: DateTime<Utc>,
    actor: Uuid,
) -> cases::Opening<'a> {
    cases::Opening {
        number,
        category: &matter.category,
        problem_org: &matter.problem_org_code,
        content: &matter.content,
        demands: &matter.demands,
        claim_type: matter.claim_type,
        accused_org_code: matter.accused_org_code.as_deref(),
        registered_at: at,
        opened_by: actor,
    }
}

/// The case event of a registration joining an existing case: its action, and what it adds.
pub fn joined_event(
    repeat: bool,
    not_accepted_again: bool,
) -> (&'static str, Option<serde_json::Value>) {
    match (repeat, not_accepted_again) {
        (_, true) => (
            "repeat_linked",
            Some(serde_json::json!({ "not_accepted_again": true })),
        ),
        (true, false) => ("repeat_linked", None),
        (false, false) => ("initial_linked", None),
    }
}

/// Opens the case of a registration that links to none, or joins the one it links to: initial or repeat by
/// the dates of the case's registrations (a registration dated before them all becomes the initial one and
/// the one that was initial a repeat), answered 不再受理 when the case was final on the registration's date.
/// Links its petitioners (not its proxies) to the case. Returns where it landed.
#[allow(clippy::too_many_arguments)]
pub async fn join_case(
    conn: &mut PgConnection,
    workflow: &Workflow,
    actor: Uuid,
    link: &CaseLink,
    matter: &NewMatter,
    arriving: &Arriving<'_>,
    petitioners: &[Listed],
) -> Result<Joined, AppError> {
    let principals: Vec<Uuid> = petitioners
        .iter()
        .filter(|p| !p.proxy)
        .map(|p| p.petitioner_id)
        .collect();
    let Some(case_id) = link.case_id else {
        let case_id = cases::open(
            workflow,
            &opening(matter, arriving.number, arriving.at, actor),
            conn,
        )
        .await?;
        store::link_case_petitioners(conn, case_id, &principals).await?;
        let after = matter.new_case_reason.as_ref().map(|reason| {
            serde_json::json!({ "registration": arriving.number, "new_case_reason": reason })
        });
        cases::note(
            &NewEvent {
                case_id,
                action: "registered",
                actor,
                occurred_at: arriving.at,
                reason: arriving.number,
                before: None,
                after,
            },
            conn,
        )
        .await?;
        if let Some(reason) = &matter.new_case_reason {
            crate::audit::store::append(
                conn,
                actor,
                "new_case",
                &case_id.to_string(),
                &format!("{}: {reason}", arriving.number),
            )
            .await?;
        }
        feed(conn, "case", case_id, None, None).await?;
        return Ok(Joined {
            case_id,
            repeat: false,
            not_accepted_again: false,
        });
    };
    // Locked after the register's counter, as every registration takes them: one order, no deadlock.
    let case = cases::lock(case_id, conn).await?;
    let not_accepted_again = model::final_on(
        &case.record(),
        &workflow.facts(arriving.at),
        crate::kernel::time::local_date(arriving.at),
    );
    store::link_case_petitioners(conn, case_id, &principals).await?;
    let (repeat, flips) = settle(
        conn,
        case_id,
        Some(Dated {
            at: arriving.at,
            id: arriving.id,
            not_accepted_again,
        }),
    )
    .await?;
    let (action, after) = joined_event(repeat, not_accepted_again);
    cases::note(
        &NewEvent {
            case_id,
            action,
            actor,
            occurred_at: arriving.at,
            reason: arriving.number,
            before: None,
            after,
        },
        conn,
    )
    .await?;
    record_flips(
        conn,
        case_id,
        actor,
        &flips,
        (!repeat).then_some(arriving.number),
        "a registration dated before the initial one arrived late",
    )
    .await?;
    feed(conn, "case", case_id, None, None).await?;
    Ok(Joined {
        case_id,
        repeat,
        not_accepted_again,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn registration(n: usize, kind: &str, day: u32, repeat: bool, refused: bool) -> Registration {
        Registration {
            kind: kind.into(),
            id: Uuid::from_u128(n as u128 + 1),
            number: format!("R{n}"),
            at: Utc.with_ymd_and_hms(2024, 3, day, 9, 0, 0).unwrap(),
            repeat,
            not_accepted_again: refused,
            registered_by: Uuid::nil(),
            problem_org_code: "510422100".into(),
            accused_org_code: None,
        }
    }

    /// The deciders as `store::sets::deciders_of_cases` reads them: those stored as initial, and the
    /// earliest visit and the earliest letter not answered 不再受理.
    fn deciders(all: &[Registration]) -> Vec<Registration> {
        let earliest = |kind: &str| {
            all.iter()
                .filter(|r| r.kind == kind && !r.not_accepted_again)
                .min_by_key(|r| (r.at, r.id))
                .map(|r| r.id)
        };
        let (visit, letter) = (earliest("visit"), earliest("letter"));
        all.iter()
            .filter(|r| !r.repeat || Some(r.id) == visit || Some(r.id) == letter)
            .cloned()
            .collect()
    }

    /// The arriving flag and the changed registrations by id, with their new flags.
    fn outcome(of: &[Registration], arriving: Option<Dated>) -> (bool, Vec<(Uuid, bool)>) {
        let (repeat, changed) = flags(of, arriving);
        let mut changed: Vec<(Uuid, bool)> =
            changed.into_iter().map(|(i, f)| (of[i].id, f)).collect();
        changed.sort_unstable();
        (repeat, changed)
    }

    /// Every case of up to three registrations (kind, one of three days, stored flag, 不再受理), consistent
    /// or not, against every arrival (none, or on each of four days, refused or not, before or after a
    /// same-day registration by id).
    #[test]
    fn the_deciders_give_the_same_flags_and_changes_as_all_registrations() {
        let mut cases = 0;
        for n in 0..=3usize {
            let choices = 24usize.pow(n as u32);
            for mut code in 0..choices {
                let mut all: Vec<Registration> = (0..n)
                    .map(|k| {
                        let c = code % 24;
                        code /= 24;
                        let kind = if c % 2 == 0 { "visit" } else { "letter" };
                        registration(
                            k * 2,
                            kind,
                            1 + (c / 2 % 3) as u32,
                            c / 6 % 2 == 1,
                            c / 12 == 1,
                        )
                    })
                    .collect();
                all.sort_by_key(|r| (r.at, r.id));
                let subset = deciders(&all);
                let mut arrivals = vec![None];
                for day in 0..4u32 {
                    for refused in [false, true] {
                        for id in [0u128, 100] {
                            arrivals.push(Some(Dated {
                                at: Utc.with_ymd_and_hms(2024, 3, 1 + day, 9, 0, 0).unwrap(),
                                id: Uuid::from_u128(id),
                                not_accepted_again: refused,
                            }));
                        }
                    }
                }
                for arriving in arrivals {
                    assert_eq!(
                        outcome(&subset, arriving),
                        outcome(&all, arriving),
                        "{all:?} with {arriving:?}"
                    );
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 1 + 24 + 24 * 24 + 24usize.pow(3));
    }
}
