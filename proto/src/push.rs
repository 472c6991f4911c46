//! What a push answers for an operation refused: the same code, reason and fields as the call made online.
//! The server answers it for an operation refused alone; a client records it for an operation a whole
//! push was refused for, once it has been sent alone.

use tonic::Status;
use tonic_types::StatusExt;

use crate::v1::{OpOutcome, OpResult};

/// The result of the operation `op_id` refused with `status`.
pub fn rejected(op_id: &str, status: &Status) -> OpResult {
    let details = status.get_error_details();
    OpResult {
        op_id: op_id.to_owned(),
        outcome: OpOutcome::Rejected as i32,
        result: None,
        code: status.code() as i32,
        reason: details
            .error_info()
            .map(|i| i.reason.clone())
            .unwrap_or_default(),
        message: status.message().to_owned(),
        fields: details
            .bad_request()
            .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
            .unwrap_or_default(),
    }
}
