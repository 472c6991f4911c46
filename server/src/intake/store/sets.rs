//! The set-based twins of intake's single-row statements, for writing many registrations at once
//! (`intake::batch`): one statement per table for a whole set, rows in the set's order.

use std::collections::{HashMap, HashSet};

use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::{LinkedCase, Listed, PetitionerRecord, Registration, VISIT_COLUMNS, VisitRow};

/// The codes among `codes` that are in the category dictionary.
pub async fn categories_in(
    conn: &mut PgConnection,
    codes: &[&str],
) -> Result<HashSet<String>, sqlx::Error> {
    let found: Vec<String> =
        sqlx::query_scalar("SELECT code FROM case_categories WHERE code = ANY($1)")
            .bind(codes)
            .fetch_all(conn)
            .await?;
    Ok(found.into_iter().collect())
}

/// What one registration of a set looks for a repeat of (`find_repeat_case`'s arguments).
pub struct Wanted<'a> {
    pub id_hashes: &'a [Vec<u8>],
    pub contact_hashes: &'a [Vec<u8>],
    pub category: &'a str,
    pub problem_org: &'a str,
    pub accusation_against: Option<&'a str>,
}

/// The match keys of `wanted` as three parallel arrays: position, hash, whether an ID-number hash.
fn match_keys<'a>(wanted: &[Wanted<'a>]) -> (Vec<i32>, Vec<&'a [u8]>, Vec<bool>) {
    let (mut key_ord, mut key_hash, mut key_by_id) = (Vec::new(), Vec::new(), Vec::new());
    for (i, w) in wanted.iter().enumerate() {
        for (hashes, by_id) in [(w.id_hashes, true), (w.contact_hashes, false)] {
            for h in hashes {
                key_ord.push(i as i32);
                key_hash.push(h.as_slice());
                key_by_id.push(by_id);
            }
        }
    }
    (key_ord, key_hash, key_by_id)
}

/// The stored people each of `wanted` finds by its keys (the first step of [`find_repeat_cases`]), as
/// `(position, petitioner id)`.
pub async fn people_found(
    conn: &mut PgConnection,
    wanted: &[Wanted<'_>],
) -> Result<Vec<(usize, Uuid)>, sqlx::Error> {
    let (key_ord, key_hash, key_by_id) = match_keys(wanted);
    if key_ord.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<(i32, Uuid)> = sqlx::query_as(
        "WITH k AS (SELECT * FROM unnest($1::int[], $2::bytea[], $3::bool[]) AS t(ord, hash, by_id)) \
         SELECT k.ord, p.id FROM k JOIN petitioners p ON p.id_hash = k.hash WHERE k.by_id \
         UNION \
         SELECT k.ord, p.id FROM k JOIN petitioners p ON p.contact_hash = k.hash WHERE NOT k.by_id",
    )
    .bind(&key_ord)
    .bind(&key_hash)
    .bind(&key_by_id)
    .fetch_all(conn)
    .await?;
    Ok(found.into_iter().map(|(k, id)| (k as usize, id)).collect())
}

/// [`super::find_repeat_case`] for each of `wanted` at once: the earliest case of each, by position.
pub async fn find_repeat_cases(
    conn: &mut PgConnection,
    wanted: &[Wanted<'_>],
) -> Result<HashMap<usize, LinkedCase>, sqlx::Error> {
    let (key_ord, key_hash, key_by_id) = match_keys(wanted);
    if key_ord.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(FromRow)]
    struct Found {
        ord: i32,
        #[sqlx(flatten)]
        case: LinkedCase,
    }
    let found: Vec<Found> = sqlx::query_as(
        "WITH item AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY \
                           AS t(category, org, accused, n)), \
              k AS (SELECT * FROM unnest($4::int[], $5::bytea[], $6::bool[]) AS t(ord, hash, by_id)), \
              person AS (SELECT k.ord, p.id FROM k JOIN petitioners p ON p.id_hash = k.hash WHERE k.by_id \
                         UNION \
                         SELECT k.ord, p.id FROM k JOIN petitioners p ON p.contact_hash = k.hash \
                         WHERE NOT k.by_id) \
         SELECT DISTINCT ON (person.ord) person.ord, c.id, c.claim_type, c.accused_org_code \
         FROM person JOIN item i ON i.n = person.ord + 1 \
         JOIN case_petitioners cp ON cp.petitioner_id = person.id \
         JOIN cases c ON c.id = cp.case_id \
         WHERE c.category_code = i.category AND c.problem_org_code = i.org \
           AND (i.accused IS NULL OR c.accused_org_code = i.accused) \
         ORDER BY person.ord, c.registered_at, c.id",
    )
    .bind(wanted.iter().map(|w| w.category).collect::<Vec<_>>())
    .bind(wanted.iter().map(|w| w.problem_org).collect::<Vec<_>>())
    .bind(wanted.iter().map(|w| w.accusation_against).collect::<Vec<_>>())
    .bind(&key_ord)
    .bind(&key_hash)
    .bind(&key_by_id)
    .fetch_all(conn)
    .await?;
    Ok(found
        .into_iter()
        .map(|f| (f.ord as usize, f.case))
        .collect())
}

/// The registrations of each of the cases `ids` that decide its initial/repeat flags, earliest first: those
/// stored as initial and its earliest visit and earliest letter not answered 不再受理
/// (`matching::flags` says why these give the same flags as all of the case's registrations). A busy
/// case has dozens of registrations; this reads two or three of them, by index.
pub async fn deciders_of_cases(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Registration>>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(FromRow)]
    struct Of {
        case_id: Uuid,
        #[sqlx(flatten)]
        registration: Registration,
    }
    // UNION, not UNION ALL: the earliest is usually also the one stored as initial.
    let rows: Vec<Of> = sqlx::query_as(
        "SELECT c.id AS case_id, r.* FROM unnest($1::uuid[]) AS c(id) CROSS JOIN LATERAL ( \
             (SELECT 'visit'::text AS kind, id, number, visited_at AS at, repeat, not_accepted_again, \
                     registered_by, problem_org_code, accused_org_code \
              FROM visits WHERE case_id = c.id AND NOT not_accepted_again \
              ORDER BY visited_at, id LIMIT 1) \
             UNION \
             (SELECT 'letter', id, number, received_at, repeat, not_accepted_again, registered_by, \
                     problem_org_code, accused_org_code \
              FROM letters WHERE case_id = c.id AND NOT not_accepted_again \
              ORDER BY received_at, id LIMIT 1) \
             UNION \
             SELECT 'visit', id, number, visited_at, repeat, not_accepted_again, registered_by, \
                    problem_org_code, accused_org_code \
             FROM visits WHERE case_id = c.id AND NOT repeat \
             UNION \
             SELECT 'letter', id, number, received_at, repeat, not_accepted_again, registered_by, \
                    problem_org_code, accused_org_code \
             FROM letters WHERE case_id = c.id AND NOT repeat) AS r \
         ORDER BY c.id, r.at, r.id",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let mut of: HashMap<Uuid, Vec<Registration>> = ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        of.entry(row.case_id).or_default().push(row.registration);
    }
    Ok(of)
}

