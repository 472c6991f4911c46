//! The offline field client against the real server: operations captured with no network into a real SQLite
//! store, synced over gRPC, applied exactly once whatever happens in between, and local copies that hold
//! exactly the account's scope.

use chrono::Utc;
use tonic::Code;
use xinfang_client::{
    Client, capture, edit,
    store::{OpState, Settings, Store},
    sync::{self, SyncOptions, SyncSummary},
};
use xinfang_proto::v1::{
    AcceptCaseRequest, AssignCaseRequest, AssignmentMode, CaseState, Level, MatterInput, Operation,
    Petitioner, PullRequest, PullResponse, PushRequest, PushResponse, RecordReturnTripRequest,
    RegisterVisitRequest, ReturnTrip, TripCosts, Visit, operation::Op,
};
use xinfang_server::{
    auth::Role,
    tls::{Tls, TlsFiles},
};
use xinfang_tests::{TestApp, now_secs, request_id, spawn_app, spawn_tls_app, ts};

const BUREAU: &str = "510422XF";
const TONGZILIN: &str = "510422100";
const HONGGE: &str = "510422101";

fn visit(org: &str, name: &str, id_number: &str) -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: String::new(),
        visit: Some(Visit {
            visited_at: ts(now_secs() - 7_200),
            level: Level::National as i32,
            non_reception_place: true,
            place_name: "天安门地区".into(),
            headcount: 1,
            petitioners: vec![Petitioner {
                name: name.into(),
                id_number: id_number.into(),
                ..Default::default()
            }],
            matter: Some(MatterInput {
                content: "土地征收补偿".into(),
                demands: "提高补偿".into(),
                category: "land".into(),
                problem_org_code: org.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn trip() -> RecordReturnTripRequest {
    RecordReturnTripRequest {
        request_id: String::new(),
        trip: Some(ReturnTrip {
            notified_by: "驻京工作组".into(),
            notified_at: ts(now_secs() - 86_400),
            destination_level: Level::National as i32,
            destination_place: "北京".into(),
            responsible_org_code: TONGZILIN.into(),
            officers: vec!["赵六".into()],
            departed_at: ts(now_secs() - 80_000),
            costs: Some(TripCosts {
                transport: "1500.00".into(),
                meals: "86.5".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// A laptop: a store file of its own in `dir`, logged in as a new principal of `role` in `org`.
async fn laptop(
    app: &TestApp,
    dir: &tempfile::TempDir,
    name: &str,
    role: Role,
    org: &str,
) -> Store {
    let token = app.token(role, org).await;
    let mut store = Store::open(dir.path().join("profiles").join(format!("{name}.db"))).unwrap();
    store
        .save_settings(&Settings {
            server: app.address.clone(),
            token,
            ca_path: None,
        })
        .unwrap();
    store
}

/// Connects with the store's settings, as `xf sync` does.
fn connect(store: &Store) -> Client {
    let settings = store.settings().unwrap().expect("logged in");
    Client::connect_lazy(&settings.server, Some(&settings.token)).unwrap()
}

async fn sync_with(store: &mut Store, options: &SyncOptions) -> SyncSummary {
    let mut client = connect(store);
    sync::run(store, &mut client, options, &mut |_| {})
        .await
        .expect("sync")
}

async fn sync(store: &mut Store) -> SyncSummary {
    sync_with(store, &SyncOptions::default()).await
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn states(store: &Store) -> Vec<OpState> {
    store
        .outbox(&[])
        .unwrap()
        .into_iter()
        .map(|e| e.state)
        .collect()
}

/// The county registers a visit about `org` and assigns its case there; returns the case's id.
async fn county_case(app: &TestApp, org: &str, name: &str) -> String {
    let token = app.token(Role::CountyClerk, BUREAU).await;
    let mut county = app.client_with(Some(&token));
    let mut req = visit(org, name, "");
    req.request_id = request_id();
    let case_id = county
        .visits
        .register_visit(req)
        .await
        .unwrap()
        .into_inner()
        .classification
        .unwrap()
        .case_id;
    assign(app, &case_id, org, "").await;
    case_id
}

async fn assign(app: &TestApp, case_id: &str, org: &str, reason: &str) {
    let token = app.token(Role::CountyClerk, BUREAU).await;
    app.client_with(Some(&token))
        .cases
        .assign_case(AssignCaseRequest {
            request_id: request_id(),
            case_id: case_id.to_owned(),
            mode: AssignmentMode::Forward as i32,
            responsible_org_code: org.into(),
            reason: reason.into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn captured_offline_then_synced_lands_on_the_server_exactly_once() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = laptop(&app, &dir, "officer", Role::FieldOfficer, BUREAU).await;

    // In the field: no connection is made while capturing.
    let now = Utc::now();
    let v = capture::register_visit(
        &mut store,
        visit(TONGZILIN, "张三", "11010519491231002X"),
        now,
    )
    .unwrap();
    let t = capture::record_trip(&mut store, trip(), now).unwrap();
    assert_eq!(states(&store), [OpState::Pending, OpState::Pending]);
    assert_eq!(count(&app, "visits").await, 0);

    let first = sync(&mut store).await;
    assert_eq!((first.applied, first.duplicates, first.rejected), (2, 0, 0));
    assert!(first.pulled >= 2, "{first:?}");
    assert_eq!(count(&app, "visits").await, 1);
    assert_eq!(count(&app, "return_trips").await, 1);

    let v = store.entry(&v.op_id).unwrap().unwrap();
    assert_eq!(v.state, OpState::Applied);
    assert!(v.result_number.starts_with("XF510422-"), "{v:?}");
    let t = store.entry(&t.op_id).unwrap().unwrap();
    assert!(t.result_number.starts_with("QF510422-"), "{t:?}");
    let visits = store.visits().unwrap();
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0].number, v.result_number);
    assert_eq!(visits[0].id, v.result_id);
    let trips = store.trips().unwrap();
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].costs.as_ref().unwrap().total, "1586.50");

    // Again: nothing to push, nothing new to pull, nothing doubled.
    let second = sync(&mut store).await;
    assert_eq!(
        second,
        SyncSummary {
            pages: 1,
            ..SyncSummary::default()
        }
    );
    assert_eq!(count(&app, "visits").await, 1);
    assert_eq!(count(&app, "return_trips").await, 1);
    assert_eq!(store.visits().unwrap().len(), 1);
}

#[tokio::test]
async fn a_rejected_operation_stays_with_its_reason_while_the_others_apply() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = laptop(&app, &dir, "officer", Role::FieldOfficer, BUREAU).await;
    let now = Utc::now();

    // A mistyped ID number never leaves the laptop through capture…
    let mistyped = visit(TONGZILIN, "李四", "110101199003077777");
    let err = capture::register_visit(&mut store, mistyped.clone(), now).unwrap_err();
    assert!(
        err.to_string().contains("visit.petitioners[0].id_number"),
        "{err}"
    );
    assert!(store.outbox(&[]).unwrap().is_empty());
    // …but one queued without the local check (an older client, say) is judged by the server.
    capture::register_visit(
        &mut store,
        visit(TONGZILIN, "张三", "11010519491231002X"),
        now,
    )
    .unwrap();
    let bad = store
        .enqueue(Operation {
            op_id: String::new(),
            op: Some(Op::RegisterVisit(mistyped)),
        })
        .unwrap();
    capture::record_trip(&mut store, trip(), now).unwrap();

    let summary = sync(&mut store).await;
    assert_eq!((summary.applied, summary.rejected), (2, 1));
    let rejected = store.entry(&bad.op_id).unwrap().unwrap();
    assert_eq!(rejected.state, OpState::Rejected);
    assert_eq!(rejected.code(), Some(Code::InvalidArgument));
    assert_eq!(rejected.fields, ["visit.petitioners[0].id_number"]);
    assert!(!rejected.message.is_empty());
    assert_eq!(count(&app, "visits").await, 1);

    // It is kept aside, not pushed again by every sync.
    let again = sync(&mut store).await;
    assert_eq!((again.applied, again.rejected, again.batches), (0, 0, 0));
    assert_eq!(
        store.entry(&bad.op_id).unwrap().unwrap().state,
        OpState::Rejected
    );

    // The user fixes the field the server named; the edit goes out under a new op id.
    let mut op = rejected.operation.op.clone().unwrap();
    edit::set(&mut op, &rejected.fields[0], "440524188001010014", now).unwrap();
    let fixed = capture::requeue(&mut store, &rejected.op_id, op, Utc::now()).unwrap();
    assert_ne!(fixed.op_id, rejected.op_id);
    let summary = sync(&mut store).await;
    assert_eq!((summary.applied, summary.rejected), (1, 0));
    let old = store.entry(&bad.op_id).unwrap().unwrap();
    assert_eq!(old.state, OpState::Replaced);
    assert_eq!(old.replaced_by.as_deref(), Some(fixed.op_id.as_str()));
    assert_eq!(
        store.entry(&fixed.op_id).unwrap().unwrap().state,
        OpState::Applied
    );
    assert_eq!(count(&app, "visits").await, 2);

    // Or the user discards one: it stays listed as discarded and is never pushed.
    let mut bad2 = visit(TONGZILIN, "王五", "");
    bad2.visit
        .as_mut()
        .unwrap()
        .matter
        .as_mut()
        .unwrap()
        .category = "no_such_category".into();
    let bad2 = store
        .enqueue(Operation {
            op_id: String::new(),
            op: Some(Op::RegisterVisit(bad2)),
        })
        .unwrap();
    let summary = sync(&mut store).await;
    assert_eq!(summary.rejected, 1);
    store.discard(&bad2.op_id).unwrap();
    let summary = sync(&mut store).await;
    assert_eq!(summary.batches, 0);
    assert_eq!(
        store.entry(&bad2.op_id).unwrap().unwrap().state,
        OpState::Discarded
    );
    assert_eq!(count(&app, "visits").await, 2);
    assert_eq!(store.outbox(&[]).unwrap().len(), 5, "nothing is dropped");
}

#[tokio::test]
async fn a_sync_cut_between_the_push_and_its_local_ack_applies_everything_once() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = laptop(&app, &dir, "officer", Role::FieldOfficer, BUREAU).await;
    let now = Utc::now();
    for name in ["甲", "乙", "丙"] {
        capture::register_visit(&mut store, visit(TONGZILIN, name, ""), now).unwrap();
    }

    // The push reaches the server and applies, then the laptop dies before recording the answers.
    let entries = store.sendable().unwrap();
    let ids: Vec<String> = entries.iter().map(|e| e.op_id.clone()).collect();
    store.mark_sent(&ids).unwrap();
    let mut client = connect(&store);
    let answered = client
        .sync
        .push(PushRequest {
            operations: entries.iter().map(|e| e.operation.clone()).collect(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answered.results.len(), 3);
    drop(store);
    assert_eq!(count(&app, "visits").await, 3);

    // After the restart, the sync pushes them again: the server answers DUPLICATE with the first results.
    let mut store = Store::open(dir.path().join("profiles").join("officer.db")).unwrap();
    assert_eq!(states(&store), [OpState::Sent; 3]);
    let summary = sync(&mut store).await;
    assert_eq!((summary.applied, summary.duplicates), (0, 3));
    assert_eq!(states(&store), [OpState::Duplicate; 3]);
    assert_eq!(count(&app, "visits").await, 3);
    let numbers: Vec<String> = store
        .outbox(&[])
        .unwrap()
        .into_iter()
        .map(|e| e.result_number)
        .collect();
    let mut local: Vec<String> = store
        .visits()
        .unwrap()
        .into_iter()
        .map(|v| v.number)
        .collect();
    local.sort();
    let mut expected = numbers.clone();
    expected.sort();
    assert_eq!(local, expected, "the local copy holds each visit once");

    // The same from the other side: answers recorded, then lost (the rows put back to pending).
    capture::register_visit(&mut store, visit(HONGGE, "丁", ""), now).unwrap();
    let first = sync(&mut store).await;
    assert_eq!(first.applied, 1);
    store
        .connection()
        .execute("UPDATE outbox SET state = 'pending'", [])
        .unwrap();
    let summary = sync(&mut store).await;
    assert_eq!((summary.applied, summary.duplicates), (0, 4));
    assert_eq!(count(&app, "visits").await, 4);
    assert_eq!(store.visits().unwrap().len(), 4);
}

/// The real server behind a link that is cut after `pushes` pushes reached it: their answers are lost.
struct CutLink {
    client: Client,
    pushes: usize,
}

impl sync::Remote for CutLink {
    async fn push(&mut self, request: PushRequest) -> Result<PushResponse, tonic::Status> {
        if self.pushes == 0 {
            return Err(tonic::Status::unavailable("link down"));
        }
        self.pushes -= 1;
        let answer = self.client.sync.push(request).await?;
        if self.pushes == 0 {
            drop(answer);
            return Err(tonic::Status::unavailable("link cut before the answer"));
        }
        Ok(answer.into_inner())
    }

    async fn pull(&mut self, request: PullRequest) -> Result<PullResponse, tonic::Status> {
        sync::Remote::pull(&mut self.client, request).await
    }
}

#[tokio::test]
async fn a_link_cut_in_the_middle_of_a_sync_loses_and_doubles_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = laptop(&app, &dir, "officer", Role::FieldOfficer, BUREAU).await;
    let now = Utc::now();
    for i in 0..7 {
        capture::register_visit(&mut store, visit(TONGZILIN, &format!("来访人{i}"), ""), now)
            .unwrap();
    }
    let options = SyncOptions {
        batch_size: 3,
        max_attempts: 2,
        initial_backoff: std::time::Duration::from_millis(10),
        ..SyncOptions::default()
    };
    // The second push reaches the server, then the link goes and stays down.
    let mut link = CutLink {
        client: connect(&store),
        pushes: 2,
    };
    let err = sync::run(&mut store, &mut link, &options, &mut |_| {})
        .await
        .unwrap_err();
    let sync::SyncError::Remote { done, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(done.applied, 3, "the first batch was recorded");
    assert_eq!(count(&app, "visits").await, 6);
    assert_eq!(store.outbox(&[OpState::Sent]).unwrap().len(), 3);
    assert_eq!(store.outbox(&[OpState::Pending]).unwrap().len(), 1);

    // The link is back: the sync goes on where it stopped.
    let summary = sync_with(&mut store, &options).await;
    assert_eq!((summary.applied, summary.duplicates), (1, 3));
    assert_eq!(count(&app, "visits").await, 7);
    assert_eq!(
        states(&store),
        [
            OpState::Applied,
            OpState::Applied,
            OpState::Applied,
            OpState::Duplicate,
            OpState::Duplicate,
            OpState::Duplicate,
            OpState::Applied
        ]
    );
    assert_eq!(store.visits().unwrap().len(), 7);
}

#[tokio::test]
async fn two_syncs_of_one_store_at_once_do_not_interleave() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = laptop(&app, &dir, "officer", Role::FieldOfficer, BUREAU).await;
    let now = Utc::now();
    for i in 0..12 {
        capture::register_visit(&mut store, visit(TONGZILIN, &format!("来访人{i}"), ""), now)
            .unwrap();
    }
    let path = store.path().to_owned();
    drop(store);

    // Two terminals: two handles on the same file, two syncs started together.
    let options = SyncOptions {
        batch_size: 3,
        ..SyncOptions::default()
    };
    let run = |path: std::path::PathBuf, options: SyncOptions| {
        tokio::spawn(async move {
            let mut store = Store::open(&path).unwrap();
            let mut client = connect(&store);
            sync::run(&mut store, &mut client, &options, &mut |_| {})
                .await
                .unwrap()
        })
    };
    let a = run(path.clone(), options.clone());
    let b = run(path.clone(), options);
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a.applied + b.applied, 12, "{a:?} {b:?}");
    assert_eq!(a.duplicates + b.duplicates, 0, "one waited for the other");
    assert!(a.batches == 0 || b.batches == 0);
    assert_eq!(count(&app, "visits").await, 12);
    let store = Store::open(&path).unwrap();
    assert_eq!(states(&store), [OpState::Applied; 12]);
    assert_eq!(store.visits().unwrap().len(), 12);
}

#[tokio::test]
async fn two_townships_each_keep_only_their_own_cases() {
    let app = spawn_app().await;
    let case_a = county_case(&app, TONGZILIN, "甲").await;
    let case_b = county_case(&app, HONGGE, "乙").await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = laptop(&app, &dir, "tongzilin", Role::TownshipClerk, TONGZILIN).await;
    let mut b = laptop(&app, &dir, "hongge", Role::TownshipClerk, HONGGE).await;

    // Page by page (one change a page): the pull resumes from each stored cursor and sees each change once.
    let one_by_one = SyncOptions {
        page_size: 1,
        ..SyncOptions::default()
    };
    let pulled_a = sync_with(&mut a, &one_by_one).await;
    assert!(pulled_a.pages >= 2, "{pulled_a:?}");
    sync(&mut b).await;
    let ids = |s: &Store| -> Vec<String> { s.cases().unwrap().into_iter().map(|c| c.id).collect() };
    assert_eq!(ids(&a), std::slice::from_ref(&case_a));
    assert_eq!(ids(&b), std::slice::from_ref(&case_b));
    let visits_a = a.visits().unwrap();
    assert_eq!(visits_a.len(), 1);
    assert_eq!(
        visits_a[0].matter.as_ref().unwrap().problem_org_code,
        TONGZILIN
    );
    assert_eq!(
        a.case_history(&case_a)
            .unwrap()
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        ["registered", "assigned"]
    );

    // Township A accepts its case offline; the sync applies it and the local copy follows.
    assert_eq!(
        a.case(&case_a).unwrap().unwrap().state(),
        CaseState::Assigned
    );
    capture::accept_case(
        &mut a,
        AcceptCaseRequest {
            case_id: case_a.clone(),
            ..Default::default()
        },
        Utc::now(),
    )
    .unwrap();
    let summary = sync(&mut a).await;
    assert_eq!(summary.applied, 1);
    assert_eq!(
        a.case(&case_a).unwrap().unwrap().state(),
        CaseState::Accepted
    );
    assert_eq!(a.case_history(&case_a).unwrap().len(), 3);
    let summary = sync(&mut b).await;
    assert_eq!(summary.pulled, 0, "B hears nothing of A's case");
    assert_eq!(ids(&b), [case_b]);
}

#[tokio::test]
async fn a_case_reassigned_away_is_removed_and_an_offline_step_on_it_is_rejected() {
    let app = spawn_app().await;
    let case_a = county_case(&app, TONGZILIN, "甲").await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = laptop(&app, &dir, "tongzilin", Role::TownshipClerk, TONGZILIN).await;
    let mut b = laptop(&app, &dir, "hongge", Role::TownshipClerk, HONGGE).await;
    sync(&mut a).await;
    assert!(a.case(&case_a).unwrap().is_some());

    // Offline, A accepts; meanwhile the county moves the case to B.
    let accept = capture::accept_case(
        &mut a,
        AcceptCaseRequest {
            case_id: case_a.clone(),
            ..Default::default()
        },
        Utc::now(),
    )
    .unwrap();
    assign(&app, &case_a, HONGGE, "属地错误，应由红格镇办理").await;

    let summary = sync(&mut a).await;
    // A pull delivers a change once every transaction older than it has ended, anywhere in the cluster,
    // and waits for that two seconds at most; the other tests of this binary share the cluster and some
    // hold transactions longer. The tombstone then comes with the next sync, as it would for a laptop.
    let mut tombstones = summary.tombstones;
    for _ in 0..4 {
        if tombstones > 0 {
            break;
        }
        tombstones += sync(&mut a).await.tombstones;
    }
    assert_eq!((summary.applied, summary.rejected, tombstones), (0, 1, 1));
    let rejected = a.entry(&accept.op_id).unwrap().unwrap();
    assert_eq!(rejected.state, OpState::Rejected);
    assert_eq!(rejected.code(), Some(Code::PermissionDenied));
    assert!(!rejected.message.is_empty());
    assert!(
        a.case(&case_a).unwrap().is_none(),
        "the tombstone removed it"
    );
    assert!(a.cases().unwrap().is_empty());

    // B gets it whole, with its history, and can accept it.
    for _ in 0..5 {
        sync(&mut b).await;
        if b.case(&case_a).unwrap().is_some() {
            break;
        }
    }
    let actions: Vec<String> = b
        .case_history(&case_a)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["registered", "assigned", "reassigned"]);
    capture::accept_case(
        &mut b,
        AcceptCaseRequest {
            case_id: case_a.clone(),
            ..Default::default()
        },
        Utc::now(),
    )
    .unwrap();
    assert_eq!(sync(&mut b).await.applied, 1);
    assert_eq!(
        b.case(&case_a).unwrap().unwrap().state(),
        CaseState::Accepted
    );

    // A discards its rejected step; it stays listed as discarded.
    a.discard(&accept.op_id).unwrap();
    assert_eq!(states(&a), [OpState::Discarded]);
}

#[tokio::test]
async fn a_profile_with_the_bureau_ca_syncs_over_tls() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let pki = tempfile::tempdir().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "xinfang test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let file = |name: &str| pki.path().join(name);
    std::fs::write(file("server.pem"), cert.pem()).unwrap();
    std::fs::write(file("server.key"), key.serialize_pem()).unwrap();
    std::fs::write(file("ca.pem"), ca.pem()).unwrap();
    let tls = Tls::load(TlsFiles {
        cert: file("server.pem"),
        key: file("server.key"),
        client_ca: None,
    })
    .unwrap();
    let harness = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca.pem()))
        .domain_name("localhost");
    let app = spawn_tls_app(tls, harness).await;
    assert!(app.address.starts_with("https://"));

    let dir = tempfile::tempdir().unwrap();
    let mut store = laptop(&app, &dir, "officer", Role::FieldOfficer, BUREAU).await;
    let mut settings = store.settings().unwrap().unwrap();
    settings.ca_path = Some(file("ca.pem"));
    store.save_settings(&settings).unwrap();
    capture::register_visit(&mut store, visit(TONGZILIN, "张三", ""), Utc::now()).unwrap();
    let mut client = Client::for_settings(&settings).unwrap();
    let summary = sync::run(
        &mut store,
        &mut client,
        &SyncOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(summary.applied, 1);
    assert_eq!(store.visits().unwrap().len(), 1);

    // Without the CA the server is not trusted: the sync fails and the outbox keeps its operation.
    capture::register_visit(&mut store, visit(TONGZILIN, "李四", ""), Utc::now()).unwrap();
    settings.ca_path = None;
    let mut untrusting = Client::for_settings(&settings).unwrap();
    let options = SyncOptions {
        max_attempts: 1,
        ..SyncOptions::default()
    };
    let err = sync::run(&mut store, &mut untrusting, &options, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, sync::SyncError::Remote { .. }), "{err}");
    assert_eq!(store.sendable().unwrap().len(), 1);
    assert_eq!(count(&app, "visits").await, 1);
}
