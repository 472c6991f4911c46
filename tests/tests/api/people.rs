//! People and sign-in (issue #18): a name and a password give a session token that acts as the person's own
//! principal (role table, read rule), ends when idle, at sign-out, on disable and on a password change, and
//! locks after five failures in a row. Every sign-in, failure, lockout and sign-out is in the audit trail.

use std::{ffi::OsString, io::Write, process::Stdio, time::Duration};

use tonic::{Code, Status};
use tonic_types::StatusExt;
use xinfang_client::Client;
use xinfang_proto::v1::{
    AssignCaseRequest, AssignmentMode, ChangePasswordRequest, GetCallerRequest, GetCaseRequest,
    Level, ListOrgUnitsRequest, MatterInput, Petitioner, RegisterVisitRequest, Role as RoleProto,
    SignInRequest, SignInResponse, SignOutRequest, Visit,
};
use xinfang_server::{
    auth::{Role, SessionPolicy},
    people,
};
use xinfang_tests::{TestApp, request_id, spawn_app, with_sessions};

const TOWN_A: &str = "510422100";
const TOWN_B: &str = "510422101";
const PASSWORD: &str = "桐子林 correct horse";

async fn add(app: &TestApp, name: &str, role: Role, org: &str) {
    people::add(&app.pool, name, role, org, None, PASSWORD)
        .await
        .expect("adding a person");
}

