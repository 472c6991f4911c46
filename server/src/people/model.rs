//! Passwords and the lockout rule: pure, but for the random salt and the CPU that Argon2id burns.

use std::{sync::OnceLock, time::Duration};

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};

use crate::error::AppError;

/// Failed sign-ins in a row that lock an account.
pub const MAX_FAILED_ATTEMPTS: i32 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted: hashing is bounded, and nobody types more.
pub const MAX_PASSWORD_CHARS: usize = 200;

/// Hashes at most this many passwords at once. Signing in is open to anyone who reaches the port, and each
/// hash takes ~19 MiB and tens of milliseconds of a core: without a bound, a flood of sign-ins would take the
/// machine from everyone else. Excess sign-ins wait their turn.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Argon2id with the RustCrypto defaults (m = 19 MiB, t = 2, p = 1: OWASP's recommendation).
fn argon2() -> Argon2<'static> {
    Argon2::default()
}

/// The PHC string of `password` under a new random salt.
pub async fn hash_password(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| anyhow::anyhow!("hashing semaphore: {e}"))?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| anyhow::anyhow!("hashing task: {e}"))?
}

/// Whether `password` matches the PHC string `hash`. With `hash` `None` (no such person) a hash of the
/// same cost is checked anyway, so that the time taken does not tell which names exist.
pub async fn verify_password(hash: Option<String>, password: &str) -> Result<bool, AppError> {
    let password = password.to_owned();
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| anyhow::anyhow!("hashing semaphore: {e}"))?;
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match hash {
            Some(hash) => (hash, true),
            None => (decoy_hash().to_owned(), false),
        };
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("a stored password hash: {e}")))?;
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(real && matches)
    })
    .await
    .map_err(|e| anyhow::anyhow!("hashing task: {e}"))?
}

/// A hash of a random password, made once, for names that do not exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let mut secret = [0u8; 24];
        // A fixed fallback is no weaker: nobody can sign in as a name that does not exist.
        let _ = getrandom::fill(&mut secret);
        argon2()
            .hash_password(&secret, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// A new password: long enough, not absurdly long. Checked before anything is stored.
pub fn check_new_password(field: &str, password: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(
            field,
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A user name as stored: trimmed, 1–64 characters, no control characters.
pub fn user_name(field: &str, name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid(field, "required"));
    }
    if name.chars().count() > 64 {
        return Err(AppError::invalid(field, "at most 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::invalid(field, "no control characters"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password(Some(hash.clone()), "correct horse battery")
                .await
                .unwrap()
        );
        assert!(
            !verify_password(Some(hash), "wrong horse battery")
                .await
                .unwrap()
        );
        assert!(!verify_password(None, "anything at all").await.unwrap());
    }

    #[test]
    fn new_passwords_and_names_are_checked() {
        assert!(check_new_password("new_password", "short").is_err());
        assert!(check_new_password("new_password", "long enough!").is_ok());
        assert!(check_new_password("p", &"x".repeat(201)).is_err());
        assert_eq!(user_name("n", "  zhang.wei ").unwrap(), "zhang.wei");
        assert!(user_name("n", " ").is_err());
        assert!(user_name("n", "a\nb").is_err());
    }
}
