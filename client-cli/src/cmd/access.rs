//! Which commands the profile's role may use: each command that calls the server (or queues an operation
//! for it) names the one method of the role table it stands for, so `xf` can hide it from help and refuse it
//! before anything is queued, with the answer the server would give. The role's methods come from
//! `SessionService.GetCaller` at `xf login`; a profile logged in without that check is left to the server.

use anyhow::{Result, bail};
use clap::{ArgMatches, Command};
use xinfang_client::store::{Account, Store};

/// (command path, method): the commands that stand for a method of the role table. Local lists and the
/// outbox are not here: they read what this laptop holds.
pub const COMMANDS: &[(&[&str], &str)] = &[
    (&["visit", "new"], "VisitService/RegisterVisit"),
    (&["letter", "new"], "VisitService/RegisterLetter"),
    (&["visit", "detach"], "VisitService/DetachRegistration"),
    (&["letter", "detach"], "VisitService/DetachRegistration"),
    (&["trip", "new"], "VisitService/RecordReturnTrip"),
    (&["trip", "close"], "VisitService/RecordReturnTrip"),
    (&["case", "accept"], "CaseService/AcceptCase"),
    (&["case", "decline"], "CaseService/DeclineCase"),
    (&["case", "object"], "CaseService/ObjectToAssignment"),
    (&["case", "extend"], "CaseService/ExtendCase"),
    (&["case", "reply"], "CaseService/ReplyCase"),
    (&["case", "evaluate"], "CaseService/RecordEvaluation"),
    (
        &["case", "reply-supervision"],
        "CaseService/ReplySupervision",
    ),
    (&["case", "assign"], "CaseService/AssignCase"),
    (&["case", "decide-objection"], "CaseService/DecideObjection"),
    (
        &["case", "confirm-completion"],
        "CaseService/ConfirmCompletion",
    ),
    (&["case", "supervise"], "CaseService/SuperviseCase"),
    (
        &["case", "close-supervision"],
        "CaseService/CloseSupervision",
    ),
    (&["case", "review", "request"], "CaseService/RequestReview"),
    (&["case", "review", "decide"], "CaseService/DecideReview"),
    (&["case", "review", "hearing"], "CaseService/RecordHearing"),
    (&["case", "backlog", "mark"], "CaseService/MarkBacklog"),
    (
        &["case", "backlog", "resolve"],
        "CaseService/ResolveBacklog",
    ),
    (&["case", "get"], "CaseService/GetCase"),
    (&["fund", "submit"], "FundService/SubmitFundRequest"),
    (&["fund", "decide"], "FundService/RecordBureauDecision"),
    (&["fund", "approve"], "FundService/ApproveFundRequest"),
    (&["fund", "reject"], "FundService/RejectFundRequest"),
    (&["fund", "disburse"], "FundService/DisburseFundRequest"),
    (&["fund", "list"], "FundService/ListFundRequests"),
    (&["fund", "show"], "FundService/GetFundRequest"),
    (&["fund", "budget", "add"], "FundService/CreateBudget"),
    (&["fund", "budget", "list"], "FundService/ListBudgets"),
    (&["target", "set"], "MetricsService/SetTarget"),
    (&["target", "list"], "MetricsService/ListTargets"),
    (&["target", "trends"], "MetricsService/GetTwoDownTwoUp"),
    (&["target", "set-trends"], "MetricsService/SetTwoDownTwoUp"),
    (&["sync"], "SyncService/Push"),
    (&["metrics", "indicators"], "MetricsService/GetIndicators"),
    (&["metrics", "visits"], "MetricsService/GetVisitStatistics"),
    (
        &["metrics", "channels"],
        "MetricsService/GetChannelStatistics",
    ),
    (
        &["metrics", "targets"],
        "MetricsService/GetTargetCompletion",
    ),
    (&["metrics", "budget"], "MetricsService/GetBudgetExecution"),
    (&["report"], "MetricsService/GenerateSelfEvaluationReport"),
    (&["org", "list"], "OrgService/ListOrgUnits"),
    (&["org", "add"], "OrgService/CreateOrgUnit"),
];

/// The method a command path stands for.
pub fn method_of(path: &[String]) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|(p, _)| p.len() == path.len() && p.iter().zip(path).all(|(a, b)| a == b))
        .map(|(_, m)| *m)
}

fn full(method: &str) -> String {
    format!("/xinfang.v1.{method}")
}

/// Whether `account`'s role may call `method` (`CaseService/AcceptCase`).
pub fn may(account: &Account, method: &str) -> bool {
    account.methods.iter().any(|m| *m == full(method))
}

/// The subcommand names of a parse, outermost first: `["case", "review", "decide"]`.
pub fn path(matches: &ArgMatches) -> Vec<String> {
    let mut out = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        out.push(name.to_owned());
        m = sub;
    }
    out
}

/// Refuses a command the role may not use, naming the role and the step, before anything runs.
pub fn check(store: &Store, path: &[String]) -> Result<()> {
    let (Some(method), Some(account)) = (method_of(path), store.account()?) else {
        return Ok(());
    };
    if !may(&account, method) {
        bail!(
            "`xf {}` is not open to your role ({}, {}): the server would refuse it ({}), so nothing was \
             queued",
            path.join(" "),
            role_label(&account.role),
            account.role,
            method.rsplit('/').next().unwrap_or(method)
        );
    }
    Ok(())
}

/// Hides from help the commands the role may not use (and a group all of whose commands it may not use).
pub fn hide(mut command: Command, account: &Account) -> Command {
    for (path, method) in COMMANDS {
        if !may(account, method) {
            command = hide_path(command, path);
        }
    }
    hide_empty_groups(command)
}

fn hide_path(command: Command, path: &[&str]) -> Command {
    match path {
        [] => command,
        [last] => command.mut_subcommand(*last, |c| c.hide(true)),
        [first, rest @ ..] => command.mut_subcommand(*first, |c| hide_path(c, rest)),
    }
}

fn hide_empty_groups(command: Command) -> Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let mut command = command;
    for name in names {
        command = command.mut_subcommand(&name, |c| {
            let c = hide_empty_groups(c);
            let has = c.get_subcommands().next().is_some();
            let all_hidden = has && c.get_subcommands().all(|s| s.is_hide_set());
            if all_hidden { c.hide(true) } else { c }
        });
    }
    command
}

/// The Chinese name of a role of the role table (`leader` → 领导).
pub fn role_label(role: &str) -> &'static str {
    xinfang_proto::v1::Role::from_str_name(&format!("ROLE_{}", role.to_uppercase()))
        .map(|r| xinfang_client::labels::enum_label("xinfang.v1.Role", r as i32, r.label()))
        .unwrap_or("未知角色")
}

/// The role table's name of a role value (`Role::Leader` → `leader`).
pub fn role_name(role: i32) -> String {
    xinfang_proto::v1::Role::try_from(role)
        .map(|r| r.as_str_name().trim_start_matches("ROLE_").to_lowercase())
        .unwrap_or_default()
}
