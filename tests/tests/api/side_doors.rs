//! Side doors: every way a record can be reached — a direct read, a list, its events, the pull feed, a trip
//! link, a letter or visit link, a repeat match, a fund request, the indicators' drill-through ids and error
//! texts — tried by every role against cases in and out of its scope, accusations included. The rule (one
//! for every path): county roles read every case; a township or department reads the cases assigned to
//! it, never an accusation against itself; a field officer reads the cases its own registrations opened and
//! those of its own trips; an agency reads the cases its own letters opened. Linking needs the target to be
//! readable already, so it never widens what anyone reads.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tonic::Code;
use xinfang_client::Client;
use xinfang_proto::v1::{
    AssignCaseRequest, AssignmentMode, BatchGetCasesRequest, ClaimType, CreateBudgetRequest,
    CreateOrgUnitRequest, FundPurpose, GetCaseRequest, GetFundRequestRequest, GetIndicatorsRequest,
    GetLetterRequest, GetReturnTripRequest, GetVisitRequest, Letter, LetterChannel, Level,
    ListCaseEventsRequest, ListCasesRequest, ListFundRequestsRequest, ListLettersRequest,
    ListReturnTripsRequest, ListVisitsRequest, MarkBacklogRequest, MatterInput, OrgUnit,
    OrgUnitKind, Period, Petitioner, PullRequest, RecordReturnTripRequest, RegisterLetterRequest,
    RegisterVisitRequest, ReturnTrip, SubmitFundRequestRequest, TripOutcome, Visit, YearMonth,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, fields, now_secs, reason, request_id, spawn_app, ts};

const A: &str = "510422100";
const B: &str = "510422101";
const BUREAU: &str = "510422XF";
/// An accuser, whose name the accused unit must never see.
const ACCUSER: &str = "钱检举";
const ACCUSER_ID: &str = "11010519491231002X";
const PLAIN_A_ID: &str = "440524188001010014";
const PLAIN_B_ID: &str = "34052419800101001X";
const OFFICER_ID: &str = "510422198001010013";
const AGENCY_ID: &str = "510422197505050014";

fn person(name: &str, id_number: &str) -> Petitioner {
    Petitioner {
        name: name.into(),
        id_number: id_number.into(),
        ..Default::default()
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

fn accusation(org: &str) -> MatterInput {
    MatterInput {
        claim_type: ClaimType::Accusation as i32,
        accused_org_code: org.into(),
        ..matter("politics_law", org)
    }
}

fn visit(people: Vec<Petitioner>, m: MatterInput) -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: request_id(),
        visit: Some(Visit {
            visited_at: ts(now_secs() - 7_200),
            level: Level::County as i32,
            place_name: "县信访局接待大厅".into(),
            headcount: people.len().max(1) as i32,
            petitioners: people,
            matter: Some(m),
            ..Default::default()
        }),
    }
}

fn letter(people: Vec<Petitioner>, m: MatterInput) -> RegisterLetterRequest {
    RegisterLetterRequest {
        request_id: request_id(),
        letter: Some(Letter {
            channel: LetterChannel::Transferred as i32,
            source_reference: format!("市转〔2026〕{}", request_id()),
            received_at: ts(now_secs() - 3_600),
            petitioners: people,
            matter: Some(m),
            ..Default::default()
        }),
    }
}

fn trip(responsible: &str, case_ids: Vec<String>, who: Petitioner) -> RecordReturnTripRequest {
    let start = now_secs() - 86_400;
    RecordReturnTripRequest {
        request_id: request_id(),
        trip: Some(ReturnTrip {
            notified_by: "驻京工作组".into(),
            notified_at: ts(start),
            destination_level: Level::National as i32,
            destination_place: "国家信访局来访接待司".into(),
            responsible_org_code: responsible.into(),
            officers: vec!["赵六".into()],
            petitioners: vec![who],
            case_ids,
            departed_at: ts(start + 3_600),
            outcome: TripOutcome::UnderWay as i32,
            ..Default::default()
        }),
    }
}

fn this_year() -> Period {
    let year = chrono::Datelike::year(&chrono::Utc::now());
    Period {
        start: Some(YearMonth { year, month: 1 }),
        end: Some(YearMonth { year, month: 12 }),
    }
}