async fn sign_in(app: &TestApp, name: &str, password: &str) -> Result<SignInResponse, Status> {
    app.client_with(None)
        .session
        .sign_in(SignInRequest {
            user_name: name.into(),
            password: password.into(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn session(app: &TestApp, name: &str, password: &str) -> Client {
    let signed_in = sign_in(app, name, password).await.expect("signing in");
    assert!(signed_in.session_token.starts_with("xfs_"));
    app.client_with(Some(&signed_in.session_token))
}

/// The code and message of a call that needs nothing but a valid caller.
async fn probe(client: &mut Client) -> Result<(), Status> {
    client
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .map(|_| ())
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Registers a visit about a problem in the county and forwards its case to `org`; the case id.
async fn case_assigned_to(app: &TestApp, org: &str) -> String {
    let mut county = app.client.clone();
    let visit = Visit {
        visited_at: Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() - 3600,
            nanos: 0,
        }),
        level: Level::County as i32,
        place_name: "盐边县信访局接待大厅".into(),
        headcount: 1,
        petitioners: vec![Petitioner {
            name: "某人".into(),
            address: "攀枝花市盐边县桐子林镇".into(),
            ..Default::default()
        }],
        matter: Some(MatterInput {
            content: "拖欠工资三个月".into(),
            demands: "要求支付工资".into(),
            category: "labor".into(),
            problem_org_code: org.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let registered = county
        .visits
        .register_visit(RegisterVisitRequest {
            request_id: request_id(),
            visit: Some(visit),
        })
        .await
        .expect("registering a visit")
        .into_inner();
    let case_id = registered.classification.unwrap().case_id;
    let case = county
        .cases
        .get_case(GetCaseRequest {
            id: case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    county
        .cases
        .assign_case(AssignCaseRequest {
            request_id: request_id(),
            case_id: case_id.clone(),
            etag: case.etag,
            mode: AssignmentMode::Forward as i32,
            responsible_org_code: org.into(),
            ..Default::default()
        })
        .await
        .expect("assigning the case");
    case_id
}

#[tokio::test]
async fn a_session_acts_as_the_person_and_reads_only_its_own_township() {
    let app = spawn_app().await;
    add(&app, "li.town", Role::TownshipClerk, TOWN_A).await;
    let own = case_assigned_to(&app, TOWN_A).await;
    let other = case_assigned_to(&app, TOWN_B).await;

    let signed_in = sign_in(&app, "li.town", PASSWORD)
        .await
        .expect("signing in");
    let caller = signed_in.caller.expect("the caller");
    assert_eq!(caller.role(), RoleProto::TownshipClerk);
    assert_eq!(caller.name, "li.town");
    assert_eq!(caller.org_unit.unwrap().code, TOWN_A);
    assert_eq!(signed_in.idle_timeout.unwrap().seconds, 30 * 60);

    let mut person = app.client_with(Some(&signed_in.session_token));
    let asked = person
        .session
        .get_caller(GetCallerRequest {})
        .await
        .expect("GetCaller with a session token")
        .into_inner();
    assert_eq!(asked.principal_id, caller.principal_id);
    person
        .cases
        .get_case(GetCaseRequest { id: own })
        .await
        .expect("its own township's case");
    let refused = person
        .cases
        .get_case(GetCaseRequest { id: other })
        .await
        .unwrap_err();
    assert!(
        matches!(refused.code(), Code::NotFound | Code::PermissionDenied),
        "{refused:?}"
    );
    // The role table, as for a token of the role.
    let denied = person
        .cases
        .assign_case(AssignCaseRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(audit_count(&app, "sign_in").await, 1);
    // The token is kept as a hash only.
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE token_hash = sha256($1::bytea)")
            .bind(signed_in.session_token.as_bytes())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn wrong_names_and_passwords_get_one_answer_and_five_in_a_row_lock_the_account() {
    let app = spawn_app().await;
    add(&app, "wang.desk", Role::CountyClerk, "510422XF").await;

    let unknown = sign_in(&app, "nobody", PASSWORD).await.unwrap_err();
    let wrong = sign_in(&app, "wang.desk", "not the password")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert_eq!(
        (wrong.code(), wrong.message()),
        (unknown.code(), unknown.message())
    );
    let empty = sign_in(&app, "", PASSWORD).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(
        empty.get_details_bad_request().unwrap().field_violations[0].field,
        "user_name"
    );

    // Failures count in a row: a success starts the count again.
    for _ in 0..3 {
        sign_in(&app, "wang.desk", "not the password")
            .await
            .unwrap_err();
    }
    sign_in(&app, "wang.desk", PASSWORD)
        .await
        .expect("4 failures do not lock");
    for _ in 0..4 {
        let e = sign_in(&app, "wang.desk", "not the password")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
    }
    let locked = sign_in(&app, "wang.desk", "not the password")
        .await
        .unwrap_err();
    assert_eq!(locked.code(), Code::FailedPrecondition, "{locked:?}");
    let until = locked
        .message()
        .strip_prefix("account locked until ")
        .expect("the lock's end in the message");
    let until = chrono::DateTime::parse_from_rfc3339(until).expect("RFC 3339");
    let minutes =
        (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds() as f64 / 60.0;
    assert!((14.0..=15.1).contains(&minutes), "{minutes}");
    assert_eq!(
        locked.get_details_error_info().unwrap().reason,
        "ACCOUNT_LOCKED"
    );

    // Locked: even the right password is refused, without being checked.
    let still = sign_in(&app, "wang.desk", PASSWORD).await.unwrap_err();
    assert_eq!(still.code(), Code::FailedPrecondition);
    assert!(still.message().starts_with("account locked until "));

    assert_eq!(audit_count(&app, "sign_in.failed").await, 1 + 1 + 3 + 5);
    assert_eq!(audit_count(&app, "sign_in.locked").await, 1);
    assert_eq!(audit_count(&app, "sign_in.refused").await, 1);
    assert_eq!(audit_count(&app, "sign_in").await, 1);
    // Never a password in the trail.
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE detail LIKE '%password%' AND detail LIKE '%not the%' \
         OR detail LIKE '%correct horse%' OR subject LIKE '%correct horse%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0);

    // Fifteen minutes later (moved back in the database), the right password works again.
    sqlx::query("UPDATE people SET locked_until = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    sign_in(&app, "wang.desk", PASSWORD)
        .await
        .expect("unlocked");
}

#[tokio::test]
async fn an_idle_session_expires_and_signing_out_ends_one_at_once() {
    let policy = SessionPolicy {
        idle: Duration::from_secs(2),
        max_age: Duration::from_secs(3600),
    };
    let app = with_sessions(policy, spawn_app()).await;
    add(&app, "zhao.leader", Role::Leader, "510422").await;

    let signed_in = sign_in(&app, "zhao.leader", PASSWORD).await.unwrap();
    assert_eq!(signed_in.idle_timeout.unwrap().seconds, 2);
    let mut client = app.client_with(Some(&signed_in.session_token));
    // Each call starts the idle time again: 4 s of calls 1.2 s apart outlive the 2 s timeout.
    for _ in 0..4 {
        probe(&mut client).await.expect("a session in use");
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    probe(&mut client).await.expect("still in use");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = probe(&mut client).await.unwrap_err();
    assert_eq!(expired.code(), Code::Unauthenticated);
    assert_eq!(expired.message(), "session expired");

    let mut client = session(&app, "zhao.leader", PASSWORD).await;
    probe(&mut client).await.expect("a new session");
    client
        .session
        .sign_out(SignOutRequest {})
        .await
        .expect("signing out");
    let ended = probe(&mut client).await.unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated);
    assert_ne!(ended.message(), "session expired");
    assert_eq!(audit_count(&app, "sign_out").await, 1);

    // A bearer token has no session: signing out does nothing to it.
    let mut admin = app.client.clone();
    admin
        .session
        .sign_out(SignOutRequest {})
        .await
        .expect("no-op");
    probe(&mut admin).await.expect("the token still works");
}

#[tokio::test]
async fn a_busy_session_still_ends_at_its_absolute_age() {
    let policy = SessionPolicy {
        idle: Duration::from_secs(60),
        max_age: Duration::from_secs(2),
    };
    let app = with_sessions(policy, spawn_app()).await;
    add(&app, "feng.desk", Role::CountyClerk, "510422XF").await;
    let mut client = session(&app, "feng.desk", PASSWORD).await;
    for _ in 0..3 {
        probe(&mut client).await.expect("in use and young");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let expired = probe(&mut client).await.unwrap_err();
    assert_eq!(
        (expired.code(), expired.message()),
        (Code::Unauthenticated, "session expired")
    );
}

#[tokio::test]
async fn a_disabled_person_is_refused_like_a_wrong_password_and_loses_its_sessions() {
    let app = spawn_app().await;
    add(&app, "sun.audit", Role::Auditor, "510422").await;
    let mut client = session(&app, "sun.audit", PASSWORD).await;
    probe(&mut client).await.unwrap();

    people::disable(&app.pool, "sun.audit")
        .await
        .expect("disabling");
    assert_eq!(
        probe(&mut client).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let refused = sign_in(&app, "sun.audit", PASSWORD).await.unwrap_err();
    let wrong = sign_in(&app, "nobody", PASSWORD).await.unwrap_err();
    assert_eq!(
        (refused.code(), refused.message()),
        (wrong.code(), wrong.message())
    );
    assert_eq!(audit_count(&app, "person.disabled").await, 1);
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    add(&app, "qian.field", Role::FieldOfficer, "510422XF").await;
    let mut first = session(&app, "qian.field", PASSWORD).await;
    let mut second = session(&app, "qian.field", PASSWORD).await;
    let new = "一个新的足够长的密码";

    let change = |old: &str, new: &str| ChangePasswordRequest {
        old_password: old.into(),
        new_password: new.into(),
    };
    let wrong = first
        .session
        .change_password(change("not the password", new))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let short = first
        .session
        .change_password(change(PASSWORD, "short"))
        .await
        .unwrap_err();
    assert_eq!(short.code(), Code::InvalidArgument);
    assert_eq!(
        short.get_details_bad_request().unwrap().field_violations[0].field,
        "new_password"
    );

    first
        .session
        .change_password(change(PASSWORD, new))
        .await
        .expect("changing the password");
    probe(&mut first)
        .await
        .expect("the session that changed it stays");
    assert_eq!(
        probe(&mut second).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        sign_in(&app, "qian.field", PASSWORD)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    sign_in(&app, "qian.field", new)
        .await
        .expect("the new password");
    assert_eq!(audit_count(&app, "password.changed").await, 1);

    // A token has no password to change.
    let token = app
        .client
        .clone()
        .session
        .change_password(change(PASSWORD, new))
        .await
        .unwrap_err();
    assert_eq!(token.code(), Code::FailedPrecondition);
}

/// A URL of the test database that another process can use (the harness's cluster listens on a unix socket
/// only; `DATABASE_URL`, when set, carries a password the pool does not give back).
fn database_url(app: &TestApp) -> String {
    let options = app.pool.connect_options();
    let database = options.get_database().expect("a test database name");
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let (head, query) = url
            .split_once('?')
            .map_or((url.as_str(), String::new()), |(h, q)| (h, format!("?{q}")));
        let end = head
            .find("://")
            .map(|i| i + 3)
            .and_then(|start| head[start..].find('/').map(|i| start + i))
            .unwrap_or(head.len());
        return format!("{}/{database}{query}", &head[..end]);
    }
    let socket = options.get_socket().expect("a unix socket");
    format!(
        "postgres://{}@localhost:{}/{database}?host={}",
        options.get_username(),
        options.get_port(),
        socket.display()
    )
}

/// Runs `xinfang-server user …` (the load tool's `server` subcommand: the same `commands::run` as the
/// binary) on the app's database with `stdin` piped in: status, stdout, stderr.
fn user_command(
    app: &TestApp,
    dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    let key_file = dir.join("data-key");
    if !key_file.exists() {
        app.keys
            .ring()
            .write(&key_file)
            .expect("writing the key file");
    }
    let mut argv: Vec<OsString> = vec![
        "server".into(),
        "--database-url".into(),
        database_url(app).into(),
        "--data-dir".into(),
        dir.into(),
        "--data-key-file".into(),
        key_file.into(),
        "user".into(),
    ];
    argv.extend(args.iter().map(OsString::from));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xinfang-load"))
        .args(&argv)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running xinfang-server user");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        !out.contains(stdin.trim()) || stdin.trim().is_empty(),
        "password printed: {out}"
    );
    assert!(
        !err.contains(stdin.trim()) || stdin.trim().is_empty(),
        "password logged: {err}"
    );
    (output.status.success(), out, err)
}

#[tokio::test]
async fn the_administrator_adds_resets_disables_and_lists_people_with_the_binary() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let first = "第一个密码 long enough";
    let (ok, _, err) = user_command(
        &app,
        dir.path(),
        &[
            "add",
            "zhou.town",
            "--role",
            "township_clerk",
            "--org-unit",
            TOWN_B,
        ],
        &format!("{first}\n"),
    );
    assert!(ok, "{err}");
    let caller = sign_in(&app, "zhou.town", first)
        .await
        .expect("signing in")
        .caller
        .unwrap();
    assert_eq!(caller.role(), RoleProto::TownshipClerk);
    assert_eq!(caller.org_unit.unwrap().code, TOWN_B);

    // Refused: a township clerk of the county, a short password, the same name twice.
    let (ok, _, err) = user_command(
        &app,
        dir.path(),
        &[
            "add",
            "wu.bad",
            "--role",
            "township_clerk",
            "--org-unit",
            "510422",
        ],
        "another long password\n",
    );
    assert!(!ok && err.contains("org"), "{err}");
    let (ok, _, err) = user_command(
        &app,
        dir.path(),
        &[
            "add",
            "wu.short",
            "--role",
            "leader",
            "--org-unit",
            "510422",
        ],
        "short\n",
    );
    assert!(!ok && err.contains("password"), "{err}");
    let (ok, _, _) = user_command(
        &app,
        dir.path(),
        &[
            "add",
            "zhou.town",
            "--role",
            "leader",
            "--org-unit",
            "510422",
        ],
        "another long password\n",
    );
    assert!(!ok);

    let second = "第二个密码 long enough";
    let (ok, _, err) = user_command(
        &app,
        dir.path(),
        &["passwd", "zhou.town"],
        &format!("{second}\n"),
    );
    assert!(ok, "{err}");
    assert_eq!(
        sign_in(&app, "zhou.town", first).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    sign_in(&app, "zhou.town", second)
        .await
        .expect("the new password");

    let (ok, out, _) = user_command(&app, dir.path(), &["list"], "");
    assert!(ok);
    assert!(
        out.contains("zhou.town\ttownship_clerk\t510422101"),
        "{out}"
    );
    assert!(out.contains("active"), "{out}");

    let (ok, _, err) = user_command(&app, dir.path(), &["disable", "zhou.town"], "");
    assert!(ok, "{err}");
    assert_eq!(
        sign_in(&app, "zhou.town", second).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let (_, out, _) = user_command(&app, dir.path(), &["list"], "");
    assert!(out.contains("disabled"), "{out}");
    assert_eq!(audit_count(&app, "person.added").await, 1);
    assert_eq!(audit_count(&app, "password.reset").await, 1);
}
