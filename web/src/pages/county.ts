// The county office (县信访局): 登记 a visit or letter, the queue waiting for 分办, the overdue and due-soon
// board, and the list of all cases.

import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { api, attempt, requestId } from "../api.js";
import { AssignmentMode, CaseState, type Case } from "../gen/xinfang/v1/cases_pb.js";
import { ClaimType, Level } from "../gen/xinfang/v1/common_pb.js";
import { LetterChannel, PetitionerSchema, MatterInputSchema } from "../gen/xinfang/v1/visits_pb.js";
import { addDays, beijingToday, clockView, formatDate, parseDate, SOON_DAYS } from "../format.js";
import { busy, field, h, mount, notice, select, table } from "../ui.js";
import { label, options, orgName, responsibleUnits, state } from "../state.js";
import { caseLink, clockCell, clocks, listAll, summaryCells } from "./common.js";

/** "2026-12-06T21:30" for <input type=datetime-local>, in Beijing time. */
function nowLocalInput(): string {
  const d = new Date(Date.now() + 8 * 3600_000);
  return d.toISOString().slice(0, 16);
}

/** An <input type=datetime-local> value read as Beijing time. */
function beijingInputMs(value: string): number {
  return Date.parse(`${value}:00+08:00`);
}

export function registerPage(main: HTMLElement): void {
  const d = state.dictionaries!;
  const kind = select("kind", [["visit", "来访"], ["letter", "来信（含网上、来电）"]], "visit", { id: "reg-kind" });
  const when = h("input", { type: "datetime-local", name: "when", id: "reg-when", value: nowLocalInput(), required: true });
  const level = select("level", options("Level").filter(([v]) => Number(v) >= Level.COUNTY), String(Level.COUNTY));
  const place = h("input", { name: "place", value: "县信访局接待大厅" });
  const headcount = h("input", { name: "headcount", type: "number", min: 1, value: 1 });
  const channel = select("channel", options("LetterChannel"), String(LetterChannel.LETTER));
  const name = h("input", { name: "petitioner", id: "reg-name", required: true });
  const idNumber = h("input", { name: "id_number", id: "reg-id", maxlength: 18 });
  const phone = h("input", { name: "phone", id: "reg-phone" });
  const address = h("input", { name: "address" });
  const content = h("textarea", { name: "content", id: "reg-content", rows: 4, required: true });
  const demands = h("textarea", { name: "demands", id: "reg-demands", rows: 2, required: true });
  const category = select("category", d.categories.map((c) => [c.code, c.name]), d.categories[0]?.code ?? "", { id: "reg-category" });
  const problemOrg = select("problem_org", responsibleUnits(), responsibleUnits()[0]?.[0] ?? "", { id: "reg-org" });
  const claim = select("claim_type", options("ClaimType"), String(ClaimType.PETITION));
  const status = h("div", { id: "reg-status" });
  const submit = h("button", { type: "submit", class: "primary", id: "reg-submit" }, "登记");

  const visitOnly = h("div", { class: "grid" }, field("来访层级", level), field("接待地点", place), field("人数", headcount));
  const letterOnly = h("div", { class: "grid", hidden: true }, field("渠道", channel));
  kind.addEventListener("change", () => {
    visitOnly.hidden = kind.value !== "visit";
    letterOnly.hidden = kind.value === "visit";
  });

  const form = h(
    "form",
    { class: "card", id: "register-form" },
    h("div", { class: "grid" }, field("类型", kind), field("时间（北京时间）", when)),
    visitOnly,
    letterOnly,
    h("h3", null, "信访人"),
    h("div", { class: "grid" }, field("姓名", name), field("身份证号", idNumber), field("电话", phone), field("住址", address)),
    h("h3", null, "信访事项"),
    h("div", { class: "grid" }, field("问题类别", category), field("问题属地", problemOrg), field("诉求类型", claim)),
    field("诉求内容（事实与理由）", content),
    field("主要诉求", demands),
    submit,
    status,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(submit, async () => {
      const at = timestampFromMs(beijingInputMs(when.value));
      const petitioner = create(PetitionerSchema, {
        name: name.value.trim(),
        idNumber: idNumber.value.trim(),
        phone: phone.value.trim(),
        address: address.value.trim(),
      });
      const matter = create(MatterInputSchema, {
        content: content.value.trim(),
        demands: demands.value.trim(),
        category: category.value,
        problemOrgCode: problemOrg.value,
        claimType: Number(claim.value) as ClaimType,
      });
      const res =
        kind.value === "visit"
          ? await attempt(() =>
              api.visits.registerVisit({
                requestId: requestId(),
                visit: {
                  visitedAt: at,
                  level: Number(level.value) as Level,
                  placeName: place.value.trim(),
                  headcount: Number(headcount.value) || 1,
                  petitioners: [petitioner],
                  matter,
                },
              }),
            )
          : await attempt(() =>
              api.visits.registerLetter({
                requestId: requestId(),
                letter: {
                  channel: Number(channel.value) as LetterChannel,
                  receivedAt: at,
                  petitioners: [petitioner],
                  matter,
                },
              }),
            );
      if (!res.ok) return mount(status, notice("error", res.error.message));
      const caseId = res.value.classification?.caseId ?? "";
      const repeat = res.value.classification?.repeat ? "（重复信访，已并入原案件）" : "";
      mount(
        status,
        h(
          "div",
          { class: "notice ok", role: "status" },
          `已登记 ${res.value.number}${repeat}。`,
          caseId ? h("a", { href: `#/case/${caseId}`, id: "reg-case" }, "查看案件") : null,
        ),
      );
      form.reset();
      when.value = nowLocalInput();
    });
  });
  mount(main, h("h2", null, "登记来访、来信"), form);
}

