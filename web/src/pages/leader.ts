// Leaders (领导): the county dashboard (rates by township and by month, targets, budget), the drill-through
// from any figure to its cases, fund requests waiting for approval, and the self-evaluation report.

import { ConnectError } from "@connectrpc/connect";
import { api, attempt, Code, explainError, requestId } from "../api.js";
import { BATCH_SIZE, getInChunks } from "../batch.js";
import type { Indicators, Rate } from "../gen/xinfang/v1/metrics_pb.js";
/** A calendar month as the requests take it (the init shape of xinfang.v1.YearMonth). */
type YearMonth = { year: number; month: number };
import { FundRequestState, type FundRequest } from "../gen/xinfang/v1/funds_pb.js";
import type { Case } from "../gen/xinfang/v1/cases_pb.js";
import { beijingToday, formatDateTime, formatPercent, formatPoints, formatRate, formatYuan, rateValue, trimPercent } from "../format.js";
import { busy, h, mount, notice, select, table } from "../ui.js";
import { categoryName, label, orgName, state, townships } from "../state.js";
import { caseLink, clockCell, excerpt } from "./common.js";
import { markdownToHtml } from "../markdown.js";
import { xlsx } from "../xlsx.js";

/** The rates on the dashboard: key in Indicators, name, and which side (office or unit) it measures. */
const RATES: [keyof Indicators, string][] = [
  ["timelyAcceptanceUnit", "及时受理率"],
  ["onTimeCompletion", "按期办结率"],
  ["satisfactionUnit", "群众满意率（承办单位）"],
  ["satisfactionOffice", "群众满意率（信访部门）"],
  ["participationUnit", "参评率"],
];

function year(): number {
  const y = Number(new URLSearchParams(location.hash.split("?")[1] ?? "").get("year"));
  return y || beijingToday().year;
}

function period(y: number, from = 1, to = 12) {
  return { start: { year: y, month: from }, end: { year: y, month: to } };
}

/** Opens the cases behind a figure: asks again with the ids (the overview is asked without them, since
 *  over a large county the id lists are the bulk of the answer). A county-wide year can carry more ids than
 *  the server sends in one message (4 MB by default: every rate's ids come together), so when the whole
 *  period fails it is asked month by month and the months' lists joined. */
async function drill(title: string, key: keyof Indicators, orgCode: string, p: ReturnType<typeof period>): Promise<void> {
  performance.clearMarks("drill-start");
  performance.mark("drill-start");
  const status = document.getElementById("drill-status");
  if (status) mount(status, notice("info", "正在查询明细…"));
  const ids = async (from: YearMonth, to: YearMonth) => {
    const res = await api.metrics.getIndicators({ period: { start: from, end: to }, orgCode, includeIds: true });
    const rate = res[key] as Rate | undefined;
    return { counted: rate?.numeratorCaseIds ?? [], other: rate?.otherCaseIds ?? [] };
  };
  let counted: string[] = [];
  let other: string[] = [];
  try {
    ({ counted, other } = await ids(p.start, p.end));
  } catch {
    try {
      const months: YearMonth[] = [];
      for (let m = p.start.month; m <= p.end.month; m++) months.push({ year: p.start.year, month: m });
      for (const part of await Promise.all(months.map((m) => ids(m, m)))) {
        counted.push(...part.counted);
        other.push(...part.other);
      }
    } catch (e) {
      // On the page, never alert(): a modal dialog would stop the workbench until someone closes it.
      if (status) mount(status, notice("error", explainError(e).message));
      return;
    }
  }
  state.drill = {
    title: `${title}：计入 ${counted.length} 件，未计入 ${other.length} 件`,
    // The cases that did not count first: for a rate, the ones a leader asks about.
    ids: [...other, ...counted],
    counted: new Set(counted),
  };
  location.hash = "#/drill";
}

