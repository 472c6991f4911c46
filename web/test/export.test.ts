import { describe, expect, it } from "vitest";
import { markdownToHtml } from "../src/markdown.js";
import { crc32, xlsx } from "../src/xlsx.js";

describe("report rendering", () => {
  it("renders headings, tables, lists and escapes HTML", () => {
    const html = markdownToHtml("# 标题\n\n| 项目 | 得分 |\n|---|---|\n| **预算** | 10 |\n\n- 一\n- 二\n\n<script>x</script>");
    expect(html).toContain("<h1>标题</h1>");
    expect(html).toContain("<thead><tr><th>项目</th><th>得分</th></tr></thead>");
    expect(html).toContain("<td><strong>预算</strong></td>");
    expect(html).toContain("<ul><li>一</li><li>二</li></ul>");
    expect(html).toContain("&lt;script&gt;");
    expect(html).not.toContain("<script>");
  });
});

describe("xlsx", () => {
  it("computes the zip CRC-32", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });
  it("writes the same bytes for the same sheets, as a zip", () => {
    const a = xlsx([{ name: "评分", rows: [["项目", "得分"], ["预算执行", "10"]] }]);
    const b = xlsx([{ name: "评分", rows: [["项目", "得分"], ["预算执行", "10"]] }]);
    expect(a).toEqual(b);
    expect([...a.slice(0, 4)]).toEqual([0x50, 0x4b, 0x03, 0x04]);
    expect(new TextDecoder().decode(a)).toContain("<v>10</v>");
  });
});
