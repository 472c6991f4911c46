//! The acceptance fixture: the records of 2019 and 2020 behind the bureau's 2020 self-evaluation report
//! (`figures-2020.json` of the seed), loaded through the gRPC API as the bureau would have entered them.
//!
//! [`load_seed_years`] builds a deterministic [`Plan`] (which registration happens on which day, which case
//! it opens or repeats, and the dates of every step of every case), then plays it against the server:
//!
//! - Visits by level, initial and repeat, as in [`YEARS`]: 2020 county 305 batches / 1137 persons (initial
//!   182 / 692, repeat 123 / 445), city 46 / 158, province 9 / 13 (repeat 6 / 8); 2019 county 484 / 1357,
//!   city 74 / 231, province 6 / 11. Every initial registration opens a case with a petitioner of its own
//!   (a fresh GB 11643 ID number); every repeat lists the lead petitioner of an earlier case with the same
//!   category and problem place, so the server links it (同人+同事).
//! - Letters and online items: 343 in 2020 and 389 in 2019 over seven channels; 17 campaign transfers
//!   (扫黑除恶, anonymous) in 2020 and none in 2019.
//! - Cases: the 437 cases opened in 2020 are all assigned the day after registration and accepted the day
//!   after that (timely acceptance 437/437 for both parties, 437 accepted in 2020). The 424 opened by
//!   15 October have their conclusion due in 2020: 416 are replied 20–45 days after acceptance, 8 are replied
//!   85–89 days after it (on-time completion 416/424). The 13 opened from 10 November on have their
//!   conclusion due in 2021 (replied 40 days after acceptance). Of the 424, 87 are published for evaluation
//!   and evaluated a week after the reply (see [`rating`]); the rest are outside the scope of evaluation. 3
//!   have a 复查 requested and decided. The 412 cases of 2019 are opened by 30 September and concluded on
//!   time in 2019, four with a 复查; none has a deadline in 2020, and none is evaluated.
//! - Repeats come 3 or more days after the case they repeat; in 2020 half repeat 2019 cases (the backlog
//!   cases' petitioners in January), half repeat cases opened earlier in 2020.
//! - Backlog: four 2019 cases are listed in March 2020 as special difficult backlog cases with a leader,
//!   then resolving, then resolved by agreement (June to September 2020). Nothing else is ever listed.
//! - Funds 2020: the approval documents of the report (special_difficult 275,900.00, other_key_work
//!   517,400.00) plus `other` 2,000.00 (the report's total is 2,000.00 more than its two parts), each spent in
//!   full through the request chain (relief for the four backlog cases included).
//! - Targets 2020: county person-visits ≤ 2000, county batches ≤ 400, special difficult cases resolved ≥ 4.
//!
//! History is entered by a county clerk (registrations, the petition office's steps, backlog, budgets) and the
//! administrator (the responsible units' acceptance and reply); the leader's approvals and the payments are
//! recorded undated (today), since only county roles may date records more than a year back.

use std::{future::Future, time::Instant};

use anyhow::{Context, Result, bail, ensure};
use prost_types::Timestamp;
use tokio::task::JoinSet;
use xinfang_client::Client;
use xinfang_proto::v1::{
    AcceptCaseRequest, ApproveFundRequestRequest, AssignCaseRequest, AssignmentMode,
    BacklogResolution, BacklogState, CapFormula, CreateBudgetRequest, Date, DecideReviewRequest,
    DisburseFundRequestRequest, FundPurpose, Letter, LetterChannel, Level, MarkBacklogRequest,
    MatterInput, PaymentMethod, Petitioner, Rating, RecordBureauDecisionRequest,
    RecordEvaluationRequest, RegisterLetterRequest, RegisterVisitRequest, ReplyCaseRequest,
    RequestReviewRequest, ResolveBacklogRequest, ReviewOutcome, SetTargetRequest,
    SubmitFundRequestRequest, Target, TargetDirection, Visit,
};
use xinfang_server::auth::Role;

use crate::{TestApp, request_id};

/// The petition bureau, where the county clerk and the leader belong.
const BUREAU: &str = "510422XF";
/// Calls in flight at once: twice the test server's 8 database connections. The load is bound by latency
/// (registrations of one year queue for their register's counter), so fewer is much slower (8: about twice
/// as long) and more only queues for connections.
const PARALLEL: usize = 16;

// ---------------------------------------------------------------------------------------------------------
// The figures

/// Visits of one level in one year.
pub struct VisitCounts {
    pub level: Level,
    /// (batches, persons)
    pub initial: (usize, usize),
    pub repeat: (usize, usize),
}

/// What one year holds.
pub struct YearSpec {
    pub year: i32,
    /// County, city, province.
    pub visits: [VisitCounts; 3],
    /// Letters and online items by channel, campaign transfers apart.
    pub letters: [(LetterChannel, usize); 7],
    /// How many of those letters are repeats (重信).
    pub letter_repeats: usize,
    /// 扫黑除恶 transfers, each opening a case.
    pub campaign_transfers: usize,
    /// When the year's cases are opened: (how many, first day, last day) as (month, day).
    openers: &'static [Openers],
    /// When the year's repeats come: first and last day.
    repeats: ((u32, u32), (u32, u32)),
    /// Reviews (复查) requested in the year.
    pub reviews: usize,
}

