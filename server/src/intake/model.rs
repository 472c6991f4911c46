//! Intake rules: validation of visits, letters and trips, the derived flags (collective, large-scale,
//! leapfrog), initial and repeat within a case, 不再受理, levels, registration numbers, and who sees what.
//! docs/intake.md tells the rules in the bureau's words.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;
use xinfang_proto::{
    input::intake::NewMatter,
    v1::{CaseState, ClaimType, LetterChannel, Level, TripOutcome},
    validate::{self, Violations},
};

use crate::{
    auth::Role,
    cases::model::{CaseRecord, Facts, effective_state, local_date},
};

pub use xinfang_proto::calendar::today_yyyymmdd;

/// Checks a registration's `request_id` and then the rest of it: every bad field is named at once.
pub fn parse<T>(
    request_id: &str,
    rest: impl FnOnce(&mut Violations) -> Option<T>,
) -> Result<(Uuid, T), Violations> {
    let mut v = Violations::new();
    let request_id = v.check(validate::request_id("request_id", request_id));
    let rest = rest(&mut v);
    v.finish(|| Some((request_id?, rest?)))
}

/// Persons in a batch from which it counts as a collective visit (集体访), by default.
pub const DEFAULT_COLLECTIVE_THRESHOLD: u32 = 5;
/// Persons in a batch from which it counts as a large-scale collective visit (大规模集体访), by default.
pub const DEFAULT_LARGE_SCALE_THRESHOLD: u32 = 50;

pub fn is_collective(headcount: u32, threshold: u32) -> bool {
    headcount >= threshold
}

/// 大规模集体访: counted on its own in the visit statistics (and among the collective visits too).
pub fn is_large_scale(headcount: u32, threshold: u32) -> bool {
    headcount >= threshold
}

/// What the name+phone match hash of a person without an ID number is taken of (同人 by name and phone): the
/// name without any white space (ideographic spaces included) and in lower case, then the phone in its
/// normal form (`personal::phone`), so that "张 三", "+86 138-1234-5678" and "张三", "13812345678" are one
/// person. `None` without a phone: a name alone identifies nobody.
pub fn contact_key(name: &str, phone: Option<&str>) -> Option<String> {
    let phone = phone?;
    let name: String = name
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    Some(format!("{name}\u{1f}{phone}"))
}

/// Roles that may say "this is a new case" against a repeat match, and detach a registration from the
/// case it was matched to: the county desk, which also links registrations by hand.
pub fn overrides_matches(role: Role) -> bool {
    matches!(role, Role::Admin | Role::CountyClerk)
}

/// A registration (visit or letter) of a case, as initial/repeat is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dated {
    /// When it happened (visited_at, received_at).
    pub at: DateTime<Utc>,
    /// Breaks ties between registrations of the same instant.
    pub id: Uuid,
    /// Answered 不再受理: a repeat of a case final by then, never the initial one.
    pub not_accepted_again: bool,
}

/// The initial registration (初访/初信) of a case: its earliest registration by event time (ties by id) that
/// was not answered 不再受理. Derived from dates, never from arrival, so that the same registrations give
/// the same initial one whatever order they reach the server in (field laptops sync days late).
pub fn initial_of(registrations: &[Dated]) -> Option<usize> {
    registrations
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.not_accepted_again)
        .min_by_key(|(_, r)| (r.at, r.id))
        .map(|(i, _)| i)
}

/// The repeat flag of each registration of a case: all but the initial one are repeats.
pub fn repeat_flags(registrations: &[Dated]) -> Vec<bool> {
    let initial = initial_of(registrations);
    (0..registrations.len())
        .map(|i| Some(i) != initial)
        .collect()
}

/// Whether the case was final (终结) on `day`, so that a registration of that day repeating it is answered
/// 不再受理 (ground 6). The workflow's effective state says whether it is final at all (a concluded case
/// whose review window passed unused, or one decided after 复核); a case final by its 复核 decision was so
/// only from the day of the decision.
pub fn final_on(record: &CaseRecord, facts: &Facts<'_>, day: NaiveDate) -> bool {
    if effective_state(record, facts, day) != CaseState::Final {
        return false;
    }
    record.state != CaseState::Final
        || record
            .review_decided_at
            .is_none_or(|decided| local_date(decided) <= day)
}

/// The domain's ranks: township 0, county 1, city 2, province 3, national 4.
pub fn level_rank(level: Level) -> Option<i32> {
    match level {
        Level::Unspecified => None,
        Level::Township => Some(0),
        Level::County => Some(1),
        Level::City => Some(2),
        Level::Province => Some(3),
        Level::National => Some(4),
    }
}

