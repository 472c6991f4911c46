//! Group commit of registrations (issue 19, `server/src/intake/group.rs`): concurrent RegisterVisit and
//! RegisterLetter calls are written together, each answered with its own result; a bad one fails alone;
//! numbers stay gap-free; a `request_id` sent twice makes one visit; repeats are classified as if the
//! registrations had arrived one by one.
//!
//! Whether groups formed at all is read from the audit trail: its rows carry the top-level transaction id,
//! so fewer distinct ids than registrations means some registrations shared a transaction.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use chrono::TimeZone;
use prost_types::Timestamp;
use tonic::Code;
use xinfang_client::Client;
use xinfang_proto::v1::{
    Letter, LetterChannel, Level, ListVisitsRequest, MatterInput, Petitioner,
    RegisterLetterRequest, RegisterVisitRequest, Visit,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, fixture::id_number, now_secs, request_id, spawn_app, ts};

fn matter(content: &str, org: &str) -> MatterInput {
    MatterInput {
        content: content.into(),
        demands: "要求支付工资".into(),
        category: "labor".into(),
        problem_org_code: org.into(),
        ..MatterInput::default()
    }
}

fn visit(n: usize, at: Option<Timestamp>, content: &str) -> Visit {
    Visit {
        visited_at: at,
        level: Level::County as i32,
        place_name: "盐边县信访局接待大厅".into(),
        headcount: 1,
        petitioners: vec![Petitioner {
            name: "张三".into(),
            id_number: id_number(n),
            ..Default::default()
        }],
        matter: Some(matter(content, "510422100")),
        ..Default::default()
    }
}

fn letter(n: usize) -> Letter {
    Letter {
        channel: LetterChannel::Letter as i32,
        received_at: ts(now_secs() - 600),
        petitioners: vec![Petitioner {
            name: "李四".into(),
            id_number: id_number(n),
            ..Default::default()
        }],
        matter: Some(matter("来信反映拖欠工资", "510422100")),
        ..Default::default()
    }
}

async fn clerk(app: &TestApp) -> Client {
    let token = app.token(Role::CountyClerk, "510422XF").await;
    app.client_with(Some(&token))
}

async fn register(mut c: Client, v: Visit) -> Result<Visit, tonic::Status> {
    c.visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(v),
        })
        .await
        .map(|r| r.into_inner())
}

