// More of the public-health dashboard: the disparities report with its
// confidence intervals, programs' progress and disbursements, research
// projects and their privacy budgets, and stock flows between sites.
// Every figure comes from the node (ledger state or its read model).
import { get } from "./api";
import { colors, draw } from "./charts";
import type { Directory } from "./directory";
import { errorText, fmtDate, fmtTime, h, statusLine, table } from "./ui";

const pct = (x: number | undefined) => (x === undefined || x === null ? "—" : (x * 100).toFixed(1) + "%");
const permille = (x: number) => (x / 10).toFixed(1) + "%";

// ---- Disparities report (GET /v1/reports/disparities) ----

interface Interval {
  low: number;
  high: number;
}

interface DispRow {
  label: string;
  suppressed: boolean;
  numerator?: number;
  denominator?: number;
  rate?: number;
  ci?: Interval;
  rate_ratio?: number;
  rate_ratio_ci?: Interval;
  rate_difference?: number;
  rate_difference_ci?: Interval;
  gap_to_target?: number;
  below_target?: boolean;
}

interface DispTable {
  measure: string;
  title: string;
  by: string[];
  reference?: string;
  total: DispRow;
  rows: DispRow[];
}

interface Disparities {
  vaccine: string;
  dose: number;
  target_permille: number;
  min_cell: number;
  height: number;
  confidence: number;
  methods: string[];
  tables: DispTable[];
  furthest_from_target: { rank: number; by: string[]; label: string; rate: number; ci: Interval; gap_to_target: number; below_target: boolean }[];
}

const ci = (i: Interval | undefined, f: (x: number) => string) => (i ? `${f(i.low)} – ${f(i.high)}` : "—");

/** Loads the disparities report into sec: a chart per table with each rate's 95% interval. */
export async function loadDisparities(sec: HTMLElement, vaccine: string, dose: string, targetPermille: number): Promise<void> {
  const status = statusLine();
  const grid = h("div", { class: "charts" });
  sec.replaceChildren(h("h2", { id: "disp-h" }, "Disparities report"), status, grid);
  status.set("Loading the disparities report…", "busy");
  try {
    const d = await get<Disparities>(`/v1/reports/disparities?vaccine=${encodeURIComponent(vaccine)}&dose=${encodeURIComponent(dose)}&target=${targetPermille}&by=region,quintile,age_band,sex`);
    const worst = d.furthest_from_target.filter((f) => f.below_target);
    status.set(
      `${Math.round(d.confidence * 100)}% intervals (Wilson score for rates). Target ${permille(d.target_permille)}; cells under ${d.min_cell} people are suppressed. Ledger height ${d.height}.`,
      "ok",
    );
    grid.replaceChildren(...d.tables.map((t, i) => dispCard(t, i, d.target_permille / 10)));
    sec.append(
      h(
        "div",
        { class: "card", id: "furthest" },
        h("h3", {}, "Furthest from target"),
        worst.length === 0
          ? h("p", { class: "muted" }, "No group is significantly below target.")
          : h(
              "ol",
              {},
              worst.map((f) =>
                h("li", { class: "gap-note" }, `${f.by.join(" × ")} ${f.label}: ${pct(f.rate)} (95% CI ${ci(f.ci, pct)}), ${pct(f.gap_to_target)} below target — even the interval's upper bound is below it.`),
              ),
            ),
        h("details", {}, h("summary", {}, "Methods"), h("ul", {}, d.methods.map((m) => h("li", {}, m)))),
      ),
    );
  } catch (e) {
    status.set("Disparities report: " + errorText(e), "error");
  }
}

