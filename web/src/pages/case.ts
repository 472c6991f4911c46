// A case: what it is, who has it, every clock with days left, the steps the caller's role may take now, the
// petitioners as the server masks them for this caller, and the timeline of events.

import { api, attempt, requestId } from "../api.js";
import type { Explained } from "../errors.js";
import { AssignmentMode, CaseState, ObjectionState, type Case } from "../gen/xinfang/v1/cases_pb.js";
import { Level } from "../gen/xinfang/v1/common_pb.js";
import type { Petitioner } from "../gen/xinfang/v1/visits_pb.js";
import { beijingToday, formatDate, formatDateTime, formatYuan, parseDate } from "../format.js";
import { busy, field, h, mount, notice, select, table } from "../ui.js";
import { categoryName, label, may, options, orgName, responsibleUnits } from "../state.js";
import { clockCell } from "./common.js";

/** Names of CaseEvent.action in Chinese. */
const ACTIONS: Record<string, string> = {
  registered: "登记",
  repeat_linked: "重复信访并入",
  initial_linked: "初次信访并入",
  reclassified: "重新认定初重",
  registration_detached: "登记拆分",
  assigned: "转交办",
  reassigned: "重新转交办",
  accepted: "受理",
  declined: "不予受理",
  objected: "提出异议",
  objection_agreed: "异议成立",
  objection_refused: "异议不成立",
  extended: "延期",
  replied: "答复",
  completion_confirmed: "审核认定办结",
  evaluated: "满意度评价",
  review_requested: "申请复查复核",
  hearing_recorded: "听证",
  review_decided: "复查复核意见",
  supervised: "督办",
  supervision_replied: "督办回复",
  supervision_closed: "督办办结",
  backlog_listed: "列入积案",
  backlog_updated: "积案更新",
  backlog_resolving: "积案化解中",
  backlog_resolved: "积案已化解",
  backlog_struck_off: "积案销号",
};

type Step = (c: Case) => Promise<{ ok: true; value: Case } | { ok: false; error: Explained }>;

export async function casePage(main: HTMLElement, id: string): Promise<void> {
  mount(main, h("h2", null, "案件"), notice("info", "正在加载…"));
  const res = await attempt(() => api.cases.getCase({ id }));
  if (!res.ok) return mount(main, h("h2", null, "案件"), notice("error", res.error.message));
  render(main, res.value);
}

function render(main: HTMLElement, c: Case): void {
  const status = h("div", { id: "case-status" });
  /** Runs a step, then shows the case as it is now. */
  const run = (button: HTMLButtonElement, step: Step, done: string) =>
    void busy(button, async () => {
      const res = await step(c);
      if (!res.ok) {
        // Someone else changed the case (its etag moved on): show it as it is now, with the reason.
        if (res.error.kind === "stale") {
          const now = await attempt(() => api.cases.getCase({ id: c.id }));
          if (now.ok) {
            render(main, now.value);
            document.getElementById("case-status")?.replaceChildren(notice("error", res.error.message));
            return;
          }
        }
        return mount(status, notice("error", res.error.message));
      }
      render(main, res.value);
      document.getElementById("case-status")?.replaceChildren(notice("ok", done));
    });

  const d = c.deadlines;
  const facts: [string, string | HTMLElement][] = [
    ["状态", label("CaseState", c.state)],
    ["登记时间", formatDateTime(c.registeredAt)],
    ["问题类别", categoryName(c.category)],
    ["诉求类型", label("ClaimType", c.claimType)],
    ["问题属地", orgName(c.problemOrgCode)],
    ["承办单位", orgName(c.responsibleOrgCode)],
    ["分办方式", label("AssignmentMode", c.assignmentMode)],
    ["交办期限", formatDate(c.handlingDeadline)],
    ["转交办时间", formatDateTime(c.assignedAt)],
    ["受理时间", formatDateTime(c.acceptedAt)],
    ["答复时间", formatDateTime(c.repliedAt)],
    ...(c.assignmentMode === AssignmentMode.ASSIGN ? ([["认定办结", formatDateTime(c.completionConfirmedAt)]] as [string, string][]) : []),
    ["异议", label("ObjectionState", c.objectionState)],
    ["督办", c.supervised ? `${label("Level", c.supervisionLevel)} ${label("SupervisionMethod", c.supervisionMethod)}` : "否"],
    ["延期", c.extensionDays ? `${c.extensionDays}天（${c.extensionApprovedBy}批准，${formatDate(c.extensionNotifiedOn)}告知）` : "否"],
  ];
  const clocks = (
    [
      ["分办", d?.assign],
      ["受理", d?.accept],
      ["办结", d?.conclude],
      ["督办回复", d?.supervisionReply],
      ["申请复查复核", d?.reviewRequest],
      ["复查复核意见", d?.reviewDecision],
      ["满意度评价", d?.evaluation],
    ] as const
  ).filter(([, x]) => x?.due?.year);

  main.replaceChildren(
    h("h2", null, `案件 ${c.number}`),
    status,
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { class: "card" },
        h("h3", null, "基本情况"),
        h("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
        h("h3", null, "诉求内容"),
        h("p", { class: "content", id: "case-content" }, c.content),
        c.demands ? h("p", null, h("b", null, "主要诉求："), c.demands) : null,
        c.replyOpinion ? h("div", null, h("h3", null, "答复意见"), h("p", { id: "case-reply" }, c.replyOpinion)) : null,
        c.completionReport ? h("div", null, h("h3", null, "办结报告"), h("p", null, c.completionReport)) : null,
        c.supervisionReply ? h("div", null, h("h3", null, "督办回复"), h("p", null, c.supervisionReply)) : null,
      ),
      h(
        "section",
        { class: "card" },
        h("h3", null, "时限"),
        clocks.length
          ? table(
              ["环节", "期限", "情况"],
              clocks.map(([name, x]) => [name, formatDate(x!.due), clockCell(x)]),
              { id: "case-clocks" },
            )
          : h("p", { class: "muted" }, "暂无时限"),
        h("h3", null, "办理"),
        actions(c, run),
      ),
    ),
    h("section", { class: "card" }, h("h3", null, "信访人"), petitionersBox(c)),
    h("section", { class: "card" }, h("h3", null, "办理过程"), timelineBox(c)),
    h("section", { class: "card" }, h("h3", null, "劝返与经费"), linkedBox(c)),
  );
}

