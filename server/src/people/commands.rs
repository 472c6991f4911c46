//! One function per thing that happens to a person: signing in and out and changing the password (the
//! `SessionService` RPCs), and the administrator's `user add|passwd|disable|list`.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{model, store};
use crate::{
    audit,
    auth::{self, Principal, Role, Session, SessionPolicy},
    error::AppError,
};

/// `ErrorInfo.reason` of a sign-in refused because the account is locked.
pub const ACCOUNT_LOCKED: &str = "ACCOUNT_LOCKED";
/// `ErrorInfo.reason` of a password change by a caller that is not a signed-in person.
pub const NOT_A_PERSON: &str = "NOT_A_PERSON";

/// The one answer to a wrong name, a wrong password and a disabled person: telling them apart would tell
/// an attacker which names to try.
fn wrong_credentials() -> AppError {
    AppError::Unauthenticated("wrong user name or password".into())
}

fn locked(until: DateTime<Utc>) -> AppError {
    AppError::precondition(
        ACCOUNT_LOCKED,
        format!(
            "account locked until {}",
            until.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    )
}

/// Audit subject of a person.
fn subject(person: Uuid) -> String {
    format!("person:{person}")
}

/// A signed-in person.
#[derive(Debug)]
pub struct SignedIn {
    /// The session token, shown once: the database keeps its hash.
    pub token: String,
    pub principal: Principal,
}

/// Signs a person in. See the contract (`SessionService.SignIn`) for the answers.
pub async fn sign_in(
    pool: &PgPool,
    policy: &SessionPolicy,
    user_name: &str,
    password: &str,
) -> Result<SignedIn, AppError> {
    // No trimming of the name beyond what `user add` stored, and no check of the password's shape: a
    // malformed attempt is just a wrong one, but an empty field is the form's mistake.
    if user_name.trim().is_empty() {
        return Err(AppError::invalid("user_name", "required"));
    }
    if password.is_empty() {
        return Err(AppError::invalid("password", "required"));
    }
    let person = {
        let mut conn = pool.acquire().await?;
        store::by_name(&mut conn, user_name.trim()).await?
    };
    let Some(person) = person else {
        // The same work as for a real person, then the same answer.
        model::verify_password(None, password).await?;
        let mut conn = pool.acquire().await?;
        audit::store::append(
            &mut conn,
            Uuid::nil(),
            "sign_in.failed",
            "person:unknown",
            "no such name",
        )
        .await?;
        return Err(wrong_credentials());
    };
    if let Some(until) = person.locked_until.filter(|until| *until > person.now) {
        // Not even checked: a locked account must not answer guesses.
        let mut conn = pool.acquire().await?;
        audit::store::append(
            &mut conn,
            person.principal.id,
            "sign_in.refused",
            &subject(person.id),
            "locked",
        )
        .await?;
        return Err(locked(until));
    }
    let matches = model::verify_password(Some(person.password_hash.clone()), password).await?;
    let mut tx = pool.begin().await?;
    if person.disabled {
        audit::store::append(
            &mut tx,
            person.principal.id,
            "sign_in.failed",
            &subject(person.id),
            "disabled",
        )
        .await?;
        tx.commit().await?;
        return Err(wrong_credentials());
    }
    if !matches {
        let locked_until = fail(&mut tx, &person, "wrong password").await?;
        tx.commit().await?;
        return Err(locked_until.map_or_else(wrong_credentials, locked));
    }
    if !store::record_success(&mut tx, person.id).await? {
        // Locked or disabled by a concurrent call since it was read: as if it had been then.
        tx.rollback().await?;
        return Err(wrong_credentials());
    }
    let token = auth::model::new_session_token()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("random source: {e}")))?;
    store::insert_session(&mut tx, &auth::model::token_hash(&token), person.id).await?;
    audit::store::append(
        &mut tx,
        person.principal.id,
        "sign_in",
        &subject(person.id),
        "",
    )
    .await?;
    // Sessions past their absolute age are over; a day later they are forgotten (until then a token of one
    // is told "session expired" rather than "unknown").
    let forget = chrono::Duration::from_std(policy.max_age).unwrap_or(chrono::Duration::zero())
        + chrono::Duration::days(1);
    store::prune_sessions(&mut tx, person.now - forget).await?;
    tx.commit().await?;
    tracing::info!(person = %person.id, principal = %person.principal.id, "signed in");
    Ok(SignedIn {
        token,
        principal: person.principal,
    })
}

