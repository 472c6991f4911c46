use chrono::{DateTime, Utc};
use xinfang_proto::v1::{
    AcceptCaseRequest, DeclineCaseRequest, ExtendCaseRequest, LetterChannel, Level, MatterInput,
    Petitioner, Rating, RecordEvaluationRequest, RecordReturnTripRequest, RegisterLetterRequest,
    RegisterVisitRequest, ReturnTrip, TripCosts, TripOutcome, Visit, operation::Op,
};

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn good_visit() -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: String::new(),
        visit: Some(Visit {
            visited_at: ts(now().timestamp() - 3600),
            level: Level::National as i32,
            place_name: "国家信访局".into(),
            headcount: 1,
            petitioners: vec![Petitioner {
                name: "张三".into(),
                id_number: "11010519491231002X".into(),
                phone: "13812345678".into(),
                ..Default::default()
            }],
            matter: Some(MatterInput {
                content: "土地征收补偿".into(),
                demands: "提高补偿".into(),
                category: "land".into(),
                problem_org_code: "510422100".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn fields(op: &Op) -> Vec<String> {
    match validate(op, now()) {
        Ok(()) => vec![],
        Err(v) => v.into_vec().into_iter().map(|f| f.field).collect(),
    }
}

#[test]
fn a_good_visit_passes_and_a_mistyped_id_number_is_caught_here() {
    assert_eq!(
        fields(&Op::RegisterVisit(good_visit())),
        Vec::<String>::new()
    );
    let mut bad = good_visit();
    let visit = bad.visit.as_mut().unwrap();
    // One digit off: the check character no longer matches.
    visit.petitioners[0].id_number = "110101199003077777".into();
    visit.petitioners[0].phone = "12345".into();
    visit.headcount = 0;
    visit.level = Level::Township as i32;
    visit.matter.as_mut().unwrap().category = "Land".into();
    assert_eq!(
        fields(&Op::RegisterVisit(bad)),
        [
            "visit.level",
            "visit.headcount",
            "visit.petitioners[0].id_number",
            "visit.petitioners[0].phone",
            "visit.matter.category"
        ]
    );
    let mut empty = good_visit();
    empty.visit.as_mut().unwrap().petitioners.clear();
    empty.visit.as_mut().unwrap().visited_at = ts(now().timestamp() + 3600);
    assert_eq!(
        fields(&Op::RegisterVisit(empty)),
        ["visit.visited_at", "visit.petitioners"]
    );
}

#[test]
fn trips_check_decimals_order_and_officers() {
    let base = now().timestamp();
    let mut trip = ReturnTrip {
        notified_by: "驻京工作组".into(),
        notified_at: ts(base - 86_400),
        destination_level: Level::National as i32,
        destination_place: "北京".into(),
        responsible_org_code: "510422100".into(),
        officers: vec!["赵六".into()],
        departed_at: ts(base - 80_000),
        costs: Some(TripCosts {
            transport: "1500.00".into(),
            ..Default::default()
        }),
        outcome: TripOutcome::Returned as i32,
        ..Default::default()
    };
    let op = |t: &ReturnTrip| {
        Op::RecordReturnTrip(RecordReturnTripRequest {
            request_id: String::new(),
            trip: Some(t.clone()),
        })
    };
    assert!(fields(&op(&trip)).is_empty());
    trip.costs.as_mut().unwrap().lodging = "12.345".into();
    trip.costs.as_mut().unwrap().meals = "1e3".into();
    trip.arrived_at = ts(base - 90_000);
    trip.officers.clear();
    assert_eq!(
        fields(&op(&trip)),
        [
            "trip.officers",
            "trip.arrived_at",
            "trip.costs.lodging",
            "trip.costs.meals"
        ]
    );
    trip.departed_at = None;
    trip.arrived_at = None;
    trip.officers = vec!["赵六".into()];
    trip.costs = None;
    assert_eq!(
        fields(&op(&trip)),
        ["trip.departed_at"],
        "an outcome needs a departure"
    );
}

fn under_way() -> RecordReturnTripRequest {
    let base = now().timestamp();
    RecordReturnTripRequest {
        request_id: String::new(),
        trip: Some(ReturnTrip {
            notified_by: "驻京工作组".into(),
            notified_at: ts(base - 86_400),
            destination_level: Level::National as i32,
            destination_place: "北京".into(),
            responsible_org_code: "510422100".into(),
            officers: vec!["赵六".into()],
            departed_at: ts(base - 80_000),
            costs: Some(TripCosts {
                transport: "1500.00".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn violated(err: CaptureError) -> Vec<String> {
    match err {
        CaptureError::Invalid(v) => v.into_vec().into_iter().map(|f| f.field).collect(),
        other => panic!("not a validation error: {other}"),
    }
}

#[test]
fn a_trip_under_way_is_drafted_then_closed_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("t.db")).unwrap();
    let base = now().timestamp();

    // A draft is checked like a trip, and has not returned.
    let mut returned = under_way();
    returned.trip.as_mut().unwrap().returned_at = ts(base - 3_600);
    returned
        .trip
        .as_mut()
        .unwrap()
        .costs
        .as_mut()
        .unwrap()
        .meals = "1.234".into();
    assert_eq!(
        violated(draft_trip(&mut store, returned, now()).unwrap_err()),
        ["trip.costs.meals", "trip.returned_at"]
    );
    let mut said_returned = under_way();
    said_returned.trip.as_mut().unwrap().outcome = TripOutcome::Returned as i32;
    let draft = draft_trip(&mut store, said_returned, now()).unwrap();
    assert_eq!(
        draft.trip.outcome(),
        TripOutcome::UnderWay,
        "a draft is under way"
    );
    assert!(store.outbox(&[]).unwrap().is_empty());

    // Closing needs the return and a final outcome; a refused close leaves the draft open.
    let err = close_trip(&mut store, &draft.id, &TripClosing::default(), now()).unwrap_err();
    assert_eq!(violated(err), ["trip.outcome", "trip.returned_at"]);
    let err = close_trip(
        &mut store,
        &draft.id,
        &TripClosing {
            returned_at: ts(base - 90_000),
            outcome: TripOutcome::Returned as i32,
            ..Default::default()
        },
        now(),
    )
    .unwrap_err();
    assert_eq!(violated(err), ["trip.returned_at"], "before the departure");
    assert_eq!(store.trip_drafts().unwrap().len(), 1);
    assert!(store.outbox(&[]).unwrap().is_empty());

    let closing = TripClosing {
        returned_at: ts(base - 3_600),
        arrived_at: ts(base - 40_000),
        outcome: TripOutcome::HandedOver as i32,
        lodging: Some(" 320.00 ".into()),
        report: Some("已移交属地".into()),
        ..Default::default()
    };
    let short = &draft.id[draft.id.len() - 8..];
    let entry = close_trip(&mut store, short, &closing, now()).unwrap();
    assert_eq!(entry.kind, "record_return_trip");
    let Some(Op::RecordReturnTrip(r)) = &entry.operation.op else {
        panic!("{entry:?}")
    };
    let trip = r.trip.clone().unwrap();
    assert_eq!(trip.outcome(), TripOutcome::HandedOver);
    assert_eq!(trip.returned_at, ts(base - 3_600));
    assert_eq!(trip.arrived_at, ts(base - 40_000));
    assert_eq!(trip.departed_at, ts(base - 80_000), "kept from the draft");
    let costs = trip.costs.unwrap();
    assert_eq!(
        (costs.transport.as_str(), costs.lodging.as_str()),
        ("1500.00", "320.00")
    );
    assert_eq!(trip.report, "已移交属地");
    assert!(store.trip_drafts().unwrap().is_empty());
    let err = close_trip(&mut store, &draft.id, &closing, now()).unwrap_err();
    assert!(
        matches!(err, CaptureError::Store(StoreError::DraftNotOpen { .. })),
        "{err}"
    );
    assert_eq!(store.outbox(&[]).unwrap().len(), 1, "queued once");
}

#[test]
fn letters_from_above_need_their_reference() {
    let letter = xinfang_proto::v1::Letter {
        channel: LetterChannel::CampaignTransfer as i32,
        received_at: ts(now().timestamp() - 60),
        matter: good_visit().visit.unwrap().matter,
        ..Default::default()
    };
    let op = Op::RegisterLetter(RegisterLetterRequest {
        request_id: String::new(),
        letter: Some(letter),
    });
    assert_eq!(fields(&op), ["letter.source_reference", "letter.campaign"]);
}

#[test]
fn case_steps_are_dated_now_and_checked() {
    let id = uuid::Uuid::now_v7().to_string();
    let prepared = prepare(
        Op::AcceptCase(AcceptCaseRequest {
            request_id: "x".into(),
            case_id: id.clone(),
            ..Default::default()
        }),
        now(),
    )
    .unwrap();
    let Op::AcceptCase(r) = prepared else {
        panic!()
    };
    assert_eq!(r.occurred_at, ts(now().timestamp()));
    assert!(r.request_id.is_empty());
    assert_eq!(
        fields(&Op::DeclineCase(DeclineCaseRequest {
            case_id: "nope".into(),
            ..Default::default()
        })),
        ["case_id", "ground"]
    );
    assert_eq!(
        fields(&Op::ExtendCase(ExtendCaseRequest {
            case_id: id.clone(),
            days: -1,
            ..Default::default()
        })),
        ["days", "approved_by", "reason", "notified_on"]
    );
    // How long an extension may be is the deployment's deadline rule (30 days by default), which only the
    // server knows: a longer one is queued and judged when it is pushed.
    assert_eq!(
        fields(&Op::ExtendCase(ExtendCaseRequest {
            case_id: id.clone(),
            days: 31,
            approved_by: "王".into(),
            reason: "调查取证".into(),
            notified_on: Some(xinfang_proto::v1::Date {
                year: 2025,
                month: 6,
                day: 15,
            }),
            ..Default::default()
        })),
        Vec::<String>::new()
    );
    assert_eq!(
        fields(&Op::RecordEvaluation(RecordEvaluationRequest {
            case_id: id,
            office_rating: Rating::Satisfied as i32,
            ..Default::default()
        })),
        ["unit_rating"]
    );
}

#[test]
fn captured_operations_land_in_the_outbox_and_invalid_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("c.db")).unwrap();
    let entry = register_visit(&mut store, good_visit(), now()).unwrap();
    assert_eq!(entry.kind, "register_visit");
    assert_eq!(entry.subject, "visit: 张三 at 国家信访局");
    let mut bad = good_visit();
    bad.visit.as_mut().unwrap().place_name.clear();
    let err = register_visit(&mut store, bad, now()).unwrap_err();
    assert!(matches!(err, CaptureError::Invalid(_)));
    assert!(err.to_string().contains("visit.place_name: required"));
    assert_eq!(store.outbox(&[]).unwrap().len(), 1);
}

#[test]
fn today_is_read_in_shanghai() {
    // 2025-06-30T17:00:00Z is already 1 July in Shanghai.
    let t = DateTime::parse_from_rfc3339("2025-06-30T17:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(today_yyyymmdd(t), 20250701);
}
