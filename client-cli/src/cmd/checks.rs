//! Checks of a capture that need what the laptop learnt from the server: the dictionaries cached by the last
//! `xf sync` (a category or org unit the server does not know) and the account's role (a date more than a
//! year back, which only county clerks and administrators may load). The form of every field is checked by
//! the shared rules (`xinfang_proto::input`) in `capture`; these come on top, so the refusal comes here
//! instead of after the next sync.

use anyhow::Result;
use chrono::{DateTime, Utc};
use xinfang_client::{Client, capture::CaptureError, store::Store};
use xinfang_proto::{
    input::RECENT_DAYS,
    v1::{Dictionaries, GetDictionariesRequest, operation::Op},
    validate::Violations,
};

/// Fetches the dictionaries and caches them unless their etag is the cached one's; a failure only means the
/// checks use the older copy. Returns whether the copy changed.
pub async fn refresh_dictionaries(store: &mut Store, client: &mut Client) -> Result<bool> {
    let dictionaries = client
        .dictionary
        .get_dictionaries(GetDictionariesRequest {})
        .await?
        .into_inner();
    Ok(store.save_dictionaries(&dictionaries)?)
}

/// One line on the cached dictionaries: when they last changed and how old that is, so a laptop that has
/// been away from the network knows how current its pick lists and checks are.
pub fn dictionaries_line(store: &Store, now: DateTime<Utc>) -> Result<String> {
    Ok(match store.dictionaries_state()? {
        None => "dictionaries: none cached yet (`xf sync` fetches them)".to_owned(),
        Some(s) => format!(
            "dictionaries: fetched {} ({} old), last confirmed by the server {}",
            bureau_time(s.fetched_at),
            s.age(now),
            bureau_time(s.checked_at)
        ),
    })
}

fn bureau_time(t: DateTime<Utc>) -> String {
    xinfang_client::text::format_time(Some(&prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }))
}

fn known_org(d: &Dictionaries, code: &str) -> bool {
    d.org_units.iter().any(|o| o.code == code)
}

fn known_category(d: &Dictionaries, code: &str) -> bool {
    d.categories.iter().any(|c| c.code == code)
}

/// Roles that may date an event more than a year back (loading history).
fn loads_history(role: &str) -> bool {
    matches!(role, "county_clerk" | "admin")
}

fn too_old(at: Option<&prost_types::Timestamp>, now: DateTime<Utc>) -> bool {
    at.is_some_and(|t| t.seconds < (now - chrono::Duration::days(RECENT_DAYS)).timestamp())
}

/// The violations of `op` against the cached dictionaries and the account's role (field paths as the server
/// names them; `xf` prints them under the flags).
pub fn violations(store: &Store, op: &Op, now: DateTime<Utc>) -> Result<Violations> {
    let mut v = Violations::new();
    let dictionaries = store.dictionaries()?;
    let history = store.account()?.is_none_or(|a| loads_history(&a.role));
    let matter_checks = |v: &mut Violations, prefix: &str, m: &xinfang_proto::v1::MatterInput| {
        if let Some(d) = &dictionaries {
            if !m.category.is_empty() && !known_category(d, &m.category) {
                v.add(
                    format!("{prefix}.category"),
                    format!(
                        "unknown category {:?}; one of: {}",
                        m.category,
                        d.categories
                            .iter()
                            .map(|c| format!("{} {}", c.code, c.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            for (field, code) in [
                ("problem_org_code", &m.problem_org_code),
                ("accused_org_code", &m.accused_org_code),
            ] {
                if !code.is_empty() && !known_org(d, code) {
                    v.add(
                        format!("{prefix}.{field}"),
                        format!("no org unit {code:?} (`xf org list`)"),
                    );
                }
            }
        }
    };
    let old = "more than a year ago: loading history is for county clerks";
    match op {
        Op::RegisterVisit(r) => {
            if let Some(visit) = &r.visit {
                if let Some(m) = &visit.matter {
                    matter_checks(&mut v, "visit.matter", m);
                }
                if !history && too_old(visit.visited_at.as_ref(), now) {
                    v.add("visit.visited_at", old);
                }
            }
        }
        Op::RegisterLetter(r) => {
            if let Some(letter) = &r.letter {
                if let Some(m) = &letter.matter {
                    matter_checks(&mut v, "letter.matter", m);
                }
                if !history && too_old(letter.received_at.as_ref(), now) {
                    v.add("letter.received_at", old);
                }
            }
        }
        Op::RecordReturnTrip(r) => {
            if let Some(trip) = &r.trip {
                if let Some(d) = &dictionaries {
                    let code = &trip.responsible_org_code;
                    if !code.is_empty() && !known_org(d, code) {
                        v.add(
                            "trip.responsible_org_code",
                            format!("no org unit {code:?} (`xf org list`)"),
                        );
                    }
                }
                if !history && too_old(trip.notified_at.as_ref(), now) {
                    v.add("trip.notified_at", old);
                }
            }
        }
        _ => {}
    }
    Ok(v)
}

/// Refuses `op` (nothing queued, exit 2 with the flags) when the cached dictionaries or the role say no.
pub fn check(store: &Store, op: &Op, now: DateTime<Utc>) -> Result<()> {
    let v = violations(store, op, now)?;
    if v.is_empty() {
        Ok(())
    } else {
        Err(CaptureError::Invalid(v).into())
    }
}
