//! The last two parts of the report: 四、项目绩效情况 (what was done, its effects with the table's rates,
//! 环比 and 同比 and 两降两升, the score table) and 五、评价结论及建议 (the score, the problems found and
//! what to do about them).

use std::str::FromStr;

use rust_decimal::Decimal;
use xinfang_proto::v1::TrendDirection;

use super::{
    score::ScoreRow,
    text::{amount, change, compared, pct, value, wan},
    year::YearFigures,
};
use crate::metrics::{
    indicators,
    model::{self, Finding, TrendValue},
    trends::Trend,
};

/// 四、项目绩效情况: what was done (visits, letters, reviews, funds), its effects (the rates, 环比 and 同比,
/// 两降两升) and the score table.
pub(super) fn performance(
    out: &mut String,
    fig: &YearFigures,
    year: i32,
    rows: &[ScoreRow],
    total: Decimal,
) {
    let ind = &fig.indicators;
    line!(out, "## 四、项目绩效情况");
    line!(out, "");
    line!(out, "### （一）项目完成情况");
    line!(out, "");
    let county = fig.level("county").cloned().unwrap_or_default();
    let city = fig.level("city").cloned().unwrap_or_default();
    let province = fig.level("province").cloned().unwrap_or_default();
    let national = fig.level("national").cloned().unwrap_or_default();
    let (cb, cp) = (value(&county.batches), value(&county.persons));
    line!(
        out,
        "全年群众本级来访{}批{}人次，同比批次{}、人次{}（其中：初访{}批{}人次、重复访{}批{}人次）；",
        cb.value,
        cp.value,
        change(&cb, 1),
        change(&cp, 1),
        value(&county.initial_batches).value,
        value(&county.initial_persons).value,
        value(&county.repeat_batches).value,
        value(&county.repeat_persons).value
    );
    let (tb, tp) = (value(&city.batches), value(&city.persons));
    line!(
        out,
        "到市上访{}批{}人次，同比批次{}、人次{}；",
        tb.value,
        tp.value,
        change(&tb, 1),
        change(&tp, 1)
    );
    let (pb, pp) = (value(&province.batches), value(&province.persons));
    line!(
        out,
        "到省上访{}批{}人次（其中：重复访{}批{}人次），同比批次{}、人次{}；",
        pb.value,
        pp.value,
        value(&province.repeat_batches).value,
        value(&province.repeat_persons).value,
        change(&pb, 1),
        change(&pp, 1)
    );
    let (nb, np) = (value(&national.batches), value(&national.persons));
    if nb.value > 0 || nb.previous > 0 {
        line!(
            out,
            "进京上访{}批{}人次，同比批次{}；",
            nb.value,
            np.value,
            change(&nb, 1)
        );
    }
    let letters = value(&fig.channels.letters_and_online);
    line!(
        out,
        "受理各级领导信箱、人民网地方领导留言板、网上投诉、各级转办来信等{}件，同比{}；",
        letters.value,
        change(&letters, 2)
    );
    // 复查 and 复核 are separate counts (docs/indicators.md, "复查 and 复核").
    let reviews = value(&fig.channels.reviews);
    let second = value(&fig.channels.second_reviews);
    line!(
        out,
        "复查{}件，同比{}；复核{}件，同比{}；",
        reviews.value,
        change(&reviews, 0),
        second.value,
        change(&second, 0)
    );
    let campaign = value(&fig.channels.campaign_transfers);
    line!(out, "办理扫黑除恶转办{}件；", campaign.value);
    let budget = &fig.budget;
    let parts: Vec<String> = budget
        .categories
        .iter()
        .map(|c| format!("{}{}万元", c.name, wan(amount(&c.appropriated))))
        .collect();
    line!(
        out,
        "{year}年县级财政下达盐边县信访局重点信访工作经费{}万元{}；确定特殊疑难信访积案{}件及时主动化解，案结事了。",
        wan(amount(&budget.appropriated)),
        if parts.is_empty() {
            String::new()
        } else {
            format!("，其中{}", parts.join("、"))
        },
        ind.count("special_difficult_resolved")
    );
    line!(out, "");
    line!(out, "### （二）项目效益情况");
    line!(out, "");
    line!(
        out,
        "受理信访件{}件，信访部门及时受理率{}，责任单位及时受理率{}和按期办结率{}。参评满意度评价{}件，其中：\
         对信访部门参评率达{}，群众满意率达{}，对责任部门群众参评率达{}，群众满意率达{}。",
        ind.count("matters_accepted"),
        pct(ind.rate("timely_acceptance_office"), 2),
        pct(ind.rate("timely_acceptance_unit"), 2),
        pct(ind.rate("on_time_completion"), 2),
        ind.count("evaluations"),
        pct(ind.rate("participation_office"), 1),
        pct(ind.rate("satisfaction_office"), 1),
        pct(ind.rate("participation_unit"), 1),
        pct(ind.rate("satisfaction_unit"), 1)
    );
    if ind.count("evaluations_lapsed") > 0 {
        line!(
            out,
            "另有{}件评价期满未参评，计入参评率的分母。",
            ind.count("evaluations_lapsed")
        );
    }
    line!(out, "");
    line!(
        out,
        "| 指标 | 分子/分母 | 比率 | 上期（环比） | 上年同期（同比） |"
    );
    line!(out, "|---|---:|---:|---:|---:|");
    // The table's rates the report lists, in its order.
    for (row, now, previous_period, previous_year) in ind.rows().filter(|(row, ..)| row.in_report) {
        let TrendValue::Rate(n, d) = now else {
            continue;
        };
        line!(
            out,
            "| {} | {n}/{d} | {} | {} | {} |",
            row.name,
            pct((n, d), 2),
            compared((n, d), previous_period),
            compared((n, d), previous_year)
        );
    }
    line!(out, "");
    line!(
        out,
        "全年报告的上期即上年，环比与同比相同；比率的变化以百分点计。"
    );
    line!(out, "");
    line!(out, "“两降两升”完成情况（与上年同期相比）：");
    line!(out, "");
    two_down_two_up(out, &ind.trends, year);
    line!(out, "");
    line!(out, "### （三）绩效指标完成情况");
    line!(out, "");
    line!(
        out,
        "| 一级指标 | 二级指标 | 三级指标 | 指标性质 | 指标值 | 实际完成值 | 分值 | 得分 |"
    );
    line!(out, "|---|---|---|---|---:|---:|---:|---:|");
    for r in rows {
        line!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.level1,
            r.level2,
            r.level3,
            r.nature,
            r.target,
            r.actual,
            r.points,
            model::fixed(r.score, 2)
        );
    }
    line!(out, "| 合计 | | | | | | 100 | {} |", model::fixed(total, 2));
    line!(out, "");
}

