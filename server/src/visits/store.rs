//! SQL of intake: petitioners, matters opened by registrations, visits, letters, trips, and the audit of
//! unmasked reads.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::scope::{Kind, Reader};

pub async fn category_exists(conn: &mut PgConnection, code: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM matter_categories WHERE code = $1)")
        .bind(code)
        .fetch_one(conn)
        .await
}

pub async fn insert_category(
    conn: &mut PgConnection,
    code: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO matter_categories (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(code)
    .bind(name)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn setting(conn: &mut PgConnection, name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
}

pub async fn insert_setting(
    conn: &mut PgConnection,
    name: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(name)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

/// A petitioner as stored: personal data sealed, masks precomputed so lists never decrypt.
pub struct PetitionerRecord<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub id_hash: Option<&'a [u8]>,
    /// Keyed hash of the normalized name and phone (`model::contact_key`), for 同人 without an ID number.
    pub contact_hash: Option<&'a [u8]>,
    pub id_number_enc: Option<Vec<u8>>,
    pub id_number_masked: Option<String>,
    pub phone_enc: Option<Vec<u8>>,
    pub phone_masked: Option<String>,
    pub address_enc: Option<Vec<u8>>,
    /// The key that sealed the values (`pii_keys`); stored only when there is a sealed value.
    pub seal_key: &'a str,
}

/// Inserts the person, or finds the one already holding this ID number and leaves their record as it is:
/// a later registration, perhaps by a role that may not edit people, never rewrites it. Returns the id.
///
/// A person registered before is found, not updated, so the row is never locked: a registration waiting
/// for the register's counter holds no lock a batch of pushed operations (which holds the counter from its
/// first registration on) could want later.
pub async fn upsert_petitioner(
    conn: &mut PgConnection,
    p: &PetitionerRecord<'_>,
) -> Result<Uuid, sqlx::Error> {
    let id = sqlx::query_scalar(
        "WITH inserted AS ( \
             INSERT INTO petitioners (id, name, id_hash, id_number_enc, id_number_masked, phone_enc, \
                                      phone_masked, address_enc, seal_key, contact_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                     CASE WHEN $4::bytea IS NULL AND $6::bytea IS NULL AND $8::bytea IS NULL THEN NULL \
                          ELSE $9 END, $10) \
             ON CONFLICT (id_hash) DO NOTHING \
             RETURNING id) \
         SELECT id FROM inserted \
         UNION ALL \
         SELECT id FROM petitioners WHERE id_hash = $3 AND NOT EXISTS (SELECT 1 FROM inserted)",
    )
    .bind(p.id)
    .bind(p.name)
    .bind(p.id_hash)
    .bind(&p.id_number_enc)
    .bind(&p.id_number_masked)
    .bind(&p.phone_enc)
    .bind(&p.phone_masked)
    .bind(&p.address_enc)
    .bind(p.seal_key)
    .bind(p.contact_hash)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => Ok(id),
        // The conflicting row was committed by a concurrent registration after this statement's snapshot
        // was taken; the next statement's snapshot (read committed) sees it.
        None => {
            sqlx::query_scalar("SELECT id FROM petitioners WHERE id_hash = $1")
                .bind(p.id_hash)
                .fetch_one(conn)
                .await
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct PetitionerRow {
    pub owner_id: Uuid,
    pub position: i32,
    pub representative: bool,
    pub proxy: bool,
    pub id: Uuid,
    pub name: String,
    pub id_number_enc: Option<Vec<u8>>,
    pub id_number_masked: Option<String>,
    pub phone_enc: Option<Vec<u8>>,
    pub phone_masked: Option<String>,
    pub address_enc: Option<Vec<u8>>,
    pub seal_key: Option<String>,
}

/// The petitioners of visits, letters or trips, in registration order. `link_table` and `owner_column` come
/// from [`Links`], never from input.
pub async fn petitioners_of(
    conn: &mut PgConnection,
    links: Links,
    owners: &[Uuid],
) -> Result<Vec<PetitionerRow>, sqlx::Error> {
    let (table, owner, representative, proxy) = match links {
        Links::Visit => (
            "visit_petitioners",
            "visit_id",
            "l.representative",
            "l.proxy",
        ),
        Links::Letter => ("letter_petitioners", "letter_id", "false", "l.proxy"),
        Links::Trip => ("return_trip_petitioners", "trip_id", "false", "false"),
    };
    sqlx::query_as(&format!(
        "SELECT l.{owner} AS owner_id, l.position, {representative} AS representative, {proxy} AS proxy, \
                p.id, p.name, p.id_number_enc, p.id_number_masked, p.phone_enc, p.phone_masked, \
                p.address_enc, p.seal_key \
         FROM {table} l JOIN petitioners p ON p.id = l.petitioner_id \
         WHERE l.{owner} = ANY($1) ORDER BY l.{owner}, l.position"
    ))
    .bind(owners)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, Copy)]
pub enum Links {
    Visit,
    Letter,
    Trip,
}

/// A person listed with a registration or trip, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub petitioner_id: Uuid,
    pub representative: bool,
    /// 代理人: listed, but no petitioner of the matter (trips list none).
    pub proxy: bool,
}

pub async fn link_petitioners(
    conn: &mut PgConnection,
    links: Links,
    owner: Uuid,
    petitioners: &[Listed],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = petitioners.iter().map(|p| p.petitioner_id).collect();
    let reps: Vec<bool> = petitioners.iter().map(|p| p.representative).collect();
    let proxies: Vec<bool> = petitioners.iter().map(|p| p.proxy).collect();
    let sql = match links {
        Links::Visit => {
            "INSERT INTO visit_petitioners (visit_id, position, petitioner_id, representative, proxy) \
             SELECT $1, ord::int, pid, rep, proxy \
             FROM unnest($2::uuid[], $3::bool[], $4::bool[]) WITH ORDINALITY AS t(pid, rep, proxy, ord)"
        }
        Links::Letter => {
            "INSERT INTO letter_petitioners (letter_id, position, petitioner_id, proxy) \
             SELECT $1, ord::int, pid, proxy \
             FROM unnest($2::uuid[], $3::bool[], $4::bool[]) WITH ORDINALITY AS t(pid, rep, proxy, ord)"
        }
        Links::Trip => {
            "INSERT INTO return_trip_petitioners (trip_id, position, petitioner_id) \
             SELECT $1, ord::int, pid \
             FROM unnest($2::uuid[], $3::bool[], $4::bool[]) WITH ORDINALITY AS t(pid, rep, proxy, ord)"
        }
    };
    sqlx::query(sql)
        .bind(owner)
        .bind(&ids)
        .bind(&reps)
        .bind(&proxies)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn record_pii_reads(
    conn: &mut PgConnection,
    principal: Uuid,
    petitioners: &[Uuid],
    method: &str,
) -> Result<(), sqlx::Error> {
    if petitioners.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO pii_reads (principal_id, petitioner_id, method) \
         SELECT $1, pid, $3 FROM unnest($2::uuid[]) AS t(pid)",
    )
    .bind(principal)
    .bind(petitioners)
    .bind(method)
    .execute(&mut *conn)
    .await?;
    let subjects: Vec<String> = petitioners.iter().map(Uuid::to_string).collect();
    crate::audit::store::append_many(conn, principal, "pii_read", &subjects, method).await
}

/// A matter a registration links to, with what it is claimed as.
#[derive(Debug, Clone, FromRow)]
pub struct LinkedMatter {
    pub id: Uuid,
    pub claim_type: i16,
    pub accused_org_code: Option<String>,
}

/// The keyed hashes a registration's petitioners (not its proxies) are found again by: ID numbers, and
/// names with phones.
#[derive(Debug, Clone, Default)]
pub struct MatchKeys {
    pub id_hashes: Vec<Vec<u8>>,
    pub contact_hashes: Vec<Vec<u8>>,
}

/// The earliest matter that shares a petitioner (by ID-number hash, or by name+phone hash) and has the same
/// category and problem place; for an accusation against `accusation_against`, only among accusations
/// against that unit. Whether the registration is then initial or a repeat is decided by the dates of the
/// matter's registrations (`model::repeat_flags`), not here.
pub async fn find_repeat_case(
    conn: &mut PgConnection,
    keys: &MatchKeys,
    category: &str,
    problem_org: &str,
    accusation_against: Option<&str>,
) -> Result<Option<LinkedMatter>, sqlx::Error> {
    if keys.id_hashes.is_empty() && keys.contact_hashes.is_empty() {
        return Ok(None);
    }
    sqlx::query_as(
        "SELECT c.id, c.claim_type, c.accused_org_code FROM petitioners p \
         JOIN case_petitioners cp ON cp.petitioner_id = p.id \
         JOIN cases c ON c.id = cp.case_id \
         WHERE (p.id_hash = ANY($1) OR p.contact_hash = ANY($2)) \
           AND c.category_code = $3 AND c.problem_org_code = $4 \
           AND ($5::text IS NULL OR c.accused_org_code = $5) \
         ORDER BY c.registered_at, c.id LIMIT 1",
    )
    .bind(&keys.id_hashes)
    .bind(&keys.contact_hashes)
    .bind(category)
    .bind(problem_org)
    .bind(accusation_against)
    .fetch_optional(conn)
    .await
}

/// A visit or letter of a matter, as initial/repeat is derived from the matter's registrations.
#[derive(Debug, Clone, FromRow)]
pub struct Registration {
    /// 'visit' or 'letter'.
    pub kind: String,
    pub id: Uuid,
    pub number: String,
    pub at: DateTime<Utc>,
    pub repeat: bool,
    pub not_accepted_again: bool,
    pub registered_by: Uuid,
    pub problem_org_code: String,
    pub accused_org_code: Option<String>,
}

/// Every visit and letter of the matter `case_id`, earliest first. Call it with the matter locked.
pub async fn registrations_of(
    conn: &mut PgConnection,
    case_id: Uuid,
) -> Result<Vec<Registration>, sqlx::Error> {
    sqlx::query_as(
        "SELECT 'visit' AS kind, id, number, visited_at AS at, repeat, not_accepted_again, registered_by, \
                problem_org_code, accused_org_code \
         FROM visits WHERE case_id = $1 \
         UNION ALL \
         SELECT 'letter', id, number, received_at, repeat, not_accepted_again, registered_by, \
                problem_org_code, accused_org_code \
         FROM letters WHERE case_id = $1 \
         ORDER BY at, id",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await
}

/// Sets the repeat flag of a visit or letter (the rollup triggers move its counts from initial to repeat or
/// back).
pub async fn set_repeat(
    conn: &mut PgConnection,
    kind: &str,
    id: Uuid,
    repeat: bool,
) -> Result<(), sqlx::Error> {
    let table = if kind == "visit" { "visits" } else { "letters" };
    sqlx::query(&format!("UPDATE {table} SET repeat = $2 WHERE id = $1"))
        .bind(id)
        .bind(repeat)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves a visit or letter into the matter `case_id` as its initial registration (answered as such).
pub async fn move_registration(
    conn: &mut PgConnection,
    kind: &str,
    id: Uuid,
    case_id: Uuid,
) -> Result<(), sqlx::Error> {
    let table = if kind == "visit" { "visits" } else { "letters" };
    sqlx::query(&format!(
        "UPDATE {table} SET case_id = $2, repeat = false, not_accepted_again = false WHERE id = $1"
    ))
    .bind(id)
    .bind(case_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The petitioners (not proxies) listed with a visit or letter.
pub async fn principals_of(
    conn: &mut PgConnection,
    kind: &str,
    id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let (table, owner) = if kind == "visit" {
        ("visit_petitioners", "visit_id")
    } else {
        ("letter_petitioners", "letter_id")
    };
    sqlx::query_scalar(&format!(
        "SELECT DISTINCT petitioner_id FROM {table} WHERE {owner} = $1 AND NOT proxy"
    ))
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Unlinks from the matter `case_id` the petitioners that none of its visits and letters lists any more.
pub async fn prune_case_petitioners(
    conn: &mut PgConnection,
    case_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM case_petitioners cp WHERE cp.case_id = $1 \
           AND NOT EXISTS (SELECT 1 FROM visits v JOIN visit_petitioners vp ON vp.visit_id = v.id \
                           WHERE v.case_id = $1 AND vp.petitioner_id = cp.petitioner_id AND NOT vp.proxy) \
           AND NOT EXISTS (SELECT 1 FROM letters l JOIN letter_petitioners lp ON lp.letter_id = l.id \
                           WHERE l.case_id = $1 AND lp.petitioner_id = cp.petitioner_id AND NOT lp.proxy)",
    )
    .bind(case_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A number for a matter opened from the registration `number` after the fact (a detached registration):
/// the registration's own number when no matter has it, else the number with the next free suffix
/// (`XF510422-2024-000123-2`), since the matter it opened first keeps its number.
pub async fn free_case_number(
    conn: &mut PgConnection,
    number: &str,
) -> Result<String, sqlx::Error> {
    let taken: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM cases WHERE number = $1 OR number LIKE $1 || '-%'",
    )
    .bind(number)
    .fetch_one(conn)
    .await?;
    Ok(if taken == 0 {
        number.to_owned()
    } else {
        format!("{number}-{}", taken + 1)
    })
}

/// The matter `id`, which a registration names as the one it repeats.
pub async fn linked_matter(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<LinkedMatter>, sqlx::Error> {
    sqlx::query_as("SELECT id, claim_type, accused_org_code FROM cases WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The units that the accusations among the matters `ids` accuse.
pub async fn accused_units(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT accused_org_code FROM cases WHERE id = ANY($1) AND accused_org_code IS NOT NULL",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

pub struct NewCase<'a> {
    pub id: Uuid,
    pub number: &'a str,
    pub category: &'a str,
    pub problem_org: &'a str,
    pub content: &'a str,
    pub demands: &'a str,
    pub registered_at: DateTime<Utc>,
    /// Due dates from `cases::model::schedule`, written with the row so that it is inserted once.
    pub assign_due: Option<NaiveDate>,
    pub next_due: Option<NaiveDate>,
    pub claim_type: i16,
    pub accused_org_code: Option<&'a str>,
    /// Whose registration opened it.
    pub opened_by: Uuid,
}

pub async fn insert_case(conn: &mut PgConnection, c: &NewCase<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cases (id, number, category_code, problem_org_code, content, demands, registered_at, \
                            assign_due, next_due, claim_type, accused_org_code, opened_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(c.id)
    .bind(c.number)
    .bind(c.category)
    .bind(c.problem_org)
    .bind(c.content)
    .bind(c.demands)
    .bind(c.registered_at)
    .bind(c.assign_due)
    .bind(c.next_due)
    .bind(c.claim_type)
    .bind(c.accused_org_code)
    .bind(c.opened_by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn link_case_petitioners(
    conn: &mut PgConnection,
    case_id: Uuid,
    petitioners: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO case_petitioners (case_id, petitioner_id) \
         SELECT $1, pid FROM unnest($2::uuid[]) AS t(pid) ON CONFLICT DO NOTHING",
    )
    .bind(case_id)
    .bind(petitioners)
    .execute(conn)
    .await?;
    Ok(())
}

/// The next serial of the register `prefix` in `year`. The row lock it takes is held until commit, so take
/// it as late as possible in the transaction.
pub async fn next_serial(
    conn: &mut PgConnection,
    prefix: &str,
    year: i32,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO registration_counters (prefix, year, last) VALUES ($1, $2, 1) \
         ON CONFLICT (prefix, year) DO UPDATE SET last = registration_counters.last + 1 \
         RETURNING last",
    )
    .bind(prefix)
    .bind(year)
    .fetch_one(conn)
    .await
}

/// Scope and filters common to the three lists: the records `reader` reads, of `org` when one is asked for.
#[derive(Debug, Clone)]
pub struct ListScope {
    pub org: Option<String>,
    pub reader: Reader,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Continue after this (time, id), newest first.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

#[derive(Debug, Clone, FromRow)]
pub struct VisitRow {
    pub id: Uuid,
    pub number: String,
    pub case_id: Uuid,
    pub visited_at: DateTime<Utc>,
    pub level: String,
    pub non_reception_place: bool,
    pub place_name: String,
    pub headcount: i32,
    pub collective: bool,
    pub repeat: bool,
    pub leapfrog: bool,
    pub category_code: String,
    pub problem_org_code: String,
    pub content: String,
    pub demands: String,
    pub registered_by: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub claim_type: i16,
    pub accused_org_code: Option<String>,
    pub not_accepted_again: bool,
    pub large_scale: bool,
}

impl VisitRow {
    /// The unit whose clerks the record is fed to: its problem place, unless it is the unit accused.
    pub fn feed_org(&self) -> Option<&str> {
        feed_org(&self.problem_org_code, self.accused_org_code.as_deref())
    }
}

impl LetterRow {
    pub fn feed_org(&self) -> Option<&str> {
        feed_org(&self.problem_org_code, self.accused_org_code.as_deref())
    }
}

/// The unit whose clerks a visit or letter is fed to: its problem place, unless it is the unit accused.
pub fn feed_org<'a>(problem_org: &'a str, accused: Option<&str>) -> Option<&'a str> {
    (accused != Some(problem_org)).then_some(problem_org)
}

const VISIT_COLUMNS: &str = "id, number, case_id, visited_at, level, non_reception_place, place_name, \
    headcount, collective, repeat, leapfrog, category_code, problem_org_code, content, demands, \
    registered_by, recorded_at, claim_type, accused_org_code, not_accepted_again, large_scale";

pub async fn insert_visit(conn: &mut PgConnection, v: &VisitRow) -> Result<VisitRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO visits (id, number, case_id, visited_at, level, non_reception_place, place_name, \
             headcount, collective, repeat, leapfrog, category_code, problem_org_code, content, demands, \
             registered_by, claim_type, accused_org_code, not_accepted_again, large_scale) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
         RETURNING {VISIT_COLUMNS}"
    ))
    .bind(v.id)
    .bind(&v.number)
    .bind(v.case_id)
    .bind(v.visited_at)
    .bind(&v.level)
    .bind(v.non_reception_place)
    .bind(&v.place_name)
    .bind(v.headcount)
    .bind(v.collective)
    .bind(v.repeat)
    .bind(v.leapfrog)
    .bind(&v.category_code)
    .bind(&v.problem_org_code)
    .bind(&v.content)
    .bind(&v.demands)
    .bind(v.registered_by)
    .bind(v.claim_type)
    .bind(&v.accused_org_code)
    .bind(v.not_accepted_again)
    .bind(v.large_scale)
    .fetch_one(conn)
    .await
}

pub async fn get_visit(conn: &mut PgConnection, id: Uuid) -> Result<Option<VisitRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {VISIT_COLUMNS} FROM visits WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The matter a visit or letter belongs to now, if the registration exists.
pub async fn case_of(
    conn: &mut PgConnection,
    kind: &str,
    id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    let table = if kind == "visit" { "visits" } else { "letters" };
    sqlx::query_scalar(&format!("SELECT case_id FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

#[derive(Debug, Default, Clone)]
pub struct VisitFilter {
    pub level: Option<String>,
    pub non_reception_place: Option<bool>,
    pub repeat: Option<bool>,
    pub collective: Option<bool>,
    pub leapfrog: Option<bool>,
}

pub async fn list_visits(
    conn: &mut PgConnection,
    scope: &ListScope,
    filter: &VisitFilter,
    limit: i64,
) -> Result<Vec<VisitRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VISIT_COLUMNS} FROM visits \
         WHERE ($1::text IS NULL OR problem_org_code = $1) \
           AND {readable} \
           AND ($3::timestamptz IS NULL OR visited_at >= $3) \
           AND ($4::timestamptz IS NULL OR visited_at < $4) \
           AND ($5::timestamptz IS NULL OR (visited_at, id) < ($5, $6)) \
           AND ($7::text IS NULL OR level = $7) \
           AND ($8::bool IS NULL OR non_reception_place = $8) \
           AND ($9::bool IS NULL OR repeat = $9) \
           AND ($10::bool IS NULL OR collective = $10) \
           AND ($11::bool IS NULL OR leapfrog = $11) \
         ORDER BY visited_at DESC, id DESC LIMIT $12",
        readable = scope.reader.condition(Kind::Visit, "visits", 2)
    ))
    .bind(&scope.org)
    .bind(scope.reader.param())
    .bind(scope.from)
    .bind(scope.until)
    .bind(scope.after.map(|(t, _)| t))
    .bind(scope.after.map(|(_, id)| id))
    .bind(&filter.level)
    .bind(filter.non_reception_place)
    .bind(filter.repeat)
    .bind(filter.collective)
    .bind(filter.leapfrog)
    .bind(limit)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct LetterRow {
    pub id: Uuid,
    pub number: String,
    pub case_id: Uuid,
    pub channel: String,
    pub source_reference: String,
    pub campaign: String,
    pub received_at: DateTime<Utc>,
    pub anonymous: bool,
    pub repeat: bool,
    pub category_code: String,
    pub problem_org_code: String,
    pub content: String,
    pub demands: String,
    pub registered_by: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub claim_type: i16,
    pub accused_org_code: Option<String>,
    pub not_accepted_again: bool,
}

const LETTER_COLUMNS: &str = "id, number, case_id, channel, source_reference, campaign, received_at, \
    anonymous, repeat, category_code, problem_org_code, content, demands, registered_by, recorded_at, \
    claim_type, accused_org_code, not_accepted_again";

pub async fn insert_letter(
    conn: &mut PgConnection,
    l: &LetterRow,
) -> Result<LetterRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO letters (id, number, case_id, channel, source_reference, campaign, received_at, \
             anonymous, repeat, category_code, problem_org_code, content, demands, registered_by, claim_type, \
             accused_org_code, not_accepted_again) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         RETURNING {LETTER_COLUMNS}"
    ))
    .bind(l.id)
    .bind(&l.number)
    .bind(l.case_id)
    .bind(&l.channel)
    .bind(&l.source_reference)
    .bind(&l.campaign)
    .bind(l.received_at)
    .bind(l.anonymous)
    .bind(l.repeat)
    .bind(&l.category_code)
    .bind(&l.problem_org_code)
    .bind(&l.content)
    .bind(&l.demands)
    .bind(l.registered_by)
    .bind(l.claim_type)
    .bind(&l.accused_org_code)
    .bind(l.not_accepted_again)
    .fetch_one(conn)
    .await
}

/// The registration number of the item from above with this sender's reference, if registered.
pub async fn letter_by_source(
    conn: &mut PgConnection,
    channel: &str,
    source_reference: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT number FROM letters WHERE channel = $1 AND source_reference = $2")
        .bind(channel)
        .bind(source_reference)
        .fetch_optional(conn)
        .await
}

pub async fn get_letter(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<LetterRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LETTER_COLUMNS} FROM letters WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct LetterFilter {
    pub channel: Option<String>,
    pub repeat: Option<bool>,
}

pub async fn list_letters(
    conn: &mut PgConnection,
    scope: &ListScope,
    filter: &LetterFilter,
    limit: i64,
) -> Result<Vec<LetterRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LETTER_COLUMNS} FROM letters \
         WHERE ($1::text IS NULL OR problem_org_code = $1) \
           AND {readable} \
           AND ($3::timestamptz IS NULL OR received_at >= $3) \
           AND ($4::timestamptz IS NULL OR received_at < $4) \
           AND ($5::timestamptz IS NULL OR (received_at, id) < ($5, $6)) \
           AND ($7::text IS NULL OR channel = $7) \
           AND ($8::bool IS NULL OR repeat = $8) \
         ORDER BY received_at DESC, id DESC LIMIT $9",
        readable = scope.reader.condition(Kind::Letter, "letters", 2)
    ))
    .bind(&scope.org)
    .bind(scope.reader.param())
    .bind(scope.from)
    .bind(scope.until)
    .bind(scope.after.map(|(t, _)| t))
    .bind(scope.after.map(|(_, id)| id))
    .bind(&filter.channel)
    .bind(filter.repeat)
    .bind(limit)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct TripRow {
    pub id: Uuid,
    pub number: String,
    pub notified_by: String,
    pub notified_at: DateTime<Utc>,
    pub destination_level: String,
    pub destination_place: String,
    pub non_reception_place: bool,
    pub responsible_org_code: String,
    pub officers: Vec<String>,
    pub departed_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub returned_at: Option<DateTime<Utc>>,
    pub transport_cost: Decimal,
    pub lodging_cost: Decimal,
    pub meal_cost: Decimal,
    pub other_cost: Decimal,
    pub outcome: String,
    pub report: String,
    pub sort_at: DateTime<Utc>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

const TRIP_COLUMNS: &str = "id, number, notified_by, notified_at, destination_level, destination_place, \
    non_reception_place, responsible_org_code, officers, departed_at, arrived_at, returned_at, \
    transport_cost, lodging_cost, meal_cost, other_cost, outcome, report, sort_at, recorded_by, recorded_at";

pub async fn insert_trip(conn: &mut PgConnection, t: &TripRow) -> Result<TripRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO return_trips (id, number, notified_by, notified_at, destination_level, \
             destination_place, non_reception_place, responsible_org_code, officers, departed_at, \
             arrived_at, returned_at, transport_cost, lodging_cost, meal_cost, other_cost, outcome, report, \
             sort_at, recorded_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
         RETURNING {TRIP_COLUMNS}"
    ))
    .bind(t.id)
    .bind(&t.number)
    .bind(&t.notified_by)
    .bind(t.notified_at)
    .bind(&t.destination_level)
    .bind(&t.destination_place)
    .bind(t.non_reception_place)
    .bind(&t.responsible_org_code)
    .bind(&t.officers)
    .bind(t.departed_at)
    .bind(t.arrived_at)
    .bind(t.returned_at)
    .bind(t.transport_cost)
    .bind(t.lodging_cost)
    .bind(t.meal_cost)
    .bind(t.other_cost)
    .bind(&t.outcome)
    .bind(&t.report)
    .bind(t.sort_at)
    .bind(t.recorded_by)
    .fetch_one(conn)
    .await
}

