//! Who am I and the dictionaries: what `xf login`, `xf sync` and the workbench read before anything else.

use tonic::Code;
use xinfang_proto::v1::{
    ClaimType, DeclineGround, GetCallerRequest, GetDictionariesRequest, OrgUnitKind,
    Role as RoleProto,
};
use xinfang_server::auth::Role;
use xinfang_tests::spawn_app;

#[tokio::test]
async fn a_caller_learns_its_role_unit_and_exactly_the_methods_it_may_call() {
    let app = spawn_app().await;
    let token = app.token(Role::TownshipClerk, "510422100").await;
    let mut client = app.client_with(Some(&token));
    let caller = client
        .session
        .get_caller(GetCallerRequest {})
        .await
        .expect("GetCaller")
        .into_inner();
    assert_eq!(caller.role(), RoleProto::TownshipClerk);
    assert_eq!(caller.name, "test township_clerk");
    let unit = caller.org_unit.expect("org unit");
    assert_eq!(unit.code, "510422100");
    assert_eq!(unit.kind(), OrgUnitKind::Township);
    // Its fair share, as the auth layer enforces it (the test servers' generous one).
    assert_eq!(caller.max_in_flight, 1_000);
    assert!(
        caller
            .methods
            .contains(&"/xinfang.v1.CaseService/AcceptCase".to_owned())
    );
    assert!(
        !caller
            .methods
            .contains(&"/xinfang.v1.CaseService/AssignCase".to_owned())
    );
    assert!(
        !caller
            .methods
            .contains(&"/xinfang.v1.FundService/ApproveFundRequest".to_owned())
    );

    // The methods it is told are those the server lets through, and no others.
    let leader = app.token(Role::Leader, "510422").await;
    let told = app
        .client_with(Some(&leader))
        .session
        .get_caller(GetCallerRequest {})
        .await
        .unwrap()
        .into_inner()
        .methods;
    assert!(told.contains(&"/xinfang.v1.FundService/ApproveFundRequest".to_owned()));
    let refused = app
        .client_with(Some(&leader))
        .cases
        .accept_case(xinfang_proto::v1::AcceptCaseRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(!told.contains(&"/xinfang.v1.CaseService/AcceptCase".to_owned()));

    let anonymous = app
        .client_with(None)
        .session
        .get_caller(GetCallerRequest {})
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn every_role_reads_the_dictionaries_with_chinese_names_and_a_stable_etag() {
    let app = spawn_app().await;
    let token = app.token(Role::Agency, "510422").await;
    let mut client = app.client_with(Some(&token));
    let first = client
        .dictionary
        .get_dictionaries(GetDictionariesRequest {})
        .await
        .expect("GetDictionaries")
        .into_inner();
    assert!(!first.categories.is_empty(), "the seeded categories");
    assert!(first.categories.iter().all(|c| !c.name.is_empty()));
    let accusation = first
        .claim_types
        .iter()
        .find(|c| c.claim_type() == ClaimType::Accusation)
        .expect("accusation");
    assert_eq!(accusation.name, "检举控告");
    assert!(!accusation.statutory_conclusion);
    assert!(first.org_units.iter().any(|u| u.code == "510422100"));
    let leapfrog = first
        .enum_labels
        .iter()
        .find(|l| {
            l.enum_name == "xinfang.v1.DeclineGround" && l.number == DeclineGround::Leapfrog as i32
        })
        .expect("a decline ground's label");
    assert_eq!(leapfrog.label, "越级走访");
    assert_eq!(leapfrog.value_name, "DECLINE_GROUND_LEAPFROG");

    let again = client
        .dictionary
        .get_dictionaries(GetDictionariesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.etag, first.etag, "nothing changed");

    // A new unit changes the org dictionary, and so the etag.
    app.client
        .org
        .clone()
        .create_org_unit(xinfang_proto::v1::CreateOrgUnitRequest {
            request_id: xinfang_tests::request_id(),
            org_unit: Some(xinfang_proto::v1::OrgUnit {
                code: "510422D77".into(),
                name: "县测试局".into(),
                kind: OrgUnitKind::Department as i32,
                parent_code: "510422".into(),
                ..Default::default()
            }),
            occurred_at: None,
        })
        .await
        .expect("a new department");
    let after = client
        .dictionary
        .get_dictionaries(GetDictionariesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_ne!(after.etag, first.etag);
    assert!(after.org_units.iter().any(|u| u.code == "510422D77"));
}
