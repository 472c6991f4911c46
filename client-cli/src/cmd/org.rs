//! `xf org list`: the county's org units, read online.

use anyhow::Result;
use clap::Subcommand;
use xinfang_client::{Client, store::Store};
use xinfang_proto::v1::ListOrgUnitsRequest;

use super::common::settings;

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// List every org unit.
    List,
}

pub async fn run(store: &Store, command: OrgCommand) -> Result<()> {
    match command {
        OrgCommand::List => {
            let mut client = Client::for_settings(&settings(store)?)?;
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
