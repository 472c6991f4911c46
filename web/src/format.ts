// Formatting that carries the workbench's logic: Beijing time, the days left on a clock, rates. Kept free of
// the DOM and of generated types (plain shapes) so that `npm test` checks it in Node.

/** The bureau's zone is Asia/Shanghai, UTC+8 all year (China has no daylight saving time since 1991), so a
 *  fixed offset gives the same answer as Intl on every browser, with or without full ICU data. */
const BEIJING_OFFSET_MS = 8 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

export interface YMD {
  year: number;
  month: number;
  day: number;
}

export interface TimestampLike {
  seconds: bigint | number;
  nanos?: number;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

function millis(ts: TimestampLike): number {
  return Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/** "2026-12-06 21:30" in Beijing time; "—" when unset. */
export function formatDateTime(ts: TimestampLike | undefined): string {
  if (!ts || (Number(ts.seconds) === 0 && !ts.nanos)) return "—";
  const d = new Date(millis(ts) + BEIJING_OFFSET_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** "2026-12-06"; "—" when unset (year 0). */
export function formatDate(d: YMD | undefined): string {
  if (!d || !d.year) return "—";
  return `${d.year}-${pad(d.month)}-${pad(d.day)}`;
}

/** Today's calendar date in Beijing at `nowMs`. */
export function beijingToday(nowMs: number = Date.now()): YMD {
  const d = new Date(nowMs + BEIJING_OFFSET_MS);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

function dayNumber(d: YMD): number {
  return Math.round(Date.UTC(d.year, d.month - 1, d.day) / DAY_MS);
}

/** Calendar days from `today` to `due`: 0 on the due date itself (still on time), negative once past. The
 *  due date already comes from the server's working-day calendar; what is left to count is plain days. */
export function daysLeft(due: YMD, today: YMD): number {
  return dayNumber(due) - dayNumber(today);
}

/** Adds calendar days to a date (for a 交办 deadline picked as "in N days"). */
export function addDays(d: YMD, days: number): YMD {
  const t = new Date((dayNumber(d) + days) * DAY_MS);
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

/** Parses "2026-12-06" (an <input type=date> value). */
export function parseDate(s: string): YMD | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s.trim());
  if (!m) return undefined;
  const d = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  return formatDate(addDays(d, 0)) === s.trim() ? d : undefined;
}

/** How a clock stands, as the Timeliness enum numbers it (cases.proto). */
export enum Standing {
  Unspecified = 0,
  Pending = 1,
  OnTime = 2,
  Late = 3,
  Overdue = 4,
}

export interface ClockLike {
  due?: YMD;
  timeliness: number;
  doneAt?: TimestampLike;
}

/** What the board and the inbox show for one clock: the text and a tone for its colour. */
export interface ClockView {
  text: string;
  tone: "done" | "ok" | "soon" | "today" | "overdue" | "none";
  /** Days left (negative: overdue by that many); undefined when done or without a due date. */
  days?: number;
}

/** Within this many days a clock is "due soon" (临期): the board's second column. */
export const SOON_DAYS = 3;

export function clockView(clock: ClockLike | undefined, today: YMD): ClockView {
  if (!clock || !clock.due || !clock.due.year) return { text: "—", tone: "none" };
  const due = formatDate(clock.due);
  switch (clock.timeliness) {
    case Standing.OnTime:
      return { text: `按期完成（限${due}）`, tone: "done" };
    case Standing.Late:
      return { text: `超期完成（限${due}）`, tone: "done" };
  }
  const days = daysLeft(clock.due, today);
  if (days < 0 || clock.timeliness === Standing.Overdue) {
    // The server says overdue once the due date has passed in Beijing; trust it even when this
    // browser's clock disagrees by a day.
    const late = Math.max(-days, 1);
    return { text: `已超期${late}天（限${due}）`, tone: "overdue", days: -late };
  }
  if (days === 0) return { text: `今天到期（限${due}）`, tone: "today", days };
  return { text: `剩${days}天（限${due}）`, tone: days <= SOON_DAYS ? "soon" : "ok", days };
}

export interface RateLike {
  numerator: bigint | number;
  denominator: bigint | number;
  percent: string;
}

/** "98.11%"; "—" when nothing was counted (0 of 0 is no rate, not 0% or 100%). */
export function formatPercent(rate: RateLike | undefined): string {
  if (!rate || Number(rate.denominator) === 0) return "—";
  return `${trimPercent(rate.percent)}%`;
}

/** "98.11%（416/424）", the figure with what it is made of. */
export function formatRate(rate: RateLike | undefined): string {
  if (!rate || Number(rate.denominator) === 0) return "—（无数据）";
  return `${formatPercent(rate)}（${rate.numerator}/${rate.denominator}）`;
}

/** The server sends percents as decimal strings ("100.00"); show at most two places, no trailing zeros
 *  beyond one ("100.0" → "100"), and keep what the server computed rather than recomputing it. */
export function trimPercent(percent: string): string {
  if (!/^-?\d+(\.\d+)?$/.test(percent)) return percent || "—";
  const [whole, frac = ""] = percent.split(".");
  const two = frac.slice(0, 2).replace(/0+$/, "");
  return two ? `${whole}.${two}` : whole!;
}

/** A rate as a number for charts (NaN when nothing was counted, which charts leave as a gap). */
export function rateValue(rate: RateLike | undefined): number {
  if (!rate || Number(rate.denominator) === 0) return NaN;
  const v = Number(rate.percent);
  return Number.isFinite(v) ? v : NaN;
}

/** Change in percentage points with its sign: "+1.2个百分点", "-0.5个百分点", "持平". */
export function formatPoints(change: string): string {
  if (!change) return "—";
  const v = Number(change);
  if (!Number.isFinite(v)) return change;
  if (v === 0) return "持平";
  return `${v > 0 ? "+" : ""}${trimPercent(change)}个百分点`;
}

/** Yuan as the bureau writes it: "795,300.00元". Money stays a decimal string; never a float. */
export function formatYuan(amount: string): string {
  if (!/^-?\d+(\.\d+)?$/.test(amount)) return amount || "—";
  const negative = amount.startsWith("-");
  const [whole, frac = ""] = amount.replace("-", "").split(".");
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${grouped}.${(frac + "00").slice(0, 2)}元`;
}