/// The 两降两升 table: each indicator with its direction, this year and last, the change and the verdict.
fn two_down_two_up(out: &mut String, results: &[Trend], year: i32) {
    line!(
        out,
        "| 指标 | 方向 | {year}年 | {}年 | 变化 | 结果 |",
        year - 1
    );
    line!(out, "|---|---|---:|---:|---|---|");
    for r in results {
        let goal = &r.goal;
        let is_rate = indicators::trend_indicator(&goal.indicator).is_some_and(|(_, rate)| rate);
        let shown = |v: &str| match (v.is_empty(), is_rate) {
            (true, _) => "—".to_owned(),
            (false, true) => format!("{v}%"),
            (false, false) => v.to_owned(),
        };
        let change = match Decimal::from_str(&r.change_text()) {
            Ok(c) if c.is_zero() => "持平".to_owned(),
            Ok(c) => {
                let (word, size) = if c.is_sign_negative() {
                    ("下降", -c)
                } else {
                    ("上升", c)
                };
                if is_rate {
                    format!("{word}{}个百分点", model::fixed(size, 2))
                } else {
                    format!("{word}{}%", model::fixed(size, 2))
                }
            }
            Err(_) if is_rate => "—".to_owned(),
            Err(_) => "上年为零".to_owned(),
        };
        line!(
            out,
            "| {} | {} | {} | {} | {change} | {} |",
            goal.name,
            direction_word(goal.direction),
            shown(&r.value_text()),
            shown(&r.previous_text()),
            verdict(r)
        );
    }
}

fn direction_word(direction: i32) -> &'static str {
    if direction == TrendDirection::Down as i32 {
        "降"
    } else {
        "升"
    }
}

fn verdict(r: &Trend) -> &'static str {
    if r.met {
        "达成"
    } else if r.undetermined {
        "无法比较"
    } else {
        "未达成"
    }
}

