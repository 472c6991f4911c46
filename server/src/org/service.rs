//! `xinfang.v1.OrgService`.

use sqlx::PgPool;
use tonic::{Request, Response, Status};
use xinfang_proto::{
    v1::{
        CreateOrgUnitRequest, GetOrgUnitRequest, ListOrgUnitsRequest, ListOrgUnitsResponse,
        OrgUnit, OrgUnitKind, org_service_server::OrgService,
    },
    validate::{self, Violations},
};

use super::{
    model::{self, NewOrgUnit},
    store::{self, OrgUnitRow},
};
use crate::{
    auth::{self, Role},
    error::AppError,
    idempotency,
    kernel::time,
    paging,
};

pub struct OrgApi {
    pool: PgPool,
}

impl OrgApi {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn to_proto(row: OrgUnitRow) -> OrgUnit {
    OrgUnit {
        kind: model::kind_from_db(&row.kind) as i32,
        etag: row.version.to_string(),
        create_time: Some(time::to_proto(row.created_at)),
        update_time: Some(time::to_proto(row.updated_at)),
        code: row.code,
        name: row.name,
        parent_code: row.parent_code.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl OrgService for OrgApi {
    async fn list_org_units(
        &self,
        request: Request<ListOrgUnitsRequest>,
    ) -> Result<Response<ListOrgUnitsResponse>, Status> {
        auth::principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check(validate::page_size("page_size", req.page_size));
        let kind = v
            .check(validate::optional_enum::<OrgUnitKind>("kind", req.kind))
            .flatten()
            .and_then(model::kind_to_db);
        let parent_code = if req.parent_code.is_empty() {
            None
        } else {
            v.check(validate::org_code("parent_code", &req.parent_code))
        };
        let filter_key = format!(
            "kind={}&parent={}",
            kind.unwrap_or(""),
            parent_code.as_deref().unwrap_or("")
        );
        let after = v
            .check(paging::decode(&req.page_token, &filter_key))
            .flatten();
        let page_size = v.finish(|| page_size).map_err(AppError::from)?;

        let filter = store::ListFilter {
            kind,
            parent_code: parent_code.as_deref(),
            after_code: after.as_deref(),
        };
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        // One row more than asked tells whether another page exists without a count.
        let mut rows = store::list(&mut conn, &filter, i64::from(page_size) + 1)
            .await
            .map_err(AppError::from)?;
        let next_page_token =
            paging::next_page(&mut rows, page_size, &filter_key, |last| last.code.clone());
        Ok(Response::new(ListOrgUnitsResponse {
            org_units: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_org_unit(
        &self,
        request: Request<GetOrgUnitRequest>,
    ) -> Result<Response<OrgUnit>, Status> {
        auth::principal(&request)?;
        let code = validate::org_code("code", &request.get_ref().code).map_err(AppError::from)?;
        let mut conn = self.pool.acquire().await.map_err(AppError::from)?;
        let row = store::get(&mut conn, &code)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::NotFound(format!("org unit {code}")))?;
        Ok(Response::new(to_proto(row)))
    }

    async fn create_org_unit(
        &self,
        request: Request<CreateOrgUnitRequest>,
    ) -> Result<Response<OrgUnit>, Status> {
        let principal = auth::principal(&request)?;
        principal.require(&[Role::Admin], "create org units")?;
        let now = chrono::Utc::now();
        let new = NewOrgUnit::parse(request.get_ref(), now.timestamp()).map_err(AppError::from)?;
        let key = idempotency::Key::new(
            principal.id,
            "CreateOrgUnit",
            new.request_id,
            request.get_ref(),
        );
        Ok(Response::new(self.create(&key, &new).await?))
    }
}

impl OrgApi {
    async fn create(&self, key: &idempotency::Key, new: &NewOrgUnit) -> Result<OrgUnit, AppError> {
        let mut tx = self.pool.begin().await?;
        if let Some(first) = idempotency::claim::<OrgUnit>(&mut tx, key).await? {
            return Ok(first);
        }
        let parent = store::get(&mut tx, &new.parent_code)
            .await?
            .ok_or_else(|| {
                AppError::invalid("org_unit.parent_code", "no org unit has this code")
            })?;
        model::check_parent(new.kind, model::kind_from_db(&parent.kind))?;
        // The county has one petition office: the unit that registers, assigns and is judged as the office.
        if new.kind == OrgUnitKind::PetitionOffice
            && store::petition_office(&mut tx).await?.is_some()
        {
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
        let row = store::insert(&mut tx, &insert)
            .await?
            .ok_or_else(|| AppError::AlreadyExists(format!("org unit {} exists", new.code)))?;
        let unit = to_proto(row);
        idempotency::save(&mut tx, key, &unit).await?;
        tx.commit().await?;
        tracing::info!(code = %unit.code, kind = ?new.kind, "org unit created");
        Ok(unit)
    }
}
