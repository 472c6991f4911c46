//! What the online commands share: the client of the profile, the case a step names, checking a request
//! with the server's own rules before it is sent (`xinfang_proto::input`), and errors that name the flag the
//! user typed rather than the API's field path.

use anyhow::{Result, anyhow};
use chrono::Utc;
use tonic::Status;
use xinfang_client::{Client, store::Store};
use xinfang_proto::{
    input::{Clock, steps::StepRequest},
    validate::Violations,
};

use super::common::settings;

pub fn client(store: &Store) -> Result<Client> {
    Ok(Client::for_settings(&settings(store)?)?)
}

/// The flag of an API field: from the command's own table (`responsible_org_code` → `--to`), else the
/// field's last segment as a flag (`visit.petitioners[0].id_number` → `--id-number`), which is how most
/// flags are named.
pub fn flag_name(field: &str, flags: &[(&str, &str)]) -> String {
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    for (f, flag) in flags {
        if *f == field || *f == last {
            return (*flag).to_owned();
        }
    }
    match last {
        "occurred_at" | "visited_at" | "received_at" => "--at".into(),
        "problem_org_code" => "--problem-org".into(),
        "accused_org_code" => "--accuses".into(),
        "etag" => "--etag".into(),
        "case_id" | "fund_request_id" | "id" => "the id".into(),
        _ => format!("--{}", last.replace('_', "-")),
    }
}

/// The flags of `xf visit new`, `xf letter new` and `xf trip …` whose names differ from their fields.
pub const CAPTURE_FLAGS: &[(&str, &str)] = &[
    ("place_name", "--place"),
    ("non_reception_place", "--non-reception"),
    ("link_case_id", "--link-case"),
    ("responsible_org_code", "--responsible-org"),
    ("destination_level", "--level"),
    ("destination_place", "--place"),
    ("officers", "--officer"),
    ("case_ids", "--case"),
    ("other", "--other-cost"),
    ("completion_report", "--report"),
];

/// The flag of a field of a queued operation: the first petitioner comes from `--name`, `--id-number`,
/// `--phone`, `--address`, the others from `--petitioner` (counted from 2, as the user typed them).
pub fn capture_flag(field: &str) -> String {
    if let Some(i) = field.find("petitioners[") {
        let rest = &field[i + "petitioners[".len()..];
        let n: usize = rest
            .split(']')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if n > 0 {
            let what = rest.rsplit('.').next().unwrap_or(rest);
            return format!("--petitioner #{} ({what})", n + 1);
        }
    }
    flag_name(field, CAPTURE_FLAGS)
}

/// One line per bad field, each under the flag the user typed.
pub fn describe_fields(fields: &[(String, String)], flags: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(field, description)| format!("  {}: {description}", flag_name(field, flags)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks a case step as the server will (the shared rules of `xinfang_proto::input`), so a mistake is
/// named before the call; the server still judges the workflow.
pub fn precheck<R: StepRequest>(request: &R, flags: &[(&str, &str)]) -> Result<()> {
    let mut v = Violations::new();
    // The server applies the one-year limit by role; it has the last word on that, here only the form.
    let clock = Clock {
        now: Utc::now(),
        history: true,
    };
    let passed = request.parse(&mut v, clock).is_some();
    if passed && v.is_empty() {
        return Ok(());
    }
    let fields: Vec<(String, String)> = v
        .into_vec()
        .into_iter()
        .map(|f| (f.field, f.description))
        .collect();
    Err(anyhow!(
        "nothing was sent; fix these:\n{}",
        describe_fields(&fields, flags)
    ))
}

/// A refusal of the server in the user's terms: the bad fields under their flags, the workflow's reason.
pub fn status_error(status: Status, flags: &[(&str, &str)]) -> anyhow::Error {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    if let Some(bad) = details.bad_request() {
        let fields: Vec<(String, String)> = bad
            .field_violations
            .iter()
            .map(|f| (f.field.clone(), f.description.clone()))
            .collect();
        if !fields.is_empty() {
            return anyhow!(
                "the server refused it:\n{}",
                describe_fields(&fields, flags)
            );
        }
    }
    let reason = details
        .error_info()
        .map(|i| format!(" [{}]", i.reason))
        .unwrap_or_default();
    match status.code() {
        tonic::Code::PermissionDenied => {
            anyhow!("not allowed for this account: {}{reason}", status.message())
        }
        tonic::Code::Unauthenticated => anyhow!(
            "the server does not take this profile's token ({}): `xf login` again",
            status.message()
        ),
        tonic::Code::Unavailable => anyhow!(
            "the server is not reachable ({}): this step is online only; try again when connected",
            status.message()
        ),
        // The server says what changed since it was read (a case, a fund request).
        tonic::Code::Aborted => anyhow!(
            "{}: look at it again (`xf sync` for a case, `xf fund show` for a fund request) and take the \
             step again",
            status.message()
        ),
        code => anyhow!("{}{reason} ({code:?})", status.message()),
    }
}

/// The id of the case a command names: found in the local copy by id, part of it or registration number,
/// else taken as the full id it must then be.
pub fn case_id(store: &Store, given: &str) -> Result<String> {
    if let Some(case) = store.find_case(given)? {
        return Ok(case.id);
    }
    if uuid::Uuid::parse_str(given.trim()).is_ok() {
        return Ok(given.trim().to_owned());
    }
    Err(anyhow!(
        "no case {given:?} in the local copy: `xf sync` first, or give the case's full id"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_by_the_flags_typed() {
        assert_eq!(
            capture_flag("visit.petitioners[0].id_number"),
            "--id-number"
        );
        assert_eq!(
            capture_flag("visit.petitioners[2].name"),
            "--petitioner #3 (name)"
        );
        assert_eq!(capture_flag("visit.place_name"), "--place");
        assert_eq!(capture_flag("visit.visited_at"), "--at");
        assert_eq!(
            capture_flag("visit.matter.problem_org_code"),
            "--problem-org"
        );
        assert_eq!(
            flag_name("handling_deadline", &[("handling_deadline", "--deadline")]),
            "--deadline"
        );
    }
}
