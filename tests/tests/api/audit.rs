//! The audit trail: mutations and unmasked reads are recorded, rows cannot be changed or deleted through SQL
//! (by the service's role for want of privileges, by the owner for the triggers), and a change made behind the
//! triggers' back is found by walking the hash chain.

use sqlx::PgPool;
use xinfang_proto::v1::{
    CreateOrgUnitRequest, GetVisitRequest, Level, MatterInput, OrgUnit, OrgUnitKind, Petitioner,
    RegisterVisitRequest, Visit,
};
use xinfang_server::{
    audit::{self, Verdict},
    auth::Role,
    cluster::SERVICE_ROLE,
    db,
};
use xinfang_tests::{TestApp, now_secs, request_id, spawn_app};

#[tokio::test]
async fn mutations_and_unmasked_reads_are_chained_and_tampering_shows() {
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    admin
        .org
        .create_org_unit(CreateOrgUnitRequest {
            request_id: request_id(),
            org_unit: Some(OrgUnit {
                code: "510422D30".into(),
                name: "盐边县医疗保障局".into(),
                kind: OrgUnitKind::Department as i32,
                parent_code: "510422".into(),
                ..Default::default()
            }),
            occurred_at: None,
        })
        .await
        .unwrap();
    let clerk = app.token(Role::CountyClerk, "510422XF").await;
    let mut clerk = app.client_with(Some(&clerk));
    let visit = clerk
        .visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(Visit {
                visited_at: Some(prost_types::Timestamp {
                    seconds: now_secs() - 60,
                    nanos: 0,
                }),
                level: Level::County as i32,
                place_name: "接待大厅".into(),
                headcount: 1,
                petitioners: vec![Petitioner {
                    name: "张三".into(),
                    id_number: "11010519491231002X".into(),
                    ..Default::default()
                }],
                matter: Some(MatterInput {
                    content: "工资".into(),
                    demands: "支付".into(),
                    category: "labor".into(),
                    problem_org_code: "510422100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    clerk
        .visits
        .get_visit(GetVisitRequest { id: visit.id })
        .await
        .unwrap();

    wait_until_sealed(&app.pool).await;
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT a.action FROM audit_log a JOIN audit_seal s ON s.audit_id = a.id ORDER BY s.seq",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for wanted in ["CreateOrgUnit", "RegisterVisit", "pii_read"] {
        assert!(
            actions.iter().any(|a| a == wanted),
            "{wanted} in {actions:?}"
        );
    }
    let Verdict::Intact(rows) = audit::verify(&app.pool).await.unwrap() else {
        panic!("an untouched trail is intact");
    };
    assert_eq!(rows as usize, actions.len());

    // Append-only even for the owner, as long as the triggers are on.
    for sql in [
        "UPDATE audit_log SET subject = 'forged' WHERE id = (SELECT audit_id FROM audit_seal WHERE seq = 1)",
        "DELETE FROM audit_log WHERE id = (SELECT audit_id FROM audit_seal WHERE seq = 1)",
        "TRUNCATE audit_log CASCADE",
        "UPDATE audit_seal SET hash = prev_hash WHERE seq = 1",
        "DELETE FROM audit_seal WHERE seq = 1",
    ] {
        let err = sqlx::query(sql).execute(&app.pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }

    // Behind the triggers' back (the owner), a change is still found, at its row.
    sqlx::raw_sql(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; \
         UPDATE audit_log SET subject = 'forged' WHERE id = (SELECT audit_id FROM audit_seal WHERE seq = 2); \
         ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    match audit::verify(&app.pool).await.unwrap() {
        Verdict::Broken { seq, .. } => assert_eq!(seq, 2),
        other => panic!("tampering went unnoticed: {other:?}"),
    }
}

/// Rows are sealed once every older transaction (in any database of the cluster) has finished.
async fn wait_until_sealed(pool: &PgPool) {
    let started = std::time::Instant::now();
    loop {
        audit::seal(pool).await.unwrap();
        let unsealed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_log a \
             WHERE NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.audit_id = a.id)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if unsealed == 0 {
            return;
        }
        assert!(started.elapsed().as_secs() < 10, "rows stay unsealed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn create_department(app: &TestApp, code: &str) {
    app.client
        .clone()
        .org
        .create_org_unit(CreateOrgUnitRequest {
            request_id: request_id(),
            org_unit: Some(OrgUnit {
                code: code.into(),
                name: format!("部门 {code}"),
                kind: OrgUnitKind::Department as i32,
                parent_code: "510422".into(),
                ..Default::default()
            }),
            occurred_at: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_service_role_cannot_change_the_audit_trail_and_still_serves() {
    let app = spawn_app().await;
    let service = &app.service_pool;
    let mut conn = service.acquire().await.unwrap();
    assert_eq!(db::current_role(&mut conn).await.unwrap(), SERVICE_ROLE);
    assert!(!db::can_alter_audit_trail(&mut conn).await.unwrap());
    drop(conn);

    // The server runs as that role: a mutation is recorded, and the role seals and verifies the chain.
    create_department(&app, "510422D31").await;
    wait_until_sealed(service).await;
    let sealed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_seal")
        .fetch_one(service)
        .await
        .unwrap();
    assert!(sealed >= 1, "the service role sealed its rows");

    for sql in [
        "UPDATE audit_log SET subject = 'forged'",
        "UPDATE audit_log SET detail = detail",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_seal SET hash = prev_hash",
        "DELETE FROM audit_seal",
        "TRUNCATE audit_seal",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "ALTER TABLE audit_seal DISABLE TRIGGER audit_seal_append_only",
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "DROP TABLE audit_seal",
        "ALTER TABLE audit_log OWNER TO xinfang_app",
        "CREATE OR REPLACE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RETURN NEW; END $$",
        "SELECT xinfang_grant_service_role('xinfang_app')",
    ] {
        let err = sqlx::query(sql)
            .execute(service)
            .await
            .expect_err(&format!("the service role may not: {sql}"));
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        // 42501 insufficient_privilege: refused by the grants, not by a trigger.
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}");
    }
    // Nor may it become the owner.
    let owner = db::current_role(&mut app.pool.acquire().await.unwrap())
        .await
        .unwrap();
    let err = sqlx::query(&format!("SET ROLE {owner}"))
        .execute(service)
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501"),
        "{err}"
    );

    // Still serving, still appending, and the chain is whole.
    create_department(&app, "510422D32").await;
    wait_until_sealed(service).await;
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT a.action FROM audit_log a JOIN audit_seal s ON s.audit_id = a.id ORDER BY s.seq",
    )
    .fetch_all(service)
    .await
    .unwrap();
    assert_eq!(
        actions.iter().filter(|a| *a == "CreateOrgUnit").count(),
        2,
        "{actions:?}"
    );
    match audit::verify(service).await.unwrap() {
        Verdict::Intact(rows) => assert_eq!(rows as usize, actions.len()),
        other => panic!("the chain broke: {other:?}"),
    }
}
