//! The `xf` binary as a script uses it, with no server: capture, local checks, lists, and a sync that
//! cannot reach the server and loses nothing.

use std::{
    path::Path,
    process::{Command, Output, Stdio},
};

fn xf(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xf"))
        .arg("--store")
        .arg(store)
        .arg("--no-input")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running xf")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const VISIT: &[&str] = &[
    "visit",
    "new",
    "--at",
    "now",
    "--level",
    "national",
    "--non-reception",
    "--name",
    "张三",
    "--content",
    "土地征收补偿",
    "--demands",
    "提高补偿",
    "--category",
    "land",
    "--problem-org",
    "510422100",
];

#[test]
fn captures_offline_checks_locally_and_keeps_the_outbox_when_the_server_is_away() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("field.db");

    let out = xf(
        &db,
        &[
            "login",
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "xft_test",
            "--offline",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A good visit is queued.
    let mut good = VISIT.to_vec();
    good.extend(["--place", "天安门地区", "--id-number", "11010519491231002X"]);
    let out = xf(&db, &good);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("queued"),
        "{}",
        text(&out.stdout)
    );

    // A mistyped ID number and a missing place are caught here, named by the flags typed.
    let mut bad = VISIT.to_vec();
    bad.extend(["--id-number", "110101199003077777"]);
    let out = xf(&db, &bad);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--place: required"), "{err}");
    assert!(err.contains("--id-number: "), "{err}");
    assert!(!err.contains("visit."), "no API field paths: {err}");

    let out = xf(
        &db,
        &[
            "trip",
            "new",
            "--notified-by",
            "驻京工作组",
            "--notified-at",
            "now",
            "--level",
            "national",
            "--place",
            "北京",
            "--responsible-org",
            "510422100",
            "--officer",
            "赵六",
            "--lodging",
            "12.345",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--lodging"));

    let out = xf(&db, &["outbox", "list", "--json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["state"], "pending");
    assert_eq!(list[0]["kind"], "register_visit");
    let op_id = list[0]["op_id"].as_str().unwrap().to_owned();

    // No server: the sync stops, says so, and the operation stays for the next one.
    let out = xf(&db, &["sync", "--attempts", "1", "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nothing is lost"),
        "{}",
        text(&out.stderr)
    );
    let out = xf(&db, &["outbox", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["op_id"], op_id.as_str());
    assert_eq!(list[0]["state"], "sent", "it may have reached the server");
    // So it cannot be discarded: it may already be applied.
    let out = xf(&db, &["outbox", "discard", &op_id[op_id.len() - 8..]]);
    assert!(!out.status.success());

    let out = xf(&db, &["cases"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("0 cases"));
    let out = xf(&db, &["visits", "--json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");

    // A step on a case the laptop does not have is refused unless forced.
    let out = xf(&db, &["case", "accept", "0192e6b4"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("xf sync"));
}

#[test]
fn prints_completions() {
    let dir = tempfile::tempdir().unwrap();
    let out = xf(&dir.path().join("x.db"), &["completions", "bash"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("_xf"));
}

#[test]
fn a_trip_under_way_is_a_draft_until_it_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("field.db");
    let trip = [
        "trip",
        "new",
        "--under-way",
        "--notified-by",
        "驻京工作组",
        "--notified-at",
        "now",
        "--departed-at",
        "now",
        "--level",
        "national",
        "--place",
        "北京",
        "--responsible-org",
        "510422100",
        "--officer",
        "赵六",
        "--transport",
        "1200.50",
    ];
    let out = xf(&db, &trip);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("not in the outbox"));
    let out = xf(&db, &["outbox", "list", "--json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");

    let out = xf(&db, &["trips", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["draft"], true);
    assert_eq!(list[0]["outcome"], "under-way");
    assert_eq!(list[0]["costs_total"], "1200.50");
    let draft = list[0]["draft_id"].as_str().unwrap().to_owned();
    let id = &draft[draft.len() - 8..];

    // A close without the return and the outcome is refused, with the fields to fix.
    let out = xf(&db, &["trip", "close", id]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--returned-at") && err.contains("--outcome"),
        "{err}"
    );

    let out = xf(
        &db,
        &[
            "trip",
            "close",
            id,
            "--returned-at",
            "now",
            "--outcome",
            "returned",
            "--lodging",
            "300",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = xf(&db, &["outbox", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["kind"], "record_return_trip");
    let out = xf(&db, &["trips", "--json"]);
    assert_eq!(text(&out.stdout).trim(), "[]", "the draft is closed");
    let out = xf(
        &db,
        &[
            "trip",
            "close",
            id,
            "--returned-at",
            "now",
            "--outcome",
            "returned",
        ],
    );
    assert!(!out.status.success(), "a trip is closed once");
}

#[test]
fn printed_names_are_the_servers_cached_labels_and_the_built_in_ones_before_a_fetch() {
    use xinfang_proto::v1::{Dictionaries, EnumLabel, TripOutcome};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("field.db");
    let trip = [
        "trip",
        "new",
        "--under-way",
        "--notified-by",
        "驻京工作组",
        "--notified-at",
        "now",
        "--departed-at",
        "now",
        "--level",
        "national",
        "--place",
        "北京",
        "--responsible-org",
        "510422100",
        "--officer",
        "赵六",
    ];
    let out = xf(&db, &trip);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Nothing cached yet: the label this xf was built with.
    let out = xf(&db, &["trips"]);
    let built_in = TripOutcome::UnderWay.label();
    assert!(
        text(&out.stdout).contains(built_in),
        "{}",
        text(&out.stdout)
    );

    // The server renamed the value: the next command shows its name, with no new xf.
    let mut store = xinfang_client::store::Store::open(&db).unwrap();
    store
        .save_dictionaries(&Dictionaries {
            enum_labels: vec![EnumLabel {
                enum_name: "xinfang.v1.TripOutcome".into(),
                number: TripOutcome::UnderWay as i32,
                value_name: "TRIP_OUTCOME_UNDER_WAY".into(),
                label: "劝返途中（新名）".into(),
            }],
            etag: "renamed".into(),
            ..Default::default()
        })
        .unwrap();
    drop(store);
    let out = xf(&db, &["trips"]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("under-way 劝返途中（新名） (draft)"),
        "{shown}"
    );
}