pub const YEARS: [YearSpec; 2] = [
    YearSpec {
        year: 2019,
        visits: [
            VisitCounts {
                level: Level::County,
                initial: (200, 560),
                repeat: (284, 797),
            },
            VisitCounts {
                level: Level::City,
                initial: (30, 95),
                repeat: (44, 136),
            },
            VisitCounts {
                level: Level::Province,
                initial: (2, 4),
                repeat: (4, 7),
            },
        ],
        letters: [
            (LetterChannel::Letter, 70),
            (LetterChannel::Phone, 25),
            (LetterChannel::Online, 100),
            (LetterChannel::LeaderMailbox, 80),
            (LetterChannel::PeoplesDailyBoard, 44),
            (LetterChannel::Transferred, 60),
            (LetterChannel::Assigned, 10),
        ],
        letter_repeats: 209,
        campaign_transfers: 0,
        // Every 2019 case is concluded in 2019: no deadline of it falls in 2020.
        openers: &[(412, (1, 2), (9, 30))],
        repeats: ((1, 15), (12, 28)),
        reviews: 4,
    },
    YearSpec {
        year: 2020,
        visits: [
            VisitCounts {
                level: Level::County,
                initial: (182, 692),
                repeat: (123, 445),
            },
            VisitCounts {
                level: Level::City,
                initial: (30, 104),
                repeat: (16, 54),
            },
            VisitCounts {
                level: Level::Province,
                initial: (3, 5),
                repeat: (6, 8),
            },
        ],
        letters: [
            (LetterChannel::Letter, 60),
            (LetterChannel::Phone, 20),
            (LetterChannel::Online, 95),
            (LetterChannel::LeaderMailbox, 70),
            (LetterChannel::PeoplesDailyBoard, 38),
            (LetterChannel::Transferred, 50),
            (LetterChannel::Assigned, 10),
        ],
        letter_repeats: 138,
        campaign_transfers: 17,
        // 424 cases with their conclusion due in 2020, then 13 accepted late enough to be due in 2021.
        openers: &[(424, (1, 2), (10, 15)), (13, (11, 10), (12, 5))],
        repeats: ((1, 3), (12, 30)),
        reviews: 3,
    },
];

/// Of the 2020 cases concluded in the year (by position among the year's cases): replied late.
fn replied_late(position: usize) -> bool {
    position % 50 == 20 && position < 400
}

/// Whether the case at `position` of a year has a 复查 requested: one in every hundred, as many as the year
/// has reviews.
fn reviewed(spec: &YearSpec, position: usize) -> bool {
    position % 100 == 25 && position / 100 < spec.reviews
}

/// The 87 evaluations of 2020, by position: every fourth case concluded in the year.
fn evaluation_number(position: usize) -> Option<usize> {
    (position % 4 == 3 && position < 4 * 87).then_some(position / 4)
}

/// The ratings (petition office, responsible unit) of the `n`th evaluation: office 84 satisfied, 2
/// unsatisfied, 1 not participated; unit 81 satisfied, 2 basically satisfied, 2 unsatisfied, 2 not
/// participated.
pub fn rating(n: usize) -> (Rating, Rating) {
    use Rating::{BasicallySatisfied, NotParticipated, Satisfied, Unsatisfied};
    match n {
        5 => (NotParticipated, NotParticipated),
        17 => (Satisfied, NotParticipated),
        29 | 41 => (Unsatisfied, Unsatisfied),
        53 | 65 => (Satisfied, BasicallySatisfied),
        _ => (Satisfied, Satisfied),
    }
}

/// The 2019 cases (by position) that become the special difficult backlog cases of 2020.
const BACKLOG_POSITIONS: [usize; 4] = [40, 140, 240, 340];

/// (how many cases, first day, last day), days as (month, day).
type Openers = (usize, (u32, u32), (u32, u32));
/// (category, document, amount, issued on (year, month, day)).
type BudgetLine = (&'static str, &'static str, &'static str, (i32, u32, u32));
/// (category, purpose, description, payee, amount, submitted (month, day)).
type SpendingLine = (
    &'static str,
    FundPurpose,
    &'static str,
    &'static str,
    &'static str,
    (u32, u32),
);

/// 2020 budgets: (category, document, amount, issued on (year, month, day)).
const BUDGETS: [BudgetLine; 6] = [
    (
        "special_difficult",
        "盐财资行〔2020〕62号",
        "200000.00",
        (2020, 3, 20),
    ),
    (
        "other_key_work",
        "盐财资行〔2020〕63号",
        "300000.00",
        (2020, 3, 20),
    ),
    (
        "special_difficult",
        "盐财资行〔2020〕113号",
        "75900.00",
        (2020, 6, 15),
    ),
    (
        "other_key_work",
        "盐财资行〔2020〕149号",
        "117400.00",
        (2020, 9, 10),
    ),
    (
        "other_key_work",
        "盐财资行〔2019〕356号",
        "100000.00",
        (2019, 12, 27),
    ),
    ("other", "年末调整支出项目", "2000.00", (2020, 12, 15)),
];

/// 2020 spending besides relief: (category, purpose, description, payee, amount, submitted (month, day)).
const SPENDING: [SpendingLine; 8] = [
    (
        "special_difficult",
        FundPurpose::Lawyer,
        "聘请律师参与特殊疑难信访积案化解",
        "四川某律师事务所",
        "95900.00",
        (7, 6),
    ),
    (
        "special_difficult",
        FundPurpose::Other,
        "特殊疑难信访积案化解工作经费",
        "盐边县信访局",
        "100000.00",
        (10, 12),
    ),
    (
        "other_key_work",
        FundPurpose::Security,
        "聘请保安人员维持县群众工作中心接访秩序",
        "盐边县某保安服务有限公司",
        "120000.00",
        (4, 8),
    ),
    (
        "other_key_work",
        FundPurpose::Platform,
        "网上信访信息平台运行维护",
        "某信息技术有限公司",
        "117400.00",
        (9, 22),
    ),
    (
        "other_key_work",
        FundPurpose::Workstation,
        "成都工作站全年运行经费",
        "盐边县驻成都工作站",
        "150000.00",
        (5, 11),
    ),
    (
        "other_key_work",
        FundPurpose::Training,
        "信访业务知识培训",
        "攀枝花市委党校",
        "30000.00",
        (8, 17),
    ),
    (
        "other_key_work",
        FundPurpose::Lawyer,
        "法律顾问参与信访接待和法律咨询",
        "四川某律师事务所",
        "100000.00",
        (6, 3),
    ),
    (
        "other",
        FundPurpose::Other,
        "年末调整支出",
        "盐边县信访局",
        "2000.00",
        (12, 18),
    ),
];

/// Hardship relief paid to the petitioner of each special difficult backlog case.
const RELIEF: &str = "20000.00";

// ---------------------------------------------------------------------------------------------------------
// Calendar days

/// A calendar day of the bureau (Asia/Shanghai), as days since 1970-01-01.
pub type Day = i64;

fn day(y: i32, m: u32, d: u32) -> Day {
    // Howard Hinnant's days_from_civil.
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(z: Day) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        (yoe + era * 400 + i64::from(m <= 2)) as i32,
        m as u32,
        d as u32,
    )
}

/// `minute` minutes after 09:00 in Asia/Shanghai (01:00 UTC) on `day`.
fn at(day: Day, minute: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: day * 86_400 + 3_600 + minute * 60,
        nanos: 0,
    })
}

