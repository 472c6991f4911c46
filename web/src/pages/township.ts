// The responsible unit (承办单位): its inbox with every clock and days left, and 受理 in one click; the other
// steps (不予受理, 异议, 延期, 答复, 督办回复) are on the case page.

import { api, attempt, requestId } from "../api.js";
import { CaseState, type Case } from "../gen/xinfang/v1/cases_pb.js";
import { busy, h, mount, notice, table } from "../ui.js";
import { label, orgName, state } from "../state.js";
import { caseLink, clockCell, excerpt, listAll } from "./common.js";
import { categoryName } from "../state.js";
import { beijingToday, formatPercent } from "../format.js";
import type { Rate } from "../gen/xinfang/v1/metrics_pb.js";

/** The unit's own figures this year: what the county ranks it by. */
async function ownFigures(unit: string): Promise<HTMLElement> {
  const today = beijingToday();
  const res = await attempt(() =>
    api.metrics.getIndicators({
      orgCode: unit,
      period: { start: { year: today.year, month: 1 }, end: { year: today.year, month: today.month } },
    }),
  );
  if (!res.ok) return notice("error", res.error.message);
  const card = (name: string, rate: Rate | undefined) =>
    h(
      "div",
      { class: "figure static" },
      h("span", { class: "name" }, name),
      h("span", { class: "value" }, formatPercent(rate)),
      h("span", { class: "basis" }, rate && Number(rate.denominator) ? `${rate.numerator}/${rate.denominator}` : "无数据"),
    );
  const i = res.value;
  return h(
    "div",
    { class: "cards", id: "own-figures" },
    card(`${today.year}年 及时受理率`, i.timelyAcceptanceUnit),
    card("按期办结率", i.onTimeCompletion),
    card("群众满意率", i.satisfactionUnit),
    card("参评率", i.participationUnit),
  );
}

export async function inboxPage(main: HTMLElement): Promise<void> {
  mount(main, h("h2", null, "待办件"), notice("info", "正在加载…"));
  // The server's read rule limits a township clerk to its own unit's cases; the filter says so too.
  const unit = state.caller?.orgUnit?.code ?? "";
  const [figures, assigned, accepted, supervised] = await Promise.all([
    ownFigures(unit),
    listAll({ state: CaseState.ASSIGNED, responsibleOrgCode: unit }),
    listAll({ state: CaseState.ACCEPTED, responsibleOrgCode: unit }),
    listAll({ supervised: true, responsibleOrgCode: unit }),
  ]);
  const byId = new Map<string, Case>();
  for (const c of [...assigned, ...accepted, ...supervised]) byId.set(c.id, c);
  const cases = [...byId.values()];
  const rows = cases.map((c) => {
    const cell = h("span");
    if (c.state === CaseState.ASSIGNED) {
      const accept = h("button", { class: "primary", "data-accept": c.id }, "受理");
      accept.addEventListener("click", () =>
        void busy(accept, async () => {
          const res = await attempt(() => api.cases.acceptCase({ requestId: requestId(), caseId: c.id, etag: c.etag }));
          if (!res.ok) return mount(cell, notice("error", res.error.message));
          mount(cell, notice("ok", "已受理"), h("a", { href: `#/case/${c.id}` }, "去办理"));
        }),
      );
      mount(cell, accept, " ", h("a", { href: `#/case/${c.id}` }, "详情"));
    } else {
      mount(cell, h("a", { href: `#/case/${c.id}`, class: "button" }, "办理"));
    }
    return [
      caseLink(c),
      categoryName(c.category),
      h("span", { title: c.content, class: "excerpt" }, excerpt(c.content, 30)),
      label("AssignmentMode", c.assignmentMode),
      label("CaseState", c.state),
      clockCell(c.deadlines?.accept),
      clockCell(c.deadlines?.conclude),
      clockCell(c.deadlines?.supervisionReply),
      cell,
    ];
  });
  mount(
    main,
    h("h2", null, `${orgName(unit)} 待办件（${cases.length}件）`),
    figures,
    cases.length
      ? table(["编号", "类别", "内容", "方式", "状态", "受理时限", "办结时限", "督办回复时限", "操作"], rows, { id: "inbox" })
      : notice("info", "没有待办的案件"),
  );
}
