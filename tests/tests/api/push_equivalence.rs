//! A field officer's days offline, registered two ways, must come out the same: (A) each visit online, one
//! RegisterVisit at a time with `request_id = op_id`; (B) the same operations in Pushes, then the same Pushes
//! again as a retry after a cut connection. Two servers on two fresh databases get the same setup (cases
//! registered online before the field trip, one of them final), then the same ~120 operations; the answers
//! are compared operation by operation, and then the state both leave behind, read through the API: each
//! case's history, the visit statistics and indicators, the township's sync feed, gap-free numbers.
//!
//! Server ids (visits, cases, persons, principals) differ between the two databases, so cases and persons
//! are compared by the operation that first produced them ("op 17 joined the case of op 3"), and actors by
//! the order they first appear in.
//!
//! This guards the set-based write path of pushed registrations (`server/src/intake/batch.rs`): it must
//! behave exactly like the one-by-one path, which today's Push is.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, TimeZone};
use tonic::Code;
use xinfang_client::Client;
use xinfang_proto::v1::{
    AcceptCaseRequest, AssignCaseRequest, AssignmentMode, ClaimType, GetIndicatorsRequest,
    GetVisitRequest, GetVisitStatisticsRequest, Indicators, Level, ListCaseEventsRequest,
    ListVisitsRequest, MatterInput, OpOutcome, OpResult, Operation, Period, Petitioner,
    PullRequest, PushRequest, RegisterVisitRequest, ReplyCaseRequest, Visit, VisitGrouping,
    VisitStatistics, YearMonth, change, op_result, operation,
};
use xinfang_server::auth::Role;
use xinfang_tests::{
    TestApp, fields, fixture::id_number, now_secs, person, reason, request_id, spawn_app, ts,
};

const TOWN: &str = "510422100";
const RED: &str = "510422101";
const FISH: &str = "510422102";
const DAY: i64 = 86_400;

// ---------------------------------------------------------------------------------------------------------
// The officer's outbox

/// A deterministic generator (xorshift64), so that a failing list can be made again.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn matter(category: &str, org: &str, content: &str) -> MatterInput {
    MatterInput {
        content: content.into(),
        demands: "要求依法处理".into(),
        category: category.into(),
        problem_org_code: org.into(),
        ..Default::default()
    }
}

fn visit(at: i64, level: Level, people: Vec<Petitioner>, m: MatterInput) -> Visit {
    let place = match level {
        Level::City => "攀枝花市信访局",
        Level::Province => "四川省信访局",
        Level::National => "国家信访局",
        _ => "盐边县信访局接待大厅",
    };
    Visit {
        visited_at: ts(at),
        level: level as i32,
        place_name: place.into(),
        headcount: people.iter().filter(|p| !p.proxy).count().max(1) as i32,
        petitioners: people,
        matter: Some(m),
        ..Default::default()
    }
}

/// Person `n` of the officer's regulars: most with an ID number, every fifth with a phone only (found
/// again by name and phone, which the officer writes down differently now and then).
fn regular(n: usize, rng: &mut Rng) -> Petitioner {
    const NAMES: [&str; 10] = [
        "陈一", "林二", "黄三", "何四", "罗五", "梁六", "宋七", "唐八", "许九", "韩十",
    ];
    let name = format!("{}{}", NAMES[n % 10], ["", "明", "华", "军"][n / 10 % 4]);
    if n % 5 == 4 {
        let phone = if rng.below(3) == 0 {
            format!("+86 139-0000-{:04}", n)
        } else {
            format!("1390000{:04}", n)
        };
        person(&name, "", &phone)
    } else {
        person(&name, &id_number(2000 + n), "")
    }
}

/// The setup both servers get before the field trip, in the same order, and what the outbox refers to.
struct Setup {
    /// The case of S3, opened by the officer's own online registration: the officer may link to it.
    officer_case: String,
}

const FINAL_ID: usize = 100; // S0: a case replied 310 days ago, final since its review window passed
const LAND_ID: usize = 101; // S1: an open case of the county desk
const LATE_ID: usize = 102; // S2: a case whose initial registration the outbox predates
const OWN_ID: usize = 103; // S3: the officer's own case
const ZHAO_PHONE: &str = "13800000001"; // S4: a phone-only person of the county desk

/// The number of operations in the outbox.
const OPS: usize = 120;