fn date(day: Day) -> Option<Date> {
    let (year, month, day) = civil(day);
    Some(Date {
        year,
        month: month as i32,
        day: day as i32,
    })
}

/// The `k`th of `n` days spread evenly from `first` to `last`.
fn spread(k: usize, n: usize, first: Day, last: Day) -> Day {
    if n <= 1 {
        return first;
    }
    first + (last - first) * k as i64 / (n as i64 - 1)
}

// ---------------------------------------------------------------------------------------------------------
// People, places, topics

const TOWNSHIPS: [(&str, &str); 12] = [
    ("510422100", "桐子林镇"),
    ("510422101", "红格镇"),
    ("510422102", "渔门镇"),
    ("510422103", "永兴镇"),
    ("510422104", "新九镇"),
    ("510422105", "惠民镇"),
    ("510422203", "红果彝族乡"),
    ("510422205", "共和乡"),
    ("510422206", "国胜乡"),
    ("510422207", "红宝苗族彝族乡"),
    ("510422210", "温泉彝族乡"),
    ("510422211", "格萨拉彝族乡"),
];

/// What cases are about: (category, content, demands, the county department competent for it).
const TOPICS: [(&str, &str, &str, &str); 10] = [
    (
        "labor",
        "某工程项目拖欠农民工工资三个月未结清",
        "要求支付拖欠的工资",
        "510422D02",
    ),
    (
        "land",
        "土地征收补偿款未按协议足额发放",
        "要求兑现征地补偿",
        "510422D04",
    ),
    (
        "urban_construction",
        "安置房建设延期交房",
        "要求按期交房并补发过渡费",
        "510422D03",
    ),
    (
        "agriculture",
        "退耕还林补助未发放到户",
        "要求发放补助资金",
        "510422D09",
    ),
    (
        "civil_affairs",
        "低保评定不公开不公平",
        "要求重新评定低保",
        "510422D05",
    ),
    (
        "health",
        "对医疗纠纷处理结果不满",
        "要求重新鉴定并赔偿",
        "510422D07",
    ),
    (
        "education",
        "子女未能就近入学",
        "要求解决子女入学",
        "510422D06",
    ),
    (
        "transport",
        "道路施工损坏房屋",
        "要求修复房屋并赔偿损失",
        "510422D10",
    ),
    (
        "environment",
        "企业排放污水污染农田",
        "要求停止排污并赔偿损失",
        "510422D12",
    ),
    (
        "politics_law",
        "邻里纠纷调处不公",
        "要求依法公正处理",
        "510422D01",
    ),
];

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "罗", "高", "林",
];
const GIVEN_NAMES: [&str; 16] = [
    "明", "华", "芳", "军", "丽", "强", "敏", "静", "伟", "秀英", "建国", "桂兰", "志强", "玉珍",
    "德明", "文",
];

fn name(n: usize) -> String {
    format!(
        "{}{}",
        SURNAMES[n % SURNAMES.len()],
        GIVEN_NAMES[(n / SURNAMES.len()) % GIVEN_NAMES.len()]
    )
}

/// The ID number of person `n` (n < 18,000): born in Yanbian (510422) between 1950 and 1999, with the
/// ISO 7064 MOD 11-2 check character. Distinct for distinct `n`.
pub fn id_number(n: usize) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let (y, m, d) = civil(day(1950, 1, 1) + (n as i64 * 37) % 18_000);
    let body = format!("510422{y:04}{m:02}{d:02}{:03}", 100 + n % 900);
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", char::from(b"10X98765432"[(sum % 11) as usize]))
}

/// The lead petitioner of a case: named, with ID number, phone and address.
fn lead(person: usize, township: &str, representative: bool) -> Petitioner {
    Petitioner {
        name: name(person),
        id_number: id_number(person),
        phone: format!("139{:08}", 81_230_000 + person),
        address: format!("攀枝花市盐边县{township}"),
        representative,
        ..Default::default()
    }
}

/// Persons in each of `batches` batches, `persons` in all: individuals, and every fifth batch a collective
/// visit taking the persons beyond one per batch (small groups when there are too few for that).
pub fn headcounts(batches: usize, persons: usize) -> Vec<i32> {
    assert!(persons >= batches, "at least one person per batch");
    let mut counts = vec![1_i32; batches];
    let collective: Vec<usize> = (0..batches).filter(|i| i % 5 == 4).collect();
    let extra = persons - batches;
    if !collective.is_empty() && extra >= 4 * collective.len() {
        let (each, left) = (extra / collective.len(), extra % collective.len());
        for (k, &i) in collective.iter().enumerate() {
            counts[i] += (each + usize::from(k < left)) as i32;
        }
    } else {
        for k in 0..extra {
            counts[k % batches] += 1;
        }
    }
    counts
}

/// Merges lists so that each is spread evenly over the result, keeping each list's order.
fn interleave<T>(lists: Vec<Vec<T>>) -> Vec<T> {
    let mut keyed = Vec::new();
    for (l, list) in lists.into_iter().enumerate() {
        let n = list.len() as u64;
        for (k, item) in list.into_iter().enumerate() {
            keyed.push(((2 * k as u64 + 1) * 1_000_000 / (2 * n), l, item));
        }
    }
    keyed.sort_by_key(|(key, l, _)| (*key, *l));
    keyed.into_iter().map(|(_, _, item)| item).collect()
}

// ---------------------------------------------------------------------------------------------------------
// The plan

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Visit { level: Level, headcount: i32 },
    Letter(LetterChannel),
}

/// One registration: a visit or a letter, on a day, opening or repeating a case.
#[derive(Debug, Clone)]
pub struct Intake {
    pub year: i32,
    pub day: Day,
    pub minute: i64,
    pub kind: Kind,
    /// The case it opens, or repeats when `repeat`.
    pub matter: usize,
    pub repeat: bool,
    /// The sender's reference of an item from above, unique per channel.
    pub reference: String,
}

/// The dates of a case's steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps {
    pub assign: Day,
    pub accept: Day,
    pub reply: Day,
    /// (day, petition office, responsible unit)
    pub evaluation: Option<(Day, Rating, Rating)>,
    /// 复查: requested, decided.
    pub review: Option<(Day, Day)>,
    /// Special difficult backlog case: listed with its leader, resolving, resolved by agreement.
    pub backlog: Option<(Day, Day, Day)>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub year: i32,
    /// Position among the year's cases.
    pub position: usize,
    pub registered: Day,
    pub topic: usize,
    pub township: usize,
    /// The responsible unit it is assigned to.
    pub unit: &'static str,
    /// The lead petitioner (person number); `None` for an anonymous item.
    pub person: Option<usize>,
    pub steps: Steps,
}

