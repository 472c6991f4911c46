//! `xf login`: the server address (with its scheme), the token and the CA file of this profile, checked at
//! once by asking the server who the token belongs to (`SessionService.GetCaller`): a wrong address, a
//! bogus token or a token of another role shows up here, not at the first sync. The role and the methods it
//! may call are kept with the profile, so `xf` hides and refuses the commands the role may not use.
//! `--offline` saves the address and token unchecked (no network in the field); the server then judges.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use xinfang_client::{
    Client,
    store::{Account, Settings, Store},
};
use xinfang_proto::v1::GetCallerRequest;

use super::{
    access::{role_label, role_name},
    common::Ask,
};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Server address with its scheme: http://127.0.0.1:50051, or https://host:50051 with --ca.
    #[arg(long)]
    server: Option<String>,
    /// Bearer token (from `xinfang-server token issue`).
    #[arg(long, env = "XF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA certificate (PEM) that signed the server's certificate.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Save without asking the server (no network now); the role is learnt at the next `xf login`.
    #[arg(long)]
    offline: bool,
}

/// The address as typed, trimmed, if it is one a gRPC client can use: a scheme, a host, no path.
pub fn check_server(server: &str) -> Result<String> {
    let server = server.trim().trim_end_matches('/');
    let Some((scheme, rest)) = server.split_once("://") else {
        bail!(
            "--server {server:?} has no scheme: write http://{server} (loopback or a trusted network) or \
             https://{server} (with --ca)"
        );
    };
    if scheme != "http" && scheme != "https" {
        bail!("--server {server:?}: the scheme must be http or https, not {scheme:?}");
    }
    if rest.is_empty() || rest.contains('/') {
        bail!("--server {server:?}: write only the scheme, host and port, e.g. https://host:50051");
    }
    tonic::transport::Endpoint::from_shared(server.to_owned()).map_err(|_| {
        anyhow!("--server {server:?} is not a server address (e.g. https://host:50051)")
    })?;
    Ok(server.to_owned())
}

pub async fn run(store: &mut Store, ask: &Ask, args: LoginArgs) -> Result<()> {
    let server = ask.text(args.server, "Server address (https://host:50051)", true)?;
    if server.trim().is_empty() {
        bail!("--server is required");
    }
    let server = check_server(&server)?;
    let token = match args.token {
        Some(t) => t,
        None if ask.interactive => dialoguer::Password::new().with_prompt("Token").interact()?,
        None => bail!("--token is required"),
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("--token is empty");
    }
    if server.starts_with("https://") && args.ca.is_none() {
        bail!(
            "an https server needs --ca FILE: the CA certificate (PEM) that signed its certificate"
        );
    }
    let ca_path = match args.ca {
        Some(p) => {
            Some(std::fs::canonicalize(&p).with_context(|| format!("--ca {}", p.display()))?)
        }
        None => None,
    };
    let settings = Settings {
        server: server.clone(),
        token,
        ca_path,
    };
    if args.offline {
        store.save_settings(&settings)?;
        println!(
            "saved {server} unchecked (store {}); run `xf login` again when online to check it",
            store.path().display()
        );
        return Ok(());
    }
    let mut client = Client::for_settings(&settings)?;
    let caller = client
        .session
        .get_caller(GetCallerRequest {})
        .await
        .map_err(|status| match status.code() {
            tonic::Code::Unauthenticated => {
                anyhow!("--token: the server at {server} does not know this token ({})", status.message())
            }
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => anyhow!(
                "--server: cannot reach {server} ({}); check the address, or `xf login --offline` to save \
                 it unchecked",
                status.message()
            ),
            _ => anyhow!("the server at {server} refused the check: {}", status.message()),
        })?
        .into_inner();
    let role = role_name(caller.role);
    let (org_code, org_name) = caller
        .org_unit
        .map(|o| (o.code, o.name))
        .unwrap_or_default();
    let account = Account {
        principal_id: caller.principal_id,
        name: caller.name,
        role: role.clone(),
        org_code,
        org_name,
        methods: caller.methods,
    };
    store.save_settings(&settings)?;
    store.save_account(&account)?;
    if let Err(e) = super::checks::refresh_dictionaries(store, &mut client).await {
        eprintln!("xf: note: the dictionaries were not fetched ({e:#}); `xf sync` fetches them");
    }
    println!(
        "logged in to {server} as {} ({}, {}) of {} {} (store {})",
        account.name,
        role_label(&role),
        role,
        account.org_code,
        account.org_name,
        store.path().display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_server;

    #[test]
    fn a_server_address_needs_its_scheme() {
        assert_eq!(
            check_server(" http://127.0.0.1:50051/ ").unwrap(),
            "http://127.0.0.1:50051"
        );
        assert!(check_server("https://xf.example:50051").is_ok());
        let e = check_server("127.0.0.1:50051").unwrap_err().to_string();
        assert!(e.contains("http://127.0.0.1:50051"), "{e}");
        assert!(check_server("ftp://host:1").is_err());
        assert!(check_server("http://host:1/path").is_err());
        assert!(check_server("http://").is_err());
    }
}
