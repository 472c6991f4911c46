//! The server as a separate process, so that a test can SIGKILL it: the load tool's hidden `server`
//! subcommand, which parses `xinfang-server`'s own flags and runs its own `startup::run` (an integration
//! test can only name binaries of its own package). It runs on a database that the test created, so the
//! database outlives every kill and the test can count rows while the server works.

// Each test binary uses part of it.
#![allow(dead_code)]

use std::{
    ffi::OsString,
    fs::OpenOptions,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use sqlx::PgPool;
use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

pub struct ChildServer {
    child: Option<Child>,
    pub port: u16,
    pub address: String,
    /// The server's flags (after `--listen`).
    args: Vec<OsString>,
    log: PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("local address")
        .port()
}

/// A URL for the database of `pool` that another process can use: the harness's cluster listens on a unix
/// socket only, and `DATABASE_URL` (when set) carries a password that the pool does not give back.
pub fn database_url(pool: &PgPool) -> String {
    let options = pool.connect_options();
    let database = options.get_database().expect("a test database name");
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let (head, query) = match url.split_once('?') {
            Some((head, query)) => (head, format!("?{query}")),
            None => (url.as_str(), String::new()),
        };
        let authority_end = head
            .find("://")
            .map(|i| i + 3)
            .and_then(|start| head[start..].find('/').map(|i| start + i))
            .unwrap_or(head.len());
        return format!("{}/{database}{query}", &head[..authority_end]);
    }
    let socket = options
        .get_socket()
        .expect("the test cluster listens on a unix socket");
    format!(
        "postgres://{}@localhost:{}/{database}?host={}",
        options.get_username(),
        options.get_port(),
        socket.display()
    )
}

impl ChildServer {
    /// Starts a server on `127.0.0.1:port` with `data_dir` for its key file; logs go to `data_dir/<port>.log`.
    pub fn start(database_url: &str, data_dir: &Path, port: u16) -> ChildServer {
        let args = ["--database-url", database_url, "--data-dir"]
            .map(OsString::from)
            .into_iter()
            .chain([data_dir.as_os_str().to_owned()])
            .collect();
        Self::start_with(args, data_dir, port)
    }

    /// Starts a server on `127.0.0.1:port` with `args` (`--data-dir` and the rest: without
    /// `--database-url` it runs its own private cluster); logs go to `log_dir/server-<port>.log`.
    pub fn start_with(args: Vec<OsString>, log_dir: &Path, port: u16) -> ChildServer {
        let mut server = ChildServer {
            child: None,
            port,
            address: format!("http://127.0.0.1:{port}"),
            args,
            log: log_dir.join(format!("server-{port}.log")),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("server log");
        let mut command = server_command();
        command
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(&self.args)
            // The writers of these tests are few principals sending many requests: the per-principal limits
            // would measure the limiter, not recovery.
            .args(["--rate-per-principal", "100000"])
            .args(["--max-in-flight-per-principal", "1000"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("server log"))
            .stderr(log);
        self.child = Some(command.spawn().expect("starting the server process"));
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM, and waits until the process is gone: the service drains and stops its cluster.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let _ = child.wait();
        }
    }

    /// Waits until health answers SERVING; panics with the log's tail after `within`.
    pub async fn wait_serving(&mut self, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().expect("server status")
            {
                panic!("server exited ({status}): {}", self.log_tail());
            }
            if health(&self.address).await == Some(ServingStatus::Serving) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "server not serving after {within:?}: {}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and waits until the process is gone: no drain, no clean-up, as a crash or the OOM killer.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// A new process on the same port and flags.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `xinfang-server` as the load tool runs it (`xinfang-load server …`), without the environment's
/// `DATABASE_URL`, killed with the test.
fn server_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xinfang-load"));
    command.arg("server").env_remove("DATABASE_URL");
    // A test that panics must not leave its servers running.
    // SAFETY: the closure only makes an async-signal-safe system call (prctl).
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            Ok(())
        });
    }
    command
}

/// Runs an `xinfang-server` subcommand (`backup`, `restore`, `keys rotate`, …) to its end: its exit
/// status, stdout and stderr.
pub fn run_command(args: &[OsString]) -> (std::process::ExitStatus, String, String) {
    let output = server_command()
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("running xinfang-server");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts a long-running `xinfang-server` subcommand (`standby run`), its output into `log`.
pub fn spawn_command(args: &[OsString], log: &Path) -> Child {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("command log");
    server_command()
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("command log"))
        .stderr(log)
        .spawn()
        .expect("starting xinfang-server")
}

/// [`run_command`] that must succeed; its stdout.
pub fn run_ok(args: &[OsString]) -> String {
    let (status, stdout, stderr) = run_command(args);
    assert!(
        status.success(),
        "xinfang-server {args:?} failed ({status}):\n{stdout}\n{stderr}"
    );
    stdout
}

/// Arguments from strings and paths alike (`#[macro_use] mod child;`).
#[allow(unused_macros)]
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        Vec::from([$(std::ffi::OsString::from($arg)),*])
    };
}

/// The overall health of the server at `address`, or `None` when it does not answer within 5 s (generous:
/// the test machine may be busy with other builds, and a slow answer is not a failed one).
pub async fn health(address: &str) -> Option<ServingStatus> {
    let endpoint = Endpoint::from_shared(address.to_owned())
        .ok()?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.ok()?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()?;
    Some(response.into_inner().status())
}
