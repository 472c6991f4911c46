//! Issue #6's "done when": two field laptops and two township offices, each with its own store, work offline
//! and sync in any order while the county works online; every record lands exactly once and every client ends
//! with exactly its scope. And a randomized interleaving of offline steps, county reassignments and syncs,
//! over several seeds, after which each township's local copy equals the server's state for its scope.

use std::collections::BTreeMap;

use chrono::Utc;
use xinfang_client::{
    Client, capture,
    store::{Settings, Store},
    sync::{self, SyncOptions},
};
use xinfang_proto::v1::{
    AcceptCaseRequest, AssignCaseRequest, AssignmentMode, CaseState, Level, ListCasesRequest,
    ListReturnTripsRequest, ListVisitsRequest, MatterInput, Petitioner, RecordReturnTripRequest,
    RegisterVisitRequest, ReplyCaseRequest, ReturnTrip, Visit,
};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, now_secs, request_id, spawn_app, ts};

const BUREAU: &str = "510422XF";
const TOWNS: [&str; 2] = ["510422100", "510422101"];

fn visit(org: &str, n: usize) -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: String::new(),
        visit: Some(Visit {
            visited_at: ts(now_secs() - 7_200 + n as i64),
            level: Level::National as i32,
            non_reception_place: true,
            place_name: "天安门地区".into(),
            headcount: 1,
            petitioners: vec![Petitioner {
                name: format!("来访人{n}"),
                ..Default::default()
            }],
            matter: Some(MatterInput {
                content: format!("诉求{n}"),
                demands: "解决".into(),
                category: "land".into(),
                problem_org_code: org.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn trip(org: &str) -> RecordReturnTripRequest {
    RecordReturnTripRequest {
        request_id: String::new(),
        trip: Some(ReturnTrip {
            notified_by: "驻京工作组".into(),
            notified_at: ts(now_secs() - 86_400),
            destination_level: Level::National as i32,
            destination_place: "北京".into(),
            responsible_org_code: org.into(),
            officers: vec!["赵六".into()],
            departed_at: ts(now_secs() - 80_000),
            ..Default::default()
        }),
    }
}

struct Device {
    store: Store,
    token: String,
}

async fn device(
    app: &TestApp,
    dir: &tempfile::TempDir,
    name: &str,
    role: Role,
    org: &str,
) -> Device {
    let token = app.token(role, org).await;
    let mut store = Store::open(dir.path().join(format!("{name}.db"))).unwrap();
    store
        .save_settings(&Settings {
            server: app.address.clone(),
            token: token.clone(),
            ca_path: None,
        })
        .unwrap();
    Device { store, token }
}

impl Device {
    async fn sync(&mut self) {
        let settings = self.store.settings().unwrap().unwrap();
        let mut client = Client::connect_lazy(&settings.server, Some(&settings.token)).unwrap();
        sync::run(
            &mut self.store,
            &mut client,
            &SyncOptions::default(),
            &mut |_| {},
        )
        .await
        .expect("sync");
    }

    fn online(&self, app: &TestApp) -> Client {
        app.client_with(Some(&self.token))
    }
}

/// Every page of a list, by this principal.
async fn server_cases(client: &mut Client) -> BTreeMap<String, (i32, String)> {
    let mut out = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .cases
            .list_cases(ListCasesRequest {
                page_size: 500,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for c in page.cases {
            out.insert(c.id.clone(), (c.state, c.etag.clone()));
        }
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

fn local_cases(store: &Store) -> BTreeMap<String, (i32, String)> {
    store
        .cases()
        .unwrap()
        .into_iter()
        .map(|c| (c.id.clone(), (c.state, c.etag.clone())))
        .collect()
}

async fn assign(county: &mut Client, case_id: &str, org: &str, reason: &str) -> bool {
    county
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
        .is_ok()
}

#[tokio::test]
async fn two_laptops_and_two_townships_work_a_day_offline() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut field = [
        device(&app, &dir, "field-1", Role::FieldOfficer, BUREAU).await,
        device(&app, &dir, "field-2", Role::FieldOfficer, BUREAU).await,
    ];
    let mut towns = [
        device(&app, &dir, "town-100", Role::TownshipClerk, TOWNS[0]).await,
        device(&app, &dir, "town-101", Role::TownshipClerk, TOWNS[1]).await,
    ];
    let county_token = app.token(Role::CountyClerk, BUREAU).await;
    let mut county = app.client_with(Some(&county_token));

    // Morning, in the field, offline: three and two visits, a trip each.
    let now = Utc::now();
    for n in 0..3 {
        capture::register_visit(&mut field[0].store, visit(TOWNS[n % 2], n), now).unwrap();
    }
    for n in 3..5 {
        capture::register_visit(&mut field[1].store, visit(TOWNS[n % 2], n), now).unwrap();
    }
    capture::record_trip(&mut field[0].store, trip(TOWNS[0]), now).unwrap();
    capture::record_trip(&mut field[1].store, trip(TOWNS[1]), now).unwrap();

    // They sync in the opposite order of capture, one of them twice (a cut link retried).
    field[1].sync().await;
    field[0].sync().await;
    field[0].sync().await;

    // The county assigns every new case to its township.
    let cases = server_cases(&mut county).await;
    assert_eq!(cases.len(), 5, "five visits, five cases");
    let mut by_town: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for id in cases.keys() {
        let case = county
            .cases
            .get_case(xinfang_proto::v1::GetCaseRequest { id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        let town = if case.problem_org_code == TOWNS[0] {
            TOWNS[0]
        } else {
            TOWNS[1]
        };
        assert!(assign(&mut county, id, town, "").await);
        by_town.entry(town).or_default().push(id.clone());
    }

    // Townships pull, then work offline: accept everything, and reply to their first case.
    for (i, town) in towns.iter_mut().enumerate() {
        town.sync().await;
        let ids = &by_town[TOWNS[i]];
        for id in ids {
            capture::accept_case(
                &mut town.store,
                AcceptCaseRequest {
                    case_id: id.clone(),
                    ..Default::default()
                },
                Utc::now(),
            )
            .unwrap();
        }
        capture::reply_case(
            &mut town.store,
            ReplyCaseRequest {
                case_id: ids[0].clone(),
                opinion: "已处理".into(),
                ..Default::default()
            },
            Utc::now(),
        )
        .unwrap();
    }
    // Meanwhile the county moves township 100's last case to 101.
    let moved = by_town[TOWNS[0]].last().unwrap().clone();
    assert!(assign(&mut county, &moved, TOWNS[1], "属地调整").await);

    // Everyone syncs, in an odd order, twice over.
    for _ in 0..2 {
        towns[1].sync().await;
        field[0].sync().await;
        towns[0].sync().await;
        field[1].sync().await;
    }
    // 101 now holds the moved case: it accepts it offline and syncs.
    capture::accept_case(
        &mut towns[1].store,
        AcceptCaseRequest {
            case_id: moved.clone(),
            ..Default::default()
        },
        Utc::now(),
    )
    .unwrap();
    towns[1].sync().await;
    towns[0].sync().await;

    // Every record exactly once on the server.
    for (table, n) in [("visits", 5), ("return_trips", 2), ("cases", 5)] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(count, n, "{table}");
    }
    // Each client holds exactly its scope, as the server sees it now.
    for town in &towns {
        let mut online = town.online(&app);
        assert_eq!(local_cases(&town.store), server_cases(&mut online).await);
    }
    assert!(
        !local_cases(&towns[0].store).contains_key(&moved),
        "the moved case left 100"
    );
    assert!(local_cases(&towns[1].store).contains_key(&moved));
    assert_eq!(
        local_cases(&towns[1].store)[&moved].0,
        CaseState::Accepted as i32
    );
    for f in &field {
        let mut online = f.online(&app);
        let visits = online
            .visits
            .list_visits(ListVisitsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .visits;
        let mut local: Vec<String> = f
            .store
            .visits()
            .unwrap()
            .into_iter()
            .map(|v| v.id)
            .collect();
        let mut remote: Vec<String> = visits.into_iter().map(|v| v.id).collect();
        local.sort();
        remote.sort();
        assert_eq!(local, remote);
        let trips = online
            .visits
            .list_return_trips(ListReturnTripsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .trips;
        assert_eq!(f.store.trips().unwrap().len(), trips.len());
    }
    app.assert_rollups_match_records().await;
}

/// xorshift64*: small, deterministic, good enough to pick steps.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[tokio::test]
async fn random_interleavings_end_with_each_copy_equal_to_the_server() {
    for seed in [7_u64, 1_234_567, 0xDEAD_BEEF] {
        let app = spawn_app().await;
        let dir = tempfile::tempdir().unwrap();
        let mut towns = [
            device(&app, &dir, "t0", Role::TownshipClerk, TOWNS[0]).await,
            device(&app, &dir, "t1", Role::TownshipClerk, TOWNS[1]).await,
        ];
        let county_token = app.token(Role::CountyClerk, BUREAU).await;
        let mut county = app.client_with(Some(&county_token));
        // Six cases, spread over the two townships.
        let mut cases = Vec::new();
        for n in 0..6 {
            let mut req = visit(TOWNS[n % 2], n);
            req.request_id = request_id();
            let id = county
                .visits
                .register_visit(req)
                .await
                .unwrap()
                .into_inner()
                .classification
                .unwrap()
                .case_id;
            assert!(assign(&mut county, &id, TOWNS[n % 2], "").await);
            cases.push(id);
        }
        let mut rng = Rng(seed);
        for _ in 0..40 {
            match rng.below(5) {
                // A township syncs.
                0 | 1 => towns[rng.below(2)].sync().await,
                // The county moves a case (only those not yet accepted can move; others are refused).
                2 => {
                    let id = &cases[rng.below(cases.len())];
                    let to = TOWNS[rng.below(2)];
                    assign(&mut county, id, to, "属地调整").await;
                }
                // A township accepts a local case offline.
                3 => {
                    let t = rng.below(2);
                    let local: Vec<String> = local_cases(&towns[t].store).into_keys().collect();
                    if !local.is_empty() {
                        let id = local[rng.below(local.len())].clone();
                        capture::accept_case(
                            &mut towns[t].store,
                            AcceptCaseRequest {
                                case_id: id,
                                ..Default::default()
                            },
                            Utc::now(),
                        )
                        .unwrap();
                    }
                }
                // A township replies to a local case offline.
                _ => {
                    let t = rng.below(2);
                    let local: Vec<String> = local_cases(&towns[t].store).into_keys().collect();
                    if !local.is_empty() {
                        let id = local[rng.below(local.len())].clone();
                        capture::reply_case(
                            &mut towns[t].store,
                            ReplyCaseRequest {
                                case_id: id,
                                opinion: "已处理".into(),
                                ..Default::default()
                            },
                            Utc::now(),
                        )
                        .unwrap();
                    }
                }
            }
        }
        // Quiesce: everyone syncs until nothing is left to send, then once more to pull the last answers.
        for _ in 0..2 {
            for town in towns.iter_mut() {
                town.sync().await;
            }
        }
        for town in &towns {
            let mut online = town.online(&app);
            assert_eq!(
                local_cases(&town.store),
                server_cases(&mut online).await,
                "seed {seed}: the local copy is the server's state for the scope"
            );
        }
        // Nothing was applied twice: one event per accepted case at most.
        let twice: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT case_id FROM case_events WHERE action = 'accepted' \
             GROUP BY case_id HAVING count(*) > 1) t",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(twice, 0, "seed {seed}");
        app.assert_rollups_match_records().await;
    }
}
