// Coverage over time: cumulative coverage of dose 1 and dose 2, overall and
// by region, by the week (or month) the doses were given. The dates are the
// occurrence dates this node's custodians ingested (the ledger keeps only
// the year); suppressed points are gaps.
import { get } from "./api";
import { colors, draw } from "./charts";
import { errorText, field, h, statusLine, table } from "./ui";

interface Cell {
  group: Record<string, string>;
  denominator: number;
  numerator: number;
  suppressed: boolean;
  rate?: number;
}

interface Point {
  period: string;
  total: Cell;
  groups: Cell[];
}

interface Trend {
  vaccine: string;
  dose: number;
  interval: string;
  min_cell: number;
  points: Point[];
  undated: number;
  undated_suppressed: boolean;
}

interface Series {
  name: string;
  dose: number;
  overall: boolean;
  /** The cumulative value at each period: a point, or carried from the last one before (cumulative counts stay). */
  at: (period: string) => Cell | undefined;
}

const pct = (c: Cell | undefined) => (!c ? "—" : c.suppressed ? "suppressed" : c.rate === undefined ? "—" : (c.rate * 100).toFixed(1) + "%");

/** The series of one trend report: the overall one, then one per region. */
function seriesOf(t: Trend): Series[] {
  const before = (pick: (p: Point) => Cell | undefined) => (period: string) => {
    let last: Cell | undefined;
    for (const p of t.points) if (p.period <= period) last = pick(p);
    return last;
  };
  const regions = [...new Set(t.points.flatMap((p) => p.groups.map((g) => g.group.region)))];
  return [
    { name: `Overall, dose ${t.dose}`, dose: t.dose, overall: true, at: before((p) => p.total) },
    ...regions.map((r) => ({ name: `${r}, dose ${t.dose}`, dose: t.dose, overall: false, at: before((p) => p.groups.find((g) => g.group.region === r)) })),
  ];
}

/** Fills sec with the trend card for vaccine (target in permille). */
export async function loadTrend(sec: HTMLElement, vaccine: string, target: number): Promise<void> {
  const interval = h("select", { id: "trend-interval" }, h("option", { value: "week" }, "Week"), h("option", { value: "month" }, "Month"));
  const status = statusLine();
  const chart = h("div", { class: "chart", id: "chart-trend", "data-chart": "coverage-trend" });
  const tableBox = h("div");
  sec.replaceChildren(
    h("div", { class: "card chart-card" },
      h("h3", { id: "trend-h" }, "Coverage over time"),
      h("p", { class: "hint" }, "Cumulative coverage by the week or month the doses were given (their dates as this node's clinics recorded them; the ledger keeps only the year). Suppressed points are gaps."),
      h("div", { class: "row" }, field("Interval", interval)),
      status,
      chart,
      tableBox,
    ),
  );
  sec.setAttribute("aria-labelledby", "trend-h");
  const show = async () => {
    status.set("Loading the trend…", "busy");
    try {
      const v = encodeURIComponent(vaccine);
      const trends = await Promise.all([1, 2].map((d) => get<Trend>(`/v1/coverage/trend?vaccine=${v}&dose=${d}&by=region&interval=${interval.value}`)));
      const periods = [...new Set(trends.flatMap((t) => t.points.map((p) => p.period)))].sort();
      const series = trends.flatMap(seriesOf);
      const shown = series.reduce((n, s) => n + periods.filter((p) => { const c = s.at(p); return c && !c.suppressed; }).length, 0);
      const undated = trends.map((t) => `dose ${t.dose}: ${t.undated_suppressed ? "under " + t.min_cell : t.undated}`).join(", ");
      status.set(
        periods.length
          ? `${periods.length} ${interval.value}s from ${periods[0]}; people whose doses this node holds no date for are left out (${undated}). Groups under ${trends[0].min_cell} people, or that grew by fewer, are suppressed.`
          : "No dated doses of this vaccine on this node.",
        periods.length ? "ok" : "",
      );
      draw(
        chart,
        {
          grid: { left: 48, right: 24, top: 56, bottom: 40, containLabel: true },
          legend: { type: "scroll", top: 0 },
          tooltip: { trigger: "axis", valueFormatter: (x: unknown) => (typeof x === "number" ? x.toFixed(1) + "%" : "suppressed") },
          xAxis: { type: "category", data: periods, name: interval.value === "week" ? "week of" : "month" },
          yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" }, name: "coverage" },
          series: series.map((s, i) => ({
            type: "line",
            name: s.name,
            connectNulls: false,
            symbolSize: s.overall ? 8 : 5,
            lineStyle: { width: s.overall ? 3 : 1.5, type: s.dose === 2 ? "dashed" : "solid" },
            ...(s.overall ? { itemStyle: { color: s.dose === 1 ? colors.accent : colors.ok } } : {}),
            data: periods.map((p) => {
              const c = s.at(p);
              return c && !c.suppressed && c.rate !== undefined ? +(c.rate * 100).toFixed(1) : null;
            }),
            ...(i === 0 && target > 0
              ? { markLine: { symbol: "none", lineStyle: { color: colors.neutral, type: "dotted" }, label: { formatter: `target ${target / 10}%` }, data: [{ yAxis: target / 10 }] } }
              : {}),
          })),
        },
        shown,
      );
      tableBox.replaceChildren(
        h("details", {},
          h("summary", {}, "Table"),
          table(
            "Cumulative coverage over time",
            [interval.value === "week" ? "Week of" : "Month", ...series.map((s) => s.name)],
            periods.map((p) => [p, ...series.map((s) => pct(s.at(p)))]),
            "data",
          ),
        ),
      );
    } catch (e) {
      status.set("Trend: " + errorText(e), "error");
    }
  };
  interval.addEventListener("change", show);
  await show();
}
