//! `xf login`: the server and token of this profile, checked for shape only (it works offline); the first
//! sync finds out whether the server takes them.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use xinfang_client::store::{Settings, Store};

use super::common::Ask;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Server address, e.g. https://xinfang.example:50051.
    #[arg(long)]
    server: Option<String>,
    /// Bearer token (from `xinfang-server token issue`).
    #[arg(long, env = "XF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA certificate (PEM) that signed the server's certificate.
    #[arg(long)]
    ca: Option<PathBuf>,
}

pub fn run(store: &mut Store, ask: &Ask, args: LoginArgs) -> Result<()> {
    let server = ask.text(args.server, "Server address", true)?;
    if server.trim().is_empty() {
        bail!("--server is required");
    }
    tonic::transport::Endpoint::from_shared(server.trim().to_owned())
        .map_err(|_| anyhow!("{server:?} is not a server address (e.g. https://host:50051)"))?;
    let token = match args.token {
        Some(t) => t,
        None if ask.interactive => dialoguer::Password::new().with_prompt("Token").interact()?,
        None => bail!("--token is required"),
    };
    if token.trim().is_empty() {
        bail!("the token is empty");
    }
    if server.trim().starts_with("https://") && args.ca.is_none() {
        bail!(
            "an https server needs --ca FILE: the CA certificate (PEM) that signed its certificate"
        );
    }
    let ca_path = match args.ca {
        Some(p) => {
            let p =
                std::fs::canonicalize(&p).with_context(|| format!("CA file {}", p.display()))?;
            Some(p)
        }
        None => None,
    };
    store.save_settings(&Settings {
        server: server.trim().to_owned(),
        token: token.trim().to_owned(),
        ca_path,
    })?;
    println!(
        "logged in to {} (store {})",
        server.trim(),
        store.path().display()
    );
    Ok(())
}