/// The officer's outbox: mostly generated (regulars coming back about the same things, new faces, groups),
/// with the cases the test is about placed at fixed indices. `now` is the time both runs are dated from.
fn outbox(now: i64, setup: &Setup) -> Vec<Operation> {
    use Level::{City, County, National, Province};
    let mut rng = Rng(0x5eed_2026);
    let categories = ["labor", "land", "urban_construction", "civil_affairs"];
    let towns = [TOWN, RED, FISH];
    let mut visits: Vec<Visit> = Vec::with_capacity(OPS);
    for i in 0..OPS {
        // Roughly in the order captured, from ten months ago on, a few synced late.
        let days = (300 - 2 * i as i64 + rng.below(25) as i64 - 12).clamp(2, 330);
        let at = now - days * DAY + rng.below(9 * 3600) as i64;
        let mut people = vec![regular(rng.below(30) as usize, &mut rng)];
        for k in 0..rng.below(3) {
            // Companions: new faces, or another regular.
            people.push(if rng.below(2) == 0 {
                person("新访人", &id_number(3000 + i * 3 + k as usize), "")
            } else {
                regular(rng.below(30) as usize, &mut rng)
            });
        }
        people.dedup_by(|a, b| a.name == b.name);
        let level = rng.pick(&[County, County, City, Province, National]);
        let m = matter(
            rng.pick(&categories),
            rng.pick(&towns),
            &format!("外出第{i}批反映问题"),
        );
        let mut v = visit(at, level, people, m);
        v.non_reception_place = level == National && rng.below(2) == 0;
        if v.non_reception_place {
            v.place_name = "天安门地区".into();
        }
        match rng.below(10) {
            // A collective visit, led by its representative.
            6 | 7 => {
                v.headcount = 5 + rng.below(16) as i32;
                v.petitioners[0].representative = true;
            }
            8 if i % 3 == 0 => {
                v.headcount = 50 + rng.below(30) as i32;
                v.petitioners[0].representative = true;
            }
            9 => v.headcount += 1 + rng.below(3) as i32,
            _ => {}
        }
        if rng.below(8) == 0 {
            let mut lawyer = person("代理律师", &id_number(900 + i % 3), "13900001111");
            lawyer.proxy = true;
            v.petitioners.push(lawyer);
        }
        visits.push(v);
    }

    let at = |days: i64| now - days * DAY + 3600;
    let one = |name: &str, id: &str, phone: &str| vec![person(name, id, phone)];
    // 3 and 4: a new person twice about the same thing: 4 joins the case 3 opens. 100 is dated before both
    // and arrives in the second push: it becomes the initial registration of that case.
    let farmer = || one("农户甲", &id_number(700), "");
    visits[3] = visit(
        at(290),
        County,
        farmer(),
        matter("agriculture", TOWN, "补贴未发"),
    );
    visits[4] = visit(
        at(285),
        County,
        farmer(),
        matter("agriculture", TOWN, "补贴仍未发"),
    );
    visits[100] = visit(
        at(310),
        County,
        farmer(),
        matter("agriculture", TOWN, "补贴未发"),
    );
    // Invalid ones in the middle.
    visits[7].matter.as_mut().unwrap().category = "no_such_category".into();
    visits[19].matter.as_mut().unwrap().problem_org_code = "510422999".into();
    let mut bad = id_number(5);
    let check = bad.pop().unwrap();
    bad.push(if check == '0' { '1' } else { '0' });
    visits[31].petitioners[0] = person("错号人", &bad, "");
    // 10: the final case again: a repeat answered 不再受理; 12 and 70: the county's open case again.
    let final_one = || one("周八", &id_number(FINAL_ID), "");
    visits[10] = visit(at(200), County, final_one(), matter("labor", TOWN, "工资"));
    let land = || one("吴九", &id_number(LAND_ID), "");
    visits[12] = visit(at(190), City, land(), matter("land", RED, "征地补偿"));
    visits[70] = visit(at(150), National, land(), matter("land", RED, "征地补偿"));
    // 15: the desk's phone-only person, written differently.
    visits[15] = visit(
        at(170),
        County,
        one(" 赵 六", "", "+86 138-0000-0001"),
        matter("labor", FISH, "欠薪"),
    );
    // 25: dated before S2's registration: it becomes the initial one, S2's a repeat.
    visits[25] = visit(
        at(150),
        County,
        one("郑十", &id_number(LATE_ID), ""),
        matter("education", TOWN, "入学"),
    );
    // 35: a new person the officer links to its own case; 80: S3's person again, found by matching.
    let mut linked = matter("health", TOWN, "医疗纠纷，同一事项");
    linked.link_case_id = setup.officer_case.clone();
    visits[35] = visit(at(230), County, one("冯妻", &id_number(701), ""), linked);
    visits[80] = visit(
        at(100),
        Province,
        one("冯一", &id_number(OWN_ID), ""),
        matter("health", TOWN, "医疗纠纷"),
    );
    // 40 and 90: an accusation against the township, twice.
    let accusation = || MatterInput {
        claim_type: ClaimType::Accusation as i32,
        accused_org_code: TOWN.into(),
        ..matter("discipline", TOWN, "举报村干部")
    };
    let informant = || one("举报人", &id_number(702), "");
    visits[40] = visit(at(220), County, informant(), accusation());
    visits[90] = visit(at(120), City, informant(), accusation());
    // 60: a large-scale collective visit at the province.
    let mut lead = person("代表甲", &id_number(703), "");
    lead.representative = true;
    visits[60] = visit(
        at(180),
        Province,
        vec![lead],
        matter("land", FISH, "移民安置"),
    );
    visits[60].headcount = 60;

    let mut ops: Vec<Operation> = visits
        .into_iter()
        .map(|v| Operation {
            op_id: request_id(),
            op: Some(operation::Op::RegisterVisit(RegisterVisitRequest {
                request_id: String::new(),
                visit: Some(v),
            })),
        })
        .collect();
    // 43: no op id. 52, 56 and 63: sent twice (the same op id and body), in another chunk of the same push,
    // in the same chunk, and in the next push.
    ops[43].op_id = String::new();
    for (first, again) in [(48, 52), (55, 56), (58, 63)] {
        ops[again] = ops[first].clone();
    }
    ops
}

