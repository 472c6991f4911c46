//! `xf cases`: the cases of the local copy (or, `--online`, the server's list of the account's scope) with
//! their state, responsible unit, 转送/交办 mode, open clocks with the days left, and the overdue marker;
//! `--overdue` and `--due-within DAYS` keep the ones that need attention.

use anyhow::{Result, bail};
use chrono::Utc;
use clap::Args;
use serde_json::json;
use xinfang_client::store::{OpState, Store};
use xinfang_proto::v1::{Case, ListCasesRequest};

use super::{
    cases_view,
    common::{print_json, short, table},
    online::{client, status_error},
};

#[derive(Debug, Args)]
pub struct CasesArgs {
    /// Only cases with a clock past its due day and the step not done (a 督办 reply included).
    #[arg(long)]
    overdue: bool,
    /// Only cases with an open clock due within this many days (overdue ones included).
    #[arg(long, value_name = "DAYS")]
    due_within: Option<u32>,
    /// Ask the server instead of reading the local copy (agencies, and a list as of now).
    #[arg(long)]
    online: bool,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

async fn server_cases(store: &Store, args: &CasesArgs) -> Result<Vec<Case>> {
    let mut client = client(store)?;
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .cases
            .list_cases(ListCasesRequest {
                page_size: 500,
                page_token,
                overdue: args.overdue,
                due_within_days: args
                    .due_within
                    .map(|d| i32::try_from(d).unwrap_or(i32::MAX))
                    .unwrap_or(0),
                ..Default::default()
            })
            .await
            .map_err(|s| status_error(s, &[("due_within_days", "--due-within")]))?
            .into_inner();
        out.extend(page.cases);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

pub async fn run(store: &Store, args: CasesArgs) -> Result<()> {
    let now = Utc::now();
    if args.due_within == Some(0) {
        bail!("--due-within: give a number of days from 1 on (or --overdue)");
    }
    let mut cases = if args.online {
        server_cases(store, &args).await?
    } else {
        store.cases()?
    };
    // The server filters its own list; the local copy is filtered here by the same clocks.
    cases.retain(|c| {
        (!args.overdue || cases_view::is_overdue(c, now))
            && args
                .due_within
                .is_none_or(|d| cases_view::due_within(c, i64::from(d), now))
    });
    let outbox = store.outbox(&[OpState::Pending, OpState::Sent, OpState::Rejected])?;
    let waiting = |id: &str| outbox.iter().filter(|e| e.target == id).count();
    if args.json {
        let items: Vec<_> = cases
            .iter()
            .map(|c| {
                let mut v = cases_view::case_json(c, now);
                v["outbox"] = json!(waiting(&c.id));
                v
            })
            .collect();
        return print_json(&json!(items));
    }
    let mut t = table(&[
        "ID",
        "编号 NUMBER",
        "状态 STATE",
        "承办单位 UNIT",
        "方式 MODE",
        "期限 CLOCKS",
        "超期",
        "待同步 OUTBOX",
    ]);
    for c in &cases {
        t.add_row(vec![
            short(&c.id).to_owned(),
            c.number.clone(),
            cases_view::state(c),
            c.responsible_org_code.clone(),
            cases_view::mode(c),
            cases_view::open_clocks(c, now),
            if cases_view::is_overdue(c, now) {
                "超期".into()
            } else {
                String::new()
            },
            match waiting(&c.id) {
                0 => String::new(),
                n => n.to_string(),
            },
        ]);
    }
    println!("{t}");
    let whence = if args.online {
        "on the server"
    } else {
        "in the local copy"
    };
    match cases.len() {
        1 => println!("1 case {whence}"),
        n => println!("{n} cases {whence}"),
    }
    Ok(())
}
