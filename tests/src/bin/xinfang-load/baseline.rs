//! The PostgreSQL limit: pgbench running the statements the service runs for one RegisterVisit (read from
//! `server/src/visits/store.rs`, `cases/store.rs`, `sync/store.rs`, `idempotency/`, `audit/store.rs` and the
//! auth lookup; keep them in step), and a set-based batched insert of the rows a Push of visits writes, against the same database at
//! the same concurrency. And EXPLAIN ANALYZE of the indicator queries (`server/src/metrics/store.rs`).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, Utc};
use prost::Message;
use serde::Serialize;
use sha2::Digest;
use sqlx::PgPool;
use tokio::process::Command;
use xinfang_server::{
    auth::{self, Role},
    kernel::time::{self, shanghai},
    pii::{Field, PiiKeys},
};

use crate::{
    load::Stats,
    world::{BUREAU, CATEGORIES, DEPARTMENTS, TEXTS, TOWNSHIPS},
};

/// How pgbench reaches the database.
#[derive(Debug, Clone)]
pub struct Pg {
    pub pgbench: PathBuf,
    pub socket_dir: PathBuf,
    pub user: String,
    pub database: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BaselineResult {
    /// pgbench, or h2load for the cross-check of the load generator.
    pub tool: String,
    pub name: String,
    pub clients: usize,
    pub seconds: f64,
    pub transactions: u64,
    pub failed: u64,
    pub tps: f64,
    /// Items per transaction × tps (operations for the batched insert).
    pub item_rate: f64,
    pub latency: Stats,
    pub cpu: Option<crate::procs::CpuShare>,
    pub note: String,
}

/// Known baseline persons, each with a case, so that a third of the registrations take the repeat path
/// as in the load.
const KNOWN: u32 = 2000;
const REPEAT_PCT: u32 = 30;

fn sql_array(items: impl IntoIterator<Item = &'static str>) -> String {
    let quoted: Vec<String> = items.into_iter().map(|s| format!("'{s}'")).collect();
    format!("(ARRAY[{}])", quoted.join(","))
}

fn cats() -> String {
    sql_array(CATEGORIES)
}

fn orgs() -> String {
    sql_array(TOWNSHIPS.iter().chain(&DEPARTMENTS).map(|(c, _)| *c))
}

/// The upsert of one petitioner (`visits::store::upsert_petitioner`), accumulating the ids, representative
/// flags and ID-number hashes as array literals for the statements that take them as arrays.
fn upsert(hash_expr: &str, first: bool) -> String {
    let returning = if first {
        "'{' || id || '}' AS pids, '{f}' AS reps, '{\"\\\\x' || encode(id_hash, 'hex') || '\"}' AS hashes"
            .to_owned()
    } else {
        "rtrim(:pids, '}') || ',' || id || '}' AS pids, rtrim(:reps, '}') || ',f}' AS reps, \
         rtrim(:hashes, '}') || ',\"\\\\x' || encode(id_hash, 'hex') || '\"}' AS hashes"
            .to_owned()
    };
    format!(
        "WITH inserted AS (INSERT INTO petitioners (id, name, id_hash, id_number_enc, id_number_masked, phone_enc, \
         phone_masked, address_enc) VALUES (gen_random_uuid(), '王明', {hash_expr}, decode(:enc_id, 'hex'), \
         '510422********0123', decode(:enc_phone, 'hex'), '139****5678', decode(:enc_addr, 'hex')) \
         ON CONFLICT (id_hash) DO NOTHING RETURNING id, id_hash), \
         found AS (SELECT id, id_hash FROM inserted UNION ALL SELECT id, id_hash FROM petitioners \
         WHERE id_hash = {hash_expr} AND NOT EXISTS (SELECT 1 FROM inserted)) \
         SELECT {returning} FROM found \\gset\n"
    )
}

/// One RegisterVisit by a county clerk, statement by statement, in the service's order. With
/// `per_client_counter` each client numbers in a register of its own, which takes away the one row lock
/// every registration of a year otherwise queues on.
pub fn register_visit_script(per_client_counter: bool) -> String {
    let (cat, org) = (format!("{}[:ci]", cats()), format!("{}[:oi]", orgs()));
    let prefix = if per_client_counter {
        "'P' || :client_id"
    } else {
        "'XF'"
    };
    let new_hash = "sha256(convert_to(gen_random_uuid()::text, 'UTF8'))";
    let petitioners_of = "SELECT l.visit_id AS owner_id, l.position, l.representative AS representative, p.id, \
         p.name, p.id_number_enc, p.id_number_masked, p.phone_enc, p.phone_masked, p.address_enc \
         FROM visit_petitioners l JOIN petitioners p ON p.id = l.petitioner_id \
         WHERE l.visit_id = ANY(:v_vids::uuid[]) ORDER BY l.visit_id, l.position;\n";
    let mut s = String::new();
    s.push_str(&format!(
        "\\set np random(1, 100)\n\\set rep random(1, 100)\n\\set k random(0, {})\n\
         \\if :rep <= {REPEAT_PCT}\n\\set ci :k % {} + 1\n\\set oi :k % {} + 1\n\\else\n\
         \\set ci random(1, {})\n\\set oi random(1, {})\n\\endif\n",
        KNOWN - 1,
        CATEGORIES.len(),
        TOWNSHIPS.len() + DEPARTMENTS.len(),
        CATEGORIES.len(),
        TOWNSHIPS.len() + DEPARTMENTS.len(),
    ));
    // The auth layer's lookup, on a connection of its own.
    s.push_str(
        "SELECT id, name, role, org_code FROM principals WHERE token_hash = decode(:token_hash, 'hex') \
         AND revoked_at IS NULL;\n",
    );
    s.push_str("BEGIN;\n");
    s.push_str(
        "INSERT INTO idempotency_keys (principal_id, request_id, method, request_hash) VALUES (:principal, \
         gen_random_uuid(), 'RegisterVisit', sha256(convert_to(random()::text, 'UTF8'))) ON CONFLICT DO NOTHING \
         RETURNING request_id AS rid \\gset\n",
    );
    s.push_str(&format!("\\if :rep <= {REPEAT_PCT}\n"));
    s.push_str(&upsert("sha256(convert_to('bk' || :k, 'UTF8'))", true));
    s.push_str("\\else\n");
    s.push_str(&upsert(new_hash, true));
    s.push_str("\\endif\n\\if :np > 80\n");
    s.push_str(&upsert(new_hash, false));
    s.push_str("\\endif\n\\if :np > 95\n");
    s.push_str(&upsert(new_hash, false));
    s.push_str("\\endif\n");
    s.push_str(&format!(
        "SELECT EXISTS (SELECT 1 FROM case_categories WHERE code = {cat});\n"
    ));
    s.push_str(&format!(
        "SELECT code, name, kind, parent_code, version, created_at, updated_at FROM org_units WHERE code = {org};\n"
    ));
    s.push_str(&format!(
        "SELECT count(*) AS found, COALESCE(max(id::text), '') AS case_id FROM (SELECT c.id FROM petitioners p \
         JOIN case_petitioners cp ON cp.petitioner_id = p.id JOIN cases c ON c.id = cp.case_id \
         WHERE p.id_hash = ANY(:hashes::bytea[]) AND c.category_code = {cat} AND c.problem_org_code = {org} \
         ORDER BY c.registered_at, c.id LIMIT 1) t \\gset\n"
    ));
    s.push_str(&format!(
        "INSERT INTO registration_counters (prefix, year, last) VALUES ({prefix}, :year, 1) \
         ON CONFLICT (prefix, year) DO UPDATE SET last = registration_counters.last + 1 \
         RETURNING prefix || '510422-' || year || '-' || lpad(last::text, greatest(6, length(last::text)), '0') AS number \\gset\n"
    ));
    s.push_str("\\if :found = 0\n");
    s.push_str(&format!(
        "INSERT INTO cases (id, number, category_code, problem_org_code, content, demands, registered_at, \
         assign_due, next_due) VALUES (gen_random_uuid(), :number, {cat}, {org}, :content, :demands, now(), \
         current_date + 15, current_date + 15) RETURNING id AS case_id \\gset\n"
    ));
    s.push_str("\\endif\n");
    s.push_str(
        "INSERT INTO case_petitioners (case_id, petitioner_id) SELECT :case_id::uuid, pid \
         FROM unnest(:pids::uuid[]) AS t(pid) ON CONFLICT DO NOTHING;\n",
    );
    s.push_str(
        "INSERT INTO case_events (case_id, action, actor, occurred_at, reason, before, after) \
         VALUES (:case_id, CASE WHEN :found::int = 0 THEN 'registered' ELSE 'repeat_linked' END, :principal, now(), \
         :number, NULL, NULL);\n",
    );
    s.push_str(
        "INSERT INTO feed (kind, entity_id, org_code, previous_org_code, owner, reason) \
         VALUES ('case', :case_id, NULL, NULL, NULL, '');\n",
    );
    s.push_str(&format!(
        "INSERT INTO visits (id, number, case_id, visited_at, level, non_reception_place, place_name, headcount, \
         collective, repeat, leapfrog, category_code, problem_org_code, content, demands, registered_by) \
         VALUES (gen_random_uuid(), :number, :case_id, now(), 'county', false, '盐边县信访局接待大厅', 1, false, \
         :found::int = 1, false, {cat}, {org}, :content, :demands, :principal) RETURNING id, number, case_id, \
         visited_at, level, non_reception_place, place_name, headcount, collective, repeat, leapfrog, \
         category_code, problem_org_code, content, demands, registered_by, recorded_at, '{{' || id || '}}' AS vids \
         \\gset v_\n"
    ));
    s.push_str(
        "INSERT INTO visit_petitioners (visit_id, position, petitioner_id, representative) \
         SELECT :v_id::uuid, ord::int, pid, rep FROM unnest(:pids::uuid[], :reps::bool[]) WITH ORDINALITY AS t(pid, rep, ord);\n",
    );
    s.push_str(&format!(
        "INSERT INTO feed (kind, entity_id, org_code, previous_org_code, owner, reason) \
         VALUES ('visit', :v_id, {org}, NULL, :principal, '');\n"
    ));
    // The petitioners, read once (masked for the stored first result, in full for the clerk), the clerk's
    // reads of personal data, then the stored result.
    s.push_str(petitioners_of);
    s.push_str(
        "INSERT INTO pii_reads (principal_id, petitioner_id, method) SELECT :principal::uuid, pid, \
         'RegisterVisit' FROM unnest(:pids::uuid[]) AS t(pid);\n",
    );
    s.push_str(
        "INSERT INTO audit_log (principal_id, action, subject, detail) SELECT :principal::uuid, 'pii_read', \
         subject, 'RegisterVisit' FROM unnest(:pids::text[]) AS t(subject);\n",
    );
    s.push_str(
        "UPDATE idempotency_keys SET response = decode(:resp, 'hex') WHERE principal_id = :principal \
         AND request_id = :rid;\n",
    );
    // `idempotency::save` enters every applied mutation in the audit trail.
    s.push_str(
        "INSERT INTO audit_log (principal_id, action, subject, detail) \
         VALUES (:principal, 'RegisterVisit', :rid, :resp_hash);\n",
    );
    s.push_str("COMMIT;\n");
    s
}

/// A Push of `:batch` visits done set-based: one transaction, one statement per table.
pub fn push_script() -> String {
    let id = |tag: &str| format!("md5('{tag}' || :base || '-' || i)::uuid");
    let number = "'XF510422-' || :year || '-' || lpad((:base + i)::text, greatest(6, length((:base + i)::text)), '0')";
    let (cat, org) = (
        format!("{}[1 + i % {}]", cats(), CATEGORIES.len()),
        format!(
            "{}[1 + i % {}]",
            orgs(),
            TOWNSHIPS.len() + DEPARTMENTS.len()
        ),
    );
    let series = "FROM generate_series(1, :batch) i";
    let mut s = String::from("BEGIN;\n");
    s.push_str(
        "UPDATE registration_counters SET last = last + :batch WHERE prefix = 'XF' AND year = :year \
         RETURNING last - :batch AS base \\gset\n",
    );
    s.push_str(&format!(
        "INSERT INTO idempotency_keys (principal_id, request_id, method, request_hash, response) \
         SELECT :officer::uuid, {}, 'RegisterVisit', sha256(convert_to({}::text, 'UTF8')), decode(:resp, 'hex') {series};\n",
        id("bo"),
        id("bo")
    ));
    s.push_str(&format!(
        "INSERT INTO audit_log (principal_id, action, subject, detail) \
         SELECT :officer::uuid, 'RegisterVisit', {}::text, :resp_hash {series};\n",
        id("bo")
    ));
    s.push_str(&format!(
        "INSERT INTO petitioners (id, name, id_hash, id_number_enc, id_number_masked, phone_enc, phone_masked, \
         address_enc) SELECT {}, '王明', sha256(convert_to({}::text, 'UTF8')), decode(:enc_id, 'hex'), \
         '510422********0123', decode(:enc_phone, 'hex'), '139****5678', decode(:enc_addr, 'hex') {series};\n",
        id("bp"),
        id("bp")
    ));
    s.push_str(&format!(
        "INSERT INTO cases (id, number, category_code, problem_org_code, content, demands, registered_at, \
         next_due, assign_due) SELECT {}, {number}, {cat}, {org}, :content, :demands, now(), current_date + 15, \
         current_date + 15 {series};\n",
        id("bc")
    ));
    s.push_str(&format!(
        "INSERT INTO case_petitioners (case_id, petitioner_id) SELECT {}, {} {series};\n",
        id("bc"),
        id("bp")
    ));
    s.push_str(&format!(
        "INSERT INTO case_events (case_id, action, actor, occurred_at, reason) \
         SELECT {}, 'registered', :officer::uuid, now(), {number} {series};\n",
        id("bc")
    ));
    s.push_str(&format!(
        "INSERT INTO visits (id, number, case_id, visited_at, level, non_reception_place, place_name, headcount, \
         collective, repeat, leapfrog, category_code, problem_org_code, content, demands, registered_by) \
         SELECT {}, {number}, {}, now(), 'national', true, '北京市中南海周边', 1, false, false, true, {cat}, {org}, \
         :content, :demands, :officer::uuid {series};\n",
        id("bv"),
        id("bc")
    ));
    s.push_str(&format!(
        "INSERT INTO visit_petitioners (visit_id, position, petitioner_id, representative) \
         SELECT {}, 1, {}, false {series};\n",
        id("bv"),
        id("bp")
    ));
    s.push_str(&format!(
        "INSERT INTO feed (kind, entity_id, org_code, previous_org_code, owner, reason) \
         SELECT 'case', {}, NULL, NULL, NULL, '' {series} UNION ALL \
         SELECT 'visit', {}, {org}, NULL, :officer::uuid, '' {series};\n",
        id("bc"),
        id("bv")
    ));
    s.push_str("COMMIT;\n");
    s
}

/// Principals, the known persons and cases, and the constant parts of the requests; returns the
/// variables (`-D`) of the scripts.
pub async fn prepare(pool: &PgPool, keys: &PiiKeys, year: i32) -> Result<Vec<(String, String)>> {
    let mut conn = pool.acquire().await?;
    let (clerk, clerk_token) =
        auth::issue_token(&mut conn, Role::CountyClerk, BUREAU, "pgbench clerk")
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (officer, _) = auth::issue_token(&mut conn, Role::FieldOfficer, BUREAU, "pgbench officer")
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let enc = |field, text: &str| -> Result<String> { Ok(hex::encode(keys.seal(field, text)?)) };
    let enc_id = enc(Field::IdNumber, "51042219800101012X")?;
    let enc_phone = enc(Field::Phone, "13912345678")?;
    let enc_addr = enc(Field::Address, "攀枝花市盐边县桐子林镇3组12号")?;
    let (content, demands) = TEXTS[0];
    let content = format!("桐子林镇{content}");
    // The stored first result: a masked Visit as the service encodes it.
    let visit = xinfang_proto::v1::Visit {
        id: uuid::Uuid::now_v7().to_string(),
        number: format!("XF510422-{year}-000123"),
        visited_at: Some(prost_types::Timestamp {
            seconds: Utc::now().timestamp(),
            nanos: 0,
        }),
        level: 2,
        place_name: "盐边县信访局接待大厅".into(),
        headcount: 1,
        petitioners: vec![xinfang_proto::v1::Petitioner {
            id: uuid::Uuid::now_v7().to_string(),
            name: "王明".into(),
            id_number: "510422********012X".into(),
            phone: "139****5678".into(),
            address: "***".into(),
            masked: true,
            ..Default::default()
        }],
        matter: Some(xinfang_proto::v1::MatterInput {
            content: content.clone(),
            demands: demands.into(),
            category: "labor".into(),
            problem_org_code: "510422100".into(),
            link_case_id: String::new(),
            ..Default::default()
        }),
        classification: Some(xinfang_proto::v1::Classification {
            case_id: uuid::Uuid::now_v7().to_string(),
            repeat: false,
            ..Default::default()
        }),
        registered_by: clerk.id.to_string(),
        recorded_at: Some(prost_types::Timestamp {
            seconds: Utc::now().timestamp(),
            nanos: 0,
        }),
        ..Default::default()
    };
    // Known persons with a case each: same category and place as the script derives from k.
    sqlx::query(&format!(
        "INSERT INTO petitioners (id, name, id_hash, id_number_enc, id_number_masked, phone_enc, phone_masked, \
         address_enc) SELECT gen_random_uuid(), '王明', sha256(convert_to('bk' || k, 'UTF8')), decode($1, 'hex'), \
         '510422********0123', decode($2, 'hex'), '139****5678', decode($3, 'hex') \
         FROM generate_series(0, {}) k ON CONFLICT (id_hash) DO NOTHING",
        KNOWN - 1
    ))
    .bind(&enc_id)
    .bind(&enc_phone)
    .bind(&enc_addr)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO cases (id, number, category_code, problem_org_code, content, demands, registered_at, \
         assign_due, next_due) SELECT gen_random_uuid(), 'BK-' || k, {}[1 + k % {}], {}[1 + k % {}], $1, $2, \
         now() - interval '30 days', current_date - 15, current_date - 15 FROM generate_series(0, {}) k \
         ON CONFLICT (number) DO NOTHING",
        cats(),
        CATEGORIES.len(),
        orgs(),
        TOWNSHIPS.len() + DEPARTMENTS.len(),
        KNOWN - 1
    ))
    .bind(&content)
    .bind(demands)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO case_petitioners (case_id, petitioner_id) SELECT c.id, p.id FROM cases c \
         JOIN petitioners p ON p.id_hash = sha256(convert_to('bk' || substr(c.number, 4), 'UTF8')) \
         WHERE c.number LIKE 'BK-%' ON CONFLICT DO NOTHING",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO registration_counters (prefix, year, last) VALUES ('XF', $1, 0) ON CONFLICT DO NOTHING",
    )
    .bind(year)
    .execute(&mut *conn)
    .await?;
    sqlx::query("ANALYZE petitioners, cases, case_petitioners")
        .execute(&mut *conn)
        .await?;
    let token_hash = hex::encode(xinfang_server::auth::model::token_hash(&clerk_token));
    Ok(vec![
        ("principal".into(), clerk.id.to_string()),
        ("officer".into(), officer.id.to_string()),
        ("token_hash".into(), token_hash),
        ("year".into(), year.to_string()),
        ("enc_id".into(), enc_id),
        ("enc_phone".into(), enc_phone),
        ("enc_addr".into(), enc_addr),
        ("resp".into(), hex::encode(visit.encode_to_vec())),
        (
            "resp_hash".into(),
            hex::encode(sha2::Sha256::digest(visit.encode_to_vec())),
        ),
        ("content".into(), content),
        ("demands".into(), demands.to_owned()),
    ])
}

