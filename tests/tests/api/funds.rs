//! The special fund over gRPC: budgets by document, the request chain by the right roles, refusals, relief
//! rules, and no overspending under concurrency.

use std::str::FromStr;

use rust_decimal::Decimal;
use tonic::Code;
use tonic_types::StatusExt;
use xinfang_client::Client;
use xinfang_proto::v1::{
    ApproveFundRequestRequest, Budget, CreateBudgetRequest, Date, DisburseFundRequestRequest,
    FundPurpose, FundRequest, FundRequestState, GetFundRequestRequest, Level, ListBudgetsRequest,
    ListFundRequestsRequest, MarkBacklogRequest, MatterInput, PaymentMethod, Petitioner,
    RecordBureauDecisionRequest, RegisterVisitRequest, SubmitFundRequestRequest, Visit,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, now_secs, request_id, spawn_app, ts};

const BUREAU: &str = "510422XF";

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

struct Staff {
    clerk: Client,
    leader: Client,
    other_leader: Client,
    township: Client,
}

async fn staff(app: &TestApp) -> Staff {
    let token = |role, org| async move { app.token(role, org).await };
    Staff {
        clerk: app.client_with(Some(&token(Role::CountyClerk, BUREAU).await)),
        leader: app.client_with(Some(&token(Role::Leader, BUREAU).await)),
        other_leader: app.client_with(Some(&token(Role::Leader, BUREAU).await)),
        township: app.client_with(Some(&token(Role::TownshipClerk, "510422100").await)),
    }
}

async fn budget(
    client: &mut Client,
    year: i32,
    category: &str,
    document: &str,
    amount: &str,
    from: &str,
) -> Result<Budget, tonic::Status> {
    client
        .funds
        .create_budget(CreateBudgetRequest {
            request_id: request_id(),
            year,
            category: category.into(),
            document: document.into(),
            amount: amount.into(),
            from_category: from.into(),
            occurred_at: None,
        })
        .await
        .map(|r| r.into_inner())
}

fn submission(year: i32, category: &str, amount: &str) -> SubmitFundRequestRequest {
    SubmitFundRequestRequest {
        request_id: request_id(),
        year,
        category: category.into(),
        purpose: FundPurpose::Lawyer as i32,
        description: "法律顾问服务费".into(),
        amount: amount.into(),
        payee: "四川某律师事务所".into(),
        ..Default::default()
    }
}

async fn submit(
    client: &mut Client,
    req: SubmitFundRequestRequest,
) -> Result<FundRequest, tonic::Status> {
    client
        .funds
        .submit_fund_request(req)
        .await
        .map(|r| r.into_inner())
}

