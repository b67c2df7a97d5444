// The public-health dashboard: vaccination coverage by region, age band,
// sex and deprivation quintile with the gaps to target highlighted, and the
// supply chain: stock by site, KPIs, cold-chain excursions and recalls.
import { get } from "./api";
import { colors, draw } from "./charts";
import { directory } from "./directory";
import { loadDisparities, loadFlows, loadPrograms, loadResearch } from "./publichealth";
import { loadTrend } from "./trend";
import { errorText, field, fmtTime, h, statusLine, table } from "./ui";

interface Cell {
  group: Record<string, string>;
  denominator: number;
  numerator: number;
  suppressed: boolean;
  rate?: number;
  rate_ratio?: number;
  rate_difference?: number;
  gap_to_target?: number;
}

interface Coverage {
  vaccine: string;
  dose: number;
  as_of: number;
  target_permille: number;
  min_cell: number;
  height: number;
  total: Cell;
  groups: Cell[];
  reference?: Record<string, string>;
}

const dims: [string, string][] = [
  ["region", "Region"],
  ["age_band", "Age band"],
  ["sex", "Sex"],
  ["quintile", "Deprivation quintile (1 = most deprived)"],
];

const pct = (x: number | undefined) => (x === undefined ? "—" : (x * 100).toFixed(1) + "%");