/// Operations sent again with an op id used before them: answered from the first.
const SENT_AGAIN: [usize; 3] = [52, 56, 63];

// ---------------------------------------------------------------------------------------------------------
// One server

/// A refused operation: the gRPC code, the `ErrorInfo` reason and the fields its `BadRequest` names.
type Refusal = (i32, String, Vec<String>);
/// An answer as (field, value) pairs, server ids replaced by labels.
type Fields = Vec<(String, String)>;

struct Run {
    app: TestApp,
    /// Each operation's answer: the visit, or the refusal's code and fields.
    answers: Vec<Result<Visit, Refusal>>,
}

async fn client(app: &TestApp, role: Role, org: &str) -> Client {
    let token = app.token(role, org).await;
    app.client_with(Some(&token))
}

async fn register(c: &mut Client, v: Visit) -> Visit {
    c.visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(v),
        })
        .await
        .expect("a setup registration")
        .into_inner()
}

/// A fresh server with the cases that exist before the field trip, registered online in a fixed order.
async fn set_up(now: i64) -> (TestApp, Client, Setup) {
    let app = spawn_app().await;
    let mut clerk = client(&app, Role::CountyClerk, "510422XF").await;
    let mut officer = client(&app, Role::FieldOfficer, "510422XF").await;
    let mut admin = app.client.clone();
    let at = |days: i64| now - days * DAY;
    let one = |name: &str, id: usize| vec![person(name, &id_number(id), "")];
    use Level::County;

    // S0: replied 310 days ago and never reviewed: final once the review window passed.
    let s0 = register(
        &mut clerk,
        visit(
            at(320),
            County,
            one("周八", FINAL_ID),
            matter("labor", TOWN, "工资"),
        ),
    )
    .await;
    let case = s0.classification.unwrap().case_id;
    clerk
        .cases
        .assign_case(AssignCaseRequest {
            request_id: request_id(),
            case_id: case.clone(),
            occurred_at: ts(at(319)),
            mode: AssignmentMode::Forward as i32,
            responsible_org_code: TOWN.into(),
            ..Default::default()
        })
        .await
        .expect("assigning S0");
    admin
        .cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: case.clone(),
            occurred_at: ts(at(318)),
            ..Default::default()
        })
        .await
        .expect("accepting S0");
    admin
        .cases
        .reply_case(ReplyCaseRequest {
            request_id: request_id(),
            case_id: case,
            occurred_at: ts(at(310)),
            opinion: "已依法处理".into(),
            ..Default::default()
        })
        .await
        .expect("replying S0");
    // S1, S2: open cases of the county desk.
    let m = matter("land", RED, "征地补偿");
    register(&mut clerk, visit(at(200), County, one("吴九", LAND_ID), m)).await;
    let m = matter("education", TOWN, "入学");
    register(&mut clerk, visit(at(60), County, one("郑十", LATE_ID), m)).await;
    // S3: the officer's own, registered online before it left.
    let m = matter("health", TOWN, "医疗纠纷");
    let s3 = register(&mut officer, visit(at(250), County, one("冯一", OWN_ID), m)).await;
    let officer_case = s3.classification.unwrap().case_id;
    assert!(!officer_case.is_empty(), "the officer reads its own case");
    // S4: a phone-only person.
    let m = matter("labor", FISH, "欠薪");
    let zhao = vec![person("赵六", "", ZHAO_PHONE)];
    register(&mut clerk, visit(at(180), County, zhao, m)).await;
    (app, officer, Setup { officer_case })
}

