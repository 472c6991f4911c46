import { describe, expect, it } from "vitest";
import {
  addDays,
  beijingToday,
  clockView,
  daysLeft,
  formatDate,
  formatDateTime,
  formatPercent,
  formatPoints,
  formatRate,
  formatYuan,
  parseDate,
  rateValue,
  Standing,
  trimPercent,
} from "../src/format.js";

const today = { year: 2026, month: 12, day: 6 };

describe("Beijing time", () => {
  it("formats a timestamp in UTC+8", () => {
    // 2026-12-06T16:30:00Z is 00:30 on the 7th in Beijing.
    expect(formatDateTime({ seconds: BigInt(Date.UTC(2026, 11, 6, 16, 30) / 1000) })).toBe("2026-12-07 00:30");
    expect(formatDateTime(undefined)).toBe("—");
    expect(formatDateTime({ seconds: 0n })).toBe("—");
  });
  it("knows today's date in Beijing, not in UTC", () => {
    expect(beijingToday(Date.UTC(2026, 11, 6, 15, 59))).toEqual({ year: 2026, month: 12, day: 6 });
    expect(beijingToday(Date.UTC(2026, 11, 6, 16, 0))).toEqual({ year: 2026, month: 12, day: 7 });
  });
  it("formats and parses dates", () => {
    expect(formatDate({ year: 2026, month: 3, day: 9 })).toBe("2026-03-09");
    expect(formatDate(undefined)).toBe("—");
    expect(parseDate("2026-02-28")).toEqual({ year: 2026, month: 2, day: 28 });
    expect(parseDate("2026-02-30")).toBeUndefined();
    expect(parseDate("")).toBeUndefined();
  });
  it("counts calendar days across months and years", () => {
    expect(daysLeft({ year: 2027, month: 1, day: 5 }, today)).toBe(30);
    expect(daysLeft(today, today)).toBe(0);
    expect(addDays({ year: 2026, month: 12, day: 30 }, 3)).toEqual({ year: 2027, month: 1, day: 2 });
  });
});

describe("clocks", () => {
  it("shows days left, due today, overdue", () => {
    expect(clockView({ due: { year: 2026, month: 12, day: 16 }, timeliness: Standing.Pending }, today)).toEqual({
      text: "剩10天（限2026-12-16）",
      tone: "ok",
      days: 10,
    });
    expect(clockView({ due: { year: 2026, month: 12, day: 8 }, timeliness: Standing.Pending }, today).tone).toBe("soon");
    expect(clockView({ due: today, timeliness: Standing.Pending }, today).text).toBe("今天到期（限2026-12-06）");
    expect(clockView({ due: { year: 2026, month: 12, day: 1 }, timeliness: Standing.Overdue }, today)).toEqual({
      text: "已超期5天（限2026-12-01）",
      tone: "overdue",
      days: -5,
    });
  });
  it("trusts the server's overdue when the browser's date lags", () => {
    const v = clockView({ due: today, timeliness: Standing.Overdue }, today);
    expect(v.tone).toBe("overdue");
    expect(v.days).toBe(-1);
  });
  it("shows a finished clock without days", () => {
    expect(clockView({ due: today, timeliness: Standing.OnTime }, today)).toEqual({ text: "按期完成（限2026-12-06）", tone: "done" });
    expect(clockView({ due: today, timeliness: Standing.Late }, today).text).toBe("超期完成（限2026-12-06）");
    expect(clockView(undefined, today)).toEqual({ text: "—", tone: "none" });
  });
});

describe("rates", () => {
  const rate = { numerator: 416n, denominator: 424n, percent: "98.11" };
  it("shows the percent with its basis", () => {
    expect(formatPercent(rate)).toBe("98.11%");
    expect(formatRate(rate)).toBe("98.11%（416/424）");
    expect(formatRate({ numerator: 437n, denominator: 437n, percent: "100.00" })).toBe("100%（437/437）");
  });
  it("shows no rate when nothing was counted", () => {
    expect(formatPercent({ numerator: 0n, denominator: 0n, percent: "" })).toBe("—");
    expect(formatRate(undefined)).toBe("—（无数据）");
    expect(rateValue({ numerator: 0n, denominator: 0n, percent: "0.00" })).toBeNaN();
    expect(rateValue(rate)).toBeCloseTo(98.11);
  });
  it("trims percents and points", () => {
    expect(trimPercent("97.50")).toBe("97.5");
    expect(trimPercent("-36.98")).toBe("-36.98");
    expect(trimPercent("12.3456")).toBe("12.34");
    expect(formatPoints("1.20")).toBe("+1.2个百分点");
    expect(formatPoints("-0.50")).toBe("-0.5个百分点");
    expect(formatPoints("0.00")).toBe("持平");
    expect(formatPoints("")).toBe("—");
  });
  it("formats yuan without floats", () => {
    expect(formatYuan("795300.00")).toBe("795,300.00元");
    expect(formatYuan("12.5")).toBe("12.50元");
    expect(formatYuan("-1000")).toBe("-1,000.00元");
  });
});
