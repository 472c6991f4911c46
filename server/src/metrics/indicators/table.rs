//! The rows: every indicator, and the sources their counts come from. A new indicator is a row at the end
//! of [`INDICATORS`] (and, when its counts need a rollup that does not exist yet, a migration and a
//! [`Source`] here): docs/indicators.md, "Adding an indicator".

use xinfang_proto::v1::TrendDirection;

use super::{Ask, Dated, Deadline, Indicator, Kind, Output, Part, Source, sum};

/// The office's assignment clock (`Deadline::Assign`), by due date.
pub static ASSIGN_CLOCK: Source = Source {
    name: "timeliness.assign",
    table: "case_deadline_days",
    period: Dated::Days("due"),
    org: "org_code",
    rows: "deadline = 1",
};

/// The responsible unit's acceptance clock (`Deadline::Accept`), by due date.
pub static ACCEPT_CLOCK: Source = Source {
    name: "timeliness.accept",
    table: "case_deadline_days",
    period: Dated::Days("due"),
    org: "org_code",
    rows: "deadline = 2",
};

/// The responsible unit's conclusion clock (`Deadline::Conclude`), by due date.
pub static CONCLUDE_CLOCK: Source = Source {
    name: "timeliness.conclude",
    table: "case_deadline_days",
    period: Dated::Days("due"),
    org: "org_code",
    rows: "deadline = 3",
};

/// Cases by month of acceptance, of reply (their ratings), of backlog listing and resolution, for the
/// responsible unit.
pub static CASE_MONTHS: Source = Source {
    name: "case_months",
    table: "case_months",
    period: Dated::Days("month"),
    org: "org_code",
    rows: "",
};

/// Cases replied in the period and published for evaluation whose window closed unrated before today
/// (未参评 without anybody recording it): few, so counted from the cases (a partial index holds only the
/// published, unrated ones; migration `…_evaluation_window.sql`).
pub static LAPSED_EVALUATIONS: Source = Source {
    name: "evaluations.lapsed",
    table: "cases",
    period: Dated::Instants("replied_at"),
    org: "responsible_org_code",
    rows: "evaluation_due IS NOT NULL AND evaluated_at IS NULL AND evaluation_due < {today}",
};

/// Visits by month, problem place and level.
pub static VISIT_MONTHS: Source = Source {
    name: "visit_months",
    table: "visit_months",
    period: Dated::Days("month"),
    org: "org_code",
    rows: "",
};

/// Letters and online items by month, problem place and channel.
pub static LETTER_MONTHS: Source = Source {
    name: "letter_months",
    table: "letter_months",
    period: Dated::Days("month"),
    org: "org_code",
    rows: "",
};

/// Every source, in the order their statements run.
pub static SOURCES: [&Source; 7] = [
    &ASSIGN_CLOCK,
    &ACCEPT_CLOCK,
    &CONCLUDE_CLOCK,
    &CASE_MONTHS,
    &LAPSED_EVALUATIONS,
    &VISIT_MONTHS,
    &LETTER_MONTHS,
];

const RATE: Indicator = Indicator {
    key: "",
    name: "",
    kind: Kind::Rate,
    numerator: &[],
    denominator: &[],
    counts: "",
    better: TrendDirection::Up,
    unit: "%",
    target: None,
    target_key: "",
    trend: false,
    in_report: false,
    score: None,
};

const COUNT: Indicator = Indicator {
    kind: Kind::Count,
    better: TrendDirection::Down,
    unit: "件",
    ..RATE
};

const UP: TrendDirection = TrendDirection::Up;
const NEITHER: TrendDirection = TrendDirection::Unspecified;

const ONLINE: &str = "channel IN ('online', 'leader_mailbox', 'peoples_daily_board')";

