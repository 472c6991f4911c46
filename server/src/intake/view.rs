//! Registrations and trips as the API shows them.

use std::collections::HashSet;

use uuid::Uuid;
use xinfang_proto::{
    input::intake::Costs,
    money,
    v1::{Classification, Letter, MatterInput, Petitioner, ReturnTrip, TripCosts, Visit},
};

use super::{model, store};
use crate::kernel::time;

fn matter(
    content: &str,
    demands: &str,
    category: &str,
    org: &str,
    claim_type: i16,
    accused: Option<&str>,
) -> MatterInput {
    MatterInput {
        content: content.to_owned(),
        demands: demands.to_owned(),
        category: category.to_owned(),
        problem_org_code: org.to_owned(),
        // The case is in `classification.case_id`; echoing it here would turn a copied record into a link.
        link_case_id: String::new(),
        claim_type: i32::from(claim_type),
        accused_org_code: accused.unwrap_or_default().to_owned(),
        new_case_reason: String::new(),
    }
}

/// The case a registration belongs to, as its reader may see it: its id when the reader reads the case,
/// else empty (the reader learns only whether the registration is a repeat, and whether it is answered
/// 不再受理).
fn classification(
    case_id: Uuid,
    repeat: bool,
    not_accepted_again: bool,
    readable: &HashSet<Uuid>,
) -> Classification {
    Classification {
        case_id: if readable.contains(&case_id) {
            case_id.to_string()
        } else {
            String::new()
        },
        repeat,
        not_accepted_again,
    }
}

pub fn visit(
    row: &store::VisitRow,
    petitioners: Vec<Petitioner>,
    readable: &HashSet<Uuid>,
) -> Visit {
    Visit {
        id: row.id.to_string(),
        number: row.number.clone(),
        visited_at: Some(time::to_proto(row.visited_at)),
        level: model::level_from_db(&row.level) as i32,
        non_reception_place: row.non_reception_place,
        place_name: row.place_name.clone(),
        headcount: row.headcount,
        petitioners,
        matter: Some(matter(
            &row.content,
            &row.demands,
            &row.category_code,
            &row.problem_org_code,
            row.claim_type,
            row.accused_org_code.as_deref(),
        )),
        collective: row.collective,
        leapfrog: row.leapfrog,
        classification: Some(classification(
            row.case_id,
            row.repeat,
            row.not_accepted_again,
            readable,
        )),
        registered_by: row.registered_by.to_string(),
        recorded_at: Some(time::to_proto(row.recorded_at)),
        large_scale: row.large_scale,
    }
}

pub fn letter(
    row: &store::LetterRow,
    petitioners: Vec<Petitioner>,
    readable: &HashSet<Uuid>,
) -> Letter {
    Letter {
        id: row.id.to_string(),
        number: row.number.clone(),
        channel: model::channel_from_db(&row.channel) as i32,
        source_reference: row.source_reference.clone(),
        campaign: row.campaign.clone(),
        received_at: Some(time::to_proto(row.received_at)),
        petitioners,
        matter: Some(matter(
            &row.content,
            &row.demands,
            &row.category_code,
            &row.problem_org_code,
            row.claim_type,
            row.accused_org_code.as_deref(),
        )),
        anonymous: row.anonymous,
        classification: Some(classification(
            row.case_id,
            row.repeat,
            row.not_accepted_again,
            readable,
        )),
        registered_by: row.registered_by.to_string(),
        recorded_at: Some(time::to_proto(row.recorded_at)),
    }
}

pub fn trip(row: &store::TripRow, petitioners: Vec<Petitioner>, cases: Vec<String>) -> ReturnTrip {
    let costs = Costs {
        transport: row.transport_cost,
        lodging: row.lodging_cost,
        meals: row.meal_cost,
        other: row.other_cost,
    };
    ReturnTrip {
        id: row.id.to_string(),
        number: row.number.clone(),
        notified_by: row.notified_by.clone(),
        notified_at: Some(time::to_proto(row.notified_at)),
        destination_level: model::level_from_db(&row.destination_level) as i32,
        destination_place: row.destination_place.clone(),
        non_reception_place: row.non_reception_place,
        responsible_org_code: row.responsible_org_code.clone(),
        officers: row.officers.clone(),
        petitioners,
        case_ids: cases,
        departed_at: row.departed_at.map(time::to_proto),
        arrived_at: row.arrived_at.map(time::to_proto),
        returned_at: row.returned_at.map(time::to_proto),
        costs: Some(TripCosts {
            transport: money::format(costs.transport),
            lodging: money::format(costs.lodging),
            meals: money::format(costs.meals),
            other: money::format(costs.other),
            total: money::format(costs.total()),
        }),
        outcome: model::outcome_from_db(&row.outcome) as i32,
        report: row.report.clone(),
        recorded_by: row.recorded_by.to_string(),
        recorded_at: Some(time::to_proto(row.recorded_at)),
    }
}
