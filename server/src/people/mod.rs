//! People who sign in to the workbench with a name and a password (issue #18). Each person is linked to a
//! principal of their own, made with them, which carries the role, the org unit and the display name; a
//! sign-in gives a session token that the auth layer resolves to that principal
//! (`crate::auth::sessions`), so a person is decided by the same role table and read rule as a token.
//!
//! Passwords are Argon2id hashes ([`model`]); five failures in a row lock the account for 15 minutes; sign-ins,
//! failures, lockouts, sign-outs and password changes go to the audit trail. Passwords and tokens are never
//! logged nor audited.

pub mod commands;
pub mod model;
pub mod store;

pub use commands::*;
