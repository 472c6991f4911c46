//! What an operation is to the outbox: where it stands ([`OpState`], with the transitions the outbox allows),
//! and the kind, target and subject stored next to it so that lists never decode the payload.

use std::fmt;

use xinfang_proto::v1::operation::Op;

/// Where an outbox operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpState {
    /// Captured, not sent yet (or sent and deferred by a transient server error).
    Pending,
    /// In a push whose answer has not been recorded: sent again on the next sync (the server answers
    /// DUPLICATE if it had applied it).
    Sent,
    Applied,
    /// Applied by an earlier push whose answer was lost.
    Duplicate,
    /// Refused by the server; kept with its reason for the user to fix or discard.
    Rejected,
    /// Dropped by the user.
    Discarded,
    /// Rejected, then edited and queued again under a new op id (`replaced_by`).
    Replaced,
}

impl OpState {
    pub const ALL: [OpState; 7] = [
        OpState::Pending,
        OpState::Sent,
        OpState::Applied,
        OpState::Duplicate,
        OpState::Rejected,
        OpState::Discarded,
        OpState::Replaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Pending => "pending",
            OpState::Sent => "sent",
            OpState::Applied => "applied",
            OpState::Duplicate => "duplicate",
            OpState::Rejected => "rejected",
            OpState::Discarded => "discarded",
            OpState::Replaced => "replaced",
        }
    }

    pub fn parse(s: &str) -> Option<OpState> {
        OpState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Still to be pushed.
    pub fn is_sendable(self) -> bool {
        matches!(self, OpState::Pending | OpState::Sent)
    }

    /// Done with: the server has it, or the user dropped it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OpState::Applied | OpState::Duplicate | OpState::Discarded | OpState::Replaced
        )
    }

    /// The transitions the outbox allows.
    pub fn may_become(self, next: OpState) -> bool {
        use OpState::*;
        match self {
            Pending => matches!(next, Sent | Discarded),
            Sent => matches!(next, Sent | Pending | Applied | Duplicate | Rejected),
            Rejected => matches!(next, Replaced | Discarded),
            Applied | Duplicate | Discarded | Replaced => false,
        }
    }
}

impl fmt::Display for OpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-op rejections that mean "try again later", not "fix me". ABORTED is a stale etag (read the case
/// again and decide), unless the server says it only lost a race (`LOST_RACE`; a server that retries its
/// races itself never sends that for one operation, but an older one may).
pub fn is_transient(code: i32, reason: &str) -> bool {
    match tonic::Code::from_i32(code) {
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::ResourceExhausted => true,
        tonic::Code::Aborted => reason == "LOST_RACE",
        _ => false,
    }
}

/// The kind of an operation, as stored in `outbox.kind`.
pub fn op_kind(op: &Op) -> &'static str {
    match op {
        Op::RegisterVisit(_) => "register_visit",
        Op::RegisterLetter(_) => "register_letter",
        Op::RecordReturnTrip(_) => "record_return_trip",
        Op::AcceptCase(_) => "accept_case",
        Op::DeclineCase(_) => "decline_case",
        Op::ObjectToAssignment(_) => "object_to_assignment",
        Op::ExtendCase(_) => "extend_case",
        Op::ReplyCase(_) => "reply_case",
        Op::RecordEvaluation(_) => "record_evaluation",
        Op::ReplySupervision(_) => "reply_supervision",
    }
}

/// The case a case step acts on.
pub fn op_target(op: &Op) -> &str {
    match op {
        Op::RegisterVisit(_) | Op::RegisterLetter(_) | Op::RecordReturnTrip(_) => "",
        Op::AcceptCase(r) => &r.case_id,
        Op::DeclineCase(r) => &r.case_id,
        Op::ObjectToAssignment(r) => &r.case_id,
        Op::ExtendCase(r) => &r.case_id,
        Op::ReplyCase(r) => &r.case_id,
        Op::RecordEvaluation(r) => &r.case_id,
        Op::ReplySupervision(r) => &r.case_id,
    }
}

/// A short description of an operation for lists.
pub fn op_subject(op: &Op) -> String {
    fn first_name(people: &[xinfang_proto::v1::Petitioner]) -> String {
        match people {
            [] => "anonymous".to_owned(),
            [one] => one.name.trim().to_owned(),
            [first, rest @ ..] => format!("{} +{}", first.name.trim(), rest.len()),
        }
    }
    match op {
        Op::RegisterVisit(r) => {
            let v = r.visit.clone().unwrap_or_default();
            format!("visit: {} at {}", first_name(&v.petitioners), v.place_name)
        }
        Op::RegisterLetter(r) => {
            let l = r.letter.clone().unwrap_or_default();
            format!("letter: {}", first_name(&l.petitioners))
        }
        Op::RecordReturnTrip(r) => {
            let t = r.trip.clone().unwrap_or_default();
            let who = if t.petitioners.is_empty() {
                String::new()
            } else {
                format!(" {}", first_name(&t.petitioners))
            };
            format!(
                "trip:{who} to {} ({})",
                t.destination_place, t.responsible_org_code
            )
        }
        Op::AcceptCase(_) => "accept".to_owned(),
        Op::DeclineCase(_) => "decline".to_owned(),
        Op::ObjectToAssignment(_) => "object to the assignment".to_owned(),
        Op::ExtendCase(r) => format!("extend by {} days", r.days),
        Op::ReplyCase(_) => "reply".to_owned(),
        Op::RecordEvaluation(_) => "evaluation".to_owned(),
        Op::ReplySupervision(_) => "reply to the supervision".to_owned(),
    }
}