/// Counts a failed password of `person` and audits it; the end of the lock when this failure locked the
/// account.
async fn fail(
    conn: &mut PgConnection,
    person: &store::PersonRow,
    why: &str,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let locked_until = store::record_failure(
        conn,
        person.id,
        model::MAX_FAILED_ATTEMPTS,
        model::LOCKOUT.as_secs_f64(),
    )
    .await?;
    audit::store::append(
        conn,
        person.principal.id,
        "sign_in.failed",
        &subject(person.id),
        why,
    )
    .await?;
    if let Some(until) = locked_until {
        let detail = format!(
            "{} failures in a row; locked until {}",
            model::MAX_FAILED_ATTEMPTS,
            until.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        audit::store::append(
            conn,
            person.principal.id,
            "sign_in.locked",
            &subject(person.id),
            &detail,
        )
        .await?;
        tracing::warn!(person = %person.id, "account locked after repeated failed sign-ins");
    }
    Ok(locked_until)
}

/// Ends the caller's session at once. A caller without a session (a bearer token) has nothing to end.
pub async fn sign_out(
    pool: &PgPool,
    principal: &Principal,
    session: Option<Session>,
) -> Result<(), AppError> {
    let Some(session) = session else {
        return Ok(());
    };
    let mut tx = pool.begin().await?;
    if store::end_session(&mut tx, &session.token_hash, "signed_out").await? {
        audit::store::append(
            &mut tx,
            principal.id,
            "sign_out",
            &subject(session.person_id),
            "",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Changes the signed-in person's password; their other sessions end.
pub async fn change_password(
    pool: &PgPool,
    principal: &Principal,
    session: Option<Session>,
    old_password: &str,
    new_password: &str,
) -> Result<(), AppError> {
    let Some(session) = session else {
        return Err(AppError::precondition(
            NOT_A_PERSON,
            "only a person signed in with a password has one to change",
        ));
    };
    if old_password.is_empty() {
        return Err(AppError::invalid("old_password", "required"));
    }
    model::check_new_password("new_password", new_password)?;
    if new_password == old_password {
        return Err(AppError::invalid(
            "new_password",
            "must differ from the old password",
        ));
    }
    let person = {
        let mut conn = pool.acquire().await?;
        store::by_id(&mut conn, session.person_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("session of a person that does not exist"))?
    };
    if !model::verify_password(Some(person.password_hash.clone()), old_password).await? {
        let mut tx = pool.begin().await?;
        let locked_until = fail(&mut tx, &person, "wrong old password").await?;
        tx.commit().await?;
        return Err(locked_until.map_or_else(
            || AppError::Unauthenticated("wrong password".into()),
            locked,
        ));
    }
    let hash = model::hash_password(new_password).await?;
    let mut tx = pool.begin().await?;
    store::set_password(&mut tx, person.id, &hash).await?;
    let ended = store::end_sessions_of(
        &mut tx,
        person.id,
        "password_changed",
        Some(&session.token_hash),
    )
    .await?;
    audit::store::append(
        &mut tx,
        principal.id,
        "password.changed",
        &subject(person.id),
        &format!("{ended} other sessions ended"),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `user add`: a person and their principal. The operator's commands are audited as the nil principal,
/// like the seed: they run on the server, outside any call.
pub async fn add(
    pool: &PgPool,
    user_name: &str,
    role: Role,
    org_code: &str,
    display_name: Option<&str>,
    password: &str,
) -> Result<(Uuid, Principal), AppError> {
    let user_name = model::user_name("name", user_name)?;
    if role == Role::Agency {
        return Err(AppError::invalid(
            "role",
            "agency is for other systems, which use tokens",
        ));
    }
    model::check_new_password("password", password)?;
    let hash = model::hash_password(password).await?;
    let mut tx = pool.begin().await?;
    if store::by_name(&mut tx, &user_name).await?.is_some() {
        return Err(AppError::AlreadyExists(format!(
            "a person named {user_name} exists"
        )));
    }
    let principal =
        auth::create_person_principal(&mut tx, role, org_code, display_name.unwrap_or(&user_name))
            .await?;
    let id = Uuid::now_v7();
    if !store::insert(&mut tx, id, &user_name, principal.id, &hash).await? {
        return Err(AppError::AlreadyExists(format!(
            "a person named {user_name} exists"
        )));
    }
    audit::store::append(
        &mut tx,
        Uuid::nil(),
        "person.added",
        &subject(id),
        &format!("{user_name} as {role} of {}", principal.org_code),
    )
    .await?;
    tx.commit().await?;
    Ok((id, principal))
}

async fn named(conn: &mut PgConnection, user_name: &str) -> Result<store::PersonRow, AppError> {
    store::by_name(conn, user_name.trim())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("person {}", user_name.trim())))
}

/// `user passwd`: a new password, the account unlocked, every session ended.
pub async fn reset_password(
    pool: &PgPool,
    user_name: &str,
    password: &str,
) -> Result<(), AppError> {
    model::check_new_password("password", password)?;
    let hash = model::hash_password(password).await?;
    let mut tx = pool.begin().await?;
    let person = named(&mut tx, user_name).await?;
    store::set_password(&mut tx, person.id, &hash).await?;
    let ended = store::end_sessions_of(&mut tx, person.id, "password_changed", None).await?;
    audit::store::append(
        &mut tx,
        Uuid::nil(),
        "password.reset",
        &subject(person.id),
        &format!("{ended} sessions ended"),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `user disable`: no more sign-ins, every session ended now.
pub async fn disable(pool: &PgPool, user_name: &str) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let person = named(&mut tx, user_name).await?;
    if !store::disable(&mut tx, person.id).await? {
        return Err(AppError::precondition(
            "PERSON_DISABLED",
            format!("{} is disabled already", person.user_name),
        ));
    }
    let ended = store::end_sessions_of(&mut tx, person.id, "disabled", None).await?;
    audit::store::append(
        &mut tx,
        Uuid::nil(),
        "person.disabled",
        &subject(person.id),
        &format!("{ended} sessions ended"),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `user list`.
pub async fn list(pool: &PgPool) -> Result<Vec<store::PersonRow>, AppError> {
    let mut conn = pool.acquire().await?;
    Ok(store::list(&mut conn).await?)
}

/// The idle timeout as the contract carries it.
pub fn idle_timeout(policy: &SessionPolicy) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(policy.idle.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    }
}