/** The steps open to this caller on this case now; the server decides again on every call. */
function actions(c: Case, run: (b: HTMLButtonElement, s: Step, done: string) => void): HTMLElement {
  const box = h("div", { class: "actions", id: "case-actions" });
  const base = () => ({ requestId: requestId(), caseId: c.id, etag: c.etag });
  const button = (text: string, id: string, primary = false) =>
    h("button", { type: "button", id, class: primary ? "primary" : undefined }, text);

  // 承办单位
  if (c.state === CaseState.ASSIGNED && may("CaseService/AcceptCase")) {
    const accept = button("受理", "act-accept", true);
    accept.onclick = () => run(accept, () => attempt(() => api.cases.acceptCase(base())), "已受理");
    box.append(h("div", { class: "inline" }, accept));
  }
  if (c.state === CaseState.ASSIGNED && may("CaseService/DeclineCase")) {
    const ground = select("ground", options("DeclineGround"), "", { "aria-label": "不予受理理由" });
    const reason = h("input", { name: "reason", placeholder: "说明" });
    const go = button("不予受理", "act-decline");
    go.onclick = () =>
      run(go, () => attempt(() => api.cases.declineCase({ ...base(), ground: Number(ground.value), reason: reason.value })), "已不予受理");
    box.append(h("div", { class: "inline" }, ground, reason, go));
  }
  if (c.state === CaseState.ASSIGNED && c.objectionState !== ObjectionState.PENDING && may("CaseService/ObjectToAssignment")) {
    const reason = h("input", { name: "objection", placeholder: "异议理由（不属本单位职责）" });
    const go = button("提出异议", "act-object");
    go.onclick = () => run(go, () => attempt(() => api.cases.objectToAssignment({ ...base(), reason: reason.value })), "已提出异议");
    box.append(h("div", { class: "inline" }, reason, go));
  }
  if (c.state === CaseState.ACCEPTED && c.extensionDays === 0 && c.deadlines?.conclude && may("CaseService/ExtendCase")) {
    const days = h("input", { type: "number", id: "extend-days", min: 1, max: 30, value: 30, "aria-label": "延期天数" });
    const by = h("input", { id: "extend-by", placeholder: "批准人（单位负责人）" });
    const reason = h("input", { id: "extend-reason", placeholder: "延期理由" });
    const notified = h("input", { type: "date", id: "extend-notified", value: formatDate(beijingToday()), "aria-label": "告知日期" });
    const go = button("延期", "act-extend");
    go.onclick = () =>
      run(
        go,
        () =>
          attempt(() =>
            api.cases.extendCase({
              ...base(),
              days: Number(days.value),
              approvedBy: by.value,
              reason: reason.value,
              notifiedOn: parseDate(notified.value),
            }),
          ),
        "已延期",
      );
    box.append(h("details", { id: "extend" }, h("summary", null, "延期（附延期告知）"), field("天数", days), by, reason, field("告知信访人日期", notified), go));
  }
  if (c.state === CaseState.ACCEPTED && may("CaseService/ReplyCase")) {
    const opinion = h("textarea", { id: "reply-opinion", rows: 4, placeholder: "答复意见（意见书）" });
    const report = h("textarea", { id: "reply-report", rows: 3, placeholder: "办结报告（交办件必填）" });
    const publish = h("input", { type: "checkbox", id: "reply-publish", checked: true });
    const go = button("答复", "act-reply", true);
    go.onclick = () =>
      run(
        go,
        () =>
          attempt(() =>
            api.cases.replyCase({
              ...base(),
              opinion: opinion.value,
              completionReport: c.assignmentMode === AssignmentMode.ASSIGN ? report.value : "",
              publishForEvaluation: publish.checked,
            }),
          ),
        "已答复",
      );
    box.append(
      h(
        "div",
        { class: "stack" },
        field("答复意见", opinion),
        c.assignmentMode === AssignmentMode.ASSIGN ? field("办结报告", report) : null,
        h("label", null, publish, " 公开，供信访人评价"),
        go,
      ),
    );
  }
  if (c.supervised && !c.supervisionRepliedAt && may("CaseService/ReplySupervision")) {
    const reply = h("textarea", { rows: 3, id: "supervision-reply", placeholder: "督办回复（整改、办理情况）" });
    const go = button("督办回复", "act-supervision-reply");
    go.onclick = () => run(go, () => attempt(() => api.cases.replySupervision({ ...base(), reply: reply.value })), "已回复督办");
    box.append(h("div", { class: "stack" }, reply, go));
  }

  // 县信访局
  const open = [CaseState.REGISTERED, CaseState.RETURNED, CaseState.ASSIGNED, CaseState.ACCEPTED].includes(c.state);
  if ((c.state === CaseState.REGISTERED || c.state === CaseState.RETURNED) && may("CaseService/AssignCase")) {
    const unit = select("unit", responsibleUnits(), c.problemOrgCode, { id: "assign-unit" });
    const mode = select("mode", [[String(AssignmentMode.FORWARD), "转送"], [String(AssignmentMode.ASSIGN), "交办"]], String(AssignmentMode.FORWARD), {
      id: "assign-mode",
    });
    const deadline = h("input", { type: "date", id: "assign-deadline", "aria-label": "交办期限" });
    const go = button("分办", "act-assign", true);
    go.onclick = () =>
      run(
        go,
        () =>
          attempt(() =>
            api.cases.assignCase({
              ...base(),
              mode: Number(mode.value),
              responsibleOrgCode: unit.value,
              handlingDeadline: mode.value === String(AssignmentMode.ASSIGN) ? parseDate(deadline.value) : undefined,
            }),
          ),
        "已分办",
      );
    box.append(h("div", { class: "inline" }, unit, mode, deadline, go));
  }
  if (c.objectionState === ObjectionState.PENDING && may("CaseService/DecideObjection")) {
    const reason = h("input", { placeholder: "决定理由" });
    const agree = button("异议成立", "act-objection-agree");
    const refuse = button("异议不成立", "act-objection-refuse");
    agree.onclick = () => run(agree, () => attempt(() => api.cases.decideObjection({ ...base(), agree: true, reason: reason.value })), "异议成立，案件退回");
    refuse.onclick = () => run(refuse, () => attempt(() => api.cases.decideObjection({ ...base(), agree: false, reason: reason.value })), "异议不成立");
    box.append(h("div", { class: "inline" }, reason, agree, refuse));
  }
  if (open && !c.supervised && c.responsibleOrgCode && may("CaseService/SuperviseCase")) {
    const level = select("level", options("Level").filter(([v]) => Number(v) >= Level.COUNTY), String(Level.COUNTY));
    const method = select("method", options("SupervisionMethod"), "1");
    const reason = h("input", { placeholder: "督办事由", id: "supervise-reason" });
    const go = button("督办", "act-supervise");
    go.onclick = () =>
      run(go, () => attempt(() => api.cases.superviseCase({ ...base(), level: Number(level.value), method: Number(method.value), reason: reason.value })), "已督办");
    box.append(h("div", { class: "inline" }, level, method, reason, go));
  }
  if (c.supervised && c.supervisionRepliedAt && !c.supervisionClosedAt && may("CaseService/CloseSupervision")) {
    const go = button("督办办结", "act-supervision-close");
    go.onclick = () => run(go, () => attempt(() => api.cases.closeSupervision({ ...base(), note: "" })), "督办已办结");
    box.append(go);
  }
  if (c.completionReport && !c.completionConfirmedAt && may("CaseService/ConfirmCompletion")) {
    const go = button("审核认定办结", "act-confirm");
    go.onclick = () => run(go, () => attempt(() => api.cases.confirmCompletion({ ...base(), note: "" })), "已认定办结");
    box.append(go);
  }
  if (!box.childElementCount) box.append(h("p", { class: "muted" }, "当前无可办理的环节"));
  return box;
}

