//! The figures of a period, for the RPCs and the report alike: every indicator of the table
//! ([`super::indicators`]) counted from the rollups, with the preceding period (环比), the same months a year
//! earlier (同比), 两降两升 and the cases behind the clocks; and the visit and channel statistics.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::NaiveDate;
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_proto::v1::{
    ChannelFigure, ChannelStatistics, VisitFigures, VisitGroup, VisitGrouping, VisitStatistics,
};

use super::{
    indicators::{Ask, INDICATORS, Indicator, Kind, Term},
    model::{TrendValue, figure},
    period::Span,
    store::{self, VisitKey, VisitRow},
    trends::{self, Trend},
};
use crate::{
    error::AppError,
    scope::{self, Reader},
};

/// The options of `GetIndicatorsRequest` that change what a term counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asks {
    pub pending: bool,
    pub basically_satisfied: bool,
}

impl Asks {
    fn allow(self, ask: Option<Ask>) -> bool {
        match ask {
            None => true,
            Some(Ask::Pending) => self.pending,
            Some(Ask::BasicallySatisfied) => self.basically_satisfied,
        }
    }
}

/// Every indicator of the table over `span`, in the table's order, before anything is divided or rounded.
/// `today` decides whether an open clock is missed or pending and whether an evaluation window has lapsed.
pub async fn values(
    conn: &mut PgConnection,
    span: Span,
    org: Option<&str>,
    asks: Asks,
    today: NaiveDate,
) -> Result<Vec<TrendValue>, AppError> {
    let bounds = store::Bounds {
        from: span.from_date,
        until: span.until_date,
        org,
        // A deadline inside the period that is not met by the period's end (or by today, for a period still
        // running) counts as missed.
        cutoff: today.min(span.until_date),
        today,
        from_instant: span.from,
        until_instant: span.until,
    };
    let mut sums: Vec<(Term, i64)> = Vec::new();
    for statement in store::indicator_statements() {
        let row = store::sums(conn, statement, &bounds).await?;
        sums.extend(statement.terms.iter().copied().zip(row));
    }
    let add = |terms: &[Term]| -> i64 {
        terms
            .iter()
            .filter(|t| asks.allow(t.only_if))
            .map(|t| {
                sums.iter()
                    .find(|(column, _)| store::same_column(column, t))
                    .map_or(0, |(_, n)| *n)
            })
            .sum()
    };
    Ok(INDICATORS
        .iter()
        .map(|i| match i.kind {
            Kind::Count => TrendValue::Count(add(i.numerator)),
            Kind::Clock(_) | Kind::Rate => TrendValue::Rate(add(i.numerator), add(i.denominator)),
        })
        .collect())
}

/// What `GetIndicators` asks for.
#[derive(Debug, Clone)]
pub struct IndicatorQuery {
    pub span: Span,
    /// `None`: the county.
    pub org: Option<String>,
    pub asks: Asks,
    pub include_ids: bool,
}

/// The cases behind a clock's rate: those in the numerator, and those in the denominator only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    pub numerator: Vec<Uuid>,
    pub other: Vec<Uuid>,
}

/// Every indicator of a period, each with the preceding period of equal length (环比) and the same months a
/// year earlier (同比), in the order of [`INDICATORS`].
#[derive(Debug, Clone)]
pub struct IndicatorSet {
    pub span: Span,
    pub org: Option<String>,
    pub now: Vec<TrendValue>,
    pub previous_period: Vec<TrendValue>,
    pub previous_year: Vec<TrendValue>,
    /// Per indicator: the cases behind a clock's rate, when asked for.
    pub ids: Vec<Option<Ids>>,
    /// 两降两升 as the year of the period's last month defines it.
    pub trends: Vec<Trend>,
}

