//! The org units' commands: one function per method of `OrgService`, run in the caller's transaction
//! (docs/architecture.md). Every role reads the whole tree, and only administrators create units, which the
//! role table of the auth layer decides (docs/access.md); org needs no settings, so its commands take no
//! context. What is decided here is the shape of the tree.

use sqlx::PgConnection;
use xinfang_proto::v1::OrgUnitKind;

use super::{
    model::{self, NewOrgUnit},
    store::{self, OrgUnitRow},
};
use crate::{auth::Principal, error::AppError, kernel::time};

/// `ListOrgUnits`: units of a kind and parent, in code order after `after`.
pub struct ListQuery {
    pub kind: Option<&'static str>,
    pub parent_code: Option<String>,
    pub after: Option<String>,
}

pub async fn list_org_units(
    _p: &Principal,
    q: &ListQuery,
    limit: i64,
    tx: &mut PgConnection,
) -> Result<Vec<OrgUnitRow>, AppError> {
    let filter = store::ListFilter {
        kind: q.kind,
        parent_code: q.parent_code.as_deref(),
        after_code: q.after.as_deref(),
    };
    Ok(store::list(tx, &filter, limit).await?)
}

pub async fn get_org_unit(
    _p: &Principal,
    code: &str,
    tx: &mut PgConnection,
) -> Result<OrgUnitRow, AppError> {
    store::get(tx, code)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("org unit {code}")))
}

/// `CreateOrgUnit`: a petition office, township or department under the county.
pub async fn create_org_unit(
    _p: &Principal,
    new: &NewOrgUnit,
    tx: &mut PgConnection,
) -> Result<OrgUnitRow, AppError> {
    let parent = store::get(tx, &new.parent_code)
        .await?
        .ok_or_else(|| AppError::invalid("org_unit.parent_code", "no org unit has this code"))?;
    model::check_parent(new.kind, model::kind_from_db(&parent.kind))?;
    // The county has one petition office: the unit that registers, assigns and is judged as the office.
    if new.kind == OrgUnitKind::PetitionOffice && store::petition_office(tx).await?.is_some() {
        return Err(AppError::precondition(
            "ONE_PETITION_OFFICE",
            "the county has its petition office already; create a township or a department",
        ));
    }
    let created_at = time::from_proto(&new.occurred_at)
        .ok_or_else(|| AppError::invalid("occurred_at", "out of range"))?;
    let insert = store::Insert {
        code: &new.code,
        name: &new.name,
        kind: model::kind_to_db(new.kind).unwrap_or_default(),
        parent_code: Some(&new.parent_code),
        created_at,
    };
    let row = store::insert(tx, &insert)
        .await?
        .ok_or_else(|| AppError::AlreadyExists(format!("org unit {} exists", new.code)))?;
    tracing::info!(code = %row.code, kind = ?new.kind, "org unit created");
    Ok(row)
}
