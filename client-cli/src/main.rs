//! `xf`, the field client. For now it reads the org units; offline capture and sync come with issue #6.

use clap::{Parser, Subcommand};
use xinfang_client::Client;
use xinfang_proto::v1::ListOrgUnitsRequest;

#[derive(Debug, Parser)]
#[command(name = "xf", version, about = "xinfang field client")]
struct Cli {
    /// Server address.
    #[arg(
        long,
        env = "XF_SERVER",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    server: String,
    /// Bearer token (see `xinfang-server token issue`).
    #[arg(long, env = "XF_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The county's org units.
    #[command(subcommand)]
    Org(OrgCommand),
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// List every org unit.
    List,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut client = Client::connect(&cli.server, cli.token.as_deref()).await?;
    match cli.command {
        Command::Org(OrgCommand::List) => {
            let mut page_token = String::new();
            loop {
                let page = client
                    .org
                    .list_org_units(ListOrgUnitsRequest {
                        page_size: 500,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                for unit in page.org_units {
                    println!("{}\t{}\t{}", unit.code, unit.name, unit.parent_code);
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
    }
    Ok(())
}