function dispCard(t: DispTable, i: number, target: number): HTMLElement {
  const chart = h("div", { class: "chart", "data-chart": `disparities-${t.measure}-${t.by.join("+")}` });
  const rows = t.rows;
  const shown = rows.filter((r) => !r.suppressed && r.ci);
  const card = h(
    "section",
    { class: "card chart-card", "aria-labelledby": `disp-${i}` },
    h("h3", { id: `disp-${i}` }, t.title.replace(/http:\/\/hl7\.org\/fhir\/sid\/cvx\|/, "CVX ")),
    chart,
    h(
      "details",
      {},
      h("summary", {}, "Table"),
      h("div", { class: "scroll" }, table(
        t.title,
        ["Group", "Count", "Rate (95% CI)", "Rate ratio (95% CI)", "Difference (95% CI)", "Gap to target"],
        rows.map((r) =>
          r.suppressed
            ? [r.label, "suppressed", "—", "—", "—", "—"]
            : [
                r.label + (r.label === t.reference ? " (reference)" : ""),
                `${r.numerator} / ${r.denominator}`,
                `${pct(r.rate)} (${ci(r.ci, pct)})`,
                r.rate_ratio !== undefined ? `${r.rate_ratio.toFixed(2)} (${ci(r.rate_ratio_ci, (x) => x.toFixed(2))})` : "—",
                r.rate_difference !== undefined ? `${pct(r.rate_difference)} (${ci(r.rate_difference_ci, pct)})` : "—",
                r.below_target ? h("strong", { class: "flag" }, pct(r.gap_to_target)) : pct(r.gap_to_target),
              ],
        ),
        "data",
      )),
    ),
  );
  const labels = rows.map((r) => r.label);
  const v = (x: number | undefined) => (x === undefined ? 0 : +(x * 100).toFixed(1));
  requestAnimationFrame(() =>
    draw(
      chart,
      {
        grid: { left: 40, right: 56, top: 32, bottom: 32, containLabel: true },
        legend: { top: 0, data: ["95% interval", "Rate"] },
        tooltip: {
          trigger: "axis",
          formatter: (ps: { dataIndex: number }[]) => {
            const r = rows[ps[0].dataIndex];
            return r.suppressed ? `${r.label}: suppressed` : `${r.label}: ${pct(r.rate)}<br>95% CI ${ci(r.ci, pct)}`;
          },
        },
        xAxis: { type: "category", data: labels, axisLabel: { interval: 0, rotate: labels.length > 5 ? 30 : 0 } },
        yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        series: [
          // A floating bar from the interval's low to its high bound: an
          // invisible base stacked under the interval's width.
          { type: "bar", stack: "ci", name: "base", silent: true, itemStyle: { color: "transparent" }, data: rows.map((r) => (r.suppressed ? 0 : v(r.ci?.low))), barWidth: "40%" },
          {
            type: "bar",
            stack: "ci",
            name: "95% interval",
            itemStyle: { color: colors.interval },
            data: rows.map((r) => (r.suppressed ? 0 : +(v(r.ci?.high) - v(r.ci?.low)).toFixed(1))),
            markLine: { symbol: "none", lineStyle: { color: colors.neutral, type: "dashed" }, label: { formatter: `target ${target}%` }, data: [{ yAxis: target }] },
          },
          {
            type: "scatter",
            name: "Rate",
            symbolSize: 12,
            data: rows.map((r) => (r.suppressed ? null : { value: v(r.rate), itemStyle: { color: r.below_target ? colors.gap : colors.ok } })),
          },
        ],
      },
      shown.length,
    ),
  );
  return card;
}

// ---- Programs (GET /v1/programs, /v1/programs/{id}, /disbursements, /decisions) ----

interface Checkpoint {
  name: string;
  dose: number;
  permille: number;
  by: string;
  state: string;
  height?: number;
}

interface Program {
  id: string;
  org: string;
  title: string;
  status: string;
  version: number;
  budget: number;
  spent: number;
  enrolled: number;
  reached: number[];
  doses: number;
  credits: number;
  reminders: number;
  escalations: number;
  checkpoints: Checkpoint[];
}

interface ProgramView {
  program: Program;
  spec: { target: string; vaccines: string[]; incentive?: { credits_per_dose: number; budget: number; when?: string } };
  coverage: { dose: number; reached: number; permille: number }[];
  regions: { region: string; enrolled: number; reached: number[]; escalated?: string[] }[];
  payees: { org: string; doses: number; credits: number }[];
}

interface Decision {
  kind: string;
  height: number;
  time: string;
  org?: string;
  region?: string;
  dose?: number;
  credits?: number;
  milestone?: string;
  permille?: number;
  reason?: string;
}

