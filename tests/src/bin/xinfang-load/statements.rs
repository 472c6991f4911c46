//! `--profile`: where the database time of a scenario goes, statement by statement, from PostgreSQL's
//! `pg_stat_statements` (issue #19). The suite's cluster is started with the module preloaded; the statistics
//! are reset when a scenario's measured window opens and read when it closes, into
//! `profile-<scenario>.txt` beside the JSON: the top statements by total execution time.
//!
//! What it cannot show: a COMMIT's WAL flush happens after the statement has been counted (PostgreSQL
//! commits once the statement is done), so a durable commit shows as a few microseconds; the gap between
//! the wall time and the statements' time holds it, with the network and the server's own work.
//!
//! Off by default: the module hashes and counts every statement, which costs the server's database a little.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use sqlx::PgPool;

use crate::load::ScenarioResult;

/// The postmaster settings of a profiled cluster. `track = all` counts the statements that the PL/pgSQL
/// trigger functions run (the rollups, the feed) as well as the service's own; `track_utility` counts
/// BEGIN, SAVEPOINT, RELEASE and COMMIT, where a push's savepoints and a durable commit's WAL flush show.
pub const CLUSTER_SETTINGS: [&str; 3] = [
    "shared_preload_libraries=pg_stat_statements",
    "pg_stat_statements.track=all",
    "pg_stat_statements.track_utility=on",
];

/// Statements listed in each file.
const TOP: usize = 25;
/// Characters of a statement's text kept in the listing.
const QUERY_CHARS: usize = 160;

/// The profile of one database (the server's), written into `dir`.
pub struct StatementProfile {
    pool: PgPool,
    dir: PathBuf,
}

/// One row of `pg_stat_statements`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Statement {
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
    /// False for a statement run inside another (a trigger function's): its time is also in its caller's.
    pub toplevel: bool,
    pub query: Option<String>,
}

impl StatementProfile {
    /// Creates the extension in `pool`'s database; fails with what to do when the cluster was started
    /// without the module.
    pub async fn enable(pool: &PgPool, dir: &Path) -> Result<StatementProfile> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(pool)
            .await
            .context("creating the pg_stat_statements extension")?;
        sqlx::query("SELECT 1 FROM pg_stat_statements LIMIT 1")
            .execute(pool)
            .await
            .context(
                "reading pg_stat_statements: the server must be started with \
                 shared_preload_libraries = 'pg_stat_statements' (and pg_stat_statements.track = all)",
            )?;
        Ok(StatementProfile {
            pool: pool.clone(),
            dir: dir.to_owned(),
        })
    }

    async fn reset(&self) -> Result<Instant> {
        sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(&self.pool)
            .await
            .context("pg_stat_statements_reset()")?;
        Ok(Instant::now())
    }

    /// Runs a scenario with the statistics reset at its start and again when its warm-up ends (the calls of
    /// the warm-up are not counted in its operations), then writes `profile-<name>.txt`.
    pub async fn around<F: Future<Output = Result<ScenarioResult>>>(
        &self,
        name: &str,
        warmup: Duration,
        run: F,
    ) -> Result<ScenarioResult> {
        let mut since = self.reset().await?;
        let result = if warmup.is_zero() {
            run.await?
        } else {
            // The scenario starts its warm-up clock when first polled, which join does at once.
            let after_warmup = async {
                tokio::time::sleep(warmup).await;
                self.reset().await
            };
            let (result, reset) = tokio::join!(run, after_warmup);
            since = reset?;
            result?
        };
        let wall = since.elapsed();
        let statements = self.read().await?;
        let path = self.dir.join(format!("profile-{name}.txt"));
        std::fs::write(&path, listing(name, wall, result.items, &statements))
            .with_context(|| format!("writing {}", path.display()))?;
        crate::suite::say(format!("statement profile in {}", path.display()));
        Ok(result)
    }

    /// The statements of this database, most time first, less the profile's own.
    async fn read(&self) -> Result<Vec<Statement>> {
        let all: Vec<Statement> = sqlx::query_as(
            "SELECT calls, total_exec_time AS total_ms, mean_exec_time AS mean_ms, rows, toplevel, query \
             FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             ORDER BY total_exec_time DESC",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading pg_stat_statements")?;
        Ok(all
            .into_iter()
            .filter(|s| {
                !s.query
                    .as_deref()
                    .is_some_and(|q| q.contains("pg_stat_statements"))
            })
            .collect())
    }
}

