//! Rules of the special fund: the states of a request and its chain, the separation of duties, and the checks
//! on amounts, purposes and relief.

use rust_decimal::Decimal;
use xinfang_proto::{
    money,
    v1::{FundPurpose, FundRequestState, PaymentMethod},
    validate::FieldViolation,
};

use crate::error::AppError;

pub fn state_to_db(state: FundRequestState) -> &'static str {
    match state {
        FundRequestState::Unspecified => "",
        FundRequestState::Submitted => "submitted",
        FundRequestState::BureauApproved => "bureau_approved",
        FundRequestState::BureauRejected => "bureau_rejected",
        FundRequestState::Approved => "approved",
        FundRequestState::Rejected => "rejected",
        FundRequestState::Disbursed => "disbursed",
    }
}

pub fn state_from_db(state: &str) -> FundRequestState {
    match state {
        "submitted" => FundRequestState::Submitted,
        "bureau_approved" => FundRequestState::BureauApproved,
        "bureau_rejected" => FundRequestState::BureauRejected,
        "approved" => FundRequestState::Approved,
        "rejected" => FundRequestState::Rejected,
        "disbursed" => FundRequestState::Disbursed,
        _ => FundRequestState::Unspecified,
    }
}

/// One step of the chain after submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    BureauDecision { approve: bool },
    Approve,
    Reject,
    Disburse,
}

impl Step {
    /// The event's action name.
    pub fn action(self) -> &'static str {
        match self {
            Step::BureauDecision { approve: true } => "bureau_approved",
            Step::BureauDecision { approve: false } => "bureau_rejected",
            Step::Approve => "approved",
            Step::Reject => "rejected",
            Step::Disburse => "disbursed",
        }
    }
}

/// The state after `step`, or why the step is not allowed now.
pub fn transition(state: FundRequestState, step: Step) -> Result<FundRequestState, AppError> {
    use FundRequestState as S;
    let (from, to, reason, wanted) = match step {
        Step::BureauDecision { approve } => (
            S::Submitted,
            if approve {
                S::BureauApproved
            } else {
                S::BureauRejected
            },
            "REQUEST_NOT_SUBMITTED",
            "the bureau meeting decides a submitted request",
        ),
        Step::Approve => (
            S::BureauApproved,
            S::Approved,
            "REQUEST_NOT_BUREAU_APPROVED",
            "the leader approves a plan the bureau meeting approved",
        ),
        Step::Reject => (
            S::BureauApproved,
            S::Rejected,
            "REQUEST_NOT_BUREAU_APPROVED",
            "the leader rejects a plan the bureau meeting approved",
        ),
        Step::Disburse => (
            S::Approved,
            S::Disbursed,
            "REQUEST_NOT_APPROVED",
            "only an approved request is paid",
        ),
    };
    if state == from {
        return Ok(to);
    }
    if matches!(state, S::BureauRejected | S::Rejected | S::Disbursed) {
        return Err(AppError::precondition(
            "REQUEST_CLOSED",
            format!("the request is {}; {wanted}", state_to_db(state)),
        ));
    }
    Err(AppError::precondition(
        reason,
        format!("the request is {}; {wanted}", state_to_db(state)),
    ))
}

/// Segregation of duties: whoever recorded the bureau decision does not approve. Which roles take which step
/// (the bureau records meetings, a leader who chaired one may too, and payments; a leader approves) is the
/// role table's, per method (docs/access.md); this is about the person.
pub fn segregation_of_duties(
    actor: uuid::Uuid,
    step: Step,
    decided_by: Option<uuid::Uuid>,
) -> Result<(), AppError> {
    if step == Step::Approve && decided_by == Some(actor) {
        return Err(AppError::precondition(
            "SEGREGATION_OF_DUTIES",
            "the person who recorded the bureau decision may not also approve the request",
        ));
    }
    Ok(())
}

/// The payment method of a disbursement: treasury transfers only.
pub fn payment_method(value: i32) -> Result<PaymentMethod, FieldViolation> {
    match PaymentMethod::try_from(value) {
        Ok(PaymentMethod::Direct) => Ok(PaymentMethod::Direct),
        Ok(PaymentMethod::Authorized) => Ok(PaymentMethod::Authorized),
        Ok(PaymentMethod::Cash) => Err(FieldViolation::new(
            "method",
            "cash payments are not allowed: pay by direct (直接支付) or authorized (授权支付) treasury payment",
        )),
        Ok(PaymentMethod::Unspecified) => Err(FieldViolation::new(
            "method",
            "required: DIRECT or AUTHORIZED",
        )),
        Err(_) => Err(FieldViolation::new(
            "method",
            format!("unknown value {value}"),
        )),
    }
}

/// A signed amount for budget documents: "-12000.00" reduces, "12000.00" adds; zero changes nothing.
pub fn signed_amount(field: &str, value: &str) -> Result<Decimal, FieldViolation> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let amount = money::amount(field, digits)?;
    if amount.is_zero() {
        return Err(FieldViolation::new(field, "must not be zero"));
    }
    Ok(if negative { -amount } else { amount })
}

/// An attachment's content hash: 64 hex characters.
pub fn sha256_hex(field: &str, value: &str) -> Result<String, FieldViolation> {
    let lower = value.trim().to_ascii_lowercase();
    if lower.len() == 64 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(lower)
    } else {
        Err(FieldViolation::new(
            field,
            "must be a SHA-256 in 64 hex characters",
        ))
    }
}

