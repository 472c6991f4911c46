//! The generated county as pure functions of a seed: which case is about what and where, who its
//! petitioners are, and when it was registered. The data generator writes it; the load generator reads the
//! same functions back to register repeats (同人+同事) of cases that exist, without asking the database.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// `settings` row holding the [`World`] of a generated database.
pub const WORLD_SETTING: &str = "xinfang_load.world";

/// Category codes (`server/data/categories.csv`), most frequent first.
pub const CATEGORIES: [&str; 18] = [
    "urban_construction",
    "labor",
    "land",
    "agriculture",
    "politics_law",
    "civil_affairs",
    "health",
    "education",
    "environment",
    "transport",
    "enterprise",
    "litigation",
    "discipline",
    "organization",
    "commerce",
    "science_industry",
    "veterans",
    "other",
];

/// Townships of the seed (`server/data/org-units.csv`), largest first.
pub const TOWNSHIPS: [(&str, &str); 12] = [
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

/// County departments of the seed.
pub const DEPARTMENTS: [(&str, &str); 12] = [
    ("510422D01", "县公安局"),
    ("510422D02", "县人社局"),
    ("510422D03", "县住建局"),
    ("510422D04", "县自然资源局"),
    ("510422D05", "县民政局"),
    ("510422D06", "县教育局"),
    ("510422D07", "县卫健局"),
    ("510422D08", "县司法局"),
    ("510422D09", "县农业农村局"),
    ("510422D10", "县交通运输局"),
    ("510422D11", "县市场监管局"),
    ("510422D12", "县生态环境局"),
];

pub const COUNTY: &str = "510422";
pub const BUREAU: &str = "510422XF";

/// What cases are about: (content, demands).
pub const TEXTS: [(&str, &str); 12] = [
    (
        "反映拖欠农民工工资问题，工程完工后劳务款至今未结清",
        "要求责令施工单位支付拖欠工资",
    ),
    (
        "反映征地补偿标准偏低，安置房迟迟未交付",
        "要求按政策提高补偿并尽快交房",
    ),
    ("反映邻居违章建房影响采光和通行", "要求依法拆除违章建筑"),
    (
        "反映企业排放污水污染农田和饮用水源",
        "要求停止排污并赔偿损失",
    ),
    (
        "反映低保资格认定不公，家庭困难未纳入",
        "要求重新审核低保资格",
    ),
    ("反映医疗事故处理结果不公", "要求重新鉴定并依法赔偿"),
    ("反映学校乱收费问题", "要求清退违规收取的费用"),
    ("反映道路施工损坏房屋出现裂缝", "要求修复房屋并赔偿损失"),
    (
        "反映土地承包经营权纠纷，村组重新调整土地",
        "要求维持原承包关系",
    ),
    (
        "反映企业改制时职工身份置换补偿未落实",
        "要求落实改制补偿和社保接续",
    ),
    ("反映案件判决后长期未执行到位", "要求法院依法强制执行"),
    ("反映退役后安置待遇未落实", "要求按政策落实安置待遇"),
];

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "罗", "高", "林",
];
const GIVEN_NAMES: [&str; 24] = [
    "明", "华", "芳", "军", "丽", "强", "敏", "静", "伟", "秀英", "建国", "桂兰", "志强", "玉珍",
    "德明", "文", "海燕", "国华", "永福", "春梅", "光荣", "小平", "红英", "学文",
];

/// The generated county: its size, its time span and its seed. Stored in the database by the generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub seed: u64,
    pub cases: u64,
    pub visits: u64,
    pub letters: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// splitmix64: a good 64-bit mixer, so that every attribute is a pure function of (seed, stream, index).
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn hash(seed: u64, stream: u64, i: u64) -> u64 {
    mix(seed ^ mix(stream.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ mix(i)))
}

/// A uniform number in [0, 1).
pub fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A small deterministic generator for the load workers.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(mix(seed))
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    pub fn chance(&mut self, p: f64) -> bool {
        unit(self.next()) < p
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }
}

/// Index in `0..n` with weights 1, 1/2, 1/3, … (a few big townships, a long tail).
pub fn zipf(x: u64, n: usize) -> usize {
    let total: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
    let mut target = unit(x) * total;
    for k in 0..n {
        target -= 1.0 / (k + 1) as f64;
        if target < 0.0 {
            return k;
        }
    }
    n - 1
}

/// Where a case's problem lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgKind {
    Township,
    Department,
    County,
}