pub async fn link_trip_cases(
    conn: &mut PgConnection,
    trip: Uuid,
    cases: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO return_trip_cases (trip_id, case_id) SELECT $1, cid FROM unnest($2::uuid[]) AS t(cid)",
    )
    .bind(trip)
    .bind(cases)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn trip_cases(
    conn: &mut PgConnection,
    trips: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT trip_id, case_id FROM return_trip_cases WHERE trip_id = ANY($1) ORDER BY trip_id, case_id",
    )
    .bind(trips)
    .fetch_all(conn)
    .await
}

pub async fn get_trip(conn: &mut PgConnection, id: Uuid) -> Result<Option<TripRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TRIP_COLUMNS} FROM return_trips WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct TripFilter {
    pub destination_level: Option<String>,
    pub recorded_by: Option<Uuid>,
    pub outcome: Option<String>,
}

pub async fn list_trips(
    conn: &mut PgConnection,
    scope: &ListScope,
    filter: &TripFilter,
    limit: i64,
) -> Result<Vec<TripRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TRIP_COLUMNS} FROM return_trips \
         WHERE ($1::text IS NULL OR responsible_org_code = $1) \
           AND {readable} \
           AND ($3::timestamptz IS NULL OR sort_at >= $3) \
           AND ($4::timestamptz IS NULL OR sort_at < $4) \
           AND ($5::timestamptz IS NULL OR (sort_at, id) < ($5, $6)) \
           AND ($7::text IS NULL OR destination_level = $7) \
           AND ($8::uuid IS NULL OR recorded_by = $8) \
           AND ($9::text IS NULL OR outcome = $9) \
         ORDER BY sort_at DESC, id DESC LIMIT $10",
        readable = scope.reader.condition(Kind::Trip, "return_trips", 2)
    ))
    .bind(&scope.org)
    .bind(scope.reader.param())
    .bind(scope.from)
    .bind(scope.until)
    .bind(scope.after.map(|(t, _)| t))
    .bind(scope.after.map(|(_, id)| id))
    .bind(&filter.destination_level)
    .bind(filter.recorded_by)
    .bind(&filter.outcome)
    .bind(limit)
    .fetch_all(conn)
    .await
}
