//! Petitioners, sealed, and the audit of every unmasked read of them.

use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

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
    /// 代理人: listed, but no petitioner of the case (trips list none).
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

/// [`record_pii_reads`] for the reads of several principals, `(principal, petitioner)` each.
pub async fn record_pii_reads_by(
    conn: &mut PgConnection,
    reads: &[(Uuid, Uuid)],
    method: &str,
) -> Result<(), sqlx::Error> {
    if reads.is_empty() {
        return Ok(());
    }
    let principals: Vec<Uuid> = reads.iter().map(|r| r.0).collect();
    let petitioners: Vec<Uuid> = reads.iter().map(|r| r.1).collect();
    sqlx::query(
        "INSERT INTO pii_reads (principal_id, petitioner_id, method) \
         SELECT p, pid, $3 FROM unnest($1::uuid[], $2::uuid[]) AS t(p, pid)",
    )
    .bind(&principals)
    .bind(&petitioners)
    .bind(method)
    .execute(&mut *conn)
    .await?;
    let rows: Vec<crate::audit::store::NewRow> = reads
        .iter()
        .map(|(principal, person)| crate::audit::store::NewRow {
            principal_id: *principal,
            action: "pii_read".into(),
            subject: person.to_string(),
            detail: method.to_owned(),
        })
        .collect();
    crate::audit::store::append_rows(conn, &rows).await
}
