//! The people of a registration or trip: sealed when written, shown masked or in full as the reader's role
//! allows, every full showing audited (docs/personal-data.md).

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_proto::{input::intake::NewPetitioner, personal, v1::Petitioner};

use super::{
    model,
    store::{self, Links, Listed, MatchKeys, PetitionerRow},
};
use crate::{
    auth::Principal,
    error::AppError,
    pii::{Field, Keyring, PiiKeys},
};

/// How personal data goes out in one response.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reveal {
    Masked,
    Full,
}

impl Reveal {
    pub fn for_principal(principal: &Principal) -> Self {
        if model::sees_full_pii(principal.role) {
            Reveal::Full
        } else {
            Reveal::Masked
        }
    }
}

/// The keyed hashes of a person as listed: of the ID number, and of the name with the phone.
pub struct Hashed {
    pub id: Option<Vec<u8>>,
    pub contact: Option<Vec<u8>>,
}

/// The hashes of each of `people`, with one keyring.
pub fn hash(ring: &Keyring, people: &[NewPetitioner]) -> Vec<Hashed> {
    people
        .iter()
        .map(|p| Hashed {
            id: p.id_number.as_deref().map(|n| ring.match_hash(n).to_vec()),
            contact: model::contact_key(&p.name, p.phone.as_deref())
                .map(|k| ring.contact_hash(&k).to_vec()),
        })
        .collect()
}

/// The keys that find the petitioners among `people` (never the proxies: 同人 is the principal's
/// identity) again for repeat matching.
pub fn match_keys(people: &[NewPetitioner], hashed: &[Hashed]) -> MatchKeys {
    let petitioners = || people.iter().zip(hashed).filter(|(p, _)| !p.proxy);
    MatchKeys {
        id_hashes: petitioners().filter_map(|(_, h)| h.id.clone()).collect(),
        contact_hashes: petitioners()
            .filter_map(|(_, h)| h.contact.clone())
            .collect(),
    }
}

/// A person sealed with `ring`, as stored, under a new id.
pub fn sealed<'a>(
    ring: &'a Keyring,
    p: &'a NewPetitioner,
    hashed: &'a Hashed,
) -> Result<store::PetitionerRecord<'a>, AppError> {
    let seal =
        |field, value: &Option<String>| value.as_deref().map(|v| ring.seal(field, v)).transpose();
    Ok(store::PetitionerRecord {
        id: Uuid::now_v7(),
        name: &p.name,
        id_hash: hashed.id.as_deref(),
        contact_hash: hashed.contact.as_deref(),
        id_number_enc: seal(Field::IdNumber, &p.id_number)?,
        id_number_masked: p.id_number.as_deref().map(personal::mask_id_number),
        phone_enc: seal(Field::Phone, &p.phone)?,
        phone_masked: p.phone.as_deref().map(personal::mask_phone),
        address_enc: seal(Field::Address, &p.address)?,
        seal_key: ring.current_id(),
    })
}

/// What a failed write of people means: a seal key retired by a rotation this process has not noticed yet
/// (it checks every second) makes the key file be read again and the write run again with the new key.
pub fn stored_or_retry<T>(keys: &PiiKeys, written: Result<T, sqlx::Error>) -> Result<T, AppError> {
    match written {
        Ok(v) => Ok(v),
        Err(err) if crate::pii::store::is_key_in_use(&err) => {
            if let Err(err) = keys.reload() {
                tracing::warn!(error = %err, "reading the personal-data key file again");
            }
            Err(AppError::LostRace)
        }
        Err(err) => Err(err.into()),
    }
}

/// Seals and stores the people listed; returns them as listed (ids, representative and proxy flags), and the
/// keyed hashes that find the petitioners among them (never the proxies) again for repeat matching: of ID
/// numbers, and of names with phones.
pub async fn store_petitioners(
    conn: &mut PgConnection,
    keys: &PiiKeys,
    people: &[NewPetitioner],
) -> Result<(Vec<Listed>, MatchKeys), AppError> {
    // One keyring for all of them, so that the key id stored is the key that sealed, whatever a rotation
    // does meanwhile.
    let ring = keys.ring();
    let hashed = hash(&ring, people);
    // Inserting a new person waits for a concurrent transaction inserting the same one; taking people in one
    // global order (by hash) keeps two registrations that share them from deadlocking each other.
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_by(|a, b| hashed[*a].id.cmp(&hashed[*b].id));
    let mut listed = vec![
        Listed {
            petitioner_id: Uuid::nil(),
            representative: false,
            proxy: false,
        };
        people.len()
    ];
    for i in order {
        let p = &people[i];
        let record = sealed(&ring, p, &hashed[i])?;
        let id = stored_or_retry(keys, store::upsert_petitioner(conn, &record).await)?;
        listed[i] = Listed {
            petitioner_id: id,
            representative: p.representative,
            proxy: p.proxy,
        };
    }
    Ok((listed, match_keys(people, &hashed)))
}

