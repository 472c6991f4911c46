use chrono::TimeZone;
use xinfang_proto::v1::{
    BacklogResolution, BacklogState, DeclineGround, Level, Rating, ReviewOutcome, SupervisionMethod,
};

use crate::cases::calendar::Timeliness;

use super::*;

static CLAIMS: std::sync::LazyLock<ClaimRules> =
    std::sync::LazyLock::new(|| ClaimRules::builtin().unwrap());

fn cal() -> HolidayCalendar {
    HolidayCalendar::default_china().unwrap()
}

/// 09:00 in Shanghai on that day.
fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    shanghai()
        .with_ymd_and_hms(y, m, d, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn facts<'a>(cal: &'a HolidayCalendar, rules: &'a DeadlineRules, when: DateTime<Utc>) -> Facts<'a> {
    Facts {
        at: when,
        calendar: cal,
        rules,
        policy: DeadlinePolicy::default(),
        claims: &CLAIMS,
    }
}

fn step(record: &CaseRecord, action: Action, when: DateTime<Utc>) -> Result<CaseRecord, Refusal> {
    let cal = cal();
    let rules = DeadlineRules::default();
    apply(record, &action, &facts(&cal, &rules, when)).map(|(r, _)| r)
}

fn reason(err: Refusal) -> &'static str {
    match err {
        Refusal::State { reason, .. } => reason,
        Refusal::Input { field, .. } => field,
    }
}

/// The day the notice of an extension went out in these tests: after every acceptance they extend.
const NOTICE_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2020, 6, 20) {
    Some(d) => d,
    None => panic!("a date"),
};

impl CaseRecord {
    fn registered_petition(at: DateTime<Utc>) -> Self {
        Self::registered(at, 1)
    }
}

fn assign(unit: &str) -> Action {
    Action::Assign {
        mode: AssignmentMode::Forward,
        unit: unit.into(),
        handling_deadline: None,
        reason: None,
    }
}

/// A case registered on 2020-06-01 and driven to `state`.
fn at_state(state: CaseState) -> CaseRecord {
    let mut r = CaseRecord::registered_petition(at(2020, 6, 1));
    let path = [
        (CaseState::Assigned, assign("510422100"), at(2020, 6, 2)),
        (CaseState::Accepted, Action::Accept, at(2020, 6, 5)),
        (
            CaseState::Replied,
            Action::Reply {
                opinion: "意见书".into(),
                completion_report: None,
                publish_for_evaluation: true,
            },
            at(2020, 7, 1),
        ),
        (
            CaseState::Evaluated,
            Action::Evaluate {
                office: Rating::Satisfied,
                unit: Rating::Satisfied,
            },
            at(2020, 7, 3),
        ),
        (
            CaseState::ReviewRequested,
            Action::RequestReview,
            at(2020, 7, 10),
        ),
        (
            CaseState::Reviewed,
            Action::DecideReview {
                outcome: ReviewOutcome::Upheld,
            },
            at(2020, 7, 20),
        ),
    ];
    if state == CaseState::Registered {
        return r;
    }
    for (reached, action, when) in path {
        r = step(&r, action, when).unwrap();
        if reached == state {
            return r;
        }
    }
    panic!("no path to {state:?}");
}

#[test]
fn the_main_path_and_the_second_review_make_it_final() {
    let r = at_state(CaseState::Reviewed);
    assert_eq!(r.review_kind, 1);
    let r = step(&r, Action::RequestReview, at(2020, 8, 1)).unwrap();
    assert_eq!((r.state, r.review_kind), (CaseState::ReviewRequested, 2));
    let r = step(
        &r,
        Action::DecideReview {
            outcome: ReviewOutcome::Upheld,
        },
        at(2020, 8, 20),
    )
    .unwrap();
    assert_eq!(r.state, CaseState::Final);
    let err = step(&r, Action::RequestReview, at(2020, 8, 21)).unwrap_err();
    assert_eq!(reason(err), "CASE_FINAL");
}

