use tonic::Code;
use xinfang_proto::v1::{GetOrgUnitRequest, ListOrgUnitsRequest, PullRequest};
use xinfang_server::auth::Role;
use xinfang_tests::spawn_app;

async fn list_code(client: &mut xinfang_client::Client) -> Code {
    match client
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    assert_eq!(
        list_code(&mut app.client_with(None)).await,
        Code::Unauthenticated
    );
    assert_eq!(
        list_code(&mut app.client_with(Some("not-our-token"))).await,
        Code::Unauthenticated
    );
    let forged = format!("xft_{}", "A".repeat(43));
    assert_eq!(
        list_code(&mut app.client_with(Some(&forged))).await,
        Code::Unauthenticated
    );
    // And the real one works, so the refusals above are about the tokens.
    assert_eq!(list_code(&mut app.client.clone()).await, Code::Ok);
}

#[tokio::test]
async fn a_revoked_token_stops_working_at_once() {
    let app = spawn_app().await;
    let token = app.token(Role::TownshipClerk, "510422100").await;
    let mut client = app.client_with(Some(&token));
    assert_eq!(list_code(&mut client).await, Code::Ok);

    let mut conn = app.pool.acquire().await.unwrap();
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM principals WHERE role = 'township_clerk'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert!(
        xinfang_server::auth::store::revoke(&mut conn, id)
            .await
            .unwrap()
    );
    assert!(
        !xinfang_server::auth::store::revoke(&mut conn, id)
            .await
            .unwrap()
    );

    let status = client
        .org
        .get_org_unit(GetOrgUnitRequest {
            code: "510422100".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("revoked"), "{}", status.message());
}

#[tokio::test]
async fn every_service_is_behind_authentication() {
    use xinfang_proto::v1::{
        GetBudgetExecutionRequest, GetCaseRequest, GetVisitRequest, ListBudgetsRequest,
    };
    let app = spawn_app().await;
    let mut anonymous = app.client_with(None);
    let codes = [
        anonymous
            .org
            .list_org_units(ListOrgUnitsRequest::default())
            .await
            .map(|_| ()),
        anonymous
            .visits
            .get_visit(GetVisitRequest::default())
            .await
            .map(|_| ()),
        anonymous
            .cases
            .get_case(GetCaseRequest::default())
            .await
            .map(|_| ()),
        anonymous
            .funds
            .list_budgets(ListBudgetsRequest::default())
            .await
            .map(|_| ()),
        anonymous
            .metrics
            .get_budget_execution(GetBudgetExecutionRequest { year: 2020 })
            .await
            .map(|_| ()),
        anonymous
            .sync
            .pull(PullRequest::default())
            .await
            .map(|_| ()),
    ];
    for result in codes {
        assert_eq!(result.unwrap_err().code(), Code::Unauthenticated);
    }
    // With the administrator's token the same calls get past authentication.
    let pulled = app.client.clone().sync.pull(PullRequest::default()).await;
    assert!(pulled.is_ok(), "{pulled:?}");
}

#[tokio::test]
async fn tokens_are_issued_only_into_fitting_org_units() {
    let app = spawn_app().await;
    let mut conn = app.pool.acquire().await.unwrap();
    // A township clerk sits in a township or department, not in the county bureau.
    let err = xinfang_server::auth::issue_token(&mut conn, Role::TownshipClerk, "510422XF", "x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("org"), "{err}");
    let err = xinfang_server::auth::issue_token(&mut conn, Role::CountyClerk, "999999", "x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no org unit"), "{err}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM principals")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(count, 1, "only the administrator exists");
}