/// Every indicator. The first fourteen are `Indicators`' named fields in their order; a new row goes at the
/// end, so that `Indicators.values` keeps its order.
pub static INDICATORS: &[Indicator] = &[
    Indicator {
        key: "timely_acceptance_office",
        name: "信访部门及时受理率",
        kind: Kind::Clock(Deadline::Assign),
        numerator: &[sum(&ASSIGN_CLOCK, "on_time")],
        denominator: &[
            sum(&ASSIGN_CLOCK, "on_time + late"),
            sum(&ASSIGN_CLOCK, "open").rows("due < {cutoff}"),
        ],
        counts: "cases whose assignment is due (registration + 15 days) in the period, for their problem \
                 place: assigned or declined by then, over those answered and those past due unanswered",
        target: Some(Output::Timeliness),
        trend: true,
        in_report: true,
        score: Some(Part::Effects),
        ..RATE
    },
    Indicator {
        key: "timely_acceptance_unit",
        name: "责任单位及时受理率",
        kind: Kind::Clock(Deadline::Accept),
        numerator: &[sum(&ACCEPT_CLOCK, "on_time")],
        denominator: &[
            sum(&ACCEPT_CLOCK, "on_time + late"),
            sum(&ACCEPT_CLOCK, "open").rows("due < {cutoff}"),
        ],
        counts: "cases whose acceptance is due (the assignment + 15 days) in the period: accepted or \
                 declined by then (an objection does not answer it), over those answered and those past due",
        target: Some(Output::Timeliness),
        trend: true,
        in_report: true,
        score: Some(Part::Effects),
        ..RATE
    },
    Indicator {
        key: "on_time_completion",
        name: "按期办结率",
        kind: Kind::Clock(Deadline::Conclude),
        numerator: &[sum(&CONCLUDE_CLOCK, "on_time")],
        denominator: &[
            sum(&CONCLUDE_CLOCK, "on_time + late"),
            sum(&CONCLUDE_CLOCK, "open").rows("due < {cutoff}"),
            sum(&CONCLUDE_CLOCK, "open")
                .rows("due >= {cutoff}")
                .only_if(Ask::Pending),
        ],
        counts: "cases with a statutory conclusion period whose conclusion is due in the period: concluded \
                 by then, over those concluded and those past due (and, when asked, those not yet due)",
        target: Some(Output::Timeliness),
        trend: true,
        in_report: true,
        score: Some(Part::Effects),
        ..RATE
    },
    Indicator {
        key: "participation_office",
        name: "信访部门参评率",
        numerator: &[sum(&CASE_MONTHS, "office_rated")],
        denominator: &[
            sum(&CASE_MONTHS, "evaluated"),
            sum(&LAPSED_EVALUATIONS, "1"),
        ],
        counts: "cases replied in the period and evaluated, or published and left unrated past their \
                 window: those that rated the petition office",
        trend: true,
        in_report: true,
        ..RATE
    },
    Indicator {
        key: "satisfaction_office",
        name: "信访部门群众满意率",
        numerator: &[
            sum(&CASE_MONTHS, "office_satisfied"),
            sum(&CASE_MONTHS, "office_basically").only_if(Ask::BasicallySatisfied),
        ],
        denominator: &[sum(&CASE_MONTHS, "office_rated")],
        counts: "cases replied in the period that rated the petition office: satisfied (and, when asked, \
                 basically satisfied)",
        target: Some(Output::Quality),
        trend: true,
        in_report: true,
        score: Some(Part::Satisfaction),
        ..RATE
    },
    Indicator {
        key: "participation_unit",
        name: "责任单位参评率",
        numerator: &[sum(&CASE_MONTHS, "unit_rated")],
        denominator: &[
            sum(&CASE_MONTHS, "evaluated"),
            sum(&LAPSED_EVALUATIONS, "1"),
        ],
        counts: "cases replied in the period and evaluated, or published and left unrated past their \
                 window: those that rated the responsible unit",
        trend: true,
        in_report: true,
        ..RATE
    },
    Indicator {
        key: "satisfaction_unit",
        name: "责任单位群众满意率",
        numerator: &[
            sum(&CASE_MONTHS, "unit_satisfied"),
            sum(&CASE_MONTHS, "unit_basically").only_if(Ask::BasicallySatisfied),
        ],
        denominator: &[sum(&CASE_MONTHS, "unit_rated")],
        counts: "cases replied in the period that rated the responsible unit: satisfied (and, when asked, \
                 basically satisfied)",
        target: Some(Output::Quality),
        trend: true,
        in_report: true,
        score: Some(Part::Satisfaction),
        ..RATE
    },
    Indicator {
        key: "backlog_resolution",
        name: "积案化解率",
        numerator: &[sum(&CASE_MONTHS, "backlog_resolved").by_end()],
        denominator: &[sum(&CASE_MONTHS, "backlog_listed").by_end()],
        counts: "backlog cases listed by the end of the period: resolved by then",
        in_report: true,
        ..RATE
    },
    Indicator {
        key: "repeat_rate",
        name: "重复信访率",
        numerator: &[
            sum(&VISIT_MONTHS, "repeat_batches"),
            sum(&LETTER_MONTHS, "repeats"),
        ],
        denominator: &[
            sum(&VISIT_MONTHS, "batches"),
            sum(&LETTER_MONTHS, "letters"),
        ],
        counts: "registrations in the period (visit batches, letters of every channel): repeats",
        better: TrendDirection::Down,
        trend: true,
        ..RATE
    },
    Indicator {
        key: "online_share",
        name: "网上信访占比",
        numerator: &[sum(&LETTER_MONTHS, "letters").rows(ONLINE)],
        denominator: &[
            sum(&VISIT_MONTHS, "batches"),
            sum(&LETTER_MONTHS, "letters"),
        ],
        counts: "registrations in the period: online complaints, leader mailboxes and the People's Daily \
                 board",
        trend: true,
        ..RATE
    },
    Indicator {
        key: "special_difficult_resolved",
        name: "化解特殊疑难积案",
        numerator: &[sum(&CASE_MONTHS, "special_difficult_resolved")],
        counts: "special difficult backlog cases resolved in the period",
        better: UP,
        target: Some(Output::Quantity),
        ..COUNT
    },
    Indicator {
        key: "matters_accepted",
        name: "受理事项",
        numerator: &[sum(&CASE_MONTHS, "accepted")],
        counts: "cases accepted (受理) in the period",
        better: NEITHER,
        ..COUNT
    },
    Indicator {
        key: "evaluations",
        name: "评价事项",
        numerator: &[sum(&CASE_MONTHS, "evaluated")],
        counts: "cases replied in the period with a rating recorded",
        better: NEITHER,
        ..COUNT
    },
    Indicator {
        key: "evaluations_lapsed",
        name: "逾期未参评",
        numerator: &[sum(&LAPSED_EVALUATIONS, "1")],
        counts: "cases replied in the period, published for evaluation, whose window closed unrated",
        ..COUNT
    },
    Indicator {
        key: "total_volume",
        name: "信访总量",
        numerator: &[
            sum(&VISIT_MONTHS, "batches"),
            sum(&LETTER_MONTHS, "letters"),
        ],
        counts: "every registration in the period: visit batches and letters of every channel",
        trend: true,
        ..COUNT
    },
    Indicator {
        key: "visit_batches",
        name: "来访批次",
        numerator: &[sum(&VISIT_MONTHS, "batches")],
        counts: "visit batches of every level in the period",
        unit: "批",
        target: Some(Output::Quantity),
        target_key: "all_batches",
        trend: true,
        ..COUNT
    },
    Indicator {
        key: "visit_persons",
        name: "来访人次",
        numerator: &[sum(&VISIT_MONTHS, "persons")],
        counts: "person-visits of every level in the period",
        unit: "人次",
        target: Some(Output::Quantity),
        target_key: "all_person_visits",
        trend: true,
        ..COUNT
    },
    Indicator {
        key: "county_batches",
        name: "本级来访批次",
        numerator: &[sum(&VISIT_MONTHS, "batches").rows("level = 'county'")],
        counts: "visit batches to the county (本级) in the period",
        unit: "批",
        target: Some(Output::Quantity),
        ..COUNT
    },
    Indicator {
        key: "county_person_visits",
        name: "本级来访人次",
        numerator: &[sum(&VISIT_MONTHS, "persons").rows("level = 'county'")],
        counts: "person-visits to the county (本级) in the period",
        unit: "人次",
        target: Some(Output::Quantity),
        ..COUNT
    },
    Indicator {
        key: "national_batches",
        name: "进京访批次",
        numerator: &[sum(&VISIT_MONTHS, "batches").rows("level = 'national'")],
        counts: "visit batches to Beijing (进京) in the period",
        unit: "批",
        trend: true,
        ..COUNT
    },
    Indicator {
        key: "province_batches",
        name: "赴省访批次",
        numerator: &[sum(&VISIT_MONTHS, "batches").rows("level = 'province'")],
        counts: "visit batches to the province (赴省) in the period",
        unit: "批",
        trend: true,
        ..COUNT
    },
    Indicator {
        key: "leapfrog_batches",
        name: "越级访批次",
        numerator: &[sum(&VISIT_MONTHS, "leapfrog_batches")],
        counts: "visit batches that skipped a level (越级) in the period",
        unit: "批",
        trend: true,
        ..COUNT
    },
    Indicator {
        key: "collective_batches",
        name: "集体访批次",
        numerator: &[sum(&VISIT_MONTHS, "collective_batches")],
        counts: "collective visit batches (集体访) in the period",
        unit: "批",
        trend: true,
        ..COUNT
    },
    Indicator {
        key: "repeat_batches",
        name: "重复访批次",
        numerator: &[sum(&VISIT_MONTHS, "repeat_batches")],
        counts: "repeat visit batches in the period",
        unit: "批",
        trend: true,
        ..COUNT
    },
    Indicator {
        key: "letters_and_online",
        name: "来信及网上信访件数",
        numerator: &[sum(&LETTER_MONTHS, "letters").rows("channel <> 'campaign_transfer'")],
        counts: "letters and online items of every channel but campaign transfers, in the period",
        better: NEITHER,
        target: Some(Output::Quantity),
        trend: true,
        ..COUNT
    },
];

/// The common reading of 两降两升 when a year has none of its own: 信访总量↓, 进京访↓, 网上信访占比↑ and
/// 群众满意率↑ (the responsible units' satisfaction: the outcome the petitioners rate). No official definition
/// fixes the four, so a year's four are configuration (docs/indicators.md, "两降两升"); each goes the way
/// its row says is better.
pub const DEFAULT_TWO_DOWN_TWO_UP: [(&str, TrendDirection); 4] = [
    ("total_volume", TrendDirection::Down),
    ("national_batches", TrendDirection::Down),
    ("online_share", TrendDirection::Up),
    ("satisfaction_unit", TrendDirection::Up),
];