impl Case {
    fn place(&self) -> (&'static str, &'static str) {
        TOWNSHIPS[self.township]
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub cases: Vec<Case>,
    /// The registrations that open the cases, in the cases' order.
    pub openers: Vec<Intake>,
    /// The registrations that repeat them (同人+同事), each after the case it repeats.
    pub repeats: Vec<Intake>,
}

impl Plan {
    pub fn build() -> Self {
        let mut plan = Plan::default();
        let mut persons = 0;
        for spec in &YEARS {
            plan.add_year(spec, &mut persons);
        }
        plan
    }

    fn add_year(&mut self, spec: &YearSpec, persons: &mut usize) {
        let year = spec.year;
        let ymd = |(m, d): (u32, u32)| day(year, m, d);
        // Letters: the channels interleaved, then spread the repeats evenly over them.
        let channels = interleave(
            spec.letters
                .iter()
                .map(|&(channel, n)| vec![channel; n])
                .collect(),
        );
        let total = channels.len();
        let (mut initial_letters, mut repeat_letters) = (Vec::new(), Vec::new());
        for (j, channel) in channels.into_iter().enumerate() {
            let repeat = (j + 1) * spec.letter_repeats / total > j * spec.letter_repeats / total;
            let kind = Kind::Letter(channel);
            if repeat {
                repeat_letters.push(kind);
            } else {
                initial_letters.push(kind);
            }
        }
        let visits = |pick: fn(&VisitCounts) -> (usize, usize)| -> Vec<Vec<Kind>> {
            spec.visits
                .iter()
                .map(|v| {
                    let (batches, people) = pick(v);
                    headcounts(batches, people)
                        .into_iter()
                        .map(|headcount| Kind::Visit {
                            level: v.level,
                            headcount,
                        })
                        .collect()
                })
                .collect()
        };
        let mut opening = visits(|v| v.initial);
        opening.push(initial_letters);
        opening.push(vec![
            Kind::Letter(LetterChannel::CampaignTransfer);
            spec.campaign_transfers
        ]);
        let opening = interleave(opening.into_iter().filter(|l| !l.is_empty()).collect());
        let mut repeating = visits(|v| v.repeat);
        repeating.push(repeat_letters);
        let repeating = interleave(repeating.into_iter().filter(|l| !l.is_empty()).collect());

        // The cases, on the days of their windows.
        let mut references = [0_usize; 3];
        let mut kinds = opening.into_iter();
        let mut position = 0;
        for (window, &(n, first, last)) in spec.openers.iter().enumerate() {
            for k in 0..n {
                let kind = kinds.next().expect("as many openers as cases");
                let registered = spread(k, n, ymd(first), ymd(last));
                let index = self.cases.len();
                let person = (kind != Kind::Letter(LetterChannel::CampaignTransfer)).then(|| {
                    *persons += 1;
                    *persons
                });
                let topic = index % TOPICS.len();
                let township = index * 5 % TOWNSHIPS.len();
                self.cases.push(Case {
                    year,
                    position,
                    registered,
                    topic,
                    township,
                    unit: if index % 5 == 2 {
                        TOPICS[topic].3
                    } else {
                        TOWNSHIPS[township].0
                    },
                    person,
                    steps: steps(spec, window, position, registered),
                });
                self.openers.push(Intake {
                    year,
                    day: registered,
                    minute: (index as i64 * 37) % 420,
                    kind,
                    matter: index,
                    repeat: false,
                    reference: reference(year, kind, &mut references),
                });
                position += 1;
            }
        }
        assert!(kinds.next().is_none(), "as many cases as openers");

        // The repeats, each about an earlier case of a known petitioner.
        let n = repeating.len();
        let (first, last) = spec.repeats;
        for (j, kind) in repeating.into_iter().enumerate() {
            let on = spread(j, n, ymd(first), ymd(last));
            let matter = self.repeat_target(year, j, on);
            self.repeats.push(Intake {
                year,
                day: on,
                minute: (j as i64 * 53) % 420,
                kind,
                matter,
                repeat: true,
                reference: reference(year, kind, &mut references),
            });
        }
    }

    /// The case the `j`th repeat of `year` (on day `on`) is about: in January 2020 the backlog cases'
    /// petitioners come back; otherwise a case of the year opened at least three days before, and in 2020
    /// every other repeat is about a 2019 case.
    fn repeat_target(&self, year: i32, j: usize, on: Day) -> usize {
        let pool = if year == 2020 && j < 16 {
            self.indices(|m| m.steps.backlog.is_some())
        } else {
            let recent = self.indices(|m| m.year == year && m.registered <= on - 3);
            let old = self.indices(|m| m.year == year - 1 && m.steps.backlog.is_none());
            if (j % 2 == 1 && !old.is_empty()) || recent.is_empty() {
                old
            } else {
                recent
            }
        };
        assert!(!pool.is_empty(), "a case to repeat on {:?}", civil(on));
        pool[j * 13 % pool.len()]
    }

