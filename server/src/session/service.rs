//! `xinfang.v1.SessionService`: the caller, read from its principal and the role table; signing people in and
//! out and their password changes (`crate::people`), as thin adapters.

use sqlx::PgPool;
use tonic::{Request, Response, Status};
use xinfang_proto::v1::{
    Caller, ChangePasswordRequest, ChangePasswordResponse, GetCallerRequest, Role as RoleProto,
    SignInRequest, SignInResponse, SignOutRequest, SignOutResponse,
    session_service_server::SessionService,
};

use crate::{
    auth::{self, Principal, Role, SessionPolicy, access},
    db,
    error::AppError,
    org, people,
};

pub struct SessionApi {
    pool: PgPool,
    policy: SessionPolicy,
    max_in_flight: u32,
}

impl SessionApi {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            policy: SessionPolicy::default(),
            max_in_flight: crate::auth::limits::Limits::default().max_in_flight,
        }
    }

    /// The fair share the auth layer enforces, told to callers.
    pub fn with_max_in_flight(mut self, max_in_flight: u32) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }

    /// How long the sessions it opens live (the auth layer must be given the same).
    pub fn with_sessions(mut self, policy: SessionPolicy) -> Self {
        self.policy = policy;
        self
    }
}

/// The role as the contract names it.
pub fn role_to_proto(role: Role) -> RoleProto {
    match role {
        Role::Admin => RoleProto::Admin,
        Role::CountyClerk => RoleProto::CountyClerk,
        Role::FieldOfficer => RoleProto::FieldOfficer,
        Role::TownshipClerk => RoleProto::TownshipClerk,
        Role::Leader => RoleProto::Leader,
        Role::Agency => RoleProto::Agency,
        Role::Auditor => RoleProto::Auditor,
    }
}

/// The methods of the role table that `role` may call, sorted.
pub fn methods_of(role: Role) -> Vec<String> {
    let mut methods: Vec<String> = access::ACCESS
        .iter()
        .filter(|(method, _)| access::permits(method, role))
        .map(|(method, _)| (*method).to_owned())
        .collect();
    methods.sort();
    methods
}

impl SessionApi {
    async fn caller(&self, p: &Principal) -> Result<Caller, AppError> {
        let mut conn = db::connection(&self.pool).await?;
        let unit = org::store::get(&mut conn, &p.org_code)
            .await?
            .ok_or_else(|| anyhow::anyhow!("principal {} names no org unit", p.id))?;
        Ok(Caller {
            principal_id: p.id.to_string(),
            name: p.name.clone(),
            role: role_to_proto(p.role) as i32,
            org_unit: Some(org::service::to_proto(unit)),
            methods: methods_of(p.role),
            max_in_flight: i32::try_from(self.max_in_flight).unwrap_or(i32::MAX),
        })
    }
}

#[tonic::async_trait]
impl SessionService for SessionApi {
    async fn get_caller(
        &self,
        request: Request<GetCallerRequest>,
    ) -> Result<Response<Caller>, Status> {
        let caller = self.caller(auth::principal(&request)?).await?;
        Ok(Response::new(caller))
    }

    async fn sign_in(
        &self,
        request: Request<SignInRequest>,
    ) -> Result<Response<SignInResponse>, Status> {
        let SignInRequest {
            user_name,
            password,
        } = request.into_inner();
        let signed_in = people::sign_in(&self.pool, &self.policy, &user_name, &password).await?;
        let caller = self.caller(&signed_in.principal).await?;
        Ok(Response::new(SignInResponse {
            session_token: signed_in.token,
            caller: Some(caller),
            idle_timeout: Some(people::idle_timeout(&self.policy)),
        }))
    }

    async fn sign_out(
        &self,
        request: Request<SignOutRequest>,
    ) -> Result<Response<SignOutResponse>, Status> {
        let principal = auth::principal(&request)?;
        people::sign_out(&self.pool, principal, auth::session(&request)).await?;
        Ok(Response::new(SignOutResponse {}))
    }

    async fn change_password(
        &self,
        request: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        let session = auth::session(&request);
        let ChangePasswordRequest {
            old_password,
            new_password,
        } = request.into_inner();
        people::change_password(
            &self.pool,
            &principal,
            session,
            &old_password,
            &new_password,
        )
        .await?;
        Ok(Response::new(ChangePasswordResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_told_exactly_the_methods_of_its_rows() {
        let leader = methods_of(Role::Leader);
        assert!(leader.contains(&"/xinfang.v1.FundService/ApproveFundRequest".to_owned()));
        assert!(!leader.contains(&"/xinfang.v1.CaseService/AcceptCase".to_owned()));
        assert!(
            methods_of(Role::Agency).contains(&"/xinfang.v1.SessionService/GetCaller".to_owned())
        );
        for role in Role::ALL {
            assert_eq!(
                role_to_proto(role).as_str_name(),
                format!("ROLE_{}", role.as_str().to_uppercase())
            );
        }
    }
}