export function dashboardPage(root: HTMLElement): void {
  const vaccine = h("input", { type: "text", id: "cov-vaccine", value: "208", inputmode: "numeric", size: 6 });
  const dose = h("select", { id: "cov-dose" }, h("option", { value: "1" }, "Dose 1"), h("option", { value: "2" }, "Dose 2"));
  const target = h("input", { type: "number", id: "cov-target", value: "90", min: "1", max: "100", step: "1" });
  const status = statusLine();
  const covGrid = h("div", { class: "charts" });
  const form = h(
    "form",
    { class: "card controls", "aria-labelledby": "cov-h" },
    h("h2", { id: "cov-h" }, "Vaccination coverage"),
    h("div", { class: "row" }, field("Vaccine (CVX code)", vaccine), field("Dose", dose), field("Target (%)", target), h("button", { type: "submit" }, "Show")),
    status,
  );
  const supply = h("section", { "aria-labelledby": "sup-h" }, h("h2", { id: "sup-h" }, "Vaccine supply"));
  const trendSec = h("section", { id: "trend" });
  const disparities = h("section", { id: "disparities", "aria-labelledby": "disp-h" });
  const programsSec = h("section", { id: "programs", "aria-labelledby": "prog-h" });
  const researchSec = h("section", { id: "research", "aria-labelledby": "res-h" });
  root.append(
    h("h1", {}, "Public-health dashboard"),
    h(
      "nav",
      { class: "toc", "aria-label": "Dashboard sections" },
      [
        ["#cov-h", "Coverage"],
        ["#trend-h", "Trend"],
        ["#disp-h", "Disparities"],
        ["#sup-h", "Supply"],
        ["#prog-h", "Programs"],
        ["#res-h", "Research"],
      ].map(([href, label]) => h("a", { href, onclick: ((ev: Event) => { ev.preventDefault(); document.querySelector(href)?.scrollIntoView(); }) as EventListener }, label)),
    ),
    form,
    covGrid,
    trendSec,
    disparities,
    supply,
    programsSec,
    researchSec,
  );
  const load = async () => {
    status.set("Loading coverage…", "busy");
    const t = Math.round(Number(target.value) * 10);
    try {
      const covs = await Promise.all(
        dims.map(([d]) => get<Coverage>(`/v1/coverage?vaccine=${encodeURIComponent(vaccine.value.trim())}&dose=${dose.value}&by=${d}&target=${t}`)),
      );
      const tot = covs[0].total;
      status.set(
        `Overall: ${tot.numerator} of ${tot.denominator} people (${pct(tot.rate)}), target ${(t / 10).toFixed(0)}%, gap ${pct(tot.gap_to_target)}. Groups under ${covs[0].min_cell} people are suppressed. Ledger height ${covs[0].height}.`,
        "ok",
      );
      covGrid.replaceChildren(...covs.map((c, i) => coverageCard(c, dims[i][0], dims[i][1])));
    } catch (e) {
      status.set("Coverage: " + errorText(e), "error");
    }
    loadTrend(trendSec, vaccine.value.trim(), t);
    await loadDisparities(disparities, vaccine.value.trim(), dose.value, t);
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  load();
  loadSupply(supply);
  directory().then(
    (dir) => {
      loadPrograms(programsSec, dir);
      loadResearch(researchSec, dir);
    },
    (e) => programsSec.append(h("p", { class: "error", role: "alert" }, errorText(e))),
  );
}

function coverageCard(c: Coverage, dim: string, title: string): HTMLElement {
  const chart = h("div", { class: "chart", id: "chart-" + dim, "data-chart": "coverage-" + dim });
  const target = c.target_permille / 10;
  const cells = c.groups;
  const name = (g: Cell) => g.group[dim] || "?";
  const under = cells.filter((g) => !g.suppressed && (g.gap_to_target || 0) > 0);
  const card = h(
    "section",
    { class: "card chart-card", "aria-labelledby": "h-" + dim },
    h("h3", { id: "h-" + dim }, `By ${title.toLowerCase()}`),
    chart,
    h(
      "details",
      {},
      h("summary", {}, "Table"),
      table(
        `Coverage by ${title.toLowerCase()}`,
        ["Group", "Vaccinated / people", "Rate", "Rate ratio", "Difference", "Gap to target"],
        cells.map((g) =>
          g.suppressed
            ? [name(g), "suppressed", "—", "—", "—", "—"]
            : [name(g), `${g.numerator} / ${g.denominator}`, pct(g.rate), g.rate_ratio?.toFixed(2) ?? "—", pct(g.rate_difference), pct(g.gap_to_target)],
        ),
        "data",
      ),
    ),
  );
  requestAnimationFrame(() =>
    draw(
      chart,
      {
        grid: { left: 48, right: 64, top: 24, bottom: 48, containLabel: true },
        tooltip: { trigger: "axis", valueFormatter: (v: unknown) => (typeof v === "number" ? v.toFixed(1) + "%" : String(v)) },
        xAxis: { type: "category", data: cells.map(name), axisLabel: { interval: 0, rotate: cells.length > 4 ? 30 : 0 } },
        yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" }, name: "coverage" },
        series: [
          {
            type: "bar",
            name: "Coverage",
            data: cells.map((g) =>
              g.suppressed
                ? { value: 0, itemStyle: { color: colors.muted }, label: { show: true, formatter: "suppressed", position: "insideBottom", color: "#333" } }
                : {
                    value: +((g.rate || 0) * 100).toFixed(1),
                    itemStyle: { color: (g.gap_to_target || 0) > 0 ? colors.gap : colors.ok },
                    label: { show: true, position: "top", formatter: "{c}%" },
                  },
            ),
            markLine: { symbol: "none", lineStyle: { color: colors.neutral, type: "dashed" }, label: { formatter: `target ${target}%` }, data: [{ yAxis: target }] },
          },
        ],
      },
      cells.filter((g) => !g.suppressed).length,
    ),
  );
  if (under.length)
    card.append(h("p", { class: "gap-note" }, `Below target: ${under.map((g) => `${name(g)} (${pct(g.rate)}, gap ${pct(g.gap_to_target)})`).join("; ")}.`));
  return card;
}

interface Stock {
  org: string;
  lot: string;
  expiry: string;
  items: number;
  usable: number;
  in_transit: number;
  quarantined: number;
  expired: number;
  other: number;
  doses: number;
}

interface OrgKPI {
  org: string;
  usable_items: number;
  usable_doses: number;
  administered_28d: number;
  daily_doses: number;
  days_of_supply?: number;
  commissioned: number;
  received: number;
  wasted: number;
  wastage_rate: number;
  excursions: number;
}

interface Excursion {
  lot: string;
  org: string;
  top: string;
  epcs: string[];
  readings: { time: string; value_milli_c: number; duration_seconds: number }[];
  cumulative_seconds: number;
  budget_seconds: number;
  time: string;
  height: number;
}

interface Recall {
  lot: string;
  org: string;
  reason: string;
  items: number;
  patients: number;
  time: string;
  height: number;
}

async function loadSupply(sec: HTMLElement) {
  const status = statusLine();
  sec.append(status);
  status.set("Loading supply…", "busy");
  try {
    const [kpis, excursions, recalls, dir] = await Promise.all([
      get<{ as_of: string; height: number; stock: Stock[]; orgs: OrgKPI[] }>("/v1/supply/kpis"),
      get<Excursion[]>("/v1/supply/excursions"),
      get<Recall[]>("/v1/supply/recalls"),
      directory(),
    ]);
    status.set(`As of ${fmtTime(kpis.as_of)} (height ${kpis.height}): ${excursions.length} cold-chain excursion(s), ${recalls.length} recall(s).`, "ok");
    // Stock by site, stacked by status.
    const orgs = [...new Set(kpis.stock.map((s) => s.org))].sort();
    const sum = (org: string, k: keyof Stock) => kpis.stock.filter((s) => s.org === org).reduce((a, s) => a + (s[k] as number), 0);
    const statuses: [keyof Stock, string, string][] = [
      ["usable", "Usable", colors.ok],
      ["in_transit", "In transit", colors.neutral],
      ["quarantined", "Quarantined", colors.gap],
      ["expired", "Expired", colors.warn],
      ["other", "Recalled / other", "#6b3fa0"],
    ];
    const stockChart = h("div", { class: "chart wide", "data-chart": "stock" });
    const stockCard = h(
      "section",
      { class: "card chart-card", "aria-labelledby": "stock-h" },
      h("h3", { id: "stock-h" }, "Stock by site (items)"),
      stockChart,
      h(
        "details",
        {},
        h("summary", {}, "Table"),
        table(
          "Stock by site and lot",
          ["Site", "Lot", "Expiry", "Items", "Usable", "Quarantined", "Doses left"],
          kpis.stock.map((s) => [dir.orgName(s.org), s.lot, s.expiry, s.items, s.usable, s.quarantined, s.doses]),
          "data",
        ),
      ),
    );
    const kpiTable = table(
      "Supply KPIs by organization",
      ["Organization", "Usable doses", "Given (28 days)", "Doses/day", "Days of supply", "Wastage", "Excursions"],
      kpis.orgs.map((o) => [
        dir.orgName(o.org),
        o.usable_doses,
        o.administered_28d,
        o.daily_doses.toFixed(1),
        o.days_of_supply !== undefined ? o.days_of_supply.toFixed(0) : "—",
        (o.wastage_rate * 100).toFixed(1) + "%",
        o.excursions ? h("span", { class: "flag" }, String(o.excursions)) : "0",
      ]),
      "data",
    );
    const excChart = h("div", { class: "chart wide", "data-chart": "excursions" });
    const excCard = h(
      "section",
      { class: "card chart-card", "aria-labelledby": "exc-h" },
      h("h3", { id: "exc-h" }, "Cold-chain excursions"),
      excursions.length ? excChart : h("p", { class: "muted" }, "No excursions."),
      h(
        "ul",
        {},
        excursions.map((x) =>
          h(
            "li",
            { class: "excursion" },
            h("strong", {}, `Lot ${x.lot} at ${dir.orgName(x.org)}`),
            `: ${Math.round(x.cumulative_seconds / 60)} min out of range (budget ${Math.round(x.budget_seconds / 60)} min) — ${x.epcs.length} items quarantined, ${fmtTime(x.time)}.`,
          ),
        ),
      ),
    );
    const recallCard = h(
      "section",
      { class: "card", "aria-labelledby": "rec-h" },
      h("h3", { id: "rec-h" }, "Recalls"),
      recalls.length === 0
        ? h("p", { class: "muted" }, "No recalls.")
        : h(
            "ul",
            {},
            recalls.map((r) => {
              const out = h("div", { "aria-live": "polite" });
              const btn = h("button", { type: "button", class: "small" }, `Trace lot ${r.lot}`);
              btn.addEventListener("click", async () => {
                btn.disabled = true;
                try {
                  const t = await get<{ sites: { org: string; items: number; doses_remaining: number }[]; administrations: { patient: string; org: string }[] }>(
                    `/v1/supply/lots/${encodeURIComponent(r.lot)}/trace`,
                  );
                  out.replaceChildren(
                    table(
                      `Where lot ${r.lot} is`,
                      ["Site", "Items", "Doses left"],
                      (t.sites || []).map((s) => [dir.orgName(s.org), s.items, s.doses_remaining]),
                      "data",
                    ),
                    h("p", {}, `${(t.administrations || []).length} doses given; each patient was notified.`),
                  );
                } catch (e) {
                  out.textContent = errorText(e);
                } finally {
                  btn.disabled = false;
                }
              });
              return h("li", { class: "recall" }, h("strong", {}, `Lot ${r.lot}`), ` recalled by ${dir.orgName(r.org)} on ${fmtTime(r.time)}: ${r.reason}. ${r.items} items, ${r.patients} patients. `, btn, out);
            }),
          ),
    );
    const flowCard = h("section", { class: "card chart-card scroll", "aria-labelledby": "flow-h" });
    sec.append(h("div", { class: "charts" }, stockCard, excCard), flowCard, h("div", { class: "card scroll" }, kpiTable), recallCard);
    loadFlows(flowCard, dir);
    requestAnimationFrame(() => {
      draw(
        stockChart,
        {
          grid: { left: 48, right: 16, top: 40, bottom: 24, containLabel: true },
          legend: { top: 0 },
          tooltip: { trigger: "axis" },
          xAxis: { type: "value", name: "items" },
          yAxis: { type: "category", data: orgs.map((o) => dir.orgName(o)) },
          series: statuses.map(([k, label, color]) => ({ type: "bar", stack: "stock", name: label, itemStyle: { color }, data: orgs.map((o) => sum(o, k)) })),
        },
        orgs.length,
      );
      if (excursions.length) {
        const series = excursions.map((x) => ({
          type: "line",
          step: "end",
          name: `${x.lot} at ${dir.orgName(x.org)}`,
          data: x.readings.flatMap((r) => {
            const t0 = Date.parse(r.time);
            return [
              [t0, r.value_milli_c / 1000],
              [t0 + r.duration_seconds * 1000, r.value_milli_c / 1000],
            ];
          }),
        }));
        draw(
          excChart,
          {
            grid: { left: 48, right: 16, top: 40, bottom: 24, containLabel: true },
            legend: { top: 0 },
            tooltip: { trigger: "axis" },
            xAxis: { type: "time" },
            yAxis: { type: "value", name: "°C" },
            series: series.map((s, i) => (i === 0 ? { ...s, markLine: { symbol: "none", label: { formatter: "8 °C" }, lineStyle: { color: colors.gap }, data: [{ yAxis: 8 }] } } : s)),
          },
          series.reduce((a, s) => a + s.data.length, 0),
        );
      }
    });
  } catch (e) {
    status.set("Supply: " + errorText(e), "error");
  }
}