fn petitioner_to_proto(
    keys: &PiiKeys,
    row: &PetitionerRow,
    reveal: Reveal,
) -> Result<Petitioner, AppError> {
    let open = |field, sealed: &Option<Vec<u8>>| -> Result<String, AppError> {
        match sealed {
            Some(bytes) => Ok(keys.open(field, row.seal_key.as_deref(), bytes)?),
            None => Ok(String::new()),
        }
    };
    let (id_number, phone, address) = match reveal {
        Reveal::Full => (
            open(Field::IdNumber, &row.id_number_enc)?,
            open(Field::Phone, &row.phone_enc)?,
            open(Field::Address, &row.address_enc)?,
        ),
        Reveal::Masked => (
            row.id_number_masked.clone().unwrap_or_default(),
            row.phone_masked.clone().unwrap_or_default(),
            // An address has no useful mask: it is withheld whole.
            if row.address_enc.is_some() {
                "***".to_owned()
            } else {
                String::new()
            },
        ),
    };
    Ok(Petitioner {
        id: row.id.to_string(),
        name: row.name.clone(),
        id_number,
        phone,
        address,
        representative: row.representative,
        masked: reveal == Reveal::Masked,
        proxy: row.proxy,
    })
}

/// The people of each owner as `principal` sees them, every full showing audited under `method`.
pub async fn shown(
    conn: &mut PgConnection,
    keys: &PiiKeys,
    principal: &Principal,
    links: Links,
    owners: &[Uuid],
    method: &str,
) -> Result<HashMap<Uuid, Vec<Petitioner>>, AppError> {
    let reveal = Reveal::for_principal(principal);
    let rows = store::petitioners_of(conn, links, owners).await?;
    let mut by_owner: HashMap<Uuid, Vec<Petitioner>> = HashMap::new();
    let mut revealed = Vec::new();
    for row in &rows {
        by_owner
            .entry(row.owner_id)
            .or_default()
            .push(petitioner_to_proto(keys, row, reveal)?);
        if reveal == Reveal::Full {
            revealed.push(row.id);
        }
    }
    revealed.sort_unstable();
    revealed.dedup();
    store::record_pii_reads(conn, principal.id, &revealed, method).await?;
    Ok(by_owner)
}

/// The people of a record just written, read once: masked, for the stored first answer (a retry never gets
/// personal data in clear from it), and as the principal's role sees them, audited when in full.
pub async fn written(
    conn: &mut PgConnection,
    keys: &PiiKeys,
    principal: &Principal,
    links: Links,
    owner: Uuid,
    method: &str,
) -> Result<(Vec<Petitioner>, Vec<Petitioner>), AppError> {
    let mut of = written_by(conn, keys, links, &[(owner, principal)], method).await?;
    Ok(of.remove(&owner).unwrap_or_default())
}

/// [`written`] for records just written by several principals (a group of registrations): one read of
/// their people, one audit statement for every full showing.
pub async fn written_by(
    conn: &mut PgConnection,
    keys: &PiiKeys,
    links: Links,
    owners: &[(Uuid, &Principal)],
    method: &str,
) -> Result<HashMap<Uuid, (Vec<Petitioner>, Vec<Petitioner>)>, AppError> {
    let ids: Vec<Uuid> = owners.iter().map(|(o, _)| *o).collect();
    let rows = store::petitioners_of(conn, links, &ids).await?;
    let reader: HashMap<Uuid, &Principal> = owners.iter().copied().collect();
    let mut of: HashMap<Uuid, (Vec<Petitioner>, Vec<Petitioner>)> =
        ids.iter().map(|o| (*o, (Vec::new(), Vec::new()))).collect();
    // (principal, record, person): one audited read per person per record, as when each was written alone.
    let mut revealed: Vec<(Uuid, Uuid, Uuid)> = Vec::new();
    for row in &rows {
        let masked = petitioner_to_proto(keys, row, Reveal::Masked)?;
        let shown = match reader.get(&row.owner_id) {
            Some(p) if Reveal::for_principal(p) == Reveal::Full => {
                revealed.push((p.id, row.owner_id, row.id));
                petitioner_to_proto(keys, row, Reveal::Full)?
            }
            _ => masked.clone(),
        };
        let entry = of.entry(row.owner_id).or_default();
        entry.0.push(masked);
        entry.1.push(shown);
    }
    revealed.sort_unstable();
    revealed.dedup();
    let reads: Vec<(Uuid, Uuid)> = revealed
        .into_iter()
        .map(|(p, _, person)| (p, person))
        .collect();
    store::record_pii_reads_by(conn, &reads, method).await?;
    Ok(of)
}
