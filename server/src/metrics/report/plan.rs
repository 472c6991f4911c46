//! The first three parts of the report: 一、项目概况 (the fund, its targets and 两降两升, the method),
//! 二、项目资金申报及使用情况 (documents, budget, execution, requests, payments) and 三、项目实施及管理情况
//! (the request chain, backlog work and relief, supervision).

use rust_decimal::Decimal;
use xinfang_proto::{
    money,
    v1::{PaymentMethod, TrendDirection},
};

use super::{
    text::{amount, pct, sign, unit, wan},
    year::YearFigures,
};

/// 一、项目概况: what the fund is for, the year's targets and 两降两升, and how the evaluation is made.
pub(super) fn overview(out: &mut String, fig: &YearFigures, year: i32) {
    line!(out, "## 一、项目概况");
    line!(out, "");
    line!(out, "### （一）项目基本情况");
    line!(out, "");
    line!(
        out,
        "1.县信访局项目管理职能。县信访局承担县信访工作联席会议办公室日常工作，负责办理网上投诉信访事项，\
         承担全县信访信息系统、各级党政领导信箱、人民网地方领导留言板等应用系统的运行维护，办理上级转办交办的\
         来信来访事项，负责接待群众到县委、县政府来访，组织协调进京赴省到市到县非接待场所有关人员接访劝返工作。"
    );
    line!(
        out,
        "2.立项、资金申报依据。根据信访工作需要，做好群众来信来访、网络投诉等基础信访业务工作，按规定及时办理\
         各类信访案件，提高信访事项“三率”，巩固“两降两升”，开展矛盾纠纷排查和信访积案化解。"
    );
    line!(
        out,
        "3.资金管理办法制定、支持具体项目条件、范围、支持方式。重点用于无责任主体信访案件等诉求合理但无相应\
         政策规定、生活确有困难的信访人的帮扶救助，将特殊疑难信访积案及时主动化解，信访人息诉罢访、案结事了。"
    );
    line!(
        out,
        "4.资金分配原则及考虑因素。资金使用坚持责任部门提出申请，信访局经局务会研究提出具体方案后报请上级\
         分管领导审批再支出的管理方式，重点关注长期未化解的特殊疑难信访案件和中央、省市督查督办信访案件。"
    );
    line!(out, "");
    line!(out, "### （二）项目绩效目标");
    line!(out, "");
    line!(
        out,
        "1.项目主要内容是做好群众来信来访、网络投诉等基础信访业务工作，按规定及时办理各类信访案件，提高信访\
         事项“三率”（及时受理率、按期办结率、群众满意率），巩固“两降两升”，开展信访积案化解。"
    );
    let targets = &fig.targets.completion;
    let listed: Vec<String> = targets
        .results
        .iter()
        .filter_map(|r| r.target.as_ref())
        .map(|t| {
            format!(
                "{}{}{}{}",
                t.name,
                sign(t.direction),
                t.value,
                unit(&t.indicator)
            )
        })
        .collect();
    if listed.is_empty() {
        line!(out, "2.{year}年未设定具体绩效目标。");
    } else {
        line!(out, "2.项目应实现的具体绩效目标为：{}。", listed.join("，"));
        let weights: Vec<String> = targets
            .results
            .iter()
            .filter_map(|r| {
                r.target
                    .as_ref()
                    .map(|t| format!("{}{}%（{}分）", t.name, r.effective_weight, r.points))
            })
            .collect();
        line!(
            out,
            "各项目标在产出指标50分中的权重：{}，合计{}%。",
            weights.join("、"),
            targets.weight_total
        );
    }
    let trends = &fig.indicators.trends;
    let named = |down: bool| -> Vec<String> {
        trends
            .iter()
            .map(|t| &t.goal)
            .filter(|g| (g.direction == TrendDirection::Down as i32) == down)
            .map(|g| g.name.clone())
            .collect()
    };
    line!(
        out,
        "3.巩固“两降两升”：{}下降，{}上升（与上年同期相比）。",
        named(true).join("、"),
        named(false).join("、")
    );
    line!(out, "");
    line!(out, "### （三）项目自评步骤及方法");
    line!(out, "");
    line!(
        out,
        "由项目负责人根据项目绩效申报指标逐个核对、比对，是否完成申报指标，计算完成率。本报告的数字均由信访\
         信息系统的记录计算得出：预算执行率10分（执行率×10，最高10分），产出指标50分（各项目标按权重和完成率\
         计分），效益指标30分（信访部门及时受理率、责任单位及时受理率、按期办结率），满意度指标10分（信访部门\
         和责任单位群众满意率）；90分以上为优，80至89分为良，60至79分为中，60分以下为差。百分比均由分子、分母\
         一次四舍五入得出。"
    );
    line!(out, "");
}