async fn register_letter(mut c: Client, l: Letter) -> Result<Letter, tonic::Status> {
    c.visits
        .register_letter(RegisterLetterRequest {
            request_id: request_id(),
            letter: Some(l),
        })
        .await
        .map(|r| r.into_inner())
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

/// The serials of every stored visit and letter, sorted.
async fn serials(app: &TestApp) -> Vec<i64> {
    let numbers: Vec<String> = sqlx::query_scalar(
        "SELECT number FROM visits UNION ALL SELECT number FROM letters ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut serials: Vec<i64> = numbers
        .iter()
        .map(|n| n.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    serials.sort_unstable();
    serials
}

/// Registrations in fewer transactions than there are registrations.
async fn transactions(app: &TestApp) -> i64 {
    scalar(
        app,
        "SELECT count(DISTINCT xid::text) FROM audit_log \
         WHERE action IN ('RegisterVisit', 'RegisterLetter')",
    )
    .await
}

/// Holds the register's counter row of `year` in a transaction of the test's own, so that the registration
/// being written waits there and everything sent meanwhile queues for the next group.
async fn hold_counter(app: &TestApp, year: i32) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO registration_counters (prefix, year, last) VALUES ('XF', $1, 0) \
         ON CONFLICT (prefix, year) DO UPDATE SET last = registration_counters.last",
    )
    .bind(year)
    .execute(&mut *blocker)
    .await
    .unwrap();
    blocker
}

/// Waits until a registration waits on the counter row.
async fn until_queued_at_counter(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let queued: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE '%registration_counters%'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if queued > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "nothing queued on the counter");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `first`, holds it at the counter row, sends `rest` (which therefore queue behind it and are written
/// as one group), then lets go. Answers in the order sent, `first`'s first.
async fn in_one_group<T: Send + 'static>(
    app: &TestApp,
    year: i32,
    first: impl Future<Output = T> + Send + 'static,
    rest: Vec<std::pin::Pin<Box<dyn Future<Output = T> + Send>>>,
) -> Vec<T> {
    let blocker = hold_counter(app, year).await;
    let first = tokio::spawn(first);
    until_queued_at_counter(app).await;
    let rest: Vec<_> = rest.into_iter().map(tokio::spawn).collect();
    // They reach the queue within milliseconds; the margin is for a machine busy with other builds.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    blocker.rollback().await.unwrap();
    let mut answers = vec![first.await.unwrap()];
    for call in rest {
        answers.push(call.await.unwrap());
    }
    answers
}

fn this_year() -> i32 {
    xinfang_server::kernel::numbers::register_year(chrono::Utc::now() - chrono::Duration::hours(1))
}

#[tokio::test]
async fn many_principals_registering_at_once_are_all_answered_numbered_gap_free_and_stored_once() {
    let app = spawn_app().await;
    let mut calls = Vec::new();
    for p in 0..8 {
        let c = clerk(&app).await;
        for i in 0..6 {
            let n = p * 10 + i;
            let c = c.clone();
            calls.push(tokio::spawn(async move {
                if i % 3 == 2 {
                    register_letter(c, letter(n)).await.map(|l| l.number)
                } else {
                    register(c, visit(n, ts(now_secs() - 3_600), "拖欠工资三个月"))
                        .await
                        .map(|v| v.number)
                }
            }));
        }
    }
    let mut numbers = Vec::new();
    for call in calls {
        numbers.push(call.await.unwrap().expect("every registration is answered"));
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 48, "48 distinct numbers");
    assert_eq!(serials(&app).await, (1..=48).collect::<Vec<_>>());
    assert_eq!(scalar(&app, "SELECT count(*) FROM visits").await, 32);
    assert_eq!(scalar(&app, "SELECT count(*) FROM letters").await, 16);
    // One stored answer and one audit row per registration.
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM idempotency_keys WHERE response IS NOT NULL"
        )
        .await,
        48
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM audit_log WHERE action IN ('RegisterVisit', 'RegisterLetter')"
        )
        .await,
        48
    );
    let txs = transactions(&app).await;
    assert!(txs < 48, "48 registrations at once in {txs} transactions");
    app.assert_rollups_match_records().await;
}

type Call<T> = std::pin::Pin<Box<dyn Future<Output = Result<T, tonic::Status>> + Send>>;

#[tokio::test]
async fn a_bad_registration_among_good_ones_fails_alone_and_leaves_no_gap() {
    let app = spawn_app().await;
    let c = clerk(&app).await;
    let transfer = Letter {
        channel: LetterChannel::Transferred as i32,
        source_reference: "攀信转〔2026〕19号".into(),
        received_at: ts(now_secs() - 600),
        matter: Some(matter("转来的信", "510422100")),
        ..Default::default()
    };
    register_letter(c.clone(), transfer.clone()).await.unwrap();

    let good = |n: usize| -> Call<String> {
        let c = c.clone();
        Box::pin(async move {
            register(c, visit(n, ts(now_secs() - 3_600), "拖欠工资"))
                .await
                .map(|v| v.number)
        })
    };
    let mut rest: Vec<Call<String>> = (1..9).map(good).collect();
    // Refused by the rule of one registration per transfer, after the claim of its key.
    let resent = c.clone();
    rest.push(Box::pin(async move {
        register_letter(resent, transfer).await.map(|l| l.number)
    }));
    rest.extend((9..13).map(good));
    // Refused: a unit that does not exist.
    let mut nowhere = visit(99, ts(now_secs() - 3_600), "拖欠工资");
    nowhere.matter.as_mut().unwrap().problem_org_code = "510422999".into();
    let unknown = c.clone();
    rest.push(Box::pin(async move {
        register(unknown, nowhere).await.map(|v| v.number)
    }));
    rest.extend((13..15).map(good));
    // Refused before anything is written: a visit with no date.
    let undated = c.clone();
    rest.push(Box::pin(async move {
        register(undated, visit(98, None, "拖欠工资"))
            .await
            .map(|v| v.number)
    }));
    rest.extend((15..17).map(good));

    let answers = in_one_group(&app, this_year(), good(0), rest).await;
    let (mut refused, mut numbered) = (Vec::new(), Vec::new());
    for answer in answers {
        match answer {
            Ok(number) => numbered.push(number),
            Err(status) => refused.push(status.code()),
        }
    }
    assert_eq!(numbered.len(), 17, "its neighbours commit");
    assert_eq!(
        refused,
        [
            Code::AlreadyExists,
            Code::InvalidArgument,
            Code::InvalidArgument
        ],
        "each refused with its own error"
    );
    // The transfer, the first visit alone, then one group.
    assert_eq!(transactions(&app).await, 3);

    // The transfer and the 17 good visits, numbered 1..=18: the refused ones took no number.
    assert_eq!(serials(&app).await, (1..=18).collect::<Vec<_>>());
    assert_eq!(scalar(&app, "SELECT count(*) FROM visits").await, 17);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM idempotency_keys").await,
        18,
        "a refused registration leaves no key behind: its retry runs"
    );
    app.assert_rollups_match_records().await;
}