/// (A) Each operation online, one at a time, as the officer with `request_id = op_id`.
async fn run_online(now: i64) -> Run {
    let (app, mut officer, setup) = set_up(now).await;
    let mut answers = Vec::with_capacity(OPS);
    for op in outbox(now, &setup) {
        let Some(operation::Op::RegisterVisit(mut req)) = op.op else {
            unreachable!("the outbox holds visits only");
        };
        req.request_id = op.op_id;
        let answer = officer.visits.register_visit(req).await;
        answers.push(match answer {
            Ok(v) => Ok(v.into_inner()),
            Err(status) => Err((status.code() as i32, reason(&status), fields(&status))),
        });
    }
    Run { app, answers }
}

/// Operations per Push: the client's outbox is sent in pieces; 60 also splits the first push across two of
/// the server's transactions (it commits 50 operations at a time).
const PUSH: usize = 60;

async fn push_all(officer: &mut Client, ops: &[Operation]) -> Vec<OpResult> {
    let mut results = Vec::with_capacity(ops.len());
    for chunk in ops.chunks(PUSH) {
        let pushed = officer
            .sync
            .push(PushRequest {
                operations: chunk.to_vec(),
            })
            .await
            .expect("a push")
            .into_inner();
        assert_eq!(
            pushed.results.len(),
            chunk.len(),
            "one result per operation"
        );
        results.extend(pushed.results);
    }
    results
}

fn pushed_visit(r: &OpResult) -> Option<&Visit> {
    match &r.result {
        Some(op_result::Result::Visit(v)) => Some(v),
        _ => None,
    }
}

/// Row counts of what registrations write: a retried push must change none of them.
async fn written(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "visits",
        "cases",
        "case_events",
        "case_petitioners",
        "petitioners",
        "feed",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&app.pool)
            .await
            .unwrap();
        out.push((table, n));
    }
    out
}

/// (B) The same operations in Pushes, then the same Pushes again: every result of the retry is the first
/// one (a duplicate, or the same refusal) and nothing new is written.
async fn run_pushed(now: i64) -> Run {
    let (app, mut officer, setup) = set_up(now).await;
    let ops = outbox(now, &setup);
    let first = push_all(&mut officer, &ops).await;
    let before = written(&app).await;
    let retry = push_all(&mut officer, &ops).await;
    assert_eq!(written(&app).await, before, "a retried push writes nothing");

    let mut answers = Vec::with_capacity(OPS);
    for (i, (r, again)) in first.iter().zip(&retry).enumerate() {
        assert_eq!(r.op_id, ops[i].op_id, "op {i}: results in order");
        let outcome = r.outcome();
        if outcome == OpOutcome::Rejected {
            assert_eq!(again.outcome(), OpOutcome::Rejected, "op {i}: retried");
            assert_eq!(
                (again.code, &again.fields, &again.reason),
                (r.code, &r.fields, &r.reason),
                "op {i}: refused again the same way"
            );
            // The one intended difference: a missing id is named as the field the client left empty,
            // `op_id` in a push and `request_id` online.
            let mut fields = r.fields.clone();
            if ops[i].op_id.is_empty() && fields == ["op_id"] {
                fields = vec!["request_id".into()];
            }
            answers.push(Err((r.code, r.reason.clone(), fields)));
            continue;
        }
        let expected = if SENT_AGAIN.contains(&i) {
            OpOutcome::Duplicate
        } else {
            OpOutcome::Applied
        };
        assert_eq!(outcome, expected, "op {i}: first push");
        assert_eq!(again.outcome(), OpOutcome::Duplicate, "op {i}: retried");
        assert_eq!(
            again.result, r.result,
            "op {i}: a retry answers the first result"
        );
        answers.push(Ok(pushed_visit(r).expect("a visit result").clone()));
    }
    Run { app, answers }
}

// ---------------------------------------------------------------------------------------------------------
// Comparison

/// Names server ids (cases, persons, principals) by where they first appeared, so that two databases'
/// different UUIDs compare as the same structure.
#[derive(Default)]
struct Labels(HashMap<String, String>);

impl Labels {
    fn name(&mut self, id: &str, first_seen: impl FnOnce() -> String) -> String {
        if id.is_empty() {
            return "(none)".into();
        }
        self.0
            .entry(id.to_owned())
            .or_insert_with(first_seen)
            .clone()
    }

    fn get(&self, id: &str) -> String {
        if id.is_empty() {
            return "(none)".into();
        }
        self.0
            .get(id)
            .cloned()
            .unwrap_or_else(|| "(unknown)".into())
    }
}

/// A registration as the county reads it after the run: later ones may have changed its repeat flag.
#[derive(Debug, Clone, PartialEq)]
struct Current {
    number: String,
    case: String,
    repeat: bool,
    not_accepted_again: bool,
}