/** The inline 分办 controls of one queued case: unit, 转送 or 交办 (with its deadline), and the button. */
function assignControls(c: Case, done: () => void): HTMLElement {
  const unit = select("unit", responsibleUnits(), c.problemOrgCode, { "aria-label": "承办单位" });
  const mode = select(
    "mode",
    [[String(AssignmentMode.FORWARD), "转送"], [String(AssignmentMode.ASSIGN), "交办"]],
    String(AssignmentMode.FORWARD),
    { "aria-label": "方式" },
  );
  // A 交办 deadline within the statutory 60 days; 30 days is the bureau's usual choice.
  const deadline = h("input", { type: "date", name: "deadline", value: formatDate(addDays(beijingToday(), 30)), hidden: true });
  mode.addEventListener("change", () => (deadline.hidden = mode.value !== String(AssignmentMode.ASSIGN)));
  const status = h("span");
  const button = h("button", { class: "primary", "data-assign": c.id }, "分办");
  button.addEventListener("click", () =>
    void busy(button, async () => {
      const assign = mode.value === String(AssignmentMode.ASSIGN);
      const due = parseDate(deadline.value);
      if (assign && !due) return mount(status, notice("error", "请填写交办期限"));
      const res = await attempt(() =>
        api.cases.assignCase({
          requestId: requestId(),
          caseId: c.id,
          etag: c.etag,
          mode: Number(mode.value) as AssignmentMode,
          responsibleOrgCode: unit.value,
          handlingDeadline: assign ? due : undefined,
        }),
      );
      if (!res.ok) return mount(status, notice("error", res.error.message));
      mount(status, notice("ok", `已${label("AssignmentMode", Number(mode.value))}${orgName(unit.value)}`));
      done();
    }),
  );
  return h("div", { class: "inline" }, unit, mode, deadline, button, status);
}

export async function queuePage(main: HTMLElement): Promise<void> {
  mount(main, h("h2", null, "待分办"), notice("info", "正在加载…"));
  const [registered, returned] = await Promise.all([
    listAll({ state: CaseState.REGISTERED }),
    listAll({ state: CaseState.RETURNED }),
  ]);
  const all = [...returned, ...registered];
  const rows = all.map((c) => [
    ...summaryCells(c),
    clockCell(c.deadlines?.assign),
    assignControls(c, () => undefined),
  ]);
  mount(
    main,
    h("h2", null, `待分办（${all.length}件）`),
    all.length
      ? table(["编号", "登记时间", "类别", "属地", "内容", "状态", "分办时限", "分办"], rows, { id: "queue" })
      : notice("info", "没有待分办的案件"),
  );
}