function yearPicker(y: number, page: string): HTMLSelectElement {
  const now = beijingToday().year;
  const s = select("year", Array.from({ length: 8 }, (_, i): [string, string] => [String(now - i), `${now - i}年`]), String(y), { id: "year" });
  s.addEventListener("change", () => (location.hash = `#/${page}?year=${s.value}`));
  return s;
}

export async function dashboardPage(main: HTMLElement): Promise<void> {
  const y = year();
  const today = beijingToday();
  const lastMonth = y === today.year ? today.month : 12;
  const p = period(y, 1, lastMonth);
  mount(main, h("h2", null, "综合看板"), notice("info", "正在加载…"));
  const towns = townships();
  const months = Array.from({ length: lastMonth }, (_, i) => i + 1);
  const [county, byTown, byMonth, targets, budget] = await Promise.all([
    api.metrics.getIndicators({ period: p }),
    Promise.all(towns.map(([code]) => api.metrics.getIndicators({ period: p, orgCode: code }))),
    Promise.all(months.map((m) => api.metrics.getIndicators({ period: period(y, m, m) }))),
    attempt(() => api.metrics.getTargetCompletion({ year: y, throughMonth: lastMonth })),
    attempt(() => api.metrics.getBudgetExecution({ year: y })),
  ]);

  // The county's figures, each a link to its cases.
  const cards = h(
    "div",
    { class: "cards", id: "county-rates" },
    ...RATES.map(([key, name]) => {
      const rate = county[key] as Rate | undefined;
      const card = h(
        "button",
        { class: "figure", "data-rate": String(key), title: "查看明细" },
        h("span", { class: "name" }, name),
        h("span", { class: "value" }, formatPercent(rate)),
        h("span", { class: "basis" }, rate && Number(rate.denominator) ? `${rate.numerator}/${rate.denominator}` : "无数据"),
        rate?.previousYear?.denominator ? h("span", { class: "change" }, `同比 ${formatPoints(rate.previousYear.changePoints)}`) : null,
      );
      card.addEventListener("click", () => void drill(`全县 ${name}`, key, "", p));
      return card;
    }),
    h("div", { class: "figure static" }, h("span", { class: "name" }, "受理信访事项"), h("span", { class: "value" }, String(county.mattersAccepted)), h("span", { class: "basis" }, "件")),
  );

  // By township: the ranking table (by on-time completion, then timely acceptance) and bars.
  const ranked = towns
    .map(([code, name], i) => ({ code, name, ind: byTown[i]! }))
    .sort(
      (a, b) =>
        (rateValue(b.ind.onTimeCompletion) || -1) - (rateValue(a.ind.onTimeCompletion) || -1) ||
        (rateValue(b.ind.timelyAcceptanceUnit) || -1) - (rateValue(a.ind.timelyAcceptanceUnit) || -1),
    );
  const rankTable = table(
    ["名次", "乡镇", "受理件数", ...RATES.map(([, n]) => n)],
    ranked.map((t, i) => [
      String(i + 1),
      t.name,
      String(t.ind.mattersAccepted),
      ...RATES.map(([key, name]) => {
        const rate = t.ind[key] as Rate | undefined;
        // Nothing counted, nothing to list: plain text rather than a link to an empty page.
        if (!rate || !Number(rate.denominator)) return h("span", { class: "muted" }, formatRate(rate));
        const a = h("a", { href: "#", class: "drill", "data-org": t.code, "data-rate": String(key) }, formatRate(rate));
        a.addEventListener("click", (ev) => {
          ev.preventDefault();
          void drill(`${t.name} ${name}`, key, t.code, p);
        });
        return a;
      }),
    ]),
    { id: "township-ranking" },
  );
  const bars = h("div", { class: "chart", id: "township-bars" });
  const lines = h("div", { class: "chart", id: "month-lines" });

  // Targets and budget.
  const targetBox = targets.ok
    ? targets.value.results.length
      ? table(
          ["指标", "目标", "实际", "完成率", "得分"],
          targets.value.results.map((r) => [
            r.target?.name ?? r.target?.indicator ?? "",
            `${label("TargetDirection", r.target?.direction ?? 0)} ${r.target?.value ?? ""}`,
            r.actual,
            `${trimPercent(r.completionPercent)}%`,
            r.score,
          ]),
          { id: "targets" },
        )
      : h("p", { class: "muted" }, "本年度未设定目标")
    : notice("error", targets.error.message);
  const budgetBox = budget.ok
    ? h(
        "div",
        { id: "budget" },
        h("p", null, `预算 ${formatYuan(budget.value.appropriated)}，已支出 ${formatYuan(budget.value.disbursed)}，执行率 ${trimPercent(budget.value.executionPercent)}%`),
        table(
          ["类别", "预算", "支出", "执行率"],
          budget.value.categories.map((c) => [c.name || c.category, formatYuan(c.appropriated), formatYuan(c.disbursed), `${trimPercent(c.executionPercent)}%`]),
        ),
      )
    : notice("error", budget.error.message);

  mount(
    main,
    h("div", { class: "title-row" }, h("h2", null, `综合看板 ${y}年1–${lastMonth}月`), yearPicker(y, "dashboard")),
    h("div", { id: "drill-status" }),
    cards,
    h("section", { class: "card" }, h("h3", null, "各乡镇排名"), rankTable, bars),
    h("section", { class: "card" }, h("h3", null, "按月走势（虚线为上年同期）"), lines),
    h("div", { class: "columns" }, h("section", { class: "card" }, h("h3", null, "目标完成情况"), targetBox), h("section", { class: "card" }, h("h3", null, "预算执行"), budgetBox)),
  );

  // ECharts is most of the bundle's weight: loaded when a dashboard is first drawn, not before sign-in.
  const { chart } = await import("../charts.js");
  const shown = RATES.slice(0, 3);
  chart(
    bars,
    {
      tooltip: { trigger: "axis" },
      legend: {},
      grid: { left: 40, right: 10, bottom: 60 },
      xAxis: { type: "category", data: ranked.map((t) => t.name), axisLabel: { rotate: 30 } },
      yAxis: { type: "value", max: 100, name: "%" },
      series: shown.map(([key, name]) => ({ type: "bar" as const, name, data: ranked.map((t) => rateValue(t.ind[key] as Rate)) })),
    },
    (series, index) => {
      const [key, name] = shown[series]!;
      const t = ranked[index]!;
      void drill(`${t.name} ${name}`, key, t.code, p);
    },
  );
  chart(
    lines,
    {
      tooltip: { trigger: "axis" },
      legend: {},
      grid: { left: 40, right: 10, bottom: 30 },
      xAxis: { type: "category", data: months.map((m) => `${m}月`) },
      yAxis: { type: "value", max: 100, name: "%" },
      series: shown.flatMap(([key, name]) => [
        { type: "line" as const, name, data: byMonth.map((i) => rateValue(i[key] as Rate)), connectNulls: false },
        {
          type: "line" as const,
          name: `${name}（上年）`,
          lineStyle: { type: "dashed" as const },
          data: byMonth.map((i) => rateValue((i[key] as Rate | undefined)?.previousYear)),
        },
      ]),
    },
    (series, index) => {
      if (series % 2) return; // the previous year's points have no drill-through of this year
      const [key, name] = shown[series / 2]!;
      void drill(`全县 ${index + 1}月 ${name}`, key, "", period(y, index + 1, index + 1));
    },
  );
  // From the route's start to the drawn charts: the dashboard's time in docs/performance.md.
  performance.measure("dashboard-rendered", "route-start");
}