/// What a run left behind, with every server id replaced by its label.
struct Observed {
    /// Per operation: its answer, as (field, value) pairs, or the refusal.
    answers: Vec<Result<Fields, Refusal>>,
    /// Per operation: the visit as the county reads it now; `None` for a refused one.
    now: Vec<Option<Current>>,
    /// Per case label: its events (action, actor, when, reason, before, after).
    events: BTreeMap<String, Vec<String>>,
    statistics: VisitStatistics,
    indicators: Indicators,
    /// The township's sync feed: the visit and case numbers it pulled.
    township_feed: BTreeSet<String>,
    /// Every registration number the county lists.
    numbers: Vec<String>,
}

fn answer_fields(v: &Visit, cases: &Labels, people: &Labels) -> Fields {
    let class = v.classification.clone().unwrap_or_default();
    let mut fields: Fields = [
        ("number", v.number.clone()),
        ("case", cases.get(&class.case_id)),
        ("repeat", class.repeat.to_string()),
        ("not_accepted_again", class.not_accepted_again.to_string()),
        ("collective", v.collective.to_string()),
        ("large_scale", v.large_scale.to_string()),
        ("leapfrog", v.leapfrog.to_string()),
        ("level", v.level.to_string()),
        ("headcount", v.headcount.to_string()),
        ("visited_at", format!("{:?}", v.visited_at)),
        ("non_reception_place", v.non_reception_place.to_string()),
        ("place_name", v.place_name.clone()),
        ("matter", format!("{:?}", v.matter)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, p) in v.petitioners.iter().enumerate() {
        let shown = Petitioner {
            id: people.get(&p.id),
            ..p.clone()
        };
        fields.push((format!("petitioners[{k}]"), format!("{shown:?}")));
    }
    fields.push(("petitioners.len".into(), v.petitioners.len().to_string()));
    fields
}

/// Whole months from `from` to `to` (seconds), in Asia/Shanghai.
fn months(from: i64, to: i64) -> Option<Period> {
    let ym = |s: i64| {
        let d = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .timestamp_opt(s, 0)
            .unwrap();
        Some(YearMonth {
            year: d.year(),
            month: d.month() as i32,
        })
    };
    Some(Period {
        start: ym(from),
        end: ym(to),
    })
}

/// Every visit, as the county lists them, by number.
async fn all_visits(admin: &mut Client) -> Vec<Visit> {
    let mut visits = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = admin
            .visits
            .list_visits(ListVisitsRequest {
                page_size: 100,
                page_token,
                ..Default::default()
            })
            .await
            .expect("listing visits")
            .into_inner();
        visits.extend(page.visits);
        if page.next_page_token.is_empty() {
            visits.sort_by(|a, b| a.number.cmp(&b.number));
            return visits;
        }
        page_token = page.next_page_token;
    }
}

async fn township_feed(app: &TestApp) -> BTreeSet<String> {
    let mut clerk = client(app, Role::TownshipClerk, TOWN).await;
    let mut cursor = String::new();
    let mut out = BTreeSet::new();
    loop {
        let page = clerk
            .sync
            .pull(PullRequest {
                cursor: cursor.clone(),
                page_size: 500,
            })
            .await
            .expect("a pull")
            .into_inner();
        for c in page.changes {
            out.insert(match c.item {
                Some(change::Item::Visit(v)) => format!("visit {}", v.number),
                Some(change::Item::Case(c)) => {
                    format!("case {}", c.case.unwrap_or_default().number)
                }
                other => format!("{other:?}"),
            });
        }
        cursor = page.next_cursor;
        if !page.more {
            return out;
        }
    }
}