/// How long pgbench runs.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    Seconds(u64),
    /// Transactions per client.
    Transactions(u64),
}

impl Pg {
    /// Runs a script; latencies from pgbench's per-transaction log.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &self,
        name: &str,
        script: &Path,
        clients: usize,
        length: Length,
        vars: &[(String, String)],
        items_per_transaction: f64,
        log_dir: &Path,
        log: bool,
    ) -> Result<BaselineResult> {
        let prefix = log_dir.join(format!("pgbench-{name}"));
        let mut cmd = Command::new(&self.pgbench);
        cmd.arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", "5432", "-U", &self.user, "-n", "-M", "prepared"])
            .args(["-c", &clients.to_string()])
            .args(["-j", &clients.clamp(1, 2).to_string()])
            .arg("-f")
            .arg(script);
        match length {
            Length::Seconds(s) => cmd.args(["-T", &s.max(1).to_string()]),
            Length::Transactions(t) => cmd.args(["-t", &t.max(1).to_string()]),
        };
        if log {
            cmd.arg("--log")
                .arg(format!("--log-prefix={}", prefix.display()));
        }
        for (k, v) in vars {
            cmd.arg("-D").arg(format!("{k}={v}"));
        }
        cmd.arg(&self.database)
            .current_dir(log_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command_line = format!("{:?}", cmd.as_std());
        let out = cmd
            .output()
            .await
            .with_context(|| format!("running {}", self.pgbench.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        std::fs::write(
            log_dir.join(format!("pgbench-{name}.out")),
            format!("{command_line}\n{stdout}\n{stderr}"),
        )?;
        if !out.status.success() {
            bail!(
                "pgbench {name} failed ({}): {}",
                out.status,
                stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            );
        }
        let field = |key: &str| -> Option<f64> {
            stdout
                .lines()
                .find(|l| l.trim_start().starts_with(key))
                .and_then(|l| l.split(['=', ':']).nth(1))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.split('/').next())
                .and_then(|v| v.parse().ok())
        };
        let tps = field("tps").context("no tps in pgbench output")?;
        let transactions = field("number of transactions actually processed").unwrap_or(0.0) as u64;
        let failed = field("number of failed transactions").unwrap_or(0.0) as u64;
        let mut latencies = Vec::new();
        if log {
            let stem = prefix
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            for entry in std::fs::read_dir(log_dir)?.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if !file.starts_with(&format!("{stem}.")) || file.ends_with(".out") {
                    continue;
                }
                let text = std::fs::read_to_string(entry.path())?;
                for line in text.lines() {
                    if let Some(us) = line
                        .split_whitespace()
                        .nth(2)
                        .and_then(|v| v.parse::<u32>().ok())
                    {
                        latencies.push(us);
                    }
                }
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let seconds = if tps > 0.0 {
            transactions as f64 / tps
        } else {
            0.0
        };
        Ok(BaselineResult {
            tool: "pgbench".into(),
            name: name.to_owned(),
            clients,
            seconds,
            transactions,
            failed,
            tps,
            item_rate: tps * items_per_transaction,
            latency: Stats::of(latencies),
            cpu: None,
            note: String::new(),
        })
    }
}

// ---------------------------------------------------------------------------------------------------------
// EXPLAIN ANALYZE of the indicator queries

#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub query: String,
    pub scope: String,
    pub execution_ms: f64,
    pub plan: String,
}

/// The statements one county-wide or per-township GetIndicators and GetVisitStatistics of `year` run (the
/// service's own SQL), with their parameters.
pub async fn explain_indicators(
    pool: &PgPool,
    year: i32,
    township: &str,
) -> Result<Vec<Explained>> {
    use xinfang_server::metrics::store::{self, VisitKey};
    let (from, until) = (
        NaiveDate::from_ymd_opt(year, 1, 1).context("date")?,
        NaiveDate::from_ymd_opt(year + 1, 1, 1).context("date")?,
    );
    let today = Utc::now().with_timezone(&shanghai()).date_naive();
    let monthly = [
        ("visits.all", store::visits_sql(VisitKey::All)),
        ("visits.level", store::visits_sql(VisitKey::Level)),
        ("visits.township", store::visits_sql(VisitKey::Township)),
        ("visits.month", store::visits_sql(VisitKey::Month)),
    ];
    let mut out = Vec::new();
    let mut conn = pool.acquire().await?;
    for org in [None, Some(township)] {
        let scope = org.map_or("county".to_owned(), |o| format!("township {o}"));
        // The indicators' statements, one per source of the table of indicators, with their parameters.
        let bounds = store::Bounds {
            from,
            until,
            org,
            cutoff: today.min(until),
            today,
            from_instant: time::bureau_midnight(from).context("midnight")?,
            until_instant: time::bureau_midnight(until).context("midnight")?,
        };
        for statement in store::indicator_statements() {
            let rows: Vec<(String,)> =
                sqlx::query_as(&format!("EXPLAIN (ANALYZE, BUFFERS) {}", statement.sql))
                    .bind(bounds.from)
                    .bind(bounds.until)
                    .bind(bounds.org)
                    .bind(bounds.cutoff)
                    .bind(bounds.today)
                    .bind(bounds.from_instant)
                    .bind(bounds.until_instant)
                    .fetch_all(&mut *conn)
                    .await?;
            out.push(explained(statement.source.name, &scope, rows));
        }
        for (name, sql) in &monthly {
            let rows: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                .bind(from)
                .bind(until)
                .bind(org)
                .fetch_all(&mut *conn)
                .await?;
            out.push(explained(name, &scope, rows));
        }
    }
    Ok(out)
}

fn explained(name: &str, scope: &str, rows: Vec<(String,)>) -> Explained {
    let plan: Vec<String> = rows.into_iter().map(|r| r.0).collect();
    let execution_ms = plan
        .iter()
        .find_map(|l| l.trim().strip_prefix("Execution Time: "))
        .and_then(|v| v.trim_end_matches(" ms").parse().ok())
        .unwrap_or(0.0);
    Explained {
        query: name.to_owned(),
        scope: scope.to_owned(),
        execution_ms,
        plan: plan.join("\n"),
    }
}

/// A pause between runs so that checkpoints and autovacuum of the previous one do not land in the next.
pub async fn settle(pool: &PgPool) {
    let _ = sqlx::query("CHECKPOINT").execute(pool).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// h2load replaying one encoded Health/Check request against the echo server: a cross-check that the load
/// generator is not what limits the echo figure. `None` when h2load (Debian: nghttp2-client) is missing.
pub async fn h2load_echo(
    address: &str,
    seconds: u64,
    connections: usize,
    in_flight: usize,
    dir: &Path,
) -> Result<Option<BaselineResult>> {
    let Some(h2load) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("h2load"))
            .find(|p| p.is_file())
    }) else {
        return Ok(None);
    };
    // A gRPC message: not compressed, length 0 (an empty HealthCheckRequest).
    let body = dir.join("health-check.bin");
    std::fs::write(&body, [0u8; 5])?;
    let connections = connections.max(1);
    let streams = in_flight.div_ceil(connections).max(1);
    let out = Command::new(h2load)
        .args(["-D", &seconds.max(1).to_string()])
        .args(["-c", &connections.to_string()])
        .args(["-m", &streams.to_string()])
        .args(["-t", "1"])
        .arg("-d")
        .arg(&body)
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg(format!("{address}/grpc.health.v1.Health/Check"))
        .stdin(Stdio::null())
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("h2load failed ({}): {text}", out.status);
    }
    let rate = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .context("no req/s in h2load output")?;
    let numbers = |prefix: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let requests = numbers("requests:");
    let count = |word: &str| -> u64 {
        requests
            .iter()
            .position(|w| w.trim_end_matches(',') == word)
            .and_then(|i| requests.get(i - 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    // "time for request:  min  max  mean  sd  +/- sd"
    let times = numbers("time for request:");
    let millis = |v: Option<&String>| {
        v.map_or(0.0, |v| {
            let (n, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
            let n: f64 = n.parse().unwrap_or(0.0);
            match unit {
                "us" => n / 1000.0,
                "ms" => n,
                "s" => n * 1000.0,
                _ => n,
            }
        })
    };
    Ok(Some(BaselineResult {
        tool: "h2load".into(),
        name: "echo".into(),
        clients: connections * streams,
        seconds: seconds as f64,
        transactions: count("succeeded"),
        failed: count("failed") + count("errored"),
        tps: rate,
        item_rate: rate,
        latency: Stats {
            count: count("succeeded"),
            mean_ms: millis(times.get(5)),
            max_ms: millis(times.get(4)),
            ..Stats::default()
        },
        cpu: None,
        note: format!(
            "h2load -c {connections} -m {streams}: one encoded Health/Check replayed (latency: mean and max only)"
        ),
    }))
}