#[test]
fn forbidden_steps_per_state_carry_their_reasons() {
    let registered = at_state(CaseState::Registered);
    assert_eq!(
        reason(step(&registered, Action::Accept, at(2020, 6, 2)).unwrap_err()),
        "CASE_NOT_ASSIGNED"
    );
    assert_eq!(
        reason(
            step(
                &registered,
                Action::Reply {
                    opinion: "x".into(),
                    completion_report: None,
                    publish_for_evaluation: false,
                },
                at(2020, 6, 2)
            )
            .unwrap_err()
        ),
        "CASE_NOT_ASSIGNED"
    );
    let assigned = at_state(CaseState::Assigned);
    assert_eq!(
        reason(
            step(
                &assigned,
                Action::Reply {
                    opinion: "x".into(),
                    completion_report: None,
                    publish_for_evaluation: false,
                },
                at(2020, 6, 3)
            )
            .unwrap_err()
        ),
        "CASE_NOT_ACCEPTED"
    );
    assert_eq!(
        reason(
            step(
                &assigned,
                Action::Extend {
                    days: 10,
                    approved_by: "x".into(),
                    reason: "x".into(),
                    notified_on: NOTICE_DAY,
                },
                at(2020, 6, 3)
            )
            .unwrap_err()
        ),
        "CASE_NOT_ACCEPTED"
    );
    let accepted = at_state(CaseState::Accepted);
    assert_eq!(
        reason(step(&accepted, Action::Accept, at(2020, 6, 6)).unwrap_err()),
        "CASE_ALREADY_ACCEPTED"
    );
    assert_eq!(
        reason(step(&accepted, assign("510422101"), at(2020, 6, 6)).unwrap_err()),
        "CASE_ALREADY_ACCEPTED"
    );
    assert_eq!(
        reason(step(&accepted, Action::RequestReview, at(2020, 6, 6)).unwrap_err()),
        "CASE_NOT_REPLIED"
    );
    let replied = at_state(CaseState::Replied);
    assert_eq!(
        reason(step(&replied, Action::Accept, at(2020, 7, 2)).unwrap_err()),
        "CASE_ALREADY_CONCLUDED"
    );
    assert_eq!(
        reason(
            step(
                &replied,
                Action::DecideReview {
                    outcome: ReviewOutcome::Upheld
                },
                at(2020, 7, 2)
            )
            .unwrap_err()
        ),
        "REVIEW_NOT_REQUESTED"
    );
    let evaluated = at_state(CaseState::Evaluated);
    assert_eq!(
        reason(
            step(
                &evaluated,
                Action::Evaluate {
                    office: Rating::Satisfied,
                    unit: Rating::Satisfied
                },
                at(2020, 7, 4)
            )
            .unwrap_err()
        ),
        "EVALUATION_ALREADY_RECORDED"
    );
    let requested = at_state(CaseState::ReviewRequested);
    assert_eq!(
        reason(step(&requested, Action::RequestReview, at(2020, 7, 11)).unwrap_err()),
        "REVIEW_ALREADY_REQUESTED"
    );
    let declined = step(
        &assigned,
        Action::Decline {
            ground: DeclineGround::OtherBranch,
        },
        at(2020, 6, 3),
    )
    .unwrap();
    assert_eq!(
        reason(step(&declined, Action::Accept, at(2020, 6, 4)).unwrap_err()),
        "CASE_DECLINED"
    );
    assert_eq!(
        reason(
            step(
                &declined,
                Action::Supervise {
                    level: Level::City,
                    method: SupervisionMethod::Document
                },
                at(2020, 6, 4)
            )
            .unwrap_err()
        ),
        "CASE_DECLINED"
    );
}

#[test]
fn reassignment_needs_a_reason_and_another_unit() {
    let assigned = at_state(CaseState::Assigned);
    assert_eq!(
        reason(step(&assigned, assign("510422101"), at(2020, 6, 3)).unwrap_err()),
        "reason"
    );
    let again = Action::Assign {
        mode: AssignmentMode::Forward,
        unit: "510422100".into(),
        handling_deadline: None,
        reason: Some("x".into()),
    };
    assert_eq!(
        reason(step(&assigned, again, at(2020, 6, 3)).unwrap_err()),
        "SAME_UNIT"
    );
    let moved = step(
        &assigned,
        Action::Assign {
            mode: AssignmentMode::Assign,
            unit: "510422101".into(),
            handling_deadline: NaiveDate::from_ymd_opt(2020, 7, 31),
            reason: Some("属地错误".into()),
        },
        at(2020, 6, 3),
    )
    .unwrap();
    assert_eq!(moved.responsible_org_code.as_deref(), Some("510422101"));
    assert_eq!(
        moved.first_assigned_at,
        Some(at(2020, 6, 2)),
        "the first assignment is kept"
    );
    assert_eq!(moved.assigned_at, Some(at(2020, 6, 3)));
}

#[test]
fn objections_within_five_working_days() {
    // Assigned Friday 2020-09-25; the window spans a weekend and the National Day holiday (10-01..10-08),
    // with 09-27 a make-up working Sunday: working days 09-27, 09-28, 09-29, 09-30, 10-09.
    let mut r = CaseRecord::registered_petition(at(2020, 9, 20));
    r = step(&r, assign("510422100"), at(2020, 9, 25)).unwrap();
    let objected = step(&r, Action::Object, at(2020, 10, 9)).unwrap();
    // The case stays with the unit until the office decides.
    assert_eq!(objected.state, CaseState::Assigned);
    assert_eq!(objected.objection_state, ObjectionState::Pending as i32);
    let back = step(
        &objected,
        Action::DecideObjection { agree: true },
        at(2020, 10, 10),
    )
    .unwrap();
    assert_eq!(back.state, CaseState::Returned);
    assert_eq!(back.responsible_org_code, None);
    let late = step(&r, Action::Object, at(2020, 10, 10)).unwrap_err();
    assert_eq!(reason(late), "OBJECTION_WINDOW_CLOSED");
    // Back at the office, it is assigned anew.
    let again = step(&back, assign("510422103"), at(2020, 10, 12)).unwrap();
    assert_eq!(again.state, CaseState::Assigned);
}

fn clocks(r: &CaseRecord, when: DateTime<Utc>) -> Schedule {
    let cal = cal();
    let rules = DeadlineRules::default();
    schedule(r, &facts(&cal, &rules, when))
}