/** The petitioners of the case's registration (Case carries none): its visit or letter, found by the
 *  registration number among that month's registrations of the problem's unit. */
function petitionersBox(c: Case): HTMLElement {
  const box = h("div", { id: "case-petitioners" }, h("p", { class: "muted" }, "正在查找登记…"));
  void (async () => {
    const at = c.registeredAt ? new Date(Number(c.registeredAt.seconds) * 1000 + 8 * 3600_000) : new Date();
    const month = { year: at.getUTCFullYear(), month: at.getUTCMonth() + 1 };
    const period = { start: month, end: month };
    let people: Petitioner[] | null = null;
    const visits = await attempt(() => api.visits.listVisits({ period, problemOrgCode: c.problemOrgCode, pageSize: 500 }));
    if (visits.ok) people = visits.value.visits.find((v) => v.number === c.number)?.petitioners ?? null;
    if (!people) {
      const letters = await attempt(() => api.visits.listLetters({ period, problemOrgCode: c.problemOrgCode, pageSize: 500 }));
      if (letters.ok) people = letters.value.letters.find((l) => l.number === c.number)?.petitioners ?? null;
      if (!letters.ok && !visits.ok) return mount(box, notice("error", letters.error.message));
    }
    if (!people) return mount(box, h("p", { class: "muted" }, "无（匿名或无权查看登记）"));
    mount(
      box,
      table(
        ["姓名", "身份证号", "电话", "住址", ""],
        people.map((p) => [p.name, p.idNumber, p.phone, p.address, p.masked ? h("small", { class: "muted" }, "已脱敏") : ""]),
      ),
    );
  })();
  return box;
}

