//! What a well-formed request is: the input rules of the contract, applied by the server to every call and by
//! the offline client `xf` to every capture before it is queued, so that an operation is refused offline for
//! exactly the reasons the server would refuse it. What only the server can know (whether a category or an
//! org unit exists, who may do what, the state of a case now) is judged there.
//!
//! A request's `request_id` is checked by its caller: the server requires it, the client leaves it empty (the
//! operation's id stands in for it when it is pushed).

pub mod intake;
pub mod steps;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::validate::{self, FieldViolation, Violations};

/// Representatives a collective visit may register (《信访条例》: at most five).
pub const MAX_REPRESENTATIVES: usize = 5;
/// Petitioners one registration or trip lists by name; a larger group is counted in the headcount.
pub const MAX_PETITIONERS: usize = 50;
/// Officers on one trip, and cases one trip concerns.
pub const MAX_TRIP_OFFICERS: usize = 20;
pub const MAX_TRIP_CASES: usize = 50;
/// How far back a caller that does not load history may date an event.
pub const RECENT_DAYS: i64 = 366;

/// When the event of a record happened, as the caller may date it: not in the future (beyond the clock-skew
/// allowance) and, unless `history`, not more than [`RECENT_DAYS`] ago.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: DateTime<Utc>,
    pub history: bool,
}

impl Clock {
    /// The time of `field` (absent: now): a valid timestamp, not in the future, and not more than a year
    /// back unless the caller loads history. Every dated write (intake, case steps, fund steps) judges it
    /// here.
    pub fn occurred(
        self,
        v: &mut Violations,
        field: &str,
        value: Option<&prost_types::Timestamp>,
    ) -> Option<DateTime<Utc>> {
        let checked = v.check(validate::occurred_at(field, value, self.now.timestamp()))?;
        match DateTime::from_timestamp(checked.seconds, u32::try_from(checked.nanos).unwrap_or(0)) {
            Some(t) if !self.history && t < self.now - chrono::Duration::days(RECENT_DAYS) => {
                v.add(
                    field,
                    "more than a year ago: loading history is for county clerks",
                );
                None
            }
            Some(t) => Some(t),
            None => {
                v.add(field, "out of range");
                None
            }
        }
    }
}

fn timestamp(
    v: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
    clock: Clock,
    required: bool,
) -> Option<Option<DateTime<Utc>>> {
    match value {
        None if required => {
            v.add(field, "required");
            None
        }
        None => Some(None),
        Some(ts) => clock.occurred(v, field, Some(ts)).map(Some),
    }
}

pub fn uuid_field(field: &str, value: &str) -> Result<Uuid, FieldViolation> {
    Uuid::parse_str(value).map_err(|_| FieldViolation::new(field, "must be an id (UUID)"))
}

/// An optional trimmed text of at most `max` characters: `Some(None)` when empty.
fn optional_text(
    v: &mut Violations,
    field: &str,
    value: &str,
    max: usize,
) -> Option<Option<String>> {
    if value.trim().is_empty() {
        return Some(None);
    }
    v.check(validate::required_text(field, value, max))
        .map(Some)
}

#[cfg(test)]
mod tests;