#[test]
fn an_objection_waits_for_the_office_and_never_answers_the_assignment() {
    let assigned = at_state(CaseState::Assigned); // assigned 2020-06-02 to 510422100: accept by 06-17
    let objected = step(&assigned, Action::Object, at(2020, 6, 4)).unwrap();
    assert_eq!(
        reason(step(&objected, Action::Object, at(2020, 6, 5)).unwrap_err()),
        "OBJECTION_ALREADY_RAISED"
    );
    assert_eq!(
        reason(
            step(
                &objected,
                Action::Decline {
                    ground: DeclineGround::OtherBranch
                },
                at(2020, 6, 5)
            )
            .unwrap_err()
        ),
        "OBJECTION_PENDING"
    );
    // Objecting is not accepting: the unit's acceptance clock is still open.
    let s = clocks(&objected, at(2020, 6, 4));
    assert_eq!(s.accept.unwrap().outcome, Outcome::Open);

    // Refused: the unit handles it, judged from the original receipt; accepting on 06-20 is late.
    let refused = step(
        &objected,
        Action::DecideObjection { agree: false },
        at(2020, 6, 8),
    )
    .unwrap();
    assert_eq!(refused.state, CaseState::Assigned);
    assert_eq!(refused.responsible_org_code.as_deref(), Some("510422100"));
    let accepted = step(&refused, Action::Accept, at(2020, 6, 20)).unwrap();
    let s = clocks(&accepted, at(2020, 6, 20));
    assert_eq!(
        s.accept,
        Some(Clock {
            due: NaiveDate::from_ymd_opt(2020, 6, 17).unwrap(),
            outcome: Outcome::Late
        })
    );

    // Agreed: the case comes back and the objecting unit has no clocks for it.
    let back = step(
        &objected,
        Action::DecideObjection { agree: true },
        at(2020, 6, 8),
    )
    .unwrap();
    let s = clocks(&back, at(2020, 6, 8));
    assert_eq!((s.accept, s.conclude), (None, None));
    assert_eq!(
        reason(
            step(
                &back,
                Action::DecideObjection { agree: true },
                at(2020, 6, 9)
            )
            .unwrap_err()
        ),
        "NO_OBJECTION_PENDING"
    );
    // The next unit is judged on its own clock, from its own receipt, with no objection of the first.
    let next = step(&back, assign("510422101"), at(2020, 6, 10)).unwrap();
    assert_eq!(next.objected_at, None);
    let accepted = step(&next, Action::Accept, at(2020, 6, 24)).unwrap();
    let s = clocks(&accepted, at(2020, 6, 24));
    assert_eq!(
        s.accept,
        Some(Clock {
            due: NaiveDate::from_ymd_opt(2020, 6, 28).unwrap(),
            outcome: Outcome::OnTime
        })
    );
    // Reassigning while an objection waits agrees with it.
    let moved = step(
        &objected,
        Action::Assign {
            mode: AssignmentMode::Forward,
            unit: "510422102".into(),
            handling_deadline: None,
            reason: Some("属地调整".into()),
        },
        at(2020, 6, 9),
    )
    .unwrap();
    assert_eq!(moved.objection_state, ObjectionState::Unspecified as i32);
    assert_eq!(moved.responsible_org_code.as_deref(), Some("510422102"));
    // Accepting instead withdraws the objection.
    let withdrawn = step(&objected, Action::Accept, at(2020, 6, 9)).unwrap();
    assert_eq!(withdrawn.objection_state, ObjectionState::Withdrawn as i32);
}

#[test]
fn only_a_published_opinion_is_rated() {
    let mut r = CaseRecord::registered_petition(at(2020, 6, 1));
    r = step(&r, assign("510422100"), at(2020, 6, 2)).unwrap();
    r = step(&r, Action::Accept, at(2020, 6, 5)).unwrap();
    let unpublished = step(
        &r,
        Action::Reply {
            opinion: "意见书".into(),
            completion_report: None,
            publish_for_evaluation: false,
        },
        at(2020, 7, 1),
    )
    .unwrap();
    let rate = |office, unit| Action::Evaluate { office, unit };
    for ratings in [
        rate(Rating::Satisfied, Rating::Satisfied),
        rate(Rating::NotParticipated, Rating::NotParticipated),
    ] {
        assert_eq!(
            reason(step(&unpublished, ratings, at(2020, 7, 3)).unwrap_err()),
            "CASE_NOT_PUBLISHED"
        );
    }
}

#[test]
fn only_cases_with_a_statutory_period_have_a_conclusion_clock() {
    let cal = cal();
    let rules = DeadlineRules::default();
    let run = |claim: i32, regulation: &str| {
        let mut r = CaseRecord::registered(at(2020, 6, 1), claim);
        r.regulation = regulation.into();
        let r = step(&r, assign("510422100"), at(2020, 6, 2)).unwrap();
        let r = step(&r, Action::Accept, at(2020, 6, 5)).unwrap();
        conclude_due(&r, &facts(&cal, &rules, at(2020, 6, 5)))
    };
    let sixty = NaiveDate::from_ymd_opt(2020, 8, 4);
    assert_eq!(run(0, "2022"), sixty, "unspecified is read as 申诉求决");
    assert_eq!(run(1, "2022"), sixty);
    assert_eq!(run(2, "2022"), None, "建议意见");
    assert_eq!(run(3, "2022"), None, "检举控告");
    assert_eq!(
        run(2, "2005"),
        sixty,
        "the 2005 regulation gives every case 60 days"
    );
    // Nothing to extend without the period.
    let mut r = CaseRecord::registered(at(2020, 6, 1), 2);
    r = step(&r, assign("510422100"), at(2020, 6, 2)).unwrap();
    r = step(&r, Action::Accept, at(2020, 6, 5)).unwrap();
    let extend = Action::Extend {
        days: 10,
        approved_by: "局长".into(),
        reason: "调查".into(),
        notified_on: NOTICE_DAY,
    };
    assert_eq!(
        reason(step(&r, extend, at(2020, 6, 25)).unwrap_err()),
        "NO_STATUTORY_DEADLINE"
    );
}

