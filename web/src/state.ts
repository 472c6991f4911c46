// What the workbench knows about its user and the county after sign-in: the caller (GetCaller) and the
// dictionaries (GetDictionaries), whose Chinese labels every page shows.

import type { Caller } from "./gen/xinfang/v1/session_pb.js";
import type { Dictionaries } from "./gen/xinfang/v1/dictionary_pb.js";
import { Role } from "./gen/xinfang/v1/session_pb.js";
import { OrgUnitKind } from "./gen/xinfang/v1/org_pb.js";

export const state: {
  caller: Caller | null;
  dictionaries: Dictionaries | null;
  /** enum full name → number → label */
  labels: Map<string, Map<number, string>>;
  /** A drill-through list of case ids, set by the dashboard before it opens #/drill. */
  drill: { title: string; ids: string[]; counted: Set<string> } | null;
} = { caller: null, dictionaries: null, labels: new Map(), drill: null };

export function setDictionaries(d: Dictionaries): void {
  state.dictionaries = d;
  state.labels = new Map();
  for (const l of d.enumLabels) {
    let m = state.labels.get(l.enumName);
    if (!m) state.labels.set(l.enumName, (m = new Map()));
    m.set(l.number, l.label);
  }
}

/** The Chinese name of an enum value: label("CaseState", c.state). Falls back to "—" for unset values. */
export function label(enumName: string, value: number): string {
  return state.labels.get(`xinfang.v1.${enumName}`)?.get(value) ?? (value ? String(value) : "—");
}

/** The labelled values of an enum, without the unspecified 0, for pick lists. */
export function options(enumName: string): [string, string][] {
  const m = state.labels.get(`xinfang.v1.${enumName}`);
  if (!m) return [];
  return [...m.entries()].filter(([n]) => n !== 0).map(([n, l]) => [String(n), l]);
}

export function orgName(code: string): string {
  if (!code) return "—";
  return state.dictionaries?.orgUnits.find((u) => u.code === code)?.name ?? code;
}

export function categoryName(code: string): string {
  return state.dictionaries?.categories.find((c) => c.code === code)?.name ?? code;
}

/** The townships and departments a case can be assigned to (承办单位). */
export function responsibleUnits(): [string, string][] {
  return (state.dictionaries?.orgUnits ?? [])
    .filter((u) => u.kind === OrgUnitKind.TOWNSHIP || u.kind === OrgUnitKind.DEPARTMENT)
    .map((u) => [u.code, u.name]);
}

export function townships(): [string, string][] {
  return (state.dictionaries?.orgUnits ?? [])
    .filter((u) => u.kind === OrgUnitKind.TOWNSHIP)
    .map((u) => [u.code, u.name]);
}

export function role(): Role {
  return state.caller?.role ?? Role.UNSPECIFIED;
}

export function may(method: string): boolean {
  return state.caller?.methods.includes(`/xinfang.v1.${method}`) ?? false;
}

export { Role };
