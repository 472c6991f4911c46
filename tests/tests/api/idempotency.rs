use tonic::Code;
use xinfang_proto::v1::{CreateOrgUnitRequest, OrgUnit, OrgUnitKind};
use xinfang_tests::{request_id, spawn_app};

fn request(id: &str, code: &str, name: &str) -> CreateOrgUnitRequest {
    CreateOrgUnitRequest {
        request_id: id.to_owned(),
        org_unit: Some(OrgUnit {
            code: code.into(),
            name: name.into(),
            kind: OrgUnitKind::Department as i32,
            parent_code: "510422".into(),
            ..Default::default()
        }),
        occurred_at: None,
    }
}

async fn rows(pool: &sqlx::PgPool, code: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM org_units WHERE code = $1")
        .bind(code)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_same_request_id_twice_makes_one_row_and_returns_the_first_result() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let id = request_id();
    let first = client
        .org
        .create_org_unit(request(&id, "510422D40", "盐边县退役军人事务局"))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .org
        .create_org_unit(request(&id, "510422D40", "盐边县退役军人事务局"))
        .await
        .expect("a retry is not an error")
        .into_inner();
    assert_eq!(first, second);
    assert_eq!(rows(&app.pool, "510422D40").await, 1);

    // Reusing the id for a different request is a client bug worth reporting, not a silent replay.
    let status = client
        .org
        .create_org_unit(request(&id, "510422D41", "另一个单位"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(rows(&app.pool, "510422D41").await, 0);
}

#[tokio::test]
async fn a_retry_after_a_server_restart_still_gets_the_first_result() {
    let app = spawn_app().await;
    let id = request_id();
    let first = app
        .client
        .clone()
        .org
        .create_org_unit(request(&id, "510422D42", "盐边县统计局"))
        .await
        .unwrap()
        .into_inner();
    let app = app.restart().await;
    let again = app
        .client
        .clone()
        .org
        .create_org_unit(request(&id, "510422D42", "盐边县统计局"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(rows(&app.pool, "510422D42").await, 1);
}

#[tokio::test]
async fn concurrent_duplicates_apply_once() {
    let app = spawn_app().await;
    let id = request_id();
    let calls = (0..8).map(|_| {
        let mut client = app.client.clone();
        let req = request(&id, "510422D43", "盐边县林业局");
        async move {
            client
                .org
                .create_org_unit(req)
                .await
                .map(|r| r.into_inner())
        }
    });
    let results = futures::future::join_all(calls).await;
    let first = results[0].as_ref().expect("first call").clone();
    for result in &results {
        assert_eq!(result.as_ref().expect("every duplicate succeeds"), &first);
    }
    assert_eq!(rows(&app.pool, "510422D43").await, 1);
}

#[tokio::test]
async fn keys_belong_to_their_principal() {
    let app = spawn_app().await;
    let id = request_id();
    app.client
        .clone()
        .org
        .create_org_unit(request(&id, "510422D44", "盐边县审计局"))
        .await
        .unwrap();
    // A second administrator that happens to pick the same id is a different request: it is not answered
    // with the first one's result, it runs (and here finds the code taken).
    let other_admin = app
        .token(xinfang_server::auth::Role::Admin, "510422XF")
        .await;
    let status = app
        .client_with(Some(&other_admin))
        .org
        .create_org_unit(request(&id, "510422D44", "盐边县审计局"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
}
