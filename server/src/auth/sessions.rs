//! Session tokens of people signed in to the workbench (`crate::people` signs them in): accepted wherever a
//! bearer token is, and resolved to the person's own principal, so the role table and the read rule treat
//! a person exactly as a token of the same role and unit.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{model::Principal, store};
use crate::error::AppError;

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Without a call for this long, a session ends.
    pub idle: Duration,
    /// However busy, a session ends this long after sign-in: a stolen token does not live forever.
    pub max_age: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            max_age: Duration::from_secs(12 * 60 * 60),
        }
    }
}

impl SessionPolicy {
    /// How stale `last_used_at` may get before a call writes it again: a write per call would cost every
    /// request of a busy clerk a row update, and being late by a tenth of the timeout (at most a minute)
    /// only ends a session that much earlier.
    fn touch_after(&self) -> chrono::Duration {
        let slack = (self.idle / 10).min(Duration::from_secs(60));
        chrono::Duration::from_std(slack).unwrap_or(chrono::Duration::zero())
    }

    fn expired(&self, row: &store::SessionRow) -> bool {
        let idle = chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX);
        let max_age = chrono::Duration::from_std(self.max_age).unwrap_or(chrono::Duration::MAX);
        row.now - row.last_used_at > idle || row.now - row.created_at > max_age
    }
}

/// What the auth layer puts beside the principal when the caller came with a session token: which session,
/// so that signing out ends this one and a password change spares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub token_hash: [u8; 32],
    pub person_id: uuid::Uuid,
}

/// The principal of a live session, its last use moved on. A session that timed out is refused with
/// "session expired", which the workbench shows as such; one that was ended, or whose person was disabled,
/// like an unknown token.
pub async fn resolve(
    conn: &mut sqlx::PgConnection,
    token_hash: &[u8; 32],
    policy: &SessionPolicy,
) -> Result<(Principal, Session), AppError> {
    let unknown = || AppError::Unauthenticated("unknown or ended session".into());
    let row = store::session_by_token(conn, token_hash)
        .await?
        .ok_or_else(unknown)?;
    if row.ended_at.is_some() || !row.live {
        return Err(unknown());
    }
    if policy.expired(&row) {
        return Err(AppError::Unauthenticated("session expired".into()));
    }
    if row.now - row.last_used_at > policy.touch_after() {
        store::touch_session(conn, token_hash).await?;
    }
    let session = Session {
        token_hash: *token_hash,
        person_id: row.person_id,
    };
    Ok((row.principal, session))
}

/// When a session that was last used at `last_used` times out.
pub fn idle_deadline(last_used: DateTime<Utc>, policy: &SessionPolicy) -> DateTime<Utc> {
    last_used + chrono::Duration::from_std(policy.idle).unwrap_or(chrono::Duration::zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(created_ago: i64, used_ago: i64) -> store::SessionRow {
        let now = Utc::now();
        store::SessionRow {
            principal: Principal {
                id: uuid::Uuid::nil(),
                name: "x".into(),
                role: super::super::Role::Leader,
                org_code: "510422".into(),
            },
            person_id: uuid::Uuid::nil(),
            created_at: now - chrono::Duration::seconds(created_ago),
            last_used_at: now - chrono::Duration::seconds(used_ago),
            ended_at: None,
            live: true,
            now,
        }
    }

    #[test]
    fn sessions_expire_when_idle_and_at_their_absolute_age() {
        let policy = SessionPolicy {
            idle: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
        };
        assert!(!policy.expired(&row(100, 10)));
        assert!(policy.expired(&row(100, 61)));
        assert!(policy.expired(&row(3601, 1)));
        assert_eq!(policy.touch_after(), chrono::Duration::seconds(6));
        assert_eq!(
            SessionPolicy::default().touch_after(),
            chrono::Duration::seconds(60)
        );
    }
}