/// 二、项目资金申报及使用情况: the documents, the budget and its execution, the requests and payments.
pub(super) fn funds(out: &mut String, fig: &YearFigures, year: i32) {
    let budget = &fig.budget;
    line!(out, "## 二、项目资金申报及使用情况");
    line!(out, "");
    line!(out, "### （一）项目资金申报及批复情况");
    line!(out, "");
    if fig.documents.is_empty() {
        line!(out, "{year}年无预算批复记录。");
    } else {
        let docs: Vec<String> = fig
            .documents
            .iter()
            .map(|(category, document, a)| {
                let name = budget
                    .categories
                    .iter()
                    .find(|c| c.category == *category)
                    .map_or(category.as_str(), |c| c.name.as_str());
                format!("{document}（{name}{}元）", money::format(*a))
            })
            .collect();
        line!(out, "该项目资金纳入预算申报，由{}批复。", docs.join("、"));
    }
    line!(out, "");
    line!(out, "### （二）资金计划、到位及使用情况");
    line!(out, "");
    let appropriated = amount(&budget.appropriated);
    line!(
        out,
        "{year}年县级财政下达盐边县信访局重点信访工作经费{}万元：全年预算数{}元，全年执行数{}元，执行率{}。",
        wan(appropriated),
        budget.appropriated,
        budget.disbursed,
        if budget.execution_percent.is_empty() {
            "—".to_owned()
        } else {
            format!("{}%", budget.execution_percent)
        }
    );
    line!(out, "");
    line!(
        out,
        "| 资金类别 | 全年预算数（元） | 全年执行数（元） | 执行率 |"
    );
    line!(out, "|---|---:|---:|---:|");
    for c in &budget.categories {
        line!(
            out,
            "| {} | {} | {} | {}% |",
            c.name,
            c.appropriated,
            c.disbursed,
            c.execution_percent
        );
    }
    line!(
        out,
        "| 合计 | {} | {} | {} |",
        budget.appropriated,
        budget.disbursed,
        if budget.execution_percent.is_empty() {
            "—".to_owned()
        } else {
            format!("{}%", budget.execution_percent)
        }
    );
    line!(out, "");
    let by_state = |states: &[&str]| -> (i64, Decimal) {
        fig.requests
            .iter()
            .filter(|r| states.contains(&r.state.as_str()))
            .fold((0, Decimal::ZERO), |(n, a), r| {
                (n + r.requests, a + r.amount)
            })
    };
    let (all, all_amount) = by_state(&[
        "submitted",
        "bureau_approved",
        "bureau_rejected",
        "approved",
        "rejected",
        "disbursed",
    ]);
    let (paid, paid_amount) = by_state(&["disbursed"]);
    let (waiting, waiting_amount) = by_state(&["submitted", "bureau_approved", "approved"]);
    let (refused, _) = by_state(&["bureau_rejected", "rejected"]);
    line!(
        out,
        "全年责任部门提出资金申请{all}件{}元，已支付{paid}件{}元，审批或支付中{waiting}件{}元，未获批准{refused}件。",
        money::format(all_amount),
        money::format(paid_amount),
        money::format(waiting_amount)
    );
    line!(out, "");
    line!(out, "### （三）项目财务管理情况");
    line!(out, "");
    let paid_by = |method: PaymentMethod| -> (i64, Decimal) {
        budget
            .payments
            .iter()
            .filter(|p| p.method == method as i32)
            .fold((0, Decimal::ZERO), |(n, a), p| {
                (n + p.requests, a + amount(&p.amount))
            })
    };
    let (direct, direct_amount) = paid_by(PaymentMethod::Direct);
    let (authorized, authorized_amount) = paid_by(PaymentMethod::Authorized);
    let (cash, cash_amount) = paid_by(PaymentMethod::Cash);
    line!(
        out,
        "项目实施单位财务管理制度健全，资金支付形式为直接支付和授权支付，严禁现金支出：直接支付{direct}笔{}元，\
         授权支付{authorized}笔{}元，现金支出{}。",
        money::format(direct_amount),
        money::format(authorized_amount),
        if cash == 0 {
            "0元".to_owned()
        } else {
            format!("{cash}笔{}元", money::format(cash_amount))
        }
    );
    line!(out, "");
}

/// 三、项目实施及管理情况: the request chain, backlog work and relief, supervision.
pub(super) fn management(out: &mut String, fig: &YearFigures) {
    let ind = &fig.indicators;
    line!(out, "## 三、项目实施及管理情况");
    line!(out, "");
    line!(out, "### （一）项目组织架构及实施流程");
    line!(out, "");
    let count = |states: &[&str]| -> i64 {
        fig.requests
            .iter()
            .filter(|r| states.contains(&r.state.as_str()))
            .map(|r| r.requests)
            .sum()
    };
    let decided = count(&[
        "bureau_approved",
        "bureau_rejected",
        "approved",
        "rejected",
        "disbursed",
    ]);
    let approved = count(&["approved", "rejected", "disbursed"]);
    line!(
        out,
        "资金使用坚持责任部门提出申请，信访局经局务会研究提出具体方案后报请上级分管领导审批再支出：全年经局务会\
         研究{decided}件，报请分管领导审批{approved}件，已支付{}件。",
        count(&["disbursed"])
    );
    line!(out, "");
    line!(out, "### （二）项目管理情况");
    line!(out, "");
    let backlog = ind.rate("backlog_resolution");
    let (resolved, listed) = backlog;
    let (relief, relief_amount) = fig
        .requests
        .iter()
        .filter(|r| r.relief && r.state == "disbursed")
        .fold((0, Decimal::ZERO), |(n, a), r| {
            (n + r.requests, a + r.amount)
        });
    line!(
        out,
        "列入台账的信访积案{listed}件，已化解{resolved}件（化解率{}），其中特殊疑难信访积案全年化解{}件；\
         支付困难帮扶救助{relief}笔{}元。",
        pct(backlog, 2),
        ind.count("special_difficult_resolved"),
        money::format(relief_amount)
    );
    line!(out, "");
    line!(out, "### （三）项目监管情况");
    line!(out, "");
    line!(
        out,
        "项目资金支出时，对责任部门进行资金使用规范提醒，明确管理责任；研究决定资金方案的人员不得审批同一申请，\
         申请、研究、审批和支付各环节均有记录，业务部门对化解信访案件进行资料收集，了解项目实施的绩效情况。"
    );
    line!(out, "");
}