#[test]
fn a_jiaoban_deadline_and_its_extension_stay_within_the_statutory_limit() {
    let jiaoban = |deadline: NaiveDate| Action::Assign {
        mode: AssignmentMode::Assign,
        unit: "510422100".into(),
        handling_deadline: Some(deadline),
        reason: None,
    };
    let r = CaseRecord::registered_petition(at(2020, 6, 1));
    // Assigned 2020-06-02: the statutory 60 days end 2020-08-01, a Saturday, so 2020-08-03.
    assert_eq!(
        reason(
            step(
                &r,
                jiaoban(NaiveDate::from_ymd_opt(2020, 8, 31).unwrap()),
                at(2020, 6, 2)
            )
            .unwrap_err()
        ),
        "handling_deadline"
    );
    let r = step(
        &r,
        jiaoban(NaiveDate::from_ymd_opt(2020, 8, 3).unwrap()),
        at(2020, 6, 2),
    )
    .unwrap();
    let r = step(&r, Action::Accept, at(2020, 6, 16)).unwrap();
    let extended = step(
        &r,
        Action::Extend {
            days: 30,
            approved_by: "局长".into(),
            reason: "需鉴定".into(),
            notified_on: NOTICE_DAY,
        },
        at(2020, 7, 20),
    )
    .unwrap();
    let cal = cal();
    let rules = DeadlineRules::default();
    let due = conclude_due(&extended, &facts(&cal, &rules, at(2020, 7, 20))).unwrap();
    // 08-03 + 30 = 09-02; the statutory limit with the longest extension is 90 days from acceptance
    // (06-16 → 09-14), which is later, so the 交办 deadline binds.
    assert_eq!(due, NaiveDate::from_ymd_opt(2020, 9, 2).unwrap());
    assert!(due <= NaiveDate::from_ymd_opt(2020, 9, 14).unwrap());
}

#[test]
fn an_extension_records_its_written_notice() {
    let accepted = at_state(CaseState::Accepted); // accepted 2020-06-05
    let extend = |notified_on| Action::Extend {
        days: 10,
        approved_by: "局长".into(),
        reason: "调查".into(),
        notified_on,
    };
    for bad in [
        NaiveDate::from_ymd_opt(2020, 6, 4).unwrap(),
        NaiveDate::from_ymd_opt(2020, 7, 2).unwrap(),
    ] {
        assert_eq!(
            reason(step(&accepted, extend(bad), at(2020, 7, 1)).unwrap_err()),
            "notified_on"
        );
    }
    let r = step(&accepted, extend(NOTICE_DAY), at(2020, 7, 1)).unwrap();
    assert_eq!(r.extension_notified_on, Some(NOTICE_DAY));
}

#[test]
fn supervision_waits_for_a_reply_in_thirty_days_and_the_office_closes_it() {
    let accepted = at_state(CaseState::Accepted);
    assert_eq!(
        reason(
            step(
                &accepted,
                Action::ReplySupervision { reply: "x".into() },
                at(2020, 6, 6)
            )
            .unwrap_err()
        ),
        "NOT_SUPERVISED"
    );
    let supervised = step(
        &accepted,
        Action::Supervise {
            level: Level::County,
            method: SupervisionMethod::Document,
        },
        at(2020, 6, 10),
    )
    .unwrap();
    let cal = cal();
    let rules = DeadlineRules::default();
    let set = deadlines(
        &supervised,
        &facts(&cal, &rules, at(2020, 7, 13)),
        local_date(at(2020, 7, 13)),
    );
    let reply = set.supervision_reply.unwrap();
    assert_eq!(reply.due, NaiveDate::from_ymd_opt(2020, 7, 10).unwrap());
    assert_eq!(reply.timeliness, Timeliness::Overdue);
    assert_eq!(
        clocks(&supervised, at(2020, 6, 10)).supervision_due,
        NaiveDate::from_ymd_opt(2020, 7, 10)
    );
    let replied = step(
        &supervised,
        Action::ReplySupervision {
            reply: "已整改".into(),
        },
        at(2020, 7, 1),
    )
    .unwrap();
    assert_eq!(
        reason(
            step(
                &replied,
                Action::ReplySupervision { reply: "x".into() },
                at(2020, 7, 2)
            )
            .unwrap_err()
        ),
        "SUPERVISION_ALREADY_REPLIED"
    );
    let closed = step(&replied, Action::CloseSupervision, at(2020, 7, 3)).unwrap();
    assert!(!closed.supervised);
    assert_eq!(clocks(&closed, at(2020, 7, 3)).supervision_due, None);
}

