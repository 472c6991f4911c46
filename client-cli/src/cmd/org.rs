//! `xf org list`: the county's org units, read online; `xf org add`: the administrator adds one.

use anyhow::Result;
use clap::Subcommand;
use xinfang_client::store::Store;
use xinfang_proto::v1::{CreateOrgUnitRequest, ListOrgUnitsRequest, OrgUnit, OrgUnitKind};

use super::online::{client, status_error};

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// List every org unit.
    List,
    /// Add a unit (the administrator): a new township or a county department that cases can be assigned to.
    Add {
        /// A township's 9-digit division code (510422110), or a project code such as 510422D09.
        #[arg(long)]
        code: String,
        /// The official name, e.g. 县应急管理局.
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["township", "department"])]
        kind: String,
        /// The parent unit: the county (510422) for a township or a department.
        #[arg(long, default_value = "510422")]
        parent: String,
    },
}

pub async fn run(store: &Store, command: OrgCommand) -> Result<()> {
    match command {
        OrgCommand::List => {
            let mut client = client(store)?;
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
        OrgCommand::Add {
            code,
            name,
            kind,
            parent,
        } => {
            let kind = match kind.as_str() {
                "township" => OrgUnitKind::Township,
                _ => OrgUnitKind::Department,
            };
            let mut client = client(store)?;
            let unit = client
                .org
                .create_org_unit(CreateOrgUnitRequest {
                    request_id: uuid::Uuid::now_v7().to_string(),
                    org_unit: Some(OrgUnit {
                        code,
                        name,
                        kind: kind as i32,
                        parent_code: parent,
                        ..Default::default()
                    }),
                    occurred_at: None,
                })
                .await
                .map_err(|s| {
                    status_error(
                        s,
                        &[
                            ("org_unit.code", "--code"),
                            ("org_unit.name", "--name"),
                            ("org_unit.parent_code", "--parent"),
                        ],
                    )
                })?
                .into_inner();
            println!(
                "done (online): {}\t{}\t{}",
                unit.code, unit.name, unit.parent_code
            );
        }
    }
    Ok(())
}
