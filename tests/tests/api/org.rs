use std::collections::BTreeSet;

use tonic::Code;
use tonic_types::StatusExt;
use xinfang_proto::v1::{
    CreateOrgUnitRequest, GetOrgUnitRequest, ListOrgUnitsRequest, OrgUnit, OrgUnitKind,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, now_secs, request_id, spawn_app};

/// Every unit, walking the pages `page_size` at a time.
async fn list_all(app: &TestApp, request: ListOrgUnitsRequest) -> (Vec<OrgUnit>, usize) {
    let mut client = app.client.clone();
    let mut units = Vec::new();
    let mut pages = 0;
    let mut request = request;
    loop {
        let page = client
            .org
            .list_org_units(request.clone())
            .await
            .expect("list page")
            .into_inner();
        pages += 1;
        units.extend(page.org_units);
        if page.next_page_token.is_empty() {
            return (units, pages);
        }
        request.page_token = page.next_page_token;
    }
}

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

fn department(code: &str) -> OrgUnit {
    OrgUnit {
        code: code.into(),
        name: "盐边县医疗保障局".into(),
        kind: OrgUnitKind::Department as i32,
        parent_code: "510422".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_seeded_county_pages_through_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let (all, pages) = list_all(
        &app,
        ListOrgUnitsRequest {
            page_size: 5,
            ..Default::default()
        },
    )
    .await;
    // County, petition office, 12 townships, 12 departments.
    assert_eq!(all.len(), 26);
    assert_eq!(pages, 6);
    let codes: Vec<&str> = all.iter().map(|u| u.code.as_str()).collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(codes, sorted, "code order");
    assert_eq!(
        codes.iter().collect::<BTreeSet<_>>().len(),
        26,
        "no repeats"
    );
    let tongzilin = all.iter().find(|u| u.code == "510422100").unwrap();
    assert_eq!(tongzilin.name, "桐子林镇");
    assert_eq!(tongzilin.kind(), OrgUnitKind::Township);
    assert_eq!(tongzilin.parent_code, "510422");
    assert!(!tongzilin.etag.is_empty() && tongzilin.create_time.is_some());
}

#[tokio::test]
async fn lists_filter_by_kind_and_parent_and_tokens_stick_to_their_filter() {
    let app = spawn_app().await;
    let (townships, _) = list_all(
        &app,
        ListOrgUnitsRequest {
            page_size: 5,
            kind: OrgUnitKind::Township as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(townships.len(), 12);
    assert!(townships.iter().all(|u| u.kind() == OrgUnitKind::Township));

    let (children, _) = list_all(
        &app,
        ListOrgUnitsRequest {
            parent_code: "510422".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(children.len(), 25, "everything but the county hangs off it");

    let mut client = app.client.clone();
    let first = client
        .org
        .list_org_units(ListOrgUnitsRequest {
            page_size: 2,
            kind: OrgUnitKind::Township as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = client
        .org
        .list_org_units(ListOrgUnitsRequest {
            page_size: 2,
            kind: OrgUnitKind::Department as i32,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["page_token"]);

    for bad in [
        ListOrgUnitsRequest {
            page_size: -1,
            ..Default::default()
        },
        ListOrgUnitsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        },
        ListOrgUnitsRequest {
            kind: 42,
            ..Default::default()
        },
    ] {
        let status = client.org.list_org_units(bad.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
    }
}

#[tokio::test]
async fn get_finds_a_unit_and_names_what_is_wrong_otherwise() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let unit = client
        .org
        .get_org_unit(GetOrgUnitRequest {
            code: "510422XF".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unit.name, "盐边县信访局");
    assert_eq!(unit.kind(), OrgUnitKind::PetitionOffice);

    let missing = client
        .org
        .get_org_unit(GetOrgUnitRequest {
            code: "510422999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let bad = client
        .org
        .get_org_unit(GetOrgUnitRequest {
            code: "桐子林".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&bad), ["code"]);
}

#[tokio::test]
async fn only_an_administrator_creates_units() {
    let app = spawn_app().await;
    let created = app
        .client
        .clone()
        .org
        .create_org_unit(CreateOrgUnitRequest {
            request_id: request_id(),
            org_unit: Some(department("510422D20")),
            occurred_at: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.code, "510422D20");
    assert_eq!(created.name, "盐边县医疗保障局");
    assert_eq!(created.etag, "1");

    for role in [Role::CountyClerk, Role::Leader, Role::Agency, Role::Auditor] {
        let token = app.token(role, "510422XF").await;
        let status = app
            .client_with(Some(&token))
            .org
            .create_org_unit(CreateOrgUnitRequest {
                request_id: request_id(),
                org_unit: Some(department("510422D21")),
                occurred_at: None,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
    }
    let clerk = app.token(Role::TownshipClerk, "510422101").await;
    let status = app
        .client_with(Some(&clerk))
        .org
        .create_org_unit(CreateOrgUnitRequest {
            request_id: request_id(),
            org_unit: Some(department("510422D21")),
            occurred_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM org_units WHERE code = '510422D21'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn bad_input_is_refused_field_by_field_and_changes_nothing() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM org_units")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let before = count().await;

    let status = client
        .org
        .create_org_unit(CreateOrgUnitRequest {
            request_id: "not-a-uuid".into(),
            org_unit: Some(OrgUnit {
                code: "bad code".into(),
                name: " ".into(),
                kind: OrgUnitKind::Township as i32,
                parent_code: String::new(),
                ..Default::default()
            }),
            occurred_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        [
            "request_id",
            "org_unit.code",
            "org_unit.name",
            "org_unit.parent_code"
        ]
    );

    let cases: Vec<(CreateOrgUnitRequest, Code, &str)> = vec![
        (
            CreateOrgUnitRequest {
                request_id: request_id(),
                org_unit: None,
                occurred_at: None,
            },
            Code::InvalidArgument,
            "org_unit",
        ),
        (
            CreateOrgUnitRequest {
                request_id: request_id(),
                org_unit: Some(OrgUnit {
                    parent_code: "510499".into(),
                    ..department("510422D30")
                }),
                occurred_at: None,
            },
            Code::InvalidArgument,
            "org_unit.parent_code",
        ),
        (
            CreateOrgUnitRequest {
                request_id: request_id(),
                org_unit: Some(OrgUnit {
                    parent_code: "510422100".into(),
                    ..department("510422D30")
                }),
                occurred_at: None,
            },
            Code::InvalidArgument,
            "org_unit.parent_code",
        ),
        (
            CreateOrgUnitRequest {
                request_id: request_id(),
                org_unit: Some(department("510422D30")),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: now_secs() + 86_400,
                    nanos: 0,
                }),
            },
            Code::InvalidArgument,
            "occurred_at",
        ),
        (
            CreateOrgUnitRequest {
                request_id: request_id(),
                org_unit: Some(department("510422100")),
                occurred_at: None,
            },
            Code::AlreadyExists,
            "",
        ),
    ];
    for (request, code, field) in cases {
        let status = client
            .org
            .create_org_unit(request.clone())
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{request:?}: {status:?}");
        if !field.is_empty() {
            assert_eq!(violated_fields(&status), [field], "{request:?}");
        }
    }
    assert_eq!(count().await, before);
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(keys, 0, "failed requests leave no idempotency key behind");
}

#[tokio::test]
async fn occurred_at_records_when_the_unit_was_established() {
    let app = spawn_app().await;
    let established = prost_types::Timestamp {
        seconds: 1_577_836_800, // 2020-01-01T00:00:00Z
        nanos: 0,
    };
    let unit = app
        .client
        .clone()
        .org
        .create_org_unit(CreateOrgUnitRequest {
            request_id: request_id(),
            org_unit: Some(department("510422D22")),
            occurred_at: Some(established),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unit.create_time, Some(established));
}
