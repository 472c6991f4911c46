//! Editing a stored operation by the field paths the server names in its rejections
//! (`visit.petitioners[0].id_number`, `trip.costs.lodging`, `opinion`), so that `xf outbox fix` can ask for
//! exactly the fields that were wrong.

use chrono::{DateTime, Utc};
use xinfang_proto::v1::{MatterInput, Petitioner, TripCosts, operation::Op};

use crate::text::{self, EnumKind};

enum Field<'a> {
    Text(&'a mut String),
    Enum(&'a mut i32, EnumKind),
    Time(&'a mut Option<prost_types::Timestamp>),
    /// A calendar date of the bureau (`2025-06-01`).
    Date(&'a mut Option<xinfang_proto::v1::Date>),
    Int(&'a mut i32),
    Bool(&'a mut bool),
    /// An element of a repeated text (officers, case ids): setting it empty removes it.
    Element(&'a mut Vec<String>, usize),
    /// A whole petitioner: only removal (an empty value) is possible.
    Petitioner(&'a mut Vec<Petitioner>, usize),
}

/// `petitioners[2]` → ("petitioners", Some(2)).
fn split_index(segment: &str) -> (&str, Option<usize>) {
    match segment.split_once('[') {
        Some((name, rest)) => (name, rest.strip_suffix(']').and_then(|i| i.parse().ok())),
        None => (segment, None),
    }
}

fn petitioner<'a>(list: &'a mut Vec<Petitioner>, index: usize, rest: &[&str]) -> Option<Field<'a>> {
    if index > list.len() {
        return None;
    }
    match rest {
        [] if index < list.len() => Some(Field::Petitioner(list, index)),
        [leaf] => {
            if index == list.len() {
                list.push(Petitioner::default());
            }
            let p = &mut list[index];
            Some(match *leaf {
                "name" => Field::Text(&mut p.name),
                "id_number" => Field::Text(&mut p.id_number),
                "phone" => Field::Text(&mut p.phone),
                "address" => Field::Text(&mut p.address),
                "representative" => Field::Bool(&mut p.representative),
                _ => return None,
            })
        }
        _ => None,
    }
}

fn matter<'a>(m: &'a mut Option<MatterInput>, leaf: &str) -> Option<Field<'a>> {
    let m = m.get_or_insert_with(MatterInput::default);
    Some(Field::Text(match leaf {
        "content" => &mut m.content,
        "demands" => &mut m.demands,
        "category" => &mut m.category,
        "problem_org_code" => &mut m.problem_org_code,
        "link_case_id" => &mut m.link_case_id,
        _ => return None,
    }))
}

fn element(list: &mut Vec<String>, index: Option<usize>) -> Option<Field<'_>> {
    let i = index?;
    (i <= list.len()).then_some(Field::Element(list, i))
}

/// The fields every case step has.
fn step<'a>(
    segments: &[&str],
    case_id: &'a mut String,
    etag: &'a mut String,
    occurred_at: &'a mut Option<prost_types::Timestamp>,
) -> Option<Field<'a>> {
    match segments {
        ["case_id"] => Some(Field::Text(case_id)),
        ["etag"] => Some(Field::Text(etag)),
        ["occurred_at"] => Some(Field::Time(occurred_at)),
        _ => None,
    }
}