/// The file: one header line, then the top statements by total time. Shares are of the time of the top-level
/// statements, which already holds the nested ones' (marked `nested`): summing every row would count a
/// trigger's statements twice.
pub fn listing(name: &str, wall: Duration, items: u64, statements: &[Statement]) -> String {
    let top_ms: f64 = statements
        .iter()
        .filter(|s| s.toplevel)
        .map(|s| s.total_ms)
        .sum();
    let all_ms: f64 = statements.iter().map(|s| s.total_ms).sum();
    let calls: i64 = statements.iter().map(|s| s.calls).sum();
    let top_calls: i64 = statements
        .iter()
        .filter(|s| s.toplevel)
        .map(|s| s.calls)
        .sum();
    let per_op = |calls: i64| {
        if items == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}", calls as f64 / items as f64)
        }
    };
    let mut out = format!(
        "{name}: {:.1} s wall, {items} operations; exec time {top_ms:.1} ms in top-level statements \
         ({all_ms:.1} ms counting nested ones again); {calls} calls, {} per operation ({} top-level)\n",
        wall.as_secs_f64(),
        per_op(calls),
        per_op(top_calls),
    );
    out.push_str("    calls  calls/op    total ms   mean ms  share       rows  level   query\n");
    for s in statements.iter().take(TOP) {
        let share = if top_ms > 0.0 {
            100.0 * s.total_ms / top_ms
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "{:>9}  {:>8}  {:>10.1}  {:>8.3}  {:>4.1}%  {:>9}  {:<6}  {}",
            s.calls,
            per_op(s.calls),
            s.total_ms,
            s.mean_ms,
            share,
            s.rows,
            if s.toplevel { "top" } else { "nested" },
            one_line(s.query.as_deref().unwrap_or("<query text not visible>")),
        );
    }
    out
}

/// The statement's text on one line, whitespace collapsed, cut at [`QUERY_CHARS`] characters.
fn one_line(query: &str) -> String {
    let collapsed = query.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(QUERY_CHARS) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None => collapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(calls: i64, total_ms: f64, toplevel: bool, query: &str) -> Statement {
        Statement {
            calls,
            total_ms,
            mean_ms: total_ms / calls as f64,
            rows: calls,
            toplevel,
            query: Some(query.to_owned()),
        }
    }

    #[test]
    fn shares_are_of_the_top_level_time_and_calls_per_operation_of_the_items() {
        let text = listing(
            "push",
            Duration::from_millis(2500),
            100,
            &[
                statement(100, 60.0, true, "COMMIT"),
                statement(200, 40.0, true, "INSERT INTO visits\n   (id)\tVALUES ($1)"),
                statement(200, 30.0, false, "UPDATE rollups SET n = n + $1"),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("push: 2.5 s wall, 100 operations; exec time 100.0 ms"),
            "{text}"
        );
        assert!(lines[0].contains("(130.0 ms counting nested"), "{text}");
        assert!(
            lines[0].contains("500 calls, 5.00 per operation (3.00 top-level)"),
            "{text}"
        );
        assert!(
            lines[2].contains(" 60.0%") && lines[2].ends_with("COMMIT"),
            "{text}"
        );
        assert!(
            lines[3].contains(" 2.00 ")
                && lines[3].ends_with("INSERT INTO visits (id) VALUES ($1)"),
            "{text}"
        );
        assert!(
            lines[4].contains(" 30.0%  ") && lines[4].contains("nested"),
            "{text}"
        );
    }

    #[test]
    fn long_statements_are_cut_on_a_character() {
        let long = "é".repeat(QUERY_CHARS + 10);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), QUERY_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(one_line("SELECT  1"), "SELECT 1");
    }
}