/** The cases behind a figure, with whether each counted in its numerator: a thousand at a time, each
 *  thousand one BatchGetCases, and the next on request (a county's year is tens of thousands of cases, more
 *  than a page can show or anyone reads through). */
export async function drillPage(main: HTMLElement): Promise<void> {
  const d = state.drill;
  if (!d) {
    location.replace("#/dashboard");
    return;
  }
  mount(main, h("h2", null, d.title), notice("info", `正在加载 ${d.ids.length} 件…`));
  const rows = (cases: Case[]) =>
    cases.map((c) => [
      caseLink(c),
      d.counted.has(c.id) ? h("span", { class: "tag ok" }, "是") : h("span", { class: "tag overdue" }, "否"),
      formatDateTime(c.registeredAt),
      categoryName(c.category),
      orgName(c.responsibleOrgCode),
      excerpt(c.content, 30),
      label("CaseState", c.state),
      clockCell(c.deadlines?.conclude),
    ]);
  const load = (from: number) =>
    attempt(() =>
      getInChunks(
        d.ids.slice(from, from + BATCH_SIZE),
        async (ids) => (await api.cases.batchGetCases({ ids })).cases,
        (e) => ConnectError.from(e).code === Code.OutOfRange,
      ),
    );
  const first = await load(0);
  // All or nothing (README, Decisions): a case the list named that the user may no longer read (reassigned
  // meanwhile) fails its thousand, and the page says so rather than showing part of it as the whole.
  if (!first.ok) return mount(main, h("h2", null, d.title), notice("error", first.error.message));
  const body = table(["编号", "计入", "登记时间", "类别", "承办单位", "内容", "状态", "办结时限"], rows(first.value), { id: "drill" });
  const shown = h("span", null);
  const status = h("span", null);
  const more = h("button", { id: "drill-more" }, `显示后 ${BATCH_SIZE} 件`);
  let count = first.value.length;
  const update = () => {
    shown.textContent = `共 ${d.ids.length} 件${d.ids.length > count ? `，已显示前 ${count} 件` : ""}。`;
    more.hidden = count >= d.ids.length;
  };
  more.addEventListener("click", () =>
    void busy(more, async () => {
      const next = await load(count);
      if (!next.ok) return mount(status, notice("error", next.error.message));
      const tbody = body.querySelector("tbody") ?? body;
      const extra = table([], rows(next.value)).querySelectorAll("tbody > tr");
      tbody.append(...Array.from(extra));
      count += next.value.length;
      update();
    }),
  );
  update();
  mount(main, h("h2", null, d.title), h("p", { class: "muted" }, shown, h("a", { href: "#/dashboard" }, "返回看板")), body, h("p", null, more, status));
  try {
    performance.measure("drill-rendered", "drill-start");
  } catch {
    // Opened without a click on the dashboard (a reload): nothing to measure from.
  }
}

