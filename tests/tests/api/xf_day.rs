//! A day of each role with the real `xf` binary against a real server (issue #17): the county clerk, the
//! township clerk, the field officer and the leader, each with a store of its own, doing their work through
//! `xf` only. The binary is the workspace's `target/<profile>/xf` (or `XF_BIN`): `cargo build -p
//! xinfang-client --bin xf` builds it, and `cargo test --workspace` does as part of the client's tests.

use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, Utc};
use serde_json::{Value, json};
use xinfang_proto::v1::{CaseState, CreateBudgetRequest, GetCaseRequest};
use xinfang_server::auth::Role;
use xinfang_tests::{TestApp, request_id, spawn_app};

const BUREAU: &str = "510422XF";
const TOWN: &str = "510422100";

pub fn xf_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("XF_BIN") {
        return PathBuf::from(bin);
    }
    // target/<profile>/deps/api-… → target/<profile>/xf
    let exe = std::env::current_exe().expect("the test's own path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("xf"))
        .expect("target folder");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p xinfang-client --bin xf`",
        bin.display()
    );
    bin
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "xf failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// The run failed and said `says` on stderr.
    pub fn refused(self, says: &str) -> Self {
        assert_ne!(
            self.code, 0,
            "xf should have failed:\nstdout: {}",
            self.stdout
        );
        assert!(
            self.stderr.contains(says),
            "{says:?} not in: {}",
            self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// One `xf` run on a store, never asking (as a script runs it); async so the in-process server goes on
/// answering while it runs.
pub async fn xf(store: &Path, args: &[&str]) -> Out {
    let out = tokio::process::Command::new(xf_bin())
        .arg("--store")
        .arg(store)
        .arg("--no-input")
        .args(args)
        .env_remove("XF_PROFILE")
        .env_remove("XF_TOKEN")
        .env_remove("XF_STORE")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("running xf");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A laptop of `role`: its own store, logged in through `xf login` (which asks the server who it is).
pub async fn laptop(app: &TestApp, dir: &tempfile::TempDir, role: Role, org: &str) -> PathBuf {
    let token = app.token(role, org).await;
    let store = dir.path().join(format!("{role}.db"));
    let out = xf(
        &store,
        &["login", "--server", &app.address, "--token", &token],
    )
    .await
    .ok();
    assert!(out.stdout.contains("logged in"), "{}", out.stdout);
    store
}

/// A time of the bureau's calendar `days` ago, as `xf` takes it.
pub fn days_ago(days: i64) -> String {
    (Utc::now() + Duration::hours(8) - Duration::days(days))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn day_in(days: i64) -> String {
    (Utc::now() + Duration::hours(8) + Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

pub async fn capture_visit(store: &Path, at: &str, name: &str) -> Out {
    xf(
        store,
        &[
            "visit",
            "new",
            "--at",
            at,
            "--level",
            "county",
            "--place",
            "县信访局接待大厅",
            "--headcount",
            "1",
            "--name",
            name,
            "--content",
            "拖欠工资",
            "--demands",
            "支付工资",
            "--category",
            "labor",
            "--problem-org",
            TOWN,
        ],
    )
    .await
}

pub fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .expect("a JSON list")
        .iter()
        .find(|v| v[key] == value)
        .unwrap_or_else(|| panic!("no {key} = {value} in {list}"))
}

/// The county clerk's day: register two visits (one of last month, loaded as history), assign the new one
/// to a township as 交办 with its handling deadline, supervise it (督办), and read the overdue list, where
/// the old one waits for its assignment.
#[tokio::test]
async fn county_clerk_registers_assigns_supervises_and_reads_the_overdue_list() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let county = laptop(&app, &dir, Role::CountyClerk, BUREAU).await;

    // A unit's step is not the office's: refused before anything is queued.
    let out = xf(
        &county,
        &["case", "accept", "XF510422-2026-000001", "--force"],
    )
    .await;
    out.refused("not open to your role");
    let help = xf(&county, &["case", "--help"]).await.ok();
    assert!(
        help.stdout.contains("assign") && !help.stdout.contains("\n  accept"),
        "{}",
        help.stdout
    );

    capture_visit(&county, &days_ago(40), "王五").await.ok();
    capture_visit(&county, "now", "李四").await.ok();
    let sync = xf(&county, &["sync"]).await.ok();
    assert!(sync.stdout.contains("2 applied"), "{}", sync.stdout);
    // `xf login` cached the dictionaries; the sync's answer has the same etag, so the copy is kept, and its
    // age is shown.
    assert!(
        sync.stdout.contains("dictionaries: unchanged")
            && sync.stdout.contains("dictionaries: fetched"),
        "{}",
        sync.stdout
    );
    // The server's calendar warning about next year is the server's (its log): xf says nothing of a year.
    assert!(
        !sync.stderr.contains("holiday") && !sync.stderr.contains("no data for this year"),
        "{}",
        sync.stderr
    );

    let cases = xf(&county, &["cases", "--json"]).await.ok().json();
    let list = cases.as_array().unwrap();
    assert_eq!(list.len(), 2, "{cases}");
    let old = list
        .iter()
        .find(|c| c["overdue"] == true)
        .expect("the old case is overdue");
    let new = list
        .iter()
        .find(|c| c["overdue"] == false)
        .expect("the new one is not");
    let old_number = old["number"].as_str().unwrap().to_owned();
    let number = new["number"].as_str().unwrap().to_owned();
    let assign_clock = &new["clocks"][0];
    assert_eq!(assign_clock["clock"], "assign");
    assert!(
        assign_clock["days_left"].as_i64().unwrap() >= 14,
        "{assign_clock}"
    );

    // 交办 to the township with a handling deadline; then 督办.
    let deadline = day_in(20);
    let out = xf(
        &county,
        &[
            "case",
            "assign",
            &number,
            "--to",
            TOWN,
            "--mode",
            "assign",
            "--deadline",
            &deadline,
        ],
    )
    .await
    .ok();
    assert!(out.stdout.contains("交办"), "{}", out.stdout);
    // A deadline past 60 days is named by its flag, not by the API's field.
    let out = xf(
        &county,
        &[
            "case",
            "assign",
            &old_number,
            "--to",
            TOWN,
            "--mode",
            "assign",
            "--deadline",
            &day_in(90),
        ],
    )
    .await;
    let out = out.refused("--deadline");
    assert!(!out.stderr.contains("handling_deadline"), "{}", out.stderr);
    let out = xf(
        &county,
        &[
            "case",
            "supervise",
            &number,
            "--level",
            "county",
            "--method",
            "document",
            "--reason",
            "群众反映强烈",
        ],
    )
    .await
    .ok();
    assert!(out.stdout.contains("督办回复"), "{}", out.stdout);

    let shown = xf(&county, &["cases"]).await.ok();
    assert!(
        shown.stdout.contains("交办 (须办结报告, 期限"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("受理 "), "{}", shown.stdout);
    let overdue = xf(&county, &["cases", "--overdue", "--json"])
        .await
        .ok()
        .json();
    let numbers: Vec<&str> = overdue
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["number"].as_str())
        .collect();
    assert_eq!(numbers, [old_number.as_str()]);
    let online = xf(&county, &["cases", "--overdue", "--online", "--json"])
        .await
        .ok()
        .json();
    let numbers: Vec<&str> = online
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["number"].as_str())
        .collect();
    assert_eq!(
        numbers,
        [old_number.as_str()],
        "the server's overdue list agrees"
    );
    let soon = xf(&county, &["cases", "--due-within", "20", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(soon.as_array().unwrap().len(), 2, "{soon}");
}

/// The township clerk's day: sync, see the 交办 case with its clocks, accept it, extend it, reply with the
/// completion report, all offline, then sync once.
#[tokio::test]
async fn township_clerk_accepts_extends_and_replies_with_a_completion_report() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let county = laptop(&app, &dir, Role::CountyClerk, BUREAU).await;
    capture_visit(&county, "now", "李四").await.ok();
    xf(&county, &["sync"]).await.ok();
    let cases = xf(&county, &["cases", "--json"]).await.ok().json();
    let number = cases[0]["number"].as_str().unwrap().to_owned();
    let id = cases[0]["id"].as_str().unwrap().to_owned();
    xf(
        &county,
        &[
            "case",
            "assign",
            &number,
            "--to",
            TOWN,
            "--mode",
            "assign",
            "--deadline",
            &day_in(30),
        ],
    )
    .await
    .ok();

    let town = laptop(&app, &dir, Role::TownshipClerk, TOWN).await;
    let out = xf(
        &town,
        &["case", "assign", &number, "--to", TOWN, "--mode", "forward"],
    )
    .await;
    assert!(
        out.stderr.contains("not open to your role"),
        "{}",
        out.stderr
    );
    xf(&town, &["sync"]).await.ok();
    let mine = xf(&town, &["cases", "--json"]).await.ok().json();
    let case = find(&mine, "number", &number);
    assert_eq!(case["mode_label"], "交办");
    assert_eq!(case["completion_report_required"], true);
    let accept = case["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clock"] == "accept")
        .expect("受理 clock");
    assert!(accept["days_left"].as_i64().unwrap() >= 14, "{accept}");

    xf(&town, &["case", "accept", &number]).await.ok();
    xf(
        &town,
        &[
            "case",
            "extend",
            &number,
            "--days",
            "10",
            "--approved-by",
            "李镇长",
            "--reason",
            "需现场核查",
            "--notified-on",
            "today",
        ],
    )
    .await
    .ok();
    // A 交办 reply without its completion report is refused here, under the flag.
    let out = xf(
        &town,
        &["case", "reply", &number, "--opinion", "已支付工资"],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--report"), "{}", out.stderr);
    xf(
        &town,
        &[
            "case",
            "reply",
            &number,
            "--opinion",
            "经核查，已督促企业支付工资。",
            "--report",
            "办结报告：工资已于本月支付。",
        ],
    )
    .await
    .ok();
    let sync = xf(&town, &["sync"]).await.ok();
    assert!(
        sync.stdout.contains("3 applied"),
        "{}{}",
        sync.stdout,
        sync.stderr
    );
    let server = app
        .client
        .clone()
        .cases
        .get_case(GetCaseRequest { id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(server.state, CaseState::Replied as i32);
    assert_eq!(server.extension_days, 10);
    assert!(server.completion_report.contains("工资"));
}

/// The field officer's day: a visit captured with no network, a return trip linking that visit before it
/// was ever synced, then one sync that sends both and links the trip to the visit's case.
#[tokio::test]
async fn field_officer_links_a_trip_to_a_visit_not_yet_synced() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let field = laptop(&app, &dir, Role::FieldOfficer, BUREAU).await;
    // What the server would refuse is refused offline, from the dictionaries `xf login` cached and the role:
    // an unknown category or unit, a date more than a year back; named by the flags typed.
    let store = field.clone();
    let bad = |category: &'static str, org: &'static str, at: String| {
        let store = store.clone();
        async move {
            xf(
                &store,
                &[
                    "visit",
                    "new",
                    "--at",
                    &at,
                    "--level",
                    "national",
                    "--non-reception",
                    "--place",
                    "天安门地区",
                    "--name",
                    "赵大",
                    "--content",
                    "征地补偿",
                    "--demands",
                    "提高补偿",
                    "--category",
                    category,
                    "--problem-org",
                    org,
                ],
            )
            .await
        }
    };
    let out = bad("no-such-category", TOWN, days_ago(1)).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--category: unknown category"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("labor"),
        "the known ones are listed: {}",
        out.stderr
    );
    let out = bad("land", "510422999", days_ago(1)).await;
    assert!(
        out.stderr.contains("--problem-org: no org unit"),
        "{}",
        out.stderr
    );
    let out = bad("land", TOWN, days_ago(400)).await;
    assert!(
        out.stderr.contains("--at: more than a year ago"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("2027"), "{}", out.stderr);
    let outbox = xf(&field, &["outbox", "list", "--json"]).await.ok().json();
    assert!(
        outbox.as_array().unwrap().is_empty(),
        "nothing queued: {outbox}"
    );
    xf(
        &field,
        &[
            "visit",
            "new",
            "--at",
            &days_ago(1),
            "--level",
            "national",
            "--non-reception",
            "--place",
            "天安门地区",
            "--name",
            "赵大",
            "--content",
            "征地补偿",
            "--demands",
            "提高补偿",
            "--category",
            "land",
            "--problem-org",
            TOWN,
        ],
    )
    .await
    .ok();
    let outbox = xf(&field, &["outbox", "list", "--json"]).await.ok().json();
    let op_id = outbox[0]["op_id"].as_str().unwrap().to_owned();
    let short = &op_id[op_id.len() - 8..];
    xf(
        &field,
        &[
            "trip",
            "new",
            "--notified-by",
            "驻京工作组",
            "--notified-at",
            &days_ago(1),
            "--level",
            "national",
            "--place",
            "北京",
            "--non-reception",
            "--responsible-org",
            TOWN,
            "--officer",
            "赵六",
            "--name",
            "赵大",
            "--visit",
            short,
            "--departed-at",
            &days_ago(1),
            "--returned-at",
            "now",
            "--outcome",
            "returned",
        ],
    )
    .await
    .ok();
    let sync = xf(&field, &["sync"]).await.ok();
    assert!(
        sync.stdout.contains("2 applied"),
        "{}{}",
        sync.stdout,
        sync.stderr
    );
    let visits = xf(&field, &["visits", "--json"]).await.ok().json();
    let trips = xf(&field, &["trips", "--json"]).await.ok().json();
    let case_id = visits[0]["case_id"].as_str().map(str::to_owned);
    let linked = trips[0]["case_ids"].as_array().unwrap();
    assert_eq!(linked.len(), 1, "{trips}");
    if let Some(case_id) = case_id {
        assert_eq!(linked[0], case_id.as_str());
    }
    assert_ne!(
        linked[0],
        op_id.as_str(),
        "the op id was replaced by the case"
    );
}

/// The leader's day: approve a fund request the bureau meeting passed, read the indicators. A step the role
/// may not take is refused before it is queued.
#[tokio::test]
async fn leader_approves_a_fund_request_and_reads_indicators() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let year = (Utc::now() + Duration::hours(8)).year();
    app.client
        .clone()
        .funds
        .create_budget(CreateBudgetRequest {
            request_id: request_id(),
            year,
            category: "other_key_work".into(),
            document: "盐财〔2026〕1号".into(),
            amount: "50000.00".into(),
            from_category: String::new(),
            occurred_at: None,
        })
        .await
        .expect("budget");
    let county = laptop(&app, &dir, Role::CountyClerk, BUREAU).await;
    xf(
        &county,
        &[
            "fund",
            "submit",
            "--year",
            &year.to_string(),
            "--category",
            "other_key_work",
            "--purpose",
            "training",
            "--unit",
            BUREAU,
            "--description",
            "信访干部业务培训",
            "--amount",
            "3000.00",
            "--payee",
            "县委党校",
        ],
    )
    .await
    .ok();
    let list = xf(&county, &["fund", "list", "--json"]).await.ok().json();
    let number = list[0]["number"].as_str().unwrap().to_owned();
    // The version read before the bureau meeting's decision.
    let before_meeting = list[0]["etag"].as_str().unwrap().to_owned();
    xf(
        &county,
        &[
            "fund",
            "decide",
            &number,
            "--approve",
            "--meeting",
            "局务会〔2026〕9号",
            "--meeting-date",
            "today",
        ],
    )
    .await
    .ok();

    let leader = laptop(&app, &dir, Role::Leader, "510422").await;
    let out = xf(
        &leader,
        &["case", "accept", "XF510422-2026-000001", "--force"],
    )
    .await;
    out.refused("领导");
    let outbox = xf(&leader, &["outbox", "list", "--json"]).await.ok().json();
    assert!(
        outbox.as_array().unwrap().is_empty(),
        "nothing queued: {outbox}"
    );

    // Approving the version read before the meeting changed it is refused, and changes nothing.
    let out = xf(
        &leader,
        &["fund", "approve", &number, "--etag", &before_meeting],
    )
    .await;
    out.refused("changed since it was read");
    let list = xf(&leader, &["fund", "list", "--json"]).await.ok().json();
    assert_eq!(list[0]["state"], "bureau-approved");

    // The step shows what it acts on (the amount and the payee) before the result.
    let out = xf(&leader, &["fund", "approve", &number, "--comment", "同意"])
        .await
        .ok();
    assert!(out.stdout.contains("3000.00 元"), "{}", out.stdout);
    assert!(out.stdout.contains("县委党校"), "{}", out.stdout);
    assert!(out.stdout.contains("领导已批准"), "{}", out.stdout);
    let list = xf(&leader, &["fund", "list", "--json"]).await.ok().json();
    assert_eq!(list[0]["state"], "approved");
    let out = xf(
        &leader,
        &["metrics", "indicators", "--year", &year.to_string()],
    )
    .await
    .ok();
    assert!(!out.stdout.is_empty());
}

/// The county office enters the year's budget from its approval documents with xf, moves part of it
/// between categories, and reads what is left; a leader may read it but not enter it, and a mistake names
/// its flag and changes nothing.
#[tokio::test]
async fn the_county_office_enters_and_reads_the_years_budget() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let year = ((Utc::now() + Duration::hours(8)).year() + 1).to_string();
    let county = laptop(&app, &dir, Role::CountyClerk, BUREAU).await;
    let add = |category: &'static str, document: &'static str, amount: &'static str| {
        let year = year.clone();
        let county = county.clone();
        async move {
            xf(
                &county,
                &[
                    "fund",
                    "budget",
                    "add",
                    "--year",
                    &year,
                    "--category",
                    category,
                    "--document",
                    document,
                    "--amount",
                    amount,
                ],
            )
            .await
        }
    };
    let out = add("special_difficult", "盐财资行〔2027〕1号", "300000.00")
        .await
        .ok();
    assert!(out.stdout.contains("可用 300000.00"), "{}", out.stdout);
    add("other_key_work", "盐财资行〔2027〕1号", "50000.00")
        .await
        .ok();
    // A reduction is a negative amount.
    add("other_key_work", "盐财资行〔2027〕9号", "-2000.00")
        .await
        .ok();
    // 调剂: 10,000 from the special fund to other key work.
    xf(
        &county,
        &[
            "fund",
            "budget",
            "add",
            "--year",
            &year,
            "--category",
            "other_key_work",
            "--document",
            "盐信访〔2027〕3号",
            "--amount",
            "10000.00",
            "--from",
            "special_difficult",
        ],
    )
    .await
    .ok();
    // A mistake names its flag and changes nothing.
    let out = xf(
        &county,
        &[
            "fund",
            "budget",
            "add",
            "--year",
            &year,
            "--category",
            "other_key_work",
            "--document",
            "x",
            "--amount",
            "1000.00",
            "--from",
            "other_key_work",
        ],
    )
    .await;
    out.refused("--from");

    let leader = laptop(&app, &dir, Role::Leader, "510422").await;
    let list = xf(
        &leader,
        &["fund", "budget", "list", "--year", &year, "--json"],
    )
    .await
    .ok()
    .json();
    let available = |category: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|b| b["category"] == category)
            .map(|b| b["available"].as_str().unwrap().to_owned())
    };
    assert_eq!(available("special_difficult").as_deref(), Some("290000.00"));
    assert_eq!(available("other_key_work").as_deref(), Some("58000.00"));
    let out = xf(&leader, &["fund", "budget", "list", "--year", &year])
        .await
        .ok();
    assert!(
        out.stdout.contains("特殊疑难信访问题专项"),
        "{}",
        out.stdout
    );
    let out = add_as(&leader, &year).await;
    out.refused("not open to your role");
}

/// At the start of a year the county office sets its performance targets and its 两降两升 with xf; the
/// leader reads them, and `xf metrics targets` measures the year against them. Setting a target again
/// changes what is given and keeps the rest. A wrong indicator is answered with its flag and the list; a
/// leader may not set them.
#[tokio::test]
async fn the_county_office_sets_the_years_targets_and_two_down_two_up() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let year = ((Utc::now() + Duration::hours(8)).year() + 1).to_string();
    let county = laptop(&app, &dir, Role::CountyClerk, BUREAU).await;
    let run = |store: &Path, head: [&str; 2], more: &[&str]| {
        let mut args: Vec<String> = vec![
            head[0].into(),
            head[1].into(),
            "--year".into(),
            year.clone(),
        ];
        args.extend(more.iter().map(|a| a.to_string()));
        let store = store.to_owned();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            xf(&store, &args).await
        }
    };
    let set = ["target", "set"];
    let on_time = ["--indicator", "on_time_completion"];
    let out = run(
        &county,
        set,
        &[&on_time[..], &["--at-least", "95", "--weight", "40"]].concat(),
    )
    .await
    .ok();
    // Without --name, the indicator's own name.
    assert!(out.stdout.contains("按期办结率"), "{}", out.stdout);
    assert!(out.stdout.contains("不低于 95"), "{}", out.stdout);
    let batches = ["--indicator", "county_batches"];
    let named = ["--cap-formula", "deviation", "--name", "到县上访批次"];
    run(
        &county,
        set,
        &[&batches[..], &["--at-most", "300"], &named[..]].concat(),
    )
    .await
    .ok();
    // Set again with the bound alone: the bound changes, the weight, formula and name stay.
    run(
        &county,
        set,
        &[&on_time[..], &["--at-least", "97"]].concat(),
    )
    .await
    .ok();
    run(
        &county,
        set,
        &[&batches[..], &["--at-most", "280"]].concat(),
    )
    .await
    .ok();
    let out = run(
        &county,
        set,
        &["--indicator", "happiness", "--at-least", "1"],
    )
    .await;
    let out = out.refused("--indicator");
    assert!(out.stderr.contains("on_time_completion"), "{}", out.stderr);
    // No bound: clap says so before anything is sent.
    assert_ne!(run(&county, set, &batches).await.code, 0);

    let trends = ["target", "set-trends"];
    let downs = ["--down", "total_volume", "--down", "national_batches"];
    let out = run(
        &county,
        trends,
        &[&downs[..], &["--up", "online_share"]].concat(),
    )
    .await;
    out.refused("two --down and two --up");
    let out = run(
        &county,
        trends,
        &[&downs[..], &["--up", "online_share", "--up", "joy"]].concat(),
    )
    .await;
    out.refused("the second --up");
    let ups = ["--up", "online_share", "--up", "satisfaction_unit"];
    run(&county, trends, &[&downs[..], &ups[..]].concat())
        .await
        .ok();

    let leader = laptop(&app, &dir, Role::Leader, "510422").await;
    let list = xf(&leader, &["target", "list", "--year", &year, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let on_time = find(&list, "indicator", "on_time_completion");
    assert_eq!(on_time["direction"], "at-least");
    assert!(
        on_time["value"].as_str().unwrap().starts_with("97"),
        "{on_time}"
    );
    assert!(
        on_time["weight"].as_str().unwrap().starts_with("40"),
        "{on_time}"
    );
    let capped = find(&list, "indicator", "county_batches");
    assert!(
        capped["value"].as_str().unwrap().starts_with("280"),
        "{capped}"
    );
    assert_eq!(
        (&capped["name"], &capped["cap_formula"]),
        (&json!("到县上访批次"), &json!("deviation"))
    );
    let shown = xf(&leader, &["target", "trends", "--year", &year, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["is_default"], false);
    let down: Vec<&str> = shown["goals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["direction"] == "down")
        .map(|g| g["indicator"].as_str().unwrap())
        .collect();
    assert_eq!(down, ["total_volume", "national_batches"]);
    let out = xf(&leader, &["metrics", "targets", "--year", &year])
        .await
        .ok();
    assert!(out.stdout.contains("到县上访批次"), "{}", out.stdout);
    let out = run(
        &leader,
        set,
        &["--indicator", "all_batches", "--at-most", "5"],
    )
    .await;
    out.refused("not open to your role");
}

/// Two visits of one person about the same category and place are matched into one case; the desk sees
/// the second is another matter and detaches it with xf into a case of its own, where it is initial. A
/// township may not, and the reason is required.
#[tokio::test]
async fn the_desk_detaches_a_visit_matched_to_the_wrong_case() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let county = laptop(&app, &dir, Role::CountyClerk, BUREAU).await;
    let id = xinfang_tests::fixture::id_number(77);
    for (at, content) in [
        ("2026-03-02 09:00", "拖欠工资"),
        ("2026-03-09 09:00", "工伤赔偿"),
    ] {
        xf(
            &county,
            &[
                "visit",
                "new",
                "--at",
                at,
                "--level",
                "county",
                "--place",
                "县信访局接待大厅",
                "--headcount",
                "1",
                "--name",
                "赵六",
                "--id-number",
                &id,
                "--content",
                content,
                "--demands",
                "依法处理",
                "--category",
                "labor",
                "--problem-org",
                TOWN,
            ],
        )
        .await
        .ok();
    }
    xf(&county, &["sync"]).await.ok();
    let visits = xf(&county, &["visits", "--json"]).await.ok().json();
    let visits = visits.as_array().unwrap();
    assert_eq!(visits.len(), 2);
    assert_eq!(
        visits[0]["case_id"], visits[1]["case_id"],
        "matched: {visits:?}"
    );
    assert_eq!(visits[0]["repeat"], true, "{visits:?}");
    // Newest first: the second visit.
    let second = visits[0]["number"].as_str().unwrap().to_owned();
    let first_case = visits[1]["case_id"].as_str().unwrap().to_owned();

    let out = xf(&county, &["visit", "detach", &second]).await;
    out.refused("--reason");
    let town = laptop(&app, &dir, Role::TownshipClerk, TOWN).await;
    let out = xf(
        &town,
        &[
            "visit",
            "detach",
            visits[0]["id"].as_str().unwrap(),
            "--reason",
            "另一事项",
        ],
    )
    .await;
    out.refused("not open to your role");

    let out = xf(
        &county,
        &[
            "visit",
            "detach",
            &second,
            "--reason",
            "工伤赔偿与拖欠工资是两件事",
        ],
    )
    .await
    .ok();
    assert!(
        out.stdout.contains("the initial registration"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&first_case), "{}", out.stdout);
    xf(&county, &["sync"]).await.ok();
    let visits = xf(&county, &["visits", "--json"]).await.ok().json();
    let visits = visits.as_array().unwrap();
    assert_ne!(visits[0]["case_id"], visits[1]["case_id"], "{visits:?}");
    assert_eq!(visits[1]["case_id"], json!(first_case));
    assert_eq!(
        visits[0]["repeat"], false,
        "initial in its own case: {visits:?}"
    );
    // A number the local copy does not hold is not guessed at.
    let out = xf(
        &county,
        &["visit", "detach", "XF510422-2026-999999", "--reason", "x"],
    )
    .await;
    out.refused("xf sync");
}

/// The administrator adds a county department with xf and finds it in the list; a clerk may
/// not add one, and a malformed code names --code.
#[tokio::test]
async fn the_administrator_adds_a_department() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let admin = laptop(&app, &dir, Role::Admin, BUREAU).await;
    let out = xf(
        &admin,
        &[
            "org",
            "add",
            "--code",
            "510422D31",
            "--name",
            "县应急管理局",
            "--kind",
            "department",
        ],
    )
    .await
    .ok();
    assert!(out.stdout.contains("510422D31"), "{}", out.stdout);
    let out = xf(&admin, &["org", "list"]).await.ok();
    assert!(out.stdout.contains("县应急管理局"), "{}", out.stdout);
    let out = xf(
        &admin,
        &[
            "org",
            "add",
            "--code",
            "x!",
            "--name",
            "坏",
            "--kind",
            "department",
        ],
    )
    .await;
    out.refused("--code");
    let county = laptop(&app, &dir, Role::CountyClerk, BUREAU).await;
    let out = xf(
        &county,
        &[
            "org",
            "add",
            "--code",
            "510422D10",
            "--name",
            "县某局",
            "--kind",
            "department",
        ],
    )
    .await;
    out.refused("not open to your role");
}

async fn add_as(store: &Path, year: &str) -> Out {
    xf(
        store,
        &[
            "fund",
            "budget",
            "add",
            "--year",
            year,
            "--category",
            "other",
            "--document",
            "x",
            "--amount",
            "1.00",
        ],
    )
    .await
}

/// A leader's laptop logged in without the check (no network then) queues an acceptance: the server
/// refuses that one operation, it goes to the rejected list, is discarded, and later syncs pull normally.
#[tokio::test]
async fn a_forbidden_op_queued_offline_is_rejected_discarded_and_pulls_go_on() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let county = laptop(&app, &dir, Role::CountyClerk, BUREAU).await;
    capture_visit(&county, "now", "李四").await.ok();
    xf(&county, &["sync"]).await.ok();
    let cases = xf(&county, &["cases", "--json"]).await.ok().json();
    let id = cases[0]["id"].as_str().unwrap().to_owned();

    let token = app.token(Role::Leader, "510422").await;
    let leader = dir.path().join("offline-leader.db");
    xf(
        &leader,
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
    xf(&leader, &["case", "accept", &id, "--force"]).await.ok();
    let sync = xf(&leader, &["sync"]).await.ok();
    assert!(sync.stdout.contains("1 rejected"), "{}", sync.stdout);
    assert!(
        sync.stdout.contains("pulled: 1 records") || sync.stdout.contains("pulled: "),
        "{}",
        sync.stdout
    );
    let rejected = xf(&leader, &["outbox", "list", "--json"]).await.ok().json();
    let op = find(&rejected, "state", "rejected");
    assert_eq!(op["code"], "PermissionDenied");
    let op_id = op["op_id"].as_str().unwrap().to_owned();
    xf(&leader, &["outbox", "discard", &op_id]).await.ok();

    capture_visit(&county, "now", "王五").await.ok();
    xf(&county, &["sync"]).await.ok();
    let sync = xf(&leader, &["sync"]).await.ok();
    assert!(sync.stdout.contains("0 applied"), "{}", sync.stdout);
    let mine = xf(&leader, &["cases", "--json"]).await.ok().json();
    assert_eq!(
        mine.as_array().unwrap().len(),
        2,
        "the leader's copy has both cases: {mine}"
    );
}
