//! How a case reads to the people who work it: its clocks (受理, 办结, 督办回复, …) from the server's
//! `Case.deadlines` with the days left on the bureau's calendar, the 转送/交办 mode with the completion
//! report a 交办 needs, and the overdue marker; `xf cases` (the local copy, or `--online` the server's
//! list), `xf case get` and the line an online step prints.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use xinfang_client::text::{self, EnumKind};
use xinfang_proto::v1::{AssignmentMode, Case, Deadline, Timeliness};

/// One clock of a case as shown: its Chinese name, due day, whether it is done, and the days left.
#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    pub name: &'static str,
    pub key: &'static str,
    pub due: Option<NaiveDate>,
    pub done: bool,
    pub timeliness: i32,
    /// Days from today to the due day (negative: past it); `None` when done or without a due day.
    pub days_left: Option<i64>,
    /// Whether being past it makes the case overdue (the petitioner's own windows do not).
    pub counts: bool,
}

impl Clock {
    pub fn overdue(&self) -> bool {
        self.counts
            && !self.done
            && (self.timeliness == Timeliness::Overdue as i32
                || self.days_left.is_some_and(|d| d < 0))
    }

    /// Whether it is open and falls due within `days` from today (an overdue one included).
    pub fn due_within(&self, days: i64) -> bool {
        self.counts && !self.done && self.days_left.is_some_and(|d| d <= days)
    }

    /// `受理 2026-06-10 剩3天`, `办结 2026-06-01 超期2天`, `受理 2026-05-01 按期`.
    pub fn describe(&self) -> String {
        let due = self.due.map(|d| d.to_string()).unwrap_or_default();
        let state = if self.done {
            EnumKind::Timeliness.label(self.timeliness).to_owned()
        } else {
            match self.days_left {
                Some(d) if d < 0 => format!("超期{}天", -d),
                Some(0) => "今天到期".to_owned(),
                Some(d) => format!("剩{d}天"),
                None => String::new(),
            }
        };
        format!("{} {due} {state}", self.name).trim().to_owned()
    }
}

fn date_of(d: &xinfang_proto::v1::Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        d.year,
        u32::try_from(d.month).ok()?,
        u32::try_from(d.day).ok()?,
    )
}

/// The clocks that apply to the case now, in the order of the workflow.
pub fn clocks(case: &Case, now: DateTime<Utc>) -> Vec<Clock> {
    let today = xinfang_proto::calendar::local_date(now);
    let Some(d) = &case.deadlines else {
        return Vec::new();
    };
    let list: [(&'static str, &'static str, &Option<Deadline>, bool); 7] = [
        ("转交办", "assign", &d.assign, true),
        ("受理", "accept", &d.accept, true),
        ("办结", "conclude", &d.conclude, true),
        ("督办回复", "supervision_reply", &d.supervision_reply, true),
        ("复查复核申请", "review_request", &d.review_request, false),
        ("复查复核决定", "review_decision", &d.review_decision, true),
        ("评价", "evaluation", &d.evaluation, false),
    ];
    list.into_iter()
        .filter_map(|(name, key, deadline, counts)| {
            let deadline = deadline.as_ref()?;
            let due = deadline.due.as_ref().and_then(date_of);
            let done = deadline.done_at.is_some()
                || matches!(
                    Timeliness::try_from(deadline.timeliness),
                    Ok(Timeliness::OnTime | Timeliness::Late)
                );
            Some(Clock {
                name,
                key,
                due,
                done,
                timeliness: deadline.timeliness,
                days_left: (!done)
                    .then(|| due.map(|due| (due - today).num_days()))
                    .flatten(),
                counts,
            })
        })
        .collect()
}

pub fn is_overdue(case: &Case, now: DateTime<Utc>) -> bool {
    clocks(case, now).iter().any(Clock::overdue)
}

pub fn due_within(case: &Case, days: i64, now: DateTime<Utc>) -> bool {
    clocks(case, now).iter().any(|c| c.due_within(days))
}

/// `交办 (须办结报告, 期限 2026-07-01)` or `转送`; empty before assignment.
pub fn mode(case: &Case) -> String {
    match AssignmentMode::try_from(case.assignment_mode) {
        Ok(AssignmentMode::Assign) => {
            let until = case
                .handling_deadline
                .as_ref()
                .and_then(date_of)
                .map(|d| format!(", 期限 {d}"))
                .unwrap_or_default();
            let report = if case.completion_report.is_empty() {
                "须办结报告"
            } else {
                "已报办结报告"
            };
            format!(
                "{} ({report}{until})",
                EnumKind::AssignmentMode.label(AssignmentMode::Assign as i32)
            )
        }
        Ok(AssignmentMode::Forward) => EnumKind::AssignmentMode
            .label(AssignmentMode::Forward as i32)
            .into(),
        _ => String::new(),
    }
}