export async function loadPrograms(sec: HTMLElement, dir: Directory): Promise<void> {
  const status = statusLine();
  sec.replaceChildren(h("h2", { id: "prog-h" }, "Public-health programs"), status);
  status.set("Loading programs…", "busy");
  try {
    const list = await get<Program[]>("/v1/programs");
    status.set(list.length ? `${list.length} program(s) on the ledger; every decision is logged with the transaction that caused it.` : "No programs deployed.", "ok");
    for (const p of list) {
      const [view, disb, decisions] = await Promise.all([
        get<ProgramView>(`/v1/programs/${encodeURIComponent(p.id)}`),
        get<{ budget: number; spent: number; payees: { org: string; doses: number; credits: number }[] }>(`/v1/programs/${encodeURIComponent(p.id)}/disbursements`),
        get<Decision[]>(`/v1/programs/${encodeURIComponent(p.id)}/decisions?limit=8`),
      ]);
      sec.append(programCard(view, disb, decisions, dir));
    }
  } catch (e) {
    status.set("Programs: " + errorText(e), "error");
  }
}

function programCard(v: ProgramView, disb: { budget: number; spent: number; payees: { org: string; doses: number; credits: number }[] }, decisions: Decision[], dir: Directory): HTMLElement {
  const p = v.program;
  const progress = h("div", { class: "chart", "data-chart": "program-" + p.id });
  const regions = h("div", { class: "chart", "data-chart": "program-regions-" + p.id });
  const money = disb.budget > 0 ? h("div", { class: "chart", "data-chart": "program-disbursements-" + p.id }) : null;
  const cps = p.checkpoints || [];
  const card = h(
    "section",
    { class: "card program", "data-program": p.id, "aria-labelledby": "prog-" + p.id },
    h("h3", { id: "prog-" + p.id }, p.title, " ", h("span", { class: "badge status-" + p.status }, p.status)),
    h(
      "p",
      {},
      `Run by ${dir.orgName(p.org)} · version ${p.version} · ${p.enrolled} enrolled · ${p.doses} doses counted · ${p.reminders} reminders · ${p.escalations} escalations. Target: `,
      h("code", {}, v.spec.target),
    ),
    h(
      "ul",
      { class: "checkpoints" },
      cps.map((c) =>
        h("li", { class: "cp-" + c.state }, h("strong", {}, c.name), `: dose ${c.dose} for ${permille(c.permille)} of members by ${fmtDate(c.by)} — `, h("span", { class: "cp-state" }, c.state), c.height ? ` (block ${c.height})` : ""),
      ),
    ),
    h("div", { class: "charts" }, progress, regions),
  );
  if (money) {
    card.append(
      h("h4", {}, `Disbursements: ${disb.spent} of ${disb.budget} credits paid (${v.spec.incentive?.credits_per_dose ?? "?"} per dose)`),
      money,
      h("div", { class: "scroll" }, table("Credits paid per organization", ["Organization", "Doses paid", "Credits"], disb.payees.map((x) => [dir.orgName(x.org), x.doses, x.credits]), "data")),
    );
  }
  if (decisions.length)
    card.append(
      h(
        "details",
        {},
        h("summary", {}, "Latest decisions"),
        h("div", { class: "scroll" }, table(
          "The program's latest decisions on the ledger",
          ["Block", "When", "Decision", "Detail"],
          decisions
            .slice()
            .reverse()
            .map((d) => [d.height, fmtTime(d.time), d.kind, [d.org ? dir.orgName(d.org) : "", d.region || "", d.dose ? `dose ${d.dose}` : "", d.credits ? `${d.credits} credits` : "", d.milestone || "", d.reason || ""].filter(Boolean).join(" · ")]),
          "data",
        )),
      ),
    );
  requestAnimationFrame(() => {
    const doses = v.coverage.map((c) => `Dose ${c.dose}`);
    draw(
      progress,
      {
        title: { text: "Coverage among members", textStyle: { fontSize: 13 } },
        grid: { left: 40, right: 24, top: 40, bottom: 24, containLabel: true },
        tooltip: { trigger: "axis", valueFormatter: (x: unknown) => (typeof x === "number" ? x.toFixed(1) + "%" : String(x)) },
        xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        yAxis: { type: "category", data: doses },
        series: [
          {
            type: "bar",
            name: "Reached",
            data: v.coverage.map((c) => ({ value: c.permille / 10, itemStyle: { color: cps.some((k) => k.dose === c.dose && k.state !== "reached" && c.permille < k.permille) ? colors.gap : colors.ok } })),
            label: { show: true, position: "right", formatter: "{c}%" },
            markLine: {
              symbol: "none",
              lineStyle: { color: colors.neutral, type: "dashed" },
              label: { formatter: "{b}" },
              data: cps.map((c) => ({ name: `${c.name} ${permille(c.permille)}`, xAxis: c.permille / 10 })),
            },
          },
        ],
      },
      v.coverage.length,
    );
    const rs = v.regions || [];
    draw(
      regions,
      {
        title: { text: "Members reached by region", textStyle: { fontSize: 13 } },
        grid: { left: 40, right: 16, top: 56, bottom: 24, containLabel: true },
        legend: { top: 22 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: rs.map((r) => r.region + (r.escalated?.length ? " ⚠" : "")) },
        yAxis: { type: "value", name: "people", minInterval: 1 },
        series: [
          { type: "bar", name: "Enrolled", itemStyle: { color: colors.muted }, data: rs.map((r) => r.enrolled) },
          ...v.coverage.map((c, i) => ({ type: "bar", name: `Dose ${c.dose}`, itemStyle: { color: i === 0 ? colors.accent : colors.ok }, data: rs.map((r) => r.reached[i] ?? 0) })),
        ],
      },
      rs.length,
    );
    if (money) {
      draw(
        money,
        {
          grid: { left: 40, right: 24, top: 32, bottom: 24, containLabel: true },
          legend: { top: 0 },
          tooltip: { trigger: "axis" },
          xAxis: { type: "value", max: disb.budget, name: "credits" },
          yAxis: { type: "category", data: ["Budget"] },
          series: [
            ...disb.payees.map((x) => ({ type: "bar", stack: "b", name: dir.orgName(x.org), data: [x.credits] })),
            { type: "bar", stack: "b", name: "Remaining", itemStyle: { color: "#dfe5ec" }, data: [disb.budget - disb.spent] },
          ],
        },
        disb.payees.length + 1,
      );
    }
  });
  return card;
}

