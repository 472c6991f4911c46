//! Child processes (the xinfang server, the echo server), their memory and CPU from /proc.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::process::{Child, Command};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Resident memory of a process, from /proc/<pid>/status.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rss {
    pub pid: u32,
    /// VmHWM: the peak since the process started or since [`reset_peak`].
    pub peak_mb: f64,
    /// VmRSS now.
    pub current_mb: f64,
    /// Whether the peak was reset at the start of the scenario (else it is the process's lifetime peak).
    pub peak_reset: bool,
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

pub fn rss(pid: u32, peak_reset: bool) -> Option<Rss> {
    Some(Rss {
        pid,
        peak_mb: status_kb(pid, "VmHWM:")? as f64 / 1024.0,
        current_mb: status_kb(pid, "VmRSS:")? as f64 / 1024.0,
        peak_reset,
    })
}

/// Resets the peak resident set (VmHWM) of a process: `echo 5 > /proc/<pid>/clear_refs`.
pub fn reset_peak(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

/// (ppid, utime + stime, cutime + cstime) in ticks.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    let num = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    Some((num(1)? as u32, num(11)? + num(12)?, num(13)? + num(14)?))
}

/// CPU seconds of a process so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat(pid).map_or(0.0, |(_, own, _)| own as f64 / clock_ticks())
}

/// CPU seconds of a postmaster and all its processes (live ones, and those it has reaped).
pub fn postgres_cpu_seconds(postmaster: u32) -> f64 {
    let mut ticks = stat(postmaster).map_or(0, |(_, own, children)| own + children);
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((ppid, own, _)) = stat(pid)
                && ppid == postmaster
            {
                ticks += own;
            }
        }
    }
    ticks as f64 / clock_ticks()
}

/// Who used the two cores during a scenario, in CPU seconds per second of wall time.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuShare {
    pub server: f64,
    pub postgres: f64,
    /// This process, and pgbench for the baselines.
    pub load_generator: f64,
}

/// A snapshot to take the difference of.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    at: Instant,
    server: f64,
    postgres: f64,
    me: f64,
}

impl CpuMark {
    pub fn now(server: Option<u32>, postmaster: Option<u32>) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            server: server.map_or(0.0, cpu_seconds),
            postgres: postmaster.map_or(0.0, postgres_cpu_seconds),
            // With the children it has waited for (pgbench).
            me: stat(std::process::id()).map_or(0.0, |(_, own, children)| {
                (own + children) as f64 / clock_ticks()
            }),
        }
    }

    pub fn share_since(&self, earlier: &CpuMark) -> CpuShare {
        let wall = (self.at - earlier.at).as_secs_f64().max(1e-9);
        CpuShare {
            server: (self.server - earlier.server) / wall,
            postgres: (self.postgres - earlier.postgres) / wall,
            load_generator: (self.me - earlier.me) / wall,
        }
    }
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A server in a child process, answering gRPC health checks.
pub struct ChildServer {
    child: Child,
    pub pid: u32,
    pub address: String,
    /// From spawn to the first SERVING health check.
    pub startup: Duration,
}

impl ChildServer {
    /// Runs `program args…` with its output in `log`, and waits until `127.0.0.1:port` answers SERVING.
    pub async fn start(
        program: &Path,
        args: &[String],
        envs: &[(&str, String)],
        port: u16,
        log: PathBuf,
    ) -> Result<ChildServer> {
        let out = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let started = Instant::now();
        let mut command = Command::new(program);
        command
            .args(args)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        for (k, v) in envs {
            command.env(k, v);
        }
        // A load generator killed outright takes its servers with it (SIGTERM: they drain and stop).
        // SAFETY: the closure only makes an async-signal-safe system call (prctl).
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("child pid")?;
        let address = format!("http://127.0.0.1:{port}");
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{} exited ({status}) before serving: {}",
                    program.display(),
                    log_tail(&log)
                );
            }
            if serving(&address).await {
                break;
            }
            if started.elapsed() > Duration::from_secs(180) {
                let _ = child.kill().await;
                bail!("no SERVING health within 180 s: {}", log_tail(&log));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(ChildServer {
            child,
            pid,
            address,
            startup: started.elapsed(),
        })
    }

    /// SIGTERM, then wait (SIGKILL after 60 s).
    pub async fn stop(mut self) -> Result<()> {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        match tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("server did not stop within 60 s after SIGTERM")
            }
        }
    }
}

async fn serving(address: &str) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(address.to_owned()) else {
        return false;
    };
    let Ok(channel) = endpoint
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
}

pub fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join(" | ")
}

/// The echo server: tonic with the health service only, the cheapest RPC there is.
pub async fn echo_server(listen: std::net::SocketAddr) -> Result<()> {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_shutdown(listen, async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            term.recv().await;
        })
        .await?;
    Ok(())
}

/// `perf record -g` of a process for `seconds`, started in the background.
pub fn perf_record(pid: u32, seconds: u64, dir: &Path) -> Option<(Child, PathBuf)> {
    let data = dir.join("perf.data");
    Command::new("perf")
        .args(["record", "-F", "999", "-g", "-p", &pid.to_string(), "-o"])
        .arg(&data)
        .args(["--", "sleep", &seconds.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()
        .map(|child| (child, data))
}

/// Waits for the recording and writes the flat profile (self time by symbol) to `out`.
pub async fn perf_report((mut child, data): (Child, PathBuf), out: &Path) -> Result<()> {
    child.wait().await?;
    let report = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "dso,sym",
            "-g",
            "none",
            "-i",
        ])
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .await?;
    if !report.status.success() {
        bail!("perf report: {}", String::from_utf8_lossy(&report.stderr));
    }
    let text = String::from_utf8_lossy(&report.stdout);
    let head: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(120)
        .collect();
    fs::write(out, head.join("\n"))?;
    Ok(())
}
