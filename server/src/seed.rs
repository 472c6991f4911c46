//! First-start data: the county's org units from `data/org-units.csv` (added on every start when new rows
//! appear in the file, never changed or removed), and an administrator when there is none.

use anyhow::Context;
use sqlx::PgPool;

use crate::{
    auth::{self, Role},
    org::store as org_store,
};

/// The county's org units: county, petition office, townships (statistical division codes) and the county
/// departments that act as responsible units (project codes `510422Dnn`).
pub const ORG_UNITS_CSV: &str = include_str!("../data/org-units.csv");

/// The category dictionary (问题类别): stable codes for programs, names for people.
pub const CATEGORIES_CSV: &str = include_str!("../data/categories.csv");

/// The fund categories (资金类别) of the special fund's budgets.
pub const FUND_CATEGORIES_CSV: &str = include_str!("../data/fund-categories.csv");

/// Org unit of the seeded administrator: the county petition bureau.
pub const ADMIN_ORG: &str = "510422XF";

#[derive(Debug, serde::Deserialize)]
struct OrgUnitRecord {
    code: String,
    name: String,
    kind: String,
    parent_code: String,
}

/// Seeds org units and, when no administrator exists, creates one and returns its token.
pub async fn run(pool: &PgPool) -> anyhow::Result<Option<String>> {
    let mut tx = pool.begin().await?;
    // Two processes starting on a fresh database at once would both see "no admin".
    crate::db::lock_for_seeding(&mut tx).await?;
    let mut reader = csv::Reader::from_reader(ORG_UNITS_CSV.as_bytes());
    let now = chrono::Utc::now();
    for record in reader.deserialize() {
        let record: OrgUnitRecord = record.context("reading data/org-units.csv")?;
        let insert = org_store::Insert {
            code: &record.code,
            name: &record.name,
            kind: &record.kind,
            parent_code: (!record.parent_code.is_empty()).then_some(record.parent_code.as_str()),
            created_at: now,
        };
        org_store::insert(&mut tx, &insert)
            .await
            .with_context(|| format!("seeding org unit {}", record.code))?;
    }
    let mut categories = csv::Reader::from_reader(CATEGORIES_CSV.as_bytes());
    for record in categories.deserialize() {
        let (code, name): (String, String) = record.context("reading data/categories.csv")?;
        crate::intake::store::insert_category(&mut tx, &code, &name).await?;
    }
    let mut fund_categories = csv::Reader::from_reader(FUND_CATEGORIES_CSV.as_bytes());
    for record in fund_categories.deserialize() {
        let (code, name): (String, String) = record.context("reading data/fund-categories.csv")?;
        crate::funds::store::insert_category(&mut tx, &code, &name).await?;
    }
    let token = if auth::store::any_admin(&mut tx).await? {
        None
    } else {
        let (_, token) = auth::issue_token(&mut tx, Role::Admin, ADMIN_ORG, "administrator")
            .await
            .map_err(|e| anyhow::anyhow!("creating the administrator: {e}"))?;
        Some(token)
    };
    tx.commit().await?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_file_is_a_well_formed_tree() {
        let mut reader = csv::Reader::from_reader(ORG_UNITS_CSV.as_bytes());
        let records: Vec<OrgUnitRecord> = reader.deserialize().map(Result::unwrap).collect();
        assert_eq!(records[0].code, "510422");
        assert_eq!(records[0].kind, "county");
        let townships = records.iter().filter(|r| r.kind == "township").count();
        assert_eq!(townships, 12, "Yanbian has 12 township-level divisions");
        assert!(
            records
                .iter()
                .any(|r| r.code == ADMIN_ORG && r.kind == "petition_office")
        );
        for r in &records[1..] {
            assert_eq!(r.parent_code, "510422", "{} hangs off the county", r.code);
            xinfang_proto::validate::org_code("code", &r.code).unwrap();
        }
    }
}
