//! Who reads which records: the one read rule of the service (docs/access.md), used by every path that shows
//! a case, a registration or a trip, or only the id of one — a direct read, a list, its events, the pull
//! feed, a link written into a trip, a letter or a visit, a repeat match, a fund request, the indicators'
//! drill-through ids.
//!
//! The rule is written once, as the SQL conditions of [`Reader::condition`]; single reads ask the database
//! with the same condition ([`store::readable`]) rather than repeating it in Rust.
//!
//! - County roles (administrators, county clerks, leaders, auditors) read everything.
//! - A township's or department's clerk reads the cases assigned to its unit, never an accusation against
//!   it; the visits and letters about its place and the trips under its responsibility, never those of an
//!   accusation against it.
//! - A field officer reads its own visits and trips, the cases its registrations opened, and the cases
//!   its own trips name where the link was made by someone who could read the case then.
//! - An agency system reads its own letters and the cases they opened.
//!
//! Linking a record to a case requires that the caller reads the case already, so no link widens what
//! anyone reads; a caller who may not read a case a registration was matched to learns only that it is a
//! repeat.

pub mod store;

use uuid::Uuid;

use crate::auth::{Principal, Role};

/// What a principal reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    County,
    Unit(String),
    Officer(Uuid),
    Agency(Uuid),
}

/// The kinds of records the rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Case,
    Visit,
    Letter,
    Trip,
}

impl Kind {
    /// The table of the kind; never from input.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Case => "cases",
            Kind::Visit => "visits",
            Kind::Letter => "letters",
            Kind::Trip => "return_trips",
        }
    }
}

impl Reader {
    pub fn of(principal: &Principal) -> Reader {
        match principal.role {
            Role::Admin | Role::CountyClerk | Role::Leader | Role::Auditor => Reader::County,
            Role::TownshipClerk => Reader::Unit(principal.org_code.clone()),
            Role::FieldOfficer => Reader::Officer(principal.id),
            Role::Agency => Reader::Agency(principal.id),
        }
    }

    pub fn reads_everything(&self) -> bool {
        *self == Reader::County
    }

    /// The one bind parameter of [`Reader::condition`]: the unit's code or the principal's id, as text.
    pub fn param(&self) -> String {
        match self {
            Reader::County => String::new(),
            Reader::Unit(code) => code.clone(),
            Reader::Officer(id) | Reader::Agency(id) => id.to_string(),
        }
    }

    /// The SQL condition under which this reader reads the row `alias` of `kind`'s table, with
    /// [`Reader::param`] bound at `$param`. Every reader's condition names the parameter, so that the
    /// statement's parameters are the same whoever asks.
    pub fn condition(&self, kind: Kind, alias: &str, param: usize) -> String {
        let p = format!("${param}");
        let a = alias;
        // An accusation's records are kept from the unit it accuses, whatever else would let the unit in.
        let not_accusing = |column: &str| format!("{a}.{column} IS DISTINCT FROM {p}::text");
        match (self, kind) {
            (Reader::County, _) => format!("{p}::text IS NOT NULL"),
            (Reader::Unit(_), Kind::Case) => format!(
                "({a}.responsible_org_code = {p}::text AND {})",
                not_accusing("accused_org_code")
            ),
            (Reader::Unit(_), Kind::Visit | Kind::Letter) => format!(
                "({a}.problem_org_code = {p}::text AND {})",
                not_accusing("accused_org_code")
            ),
            (Reader::Unit(_), Kind::Trip) => format!(
                "({a}.responsible_org_code = {p}::text AND NOT EXISTS (SELECT 1 FROM return_trip_cases rc \
                  JOIN cases c ON c.id = rc.case_id WHERE rc.trip_id = {a}.id AND c.accused_org_code = {p}::text))"
            ),
            (Reader::Officer(_), Kind::Case) => format!(
                "({a}.opened_by = {p}::uuid OR EXISTS (SELECT 1 FROM return_trip_cases rc \
                  JOIN return_trips t ON t.id = rc.trip_id \
                  WHERE rc.case_id = {a}.id AND rc.vouched AND t.recorded_by = {p}::uuid))"
            ),
            (Reader::Agency(_), Kind::Case) => format!("{a}.opened_by = {p}::uuid"),
            (Reader::Officer(_), Kind::Visit) | (Reader::Agency(_), Kind::Letter) => {
                format!("{a}.registered_by = {p}::uuid")
            }
            (Reader::Officer(_), Kind::Trip) => format!("{a}.recorded_by = {p}::uuid"),
            (Reader::Officer(_), Kind::Letter) | (Reader::Agency(_), Kind::Visit | Kind::Trip) => {
                format!("({p}::text IS NULL AND false)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            id: Uuid::from_u128(7),
            name: "x".into(),
            role,
            org_code: "510422100".into(),
        }
    }

    #[test]
    fn readers_by_role() {
        assert_eq!(Reader::of(&principal(Role::Leader)), Reader::County);
        assert_eq!(Reader::of(&principal(Role::Auditor)), Reader::County);
        assert_eq!(
            Reader::of(&principal(Role::TownshipClerk)),
            Reader::Unit("510422100".into())
        );
        assert_eq!(
            Reader::of(&principal(Role::FieldOfficer)),
            Reader::Officer(Uuid::from_u128(7))
        );
        assert_eq!(
            Reader::of(&principal(Role::Agency)),
            Reader::Agency(Uuid::from_u128(7))
        );
    }

    /// Every condition names its parameter, so one statement serves every reader.
    #[test]
    fn every_condition_uses_its_parameter() {
        let readers = [
            Reader::County,
            Reader::Unit("510422100".into()),
            Reader::Officer(Uuid::nil()),
            Reader::Agency(Uuid::nil()),
        ];
        for reader in &readers {
            for kind in [Kind::Case, Kind::Visit, Kind::Letter, Kind::Trip] {
                let sql = reader.condition(kind, "x", 9);
                assert!(sql.contains("$9"), "{reader:?} {kind:?}: {sql}");
                assert!(!sql.contains("$1"), "{reader:?} {kind:?}: {sql}");
            }
        }
    }
}