export async function fundsPage(main: HTMLElement): Promise<void> {
  mount(main, h("h2", null, "经费审批"), notice("info", "正在加载…"));
  const [waiting, recent] = await Promise.all([
    api.funds.listFundRequests({ state: FundRequestState.BUREAU_APPROVED, pageSize: 200 }),
    api.funds.listFundRequests({ pageSize: 50 }),
  ]);
  const row = (f: FundRequest, withActions: boolean) => {
    const cell = h("span");
    if (withActions) {
      const comment = h("input", { placeholder: "批示", "aria-label": "批示" });
      const approve = h("button", { class: "primary", "data-approve": f.id }, "批准");
      const reject = h("button", { "data-reject": f.id }, "不批准");
      approve.addEventListener("click", () =>
        void busy(approve, async () => {
          const res = await attempt(() => api.funds.approveFundRequest({ requestId: requestId(), fundRequestId: f.id, etag: f.etag, comment: comment.value }));
          mount(cell, res.ok ? notice("ok", "已批准") : notice("error", res.error.message));
        }),
      );
      reject.addEventListener("click", () =>
        void busy(reject, async () => {
          const res = await attempt(() => api.funds.rejectFundRequest({ requestId: requestId(), fundRequestId: f.id, etag: f.etag, comment: comment.value }));
          mount(cell, res.ok ? notice("ok", "已不批准") : notice("error", res.error.message));
        }),
      );
      mount(cell, comment, approve, reject);
    }
    return [
      f.number,
      orgName(f.unitCode),
      label("FundPurpose", f.purpose),
      f.description,
      formatYuan(f.amount),
      f.approvedAmount ? formatYuan(f.approvedAmount) : "—",
      label("FundRequestState", f.state),
      ...(withActions ? [cell] : []),
    ];
  };
  mount(
    main,
    h("h2", null, `待审批经费（${waiting.fundRequests.length}件）`),
    waiting.fundRequests.length
      ? table(["编号", "申请单位", "用途", "说明", "申请金额", "局务会核定", "状态", "审批"], waiting.fundRequests.map((f) => row(f, true)), { id: "funds-waiting" })
      : notice("info", "没有等待审批的经费申请"),
    h("h3", null, "最近的申请"),
    table(["编号", "申请单位", "用途", "说明", "申请金额", "核定金额", "状态"], recent.fundRequests.map((f) => row(f, false)), { id: "funds-recent" }),
  );
}

