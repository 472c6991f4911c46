// Pieces the case lists share: a case's link, its clocks with days left, and paging through ListCases.

import type { Case, Deadline } from "../gen/xinfang/v1/cases_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ListCasesRequestSchema } from "../gen/xinfang/v1/cases_pb.js";
import { api } from "../api.js";
import { beijingToday, clockView, formatDateTime } from "../format.js";
import { h } from "../ui.js";
import { categoryName, label, orgName } from "../state.js";

export function caseLink(c: Case): HTMLElement {
  return h("a", { href: `#/case/${c.id}`, class: "case-link", "data-case": c.id }, c.number || c.id.slice(0, 8));
}

/** One clock as a coloured cell: "剩3天（限2026-12-09）". */
export function clockCell(d: Deadline | undefined): HTMLElement {
  const v = clockView(d ? { due: d.due, timeliness: d.timeliness, doneAt: d.doneAt } : undefined, beijingToday());
  return h("span", { class: `clock ${v.tone}` }, v.text);
}

/** The clocks that matter for handling, as [name, deadline]. */
export function clocks(c: Case): [string, Deadline | undefined][] {
  const d = c.deadlines;
  return [
    ["分办", d?.assign],
    ["受理", d?.accept],
    ["办结", d?.conclude],
    ["督办回复", d?.supervisionReply],
  ];
}

export function excerpt(text: string, n = 40): string {
  return text.length > n ? `${text.slice(0, n)}…` : text;
}

export function summaryCells(c: Case): (HTMLElement | string)[] {
  return [
    caseLink(c),
    formatDateTime(c.registeredAt),
    categoryName(c.category),
    orgName(c.problemOrgCode),
    h("span", { title: c.content, class: "excerpt" }, excerpt(c.content)),
    label("CaseState", c.state),
  ];
}

/** Every page of a ListCases query, up to `limit` cases (the board and the inbox show all of a unit's). */
export async function listAll(
  request: MessageInitShape<typeof ListCasesRequestSchema>,
  limit = 2000,
): Promise<Case[]> {
  const out: Case[] = [];
  let pageToken = "";
  do {
    const res = await api.cases.listCases({ ...request, pageSize: 500, pageToken });
    out.push(...res.cases);
    pageToken = res.nextPageToken;
  } while (pageToken && out.length < limit);
  return out;
}