/// Reads what `run` left behind through the API and labels it.
async fn observe(run: &Run, now: i64) -> Observed {
    let mut admin = run.app.client.clone();
    let mut cases = Labels::default();
    let mut people = Labels::default();
    // The setup's visits first (oldest numbers first), then the operations in order: a case or person is
    // named after the first registration that has it.
    let visits = all_visits(&mut admin).await;
    let numbers: Vec<String> = visits.iter().map(|v| v.number.clone()).collect();
    let op_numbers: BTreeSet<&str> = run
        .answers
        .iter()
        .filter_map(|a| a.as_ref().ok().map(|v| v.number.as_str()))
        .collect();
    let setup_visits: Vec<&Visit> = visits
        .iter()
        .filter(|v| !op_numbers.contains(v.number.as_str()))
        .collect();
    for (k, v) in setup_visits.iter().enumerate() {
        let case = v.classification.clone().unwrap_or_default().case_id;
        cases.name(&case, || format!("case of setup S{k}"));
        for (j, p) in v.petitioners.iter().enumerate() {
            people.name(&p.id, || format!("person S{k}[{j}]"));
        }
    }
    let mut now_read = Vec::new();
    for (i, answer) in run.answers.iter().enumerate() {
        let Ok(v) = answer else {
            now_read.push(None);
            continue;
        };
        let current = admin
            .visits
            .get_visit(GetVisitRequest { id: v.id.clone() })
            .await
            .expect("the county reads every visit")
            .into_inner();
        let class = current.classification.clone().unwrap_or_default();
        let case = cases.name(&class.case_id, || format!("case of op {i}"));
        for (j, p) in current.petitioners.iter().enumerate() {
            people.name(&p.id, || format!("person of op {i}[{j}]"));
        }
        now_read.push(Some(Current {
            number: current.number,
            case,
            repeat: class.repeat,
            not_accepted_again: class.not_accepted_again,
        }));
    }
    let answers = run
        .answers
        .iter()
        .map(|a| match a {
            Ok(v) => Ok(answer_fields(v, &cases, &people)),
            Err(e) => Err(e.clone()),
        })
        .collect();

    // Each case's history, in label order; actors named in the order they appear.
    let mut by_label: BTreeMap<String, String> = BTreeMap::new();
    for (id, label) in &cases.0 {
        by_label.insert(label.clone(), id.clone());
    }
    let mut actors = Labels::default();
    let mut events = BTreeMap::new();
    for (label, id) in &by_label {
        let listed = admin
            .cases
            .list_case_events(ListCaseEventsRequest {
                case_id: id.clone(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("listing events")
            .into_inner();
        assert!(listed.next_page_token.is_empty());
        let history = listed
            .events
            .iter()
            .map(|e| {
                let next = actors.0.len();
                let actor = actors.name(&e.actor, || format!("actor {next}"));
                // A reclassification is dated when it happened on the server, not in the world.
                let when = if e.action == "reclassified" {
                    "(server time)".into()
                } else {
                    format!("{:?}", e.occurred_at)
                };
                format!(
                    "{} by {actor} at {when}: {} {} → {}",
                    e.action, e.reason, e.before_json, e.after_json
                )
            })
            .collect();
        events.insert(label.clone(), history);
    }

    let period = months(now - 330 * DAY, now);
    let statistics = admin
        .metrics
        .get_visit_statistics(GetVisitStatisticsRequest {
            period,
            group_by: VisitGrouping::Month as i32,
            ..Default::default()
        })
        .await
        .expect("visit statistics")
        .into_inner();
    let indicators = admin
        .metrics
        .get_indicators(GetIndicatorsRequest {
            period,
            ..Default::default()
        })
        .await
        .expect("indicators")
        .into_inner();
    Observed {
        answers,
        now: now_read,
        events,
        statistics,
        indicators,
        township_feed: township_feed(&run.app).await,
        numbers,
    }
}

/// Registration numbers `XF510422-YYYY-NNNNNN`: per year, 1..n with no gap.
fn assert_gap_free(numbers: &[String], run: &str) {
    let mut by_year: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for n in numbers {
        let mut parts = n.rsplitn(2, '-');
        let serial: u32 = parts.next().unwrap().parse().expect("a serial");
        let year = parts.next().unwrap();
        by_year.entry(year).or_default().push(serial);
    }
    for (year, mut serials) in by_year {
        serials.sort_unstable();
        let expected: Vec<u32> = (1..=serials.len() as u32).collect();
        assert_eq!(serials, expected, "{run}: numbers of {year} are 1..n");
    }
}

/// Compares two runs operation by operation and field by field, naming each difference.
fn compare(a: &Observed, b: &Observed) {
    let mut diffs = Vec::new();
    for (i, (x, y)) in a.answers.iter().zip(&b.answers).enumerate() {
        match (x, y) {
            (Ok(x), Ok(y)) => {
                let ys: BTreeMap<&String, &String> = y.iter().map(|(k, v)| (k, v)).collect();
                for (field, value) in x {
                    let pushed = ys.get(field).map_or("(missing)", |v| v.as_str());
                    if pushed != value {
                        diffs.push(format!(
                            "op {i} answer {field}: online {value} / pushed {pushed}"
                        ));
                    }
                }
                if x.len() != y.len() {
                    diffs.push(format!("op {i} answer: {} vs {} fields", x.len(), y.len()));
                }
            }
            (Err(x), Err(y)) if x == y => {}
            _ => diffs.push(format!(
                "op {i} outcome: online {:?} / pushed {:?}",
                x.as_ref().map(|_| "applied"),
                y.as_ref().map(|_| "applied")
            )),
        }
    }
    for (i, (x, y)) in a.now.iter().zip(&b.now).enumerate() {
        if x != y {
            diffs.push(format!("op {i} as read now: online {x:?} / pushed {y:?}"));
        }
    }
    let labels: BTreeSet<&String> = a.events.keys().chain(b.events.keys()).collect();
    for label in labels {
        let (x, y) = (a.events.get(label), b.events.get(label));
        if x != y {
            diffs.push(format!(
                "events of the {label}: online {x:#?} / pushed {y:#?}"
            ));
        }
    }
    if a.statistics != b.statistics {
        diffs.push(format!(
            "visit statistics: online {:#?} / pushed {:#?}",
            a.statistics, b.statistics
        ));
    }
    if a.indicators != b.indicators {
        diffs.push(format!(
            "indicators: online {:#?} / pushed {:#?}",
            a.indicators, b.indicators
        ));
    }
    if a.township_feed != b.township_feed {
        diffs.push(format!(
            "township feed: only online {:?}, only pushed {:?}",
            a.township_feed
                .difference(&b.township_feed)
                .collect::<Vec<_>>(),
            b.township_feed
                .difference(&a.township_feed)
                .collect::<Vec<_>>()
        ));
    }
    if a.numbers != b.numbers {
        diffs.push(format!(
            "numbers: online {:?} / pushed {:?}",
            a.numbers, b.numbers
        ));
    }
    assert!(
        diffs.is_empty(),
        "{} differences between online and pushed:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_registrations_come_out_as_registered_online() {
    let started = std::time::Instant::now();
    let now = now_secs();
    let online = run_online(now).await;
    let pushed = run_pushed(now).await;
    let (a, b) = (observe(&online, now).await, observe(&pushed, now).await);
    eprintln!("both runs and their reads in {:?}", started.elapsed());

    // The outbox did what it was built to do (in both runs, once they are shown equal).
    let applied = |i: usize| a.answers[i].as_ref().expect("applied");
    let field = |i: usize, name: &str| -> String {
        applied(i)
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // Refused with the code and the field named; the reason is compared between the runs.
    let refused = |i: usize| {
        let (code, _, fields) = a.answers[i].clone().expect_err("refused");
        (code, fields)
    };
    let bad = Code::InvalidArgument as i32;
    assert_eq!(refused(7), (bad, vec!["visit.matter.category".into()]));
    assert_eq!(
        refused(19),
        (bad, vec!["visit.matter.problem_org_code".into()])
    );
    assert_eq!(
        refused(31),
        (bad, vec!["visit.petitioners[0].id_number".into()])
    );
    assert_eq!(refused(43), (bad, vec!["request_id".into()]));
    assert_eq!(field(4, "case"), "case of op 3");
    assert_eq!(field(4, "repeat"), "true");
    let now = |i: usize| a.now[i].clone().expect("applied");
    assert!(now(3).repeat, "op 100, dated first, made op 3 a repeat");
    assert_eq!(
        (now(100).case.as_str(), now(100).repeat),
        ("case of op 3", false)
    );
    assert_eq!(field(10, "not_accepted_again"), "true");
    assert_eq!(
        field(10, "case"),
        "(none)",
        "the officer learns no case id of the desk's case"
    );
    assert_eq!(now(10).case, "case of setup S0");
    assert_eq!(now(12).case, "case of setup S1");
    assert_eq!(now(70).case, "case of setup S1");
    assert_eq!(now(15).case, "case of setup S4");
    assert_eq!(now(25).case, "case of setup S2");
    assert!(!now(25).repeat, "the late registration is the initial one");
    assert_eq!(field(35, "case"), "case of setup S3");
    assert_eq!(field(80, "case"), "case of setup S3");
    assert_eq!(field(90, "case"), "case of op 40");
    assert_eq!(field(60, "large_scale"), "true");
    // The township pulls the visits about it, never the accusations against it.
    assert!(a.township_feed.len() > 10, "{:?}", a.township_feed);
    for i in [40, 90] {
        let number = format!("visit {}", field(i, "number"));
        assert!(
            !a.township_feed.contains(&number),
            "op {i} reached the accused"
        );
    }
    for (first, again) in [(48, 52), (55, 56), (58, 63)] {
        assert_eq!(
            a.answers[first], a.answers[again],
            "op {again} answered as op {first}"
        );
    }
    let repeats = a.now.iter().flatten().filter(|c| c.repeat).count();
    let collective = (0..OPS)
        .filter(|&i| a.answers[i].is_ok() && field(i, "collective") == "true")
        .count();
    let leapfrog = (0..OPS)
        .filter(|&i| a.answers[i].is_ok() && field(i, "leapfrog") == "true")
        .count();
    eprintln!(
        "{} cases, {repeats} repeats, {collective} collective, {leapfrog} leapfrog among {OPS} operations",
        a.events.len()
    );
    assert!(repeats >= 20 && collective >= 5 && leapfrog >= 5);

    compare(&a, &b);
    assert_gap_free(&a.numbers, "online");
    assert_gap_free(&b.numbers, "pushed");
    online.app.assert_rollups_match_records().await;
    pushed.app.assert_rollups_match_records().await;
}

// ---------------------------------------------------------------------------------------------------------
// Two small pushes the set-based path could get wrong by grouping on the person alone

fn pushed(v: Visit) -> Operation {
    Operation {
        op_id: request_id(),
        op: Some(operation::Op::RegisterVisit(RegisterVisitRequest {
            request_id: String::new(),
            visit: Some(v),
        })),
    }
}

async fn push(officer: &mut Client, ops: Vec<Operation>) -> Vec<Visit> {
    let results = officer
        .sync
        .push(PushRequest { operations: ops })
        .await
        .expect("a push")
        .into_inner()
        .results;
    results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(r.outcome(), OpOutcome::Applied, "op {i}: {r:?}");
            pushed_visit(r).expect("a visit").clone()
        })
        .collect()
}

#[tokio::test]
async fn the_same_person_about_two_things_in_one_push_opens_two_cases() {
    let app = spawn_app().await;
    let mut officer = client(&app, Role::FieldOfficer, "510422XF").await;
    let now = now_secs();
    let zhang = || vec![person("张三", &id_number(800), "")];
    let visits = push(
        &mut officer,
        vec![
            pushed(visit(
                now - 3 * DAY,
                Level::County,
                zhang(),
                matter("labor", TOWN, "拖欠工资"),
            )),
            pushed(visit(
                now - 2 * DAY,
                Level::County,
                zhang(),
                matter("land", TOWN, "宅基地纠纷"),
            )),
        ],
    )
    .await;
    let class: Vec<_> = visits
        .iter()
        .map(|v| v.classification.clone().unwrap())
        .collect();
    assert!(!class[0].repeat && !class[1].repeat, "{class:?}");
    assert!(!class[0].case_id.is_empty() && !class[1].case_id.is_empty());
    assert_ne!(
        class[0].case_id, class[1].case_id,
        "another category, another case"
    );
    // The same person both times.
    assert_eq!(visits[0].petitioners[0].id, visits[1].petitioners[0].id);
    app.assert_rollups_match_records().await;
}

#[tokio::test]
async fn two_people_in_one_push_repeat_the_same_existing_case_in_order() {
    let app = spawn_app().await;
    let mut officer = client(&app, Role::FieldOfficer, "510422XF").await;
    let now = now_secs();
    let li = || person("李四", &id_number(801), "");
    let wang = || person("王五", &id_number(802), "");
    let land = || matter("land", RED, "征地补偿");
    // Registered online before the trip, by the officer itself (so that it reads the case): 李四 and 王五.
    let mut first = visit(now - 30 * DAY, Level::County, vec![li(), wang()], land());
    first.headcount = 2;
    let first = register(&mut officer, first).await;
    let case_id = first.classification.unwrap().case_id;
    assert!(!case_id.is_empty());

    // Offline: 王五 alone (found by matching), then a new person the officer links to the case.
    let mut linked = land();
    linked.link_case_id = case_id.clone();
    let visits = push(
        &mut officer,
        vec![
            pushed(visit(now - 10 * DAY, Level::City, vec![wang()], land())),
            pushed(visit(
                now - 5 * DAY,
                Level::County,
                vec![person("赵七", &id_number(803), "")],
                linked,
            )),
        ],
    )
    .await;
    for (i, v) in visits.iter().enumerate() {
        let c = v.classification.clone().unwrap();
        assert_eq!(c.case_id, case_id, "op {i} joins the case");
        assert!(c.repeat && !c.not_accepted_again, "op {i}: {c:?}");
    }
    let events: Vec<(String, String)> = app
        .client
        .clone()
        .cases
        .list_case_events(ListCaseEventsRequest {
            case_id: case_id.clone(),
            ..Default::default()
        })
        .await
        .expect("events")
        .into_inner()
        .events
        .into_iter()
        .map(|e| (e.action, e.reason))
        .collect();
    assert_eq!(
        events,
        [
            ("registered".to_owned(), first.number.clone()),
            ("repeat_linked".to_owned(), visits[0].number.clone()),
            ("repeat_linked".to_owned(), visits[1].number.clone()),
        ]
    );
    // Gap-free: the case's registration, then the push's two in push order.
    let serial = |n: &str| n.rsplit('-').next().unwrap().parse::<u32>().unwrap();
    assert_eq!(
        [&first.number, &visits[0].number, &visits[1].number].map(|n| serial(n)),
        [1, 2, 3]
    );
    app.assert_rollups_match_records().await;
}