// ---- Research projects (GET /v1/research/projects) ----

interface Project {
  id: string;
  org: string;
  title: string;
  purposes: string[];
  resource_types: string[];
  period: { start?: string; end?: string };
  budget_micro_epsilon: number;
  spent_micro_epsilon: number;
  remaining_micro_epsilon: number;
  queries: number;
  status: string;
  active: boolean;
  ethics: string;
  approval: { approvals: number; threshold: number };
}

export async function loadResearch(sec: HTMLElement, dir: Directory): Promise<void> {
  const status = statusLine();
  sec.replaceChildren(h("h2", { id: "res-h" }, "Research projects and privacy budgets"), status);
  status.set("Loading research projects…", "busy");
  try {
    const ps = await get<Project[]>("/v1/research/projects");
    if (ps.length === 0) {
      status.set("No research projects registered.", "ok");
      return;
    }
    const participants = await Promise.all(ps.map((p) => get<unknown[]>(`/v1/research/projects/${encodeURIComponent(p.id)}/participants`).then((x) => x.length, () => NaN)));
    status.set(`${ps.length} project(s). Each aggregate answer spends differential-privacy budget (ε), tracked on the ledger.`, "ok");
    const chart = h("div", { class: "chart", "data-chart": "research-budget" });
    const eps = (m: number) => (m / 1e6).toFixed(2);
    sec.append(
      h(
        "div",
        { class: "card chart-card" },
        chart,
        h("div", { class: "scroll" }, table(
          "Research projects",
          ["Project", "Institute", "Status", "Participants", "Questions", "ε spent / budget", "Period"],
          ps.map((p, i) => [
            h("span", { "data-project": p.id }, p.title),
            dir.orgName(p.org),
            `${p.status}${p.active ? " (active)" : ""} · ${p.approval.approvals}/${p.approval.threshold} approvals · ethics ${p.ethics}`,
            Number.isNaN(participants[i]) ? "—" : participants[i],
            p.queries,
            `${eps(p.spent_micro_epsilon)} / ${eps(p.budget_micro_epsilon)}`,
            `${fmtDate(p.period.start)} – ${fmtDate(p.period.end)}`,
          ]),
          "data",
        )),
      ),
    );
    requestAnimationFrame(() =>
      draw(
        chart,
        {
          title: { text: "Privacy budget (ε)", textStyle: { fontSize: 13 } },
          grid: { left: 40, right: 24, top: 56, bottom: 24, containLabel: true },
          legend: { top: 22 },
          tooltip: { trigger: "axis" },
          xAxis: { type: "value", name: "ε" },
          yAxis: { type: "category", data: ps.map((p) => p.id) },
          series: [
            { type: "bar", stack: "e", name: "Spent", itemStyle: { color: colors.warn }, data: ps.map((p) => +eps(p.spent_micro_epsilon)) },
            { type: "bar", stack: "e", name: "Remaining", itemStyle: { color: colors.ok }, data: ps.map((p) => +eps(p.remaining_micro_epsilon)) },
          ],
        },
        ps.length,
      ),
    );
  } catch (e) {
    status.set("Research: " + errorText(e), "error");
  }
}