#[test]
fn a_jiaoban_case_is_concluded_when_the_office_confirms_its_report() {
    let r = CaseRecord::registered_petition(at(2020, 6, 1));
    let r = step(
        &r,
        Action::Assign {
            mode: AssignmentMode::Assign,
            unit: "510422100".into(),
            handling_deadline: NaiveDate::from_ymd_opt(2020, 7, 15),
            reason: None,
        },
        at(2020, 6, 2),
    )
    .unwrap();
    let r = step(&r, Action::Accept, at(2020, 6, 3)).unwrap();
    let replied = step(
        &r,
        Action::Reply {
            opinion: "意见".into(),
            completion_report: Some("办结报告".into()),
            publish_for_evaluation: false,
        },
        at(2020, 7, 10),
    )
    .unwrap();
    assert_eq!(
        clocks(&replied, at(2020, 7, 10)).conclude.unwrap().outcome,
        Outcome::Open,
        "the reply alone does not conclude a 交办 case"
    );
    let confirmed = step(&replied, Action::ConfirmCompletion, at(2020, 7, 20)).unwrap();
    assert_eq!(
        clocks(&confirmed, at(2020, 7, 20))
            .conclude
            .unwrap()
            .outcome,
        Outcome::Late,
        "confirmed after the handling deadline of 07-15"
    );
    assert_eq!(
        reason(step(&confirmed, Action::ConfirmCompletion, at(2020, 7, 21)).unwrap_err()),
        "COMPLETION_ALREADY_CONFIRMED"
    );
    let forwarded = at_state(CaseState::Replied);
    assert_eq!(
        reason(step(&forwarded, Action::ConfirmCompletion, at(2020, 7, 2)).unwrap_err()),
        "NOT_A_COMPLETION_REPORT"
    );
}

#[test]
fn one_extension_of_at_most_thirty_days_before_the_due_date() {
    let accepted = at_state(CaseState::Accepted); // accepted 2020-06-05: due 2020-08-04
    let extend = |days| Action::Extend {
        days,
        approved_by: "局长".into(),
        reason: "需调查取证".into(),
        notified_on: NOTICE_DAY,
    };
    assert_eq!(
        reason(step(&accepted, extend(31), at(2020, 7, 1)).unwrap_err()),
        "days"
    );
    assert_eq!(
        reason(step(&accepted, extend(0), at(2020, 7, 1)).unwrap_err()),
        "days"
    );
    assert_eq!(
        reason(step(&accepted, extend(30), at(2020, 8, 5)).unwrap_err()),
        "EXTENSION_TOO_LATE"
    );
    let extended = step(&accepted, extend(30), at(2020, 8, 4)).unwrap();
    assert_eq!(
        reason(step(&extended, extend(5), at(2020, 8, 5)).unwrap_err()),
        "EXTENSION_ALREADY_GRANTED"
    );
    let cal = cal();
    let rules = DeadlineRules::default();
    let f = facts(&cal, &rules, at(2020, 8, 5));
    assert_eq!(
        conclude_due(&accepted, &f),
        NaiveDate::from_ymd_opt(2020, 8, 4)
    );
    assert_eq!(
        conclude_due(&extended, &f),
        NaiveDate::from_ymd_opt(2020, 9, 3)
    );
}

#[test]
fn review_windows_close_after_thirty_days_and_the_case_is_final() {
    let replied = at_state(CaseState::Replied); // replied 2020-07-01: window to 2020-07-31 (Friday)
    assert!(step(&replied, Action::RequestReview, at(2020, 7, 31)).is_ok());
    let closed = step(&replied, Action::RequestReview, at(2020, 8, 1)).unwrap_err();
    assert_eq!(reason(closed), "REVIEW_WINDOW_CLOSED");
    let cal = cal();
    let rules = DeadlineRules::default();
    let f = facts(&cal, &rules, at(2020, 8, 1));
    assert_eq!(
        effective_state(&replied, &f, local_date(at(2020, 7, 31))),
        CaseState::Replied
    );
    assert_eq!(
        effective_state(&replied, &f, local_date(at(2020, 8, 1))),
        CaseState::Final
    );
    // After 复查 the 复核 window runs from the 复查 decision.
    let reviewed = at_state(CaseState::Reviewed); // decided 2020-07-20: window to 2020-08-19
    assert!(step(&reviewed, Action::RequestReview, at(2020, 8, 19)).is_ok());
    assert_eq!(
        reason(step(&reviewed, Action::RequestReview, at(2020, 8, 20)).unwrap_err()),
        "REVIEW_WINDOW_CLOSED"
    );
}