#[tokio::test]
async fn the_same_request_id_twice_in_one_group_makes_one_visit() {
    let app = spawn_app().await;
    let c = clerk(&app).await;
    let request = RegisterVisitRequest {
        request_id: request_id(),
        visit: Some(visit(9, ts(now_secs() - 3_600), "工伤赔偿")),
    };
    let send = |request: RegisterVisitRequest| -> Call<Visit> {
        let mut c = c.clone();
        Box::pin(async move {
            c.visits
                .register_visit(request)
                .await
                .map(|r| r.into_inner())
        })
    };
    let other = |n: usize| {
        send(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(visit(n, ts(now_secs() - 3_600), "拖欠工资")),
        })
    };
    let rest = vec![
        other(1),
        send(request.clone()),
        other(2),
        send(request.clone()),
        other(3),
    ];
    let answers = in_one_group(&app, this_year(), other(0), rest).await;
    let answers: Vec<Visit> = answers.into_iter().map(|a| a.unwrap()).collect();
    assert_eq!(answers[2].id, answers[4].id);
    assert_eq!(answers[2].number, answers[4].number);
    assert_eq!(
        transactions(&app).await,
        2,
        "the first alone, then one group"
    );
    assert_eq!(scalar(&app, "SELECT count(*) FROM visits").await, 5);
    assert_eq!(serials(&app).await, (1..=5).collect::<Vec<_>>());
    // And once more after the group: answered from the stored first answer.
    let again = send(request).await.unwrap();
    assert_eq!(again.id, answers[2].id);
    assert_eq!(scalar(&app, "SELECT count(*) FROM visits").await, 5);
}

/// Each person's visits at distinct hours: the earliest is initial, the others repeat its case.
fn repeats_plan() -> Vec<(String, usize, Option<Timestamp>)> {
    let at = |d: u32, h: u32| {
        let t = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2024, 3, d, h, 0, 0)
            .unwrap();
        ts(t.timestamp())
    };
    let mut plan = Vec::new();
    for person in 0..4 {
        for k in 0..4u32 {
            // Not in date order: the third is the earliest.
            let day = [10, 12, 5, 20][k as usize] + person as u32;
            plan.push((format!("P{person}V{k}"), person, at(day, 9 + k)));
        }
    }
    plan
}