fn field<'a>(op: &'a mut Op, path: &str) -> Option<Field<'a>> {
    let segments: Vec<&str> = path.trim().split('.').collect();
    match op {
        Op::RegisterVisit(r) => {
            let ["visit", rest @ ..] = segments.as_slice() else {
                return None;
            };
            let v = r.visit.get_or_insert_with(Default::default);
            let (head, index) = split_index(rest.first()?);
            match (head, index, &rest[1..]) {
                ("visited_at", None, []) => Some(Field::Time(&mut v.visited_at)),
                ("level", None, []) => Some(Field::Enum(&mut v.level, EnumKind::Level)),
                ("non_reception_place", None, []) => Some(Field::Bool(&mut v.non_reception_place)),
                ("place_name", None, []) => Some(Field::Text(&mut v.place_name)),
                ("headcount", None, []) => Some(Field::Int(&mut v.headcount)),
                ("petitioners", Some(i), tail) => petitioner(&mut v.petitioners, i, tail),
                ("matter", None, [leaf]) => matter(&mut v.matter, leaf),
                _ => None,
            }
        }
        Op::RegisterLetter(r) => {
            let ["letter", rest @ ..] = segments.as_slice() else {
                return None;
            };
            let l = r.letter.get_or_insert_with(Default::default);
            let (head, index) = split_index(rest.first()?);
            match (head, index, &rest[1..]) {
                ("channel", None, []) => Some(Field::Enum(&mut l.channel, EnumKind::LetterChannel)),
                ("source_reference", None, []) => Some(Field::Text(&mut l.source_reference)),
                ("campaign", None, []) => Some(Field::Text(&mut l.campaign)),
                ("received_at", None, []) => Some(Field::Time(&mut l.received_at)),
                ("petitioners", Some(i), tail) => petitioner(&mut l.petitioners, i, tail),
                ("matter", None, [leaf]) => matter(&mut l.matter, leaf),
                _ => None,
            }
        }
        Op::RecordReturnTrip(r) => {
            let ["trip", rest @ ..] = segments.as_slice() else {
                return None;
            };
            let t = r.trip.get_or_insert_with(Default::default);
            let (head, index) = split_index(rest.first()?);
            match (head, index, &rest[1..]) {
                ("notified_by", None, []) => Some(Field::Text(&mut t.notified_by)),
                ("notified_at", None, []) => Some(Field::Time(&mut t.notified_at)),
                ("destination_level", None, []) => {
                    Some(Field::Enum(&mut t.destination_level, EnumKind::Level))
                }
                ("destination_place", None, []) => Some(Field::Text(&mut t.destination_place)),
                ("non_reception_place", None, []) => Some(Field::Bool(&mut t.non_reception_place)),
                ("responsible_org_code", None, []) => {
                    Some(Field::Text(&mut t.responsible_org_code))
                }
                ("officers", index, []) => element(&mut t.officers, index),
                ("case_ids", index, []) => element(&mut t.case_ids, index),
                ("petitioners", Some(i), tail) => petitioner(&mut t.petitioners, i, tail),
                ("departed_at", None, []) => Some(Field::Time(&mut t.departed_at)),
                ("arrived_at", None, []) => Some(Field::Time(&mut t.arrived_at)),
                ("returned_at", None, []) => Some(Field::Time(&mut t.returned_at)),
                ("costs", None, [leaf]) => {
                    let c = t.costs.get_or_insert_with(TripCosts::default);
                    Some(Field::Text(match *leaf {
                        "transport" => &mut c.transport,
                        "lodging" => &mut c.lodging,
                        "meals" => &mut c.meals,
                        "other" => &mut c.other,
                        _ => return None,
                    }))
                }
                ("outcome", None, []) => Some(Field::Enum(&mut t.outcome, EnumKind::TripOutcome)),
                ("report", None, []) => Some(Field::Text(&mut t.report)),
                _ => None,
            }
        }
        Op::AcceptCase(r) => step(&segments, &mut r.case_id, &mut r.etag, &mut r.occurred_at),
        Op::DeclineCase(r) => match segments.as_slice() {
            ["ground"] => Some(Field::Enum(&mut r.ground, EnumKind::DeclineGround)),
            ["reason"] => Some(Field::Text(&mut r.reason)),
            _ => step(&segments, &mut r.case_id, &mut r.etag, &mut r.occurred_at),
        },
        Op::ObjectToAssignment(r) => match segments.as_slice() {
            ["reason"] => Some(Field::Text(&mut r.reason)),
            _ => step(&segments, &mut r.case_id, &mut r.etag, &mut r.occurred_at),
        },
        Op::ExtendCase(r) => match segments.as_slice() {
            ["days"] => Some(Field::Int(&mut r.days)),
            ["notified_on"] => Some(Field::Date(&mut r.notified_on)),
            ["approved_by"] => Some(Field::Text(&mut r.approved_by)),
            ["reason"] => Some(Field::Text(&mut r.reason)),
            _ => step(&segments, &mut r.case_id, &mut r.etag, &mut r.occurred_at),
        },
        Op::ReplyCase(r) => match segments.as_slice() {
            ["opinion"] => Some(Field::Text(&mut r.opinion)),
            ["completion_report"] => Some(Field::Text(&mut r.completion_report)),
            ["publish_for_evaluation"] => Some(Field::Bool(&mut r.publish_for_evaluation)),
            _ => step(&segments, &mut r.case_id, &mut r.etag, &mut r.occurred_at),
        },
        Op::RecordEvaluation(r) => match segments.as_slice() {
            ["office_rating"] => Some(Field::Enum(&mut r.office_rating, EnumKind::Rating)),
            ["unit_rating"] => Some(Field::Enum(&mut r.unit_rating, EnumKind::Rating)),
            _ => step(&segments, &mut r.case_id, &mut r.etag, &mut r.occurred_at),
        },
        Op::ReplySupervision(r) => match segments.as_slice() {
            ["reply"] => Some(Field::Text(&mut r.reply)),
            _ => step(&segments, &mut r.case_id, &mut r.etag, &mut r.occurred_at),
        },
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    #[error("{0}: not a field of this operation")]
    UnknownField(String),
    #[error("{0}: {1}")]
    BadValue(String, String),
}

