//! The `xinfang-server` binary as an operator runs it: no configuration, its own PostgreSQL, the
//! administrator's token written to a 0600 file and never printed (journald would keep it forever), SIGTERM
//! stopping it and its database, a restart reusing the data, and a SIGKILL not leaving an orphan postmaster
//! behind.

use std::{
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use xinfang_client::Client;
use xinfang_proto::v1::ListOrgUnitsRequest;

struct Server {
    child: Child,
    /// Every line the process wrote, stdout and stderr alike: what journald would keep.
    output: mpsc::Receiver<String>,
    address: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(data_dir: &Path) -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xinfang-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting xinfang-server");
    let (tx, output) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let err_tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = err_tx.send(line);
        }
    });
    Server {
        child,
        output,
        address: format!("http://127.0.0.1:{port}"),
    }
}

impl Server {
    async fn wait_serving(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("xinfang-server exited early: {status}");
            }
            if let Ok(client) = Client::connect(&self.address, None).await {
                let mut health = HealthClient::new(client.channel());
                if let Ok(response) = health
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                {
                    assert_eq!(response.into_inner().status(), ServingStatus::Serving);
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "not serving after 120s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn printed(&self) -> Vec<String> {
        self.output.try_iter().collect()
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "still running 60s after the signal"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    /// A failed assertion must not leave the server (and its PostgreSQL) running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = std::fs::read_to_string(data_dir.join("postgres/data/postmaster.pid")).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

async fn wait_gone(pid: i32) {
    let started = Instant::now();
    while PathBuf::from(format!("/proc/{pid}")).exists() {
        // A zombie has exited; its parent just has not reaped it yet.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "postmaster {pid} still running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count_org_units(address: &str, token: &str) -> usize {
    let mut client = Client::connect(address, Some(token)).await.unwrap();
    client
        .org
        .list_org_units(ListOrgUnitsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("listing org units with the printed token")
        .into_inner()
        .org_units
        .len()
}

#[tokio::test]
async fn runs_on_its_own_postgres_stops_cleanly_and_survives_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");

    // First start: initdb, migrations, seed, an administrator whose token is only in a 0600 file; the output
    // names the file and never holds the token.
    let mut server = start(&data_dir);
    server.wait_serving().await;
    let printed = server.printed();
    let token_file = data_dir.join("admin-token");
    let token = std::fs::read_to_string(&token_file)
        .expect("the first start writes the administrator token")
        .trim()
        .to_owned();
    assert!(token.starts_with("xft_"), "not a token in the file");
    assert!(
        !printed.iter().any(|l| l.contains(&token)),
        "the token appeared in the server's output"
    );
    assert!(
        printed
            .iter()
            .any(|l| l.contains(&token_file.display().to_string())),
        "no line names {}: {printed:?}",
        token_file.display()
    );
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(count_org_units(&server.address, &token).await, 26);

    // SIGTERM: drain, stop postgres, exit 0.
    let pg = postmaster_pid(&data_dir);
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit().await.success());
    wait_gone(pg).await;
    assert!(!data_dir.join("postgres/data/postmaster.pid").exists());

    // Second start reuses the data: no new administrator, the first token still works.
    let mut server = start(&data_dir);
    server.wait_serving().await;
    let printed = server.printed();
    assert!(
        !printed
            .iter()
            .any(|l| l.contains("xft_") || l.contains("admin-token")),
        "no second administrator: {printed:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap().trim(),
        token,
        "the token file is left as it is"
    );
    assert_eq!(count_org_units(&server.address, &token).await, 26);

    // SIGKILL gives the service no chance to clean up; its postmaster must not outlive it.
    let pg = postmaster_pid(&data_dir);
    server.signal(Signal::SIGKILL);
    server.wait_exit().await;
    wait_gone(pg).await;

    // And the next start recovers over whatever the kill left behind.
    let mut server = start(&data_dir);
    server.wait_serving().await;
    assert_eq!(count_org_units(&server.address, &token).await, 26);
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit().await.success());
}