impl IndicatorSet {
    /// The rows of the table with their values now, a period earlier and a year earlier.
    pub fn rows(
        &self,
    ) -> impl Iterator<Item = (&'static Indicator, TrendValue, TrendValue, TrendValue)> + '_ {
        INDICATORS.iter().enumerate().map(|(i, row)| {
            (
                row,
                self.now[i],
                self.previous_period[i],
                self.previous_year[i],
            )
        })
    }

    fn value(&self, key: &str) -> Option<TrendValue> {
        super::indicators::position(key).map(|i| self.now[i])
    }

    /// A rate's (numerator, denominator) now; (0, 0) for a key that is no rate.
    pub fn rate(&self, key: &str) -> (i64, i64) {
        match self.value(key) {
            Some(TrendValue::Rate(n, d)) => (n, d),
            _ => (0, 0),
        }
    }

    /// A count now; 0 for a key that is no count.
    pub fn count(&self, key: &str) -> i64 {
        match self.value(key) {
            Some(TrendValue::Count(n)) => n,
            _ => 0,
        }
    }
}

/// Every indicator of `q`'s period. With `q.include_ids`, the cases behind the clocks are listed as far
/// as `reader` reads them (`crate::scope`), while the counts include every case of the scope asked for —
/// a unit's own figures count the accusations against it, whose ids it never gets.
pub async fn indicators(
    conn: &mut PgConnection,
    q: &IndicatorQuery,
    reader: &Reader,
    today: NaiveDate,
) -> Result<IndicatorSet, AppError> {
    let (span, org) = (q.span, q.org.as_deref());
    let now = values(conn, span, org, q.asks, today).await?;
    let previous_period = values(conn, span.previous_period(), org, q.asks, today).await?;
    let previous_year = values(conn, span.previous_year(), org, q.asks, today).await?;
    let mut ids = vec![None; INDICATORS.len()];
    if q.include_ids {
        let cutoff = today.min(span.until_date);
        for (i, row) in INDICATORS.iter().enumerate() {
            let Kind::Clock(deadline) = row.kind else {
                continue;
            };
            let filter = store::IdFilter {
                org,
                include_pending: q.asks.pending && row.asks(Ask::Pending),
            };
            let listed = store::timeliness_ids(
                conn,
                deadline,
                span.from_date,
                span.until_date,
                cutoff,
                filter,
            )
            .await?;
            let shown: HashSet<Uuid> = scope::store::keep_readable(
                conn,
                reader,
                scope::Kind::Case,
                listed.iter().map(|(id, _)| *id).collect(),
            )
            .await?
            .into_iter()
            .collect();
            let mut found = Ids::default();
            for (id, ok) in listed.into_iter().filter(|(id, _)| shown.contains(id)) {
                if ok {
                    found.numerator.push(id);
                } else {
                    found.other.push(id);
                }
            }
            ids[i] = Some(found);
        }
    }
    // 两降两升 as the year of the period's last month defines it, against the same months a year earlier.
    let (goals, _) = trends::goals(conn, span.last_year()).await?;
    let trends = goals
        .into_iter()
        .map(|goal| Trend::judge(goal, &now, &previous_year))
        .collect();
    Ok(IndicatorSet {
        span,
        org: q.org.clone(),
        now,
        previous_period,
        previous_year,
        ids,
        trends,
    })
}

/// Visit figures now, a year earlier and in the preceding period.
fn visit_figures(cur: &VisitRow, prev: &VisitRow, before: &VisitRow) -> VisitFigures {
    let f = |pick: fn(&VisitRow) -> i64| Some(figure(pick(cur), pick(prev), pick(before)));
    VisitFigures {
        batches: f(|r| r.batches),
        persons: f(|r| r.persons),
        initial_batches: f(|r| r.initial_batches),
        initial_persons: f(|r| r.initial_persons),
        repeat_batches: f(|r| r.repeat_batches),
        repeat_persons: f(|r| r.repeat_persons),
        collective_batches: f(|r| r.collective_batches),
        collective_persons: f(|r| r.collective_persons),
        leapfrog_batches: f(|r| r.leapfrog_batches),
        non_reception_batches: f(|r| r.non_reception_batches),
        large_scale_batches: f(|r| r.large_scale_batches),
        large_scale_persons: f(|r| r.large_scale_persons),
    }
}

/// The levels of visits, in the order the bureau reports them.
pub const LEVELS: [&str; 4] = ["county", "city", "province", "national"];

/// Visits of a period by level, and by township or month when asked, each figure with 同比 and 环比.
pub async fn visit_statistics(
    conn: &mut PgConnection,
    span: Span,
    org: Option<&str>,
    group_by: VisitGrouping,
) -> Result<VisitStatistics, AppError> {
    let prev = span.previous_year();
    let before = span.previous_period();
    let by_key = |rows: Vec<VisitRow>| -> BTreeMap<String, VisitRow> {
        rows.into_iter().map(|r| (r.key.clone(), r)).collect()
    };
    // Now, a year earlier, the period before: by a key.
    let mut three = async |key: VisitKey| -> Result<[BTreeMap<String, VisitRow>; 3], AppError> {
        let mut out: [BTreeMap<String, VisitRow>; 3] = Default::default();
        for (i, s) in [span, prev, before].into_iter().enumerate() {
            out[i] = by_key(store::visits(conn, s.from_date, s.until_date, org, key).await?);
        }
        Ok(out)
    };
    let [cur, old, earlier] = three(VisitKey::All).await?;
    let get = |m: &BTreeMap<String, VisitRow>, k: &str| m.get(k).cloned().unwrap_or_default();
    let total = visit_figures(&get(&cur, ""), &get(&old, ""), &get(&earlier, ""));
    let [cur, old, earlier] = three(VisitKey::Level).await?;
    let levels = LEVELS
        .iter()
        .map(|level| VisitGroup {
            key: (*level).to_owned(),
            figures: Some(visit_figures(
                &get(&cur, level),
                &get(&old, level),
                &get(&earlier, level),
            )),
        })
        .collect();
    let mut groups = Vec::new();
    match group_by {
        VisitGrouping::Township => {
            let [cur, old, earlier] = three(VisitKey::Township).await?;
            let keys: BTreeSet<&String> =
                cur.keys().chain(old.keys()).chain(earlier.keys()).collect();
            for k in keys {
                groups.push(VisitGroup {
                    key: k.clone(),
                    figures: Some(visit_figures(
                        &get(&cur, k),
                        &get(&old, k),
                        &get(&earlier, k),
                    )),
                });
            }
        }
        VisitGrouping::Month => {
            // A month group ("03") compares with the same month a year earlier and with the month before
            // it, which for the period's first month lies before the period.
            let month = |d: NaiveDate| d.format("%Y-%m").to_string();
            let months = by_key(
                store::visits(
                    conn,
                    span.from_date
                        .checked_sub_months(chrono::Months::new(1))
                        .unwrap_or(span.from_date),
                    span.until_date,
                    org,
                    VisitKey::YearMonth,
                )
                .await?,
            );
            let old = by_key(
                store::visits(
                    conn,
                    prev.from_date,
                    prev.until_date,
                    org,
                    VisitKey::YearMonth,
                )
                .await?,
            );
            let mut first = span.from_date;
            while first < span.until_date {
                let a_year_earlier = first
                    .checked_sub_months(chrono::Months::new(12))
                    .unwrap_or(first);
                let month_before = first
                    .checked_sub_months(chrono::Months::new(1))
                    .unwrap_or(first);
                let (now, then, last) = (
                    get(&months, &month(first)),
                    get(&old, &month(a_year_earlier)),
                    get(&months, &month(month_before)),
                );
                if now.batches != 0 || then.batches != 0 {
                    groups.push(VisitGroup {
                        key: first.format("%m").to_string(),
                        figures: Some(visit_figures(&now, &then, &last)),
                    });
                }
                let Some(next) = first.checked_add_months(chrono::Months::new(1)) else {
                    break;
                };
                first = next;
            }
            groups.sort_by(|a, b| a.key.cmp(&b.key));
        }
        VisitGrouping::Level | VisitGrouping::Unspecified => {}
    }
    Ok(VisitStatistics {
        period: Some(span.to_proto()),
        total: Some(total),
        levels,
        groups,
        previous_period: Some(before.to_proto()),
    })
}

/// The channels of letters and online items, in the order the statistics list them.
const CHANNELS: [&str; 8] = [
    "letter",
    "phone",
    "online",
    "leader_mailbox",
    "peoples_daily_board",
    "transferred",
    "assigned",
    "campaign_transfer",
];

/// Letters and online items of a period by channel, with 复查 and 复核 (docs/indicators.md, "复查 and 复核"),
/// each figure with 同比 and 环比.
pub async fn channel_statistics(
    conn: &mut PgConnection,
    span: Span,
    org: Option<&str>,
) -> Result<ChannelStatistics, AppError> {
    let prev = span.previous_year();
    let before = span.previous_period();
    let mut by_channel = [BTreeMap::new(), BTreeMap::new(), BTreeMap::new()];
    let mut reviews = [store::Reviews::default(); 3];
    for (i, s) in [span, prev, before].into_iter().enumerate() {
        by_channel[i] = store::letters_by_channel(conn, s.from_date, s.until_date, org)
            .await?
            .into_iter()
            .collect::<BTreeMap<String, i64>>();
        reviews[i] = store::reviews(conn, s.from, s.until, org).await?;
    }
    let [cur, old, earlier] = &by_channel;
    let get = |m: &BTreeMap<String, i64>, c: &str| m.get(c).copied().unwrap_or(0);
    let sum_letters = |m: &BTreeMap<String, i64>| {
        m.iter()
            .filter(|(c, _)| c.as_str() != "campaign_transfer")
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let per_channel = |c: &str| figure(get(cur, c), get(old, c), get(earlier, c));
    Ok(ChannelStatistics {
        period: Some(span.to_proto()),
        channels: CHANNELS
            .iter()
            .map(|c| ChannelFigure {
                channel: (*c).to_owned(),
                items: Some(per_channel(c)),
            })
            .collect(),
        letters_and_online: Some(figure(
            sum_letters(cur),
            sum_letters(old),
            sum_letters(earlier),
        )),
        reviews: Some(figure(reviews[0].first, reviews[1].first, reviews[2].first)),
        second_reviews: Some(figure(
            reviews[0].second,
            reviews[1].second,
            reviews[2].second,
        )),
        campaign_transfers: Some(per_channel("campaign_transfer")),
        previous_period: Some(before.to_proto()),
    })
}
