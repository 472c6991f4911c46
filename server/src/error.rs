//! The one place where errors become `tonic::Status`.
//!
//! Services return [`AppError`]; this module picks the gRPC code, attaches `google.rpc` details
//! (`BadRequest` field violations, `ErrorInfo` with a stable reason) and makes sure internal details are logged
//! here and never sent to the caller.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use xinfang_proto::validate::{FieldViolation, Violations};

/// `ErrorInfo.domain` of every error xinfang returns.
pub const ERROR_DOMAIN: &str = "xinfang.v1";

/// `ErrorInfo.reason` of an ABORTED that only lost a race: the same call sent again may succeed, unlike a
/// stale etag.
pub const LOST_RACE: &str = "LOST_RACE";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input, field by field. Nothing was changed.
    #[error("invalid argument: {0}")]
    InvalidArgument(Violations),
    /// A workflow step that the current state does not allow. `reason` is stable (`CASE_NOT_ACCEPTED`) and
    /// is what programs match on; `message` is for people.
    #[error("{reason}: {message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// A stale etag: the caller must read again before it decides.
    #[error("{0}")]
    Aborted(String),
    /// The transaction lost a race to a concurrent one (deadlock, serialization failure) and left nothing
    /// behind; running it again is safe, and [`crate::db::transaction`] does.
    #[error("{LOST_RACE}: concurrent update, retry")]
    LostRace,
    /// A per-principal limit; the caller should wait `retry_after`, then try again.
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The database cannot be reached; retrying later is the right move.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(FieldViolation::new(field, description).into())
    }

    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::FailedPrecondition {
            reason,
            message: message.into(),
        }
    }
}

impl From<Violations> for AppError {
    fn from(violations: Violations) -> Self {
        Self::InvalidArgument(violations)
    }
}

impl From<FieldViolation> for AppError {
    fn from(violation: FieldViolation) -> Self {
        Self::InvalidArgument(violation.into())
    }
}

/// SQLSTATE classes and codes that mean "the database is not there right now" rather than "this request
/// is wrong": connection exceptions, operator intervention (shutdown in progress), too many connections.
fn is_unavailable(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "53300"
}

/// Unique constraints that express a rule of the domain, and what to tell the caller when one is violated.
fn unique_rule(constraint: &str) -> Option<&'static str> {
    match constraint {
        "letters_source_reference_key" => Some("this transfer is registered already"),
        "org_units_pkey" => Some("an org unit with this code exists"),
        "org_units_one_petition_office" => Some("the county has its petition office already"),
        _ => None,
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some(code) if is_unavailable(code) => Self::Unavailable(err),
                // serialization_failure, deadlock_detected: a lost race, safe to retry.
                Some("40001" | "40P01") => Self::LostRace,
                // A unique constraint that guards a business rule lost a race the service checked for
                // first; the loser gets the same answer the check would have given.
                Some("23505") => match db.constraint().and_then(unique_rule) {
                    Some(message) => Self::AlreadyExists(message.into()),
                    None => Self::Internal(err.into()),
                },
                _ => Self::Internal(err.into()),
            },
            _ => Self::Internal(err.into()),
        }
    }
}

impl From<AppError> for Status {
    fn from(err: AppError) -> Self {
        match err {
            AppError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                let message = violations.to_string();
                for v in violations.into_vec() {
                    details.add_bad_request_violation(v.field, v.description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            AppError::FailedPrecondition { reason, message } => {
                let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::new());
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            AppError::NotFound(what) => Status::not_found(format!("{what} not found")),
            AppError::AlreadyExists(message) => Status::already_exists(message),
            AppError::PermissionDenied(message) => Status::permission_denied(message),
            AppError::Unauthenticated(message) => Status::unauthenticated(message),
            AppError::Aborted(message) => Status::aborted(message),
            AppError::LostRace => {
                let details =
                    ErrorDetails::with_error_info(LOST_RACE, ERROR_DOMAIN, HashMap::new());
                Status::with_error_details(Code::Aborted, "concurrent update, retry", details)
            }
            AppError::ResourceExhausted {
                message,
                retry_after,
            } => {
                let details = ErrorDetails::with_retry_info(Some(retry_after));
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
            AppError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                Status::unavailable("database unavailable, retry later")
            }
            AppError::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_every_field() {
        let mut v = Violations::new();
        v.add("org_unit.code", "required");
        v.add("org_unit.name", "required");
        let status = Status::from(AppError::from(v));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("bad request details");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["org_unit.code", "org_unit.name"]);
    }

    #[test]
    fn failed_precondition_carries_a_stable_reason() {
        let status = Status::from(AppError::precondition(
            "CASE_NOT_ACCEPTED",
            "the case has not been accepted",
        ));
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, "CASE_NOT_ACCEPTED");
        assert_eq!(info.domain, ERROR_DOMAIN);
    }

    #[test]
    fn internal_details_stay_inside() {
        let status = Status::from(AppError::Internal(anyhow::anyhow!(
            "relation secret_table does not exist"
        )));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret_table"));
    }

    #[test]
    fn a_lost_race_is_aborted_and_says_so() {
        let status = Status::from(AppError::LostRace);
        assert_eq!(status.code(), Code::Aborted);
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, LOST_RACE);
        let stale = Status::from(AppError::Aborted("the case changed".into()));
        assert!(stale.get_error_details().error_info().is_none());
    }

    #[test]
    fn a_limit_says_when_to_try_again() {
        let status = Status::from(AppError::ResourceExhausted {
            message: "busy".into(),
            retry_after: std::time::Duration::from_millis(400),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status.get_error_details().retry_info().cloned().unwrap();
        assert_eq!(
            retry.retry_delay,
            Some(std::time::Duration::from_millis(400))
        );
    }

    #[test]
    fn lost_connections_are_unavailable() {
        let err = AppError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(Status::from(err).code(), Code::Unavailable);
    }
}
