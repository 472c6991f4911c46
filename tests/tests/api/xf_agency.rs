//! An agency system (the 12345 hotline) reads, through `xf`, the outcome of the cases its own letters opened:
//! state, reply date and opinion, online (agencies neither push nor pull). It sees no other case.

use xinfang_proto::v1::{Letter, LetterChannel, MatterInput, Petitioner, RegisterLetterRequest};
use xinfang_server::auth::Role;
use xinfang_tests::{request_id, spawn_app};

use super::xf_day::{capture_visit, laptop, xf};

const TOWN: &str = "510422100";

#[tokio::test]
async fn an_agency_reads_the_outcome_of_the_cases_its_letters_opened() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let agency_token = app.token(Role::Agency, "510422XF").await;
    let letter = app
        .client_with(Some(&agency_token))
        .visits
        .register_letter(RegisterLetterRequest {
            request_id: request_id(),
            letter: Some(Letter {
                channel: LetterChannel::Online as i32,
                source_reference: "12345-2026-0001".into(),
                received_at: Some(prost_types::Timestamp {
                    seconds: xinfang_tests::now_secs() - 3_600,
                    nanos: 0,
                }),
                petitioners: vec![Petitioner {
                    name: "写信人".into(),
                    ..Default::default()
                }],
                matter: Some(MatterInput {
                    content: "道路破损".into(),
                    demands: "尽快维修".into(),
                    category: "labor".into(),
                    problem_org_code: TOWN.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("the hotline registers a letter")
        .into_inner();
    let case_id = letter.classification.expect("classified").case_id;

    // The office assigns it, the township replies; a visit of someone else opens another case.
    let county = laptop(&app, &dir, Role::CountyClerk, "510422XF").await;
    capture_visit(&county, "now", "李四").await.ok();
    xf(&county, &["sync"]).await.ok();
    xf(
        &county,
        &[
            "case", "assign", &case_id, "--to", TOWN, "--mode", "forward",
        ],
    )
    .await
    .ok();
    let town = laptop(&app, &dir, Role::TownshipClerk, TOWN).await;
    xf(&town, &["sync"]).await.ok();
    xf(&town, &["case", "accept", &case_id]).await.ok();
    xf(
        &town,
        &["case", "reply", &case_id, "--opinion", "已于本周修复。"],
    )
    .await
    .ok();
    xf(&town, &["sync"]).await.ok();

    let agency = dir.path().join("agency.db");
    xf(
        &agency,
        &["login", "--server", &app.address, "--token", &agency_token],
    )
    .await
    .ok();
    // Agencies do not sync: refused before anything is tried.
    let out = xf(&agency, &["sync"]).await;
    assert!(
        out.stderr.contains("not open to your role"),
        "{}",
        out.stderr
    );
    let cases = xf(&agency, &["cases", "--online", "--json"])
        .await
        .ok()
        .json();
    let list = cases.as_array().unwrap();
    assert_eq!(list.len(), 1, "only the case its letter opened: {cases}");
    assert_eq!(list[0]["id"], case_id.as_str());
    assert_eq!(list[0]["state_label"], "已答复");
    assert_eq!(list[0]["reply_opinion"], "已于本周修复。");
    assert_ne!(list[0]["replied_at"], "");
    let one = xf(&agency, &["case", "get", &case_id]).await.ok();
    assert!(
        one.stdout.contains("已答复") && one.stdout.contains("已于本周修复"),
        "{}",
        one.stdout
    );
}

/// A push the server refuses whole (an agency may not push at all) does not leave the operations `sent` for
/// ever: each is tried alone, refused alone, and lands on the rejected list, where it can be discarded.
#[tokio::test]
async fn a_push_refused_whole_moves_its_operations_to_the_rejected_list() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let token = app.token(Role::Agency, "510422XF").await;
    let store = dir.path().join("unchecked-agency.db");
    xf(
        &store,
        &[
            "login",
            "--server",
            &app.address,
            "--token",
            &token,
            "--offline",
        ],
    )
    .await
    .ok();
    capture_visit(&store, "now", "某人").await.ok();
    let out = xf(&store, &["sync"]).await;
    assert!(
        out.stdout.contains("1 rejected"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let outbox = xf(&store, &["outbox", "list", "--json"]).await.ok().json();
    assert_eq!(outbox[0]["state"], "rejected", "{outbox}");
    assert_eq!(outbox[0]["code"], "PermissionDenied");
    let op_id = outbox[0]["op_id"].as_str().unwrap().to_owned();
    xf(&store, &["outbox", "discard", &op_id]).await.ok();
    let out = xf(&store, &["sync", "--push-only"]).await.ok();
    assert!(out.stdout.contains("0 applied"), "{}", out.stdout);
}