/// Who calls, and the cases the rule says it reads.
struct Caller {
    label: &'static str,
    role: Role,
    client: Client,
}

/// The county as the tests find it: cases of two townships, an accusation against A handled by B, one
/// not yet assigned, a field officer's and an agency's own cases, a trip, a relief request and a budget.
struct World {
    app: TestApp,
    county: Client,
    callers: Vec<Caller>,
    /// Case ids by name.
    cases: BTreeMap<&'static str, String>,
    visits: Vec<String>,
    letters: Vec<String>,
    trips: Vec<String>,
    fund_requests: Vec<String>,
    /// Petitioner ids by case name.
    petitioners: BTreeMap<&'static str, String>,
}

impl World {
    async fn build() -> World {
        let app = spawn_app().await;
        let county_token = app.token(Role::CountyClerk, BUREAU).await;
        let mut county = app.client_with(Some(&county_token));
        let mut cases = BTreeMap::new();
        let mut petitioners = BTreeMap::new();
        let mut visits = Vec::new();
        let mut letters = Vec::new();
        let mut trips = Vec::new();

        let register = async |client: &mut Client, name, req| -> Visit {
            client
                .visits
                .register_visit(req)
                .await
                .unwrap_or_else(|s| panic!("registering {name}: {s:?}"))
                .into_inner()
        };
        let plain_a = register(
            &mut county,
            "plain_a",
            visit(vec![person("孙甲", PLAIN_A_ID)], matter("labor", A)),
        )
        .await;
        let plain_b = register(
            &mut county,
            "plain_b",
            visit(vec![person("周乙", PLAIN_B_ID)], matter("land", B)),
        )
        .await;
        let accused = register(
            &mut county,
            "accusation",
            visit(vec![person(ACCUSER, ACCUSER_ID)], accusation(A)),
        )
        .await;
        let unassigned = register(
            &mut county,
            "unassigned",
            visit(vec![person("吴丙", "")], matter("labor", A)),
        )
        .await;
        for (name, v) in [
            ("plain_a", &plain_a),
            ("plain_b", &plain_b),
            ("accusation", &accused),
            ("unassigned", &unassigned),
        ] {
            cases.insert(name, v.classification.clone().unwrap().case_id);
            petitioners.insert(name, v.petitioners[0].id.clone());
            visits.push(v.id.clone());
        }
        for (name, unit) in [("plain_a", A), ("plain_b", B), ("accusation", B)] {
            county
                .cases
                .assign_case(AssignCaseRequest {
                    request_id: request_id(),
                    case_id: cases[name].clone(),
                    mode: AssignmentMode::Forward as i32,
                    responsible_org_code: unit.into(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        // The accusation is a special difficult backlog case, so relief could be asked for it.
        county
            .cases
            .mark_backlog(MarkBacklogRequest {
                request_id: request_id(),
                case_id: cases["accusation"].clone(),
                leader: "副县长".into(),
                special_difficult: Some(true),
                ..Default::default()
            })
            .await
            .unwrap();
        county
            .cases
            .mark_backlog(MarkBacklogRequest {
                request_id: request_id(),
                case_id: cases["plain_b"].clone(),
                leader: "副县长".into(),
                special_difficult: Some(true),
                ..Default::default()
            })
            .await
            .unwrap();
        let year = chrono::Datelike::year(&chrono::Utc::now());
        county
            .funds
            .create_budget(CreateBudgetRequest {
                request_id: request_id(),
                year,
                category: "special_difficult".into(),
                document: "盐财资行〔2026〕1号".into(),
                amount: "100000".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let relief = county
            .funds
            .submit_fund_request(SubmitFundRequestRequest {
                request_id: request_id(),
                year,
                category: "special_difficult".into(),
                purpose: FundPurpose::HardshipRelief as i32,
                unit_code: B.into(),
                description: "困难救助".into(),
                amount: "21000".into(),
                payee: "周乙".into(),
                case_id: cases["plain_b"].clone(),
                petitioner_id: petitioners["plain_b"].clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        // A trip the county records for the accusation's petitioner, under the handling unit B.
        let county_trip = county
            .visits
            .record_return_trip(trip(
                B,
                vec![cases["accusation"].clone()],
                person(ACCUSER, ACCUSER_ID),
            ))
            .await
            .unwrap()
            .into_inner();
        trips.push(county_trip.id);

        let mut callers = Vec::new();
        for (label, role, org) in [
            ("county clerk", Role::CountyClerk, BUREAU),
            ("admin", Role::Admin, BUREAU),
            ("leader", Role::Leader, BUREAU),
            ("auditor", Role::Auditor, BUREAU),
            ("clerk A", Role::TownshipClerk, A),
            ("clerk B", Role::TownshipClerk, B),
            ("officer 1", Role::FieldOfficer, BUREAU),
            ("officer 2", Role::FieldOfficer, BUREAU),
            ("agency 1", Role::Agency, BUREAU),
            ("agency 2", Role::Agency, BUREAU),
        ] {
            let token = app.token(role, org).await;
            callers.push(Caller {
                label,
                role,
                client: app.client_with(Some(&token)),
            });
        }
        // The field officer meets a petitioner in Beijing: the visit opens a case of its own, and its trip
        // names that case.
        let officer_visit = register(
            &mut callers[6].client,
            "officer",
            visit(vec![person("郑丁", OFFICER_ID)], matter("land", B)),
        )
        .await;
        cases.insert("officer", officer_visit.classification.unwrap().case_id);
        petitioners.insert("officer", officer_visit.petitioners[0].id.clone());
        visits.push(officer_visit.id);
        let officer_trip = callers[6]
            .client
            .visits
            .record_return_trip(trip(
                A,
                vec![cases["officer"].clone()],
                person("郑丁", OFFICER_ID),
            ))
            .await
            .unwrap()
            .into_inner();
        trips.push(officer_trip.id);
        // An agency transfers a letter, which opens a case of its own.
        let agency_letter = callers[8]
            .client
            .visits
            .register_letter(letter(vec![person("王戊", AGENCY_ID)], matter("labor", B)))
            .await
            .unwrap()
            .into_inner();
        cases.insert("agency", agency_letter.classification.unwrap().case_id);
        letters.push(agency_letter.id);
        World {
            app,
            county,
            callers,
            cases,
            visits,
            letters,
            trips,
            fund_requests: vec![relief.id],
            petitioners,
        }
    }

    /// The cases the rule gives `caller`, by name.
    fn expected(&self, caller: &Caller) -> BTreeSet<&'static str> {
        let all: BTreeSet<&'static str> = self.cases.keys().copied().collect();
        match (caller.role, caller.label) {
            (Role::Admin | Role::CountyClerk | Role::Leader | Role::Auditor, _) => all,
            (_, "clerk A") => ["plain_a"].into(),
            (_, "clerk B") => ["plain_b", "accusation"].into(),
            (_, "officer 1") => ["officer"].into(),
            (_, "agency 1") => ["agency"].into(),
            _ => BTreeSet::new(),
        }
    }

    fn names_in(&self, text: &str) -> BTreeSet<&'static str> {
        self.cases
            .iter()
            .filter(|(_, id)| text.contains(id.as_str()))
            .map(|(name, _)| *name)
            .collect()
    }

    /// The cases `caller` can read with GetCase, by name.
    async fn readable(&self, caller: &mut Caller) -> BTreeSet<&'static str> {
        let mut names = BTreeSet::new();
        for (name, id) in &self.cases {
            match caller
                .client
                .cases
                .get_case(GetCaseRequest { id: id.clone() })
                .await
            {
                Ok(_) => {
                    names.insert(*name);
                }
                Err(s) => assert_eq!(
                    s.code(),
                    Code::PermissionDenied,
                    "{} GetCase {name}: {s:?}",
                    caller.label
                ),
            }
        }
        names
    }
}

/// Everything `caller` can get from every read path, as one text, with the case names it mentions.
async fn everything_seen(w: &World, caller: &mut Caller) -> String {
    let mut seen = String::new();
    let c = &mut caller.client;
    let mut keep = |label: &str, text: String| {
        seen.push_str(label);
        seen.push_str(&text);
        seen.push('\n');
    };
    for id in w.cases.values() {
        let r = c.cases.get_case(GetCaseRequest { id: id.clone() }).await;
        keep("GetCase", format!("{:?}", r.map(|r| r.into_inner())));
        let r = c
            .cases
            .list_case_events(ListCaseEventsRequest {
                case_id: id.clone(),
                ..Default::default()
            })
            .await;
        keep("ListCaseEvents", format!("{:?}", r.map(|r| r.into_inner())));
    }
    // Every case alone and all of them at once: a batch holding one case outside the scope is refused whole.
    let batches = w.cases.values().map(|id| vec![id.clone()]).chain([w
        .cases
        .values()
        .cloned()
        .collect()]);
    for ids in batches {
        let r = c.cases.batch_get_cases(BatchGetCasesRequest { ids }).await;
        keep("BatchGetCases", format!("{:?}", r.map(|r| r.into_inner())));
    }
    let r = c.cases.list_cases(ListCasesRequest::default()).await;
    keep("ListCases", format!("{:?}", r.map(|r| r.into_inner())));
    for id in &w.visits {
        let r = c.visits.get_visit(GetVisitRequest { id: id.clone() }).await;
        keep("GetVisit", format!("{:?}", r.map(|r| r.into_inner())));
    }
    let r = c.visits.list_visits(ListVisitsRequest::default()).await;
    keep("ListVisits", format!("{:?}", r.map(|r| r.into_inner())));
    for id in &w.letters {
        let r = c
            .visits
            .get_letter(GetLetterRequest { id: id.clone() })
            .await;
        keep("GetLetter", format!("{:?}", r.map(|r| r.into_inner())));
    }
    let r = c.visits.list_letters(ListLettersRequest::default()).await;
    keep("ListLetters", format!("{:?}", r.map(|r| r.into_inner())));
    for id in &w.trips {
        let r = c
            .visits
            .get_return_trip(GetReturnTripRequest { id: id.clone() })
            .await;
        keep("GetReturnTrip", format!("{:?}", r.map(|r| r.into_inner())));
    }
    let r = c
        .visits
        .list_return_trips(ListReturnTripsRequest::default())
        .await;
    keep(
        "ListReturnTrips",
        format!("{:?}", r.map(|r| r.into_inner())),
    );
    for id in &w.fund_requests {
        let r = c
            .funds
            .get_fund_request(GetFundRequestRequest { id: id.clone() })
            .await;
        keep("GetFundRequest", format!("{:?}", r.map(|r| r.into_inner())));
    }
    let r = c
        .funds
        .list_fund_requests(ListFundRequestsRequest::default())
        .await;
    keep(
        "ListFundRequests",
        format!("{:?}", r.map(|r| r.into_inner())),
    );
    for org in ["", A, B] {
        let r = c
            .metrics
            .get_indicators(GetIndicatorsRequest {
                period: Some(this_year()),
                org_code: org.into(),
                include_ids: true,
                include_pending: true,
                ..Default::default()
            })
            .await;
        keep("GetIndicators", format!("{:?}", r.map(|r| r.into_inner())));
    }
    let mut cursor = String::new();
    for _ in 0..20 {
        match c
            .sync
            .pull(PullRequest {
                cursor: cursor.clone(),
                page_size: 500,
            })
            .await
        {
            Ok(page) => {
                let page = page.into_inner();
                keep("Pull", format!("{:?}", page.changes));
                if !page.more {
                    break;
                }
                cursor = page.next_cursor;
            }
            Err(s) => {
                keep("Pull", format!("{s:?}"));
                break;
            }
        }
    }
    seen
}

#[tokio::test]
async fn no_path_reaches_a_case_outside_the_scope() {
    let mut w = World::build().await;
    let mut callers = std::mem::take(&mut w.callers);
    for caller in &mut callers {
        let expected = w.expected(caller);
        assert_eq!(
            w.readable(caller).await,
            expected,
            "{}: the cases GetCase reads",
            caller.label
        );
        let seen = everything_seen(&w, caller).await;
        let leaked: BTreeSet<_> = w.names_in(&seen).difference(&expected).copied().collect();
        assert!(
            leaked.is_empty(),
            "{} reaches {leaked:?} through:\n{}",
            caller.label,
            seen.lines()
                .filter(|l| leaked.iter().any(|n| l.contains(&w.cases[n])))
                .map(|l| l.chars().take(300).collect::<String>())
                .collect::<Vec<_>>()
                .join("\n")
        );
        if caller.label == "clerk A" {
            assert!(
                !seen.contains(ACCUSER),
                "the accused unit sees the accuser's name"
            );
        }
    }
    w.callers = callers;

    // Linking never widens: every link to a case outside the caller's scope is refused, and the
    // scopes are as before.
    for i in 0..w.callers.len() {
        let expected = w.expected(&w.callers[i]);
        let names: Vec<&'static str> = w.cases.keys().copied().collect();
        for name in names {
            if expected.contains(name) {
                continue;
            }
            let id = w.cases[name].clone();
            let caller = &mut w.callers[i];
            let refusals = try_links(caller, &id).await;
            for (path, result) in refusals {
                match result {
                    Ok(text) => panic!("{} links {name} by {path}: {text}", caller.label),
                    Err(s) => {
                        assert!(
                            matches!(
                                s.code(),
                                Code::PermissionDenied
                                    | Code::InvalidArgument
                                    | Code::FailedPrecondition
                            ),
                            "{} {path} {name}: {s:?}",
                            caller.label
                        );
                        assert!(
                            !s.message().contains("21000") && !s.message().contains(ACCUSER),
                            "{} {path}: {s:?}",
                            caller.label
                        );
                    }
                }
            }
        }
    }
    let mut callers = std::mem::take(&mut w.callers);
    for caller in &mut callers {
        assert_eq!(
            w.readable(caller).await,
            w.expected(caller),
            "{}: after the link attempts",
            caller.label
        );
    }
}

/// The ways a caller might link a case into a record of its own.
const LINKS: [&str; 4] = [
    "a trip",
    "a visit's link",
    "a letter's link",
    "a fund request",
];

/// Links `case_id` by way `how` (an index of [`LINKS`]); the response's text, or the refusal.
async fn try_link(caller: &mut Caller, case_id: &str, how: usize) -> Result<String, tonic::Status> {
    let c = &mut caller.client;
    let linked = MatterInput {
        link_case_id: case_id.to_owned(),
        ..matter("labor", A)
    };
    match how {
        0 => c
            .visits
            .record_return_trip(trip(A, vec![case_id.to_owned()], person("冯己", "")))
            .await
            .map(|r| format!("{:?}", r.into_inner())),
        1 => c
            .visits
            .register_visit(visit(vec![person("冯己", "")], linked))
            .await
            .map(|r| format!("{:?}", r.into_inner())),
        2 => c
            .visits
            .register_letter(letter(vec![person("冯己", "")], linked))
            .await
            .map(|r| format!("{:?}", r.into_inner())),
        _ => c
            .funds
            .submit_fund_request(SubmitFundRequestRequest {
                request_id: request_id(),
                year: chrono::Datelike::year(&chrono::Utc::now()),
                category: "special_difficult".into(),
                purpose: FundPurpose::Lawyer as i32,
                description: "律师费".into(),
                amount: "100".into(),
                payee: "律师事务所".into(),
                case_id: case_id.to_owned(),
                ..Default::default()
            })
            .await
            .map(|r| format!("{:?}", r.into_inner())),
    }
}

async fn try_links(
    caller: &mut Caller,
    case_id: &str,
) -> Vec<(&'static str, Result<String, tonic::Status>)> {
    let mut out = Vec::new();
    for (how, path) in LINKS.iter().enumerate() {
        out.push((*path, try_link(caller, case_id, how).await));
    }
    out
}

/// Finding 1: a trip linked to any id used to open the case to the officer who recorded it.
#[tokio::test]
async fn a_field_officer_cannot_reach_a_case_through_a_trip() {
    let mut w = World::build().await;
    let officer = &mut w.callers[7];
    let accusation = w.cases["accusation"].clone();
    let status = officer
        .client
        .visits
        .record_return_trip(trip(B, vec![accusation.clone()], person("冯己", "")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(fields(&status), ["trip.case_ids[0]"]);
    // The refusal is the same for a case that does not exist: it tells nothing.
    let missing = officer
        .client
        .visits
        .record_return_trip(trip(
            B,
            vec![uuid::Uuid::now_v7().to_string()],
            person("冯己", ""),
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.message(), status.message());
    for result in [
        officer
            .client
            .cases
            .get_case(GetCaseRequest {
                id: accusation.clone(),
            })
            .await
            .map(|_| ()),
        officer
            .client
            .cases
            .list_case_events(ListCaseEventsRequest {
                case_id: accusation.clone(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    ] {
        assert_eq!(result.unwrap_err().code(), Code::PermissionDenied);
    }
}

/// Finding 1, second half: a repeat match told the registering officer the matched case's id.
#[tokio::test]
async fn a_repeat_match_tells_only_that_it_is_a_repeat() {
    let mut w = World::build().await;
    let officer = &mut w.callers[7];
    let v = officer
        .client
        .visits
        .register_visit(visit(vec![person("孙甲", PLAIN_A_ID)], matter("labor", A)))
        .await
        .unwrap()
        .into_inner();
    let classification = v.classification.clone().unwrap();
    assert!(
        classification.repeat,
        "the same person about the same thing"
    );
    assert!(v.number.starts_with("XF510422-"), "{}", v.number);
    assert_eq!(classification.case_id, "", "{v:?}");
    // Read back later, the visit still does not name the case.
    let again = officer
        .client
        .visits
        .get_visit(GetVisitRequest { id: v.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.classification.unwrap().case_id, "");
    // The county sees which case it repeats.
    let county = w
        .county
        .visits
        .get_visit(GetVisitRequest { id: v.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(county.classification.unwrap().case_id, w.cases["plain_a"]);
}

/// Finding 2: a township clerk could ask for relief for another township's petitioner, and the refusal of the
/// cap named what that petitioner had been granted.
#[tokio::test]
async fn relief_is_asked_for_within_the_clerks_own_cases() {
    let mut w = World::build().await;
    let year = chrono::Datelike::year(&chrono::Utc::now());
    let relief = |case: &str, petitioner: &str, amount: &str| SubmitFundRequestRequest {
        request_id: request_id(),
        year,
        category: "special_difficult".into(),
        purpose: FundPurpose::HardshipRelief as i32,
        description: "困难救助".into(),
        amount: amount.into(),
        payee: "周乙".into(),
        case_id: case.into(),
        petitioner_id: petitioner.into(),
        ..Default::default()
    };
    let (case_b, person_b) = (w.cases["plain_b"].clone(), w.petitioners["plain_b"].clone());
    let clerk_a = &mut w.callers[4];
    let status = clerk_a
        .client
        .funds
        .submit_fund_request(relief(&case_b, &person_b, "1000"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(fields(&status), ["case_id"]);
    let requests: i64 = sqlx::query_scalar("SELECT count(*) FROM fund_requests")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(requests, 1, "nothing was written");
    // B's own clerk may ask, and a refusal of the cap names no figure: 21,000.00 is pending already.
    let clerk_b = &mut w.callers[5];
    let status = clerk_b
        .client
        .funds
        .submit_fund_request(relief(&case_b, &person_b, "10000"))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "RELIEF_CAP_EXCEEDED");
    assert!(
        !status.message().contains("21000") && !status.message().contains("21,000"),
        "{status:?}"
    );
    clerk_b
        .client
        .funds
        .submit_fund_request(relief(&case_b, &person_b, "9000"))
        .await
        .unwrap();
    // The county's clerk is told the figures.
    let status = w
        .county
        .funds
        .submit_fund_request(relief(&case_b, &person_b, "100"))
        .await
        .unwrap_err();
    assert!(status.message().contains("30000.00"), "{status:?}");
}

/// Finding 3: an accusation could be merged into a case the accused unit handles, which then showed the
/// accused unit a `repeat_linked` event pointing at it.
#[tokio::test]
async fn an_accusation_is_never_merged_into_the_accused_units_case() {
    let mut w = World::build().await;
    let plain_a = w.cases["plain_a"].clone();
    // Linked by hand.
    let status = w
        .county
        .visits
        .register_visit(visit(
            vec![person("孙甲", PLAIN_A_ID)],
            MatterInput {
                link_case_id: plain_a.clone(),
                ..accusation(A)
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "ACCUSATION_APART");
    // Matched as a repeat (same person, category and place): it opens a case of its own.
    let v = w
        .county
        .visits
        .register_visit(visit(
            vec![person("孙甲", PLAIN_A_ID)],
            MatterInput {
                category: "labor".into(),
                ..accusation(A)
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let classification = v.classification.unwrap();
    assert!(!classification.repeat);
    assert_ne!(classification.case_id, plain_a);
    // The accused unit's case shows nothing of it.
    let clerk_a = &mut w.callers[4];
    let events = clerk_a
        .client
        .cases
        .list_case_events(ListCaseEventsRequest {
            case_id: plain_a,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(
        events.iter().all(|e| e.action != "repeat_linked"),
        "{events:?}"
    );
    // Nor is an accusation against A merged with one against B.
    let against_b = w
        .county
        .visits
        .register_visit(visit(vec![person(ACCUSER, ACCUSER_ID)], accusation(B)))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(
        against_b.classification.unwrap().case_id,
        w.cases["accusation"]
    );
}

/// Finding 4: a trip linked to an accusation showed the accused unit the accusation's id and the accuser.
#[tokio::test]
async fn the_accused_unit_sees_no_trip_of_an_accusation() {
    let mut w = World::build().await;
    // A trip under the accused unit's responsibility may not name the accusation.
    let status = w
        .county
        .visits
        .record_return_trip(trip(
            A,
            vec![w.cases["accusation"].clone()],
            person(ACCUSER, ACCUSER_ID),
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "ACCUSED_UNIT", "{status:?}");
    // A trip recorded before this rule (written directly) stays hidden from the accused unit.
    let trip_id = w.trips[0].clone();
    sqlx::query("UPDATE return_trips SET responsible_org_code = $1 WHERE id = $2::uuid")
        .bind(A)
        .bind(&trip_id)
        .execute(&w.app.pool)
        .await
        .unwrap();
    let clerk_a = &mut w.callers[4];
    let status = clerk_a
        .client
        .visits
        .get_return_trip(GetReturnTripRequest {
            id: trip_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let listed = format!(
        "{:?}",
        clerk_a
            .client
            .visits
            .list_return_trips(ListReturnTripsRequest::default())
            .await
            .unwrap()
            .into_inner()
    );
    assert!(
        !listed.contains(&trip_id) && !listed.contains(ACCUSER),
        "{listed}"
    );
}

/// Finding 5: an agency got every case id from the drill-through, and could link its letters anywhere.
#[tokio::test]
async fn an_agency_reads_and_links_only_the_cases_of_its_own_letters() {
    let mut w = World::build().await;
    let own = w.cases["agency"].clone();
    let other = w.cases["plain_b"].clone();
    let agency = &mut w.callers[8];
    let indicators = format!(
        "{:?}",
        agency
            .client
            .metrics
            .get_indicators(GetIndicatorsRequest {
                period: Some(this_year()),
                include_ids: true,
                include_pending: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    );
    for (name, id) in &w.cases {
        if *name != "agency" {
            assert!(!indicators.contains(id.as_str()), "{name}: {indicators}");
        }
    }
    let status = agency
        .client
        .visits
        .register_letter(letter(
            vec![person("冯己", "")],
            MatterInput {
                link_case_id: other,
                ..matter("land", B)
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["letter.matter.link_case_id"]);
    // Its own letter's case: state and opinion are what it sent the letter for.
    let case = agency
        .client
        .cases
        .get_case(GetCaseRequest { id: own.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.id, own);
    let linked = agency
        .client
        .visits
        .register_letter(letter(
            vec![person("王戊", AGENCY_ID)],
            MatterInput {
                link_case_id: own.clone(),
                ..matter("labor", B)
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(linked.classification.unwrap().case_id, own);
}

/// Finding 6: a method missing from the role table was let through.
#[tokio::test]
async fn a_method_outside_the_table_is_refused() {
    let app = spawn_app().await;
    let mut grpc = tonic::client::Grpc::new(app.client.channel());
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(xinfang_proto::v1::GetOrgUnitRequest::default());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", app.admin_token).parse().unwrap(),
    );
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/xinfang.v1.OrgService/DeleteOrgUnit",
    );
    let status = grpc
        .unary::<_, xinfang_proto::v1::OrgUnit, _>(
            request,
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

/// Finding 8: a second petition office could be created.
#[tokio::test]
async fn the_county_has_one_petition_office() {
    let app = spawn_app().await;
    let mut admin = app.client.clone();
    let status = admin
        .org
        .create_org_unit(CreateOrgUnitRequest {
            request_id: request_id(),
            org_unit: Some(OrgUnit {
                code: "510422XG".into(),
                name: "第二信访局".into(),
                kind: OrgUnitKind::PetitionOffice as i32,
                parent_code: "510422".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "ONE_PETITION_OFFICE");
}

/// Push judges each operation by the role table: a leader's queued acceptance is refused alone, the rest
/// of the push applies.
#[tokio::test]
async fn push_refuses_an_operation_the_role_may_not_perform_alone() {
    use xinfang_proto::v1::{AcceptCaseRequest, Operation, PushRequest, operation::Op};
    let mut w = World::build().await;
    let case = w.cases["plain_a"].clone();
    let leader = &mut w.callers[2];
    let op = |op| Operation {
        op_id: request_id(),
        op: Some(op),
    };
    // Pushed operations carry their op id as request id.
    let pushed_visit = || {
        Op::RegisterVisit(RegisterVisitRequest {
            request_id: String::new(),
            ..visit(vec![person("冯己", "")], matter("labor", A))
        })
    };
    let push = leader
        .client
        .sync
        .push(PushRequest {
            operations: vec![
                op(Op::AcceptCase(AcceptCaseRequest {
                    case_id: case.clone(),
                    ..Default::default()
                })),
                op(pushed_visit()),
            ],
        })
        .await
        .expect("the push itself is accepted")
        .into_inner();
    assert_eq!(push.results.len(), 2);
    assert_eq!(
        push.results[0].code,
        Code::PermissionDenied as i32,
        "{push:?}"
    );
    assert_eq!(
        push.results[1].code,
        Code::PermissionDenied as i32,
        "{push:?}"
    );
    // A field officer's push: its visit applies, an acceptance it queued is refused.
    let officer = &mut w.callers[6];
    let push = officer
        .client
        .sync
        .push(PushRequest {
            operations: vec![
                op(Op::AcceptCase(AcceptCaseRequest {
                    case_id: case.clone(),
                    ..Default::default()
                })),
                op(pushed_visit()),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        push.results[0].code,
        Code::PermissionDenied as i32,
        "{push:?}"
    );
    assert_eq!(
        push.results[1].outcome,
        xinfang_proto::v1::OpOutcome::Applied as i32,
        "{push:?}"
    );
}

/// Linking calls of every kind, by every role that registers, in random order and to random targets, never
/// change the set of cases any principal reads.
#[test]
fn random_links_never_change_who_reads_what() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut w = runtime.block_on(World::build());
    let names: Vec<&'static str> = w.cases.keys().copied().collect();
    let before: Vec<BTreeSet<&'static str>> = {
        let mut callers = std::mem::take(&mut w.callers);
        let sets = runtime.block_on(async {
            let mut sets = Vec::new();
            for c in &mut callers {
                sets.push(w.readable(c).await);
            }
            sets
        });
        w.callers = callers;
        sets
    };
    for (caller, set) in w.callers.iter().zip(&before) {
        assert_eq!(*set, w.expected(caller), "{}", caller.label);
    }
    let link = (0..w.callers.len(), 0..names.len(), 0..LINKS.len());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    });
    let w = std::sync::Mutex::new(w);
    runner
        .run(&proptest::collection::vec(link, 1..6), |links| {
            let mut w = w.lock().unwrap();
            runtime.block_on(async {
                for (caller, target, how) in &links {
                    let id = w.cases[names[*target]].clone();
                    // Refused or not, the scopes below must hold.
                    let _ = try_link(&mut w.callers[*caller], &id, *how).await;
                }
                let mut callers = std::mem::take(&mut w.callers);
                for (c, set) in callers.iter_mut().zip(&before) {
                    let now = w.readable(c).await;
                    prop_assert_eq!(&now, set, "{} after {:?}", c.label, links);
                }
                w.callers = callers;
                Ok(())
            })
        })
        .unwrap();
}
