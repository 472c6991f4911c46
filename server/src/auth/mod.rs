//! Who is calling: principals with a role and an org unit, bearer tokens and people's session tokens stored
//! as hashes, and the layer that authenticates every request except health, reflection and signing in.

pub mod access;
pub mod layer;
pub mod limits;
pub mod model;
pub mod sessions;
pub mod store;

pub use layer::AuthLayer;
pub use model::{Principal, Role};
pub use sessions::{Session, SessionPolicy};

use crate::error::AppError;

/// The authenticated principal of a request; the auth layer put it there.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, AppError> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| AppError::Unauthenticated("missing credentials".into()))
}

/// The session of a request whose caller came with a session token; `None` for a bearer token or a
/// certificate.
pub fn session<T>(request: &tonic::Request<T>) -> Option<Session> {
    request.extensions().get::<Session>().copied()
}

/// A new principal of `role` in org unit `org_code` (checked: the unit exists and suits the role), not yet
/// stored.
async fn new_principal(
    conn: &mut sqlx::PgConnection,
    role: Role,
    org_code: &str,
    name: &str,
) -> Result<Principal, AppError> {
    use xinfang_proto::validate;

    let name = validate::required_text("name", name, 100)?;
    let org_code = validate::org_code("org", org_code)?;
    let kind = store::org_kind(conn, &org_code)
        .await?
        .ok_or_else(|| AppError::invalid("org", "no org unit has this code"))?;
    if !role.allowed_org_kinds().contains(&kind.as_str()) {
        return Err(AppError::invalid(
            "org",
            format!("a {role} belongs to a township or department, not a {kind}"),
        ));
    }
    Ok(Principal {
        id: uuid::Uuid::now_v7(),
        name,
        role,
        org_code,
    })
}

/// Creates the principal of a person (no bearer token: the person signs in for session tokens).
pub async fn create_person_principal(
    conn: &mut sqlx::PgConnection,
    role: Role,
    org_code: &str,
    name: &str,
) -> Result<Principal, AppError> {
    let principal = new_principal(conn, role, org_code, name).await?;
    store::insert_tokenless_principal(conn, &principal).await?;
    Ok(principal)
}

/// Creates a principal of `role` in org unit `org_code` and returns it with its bearer token, which exists
/// only in this return value: the database keeps its hash.
pub async fn issue_token(
    conn: &mut sqlx::PgConnection,
    role: Role,
    org_code: &str,
    name: &str,
) -> Result<(Principal, String), AppError> {
    let principal = new_principal(conn, role, org_code, name).await?;
    let token = model::new_token()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("random source: {e}")))?;
    store::insert_principal(conn, &principal, &model::token_hash(&token)).await?;
    tracing::info!(principal = %principal.id, role = %role, org = %principal.org_code, "token issued");
    Ok((principal, token))
}

/// Lets the holder of a client certificate with `subject` in as this (agency) principal.
pub async fn bind_certificate(
    conn: &mut sqlx::PgConnection,
    principal: &Principal,
    subject: &str,
) -> Result<(), AppError> {
    if principal.role != Role::Agency {
        return Err(AppError::invalid(
            "cert_subject",
            "client certificates are for agency systems",
        ));
    }
    let subject = xinfang_proto::validate::required_text("cert_subject", subject, 253)?;
    if !store::bind_certificate(conn, principal.id, &subject).await? {
        return Err(AppError::AlreadyExists(format!(
            "certificate subject {subject} belongs to another principal"
        )));
    }
    Ok(())
}
