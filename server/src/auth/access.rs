//! Which roles may call which method: the first gate of every request, before any service code runs. Services
//! then narrow further by scope (a township clerk's own unit, a field officer's own records). A method missing
//! from this table is refused for everyone, and a test walks the contract so no RPC can be added without its
//! row.

use super::Role::{self, *};

const ALL: &[Role] = &[
    Admin,
    CountyClerk,
    FieldOfficer,
    TownshipClerk,
    Leader,
    Agency,
    Auditor,
];
const COUNTY_OFFICE: &[Role] = &[Admin, CountyClerk];
const READ_COUNTY: &[Role] = &[Admin, CountyClerk, Leader, Auditor];
const NOT_AGENCY: &[Role] = &[
    Admin,
    CountyClerk,
    FieldOfficer,
    TownshipClerk,
    Leader,
    Auditor,
];

/// Methods callable without any credentials. Signing in is how a person gets a token, so it cannot need one;
/// its row in [`ACCESS`] (every role) only keeps the table complete, since a caller with a token may call it
/// too.
pub const PUBLIC: &[&str] = &["/xinfang.v1.SessionService/SignIn"];

/// `(full method path, roles allowed)`.
pub const ACCESS: &[(&str, &[Role])] = &[
    ("/xinfang.v1.OrgService/ListOrgUnits", ALL),
    ("/xinfang.v1.OrgService/GetOrgUnit", ALL),
    ("/xinfang.v1.OrgService/CreateOrgUnit", &[Admin]),
    (
        "/xinfang.v1.VisitService/RegisterVisit",
        &[Admin, CountyClerk, FieldOfficer],
    ),
    ("/xinfang.v1.VisitService/GetVisit", NOT_AGENCY),
    ("/xinfang.v1.VisitService/ListVisits", NOT_AGENCY),
    (
        "/xinfang.v1.VisitService/RegisterLetter",
        &[Admin, CountyClerk, Agency],
    ),
    (
        "/xinfang.v1.VisitService/GetLetter",
        &[Admin, CountyClerk, TownshipClerk, Leader, Agency, Auditor],
    ),
    (
        "/xinfang.v1.VisitService/ListLetters",
        &[Admin, CountyClerk, TownshipClerk, Leader, Agency, Auditor],
    ),
    (
        "/xinfang.v1.VisitService/RecordReturnTrip",
        &[Admin, CountyClerk, FieldOfficer],
    ),
    ("/xinfang.v1.VisitService/GetReturnTrip", NOT_AGENCY),
    ("/xinfang.v1.VisitService/ListReturnTrips", NOT_AGENCY),
    // Overriding a repeat match is the county desk's judgment, like linking by hand.
    ("/xinfang.v1.VisitService/DetachRegistration", COUNTY_OFFICE),
    // Every role reads cases, each within the read rule (`crate::scope`): an agency those its letters opened.
    ("/xinfang.v1.CaseService/GetCase", ALL),
    // The same roles as GetCase: a batch reads nothing a GetCase of each id would not.
    ("/xinfang.v1.CaseService/BatchGetCases", ALL),
    ("/xinfang.v1.CaseService/ListCases", ALL),
    ("/xinfang.v1.CaseService/ListCaseEvents", ALL),
    ("/xinfang.v1.CaseService/AssignCase", COUNTY_OFFICE),
    (
        "/xinfang.v1.CaseService/AcceptCase",
        &[Admin, TownshipClerk],
    ),
    (
        "/xinfang.v1.CaseService/DeclineCase",
        &[Admin, CountyClerk, TownshipClerk],
    ),
    (
        "/xinfang.v1.CaseService/ObjectToAssignment",
        &[Admin, TownshipClerk],
    ),
    (
        "/xinfang.v1.CaseService/ExtendCase",
        &[Admin, TownshipClerk],
    ),
    ("/xinfang.v1.CaseService/ReplyCase", &[Admin, TownshipClerk]),
    ("/xinfang.v1.CaseService/DecideObjection", COUNTY_OFFICE),
    ("/xinfang.v1.CaseService/ConfirmCompletion", COUNTY_OFFICE),
    (
        "/xinfang.v1.CaseService/ReplySupervision",
        &[Admin, TownshipClerk],
    ),
    ("/xinfang.v1.CaseService/CloseSupervision", COUNTY_OFFICE),
    ("/xinfang.v1.CaseService/RecordEvaluation", COUNTY_OFFICE),
    ("/xinfang.v1.CaseService/RequestReview", COUNTY_OFFICE),
    ("/xinfang.v1.CaseService/DecideReview", COUNTY_OFFICE),
    ("/xinfang.v1.CaseService/RecordHearing", COUNTY_OFFICE),
    ("/xinfang.v1.CaseService/SuperviseCase", COUNTY_OFFICE),
    ("/xinfang.v1.CaseService/MarkBacklog", COUNTY_OFFICE),
    ("/xinfang.v1.CaseService/ResolveBacklog", COUNTY_OFFICE),
    ("/xinfang.v1.FundService/CreateBudget", COUNTY_OFFICE),
    ("/xinfang.v1.FundService/ListBudgets", READ_COUNTY),
    (
        "/xinfang.v1.FundService/SubmitFundRequest",
        &[Admin, CountyClerk, TownshipClerk],
    ),
    (
        "/xinfang.v1.FundService/RecordBureauDecision",
        &[Admin, CountyClerk, Leader],
    ),
    ("/xinfang.v1.FundService/ApproveFundRequest", &[Leader]),
    ("/xinfang.v1.FundService/RejectFundRequest", &[Leader]),
    ("/xinfang.v1.FundService/DisburseFundRequest", COUNTY_OFFICE),
    (
        "/xinfang.v1.FundService/GetFundRequest",
        &[Admin, CountyClerk, TownshipClerk, Leader, Auditor],
    ),
    (
        "/xinfang.v1.FundService/ListFundRequests",
        &[Admin, CountyClerk, TownshipClerk, Leader, Auditor],
    ),
    (
        "/xinfang.v1.MetricsService/GetIndicators",
        &[Admin, CountyClerk, TownshipClerk, Leader, Agency, Auditor],
    ),
    (
        "/xinfang.v1.MetricsService/GetVisitStatistics",
        &[Admin, CountyClerk, TownshipClerk, Leader, Agency, Auditor],
    ),
    (
        "/xinfang.v1.MetricsService/GetChannelStatistics",
        &[Admin, CountyClerk, TownshipClerk, Leader, Agency, Auditor],
    ),
    ("/xinfang.v1.MetricsService/SetTarget", COUNTY_OFFICE),
    (
        "/xinfang.v1.MetricsService/ListTargets",
        &[Admin, CountyClerk, Leader, Agency, Auditor],
    ),
    (
        "/xinfang.v1.MetricsService/GetTargetCompletion",
        &[Admin, CountyClerk, Leader, Agency, Auditor],
    ),
    (
        "/xinfang.v1.MetricsService/GetBudgetExecution",
        &[Admin, CountyClerk, Leader, Agency, Auditor],
    ),
    (
        "/xinfang.v1.MetricsService/GenerateSelfEvaluationReport",
        &[Admin, CountyClerk, Leader, Agency, Auditor],
    ),
    ("/xinfang.v1.MetricsService/SetTwoDownTwoUp", COUNTY_OFFICE),
    (
        "/xinfang.v1.MetricsService/GetTwoDownTwoUp",
        &[Admin, CountyClerk, Leader, Agency, Auditor],
    ),
    // Any client that syncs may push; each operation is then judged by this table as the same call made
    // online (a leader's queued acceptance is refused alone, not the push).
    ("/xinfang.v1.SyncService/Push", NOT_AGENCY),
    ("/xinfang.v1.SyncService/Pull", NOT_AGENCY),
    // Who the caller is and the codes the API takes: what every client needs before anything else.
    ("/xinfang.v1.SessionService/GetCaller", ALL),
    // Public (`PUBLIC`): no token needed.
    ("/xinfang.v1.SessionService/SignIn", ALL),
    // A bearer token's caller has no session: signing out does nothing, a password change is refused.
    ("/xinfang.v1.SessionService/SignOut", ALL),
    ("/xinfang.v1.SessionService/ChangePassword", ALL),
    ("/xinfang.v1.DictionaryService/GetDictionaries", ALL),
];