/// 五、评价结论及建议: the score and grade, the problems found (missed targets, 两降两升 not met, the
/// inconsistencies with their figures) and what to do about them.
pub(super) fn conclusions(
    out: &mut String,
    fig: &YearFigures,
    year: i32,
    findings: &[Finding],
    (parts, total, grade): ([Decimal; 4], Decimal, &str),
) {
    line!(out, "## 五、评价结论及建议");
    line!(out, "");
    line!(out, "### （一）评价结论");
    line!(out, "");
    line!(
        out,
        "经自评，本项目绩效自评得分{}分，等级为“{grade}”：预算执行率{}分（满分10分），产出指标{}分（满分50分），\
         效益指标{}分（满分30分），满意度指标{}分（满分10分）。",
        model::fixed(total, 2),
        model::fixed(parts[0], 2),
        model::fixed(parts[1], 2),
        model::fixed(parts[2], 2),
        model::fixed(parts[3], 2)
    );
    line!(out, "");
    line!(out, "| 一级指标 | 分值 | 得分 |");
    line!(out, "|---|---:|---:|");
    for (label, (weight, score)) in ["预算执行率", "产出指标", "效益指标", "满意度指标"]
        .iter()
        .zip([10, 50, 30, 10].iter().zip(parts))
    {
        line!(out, "| {label} | {weight} | {} |", model::fixed(score, 2));
    }
    line!(out, "| 合计 | 100 | {} |", model::fixed(total, 2));
    line!(out, "");
    line!(out, "### （二）存在的问题");
    line!(out, "");
    let not_met: Vec<&Trend> = fig.indicators.trends.iter().filter(|r| !r.met).collect();
    let performance: Vec<&Finding> = findings
        .iter()
        .filter(|f| matches!(f.kind, "target_missed" | "target_unmeasured" | "no_targets"))
        .collect();
    let data: Vec<&Finding> = findings
        .iter()
        .filter(|f| !matches!(f.kind, "target_missed" | "target_unmeasured" | "no_targets"))
        .collect();
    let mut n = 0;
    for f in &performance {
        n += 1;
        line!(out, "{n}. {}", f.message);
    }
    for r in &not_met {
        let goal = &r.goal;
        let is_rate = indicators::trend_indicator(&goal.indicator).is_some_and(|(_, rate)| rate);
        let shown = |v: &str| match (v.is_empty(), is_rate) {
            (true, _) => "无数据".to_owned(),
            (false, true) => format!("{v}%"),
            (false, false) => v.to_owned(),
        };
        let (value, previous) = (r.value_text(), r.previous_text());
        let why = match (r.undetermined, value.is_empty(), previous.is_empty()) {
            (false, _, _) => "未达成",
            (true, false, true) => "上年无可比数据，无法比较",
            (true, true, false) => "本年无可比数据，无法比较",
            (true, _, _) => "两年均无可比数据",
        };
        n += 1;
        line!(
            out,
            "{n}. “两降两升”中{}应{}，{why}（{year}年{}，上年同期{}）。",
            goal.name,
            if goal.direction == TrendDirection::Down as i32 {
                "下降"
            } else {
                "上升"
            },
            shown(&value),
            shown(&previous)
        );
    }
    if !data.is_empty() {
        n += 1;
        line!(out, "{n}. 数据核对发现以下不一致：");
        for f in &data {
            line!(out, "   - {}", f.message);
        }
    }
    if n == 0 {
        line!(
            out,
            "各项绩效目标均已完成，“两降两升”均已达成，数据核对未发现不一致。"
        );
    }
    line!(out, "");
    line!(out, "### （三）相关建议");
    line!(out, "");
    let mut advice = Vec::new();
    if performance.iter().any(|f| f.kind != "no_targets") {
        advice.push(
            "对未完成的绩效目标分析原因，在九月年度计划执行情况汇总时及时调整资金安排，下一年度申报时合理设定目标值。",
        );
    }
    if performance.iter().any(|f| f.kind == "no_targets") {
        advice.push("按项目绩效申报要求设定年度绩效目标及其权重。");
    }
    if !not_met.is_empty() {
        advice.push(
            "针对“两降两升”未达成的指标，加强矛盾纠纷源头化解和网上信访引导，减少重复访、越级访。",
        );
    }
    if data.iter().any(|f| f.kind == "weights") {
        advice.push("重新分配各项绩效目标的权重，使其合计为100%。");
    }
    if data
        .iter()
        .any(|f| matches!(f.kind, "sum" | "rate_over_base" | "published" | "budget"))
    {
        advice.push("核对数据来源，更正报表中不一致的数字，确保上报数据与信访信息系统的记录一致。");
    }
    advice.push(
        "加强资金绩效管理相关制度、文件的学习，强化绩效目标管理，结合单位实际情况做好绩效管理工作。",
    );
    for (i, a) in advice.iter().enumerate() {
        line!(out, "{}. {a}", i + 1);
    }
}