/// The open clocks, one per line, for the table.
pub fn open_clocks(case: &Case, now: DateTime<Utc>) -> String {
    clocks(case, now)
        .iter()
        .filter(|c| !c.done && c.days_left.is_some())
        .map(Clock::describe)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn state(case: &Case) -> String {
    EnumKind::CaseState.label(case.state).to_owned()
}

pub fn one_line(case: &Case, now: DateTime<Utc>) -> String {
    let mut line = format!(
        "{} {} {}",
        case.number,
        state(case),
        case.responsible_org_code
    );
    let m = mode(case);
    if !m.is_empty() {
        line.push(' ');
        line.push_str(&m);
    }
    let open = open_clocks(case, now).replace('\n', "; ");
    if !open.is_empty() {
        line.push_str(&format!(" [{open}]"));
    }
    if is_overdue(case, now) {
        line.push_str(" 【超期】");
    }
    line
}

pub fn case_json(case: &Case, now: DateTime<Utc>) -> Value {
    let clocks: Vec<Value> = clocks(case, now)
        .iter()
        .map(|c| {
            json!({
                "clock": c.key, "name": c.name, "due": c.due.map(|d| d.to_string()),
                "done": c.done, "timeliness": EnumKind::Timeliness.format(c.timeliness),
                "days_left": c.days_left, "overdue": c.overdue(),
            })
        })
        .collect();
    json!({
        "id": case.id, "number": case.number,
        "state": EnumKind::CaseState.format(case.state), "state_label": state(case),
        "category": case.category, "problem_org_code": case.problem_org_code,
        "responsible_org_code": case.responsible_org_code,
        "mode": EnumKind::AssignmentMode.format(case.assignment_mode),
        "mode_label": EnumKind::AssignmentMode.label(case.assignment_mode),
        "completion_report_required": case.assignment_mode == AssignmentMode::Assign as i32,
        "handling_deadline": case.handling_deadline.as_ref().and_then(date_of).map(|d| d.to_string()),
        "content": case.content, "demands": case.demands,
        "registered_at": text::format_time(case.registered_at.as_ref()),
        "replied_at": text::format_time(case.replied_at.as_ref()),
        "reply_opinion": case.reply_opinion,
        "supervised": case.supervised,
        "overdue": is_overdue(case, now),
        "clocks": clocks,
        "etag": case.etag,
    })
}

/// A case in full, for `xf case get` (the server's copy) and `xf case show` (the local one).
pub fn print_case(case: &Case, now: DateTime<Utc>) {
    println!("{} {}", case.number, case.id);
    println!("状态 state:        {}", state(case));
    println!(
        "问题类别 category: {}   问题属地 problem at: {}",
        case.category, case.problem_org_code
    );
    println!(
        "承办单位 unit:     {} {}",
        case.responsible_org_code,
        mode(case)
    );
    println!(
        "登记 registered:   {}",
        text::format_time(case.registered_at.as_ref())
    );
    println!("诉求 content:      {}", case.content);
    if case.replied_at.is_some() {
        println!(
            "答复 replied:      {}",
            text::format_time(case.replied_at.as_ref())
        );
    }
    if !case.reply_opinion.is_empty() {
        println!("答复意见 opinion:  {}", case.reply_opinion);
    }
    if !case.completion_report.is_empty() {
        println!("办结报告 report:   {}", case.completion_report);
    }
    let all = clocks(case, now);
    if !all.is_empty() {
        println!("期限 clocks:");
        for c in &all {
            let mark = if c.overdue() { "  【超期】" } else { "" };
            println!("  {}{mark}", c.describe());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xinfang_proto::v1::{Date, Deadlines};

    fn deadline(y: i32, m: i32, d: i32, t: Timeliness) -> Option<Deadline> {
        Some(Deadline {
            due: Some(Date {
                year: y,
                month: m,
                day: d,
            }),
            timeliness: t as i32,
            done_at: None,
        })
    }

    #[test]
    fn clocks_count_days_on_the_bureau_calendar_and_mark_overdue() {
        // 2026-06-10 01:00 UTC is 09:00 on the 10th in the bureau's zone.
        let now = DateTime::from_timestamp(1_781_053_200, 0).unwrap();
        let case = Case {
            assignment_mode: AssignmentMode::Assign as i32,
            handling_deadline: Some(Date {
                year: 2026,
                month: 7,
                day: 1,
            }),
            deadlines: Some(Deadlines {
                accept: deadline(2026, 6, 8, Timeliness::Pending),
                conclude: deadline(2026, 6, 13, Timeliness::Pending),
                evaluation: deadline(2026, 6, 1, Timeliness::Overdue),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = clocks(&case, now);
        assert_eq!(c[0].days_left, Some(-2));
        assert!(c[0].overdue());
        assert_eq!(c[1].describe(), "办结 2026-06-13 剩3天");
        assert!(!c[2].overdue(), "the petitioner's window makes nobody late");
        assert!(is_overdue(&case, now));
        assert!(due_within(&case, 3, now));
        assert_eq!(mode(&case), "交办 (须办结报告, 期限 2026-07-01)");
    }
}