    /// Cases with a known petitioner that satisfy `pred`.
    fn indices(&self, pred: impl Fn(&Case) -> bool) -> Vec<usize> {
        (0..self.cases.len())
            .filter(|&i| self.cases[i].person.is_some() && pred(&self.cases[i]))
            .collect()
    }
}

/// The sender's reference of an item transferred, assigned or sent by a campaign; empty for the others.
fn reference(year: i32, kind: Kind, counters: &mut [usize; 3]) -> String {
    let (slot, format): (usize, fn(i32, usize) -> String) = match kind {
        Kind::Letter(LetterChannel::Transferred) => (0, |y, k| format!("川信转〔{y}〕{k:04}号")),
        Kind::Letter(LetterChannel::Assigned) => (1, |y, k| format!("攀信交〔{y}〕{k:03}号")),
        Kind::Letter(LetterChannel::CampaignTransfer) => {
            (2, |y, k| format!("扫黑办转〔{y}〕{k:03}号"))
        }
        _ => return String::new(),
    };
    counters[slot] += 1;
    format(year, counters[slot])
}

/// The steps of the case at `position` of the year, opened on `registered` in opening window `window`.
fn steps(spec: &YearSpec, window: usize, position: usize, registered: Day) -> Steps {
    let year = spec.year;
    let assign = registered + 1;
    let accept = assign + 1;
    let concluded_in_year = year == 2019 || window == 0;
    let reply = if !concluded_in_year {
        accept + 40
    } else if year == 2020 && replied_late(position) {
        accept + 85 + (position % 5) as Day
    } else {
        accept + 20 + (position % 26) as Day
    };
    let evaluation = (year == 2020 && concluded_in_year)
        .then(|| evaluation_number(position))
        .flatten()
        .map(|n| {
            let (office, unit) = rating(n);
            (reply + 7, office, unit)
        });
    let review = (concluded_in_year && reviewed(spec, position)).then(|| (reply + 10, reply + 30));
    let backlog = BACKLOG_POSITIONS
        .iter()
        .position(|&p| year == 2019 && p == position)
        .map(backlog_days);
    Steps {
        assign,
        accept,
        reply,
        evaluation,
        review,
        backlog,
    }
}

/// The `k`th backlog case: listed in March, resolving from April, resolved June to September 2020.
fn backlog_days(k: usize) -> (Day, Day, Day) {
    let k = k as Day;
    (
        day(2020, 3, 10) + 7 * k,
        day(2020, 4, 20) + 7 * k,
        day(2020, 6, 30) + 30 * k,
    )
}

// ---------------------------------------------------------------------------------------------------------
// Loading

/// The clients the history is entered with.
#[derive(Clone)]
struct Staff {
    /// County clerk of the petition bureau: intake, the office's steps, backlog, budgets, payments.
    clerk: Client,
    /// The administrator, standing in for the responsible units (acceptance and reply).
    admin: Client,
    /// The leader approving fund requests.
    leader: Client,
}

/// Loads the 2019 and 2020 records of the plan through the API. Deterministic: the same plan gives the same
/// records (ids and registration times aside).
pub async fn load_seed_years(app: &TestApp) -> Result<()> {
    let started = Instant::now();
    let staff = Staff {
        clerk: app.client_with(Some(&app.token(Role::CountyClerk, BUREAU).await)),
        admin: app.client.clone(),
        leader: app.client_with(Some(&app.token(Role::Leader, BUREAU).await)),
    };
    let plan = Plan::build();
    let mut cases: Vec<String> = vec![String::new(); plan.cases.len()];
    let mut leads: Vec<String> = vec![String::new(); plan.cases.len()];

    // The registrations that open cases, both years at once (each year numbers its own register).
    let jobs = plan
        .openers
        .iter()
        .map(|i| (registration(&plan, i), String::new(), label(i)))
        .collect();
    let opened = each(jobs, {
        let clerk = staff.clerk.clone();
        move |(request, expected, label)| register(clerk.clone(), request, expected, label)
    })
    .await
    .context("registering the cases")?;
    for (intake, (case_id, lead)) in plan.openers.iter().zip(opened) {
        cases[intake.matter] = case_id;
        leads[intake.matter] = lead;
    }
    tracing::info!(elapsed = ?started.elapsed(), "fixture cases opened");

    // Each case's steps, and the repeats, which only link to their cases: side by side.
    let handling = plan
        .cases
        .iter()
        .enumerate()
        .map(|(i, m)| Job::Handle(cases[i].clone(), m.unit, m.steps))
        .collect();
    let repeating = plan
        .repeats
        .iter()
        .map(|i| {
            Job::Register(
                Box::new(registration(&plan, i)),
                cases[i.matter].clone(),
                label(i),
            )
        })
        .collect();
    each(interleave(vec![handling, repeating]), {
        let staff = staff.clone();
        move |job| run(staff.clone(), job)
    })
    .await
    .context("handling the cases and registering the repeats")?;
    tracing::info!(elapsed = ?started.elapsed(), "fixture cases handled");

    let backlog: Vec<_> = plan
        .cases
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.steps.backlog.map(|days| (i, days)))
        .collect();
    each(
        backlog
            .iter()
            .map(|&(i, days)| (cases[i].clone(), days))
            .collect(),
        {
            let clerk = staff.clerk.clone();
            move |(case_id, days)| resolve_backlog(clerk.clone(), case_id, days)
        },
    )
    .await
    .context("resolving the backlog cases")?;

    load_funds(&staff, &plan, &backlog, &cases, &leads)
        .await
        .context("loading the 2020 budget")?;
    set_targets(staff.clerk.clone())
        .await
        .context("setting the 2020 targets")?;
    tracing::info!(elapsed = ?started.elapsed(), "fixture loaded");
    Ok(())
}

/// Runs `task` on every item, at most [`PARALLEL`] at a time; the results come in the items' order.
async fn each<T, R, F, Fut>(items: Vec<T>, task: F) -> Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R>> + Send + 'static,
    R: Send + 'static,
{
    let mut results: Vec<Option<R>> = items.iter().map(|_| None).collect();
    let mut running = JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        if running.len() >= PARALLEL
            && let Some(done) = running.join_next().await
        {
            let (j, result): (usize, Result<R>) = done?;
            results[j] = Some(result?);
        }
        let future = task(item);
        running.spawn(async move { (i, future.await) });
    }
    while let Some(done) = running.join_next().await {
        let (j, result) = done?;
        results[j] = Some(result?);
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every task ran"))
        .collect())
}

enum Registration {
    Visit(RegisterVisitRequest),
    Letter(RegisterLetterRequest),
}

