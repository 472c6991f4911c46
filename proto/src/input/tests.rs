use chrono::Utc;
use uuid::Uuid;

use super::{
    Clock,
    intake::{Detach, NewVisit, RegistrationKind},
    steps::{Action, StepRequest},
};
use crate::{
    v1::{
        DetachRegistrationRequest, ExtendCaseRequest, Level, MatterInput, Petitioner,
        RegisterVisitRequest, SuperviseCaseRequest, Visit,
    },
    validate::Violations,
};

fn clock() -> Clock {
    Clock {
        now: Utc::now(),
        history: false,
    }
}

fn visit_request(people: Vec<Petitioner>, headcount: i32) -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: String::new(),
        visit: Some(Visit {
            visited_at: Some(prost_types::Timestamp {
                seconds: Utc::now().timestamp() - 60,
                nanos: 0,
            }),
            level: Level::County as i32,
            place_name: "接待大厅".into(),
            headcount,
            petitioners: people,
            matter: Some(MatterInput {
                content: "拖欠工资".into(),
                demands: "支付工资".into(),
                category: "labor".into(),
                problem_org_code: "510422100".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn named(name: &str, proxy: bool, representative: bool) -> Petitioner {
    Petitioner {
        name: name.into(),
        proxy,
        representative,
        ..Default::default()
    }
}

fn parse_visit(request: &RegisterVisitRequest) -> Result<NewVisit, Vec<String>> {
    let mut v = Violations::new();
    let parsed = NewVisit::parse(&mut v, request, clock());
    v.finish(|| parsed)
        .map_err(|v| v.into_vec().into_iter().map(|f| f.field).collect())
}

#[test]
fn proxies_act_for_someone_and_are_not_counted_or_representatives() {
    // The principal and the lawyer acting for them; the lawyer alone came: one person in the batch.
    let ok = visit_request(
        vec![named("张三", false, false), named("李律师", true, false)],
        1,
    );
    let visit = parse_visit(&ok).unwrap();
    assert!(!visit.petitioners[0].proxy && visit.petitioners[1].proxy);
    let both = visit_request(
        vec![named("张三", false, false), named("李律师", true, true)],
        2,
    );
    assert_eq!(
        parse_visit(&both).unwrap_err(),
        ["visit.petitioners[1].proxy"]
    );
    let alone = visit_request(vec![named("李律师", true, false)], 1);
    assert_eq!(parse_visit(&alone).unwrap_err(), ["visit.petitioners"]);
}

#[test]
fn a_new_case_against_a_match_is_no_link() {
    let mut request = visit_request(vec![named("张三", false, false)], 1);
    let matter = request
        .visit
        .as_mut()
        .and_then(|v| v.matter.as_mut())
        .unwrap();
    matter.new_case_reason = "另一家企业".into();
    let parsed = parse_visit(&request).unwrap();
    assert_eq!(parsed.matter.new_case_reason.as_deref(), Some("另一家企业"));
    let matter = request
        .visit
        .as_mut()
        .and_then(|v| v.matter.as_mut())
        .unwrap();
    matter.link_case_id = Uuid::now_v7().to_string();
    assert_eq!(
        parse_visit(&request).unwrap_err(),
        ["visit.matter.new_case_reason"]
    );
}

#[test]
fn an_accusation_names_its_unit_and_nothing_else_does() {
    use crate::v1::ClaimType;
    let mut request = visit_request(vec![named("张三", false, false)], 1);
    let matter = request
        .visit
        .as_mut()
        .and_then(|v| v.matter.as_mut())
        .unwrap();
    matter.claim_type = ClaimType::Accusation as i32;
    assert_eq!(
        parse_visit(&request).unwrap_err(),
        ["visit.matter.accused_org_code"]
    );
    let matter = request
        .visit
        .as_mut()
        .and_then(|v| v.matter.as_mut())
        .unwrap();
    matter.claim_type = ClaimType::Petition as i32;
    matter.accused_org_code = "510422100".into();
    assert_eq!(
        parse_visit(&request).unwrap_err(),
        ["visit.matter.accused_org_code"]
    );
}

#[test]
fn a_detach_names_one_registration_and_a_reason() {
    let id = Uuid::now_v7().to_string();
    let ok = DetachRegistrationRequest {
        request_id: Uuid::now_v7().to_string(),
        letter_id: id.clone(),
        reason: "另一家企业".into(),
        ..Default::default()
    };
    let parse = |r: &DetachRegistrationRequest| {
        let mut v = Violations::new();
        let parsed = Detach::parse(&mut v, r);
        v.finish(|| parsed).map_err(|v| {
            v.into_vec()
                .into_iter()
                .map(|f| f.field)
                .collect::<Vec<_>>()
        })
    };
    let parsed = parse(&ok).unwrap();
    assert_eq!(parsed.kind, RegistrationKind::Letter);
    assert_eq!(parsed.id.to_string(), id);
    let both = DetachRegistrationRequest {
        visit_id: id.clone(),
        reason: String::new(),
        ..ok.clone()
    };
    assert_eq!(parse(&both).unwrap_err(), ["letter_id", "reason"]);
    let none = DetachRegistrationRequest {
        letter_id: String::new(),
        ..ok.clone()
    };
    assert_eq!(parse(&none).unwrap_err(), ["visit_id"]);
    let bad = DetachRegistrationRequest {
        letter_id: "x".into(),
        ..ok
    };
    assert_eq!(parse(&bad).unwrap_err(), ["letter_id"]);
}

#[test]
fn dated_writes_are_judged_by_the_clock() {
    let now = Utc::now();
    let at = |days_ago: i64| prost_types::Timestamp {
        seconds: (now - chrono::Duration::days(days_ago)).timestamp(),
        nanos: 0,
    };
    let desk = Clock {
        now,
        history: false,
    };
    let loader = Clock { now, history: true };
    let mut v = Violations::new();
    assert!(desk.occurred(&mut v, "t", Some(&at(3))).is_some());
    assert!(v.is_empty());
    assert!(desk.occurred(&mut v, "t", Some(&at(400))).is_none());
    assert!(desk.occurred(&mut v, "t", Some(&at(-2))).is_none());
    assert_eq!(
        desk.occurred(&mut v, "t", None),
        Some(chrono::SubsecRound::trunc_subsecs(now, 0))
    );
    assert_eq!(
        v.into_vec().len(),
        2,
        "a year back and tomorrow are each named"
    );
    let mut v = Violations::new();
    assert!(loader.occurred(&mut v, "t", Some(&at(400))).is_some());
    assert!(v.is_empty());
}

#[test]
fn a_step_names_every_bad_field_at_once() {
    let request = ExtendCaseRequest {
        case_id: "nope".into(),
        days: -1,
        ..Default::default()
    };
    let mut v = Violations::new();
    assert!(request.parse(&mut v, clock()).is_none());
    let fields: Vec<String> = v.into_vec().into_iter().map(|f| f.field).collect();
    assert_eq!(
        fields,
        ["case_id", "days", "approved_by", "reason", "notified_on"]
    );
    let none = ExtendCaseRequest { days: 0, ..request };
    let mut v = Violations::new();
    none.parse(&mut v, clock());
    assert!(
        v.into_vec().iter().any(|f| f.field == "days"),
        "0 days is no extension"
    );
    let township = SuperviseCaseRequest {
        case_id: Uuid::now_v7().to_string(),
        level: Level::Township as i32,
        method: 1,
        ..Default::default()
    };
    let mut v = Violations::new();
    assert!(township.parse(&mut v, clock()).is_none());
    assert_eq!(v.into_vec()[0].field, "level");
    let county = SuperviseCaseRequest {
        level: Level::County as i32,
        ..township
    };
    let mut v = Violations::new();
    let step = county.parse(&mut v, clock()).unwrap();
    assert!(matches!(step.action, Action::Supervise { .. }));
}