#[test]
fn a_published_case_is_rated_within_its_window_or_counts_as_not_evaluated() {
    let accepted = at_state(CaseState::Accepted);
    let reply = |publish| Action::Reply {
        opinion: "意见书".into(),
        completion_report: None,
        publish_for_evaluation: publish,
    };
    let rate = |office, unit| Action::Evaluate { office, unit };
    // Replied 2020-09-04 (Friday): 30 days end on 2020-10-04, inside the National Day holiday
    // (10-01..10-08), so the window runs to Friday 2020-10-09.
    let published = step(&accepted, reply(true), at(2020, 9, 4)).unwrap();
    let cal = cal();
    let rules = DeadlineRules::default();
    let f = facts(&cal, &rules, at(2020, 9, 4));
    let window = deadlines(&published, &f, local_date(at(2020, 10, 10)))
        .evaluation
        .unwrap();
    assert_eq!(
        (window.due, window.timeliness),
        (
            NaiveDate::from_ymd_opt(2020, 10, 9).unwrap(),
            Timeliness::Overdue
        )
    );
    assert_eq!(published.evaluation_due, Some(window.due));
    // Fixed at publication: a longer window configured later does not reopen it.
    let longer = DeadlineRules {
        evaluation_days: 60,
        ..DeadlineRules::default()
    };
    let later = facts(&cal, &longer, at(2020, 10, 10));
    assert_eq!(
        deadlines(&published, &later, local_date(at(2020, 10, 10)))
            .evaluation
            .map(|w| w.due),
        Some(window.due)
    );

    let satisfied = rate(Rating::Satisfied, Rating::Satisfied);
    let rated = step(&published, satisfied.clone(), at(2020, 10, 9)).unwrap();
    assert_eq!(rated.state, CaseState::Evaluated);
    let late = step(&published, satisfied.clone(), at(2020, 10, 10)).unwrap_err();
    assert_eq!(reason(late), "EVALUATION_WINDOW_CLOSED");
    // Recording what the closed window means is still allowed.
    let lapsed = step(
        &published,
        rate(Rating::NotParticipated, Rating::NotParticipated),
        at(2020, 10, 12),
    )
    .unwrap();
    assert_eq!(lapsed.office_rating, Rating::NotParticipated as i32);

    // Outside the scope of evaluation there is no window, and no rating is taken.
    let unpublished = step(&accepted, reply(false), at(2020, 9, 4)).unwrap();
    assert_eq!(
        deadlines(&unpublished, &f, local_date(at(2021, 1, 1))).evaluation,
        None
    );
    assert_eq!(
        reason(step(&unpublished, satisfied, at(2020, 12, 1)).unwrap_err()),
        "CASE_NOT_PUBLISHED"
    );
}

#[test]
fn a_hearing_pauses_the_second_review_deadline() {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    let hearing = |first, last| Action::Hearing {
        first_day: first,
        last_day: last,
    };
    let cal = cal();
    let rules = DeadlineRules::default();
    let decision_due = |r: &CaseRecord| {
        deadlines(r, &facts(&cal, &rules, at(2020, 8, 1)), d(2020, 8, 1))
            .review_decision
            .unwrap()
            .due
    };
    // 复核 requested 2020-08-01: the decision is due 2020-08-31 (Monday).
    let second = step(
        &at_state(CaseState::Reviewed),
        Action::RequestReview,
        at(2020, 8, 1),
    )
    .unwrap();
    assert_eq!(decision_due(&second), d(2020, 8, 31));
    let heard = step(
        &second,
        hearing(d(2020, 8, 10), d(2020, 8, 12)),
        at(2020, 8, 13),
    )
    .unwrap();
    assert_eq!(
        (heard.hearing_days, heard.hearing_until),
        (3, Some(d(2020, 8, 12)))
    );
    assert_eq!(decision_due(&heard), d(2020, 9, 3));

    let refused = |r: &CaseRecord, action, when| reason(step(r, action, when).unwrap_err());
    assert_eq!(
        refused(
            &second,
            hearing(d(2020, 7, 31), d(2020, 8, 2)),
            at(2020, 8, 3)
        ),
        "first_day"
    );
    // The request day itself is not one of the 30 counted days: nothing to pause.
    assert_eq!(
        refused(
            &second,
            hearing(d(2020, 8, 1), d(2020, 8, 1)),
            at(2020, 8, 3)
        ),
        "first_day"
    );
    assert_eq!(
        refused(
            &second,
            hearing(d(2020, 8, 10), d(2020, 8, 20)),
            at(2020, 8, 13)
        ),
        "last_day"
    );
    // Nor is the 复核 decided during the hearing that paused it.
    let decide = Action::DecideReview {
        outcome: ReviewOutcome::Upheld,
    };
    assert_eq!(
        refused(&heard, decide.clone(), at(2020, 8, 11)),
        "occurred_at"
    );
    assert!(step(&heard, decide, at(2020, 8, 12)).is_ok());
    assert_eq!(
        refused(
            &heard,
            hearing(d(2020, 8, 12), d(2020, 8, 14)),
            at(2020, 8, 15)
        ),
        "HEARING_OVERLAPS"
    );
    assert_eq!(
        refused(
            &heard,
            hearing(d(2020, 9, 4), d(2020, 9, 4)),
            at(2020, 9, 5)
        ),
        "HEARING_TOO_LATE"
    );
    // A 复查 is decided in its 30 days; only the 复核 holds hearings.
    let first = at_state(CaseState::ReviewRequested);
    assert_eq!(
        refused(
            &first,
            hearing(d(2020, 7, 12), d(2020, 7, 12)),
            at(2020, 7, 13)
        ),
        "HEARING_NOT_IN_SECOND_REVIEW"
    );
}

#[test]
fn a_step_is_not_dated_before_the_previous_one() {
    let assigned = at_state(CaseState::Assigned); // assigned 2020-06-02
    assert_eq!(
        reason(step(&assigned, Action::Accept, at(2020, 6, 1)).unwrap_err()),
        "occurred_at"
    );
    let objected = step(&assigned, Action::Object, at(2020, 6, 3)).unwrap();
    assert_eq!(
        reason(
            step(
                &objected,
                Action::DecideObjection { agree: true },
                at(2020, 6, 2)
            )
            .unwrap_err()
        ),
        "occurred_at"
    );
    let back = step(
        &objected,
        Action::DecideObjection { agree: true },
        at(2020, 6, 3),
    )
    .unwrap();
    let cal = cal();
    let rules = DeadlineRules::default();
    let f = facts(&cal, &rules, at(2020, 6, 3));
    // The objecting unit's clock is void, and the office has a new period to reassign from its decision.
    let d = deadlines(&back, &f, local_date(at(2020, 7, 1)));
    assert_eq!(d.accept, None);
    assert_eq!(next_due(&back, &f), NaiveDate::from_ymd_opt(2020, 6, 18));
}