/// A registration (with the case it must link to, or empty, and what to call it in errors), or a case to
/// take through its steps.
enum Job {
    Register(Box<Registration>, String, String),
    Handle(String, &'static str, Steps),
}

async fn run(staff: Staff, job: Job) -> Result<()> {
    match job {
        Job::Register(request, expected, label) => {
            register(staff.clerk, *request, expected, label).await?;
        }
        Job::Handle(case_id, unit, steps) => handle(staff, case_id, unit, steps).await?,
    }
    Ok(())
}

fn label(intake: &Intake) -> String {
    let (y, m, d) = civil(intake.day);
    let what = if intake.repeat { "repeat" } else { "opening" };
    format!(
        "registering the {what} {:?} of {y}-{m:02}-{d:02}",
        intake.kind
    )
}

/// The request of one planned registration.
fn registration(plan: &Plan, intake: &Intake) -> Registration {
    let m = &plan.cases[intake.matter];
    let (category, content, demands, _) = TOPICS[m.topic];
    let (place, township) = m.place();
    let matter = MatterInput {
        content: if intake.repeat {
            format!("{township}{content}，至今未解决，再次反映")
        } else {
            format!("{township}{content}")
        },
        demands: demands.into(),
        category: category.into(),
        problem_org_code: place.into(),
        ..MatterInput::default()
    };
    match intake.kind {
        Kind::Visit { level, headcount } => {
            let collective = headcount >= 5;
            let person = m.person.expect("visitors are named");
            let mut petitioners = vec![lead(person, township, collective)];
            // Companions met without an ID number: counted, never matched.
            let listed = if collective { 5 } else { headcount.min(2) };
            for c in 1..listed as usize {
                petitioners.push(Petitioner {
                    name: name(50_000 + intake.matter * 7 + c),
                    address: format!("攀枝花市盐边县{township}"),
                    representative: collective,
                    ..Default::default()
                });
            }
            let place_name = match level {
                Level::City => "攀枝花市信访局接待大厅",
                Level::Province => "四川省信访局接待大厅",
                _ => "盐边县群众工作中心接待大厅",
            };
            Registration::Visit(RegisterVisitRequest {
                request_id: request_id(),
                visit: Some(Visit {
                    visited_at: at(intake.day, intake.minute),
                    level: level as i32,
                    place_name: place_name.into(),
                    headcount,
                    petitioners,
                    matter: Some(matter),
                    ..Default::default()
                }),
            })
        }
        Kind::Letter(channel) => Registration::Letter(RegisterLetterRequest {
            request_id: request_id(),
            letter: Some(Letter {
                channel: channel as i32,
                source_reference: intake.reference.clone(),
                campaign: if channel == LetterChannel::CampaignTransfer {
                    "扫黑除恶".into()
                } else {
                    String::new()
                },
                received_at: at(intake.day, intake.minute),
                petitioners: m
                    .person
                    .map(|p| vec![lead(p, township, false)])
                    .unwrap_or_default(),
                matter: Some(matter),
                ..Default::default()
            }),
        }),
    }
}

/// Registers one visit or letter; checks that it opened a new case (`expected` empty) or was linked as a
/// repeat to `expected`. Returns the case's id and the lead petitioner's id.
async fn register(
    mut clerk: Client,
    request: Registration,
    expected: String,
    label: String,
) -> Result<(String, String)> {
    let (classification, petitioners) = match request {
        Registration::Visit(r) => {
            let visit = clerk
                .visits
                .register_visit(r)
                .await
                .context(label.clone())?;
            let visit = visit.into_inner();
            (visit.classification, visit.petitioners)
        }
        Registration::Letter(r) => {
            let letter = clerk
                .visits
                .register_letter(r)
                .await
                .context(label.clone())?;
            let letter = letter.into_inner();
            (letter.classification, letter.petitioners)
        }
    };
    let classification = classification.context("no classification")?;
    if expected.is_empty() {
        ensure!(!classification.repeat, "{label}: taken for a repeat");
    } else {
        ensure!(
            classification.repeat && classification.case_id == expected,
            "{label}: not linked to its case {expected}"
        );
    }
    let lead = petitioners
        .first()
        .map(|p| p.id.clone())
        .unwrap_or_default();
    Ok((classification.case_id, lead))
}

/// Takes a case through its planned steps.
async fn handle(staff: Staff, case_id: String, unit: &'static str, s: Steps) -> Result<()> {
    let Staff {
        mut clerk,
        mut admin,
        ..
    } = staff;
    let context = |step: &str| format!("{step} case {case_id}");
    clerk
        .cases
        .assign_case(AssignCaseRequest {
            request_id: request_id(),
            case_id: case_id.clone(),
            occurred_at: at(s.assign, 0),
            mode: AssignmentMode::Forward as i32,
            responsible_org_code: unit.into(),
            ..Default::default()
        })
        .await
        .with_context(|| context("assigning"))?;
    admin
        .cases
        .accept_case(AcceptCaseRequest {
            request_id: request_id(),
            case_id: case_id.clone(),
            occurred_at: at(s.accept, 0),
            ..Default::default()
        })
        .await
        .with_context(|| context("accepting"))?;
    admin
        .cases
        .reply_case(ReplyCaseRequest {
            request_id: request_id(),
            case_id: case_id.clone(),
            occurred_at: at(s.reply, 0),
            opinion: "经调查核实，已依法依规作出处理，并书面告知信访人。".into(),
            // The 87 evaluated cases are the ones published for evaluation; the rest are outside its
            // scope, so none lapses into 未参评 and participation stays 86 / 87.
            publish_for_evaluation: s.evaluation.is_some(),
            ..Default::default()
        })
        .await
        .with_context(|| context("replying to"))?;
    if let Some((on, office, unit)) = s.evaluation {
        clerk
            .cases
            .record_evaluation(RecordEvaluationRequest {
                request_id: request_id(),
                case_id: case_id.clone(),
                occurred_at: at(on, 0),
                office_rating: office as i32,
                unit_rating: unit as i32,
                ..Default::default()
            })
            .await
            .with_context(|| context("evaluating"))?;
    }
    if let Some((requested, decided)) = s.review {
        clerk
            .cases
            .request_review(RequestReviewRequest {
                request_id: request_id(),
                case_id: case_id.clone(),
                occurred_at: at(requested, 0),
                reason: "对处理意见不服，申请复查".into(),
                ..Default::default()
            })
            .await
            .with_context(|| context("requesting a review of"))?;
        clerk
            .cases
            .decide_review(DecideReviewRequest {
                request_id: request_id(),
                case_id: case_id.clone(),
                occurred_at: at(decided, 0),
                outcome: ReviewOutcome::Upheld as i32,
                opinion: "经复查，原处理意见认定事实清楚，维持原处理意见。".into(),
                ..Default::default()
            })
            .await
            .with_context(|| context("deciding the review of"))?;
    }
    Ok(())
}

/// Lists a case as a special difficult backlog case with its leader, then resolves it by agreement.
async fn resolve_backlog(
    mut clerk: Client,
    case_id: String,
    (listed, resolving, resolved): (Day, Day, Day),
) -> Result<()> {
    clerk
        .cases
        .mark_backlog(MarkBacklogRequest {
            request_id: request_id(),
            case_id: case_id.clone(),
            occurred_at: at(listed, 0),
            leader: "县委常委、副县长".into(),
            special_difficult: Some(true),
            reason: "多年反复信访，诉求合理但无相应政策规定，生活确有困难".into(),
            ..Default::default()
        })
        .await?;
    for (on, step, resolution, note) in [
        (
            resolving,
            BacklogState::Resolving,
            BacklogResolution::Unspecified,
            "包案领导接访，制定化解方案",
        ),
        (
            resolved,
            BacklogState::Resolved,
            BacklogResolution::Agreement,
            "签订息诉罢访协议，案结事了",
        ),
    ] {
        clerk
            .cases
            .resolve_backlog(ResolveBacklogRequest {
                request_id: request_id(),
                case_id: case_id.clone(),
                occurred_at: at(on, 0),
                step: step as i32,
                resolution: resolution as i32,
                note: note.into(),
                ..Default::default()
            })
            .await?;
    }
    Ok(())
}

/// One fund request of 2020, to be taken through the whole chain.
struct Spend {
    category: &'static str,
    purpose: FundPurpose,
    unit: String,
    description: String,
    payee: String,
    amount: &'static str,
    case_id: String,
    petitioner_id: String,
    submitted: Day,
}

async fn load_funds(
    staff: &Staff,
    plan: &Plan,
    backlog: &[(usize, (Day, Day, Day))],
    cases: &[String],
    leads: &[String],
) -> Result<()> {
    let mut clerk = staff.clerk.clone();
    for (category, document, amount, (y, m, d)) in BUDGETS {
        clerk
            .funds
            .create_budget(CreateBudgetRequest {
                request_id: request_id(),
                year: 2020,
                category: category.into(),
                document: document.into(),
                amount: amount.into(),
                from_category: String::new(),
                occurred_at: at(day(y, m, d), 0),
            })
            .await
            .with_context(|| format!("budget document {document}"))?;
    }
    let mut spends: Vec<Spend> = backlog
        .iter()
        .map(|&(i, (_, _, resolved))| {
            let m = &plan.cases[i];
            let person = m.person.expect("backlog petitioners are known");
            Spend {
                category: "special_difficult",
                purpose: FundPurpose::HardshipRelief,
                unit: m.unit.into(),
                description: "特殊疑难信访积案困难帮扶救助，随息诉罢访协议一次性发放".into(),
                payee: name(person),
                amount: RELIEF,
                case_id: cases[i].clone(),
                petitioner_id: leads[i].clone(),
                submitted: resolved - 10,
            }
        })
        .collect();
    for (category, purpose, description, payee, amount, (m, d)) in SPENDING {
        spends.push(Spend {
            category,
            purpose,
            unit: BUREAU.into(),
            description: description.into(),
            payee: payee.into(),
            amount,
            case_id: String::new(),
            petitioner_id: String::new(),
            submitted: day(2020, m, d),
        });
    }
    each(spends, {
        let staff = staff.clone();
        move |spend| spend_fully(staff.clone(), spend)
    })
    .await?;
    Ok(())
}

/// Submitted and decided by the bureau on their 2020 dates, approved by the leader, paid directly.
async fn spend_fully(staff: Staff, s: Spend) -> Result<()> {
    let Staff {
        mut clerk,
        mut leader,
        ..
    } = staff;
    let request = clerk
        .funds
        .submit_fund_request(SubmitFundRequestRequest {
            request_id: request_id(),
            year: 2020,
            category: s.category.into(),
            purpose: s.purpose as i32,
            unit_code: s.unit.clone(),
            description: s.description.clone(),
            amount: s.amount.into(),
            payee: s.payee.clone(),
            case_id: s.case_id.clone(),
            petitioner_id: s.petitioner_id.clone(),
            occurred_at: at(s.submitted, 0),
            ..Default::default()
        })
        .await
        .with_context(|| format!("submitting {}", s.description))?
        .into_inner();
    let meeting = s.submitted + 5;
    let (_, month, _) = civil(meeting);
    clerk
        .funds
        .record_bureau_decision(RecordBureauDecisionRequest {
            request_id: request_id(),
            fund_request_id: request.id.clone(),
            occurred_at: at(meeting, 0),
            approve: true,
            meeting_reference: format!("2020年第{month}次局务会"),
            meeting_date: date(meeting),
            comment: "同意按申请金额安排".into(),
            ..Default::default()
        })
        .await
        .with_context(|| format!("deciding on {}", request.number))?;
    leader
        .funds
        .approve_fund_request(ApproveFundRequestRequest {
            request_id: request_id(),
            fund_request_id: request.id.clone(),
            comment: "同意".into(),
            ..Default::default()
        })
        .await
        .with_context(|| format!("approving {}", request.number))?;
    let paid = clerk
        .funds
        .disburse_fund_request(DisburseFundRequestRequest {
            request_id: request_id(),
            fund_request_id: request.id.clone(),
            method: PaymentMethod::Direct as i32,
            voucher_number: format!(
                "盐国库支〔2020〕{}",
                &request.number[request.number.len() - 4..]
            ),
            ..Default::default()
        })
        .await
        .with_context(|| format!("paying {}", request.number))?
        .into_inner();
    if paid.approved_amount != s.amount {
        bail!(
            "{} paid {} instead of {}",
            paid.number,
            paid.approved_amount,
            s.amount
        );
    }
    Ok(())
}

/// The performance targets of 2020 (项目绩效目标): person-visits ≤ 2000, batches ≤ 400, 4 special difficult
/// backlog cases resolved.
async fn set_targets(mut clerk: Client) -> Result<()> {
    let targets = [
        (
            "county_person_visits",
            TargetDirection::AtMost,
            "2000",
            "预计上访人次",
        ),
        ("county_batches", TargetDirection::AtMost, "400", "上访批次"),
        (
            "special_difficult_resolved",
            TargetDirection::AtLeast,
            "4",
            "化解特殊疑难信访积案",
        ),
    ];
    for (indicator, direction, value, name) in targets {
        clerk
            .metrics
            .set_target(SetTargetRequest {
                request_id: request_id(),
                target: Some(Target {
                    year: 2020,
                    indicator: indicator.into(),
                    direction: direction as i32,
                    value: value.into(),
                    cap_formula: CapFormula::Ratio as i32,
                    name: name.into(),
                    ..Default::default()
                }),
            })
            .await
            .with_context(|| format!("target {indicator}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_id_numbers_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..3_000 {
            let id = id_number(n);
            let checked = xinfang_proto::personal::id_number("id", &id, 20_260_101)
                .unwrap_or_else(|e| panic!("{id}: {e:?}"));
            assert_eq!(checked, id);
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn fixture_calendar_round_trips() {
        assert_eq!(day(1970, 1, 1), 0);
        assert_eq!(civil(day(2020, 2, 29)), (2020, 2, 29));
        assert_eq!(day(2021, 1, 1) - day(2020, 1, 1), 366);
        // 09:00 in Shanghai.
        assert_eq!(at(day(2020, 1, 2), 0).unwrap().seconds, 1_577_926_800);
    }

    #[test]
    fn fixture_headcounts_add_up() {
        for (b, p) in [
            (182, 692),
            (123, 445),
            (3, 5),
            (6, 8),
            (2, 4),
            (284, 797),
            (16, 54),
        ] {
            let h = headcounts(b, p);
            assert_eq!(h.len(), b);
            assert_eq!(h.iter().sum::<i32>() as usize, p);
            assert!(h.iter().all(|&n| n >= 1));
        }
    }

    /// The plan itself reproduces the figures, before any server sees it.
    #[test]
    fn fixture_plan_matches_the_figures() {
        let plan = Plan::build();
        let in_2020 = |d: Day| (day(2020, 1, 1)..day(2021, 1, 1)).contains(&d);
        let all: Vec<&Intake> = plan.openers.iter().chain(&plan.repeats).collect();
        let visits = |year: i32, level: Level, repeat: Option<bool>| {
            let mut batches_persons = (0, 0);
            for i in all
                .iter()
                .filter(|i| i.year == year && repeat.is_none_or(|r| i.repeat == r))
            {
                if let Kind::Visit {
                    level: l,
                    headcount,
                } = i.kind
                    && l == level
                {
                    batches_persons.0 += 1;
                    batches_persons.1 += headcount;
                }
            }
            batches_persons
        };
        assert_eq!(visits(2020, Level::County, None), (305, 1137));
        assert_eq!(visits(2020, Level::County, Some(false)), (182, 692));
        assert_eq!(visits(2020, Level::County, Some(true)), (123, 445));
        assert_eq!(visits(2020, Level::City, None), (46, 158));
        assert_eq!(visits(2020, Level::Province, None), (9, 13));
        assert_eq!(visits(2020, Level::Province, Some(true)), (6, 8));
        assert_eq!(visits(2019, Level::County, None), (484, 1357));
        assert_eq!(visits(2019, Level::City, None), (74, 231));
        assert_eq!(visits(2019, Level::Province, None), (6, 11));
        let letters = |year: i32, campaign: bool| {
            all.iter()
                .filter(|i| i.year == year && matches!(i.kind, Kind::Letter(c) if (c == LetterChannel::CampaignTransfer) == campaign))
                .count()
        };
        assert_eq!((letters(2020, false), letters(2020, true)), (343, 17));
        assert_eq!((letters(2019, false), letters(2019, true)), (389, 0));
        for i in &all {
            let (y, _, _) = civil(i.day);
            assert_eq!(y, i.year);
        }

        let m = &plan.cases;
        let count = |f: &dyn Fn(&Case) -> bool| m.iter().filter(|x| f(x)).count();
        assert_eq!(count(&|x| in_2020(x.steps.accept)), 437);
        assert_eq!(count(&|x| x.year == 2020), 437);
        // Deadlines with the generous bound (60 days plus the longest holiday move) on each side of the year.
        assert_eq!(
            count(&|x| x.year == 2020 && x.steps.accept + 68 < day(2021, 1, 1)),
            424
        );
        assert_eq!(
            count(&|x| x.year == 2020 && x.steps.accept + 60 >= day(2021, 1, 1)),
            13
        );
        assert_eq!(
            count(&|x| x.year == 2019 && x.steps.accept + 68 >= day(2020, 1, 1)),
            0
        );
        assert_eq!(
            count(&|x| x.year == 2019 && x.registered + 30 >= day(2020, 1, 1)),
            0
        );
        let concluded = |x: &Case| x.year == 2020 && x.steps.accept + 68 < day(2021, 1, 1);
        assert_eq!(
            count(&|x| concluded(x) && x.steps.reply - x.steps.accept <= 45),
            416
        );
        assert_eq!(
            count(&|x| concluded(x) && x.steps.reply - x.steps.accept >= 85),
            8
        );
        assert_eq!(count(&|x| concluded(x) && in_2020(x.steps.reply)), 424);
        assert_eq!(count(&|x| x.steps.evaluation.is_some()), 87);
        assert_eq!(
            count(&|x| x.steps.evaluation.is_some() && in_2020(x.steps.reply)),
            87
        );
        let reviews = |y: i32| count(&|x| x.steps.review.is_some_and(|(r, _)| civil(r).0 == y));
        assert_eq!((reviews(2019), reviews(2020)), (4, 3));
        assert!(
            m.iter()
                .all(|x| x.steps.review.is_none_or(|(r, _)| r <= x.steps.reply + 30))
        );
        assert_eq!(
            count(&|x| x.steps.backlog.is_some_and(|(_, _, r)| in_2020(r))),
            4
        );

        let ratings: Vec<(Rating, Rating)> = (0..87).map(rating).collect();
        let office = |r: Rating| ratings.iter().filter(|x| x.0 == r).count();
        let unit = |r: Rating| ratings.iter().filter(|x| x.1 == r).count();
        assert_eq!(
            (office(Rating::Satisfied), office(Rating::NotParticipated)),
            (84, 1)
        );
        assert_eq!(
            (unit(Rating::Satisfied), unit(Rating::NotParticipated)),
            (81, 2)
        );

        // Every repeat is about a case opened before it, by a known petitioner.
        for r in &plan.repeats {
            let target = &m[r.matter];
            assert!(target.person.is_some() && target.registered < r.day);
        }
        // And every transfer has a reference of its own.
        let mut references = std::collections::HashSet::new();
        for i in all.iter().filter(|i| !i.reference.is_empty()) {
            assert!(references.insert((i.kind, i.reference.clone())));
        }
    }
}