/// [`super::upsert_petitioner`] for many people in one statement, inserted in their order (the caller sorts
/// them by ID hash, the one order every registration takes people in). Returns each one's id, by position.
pub async fn upsert_petitioners(
    conn: &mut PgConnection,
    people: &[PetitionerRecord<'_>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Option<Uuid>)> = sqlx::query_as(
        "WITH input AS ( \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[], $5::text[], $6::bytea[], \
                                  $7::text[], $8::bytea[], $9::text[], $10::bytea[]) WITH ORDINALITY \
                 AS t(id, name, id_hash, id_enc, id_masked, phone_enc, phone_masked, address_enc, seal_key, \
                      contact_hash, ord)), \
         inserted AS ( \
             INSERT INTO petitioners (id, name, id_hash, id_number_enc, id_number_masked, phone_enc, \
                                      phone_masked, address_enc, seal_key, contact_hash) \
             SELECT id, name, id_hash, id_enc, id_masked, phone_enc, phone_masked, address_enc, \
                    CASE WHEN id_enc IS NULL AND phone_enc IS NULL AND address_enc IS NULL THEN NULL \
                         ELSE seal_key END, contact_hash \
             FROM input ORDER BY ord \
             ON CONFLICT (id_hash) DO NOTHING \
             RETURNING id) \
         SELECT i.ord, COALESCE(ins.id, p.id) \
         FROM input i LEFT JOIN inserted ins ON ins.id = i.id \
         LEFT JOIN petitioners p ON ins.id IS NULL AND p.id_hash = i.id_hash \
         ORDER BY i.ord",
    )
    .bind(people.iter().map(|p| p.id).collect::<Vec<_>>())
    .bind(people.iter().map(|p| p.name).collect::<Vec<_>>())
    .bind(people.iter().map(|p| p.id_hash).collect::<Vec<_>>())
    .bind(people.iter().map(|p| p.id_number_enc.as_deref()).collect::<Vec<_>>())
    .bind(people.iter().map(|p| p.id_number_masked.as_deref()).collect::<Vec<_>>())
    .bind(people.iter().map(|p| p.phone_enc.as_deref()).collect::<Vec<_>>())
    .bind(people.iter().map(|p| p.phone_masked.as_deref()).collect::<Vec<_>>())
    .bind(people.iter().map(|p| p.address_enc.as_deref()).collect::<Vec<_>>())
    .bind(people.iter().map(|p| p.seal_key).collect::<Vec<_>>())
    .bind(people.iter().map(|p| p.contact_hash).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let mut ids: Vec<Option<Uuid>> = rows.into_iter().map(|(_, id)| id).collect();
    // A person committed by a concurrent registration after this statement's snapshot was taken is found
    // by the next statement, whose snapshot (read committed) sees it.
    let missing: Vec<&[u8]> = ids
        .iter()
        .zip(people)
        .filter(|(id, _)| id.is_none())
        .filter_map(|(_, p)| p.id_hash)
        .collect();
    if !missing.is_empty() {
        let found: HashMap<Vec<u8>, Uuid> =
            sqlx::query_as("SELECT id_hash, id FROM petitioners WHERE id_hash = ANY($1)")
                .bind(&missing)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .collect();
        for (id, p) in ids.iter_mut().zip(people) {
            if id.is_none() {
                *id = p.id_hash.and_then(|h| found.get(h).copied());
            }
        }
    }
    ids.into_iter()
        .map(|id| id.ok_or(sqlx::Error::RowNotFound))
        .collect()
}

/// Each case's petitioners, for many cases at once ([`super::link_case_petitioners`]).
pub async fn link_case_petitioners(
    conn: &mut PgConnection,
    pairs: &[(Uuid, Uuid)],
) -> Result<(), sqlx::Error> {
    if pairs.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO case_petitioners (case_id, petitioner_id) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING",
    )
    .bind(pairs.iter().map(|p| p.0).collect::<Vec<_>>())
    .bind(pairs.iter().map(|p| p.1).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// [`super::insert_visit`] for many visits in one statement; returns the rows as stored, in no order.
pub async fn insert_visits(
    conn: &mut PgConnection,
    visits: &[VisitRow],
) -> Result<Vec<VisitRow>, sqlx::Error> {
    let text = |f: fn(&VisitRow) -> &str| -> Vec<&str> { visits.iter().map(f).collect() };
    sqlx::query_as(&format!(
        "INSERT INTO visits (id, number, case_id, visited_at, level, non_reception_place, place_name, \
             headcount, collective, repeat, leapfrog, category_code, problem_org_code, content, demands, \
             registered_by, claim_type, accused_org_code, not_accepted_again, large_scale) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[], $5::text[], $6::bool[], \
             $7::text[], $8::int4[], $9::bool[], $10::bool[], $11::bool[], $12::text[], $13::text[], $14::text[], \
             $15::text[], $16::uuid[], $17::int2[], $18::text[], $19::bool[], $20::bool[]) \
         RETURNING {VISIT_COLUMNS}"
    ))
    .bind(visits.iter().map(|v| v.id).collect::<Vec<_>>())
    .bind(text(|v| &v.number))
    .bind(visits.iter().map(|v| v.case_id).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.visited_at).collect::<Vec<_>>())
    .bind(text(|v| &v.level))
    .bind(visits.iter().map(|v| v.non_reception_place).collect::<Vec<_>>())
    .bind(text(|v| &v.place_name))
    .bind(visits.iter().map(|v| v.headcount).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.collective).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.repeat).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.leapfrog).collect::<Vec<_>>())
    .bind(text(|v| &v.category_code))
    .bind(text(|v| &v.problem_org_code))
    .bind(text(|v| &v.content))
    .bind(text(|v| &v.demands))
    .bind(visits.iter().map(|v| v.registered_by).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.claim_type).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.accused_org_code.as_deref()).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.not_accepted_again).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.large_scale).collect::<Vec<_>>())
    .fetch_all(conn)
    .await
}

/// The people of many visits ([`super::link_petitioners`] with `Links::Visit`), each visit's in its order.
pub async fn link_visit_petitioners(
    conn: &mut PgConnection,
    visits: &[(Uuid, &[Listed])],
) -> Result<(), sqlx::Error> {
    let (mut owner, mut position, mut person, mut rep, mut proxy) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (visit, people) in visits {
        for (i, p) in people.iter().enumerate() {
            owner.push(*visit);
            position.push(i as i32 + 1);
            person.push(p.petitioner_id);
            rep.push(p.representative);
            proxy.push(p.proxy);
        }
    }
    if owner.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO visit_petitioners (visit_id, position, petitioner_id, representative, proxy) \
         SELECT * FROM unnest($1::uuid[], $2::int4[], $3::uuid[], $4::bool[], $5::bool[])",
    )
    .bind(&owner)
    .bind(&position)
    .bind(&person)
    .bind(&rep)
    .bind(&proxy)
    .execute(conn)
    .await?;
    Ok(())
}
