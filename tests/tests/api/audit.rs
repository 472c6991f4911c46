//! The audit trail: mutations and unmasked reads are recorded, rows cannot be changed or deleted through SQL,
//! and a change made behind the trigger's back is found by walking the hash chain.

use xinfang_proto::v1::{
    CreateOrgUnitRequest, GetVisitRequest, Level, MatterInput, OrgUnit, OrgUnitKind, Petitioner,
    RegisterVisitRequest, Visit,
};
use xinfang_server::{
    audit::{self, Verdict},
    auth::Role,
};
use xinfang_tests::{now_secs, request_id, spawn_app};

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

    // Rows are sealed once every older transaction (in any database of the cluster) has finished.
    let started = std::time::Instant::now();
    loop {
        audit::seal(&app.pool).await.unwrap();
        let unsealed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE seq IS NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if unsealed == 0 {
            break;
        }
        assert!(started.elapsed().as_secs() < 10, "rows stay unsealed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY seq")
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

    // Append-only for anyone going through SQL.
    for sql in [
        "UPDATE audit_log SET subject = 'forged' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
    ] {
        let err = sqlx::query(sql).execute(&app.pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }

    // Behind the trigger's back (a superuser), a change is still found, at its row.
    sqlx::raw_sql(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; \
         UPDATE audit_log SET subject = 'forged' WHERE seq = 2; \
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