pub fn level_to_db(level: Level) -> &'static str {
    match level {
        Level::Unspecified => "",
        Level::Township => "township",
        Level::County => "county",
        Level::City => "city",
        Level::Province => "province",
        Level::National => "national",
    }
}

pub fn level_from_db(level: &str) -> Level {
    match level {
        "township" => Level::Township,
        "county" => Level::County,
        "city" => Level::City,
        "province" => Level::Province,
        "national" => Level::National,
        _ => Level::Unspecified,
    }
}

/// Level of the organ competent for a case whose problem lies in an org unit of this kind: a township's own
/// cases are township cases; a county department's or the county's are county cases.
pub fn competent_rank(problem_org_kind: &str) -> i32 {
    if problem_org_kind == "township" { 0 } else { 1 }
}

/// 越级: the visit skipped the competent level and the one above it.
pub fn is_leapfrog(visit_level: Level, competent_rank: i32) -> bool {
    level_rank(visit_level).is_some_and(|rank| rank - competent_rank >= 2)
}

pub fn channel_to_db(channel: LetterChannel) -> &'static str {
    match channel {
        LetterChannel::Unspecified => "",
        LetterChannel::Letter => "letter",
        LetterChannel::Phone => "phone",
        LetterChannel::Online => "online",
        LetterChannel::LeaderMailbox => "leader_mailbox",
        LetterChannel::PeoplesDailyBoard => "peoples_daily_board",
        LetterChannel::Transferred => "transferred",
        LetterChannel::Assigned => "assigned",
        LetterChannel::CampaignTransfer => "campaign_transfer",
    }
}

pub fn channel_from_db(channel: &str) -> LetterChannel {
    match channel {
        "letter" => LetterChannel::Letter,
        "phone" => LetterChannel::Phone,
        "online" => LetterChannel::Online,
        "leader_mailbox" => LetterChannel::LeaderMailbox,
        "peoples_daily_board" => LetterChannel::PeoplesDailyBoard,
        "transferred" => LetterChannel::Transferred,
        "assigned" => LetterChannel::Assigned,
        "campaign_transfer" => LetterChannel::CampaignTransfer,
        _ => LetterChannel::Unspecified,
    }
}

pub fn outcome_to_db(outcome: TripOutcome) -> &'static str {
    match outcome {
        TripOutcome::Unspecified | TripOutcome::UnderWay => "under_way",
        TripOutcome::Returned => "returned",
        TripOutcome::NotReturned => "not_returned",
        TripOutcome::HandedOver => "handed_over",
    }
}

pub fn outcome_from_db(outcome: &str) -> TripOutcome {
    match outcome {
        "returned" => TripOutcome::Returned,
        "not_returned" => TripOutcome::NotReturned,
        "handed_over" => TripOutcome::HandedOver,
        "under_way" => TripOutcome::UnderWay,
        _ => TripOutcome::Unspecified,
    }
}

/// Roles that see ID numbers, phones and addresses in full; everyone else gets masks.
pub fn sees_full_pii(role: Role) -> bool {
    matches!(role, Role::Admin | Role::CountyClerk)
}

/// What a case is claimed as: `xinfang.v1.ClaimType` number and, for an accusation, the unit accused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub claim_type: i16,
    pub accused_org_code: Option<String>,
}

/// What a registration's case may join and what it is claimed as (docs/access.md, docs/intake.md).
pub trait CaseClaim {
    fn may_join(&self, existing: &Claim) -> bool;
    fn accusation_against(&self) -> Option<&str>;
    fn claim(&self, linked: Option<&Claim>) -> Claim;
}

impl CaseClaim for NewMatter {
    /// Whether this registration may join the case claimed as `existing`. Accusations stand apart
    /// (docs/access.md): an accusation joins only an accusation against the same unit, so it is never merged
    /// into a case the accused unit handles or reads. Any other registration may join any case; joining
    /// an accusation makes it one ([`NewMatter::claim`]).
    fn may_join(&self, existing: &Claim) -> bool {
        let accusation = ClaimType::Accusation as i16;
        self.claim_type != accusation
            || (existing.claim_type == accusation
                && existing.accused_org_code == self.accused_org_code)
    }

    /// The unit an accusation accuses, when this registration is one: a repeat is looked for only among
    /// accusations against the same unit.
    fn accusation_against(&self) -> Option<&str> {
        (self.claim_type == ClaimType::Accusation as i16)
            .then_some(self.accused_org_code.as_deref())
            .flatten()
    }