/// What a purpose requires to be named.
pub fn purpose_needs(purpose: FundPurpose) -> (bool, bool) {
    // (case and petitioner, trip)
    match purpose {
        FundPurpose::HardshipRelief => (true, false),
        FundPurpose::ReturnTrip => (false, true),
        _ => (false, false),
    }
}

/// Relief to one petitioner in one year stays within the cap, counting every request not refused.
///
/// What is granted already may come from requests of other units, which only county roles read: the refusal
/// names the figures only when `disclose` is set (docs/access.md).
pub fn relief_within_cap(
    already: Decimal,
    amount: Decimal,
    cap: Decimal,
    disclose: bool,
) -> Result<(), AppError> {
    if already + amount > cap {
        let message = if disclose {
            format!(
                "relief to one petitioner is capped at {} a year; {} is granted or pending already",
                money::format(cap),
                money::format(already)
            )
        } else {
            format!(
                "relief to one petitioner is capped at {} a year; with what is granted or pending \
                 already, this request would go over it",
                money::format(cap)
            )
        };
        return Err(AppError::precondition("RELIEF_CAP_EXCEEDED", message));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn reason(err: AppError) -> &'static str {
        match err {
            AppError::FailedPrecondition { reason, .. } => reason,
            other => panic!("expected a precondition, got {other:?}"),
        }
    }

    #[test]
    fn the_chain_in_order_and_nothing_else() {
        use FundRequestState as S;
        let approve = Step::BureauDecision { approve: true };
        assert_eq!(
            transition(S::Submitted, approve).unwrap(),
            S::BureauApproved
        );
        assert_eq!(
            transition(S::Submitted, Step::BureauDecision { approve: false }).unwrap(),
            S::BureauRejected
        );
        assert_eq!(
            transition(S::BureauApproved, Step::Approve).unwrap(),
            S::Approved
        );
        assert_eq!(
            transition(S::BureauApproved, Step::Reject).unwrap(),
            S::Rejected
        );
        assert_eq!(
            transition(S::Approved, Step::Disburse).unwrap(),
            S::Disbursed
        );
        assert_eq!(
            reason(transition(S::Submitted, Step::Approve).unwrap_err()),
            "REQUEST_NOT_BUREAU_APPROVED"
        );
        assert_eq!(
            reason(transition(S::Submitted, Step::Disburse).unwrap_err()),
            "REQUEST_NOT_APPROVED"
        );
        assert_eq!(
            reason(transition(S::BureauApproved, approve).unwrap_err()),
            "REQUEST_NOT_SUBMITTED"
        );
        assert_eq!(
            reason(transition(S::Disbursed, Step::Disburse).unwrap_err()),
            "REQUEST_CLOSED"
        );
        assert_eq!(
            reason(transition(S::Rejected, Step::Approve).unwrap_err()),
            "REQUEST_CLOSED"
        );
    }

    #[test]
    fn segregation_of_duties_between_meeting_and_approval() {
        let clerk = uuid::Uuid::from_u128(1);
        let leader = uuid::Uuid::from_u128(2);
        let approve = Step::Approve;
        assert!(segregation_of_duties(leader, approve, Some(clerk)).is_ok());
        assert_eq!(
            reason(segregation_of_duties(leader, approve, Some(leader)).unwrap_err()),
            "SEGREGATION_OF_DUTIES"
        );
        // Only approval is kept from the meeting's recorder: it may still be the one who pays.
        assert!(segregation_of_duties(clerk, Step::Disburse, Some(clerk)).is_ok());
        assert!(segregation_of_duties(leader, Step::Reject, Some(leader)).is_ok());
    }

    #[test]
    fn cash_is_refused_by_name() {
        assert_eq!(payment_method(1).unwrap(), PaymentMethod::Direct);
        assert_eq!(payment_method(2).unwrap(), PaymentMethod::Authorized);
        let cash = payment_method(3).unwrap_err();
        assert_eq!(cash.field, "method");
        assert!(cash.description.contains("cash"));
        assert!(payment_method(0).is_err() && payment_method(9).is_err());
    }

    #[test]
    fn signed_amounts() {
        assert_eq!(
            signed_amount("a", "-1200.5").unwrap(),
            Decimal::from_str("-1200.50").unwrap()
        );
        assert_eq!(
            signed_amount("a", "275900.00").unwrap(),
            Decimal::from_str("275900").unwrap()
        );
        assert!(signed_amount("a", "0").is_err());
        assert!(signed_amount("a", "--1").is_err());
        assert!(signed_amount("a", "1.001").is_err());
    }

    #[test]
    fn relief_cap() {
        let cap = Decimal::from(30_000);
        assert!(relief_within_cap(Decimal::from(20_000), Decimal::from(10_000), cap, true).is_ok());
        let over = |disclose| {
            relief_within_cap(
                Decimal::from(20_000),
                Decimal::from_str("10000.01").unwrap(),
                cap,
                disclose,
            )
            .unwrap_err()
        };
        assert_eq!(reason(over(true)), "RELIEF_CAP_EXCEEDED");
        assert!(over(true).to_string().contains("20000.00"));
        // Out of the county office, the figures of other units' requests are not told.
        let hidden = over(false).to_string();
        assert!(!hidden.contains("20000"), "{hidden}");
    }

    #[test]
    fn hashes() {
        assert!(sha256_hex("h", &"A".repeat(64)).is_ok());
        assert!(sha256_hex("h", &"g".repeat(64)).is_err());
        assert!(sha256_hex("h", "abc").is_err());
    }
}
