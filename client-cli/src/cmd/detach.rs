//! `xf visit detach` / `xf letter detach`: the county desk takes a registration out of the case it was
//! matched to (same person, category and place, but another matter) into a case of its own, online. The
//! registration becomes initial there; the case it left is re-derived. Both cases record why.

use anyhow::{Result, anyhow};
use clap::Args;
use xinfang_client::store::Store;
use xinfang_proto::v1::DetachRegistrationRequest;

use super::{
    common::Ask,
    online::{client, status_error},
};

#[derive(Debug, Args)]
pub struct DetachArgs {
    /// The registration: its number (XF510422-2026-000123), its id, or the start or end of its id in the
    /// local copy.
    pub registration: String,
    /// Why it is a case of its own (recorded on both cases and in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
}

/// Which kind of registration is named.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Visit,
    Letter,
}

pub async fn run(store: &Store, ask: &Ask, kind: Kind, args: DetachArgs) -> Result<()> {
    let id = resolve(store, kind, &args.registration)?;
    let reason = ask.text(args.reason, "Why it is a case of its own (理由)", true)?;
    let (visit_id, letter_id) = match kind {
        Kind::Visit => (id, String::new()),
        Kind::Letter => (String::new(), id),
    };
    let mut client = client(store)?;
    let done = client
        .visits
        .detach_registration(DetachRegistrationRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            visit_id,
            letter_id,
            reason,
        })
        .await
        .map_err(|s| {
            status_error(
                s,
                &[
                    ("reason", "--reason"),
                    ("visit_id", "the registration"),
                    ("letter_id", "the registration"),
                ],
            )
        })?
        .into_inner();
    let (number, class) = match (&done.visit, &done.letter) {
        (Some(v), _) => (v.number.clone(), v.classification.clone()),
        (_, Some(l)) => (l.number.clone(), l.classification.clone()),
        _ => return Err(anyhow!("the server answered without the registration")),
    };
    let class = class.unwrap_or_default();
    let what = if class.repeat {
        "a repeat"
    } else {
        "the initial registration"
    };
    println!(
        "done (online): {number} is now {what} of case {} (was in {}); `xf sync` brings both cases as \
         they are now",
        class.case_id, done.previous_case_id
    );
    Ok(())
}

/// The id of the registration named: found in the local copy by number or by the start or end of its id,
/// else a full id (the server answers NOT_FOUND for one that names nothing the caller reads).
fn resolve(store: &Store, kind: Kind, given: &str) -> Result<String> {
    let found = match kind {
        Kind::Visit => store.find_visit(given)?.map(|v| v.id),
        Kind::Letter => store.find_letter(given)?.map(|l| l.id),
    };
    let given = given.trim();
    match found {
        Some(id) => Ok(id),
        None if uuid::Uuid::parse_str(given).is_ok() => Ok(given.to_owned()),
        None => Err(anyhow!(
            "{given:?} is not in the local copy: `xf sync` first, or give the registration's id"
        )),
    }
}