#[test]
fn a_handed_over_case_files_its_completion_report() {
    let registered = at_state(CaseState::Registered);
    let handed = step(
        &registered,
        Action::Assign {
            mode: AssignmentMode::Assign,
            unit: "510422100".into(),
            handling_deadline: NaiveDate::from_ymd_opt(2020, 7, 31),
            reason: None,
        },
        at(2020, 6, 2),
    )
    .unwrap();
    let accepted = step(&handed, Action::Accept, at(2020, 6, 3)).unwrap();
    let reply = |report: Option<&str>| Action::Reply {
        opinion: "意见书".into(),
        completion_report: report.map(str::to_owned),
        publish_for_evaluation: false,
    };
    assert_eq!(
        reason(step(&accepted, reply(None), at(2020, 7, 1)).unwrap_err()),
        "completion_report"
    );
    let done = step(&accepted, reply(Some("办结报告")), at(2020, 7, 1)).unwrap();
    assert_eq!(done.completion_report.as_deref(), Some("办结报告"));
    // A forwarded case files none.
    let forwarded = at_state(CaseState::Accepted);
    assert_eq!(
        reason(step(&forwarded, reply(Some("x")), at(2020, 7, 1)).unwrap_err()),
        "completion_report"
    );
}

#[test]
fn rules_come_from_json_with_defaults() {
    let w = Workflow::china()
        .unwrap()
        .with_rules_json(r#"{"conclude_days": 90}"#)
        .unwrap();
    assert_eq!((w.rules.conclude_days, w.rules.assign_days), (90, 15));
    assert!(
        Workflow::china()
            .unwrap()
            .with_rules_json(r#"{"conclude": 90}"#)
            .is_err()
    );
}

#[test]
fn handling_deadlines_are_bounded() {
    let registered = at_state(CaseState::Registered);
    let with = |mode, deadline| Action::Assign {
        mode,
        unit: "510422100".into(),
        handling_deadline: deadline,
        reason: None,
    };
    let far = NaiveDate::from_ymd_opt(2021, 6, 1);
    let near = NaiveDate::from_ymd_opt(2020, 7, 1);
    assert_eq!(
        reason(
            step(
                &registered,
                with(AssignmentMode::Assign, far),
                at(2020, 6, 2)
            )
            .unwrap_err()
        ),
        "handling_deadline"
    );
    assert_eq!(
        reason(
            step(
                &registered,
                with(AssignmentMode::Forward, near),
                at(2020, 6, 2)
            )
            .unwrap_err()
        ),
        "handling_deadline"
    );
    assert!(
        step(
            &registered,
            with(AssignmentMode::Assign, near),
            at(2020, 6, 2)
        )
        .is_ok()
    );
}

#[test]
fn the_six_refusal_grounds_each_decline() {
    for ground in [
        DeclineGround::OtherBranch,
        DeclineGround::Leapfrog,
        DeclineGround::AlreadyHandling,
        DeclineGround::ReviewSkipped,
        DeclineGround::ReviewWindowPassed,
        DeclineGround::AlreadyConcluded,
    ] {
        let r = step(
            &at_state(CaseState::Assigned),
            Action::Decline { ground },
            at(2020, 6, 3),
        )
        .unwrap();
        assert_eq!(
            (r.state, r.decline_ground),
            (CaseState::Declined, ground as i32)
        );
    }
}

/// Found by the `case_workflow` fuzz target: a backlog step dated before the listing was taken, leaving
/// a case resolving (or resolved) before it was a backlog case.
#[test]
fn backlog_steps_are_not_dated_before_the_listing() {
    let r = at_state(CaseState::Accepted);
    let listed = step(
        &r,
        Action::MarkBacklog {
            leader: Some("副县长".into()),
            special_difficult: Some(true),
        },
        at(2020, 6, 10),
    )
    .unwrap();
    let resolve = |step_: BacklogState, resolution| Action::ResolveBacklog {
        step: step_,
        resolution,
    };
    let early = step(
        &listed,
        resolve(BacklogState::Resolved, BacklogResolution::Agreement),
        at(2020, 6, 9),
    )
    .unwrap_err();
    assert_eq!(reason(early), "occurred_at");
    let relisted = Action::MarkBacklog {
        leader: None,
        special_difficult: None,
    };
    assert_eq!(
        reason(step(&listed, relisted.clone(), at(2020, 6, 9)).unwrap_err()),
        "occurred_at"
    );
    let resolved = step(
        &listed,
        resolve(BacklogState::Resolved, BacklogResolution::Agreement),
        at(2020, 6, 12),
    )
    .unwrap();
    assert_eq!(
        reason(
            step(
                &resolved,
                resolve(BacklogState::StruckOff, BacklogResolution::Unspecified),
                at(2020, 6, 11)
            )
            .unwrap_err()
        ),
        "occurred_at"
    );
    step(
        &resolved,
        resolve(BacklogState::StruckOff, BacklogResolution::Unspecified),
        at(2020, 6, 12),
    )
    .unwrap();
    // The case's own steps are judged by the case's steps only.
    let replied = step(
        &listed,
        Action::Reply {
            opinion: "意见书".into(),
            completion_report: None,
            publish_for_evaluation: false,
        },
        at(2020, 6, 9),
    );
    assert!(replied.is_ok(), "{replied:?}");
}

#[test]
fn the_backlog_track() {
    let r = at_state(CaseState::Accepted);
    assert_eq!(
        reason(
            step(
                &r,
                Action::ResolveBacklog {
                    step: BacklogState::Resolving,
                    resolution: BacklogResolution::Unspecified
                },
                at(2020, 6, 6)
            )
            .unwrap_err()
        ),
        "BACKLOG_NOT_LISTED"
    );
    let listed = step(
        &r,
        Action::MarkBacklog {
            leader: None,
            special_difficult: Some(true),
        },
        at(2020, 6, 6),
    )
    .unwrap();
    assert_eq!(listed.backlog_state, BacklogState::Listed as i32);
    assert!(listed.special_difficult);
    assert_eq!(
        listed.backlog_listed_at,
        Some(at(2020, 6, 6)),
        "when it entered the backlog"
    );
    let led = step(
        &listed,
        Action::MarkBacklog {
            leader: Some("副县长".into()),
            special_difficult: None,
        },
        at(2020, 6, 7),
    )
    .unwrap();
    assert_eq!(led.backlog_state, BacklogState::LeaderAssigned as i32);
    assert!(led.special_difficult, "a leader change keeps the flag");
    let resolving = step(
        &led,
        Action::ResolveBacklog {
            step: BacklogState::Resolving,
            resolution: BacklogResolution::Unspecified,
        },
        at(2020, 6, 8),
    )
    .unwrap();
    assert_eq!(
        reason(
            step(
                &resolving,
                Action::ResolveBacklog {
                    step: BacklogState::StruckOff,
                    resolution: BacklogResolution::Unspecified
                },
                at(2020, 6, 9)
            )
            .unwrap_err()
        ),
        "BACKLOG_STEP_NOT_ALLOWED"
    );
    assert_eq!(
        reason(
            step(
                &resolving,
                Action::ResolveBacklog {
                    step: BacklogState::Resolved,
                    resolution: BacklogResolution::Unspecified
                },
                at(2020, 6, 9)
            )
            .unwrap_err()
        ),
        "resolution"
    );
    let resolved = step(
        &resolving,
        Action::ResolveBacklog {
            step: BacklogState::Resolved,
            resolution: BacklogResolution::Agreement,
        },
        at(2020, 6, 9),
    )
    .unwrap();
    let struck = step(
        &resolved,
        Action::ResolveBacklog {
            step: BacklogState::StruckOff,
            resolution: BacklogResolution::Unspecified,
        },
        at(2020, 6, 10),
    )
    .unwrap();
    assert_eq!(struck.backlog_state, BacklogState::StruckOff as i32);
    assert_eq!(
        struck.backlog_resolution,
        BacklogResolution::Agreement as i32
    );
}

#[test]
fn deadlines_across_month_ends_holidays_and_at_the_boundary() {
    let cal = cal();
    let rules = DeadlineRules::default();
    // Registered 2020-01-16: +15 = 01-31 (inside the extended Spring Festival off days to 02-02),
    // so the last day moves to Monday 02-03.
    let r = CaseRecord::registered_petition(at(2020, 1, 16));
    let f = facts(&cal, &rules, at(2020, 1, 16));
    let due = deadlines(&r, &f, local_date(at(2020, 2, 3)))
        .assign
        .unwrap();
    assert_eq!(due.due, NaiveDate::from_ymd_opt(2020, 2, 3).unwrap());
    assert_eq!(
        due.timeliness,
        Timeliness::Pending,
        "the due day itself is still in time"
    );
    let over = deadlines(&r, &f, local_date(at(2020, 2, 4)))
        .assign
        .unwrap();
    assert_eq!(over.timeliness, Timeliness::Overdue);
    // Assigned on the due day: on time; a day later: late.
    let on_time = step(&r, assign("510422100"), at(2020, 2, 3)).unwrap();
    assert_eq!(
        deadlines(&on_time, &f, local_date(at(2020, 3, 1)))
            .assign
            .unwrap()
            .timeliness,
        Timeliness::OnTime
    );
    let late = step(&r, assign("510422100"), at(2020, 2, 4)).unwrap();
    assert_eq!(
        deadlines(&late, &f, local_date(at(2020, 3, 1)))
            .assign
            .unwrap()
            .timeliness,
        Timeliness::Late
    );
    // Accepted 2020-01-31 (a month end): 60 days is 2020-03-31 in a leap year.
    let mut acc = CaseRecord::registered_petition(at(2020, 1, 2));
    acc = step(&acc, assign("510422100"), at(2020, 1, 20)).unwrap();
    acc = step(&acc, Action::Accept, at(2020, 1, 31)).unwrap();
    let d = deadlines(&acc, &f, local_date(at(2020, 2, 10)));
    assert_eq!(d.accept.unwrap().timeliness, Timeliness::OnTime);
    assert_eq!(
        d.conclude.unwrap().due,
        NaiveDate::from_ymd_opt(2020, 3, 31).unwrap()
    );
}
