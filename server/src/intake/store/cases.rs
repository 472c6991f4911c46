//! The cases registrations join: repeat matching (同人+同事), the registrations of a case and their
//! flags, moving a registration out, and the petitioners of a case.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// A case a registration links to, with what it is claimed as.
#[derive(Debug, Clone, FromRow)]
pub struct LinkedCase {
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

/// The earliest case that shares a petitioner (by ID-number hash, or by name+phone hash) and has the same
/// category and problem place; for an accusation against `accusation_against`, only among accusations
/// against that unit. Whether the registration is then initial or a repeat is decided by the dates of the
/// case's registrations (`model::repeat_flags`), not here.
pub async fn find_repeat_case(
    conn: &mut PgConnection,
    keys: &MatchKeys,
    category: &str,
    problem_org: &str,
    accusation_against: Option<&str>,
) -> Result<Option<LinkedCase>, sqlx::Error> {
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

/// A visit or letter of a case, as initial/repeat is derived from the case's registrations.
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

/// Every visit and letter of the case `case_id`, earliest first. Call it with the case locked.
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

/// Moves a visit or letter into the case `case_id` as its initial registration (answered as such).
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

/// Unlinks from the case `case_id` the petitioners that none of its visits and letters lists any more.
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

/// A number for a case opened from the registration `number` after the fact (a detached registration):
/// the registration's own number when no case has it, else the number with the next free suffix
/// (`XF510422-2024-000123-2`), since the case it opened first keeps its number.
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

/// The case `id`, which a registration names as the one it repeats.
pub async fn linked_case(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<LinkedCase>, sqlx::Error> {
    sqlx::query_as("SELECT id, claim_type, accused_org_code FROM cases WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The units that the accusations among the cases `ids` accuse.
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

/// How a registration described its case, as it was registered.
#[derive(Debug, Clone, FromRow)]
pub struct Description {
    pub category_code: String,
    pub problem_org_code: String,
    pub content: String,
    pub demands: String,
    pub claim_type: i16,
    pub accused_org_code: Option<String>,
}

/// The description of the visit or letter `id`; `kind` is "visit" or "letter", never input.
pub async fn description_of(
    conn: &mut PgConnection,
    kind: &str,
    id: Uuid,
) -> Result<Option<Description>, sqlx::Error> {
    let table = if kind == "visit" { "visits" } else { "letters" };
    sqlx::query_as(&format!(
        "SELECT category_code, problem_org_code, content, demands, claim_type, accused_org_code \
         FROM {table} WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}
