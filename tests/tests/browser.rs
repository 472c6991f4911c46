//! The workbench in a real browser (issue 18): Debian's headless Chromium driven through chromedriver
//! (WebDriver, fantoccini) against a real server process on a database of its own. People sign in as each
//! role; a visit goes register → assign → the township accepts → replies, and the leader's dashboard figure
//! changes and its drill-through lists the case; another township's clerk never sees it; a wrong password,
//! an expired session and a server restart each end in a clear Chinese message. Screenshots of every page go
//! to target/screenshots/, and the first page's navigation timings to target/screenshots/timings.json.
//!
//! `scripts/test` installs chromium and chromium-driver when /usr/bin/chromedriver is missing; without them
//! this test fails saying so, never skips.

#[macro_use]
mod child;

use std::{
    io::Write,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use child::{ChildServer, database_url, free_port};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use xinfang_tests::fresh_database;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page may take to show what a step waits for. Generous: the machine builds Rust beside us.
const PATIENCE: Duration = Duration::from_secs(20);

/// The tab's own words for its county, from server/data/org-units.csv.
const TOWN_A: (&str, &str) = ("510422100", "桐子林镇");
const TOWN_B: (&str, &str) = ("510422101", "红格镇");
const OFFICE: &str = "510422XF";

/// target/screenshots, emptied once per test run so that what it holds is this run's.
fn screenshots() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("screenshots");
    std::fs::create_dir_all(&dir).expect("target/screenshots");
    dir
}

/// chromedriver on a free port, killed with the test.
struct Driver {
    process: Child,
    url: String,
    /// chromedriver's and the browsers' TMPDIR (profiles, singleton sockets), removed after them.
    _tmp: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: install Debian's chromium and chromium-driver \
                 (apt-get install chromium chromium-driver; scripts/test does it when it can)"
            );
        }
        let port = free_port();
        // A process group of its own: the browsers chromedriver starts join it, and Drop ends them all,
        // also when a failed step skips the sessions' close.
        let tmp = tempfile::tempdir().expect("a temp dir for the browsers");
        let process = Command::new(CHROMEDRIVER)
            .process_group(0)
            .env("TMPDIR", tmp.path())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < PATIENCE,
                "chromedriver did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver {
            process,
            url: format!("http://127.0.0.1:{port}"),
            _tmp: tmp,
        }
    }

    /// A new browser (its own profile: its own sessionStorage), desktop-sized, in Chinese.
    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1366,900",
                    "--lang=zh-CN",
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.process.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.process.wait();
    }
}

/// The visible text of the page, for failure messages.
async fn page_text(b: &Client) -> String {
    match b.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(e) => format!("(no body: {e})"),
    }
}

