//! Org units: kinds, the rules of the tree, and validation of new units.

use xinfang_proto::{
    v1::{CreateOrgUnitRequest, OrgUnitKind},
    validate::{self, FieldViolation, Violations},
};

/// Kinds as stored in the `org_units.kind` column.
pub fn kind_to_db(kind: OrgUnitKind) -> Option<&'static str> {
    match kind {
        OrgUnitKind::Unspecified => None,
        OrgUnitKind::County => Some("county"),
        OrgUnitKind::PetitionOffice => Some("petition_office"),
        OrgUnitKind::Township => Some("township"),
        OrgUnitKind::Department => Some("department"),
    }
}

pub fn kind_from_db(kind: &str) -> OrgUnitKind {
    match kind {
        "county" => OrgUnitKind::County,
        "petition_office" => OrgUnitKind::PetitionOffice,
        "township" => OrgUnitKind::Township,
        "department" => OrgUnitKind::Department,
        _ => OrgUnitKind::Unspecified,
    }
}

/// Which kind of unit may sit under which: everything hangs off the county, and there is exactly one
/// county, seeded at first start.
pub fn check_parent(kind: OrgUnitKind, parent_kind: OrgUnitKind) -> Result<(), FieldViolation> {
    match (kind, parent_kind) {
        (
            OrgUnitKind::PetitionOffice | OrgUnitKind::Township | OrgUnitKind::Department,
            OrgUnitKind::County,
        ) => Ok(()),
        _ => Err(FieldViolation::new(
            "org_unit.parent_code",
            "petition offices, townships and departments belong directly to the county",
        )),
    }
}

/// A validated `CreateOrgUnit` request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrgUnit {
    pub request_id: uuid::Uuid,
    pub code: String,
    pub name: String,
    pub kind: OrgUnitKind,
    pub parent_code: String,
    pub occurred_at: prost_types::Timestamp,
}

impl NewOrgUnit {
    pub fn parse(request: &CreateOrgUnitRequest, now_secs: i64) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check(validate::request_id("request_id", &request.request_id));
        let occurred_at = v.check(validate::occurred_at(
            "occurred_at",
            request.occurred_at.as_ref(),
            now_secs,
        ));
        let Some(unit) = &request.org_unit else {
            v.add("org_unit", "required");
            return Err(v);
        };
        let code = v.check(validate::org_code("org_unit.code", &unit.code));
        let name = v.check(validate::required_text("org_unit.name", &unit.name, 100));
        let kind = v.check(validate::required_enum::<OrgUnitKind>(
            "org_unit.kind",
            unit.kind,
        ));
        if kind == Some(OrgUnitKind::County) {
            v.add(
                "org_unit.kind",
                "the county exists already; create its petition office, townships or departments",
            );
        }
        let parent_code = v.check(validate::org_code(
            "org_unit.parent_code",
            &unit.parent_code,
        ));
        v.finish(|| {
            Some(NewOrgUnit {
                request_id: request_id?,
                code: code?,
                name: name?,
                kind: kind?,
                parent_code: parent_code?,
                occurred_at: occurred_at?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use xinfang_proto::v1::OrgUnit;

    use super::*;

    fn request(unit: OrgUnit) -> CreateOrgUnitRequest {
        CreateOrgUnitRequest {
            request_id: "0192e6b4-7c1a-7cc2-9a57-2f1f0b3c4d5e".into(),
            org_unit: Some(unit),
            occurred_at: None,
        }
    }

    #[test]
    fn a_good_department() {
        let unit = OrgUnit {
            code: "510422D20".into(),
            name: " 盐边县医保局 ".into(),
            kind: OrgUnitKind::Department as i32,
            parent_code: "510422".into(),
            ..Default::default()
        };
        let parsed = NewOrgUnit::parse(&request(unit), 1_700_000_000).unwrap();
        assert_eq!(parsed.name, "盐边县医保局");
        assert_eq!(parsed.kind, OrgUnitKind::Department);
        assert_eq!(parsed.occurred_at.seconds, 1_700_000_000);
    }

    #[test]
    fn every_bad_field_is_named() {
        let unit = OrgUnit {
            code: "x".into(),
            name: "".into(),
            kind: 99,
            parent_code: "".into(),
            ..Default::default()
        };
        let mut req = request(unit);
        req.request_id = "nope".into();
        let fields: Vec<String> = NewOrgUnit::parse(&req, 0)
            .unwrap_err()
            .into_vec()
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(
            fields,
            [
                "request_id",
                "org_unit.code",
                "org_unit.name",
                "org_unit.kind",
                "org_unit.parent_code"
            ]
        );
    }

    #[test]
    fn a_second_county_is_refused() {
        let unit = OrgUnit {
            code: "510423".into(),
            name: "另一县".into(),
            kind: OrgUnitKind::County as i32,
            parent_code: "510422".into(),
            ..Default::default()
        };
        let err = NewOrgUnit::parse(&request(unit), 0).unwrap_err();
        assert_eq!(err.into_vec()[0].field, "org_unit.kind");
    }

    #[test]
    fn tree_rules() {
        assert!(check_parent(OrgUnitKind::Township, OrgUnitKind::County).is_ok());
        assert!(check_parent(OrgUnitKind::Department, OrgUnitKind::County).is_ok());
        assert!(check_parent(OrgUnitKind::Township, OrgUnitKind::Township).is_err());
        assert!(check_parent(OrgUnitKind::Department, OrgUnitKind::Department).is_err());
    }

    #[test]
    fn kinds_round_trip_through_the_database_names() {
        for kind in [
            OrgUnitKind::County,
            OrgUnitKind::PetitionOffice,
            OrgUnitKind::Township,
            OrgUnitKind::Department,
        ] {
            assert_eq!(kind_from_db(kind_to_db(kind).unwrap()), kind);
        }
    }
}