function timelineBox(c: Case): HTMLElement {
  const box = h("div", { id: "case-timeline" }, h("p", { class: "muted" }, "正在加载…"));
  void (async () => {
    const res = await attempt(() => api.cases.listCaseEvents({ caseId: c.id, pageSize: 500 }));
    if (!res.ok) return mount(box, notice("error", res.error.message));
    mount(
      box,
      h(
        "ol",
        { class: "timeline" },
        ...res.value.events.map((e) =>
          h(
            "li",
            null,
            h("time", null, formatDateTime(e.occurredAt)),
            " ",
            h("b", null, ACTIONS[e.action] ?? e.action),
            e.reason ? ` — ${e.reason}` : "",
          ),
        ),
      ),
    );
  })();
  return box;
}

/** The return trips (劝返) that name the case and the fund requests about it. Trips have no case filter: the
 *  trips of the case's unit are read and those naming the case kept. What the caller may not read stays out. */
function linkedBox(c: Case): HTMLElement {
  const box = h("div", { id: "case-linked" }, h("p", { class: "muted" }, "正在加载…"));
  void (async () => {
    const unit = c.responsibleOrgCode || c.problemOrgCode;
    const [trips, funds] = await Promise.all([
      may("VisitService/ListReturnTrips")
        ? attempt(() => api.visits.listReturnTrips({ responsibleOrgCode: unit, pageSize: 500 }))
        : Promise.resolve(null),
      may("FundService/ListFundRequests") ? attempt(() => api.funds.listFundRequests({ caseId: c.id, pageSize: 100 })) : Promise.resolve(null),
    ]);
    const parts: HTMLElement[] = [];
    if (trips?.ok) {
      const mine = trips.value.trips.filter((t) => t.caseIds.includes(c.id));
      parts.push(
        mine.length
          ? table(
              ["劝返编号", "地点", "出发", "结果"],
              mine.map((t) => [t.number, t.destinationPlace, formatDateTime(t.departedAt), label("TripOutcome", t.outcome)]),
            )
          : h("p", { class: "muted" }, "无劝返记录"),
      );
    }
    if (funds?.ok) {
      const list = funds.value.fundRequests;
      parts.push(
        list.length
          ? table(
              ["经费编号", "用途", "金额", "状态"],
              list.map((f) => [f.number, label("FundPurpose", f.purpose), formatYuan(f.amount), label("FundRequestState", f.state)]),
            )
          : h("p", { class: "muted" }, "无经费申请"),
      );
    }
    for (const r of [trips, funds]) if (r && !r.ok) parts.push(notice("error", r.error.message));
    mount(box, parts.length ? parts : h("p", { class: "muted" }, "—"));
  })();
  return box;
}