/// The current value of `path`, as it would be typed.
pub fn get(op: &Op, path: &str) -> Result<String, EditError> {
    let mut copy = op.clone();
    let unknown = || EditError::UnknownField(path.to_owned());
    Ok(match field(&mut copy, path).ok_or_else(unknown)? {
        Field::Text(s) => s.clone(),
        Field::Enum(v, kind) => kind.format(*v),
        Field::Time(t) => text::format_time(t.as_ref()),
        Field::Date(d) => d
            .as_ref()
            .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
            .unwrap_or_default(),
        Field::Int(n) => n.to_string(),
        Field::Bool(b) => b.to_string(),
        Field::Element(list, i) => list.get(i).cloned().unwrap_or_default(),
        Field::Petitioner(list, i) => list.get(i).map(|p| p.name.clone()).unwrap_or_default(),
    })
}

/// Sets `path` to `value` as typed. An empty value clears a text or time, and removes an element of a
/// list (a petitioner, an officer, a case id).
pub fn set(op: &mut Op, path: &str, value: &str, now: DateTime<Utc>) -> Result<(), EditError> {
    let bad = |msg: String| EditError::BadValue(path.to_owned(), msg);
    let value = value.trim();
    match field(op, path).ok_or_else(|| EditError::UnknownField(path.to_owned()))? {
        Field::Text(s) => *s = value.to_owned(),
        Field::Enum(v, kind) => {
            *v = if value.is_empty() {
                0
            } else {
                kind.parse(value).map_err(bad)?
            }
        }
        Field::Time(t) => {
            *t = if value.is_empty() {
                None
            } else {
                Some(text::parse_time(value, now).map_err(bad)?)
            }
        }
        Field::Date(d) => {
            *d = if value.is_empty() {
                None
            } else {
                Some(text::parse_date(value, now).map_err(bad)?)
            }
        }
        Field::Int(n) => {
            *n = value
                .parse()
                .map_err(|_| bad("must be a whole number".into()))?
        }
        Field::Bool(b) => {
            *b = match value {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" | "" => false,
                _ => return Err(bad("yes or no".into())),
            }
        }
        Field::Element(list, i) => {
            if value.is_empty() {
                if i < list.len() {
                    list.remove(i);
                }
            } else if i == list.len() {
                list.push(value.to_owned());
            } else {
                list[i] = value.to_owned();
            }
        }
        Field::Petitioner(list, i) => {
            if !value.is_empty() {
                return Err(bad(
                    "set its name, id_number, phone or address; an empty value removes the petitioner"
                        .into(),
                ));
            }
            list.remove(i);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use xinfang_proto::v1::{
        RecordReturnTripRequest, RegisterVisitRequest, ReplyCaseRequest, ReturnTrip, Visit,
    };

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    #[test]
    fn edits_the_fields_the_server_names() {
        let mut op = Op::RegisterVisit(RegisterVisitRequest {
            request_id: String::new(),
            visit: Some(Visit {
                petitioners: vec![Petitioner {
                    name: "张三".into(),
                    id_number: "110101199003077777".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        });
        assert_eq!(
            get(&op, "visit.petitioners[0].id_number").unwrap(),
            "110101199003077777"
        );
        set(
            &mut op,
            "visit.petitioners[0].id_number",
            " 11010519491231002X ",
            now(),
        )
        .unwrap();
        set(&mut op, "visit.level", "national", now()).unwrap();
        set(&mut op, "visit.visited_at", "2025-06-01 09:30", now()).unwrap();
        set(&mut op, "visit.matter.category", "land", now()).unwrap();
        set(&mut op, "visit.petitioners[1].name", "李四", now()).unwrap();
        let Op::RegisterVisit(r) = &op else { panic!() };
        let v = r.visit.as_ref().unwrap();
        assert_eq!(v.petitioners[0].id_number, "11010519491231002X");
        assert_eq!(v.petitioners[1].name, "李四");
        assert_eq!(v.level, xinfang_proto::v1::Level::National as i32);
        assert_eq!(v.visited_at.unwrap().seconds, 1_748_741_400);
        assert_eq!(v.matter.as_ref().unwrap().category, "land");
        set(&mut op, "visit.petitioners[1]", "", now()).unwrap();
        assert_eq!(get(&op, "visit.level").unwrap(), "national");
        assert!(matches!(
            set(&mut op, "visit.level", "moon", now()),
            Err(EditError::BadValue(..))
        ));
        assert!(matches!(
            set(&mut op, "visit.nope", "x", now()),
            Err(EditError::UnknownField(_))
        ));
        assert!(get(&op, "visit.petitioners[5].name").is_err());
        let Op::RegisterVisit(r) = &op else { panic!() };
        assert_eq!(r.visit.as_ref().unwrap().petitioners.len(), 1);
    }

    #[test]
    fn edits_trips_and_case_steps() {
        let mut trip = Op::RecordReturnTrip(RecordReturnTripRequest {
            request_id: String::new(),
            trip: Some(ReturnTrip {
                officers: vec!["赵六".into()],
                ..Default::default()
            }),
        });
        set(&mut trip, "trip.costs.lodging", "320.50", now()).unwrap();
        set(&mut trip, "trip.officers[1]", "钱七", now()).unwrap();
        set(&mut trip, "trip.officers[0]", "", now()).unwrap();
        set(&mut trip, "trip.outcome", "handed-over", now()).unwrap();
        let Op::RecordReturnTrip(r) = &trip else {
            panic!()
        };
        let t = r.trip.as_ref().unwrap();
        assert_eq!(t.officers, ["钱七"]);
        assert_eq!(t.costs.as_ref().unwrap().lodging, "320.50");
        assert_eq!(get(&trip, "trip.outcome").unwrap(), "handed-over");

        let mut reply = Op::ReplyCase(ReplyCaseRequest::default());
        set(&mut reply, "opinion", "经调查，诉求合理，予以支持。", now()).unwrap();
        set(&mut reply, "occurred_at", "now", now()).unwrap();
        assert_eq!(
            get(&reply, "opinion").unwrap(),
            "经调查，诉求合理，予以支持。"
        );
        assert!(get(&reply, "ground").is_err());
        set(&mut reply, "publish_for_evaluation", "yes", now()).unwrap();
        let Op::ReplyCase(r) = &reply else { panic!() };
        assert!(r.publish_for_evaluation);
    }
}