    /// The claim a registration records. One that repeats an accusation is about the same thing (同人同事),
    /// so it stays an accusation against the same unit, kept from that unit like the first, unless the desk
    /// registered it as an accusation of its own.
    fn claim(&self, linked: Option<&Claim>) -> Claim {
        let accusation = ClaimType::Accusation as i16;
        match linked {
            Some(first) if self.claim_type != accusation && first.claim_type == accusation => {
                first.clone()
            }
            _ => Claim {
                claim_type: self.claim_type,
                accused_org_code: self.accused_org_code.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::model::{Action, Workflow, apply};
    use crate::kernel::time::shanghai;
    use xinfang_proto::v1::{AssignmentMode, ReviewOutcome};

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        shanghai()
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Calls `f` with every order of `items` (Heap's algorithm).
    fn each_order<T: Clone>(items: &[T], f: &mut impl FnMut(&[T])) {
        fn heap<T: Clone>(k: usize, items: &mut Vec<T>, f: &mut impl FnMut(&[T])) {
            if k <= 1 {
                f(items);
                return;
            }
            for i in 0..k {
                heap(k - 1, items, f);
                let j = if k % 2 == 0 { i } else { 0 };
                items.swap(j, k - 1);
            }
        }
        heap(items.len(), &mut items.to_vec(), f);
    }

    #[test]
    fn the_initial_registration_is_the_earliest_whatever_the_arrival_order() {
        let id = |n: u128| Uuid::from_u128(n);
        let regs = [
            Dated {
                at: at(2024, 3, 5, 9),
                id: id(9),
                not_accepted_again: false,
            },
            // The same instant as the first: the smaller id is the earlier.
            Dated {
                at: at(2024, 3, 5, 9),
                id: id(3),
                not_accepted_again: false,
            },
            Dated {
                at: at(2024, 3, 1, 9),
                id: id(7),
                not_accepted_again: true,
            },
            Dated {
                at: at(2024, 4, 1, 9),
                id: id(1),
                not_accepted_again: false,
            },
            Dated {
                at: at(2024, 5, 1, 9),
                id: id(2),
                not_accepted_again: false,
            },
        ];
        // By date, the one of id 3 is initial; the earlier 不再受理 one never is.
        let by_date = repeat_flags(&regs);
        assert_eq!(by_date, [true, false, true, true, true]);
        let mut orders = 0;
        each_order(&regs, &mut |order| {
            orders += 1;
            // Arriving one by one, with the flags derived again at every arrival, ends where the dates say.
            let mut arrived: Vec<Dated> = Vec::new();
            let mut flags = Vec::new();
            for r in order {
                arrived.push(*r);
                flags = repeat_flags(&arrived);
                // One initial registration at most (none while only a 不再受理 one has arrived).
                assert!(flags.iter().filter(|repeat| !**repeat).count() <= 1);
            }
            for (r, repeat) in arrived.iter().zip(&flags) {
                let i = regs.iter().position(|x| x == r).unwrap();
                assert_eq!(*repeat, by_date[i], "{r:?} in order {order:?}");
            }
        });
        assert_eq!(orders, 120);
        // Only 不再受理 registrations: none is initial.
        assert_eq!(repeat_flags(&regs[2..3]), [true]);
        assert_eq!(initial_of(&[]), None);
    }

    #[test]
    fn a_case_is_final_on_a_day_by_its_review_window_or_its_second_review() {
        let workflow = Workflow::china().unwrap();
        let step = |record: &CaseRecord, action: Action, when: DateTime<Utc>| {
            apply(record, &action, &workflow.facts(when)).unwrap().0
        };
        let registered = CaseRecord::registered(at(2024, 3, 1, 9), ClaimType::Petition as i32);
        let assigned = step(
            &registered,
            Action::Assign {
                mode: AssignmentMode::Forward,
                unit: "510422100".into(),
                handling_deadline: None,
                reason: None,
            },
            at(2024, 3, 2, 9),
        );
        let accepted = step(&assigned, Action::Accept, at(2024, 3, 4, 9));
        let replied = step(
            &accepted,
            Action::Reply {
                opinion: "已处理".into(),
                completion_report: None,
                publish_for_evaluation: false,
            },
            at(2024, 4, 1, 9),
        );
        let facts = workflow.facts(at(2024, 12, 31, 9));
        let day = |m, d| NaiveDate::from_ymd_opt(2024, m, d).unwrap();
        // Concluded on 1 April; 30 days to ask for 复查, to 1 May, which is a holiday: the window runs to the
        // first working day after the May Day break.
        assert!(!final_on(&replied, &facts, day(3, 20)));
        assert!(!final_on(&replied, &facts, day(5, 1)));
        assert!(final_on(&replied, &facts, day(6, 1)));
        // 复查 and then 复核: final from the day of the 复核 decision on, not before.
        let first = step(&replied, Action::RequestReview, at(2024, 4, 10, 9));
        let first = step(
            &first,
            Action::DecideReview {
                outcome: ReviewOutcome::Upheld,
            },
            at(2024, 5, 10, 9),
        );
        let second = step(&first, Action::RequestReview, at(2024, 5, 20, 9));
        assert!(!final_on(&second, &facts, day(12, 1)), "a 复核 under way");
        let decided = step(
            &second,
            Action::DecideReview {
                outcome: ReviewOutcome::Upheld,
            },
            at(2024, 6, 10, 9),
        );
        assert_eq!(decided.state, CaseState::Final);
        assert!(!final_on(&decided, &facts, day(6, 1)));
        assert!(final_on(&decided, &facts, day(6, 10)));
        assert!(final_on(&decided, &facts, day(12, 1)));
        // Never final before it is concluded.
        assert!(!final_on(&accepted, &facts, day(12, 31)));
    }

    #[test]
    fn name_and_phone_identify_a_person_however_they_are_written() {
        assert_eq!(
            contact_key(" 张 三\u{3000}", Some("13812345678")),
            contact_key("张三", Some("13812345678"))
        );
        assert_eq!(
            contact_key("Zhang San", Some("13812345678")),
            contact_key("zhangsan", Some("13812345678"))
        );
        assert_ne!(
            contact_key("张三", Some("13812345678")),
            contact_key("张三", Some("13812345679"))
        );
        assert_ne!(
            contact_key("张三", Some("13812345678")),
            contact_key("张四", Some("13812345678"))
        );
        assert_eq!(contact_key("张三", None), None);
    }

    #[test]
    fn large_scale_at_the_threshold() {
        assert!(!is_large_scale(49, DEFAULT_LARGE_SCALE_THRESHOLD));
        assert!(is_large_scale(50, DEFAULT_LARGE_SCALE_THRESHOLD));
        assert!(is_large_scale(500, DEFAULT_LARGE_SCALE_THRESHOLD));
        assert!(!is_large_scale(50, 60));
    }

    #[test]
    fn a_repeat_of_an_accusation_stays_one() {
        let accusation = ClaimType::Accusation as i16;
        let plain = NewMatter {
            content: "又来反映".into(),
            demands: "查处".into(),
            category: "politics_law".into(),
            problem_org_code: "510422100".into(),
            link_case_id: None,
            claim_type: ClaimType::Petition as i16,
            accused_org_code: None,
            new_case_reason: None,
        };
        let first = Claim {
            claim_type: accusation,
            accused_org_code: Some("510422100".into()),
        };
        assert_eq!(plain.claim(Some(&first)), first);
        // Initial, or repeating a case that is no accusation: the registration's own claim.
        let own = Claim {
            claim_type: plain.claim_type,
            accused_org_code: None,
        };
        assert_eq!(plain.claim(None), own);
        let complaint = Claim {
            claim_type: ClaimType::Suggestion as i16,
            accused_org_code: None,
        };
        assert_eq!(plain.claim(Some(&complaint)), own);
        // An accusation of its own keeps the unit the desk named.
        let other = NewMatter {
            claim_type: accusation,
            accused_org_code: Some("510422101".into()),
            ..plain.clone()
        };
        assert_eq!(
            other.claim(Some(&first)).accused_org_code.as_deref(),
            Some("510422101")
        );
    }

    #[test]
    fn collective_at_the_threshold() {
        assert!(!is_collective(4, 5));
        assert!(is_collective(5, 5));
        assert!(is_collective(6, 5));
        assert!(!is_collective(5, 6));
    }

    #[test]
    fn leapfrog_for_every_level_pair() {
        let township = competent_rank("township");
        let county = competent_rank("department");
        assert_eq!((township, county), (0, 1));
        assert!(!is_leapfrog(Level::County, township));
        assert!(is_leapfrog(Level::City, township));
        assert!(is_leapfrog(Level::Province, township));
        assert!(is_leapfrog(Level::National, township));
        assert!(!is_leapfrog(Level::County, county));
        assert!(!is_leapfrog(Level::City, county));
        assert!(is_leapfrog(Level::Province, county));
        assert!(is_leapfrog(Level::National, county));
        assert!(!is_leapfrog(Level::Unspecified, township));
    }
}
