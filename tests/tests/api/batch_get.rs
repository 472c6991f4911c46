//! BatchGetCases (AIP-231): the cases in the order asked, at most 1,000 ids, under GetCase's read rule, all or
//! nothing. A case the caller may not read (another township's, an accusation against the caller's own unit)
//! answers exactly like an id no case has: the same NOT_FOUND, with nothing in it that names an id.

use tonic::Code;
use xinfang_client::Client;
use xinfang_proto::v1::{
    AssignCaseRequest, AssignmentMode, BatchGetCasesRequest, ClaimType, Level, MatterInput,
    Petitioner, RegisterVisitRequest, Visit,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, fields, now_secs, request_id, spawn_app};

const A: &str = "510422100";
const B: &str = "510422101";
const BUREAU: &str = "510422XF";

fn visit(name: &str, m: MatterInput) -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: request_id(),
        visit: Some(Visit {
            visited_at: Some(prost_types::Timestamp {
                seconds: now_secs() - 7_200,
                nanos: 0,
            }),
            level: Level::County as i32,
            place_name: "县信访局接待大厅".into(),
            headcount: 1,
            petitioners: vec![Petitioner {
                name: name.into(),
                ..Default::default()
            }],
            matter: Some(m),
            ..Default::default()
        }),
    }
}

fn matter(category: &str, org: &str) -> MatterInput {
    MatterInput {
        content: "反映问题".into(),
        demands: "要求处理".into(),
        category: category.into(),
        problem_org_code: org.into(),
        ..Default::default()
    }
}

/// A county with a case of township A, one of township B and an accusation against A (handled by B), each
/// assigned; the case ids in that order.
async fn county() -> (TestApp, Client, [String; 3]) {
    let app = spawn_app().await;
    let token = app.token(Role::CountyClerk, BUREAU).await;
    let mut county = app.client_with(Some(&token));
    let accusation = MatterInput {
        claim_type: ClaimType::Accusation as i32,
        accused_org_code: A.into(),
        ..matter("politics_law", A)
    };
    let mut ids = Vec::new();
    for (name, m, unit) in [
        ("孙甲", matter("labor", A), A),
        ("周乙", matter("land", B), B),
        ("钱检举", accusation, B),
    ] {
        let v = county
            .visits
            .register_visit(visit(name, m))
            .await
            .unwrap()
            .into_inner();
        let id = v.classification.unwrap().case_id;
        county
            .cases
            .assign_case(AssignCaseRequest {
                request_id: request_id(),
                case_id: id.clone(),
                mode: AssignmentMode::Forward as i32,
                responsible_org_code: unit.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        ids.push(id);
    }
    let ids: [String; 3] = ids.try_into().unwrap();
    (app, county, ids)
}

async fn batch(client: &mut Client, ids: &[&str]) -> Result<Vec<String>, tonic::Status> {
    let r = client
        .cases
        .batch_get_cases(BatchGetCasesRequest {
            ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        })
        .await?;
    Ok(r.into_inner().cases.into_iter().map(|c| c.id).collect())
}

#[tokio::test]
async fn batch_get_answers_in_the_order_asked() {
    let (_app, mut county, [a, b, acc]) = county().await;
    let asked = [acc.as_str(), a.as_str(), b.as_str(), a.as_str()];
    assert_eq!(batch(&mut county, &asked).await.unwrap(), asked);
    assert_eq!(batch(&mut county, &[]).await.unwrap(), Vec::<String>::new());
    // Each case as GetCase shows it.
    let one = county
        .cases
        .batch_get_cases(BatchGetCasesRequest {
            ids: vec![b.clone()],
        })
        .await
        .unwrap()
        .into_inner()
        .cases
        .remove(0);
    let got = county
        .cases
        .get_case(xinfang_proto::v1::GetCaseRequest { id: b.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.id, got.id);
    assert_eq!(one.etag, got.etag);
    assert_eq!(one.responsible_org_code, got.responsible_org_code);
}

#[tokio::test]
async fn batch_get_takes_at_most_a_thousand_well_formed_ids() {
    let (_app, mut county, [a, ..]) = county().await;
    // 1,000 is allowed (an id may repeat).
    let thousand = vec![a.as_str(); 1_000];
    assert_eq!(batch(&mut county, &thousand).await.unwrap().len(), 1_000);
    let too_many = vec![a.as_str(); 1_001];
    let e = batch(&mut county, &too_many).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(fields(&e), ["ids"]);
    let e = batch(&mut county, &[a.as_str(), "not-a-uuid", ""])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(fields(&e), ["ids[1]", "ids[2]"]);
}

/// A refusal as the caller sees it: code, message and every detail byte.
fn answer(e: &tonic::Status) -> (Code, String, Vec<u8>) {
    (e.code(), e.message().to_owned(), e.details().to_vec())
}

#[tokio::test]
async fn batch_get_refuses_a_case_outside_the_scope_like_a_missing_one() {
    let (app, _county, [a, b, acc]) = county().await;
    let token = app.token(Role::TownshipClerk, A).await;
    let mut clerk_a = app.client_with(Some(&token));
    assert_eq!(batch(&mut clerk_a, &[&a]).await.unwrap(), [a.as_str()]);

    let missing = uuid::Uuid::now_v7().to_string();
    let refusal = answer(&batch(&mut clerk_a, &[&a, &missing]).await.unwrap_err());
    assert_eq!(refusal.0, Code::NotFound, "{refusal:?}");
    // Another township's case, an accusation against the clerk's own unit (assigned elsewhere): the same
    // answer, whatever the place of the id, and nothing in it names a case.
    for asked in [
        vec![a.as_str(), b.as_str()],
        vec![a.as_str(), acc.as_str()],
        vec![b.as_str(), a.as_str()],
        vec![acc.as_str()],
        vec![missing.as_str()],
    ] {
        let e = batch(&mut clerk_a, &asked).await.unwrap_err();
        assert_eq!(answer(&e), refusal, "{asked:?}");
        let text = format!("{e:?}");
        for id in [&a, &b, &acc, &missing] {
            assert!(!text.contains(id.as_str()), "{text}");
        }
    }
    // Township B reads its own case and the accusation against A, never A's case.
    let token = app.token(Role::TownshipClerk, B).await;
    let mut clerk_b = app.client_with(Some(&token));
    assert_eq!(
        batch(&mut clerk_b, &[&acc, &b]).await.unwrap(),
        [acc.clone(), b.clone()]
    );
    assert_eq!(
        answer(&batch(&mut clerk_b, &[&acc, &a]).await.unwrap_err()),
        refusal
    );
    // Every role may call it, as GetCase: county roles read every case, an agency none of these.
    for role in [Role::Leader, Role::Auditor, Role::Admin] {
        let token = app.token(role, BUREAU).await;
        let mut c = app.client_with(Some(&token));
        assert_eq!(
            batch(&mut c, &[&a, &b, &acc]).await.unwrap().len(),
            3,
            "{role}"
        );
    }
    for role in [Role::Agency, Role::FieldOfficer] {
        let token = app.token(role, BUREAU).await;
        let mut c = app.client_with(Some(&token));
        let e = batch(&mut c, &[&b]).await.unwrap_err();
        assert_eq!(answer(&e), refusal, "{role}");
    }
}
