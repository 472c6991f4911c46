//! `xinfang.v1.OrgService`: the tonic adapter of [`super::commands`] (docs/architecture.md): message → input,
//! a mutation in a transaction of its own (`db::transaction`) once per request id (`idempotency::claim`, then
//! `save` with the change), a read on a connection of the pool (`db::connection`), output → message. Errors
//! stay `AppError` until the tonic method converts them once.

use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use xinfang_proto::{
    v1::{
        CreateOrgUnitRequest, GetOrgUnitRequest, ListOrgUnitsRequest, ListOrgUnitsResponse,
        OrgUnit, OrgUnitKind, org_service_server::OrgService,
    },
    validate::{self, Violations},
};

use super::{
    commands::{self, ListQuery},
    model::{self, NewOrgUnit},
    store::OrgUnitRow,
};
use crate::{
    auth::{self, Principal},
    db,
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

    /// The adapter of `CreateOrgUnit`: runs in the transaction it is given, once per request id.
    pub(crate) async fn create(
        &self,
        p: &Principal,
        req: &CreateOrgUnitRequest,
        tx: &mut PgConnection,
    ) -> Result<OrgUnit, AppError> {
        let new = NewOrgUnit::parse(req, chrono::Utc::now().timestamp())?;
        let key = idempotency::Key::new(p.id, "CreateOrgUnit", new.request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let out = to_proto(commands::create_org_unit(p, &new, tx).await?);
        idempotency::save(tx, &key, &out).await?;
        Ok(out)
    }
}

#[tonic::async_trait]
impl OrgService for OrgApi {
    async fn list_org_units(
        &self,
        request: Request<ListOrgUnitsRequest>,
    ) -> Result<Response<ListOrgUnitsResponse>, Status> {
        let p = auth::principal(&request)?;
        let (query, page_size, filter_key) = list_query(request.get_ref())?;
        // One row more than asked tells whether another page exists without a count.
        let limit = i64::from(page_size) + 1;
        let mut conn = db::connection(&self.pool).await?;
        let mut rows = commands::list_org_units(p, &query, limit, &mut conn).await?;
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
        let p = auth::principal(&request)?;
        let code = org_code(request.get_ref())?;
        let mut conn = db::connection(&self.pool).await?;
        let row = commands::get_org_unit(p, &code, &mut conn).await?;
        Ok(Response::new(to_proto(row)))
    }

    async fn create_org_unit(
        &self,
        request: Request<CreateOrgUnitRequest>,
    ) -> Result<Response<OrgUnit>, Status> {
        let p = auth::principal(&request)?;
        let req = request.get_ref();
        let unit = db::transaction(&self.pool, |mut tx| async move {
            let out = self.create(p, req, &mut tx).await?;
            Ok((out, tx))
        })
        .await?;
        Ok(Response::new(unit))
    }
}

/// The query of a `ListOrgUnits` message, its page size and the filter its page token is bound to.
fn list_query(req: &ListOrgUnitsRequest) -> Result<(ListQuery, u32, String), AppError> {
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
    let page_size = v.finish(|| page_size)?;
    let query = ListQuery {
        kind,
        parent_code,
        after,
    };
    Ok((query, page_size, filter_key))
}

fn org_code(req: &GetOrgUnitRequest) -> Result<String, AppError> {
    Ok(validate::org_code("code", &req.code)?)
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