/// `Some(allowed)` for a method of the table, `None` for one it does not know.
pub fn allowed(method: &str, role: Role) -> Option<bool> {
    ACCESS
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, roles)| roles.contains(&role))
}

/// Whether `role` may call `method`: only what the table names for it. A method the table does not know is
/// refused for everyone.
pub fn permits(method: &str, role: Role) -> bool {
    allowed(method, role) == Some(true)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost::Message;

    use super::*;

    /// Every method of the contract has exactly one row, and every row names a method of the contract.
    #[test]
    fn the_table_covers_the_contract_exactly() {
        let fds =
            prost_types::FileDescriptorSet::decode(xinfang_proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut contract = BTreeSet::new();
        for file in fds.file.iter().filter(|f| f.package() == "xinfang.v1") {
            for service in &file.service {
                for method in &service.method {
                    contract.insert(format!("/xinfang.v1.{}/{}", service.name(), method.name()));
                }
            }
        }
        let table: BTreeSet<String> = ACCESS.iter().map(|(m, _)| (*m).to_owned()).collect();
        assert_eq!(table.len(), ACCESS.len(), "a method is listed twice");
        assert_eq!(table, contract);
    }

    /// The table decides every method of the contract for every role.
    #[test]
    fn every_method_is_decided_for_every_role() {
        let fds =
            prost_types::FileDescriptorSet::decode(xinfang_proto::FILE_DESCRIPTOR_SET).unwrap();
        for file in fds.file.iter().filter(|f| f.package() == "xinfang.v1") {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/xinfang.v1.{}/{}", service.name(), method.name());
                    for role in Role::ALL {
                        assert!(allowed(&path, role).is_some(), "{path} for {role}");
                    }
                }
            }
        }
    }

    #[test]
    fn public_methods_are_methods_of_the_table() {
        for method in PUBLIC {
            assert!(ACCESS.iter().any(|(m, _)| m == method), "{method}");
        }
    }

    #[test]
    fn unknown_methods_are_refused() {
        for role in Role::ALL {
            assert!(!permits("/xinfang.v1.OrgService/DropAll", role));
        }
    }

    #[test]
    fn unknown_methods_are_unknown() {
        assert_eq!(allowed("/xinfang.v1.OrgService/DropAll", Admin), None);
        assert_eq!(
            allowed("/xinfang.v1.FundService/ApproveFundRequest", Leader),
            Some(true)
        );
        assert_eq!(
            allowed("/xinfang.v1.FundService/ApproveFundRequest", Admin),
            Some(false)
        );
    }
}