function download(name: string, type: string, data: BlobPart): void {
  const a = h("a", { href: URL.createObjectURL(new Blob([data], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

export async function reportPage(main: HTMLElement): Promise<void> {
  // The report is of a whole year: the last complete one unless the URL names another.
  const y = Number(new URLSearchParams(location.hash.split("?")[1] ?? "").get("year")) || beijingToday().year - 1;
  mount(main, h("h2", null, "绩效自评报告"), notice("info", "正在生成…"));
  const res = await attempt(() => api.metrics.generateSelfEvaluationReport({ year: y }));
  if (!res.ok) return mount(main, h("h2", null, "绩效自评报告"), notice("error", res.error.message));
  const r = res.value;
  const printBtn = h("button", { id: "report-print" }, "打印");
  printBtn.addEventListener("click", () => window.print());
  const md = h("button", { id: "report-md" }, "下载 Markdown");
  md.addEventListener("click", () => download(`信访工作绩效自评报告-${y}.md`, "text/markdown;charset=utf-8", r.markdown));
  const xl = h("button", { id: "report-xlsx" }, "下载 Excel");
  xl.addEventListener("click", () =>
    download(
      `信访工作绩效自评报告-${y}.xlsx`,
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      xlsx([
        { name: "评分", rows: [["项目", "权重", "得分"], ...r.scores.map((s) => [s.part, s.weight, s.score]), ["合计", "", r.totalScore], ["等级", "", r.grade]] },
        ...markdownTables(r.markdown),
      ]),
    ),
  );
  const body = h("article", { class: "report card", id: "report" });
  body.innerHTML = markdownToHtml(r.markdown);
  const picker = select("year", Array.from({ length: 8 }, (_, i): [string, string] => [String(beijingToday().year - i), `${beijingToday().year - i}年`]), String(y), { id: "year" });
  picker.addEventListener("change", () => (location.hash = `#/report?year=${picker.value}`));
  mount(
    main,
    h("div", { class: "title-row no-print" }, h("h2", null, `${y}年度绩效自评报告`), picker, printBtn, md, xl),
    h("p", { class: "no-print" }, `总分 ${r.totalScore}，等级 ${r.grade}`),
    r.inconsistencies.length ? h("div", { class: "no-print" }, notice("info", `与公布数字不一致 ${r.inconsistencies.length} 处，见报告`)) : null,
    body,
  );
}

/** The tables of a Markdown report, one sheet each, named by the heading above them. */
function markdownTables(md: string): { name: string; rows: string[][] }[] {
  const out: { name: string; rows: string[][] }[] = [];
  let heading = "表";
  let current: string[][] | null = null;
  for (const line of md.split("\n")) {
    const t = line.trim();
    if (t.startsWith("#")) heading = t.replace(/^#+\s*/, "");
    if (t.startsWith("|")) {
      if (/^\|[\s:|-]+\|$/.test(t)) continue;
      const cells = t.slice(1, t.endsWith("|") ? -1 : undefined).split("|").map((c) => c.trim().replace(/\*\*/g, ""));
      if (!current) out.push({ name: heading, rows: (current = []) });
      current.push(cells);
    } else {
      current = null;
    }
  }
  return out;
}