/// Waits until the element at `css` shows text containing `text`; its text.
async fn wait_text(b: &Client, css: &str, text: &str) -> String {
    let started = Instant::now();
    loop {
        if let Ok(elements) = b.find_all(Locator::Css(css)).await {
            for el in elements {
                if let Ok(t) = el.text().await
                    && t.contains(text)
                {
                    return t;
                }
            }
        }
        if started.elapsed() > PATIENCE {
            let url = b.current_url().await.map(|u| u.to_string());
            panic!(
                "no {css:?} with {text:?} within {PATIENCE:?} at {url:?}; the page says:\n{}",
                page_text(b).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(b: &Client, css: &str) {
    let started = Instant::now();
    loop {
        match b.find(Locator::Css(css)).await {
            Ok(el) if el.is_enabled().await.unwrap_or(false) => match el.click().await {
                Ok(()) => return,
                Err(e) if started.elapsed() > PATIENCE => panic!("clicking {css:?}: {e}"),
                Err(_) => {}
            },
            _ if started.elapsed() > PATIENCE => {
                panic!(
                    "no {css:?} to click; the page says:\n{}",
                    page_text(b).await
                )
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(b: &Client, css: &str, text: &str) {
    let el = b
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css:?} to fill: {e}"));
    el.clear().await.expect("clearing a field");
    el.send_keys(text).await.expect("typing");
}

async fn choose(b: &Client, css: &str, value: &str) {
    let el = b
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css:?} to choose from: {e}"));
    el.select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("choosing {value:?} in {css:?}: {e}"));
}

/// Opens `url`; when the tab is there already, reloads it, as a person would to see what changed (a
/// navigation to the same address with a fragment does not load the page again).
async fn goto(b: &Client, url: &str) {
    let here = b.current_url().await.map(|u| u.to_string()).ok();
    if here.as_deref() == Some(url) {
        b.refresh()
            .await
            .unwrap_or_else(|e| panic!("reloading {url}: {e}"));
        return;
    }
    b.goto(url)
        .await
        .unwrap_or_else(|e| panic!("opening {url}: {e}"));
}

async fn shot(b: &Client, name: &str) {
    // Charts and fonts settle after the data arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = b.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("writing a screenshot");
}

async fn sign_in(b: &Client, base: &str, user: &str, password: &str) {
    goto(b, &format!("{base}/")).await;
    fill(b, "#user-name", user).await;
    fill(b, "#password", password).await;
    click(b, "#sign-in").await;
}

/// Creates a person who signs in with `password` (`xinfang-server user add`, the password on stdin), with
/// the server's own data dir (its key file), never the machine's default one.
fn add_person(url: &str, data_dir: &Path, name: &str, role: &str, org: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xinfang-load"))
        .args(["server", "--database-url", url, "--data-dir"])
        .arg(data_dir)
        .args(["user", "add", name, "--role", role, "--org-unit", org])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running xinfang-server user add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("writing the password");
    let out = child.wait_with_output().expect("user add");
    assert!(
        out.status.success(),
        "user add {name}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The navigation timing of the page now open, and how long until `css` was on screen, in ms.
async fn timings(b: &Client, css: &str) -> Value {
    let started = Instant::now();
    b.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .expect("the first page");
    let _ = started;
    b.execute(
        "const n = performance.getEntriesByType('navigation')[0];
         const r = performance.getEntriesByType('resource').filter(e => /\\.(js|css)$/.test(e.name));
         return {
           dom_interactive_ms: n.domInteractive,
           dom_content_loaded_ms: n.domContentLoadedEventEnd,
           load_ms: n.loadEventEnd,
           ready_ms: performance.getEntriesByName(arguments[0])[0]?.startTime ?? null,
           transferred_bytes: r.reduce((s, e) => s + e.transferSize, 0) + n.transferSize,
         };",
        vec![json!("workbench-ready")],
    )
    .await
    .expect("navigation timing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workbench_in_a_browser() {
    let _ = std::fs::remove_dir_all(screenshots());
    let pool = fresh_database().await;
    let url = database_url(&pool);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut server = ChildServer::start(&url, tmp.path(), free_port());
    server.wait_serving(Duration::from_secs(60)).await;
    let base = server.address.clone();

    let password = "Xinfang#2026";
    add_person(&url, tmp.path(), "clerk", "county_clerk", OFFICE, password);
    add_person(
        &url,
        tmp.path(),
        "town-a",
        "township_clerk",
        TOWN_A.0,
        password,
    );
    add_person(
        &url,
        tmp.path(),
        "town-b",
        "township_clerk",
        TOWN_B.0,
        password,
    );
    add_person(&url, tmp.path(), "leader", "leader", OFFICE, password);
    // The other roles a person may have, each with the page it starts on and a piece of it to wait for.
    let others = [
        ("admin", "系统管理员", "#queue, main"),
        ("auditor", "审计人员", "#county-rates"),
        ("field_officer", "劝返工作人员", "#cases"),
    ];
    add_person(&url, tmp.path(), "locked", "county_clerk", OFFICE, password);
    for (role, _, _) in others {
        add_person(&url, tmp.path(), role, role, OFFICE, password);
    }

    let driver = Driver::start().await;

    // The first page, cold: interactive within a second.
    let clerk = driver.browser().await;
    goto(&clerk, &format!("{base}/")).await;
    let first = timings(&clerk, "#sign-in").await;
    eprintln!("first page: {first}");
    std::fs::write(
        screenshots().join("timings.json"),
        serde_json::to_string_pretty(&first).expect("json"),
    )
    .expect("timings.json");
    let interactive = first["dom_content_loaded_ms"].as_f64().expect("a timing");
    assert!(
        interactive < 1000.0,
        "the first page took {interactive} ms to be interactive"
    );
    shot(&clerk, "01-login").await;

    // A wrong password says so, in Chinese.
    sign_in(&clerk, &base, "clerk", "wrong password").await;
    wait_text(&clerk, "#login-status", "用户名或密码错误").await;
    shot(&clerk, "02-login-wrong-password").await;

    // Five wrong passwords in a row lock the account; the page says until when.
    for attempt in 1..=5 {
        sign_in(
            &clerk,
            &base,
            "locked",
            &format!("wrong password {attempt}"),
        )
        .await;
        wait_text(&clerk, "#login-status", "错误").await;
    }
    sign_in(&clerk, &base, "locked", password).await;
    wait_text(
        &clerk,
        "#login-status",
        "账户因多次密码错误已锁定，请于北京时间",
    )
    .await;
    shot(&clerk, "02-login-locked").await;

    // The county clerk registers a visit about TOWN_A.
    sign_in(&clerk, &base, "clerk", password).await;
    wait_text(&clerk, "#who", "县信访局工作人员").await;
    goto(&clerk, &format!("{base}/#/register")).await;
    let marker = format!("浏览器测试：拖欠工资 {}", std::process::id());
    fill(&clerk, "#reg-name", "张三").await;
    fill(&clerk, "#reg-id", "510422198001011235").await;
    fill(&clerk, "#reg-phone", "13812345678").await;
    fill(&clerk, "#reg-content", &marker).await;
    fill(&clerk, "#reg-demands", "支付拖欠工资").await;
    choose(&clerk, "#reg-category", "labor").await;
    choose(&clerk, "#reg-org", TOWN_A.0).await;
    shot(&clerk, "03-register").await;
    click(&clerk, "#reg-submit").await;
    wait_text(&clerk, "#reg-status", "已登记").await;
    let case_id = case_id_in_link(&clerk).await;

    // A visit recorded late, forty days after it happened: its 分办 clock (15 days) has run out.
    goto(&clerk, &format!("{base}/#/register")).await;
    let late = format!("浏览器测试：补录来访 {}", std::process::id());
    let forty_days_ago = (chrono::Utc::now() + chrono::Duration::hours(8)
        - chrono::Duration::days(40))
    .format("%Y-%m-%dT%H:%M")
    .to_string();
    // The form is drawn once the dictionaries are in.
    wait_text(&clerk, "#register-form", "登记").await;
    clerk
        .execute(
            "document.getElementById('reg-when').value = arguments[0]",
            vec![json!(forty_days_ago)],
        )
        .await
        .expect("setting the visit's time");
    fill(&clerk, "#reg-name", "王五").await;
    fill(&clerk, "#reg-content", &late).await;
    fill(&clerk, "#reg-demands", "解决宅基地纠纷").await;
    choose(&clerk, "#reg-org", TOWN_B.0).await;
    click(&clerk, "#reg-submit").await;
    wait_text(&clerk, "#reg-status", "已登记").await;
    let late_id = case_id_in_link(&clerk).await;

    // The queue lists it; the clerk forwards (转送) it to TOWN_A.
    goto(&clerk, &format!("{base}/#/queue")).await;
    wait_text(&clerk, "#queue", &marker).await;
    shot(&clerk, "04-queue").await;
    click(&clerk, &format!("button[data-assign='{case_id}']")).await;
    wait_text(&clerk, "#queue", &format!("已转送{}", TOWN_A.1)).await;

    // The overdue board: the late visit, overdue by its 分办 clock, with days.
    goto(&clerk, &format!("{base}/#/board")).await;
    let board = wait_text(&clerk, "#board", "已超期").await;
    assert!(
        board.contains("已超期") && page_text(&clerk).await.contains("已超期 1 件"),
        "the late visit is not on the board as overdue: {board}"
    );
    assert!(
        clerk
            .find(Locator::Css(&format!("#board a[data-case='{late_id}']")))
            .await
            .is_ok(),
        "the board does not link the late case"
    );
    shot(&clerk, "05-board").await;

    // The leader's dashboard before the township acts: no acceptance counted for TOWN_A yet.
    let leader = driver.browser().await;
    sign_in(&leader, &base, "leader", password).await;
    wait_text(&leader, "#who", "领导").await;
    let before = wait_text(&leader, "#township-ranking", TOWN_A.1).await;
    eprintln!("ranking before: {before}");

    // TOWN_A's clerk accepts it from the inbox and replies on the case page.
    let town_a = driver.browser().await;
    sign_in(&town_a, &base, "town-a", password).await;
    wait_text(&town_a, "#inbox", &marker).await;
    shot(&town_a, "06-inbox").await;
    // On a tablet held upright the inbox still fits: its table scrolls, the header wraps.
    town_a
        .set_window_size(820, 1180)
        .await
        .expect("window size");
    shot(&town_a, "06-inbox-tablet").await;
    town_a
        .set_window_size(1366, 900)
        .await
        .expect("window size");
    click(&town_a, &format!("button[data-accept='{case_id}']")).await;
    wait_text(&town_a, "#inbox", "已受理").await;

    // The county office supervises it (督办); the township answers the supervision from the case page.
    goto(&clerk, &format!("{base}/#/case/{case_id}")).await;
    fill(&clerk, "#supervise-reason", "群众反映强烈，限期办理").await;
    click(&clerk, "#act-supervise").await;
    wait_text(&clerk, "#case-status", "已督办").await;
    wait_text(&clerk, "#case-clocks", "督办回复").await;
    goto(&town_a, &format!("{base}/#/case/{case_id}")).await;
    fill(
        &town_a,
        "#supervision-reply",
        "已约谈企业负责人，制定支付计划。",
    )
    .await;
    click(&town_a, "#act-supervision-reply").await;
    wait_text(&town_a, "#case-status", "已回复督办").await;
    wait_text(&town_a, "#case-linked", "无经费申请").await;
    // 延期: 30 days, approved by the unit's head, the petitioner told in writing today.
    click(&town_a, "#extend summary").await;
    fill(&town_a, "#extend-by", "桐子林镇镇长").await;
    fill(&town_a, "#extend-reason", "需协调企业分期支付").await;
    click(&town_a, "#act-extend").await;
    wait_text(&town_a, "#case-status", "已延期").await;
    wait_text(&town_a, "main", "30天（桐子林镇镇长批准").await;
    wait_text(&town_a, "#case-actions", "答复").await;
    fill(
        &town_a,
        "#reply-opinion",
        "经核实，已督促企业于本月底前支付拖欠工资。",
    )
    .await;
    click(&town_a, "#act-reply").await;
    wait_text(&town_a, "#case-status", "已答复").await;
    wait_text(&town_a, "#case-timeline", "答复").await;
    // The petitioner as the server shows a township clerk: masked.
    let people = wait_text(&town_a, "#case-petitioners", "张三").await;
    assert!(
        !people.contains("510422198001011235"),
        "a township clerk sees the full ID number: {people}"
    );
    shot(&town_a, "07-case").await;

    // Another township's clerk never sees it: not in its inbox, not in its list, not by its address.
    let town_b = driver.browser().await;
    sign_in(&town_b, &base, "town-b", password).await;
    wait_text(&town_b, "main", "没有待办的案件").await;
    goto(&town_b, &format!("{base}/#/cases")).await;
    wait_text(&town_b, "#cases", "编号").await;
    assert!(
        !page_text(&town_b).await.contains(&marker),
        "{} sees {}'s case in its list",
        TOWN_B.1,
        TOWN_A.1
    );
    goto(&town_b, &format!("{base}/#/case/{case_id}")).await;
    wait_text(&town_b, ".notice.error", "").await;
    assert!(
        !page_text(&town_b).await.contains(&marker),
        "{} opens {}'s case",
        TOWN_B.1,
        TOWN_A.1
    );
    shot(&town_b, "08-other-township").await;

    // The late visit goes to TOWN_B, whose clerk declines it (不予受理) with one of the six grounds.
    goto(&clerk, &format!("{base}/#/queue")).await;
    wait_text(&clerk, "#queue", &late).await;
    choose(&clerk, "#queue select[name='unit']", TOWN_B.0).await;
    click(&clerk, &format!("button[data-assign='{late_id}']")).await;
    wait_text(&clerk, "#queue", &format!("已转送{}", TOWN_B.1)).await;
    goto(&town_b, &format!("{base}/#/inbox")).await;
    wait_text(&town_b, "#inbox", &late).await;
    goto(&town_b, &format!("{base}/#/case/{late_id}")).await;
    choose(&town_b, "select[name='ground']", "3").await;
    fill(
        &town_b,
        "input[name='reason']",
        "同一事项已在县自然资源局办理中",
    )
    .await;
    click(&town_b, "#act-decline").await;
    wait_text(&town_b, "#case-status", "已不予受理").await;
    wait_text(&town_b, "#case-timeline", "不予受理").await;

    // The leader's figure for TOWN_A changed, and its drill-through lists the case.
    leader.refresh().await.expect("reload");
    let after = wait_text(&leader, "#township-ranking", TOWN_A.1).await;
    eprintln!("ranking after: {after}");
    assert_ne!(before, after, "the dashboard did not change");
    // Tall enough for the table and both charts.
    leader
        .set_window_size(1366, 1500)
        .await
        .expect("window size");
    shot(&leader, "09-dashboard").await;
    leader
        .set_window_size(1366, 900)
        .await
        .expect("window size");
    let dashboard_ms = leader
        .execute(
            "return performance.getEntriesByName('dashboard-rendered').at(-1)?.duration ?? null",
            vec![],
        )
        .await
        .expect("dashboard timing");
    eprintln!("dashboard rendered in {dashboard_ms} ms");
    click(
        &leader,
        &format!(
            "a.drill[data-org='{}'][data-rate='timelyAcceptanceUnit']",
            TOWN_A.0
        ),
    )
    .await;
    wait_text(&leader, "#drill", &marker[..marker.len().min(30)]).await;
    assert!(
        leader
            .find(Locator::Css(&format!("#drill a[data-case='{case_id}']")))
            .await
            .is_ok(),
        "the drill-through does not list the case"
    );
    shot(&leader, "10-drill").await;
    // A fund request the bureau meeting passed waits for the leader, who approves it there.
    let fund_id = fund_request_waiting(&pool, &base).await;
    goto(&leader, &format!("{base}/#/funds")).await;
    wait_text(&leader, "#funds-waiting", "法律顾问服务费").await;
    shot(&leader, "11-funds").await;
    click(&leader, &format!("button[data-approve='{fund_id}']")).await;
    wait_text(&leader, "#funds-waiting", "已批准").await;

    // The year's self-evaluation report, rendered, with its downloads.
    goto(&leader, &format!("{base}/#/report?year={}", this_year())).await;
    wait_text(&leader, "#report", "自评").await;
    wait_text(&leader, "main", "下载 Excel").await;
    shot(&leader, "12-report").await;
    // Both downloads are made in the page (Blob URLs); the server's Content-Security-Policy lets them be.
    leader
        .execute(
            "window.cspViolations = []; \
             document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(e.violatedDirective));",
            vec![],
        )
        .await
        .expect("a CSP listener");
    click(&leader, "#report-md").await;
    click(&leader, "#report-xlsx").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let violations = leader
        .execute("return window.cspViolations", vec![])
        .await
        .expect("CSP violations");
    assert_eq!(
        violations,
        json!([]),
        "the report's downloads break the CSP"
    );

    // A letter, 交办 to TOWN_A with a deadline; the township objects (异议), the office refuses the objection,
    // the township accepts and replies with its completion report, the office confirms it (审核认定办结).
    goto(&clerk, &format!("{base}/#/register")).await;
    choose(&clerk, "#reg-kind", "letter").await;
    let letter = format!("浏览器测试：道路损坏 {}", std::process::id());
    fill(&clerk, "#reg-name", "李四").await;
    fill(&clerk, "#reg-content", &letter).await;
    fill(&clerk, "#reg-demands", "尽快修复道路").await;
    choose(&clerk, "#reg-category", "urban_construction").await;
    choose(&clerk, "#reg-org", TOWN_A.0).await;
    click(&clerk, "#reg-submit").await;
    wait_text(&clerk, "#reg-status", "已登记").await;
    let letter_id = case_id_in_link(&clerk).await;
    goto(&clerk, &format!("{base}/#/queue")).await;
    wait_text(&clerk, "#queue", &letter).await;
    choose(&clerk, "#queue select[name='mode']", "2").await;
    click(&clerk, &format!("button[data-assign='{letter_id}']")).await;
    wait_text(&clerk, "#queue", &format!("已交办{}", TOWN_A.1)).await;
    goto(&town_a, &format!("{base}/#/case/{letter_id}")).await;
    wait_text(&town_a, "#case-actions", "提出异议").await;
    fill(&town_a, "input[name='objection']", "道路属县交通运输局管养").await;
    click(&town_a, "#act-object").await;
    wait_text(&town_a, "#case-status", "已提出异议").await;
    goto(&clerk, &format!("{base}/#/case/{letter_id}")).await;
    click(&clerk, "#act-objection-refuse").await;
    wait_text(&clerk, "#case-status", "异议不成立").await;
    // The township's tab still shows the case as it was: a reload shows the office's decision.
    goto(&town_a, &format!("{base}/#/case/{letter_id}")).await;
    wait_text(&town_a, "#case-content", &letter).await;
    click(&town_a, "#act-accept").await;
    wait_text(&town_a, "#case-status", "已受理").await;
    fill(&town_a, "#reply-opinion", "已安排修复，月底前完工。").await;
    fill(
        &town_a,
        "#reply-report",
        "办结报告：道路已修复，经现场核查。",
    )
    .await;
    click(&town_a, "#act-reply").await;
    wait_text(&town_a, "#case-status", "已答复").await;
    goto(&clerk, &format!("{base}/#/case/{letter_id}")).await;
    click(&clerk, "#act-confirm").await;
    wait_text(&clerk, "#case-status", "已认定办结").await;
    wait_text(&clerk, "#case-timeline", "审核认定办结").await;
    shot(&clerk, "13-case-assigned-objected-confirmed").await;

    // The other roles sign in and land on their own page.
    let other = driver.browser().await;
    for (user, label, landing) in others {
        sign_in(&other, &base, user, password).await;
        wait_text(&other, "#who", label).await;
        wait_text(&other, landing, "").await;
        shot(&other, &format!("14-{user}")).await;
        click(&other, "#sign-out").await;
        wait_text(&other, "#login-status", "已退出登录").await;
    }
    let _ = other.close().await;

    // The server stops: the page says it cannot reach it; back up, the same tab works again.
    server.stop();
    click(&clerk, "nav a[href='#/cases']").await;
    wait_text(&clerk, ".notice.error", "无法连接服务器").await;
    shot(&clerk, "15-server-down").await;
    server.restart();
    server.wait_serving(Duration::from_secs(60)).await;
    goto(&clerk, &format!("{base}/#/board")).await;
    wait_text(&clerk, "main", "已超期").await;

    // An expired session sends the clerk back to sign-in, saying why.
    expire_sessions(&pool, "clerk").await;
    goto(&clerk, &format!("{base}/#/cases")).await;
    wait_text(&clerk, "#login-status", "登录已超时").await;
    shot(&clerk, "16-session-expired").await;

    // Signing out ends the session and says so.
    sign_in(&clerk, &base, "clerk", password).await;
    wait_text(&clerk, "#who", "县信访局工作人员").await;
    click(&clerk, "#sign-out").await;
    wait_text(&clerk, "#login-status", "已退出登录").await;

    for b in [clerk, leader, town_a, town_b] {
        let _ = b.close().await;
    }
}

/// The case id of the "查看案件" link after registering.
async fn case_id_in_link(b: &Client) -> String {
    let el = b
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#reg-case"))
        .await
        .expect("the registered case's link");
    let href = el.attr("href").await.expect("href").expect("an href");
    href.rsplit('/').next().expect("a case id").to_owned()
}

/// Ends `user`'s sessions as the idle timeout would: their last use moved back past the 30 minutes.
async fn expire_sessions(pool: &sqlx::PgPool, user: &str) {
    let moved = sqlx::query(
        "UPDATE sessions SET last_used_at = now() - interval '1 hour', created_at = now() - interval '1 hour' \
         WHERE ended_at IS NULL AND person_id = (SELECT id FROM people WHERE user_name = $1)",
    )
    .bind(user)
    .execute(pool)
    .await
    .expect("expiring the sessions")
    .rows_affected();
    assert!(moved > 0, "{user} has no session to expire");
}

fn this_year() -> i32 {
    use chrono::Datelike;
    (chrono::Utc::now() + chrono::Duration::hours(8)).year()
}

/// A fund request of this year that the bureau meeting approved (局务会通过), made over gRPC by a county
/// clerk: what the leader's approval list shows. Its id.
async fn fund_request_waiting(pool: &sqlx::PgPool, address: &str) -> String {
    use xinfang_proto::v1::{
        CreateBudgetRequest, Date, FundPurpose, RecordBureauDecisionRequest,
        SubmitFundRequestRequest,
    };
    use xinfang_tests::request_id;
    let mut conn = pool.acquire().await.expect("connection");
    let (_, token) = xinfang_server::auth::issue_token(
        &mut conn,
        xinfang_server::auth::Role::CountyClerk,
        OFFICE,
        "funds desk",
    )
    .await
    .expect("a clerk token");
    let mut client = xinfang_client::Client::connect(address, Some(&token))
        .await
        .expect("a gRPC client");
    let year = this_year();
    client
        .funds
        .create_budget(CreateBudgetRequest {
            request_id: request_id(),
            year,
            category: "other_key_work".into(),
            document: "盐财资行〔2026〕63号".into(),
            amount: "50000".into(),
            ..Default::default()
        })
        .await
        .expect("a budget");
    let submitted = client
        .funds
        .submit_fund_request(SubmitFundRequestRequest {
            request_id: request_id(),
            year,
            category: "other_key_work".into(),
            purpose: FundPurpose::Lawyer as i32,
            description: "法律顾问服务费".into(),
            amount: "3000".into(),
            payee: "四川某律师事务所".into(),
            ..Default::default()
        })
        .await
        .expect("a fund request")
        .into_inner();
    let today = chrono::Utc::now() + chrono::Duration::hours(8);
    client
        .funds
        .record_bureau_decision(RecordBureauDecisionRequest {
            request_id: request_id(),
            fund_request_id: submitted.id.clone(),
            approve: true,
            meeting_reference: "局务会".into(),
            meeting_date: Some(Date {
                year,
                month: chrono::Datelike::month(&today) as i32,
                day: chrono::Datelike::day(&today) as i32,
            }),
            ..Default::default()
        })
        .await
        .expect("the bureau's decision");
    submitted.id
}
