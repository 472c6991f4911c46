//! Roles, principals and tokens: pure rules, no I/O but the random source.

use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    CountyClerk,
    FieldOfficer,
    TownshipClerk,
    Leader,
    Agency,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::CountyClerk,
        Role::FieldOfficer,
        Role::TownshipClerk,
        Role::Leader,
        Role::Agency,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CountyClerk => "county_clerk",
            Role::FieldOfficer => "field_officer",
            Role::TownshipClerk => "township_clerk",
            Role::Leader => "leader",
            Role::Agency => "agency",
            Role::Auditor => "auditor",
        }
    }

    /// Whether the role loads historical records (events dated more than a year back): the county office
    /// enters the past; everyone else records what happens now.
    pub fn loads_history(self) -> bool {
        matches!(self, Role::Admin | Role::CountyClerk)
    }

    /// The clock a request of this role is dated by (docs/architecture.md, the kernel).
    pub fn clock(self) -> crate::kernel::Clock {
        crate::kernel::Clock {
            now: chrono::Utc::now(),
            history: self.loads_history(),
        }
    }

    /// Org-unit kinds a principal of this role may belong to. A township clerk sits in a township or a
    /// responsible department and sees only its unit; the county-wide roles (which see every township) and the
    /// bureau's field officers sit in the county or its petition bureau; an agency system may be anywhere.
    pub fn allowed_org_kinds(self) -> &'static [&'static str] {
        match self {
            Role::TownshipClerk => &["township", "department"],
            Role::Agency => &["county", "petition_office", "township", "department"],
            _ => &["county", "petition_office"],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role {0:?}; one of admin, county_clerk, field_officer, township_clerk, leader, agency, auditor"
)]
pub struct UnknownRole(String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub org_code: String,
}

impl Principal {
    /// `PERMISSION_DENIED` unless the principal has one of `roles`.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), AppError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        Err(AppError::PermissionDenied(format!(
            "role {} may not {action}",
            self.role
        )))
    }
}

/// Prefix of every bearer token, so that a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "xft_";

/// Prefix of a session token (a person signed in to the workbench); sent the same way as a bearer token.
pub const SESSION_PREFIX: &str = "xfs_";

/// A new bearer token: the prefix and 256 random bits, URL-safe base64.
pub fn new_token() -> Result<String, getrandom::Error> {
    random_token(TOKEN_PREFIX)
}

/// A new session token: like a bearer token, with the session prefix.
pub fn new_session_token() -> Result<String, getrandom::Error> {
    random_token(SESSION_PREFIX)
}

fn random_token(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// What is stored for a token: its SHA-256.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of an `authorization: Bearer …` header value, a bearer or a session token; `None` when it is
/// neither.
pub fn parse_bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (token.starts_with(TOKEN_PREFIX) || token.starts_with(SESSION_PREFIX)).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(parse_bearer("Bearer xft_abc"), Some("xft_abc"));
        assert_eq!(parse_bearer("bearer  xft_abc "), Some("xft_abc"));
        assert_eq!(parse_bearer("Basic xft_abc"), None);
        assert_eq!(parse_bearer("Bearer other"), None);
        assert_eq!(parse_bearer("Bearer xfs_abc"), Some("xfs_abc"));
        assert!(new_session_token().unwrap().starts_with(SESSION_PREFIX));
        assert_eq!(parse_bearer("xft_abc"), None);
    }

    #[test]
    fn permission_check_names_the_role() {
        let p = Principal {
            id: Uuid::nil(),
            name: "clerk".into(),
            role: Role::TownshipClerk,
            org_code: "510422100".into(),
        };
        assert!(p.require(&[Role::TownshipClerk], "x").is_ok());
        let err = p.require(&[Role::Admin], "create org units").unwrap_err();
        assert!(err.to_string().contains("township_clerk"));
    }
}