/// A case's fixed attributes.
#[derive(Debug, Clone)]
pub struct Case {
    pub index: u64,
    pub registered_at: DateTime<Utc>,
    pub category: &'static str,
    pub org: &'static str,
    pub org_name: &'static str,
    pub org_kind: OrgKind,
    pub text: usize,
    /// Named petitioners: 1 to 3.
    pub persons: u8,
    /// Opened by a visit (else by a letter).
    pub by_visit: bool,
}

// Streams of the hash.
pub const S_TIME: u64 = 1;
pub const S_CATEGORY: u64 = 2;
pub const S_ORG: u64 = 3;
pub const S_PERSONS: u64 = 4;
pub const S_OPEN: u64 = 5;
pub const S_TEXT: u64 = 6;
pub const S_ID: u64 = 7;
pub const S_LIFE: u64 = 100;
pub const S_REG: u64 = 200;

impl World {
    pub fn span(&self) -> Duration {
        self.end - self.start
    }

    pub fn case(&self, m: u64) -> Case {
        let s = self.seed;
        let span_ms = self.span().num_milliseconds().max(1) as f64;
        let frac = (m as f64 + unit(hash(s, S_TIME, m))) / self.cases.max(1) as f64;
        let registered_at = self.start + Duration::milliseconds((span_ms * frac) as i64);
        let category = CATEGORIES[zipf(hash(s, S_CATEGORY, m), CATEGORIES.len())];
        let o = hash(s, S_ORG, m);
        let (org, org_name, org_kind) = match o % 100 {
            0..=64 => {
                let (c, n) = TOWNSHIPS[zipf(mix(o), TOWNSHIPS.len())];
                (c, n, OrgKind::Township)
            }
            65..=97 => {
                let (c, n) = DEPARTMENTS[zipf(mix(o), DEPARTMENTS.len())];
                (c, n, OrgKind::Department)
            }
            _ => (COUNTY, "盐边县", OrgKind::County),
        };
        let persons = match hash(s, S_PERSONS, m) % 100 {
            0..=84 => 1,
            85..=94 => 2,
            _ => 3,
        };
        let visit_share = self.visits as f64 / (self.visits + self.letters).max(1) as f64;
        Case {
            index: m,
            registered_at,
            category,
            org,
            org_name,
            org_kind,
            text: (hash(s, S_TEXT, m) % TEXTS.len() as u64) as usize,
            persons,
            by_visit: unit(hash(s, S_OPEN, m)) < visit_share,
        }
    }

    /// The person number of petitioner `j` of case `m`: the lead is `m`, the others follow all leads.
    pub fn person(&self, m: u64, j: u8) -> u64 {
        if j == 0 {
            m
        } else {
            self.cases + 2 * m + u64::from(j - 1)
        }
    }

    /// Person numbers from here on are free for new petitioners.
    pub fn first_free_person(&self) -> u64 {
        3 * self.cases + 1000
    }
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The GB 11643 ID number of person `n` (n < 3·10¹¹): a Sichuan (51) area code, a birth date between 1940
/// and 2021, a sequence number and the ISO 7064 MOD 11-2 check character. Distinct for distinct `n`.
pub fn id_number(n: u64) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let area = n % 10_000;
    let day = (n / 10_000) % 30_000;
    let seq = (n / 300_000_000) % 1000;
    let (y, m, d) = civil_from_days(days_from_civil(1940, 1, 1) + day as i64);
    let body = format!("51{area:04}{y:04}{m:02}{d:02}{seq:03}");
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", char::from(b"10X98765432"[(sum % 11) as usize]))
}

pub fn person_name(n: u64) -> String {
    let s = mix(n ^ 0x5EED);
    format!(
        "{}{}",
        SURNAMES[(s % SURNAMES.len() as u64) as usize],
        GIVEN_NAMES[((s >> 16) % GIVEN_NAMES.len() as u64) as usize]
    )
}

pub fn phone(n: u64) -> String {
    format!("13{:09}", mix(n ^ 0xF0) % 1_000_000_000)
}

pub fn address(n: u64, place: &str) -> String {
    format!("攀枝花市盐边县{place}{}组{}号", n % 12 + 1, n % 97 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_are_valid_and_distinct() {
        let today = 20_250_601;
        let mut seen = std::collections::HashSet::new();
        for n in [
            0,
            1,
            9_999,
            10_000,
            299_999_999,
            300_000_000,
            123_456_789_012,
        ] {
            let id = id_number(n);
            xinfang_proto::personal::id_number("id", &id, today).unwrap();
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        for z in [-10_000, 0, 18_000, 20_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
