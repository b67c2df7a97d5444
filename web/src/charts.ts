// ECharts, imported piece by piece, drawn as SVG (crisp, and its marks are
// DOM nodes); aria descriptions on, so screen readers get a summary.
import * as echarts from "echarts/core";
import { BarChart, LineChart, SankeyChart, ScatterChart } from "echarts/charts";
import { AriaComponent, GridComponent, LegendComponent, MarkLineComponent, MarkAreaComponent, TitleComponent, TooltipComponent, DatasetComponent } from "echarts/components";
import { SVGRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, SankeyChart, ScatterChart, AriaComponent, GridComponent, LegendComponent, MarkLineComponent, MarkAreaComponent, TitleComponent, TooltipComponent, DatasetComponent, SVGRenderer]);

const charts = new Set<echarts.ECharts>();
let resizeHooked = false;

/** Draws option into el (replacing what was there) and marks el with the number of data points. */
export function draw(el: HTMLElement, option: echarts.EChartsCoreOption, points: number): echarts.ECharts {
  echarts.getInstanceByDom(el)?.dispose();
  const c = echarts.init(el, undefined, { renderer: "svg" });
  c.setOption({ aria: { enabled: true }, animation: false, textStyle: { fontFamily: "system-ui, sans-serif" }, ...option });
  el.dataset.points = String(points);
  el.setAttribute("role", "img");
  charts.add(c);
  if (!resizeHooked) {
    resizeHooked = true;
    window.addEventListener("resize", () => charts.forEach((x) => (x.isDisposed() ? charts.delete(x) : x.resize())));
  }
  return c;
}

export const colors = { ok: "#1b6e3a", gap: "#b3261e", neutral: "#4a5b73", warn: "#8a5300", muted: "#8895a7", accent: "#0b5cad", interval: "#9fb8d6" };