// ---- Flows between sites (EPCIS shipping events of the read model) ----

interface EPCISEvent {
  bizStep?: string;
  "cc:org"?: string;
  epcList?: string[];
  childEPCs?: string[];
  destinationList?: { destination: string; type: string }[];
  eventTime: string;
}

interface QueryDoc {
  epcisBody: { queryResults: { resultsBody: { eventList: EPCISEvent[] }; "cc:nextPageToken"?: string } };
}

/** All shipping events, following the query's pages (at most 20). */
async function shippingEvents(): Promise<EPCISEvent[]> {
  const out: EPCISEvent[] = [];
  let token = "";
  for (let page = 0; page < 20; page++) {
    const q = `/epcis/events?EQ_bizStep=shipping&perPage=200${token ? "&nextPageToken=" + encodeURIComponent(token) : ""}`;
    const d = await get<QueryDoc>(q);
    out.push(...d.epcisBody.queryResults.resultsBody.eventList);
    token = d.epcisBody.queryResults["cc:nextPageToken"] || "";
    if (!token) break;
  }
  return out;
}

export async function loadFlows(sec: HTMLElement, dir: Directory): Promise<void> {
  const status = statusLine();
  const chart = h("div", { class: "chart wide", "data-chart": "flows" });
  sec.replaceChildren(h("h3", { id: "flow-h" }, "Flows between sites"), chart, status);
  try {
    const evs = await shippingEvents();
    const flows = new Map<string, number>();
    for (const e of evs) {
      const from = e["cc:org"];
      const n = (e.epcList?.length || 0) + (e.childEPCs?.length || 0);
      for (const d of e.destinationList || []) {
        if (!from || !d.destination.startsWith("org:")) continue;
        const to = d.destination.slice(4);
        if (to === from) continue;
        flows.set(from + "\u0000" + to, (flows.get(from + "\u0000" + to) || 0) + n);
      }
    }
    // A sankey needs a directed acyclic graph: a return shipment that
    // would close a cycle is left out of the chart (and listed).
    const adj = new Map<string, Set<string>>();
    const reaches = (a: string, b: string): boolean => {
      const seen = new Set<string>();
      const stack = [a];
      while (stack.length) {
        const x = stack.pop()!;
        if (x === b) return true;
        if (seen.has(x)) continue;
        seen.add(x);
        stack.push(...(adj.get(x) || []));
      }
      return false;
    };
    const links: { source: string; target: string; value: number }[] = [];
    const left: string[] = [];
    for (const [k, value] of [...flows].sort((a, b) => b[1] - a[1])) {
      const [from, to] = k.split("\u0000");
      if (reaches(to, from)) {
        left.push(`${dir.orgName(from)} → ${dir.orgName(to)} (${value})`);
        continue;
      }
      if (!adj.has(from)) adj.set(from, new Set());
      adj.get(from)!.add(to);
      links.push({ source: dir.orgName(from), target: dir.orgName(to), value });
    }
    const nodes = [...new Set(links.flatMap((l) => [l.source, l.target]))].map((name) => ({ name }));
    status.set(
      `${evs.length} shipping events (GS1 EPCIS, from the node's read model); widths are the containers and items shipped.` + (left.length ? ` Return flows not drawn: ${left.join("; ")}.` : ""),
      "ok",
    );
    sec.append(table("Shipments between sites", ["From", "To", "Containers and items"], links.map((l) => [l.source, l.target, l.value]), "data"));
    if (links.length === 0) return;
    requestAnimationFrame(() =>
      draw(
        chart,
        {
          tooltip: { trigger: "item" },
          series: [
            {
              type: "sankey",
              left: 8,
              right: 120,
              top: 16,
              bottom: 16,
              nodeGap: 14,
              emphasis: { focus: "adjacency" },
              lineStyle: { color: "gradient", opacity: 0.45 },
              label: { color: "#1a2330", fontSize: 11 },
              data: nodes,
              links,
            },
          ],
        },
        links.length,
      ),
    );
  } catch (e) {
    status.set("Flows: " + errorText(e), "error");
  }
}