async fn decide(
    client: &mut Client,
    id: &str,
    approve: bool,
    adjusted: &str,
) -> Result<FundRequest, tonic::Status> {
    client
        .funds
        .record_bureau_decision(RecordBureauDecisionRequest {
            request_id: request_id(),
            fund_request_id: id.into(),
            approve,
            adjusted_amount: adjusted.into(),
            meeting_reference: "2020年第5次局务会".into(),
            meeting_date: Some(Date {
                year: 2020,
                month: 5,
                day: 12,
            }),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn approve(client: &mut Client, id: &str) -> Result<FundRequest, tonic::Status> {
    client
        .funds
        .approve_fund_request(ApproveFundRequestRequest {
            request_id: request_id(),
            fund_request_id: id.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn disburse(
    client: &mut Client,
    id: &str,
    method: PaymentMethod,
) -> Result<FundRequest, tonic::Status> {
    client
        .funds
        .disburse_fund_request(DisburseFundRequestRequest {
            request_id: request_id(),
            fund_request_id: id.into(),
            method: method as i32,
            voucher_number: "盐国库支〔2020〕0815".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn budgets(client: &mut Client, year: i32) -> Vec<Budget> {
    client
        .funds
        .list_budgets(ListBudgetsRequest {
            year,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .budgets
}

#[tokio::test]
async fn the_chain_from_a_township_request_to_payment() {
    let app = spawn_app().await;
    let mut s = staff(&app).await;
    let b = budget(
        &mut s.clerk,
        2020,
        "other_key_work",
        "盐财资行〔2020〕63号",
        "50000",
        "",
    )
    .await
    .unwrap();
    assert_eq!(
        (b.appropriated.as_str(), b.available.as_str()),
        ("50000.00", "50000.00")
    );

    let mut req = submission(2020, "other_key_work", "12000.5");
    req.attachments = vec![xinfang_proto::v1::Attachment {
        name: "委托合同.pdf".into(),
        sha256: "ab".repeat(32),
    }];
    let r = submit(&mut s.township, req).await.unwrap();
    assert_eq!(r.state(), FundRequestState::Submitted);
    assert_eq!(r.unit_code, "510422100");
    assert_eq!(r.amount, "12000.50");
    assert!(r.number.starts_with("ZJ510422-2020-"));

    // Each step only by its role and in its state.
    let status = decide(&mut s.township, &r.id, true, "").await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = approve(&mut s.leader, &r.id).await.unwrap_err();
    assert_eq!(reason(&status), "REQUEST_NOT_BUREAU_APPROVED");
    let status = disburse(&mut s.clerk, &r.id, PaymentMethod::Direct)
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "REQUEST_NOT_APPROVED");

    let r = decide(&mut s.clerk, &r.id, true, "10000.00").await.unwrap();
    assert_eq!(
        (r.state(), r.approved_amount.as_str()),
        (FundRequestState::BureauApproved, "10000.00")
    );
    let status = approve(&mut s.clerk, &r.id).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "a clerk does not approve"
    );
    let r = approve(&mut s.leader, &r.id).await.unwrap();
    assert_eq!(r.state(), FundRequestState::Approved);
    let b = &budgets(&mut s.clerk, 2020).await[0];
    assert_eq!(
        (b.committed.as_str(), b.available.as_str()),
        ("10000.00", "40000.00")
    );

    let status = disburse(&mut s.clerk, &r.id, PaymentMethod::Cash)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["method"]);
    let r = disburse(&mut s.clerk, &r.id, PaymentMethod::Authorized)
        .await
        .unwrap();
    assert_eq!(r.state(), FundRequestState::Disbursed);
    let actions: Vec<&str> = r.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["submitted", "bureau_approved", "approved", "disbursed"]
    );
    let b = &budgets(&mut s.clerk, 2020).await[0];
    assert_eq!(
        (
            b.committed.as_str(),
            b.disbursed.as_str(),
            b.available.as_str()
        ),
        ("0.00", "10000.00", "40000.00")
    );
    let status = disburse(&mut s.clerk, &r.id, PaymentMethod::Direct)
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "REQUEST_CLOSED");

    // The township sees its own requests only.
    let other = app.token(Role::TownshipClerk, "510422101").await;
    let status = app
        .client_with(Some(&other))
        .funds
        .get_fund_request(GetFundRequestRequest { id: r.id.clone() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mine = s
        .township
        .funds
        .list_fund_requests(ListFundRequestsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.fund_requests.len(), 1);
}

#[tokio::test]
async fn the_one_who_recorded_the_meeting_does_not_approve() {
    let app = spawn_app().await;
    let mut s = staff(&app).await;
    budget(
        &mut s.clerk,
        2020,
        "other_key_work",
        "盐财资行〔2020〕63号",
        "5000",
        "",
    )
    .await
    .unwrap();
    let r = submit(&mut s.clerk, submission(2020, "other_key_work", "800"))
        .await
        .unwrap();
    let r = decide(&mut s.leader, &r.id, true, "").await.unwrap();
    let status = approve(&mut s.leader, &r.id).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "SEGREGATION_OF_DUTIES");
    let r = approve(&mut s.other_leader, &r.id).await.unwrap();
    assert_eq!(r.state(), FundRequestState::Approved);
}

#[tokio::test]
async fn bad_amounts_and_missing_links_are_named() {
    let app = spawn_app().await;
    let mut s = staff(&app).await;
    budget(
        &mut s.clerk,
        2020,
        "special_difficult",
        "盐财资行〔2020〕62号",
        "275900",
        "",
    )
    .await
    .unwrap();
    for amount in ["-5", "0", "1.234", "1e3", ""] {
        let status = submit(&mut s.clerk, submission(2020, "special_difficult", amount))
            .await
            .unwrap_err();
        assert_eq!(fields(&status), ["amount"], "{amount:?}");
    }
    let mut relief = submission(2020, "special_difficult", "5000");
    relief.purpose = FundPurpose::HardshipRelief as i32;
    let status = submit(&mut s.clerk, relief).await.unwrap_err();
    assert_eq!(fields(&status), ["case_id", "petitioner_id"]);
    let status = submit(&mut s.clerk, submission(2021, "special_difficult", "10"))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "NO_BUDGET");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM fund_requests")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn relief_needs_a_special_difficult_backlog_case_and_stays_under_the_cap() {
    let app = spawn_app().await;
    let mut s = staff(&app).await;
    budget(
        &mut s.clerk,
        2020,
        "special_difficult",
        "盐财资行〔2020〕62号",
        "275900",
        "",
    )
    .await
    .unwrap();
    let visit = s
        .clerk
        .visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(Visit {
                visited_at: ts(now_secs() - 3_600),
                level: Level::County as i32,
                place_name: "县信访局".into(),
                headcount: 1,
                petitioners: vec![Petitioner {
                    name: "张三".into(),
                    id_number: "11010519491231002X".into(),
                    ..Default::default()
                }],
                matter: Some(MatterInput {
                    content: "征地补偿".into(),
                    demands: "补偿".into(),
                    category: "land".into(),
                    problem_org_code: "510422100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let case_id = visit.classification.unwrap().case_id;
    let petitioner_id = visit.petitioners[0].id.clone();
    let relief = |amount: &str| {
        let mut r = submission(2020, "special_difficult", amount);
        r.purpose = FundPurpose::HardshipRelief as i32;
        r.case_id = case_id.clone();
        r.petitioner_id = petitioner_id.clone();
        r.payee = "张三".into();
        r
    };
    let status = submit(&mut s.clerk, relief("20000")).await.unwrap_err();
    assert_eq!(reason(&status), "RELIEF_NEEDS_SPECIAL_DIFFICULT_CASE");

    s.clerk
        .cases
        .mark_backlog(MarkBacklogRequest {
            request_id: request_id(),
            case_id: case_id.clone(),
            leader: "副县长".into(),
            special_difficult: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    submit(&mut s.clerk, relief("20000")).await.unwrap();
    // The cap (30,000.00 a person a year) counts pending relief too.
    let status = submit(&mut s.clerk, relief("15000")).await.unwrap_err();
    assert_eq!(reason(&status), "RELIEF_CAP_EXCEEDED");
    submit(&mut s.clerk, relief("10000")).await.unwrap();
}

#[tokio::test]
async fn concurrent_approvals_never_overspend() {
    let app = spawn_app().await;
    let mut s = staff(&app).await;
    budget(
        &mut s.clerk,
        2020,
        "other_key_work",
        "盐财资行〔2020〕63号",
        "1000.00",
        "",
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for _ in 0..50 {
        let r = submit(&mut s.clerk, submission(2020, "other_key_work", "100.00"))
            .await
            .unwrap();
        decide(&mut s.clerk, &r.id, true, "").await.unwrap();
        ids.push(r.id);
    }
    let results = futures::future::join_all(ids.iter().map(|id| {
        let mut leader = s.leader.clone();
        let id = id.clone();
        async move { approve(&mut leader, &id).await }
    }))
    .await;
    let approved: Vec<&FundRequest> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(approved.len(), 10, "room for exactly ten");
    for r in &results {
        if let Err(status) = r {
            assert_eq!(status.code(), Code::FailedPrecondition);
            assert_eq!(reason(status), "BUDGET_EXCEEDED");
        }
    }
    let b = &budgets(&mut s.clerk, 2020).await[0];
    assert_eq!(
        (b.committed.as_str(), b.available.as_str()),
        ("1000.00", "0.00")
    );

    let paid = futures::future::join_all(approved.iter().map(|r| {
        let mut clerk = s.clerk.clone();
        let id = r.id.clone();
        async move { disburse(&mut clerk, &id, PaymentMethod::Direct).await }
    }))
    .await;
    assert!(paid.iter().all(Result::is_ok));
    let b = &budgets(&mut s.clerk, 2020).await[0];
    assert_eq!(
        (
            b.appropriated.as_str(),
            b.committed.as_str(),
            b.disbursed.as_str()
        ),
        ("1000.00", "0.00", "1000.00")
    );
}

#[tokio::test]
async fn the_2020_budget_by_its_documents_spent_in_full() {
    let app = spawn_app().await;
    let mut s = staff(&app).await;
    let documents = [
        ("special_difficult", "盐财资行〔2020〕62号", "200000.00"),
        ("special_difficult", "盐财资行〔2020〕113号", "75900.00"),
        ("other_key_work", "盐财资行〔2020〕63号", "300000.00"),
        ("other_key_work", "盐财资行〔2020〕149号", "117400.00"),
        ("other_key_work", "盐财资行〔2019〕356号", "100000.00"),
        // The report's total (79.53万) is 2,000.00 more than its two named parts (27.59万 + 51.74万); the
        // difference is loaded as a third, unnamed category rather than silently dropped.
        ("other", "盐财资行〔2020〕149号", "2000.00"),
    ];
    for (category, document, amount) in documents {
        budget(&mut s.clerk, 2020, category, document, amount, "")
            .await
            .unwrap();
    }
    // The same document twice is a mistake, not a second appropriation.
    let status = budget(
        &mut s.clerk,
        2020,
        "other_key_work",
        "盐财资行〔2020〕63号",
        "1",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);

    let listed = budgets(&mut s.clerk, 2020).await;
    let total: Decimal = listed.iter().map(|b| dec(&b.appropriated)).sum();
    assert_eq!(total, dec("795300.00"));
    for b in &listed {
        let r = submit(&mut s.clerk, submission(2020, &b.category, &b.appropriated))
            .await
            .unwrap();
        decide(&mut s.clerk, &r.id, true, "").await.unwrap();
        approve(&mut s.leader, &r.id).await.unwrap();
        disburse(&mut s.clerk, &r.id, PaymentMethod::Direct)
            .await
            .unwrap();
    }
    let spent = budgets(&mut s.clerk, 2020).await;
    let by = |c: &str| spent.iter().find(|b| b.category == c).unwrap().clone();
    assert_eq!(by("special_difficult").disbursed, "275900.00");
    assert_eq!(by("other_key_work").disbursed, "517400.00");
    let disbursed: Decimal = spent.iter().map(|b| dec(&b.disbursed)).sum();
    assert_eq!(
        disbursed / total,
        Decimal::ONE,
        "execution rate exactly 100%"
    );
    assert!(spent.iter().all(|b| b.available == "0.00"));
}

#[tokio::test]
async fn reallocation_and_reductions_keep_the_books_balanced() {
    let app = spawn_app().await;
    let mut s = staff(&app).await;
    budget(
        &mut s.clerk,
        2020,
        "other_key_work",
        "盐财资行〔2020〕63号",
        "10000",
        "",
    )
    .await
    .unwrap();
    budget(
        &mut s.clerk,
        2020,
        "special_difficult",
        "盐财资行〔2020〕62号",
        "5000",
        "",
    )
    .await
    .unwrap();
    let moved = budget(
        &mut s.clerk,
        2020,
        "special_difficult",
        "盐财资行〔2020〕200号",
        "3000",
        "other_key_work",
    )
    .await
    .unwrap();
    assert_eq!(moved.appropriated, "8000.00");
    assert_eq!(
        moved.appropriations.last().unwrap().counterpart_category,
        "other_key_work"
    );
    let all = budgets(&mut s.clerk, 2020).await;
    let other = all.iter().find(|b| b.category == "other_key_work").unwrap();
    assert_eq!(other.appropriated, "7000.00");
    assert_eq!(other.appropriations.last().unwrap().amount, "-3000.00");

    // Commit 6,000 of the 7,000, then try to cut the budget below it.
    let r = submit(&mut s.clerk, submission(2020, "other_key_work", "6000"))
        .await
        .unwrap();
    decide(&mut s.clerk, &r.id, true, "").await.unwrap();
    approve(&mut s.leader, &r.id).await.unwrap();
    let status = budget(
        &mut s.clerk,
        2020,
        "other_key_work",
        "盐财资行〔2020〕201号",
        "-1500",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&status), "BUDGET_BELOW_USE");
    budget(
        &mut s.clerk,
        2020,
        "other_key_work",
        "盐财资行〔2020〕201号",
        "-1000",
        "",
    )
    .await
    .unwrap();
    let other = budgets(&mut s.clerk, 2020)
        .await
        .into_iter()
        .find(|b| b.category == "other_key_work")
        .unwrap();
    assert_eq!(
        (other.appropriated.as_str(), other.available.as_str()),
        ("6000.00", "0.00")
    );
    // Budgets are the bureau's: a township clerk neither keeps nor reads them.
    let status = budget(&mut s.township, 2020, "other_key_work", "x", "1", "")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}