/** The board's rows: open cases with a clock overdue or due within SOON_DAYS, the most urgent first. */
function urgency(c: Case): number {
  const today = beijingToday();
  let min = Infinity;
  for (const [, d] of clocks(c)) {
    const v = clockView(d ? { due: d.due, timeliness: d.timeliness } : undefined, today);
    if (v.days !== undefined) min = Math.min(min, v.days);
  }
  return min;
}

export async function boardPage(main: HTMLElement): Promise<void> {
  mount(main, h("h2", null, "超期预警"), notice("info", "正在加载…"));
  const [overdue, soon] = await Promise.all([listAll({ overdue: true }), listAll({ dueWithinDays: SOON_DAYS })]);
  const byId = new Map<string, Case>();
  for (const c of [...overdue, ...soon]) byId.set(c.id, c);
  const overdueIds = new Set(overdue.map((c) => c.id));
  const cases = [...byId.values()].sort((a, b) => urgency(a) - urgency(b));

  // Per unit: how many overdue, how many due soon; the county office's own clock (分办) counts for it.
  const units = new Map<string, { overdue: number; soon: number }>();
  for (const c of cases) {
    const unit = c.responsibleOrgCode || "（县信访局）";
    const u = units.get(unit) ?? { overdue: 0, soon: 0 };
    if (overdueIds.has(c.id)) u.overdue++;
    else u.soon++;
    units.set(unit, u);
  }
  const filter = select("unit", [["", "全部单位"], ...[...units.keys()].map((k): [string, string] => [k, orgName(k)])], "", {
    id: "board-unit",
  });
  const list = h("div");
  const render = () =>
    mount(
      list,
      table(
        ["编号", "承办单位", "状态", "分办时限", "受理时限", "办结时限", "督办回复时限"],
        cases
          .filter((c) => !filter.value || (c.responsibleOrgCode || "（县信访局）") === filter.value)
          .map((c) => [
            caseLink(c),
            orgName(c.responsibleOrgCode),
            h("span", { class: overdueIds.has(c.id) ? "tag overdue" : "tag soon" }, label("CaseState", c.state)),
            ...clocks(c).map(([, d]) => clockCell(d)),
          ]),
        { id: "board" },
      ),
    );
  filter.addEventListener("change", render);
  render();
  mount(
    main,
    h("h2", null, "超期预警"),
    h("p", { class: "muted" }, `已超期 ${overdue.length} 件，${SOON_DAYS}天内到期 ${byId.size - overdue.length} 件。时限按工作日历计算，以北京时间为准。`),
    table(
      ["单位", "已超期", "临期"],
      [...units.entries()].map(([k, u]) => [orgName(k), h("b", { class: u.overdue ? "bad" : "" }, u.overdue), u.soon]),
      { id: "board-units" },
    ),
    h("div", { class: "inline" }, "筛选：", filter),
    list,
  );
}

export async function casesPage(main: HTMLElement): Promise<void> {
  const stateFilter = select("state", [["0", "全部状态"], ...options("CaseState")], "0");
  const unitFilter = select("unit", [["", "全部承办单位"], ...responsibleUnits()], "");
  const list = h("div");
  const more = h("button", { hidden: true }, "加载更多");
  let token = "";
  let shown: Case[] = [];
  const load = async (reset: boolean) => {
    if (reset) {
      token = "";
      shown = [];
    }
    const res = await attempt(() =>
      api.cases.listCases({
        pageSize: 50,
        pageToken: token,
        state: Number(stateFilter.value) as CaseState,
        responsibleOrgCode: unitFilter.value,
      }),
    );
    if (!res.ok) return mount(list, notice("error", res.error.message));
    shown.push(...res.value.cases);
    token = res.value.nextPageToken;
    more.hidden = !token;
    mount(
      list,
      table(
        ["编号", "登记时间", "类别", "属地", "内容", "状态", "承办单位", "办结时限"],
        shown.map((c) => [...summaryCells(c), orgName(c.responsibleOrgCode), clockCell(c.deadlines?.conclude)]),
        { id: "cases" },
      ),
    );
  };
  stateFilter.addEventListener("change", () => void load(true));
  unitFilter.addEventListener("change", () => void load(true));
  more.addEventListener("click", () => void busy(more, () => load(false)));
  mount(main, h("h2", null, "案件查询"), h("div", { class: "inline" }, stateFilter, unitFilter), list, more);
  await load(true);
}