async fn register_plan(app: &TestApp, together: bool) -> BTreeMap<String, (bool, String)> {
    let c = clerk(app).await;
    let plan = repeats_plan();
    if together {
        let call = |(key, person, at): &(String, usize, Option<Timestamp>)| -> Call<Visit> {
            Box::pin(register(c.clone(), visit(*person, *at, key)))
        };
        // The first alone (held at the counter), the other fifteen in one group, in plan order.
        let rest = plan[1..].iter().map(call).collect();
        for answer in in_one_group(app, 2024, call(&plan[0]), rest).await {
            answer.unwrap();
        }
        assert_eq!(transactions(app).await, 2);
    } else {
        for (key, person, at) in &plan {
            register(c.clone(), visit(*person, *at, key)).await.unwrap();
        }
    }
    let visits = app
        .client
        .clone()
        .visits
        .list_visits(ListVisitsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .visits;
    // Key → (repeat, the key of the case's first visit): comparable across databases.
    let mut first_of_case: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for v in &visits {
        let key = v.matter.as_ref().unwrap().content.clone();
        let at = v.visited_at.as_ref().unwrap().seconds;
        let case = v.classification.as_ref().unwrap().case_id.clone();
        let entry = first_of_case.entry(case).or_insert((at, key.clone()));
        if at < entry.0 {
            *entry = (at, key);
        }
    }
    visits
        .iter()
        .map(|v| {
            let class = v.classification.as_ref().unwrap();
            (
                v.matter.as_ref().unwrap().content.clone(),
                (class.repeat, first_of_case[&class.case_id].1.clone()),
            )
        })
        .collect()
}

#[tokio::test]
async fn repeats_registered_together_are_classified_as_when_registered_one_by_one() {
    let serial_app = spawn_app().await;
    let serial = register_plan(&serial_app, false).await;
    let grouped_app = spawn_app().await;
    let grouped = register_plan(&grouped_app, true).await;
    assert_eq!(serial.len(), 16);
    assert_eq!(grouped, serial);
    for app in [&serial_app, &grouped_app] {
        assert_eq!(scalar(app, "SELECT count(*) FROM cases").await, 4);
        let flips = scalar(
            app,
            "SELECT count(*) FROM case_events WHERE action = 'reclassified'",
        )
        .await;
        let audited = scalar(
            app,
            "SELECT count(*) FROM audit_log WHERE action = 'reclassified'",
        )
        .await;
        assert_eq!(flips, audited);
        app.assert_rollups_match_records().await;
    }
    // Four initial visits, one per person: the earliest of each.
    assert_eq!(grouped.values().filter(|(repeat, _)| !repeat).count(), 4);
}

/// A caller that hangs up before its group is written was never answered, so nothing is written for it
/// (its retry with the same request_id writes it): cancelled calls cannot pile up work behind the writer
/// after their fair-share slot is given back.
#[tokio::test]
async fn a_caller_that_hung_up_before_its_turn_is_not_written() {
    let app = spawn_app().await;
    let c = clerk(&app).await;
    let blocker = hold_counter(&app, this_year()).await;
    let first = tokio::spawn(register(
        c.clone(),
        visit(0, ts(now_secs() - 3_600), "拖欠工资"),
    ));
    until_queued_at_counter(&app).await;
    let mut impatient = c.clone();
    let mut request = tonic::Request::new(RegisterVisitRequest {
        request_id: request_id(),
        visit: Some(visit(1, ts(now_secs() - 3_600), "工伤赔偿")),
    });
    request.set_timeout(Duration::from_millis(300));
    let gave_up = impatient
        .visits
        .register_visit(request)
        .await
        .expect_err("it gives up before the counter is free");
    assert!(
        matches!(gave_up.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{gave_up:?}"
    );
    // The server has dropped the call by now (its deadline); then the counter is let go.
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.rollback().await.unwrap();
    first.await.unwrap().expect("the first registration");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM visits").await,
        1,
        "only the caller still waiting was written"
    );
}

/// A group of visits is written set-based (`intake/batch.rs`); each registration's people are still shown
/// as its own principal may see them, and every full showing is audited for that principal alone.
#[tokio::test]
async fn visits_written_together_show_and_audit_people_as_each_principal_sees_them() {
    let app = spawn_app().await;
    let year = this_year();
    let clerks = [clerk(&app).await, clerk(&app).await, clerk(&app).await];
    let officer_token = app.token(Role::FieldOfficer, "510422XF").await;
    let officer = app.client_with(Some(&officer_token));
    let first = register(
        clerks[0].clone(),
        visit(900, ts(now_secs() - 3_600), "拖欠工资"),
    );
    let mut rest: Vec<Call<Visit>> = Vec::new();
    for n in 1..7 {
        let c = if n % 3 == 0 {
            officer.clone()
        } else {
            clerks[n % 3].clone()
        };
        rest.push(Box::pin(register(
            c,
            visit(900 + n, ts(now_secs() - 3_600), "拖欠工资"),
        )));
    }
    let answers = in_one_group(&app, year, first, rest).await;
    for (n, answer) in answers.into_iter().enumerate() {
        let visit = answer.expect("every registration is answered");
        let shown = &visit.petitioners[0];
        if n % 3 == 0 && n > 0 {
            assert!(shown.masked, "the field officer sees masks (visit {n})");
            assert_ne!(shown.id_number, id_number(900 + n));
        } else {
            assert!(!shown.masked, "a county clerk sees in full (visit {n})");
            assert_eq!(shown.id_number, id_number(900 + n));
        }
    }
    // Five clerks' registrations shown in full: five audited reads, each by the clerk who registered.
    assert_eq!(scalar(&app, "SELECT count(*) FROM pii_reads").await, 5);
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM pii_reads r JOIN visit_petitioners vp ON vp.petitioner_id = r.petitioner_id \
             JOIN visits v ON v.id = vp.visit_id WHERE v.registered_by = r.principal_id"
        )
        .await,
        5
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'pii_read'"
        )
        .await,
        5
    );
    assert!(
        transactions(&app).await < 7,
        "the six queued were written together"
    );
    assert_eq!(serials(&app).await, (1..=7).collect::<Vec<_>>());
}

