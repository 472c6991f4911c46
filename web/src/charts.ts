// Apache ECharts, tree-shaken: only the bar and line charts, their grid, tooltip and legend, and the canvas
// renderer are bundled (echarts/core), which keeps the bundle small.

import { init, use, type ComposeOption } from "echarts/core";
import { BarChart, LineChart, type BarSeriesOption, type LineSeriesOption } from "echarts/charts";
import {
  GridComponent,
  LegendComponent,
  TooltipComponent,
  type GridComponentOption,
  type LegendComponentOption,
  type TooltipComponentOption,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export type ChartOption = ComposeOption<
  BarSeriesOption | LineSeriesOption | GridComponentOption | LegendComponentOption | TooltipComponentOption
>;

/** Draws `option` into `el`; `onClick` gets the series and data index of a clicked bar or point. */
export function chart(el: HTMLElement, option: ChartOption, onClick?: (seriesIndex: number, dataIndex: number) => void): void {
  const c = init(el, undefined, { renderer: "canvas" });
  c.setOption({ animation: false, ...option });
  if (onClick) c.on("click", (p) => onClick(p.seriesIndex ?? 0, p.dataIndex));
  // Charts keep their size when the window changes (a tablet turned on its side).
  new ResizeObserver(() => c.resize()).observe(el);
}