fn pushed(v: Visit) -> xinfang_proto::v1::Operation {
    xinfang_proto::v1::Operation {
        op_id: request_id(),
        op: Some(xinfang_proto::v1::operation::Op::RegisterVisit(
            RegisterVisitRequest {
                request_id: String::new(),
                visit: Some(v),
            },
        )),
    }
}

/// Two officers' pushes name the same new person about the same thing. The first push stores the person
/// and waits at the counter; the second, written set-based, has already looked for a match (none yet) and
/// then waits to store the same person. When the first commits, the second must find the case it opened
/// (as the one-by-one path does, which looks after storing), not open a second one.
#[tokio::test]
async fn a_set_that_meets_a_concurrent_registration_of_its_person_joins_that_case() {
    let app = spawn_app().await;
    let year = this_year();
    let at = ts(now_secs() - 3_600);
    let officer = || {
        let app = &app;
        async move {
            let token = app.token(Role::FieldOfficer, "510422XF").await;
            app.client_with(Some(&token))
        }
    };
    let (mut first, mut second) = (officer().await, officer().await);
    let blocker = hold_counter(&app, year).await;
    let a = vec![
        pushed(visit(500, at, "拖欠工资")),
        pushed(visit(501, at, "拖欠工资")),
    ];
    let b = vec![
        pushed(visit(500, at, "拖欠工资")),
        pushed(visit(502, at, "拖欠工资")),
    ];
    let a = tokio::spawn(async move {
        first
            .sync
            .push(xinfang_proto::v1::PushRequest { operations: a })
            .await
    });
    until_queued_at_counter(&app).await;
    let b = tokio::spawn(async move {
        second
            .sync
            .push(xinfang_proto::v1::PushRequest { operations: b })
            .await
    });
    // The second waits on the first's uncommitted person.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = scalar(
            &app,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO petitioners%'",
        )
        .await;
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second push never waited on the person"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    blocker.rollback().await.unwrap();
    let a = a.await.unwrap().expect("first push").into_inner().results;
    let b = b.await.unwrap().expect("second push").into_inner().results;
    let visit_of = |r: &xinfang_proto::v1::OpResult| match &r.result {
        Some(xinfang_proto::v1::op_result::Result::Visit(v)) => v.clone(),
        other => panic!("not a visit: {other:?}"),
    };
    let (a0, b0) = (visit_of(&a[0]), visit_of(&b[0]));
    assert!(!a0.classification.as_ref().unwrap().repeat);
    assert!(
        b0.classification.as_ref().unwrap().repeat,
        "the second registration of the person repeats the first's case"
    );
    let cases: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT case_id) FROM visits WHERE number = ANY($1)")
            .bind(vec![a0.number.clone(), b0.number.clone()])
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(cases, 1, "one case for the person's one matter");
    assert_eq!(scalar(&app, "SELECT count(*) FROM cases").await, 3);
    assert_eq!(serials(&app).await, (1..=4).collect::<Vec<_>>());
}
